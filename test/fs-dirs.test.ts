// The namespace through a real mount: readdir (names, '.', '..', d_ino), mkdir/rmdir, unlink,
// rename (replace, RENAME_NOREPLACE, RENAME_EXCHANGE), link, symlink/readlink, mknod,
// opendir/releasedir/fsyncdir, inode numbers vs the backing ones, and symlinks never followed
// by the daemon.
import test from 'ava';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { code, lstatBig, rc, sys, tmpDir, useMounts } from './helpers/fs';

const { mount: fsMount } = useMounts();

const GETDENTS_PY = `
import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
buf = ctypes.create_string_buffer(65536)
while True:
    n = libc.syscall(int(sys.argv[2]), fd, buf, 65536)  # getdents64
    if n < 0: raise OSError(ctypes.get_errno(), 'getdents64')
    if n == 0: break
    raw, pos = buf.raw[:n], 0
    while pos < n:
        ino, off, reclen, typ = struct.unpack_from('<QqHB', raw, pos)
        name = raw[pos + 19:pos + reclen].split(b'\\0', 1)[0]
        sys.stdout.write('%d %d %s\\n' % (ino, typ, name.decode('utf-8', 'surrogateescape')))
        pos += reclen
`;

/** The raw getdents64 of a directory: name → {ino: d_ino, type: d_type}, '.' and '..' included. */
function dents(dir: string): Map<string, { ino: bigint; type: number }> {
  const outp = execFileSync('/usr/bin/python3', ['-c', GETDENTS_PY, dir, process.arch === 'arm64' ? '61' : '217'], { encoding: 'utf8' });
  const m = new Map<string, { ino: bigint; type: number }>();
  for (const l of outp.split('\n')) {
    if (!l) continue;
    const [ino, type] = l.split(' ', 2);
    m.set(l.slice(ino.length + type.length + 2), { ino: BigInt(ino), type: Number(type) });
  }
  return m;
}

/** The raw getdents names, with '.' and '..', sorted. */
function rawNames(dir: string): string[] {
  return [...dents(dir).keys()].sort();
}

test('readdir: names, . and .., d_ino equal to st_ino, the reserved area never listed', async (t) => {
  const x = await fsMount(t);
  fs.mkdirSync(x.m('d'));
  fs.writeFileSync(x.m('d', 'a'), 'a');
  fs.mkdirSync(x.m('d', 'sub'));
  fs.symlinkSync('a', x.m('d', 'lnk'));
  fs.linkSync(x.m('d', 'a'), x.m('d', 'a2'));
  const many = Array.from({ length: 300 }, (_, i) => `file-with-a-longish-name-${i}`);
  for (const n of many) fs.writeFileSync(x.b('d', n), '');
  t.deepEqual(rawNames(x.m('d')), ['.', '..', 'a', 'a2', 'lnk', 'sub', ...many].sort());
  t.deepEqual(fs.readdirSync(x.m('d')).sort(), fs.readdirSync(x.b('d')).sort());
  const types = new Map(fs.readdirSync(x.m('d'), { withFileTypes: true }).map((e) => [e.name, e]));
  t.true(types.get('a')!.isFile());
  t.true(types.get('sub')!.isDirectory());
  t.true(types.get('lnk')!.isSymbolicLink());
  // d_ino of every entry is the inode number stat gives, through the mount and in the backing.
  const d = dents(x.m('d'));
  t.is(d.size, 306);
  for (const [name, { ino, type }] of d) {
    const st = lstatBig(x.m('d', name));
    t.is(ino, st.ino, `d_ino of ${name}`);
    t.is(ino, lstatBig(x.b('d', name)).ino, `backing ino of ${name}`);
    t.is(type, Number(st.mode) >> 12, `d_type of ${name}`);
  }
  t.is(d.get('..')!.ino, lstatBig(x.mnt).ino);
  // The root: quota files listed, .dmapifs not; '..' of the root is the root.
  const root = dents(x.mnt);
  t.deepEqual([...root.keys()].sort(), ['.', '..', 'd', 'fileset.quota', 'group.quota', 'user.quota']);
  for (const [name, { ino }] of root) if (name !== '..') t.is(ino, lstatBig(x.m(name)).ino, `d_ino of /${name}`);
  t.is(root.get('..')!.ino, lstatBig(x.mnt).ino);
  // Empty directory
  fs.mkdirSync(x.m('e'));
  t.deepEqual(rawNames(x.m('e')), ['.', '..']);
  // Errors: a missing directory, a file.
  t.is(code(() => fs.readdirSync(x.m('missing'))), 'ENOENT');
  t.is(code(() => fs.readdirSync(x.m('d', 'a'))), 'ENOTDIR');
});

test('readdir sees entries added and removed while a directory stays open (rewinddir)', async (t) => {
  const x = await fsMount(t);
  fs.mkdirSync(x.m('d'));
  fs.writeFileSync(x.m('d', 'one'), '');
  const dir = fs.opendirSync(x.m('d'));
  const first: string[] = [];
  for (let e = dir.readSync(); e; e = dir.readSync()) first.push(e.name);
  dir.closeSync();
  t.deepEqual(first, ['one']);
  fs.writeFileSync(x.m('d', 'two'), '');
  fs.unlinkSync(x.m('d', 'one'));
  t.deepEqual(fs.readdirSync(x.m('d')), ['two']);
});

test('mkdir and rmdir: modes, nlink, EEXIST, ENOENT, ENOTEMPTY, ENOTDIR, EINVAL', async (t) => {
  const x = await fsMount(t);
  fs.mkdirSync(x.m('d'), 0o750);
  t.is(fs.statSync(x.m('d')).mode & 0o7777, 0o750);
  t.true(fs.statSync(x.b('d')).isDirectory());
  t.is(fs.statSync(x.m('d')).nlink, 2);
  fs.mkdirSync(x.m('d', 'sub'));
  t.is(fs.statSync(x.m('d')).nlink, 3);
  fs.mkdirSync(x.m('d', 'sub', 'deep', 'er'), { recursive: true });
  t.true(fs.statSync(x.b('d', 'sub', 'deep', 'er')).isDirectory());
  fs.writeFileSync(x.m('d', 'f'), '');
  t.is(code(() => fs.mkdirSync(x.m('d'))), 'EEXIST');
  t.is(code(() => fs.mkdirSync(x.m('d', 'f'))), 'EEXIST');
  t.is(code(() => fs.mkdirSync(x.m('no', 'such'))), 'ENOENT');
  t.is(code(() => fs.mkdirSync(x.m('d', 'f', 'x'))), 'ENOTDIR');
  t.is(code(() => fs.rmdirSync(x.m('d'))), 'ENOTEMPTY');
  t.is(code(() => fs.rmdirSync(x.m('d', 'f'))), 'ENOTDIR');
  t.is(code(() => fs.rmdirSync(x.m('missing'))), 'ENOENT');
  t.is(code(() => fs.rmdirSync(x.m('d', 'sub') + '/.')), 'EINVAL');
  t.is(code(() => fs.rmdirSync(x.mnt)), 'EBUSY');
  fs.rmdirSync(x.m('d', 'sub', 'deep', 'er'));
  t.false(fs.existsSync(x.b('d', 'sub', 'deep', 'er')));
  fs.rmSync(x.m('d'), { recursive: true });
  t.false(fs.existsSync(x.b('d')));
  t.is(code(() => fs.statSync(x.m('d'))), 'ENOENT');
  // A removed directory's name can be reused at once, as a file.
  fs.writeFileSync(x.m('d'), 'now a file');
  t.true(fs.statSync(x.m('d')).isFile());
});

test('unlink: files, symlinks, fifos; EISDIR on a directory, ENOENT, ENOTDIR', async (t) => {
  const x = await fsMount(t);
  fs.writeFileSync(x.m('f'), 'x');
  fs.symlinkSync('f', x.m('l'));
  fs.unlinkSync(x.m('l'));
  t.true(fs.existsSync(x.b('f')), 'unlink of a symlink leaves its target');
  fs.unlinkSync(x.m('f'));
  t.false(fs.existsSync(x.b('f')));
  t.is(code(() => fs.statSync(x.m('f'))), 'ENOENT');
  t.is(code(() => fs.unlinkSync(x.m('f'))), 'ENOENT');
  fs.mkdirSync(x.m('d'));
  t.is(code(() => fs.unlinkSync(x.m('d'))), 'EISDIR');
  t.true(fs.statSync(x.b('d')).isDirectory());
  fs.writeFileSync(x.m('g'), '');
  t.is(code(() => fs.unlinkSync(x.m('g', 'x'))), 'ENOTDIR');
});

test('rename: move, replace a file, replace an empty dir, across dirs; errors', async (t) => {
  const x = await fsMount(t);
  fs.writeFileSync(x.m('a'), 'A');
  fs.writeFileSync(x.m('b'), 'B');
  const inoA = lstatBig(x.b('a')).ino;
  fs.renameSync(x.m('a'), x.m('b'));
  t.is(fs.readFileSync(x.m('b'), 'utf8'), 'A');
  t.is(lstatBig(x.m('b')).ino, inoA);
  t.is(code(() => fs.statSync(x.m('a'))), 'ENOENT');
  t.deepEqual(fs.readdirSync(x.backing).sort(), ['.dmapifs', 'b']);
  // Across directories, a directory with content.
  fs.mkdirSync(x.m('d1'));
  fs.mkdirSync(x.m('d2'));
  fs.mkdirSync(x.m('d1', 'sub'));
  fs.writeFileSync(x.m('d1', 'sub', 'f'), 'deep');
  fs.renameSync(x.m('d1', 'sub'), x.m('d2', 'moved'));
  t.is(fs.readFileSync(x.m('d2', 'moved', 'f'), 'utf8'), 'deep');
  t.is(fs.readFileSync(x.b('d2', 'moved', 'f'), 'utf8'), 'deep');
  t.is(code(() => fs.statSync(x.m('d1', 'sub', 'f'))), 'ENOENT');
  // Writes through a file opened before its directory moved go to the same file.
  const fd = fs.openSync(x.m('d2', 'moved', 'f'), 'r+');
  fs.renameSync(x.m('d2', 'moved'), x.m('d1', 'back'));
  fs.writeSync(fd, 'D', 0);
  fs.closeSync(fd);
  t.is(fs.readFileSync(x.b('d1', 'back', 'f'), 'utf8'), 'Deep');
  fs.writeFileSync(x.m('d1', 'back', 'g'), 'new in moved dir');
  t.is(fs.readFileSync(x.b('d1', 'back', 'g'), 'utf8'), 'new in moved dir');
  // Replace an empty directory; a non-empty one → ENOTEMPTY; dir over file → ENOTDIR; file over dir → EISDIR.
  fs.mkdirSync(x.m('empty'));
  fs.renameSync(x.m('d2'), x.m('empty'));
  t.false(fs.existsSync(x.b('d2')));
  t.is(code(() => fs.renameSync(x.m('empty'), x.m('d1'))), 'ENOTEMPTY');
  t.is(code(() => fs.renameSync(x.m('empty'), x.m('b'))), 'ENOTDIR');
  t.is(code(() => fs.renameSync(x.m('b'), x.m('d1'))), 'EISDIR');
  t.is(code(() => fs.renameSync(x.m('missing'), x.m('z'))), 'ENOENT');
  t.is(code(() => fs.renameSync(x.m('b'), x.m('nodir', 'z'))), 'ENOENT');
  t.is(code(() => fs.renameSync(x.m('d1'), x.m('d1', 'back', 'inside'))), 'EINVAL');
  // Same name: no-op.
  fs.renameSync(x.m('b'), x.m('b'));
  t.is(fs.readFileSync(x.m('b'), 'utf8'), 'A');
  // Rename of one hard link over another of the same file: no-op, both names stay.
  fs.linkSync(x.m('b'), x.m('b2'));
  fs.renameSync(x.m('b'), x.m('b2'));
  t.true(fs.existsSync(x.m('b')) && fs.existsSync(x.m('b2')));
  t.is(fs.statSync(x.m('b')).nlink, 2);
});

test('renameat2: RENAME_NOREPLACE → EEXIST, RENAME_EXCHANGE swaps files and directories', async (t) => {
  const x = await fsMount(t);
  fs.writeFileSync(x.m('a'), 'A');
  fs.writeFileSync(x.m('b'), 'B');
  fs.mkdirSync(x.m('d'));
  fs.writeFileSync(x.m('d', 'inner'), 'I');
  const ia = lstatBig(x.m('a')).ino;
  const id = lstatBig(x.m('d')).ino;
  t.is(rc(sys.renameat2(sys.AT_FDCWD, x.m('a'), sys.AT_FDCWD, x.m('b'), sys.RENAME_NOREPLACE)), 'EEXIST');
  t.is(fs.readFileSync(x.m('b'), 'utf8'), 'B');
  t.is(rc(sys.renameat2(sys.AT_FDCWD, x.m('a'), sys.AT_FDCWD, x.m('c'), sys.RENAME_NOREPLACE)), 0);
  t.is(fs.readFileSync(x.b('c'), 'utf8'), 'A');
  // EXCHANGE two files
  t.is(rc(sys.renameat2(sys.AT_FDCWD, x.m('c'), sys.AT_FDCWD, x.m('b'), sys.RENAME_EXCHANGE)), 0);
  t.is(fs.readFileSync(x.m('b'), 'utf8'), 'A');
  t.is(fs.readFileSync(x.m('c'), 'utf8'), 'B');
  t.is(lstatBig(x.m('b')).ino, ia);
  t.is(fs.readFileSync(x.b('b'), 'utf8'), 'A');
  // EXCHANGE a file and a directory: the names swap kinds, paths under them follow.
  t.is(rc(sys.renameat2(sys.AT_FDCWD, x.m('d'), sys.AT_FDCWD, x.m('c'), sys.RENAME_EXCHANGE)), 0);
  t.true(fs.statSync(x.m('c')).isDirectory());
  t.is(lstatBig(x.m('c')).ino, id);
  t.is(fs.readFileSync(x.m('c', 'inner'), 'utf8'), 'I');
  t.is(fs.readFileSync(x.m('d'), 'utf8'), 'B');
  fs.writeFileSync(x.m('c', 'new'), 'N');
  t.is(fs.readFileSync(x.b('c', 'new'), 'utf8'), 'N');
  // EXCHANGE with a missing name → ENOENT; both flags → EINVAL.
  t.is(rc(sys.renameat2(sys.AT_FDCWD, x.m('b'), sys.AT_FDCWD, x.m('zz'), sys.RENAME_EXCHANGE)), 'ENOENT');
  t.is(rc(sys.renameat2(sys.AT_FDCWD, x.m('b'), sys.AT_FDCWD, x.m('d'), sys.RENAME_EXCHANGE | sys.RENAME_NOREPLACE)), 'EINVAL');
});

test('link: nlink seen on both names at once, shared inode, EEXIST, EPERM on a directory', async (t) => {
  const x = await fsMount(t, { attrTimeout: 30, entryTimeout: 30 });
  fs.writeFileSync(x.m('f'), 'data');
  t.is(fs.statSync(x.m('f')).nlink, 1); // cached for 30 s now
  fs.mkdirSync(x.m('d'));
  fs.linkSync(x.m('f'), x.m('d', 'g'));
  const a = lstatBig(x.m('f'));
  const b = lstatBig(x.m('d', 'g'));
  t.is(a.nlink, 2n, 'the old name sees the new link count without waiting');
  t.is(b.nlink, 2n);
  t.is(a.ino, b.ino);
  t.is(a.ino, lstatBig(x.b('f')).ino);
  t.is(lstatBig(x.b('d', 'g')).ino, a.ino);
  fs.appendFileSync(x.m('d', 'g'), '+');
  t.is(fs.readFileSync(x.m('f'), 'utf8'), 'data+');
  fs.linkSync(x.m('f'), x.m('h'));
  t.is(lstatBig(x.m('d', 'g')).nlink, 3n);
  fs.unlinkSync(x.m('f'));
  t.is(lstatBig(x.m('h')).nlink, 2n);
  t.is(lstatBig(x.m('d', 'g')).nlink, 2n);
  t.is(fs.readFileSync(x.m('h'), 'utf8'), 'data+');
  t.is(code(() => fs.linkSync(x.m('h'), x.m('d', 'g'))), 'EEXIST');
  t.is(code(() => fs.linkSync(x.m('missing'), x.m('z'))), 'ENOENT');
  t.is(code(() => fs.linkSync(x.m('d'), x.m('dlink'))), 'EPERM');
  t.is(code(() => fs.linkSync(x.m('h'), x.m('nodir', 'z'))), 'ENOENT');
  // A link of a symlink links the symlink itself.
  fs.symlinkSync('h', x.m('s'));
  fs.linkSync(x.m('s'), x.m('s2'));
  t.true(fs.lstatSync(x.b('s2')).isSymbolicLink());
  t.is(fs.readlinkSync(x.m('s2')), 'h');
});

test('symlink and readlink: stored verbatim, followed on the client side, ENOENT/EEXIST/EINVAL', async (t) => {
  const x = await fsMount(t);
  fs.writeFileSync(x.m('target'), 'T');
  fs.symlinkSync('target', x.m('rel'));
  fs.symlinkSync(x.m('target'), x.m('abs'));
  fs.symlinkSync('dangling/../nowhere', x.m('dang'));
  const long = 'x/'.repeat(1000) + 'y';
  fs.symlinkSync(long, x.m('long'));
  t.is(fs.readlinkSync(x.m('rel')), 'target');
  t.is(fs.readlinkSync(x.b('rel')), 'target');
  t.is(fs.readlinkSync(x.m('abs')), x.m('target'));
  t.is(fs.readlinkSync(x.m('dang')), 'dangling/../nowhere');
  t.is(fs.readlinkSync(x.m('long')), long);
  t.is(fs.readFileSync(x.m('rel'), 'utf8'), 'T');
  t.is(fs.readFileSync(x.m('abs'), 'utf8'), 'T');
  t.is(code(() => fs.readFileSync(x.m('dang'))), 'ENOENT');
  const st = fs.lstatSync(x.m('rel'));
  t.true(st.isSymbolicLink());
  t.is(st.size, 6);
  t.is(st.mode & 0o777, 0o777);
  t.is(code(() => fs.symlinkSync('t', x.m('rel'))), 'EEXIST');
  t.is(code(() => fs.readlinkSync(x.m('target'))), 'EINVAL');
  t.is(code(() => fs.readlinkSync(x.m('missing'))), 'ENOENT');
  // A loop is the client's ELOOP.
  fs.symlinkSync('loop2', x.m('loop1'));
  fs.symlinkSync('loop1', x.m('loop2'));
  t.is(code(() => fs.readFileSync(x.m('loop1'))), 'ELOOP');
});

test('symlinks leading outside the backing are shown as symlinks and never followed by the daemon', async (t) => {
  // Long timeouts: the kernel keeps trusting its cached view of the tree while the backing changes.
  const x = await fsMount(t, { attrTimeout: 60, entryTimeout: 60 });
  const outside = tmpDir(t, 'dmapifs-outside-');
  fs.writeFileSync(path.join(outside, 'secret'), 'outside data');
  // Made in the backing directory directly.
  fs.symlinkSync('/etc', x.b('etc'));
  fs.symlinkSync(outside, x.b('out'));
  fs.symlinkSync('../../../../../../..' + outside, x.b('up'));
  t.true(fs.lstatSync(x.m('etc')).isSymbolicLink());
  t.is(fs.readlinkSync(x.m('etc')), '/etc');
  // Opening through it resolves on the client side, like any absolute symlink.
  t.is(fs.readFileSync(x.m('etc', 'hostname'), 'utf8'), fs.readFileSync('/etc/hostname', 'utf8'));
  t.is(fs.readFileSync(x.m('out', 'secret'), 'utf8'), 'outside data');
  // A relative symlink resolves from the mount: it escapes the mount on the client, not the backing.
  t.is(fs.realpathSync(x.m('up')), fs.realpathSync(path.resolve(x.mnt, '../../../../../../..' + outside)));
  // The daemon never follows a symlink stored in the backing: a directory swapped for a symlink
  // behind the mount's back, with the mount's cached path still naming it, must not let
  // operations through the mount land outside.
  fs.mkdirSync(x.m('d'));
  fs.writeFileSync(x.m('d', 'f'), 'inside');
  const fdDir = fs.openSync(x.m('d'), 'r'); // the kernel keeps the inode of d
  const fdF = fs.openSync(x.m('d', 'f'), 'r');
  fs.renameSync(x.b('d'), x.b('d.moved'));
  fs.symlinkSync(outside, x.b('d'));
  const attempts: Array<[string, () => unknown]> = [
    ['create', () => fs.writeFileSync(path.join(`/proc/self/fd/${fdDir}`, 'evil'), 'x')],
    ['mkdir', () => fs.mkdirSync(path.join(`/proc/self/fd/${fdDir}`, 'evildir'))],
    ['symlink', () => fs.symlinkSync('x', path.join(`/proc/self/fd/${fdDir}`, 'evillink'))],
    ['mknod', () => sys.mknod(path.join(`/proc/self/fd/${fdDir}`, 'evilfifo'), sys.S_IFIFO | 0o644)],
    ['unlink', () => fs.unlinkSync(path.join(`/proc/self/fd/${fdDir}`, 'secret'))],
    ['chmod', () => fs.chmodSync(path.join(`/proc/self/fd/${fdDir}`, 'secret'), 0o777)],
    ['truncate', () => fs.truncateSync(path.join(`/proc/self/fd/${fdDir}`, 'secret'), 0)],
    ['setxattr', () => sys.lsetxattr(path.join(`/proc/self/fd/${fdDir}`, 'secret'), 'user.evil', 'x')],
    ['utimes', () => fs.utimesSync(path.join(`/proc/self/fd/${fdDir}`, 'secret'), 1, 1)],
    ['rename', () => fs.renameSync(path.join(`/proc/self/fd/${fdDir}`, 'secret'), x.m('stolen'))],
    ['link', () => fs.linkSync(path.join(`/proc/self/fd/${fdDir}`, 'secret'), x.m('stolen2'))],
  ];
  for (const [, fn] of attempts) { try { fn(); } catch { /* refused: fine */ } }
  t.deepEqual(fs.readdirSync(outside).sort(), ['secret'], 'nothing created in or removed from the outside directory');
  const sst = fs.statSync(path.join(outside, 'secret'));
  t.is(sst.mode & 0o777, 0o644);
  t.is(sst.size, 12);
  t.not(sst.mtimeMs, 1000);
  t.is(rc(sys.lgetxattr(path.join(outside, 'secret'), 'user.evil')), 'ENODATA');
  t.is(fs.readFileSync(path.join(outside, 'secret'), 'utf8'), 'outside data');
  t.false(fs.existsSync(x.b('stolen')));
  t.false(fs.existsSync(x.b('stolen2')));
  // Reading the outside file by the stale path must not work either.
  const leaked = code(() => fs.readFileSync(path.join(`/proc/self/fd/${fdDir}`, 'secret'), 'utf8'));
  t.not(leaked, '', 'no read of the outside file through the daemon');
  fs.closeSync(fdDir);
  // The open file keeps working on the real (moved) file.
  const got = Buffer.alloc(6);
  t.is(fs.readSync(fdF, got, 0, 6, 0), 6);
  t.is(got.toString(), 'inside');
  fs.closeSync(fdF);
});

test('mknod: fifo, unix socket, char device as root; EEXIST; a fifo works through the mount', async (t) => {
  const x = await fsMount(t);
  t.is(rc(sys.mknod(x.m('fifo'), sys.S_IFIFO | 0o640)), 0);
  t.true(fs.lstatSync(x.m('fifo')).isFIFO());
  t.true(fs.lstatSync(x.b('fifo')).isFIFO());
  t.is(fs.lstatSync(x.m('fifo')).mode & 0o777, 0o640);
  t.is(rc(sys.mknod(x.m('sock'), sys.S_IFSOCK | 0o600)), 0);
  t.true(fs.lstatSync(x.b('sock')).isSocket());
  t.true(fs.lstatSync(x.m('sock')).isSocket());
  const dev = sys.makedev(1, 3); // /dev/null
  t.is(rc(sys.mknod(x.m('null'), sys.S_IFCHR | 0o666, dev)), 0);
  const st = lstatBig(x.m('null'));
  t.true(st.isCharacterDevice());
  t.is(st.rdev, lstatBig(x.b('null')).rdev);
  t.is(sys.devMajor(st.rdev), 1);
  t.is(sys.devMinor(st.rdev), 3);
  t.is(rc(sys.mknod(x.m('blk'), sys.S_IFBLK | 0o600, sys.makedev(7, 200))), 0);
  t.true(fs.lstatSync(x.b('blk')).isBlockDevice());
  t.is(rc(sys.mknod(x.m('reg'), sys.S_IFREG | 0o600)), 0);
  t.true(fs.lstatSync(x.b('reg')).isFile());
  t.is(rc(sys.mknod(x.m('fifo'), sys.S_IFIFO | 0o600)), 'EEXIST');
  t.is(rc(sys.mknod(x.m('no', 'fifo'), sys.S_IFIFO | 0o600)), 'ENOENT');
  // The mount is nodev: the device node exists but cannot be opened through it (as FUSE mounts are).
  t.is(code(() => fs.openSync(x.m('null'), 'r')), 'EACCES');
  // A fifo through the mount is a real fifo: a writer and a reader meet.
  const w = fs.promises.writeFile(x.m('fifo'), 'through the pipe');
  const r = await fs.promises.readFile(x.m('fifo'), 'utf8');
  await w;
  t.is(r, 'through the pipe');
});

test('opendir/releasedir/fsyncdir; inode numbers equal the backing ones and survive remount', async (t) => {
  const x = await fsMount(t);
  fs.mkdirSync(x.m('d'));
  fs.writeFileSync(x.m('d', 'f'), 'x');
  fs.symlinkSync('f', x.m('d', 'l'));
  sys.mknod(x.m('d', 'p'), sys.S_IFIFO | 0o600);
  const names = ['', 'd', 'd/f', 'd/l', 'd/p'];
  const inos = names.map((n) => lstatBig(x.m(n)).ino);
  names.forEach((n, i) => t.is(inos[i], lstatBig(x.b(n)).ino, `ino of /${n}`));
  // Open directories many times; fsync them.
  const fds: number[] = [];
  for (let i = 0; i < 50; i++) fds.push(fs.openSync(x.m('d'), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY));
  fs.fsyncSync(fds[0]);
  t.is(rc(sys.fdatasync(fds[1])), 0);
  for (const fd of fds) fs.closeSync(fd);
  t.is(code(() => fs.opendirSync(x.m('d', 'f'))), 'ENOTDIR');
  await x.remount();
  names.forEach((n, i) => t.is(lstatBig(x.m(n)).ino, inos[i], `ino of /${n} after remount`));
  t.is(fs.readFileSync(x.m('d', 'f'), 'utf8'), 'x');
});

test('64-bit inode numbers (> 2^53) are passed through whole: stat, readdir d_ino, remount', async (t) => {
  // (Node's BigIntStats.ino is signed: read as unsigned, like getdents' d_ino.)
  const uino = (p: string) => BigInt.asUintN(64, lstatBig(p).ino);
  // An overlayfs with xino=on over layers on two filesystems gives lower-layer files inode
  // numbers with the top bits set (about 2^63): a backing directory with real 64-bit inodes.
  const dir = tmpDir(t, 'dmapifs-ovl-');
  const lower = path.join(dir, 'lower');
  const upperFs = path.join(dir, 'tmpfs');
  const merged = path.join(dir, 'merged');
  for (const d of [lower, upperFs, merged]) fs.mkdirSync(d);
  for (let i = 0; i < 20; i++) fs.writeFileSync(path.join(lower, `low${i}`), `lower ${i}`);
  fs.mkdirSync(path.join(lower, 'lowdir'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'none', upperFs]);
  t.teardown(() => { try { execFileSync('umount', ['-l', upperFs]); } catch { /* gone */ } });
  fs.mkdirSync(path.join(upperFs, 'upper'));
  fs.mkdirSync(path.join(upperFs, 'work'));
  execFileSync('mount', ['-t', 'overlay', 'overlay', '-o',
    `lowerdir=${lower},upperdir=${upperFs}/upper,workdir=${upperFs}/work,xino=on`, merged]);
  // Unmounted after the FUSE mount is gone (teardowns run last-registered first).
  t.teardown(() => { try { execFileSync('umount', ['-l', merged]); } catch { /* gone */ } });
  const big = uino(path.join(merged, 'low0'));
  t.true(big > 2n ** 53n, `the backing has 64-bit inode numbers (${big})`);
  const x = await fsMount(t, { backing: merged });
  const names = [...Array(20).keys()].map((i) => `low${i}`).concat(['lowdir']);
  const want = new Map(names.map((n) => [n, uino(path.join(merged, n))]));
  for (const [n, ino] of want) t.is(uino(x.m(n)), ino, `st_ino of ${n}`);
  const d = dents(x.mnt);
  for (const [n, ino] of want) t.is(d.get(n)?.ino, ino, `d_ino of ${n}`);
  t.is(dents(x.m('lowdir')).get('.')?.ino, want.get('lowdir'), "d_ino of '.'");
  // Files keep working (a write copies up: the inode number stays, by xino).
  fs.appendFileSync(x.m('low3'), '+');
  t.is(fs.readFileSync(x.m('low3'), 'utf8'), 'lower 3+');
  fs.linkSync(x.m('low4'), x.m('low4-link'));
  t.is(uino(x.m('low4-link')), uino(x.m('low4')));
  t.is(lstatBig(x.m('low4')).nlink, 2n);
  await x.remount();
  for (const [n, ino] of want) t.is(uino(x.m(n)), uino(path.join(merged, n)), `st_ino of ${n} after remount`);
  await x.unmount();
});

test('a change made in the backing directory is visible through the mount after the attr timeout', async (t) => {
  const x = await fsMount(t, { attrTimeout: 0.3, entryTimeout: 0.3 });
  fs.writeFileSync(x.m('f'), 'one');
  t.is(fs.statSync(x.m('f')).size, 3);
  fs.writeFileSync(x.b('f'), 'three');
  fs.writeFileSync(x.b('new'), 'new file');
  fs.mkdirSync(x.b('newdir'));
  await new Promise((r) => setTimeout(r, 600));
  t.is(fs.statSync(x.m('f')).size, 5);
  t.is(fs.readFileSync(x.m('f'), 'utf8'), 'three');
  t.is(fs.readFileSync(x.m('new'), 'utf8'), 'new file');
  t.true(fs.statSync(x.m('newdir')).isDirectory());
  fs.unlinkSync(x.b('new'));
  fs.renameSync(x.b('f'), x.b('g'));
  await new Promise((r) => setTimeout(r, 600));
  t.is(code(() => fs.statSync(x.m('new'))), 'ENOENT');
  t.is(code(() => fs.readFileSync(x.m('f'))), 'ENOENT');
  t.is(fs.readFileSync(x.m('g'), 'utf8'), 'three');
  t.deepEqual(fs.readdirSync(x.mnt).sort(), ['fileset.quota', 'g', 'group.quota', 'newdir', 'user.quota']);
});

test('rename over an open file: the old descriptor keeps the replaced file, the name gives the new one', async (t) => {
  const x = await fsMount(t);
  fs.writeFileSync(x.m('target'), 'old target');
  fs.writeFileSync(x.m('src'), 'new content');
  const oldIno = lstatBig(x.m('target')).ino;
  const fd = fs.openSync(x.m('target'), 'r');
  fs.renameSync(x.m('src'), x.m('target'));
  t.is(fs.readFileSync(x.m('target'), 'utf8'), 'new content');
  t.not(lstatBig(x.m('target')).ino, oldIno);
  const b = Buffer.alloc(10);
  t.is(fs.readSync(fd, b, 0, 10, 0), 10);
  t.is(b.toString(), 'old target');
  t.is(fs.fstatSync(fd, { bigint: true }).ino, oldIno);
  t.is(fs.fstatSync(fd).nlink, 0);
  fs.closeSync(fd);
});

test('cached data is dropped when the backing file changes behind the mount (same size, new mtime)', async (t) => {
  const x = await fsMount(t, { attrTimeout: 0.3, entryTimeout: 0.3 });
  fs.writeFileSync(x.m('f'), 'aaaa');
  t.is(fs.readFileSync(x.m('f'), 'utf8'), 'aaaa'); // now in the page cache
  const fd = fs.openSync(x.m('f'), 'r'); // and kept open
  await new Promise((r) => setTimeout(r, 50));
  fs.writeFileSync(x.b('f'), 'bbbb');
  await new Promise((r) => setTimeout(r, 700));
  t.is(fs.readFileSync(x.m('f'), 'utf8'), 'bbbb');
  const b = Buffer.alloc(4);
  fs.readSync(fd, b, 0, 4, 0);
  t.is(b.toString(), 'bbbb', 'also through a descriptor opened before the change');
  fs.closeSync(fd);
  // Shrunk behind the mount: reads stop at the new end.
  fs.writeFileSync(x.b('f'), 'c');
  await new Promise((r) => setTimeout(r, 700));
  t.is(fs.readFileSync(x.m('f'), 'utf8'), 'c');
});

test('names that are not UTF-8 keep their exact bytes both ways', async (t) => {
  const x = await fsMount(t);
  const raw = (s: string) => Buffer.from(s, 'latin1');
  const made = Buffer.concat([Buffer.from(x.b('') + '/'), raw('bad\xffname')]);
  fs.writeFileSync(made, 'from backing');
  const listed = fs.readdirSync(x.mnt, { encoding: 'buffer' }).map((b) => b.toString('latin1'));
  t.true(listed.includes('bad\xffname'));
  t.is(fs.readFileSync(Buffer.concat([Buffer.from(x.m('') + '/'), raw('bad\xffname')]), 'utf8'), 'from backing');
  fs.writeFileSync(Buffer.concat([Buffer.from(x.m('') + '/'), raw('new\xfe\x80x')]), 'from mount');
  t.is(fs.readFileSync(Buffer.concat([Buffer.from(x.b('') + '/'), raw('new\xfe\x80x')]), 'utf8'), 'from mount');
  fs.symlinkSync(Buffer.concat([raw('tgt\xfd')]), Buffer.concat([Buffer.from(x.m('') + '/'), raw('sl')]));
  t.is(fs.readlinkSync(x.m('sl'), { encoding: 'buffer' }).toString('latin1'), 'tgt\xfd');
});
