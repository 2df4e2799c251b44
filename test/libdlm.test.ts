// The DLM's C API: <sys/dlm.h> and libdlm (native/libdlm) against real node daemons. One C program
// per call group (test/c/dlm/*.c), built with -Wall -Werror as C99 and linked with the library's
// sources under AddressSanitizer and UBSan; each checks statuses, value blocks and routines itself
// and prints "ok N checks" (a failure prints "FAIL file:line: ..." and exits 1). Then the examples
// (examples/c: the master/client pair between two processes and between two nodes, the dlm tool),
// kill -9 of a C lock holder, a daemon restart under a blocked C program, and the install.
import test, { ExecutionContext } from 'ava';
import { ChildProcess, execFile, execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Cluster, REPO, freePort, useCluster, waitFor } from './helpers/cluster';

const cluster = useCluster();
cluster.env.DMAPIFS_CLUSTER_CONFIG = path.join(cluster.runDir, 'no-cluster.json');
// A C test changes uid (DLM_NOACCESS): the node directories must let it through.
fs.chmodSync(cluster.runDir, 0o755);
const LIB = path.join(REPO, 'native', 'libdlm');
const EX = path.join(REPO, 'examples', 'c');
const bin = fs.mkdtempSync('/tmp/dmfs-libdlm-bin-');
test.after.always(() => fs.rmSync(bin, { recursive: true, force: true }));

const SAN = ['-fsanitize=address,undefined', '-fno-sanitize-recover=undefined', '-fno-omit-frame-pointer', '-g'];
const SAN_ENV = { ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=0', UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1' };

/** The library's sources compiled once with the sanitizers (the programs link them directly). */
let libObjs: string[] | null = null;
function sanitizedLib(): string[] {
  if (libObjs) return libObjs;
  const out: string[] = [];
  for (const f of fs.readdirSync(LIB).filter((n) => n.endsWith('.c'))) {
    const o = path.join(bin, `lib-${f}.o`);
    execFileSync('cc', ['-std=gnu11', '-Wall', '-Wextra', '-Werror', ...SAN, '-pthread', '-I', path.join(REPO, 'include'), '-I', path.join(REPO, 'native', 'common'), '-c', path.join(LIB, f), '-o', o],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    out.push(o);
  }
  return (libObjs = out);
}

/** Compiles test/c/dlm/<name>.c (once) as C99 with -Wall -Werror, under ASan and UBSan. */
function compile(name: string): string {
  const out = path.join(bin, name);
  if (!fs.existsSync(out)) {
    execFileSync('cc', ['-std=c99', '-Wall', '-Wextra', '-Werror', ...SAN, '-I', path.join(REPO, 'include'),
      path.join(REPO, 'test', 'c', 'dlm', `${name}.c`), ...sanitizedLib(), '-o', out, '-pthread'], { stdio: ['ignore', 'pipe', 'pipe'] });
  }
  return out;
}

interface Run { code: number | null; stdout: string; stderr: string }

function run(exe: string, args: string[], env: NodeJS.ProcessEnv, ms = 120000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(exe, args, { env: { ...process.env, ...SAN_ENV, ...env }, timeout: ms, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number | string }).code as number ?? null) : 0;
      resolve({ code: typeof code === 'number' ? code : null, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

function nodeEnv(c: Cluster, node: string): NodeJS.ProcessEnv {
  return { DMAPIFS_RUN_DIR: c.runDir, DMAPIFS_NODE: node };
}

function passed(t: ExecutionContext, r: Run): void {
  t.log(r.stdout.trim().split('\n').slice(-2).join('\n'));
  t.is(r.code, 0, `${r.stdout}\n${r.stderr}`);
  t.regex(r.stdout, /^ok \d+ checks$/m);
  t.notRegex(r.stderr, /runtime error|AddressSanitizer|LeakSanitizer/, r.stderr);
}

const GROUPS: Array<[string, string]> = [
  ['namespaces', 'namespaces: nsjoin (USER, GROUP, JOIN_SAME_OK), nsleave, detach, set_signal'],
  ['locks', 'lock/convert/unlock between two processes: SYNCSTS, NOQUEUE, timeout, QUECVT, sublocks, info'],
  ['queued', 'queued calls and routines: quelock, quecvt, cancel, unlock of a waiter, signal and dlm_notify delivery'],
  ['notify', 'blocking notifications: notprm, hint, mode, once per level, a blocked signal, a routine that unlocks'],
  ['valb', 'value blocks: write from PW/EX, read on grant, INVVALBLK, kill -9 of a holder'],
  ['deadlock', 'deadlock: a two-process cycle, NODLCKWT, a conversion deadlock'],
  ['glc', 'group lock containers: create, attach, group locks kept after a member exits, detach'],
  ['rd', 'recovery domains: the dead-man lock with a single process, persistent resources, statuses'],
  ['errors', 'errors and statuses: sperrno/perrno/perror, DLM_EFAULT, DLM_NOTATTACHED'],
  ['threads', 'threads and fork: 8 threads on one connection, a forked child is a process of its own'],
  ['glc_destroy', 'the dlm_glc_destroy(3) seed: LOCKS, FORCE, and every status in its order of checks'],
];

for (const [name, title] of GROUPS) {
  test.serial(`libdlm ${title}`, async (t) => {
    const exe = compile(name);
    const n = await cluster.startNode(t);
    passed(t, await run(exe, [], nodeEnv(cluster, n.node)));
  });
}

test.serial('libdlm without a daemon: DLM_ENOSYS at once (dlm_glc_destroy(3): "The DLM is not enabled")', async (t) => {
  for (const name of ['errors', 'glc_destroy']) passed(t, await run(compile(name), ['nodaemon'], nodeEnv(cluster, 'no-such-node'), 20000));
});

test.serial('libdlm: <sys/dlm.h> compiles as C99, C11 and C++ with every warning an error', (t) => {
  const src = path.join(bin, 'hdr.c');
  fs.writeFileSync(src, '#include <sys/dlm.h>\nint main(void) { dlm_lkid_t l = { 0, 0, 0 }; return (int)l.hndl + (int)sizeof(dlm_lkinfo_t) * 0; }\n');
  for (const std of ['c99', 'c11']) {
    execFileSync('cc', [`-std=${std}`, '-Wall', '-Wextra', '-Werror', '-pedantic', '-I', path.join(REPO, 'include'), '-fsyntax-only', src]);
  }
  execFileSync('c++', ['-x', 'c++', '-std=c++11', '-Wall', '-Wextra', '-Werror', '-pedantic', '-I', path.join(REPO, 'include'), '-fsyntax-only', src]);
  t.pass();
});

/** A long-running program; killed in teardown. */
function start(t: ExecutionContext, exe: string, args: string[], env: NodeJS.ProcessEnv): { proc: ChildProcess; out: () => string; exited: Promise<number | null> } {
  const proc = spawn(exe, args, { env: { ...process.env, ...SAN_ENV, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (b: Buffer) => { out += b.toString(); });
  proc.stderr!.on('data', (b: Buffer) => { out += b.toString(); });
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  t.teardown(() => { if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL'); });
  return { proc, out: () => out, exited };
}

test.serial('libdlm: a daemon restart ends blocked calls and queued requests with DLM_ENOSYS; the program joins again', async (t) => {
  const exe = compile('restart');
  const n = await cluster.startNode(t);
  const p = start(t, exe, [], nodeEnv(cluster, n.node));
  await waitFor(() => p.out().includes('waiting'), 20000, 'the program to block');
  process.kill(n.pid, 'SIGKILL');
  await waitFor(() => p.out().includes('down'), 20000, `the program to see the daemon gone: ${p.out()}`);
  await cluster.stopNode(n.node);
  const again = await cluster.cli(['node', 'start', '--node', n.node]);
  t.is(again.code, 0, again.stderr);
  t.is(await p.exited, 0, p.out());
  t.regex(p.out(), /^ok \d+ checks$/m);
});

test.before(() => {
  execFileSync('make', ['-C', EX], { stdio: ['ignore', 'pipe', 'pipe'] });
});

test.serial('examples: api_ex_master and api_ex_client pass value blocks through lock conversions between two processes', async (t) => {
  const n = await cluster.startNode(t);
  const env = nodeEnv(cluster, n.node);
  const m = start(t, path.join(EX, 'build', 'api_ex_master'), ['6'], env);
  await waitFor(() => m.out().includes('holding api_ex'), 10000, 'the master');
  const c = await run(path.join(EX, 'build', 'api_ex_client'), ['6'], env, 60000);
  t.is(c.code, 0, c.stdout + c.stderr);
  for (let r = 1; r <= 6; r++) t.regex(c.stdout, new RegExp(`^client: round ${r}: round ${r} from ${m.proc.pid}$`, 'm'));
  t.is(await m.exited, 0, m.out());
  t.regex(m.out(), /master: done/);
});

test.serial('examples: the dlm tool locks, converts and unlocks from the shell; kill -9 of a C holder frees its lock and invalidates its value block', async (t) => {
  const n = await cluster.startNode(t);
  const env = nodeEnv(cluster, n.node);
  const dlm = path.join(EX, 'build', 'dlm');
  // lock while a command runs; the value block written at unlock is read by the next grant
  let r = await run(dlm, ['-w', 'from-the-shell', 'lock', 'T', 'EX', 'sh', '-c', 'exit 3'], env);
  t.is(r.code, 3, 'the command\'s status');
  const keeper = start(t, dlm, ['lock', 'T', 'NL'], env); // keeps the resource (and its block) alive
  await waitFor(() => keeper.out().includes('granted'), 10000, 'the NL keeper');
  r = await run(dlm, ['-w', 'v2', 'lock', 'T', 'EX', 'true'], env);
  t.is(r.code, 0, r.stdout + r.stderr);
  r = await run(dlm, ['info', 'T'], env);
  t.regex(r.stdout, /T: locks 1 granted 1 ggmode NL .*vbstatus valid\nvalb "v2"/);
  // NOQUEUE against a holder
  const holder = start(t, dlm, ['lock', 'T', 'EX'], env);
  await waitFor(() => holder.out().includes('EX granted'), 10000, 'the EX holder');
  r = await run(dlm, ['-q', 'lock', 'T', 'PR', 'true'], env);
  t.is(r.code, 1);
  t.regex(r.stderr, /DLM_NOTQUEUED/);
  // a timeout in hundredths of a second
  r = await run(dlm, ['-t', '20', 'lock', 'T', 'PR', 'true'], env);
  t.regex(r.stderr, /DLM_TIMEOUT/);
  // kill -9 of the C holder: a waiter is granted, told the block is not valid
  const waiter = start(t, dlm, ['lock', 'T', 'PR'], env);
  await new Promise((res) => setTimeout(res, 300));
  t.false(waiter.out().includes('granted'));
  holder.proc.kill('SIGKILL');
  await waitFor(() => waiter.out().includes('granted'), 10000, 'the waiter to be granted');
  t.regex(waiter.out(), /T: PR granted \(DLM_SUCCVALNOTVALID/);
  // the shell mode: lock, convert, unlock in one process
  const sh = await new Promise<Run>((resolve) => {
    const p = execFile(dlm, ['shell'], { env: { ...process.env, ...env } }, (err, stdout, stderr) => resolve({ code: err ? 1 : 0, stdout: String(stdout), stderr: String(stderr) }));
    p.stdin!.end('lock S EX\nconvert S NL\nlock U PR noqueue\ninfo S\nunlock S\nunlock S\nquit\n');
  });
  t.is(sh.code, 0, sh.stderr);
  t.regex(sh.stdout, /^S: DLM_SUCCESS.*\nS: DLM_SUCCESS.*\nU: DLM_SUCCESS.*\nS: locks 1 granted 1 ggmode NL .*\nvalb ""\nS: DLM_SUCCESS.*\nS: no such command or lock\n$/);
});

// ---- two nodes: the static cluster mode (dmapifs cluster init/add-node, one configuration) ----

const B = useCluster();
fs.chmodSync(B.runDir, 0o755);

test.serial('examples: api_ex_master on one node and api_ex_client on another share the lock and its value block', async (t) => {
  const dir = cluster.tmpDir(t, 'dmfs-cfg-');
  const file = path.join(dir, 'cluster.json');
  const cfgEnv = { DMAPIFS_CLUSTER_CONFIG: file };
  const a = `la-${process.pid}`;
  const b = `lb-${process.pid}`;
  await cluster.cliOk(t, ['cluster', 'init', '--name', 'libdlm', '--heartbeat-ms', '200', '--miss-count', '5'], { env: cfgEnv });
  await cluster.cliOk(t, ['cluster', 'add-node', a, '--address', '127.0.0.1', '--port', String(await freePort()), '--master'], { env: cfgEnv });
  await cluster.cliOk(t, ['cluster', 'add-node', b, '--address', '127.0.0.1', '--port', String(await freePort())], { env: cfgEnv });
  const saved = cluster.env.DMAPIFS_CLUSTER_CONFIG;
  cluster.env.DMAPIFS_CLUSTER_CONFIG = file;
  B.env.DMAPIFS_CLUSTER_CONFIG = file;
  try {
    await cluster.startNode(t, a);
    await B.startNode(t, b);
  } finally {
    cluster.env.DMAPIFS_CLUSTER_CONFIG = saved;
  }
  await waitFor(async () => {
    const r = await B.cli(['node', 'status', '--node', b, '--json']);
    return r.code === 0 && JSON.parse(r.stdout).services?.dlm?.peers?.some((p: { up: boolean }) => p.up);
  }, 15000, 'node b to link up');
  const m = start(t, path.join(EX, 'build', 'api_ex_master'), ['4'], nodeEnv(cluster, a));
  await waitFor(() => m.out().includes('holding api_ex'), 10000, 'the master');
  const c = await run(path.join(EX, 'build', 'api_ex_client'), ['4'], nodeEnv(B, b), 60000);
  t.is(c.code, 0, c.stdout + c.stderr);
  for (let r = 1; r <= 4; r++) t.regex(c.stdout, new RegExp(`^client: round ${r}: round ${r} from ${m.proc.pid}$`, 'm'));
  t.is(await m.exited, 0, m.out());
});

// ---- install ----

test.serial('libdlm install: <sys/dlm.h>, libdlm-dmapifs, dlm.pc; pkg-config dlm and plain -ldlm build programs that run', async (t) => {
  const prefix = fs.mkdtempSync('/tmp/dmfs-libdlm-prefix-');
  t.teardown(() => fs.rmSync(prefix, { recursive: true, force: true }));
  execFileSync('make', ['-s', '-C', LIB, 'install', `PREFIX=${prefix}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.true(fs.existsSync(path.join(prefix, 'include', 'sys', 'dlm.h')));
  t.true(fs.existsSync(path.join(prefix, 'lib', 'libdlm-dmapifs.so.1')));
  t.true(fs.existsSync(path.join(prefix, 'lib', 'libdlm-dmapifs.a')));
  t.false(fs.existsSync(path.join(prefix, 'lib', 'libdlm.so')), 'without PLAIN=1 the -ldlm name outside lib/dmapifs is left alone');
  const soname = execFileSync('readelf', ['-d', path.join(prefix, 'lib', 'libdlm-dmapifs.so.1')]).toString();
  t.regex(soname, /SONAME.*\[libdlm-dmapifs\.so\.1\]/, 'a soname of its own: never confused with the Linux DLM\'s libdlm.so.3');
  const pc = { ...process.env, PKG_CONFIG_PATH: path.join(prefix, 'lib', 'pkgconfig') };
  const flags = execFileSync('pkg-config', ['--cflags', '--libs', 'dlm'], { env: pc }).toString().trim().split(/\s+/);
  const n = await cluster.startNode(t);
  const env = nodeEnv(cluster, n.node);
  const viaPc = path.join(bin, 'dlm-pc');
  execFileSync('cc', ['-std=gnu11', '-Wall', '-Werror', path.join(EX, 'dlm.c'), '-o', viaPc, ...flags]);
  let r = await run(viaPc, ['lock', 'P', 'EX', 'true'], env);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /P: EX granted/);
  // the static library, as TruCluster's man pages name it (libdlm.a)
  const viaA = path.join(bin, 'dlm-static');
  execFileSync('cc', ['-std=gnu11', '-I', path.join(prefix, 'include'), path.join(EX, 'dlm.c'), path.join(prefix, 'lib', 'dmapifs', 'libdlm.a'), '-o', viaA, '-pthread']);
  r = await run(viaA, ['lock', 'P', 'EX', 'true'], env);
  t.is(r.code, 0, r.stderr);
  // PLAIN=1: -ldlm next to the other libraries
  execFileSync('make', ['-s', '-C', LIB, 'install', `PREFIX=${prefix}`, 'PLAIN=1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const plain = path.join(bin, 'dlm-plain');
  execFileSync('cc', ['-std=gnu11', '-I', path.join(prefix, 'include'), path.join(EX, 'dlm.c'), '-o', plain, '-L', path.join(prefix, 'lib'), '-ldlm', `-Wl,-rpath,${path.join(prefix, 'lib')}`]);
  r = await run(plain, ['lock', 'P', 'EX', 'true'], env);
  t.is(r.code, 0, r.stderr);
  const needed = execFileSync('readelf', ['-d', plain]).toString();
  t.regex(needed, /NEEDED.*\[libdlm-dmapifs\.so\.1\]/);
});
