// The reference documentation builds in CI without a warning: the C → TypeScript mapping is up to
// date with include/dmapi.h and the clients, TypeDoc documents dmapifs/dmapi and dmapifs/dlm with
// every link valid and every referenced type exported, and the man pages dmapifs(8) and dmapi(3)
// convert from Markdown (groff finds nothing to warn about).
import test from 'ava';
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { REPO } from './helpers/cluster';

function run(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(REPO, 'scripts/build-docs.js'), ...args], { cwd: REPO, maxBuffer: 64 << 20 }, (e, stdout, stderr) => {
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, out: `${stdout}${stderr}` });
    });
  });
}

test('docs: the mapping is current, TypeDoc and the man pages build without a warning', async (t) => {
  const r = await run(['--check']);
  t.is(r.code, 0, r.out);
  t.notRegex(r.out, /warn/i);
  const api = path.join(REPO, 'dist/docs/api');
  t.true(fs.existsSync(path.join(api, 'index.html')));
  const client = fs.readdirSync(path.join(api, 'classes')).find((f) => /DmapiClient\.html$/.test(f));
  t.truthy(client, 'DmapiClient has a page');
  t.true(fs.readdirSync(path.join(api, 'classes')).some((f) => /DlmClient\.html$/.test(f)), 'DlmClient has a page');
  t.true(fs.readdirSync(path.join(api, 'documents')).some((f) => /mapping/i.test(f)), 'the dm_*/dlm_* mapping is part of it');
  for (const [file, head] of [['dmapifs.8', /^\.TH "DMAPIFS" "8"/m], ['dmapi.3', /^\.TH "DMAPI" "3"/m]] as const) {
    const man = fs.readFileSync(path.join(REPO, 'dist/man', file), 'utf8');
    t.regex(man, head, file);
    t.regex(man, /ENOTREADY/, file);
  }
});
