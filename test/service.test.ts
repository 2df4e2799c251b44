// Service integration: the systemd unit's ExecStart run as systemd would (NOTIFY_SOCKET readiness,
// logs on stderr, restart after a failure bringing the listed mounts back), JSON logs and session
// lifecycle, `status --check`, the `mount --dmapi` waiting message, and `mount -t fuse.dmapifs` /
// an fstab entry through mount.fuse3.
import test, { ExecutionContext } from 'ava';
import { ChildProcess, execFile, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { connect } from '../src/dmapi/client';
import { CLI, fuseMountsAt, REPO, useCluster, waitFor } from './helpers/cluster';

const cluster = useCluster();
const UNIT = path.join(REPO, 'packaging', 'systemd', 'dmapifs@.service');

/** A Unix datagram socket that collects sd_notify messages (python3: Node has no Unix datagrams). */
function notifySocket(t: ExecutionContext): { path: string; messages: () => string[] } {
  const p = path.join(cluster.tmpDir(t, 'dmfs-notify-'), 'notify.sock');
  let got = '';
  const py = spawn('python3', ['-u', '-c', `import socket,sys
s=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM); s.bind(sys.argv[1]); print("bound",flush=True)
while True:
    d=s.recv(4096); print(d.decode().replace("\\n","|"),flush=True)`, p], { stdio: ['ignore', 'pipe', 'inherit'] });
  py.stdout!.on('data', (b: Buffer) => { got += b.toString(); });
  t.teardown(() => { py.kill('SIGKILL'); });
  return { path: p, messages: () => got.split('\n').filter((l) => l && l !== 'bound') };
}

/** The unit's ExecStart, as systemd would run it for instance `node`, with our build. */
function execStart(node: string): string[] {
  const line = fs.readFileSync(UNIT, 'utf8').split('\n').find((l) => l.startsWith('ExecStart='))!;
  const argv = line.slice('ExecStart='.length).trim().split(/\s+/).map((a) => a.replace(/%i/g, node));
  if (argv[0] !== '/usr/local/bin/dmapifs') throw new Error(`unexpected ExecStart ${line}`);
  return [process.execPath, CLI, ...argv.slice(1)];
}

function unitEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const l of fs.readFileSync(UNIT, 'utf8').split('\n').filter((x) => x.startsWith('Environment='))) {
    for (const kv of l.slice('Environment='.length).trim().split(/\s+/)) { const i = kv.indexOf('='); env[kv.slice(0, i)] = kv.slice(i + 1); }
  }
  return env;
}

interface Svc { proc: ChildProcess; stderr: () => string; exit: Promise<number | null> }

function startService(t: ExecutionContext, node: string, notify: string, stateDir: string, extraEnv: Record<string, string> = {}): Svc {
  const [cmd, ...args] = execStart(node);
  const env = { ...process.env, ...unitEnv(), DMAPIFS_RUN_DIR: cluster.runDir, DMAPIFS_STATE_DIR: stateDir, NOTIFY_SOCKET: notify, ...extraEnv };
  const proc = spawn(cmd, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (b: Buffer) => { err += b.toString(); });
  const exit = new Promise<number | null>((r) => proc.on('exit', (c) => r(c)));
  t.teardown(() => { if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL'); });
  return { proc, stderr: () => err, exit };
}

test.serial('the unit\'s ExecStart under NOTIFY_SOCKET: readiness, logs on stderr, restart after a failure restores the listed mounts', async (t) => {
  const unit = fs.readFileSync(UNIT, 'utf8');
  t.regex(unit, /^Type=notify$/m);
  t.regex(unit, /^Restart=on-failure$/m);
  const node = cluster.uniqueNode('svc');
  t.teardown(() => cluster.stopNode(node));
  const stateDir = cluster.tmpDir(t, 'dmfs-state-');
  const n = notifySocket(t);
  await waitFor(() => fs.existsSync(n.path), 5000, 'the notify socket');
  let svc = startService(t, node, n.path, stateDir);
  await waitFor(() => n.messages().some((m) => m.includes('READY=1')), 15000, 'READY=1');
  t.true(n.messages().some((m) => m.includes(`MAINPID=${svc.proc.pid}`)), n.messages().join('\n'));
  t.regex(svc.stderr(), new RegExp(`node ${node} started`), 'the log is on stderr (journald)');

  const backing = cluster.tmpDir(t, 'dmfs-back-');
  const mnt = cluster.tmpDir(t, 'dmfs-mnt-');
  fs.writeFileSync(path.join(backing, 'f'), 'persisted');
  await cluster.cliOk(t, ['mount', '--node', node, '--capacity', '8M', backing, mnt]);
  t.teardown(() => cluster.detach(mnt));
  const list = JSON.parse(fs.readFileSync(path.join(stateDir, node, 'mounts.json'), 'utf8')) as { mounts: Array<{ backing: string; mountpoint: string; capacity: number }> };
  t.like(list.mounts[0], { backing, mountpoint: mnt, capacity: 8 << 20 });

  // A failure (kill -9): status --check says so; systemd would run ExecStart again.
  svc.proc.kill('SIGKILL');
  await svc.exit;
  const check = await cluster.cli(['status', '--check']);
  t.is(check.code, 1);
  t.regex(check.stderr, /check failed: .*dead mount/);
  await cluster.cli(['umount', mnt]); // detach the dead mount, as the restart's clean-up would
  const before = n.messages().length;
  svc = startService(t, node, n.path, stateDir);
  await waitFor(() => n.messages().slice(before).some((m) => m.includes('READY=1')), 15000, 'READY=1 again');
  await waitFor(() => fuseMountsAt(mnt).length === 1 && fs.existsSync(path.join(mnt, 'f')), 15000, 'the listed mount to come back');
  t.is(fs.readFileSync(path.join(mnt, 'f'), 'utf8'), 'persisted');
  await waitFor(() => n.messages().some((m) => /STATUS=.*1 of 1 listed mount\(s\) restored/.test(m)), 10000, 'the restore status');
  t.is((await cluster.cli(['status', '--check'])).code, 0);

  // SIGTERM (systemctl stop): STOPPING=1, clean exit 0, the mount list kept for the next start.
  svc.proc.kill('SIGTERM');
  t.is(await svc.exit, 0);
  t.true(n.messages().some((m) => m.includes('STOPPING=1')));
  t.is(fuseMountsAt(mnt).length, 0);
  t.is((JSON.parse(fs.readFileSync(path.join(stateDir, node, 'mounts.json'), 'utf8')) as { mounts: unknown[] }).mounts.length, 1);
  // An explicit umount takes it off the list.
  svc = startService(t, node, n.path, stateDir);
  await waitFor(() => fuseMountsAt(mnt).length === 1, 15000, 'restored again');
  await cluster.cliOk(t, ['umount', mnt]);
  t.deepEqual((JSON.parse(fs.readFileSync(path.join(stateDir, node, 'mounts.json'), 'utf8')) as { mounts: unknown[] }).mounts, []);
  svc.proc.kill('SIGTERM');
  t.is(await svc.exit, 0);
});

test.serial('--log-format json, the debug level, and DMAPI session lifecycle in the log', async (t) => {
  const node = cluster.uniqueNode('jlog');
  t.teardown(() => cluster.stopNode(node));
  const stateDir = cluster.tmpDir(t, 'dmfs-state-');
  const [cmd, ...args] = execStart(node);
  const proc = spawn(cmd, [...args, '--log-format', 'json', '--log-level', 'debug'], { env: { ...process.env, DMAPIFS_RUN_DIR: cluster.runDir, DMAPIFS_STATE_DIR: stateDir }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (b: Buffer) => { err += b.toString(); });
  t.teardown(() => { if (proc.exitCode === null) proc.kill('SIGKILL'); });
  await waitFor(() => err.includes('started'), 15000, 'the daemon');
  const dm = await connect({ node, runDir: cluster.runDir });
  const sid = await dm.createSession(0, 'logged-session');
  await dm.destroySession(sid);
  dm.close();
  await waitFor(() => err.includes('destroyed'), 5000, 'the session lines');
  const lines = err.trim().split('\n').map((l) => JSON.parse(l) as { time: string; level: string; node: string; pid: number; msg: string });
  t.true(lines.every((l) => l.node === node && l.pid === proc.pid && !Number.isNaN(Date.parse(l.time))));
  t.true(lines.some((l) => l.level === 'info' && l.msg === `dmapi: session ${sid} (logged-session) created`));
  t.true(lines.some((l) => l.level === 'info' && l.msg === `dmapi: session ${sid} (logged-session) destroyed`));
  t.true(lines.some((l) => l.level === 'debug'), 'debug lines at --log-level debug');
  const bad = await cluster.cli(['node', 'start', '--node', node, '--log-level', 'chatty']);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /--log-level is one of debug, info, warn, error/);
  proc.kill('SIGTERM');
  await new Promise((r) => proc.once('exit', r));
});

test.serial('mount --dmapi with no HSM says once what it waits for and how long', async (t) => {
  const node = cluster.uniqueNode('wait');
  await cluster.startNode(t, node);
  await cluster.cliOk(t, ['config', '--node', node, 'dmapiMountTimeout=4']);
  const backing = cluster.tmpDir(t, 'dmfs-back-');
  const mnt = cluster.tmpDir(t, 'dmfs-mnt-');
  t.teardown(() => cluster.detach(mnt));
  const r = await cluster.cli(['mount', '--node', node, '--dmapi', backing, mnt]);
  t.is(r.code, 1);
  const waits = r.stderr.split('\n').filter((l) => /waiting up to \d+ s for a DM application to take the MOUNT disposition/.test(l));
  t.is(waits.length, 1, r.stderr);
  t.regex(r.stderr, /no DM application holds a MOUNT disposition/);
});

function sh(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env, encoding: 'utf8', timeout: 120000 }, (e, stdout, stderr) => {
      resolve({ code: e ? Number((e as { code?: number }).code ?? 1) : 0, out: stdout + stderr });
    });
  });
}

test.serial('mount -t fuse.dmapifs and an fstab entry, through mount.fuse3', async (t) => {
  if (!fs.existsSync('/sbin/mount.fuse3') && !fs.existsSync('/usr/sbin/mount.fuse3')) { t.fail('mount.fuse3 (fuse3) is not installed'); return; }
  const node = cluster.uniqueNode('fstab');
  t.teardown(() => cluster.stopNode(node));
  const backing = cluster.tmpDir(t, 'dmfs-back-');
  const mnt = cluster.tmpDir(t, 'dmfs-mnt-');
  const work = cluster.tmpDir(t, 'dmfs-fstab-');
  fs.writeFileSync(path.join(backing, 'hello'), 'through mount(8)');
  // mount(8) runs its helpers with a fixed PATH, so `dmapifs` is whatever /usr/local/bin holds: in
  // a private mount namespace of this test, that is this build (a wrapper keeping the run dir).
  const wrapper = path.join(work, 'dmapifs');
  fs.writeFileSync(wrapper, `#!/bin/sh\nexport DMAPIFS_RUN_DIR=${cluster.runDir}\nexec ${process.execPath} ${CLI} "$@"\n`, { mode: 0o755 });
  const fstab = path.join(work, 'fstab');
  fs.writeFileSync(fstab, `${backing} ${mnt} fuse.dmapifs noauto,mount_event_optional,capacity=1M,node=${node},attr_timeout=0 0 0\n`);
  const script = `set -e
mount --bind ${wrapper} /usr/local/bin/dmapifs
mount -t fuse.dmapifs ${backing} ${mnt} -o dmapi,mount_event_optional,capacity=4M,node=${node}
grep " ${mnt} " /proc/self/mountinfo | grep -q "fuse.dmapifs"
cat ${mnt}/hello; echo
${wrapper} dm lsfs --node ${node}
umount ${mnt}
mount -T ${fstab} ${mnt}
if dd if=/dev/zero of=${mnt}/big bs=1M count=3 2>/dev/null; then echo "capacity not enforced"; exit 1; fi
echo "fstab capacity enforced"
umount ${mnt}
${wrapper} node stop --node ${node}
`;
  const r = await sh('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script], process.env);
  t.is(r.code, 0, r.out);
  t.regex(r.out, /through mount\(8\)/);
  t.regex(r.out, new RegExp(`${mnt}  fsid [0-9a-f]{16}  dmapi yes  capacity 4194304`));
  t.regex(r.out, /fstab capacity enforced/);
  const bad = await cluster.cli(['/a', '/b', '-o', 'frob']);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /unknown mount option 'frob'/);
});
