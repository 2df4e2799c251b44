// Tests of the native syscall addon (native/sys, src/native/sys.ts) against real files.
// Some need root (trusted.* xattrs, mknod of a device, chown, setfsuid, mount); they are skipped
// for other users.

import test, { ExecutionContext } from 'ava';
import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import * as tmp from 'tmp';
import { ErrnoError, errnoCode } from '../src/native/errno';
import * as sys from '../src/native/sys';

const isRoot = process.getuid !== undefined && process.getuid() === 0;
const rootTest = isRoot ? test : test.skip;
const NOBODY = 65534;
const EXT4_MAGIC = 0xef53;
const TMPFS_MAGIC = 0x01021994;
const MiB = 1024 * 1024;
const repoRoot = path.resolve(__dirname, '..', '..');

function hasCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}
const hasPython = hasCommand('python3');

function tmpDir(t: ExecutionContext, parent?: string): string {
  const d = tmp.dirSync({ unsafeCleanup: true, prefix: 'dmapifs-sys-', tmpdir: parent });
  t.teardown(() => d.removeCallback());
  return d.name;
}

/** A temp dir on ext4: os.tmpdir() if it is ext4, else under the repo's (ignored) dist/. */
function ext4Dir(t: ExecutionContext): string {
  for (const parent of [os.tmpdir(), path.join(repoRoot, 'dist')]) {
    if (fs.existsSync(parent) && Number(fs.statfsSync(parent).type) === EXT4_MAGIC) return tmpDir(t, parent);
  }
  throw new Error('no ext4 directory found for the test (need os.tmpdir() or the repo on ext4)');
}

function shmDir(t: ExecutionContext): string {
  if (Number(fs.statfsSync('/dev/shm').type) !== TMPFS_MAGIC) throw new Error('/dev/shm is not tmpfs');
  return tmpDir(t, '/dev/shm');
}

function openOrThrow(p: string, flags: number, mode = 0o644): number {
  return sys.check(sys.open(p, flags, mode), 'open', p);
}

function withFd(t: ExecutionContext, p: string, flags: number, mode = 0o644): number {
  const fd = openOrThrow(p, flags, mode);
  t.teardown(() => {
    sys.close(fd);
  });
  return fd;
}

function waitExit(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

function waitForLine(child: ChildProcess, want: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => {
      buf += d;
      if (buf.includes(want)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`child exited (${code}) before "${want}": ${buf}`)));
    child.once('error', reject);
  });
}

// ---------------------------------------------------------------------------------------------
// errors and arguments

test('failed syscalls return the negative errno, never throw', (t) => {
  const dir = tmpDir(t);
  const out = sys.statArray();
  const missing = path.join(dir, 'missing');
  t.is(sys.lstat(missing, out), -sys.ENOENT);
  t.is(sys.open(missing, sys.O_RDONLY, 0), -sys.ENOENT);
  t.is(sys.lgetxattr(missing, 'user.x'), -sys.ENOENT);
  t.is(sys.llistxattr(missing), -sys.ENOENT);
  t.is(sys.readlinkat(sys.AT_FDCWD, missing), -sys.ENOENT);
  t.is(sys.close(-1), -sys.EBADF);
  t.is(sys.fstat(-1, out), -sys.EBADF);
  t.is(sys.pread(-1, Buffer.alloc(4), 0, 4, 0), -sys.EBADF);
  t.is(sys.getVersion(-1), -sys.EBADF);
  t.is(sys.peerCred(-1), -sys.EBADF);
  t.is(sys.statvfs(missing, sys.statvfsArray()), -sys.ENOENT);
  t.is(sys.mkdirat(sys.AT_FDCWD, dir, 0o755), -sys.EEXIST);
  t.is(sys.unlinkat(sys.AT_FDCWD, dir, 0), -sys.EISDIR);
  t.is(sys.access(missing, sys.F_OK), -sys.ENOENT);
  // a path of PATH_MAX bytes or more: ENAMETOOLONG without a syscall; 4095 bytes reach the kernel
  t.is(sys.lstat('/' + 'a'.repeat(4095), out), -sys.ENAMETOOLONG);
  t.is(sys.lstat(Buffer.from('/' + 'a'.repeat(5000)), out), -sys.ENAMETOOLONG);
  t.is(sys.lstat('/' + 'a/'.repeat(2047), out), -sys.ENOENT);
  t.is(sys.lstat('/é' + 'a'.repeat(4093), out), -sys.ENAMETOOLONG); // 4096 bytes in UTF-8

  const file = path.join(dir, 'f');
  fs.writeFileSync(file, 'x');
  const fd = withFd(t, file, sys.O_RDWR);
  t.is(sys.readlinkat(sys.AT_FDCWD, file), -sys.EINVAL);
  t.is(sys.lseek(fd, 0, 99), -sys.EINVAL);
  t.is(sys.peerCred(fd), -sys.ENOTSOCK);
  t.is(sys.fcntlLock(fd, 12345, sys.F_WRLCK, sys.SEEK_SET, 0, 0), -sys.EINVAL);
  t.is(sys.fallocate(fd, sys.FALLOC_FL_PUNCH_HOLE, 0, 10), -sys.EOPNOTSUPP); // PUNCH_HOLE needs KEEP_SIZE
  t.is(sys.lgetxattr(file, 'user.none'), -sys.ENODATA);
  t.is(sys.lgetxattr(file, 'user.' + 'n'.repeat(300)), -sys.ERANGE);
  t.is(sys.lsetxattr(file, 'nonamespace', 'v', 0), -sys.EOPNOTSUPP);
});

test('check() throws an ErrnoError with errno, code, syscall and path', (t) => {
  const missing = '/nonexistent/dmapifs/x';
  const err = t.throws(() => sys.check(sys.lgetxattr(missing, 'user.x'), 'lgetxattr', missing), {
    instanceOf: ErrnoError,
  })!;
  t.is(err.errno, sys.ENOENT);
  t.is(err.code, 'ENOENT');
  t.is(err.syscall, 'lgetxattr');
  t.is(err.path, missing);
  t.is(err.message, `ENOENT: no such file or directory, lgetxattr '${missing}'`);
  const ren = new ErrnoError(-sys.EEXIST, 'renameat2', 'a', 'b');
  t.is(ren.errno, sys.EEXIST);
  t.is(ren.code, 'EEXIST');
  t.regex(ren.message, /^EEXIST: .*, renameat2 'a' -> 'b'$/);
  // non-negative results pass through, values of any type too
  t.is(sys.check(0, 'close'), 0);
  t.is(sys.check(7, 'open'), 7);
  const buf = Buffer.from('v');
  t.is(sys.check<Buffer>(buf, 'lgetxattr'), buf);
  t.deepEqual(sys.check<string[]>([], 'llistxattr'), []);
});

test('errno names, messages and constants', (t) => {
  t.is(sys.errnoName(2), 'ENOENT');
  t.is(sys.errnoName(-2), 'ENOENT');
  t.is(sys.errnoName(sys.ENODATA), 'ENODATA');
  t.is(sys.errnoName(sys.EOPNOTSUPP), 'EOPNOTSUPP');
  t.is(sys.errnoName(sys.EAGAIN), 'EAGAIN');
  t.is(sys.errnoName(100000), undefined);
  t.is(sys.strerror(-sys.ENOENT), 'No such file or directory');
  t.is(sys.strerror(sys.EXDEV), 'Invalid cross-device link');
  t.is(errnoCode(-sys.EOPNOTSUPP), 'EOPNOTSUPP');
  t.is(errnoCode(sys.EWOULDBLOCK), 'EAGAIN');
  // every errno Node knows has the same number in the addon, and errnoCode agrees with errnoName
  for (const [name, num] of Object.entries(os.constants.errno as Record<string, number>)) {
    t.is(sys.errno[name], num, name);
    t.is(errnoCode(num), sys.errnoName(num), name);
  }
  t.is(sys.ENOTSUP, sys.EOPNOTSUPP);
  t.is(sys.EWOULDBLOCK, sys.EAGAIN);
});

test('wrong argument types throw', (t) => {
  const out = sys.statArray();
  const any = sys as unknown as Record<string, (...a: unknown[]) => unknown>;
  t.throws(() => any.lstat(123, out), { instanceOf: TypeError });
  t.throws(() => any.lstat('/', new Uint8Array(128)), { instanceOf: TypeError });
  t.throws(() => any.lstat('/', new Float64Array(16)), { instanceOf: TypeError });
  t.throws(() => any.lstat('/', new BigUint64Array(15)), { instanceOf: RangeError });
  t.throws(() => any.lstat('/\0etc', out), { instanceOf: TypeError, message: /null bytes/ });
  t.throws(() => any.lstat(Buffer.from('/\0etc'), out), { instanceOf: TypeError });
  t.throws(() => any.fstat('3', out), { instanceOf: TypeError });
  t.throws(() => any.fstat(1.5, out), { instanceOf: RangeError });
  t.throws(() => any.fstat(2 ** 31, out), { instanceOf: RangeError });
  t.throws(() => any.open('/', 'r', 0), { instanceOf: TypeError });
  t.throws(() => any.lseek(0, NaN, 0), { instanceOf: RangeError });
  t.throws(() => any.lseek(0, 2n ** 64n, 0), { instanceOf: RangeError });
  t.throws(() => any.pread(0, 'abc', 0, 1, 0), { instanceOf: TypeError });
  t.throws(() => any.pread(0, Buffer.alloc(8), 4, 5, 0), { instanceOf: RangeError });
  t.throws(() => any.pread(0, Buffer.alloc(8), 9, 0, 0), { instanceOf: RangeError });
  t.throws(() => any.pwrite(0, Buffer.alloc(8), -1, 1, 0), { instanceOf: RangeError });
  t.throws(() => any.lsetxattr('/', 'user.x', 42, 0), { instanceOf: TypeError });
  t.throws(() => any.fchown(0, -2, 0), { instanceOf: RangeError });
  t.throws(() => any.utimensat(sys.AT_FDCWD, '/', 0, 1e9, 0, 0, 0), { instanceOf: RangeError });
  t.throws(() => any.scanMapsFor([[1, 2]]), { instanceOf: TypeError });
  t.throws(() => any.scanMapsFor('x'), { instanceOf: TypeError });
  t.throws(() => any.scanMaps(1, 2, -1), { instanceOf: RangeError });
  t.throws(() => any.errnoName('ENOENT'), { instanceOf: TypeError });
});

// ---------------------------------------------------------------------------------------------
// stat

// Node's BigIntStats keeps its fields in a BigInt64Array: dev and ino >= 2^63 come out negative.
const unsigned = (v: bigint): bigint => BigInt.asUintN(64, v);

function assertStatEqual(t: ExecutionContext, out: BigUint64Array | BigInt64Array, st: fs.BigIntStats, what: string): void {
  const u = (i: number): bigint => BigInt.asUintN(64, out[i]);
  t.is(u(sys.STAT_DEV), unsigned(st.dev), `${what} dev`);
  t.is(u(sys.STAT_INO), unsigned(st.ino), `${what} ino`);
  t.is(u(sys.STAT_MODE), st.mode, `${what} mode`);
  t.is(u(sys.STAT_NLINK), st.nlink, `${what} nlink`);
  t.is(u(sys.STAT_UID), st.uid, `${what} uid`);
  t.is(u(sys.STAT_GID), st.gid, `${what} gid`);
  t.is(u(sys.STAT_RDEV), st.rdev, `${what} rdev`);
  t.is(u(sys.STAT_SIZE), st.size, `${what} size`);
  t.is(u(sys.STAT_BLKSIZE), st.blksize, `${what} blksize`);
  t.is(u(sys.STAT_BLOCKS), st.blocks, `${what} blocks`);
  t.is(sys.statTimeNs(out, sys.STAT_ATIME_SEC), st.atimeNs, `${what} atime`);
  t.is(sys.statTimeNs(out, sys.STAT_MTIME_SEC), st.mtimeNs, `${what} mtime`);
  t.is(sys.statTimeNs(out, sys.STAT_CTIME_SEC), st.ctimeNs, `${what} ctime`);
}

test('lstat/fstat/fstatat match fs.lstatSync({bigint: true}), ns times included', (t) => {
  const dir = tmpDir(t);
  const file = path.join(dir, 'file');
  fs.writeFileSync(file, crypto.randomBytes(12345));
  const link = path.join(dir, 'link');
  fs.symlinkSync('file', link);
  // distinct, ns-precise times
  sys.check(sys.utimensat(sys.AT_FDCWD, file, 1_600_000_000, 123_456_789, 1_700_000_000, 987_654_321, 0), 'utimensat');

  const out = sys.statArray();
  t.is(sys.lstat(file, out), 0);
  assertStatEqual(t, out, fs.lstatSync(file, { bigint: true }), 'file');
  t.is(sys.statTimeSec(out, sys.STAT_ATIME_SEC), 1_600_000_000n);
  t.is(out[sys.STAT_ATIME_NSEC], 123_456_789n);
  t.is(out[sys.STAT_MTIME_NSEC], 987_654_321n);

  t.is(sys.lstat(link, out), 0); // the link itself
  assertStatEqual(t, out, fs.lstatSync(link, { bigint: true }), 'symlink');
  t.is(Number(out[sys.STAT_MODE]) & sys.S_IFMT, sys.S_IFLNK);

  t.is(sys.lstat(dir, out), 0);
  assertStatEqual(t, out, fs.lstatSync(dir, { bigint: true }), 'dir');

  const fd = withFd(t, file, sys.O_RDONLY);
  t.is(sys.fstat(fd, out), 0);
  assertStatEqual(t, out, fs.fstatSync(fd, { bigint: true }), 'fstat');

  const dfd = withFd(t, dir, sys.O_RDONLY | sys.O_DIRECTORY);
  t.is(sys.fstatat(dfd, 'link', sys.AT_SYMLINK_NOFOLLOW, out), 0);
  assertStatEqual(t, out, fs.lstatSync(link, { bigint: true }), 'fstatat nofollow');
  t.is(sys.fstatat(dfd, 'link', 0, out), 0); // follows
  assertStatEqual(t, out, fs.statSync(link, { bigint: true }), 'fstatat follow');
  t.is(sys.fstatat(fd, '', sys.AT_EMPTY_PATH, out), 0);
  assertStatEqual(t, out, fs.fstatSync(fd, { bigint: true }), 'fstatat empty path');
  t.is(sys.fstatat(dfd, 'nope', 0, out), -sys.ENOENT);

  // BigInt64Array works as well, and a Buffer path
  const signed = new BigInt64Array(sys.STAT_FIELDS);
  t.is(sys.lstat(Buffer.from(file), signed), 0);
  assertStatEqual(t, signed, fs.lstatSync(file, { bigint: true }), 'BigInt64Array');

  const info = sys.lstatInfo(file);
  t.is(info.size, 12345n);
  t.is(info.mtimeNs, 1_700_000_000_987_654_321n);
  t.throws(() => sys.lstatInfo(path.join(dir, 'nope')), { instanceOf: ErrnoError, message: /ENOENT/ });
});

test('stat sizes past 4 GiB and times before 1970', (t) => {
  const dir = tmpDir(t);
  const file = path.join(dir, 'big');
  const fd = withFd(t, file, sys.O_RDWR | sys.O_CREAT);
  const pos = 5 * 1024 * MiB + 7; // sparse, past 2^32
  t.is(sys.pwrite(fd, Buffer.from('tail'), 0, 4, pos), 4);
  t.is(sys.futimens(fd, -1_000_000, 123, -86_400 * 365 * 30, 999_999_999), 0);
  const out = sys.statArray();
  t.is(sys.fstat(fd, out), 0);
  t.is(out[sys.STAT_SIZE], BigInt(pos + 4));
  // negative seconds are stored as their two's complement bit pattern
  t.is(out[sys.STAT_ATIME_SEC], 2n ** 64n - 1_000_000n);
  t.is(sys.statTimeSec(out, sys.STAT_ATIME_SEC), -1_000_000n);
  t.is(sys.statTimeSec(out, sys.STAT_MTIME_SEC), BigInt(-86_400 * 365 * 30));
  assertStatEqual(t, out, fs.fstatSync(fd, { bigint: true }), 'sparse/pre-1970');
  const back = Buffer.alloc(4);
  t.is(sys.pread(fd, back, 0, 4, pos), 4);
  t.is(back.toString(), 'tail');
});

rootTest('64-bit inode numbers survive (overlayfs xino gives inos >= 2^63), via mount/umount2', (t) => {
  const lower = shmDir(t);
  const base = tmpDir(t);
  for (const d of ['upper', 'work', 'merged']) fs.mkdirSync(path.join(base, d));
  fs.writeFileSync(path.join(lower, 'f'), 'lower file');
  const merged = path.join(base, 'merged');
  const r = sys.mount('overlay', merged, 'overlay', 0,
    `lowerdir=${lower},upperdir=${base}/upper,workdir=${base}/work,xino=on`);
  if (r === -sys.ENODEV) return t.pass('overlayfs is not available in this kernel');
  t.is(r, 0, `mount overlay: ${sys.errnoName(r)}`);
  t.teardown(() => {
    sys.umount2(merged, sys.MNT_DETACH);
  });
  const f = path.join(merged, 'f');
  const out = sys.statArray();
  t.is(sys.lstat(f, out), 0);
  const st = fs.lstatSync(f, { bigint: true });
  assertStatEqual(t, out, st, 'overlay');
  t.true(out[sys.STAT_INO] >= 2n ** 32n, `overlay ino ${out[sys.STAT_INO]} is 64-bit`);
  t.is(sys.decodeStat(out).ino, unsigned(st.ino));
  t.is(sys.umount2(merged, 0), 0);
  t.is(sys.umount2(merged, 0), -sys.EINVAL); // not a mount point any more
});

rootTest('mount/umount2: tmpfs with flags, remount read-only, statvfs sees the flags', (t) => {
  const mnt = tmpDir(t);
  t.is(sys.mount('dmapifs-test', mnt, 'tmpfs', sys.MS_NOSUID | sys.MS_NODEV, 'size=1m,mode=0755'), 0);
  t.teardown(() => {
    sys.umount2(mnt, sys.MNT_DETACH);
  });
  const v = sys.statvfsArray();
  t.is(sys.statvfs(mnt, v), 0);
  const ST_RDONLY = 1n, ST_NOSUID = 2n, ST_NODEV = 4n;
  t.is(v[sys.STATVFS_FLAG] & (ST_NOSUID | ST_NODEV), ST_NOSUID | ST_NODEV);
  t.is(v[sys.STATVFS_FLAG] & ST_RDONLY, 0n);
  t.is(v[sys.STATVFS_BLOCKS] * v[sys.STATVFS_FRSIZE], BigInt(MiB));
  fs.writeFileSync(path.join(mnt, 'x'), 'x');
  t.is(sys.mount(null, mnt, null, sys.MS_REMOUNT | sys.MS_RDONLY | sys.MS_NOSUID | sys.MS_NODEV, null), 0);
  t.is(sys.statvfs(mnt, v), 0);
  t.is(v[sys.STATVFS_FLAG] & ST_RDONLY, ST_RDONLY);
  t.is(sys.open(path.join(mnt, 'x'), sys.O_WRONLY, 0), -sys.EROFS);
  t.is(sys.mount('none', path.join(mnt, 'nope'), 'tmpfs', 0, null), -sys.ENOENT);
  t.is(sys.umount2(mnt, sys.MNT_DETACH), 0);
  t.false(fs.existsSync(path.join(mnt, 'x')));
});

test('statvfs matches fs.statfsSync', (t) => {
  const dir = tmpDir(t);
  const v = sys.statvfsArray();
  t.is(sys.statvfs(dir, v), 0);
  const s = fs.statfsSync(dir, { bigint: true });
  t.is(v[sys.STATVFS_BSIZE], s.bsize);
  t.is(v[sys.STATVFS_BLOCKS], s.blocks);
  t.is(v[sys.STATVFS_FILES], s.files);
  t.is(v[sys.STATVFS_NAMEMAX], 255n);
  t.true(v[sys.STATVFS_BFREE] >= v[sys.STATVFS_BAVAIL]);
  t.true(v[sys.STATVFS_BLOCKS] >= v[sys.STATVFS_BFREE]);
});

// ---------------------------------------------------------------------------------------------
// data: pread/pwrite, holes, fallocate

test('pread/pwrite: buffer windows, file position, typed arrays', (t) => {
  const dir = tmpDir(t);
  const file = path.join(dir, 'f');
  const fd = withFd(t, file, sys.O_RDWR | sys.O_CREAT | sys.O_EXCL, 0o600);
  const src = Buffer.from('0123456789abcdef');
  t.is(sys.pwrite(fd, src, 4, 6, 100), 6); // "456789" at 100
  t.is(fs.statSync(file).size, 106);
  const dst = Buffer.alloc(10, '.');
  t.is(sys.pread(fd, dst, 2, 6, 100), 6);
  t.is(dst.toString(), '..456789..');
  t.is(sys.pread(fd, dst, 0, 10, 200), 0); // past EOF
  // null position: read(2)/write(2) at the file position
  t.is(sys.lseek(fd, 0, sys.SEEK_SET), 0);
  t.is(sys.pwrite(fd, Buffer.from('AB'), null, null, null), 2);
  t.is(sys.pwrite(fd, Buffer.from('CD'), 0, 2, -1), 2);
  t.is(sys.lseek(fd, 0, sys.SEEK_CUR), 4);
  t.is(fs.readFileSync(file).subarray(0, 4).toString(), 'ABCD');
  // offsets and lengths count bytes, whatever the element type; a subarray view starts at its offset
  const words = new Uint32Array([0x64636261, 0x68676665]);
  t.is(sys.pwrite(fd, words, 4, 4, 0), 4);
  t.is(fs.readFileSync(file).subarray(0, 4).toString(), 'efgh');
  const view = Buffer.from('xxHELLOxx').subarray(2, 7);
  t.is(sys.pwrite(fd, view, 0, 5, 10), 5);
  const dv = new DataView(new ArrayBuffer(5));
  t.is(sys.pread(fd, dv, 0, 5, 10), 5);
  t.is(Buffer.from(dv.buffer).toString(), 'HELLO');
  t.is(sys.pread(fd, Buffer.alloc(0), 0, 0, 0), 0);
  // BigInt position
  t.is(sys.pwrite(fd, Buffer.from('Z'), 0, 1, 3n), 1);
  t.is(fs.readFileSync(file).subarray(3, 4).toString(), 'Z');
  // read-only fd
  const ro = withFd(t, file, sys.O_RDONLY);
  t.is(sys.pwrite(ro, src, 0, 1, 0), -sys.EBADF);
});

test('punchHole keeps the size, frees blocks and reads back zeros', (t) => {
  const dir = ext4Dir(t);
  const file = path.join(dir, 'f');
  const fd = withFd(t, file, sys.O_RDWR | sys.O_CREAT);
  const data = Buffer.alloc(MiB, 0xab);
  t.is(sys.pwrite(fd, data, 0, data.length, 0), MiB);
  t.is(sys.fsync(fd), 0);
  const before = sys.fstatInfo(fd);
  t.is(before.size, BigInt(MiB));
  t.true(before.blocks >= BigInt(MiB / 512));

  t.is(sys.punchHole(fd, 256 * 1024, 512 * 1024), 0);
  const after = sys.fstatInfo(fd);
  t.is(after.size, BigInt(MiB), 'size kept');
  t.is(before.blocks - after.blocks, BigInt((512 * 1024) / 512), 'the 512 KiB are freed');
  const back = Buffer.alloc(MiB);
  t.is(sys.pread(fd, back, 0, MiB, 0), MiB);
  t.true(back.subarray(0, 256 * 1024).equals(data.subarray(0, 256 * 1024)));
  t.true(back.subarray(256 * 1024, 768 * 1024).equals(Buffer.alloc(512 * 1024)), 'hole reads zeros');
  t.true(back.subarray(768 * 1024).equals(data.subarray(768 * 1024)));
  t.is(sys.lseek(fd, 0, sys.SEEK_HOLE), 256 * 1024);
  t.is(sys.lseek(fd, 256 * 1024, sys.SEEK_DATA), 768 * 1024);
  // punching past EOF does not grow the file
  t.is(sys.punchHole(fd, 2 * MiB, MiB), 0);
  t.is(sys.fstatInfo(fd).size, BigInt(MiB));
  const ro = withFd(t, file, sys.O_RDONLY);
  t.is(sys.punchHole(ro, 0, 4096), -sys.EBADF);
});

test('SEEK_DATA / SEEK_HOLE on a sparse file, ENXIO past EOF', (t) => {
  const dir = ext4Dir(t);
  const file = path.join(dir, 'sparse');
  const fd = withFd(t, file, sys.O_RDWR | sys.O_CREAT);
  const block = Buffer.alloc(4096, 1);
  t.is(sys.pwrite(fd, block, 0, 4096, 0), 4096);
  t.is(sys.pwrite(fd, block, 0, 4096, MiB), 4096);
  t.is(sys.fsync(fd), 0);
  const size = MiB + 4096;
  t.is(sys.lseek(fd, 0, sys.SEEK_DATA), 0);
  t.is(sys.lseek(fd, 0, sys.SEEK_HOLE), 4096);
  t.is(sys.lseek(fd, 4096, sys.SEEK_DATA), MiB);
  t.is(sys.lseek(fd, 5000, sys.SEEK_HOLE), 5000); // already in a hole
  t.is(sys.lseek(fd, MiB, sys.SEEK_HOLE), size); // the implicit hole at EOF
  t.is(sys.lseek(fd, MiB + 100, sys.SEEK_DATA), MiB + 100);
  t.is(sys.lseek(fd, size, sys.SEEK_DATA), -sys.ENXIO);
  t.is(sys.lseek(fd, size, sys.SEEK_HOLE), -sys.ENXIO);
  t.is(sys.lseek(fd, size + 10, sys.SEEK_HOLE), -sys.ENXIO);
  t.is(sys.lseek(fd, 0, sys.SEEK_END), size);
  t.is(sys.lseek(fd, -1, sys.SEEK_SET), -sys.EINVAL);
});

test('fallocate modes, ftruncate, truncate, fsync, fdatasync', (t) => {
  const dir = ext4Dir(t);
  const file = path.join(dir, 'f');
  const fd = withFd(t, file, sys.O_RDWR | sys.O_CREAT);
  t.is(sys.fallocate(fd, 0, 0, MiB), 0);
  t.is(sys.fstatInfo(fd).size, BigInt(MiB));
  // KEEP_SIZE: blocks past EOF, size unchanged
  const b0 = sys.fstatInfo(fd).blocks;
  t.is(sys.fallocate(fd, sys.FALLOC_FL_KEEP_SIZE, MiB, MiB), 0);
  const s1 = sys.fstatInfo(fd);
  t.is(s1.size, BigInt(MiB));
  t.true(s1.blocks >= b0 + BigInt(MiB / 512));
  // ZERO_RANGE
  t.is(sys.pwrite(fd, Buffer.alloc(8192, 7), 0, 8192, 0), 8192);
  t.is(sys.fallocate(fd, sys.FALLOC_FL_ZERO_RANGE, 0, 4096), 0);
  const back = Buffer.alloc(8192);
  t.is(sys.pread(fd, back, 0, 8192, 0), 8192);
  t.true(back.subarray(0, 4096).equals(Buffer.alloc(4096)));
  t.true(back.subarray(4096).equals(Buffer.alloc(4096, 7)));
  t.is(sys.fallocate(fd, 0, -1, 10), -sys.EINVAL);
  t.is(sys.ftruncate(fd, 10), 0);
  t.is(fs.statSync(file).size, 10);
  t.is(sys.truncate(file, 6 * 1024 * MiB), 0); // 6 GiB, sparse
  t.is(sys.fstatInfo(fd).size, 6n * 1024n * BigInt(MiB));
  t.is(sys.truncate(path.join(dir, 'nope'), 0), -sys.ENOENT);
  t.is(sys.ftruncate(fd, -1), -sys.EINVAL);
  t.is(sys.fsync(fd), 0);
  t.is(sys.fdatasync(fd), 0);
});

// ---------------------------------------------------------------------------------------------
// xattrs

function xattrSuite(t: ExecutionContext, file: string, ns: string): void {
  const name = `${ns}.dmapifs`;
  t.is(sys.lgetxattr(file, name), -sys.ENODATA);
  t.is(sys.lsetxattr(file, name, Buffer.from([0, 1, 2, 255]), 0), 0);
  t.deepEqual(sys.lgetxattr(file, name), Buffer.from([0, 1, 2, 255]));
  t.true((sys.llistxattr(file) as string[]).includes(name));
  t.is(sys.lsetxattr(file, name, 'again', sys.XATTR_CREATE), -sys.EEXIST);
  t.is(sys.lsetxattr(file, name, 'replaced', sys.XATTR_REPLACE), 0);
  t.is((sys.lgetxattr(file, name) as Buffer).toString(), 'replaced');
  t.is(sys.lsetxattr(file, `${name}.other`, 'x', sys.XATTR_REPLACE), -sys.ENODATA);
  t.is(sys.lsetxattr(file, `${name}.empty`, Buffer.alloc(0), sys.XATTR_CREATE), 0);
  t.deepEqual(sys.lgetxattr(file, `${name}.empty`), Buffer.alloc(0));
  t.is(sys.lremovexattr(file, name), 0);
  t.is(sys.lremovexattr(file, name), -sys.ENODATA);
  t.is(sys.lgetxattr(file, name), -sys.ENODATA);
  t.false((sys.llistxattr(file) as string[]).includes(name));
  t.is(sys.lremovexattr(file, `${name}.empty`), 0);

  // fd variants
  const fd = withFd(t, file, sys.O_RDONLY);
  t.is(sys.fsetxattr(fd, name, 'by fd', 0), 0);
  t.is((sys.fgetxattr(fd, name) as Buffer).toString(), 'by fd');
  t.deepEqual(sys.flistxattr(fd), sys.llistxattr(file));
  t.true((sys.flistxattr(fd) as string[]).includes(name));
  t.is(sys.fsetxattr(fd, name, 'x', sys.XATTR_CREATE), -sys.EEXIST);
  t.is(sys.fremovexattr(fd, name), 0);
  t.is(sys.fgetxattr(fd, name), -sys.ENODATA);
  t.is(sys.fremovexattr(fd, name), -sys.ENODATA);
}

test('xattrs in the user. namespace: set, get, list, remove, flags, fd variants', (t) => {
  const file = path.join(ext4Dir(t), 'f');
  fs.writeFileSync(file, '');
  xattrSuite(t, file, 'user');
  // a value near ext4's in-inode/block limit, round trip
  const v = crypto.randomBytes(3000);
  t.is(sys.lsetxattr(file, 'user.big', v, 0), 0);
  t.deepEqual(sys.lgetxattr(file, 'user.big'), v);
});

rootTest('xattrs in the trusted. namespace (root)', (t) => {
  const file = path.join(ext4Dir(t), 'f');
  fs.writeFileSync(file, '');
  xattrSuite(t, file, 'trusted');
  t.is(sys.lsetxattr(file, 'trusted.a', 'A', 0), 0);
  t.is(sys.lsetxattr(file, 'user.b', 'B', 0), 0);
  t.deepEqual((sys.llistxattr(file) as string[]).sort(), ['trusted.a', 'user.b']);
});

test('xattr values up to 64 KiB and long name lists (tmpfs)', (t) => {
  const file = path.join(shmDir(t), 'f');
  fs.writeFileSync(file, '');
  const ns = isRoot ? 'trusted' : 'user';
  for (const size of [1, 8191, 8192, 8193, 20000, 65536]) {
    const v = crypto.randomBytes(size);
    const r = sys.lsetxattr(file, `${ns}.v${size}`, v, 0);
    if (ns === 'user' && r === -sys.EOPNOTSUPP) return t.pass('tmpfs without user xattrs (Linux < 6.6)');
    t.is(r, 0, `set ${size}`);
    t.deepEqual(sys.lgetxattr(file, `${ns}.v${size}`), v, `get ${size}`);
  }
  t.is(sys.lsetxattr(file, `${ns}.toobig`, Buffer.alloc(65537), 0), -sys.E2BIG);
  for (const size of [1, 8191, 8192, 8193, 20000, 65536]) t.is(sys.lremovexattr(file, `${ns}.v${size}`), 0);
  // a name list longer than the first-try buffer (8 KiB)
  const names: string[] = [];
  for (let i = 0; i < 120; i++) names.push(`${ns}.${String(i).padStart(3, '0')}.${'n'.repeat(90)}`);
  for (const n of names) t.is(sys.lsetxattr(file, n, 'v', 0), 0);
  const listed = sys.llistxattr(file) as string[];
  t.true(names.join('\0').length > 8192);
  t.deepEqual([...listed].sort(), names);
});

test('getxattr returns a whole value while another process keeps resizing it (ERANGE race)', async (t) => {
  const file = path.join(shmDir(t), 'f');
  fs.writeFileSync(file, '');
  const ns = isRoot ? 'trusted' : 'user';
  const small = Buffer.alloc(9000, 's');
  const large = Buffer.alloc(40000, 'L');
  if (sys.lsetxattr(file, `${ns}.race`, small, 0) === -sys.EOPNOTSUPP) return t.pass('no user xattrs on tmpfs');
  const script = `
    const s = require(${JSON.stringify(path.join(repoRoot, 'dist/src/native/sys.js'))});
    const a = Buffer.alloc(9000, 's'), b = Buffer.alloc(40000, 'L');
    process.stdout.write('ready\\n');
    const end = Date.now() + 1500;
    for (let i = 0; Date.now() < end; i++) s.check(s.lsetxattr(${JSON.stringify(file)}, '${ns}.race', i % 2 ? a : b, 0), 'lsetxattr');
  `;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => child.kill());
  await waitForLine(child, 'ready');
  let sawSmall = 0, sawLarge = 0;
  const end = Date.now() + 1000;
  while (Date.now() < end) {
    const v = sys.lgetxattr(file, `${ns}.race`);
    if (!Buffer.isBuffer(v)) return t.fail(`lgetxattr returned ${v}`);
    if (v.equals(small)) sawSmall++;
    else if (v.equals(large)) sawLarge++;
    else return t.fail(`torn value of ${v.length} bytes`);
  }
  await waitExit(child);
  t.is(child.exitCode, 0);
  t.true(sawSmall > 0 && sawLarge > 0, `saw both sizes (${sawSmall} small, ${sawLarge} large)`);
});

rootTest('xattrs on a symlink apply to the link itself, not its target', (t) => {
  const dir = ext4Dir(t);
  const target = path.join(dir, 'target');
  const link = path.join(dir, 'link');
  fs.writeFileSync(target, '');
  fs.symlinkSync('target', link);
  t.is(sys.lsetxattr(target, 'user.on_target', 'T', 0), 0);
  t.is(sys.lgetxattr(link, 'user.on_target'), -sys.ENODATA);
  t.false((sys.llistxattr(link) as string[]).includes('user.on_target'));
  t.is(sys.lsetxattr(link, 'trusted.on_link', 'L', 0), 0);
  t.is((sys.lgetxattr(link, 'trusted.on_link') as Buffer).toString(), 'L');
  t.deepEqual(sys.llistxattr(link), ['trusted.on_link']);
  t.is(sys.lgetxattr(target, 'trusted.on_link'), -sys.ENODATA);
  // the kernel refuses user.* on symlinks: proof the call did not follow the link
  t.is(sys.lsetxattr(link, 'user.x', 'x', 0), -sys.EPERM);
  t.is(sys.lremovexattr(link, 'trusted.on_link'), 0);
  t.deepEqual(sys.llistxattr(link), []);
  // a dangling link still has its own xattrs
  fs.unlinkSync(target);
  t.is(sys.lsetxattr(link, 'trusted.dangling', 'D', 0), 0);
  t.deepEqual(sys.llistxattr(link), ['trusted.dangling']);
});

// ---------------------------------------------------------------------------------------------
// peer credentials, generation numbers

test('peerCred / peerCredOfSocket give the connecting child process pid, uid, gid', async (t) => {
  const dir = tmpDir(t);
  fs.chmodSync(dir, 0o755);
  const sockPath = path.join(dir, 's.sock');
  const server = net.createServer();
  t.teardown(() => server.close());
  const conn = new Promise<{ cred: sys.PeerCred | number; said: { pid: number; uid: number; gid: number } }>(
    (resolve, reject) => {
      server.once('connection', (sock) => {
        const cred = sys.peerCredOfSocket(sock);
        let data = '';
        sock.setEncoding('utf8');
        sock.on('data', (d: string) => (data += d));
        sock.on('end', () => {
          try {
            resolve({ cred, said: JSON.parse(data) });
          } catch (err) {
            reject(err);
          }
          sock.end();
        });
        sock.on('error', reject);
      });
    },
  );
  await new Promise<void>((resolve) => server.listen(sockPath, resolve));
  fs.chmodSync(sockPath, 0o777);
  const script = `
    const c = require('net').connect(${JSON.stringify(sockPath)}, () =>
      c.end(JSON.stringify({ pid: process.pid, uid: process.getuid(), gid: process.getgid() })));
    c.on('data', () => {});
  `;
  // as root, connect as nobody so that uid/gid differ from ours
  const ids = isRoot ? { uid: NOBODY, gid: NOBODY } : {};
  const child = spawn(process.execPath, ['-e', script], { stdio: 'inherit', cwd: '/', ...ids });
  t.teardown(() => child.kill());
  const { cred, said } = await conn;
  await waitExit(child);
  t.is(child.exitCode, 0);
  if (typeof cred === 'number') return t.fail(`peerCredOfSocket: ${sys.errnoName(cred)}`);
  t.is(cred.pid, child.pid!);
  t.is(cred.pid, said.pid);
  t.is(cred.uid, said.uid);
  t.is(cred.gid, said.gid);
  if (isRoot) {
    t.is(cred.uid, NOBODY);
    t.is(cred.gid, NOBODY);
  }
  // a socket without a handle (destroyed) has no fd
  const s = new net.Socket();
  t.is(sys.peerCredOfSocket(s), -sys.EBADF);
});

test('getVersion: the ext4 generation number (as lsattr -v shows it), ENOTTY on tmpfs', (t) => {
  const dir = ext4Dir(t);
  const gens = new Set<number>();
  for (let i = 0; i < 4; i++) {
    const file = path.join(dir, `f${i}`);
    fs.writeFileSync(file, '');
    const fd = withFd(t, file, sys.O_RDONLY);
    const gen = sys.getVersion(fd);
    t.true(Number.isInteger(gen) && gen >= 0 && gen <= 0xffffffff, `generation ${gen}`);
    gens.add(gen);
    if (hasCommand('lsattr')) {
      const r = spawnSync('lsattr', ['-vd', file], { encoding: 'utf8' });
      t.is(r.status, 0, r.stderr);
      t.is(Number(r.stdout.trim().split(/\s+/)[0]), gen, 'lsattr -v agrees');
    }
  }
  t.true(gens.size > 1, 'new inodes get different generations');
  const shm = path.join(shmDir(t), 'f');
  fs.writeFileSync(shm, '');
  const sfd = withFd(t, shm, sys.O_RDONLY);
  const r = sys.getVersion(sfd);
  t.true(r === -sys.ENOTTY || r === -sys.EOPNOTSUPP || r === -sys.EINVAL, `tmpfs: ${r} ${sys.errnoName(r)}`);
});

// ---------------------------------------------------------------------------------------------
// times

test('utimensat/futimens: ns precision, UTIME_OMIT, UTIME_NOW, symlinks not followed', (t) => {
  const dir = tmpDir(t);
  const file = path.join(dir, 'f');
  const link = path.join(dir, 'l');
  fs.writeFileSync(file, '');
  fs.symlinkSync('f', link);
  t.is(sys.utimensat(sys.AT_FDCWD, file, 1_000_000_001, 1, 2_000_000_002, 999_999_999, 0), 0);
  let st = fs.lstatSync(file, { bigint: true });
  t.is(st.atimeNs, 1_000_000_001_000_000_001n);
  t.is(st.mtimeNs, 2_000_000_002_999_999_999n);

  // UTIME_OMIT leaves that time alone (the seconds are ignored, may be null)
  t.is(sys.utimensat(sys.AT_FDCWD, file, null, sys.UTIME_OMIT, 3_000_000_000, 5, 0), 0);
  st = fs.lstatSync(file, { bigint: true });
  t.is(st.atimeNs, 1_000_000_001_000_000_001n);
  t.is(st.mtimeNs, 3_000_000_000_000_000_005n);

  // UTIME_NOW: the current time
  const before = BigInt(Date.now() - 2000) * 1_000_000n;
  t.is(sys.utimensat(sys.AT_FDCWD, file, 0, sys.UTIME_NOW, 0, sys.UTIME_OMIT, 0), 0);
  st = fs.lstatSync(file, { bigint: true });
  t.true(st.atimeNs >= before && st.atimeNs <= BigInt(Date.now() + 2000) * 1_000_000n);
  t.is(st.mtimeNs, 3_000_000_000_000_000_005n);

  // AT_SYMLINK_NOFOLLOW sets the link's own times
  const targetBefore = fs.lstatSync(file, { bigint: true });
  t.is(sys.utimensat(sys.AT_FDCWD, link, 42, 42, 43, 43, sys.AT_SYMLINK_NOFOLLOW), 0);
  const ls = fs.lstatSync(link, { bigint: true });
  t.is(ls.atimeNs, 42_000_000_042n);
  t.is(ls.mtimeNs, 43_000_000_043n);
  const targetAfter = fs.lstatSync(file, { bigint: true });
  t.is(targetAfter.atimeNs, targetBefore.atimeNs);
  t.is(targetAfter.mtimeNs, targetBefore.mtimeNs);

  // relative to a dirfd; path null = the fd itself
  const dfd = withFd(t, dir, sys.O_RDONLY | sys.O_DIRECTORY);
  t.is(sys.utimensat(dfd, 'f', 7, 0, 8, 0, 0), 0);
  t.is(fs.statSync(file, { bigint: true }).mtimeNs, 8_000_000_000n);
  const fd = withFd(t, file, sys.O_RDWR);
  t.is(sys.utimensat(fd, null, 9, 9, 10, 10, 0), 0);
  t.is(fs.statSync(file, { bigint: true }).mtimeNs, 10_000_000_010n);
  t.is(sys.futimens(fd, 11, 11, null, sys.UTIME_OMIT), 0);
  st = fs.statSync(file, { bigint: true });
  t.is(st.atimeNs, 11_000_000_011n);
  t.is(st.mtimeNs, 10_000_000_010n);
  t.is(sys.utimensat(sys.AT_FDCWD, path.join(dir, 'nope'), 0, 0, 0, 0, 0), -sys.ENOENT);
});

// ---------------------------------------------------------------------------------------------
// namespace operations

test('mknod: FIFO and socket; device numbers', (t) => {
  const dir = tmpDir(t);
  const fifo = path.join(dir, 'fifo');
  t.is(sys.mknod(fifo, sys.S_IFIFO | 0o640, 0), 0);
  t.true(fs.lstatSync(fifo).isFIFO());
  const dfd = withFd(t, dir, sys.O_RDONLY | sys.O_DIRECTORY);
  t.is(sys.mknodat(dfd, 'sock', sys.S_IFSOCK | 0o600, 0), 0);
  t.true(fs.lstatSync(path.join(dir, 'sock')).isSocket());
  t.is(sys.mknod(fifo, sys.S_IFIFO | 0o640, 0), -sys.EEXIST);
  // a FIFO works as one: non-blocking open for reading, then write and read through it
  const rfd = withFd(t, fifo, sys.O_RDONLY | sys.O_NONBLOCK);
  const wfd = withFd(t, fifo, sys.O_WRONLY);
  t.is(sys.pwrite(wfd, Buffer.from('through'), 0, 7, null), 7);
  const b = Buffer.alloc(16);
  t.is(sys.pread(rfd, b, 0, 16, null), 7);
  t.is(b.subarray(0, 7).toString(), 'through');
  t.is(sys.pread(rfd, b, 0, 16, 0), -sys.ESPIPE);

  t.is(sys.makedev(8, 1), 2049n);
  for (const [ma, mi] of [[0, 0], [8, 1], [259, 3], [4095, 1048575], [5000, 70000]]) {
    const d = sys.makedev(ma, mi);
    t.is(sys.devMajor(d), ma);
    t.is(sys.devMinor(d), mi);
    t.is(sys.devMajor(Number(d)), ma);
  }
});

rootTest('mknod: a character device (root)', (t) => {
  const dir = tmpDir(t);
  const dev = path.join(dir, 'null');
  t.is(sys.mknod(dev, sys.S_IFCHR | 0o666, sys.makedev(1, 3)), 0);
  const st = fs.lstatSync(dev, { bigint: true });
  t.true(st.isCharacterDevice());
  t.is(sys.devMajor(st.rdev), 1);
  t.is(sys.devMinor(st.rdev), 3);
  const fd = withFd(t, dev, sys.O_RDWR);
  t.is(sys.pwrite(fd, Buffer.from('gone'), 0, 4, null), 4);
  t.is(sys.pread(fd, Buffer.alloc(4), 0, 4, null), 0);
});

test('renameat2: NOREPLACE, EXCHANGE, plain rename', (t) => {
  const dir = tmpDir(t);
  const a = path.join(dir, 'a');
  const b = path.join(dir, 'b');
  fs.writeFileSync(a, 'A');
  fs.writeFileSync(b, 'B');
  t.is(sys.renameat2(sys.AT_FDCWD, a, sys.AT_FDCWD, b, sys.RENAME_NOREPLACE), -sys.EEXIST);
  t.is(fs.readFileSync(b, 'utf8'), 'B');
  t.is(sys.renameat2(sys.AT_FDCWD, a, sys.AT_FDCWD, b, sys.RENAME_EXCHANGE), 0);
  t.is(fs.readFileSync(a, 'utf8'), 'B');
  t.is(fs.readFileSync(b, 'utf8'), 'A');
  const dfd = withFd(t, dir, sys.O_RDONLY | sys.O_DIRECTORY);
  t.is(sys.renameat2(dfd, 'a', dfd, 'c', sys.RENAME_NOREPLACE), 0);
  t.false(fs.existsSync(a));
  t.is(fs.readFileSync(path.join(dir, 'c'), 'utf8'), 'B');
  t.is(sys.renameat2(dfd, 'c', dfd, 'b', 0), 0); // replaces
  t.is(fs.readFileSync(b, 'utf8'), 'B');
  t.is(sys.renameat2(dfd, 'b', dfd, 'x', sys.RENAME_NOREPLACE | sys.RENAME_EXCHANGE), -sys.EINVAL);
  t.is(sys.renameat2(dfd, 'missing', dfd, 'b', sys.RENAME_EXCHANGE), -sys.ENOENT);
  t.is(sys.renameat2(dfd, 'b', dfd, 'missing', sys.RENAME_EXCHANGE), -sys.ENOENT);
});

test('mkdirat, symlinkat, readlinkat, linkat, unlinkat, faccessat, fchmod(at)', (t) => {
  const dir = tmpDir(t);
  const dfd = withFd(t, dir, sys.O_RDONLY | sys.O_DIRECTORY);
  t.is(sys.mkdirat(dfd, 'd', 0o750), 0);
  t.is(fs.statSync(path.join(dir, 'd')).mode & 0o777, 0o750 & ~process.umask());
  t.is(sys.symlinkat('d/../target with spaces é', dfd, 'sl'), 0);
  t.is(sys.readlinkat(dfd, 'sl'), 'd/../target with spaces é');
  t.is(sys.symlinkat('x', dfd, 'sl'), -sys.EEXIST);
  const long = 'p/'.repeat(2000) + 'end'; // a 4003-byte target
  t.is(sys.symlinkat(long, dfd, 'long'), 0);
  t.is(sys.readlinkat(dfd, 'long'), long);
  fs.writeFileSync(path.join(dir, 'f'), 'data');
  const ofd = sys.openat(dfd, 'f', sys.O_RDONLY);
  t.true(ofd >= 0);
  const four = Buffer.alloc(4);
  t.is(sys.pread(ofd, four, 0, 4, 0), 4);
  t.is(four.toString(), 'data');
  t.is(sys.close(ofd), 0);
  t.is(sys.close(ofd), -sys.EBADF);
  t.is(sys.openat(dfd, 'nope', sys.O_RDONLY), -sys.ENOENT);
  t.is(sys.openat(dfd, 'f', sys.O_RDONLY | sys.O_CREAT | sys.O_EXCL, 0o600), -sys.EEXIST);
  t.is(sys.openat(dfd, 'f', sys.O_RDONLY | sys.O_DIRECTORY), -sys.ENOTDIR);
  t.is(sys.openat(dfd, 'sl', sys.O_RDONLY | sys.O_NOFOLLOW), -sys.ELOOP);
  t.is(sys.linkat(dfd, 'f', dfd, 'd/hard', 0), 0);
  t.is(fs.statSync(path.join(dir, 'f')).nlink, 2);
  t.is(sys.linkat(dfd, 'f', dfd, 'd/hard', 0), -sys.EEXIST);
  // linkat on a symlink: the link itself unless AT_SYMLINK_FOLLOW
  fs.symlinkSync('f', path.join(dir, 'tof'));
  t.is(sys.linkat(dfd, 'tof', dfd, 'tof2', 0), 0);
  t.true(fs.lstatSync(path.join(dir, 'tof2')).isSymbolicLink());
  t.is(sys.linkat(dfd, 'tof', dfd, 'tof3', sys.AT_SYMLINK_FOLLOW), 0);
  t.true(fs.lstatSync(path.join(dir, 'tof3')).isFile());
  t.is(sys.unlinkat(dfd, 'd', sys.AT_REMOVEDIR), -sys.ENOTEMPTY);
  t.is(sys.unlinkat(dfd, 'd/hard', 0), 0);
  t.is(sys.unlinkat(dfd, 'd', 0), -sys.EISDIR);
  t.is(sys.unlinkat(dfd, 'd', sys.AT_REMOVEDIR), 0);
  t.is(sys.unlinkat(dfd, 'f', sys.AT_REMOVEDIR), -sys.ENOTDIR);
  t.is(sys.unlinkat(dfd, 'd', sys.AT_REMOVEDIR), -sys.ENOENT);
  t.is(sys.faccessat(dfd, 'f', sys.R_OK | sys.W_OK, 0), 0);
  t.is(sys.access(path.join(dir, 'f'), sys.F_OK), 0);
  t.is(sys.faccessat(dfd, 'nope', sys.F_OK, 0), -sys.ENOENT);
  const fd = withFd(t, path.join(dir, 'f'), sys.O_RDONLY);
  t.is(sys.fchmod(fd, 0o4711), 0);
  t.is(fs.statSync(path.join(dir, 'f')).mode & 0o7777, 0o4711);
  t.is(sys.fchmodat(dfd, 'f', 0o600, 0), 0);
  t.is(fs.statSync(path.join(dir, 'f')).mode & 0o7777, 0o600);
  t.is(sys.faccessat(dfd, 'f', sys.X_OK, 0), -sys.EACCES); // no x bit at all: even root is refused
});

rootTest('fchown, fchownat, lchown (root): ownership of files and of symlinks themselves', (t) => {
  const dir = tmpDir(t);
  const file = path.join(dir, 'f');
  const link = path.join(dir, 'l');
  fs.writeFileSync(file, '');
  fs.symlinkSync('f', link);
  const fd = withFd(t, file, sys.O_RDONLY);
  t.is(sys.fchown(fd, 1234, 5678), 0);
  t.like(fs.statSync(file), { uid: 1234, gid: 5678 });
  t.is(sys.fchown(fd, -1, 42), 0); // -1 keeps the uid
  t.like(fs.statSync(file), { uid: 1234, gid: 42 });
  t.is(sys.lchown(link, 777, 888), 0);
  t.like(fs.lstatSync(link), { uid: 777, gid: 888 });
  t.like(fs.statSync(file), { uid: 1234, gid: 42 });
  t.is(sys.fchownat(sys.AT_FDCWD, link, 4000000000, 4000000001, 0), 0); // follows, 32-bit ids
  t.like(fs.statSync(file), { uid: 4000000000, gid: 4000000001 });
  t.like(fs.lstatSync(link), { uid: 777, gid: 888 });
  t.is(sys.fchownat(sys.AT_FDCWD, path.join(dir, 'nope'), 0, 0, 0), -sys.ENOENT);
});

rootTest('setfsuid/setfsgid: create files as another user, then switch back (root)', (t) => {
  const dir = tmpDir(t);
  fs.chmodSync(dir, 0o777);
  const secret = path.join(dir, 'secret');
  fs.writeFileSync(secret, 'x', { mode: 0o600 });
  const created = path.join(dir, 'mine');
  // synchronous from here to the restore: no other test runs on this thread in between
  const prevUid = sys.setfsuid(NOBODY);
  const prevGid = sys.setfsgid(NOBODY);
  let fd: number, denied: number, nowUid: number, nowGid: number;
  try {
    nowUid = sys.setfsuid(-1);
    nowGid = sys.setfsgid(-1);
    fd = sys.open(created, sys.O_CREAT | sys.O_EXCL | sys.O_WRONLY, 0o644);
    denied = sys.open(secret, sys.O_RDONLY, 0); // no CAP_DAC_OVERRIDE while fsuid != 0
  } finally {
    t.is(sys.setfsuid(prevUid), NOBODY);
    t.is(sys.setfsgid(prevGid), NOBODY);
  }
  t.is(prevUid, process.getuid!());
  t.is(prevGid, process.getgid!());
  t.is(nowUid, NOBODY);
  t.is(nowGid, NOBODY);
  t.true(fd >= 0);
  sys.close(fd);
  t.is(denied, -sys.EACCES);
  t.like(fs.statSync(created), { uid: NOBODY, gid: NOBODY });
  t.is(sys.setfsuid(-1), 0);
  const again = sys.open(secret, sys.O_RDONLY, 0); // root's capabilities are back
  t.true(again >= 0);
  sys.close(again);
});

test('openat2: RESOLVE_NO_SYMLINKS, RESOLVE_BENEATH, RESOLVE_IN_ROOT', (t) => {
  const root = tmpDir(t);
  fs.mkdirSync(path.join(root, 'sub'));
  fs.writeFileSync(path.join(root, 'sub', 'file'), 'inside');
  fs.symlinkSync('sub', path.join(root, 'link'));
  fs.symlinkSync('/etc', path.join(root, 'abs'));
  fs.writeFileSync(path.join(path.dirname(root), `outside-${path.basename(root)}`), 'outside');
  t.teardown(() => fs.rmSync(path.join(path.dirname(root), `outside-${path.basename(root)}`), { force: true }));
  const rfd = withFd(t, root, sys.O_PATH | sys.O_DIRECTORY);
  const ino = fs.statSync(path.join(root, 'sub', 'file')).ino;
  const out = sys.statArray();
  const opened = (fd: number): number => {
    t.true(fd >= 0, `openat2 failed: ${sys.errnoName(fd)}`);
    if (fd < 0) return -1;
    sys.check(sys.fstat(fd, out), 'fstat');
    sys.close(fd);
    return Number(out[sys.STAT_INO]);
  };

  const r = sys.openat2(rfd, 'sub/file', sys.O_RDONLY, 0, 0);
  if (r === -sys.ENOSYS) return t.pass('openat2 needs Linux 5.6');
  t.is(opened(r), ino);
  // a symlink component is refused with RESOLVE_NO_SYMLINKS, followed without it
  t.is(sys.openat2(rfd, 'link/file', sys.O_RDONLY, 0, sys.RESOLVE_NO_SYMLINKS), -sys.ELOOP);
  t.is(opened(sys.openat2(rfd, 'link/file', sys.O_RDONLY, 0, 0)), ino);
  // RESOLVE_BENEATH refuses escapes by .. and absolute symlinks
  const escape = `../outside-${path.basename(root)}`;
  t.is(sys.openat2(rfd, escape, sys.O_RDONLY, 0, sys.RESOLVE_BENEATH), -sys.EXDEV);
  t.is(sys.openat2(rfd, 'abs/hostname', sys.O_RDONLY, 0, sys.RESOLVE_BENEATH), -sys.EXDEV);
  t.is(sys.openat2(rfd, '/etc/hostname', sys.O_RDONLY, 0, sys.RESOLVE_BENEATH), -sys.EXDEV);
  t.true(fs.existsSync(path.join(root, escape)), 'the escape target exists: the refusal is real');
  t.is(opened(sys.openat2(rfd, 'sub/../sub/file', sys.O_RDONLY, 0, sys.RESOLVE_BENEATH)), ino);
  // RESOLVE_IN_ROOT: .. and absolute paths stay inside the root
  t.is(opened(sys.openat2(rfd, '../../sub/file', sys.O_RDONLY, 0, sys.RESOLVE_IN_ROOT)), ino);
  t.is(opened(sys.openat2(rfd, '/sub/file', sys.O_RDONLY, 0, sys.RESOLVE_IN_ROOT)), ino);
  t.is(sys.openat2(rfd, 'abs/hostname', sys.O_RDONLY, 0, sys.RESOLVE_IN_ROOT), -sys.ENOENT);
  // O_CREAT honours the mode; a mode without O_CREAT is ignored (the raw syscall would EINVAL)
  const fd = sys.openat2(rfd, 'sub/new', sys.O_CREAT | sys.O_EXCL | sys.O_WRONLY, 0o600, sys.RESOLVE_BENEATH);
  t.true(fd >= 0);
  sys.close(fd);
  t.is(fs.statSync(path.join(root, 'sub', 'new')).mode & 0o777, 0o600 & ~process.umask());
  t.is(opened(sys.openat2(rfd, 'sub/file', sys.O_RDONLY, 0o644, sys.RESOLVE_NO_SYMLINKS)), ino);
  t.is(sys.openat2(rfd, 'sub/file', sys.O_RDONLY, 0, 1n << 40n), -sys.EINVAL); // unknown resolve bit
  // fds are close-on-exec
  const cfd = sys.openat2(rfd, 'sub/file', sys.O_RDONLY, 0, 0);
  const flags = fs.readFileSync(`/proc/self/fdinfo/${cfd}`, 'utf8');
  sys.close(cfd);
  t.true((parseInt(/flags:\s+([0-7]+)/.exec(flags)![1], 8) & sys.O_CLOEXEC) !== 0);
});

// ---------------------------------------------------------------------------------------------
// locks

test('OFD locks conflict between two fds of one process; classic POSIX locks do not', (t) => {
  const file = path.join(tmpDir(t), 'f');
  fs.writeFileSync(file, Buffer.alloc(1000));
  const a = withFd(t, file, sys.O_RDWR);
  const b = withFd(t, file, sys.O_RDWR);
  t.is(sys.fcntlLock(a, sys.F_OFD_SETLK, sys.F_WRLCK, sys.SEEK_SET, 0, 100), 0);
  t.is(sys.fcntlLock(b, sys.F_OFD_SETLK, sys.F_WRLCK, sys.SEEK_SET, 50, 10), -sys.EAGAIN);
  t.is(sys.fcntlLock(b, sys.F_OFD_SETLK, sys.F_RDLCK, sys.SEEK_SET, 99, 1), -sys.EAGAIN);
  t.deepEqual(sys.fcntlLock(b, sys.F_OFD_GETLK, sys.F_WRLCK, sys.SEEK_SET, 50, 10), {
    type: sys.F_WRLCK, whence: sys.SEEK_SET, start: 0, len: 100, pid: -1,
  });
  t.is(sys.fcntlLock(b, sys.F_OFD_SETLK, sys.F_WRLCK, sys.SEEK_SET, 100, 10), 0); // adjacent: fine
  t.like(sys.fcntlLock(b, sys.F_OFD_GETLK, sys.F_WRLCK, sys.SEEK_SET, 200, 0), { type: sys.F_UNLCK });
  t.is(sys.fcntlLock(a, sys.F_OFD_SETLK, sys.F_UNLCK, sys.SEEK_SET, 0, 100), 0);
  t.is(sys.fcntlLock(b, sys.F_OFD_SETLK, sys.F_WRLCK, sys.SEEK_SET, 50, 10), 0);
  t.is(sys.fcntlLock(b, sys.F_OFD_SETLKW, sys.F_UNLCK, sys.SEEK_SET, 0, 0), 0);

  // classic locks belong to the process: two fds of ours never conflict...
  t.is(sys.fcntlLock(a, sys.F_SETLK, sys.F_WRLCK, sys.SEEK_SET, 0, 10), 0);
  t.is(sys.fcntlLock(b, sys.F_SETLK, sys.F_WRLCK, sys.SEEK_SET, 0, 10), 0);
  t.like(sys.fcntlLock(b, sys.F_GETLK, sys.F_WRLCK, sys.SEEK_SET, 0, 10), { type: sys.F_UNLCK });
  // ...but an OFD lock conflicts with them, and GETLK names our pid as the holder
  t.is(sys.fcntlLock(b, sys.F_OFD_SETLK, sys.F_WRLCK, sys.SEEK_SET, 5, 1), -sys.EAGAIN);
  t.deepEqual(sys.fcntlLock(b, sys.F_OFD_GETLK, sys.F_RDLCK, sys.SEEK_SET, 5, 1), {
    type: sys.F_WRLCK, whence: sys.SEEK_SET, start: 0, len: 10, pid: process.pid,
  });
  t.is(sys.fcntlLock(a, sys.F_SETLK, sys.F_UNLCK, sys.SEEK_SET, 0, 0), 0);
  t.is(sys.fcntlLock(b, sys.F_OFD_SETLK, sys.F_WRLCK, sys.SEEK_SET, 5, 1), 0);
  // a write lock needs a writable fd
  const ro = withFd(t, file, sys.O_RDONLY);
  t.is(sys.fcntlLock(ro, sys.F_OFD_SETLK, sys.F_WRLCK, sys.SEEK_SET, 500, 1), -sys.EBADF);
});

test('POSIX locks conflict with another process (F_GETLK reports its pid)', async (t) => {
  const file = path.join(tmpDir(t), 'f');
  fs.writeFileSync(file, Buffer.alloc(100));
  const script = `
    const s = require(${JSON.stringify(path.join(repoRoot, 'dist/src/native/sys.js'))});
    const fd = s.check(s.open(${JSON.stringify(file)}, s.O_RDWR, 0), 'open');
    s.check(s.fcntlLock(fd, s.F_SETLK, s.F_WRLCK, s.SEEK_SET, 10, 20), 'fcntl');
    process.stdout.write('locked\\n');
    process.stdin.on('data', () => {}); process.stdin.on('end', () => process.exit(0));
  `;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.teardown(() => child.kill());
  await waitForLine(child, 'locked');
  const fd = withFd(t, file, sys.O_RDWR);
  t.is(sys.fcntlLock(fd, sys.F_SETLK, sys.F_RDLCK, sys.SEEK_SET, 0, 11), -sys.EAGAIN);
  t.deepEqual(sys.fcntlLock(fd, sys.F_GETLK, sys.F_WRLCK, sys.SEEK_SET, 0, 0), {
    type: sys.F_WRLCK, whence: sys.SEEK_SET, start: 10, len: 20, pid: child.pid,
  });
  t.is(sys.fcntlLock(fd, sys.F_SETLK, sys.F_WRLCK, sys.SEEK_SET, 30, 5), 0);
  child.stdin!.end();
  await waitExit(child);
  t.is(sys.fcntlLock(fd, sys.F_SETLK, sys.F_WRLCK, sys.SEEK_SET, 0, 0), 0); // released at exit
});

test('flock: exclusive between two open file descriptions, LOCK_NB → EWOULDBLOCK', (t) => {
  const file = path.join(tmpDir(t), 'f');
  fs.writeFileSync(file, '');
  const a = withFd(t, file, sys.O_RDONLY);
  const b = withFd(t, file, sys.O_RDONLY);
  t.is(sys.flock(a, sys.LOCK_EX), 0);
  t.is(sys.flock(b, sys.LOCK_EX | sys.LOCK_NB), -sys.EWOULDBLOCK);
  t.is(sys.flock(b, sys.LOCK_SH | sys.LOCK_NB), -sys.EWOULDBLOCK);
  t.is(sys.flock(a, sys.LOCK_SH), 0); // downgrade
  t.is(sys.flock(b, sys.LOCK_SH | sys.LOCK_NB), 0);
  t.is(sys.flock(a, sys.LOCK_EX | sys.LOCK_NB), -sys.EWOULDBLOCK);
  t.is(sys.flock(b, sys.LOCK_UN), 0);
  t.is(sys.flock(a, sys.LOCK_EX | sys.LOCK_NB), 0);
  t.is(sys.flock(a, sys.LOCK_SH | sys.LOCK_EX), -sys.EINVAL);
});

// ---------------------------------------------------------------------------------------------
// /proc maps scan

/** Copies /bin/sleep to `dir` and runs the copy: the child maps that file (its executable). */
function spawnMappingSleep(t: ExecutionContext, dir: string): { child: ChildProcess; exe: string } {
  const exe = path.join(dir, 'mapped-sleep');
  fs.copyFileSync(fs.realpathSync(spawnSync('sh', ['-c', 'command -v sleep'], { encoding: 'utf8' }).stdout.trim()), exe);
  fs.chmodSync(exe, 0o755);
  const child = spawn(exe, ['300'], { stdio: 'ignore' });
  t.teardown(() => child.kill('SIGKILL'));
  return { child, exe };
}

async function waitUntil(pred: () => boolean, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (pred()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return pred();
}

test('scanMaps finds a child that maps a file, and not after it exits', async (t) => {
  const dir = tmpDir(t);
  const { child, exe } = spawnMappingSleep(t, dir);
  const st = fs.statSync(exe, { bigint: true });
  const ma = sys.devMajor(st.dev);
  const mi = sys.devMinor(st.dev);
  const has = (r: number[] | number): boolean => Array.isArray(r) && r.includes(child.pid!);
  t.true(await waitUntil(() => has(sys.scanMaps(ma, mi, st.ino))), 'found via scanMaps');
  t.true(has(sys.scanMaps(ma, mi, Number(st.ino))), 'number ino');
  t.true(has(sys.scanMaps(ma, mi, st.ino, { text: true })), 'found by parsing the text');
  const pids = sys.scanMaps(ma, mi, st.ino) as number[];
  t.deepEqual(pids, [child.pid!], 'only that process maps the copy');
  // the batch form, with a non-matching triple alongside
  const other = fs.statSync(path.join(dir), { bigint: true });
  t.deepEqual(sys.scanMapsFor([sys.mapKey(other.dev, other.ino), sys.mapKey(st.dev, st.ino)]), [child.pid!]);
  t.deepEqual(sys.scanMapsFor([sys.mapKey(other.dev, other.ino)]), []);
  t.deepEqual(sys.scanMapsFor([]), []);
  // same inode number on another device, or another inode: no match
  t.deepEqual(sys.scanMaps(ma + 1, mi, st.ino), []);
  t.deepEqual(sys.scanMaps(ma, mi, st.ino + 1000000n), []);
  t.deepEqual(sys.scanMaps(ma, mi, st.ino, { text: true }), [child.pid!]);

  child.kill('SIGKILL');
  await waitExit(child);
  t.deepEqual(sys.scanMaps(ma, mi, st.ino), []);
  t.deepEqual(sys.scanMaps(ma, mi, st.ino, { text: true }), []);
});

test('scanMapsFor: this process maps the node binary; both scan methods agree', (t) => {
  const node = fs.statSync(process.execPath, { bigint: true });
  const key = sys.mapKey(node.dev, node.ino);
  const viaQuery = sys.scanMapsFor([key]) as number[];
  const viaText = sys.scanMapsFor([key], { text: true }) as number[];
  t.true(Array.isArray(viaQuery) && viaQuery.includes(process.pid));
  t.true(Array.isArray(viaText) && viaText.includes(process.pid));
  t.deepEqual([...viaQuery].sort((x, y) => x - y), viaQuery, 'ascending');
  // other node processes may come and go between the scans; ours is in both
  const common = viaQuery.filter((p) => viaText.includes(p));
  t.true(common.includes(process.pid));
});

(hasPython ? test : test.skip)('scanMaps finds a MAP_SHARED data mapping (python3 child)', async (t) => {
  const dir = tmpDir(t);
  const file = path.join(dir, 'data');
  fs.writeFileSync(file, Buffer.alloc(65536, 1));
  const script = [
    'import mmap, sys',
    `f = open(${JSON.stringify(file)}, "r+b")`,
    'm = mmap.mmap(f.fileno(), 0, mmap.MAP_SHARED)',
    'f.close()',
    'print("ready", flush=True)',
    'sys.stdin.readline()',
    'm.close()',
    'print("unmapped", flush=True)',
    'sys.stdin.readline()',
  ].join('\n');
  const child = spawn('python3', ['-c', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.teardown(() => child.kill('SIGKILL'));
  const ready = waitForLine(child, 'ready');
  await ready;
  const st = fs.statSync(file, { bigint: true });
  const key = sys.mapKey(st.dev, st.ino);
  t.deepEqual(sys.scanMapsFor([key]), [child.pid!]);
  t.deepEqual(sys.scanMapsFor([key], { text: true }), [child.pid!]);
  // the mapping outlived the closed fd; after munmap it is gone though the process lives
  const unmapped = waitForLine(child, 'unmapped');
  child.stdin!.write('munmap\n');
  await unmapped;
  t.is(child.exitCode, null);
  t.deepEqual(sys.scanMapsFor([key]), []);
  child.stdin!.end('exit\n');
  await waitExit(child);
  t.is(child.exitCode, 0);
});

test('scanMaps with many processes (timing logged)', async (t) => {
  const dir = tmpDir(t);
  const { child: first, exe } = spawnMappingSleep(t, dir);
  const kids: ChildProcess[] = [];
  t.teardown(() => kids.forEach((k) => k.kill('SIGKILL')));
  for (let i = 0; i < 100; i++) kids.push(spawn(exe, ['300'], { stdio: 'ignore' }));
  const st = fs.statSync(exe, { bigint: true });
  const key = sys.mapKey(st.dev, st.ino);
  t.true(await waitUntil(() => {
    const r = sys.scanMapsFor([key]);
    return Array.isArray(r) && r.length === 101;
  }), 'all 101 children found');
  const n = fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).length;
  const times: number[] = [];
  for (let i = 0; i < 20; i++) {
    const t0 = process.hrtime.bigint();
    sys.scanMaps(0, 0, 1); // a full scan: matches nothing
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((x, y) => x - y);
  t.log(`full scan of ${n} processes: median ${times[10].toFixed(2)} ms, min ${times[0].toFixed(2)} ms`);
  const want = [first, ...kids].map((k) => k.pid!).sort((x, y) => x - y);
  t.deepEqual(sys.scanMapsFor([key]), want);
  t.deepEqual(sys.scanMapsFor([key], { text: true }), want);
});
