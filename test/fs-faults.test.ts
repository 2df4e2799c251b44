// Faults seen from the filesystem: kill -9 of the node daemon (dead mount point, `dmapifs umount`
// cleans it, a new mount of the same backing has the same inode numbers and contents), SIGTERM
// (clean unmount, data kept), and mounts nested in the backing tree, which are never crossed.
import test from 'ava';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { fuseMountsAt, pidAlive, waitFor } from './helpers/cluster';
import { code, lstatBig, startNode, sys, tmpDir, useMounts } from './helpers/fs';

const { mount: fsMount } = useMounts();

/** Every name under `dir` (not the reserved area) → [ino, size, content hash-ish]. */
function snapshot(dir: string): Map<string, [bigint, bigint, string]> {
  const m = new Map<string, [bigint, bigint, string]>();
  const walk = (d: string, rel: string) => {
    for (const n of fs.readdirSync(d).sort()) {
      if (rel === '' && (n === '.dmapifs' || n.endsWith('.quota'))) continue;
      const p = path.join(d, n);
      const st = fs.lstatSync(p, { bigint: true });
      const content = st.isFile() ? fs.readFileSync(p).toString('base64').slice(0, 64) : st.isSymbolicLink() ? fs.readlinkSync(p) : '';
      m.set(rel + n, [st.ino, st.size, content]);
      if (st.isDirectory()) walk(p, rel + n + '/');
    }
  };
  walk(dir, '');
  return m;
}

function populate(root: string): void {
  fs.mkdirSync(path.join(root, 'd', 'sub'), { recursive: true });
  fs.writeFileSync(path.join(root, 'd', 'a'), 'alpha');
  fs.writeFileSync(path.join(root, 'd', 'sub', 'b'), Buffer.alloc(300_000, 7));
  fs.linkSync(path.join(root, 'd', 'a'), path.join(root, 'hard'));
  fs.symlinkSync('d/a', path.join(root, 'sym'));
  sys.mknod(path.join(root, 'fifo'), sys.S_IFIFO | 0o600);
}

test.serial('kill -9 of the daemon: dead mount point, open files fail instead of hanging, umount cleans it, remount has the same inodes and contents', async (t) => {
  const x = await fsMount(t, { ownNode: true });
  populate(x.mnt);
  const fdW = fs.openSync(x.m('d', 'a'), 'r+');
  fs.writeSync(fdW, 'ALPHA', 0);
  fs.fsyncSync(fdW);
  const before = snapshot(x.mnt);
  const quotaIno = lstatBig(x.m('user.quota')).ino;
  // A writer streaming into the mount while the daemon dies.
  const writer = startNode(`
    const fd = fs.openSync(args.f, 'w');
    const buf = Buffer.alloc(64 * 1024, 1);
    fs.writeSync(fd, buf);
    ready();
    let err = '';
    const t0 = Date.now();
    try { for (;;) { fs.writeSync(fd, buf); if (Date.now() - t0 > 20000) break; } } catch (e) { err = e.code; }
    out({ err });
  `, { args: { f: x.m('stream') }, timeoutMs: 30_000 });
  await writer.ready;
  const fdR = fs.openSync(x.m('d', 'sub', 'b'), 'r');

  process.kill(x.pid, 'SIGKILL');
  await waitFor(() => !pidAlive(x.pid), 5000, 'daemon to die');

  // The writer gets an error at once rather than hanging.
  const w = await writer.done;
  t.is(w.status, 0, w.stderr);
  t.regex((w.value as { err: string }).err, /^(ENOTCONN|ECONNABORTED|EIO)$/);
  // The mount point is dead: still in the mount table, every access fails with ENOTCONN.
  // (The root's attributes may still be cached by the kernel: a stat of it can answer a while.)
  t.is(fuseMountsAt(x.mnt).length, 1);
  // (A request in flight when the connection is aborted fails ECONNABORTED, later ones ENOTCONN.)
  t.regex(code(() => fs.statSync(x.m('never-looked-up'))), /^(ENOTCONN|ECONNABORTED)$/);
  t.is(code(() => fs.readdirSync(x.mnt)), 'ENOTCONN');
  t.is(code(() => fs.writeFileSync(x.m('new'), 'x')), 'ENOTCONN');
  t.regex(code(() => fs.readSync(fdR, Buffer.alloc(10), 0, 10, 0)), /^(ENOTCONN|ECONNABORTED)$/);
  t.regex(code(() => fs.writeSync(fdW, 'x', 0)), /^(ENOTCONN|ECONNABORTED)$/);
  t.regex(code(() => fs.fstatSync(fdW)), /^(ENOTCONN|ECONNABORTED)$/);
  const err = execFileSync('sh', ['-c', `ls ${x.mnt} 2>&1 || true`], { encoding: 'utf8' });
  t.regex(err, /Transport endpoint is not connected/);

  // `dmapifs umount` cleans it even while descriptors into it are still open.
  const u = await x.cluster.cli(['umount', x.mnt]);
  t.is(u.code, 0, u.stderr);
  t.deepEqual(fuseMountsAt(x.mnt), []);
  t.regex(code(() => fs.closeSync(fdR)), /^(|ENOTCONN)$/);
  t.regex(code(() => fs.closeSync(fdW)), /^(|ENOTCONN)$/);
  t.deepEqual(fs.readdirSync(x.mnt), [], 'the mount point is an empty directory again');

  // The backing directory has everything, and a new mount shows the same inodes and contents.
  t.is(fs.readFileSync(x.b('d', 'a'), 'utf8'), 'ALPHA');
  const again = await x.cluster.cli(['mount', '--node', x.node, x.backing, x.mnt]);
  t.is(again.code, 0, again.stderr);
  const after = snapshot(x.mnt);
  after.delete('stream');
  t.deepEqual([...after.keys()], [...before.keys()]);
  for (const [k, v] of before) t.deepEqual(after.get(k), v, k);
  t.is(lstatBig(x.m('user.quota')).ino, quotaIno);
  t.true(fs.readFileSync(x.m('user.quota'), 'utf8').startsWith('*** Report for USR'));
  t.false(fs.readdirSync(x.mnt).includes('.dmapifs'));
  // And it works.
  fs.writeFileSync(x.m('post'), 'after restart');
  t.is(fs.readFileSync(x.b('post'), 'utf8'), 'after restart');
  const st = lstatBig(x.m('stream'));
  t.true(st.size > 0n && st.size % 65536n === 0n, `the streamed file holds whole writes only (${st.size})`);
});

test.serial('kill -9 twice in a row, then remount: the backing stays consistent', async (t) => {
  const x = await fsMount(t, { ownNode: true });
  populate(x.mnt);
  const before = snapshot(x.mnt);
  for (let i = 0; i < 2; i++) {
    const pid = Number(fs.readFileSync(x.cluster.pidFile(x.node), 'utf8'));
    process.kill(pid, 'SIGKILL');
    await waitFor(() => !pidAlive(pid), 5000, 'daemon to die');
    t.regex(code(() => fs.readdirSync(x.mnt)), /^(ENOTCONN|ECONNABORTED)$/);
    const u = await x.cluster.cli(['umount', x.mnt]);
    t.is(u.code, 0, u.stderr);
    const m = await x.cluster.cli(['mount', '--node', x.node, x.backing, x.mnt]);
    t.is(m.code, 0, m.stderr);
  }
  t.deepEqual(snapshot(x.mnt), before);
});

test.serial('SIGTERM to the daemon unmounts cleanly, also with open files; written data is in the backing directory', async (t) => {
  const x = await fsMount(t, { ownNode: true });
  const y = await fsMount(t, { node: x.node });
  fs.writeFileSync(x.m('a'), 'first mount');
  const fd = fs.openSync(y.m('open'), 'w');
  fs.writeSync(fd, 'written, not closed');
  process.kill(x.pid, 'SIGTERM');
  await waitFor(() => !pidAlive(x.pid), 10_000, 'daemon to exit');
  t.deepEqual(fuseMountsAt(x.mnt), [], 'first mount gone');
  t.deepEqual(fuseMountsAt(y.mnt), [], 'busy mount detached');
  t.false(fs.readFileSync('/proc/mounts', 'utf8').includes(`dmapifs:${x.node} `));
  t.deepEqual(fs.readdirSync(x.mnt), []);
  t.is(fs.readFileSync(x.b('a'), 'utf8'), 'first mount');
  t.is(fs.readFileSync(y.b('open'), 'utf8'), 'written, not closed');
  // The descriptor left open now fails instead of hanging; closing it is fine.
  t.regex(code(() => fs.writeSync(fd, 'more')), /^(ENOTCONN|ECONNABORTED)$/);
  t.regex(code(() => fs.closeSync(fd)), /^(|ENOTCONN)$/, 'close returns (the flush may fail)');
  // The same backing directories mount again.
  await x.remount();
  t.is(fs.readFileSync(x.m('a'), 'utf8'), 'first mount');
});

test('mounts nested in the backing tree are not crossed: the daemon serves the directory underneath', async (t) => {
  const x = await fsMount(t, { ownNode: true });
  await x.unmount();
  // Mount a tmpfs and a bind of another directory inside the backing tree, then mount.
  fs.mkdirSync(x.b('tmpfs'));
  fs.writeFileSync(x.b('tmpfs', 'under'), 'beneath the tmpfs');
  fs.mkdirSync(x.b('bind'));
  const other = tmpDir(t, 'dmapifs-other-');
  fs.writeFileSync(path.join(other, 'other-file'), 'outside');
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'none', x.b('tmpfs')]);
  t.teardown(() => { try { execFileSync('umount', ['-l', x.b('tmpfs')]); } catch { /* gone */ } });
  execFileSync('mount', ['--bind', other, x.b('bind')]);
  t.teardown(() => { try { execFileSync('umount', ['-l', x.b('bind')]); } catch { /* gone */ } });
  fs.writeFileSync(x.b('tmpfs', 'in-tmpfs'), 'on the tmpfs');
  const r = await x.cluster.cli(['mount', '--node', x.node, x.backing, x.mnt]);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(fs.readdirSync(x.m('tmpfs')), ['under']);
  t.is(fs.readFileSync(x.m('tmpfs', 'under'), 'utf8'), 'beneath the tmpfs');
  t.deepEqual(fs.readdirSync(x.m('bind')), []);
  t.is(code(() => fs.readFileSync(x.m('bind', 'other-file'))), 'ENOENT');
  // Writes land in the directory underneath, not on the nested mounts.
  fs.writeFileSync(x.m('bind', 'written'), 'x');
  fs.writeFileSync(x.m('tmpfs', 'written'), 'y');
  t.deepEqual(fs.readdirSync(other).sort(), ['other-file']);
  t.deepEqual(fs.readdirSync(x.b('tmpfs')).sort(), ['in-tmpfs']);
  t.is(lstatBig(x.m('tmpfs')).dev, lstatBig(x.mnt).dev);
  await x.unmount();
});
