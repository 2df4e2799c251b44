// The node daemon and the dmapifs CLI, end to end: real daemons, real FUSE mounts, real signals.
import test, { ExecutionContext } from 'ava';
import { execFile, execFileSync, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { callDaemon } from '../src/daemon/control-client';
import { CodedError } from '../src/common/errors';
import { CliResult, fuseMountsAt, isMounted, pidAlive, REPO, useCluster, waitFor } from './helpers/cluster';

const cluster = useCluster();

/** The CLI's error contract: exit code, exactly one line on stderr, matching `re`. */
function assertOneLineError(t: ExecutionContext, r: CliResult, code: number, re: RegExp): void {
  t.is(r.code, code, `exit code (stderr: ${r.stderr.trim()})`);
  const lines = r.stderr.split('\n').filter((l) => l.length);
  t.is(lines.length, 1, `one line on stderr, got: ${JSON.stringify(r.stderr)}`);
  t.regex(lines[0] ?? '', /^dmapifs: /);
  t.regex(lines[0] ?? '', re);
}

function sh(cmd: string, args: string[], opts: { cwd?: string } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd: opts.cwd, encoding: 'utf8', timeout: 30000 }, (e, stdout, stderr) => {
      resolve({ code: e ? ((e as { code?: unknown }).code as number ?? null) : 0, stdout, stderr });
    });
  });
}

/** A process whose cwd is inside `dir`, keeping a mount busy; killed in teardown. */
function holdBusy(t: ExecutionContext, dir: string): number {
  const child = spawn('sleep', ['300'], { cwd: dir, stdio: 'ignore' });
  t.teardown(() => { child.kill('SIGKILL'); });
  return child.pid!;
}

// ------------------------------------------------------------------------------------ usage

test.serial('--help, --version and usage errors', async (t) => {
  const help = await cluster.cli(['--help']);
  t.is(help.code, 0);
  for (const word of ['mount', 'umount', 'status', 'node start', 'node stop', 'node status', '--attr-timeout', 'DMAPIFS_RUN_DIR']) {
    t.true(help.stdout.includes(word), `help mentions ${word}`);
  }
  const version = await cluster.cli(['--version']);
  t.is(version.code, 0);
  t.is(version.stdout.trim(), JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')).version);
  t.is((await cluster.cli(['help', 'mount'])).code, 0);
  t.is((await cluster.cli(['mount', '--help'])).code, 0);

  const none = await cluster.cli([]);
  t.is(none.code, 2);
  t.regex(none.stderr, /usage:/);

  assertOneLineError(t, await cluster.cli(['frobnicate']), 2, /unknown command 'frobnicate'/);
  assertOneLineError(t, await cluster.cli(['--frob']), 2, /unknown option --frob/);
  assertOneLineError(t, await cluster.cli(['status', '--frob']), 2, /unknown option --frob for 'status'/);
  assertOneLineError(t, await cluster.cli(['status', '-x']), 2, /unknown option -x/);
  assertOneLineError(t, await cluster.cli(['status', 'extra']), 2, /unexpected argument 'extra'/);
  assertOneLineError(t, await cluster.cli(['node']), 2, /needs a subcommand/);
  assertOneLineError(t, await cluster.cli(['node', 'restart']), 2, /unknown node subcommand 'restart'/);
  assertOneLineError(t, await cluster.cli(['mount', '/tmp']), 2, /mount needs BACKING and MOUNTPOINT/);
  assertOneLineError(t, await cluster.cli(['mount', '/a', '/b', '/c']), 2, /unexpected argument '\/c'/);
  assertOneLineError(t, await cluster.cli(['mount', '--attr-timeout', 'soon', '/a', '/b']), 2, /--attr-timeout must be a non-negative number/);
  assertOneLineError(t, await cluster.cli(['mount', '--entry-timeout=-1', '/a', '/b']), 2, /--entry-timeout must be a non-negative number/);
  assertOneLineError(t, await cluster.cli(['mount', '--node'],), 2, /--node needs a value/);
  assertOneLineError(t, await cluster.cli(['umount']), 2, /umount needs MOUNTPOINT/);
  assertOneLineError(t, await cluster.cli(['node', 'start', '--node', 'bad/name']), 1, /invalid node name 'bad\/name'/);
  // None of that started a daemon.
  t.deepEqual(fs.readdirSync(cluster.runDir), []);
});

// ------------------------------------------------------------------------------------ nodes

test.serial('node start / status / stop', async (t) => {
  const node = cluster.uniqueNode('life');
  t.teardown(() => cluster.stopNode(node));
  const notYet = await cluster.cli(['node', 'status', '--node', node]);
  t.is(notYet.code, 3);
  t.regex(notYet.stdout, /not running/);

  const start = await cluster.cliOk(t, ['node', 'start', '--node', node]);
  const pid = cluster.daemonPid(node)!;
  t.truthy(pid);
  t.true(pidAlive(pid));
  t.regex(start.stdout, new RegExp(`node ${node} started \\(pid ${pid}\\)`));
  // Run dir layout and modes.
  t.is(fs.statSync(cluster.nodeDir(node)).mode & 0o777, 0o711);
  t.true(fs.statSync(cluster.socketPath(node)).isSocket());
  t.is(fs.statSync(cluster.socketPath(node)).mode & 0o777, 0o600);
  t.is(fs.readFileSync(cluster.pidFile(node), 'utf8'), `${pid}\n`);
  t.regex(fs.readFileSync(cluster.logFile(node), 'utf8'), new RegExp(`node ${node} started`));
  // The daemon does not hold the caller's cwd.
  t.is(fs.readlinkSync(`/proc/${pid}/cwd`), '/');

  const again = await cluster.cliOk(t, ['node', 'start', '--node', node]);
  t.regex(again.stdout, new RegExp(`already running \\(pid ${pid}\\)`));
  t.is(cluster.daemonPid(node), pid);

  const st = await cluster.cliOk(t, ['node', 'status', '--node', node, '--json']);
  const j = JSON.parse(st.stdout);
  t.like(j, { node, state: 'running', pid, runDir: cluster.nodeDir(node), mounts: [] });
  t.true(Math.abs(j.startedAt - Date.now()) < 60000);
  const text = await cluster.cliOk(t, ['node', 'status', '--node', node]);
  t.regex(text.stdout, new RegExp(`node ${node}: running, pid ${pid}, since .*, 0 mounts`));

  // A second daemon for the same node name refuses to start.
  const second = cluster.spawnDaemon(node);
  let err2 = '';
  second.stderr!.on('data', (b) => { err2 += b; });
  const code2 = await new Promise((r) => second.on('exit', (c) => r(c)));
  t.is(code2, 3);
  t.regex(err2, new RegExp(`node ${node} is already running \\(pid ${pid}\\)`));
  t.true(pidAlive(pid));

  const stop = await cluster.cliOk(t, ['node', 'stop', '--node', node]);
  t.regex(stop.stdout, new RegExp(`node ${node} stopped \\(pid ${pid}\\)`));
  t.false(pidAlive(pid));
  t.false(fs.existsSync(cluster.socketPath(node)));
  t.false(fs.existsSync(cluster.pidFile(node)));
  t.regex(fs.readFileSync(cluster.logFile(node), 'utf8'), new RegExp(`node ${node} stopped`));
  const after = await cluster.cli(['node', 'status', '--node', node]);
  t.is(after.code, 3);
  const stopAgain = await cluster.cliOk(t, ['node', 'stop', '--node', node]);
  t.regex(stopAgain.stdout, /not running/);
});

test.serial('the default node name is the host name', async (t) => {
  const host = execFileSync('hostname', { encoding: 'utf8' }).trim().replace(/[^A-Za-z0-9._-]/g, '-');
  t.teardown(() => cluster.stopNode(host));
  const r = await cluster.cliOk(t, ['node', 'start']);
  t.regex(r.stdout, new RegExp(`node ${host.replace(/\./g, '\\.')} started`));
  t.true(fs.existsSync(cluster.socketPath(host)));
  await cluster.cliOk(t, ['node', 'stop']);
  t.false(fs.existsSync(cluster.socketPath(host)));
});

test.serial('a stale pid file and socket of a dead daemon are reported, cleaned, and do not block a start', async (t) => {
  const node = cluster.uniqueNode('stale');
  t.teardown(() => cluster.stopNode(node));
  fs.mkdirSync(cluster.nodeDir(node), { recursive: true, mode: 0o700 });
  // A pid that is surely not a daemon: a process that has exited.
  const dead = spawn('true');
  await new Promise((r) => dead.on('exit', r));
  fs.writeFileSync(cluster.pidFile(node), `${dead.pid}\n`);
  // A socket file nobody listens on: bound by a process that was then killed.
  const bound = spawnSync(process.execPath, ['-e',
    `require('net').createServer().listen(${JSON.stringify(cluster.socketPath(node))}, () => process.kill(process.pid, 'SIGKILL'))`]);
  t.is(bound.signal, 'SIGKILL');
  t.true(fs.existsSync(cluster.socketPath(node)));

  const st = await cluster.status();
  const entry = st.nodes.find((n) => n.node === node);
  t.like(entry, { state: 'stale', pid: dead.pid });
  t.deepEqual([...(entry?.cleaned ?? [])].sort(), ['control.sock', 'daemon.pid']);
  t.false(fs.existsSync(cluster.pidFile(node)));
  t.false(fs.existsSync(cluster.socketPath(node)));
  t.falsy((await cluster.status()).nodes.find((n) => n.node === node), 'no longer listed once cleaned');

  fs.writeFileSync(cluster.pidFile(node), `${dead.pid}\n`);
  const { pid } = await cluster.startNode(t, node);
  t.not(pid, dead.pid);
  t.true(pidAlive(pid));
});

// ------------------------------------------------------------------------------------ mounts

test.serial('mount and umount through the CLI; the mount passes reads and writes through', async (t) => {
  const backing = cluster.tmpDir(t, 'dmfs-back-');
  cluster.writeFiles(backing, { 'hello.txt': 'hello, world\n', 'sub/deep.bin': Buffer.alloc(300000, 7) });
  const mnt = cluster.tmpDir(t, 'dmfs-mnt-');
  const node = cluster.uniqueNode('mnt');
  t.teardown(() => cluster.stopNode(node));
  t.teardown(() => cluster.unmount(mnt));

  // Relative paths are made absolute by the CLI.
  const r = await cluster.cliOk(t, ['mount', '--node', node, path.relative('/tmp', backing), path.relative('/tmp', mnt)], { cwd: '/tmp' });
  const pid = cluster.daemonPid(node)!;
  t.regex(r.stdout, new RegExp(`mounted ${backing} at ${mnt} \\(node ${node}, pid ${pid}, daemon started\\)`));
  // Ready on return: the kernel lists it and it answers at once.
  t.deepEqual(fuseMountsAt(mnt).map((m) => [m.fstype, m.source]), [['fuse.dmapifs', `dmapifs:${node}`]]);
  t.is(await fs.promises.readFile(path.join(mnt, 'hello.txt'), 'utf8'), 'hello, world\n');
  t.deepEqual(await fs.promises.readFile(path.join(mnt, 'sub/deep.bin')), Buffer.alloc(300000, 7));
  await fs.promises.writeFile(path.join(mnt, 'new.txt'), 'written through the mount');
  t.is(fs.readFileSync(path.join(backing, 'new.txt'), 'utf8'), 'written through the mount');
  // Inode numbers are the backing ones.
  for (const f of ['hello.txt', 'sub', 'sub/deep.bin', 'new.txt']) {
    t.is((await fs.promises.stat(path.join(mnt, f), { bigint: true })).ino, fs.statSync(path.join(backing, f), { bigint: true }).ino, f);
  }

  const st = await cluster.status();
  const n = st.nodes.find((x) => x.node === node)!;
  t.like(n, { state: 'running', pid });
  t.is(n.mounts.length, 1);
  t.like(n.mounts[0], { backing, mountpoint: mnt, node });
  t.true(Math.abs(n.mounts[0].mountedAt - Date.now()) < 60000);
  const text = await cluster.cliOk(t, ['status']);
  t.true(text.stdout.includes(`${mnt}  <-  ${backing}`));
  // The mount's device number, once the filesystem layer knows it.
  const dev = Number((await fs.promises.stat(mnt)).dev);
  await waitFor(async () => (await cluster.status()).nodes.find((x) => x.node === node)!.mounts[0].dev === dev, 5000, 'dev in status');

  const u = await cluster.cliOk(t, ['umount', mnt]);
  t.regex(u.stdout, new RegExp(`unmounted ${mnt} \\(node ${node}\\)`));
  t.deepEqual(fuseMountsAt(mnt), []);
  t.deepEqual(fs.readdirSync(mnt), []);
  t.deepEqual((await cluster.status()).nodes.find((x) => x.node === node)!.mounts, []);
  // The daemon stays up for the next mount.
  t.true(pidAlive(pid));

  // Symlinked paths are resolved: the table holds canonical paths, umount finds them.
  const link = path.join(cluster.tmpDir(t, 'dmfs-link-'), 'm');
  fs.symlinkSync(mnt, link);
  await cluster.cliOk(t, ['mount', '--node', node, backing, link]);
  t.is(fuseMountsAt(mnt).length, 1);
  t.is((await cluster.status()).nodes.find((x) => x.node === node)!.mounts[0].mountpoint, mnt);
  // ... and umount through the symlink finds it as well.
  const u2 = await cluster.cliOk(t, ['umount', link]);
  t.regex(u2.stdout, new RegExp(`unmounted ${mnt} \\(node ${node}\\)`));
  t.deepEqual(fuseMountsAt(mnt), []);
});

test.serial('two mounts on one daemon', async (t) => {
  const node = cluster.uniqueNode('two');
  const a = await cluster.withMount(t, { node, files: { 'a.txt': 'A' } });
  t.teardown(() => cluster.stopNode(node));
  const b = await cluster.withMount(t, { node, files: { 'b.txt': 'B' }, attrTimeout: 0, entryTimeout: 0.5 });
  t.is(a.pid, b.pid, 'one daemon serves both');
  t.is(fs.readFileSync(path.join(a.mnt, 'a.txt'), 'utf8'), 'A');
  t.is(fs.readFileSync(path.join(b.mnt, 'b.txt'), 'utf8'), 'B');
  t.false(fs.existsSync(path.join(a.mnt, 'b.txt')));

  const n = (await cluster.status()).nodes.find((x) => x.node === node)!;
  t.deepEqual(n.mounts.map((m) => [m.mountpoint, m.backing]).sort(), [[a.mnt, a.backing], [b.mnt, b.backing]].sort());
  t.like(n.mounts.find((m) => m.mountpoint === b.mnt), { attrTimeout: 0, entryTimeout: 0.5 });

  // Mounting the same mount point again is refused, the existing mount is untouched.
  const again = await cluster.cli(['mount', '--node', node, a.backing, a.mnt]);
  assertOneLineError(t, again, 1, new RegExp(`already a mount point: ${a.mnt}`));

  await cluster.cliOk(t, ['umount', a.mnt]);
  t.deepEqual(fuseMountsAt(a.mnt), []);
  t.is(fs.readFileSync(path.join(b.mnt, 'b.txt'), 'utf8'), 'B');
  t.deepEqual((await cluster.status()).nodes.find((x) => x.node === node)!.mounts.map((m) => m.mountpoint), [b.mnt]);

  // node stop unmounts the rest.
  const stop = await cluster.cliOk(t, ['node', 'stop', '--node', node]);
  t.regex(stop.stdout, /1 mount unmounted/);
  t.deepEqual(fuseMountsAt(b.mnt), []);
  t.false(pidAlive(b.pid));
});

test.serial('concurrent mounts on a node that is not running start exactly one daemon', async (t) => {
  const node = cluster.uniqueNode('race');
  t.teardown(() => cluster.stopNode(node));
  const backing = cluster.tmpDir(t, 'dmfs-back-');
  const mnts = [0, 1, 2, 3].map(() => cluster.tmpDir(t, 'dmfs-mnt-'));
  for (const m of mnts) t.teardown(() => cluster.unmount(m));
  const results = await Promise.all(mnts.map((m) => cluster.cli(['mount', '--node', node, backing, m])));
  for (const r of results) t.is(r.code, 0, r.stderr);
  t.is(results.filter((r) => /daemon started/.test(r.stdout)).length, 1, results.map((r) => r.stdout).join(''));
  const pids = new Set(results.map((r) => /pid (\d+)/.exec(r.stdout)?.[1]));
  t.is(pids.size, 1);
  const n = (await cluster.status()).nodes.filter((x) => x.node === node);
  t.is(n.length, 1);
  t.deepEqual(n[0].mounts.map((m) => m.mountpoint).sort(), [...mnts].sort());
  for (const m of mnts) t.is(fuseMountsAt(m).length, 1);
});

test.serial('a mount that fails inside the filesystem layer is an error answer; the daemon keeps serving', async (t) => {
  const m = await cluster.withMount(t, { files: { f: 'still here' } });
  // A read-only backing directory: the filesystem cannot set up its reserved area there.
  const ro = cluster.tmpDir(t, 'dmfs-ro-');
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro', 'dmfs-ro', ro]);
  t.teardown(() => cluster.detach(ro));
  const mnt2 = cluster.tmpDir(t, 'dmfs-mnt-');
  t.teardown(() => cluster.unmount(mnt2));
  assertOneLineError(t, await cluster.cli(['mount', '--node', m.node, ro, mnt2]), 1, /^dmapifs: mount failed: /);
  t.deepEqual(fuseMountsAt(mnt2), []);
  t.true(pidAlive(m.pid));
  t.is(fs.readFileSync(path.join(m.mnt, 'f'), 'utf8'), 'still here');
  t.deepEqual((await cluster.status()).nodes.find((x) => x.node === m.node)!.mounts.map((x) => x.mountpoint), [m.mnt]);
  // A daemon started by that failing mount alone is not left behind.
  const node2 = cluster.uniqueNode('failmount');
  t.teardown(() => cluster.stopNode(node2));
  assertOneLineError(t, await cluster.cli(['mount', '--node', node2, ro, mnt2]), 1, /^dmapifs: mount failed: /);
  await waitFor(() => !fs.existsSync(cluster.socketPath(node2)), 10000, 'the daemon started for nothing to stop');
  t.is(cluster.daemonPid(node2), null);
});

// ------------------------------------------------------------------------------------ bad input

test.serial('bad mount input: one-line messages, non-zero exit, no daemon started', async (t) => {
  const base = cluster.tmpDir(t, 'dmfs-bad-');
  const backing = path.join(base, 'back');
  const mnt = path.join(base, 'mnt');
  fs.mkdirSync(backing);
  fs.mkdirSync(mnt);
  fs.writeFileSync(path.join(base, 'file'), 'x');
  const full = path.join(base, 'full');
  fs.mkdirSync(full);
  fs.writeFileSync(path.join(full, 'x'), 'x');
  const node = cluster.uniqueNode('bad');
  t.teardown(() => cluster.stopNode(node));
  const mount = (b: string, m: string) => cluster.cli(['mount', '--node', node, b, m]);

  assertOneLineError(t, await mount(path.join(base, 'nope'), mnt), 1, new RegExp(`backing directory does not exist: ${base}/nope$`));
  assertOneLineError(t, await mount(path.join(base, 'file'), mnt), 1, new RegExp(`backing path is not a directory: ${base}/file$`));
  assertOneLineError(t, await mount(backing, path.join(base, 'nomnt')), 1, new RegExp(`mount point does not exist: ${base}/nomnt$`));
  assertOneLineError(t, await mount(backing, path.join(base, 'file')), 1, new RegExp(`mount point is not a directory: ${base}/file$`));
  assertOneLineError(t, await mount(backing, full), 1, new RegExp(`mount point is not empty: ${full}$`));
  assertOneLineError(t, await mount(backing, path.join(backing)), 1, /mount point must not be the backing directory or inside it/);
  fs.mkdirSync(path.join(backing, 'inner'));
  assertOneLineError(t, await mount(backing, path.join(backing, 'inner')), 1, /mount point must not be the backing directory or inside it/);
  assertOneLineError(t, await mount(path.join(mnt), path.join(base)), 1, /mount point is not empty/);
  // Already a mount point: a tmpfs.
  const tm = path.join(base, 'tmpfs');
  fs.mkdirSync(tm);
  execFileSync('mount', ['-t', 'tmpfs', 'dmfs-test', tm]);
  t.teardown(() => cluster.detach(tm));
  assertOneLineError(t, await mount(backing, tm), 1, new RegExp(`already a mount point: ${tm} \\(tmpfs from dmfs-test\\)`));
  t.false(fs.existsSync(cluster.nodeDir(node)), 'no daemon was started for bad input');
});

test.serial('already a mount point: one of ours, and the daemon checks too', async (t) => {
  const m = await cluster.withMount(t, { files: { f: 'x' } });
  const backing2 = cluster.tmpDir(t, 'dmfs-back-');
  assertOneLineError(t, await cluster.cli(['mount', '--node', m.node, backing2, m.mnt]), 1,
    new RegExp(`already a mount point: ${m.mnt} \\(FUSE fuse.dmapifs from dmapifs:${m.node}\\)`));
  // Straight to the daemon, past the CLI's own checks.
  const sock = cluster.socketPath(m.node);
  const err = async (args: Record<string, unknown>) => (await t.throwsAsync(callDaemon(sock, 'mount', args))) as CodedError;
  t.like(await err({ backing: backing2, mountpoint: m.mnt }), { code: 'EBUSY' });
  t.like(await err({ backing: 'relative', mountpoint: '/tmp' }), { code: 'EINVAL', message: 'backing path must be absolute: relative' });
  t.like(await err({ backing: backing2 }), { code: 'EINVAL', message: "'mountpoint' must be a non-empty string" });
  t.like(await err({ backing: backing2, mountpoint: '/x', attrTimeout: -1 }), { code: 'EINVAL' });
  // Paths inside the daemon's own mount are refused (they would deadlock its thread).
  fs.mkdirSync(path.join(m.mnt, 'inner'));
  const inside = await err({ backing: backing2, mountpoint: path.join(m.mnt, 'inner') });
  t.like(inside, { code: 'EINVAL' });
  t.regex(inside.message, /a mount served by node .* itself/);
  const insideB = await err({ backing: path.join(m.mnt, 'inner'), mountpoint: cluster.tmpDir(t) });
  t.regex(insideB.message, /backing directory .* is inside .*a mount served by node/);
  t.like(await t.throwsAsync(callDaemon(sock, 'umount', { mountpoint: '/not/mounted' })) as CodedError, { code: 'ENOENT' });
  t.like(await t.throwsAsync(callDaemon(sock, 'frob', {})) as CodedError, { code: 'ENOSYS' });
  // And it still serves.
  t.is(fs.readFileSync(path.join(m.mnt, 'f'), 'utf8'), 'x');
  t.true(pidAlive(m.pid));
});

test.serial('no /dev/fuse: one-line message, exit 1', async (t) => {
  const backing = cluster.tmpDir(t, 'dmfs-back-');
  const mnt = cluster.tmpDir(t, 'dmfs-mnt-');
  const node = cluster.uniqueNode('nodev');
  t.teardown(() => cluster.stopNode(node));
  // A private mount namespace whose /dev is an empty tmpfs.
  const r = await cluster.cli(['mount', '--node', node, backing, mnt], {
    wrap: ['unshare', '-m', 'sh', '-c', 'mount -t tmpfs none /dev && exec "$@"', 'sh'],
  });
  assertOneLineError(t, r, 1, /no \/dev\/fuse: the fuse kernel module is not loaded/);
  t.false(fs.existsSync(cluster.nodeDir(node)));
  t.deepEqual(fuseMountsAt(mnt), []);
});

test.serial('libfuse 3 not installed: one-line message, exit 1', async (t) => {
  const addon = path.join(REPO, 'native', 'fuse', 'build', 'Release', 'fuse_native.node');
  const ldd = execFileSync('ldd', [addon], { encoding: 'utf8' });
  const lib = /libfuse3\.so\.3 => (\S+)/.exec(ldd)?.[1];
  if (!lib) { t.fail(`cannot find libfuse3 in ldd output: ${ldd}`); return; }
  const real = fs.realpathSync(lib);
  const backing = cluster.tmpDir(t, 'dmfs-back-');
  const mnt = cluster.tmpDir(t, 'dmfs-mnt-');
  const node = cluster.uniqueNode('nolib');
  t.teardown(() => cluster.stopNode(node));
  // A private mount namespace where the library is an empty file.
  const r = await cluster.cli(['mount', '--node', node, backing, mnt], {
    wrap: ['unshare', '-m', 'sh', '-c', `mount --bind /dev/null '${real}' && exec "$@"`, 'sh'],
  });
  assertOneLineError(t, r, 1, /libfuse 3 is not installed/);
  t.false(fs.existsSync(cluster.nodeDir(node)));
});

test.serial('umount of something that is not ours', async (t) => {
  const dir = cluster.tmpDir(t, 'dmfs-um-');
  assertOneLineError(t, await cluster.cli(['umount', dir]), 1, new RegExp(`not mounted: ${dir}$`));
  assertOneLineError(t, await cluster.cli(['umount', path.join(dir, 'missing')]), 1, /not mounted/);
  execFileSync('mount', ['-t', 'tmpfs', 'dmfs-test', dir]);
  t.teardown(() => cluster.detach(dir));
  assertOneLineError(t, await cluster.cli(['umount', dir]), 1, /is not a FUSE mount \(tmpfs from dmfs-test\); use umount\(8\)/);
  t.true(isMounted(dir));
});

test.serial('a busy mount: umount fails with EBUSY, --lazy detaches it', async (t) => {
  const m = await cluster.withMount(t, { files: { f: 'x' } });
  fs.mkdirSync(path.join(m.mnt, 'd'));
  const holder = holdBusy(t, path.join(m.mnt, 'd'));
  await waitFor(() => fs.readlinkSync(`/proc/${holder}/cwd`) === path.join(m.mnt, 'd'), 5000, 'holder cwd');
  assertOneLineError(t, await cluster.cli(['umount', m.mnt]), 1, new RegExp(`mount point is busy: ${m.mnt}`));
  t.is(fuseMountsAt(m.mnt).length, 1);
  t.is(fs.readFileSync(path.join(m.mnt, 'f'), 'utf8'), 'x');
  const r = await cluster.cliOk(t, ['umount', '--lazy', m.mnt]);
  t.regex(r.stdout, /lazy/);
  t.deepEqual(fuseMountsAt(m.mnt), []);
  t.deepEqual((await cluster.status()).nodes.find((x) => x.node === m.node)!.mounts, []);
  t.true(pidAlive(m.pid));
});

// ------------------------------------------------------------------------------------ faults

async function exitOf(child: import('child_process').ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return { code: child.exitCode, signal: child.signalCode };
  return new Promise((r) => child.on('exit', (code, signal) => r({ code, signal })));
}

for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  test.serial(`${sig} unmounts every mount cleanly (lazily when busy) and exits 0`, async (t) => {
    const node = cluster.uniqueNode(sig.toLowerCase());
    const daemon = cluster.spawnDaemon(node);
    t.teardown(() => { if (daemon.exitCode === null) daemon.kill('SIGKILL'); });
    t.teardown(() => cluster.stopNode(node));
    await waitFor(async () => (await cluster.cli(['node', 'status', '--node', node])).code === 0, 10000, 'daemon up');
    const a = await cluster.withMount(t, { node, files: { a: '1' } });
    const b = await cluster.withMount(t, { node, files: { b: '2' } });
    t.is(a.pid, daemon.pid!);
    // Keep b busy: a process has its cwd there.
    const holder = holdBusy(t, b.mnt);
    await waitFor(() => fs.readlinkSync(`/proc/${holder}/cwd`) === b.mnt, 5000, 'holder cwd');

    daemon.kill(sig);
    const ex = await exitOf(daemon);
    t.deepEqual(ex, { code: 0, signal: null });
    t.deepEqual(fuseMountsAt(a.mnt), [], 'a unmounted');
    t.deepEqual(fuseMountsAt(b.mnt), [], 'b detached');
    const procMounts = fs.readFileSync('/proc/mounts', 'utf8');
    t.false(procMounts.includes(`dmapifs:${node}`), 'no fuse mount of the node left in /proc/mounts');
    t.false(fs.existsSync(cluster.socketPath(node)));
    t.false(fs.existsSync(cluster.pidFile(node)));
    const log = fs.readFileSync(cluster.logFile(node), 'utf8');
    t.regex(log, new RegExp(`${sig} received`));
    t.regex(log, /detaching it lazily/);
    t.regex(log, new RegExp(`node ${node} stopped`));
    t.deepEqual(fs.readdirSync(a.backing).filter((f) => !f.startsWith('.')), ['a']);
  });
}

test.serial('kill -9 leaves a dead mount: status reports it, umount cleans it, a new mount succeeds', async (t) => {
  const m = await cluster.withMount(t, { files: { 'keep.txt': 'survives' } });
  await fs.promises.writeFile(path.join(m.mnt, 'written.txt'), 'before the kill');
  process.kill(m.pid, 'SIGKILL');
  await waitFor(() => !pidAlive(m.pid), 5000, 'daemon to die');

  // The kernel mount is still there, but dead.
  t.is(fuseMountsAt(m.mnt).length, 1);
  const err = await t.throwsAsync(fs.promises.readdir(m.mnt));
  t.regex((err as NodeJS.ErrnoException).code ?? '', /ENOTCONN|ECONNABORTED/);

  const st = await cluster.status();
  t.like(st.nodes.find((n) => n.node === m.node), { state: 'stale', pid: m.pid });
  t.true(st.deadMounts.some((d) => d.mountpoint === m.mnt && d.node === m.node), JSON.stringify(st.deadMounts));
  const text = await cluster.cliOk(t, ['status']);
  t.true(text.stdout.includes('dead FUSE mounts'));
  t.true(text.stdout.includes(m.mnt));
  t.false(fs.existsSync(cluster.socketPath(m.node)), 'stale socket cleaned');
  t.false(fs.existsSync(cluster.pidFile(m.node)), 'stale pid file cleaned');

  // Mounting over it is refused with a hint.
  assertOneLineError(t, await cluster.cli(['mount', '--node', m.node, m.backing, m.mnt]), 1,
    new RegExp(`mount point ${m.mnt} is a dead FUSE mount .*run 'dmapifs umount ${m.mnt}' first`));

  const u = await cluster.cliOk(t, ['umount', m.mnt]);
  t.regex(u.stdout, new RegExp(`detached dead FUSE mount ${m.mnt}`));
  t.deepEqual(fuseMountsAt(m.mnt), []);
  t.deepEqual((await cluster.status()).deadMounts.filter((d) => d.mountpoint === m.mnt), []);

  const again = await cluster.cliOk(t, ['mount', '--node', m.node, m.backing, m.mnt]);
  t.regex(again.stdout, /daemon started/);
  t.is(fs.readFileSync(path.join(m.mnt, 'keep.txt'), 'utf8'), 'survives');
  t.is(fs.readFileSync(path.join(m.mnt, 'written.txt'), 'utf8'), 'before the kill');
  t.not(cluster.daemonPid(m.node), m.pid);
});

for (const tool of ['umount', 'fusermount3 -u'] as const) {
  test.serial(`an external \`${tool}\` is noticed by the daemon`, async (t) => {
    const m = await cluster.withMount(t, { files: { f: 'x' } });
    const [cmd, ...args] = tool.split(' ');
    const r = await sh(cmd, [...args, m.mnt]);
    t.is(r.code, 0, r.stderr);
    t.deepEqual(fuseMountsAt(m.mnt), []);
    await waitFor(async () => (await cluster.status()).nodes.find((n) => n.node === m.node)!.mounts.length === 0, 10000,
      'the daemon to drop the mount');
    t.true(pidAlive(m.pid), 'the daemon lives on');
    t.regex(fs.readFileSync(cluster.logFile(m.node), 'utf8'), new RegExp(`mount ${m.mnt} went away`));
    // The same mount point can be mounted again by the same daemon.
    await cluster.cliOk(t, ['mount', '--node', m.node, m.backing, m.mnt]);
    t.is(cluster.daemonPid(m.node), m.pid);
    t.is(fs.readFileSync(path.join(m.mnt, 'f'), 'utf8'), 'x');
  });
}

test.serial('bad control requests do not crash the daemon', async (t) => {
  const { node, pid } = await cluster.startNode(t);
  const sock = cluster.socketPath(node);
  const answers = await new Promise<string[]>((resolve, reject) => {
    const c = net.createConnection(sock);
    let buf = '';
    c.on('data', (d) => {
      buf += d;
      const lines = buf.split('\n').filter(Boolean);
      if (lines.length >= 5) { c.destroy(); resolve(lines); }
    });
    c.on('error', reject);
    c.write('{{{\n');
    c.write(Buffer.alloc(2 * 1024 * 1024, 0x41));
    c.write('\n[]\n{"id":1,"cmd":"mount","args":{"backing":5}}\n{"id":2,"cmd":"ping"}\n');
  });
  const parsed = answers.map((l) => JSON.parse(l));
  // Lines the daemon could not read are answered in order, with id null.
  const anon = parsed.filter((a) => a.id === null);
  t.is(anon.length, 3);
  t.like(anon[0], { ok: false, error: { code: 'EPROTO' } });
  t.like(anon[1], { ok: false, error: { code: 'EMSGSIZE' } });
  t.like(anon[2], { ok: false, error: { code: 'EPROTO' } });
  // Requests are answered by id (they run concurrently).
  t.like(parsed.find((a) => a.id === 1), { ok: false, error: { code: 'EINVAL' } });
  t.like(parsed.find((a) => a.id === 2), { ok: true, result: { pong: true, node, pid } });
  // Connections that vanish mid-request.
  for (let i = 0; i < 20; i++) {
    const c = net.createConnection(sock);
    c.on('error', () => undefined);
    c.on('connect', () => { c.write('{"id":1,"cmd":"status"}\n'); c.destroy(); });
  }
  await waitFor(async () => (await cluster.cli(['node', 'status', '--node', node])).code === 0, 5000, 'daemon answers');
  t.true(pidAlive(pid));
});
