// Mount options dev and suid (`dmapifs mount --dev --suid`): off by default (nodev, nosuid, as
// every FUSE mount), and when given, device files open and set-user-ID programs run with their
// owner's uid, as on a local filesystem mounted with them.
import test, { ExecutionContext } from 'ava';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { useCluster } from './helpers/cluster';
import { code, runNode, sys, USER } from './helpers/fs';

const cluster = useCluster();

/** The per-mount options of the mount at `mnt` (fourth-from-mountpoint field of mountinfo). */
function mountOptions(mnt: string): string[] {
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    if (f[4] === mnt) return f[5].split(',');
  }
  return [];
}

async function mountWith(t: ExecutionContext, flags: string[]): Promise<{ mnt: string; backing: string }> {
  const node = cluster.uniqueNode('mo');
  t.teardown(() => cluster.stopNode(node));
  const backing = cluster.tmpDir(t, 'dmfs-back-');
  const mnt = cluster.tmpDir(t, 'dmfs-mnt-');
  fs.chmodSync(backing, 0o755);
  fs.chmodSync(mnt, 0o755);
  t.teardown(() => cluster.unmount(mnt));
  await cluster.cliOk(t, ['mount', '--node', node, ...flags, backing, mnt]);
  return { mnt, backing };
}

/** What a set-user-ID-root copy of id(1) in `dir` prints for its effective uid, run as USER. */
function suidEuid(dir: string): string {
  const exe = path.join(dir, 'id-suid');
  fs.copyFileSync('/usr/bin/id', exe);
  fs.chownSync(exe, 0, 0);
  fs.chmodSync(exe, 0o4755);
  return execFileSync(exe, ['-u'], { uid: USER.uid, gid: USER.gid, encoding: 'utf8' }).trim();
}

test('by default the mount is nodev and nosuid: device files do not open, set-user-ID bits do not apply', async (t) => {
  const { mnt } = await mountWith(t, []);
  const opts = mountOptions(mnt);
  t.true(opts.includes('nodev'), opts.join(','));
  t.true(opts.includes('nosuid'), opts.join(','));
  t.is(sys.mknod(path.join(mnt, 'null'), sys.S_IFCHR | 0o666, sys.makedev(1, 3)), 0);
  t.is(code(() => fs.writeFileSync(path.join(mnt, 'null'), 'x')), 'EACCES');
  t.is(suidEuid(mnt), String(USER.uid));
});

test('--dev: device files of the mount open (a write to its /dev/null node goes nowhere)', async (t) => {
  const { mnt, backing } = await mountWith(t, ['--dev']);
  const opts = mountOptions(mnt);
  t.false(opts.includes('nodev'), opts.join(','));
  t.true(opts.includes('nosuid'), '--dev alone keeps nosuid');
  t.is(sys.mknod(path.join(mnt, 'null'), sys.S_IFCHR | 0o666, sys.makedev(1, 3)), 0);
  t.is(code(() => fs.writeFileSync(path.join(mnt, 'null'), 'x'.repeat(1000))), '');
  t.is(fs.readFileSync(path.join(mnt, 'null')).length, 0);
  t.is(fs.lstatSync(path.join(backing, 'null')).rdev, fs.lstatSync('/dev/null').rdev);
  // Another uid too.
  fs.chmodSync(path.join(mnt, 'null'), 0o666);
  const r = await runNode(`out(code(() => fs.writeFileSync(args + '/null', 'x')))`, { ...USER, args: mnt });
  t.is(r.value, '');
});

test('--suid: a set-user-ID root program of the mount runs as root; the status shows both options', async (t) => {
  const { mnt } = await mountWith(t, ['--suid', '--dev']);
  const opts = mountOptions(mnt);
  t.false(opts.includes('nosuid'), opts.join(','));
  t.false(opts.includes('nodev'), opts.join(','));
  t.is(suidEuid(mnt), '0');
  const st = await cluster.cliOk(t, ['status', '--json']);
  const mounts = (JSON.parse(st.stdout) as { nodes: Array<{ mounts?: Array<{ mountpoint: string; allowDev: boolean; allowSuid: boolean }> }> })
    .nodes.flatMap((n) => n.mounts ?? []);
  const m = mounts.find((x) => x.mountpoint === mnt);
  t.like(m, { allowDev: true, allowSuid: true });
});
