// The layers' boundaries, read from the sources' import statements (type-only imports included:
// a boundary a type crosses is crossed):
//  - the socket clients (src/dmapi/client.ts, src/dlm/client.ts) and the package subpaths built on
//    them (dmapifs/dmapi, dmapifs/dlm) import no daemon code and no native addon, so they load on a
//    machine where nothing was compiled;
//  - the daemon's shared helpers (paths, log, errors, the service interface) are a leaf module,
//    src/common, that imports nothing else of the project;
//  - the services a daemon hosts (src/dmapi, src/dlm) import those helpers without importing their
//    host, src/daemon.
import test from 'ava';
import * as fs from 'fs';
import * as path from 'path';
import { REPO } from './helpers/cluster';

const SRC = path.join(REPO, 'src');
const rel = (f: string) => path.relative(REPO, f);

/**
 * The project files `file` imports (relative specifiers resolved to .ts files); `runtime` leaves out
 * `import type` / `export type` statements, which the compiler erases.
 */
function importsOf(file: string, runtime = false): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const out: string[] = [];
  const re = /(?:^\s*(import|export)(\s+type\b)?[^'";]*?\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|^\s*import\s+)['"]([^'"]+)['"]/gm;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (runtime && m[2]) continue;
    const spec = m[3];
    if (!spec.startsWith('.')) continue;
    const base = path.resolve(path.dirname(file), spec);
    const hit = [`${base}.ts`, path.join(base, 'index.ts')].find((f) => fs.existsSync(f));
    if (!hit) throw new Error(`${rel(file)}: cannot resolve ${spec}`);
    out.push(hit);
  }
  return out;
}

/** Every project file `entry` reaches through its imports, with one import chain to each. */
function closure(entry: string, runtime = false): Map<string, string[]> {
  const seen = new Map<string, string[]>([[entry, [rel(entry)]]]);
  const todo = [entry];
  while (todo.length) {
    const f = todo.pop()!;
    for (const g of importsOf(f, runtime)) {
      if (seen.has(g)) continue;
      seen.set(g, [...seen.get(f)!, rel(g)]);
      todo.push(g);
    }
  }
  return seen;
}

function offenders(entry: string, bad: (relPath: string) => boolean, runtime = false): string[] {
  return [...closure(path.join(REPO, entry), runtime)].filter(([f]) => bad(rel(f))).map(([, chain]) => chain.join(' → '));
}

const NATIVE_OR_DAEMON = (f: string) => /^src\/(daemon|fs|fuse|native|cli|backing)\//.test(f);

for (const entry of ['src/dmapi/client.ts', 'src/dlm/client.ts', 'src/dmapi/index.ts', 'src/dlm/index.ts']) {
  test(`boundaries: ${entry} imports no daemon, filesystem or native code`, (t) => {
    t.true(fs.existsSync(path.join(REPO, entry)), `${entry} is missing`);
    t.deepEqual(offenders(entry, NATIVE_OR_DAEMON), []);
  });
}

test('boundaries: the DMAPI client imports none of the DMAPI service', (t) => {
  const service = /^src\/dmapi\/(server|service|core|events|fs-events|fstable|sessions|dispositions|rights|regions|attributes|fileattr|data|journal|settings|fsconfig|handle-ops)\.ts$/;
  t.deepEqual(offenders('src/dmapi/client.ts', (f) => service.test(f)), []);
});

// The engine's option types (DlmHooks) name DlmProcess: a type the client never runs.
test('boundaries: the DLM client runs none of the lock engine or its service', (t) => {
  const engine = /^src\/dlm\/(engine|process|recovery|deadlock|glc|scheduler|resource|lock|notifications|process-record|dump)\.ts$|^src\/dlm\/service\/(?!codec\.ts|protocol\.ts)/;
  t.deepEqual(offenders('src/dlm/client.ts', (f) => engine.test(f), true), []);
});

test('boundaries: src/common (paths, log, errors, the service interface) is a leaf module', (t) => {
  const dir = path.join(SRC, 'common');
  t.true(fs.existsSync(dir), 'src/common is missing');
  const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.ts')) : [];
  for (const name of ['paths.ts', 'log.ts', 'errors.ts', 'service.ts']) t.true(files.includes(name), `src/common/${name}`);
  for (const f of files) t.deepEqual(offenders(`src/common/${f}`, (g) => !g.startsWith('src/common/')), [], f);
});

test('boundaries: the services (src/dmapi, src/dlm) do not import their host (src/daemon)', (t) => {
  const found: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts')) {
        for (const g of importsOf(p)) if (rel(g).startsWith('src/daemon/')) found.push(`${rel(p)} → ${rel(g)}`);
      }
    }
  };
  walk(path.join(SRC, 'dmapi'));
  walk(path.join(SRC, 'dlm'));
  t.deepEqual(found, []);
});
