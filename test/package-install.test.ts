// The package as a Node user gets it: `npm pack`, then `npm install` of the tarball into a fresh
// directory builds the native parts at install time; the CLI, a CommonJS and an ESM consumer and a
// `tsc --strict` consumer (node16 ESM and the old node resolution) all work; with the addons gone
// (a machine that could not build them) `--help`, `--version` and the socket clients still work and
// a mount says what to install; the install step names the Debian packages it misses.
import test from 'ava';
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { REPO } from './helpers/cluster';

interface Run { code: number; stdout: string; stderr: string }
function run(cmd: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, maxBuffer: 64 << 20, timeout: 600000 }, (e, stdout, stderr) => {
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}
const show = (r: Run) => `exit ${r.code}\n${r.stdout}\n${r.stderr}`;
const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string; name: string };

test('package: pack, install the tarball, use it from the CLI, CommonJS, ESM and tsc --strict', async (t) => {
  const work = fs.mkdtempSync('/tmp/dmapifs-pkg-');
  t.teardown(() => fs.rmSync(work, { recursive: true, force: true }));

  // ---- pack: the runtime only
  t.is((await run(process.execPath, ['scripts/prune-dist.js'], { cwd: REPO })).code, 0);
  const man = await run(process.execPath, ['scripts/build-docs.js', '--only', 'man'], { cwd: REPO });
  t.is(man.code, 0, show(man));
  const packed = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: REPO });
  t.is(packed.code, 0, show(packed));
  const info = (JSON.parse(packed.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>)[0];
  const files = info.files.map((f) => f.path);
  for (const f of ['package.json', 'LICENSE', 'README.md', 'CHANGELOG.md', 'bin/dmapifs', 'dist/src/index.js', 'dist/src/index.d.ts',
    'dist/src/dmapi/index.d.ts', 'dist/src/dlm/index.d.ts', 'dist/src/daemon/main.js', 'dist/man/dmapifs.8', 'dist/man/dmapi.3',
    'include/dmapi.h', 'include/sys/dlm.h', 'native/fuse/binding.gyp', 'native/sys/sys.c', 'native/libdm/libdm.c', 'native/libdm/Makefile',
    'native/common/dmapifs-run.h', 'native/libdlm/Makefile', 'scripts/install.js']) {
    t.true(files.includes(f), `the tarball has ${f}`);
  }
  const extra = files.filter((f) => /^(dist\/)?(test|bench)\/|\.js\.map$|^tsconfig|node_modules|\/build\//.test(f));
  t.deepEqual(extra, [], 'no tests, benchmarks, source maps or build outputs');
  // Runtime files only (the list above says which kinds may not be there); the bound catches a
  // `files` list that lets whole trees in again (585 files when tests and benchmarks were packed).
  t.true(files.length < 450, `${files.length} files`);
  const manifest = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8'));
  t.falsy(manifest.private);
  t.deepEqual(manifest.os, ['linux']);
  t.truthy(manifest.engines?.node);
  t.truthy(manifest.dependencies?.['node-gyp'], 'node-gyp is a dependency: the install builds with it');

  // ---- install into a fresh directory: the install step builds the native parts
  const app = path.join(work, 'app');
  fs.mkdirSync(app);
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
  const inst = await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--foreground-scripts', path.join(work, info.filename)], { cwd: app });
  t.is(inst.code, 0, show(inst));
  const root = path.join(app, 'node_modules', 'dmapifs');
  const status = JSON.parse(fs.readFileSync(path.join(root, 'native', 'build-status.json'), 'utf8')) as { status: string };
  t.is(status.status, 'built', show(inst));
  for (const f of ['native/fuse/build/Release/fuse_native.node', 'native/sys/build/Release/dmapifs_sys.node', 'native/libdm/build/libdm.so.1',
    'native/libdlm/build/libdlm-dmapifs.so.1']) {
    t.true(fs.existsSync(path.join(root, f)), `built at install: ${f}`);
  }

  // ---- the CLI
  const cli = path.join(app, 'node_modules', '.bin', 'dmapifs');
  const ver = await run(cli, ['--version'], { cwd: app });
  t.is(ver.code, 0, show(ver));
  t.is(ver.stdout.trim(), pkg.version);
  const help = await run(cli, ['--help'], { cwd: app });
  t.is(help.code, 0, show(help));
  t.regex(help.stdout, /dmapifs mount/);

  // ---- consumers: CommonJS and ESM, each calling a client (no daemon: ENOTREADY, as documented)
  const runDir = path.join(work, 'run');
  fs.mkdirSync(runDir);
  fs.writeFileSync(path.join(app, 'cjs.js'), `
const root = require('dmapifs');
const { connect, DmapiError, DM_EVENT_READ } = require('dmapifs/dmapi');
const { DlmClient, DLM_EXMODE } = require('dmapifs/dlm');
if (typeof root.mountFs !== 'function' || typeof root.Fuse !== 'function' || root.dmapi.connect !== connect) throw new Error('root exports');
if (DM_EVENT_READ !== 16 || DLM_EXMODE !== 6 || typeof DlmClient.connect !== 'function') throw new Error('subpath exports');
connect({ node: 'n1', runDir: ${JSON.stringify(runDir)} }).then(() => process.exit(3), (e) => {
  if (!(e instanceof DmapiError) || e.code !== 'ENOTREADY') throw e;
  console.log('cjs ok ' + e.code);
});`);
  fs.writeFileSync(path.join(app, 'esm.mjs'), `
import { connect, DmapiError, DM_EVENT_READ } from 'dmapifs/dmapi';
import { DlmClient, DLM_EXMODE } from 'dmapifs/dlm';
import { mountFs, Fuse, dmapi, connectDmapi } from 'dmapifs';
if (typeof mountFs !== 'function' || typeof Fuse !== 'function' || dmapi.connect !== connect || connectDmapi !== connect) throw new Error('root exports');
if (DM_EVENT_READ !== 16 || DLM_EXMODE !== 6 || typeof DlmClient.connect !== 'function') throw new Error('subpath exports');
try { await connect({ node: 'n1', runDir: ${JSON.stringify(runDir)} }); process.exit(3); } catch (e) {
  if (!(e instanceof DmapiError) || e.code !== 'ENOTREADY') throw e;
  console.log('esm ok ' + e.code);
}`);
  const consumers = async (what: string) => {
    const cjs = await run(process.execPath, ['cjs.js'], { cwd: app });
    t.is(cjs.code, 0, `${what}: ${show(cjs)}`);
    t.regex(cjs.stdout, /cjs ok ENOTREADY/);
    const esm = await run(process.execPath, ['esm.mjs'], { cwd: app });
    t.is(esm.code, 0, `${what}: ${show(esm)}`);
    t.regex(esm.stdout, /esm ok ENOTREADY/);
  };
  await consumers('with the addons');

  // ---- tsc --strict consumers: ESM (node16) and CommonJS (the old node resolution); the tutorial too
  fs.writeFileSync(path.join(app, 'typed.mts'), `
import { connect, DmapiError, isEvent, DM_EVENT_READ, DM_EVENT_USER, DM_NO_TOKEN, type DmEventMsg } from 'dmapifs/dmapi';
import { DlmClient, DLM_EXMODE, DLM_USER } from 'dmapifs/dlm';
export async function hsm(signal: AbortSignal): Promise<bigint> {
  const dm = await connect();
  const sid: number = await dm.createSession(0, 'typed');
  let total = 0n;
  for await (const ev of dm.events(sid, { signal, resume: true })) {
    switch (ev.type) {
      case DM_EVENT_READ: total += ev.length; await dm.writeInvis(sid, ev.handle, ev.token, ev.offset, Buffer.alloc(0)); break;
      case DM_EVENT_USER: ev.data.toString(); break;
    }
    const m: DmEventMsg = ev;
    if (isEvent(m, DM_EVENT_READ)) total += m.offset;
  }
  await dm.removeDmattr(sid, dm.globalHandle, DM_NO_TOKEN, 'name');
  try { await dm.getallSessions(); } catch (e) { if (e instanceof DmapiError) console.log(e.code, e.errno, e.reason); }
  const c = await DlmClient.connect();
  const { nsp } = await c.nsjoin(0, DLM_USER);
  await c.lock(nsp!, 'r', DLM_EXMODE);
  return total;
}
`);
  fs.writeFileSync(path.join(app, 'typed-cjs.ts'), `
import { connect, type DmDataEvent } from 'dmapifs/dmapi';
import { DlmClient } from 'dmapifs/dlm';
import { mountFs, type FsMountOptions } from 'dmapifs';
export const f = async (o: FsMountOptions, e: DmDataEvent): Promise<bigint> => { await mountFs(o); await connect(); await DlmClient.connect(); return e.offset; };
`);
  fs.copyFileSync(path.join(root, 'examples', 'first-hsm.ts'), path.join(app, 'first-hsm.ts'));
  const tsc = path.join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');
  const common = ['--strict', '--noEmit', '--skipLibCheck', 'false', '--types', 'node', '--typeRoots', path.join(REPO, 'node_modules', '@types'), '--target', 'es2022'];
  const esmTsc = await run(process.execPath, [tsc, ...common, '--module', 'node16', '--moduleResolution', 'node16', 'typed.mts'], { cwd: app });
  t.is(esmTsc.code, 0, `tsc --strict (node16 ESM): ${show(esmTsc)}`);
  const cjsTsc = await run(process.execPath, [tsc, ...common, '--module', 'commonjs', '--moduleResolution', 'node', 'typed-cjs.ts', 'first-hsm.ts'], { cwd: app });
  t.is(cjsTsc.code, 0, `tsc --strict (CommonJS, node resolution; the tutorial): ${show(cjsTsc)}`);

  // ---- without the addons (a machine that could not build them)
  for (const f of ['native/fuse/build', 'native/sys/build']) fs.rmSync(path.join(root, f), { recursive: true, force: true });
  const bare = { ...process.env, PATH: path.join(work, 'bin') };
  fs.mkdirSync(path.join(work, 'bin'));
  fs.symlinkSync(process.execPath, path.join(work, 'bin', 'node'));
  const step = await run(process.execPath, [path.join(root, 'scripts', 'install.js')], { cwd: root, env: bare });
  t.is(step.code, 0, `the install step succeeds without the build tools: ${show(step)}`);
  t.regex(step.stderr, /missing system packages: build-essential, python3, pkg-config \(apt-get install -y build-essential python3 pkg-config, then npm rebuild dmapifs\)/);
  const strict = await run(process.execPath, [path.join(root, 'scripts', 'install.js')], { cwd: root, env: { ...bare, DMAPIFS_REQUIRE_NATIVE: '1' } });
  t.is(strict.code, 1, `DMAPIFS_REQUIRE_NATIVE=1 fails it: ${show(strict)}`);
  t.is((await run(cli, ['--version'], { cwd: app })).stdout.trim(), pkg.version);
  t.is((await run(cli, ['--help'], { cwd: app })).code, 0);
  await consumers('without the addons');
  const back = fs.mkdtempSync(path.join(work, 'b-'));
  const mnt = fs.mkdtempSync(path.join(work, 'm-'));
  const mount = await run(cli, ['mount', '--node', 'pkgtest', back, mnt], { cwd: app, env: { ...process.env, DMAPIFS_RUN_DIR: runDir } });
  t.is(mount.code, 1, show(mount));
  t.regex(mount.stderr, /not built.*missing system packages: build-essential, python3, pkg-config.*npm rebuild dmapifs/);
  t.is(fs.readdirSync(runDir).length, 0, 'no daemon was started');
});
