// The C API: C test programs (test/c/*.c), compiled with cc against include/dmapi.h and
// native/libdm/build/libdm.so, run against a real DMAPI-enabled mount served by a real node
// daemon. Each program checks return codes, errnos and message contents itself and prints
// "ok N checks"; a failure prints "FAIL file:line: ..." and exits 1. The programs are built with
// AddressSanitizer: a read or write of libdm past a caller's buffer is a test failure, not luck.
import test, { ExecutionContext } from 'ava';
import { execFile, execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { REPO, useCluster } from './helpers/cluster';
import { dmapiMount } from './helpers/dmapi-mount';

const cluster = useCluster();
const node = cluster.uniqueNode('libdm');
const LIBDIR = path.join(REPO, 'native', 'libdm', 'build');
const bin = fs.mkdtempSync('/tmp/dmfs-libdm-bin-');
test.after.always(() => fs.rmSync(bin, { recursive: true, force: true }));

/** Compiles test/c/<name>.c (once, with AddressSanitizer) and returns the executable. */
function compile(name: string): string {
  const out = path.join(bin, name);
  if (!fs.existsSync(out)) {
    execFileSync('cc', ['-Wall', '-Wextra', '-Werror', '-std=gnu11', '-g', '-fsanitize=address', '-fno-omit-frame-pointer',
      '-I', path.join(REPO, 'include'), path.join(REPO, 'test', 'c', `${name}.c`),
      '-o', out, '-L', LIBDIR, '-ldm', '-pthread', `-Wl,-rpath,${LIBDIR}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  }
  return out;
}

const dmMount = (t: ExecutionContext) => dmapiMount(t, cluster, node);
/** The programs do not free what they allocate before exiting: leak reports are not what is tested. */
const ASAN_ENV = { ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=0:exitcode=99' };

/** Runs a compiled program with the node's environment; killed after `ms`. */
export function runC(exe: string, args: string[], ms = 60000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(exe, args, { env: { ...process.env, ...ASAN_ENV, DMAPIFS_RUN_DIR: cluster.runDir, DMAPIFS_NODE: node }, timeout: ms, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => {
        const code = err ? ((err as { code?: number | string }).code as number ?? null) : 0;
        resolve({ code: typeof code === 'number' ? code : null, stdout: String(stdout), stderr: String(stderr) });
      });
  });
}

const GROUPS: Array<[string, string]> = [
  ['sessions', 'sessions: init_service, create/assume, query and getall with E2BIG, destroy'],
  ['events', 'events: user events, send_msg, get_events (E2BIG, EAGAIN, DM_EV_WAIT), find_eventmsg, tokens, move, pending, a READ'],
  ['dispositions', 'dispositions: set_disp, getall_disp, set/get_eventlist, get_mountinfo, a CREATE'],
  ['handles', 'handles: path/fd/fs handles, library-side functions, handle_to_path'],
  ['rights', 'rights and object references'],
  ['regions', 'managed regions and a WRITE event'],
  ['dmattr', 'DM attributes'],
  ['fileattr', 'file attributes and bulk scans'],
  ['holes', 'holes and allocation'],
  ['invis', 'invisible I/O'],
  ['config', 'config: get_config, get_config_events'],
  ['threads', '4 threads on one session answer events concurrently'],
  ['badargs', 'bad arguments: every pointer argument of every function unmapped, NULL or read-only → EFAULT; wild lengths → E2BIG/EBADF or EFAULT at the edge of the caller\'s memory; ENOSYS before dm_init_service'],
  ['names', 'names that are not UTF-8: path_to_handle, handle_to_path, read_invis, event names, a recall'],
];

for (const [name, title] of GROUPS) {
  test.serial(`libdm ${title}`, async (t) => {
    const src = path.join(REPO, 'test', 'c', `${name}.c`);
    if (!fs.existsSync(src)) { t.fail(`missing ${src}`); return; }
    const exe = compile(name);
    const { mnt, backing } = await dmMount(t);
    const r = await runC(exe, [mnt, backing]);
    t.log(r.stdout.trim().split('\n').slice(-3).join('\n'));
    t.is(r.code, 0, `${r.stdout}\n${r.stderr}`);
    t.regex(r.stdout, /^ok \d+ checks$/m);
  });
}

// test/c/conform.c: one behaviour a test, each against its own mount.
const CONFORM: Array<[string, string]> = [
  ['close_dir', 'CLOSE for a directory: its last closedir raises one CLOSE naming it'],
  ['rename_target', 'RENAME/POSTRENAME enabled by the target directory\'s list alone (SGI xfs_rename), then by the source\'s; neither → none'],
  ['otrunc_region_past_eof', 'TRUNCATE on open(O_TRUNC) of a file shorter than its TRUNCATE region; ABORT keeps the file; a truncation past every region → none'],
  ['region_after_open', 'a region set after the open: READ carries the read\'s own offset and length (no page-cache range)'],
  ['times_kept', 'set/remove_dmattr with setdtime 0 and write_invis leave the ctime shown alone; setdtime 1 and chmod move it; dtime = ctime'],
];
for (const [name, title] of CONFORM) {
  test.serial(`libdm conformance: ${title}`, async (t) => {
    const exe = compile('conform');
    const { mnt, backing } = await dmMount(t);
    const r = await runC(exe, [mnt, backing, name]);
    t.is(r.code, 0, `${r.stdout}\n${r.stderr}`);
    t.regex(r.stdout, /^ok \d+ checks$/m);
  });
}

test.serial('libdm bad arguments with process_vm_readv/writev forbidden (seccomp): the pipe fallback gives the same answers', async (t) => {
  const exe = compile('badargs');
  const { mnt, backing } = await dmMount(t);
  const r = await runC(exe, [mnt, backing, 'pipe']);
  t.log(r.stdout.trim().split('\n').slice(-2).join('\n'));
  t.is(r.code, 0, `${r.stdout}\n${r.stderr}`);
  t.regex(r.stdout, /^ok \d+ checks$/m);
});

test.serial('libdm: no daemon → ENOTREADY (198)', async (t) => {
  const exe = compile('notready');
  const r = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
    execFile(exe, [], { env: { ...process.env, ...ASAN_ENV, DMAPIFS_RUN_DIR: cluster.runDir, DMAPIFS_NODE: 'no-such-node' } },
      (err, stdout) => resolve({ code: err ? (err as { code?: number }).code ?? null : 0, stdout: String(stdout) }));
  });
  t.is(r.code, 0, r.stdout);
  t.regex(r.stdout, /^ok \d+ checks$/m);
});

test.serial('libdm install: make install into a prefix; programs built with pkg-config dmapi and with plain -ldm run', async (t) => {
  const prefix = fs.mkdtempSync('/tmp/dmfs-libdm-prefix-');
  t.teardown(() => fs.rmSync(prefix, { recursive: true, force: true }));
  execFileSync('make', ['-s', '-C', path.join(REPO, 'native', 'libdm'), 'install', `PREFIX=${prefix}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  for (const f of ['include/dmapi.h', 'include/xfs/dmapi.h', 'lib/libdm.so.1', 'lib/libdm.so', 'lib/libdm.a', 'lib/pkgconfig/dmapi.pc']) t.true(fs.existsSync(path.join(prefix, f)), f);
  const pcEnv = { ...process.env, PKG_CONFIG_PATH: path.join(prefix, 'lib', 'pkgconfig') };
  const flags = execFileSync('pkg-config', ['--cflags', '--libs', 'dmapi'], { env: pcEnv }).toString().trim();
  t.is(flags, `-I${prefix}/include -L${prefix}/lib -ldm`);
  const src = path.join(REPO, 'test', 'c', 'config.c');
  const a = path.join(prefix, 'prog-pc');
  const b = path.join(prefix, 'prog-ldm');
  execFileSync('sh', ['-c', `cc -I${REPO}/test/c ${src} -o ${a} $(pkg-config --cflags --libs dmapi)`], { env: pcEnv });
  execFileSync('cc', [`-I${prefix}/include`, `-I${REPO}/test/c`, src, '-o', b, `-L${prefix}/lib`, '-ldm']);
  const { mnt } = await dmMount(t);
  for (const exe of [a, b]) {
    const r = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      execFile(exe, [mnt], { env: { ...process.env, DMAPIFS_RUN_DIR: cluster.runDir, DMAPIFS_NODE: node, LD_LIBRARY_PATH: path.join(prefix, 'lib') } },
        (err, stdout) => resolve({ code: err ? (err as { code?: number }).code ?? null : 0, stdout: String(stdout) }));
    });
    t.is(r.code, 0, r.stdout);
    t.regex(r.stdout, /^ok \d+ checks$/m);
    t.regex(execFileSync('ldd', [exe], { env: { ...process.env, LD_LIBRARY_PATH: path.join(prefix, 'lib') } }).toString(), new RegExp(`libdm\\.so\\.1 => ${prefix}/lib/libdm\\.so\\.1`));
  }
});

test.serial('libdm SGI program: built with -I<prefix>/include/xfs and #include <dmapi.h>, dt_xfs_* accessors, DM_XFLAG_*, dm_get_dioinfo', async (t) => {
  const prefix = fs.mkdtempSync('/tmp/dmfs-libdm-sgi-');
  t.teardown(() => fs.rmSync(prefix, { recursive: true, force: true }));
  execFileSync('make', ['-s', '-C', path.join(REPO, 'native', 'libdm'), 'install', `PREFIX=${prefix}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.deepEqual(fs.readFileSync(path.join(prefix, 'include', 'xfs', 'dmapi.h')), fs.readFileSync(path.join(REPO, 'include', 'dmapi.h')));
  const exe = path.join(prefix, 'sgi');
  // only the xfs directory on the include path: the program's <dmapi.h> must come from there
  execFileSync('cc', ['-Wall', '-Wextra', '-Werror', '-std=gnu11', `-I${prefix}/include/xfs`, path.join(REPO, 'test', 'c', 'sgi.c'), '-o', exe,
    `-L${prefix}/lib`, '-ldm'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const deps = execFileSync('cc', ['-std=gnu11', `-I${prefix}/include/xfs`, '-M', path.join(REPO, 'test', 'c', 'sgi.c')]).toString();
  t.true(deps.includes(`${prefix}/include/xfs/dmapi.h`), deps);
  const { mnt } = await dmMount(t);
  const r = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
    execFile(exe, [mnt], { env: { ...process.env, DMAPIFS_RUN_DIR: cluster.runDir, DMAPIFS_NODE: node, LD_LIBRARY_PATH: path.join(prefix, 'lib') } },
      (err, stdout) => resolve({ code: err ? (err as { code?: number }).code ?? null : 0, stdout: String(stdout) }));
  });
  t.log(r.stdout.trim());
  t.is(r.code, 0, r.stdout);
  t.regex(r.stdout, /^dt_xfs_igen \d+ dt_xfs_xflags 0x0 dt_xfs_extsize 0 dt_xfs_extents 1 /m);
  t.regex(r.stdout, /^ok \d+ checks$/m);
});
