// Attributes and permissions through a real mount: getattr vs the backing file, access, statfs,
// utimens (ns, UTIME_OMIT/UTIME_NOW, touch -a/-m/-d), chmod, chown, and what an unprivileged uid
// may and may not do (EACCES, EPERM), who owns what it creates (set-group-ID directories too).
import test from 'ava';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { code, inChild, lstatBig, rc, sleep, sys, tmpDir, useMounts, USER, USER2 } from './helpers/fs';

const { mount: fsMount } = useMounts();

function nsTimes(p: string): { a: bigint; m: bigint; c: bigint } {
  const s = lstatBig(p);
  return { a: s.atimeNs, m: s.mtimeNs, c: s.ctimeNs };
}

test('getattr: every field equals the backing file\'s, for each file type, with ns times', async (t) => {
  const x = await fsMount(t);
  fs.writeFileSync(x.m('f'), 'x'.repeat(5000));
  fs.mkdirSync(x.m('d'));
  fs.symlinkSync('f', x.m('l'));
  sys.mknod(x.m('p'), sys.S_IFIFO | 0o600);
  sys.mknod(x.m('c'), sys.S_IFCHR | 0o600, sys.makedev(1, 5));
  for (const n of ['', 'f', 'd', 'l', 'p', 'c']) {
    const a = lstatBig(x.m(n));
    const b = lstatBig(x.b(n));
    for (const k of ['ino', 'mode', 'nlink', 'uid', 'gid', 'rdev', 'size', 'blocks', 'atimeNs', 'mtimeNs', 'ctimeNs'] as const) {
      t.is(a[k], b[k], `${k} of /${n}`);
    }
    t.not(a.dev, b.dev, 'st_dev is the mount\'s own');
  }
  // fstat of an open file agrees with stat.
  const fd = fs.openSync(x.m('f'), 'r');
  const f = fs.fstatSync(fd, { bigint: true });
  t.is(f.ino, lstatBig(x.b('f')).ino);
  t.is(f.size, 5000n);
  t.is(f.mtimeNs, lstatBig(x.b('f')).mtimeNs);
  fs.closeSync(fd);
  t.is(code(() => fs.statSync(x.m('missing'))), 'ENOENT');
  t.is(code(() => fs.statSync(x.m('f', 'below'))), 'ENOTDIR');
  t.is(code(() => fs.statSync(x.m('x'.repeat(256)))), 'ENAMETOOLONG');
});

test('access: F_OK/R_OK/W_OK/X_OK as root and as another uid', async (t) => {
  const x = await fsMount(t);
  fs.writeFileSync(x.m('ro'), '', { mode: 0o444 });
  fs.writeFileSync(x.m('none'), '', { mode: 0o000 });
  fs.writeFileSync(x.m('exe'), '', { mode: 0o755 });
  fs.chmodSync(x.m('ro'), 0o444);
  fs.chmodSync(x.m('none'), 0o000);
  t.notThrows(() => fs.accessSync(x.m('ro'), fs.constants.R_OK | fs.constants.W_OK)); // root
  t.notThrows(() => fs.accessSync(x.m('exe'), fs.constants.X_OK));
  t.is(code(() => fs.accessSync(x.m('none'), fs.constants.X_OK)), 'EACCES'); // no x bit at all
  t.is(code(() => fs.accessSync(x.m('missing'))), 'ENOENT');
  const r = await inChild<Record<string, string>>(t, `
    const a = (p, m) => code(() => fs.accessSync(p, m));
    out({ roR: a(args.m + '/ro', fs.constants.R_OK), roW: a(args.m + '/ro', fs.constants.W_OK),
          none: a(args.m + '/none', fs.constants.R_OK), exe: a(args.m + '/exe', fs.constants.X_OK),
          f: a(args.m + '/none', fs.constants.F_OK), dirW: a(args.m, fs.constants.W_OK) });
  `, { ...USER, args: { m: x.mnt } });
  t.deepEqual(r, { roR: '', roW: 'EACCES', none: 'EACCES', exe: '', f: '', dirW: 'EACCES' });
});

test('statfs: 64-bit fields equal the backing filesystem\'s', async (t) => {
  const x = await fsMount(t);
  const a = sys.statvfsArray();
  const b = sys.statvfsArray();
  t.is(sys.statvfs(x.mnt, a), 0);
  t.is(sys.statvfs(x.backing, b), 0);
  t.is(a[sys.STATVFS_BSIZE], b[sys.STATVFS_BSIZE]);
  t.is(a[sys.STATVFS_FRSIZE], b[sys.STATVFS_FRSIZE]);
  t.is(a[sys.STATVFS_BLOCKS], b[sys.STATVFS_BLOCKS]);
  t.is(a[sys.STATVFS_FILES], b[sys.STATVFS_FILES]);
  t.is(a[sys.STATVFS_NAMEMAX], b[sys.STATVFS_NAMEMAX]);
  // Free counts move while other tests run: close, not equal.
  const near = (u: bigint, v: bigint, tol: bigint) => (u > v ? u - v : v - u) <= tol;
  t.true(near(a[sys.STATVFS_BFREE], b[sys.STATVFS_BFREE], 1n << 20n));
  t.true(near(a[sys.STATVFS_BAVAIL], b[sys.STATVFS_BAVAIL], 1n << 20n));
  t.true(near(a[sys.STATVFS_FFREE], b[sys.STATVFS_FFREE], 100_000n));
  // Real sizes: total bytes above 4 GiB must not be truncated to 32 bits anywhere.
  const total = a[sys.STATVFS_BLOCKS] * a[sys.STATVFS_FRSIZE];
  t.is(total, b[sys.STATVFS_BLOCKS] * b[sys.STATVFS_FRSIZE]);
  const df = fs.statfsSync(x.m('.'), { bigint: true });
  t.is(df.blocks, b[sys.STATVFS_BLOCKS]);
  // statfs of a file inside gives the same filesystem numbers.
  fs.writeFileSync(x.m('f'), '');
  const c = sys.statvfsArray();
  t.is(sys.statvfs(x.m('f'), c), 0);
  t.is(c[sys.STATVFS_BLOCKS], a[sys.STATVFS_BLOCKS]);
});

test('utimens: ns precision, UTIME_OMIT and UTIME_NOW for each time, times before 1970 and past 2038', async (t) => {
  const x = await fsMount(t);
  fs.writeFileSync(x.m('f'), '');
  const set = (as: number | null, an: number, ms: number | null, mn: number) =>
    sys.utimensat(sys.AT_FDCWD, x.m('f'), as, an, ms, mn, 0);
  t.is(rc(set(1_000_000_000, 123_456_789, 1_100_000_000, 987_654_321)), 0);
  let s = nsTimes(x.m('f'));
  t.is(s.a, 1_000_000_000_123_456_789n);
  t.is(s.m, 1_100_000_000_987_654_321n);
  t.deepEqual(nsTimes(x.b('f')), s);
  // Change atime only: mtime stays.
  t.is(rc(set(1_200_000_000, 1, null, sys.UTIME_OMIT)), 0);
  s = nsTimes(x.m('f'));
  t.is(s.a, 1_200_000_000_000_000_001n);
  t.is(s.m, 1_100_000_000_987_654_321n);
  // Change mtime only: atime stays.
  t.is(rc(set(null, sys.UTIME_OMIT, 1_300_000_000, 999_999_999)), 0);
  s = nsTimes(x.m('f'));
  t.is(s.a, 1_200_000_000_000_000_001n);
  t.is(s.m, 1_300_000_000_999_999_999n);
  // UTIME_NOW for mtime, OMIT for atime.
  const before = BigInt(Date.now() - 2000) * 1_000_000n;
  t.is(rc(set(null, sys.UTIME_OMIT, null, sys.UTIME_NOW)), 0);
  s = nsTimes(x.m('f'));
  t.is(s.a, 1_200_000_000_000_000_001n);
  t.true(s.m >= before, 'mtime is now');
  t.true(s.c >= before, 'ctime changed');
  // UTIME_NOW for atime only.
  t.is(rc(set(1, 0, 1, 0)), 0);
  t.is(rc(set(null, sys.UTIME_NOW, null, sys.UTIME_OMIT)), 0);
  s = nsTimes(x.m('f'));
  t.true(s.a >= before);
  t.is(s.m, 1_000_000_000n);
  // Both omitted: nothing changes.
  const c0 = nsTimes(x.b('f'));
  t.is(rc(set(null, sys.UTIME_OMIT, null, sys.UTIME_OMIT)), 0);
  t.deepEqual(nsTimes(x.b('f')), c0);
  // Before 1970, and past 2038 (64-bit seconds).
  t.is(rc(set(-86_400, 500, 4_102_444_800, 7)), 0);
  s = nsTimes(x.m('f'));
  t.is(s.a, -86_400_000_000_000n + 500n);
  t.is(s.m, 4_102_444_800_000_000_007n);
  t.deepEqual(nsTimes(x.b('f')), s);
  // On a directory, and through an open descriptor (futimens).
  fs.mkdirSync(x.m('d'));
  t.is(rc(sys.utimensat(sys.AT_FDCWD, x.m('d'), 5, 5, 6, 6, 0)), 0);
  t.is(lstatBig(x.b('d')).mtimeNs, 6_000_000_006n);
  const fd = fs.openSync(x.m('f'), 'r+');
  t.is(rc(sys.futimens(fd, 7, 7, null, sys.UTIME_OMIT)), 0);
  t.is(lstatBig(x.b('f')).atimeNs, 7_000_000_007n);
  t.is(lstatBig(x.b('f')).mtimeNs, 4_102_444_800_000_000_007n);
  fs.closeSync(fd);
  // A symlink's own times (AT_SYMLINK_NOFOLLOW), leaving its target alone.
  fs.symlinkSync('f', x.m('l'));
  const tgt = nsTimes(x.b('f'));
  t.is(rc(sys.utimensat(sys.AT_FDCWD, x.m('l'), 8, 8, 9, 9, sys.AT_SYMLINK_NOFOLLOW)), 0);
  t.is(lstatBig(x.b('l')).mtimeNs, 9_000_000_009n);
  t.deepEqual(nsTimes(x.b('f')), tgt);
  t.is(rc(sys.utimensat(sys.AT_FDCWD, x.m('missing'), 1, 0, 1, 0, 0)), 'ENOENT');
});

test('touch -a, touch -m, touch -d with ns; writes update mtime and ctime', async (t) => {
  const x = await fsMount(t);
  fs.writeFileSync(x.m('f'), 'a');
  execFileSync('touch', ['-d', '2001-02-03 04:05:06.123456789 UTC', x.m('f')]);
  let s = nsTimes(x.m('f'));
  t.is(s.a, 981173106_123456789n);
  t.is(s.m, 981173106_123456789n);
  execFileSync('touch', ['-a', '-d', '2002-02-03 04:05:06.000000001 UTC', x.m('f')]);
  s = nsTimes(x.m('f'));
  t.is(s.a, 1012709106_000000001n);
  t.is(s.m, 981173106_123456789n, 'touch -a leaves mtime');
  execFileSync('touch', ['-m', '-d', '2003-02-03 04:05:06.999999999 UTC', x.m('f')]);
  s = nsTimes(x.m('f'));
  t.is(s.a, 1012709106_000000001n, 'touch -m leaves atime');
  t.is(s.m, 1044245106_999999999n);
  t.deepEqual(nsTimes(x.b('f')), s);
  execFileSync('touch', ['-m', x.m('f')]);
  s = nsTimes(x.m('f'));
  t.is(s.a, 1012709106_000000001n);
  t.true(s.m > BigInt(Date.now() - 60_000) * 1_000_000n);
  // touch of a new file creates it.
  execFileSync('touch', [x.m('new')]);
  t.true(fs.statSync(x.b('new')).isFile());
  // A write moves mtime and ctime forward.
  execFileSync('touch', ['-d', '2001-01-01 UTC', x.m('f')]);
  const old = nsTimes(x.m('f'));
  fs.appendFileSync(x.m('f'), 'b');
  const now = nsTimes(x.m('f'));
  t.true(now.m > old.m);
  t.true(now.c >= old.c);
});

test('chmod: modes incl. setuid/setgid/sticky, on files and dirs; EPERM for another uid; ENOENT', async (t) => {
  const x = await fsMount(t);
  fs.writeFileSync(x.m('f'), '');
  fs.mkdirSync(x.m('d'));
  for (const mode of [0o600, 0o4755, 0o2755, 0o1777, 0o000, 0o7777]) {
    fs.chmodSync(x.m('f'), mode);
    t.is(fs.statSync(x.m('f')).mode & 0o7777, mode);
    t.is(fs.statSync(x.b('f')).mode & 0o7777, mode);
  }
  fs.chmodSync(x.m('d'), 0o1777);
  t.is(fs.statSync(x.b('d')).mode & 0o7777, 0o1777);
  const fd = fs.openSync(x.m('f'), 'r');
  fs.fchmodSync(fd, 0o640);
  fs.closeSync(fd);
  t.is(fs.statSync(x.b('f')).mode & 0o7777, 0o640);
  t.is(code(() => fs.chmodSync(x.m('missing'), 0o600)), 'ENOENT');
  // chmod through a symlink changes the target.
  fs.symlinkSync('f', x.m('l'));
  fs.chmodSync(x.m('l'), 0o604);
  t.is(fs.statSync(x.b('f')).mode & 0o7777, 0o604);
  t.true(fs.lstatSync(x.b('l')).isSymbolicLink());
  // Another uid may not chmod root's file; may chmod its own (and loses setgid for a foreign group).
  fs.chownSync(x.m('d'), USER.uid, USER.gid);
  fs.chmodSync(x.m('d'), 0o755);
  const r = await inChild<Record<string, unknown>>(t, `
    fs.writeFileSync(args.m + '/d/mine', '');
    const own = code(() => fs.chmodSync(args.m + '/d/mine', 0o2741));
    out({ foreign: code(() => fs.chmodSync(args.m + '/f', 0o777)), own, mode: fs.statSync(args.m + '/d/mine').mode & 0o7777 });
  `, { ...USER, args: { m: x.mnt } });
  t.deepEqual(r, { foreign: 'EPERM', own: '', mode: 0o2741 });
  t.is(fs.statSync(x.b('f')).mode & 0o7777, 0o604);
  t.is(fs.statSync(x.b('d', 'mine')).mode & 0o7777, 0o2741);
});

test('chown: root gives files away (uid, gid, one of them, symlink itself); another uid gets EPERM', async (t) => {
  const x = await fsMount(t);
  fs.writeFileSync(x.m('f'), '');
  fs.chownSync(x.m('f'), 1234, 5678);
  let s = fs.statSync(x.b('f'));
  t.deepEqual([s.uid, s.gid], [1234, 5678]);
  t.deepEqual([fs.statSync(x.m('f')).uid, fs.statSync(x.m('f')).gid], [1234, 5678]);
  fs.chownSync(x.m('f'), -1, 42);
  s = fs.statSync(x.b('f'));
  t.deepEqual([s.uid, s.gid], [1234, 42]);
  fs.chownSync(x.m('f'), 99, -1);
  s = fs.statSync(x.b('f'));
  t.deepEqual([s.uid, s.gid], [99, 42]);
  // Large ids pass whole.
  fs.chownSync(x.m('f'), 3_000_000_000, 4_000_000_000);
  s = fs.statSync(x.m('f'));
  t.deepEqual([s.uid, s.gid], [3_000_000_000, 4_000_000_000]);
  // lchown changes the symlink, not its target.
  fs.symlinkSync('f', x.m('l'));
  fs.lchownSync(x.m('l'), 7, 8);
  t.deepEqual([fs.lstatSync(x.b('l')).uid, fs.lstatSync(x.b('l')).gid], [7, 8]);
  t.is(fs.statSync(x.b('f')).uid, 3_000_000_000);
  // chown clears setuid/setgid of a regular file.
  fs.chmodSync(x.m('f'), 0o6755);
  fs.chownSync(x.m('f'), 0, 0);
  t.is(fs.statSync(x.b('f')).mode & 0o6000, 0);
  t.is(code(() => fs.chownSync(x.m('missing'), 1, 1)), 'ENOENT');
  // Another uid: giving away its own file, or taking root's, is EPERM; chgrp to a group it is
  // not in is EPERM; chown to itself (no change) is allowed.
  fs.mkdirSync(x.m('d'));
  fs.chmodSync(x.m('d'), 0o777);
  const r = await inChild<Record<string, string>>(t, `
    fs.writeFileSync(args.m + '/d/mine', '');
    out({ giveAway: code(() => fs.chownSync(args.m + '/d/mine', 0, -1)),
          takeRoot: code(() => fs.chownSync(args.m + '/f', ${USER.uid}, -1)),
          chgrp: code(() => fs.chownSync(args.m + '/d/mine', -1, 0)),
          same: code(() => fs.chownSync(args.m + '/d/mine', ${USER.uid}, ${USER.gid})) });
  `, { ...USER, args: { m: x.mnt } });
  t.deepEqual(r, { giveAway: 'EPERM', takeRoot: 'EPERM', chgrp: 'EPERM', same: '' });
  s = fs.statSync(x.b('d', 'mine'));
  t.deepEqual([s.uid, s.gid], [USER.uid, USER.gid]);
});

test('chown(f, -1, -1) and fchown(fd, -1, -1) update ctime (and nothing else), as on the backing filesystem', async (t) => {
  const x = await fsMount(t, { attrTimeout: 0 });
  const native = tmpDir(t);
  for (const root of [x.mnt, native]) fs.writeFileSync(path.join(root, 'f'), 'data');
  // Old times make the change visible whatever the clock's granularity.
  for (const root of [x.mnt, native]) fs.utimesSync(path.join(root, 'f'), 1000, 1000);
  const before = { m: lstatBig(x.m('f')), n: lstatBig(path.join(native, 'f')) };
  fs.chownSync(x.m('f'), -1, -1);
  fs.chownSync(path.join(native, 'f'), -1, -1);
  const after = { m: lstatBig(x.m('f')), b: lstatBig(x.b('f')), n: lstatBig(path.join(native, 'f')) };
  t.true(after.n.ctimeNs > before.n.ctimeNs, 'native: ctime moves');
  t.true(after.m.ctimeNs > before.m.ctimeNs, 'through the mount: ctime moves');
  t.is(after.m.ctimeNs, after.b.ctimeNs, 'the backing file\'s ctime moved (the mount shows it)');
  for (const k of ['mtimeNs', 'atimeNs', 'uid', 'gid', 'mode', 'size'] as const) t.is(after.m[k], before.m[k], k);
  // Through an open descriptor too.
  const c0 = lstatBig(x.b('f')).ctimeNs;
  await sleep(20);
  const fd = fs.openSync(x.m('f'), 'r');
  try { fs.fchownSync(fd, -1, -1); } finally { fs.closeSync(fd); }
  t.true(lstatBig(x.b('f')).ctimeNs > c0, 'fchown(-1, -1): ctime moves');
});

test('an unprivileged uid: EACCES reading a 0600 root file and creating in a 0755 root dir; its files are its own', async (t) => {
  const x = await fsMount(t);
  fs.writeFileSync(x.m('secret'), 'root only', { mode: 0o600 });
  fs.chmodSync(x.m('secret'), 0o600);
  fs.mkdirSync(x.m('rootdir'), 0o755);
  fs.mkdirSync(x.m('open'), 0o777);
  fs.chmodSync(x.m('open'), 0o777);
  fs.mkdirSync(x.m('sticky'), 0o777);
  fs.chmodSync(x.m('sticky'), 0o1777);
  fs.writeFileSync(x.m('sticky', 'rootfile'), '');
  fs.chmodSync(x.m('sticky', 'rootfile'), 0o666);
  const r = await inChild<Record<string, unknown>>(t, `
    const m = args.m;
    const res = {};
    res.read = code(() => fs.readFileSync(m + '/secret'));
    res.write = code(() => fs.writeFileSync(m + '/secret', 'x'));
    res.createInRoot = code(() => fs.writeFileSync(m + '/rootdir/x', 'x'));
    res.mkdirInRoot = code(() => fs.mkdirSync(m + '/rootdir/y'));
    res.symlinkInRoot = code(() => fs.symlinkSync('t', m + '/rootdir/z'));
    res.unlinkRoot = code(() => fs.unlinkSync(m + '/secret'));
    res.renameRoot = code(() => fs.renameSync(m + '/secret', m + '/open/stolen'));
    res.stickyUnlink = code(() => fs.unlinkSync(m + '/sticky/rootfile'));
    res.list = code(() => fs.readdirSync(m + '/rootdir'));
    fs.writeFileSync(m + '/open/mine', 'mine');
    fs.mkdirSync(m + '/open/mydir');
    fs.symlinkSync('mine', m + '/open/mylink');
    sys.mknod(m + '/open/myfifo', sys.S_IFIFO | 0o600);
    const fd = fs.openSync(m + '/open/excl', fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY, 0o600);
    fs.closeSync(fd);
    res.stickyOwn = (fs.writeFileSync(m + '/sticky/own', ''), code(() => fs.unlinkSync(m + '/sticky/own')));
    out(res);
  `, { ...USER, args: { m: x.mnt } });
  t.deepEqual(r, {
    read: 'EACCES', write: 'EACCES', createInRoot: 'EACCES', mkdirInRoot: 'EACCES', symlinkInRoot: 'EACCES',
    unlinkRoot: 'EACCES', renameRoot: 'EACCES', stickyUnlink: 'EPERM', list: '', stickyOwn: '',
  });
  t.is(fs.readFileSync(x.b('secret'), 'utf8'), 'root only');
  t.deepEqual(fs.readdirSync(x.b('rootdir')), []);
  for (const n of ['mine', 'mydir', 'mylink', 'myfifo', 'excl']) {
    const s = fs.lstatSync(x.b('open', n));
    t.deepEqual([s.uid, s.gid], [USER.uid, USER.gid], `owner of ${n} in the backing dir`);
    const m = fs.lstatSync(x.m('open', n));
    t.deepEqual([m.uid, m.gid], [USER.uid, USER.gid], `owner of ${n} through the mount`);
  }
  t.is(fs.readFileSync(x.m('open', 'mine'), 'utf8'), 'mine');
  t.true(fs.existsSync(x.b('sticky', 'rootfile')));
  // Two users: one may not read the other's 0600 file.
  const r2 = await inChild<string>(t, `out(code(() => fs.readFileSync(args.m + '/open/excl')));`, { ...USER2, args: { m: x.mnt } });
  t.is(r2, 'EACCES');
});

test('set-group-ID directory: new files take the directory\'s group, new subdirectories keep the bit', async (t) => {
  const x = await fsMount(t);
  fs.mkdirSync(x.m('shared'));
  fs.chownSync(x.m('shared'), 0, 4242);
  fs.chmodSync(x.m('shared'), 0o2777);
  const r = await inChild<Record<string, number[]>>(t, `
    const d = args.m + '/shared';
    fs.writeFileSync(d + '/f', '');
    fs.mkdirSync(d + '/sub');
    fs.symlinkSync('f', d + '/l');
    const st = (p) => { const s = fs.lstatSync(p); return [s.uid, s.gid, s.mode & 0o7777]; };
    out({ f: st(d + '/f'), sub: st(d + '/sub'), l: st(d + '/l').slice(0, 2) });
  `, { ...USER, args: { m: x.mnt } });
  t.deepEqual(r.f, [USER.uid, 4242, 0o644]);
  t.deepEqual(r.sub, [USER.uid, 4242, 0o2755]);
  t.deepEqual(r.l, [USER.uid, 4242]);
  const b = fs.statSync(x.b('shared', 'sub'));
  t.deepEqual([b.uid, b.gid, b.mode & 0o7777], [USER.uid, 4242, 0o2755]);
  // Root creating there gets the directory's group too.
  fs.writeFileSync(x.m('shared', 'rootfile'), '');
  t.is(fs.statSync(x.b('shared', 'rootfile')).gid, 4242);
  // A setgid file created by a user not in the group loses the bit (as on a local filesystem).
  const r2 = await inChild<number>(t, `
    const fd = fs.openSync(args.m + '/shared/sg', 'w', 0o2755);
    fs.closeSync(fd);
    out(fs.statSync(args.m + '/shared/sg').mode & 0o7777);
  `, { ...USER, args: { m: x.mnt } });
  const local = fs.mkdtempSync('/tmp/dmfs-sgid-');
  t.teardown(() => fs.rmSync(local, { recursive: true, force: true }));
  fs.chmodSync(local, 0o755);
  fs.mkdirSync(local + '/shared');
  fs.chownSync(local + '/shared', 0, 4242);
  fs.chmodSync(local + '/shared', 0o2777);
  const ref = await inChild<number>(t, `
    const fd = fs.openSync(args.d + '/shared/sg', 'w', 0o2755);
    fs.closeSync(fd);
    out(fs.statSync(args.d + '/shared/sg').mode & 0o7777);
  `, { ...USER, args: { d: local } });
  t.is(r2, ref, 'same mode as on the local filesystem');
});

test('files created by root are root\'s; a uid\'s truncate/write of a file it may write work', async (t) => {
  const x = await fsMount(t);
  fs.writeFileSync(x.m('rootfile'), '');
  const s = fs.statSync(x.b('rootfile'));
  t.deepEqual([s.uid, s.gid], [0, 0]);
  fs.writeFileSync(x.m('shared'), 'content');
  fs.chmodSync(x.m('shared'), 0o666);
  const r = await inChild<Record<string, unknown>>(t, `
    fs.truncateSync(args.m + '/shared', 3);
    fs.appendFileSync(args.m + '/shared', '!');
    out({ text: fs.readFileSync(args.m + '/shared', 'utf8'), utimes: code(() => fs.utimesSync(args.m + '/shared', 1, 1)),
          touchNow: code(() => sys.utimensat(sys.AT_FDCWD, args.m + '/shared', null, sys.UTIME_NOW, null, sys.UTIME_NOW, 0) < 0 ? (() => { throw Object.assign(new Error(), { code: 'FAIL' }); })() : 0) });
  `, { ...USER, args: { m: x.mnt } });
  // Setting explicit times needs ownership; UTIME_NOW only needs write permission.
  t.deepEqual(r, { text: 'con!', utimes: 'EPERM', touchNow: '' });
  t.is(fs.readFileSync(x.b('shared'), 'utf8'), 'con!');
  t.is(fs.statSync(x.b('shared')).uid, 0);
});

test('a write by another uid clears set-user-ID, set-group-ID and file capabilities, as on a local filesystem', async (t) => {
  const x = await fsMount(t);
  fs.writeFileSync(x.m('suid'), 'x');
  fs.chmodSync(x.m('suid'), 0o6777);
  fs.writeFileSync(x.m('cap'), 'x');
  fs.chmodSync(x.m('cap'), 0o666);
  // security.capability v2: effective, permitted CAP_NET_RAW (13).
  const cap = Buffer.alloc(20);
  cap.writeUInt32LE(0x02000001, 0);
  cap.writeUInt32LE(1 << 13, 4);
  t.is(rc(sys.lsetxattr(x.m('cap'), 'security.capability', cap, 0)), 0);
  t.deepEqual(sys.lgetxattr(x.b('cap'), 'security.capability'), cap);
  // Root writing keeps them.
  fs.appendFileSync(x.m('suid'), 'r');
  t.is(fs.statSync(x.m('suid')).mode & 0o7777, 0o6777);
  await inChild(t, `
    fs.appendFileSync(args.m + '/suid', 'u');
    fs.appendFileSync(args.m + '/cap', 'u');
  `, { ...USER, args: { m: x.mnt } });
  t.is(fs.statSync(x.m('suid')).mode & 0o7777, 0o777);
  t.is(fs.statSync(x.b('suid')).mode & 0o7777, 0o777);
  t.is(rc(sys.lgetxattr(x.b('cap'), 'security.capability')), 'ENODATA');
  t.is(fs.readFileSync(x.b('suid'), 'utf8'), 'xru');
  // A truncate by another uid clears them too.
  fs.chmodSync(x.m('suid'), 0o6777);
  await inChild(t, `fs.truncateSync(args.m + '/suid', 1);`, { ...USER, args: { m: x.mnt } });
  t.is(fs.statSync(x.b('suid')).mode & 0o7777, 0o777);
});
