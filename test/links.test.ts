// Every reference the documentation and the comments make resolves inside the repository: each
// relative link of the README and of docs/ (and the other Markdown files) names a file that exists
// and, with a #fragment, a heading of that file (GitHub's anchors); each docs/... path a source
// comment names exists; and no source cites a document that is not in the repository (the
// session's reference notes by section number, or issue numbers).
import test from 'ava';
import * as fs from 'fs';
import * as path from 'path';
import { REPO } from './helpers/cluster';

function walk(dir: string, keep: (f: string) => boolean, out: string[] = []): string[] {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (['node_modules', 'dist', 'build', '.git', '.vagrant'].includes(e.name)) continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, keep, out);
    else if (keep(p)) out.push(p);
  }
  return out;
}

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens, -N for repeats. */
export function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^(```|~~~)/.test(line)) fenced = !fenced;
    const m = !fenced && /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const base = m[1].replace(/\[([^\]]*)\]\([^)]*\)/g, '$1').toLowerCase()
      .replace(/[^\p{L}\p{N}\p{M}\s_-]/gu, '').replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n ? `${base}-${n}` : base);
  }
  return out;
}

/** The relative links of a Markdown file, outside code: [text](target) and [text]: target. */
function links(markdown: string): string[] {
  const out: string[] = [];
  let fenced = false;
  for (const raw of markdown.split('\n')) {
    if (/^(```|~~~)/.test(raw)) { fenced = !fenced; continue; }
    if (fenced) continue;
    const line = raw.replace(/`[^`]*`/g, '');
    for (const m of line.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) out.push(m[1]);
    const ref = /^\s*\[[^\]]+\]:\s*(\S+)/.exec(line);
    if (ref) out.push(ref[1]);
  }
  return out.filter((l) => !/^[a-z][a-z0-9+.-]*:/i.test(l));
}

const markdown = walk(REPO, (f) => f.endsWith('.md'));

test('links: the README and docs/ exist and are checked', (t) => {
  const rel = markdown.map((f) => path.relative(REPO, f));
  for (const f of ['README.md', 'CHANGELOG.md', 'docs/cli.md', 'docs/dmapi.md', 'docs/dlm.md', 'docs/decisions.md', 'docs/api-conventions.md', 'docs/api-mapping.md']) {
    t.true(rel.includes(f), f);
  }
});

test('links: every relative link and anchor of the Markdown files resolves', (t) => {
  const broken: string[] = [];
  for (const file of markdown) {
    for (const link of links(fs.readFileSync(file, 'utf8'))) {
      const [target, fragment] = link.split('#');
      const dest = target ? path.resolve(path.dirname(file), decodeURIComponent(target)) : file;
      const where = `${path.relative(REPO, file)}: ${link}`;
      if (!dest.startsWith(REPO + path.sep) && dest !== REPO) { broken.push(`${where} (leaves the repository)`); continue; }
      if (!fs.existsSync(dest)) { broken.push(`${where} (no such file)`); continue; }
      if (fragment && dest.endsWith('.md') && !anchors(fs.readFileSync(dest, 'utf8')).has(fragment)) {
        broken.push(`${where} (no heading #${fragment} in ${path.relative(REPO, dest)})`);
      }
    }
  }
  t.deepEqual(broken, []);
});

const sources = walk(REPO, (f) => /\.(ts|js|c|h|sh|gyp)$/.test(f) || /Makefile$|Vagrantfile$/.test(f))
  .filter((f) => !f.includes(`${path.sep}test${path.sep}links.test.ts`));

test('links: every docs/*.md a source names exists', (t) => {
  const missing: string[] = [];
  for (const f of sources) {
    for (const m of fs.readFileSync(f, 'utf8').matchAll(/(?<![\w/$])docs\/[\w./-]*\.md\b/g)) {
      if (!fs.existsSync(path.join(REPO, m[0]))) missing.push(`${path.relative(REPO, f)}: ${m[0]}`);
    }
  }
  t.deepEqual(missing, []);
});

test('links: no source cites a document outside the repository (section numbers, issue numbers)', (t) => {
  const bad: string[] = [];
  for (const f of [...sources, ...markdown]) {
    fs.readFileSync(f, 'utf8').split('\n').forEach((line, i) => {
      if (/§|\bissue #?\d+|shared\/reference|\b(dmapi|dlm|fuse|style)\.md section/i.test(line)) bad.push(`${path.relative(REPO, f)}:${i + 1}: ${line.trim()}`);
    });
  }
  t.deepEqual(bad, []);
});
