// Extended attributes and locks through a real mount: user.* and trusted.* xattrs with their
// errors and flags, large values, the private trusted.dmapifs.* names; POSIX record locks, OFD
// locks and flock between processes.
import test from 'ava';
import * as fs from 'fs';
import { inChild, rc, startNode, sys, useMounts, USER } from './helpers/fs';

const { mount: fsMount } = useMounts();

function names(p: string): string[] {
  const r = sys.llistxattr(p);
  if (typeof r === 'number') throw new Error(`llistxattr ${p}: ${rc(r)}`);
  return [...r].sort();
}

test('user.* xattrs: set/get/list/remove on files and dirs, binary and empty values, flags, errors', async (t) => {
  const x = await fsMount(t);
  fs.writeFileSync(x.m('f'), '');
  fs.mkdirSync(x.m('d'));
  const bin = Buffer.from([0, 1, 2, 255, 0, 10]);
  t.is(rc(sys.lsetxattr(x.m('f'), 'user.bin', bin, 0)), 0);
  t.is(rc(sys.lsetxattr(x.m('f'), 'user.empty', Buffer.alloc(0), 0)), 0);
  t.is(rc(sys.lsetxattr(x.m('d'), 'user.dir', 'on a dir', 0)), 0);
  t.deepEqual(sys.lgetxattr(x.m('f'), 'user.bin'), bin);
  t.deepEqual(sys.lgetxattr(x.m('f'), 'user.empty'), Buffer.alloc(0));
  t.deepEqual(sys.lgetxattr(x.b('f'), 'user.bin'), bin, 'stored on the backing file');
  t.is(String(sys.lgetxattr(x.b('d'), 'user.dir')), 'on a dir');
  t.deepEqual(names(x.m('f')), ['user.bin', 'user.empty']);
  t.deepEqual(names(x.m('d')), ['user.dir']);
  // Through a descriptor.
  const fd = fs.openSync(x.m('f'), 'r');
  t.is(rc(sys.fsetxattr(fd, 'user.fd', 'via fd', 0)), 0);
  t.is(String(sys.fgetxattr(fd, 'user.fd')), 'via fd');
  t.deepEqual([...(sys.flistxattr(fd) as string[])].sort(), ['user.bin', 'user.empty', 'user.fd']);
  t.is(rc(sys.fremovexattr(fd, 'user.fd')), 0);
  fs.closeSync(fd);
  // Flags: XATTR_CREATE on an existing name, XATTR_REPLACE on a missing one.
  t.is(rc(sys.lsetxattr(x.m('f'), 'user.bin', 'x', sys.XATTR_CREATE)), 'EEXIST');
  t.is(rc(sys.lsetxattr(x.m('f'), 'user.nope', 'x', sys.XATTR_REPLACE)), 'ENODATA');
  t.is(rc(sys.lsetxattr(x.m('f'), 'user.bin', 'replaced', sys.XATTR_REPLACE)), 0);
  t.is(String(sys.lgetxattr(x.m('f'), 'user.bin')), 'replaced');
  t.is(rc(sys.lsetxattr(x.m('f'), 'user.new', 'created', sys.XATTR_CREATE)), 0);
  // Missing names, missing files, remove.
  t.is(rc(sys.lgetxattr(x.m('f'), 'user.missing')), 'ENODATA');
  t.is(rc(sys.lremovexattr(x.m('f'), 'user.missing')), 'ENODATA');
  t.is(rc(sys.lgetxattr(x.m('nofile'), 'user.bin')), 'ENOENT');
  t.is(rc(sys.lremovexattr(x.m('f'), 'user.bin')), 0);
  t.is(rc(sys.lgetxattr(x.b('f'), 'user.bin')), 'ENODATA');
  t.deepEqual(names(x.m('f')), ['user.empty', 'user.new']);
  // Unknown namespace; user.* on a symlink (Linux refuses it).
  t.is(rc(sys.lsetxattr(x.m('f'), 'bogus.name', 'x', 0)), 'EOPNOTSUPP');
  fs.symlinkSync('f', x.m('l'));
  t.is(rc(sys.lsetxattr(x.m('l'), 'user.x', 'x', 0)), 'EPERM');
  // An xattr set in the backing directory is seen through the mount.
  t.is(sys.lsetxattr(x.b('f'), 'user.behind', 'back', 0), 0);
  t.is(String(sys.lgetxattr(x.m('f'), 'user.behind')), 'back');
});

test('xattrs: large values and many names behave as on the backing filesystem', async (t) => {
  const x = await fsMount(t);
  fs.writeFileSync(x.m('f'), '');
  fs.writeFileSync(x.b('ref'), '');
  for (const size of [255, 1000, 3000, 4000, 16 * 1024, 64 * 1024, 64 * 1024 + 1]) {
    const v = Buffer.alloc(size, size & 0xff);
    const want = rc(sys.lsetxattr(x.b('ref'), `user.v${size}`, v, 0));
    t.is(rc(sys.lsetxattr(x.m('f'), `user.v${size}`, v, 0)), want, `set of ${size} bytes`);
    if (want === 0) t.deepEqual(sys.lgetxattr(x.m('f'), `user.v${size}`), v);
  }
  const long = 'user.' + 'n'.repeat(250);
  t.is(rc(sys.lsetxattr(x.m('f'), long, 'x', 0)), 0);
  t.is(rc(sys.lsetxattr(x.m('f'), long + 'n', 'x', 0)), 'ERANGE');
  t.true(names(x.m('f')).includes(long));
});

test('trusted.* xattrs: root may set and list them; another uid cannot see or set them', async (t) => {
  const x = await fsMount(t);
  fs.writeFileSync(x.m('f'), '');
  fs.chmodSync(x.m('f'), 0o666);
  t.is(rc(sys.lsetxattr(x.m('f'), 'trusted.t', 'secret', 0)), 0);
  t.is(rc(sys.lsetxattr(x.m('f'), 'user.u', 'public', 0)), 0);
  t.is(String(sys.lgetxattr(x.b('f'), 'trusted.t')), 'secret');
  t.deepEqual(names(x.m('f')), ['trusted.t', 'user.u']);
  const r = await inChild<Record<string, unknown>>(t, `
    const p = args.m + '/f';
    out({ list: [...sys.llistxattr(p)].sort(), get: rc(sys.lgetxattr(p, 'trusted.t')),
          set: rc(sys.lsetxattr(p, 'trusted.mine', 'x', 0)), user: String(sys.lgetxattr(p, 'user.u')),
          setUser: rc(sys.lsetxattr(p, 'user.w', 'by user', 0)) });
  `, { ...USER, args: { m: x.mnt } });
  t.deepEqual(r, { list: ['user.u'], get: 'ENODATA', set: 'EPERM', user: 'public', setUser: 0 });
  // A file the uid may not write: user.* set is EACCES.
  fs.writeFileSync(x.m('ro'), '');
  fs.chmodSync(x.m('ro'), 0o644);
  const r2 = await inChild<unknown>(t, `out(rc(sys.lsetxattr(args.m + '/ro', 'user.x', 'x', 0)));`, { ...USER, args: { m: x.mnt } });
  t.is(r2, 'EACCES');
  t.is(rc(sys.lremovexattr(x.m('f'), 'trusted.t')), 0);
  t.is(rc(sys.lgetxattr(x.b('f'), 'trusted.t')), 'ENODATA');
});

test('private trusted.dmapifs.* names are neither listed, readable, settable nor removable through the mount', async (t) => {
  const x = await fsMount(t);
  fs.writeFileSync(x.m('f'), '');
  t.is(sys.lsetxattr(x.b('f'), 'trusted.dmapifs.region', 'dm', 0), 0);
  t.is(sys.lsetxattr(x.b('f'), 'trusted.other', 'o', 0), 0);
  t.deepEqual(names(x.m('f')), ['trusted.other']);
  t.is(rc(sys.lgetxattr(x.m('f'), 'trusted.dmapifs.region')), 'ENODATA');
  t.is(rc(sys.lsetxattr(x.m('f'), 'trusted.dmapifs.region', 'evil', 0)), 'EPERM');
  t.is(rc(sys.lsetxattr(x.m('f'), 'trusted.dmapifs.new', 'evil', 0)), 'EPERM');
  t.is(rc(sys.lremovexattr(x.m('f'), 'trusted.dmapifs.region')), 'ENODATA');
  t.is(String(sys.lgetxattr(x.b('f'), 'trusted.dmapifs.region')), 'dm', 'left alone');
  t.is(rc(sys.lgetxattr(x.b('f'), 'trusted.dmapifs.new')), 'ENODATA');
  // Size query of the list counts only what is shown: an application sizing its buffer with it works.
  const fd = fs.openSync(x.m('f'), 'r');
  t.deepEqual([...(sys.flistxattr(fd) as string[])], ['trusted.other']);
  fs.closeSync(fd);
});

/** A child that takes a lock (fcntl or flock), says ready, and holds it until told to go. */
function holder(script: string, args: unknown) {
  return startNode(`
    ${script}
    ready();
    await new Promise((res) => process.stdin.once('data', res));
  `, { args, timeoutMs: 30_000 });
}

test('POSIX record locks: conflicts between two processes, F_GETLK names the holder, ranges, read locks share', async (t) => {
  const x = await fsMount(t);
  const f = x.m('lockfile');
  fs.writeFileSync(f, 'x'.repeat(1000));
  const a = holder(`
    const fd = fs.openSync(args.f, 'r+');
    const r = sys.fcntlLock(fd, sys.F_SETLK, sys.F_WRLCK, 0, 0, 100);
    if (r !== 0) throw new Error('lock: ' + rc(r));
    const r2 = sys.fcntlLock(fd, sys.F_SETLK, sys.F_RDLCK, 0, 500, 100);
    if (r2 !== 0) throw new Error('rdlock: ' + rc(r2));
  `, { f });
  await a.ready;
  const fd = fs.openSync(f, 'r+');
  t.is(rc(sys.fcntlLock(fd, sys.F_SETLK, sys.F_WRLCK, 0, 50, 10)), 'EAGAIN', 'overlapping write lock refused');
  t.is(rc(sys.fcntlLock(fd, sys.F_SETLK, sys.F_RDLCK, 0, 0, 1)), 'EAGAIN', 'read lock under a write lock refused');
  const info = sys.fcntlLock(fd, sys.F_GETLK, sys.F_WRLCK, 0, 10, 5);
  t.like(info as object, { type: sys.F_WRLCK, start: 0, len: 100, pid: a.pid });
  t.is(rc(sys.fcntlLock(fd, sys.F_SETLK, sys.F_WRLCK, 0, 100, 100)), 0, 'adjacent range is free');
  t.is(rc(sys.fcntlLock(fd, sys.F_SETLK, sys.F_RDLCK, 0, 550, 10)), 0, 'read locks share');
  t.is(rc(sys.fcntlLock(fd, sys.F_SETLK, sys.F_WRLCK, 0, 550, 10)), 'EAGAIN', 'but not with a write lock');
  const none = sys.fcntlLock(fd, sys.F_GETLK, sys.F_WRLCK, 0, 300, 10);
  t.like(none as object, { type: sys.F_UNLCK });
  // The holder exits: its locks go with it.
  a.send('go');
  t.is((await a.done).status, 0);
  t.is(rc(sys.fcntlLock(fd, sys.F_SETLK, sys.F_WRLCK, 0, 0, 0)), 0, 'whole file after the holder left');
  // Now a child is refused, and F_GETLK from it sees us.
  const r = await inChild<Record<string, unknown>>(t, `
    const fd = fs.openSync(args.f, 'r');
    out({ set: rc(sys.fcntlLock(fd, sys.F_SETLK, sys.F_RDLCK, 0, 0, 1)), get: sys.fcntlLock(fd, sys.F_GETLK, sys.F_RDLCK, 0, 0, 1) });
  `, { args: { f } });
  t.is(r.set, 'EAGAIN');
  t.like(r.get as object, { type: sys.F_WRLCK, pid: process.pid });
  // Closing any descriptor of the file drops this process's locks (POSIX semantics).
  const other = fs.openSync(f, 'r');
  fs.closeSync(other);
  const r2 = await inChild<unknown>(t, `
    const fd = fs.openSync(args.f, 'r');
    out(rc(sys.fcntlLock(fd, sys.F_SETLK, sys.F_RDLCK, 0, 0, 1)));
  `, { args: { f } });
  t.is(r2, 0);
  fs.closeSync(fd);
});

test('F_SETLKW waits for the holder and gets the lock once it is released', async (t) => {
  const x = await fsMount(t);
  const f = x.m('lockfile');
  fs.writeFileSync(f, '');
  const a = holder(`
    const fd = fs.openSync(args.f, 'r+');
    if (sys.fcntlLock(fd, sys.F_SETLK, sys.F_WRLCK, 0, 0, 0) !== 0) throw new Error('lock');
  `, { f });
  await a.ready;
  const waiter = startNode(`
    const fd = fs.openSync(args.f, 'r+');
    ready();
    const t0 = Date.now();
    const r = sys.fcntlLock(fd, sys.F_SETLKW, sys.F_WRLCK, 0, 0, 0);
    out({ r: rc(r), waited: Date.now() - t0 });
  `, { args: { f } });
  await waiter.ready;
  await new Promise((r) => setTimeout(r, 500));
  a.send('go');
  await a.done;
  const res = await waiter.done;
  t.is(res.status, 0, res.stderr);
  const v = res.value as { r: unknown; waited: number };
  t.is(v.r, 0);
  t.true(v.waited >= 300, `waited ${v.waited} ms for the holder`);
});

test('OFD locks conflict between two open files of one process', async (t) => {
  const x = await fsMount(t);
  const f = x.m('ofd');
  fs.writeFileSync(f, '');
  const a = fs.openSync(f, 'r+');
  const b = fs.openSync(f, 'r+');
  t.is(rc(sys.fcntlLock(a, sys.F_OFD_SETLK, sys.F_WRLCK, 0, 0, 10)), 0);
  t.is(rc(sys.fcntlLock(b, sys.F_OFD_SETLK, sys.F_WRLCK, 0, 5, 10)), 'EAGAIN');
  const g = sys.fcntlLock(b, sys.F_OFD_GETLK, sys.F_WRLCK, 0, 0, 1);
  t.like(g as object, { type: sys.F_WRLCK, pid: -1 });
  t.is(rc(sys.fcntlLock(b, sys.F_OFD_SETLK, sys.F_WRLCK, 0, 10, 10)), 0);
  fs.closeSync(a);
  t.is(rc(sys.fcntlLock(b, sys.F_OFD_SETLK, sys.F_WRLCK, 0, 0, 0)), 0, 'free once the first file is closed');
  fs.closeSync(b);
});

test('flock: exclusive and shared locks between two processes, conversion, release on close', async (t) => {
  const x = await fsMount(t);
  const f = x.m('flockfile');
  fs.writeFileSync(f, '');
  const a = holder(`
    const fd = fs.openSync(args.f, 'r');
    if (sys.flock(fd, sys.LOCK_EX | sys.LOCK_NB) !== 0) throw new Error('flock');
  `, { f });
  await a.ready;
  const fd = fs.openSync(f, 'r');
  t.is(rc(sys.flock(fd, sys.LOCK_EX | sys.LOCK_NB)), 'EAGAIN');
  t.is(rc(sys.flock(fd, sys.LOCK_SH | sys.LOCK_NB)), 'EAGAIN');
  a.send('go');
  await a.done;
  t.is(rc(sys.flock(fd, sys.LOCK_SH | sys.LOCK_NB)), 0);
  // Shared with another process; it cannot upgrade while we hold ours.
  const r = await inChild<Record<string, unknown>>(t, `
    const fd = fs.openSync(args.f, 'r');
    const sh = rc(sys.flock(fd, sys.LOCK_SH | sys.LOCK_NB));
    const ex = rc(sys.flock(fd, sys.LOCK_EX | sys.LOCK_NB));
    out({ sh, ex });
  `, { args: { f } });
  t.deepEqual(r, { sh: 0, ex: 'EAGAIN' });
  // Upgrade ours; another open file of ours conflicts too (flock is per open file).
  t.is(rc(sys.flock(fd, sys.LOCK_EX | sys.LOCK_NB)), 0);
  const fd2 = fs.openSync(f, 'r');
  t.is(rc(sys.flock(fd2, sys.LOCK_SH | sys.LOCK_NB)), 'EAGAIN');
  // A blocking waiter gets it when we unlock.
  const w = startNode(`
    const fd = fs.openSync(args.f, 'r');
    ready();
    const t0 = Date.now();
    out({ r: rc(sys.flock(fd, sys.LOCK_EX)), waited: Date.now() - t0 });
  `, { args: { f } });
  await w.ready;
  await new Promise((res) => setTimeout(res, 400));
  t.is(rc(sys.flock(fd, sys.LOCK_UN)), 0);
  const res = await w.done;
  t.is(res.status, 0, res.stderr);
  t.is((res.value as { r: unknown }).r, 0);
  t.true((res.value as { waited: number }).waited >= 200);
  t.is(rc(sys.flock(fd2, sys.LOCK_SH | sys.LOCK_NB)), 0, 'free once the waiter exited');
  fs.closeSync(fd2);
  fs.closeSync(fd);
});
