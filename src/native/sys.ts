// The dmapifs_sys native addon (native/sys/sys.c): Linux syscalls Node's fs module lacks, made for
// the FUSE daemon's hot path.
//
// Conventions:
//  - Every function is synchronous. A failing syscall RETURNS a negative errno (-ENOENT ...); it
//    never throws. Exceptions are thrown only for wrong arguments (TypeError for a wrong type,
//    RangeError for a non-integral or out-of-range number or a buffer window out of bounds).
//    `check(ret, syscall, path)` turns a negative result into a thrown ErrnoError.
//  - Paths (and xattr names) are strings (UTF-8) or Buffers (raw bytes). A path of PATH_MAX (4096)
//    bytes or more returns -ENAMETOOLONG; a NUL byte inside throws.
//  - 64-bit inputs are numbers (exact up to 2^53) or BigInts; 64-bit results are numbers.
//  - lstat/fstat/fstatat/statvfs write into a caller-provided BigUint64Array (see STAT_* and
//    STATVFS_* for the layout), so they allocate nothing. Seconds fields hold the raw 64-bit
//    pattern: a time before 1970 reads as a huge unsigned value; read it with
//    BigInt.asIntN(64, out[STAT_MTIME_SEC]) (statTimeSec/statTimeNs do that). A BigInt64Array is
//    accepted too and reads negative seconds directly.
//  - File descriptors opened by open/openat/openat2 are always close-on-exec.
//  - Blocking calls (F_SETLKW, flock without LOCK_NB, reads of a FIFO, mount of a slow device)
//    block the calling JS thread; a blocking lock wait interrupted by a signal returns -EINTR.

import * as fs from 'fs';
import type { Socket } from 'net';
import * as path from 'path';
import { ErrnoError } from './errno';
import { buildHint, packageRoot } from './addons';

export { ErrnoError, errnoCode, errnoMessage, errnoNumber, errnoOf, isErrnoError } from './errno';

/** A path: a string (encoded as UTF-8) or the raw bytes. */
export type PathArg = string | Uint8Array;
/** A 64-bit integer argument. */
export type Int64 = number | bigint;
/** Where stat/statvfs results go. */
export type U64Out = BigUint64Array | BigInt64Array;

export interface PeerCred {
  pid: number;
  uid: number;
  gid: number;
}

/** The conflicting lock reported by F_GETLK / F_OFD_GETLK (type F_UNLCK: none). */
export interface LockInfo {
  type: number;
  whence: number;
  start: number;
  len: number;
  /** The holder's pid; -1 when the holder is an OFD lock. */
  pid: number;
}

export interface ScanMapsOptions {
  /**
   * Parse the text of /proc/<pid>/maps even where the kernel offers the PROCMAP_QUERY ioctl
   * (Linux 6.11+, used by default and about a quarter cheaper). Older kernels always use the text.
   */
  text?: boolean;
}

/** A [major, minor, ino] triple for scanMapsFor. */
/** A directory listing: names with their d_ino and d_type (DT_*), "." and ".." left out. */
export interface DirListing { names: string[]; inos: BigUint64Array; types: Uint8Array }

export type MapKey = readonly [devMajor: number, devMinor: number, ino: Int64];

interface Binding {
  lstat(path: PathArg, out: U64Out): number;
  readdirat(dirfd: number, path: PathArg, encoding?: 'utf8' | 'latin1'): DirListing | number;
  fstat(fd: number, out: U64Out): number;
  fstatat(dirfd: number, path: PathArg, flags: number, out: U64Out): number;
  statvfs(path: PathArg, out: U64Out): number;
  open(path: PathArg, flags: number, mode?: number | null): number;
  openat(dirfd: number, path: PathArg, flags: number, mode?: number | null): number;
  openat2(dirfd: number, path: PathArg, flags: number, mode: number | null | undefined, resolve: Int64): number;
  close(fd: number): number;
  pread(fd: number, buffer: ArrayBufferView, offset?: number | null, length?: number | null, position?: Int64 | null): number;
  pwrite(fd: number, buffer: ArrayBufferView, offset?: number | null, length?: number | null, position?: Int64 | null): number;
  fallocate(fd: number, mode: number, offset: Int64, length: Int64): number;
  punchHole(fd: number, offset: Int64, length: Int64): number;
  lseek(fd: number, offset: Int64, whence: number): number;
  ioctlBuf(fd: number, cmd: number, buffer: ArrayBufferView): number;
  copyFileRange(fdIn: number, offIn: Int64, fdOut: number, offOut: Int64, length: Int64, flags: number): number;
  ftruncate(fd: number, length: Int64): number;
  truncate(path: PathArg, length: Int64): number;
  fsync(fd: number): number;
  fdatasync(fd: number): number;
  lgetxattr(path: PathArg, name: PathArg): Buffer | number;
  lsetxattr(path: PathArg, name: PathArg, value: ArrayBufferView | string, flags?: number): number;
  llistxattr(path: PathArg): string[] | number;
  lremovexattr(path: PathArg, name: PathArg): number;
  fgetxattr(fd: number, name: PathArg): Buffer | number;
  fgetxattrInto(fd: number, name: PathArg, buffer: ArrayBufferView): number;
  fsetxattr(fd: number, name: PathArg, value: ArrayBufferView | string, flags?: number): number;
  flistxattr(fd: number): string[] | number;
  fremovexattr(fd: number, name: PathArg): number;
  peerCred(fd: number): PeerCred | number;
  sdNotify(path: Buffer, message: Buffer): number;
  getVersion(fd: number): number;
  utimensat(dirfd: number, path: PathArg | null, atimeSec: Int64 | null, atimeNsec: number, mtimeSec: Int64 | null, mtimeNsec: number, flags?: number): number;
  futimens(fd: number, atimeSec: Int64 | null, atimeNsec: number, mtimeSec: Int64 | null, mtimeNsec: number): number;
  mknod(path: PathArg, mode: number, dev?: Int64): number;
  mknodat(dirfd: number, path: PathArg, mode: number, dev?: Int64): number;
  fchownat(dirfd: number, path: PathArg, uid: number, gid: number, flags?: number): number;
  fchown(fd: number, uid: number, gid: number): number;
  fchmod(fd: number, mode: number): number;
  fchmodat(dirfd: number, path: PathArg, mode: number, flags?: number): number;
  renameat2(olddirfd: number, oldpath: PathArg, newdirfd: number, newpath: PathArg, flags?: number): number;
  linkat(olddirfd: number, oldpath: PathArg, newdirfd: number, newpath: PathArg, flags?: number): number;
  symlinkat(target: PathArg, newdirfd: number, linkpath: PathArg): number;
  readlinkat(dirfd: number, path: PathArg, encoding?: 'utf8' | 'latin1'): string | number;
  mkdirat(dirfd: number, path: PathArg, mode: number): number;
  unlinkat(dirfd: number, path: PathArg, flags?: number): number;
  access(path: PathArg, mode: number): number;
  faccessat(dirfd: number, path: PathArg, mode: number, flags?: number): number;
  setfsuid(uid: number): number;
  setfsgid(gid: number): number;
  capEffective(cap: number, on: boolean): number;
  clearAppend(fd: number): number;
  flock(fd: number, op: number): number;
  fcntlLock(fd: number, cmd: number, type: number, whence: number, start: Int64, len: Int64): LockInfo | number;
  mount(source: PathArg | null, target: PathArg, fstype: string | null, flags: number, data: string | null): number;
  umount2(target: PathArg, flags?: number): number;
  errnoName(errno: number): string | undefined;
  strerror(errno: number): string;
  scanMaps(devMajor: number, devMinor: number, ino: Int64, options?: ScanMapsOptions): number[] | number;
  scanMapsFor(list: ReadonlyArray<MapKey>, options?: ScanMapsOptions): number[] | number;
  errno: Record<string, number>;
  [constant: string]: unknown;
}

/** The package root: the nearest ancestor with package.json and native/sys (from src/ or dist/src/). */
/** Where the addon is looked for: $DMAPIFS_SYS_ADDON, else native/sys/build/{Release,Debug}. */
export function addonPath(): string {
  const env = process.env.DMAPIFS_SYS_ADDON;
  if (env) return path.resolve(env);
  const root = packageRoot();
  const release = path.join(root, 'native', 'sys', 'build', 'Release', 'dmapifs_sys.node');
  const debug = path.join(root, 'native', 'sys', 'build', 'Debug', 'dmapifs_sys.node');
  return !fs.existsSync(release) && fs.existsSync(debug) ? debug : release;
}

function load(): Binding {
  const file = addonPath();
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    return require(file) as Binding;
  } catch (err) {
    const e = new Error(
      `dmapifs: cannot load the native syscall addon ${file} (${(err as Error).message.split('\n')[0]}): ${buildHint()}`,
    );
    (e as Error & { cause?: unknown }).cause = err;
    throw e;
  }
}

const b: Binding = load();

function k(name: string): number {
  const v = b[name];
  if (typeof v !== 'number') throw new Error(`dmapifs: native addon lacks the constant ${name}`);
  return v;
}

// ---- functions (the native functions themselves: no JS wrapper on the hot path) ----

/** lstat(2) into out[STAT_FIELDS] → 0 | -errno. */
export const lstat: Binding['lstat'] = b.lstat;
/** readdirat(dirfd, path, encoding?) → listing with exact 64-bit inode numbers and types | -errno (O_NOFOLLOW on the directory; 'latin1' gives names one char per byte). */
export const readdirat: Binding['readdirat'] = b.readdirat;
/** fstat(2) into out[STAT_FIELDS] → 0 | -errno. */
export const fstat: Binding['fstat'] = b.fstat;
/** fstatat(2) (flags: AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH...) into out[STAT_FIELDS] → 0 | -errno. */
export const fstatat: Binding['fstatat'] = b.fstatat;
/** statvfs(3) into out[STATVFS_FIELDS] → 0 | -errno. */
export const statvfs: Binding['statvfs'] = b.statvfs;
/** open(2) → fd | -errno (O_CLOEXEC always added). */
export const open: Binding['open'] = b.open;
/** openat(2) → fd | -errno (O_CLOEXEC always added). */
export const openat: Binding['openat'] = b.openat;
/**
 * openat2(2) → fd | -errno; `resolve` is a mask of RESOLVE_*. The mode is ignored unless O_CREAT or
 * O_TMPFILE is given (the raw syscall would fail EINVAL). -ENOSYS before Linux 5.6.
 */
export const openat2: Binding['openat2'] = b.openat2;
/** close(2) → 0 | -errno (EINTR counts as closed: 0). */
export const close: Binding['close'] = b.close;
/**
 * pread(fd, buffer, offset = 0, length = rest, position) → bytes read | -errno. `offset`/`length`
 * address bytes of the buffer (checked: RangeError). position null/undefined/-1: read(2) at the
 * file position.
 */
export const pread: Binding['pread'] = b.pread;
/** pwrite(fd, buffer, offset, length, position) → bytes written | -errno; like pread. */
export const pwrite: Binding['pwrite'] = b.pwrite;
/** fallocate(2) with FALLOC_FL_* mode → 0 | -errno. */
export const fallocate: Binding['fallocate'] = b.fallocate;
/** fallocate(PUNCH_HOLE | KEEP_SIZE): deallocates, keeps the size; reads then return zeros. */
export const punchHole: Binding['punchHole'] = b.punchHole;
/**
 * ioctl(2) whose argument points to a buffer of _IOC_SIZE(cmd) bytes (e.g. FS_IOC_GETFLAGS) →
 * the ioctl's result | -errno; -EINVAL when the buffer is smaller than that size.
 */
export const ioctlBuf: Binding['ioctlBuf'] = b.ioctlBuf;
/** copy_file_range(2) at explicit offsets (the file positions stay) → bytes copied | -errno. */
export const copyFileRange: Binding['copyFileRange'] = b.copyFileRange;
/** lseek(2) → offset | -errno. SEEK_DATA/SEEK_HOLE at or past EOF: -ENXIO. */
export const lseek: Binding['lseek'] = b.lseek;
export const ftruncate: Binding['ftruncate'] = b.ftruncate;
export const truncate: Binding['truncate'] = b.truncate;
export const fsync: Binding['fsync'] = b.fsync;
export const fdatasync: Binding['fdatasync'] = b.fdatasync;
/** lgetxattr(2) (the symlink itself, never its target) → the whole value, any size | -errno. */
export const lgetxattr: Binding['lgetxattr'] = b.lgetxattr;
/** lsetxattr(2): value Buffer/TypedArray or string (UTF-8), flags XATTR_CREATE/XATTR_REPLACE. */
export const lsetxattr: Binding['lsetxattr'] = b.lsetxattr;
/** llistxattr(2) → names (all namespaces the caller may see) | -errno. */
export const llistxattr: Binding['llistxattr'] = b.llistxattr;
export const lremovexattr: Binding['lremovexattr'] = b.lremovexattr;
export const fgetxattr: Binding['fgetxattr'] = b.fgetxattr;
export const fgetxattrInto: Binding['fgetxattrInto'] = b.fgetxattrInto;
export const fsetxattr: Binding['fsetxattr'] = b.fsetxattr;
export const flistxattr: Binding['flistxattr'] = b.flistxattr;
export const fremovexattr: Binding['fremovexattr'] = b.fremovexattr;
/** SO_PEERCRED of a Unix socket fd: the peer's {pid, uid, gid} at connect() | -errno. */
export const peerCred: Binding['peerCred'] = b.peerCred;
/** One datagram to a service manager's notification socket (sd_notify(3)) → 0 | -errno. */
export const sdNotify: Binding['sdNotify'] = b.sdNotify;
/**
 * FS_IOC_GETVERSION: the inode generation (unsigned 32-bit, never negative) | -errno (-ENOTTY or
 * -EOPNOTSUPP where the filesystem has none, e.g. tmpfs).
 */
export const getVersion: Binding['getVersion'] = b.getVersion;
/**
 * utimensat(2): seconds (may be negative) and nanoseconds, or UTIME_NOW / UTIME_OMIT as the
 * nanoseconds (the seconds are then ignored, may be null). path null: the dirfd itself.
 */
export const utimensat: Binding['utimensat'] = b.utimensat;
export const futimens: Binding['futimens'] = b.futimens;
/** mknod(2): regular files, FIFOs, sockets, devices (dev = makedev(major, minor)). */
export const mknod: Binding['mknod'] = b.mknod;
export const mknodat: Binding['mknodat'] = b.mknodat;
/** fchownat(2); uid/gid -1 leave it unchanged. */
export const fchownat: Binding['fchownat'] = b.fchownat;
export const fchown: Binding['fchown'] = b.fchown;
export const fchmod: Binding['fchmod'] = b.fchmod;
export const fchmodat: Binding['fchmodat'] = b.fchmodat;
/** renameat2(2) with RENAME_NOREPLACE / RENAME_EXCHANGE / RENAME_WHITEOUT. */
export const renameat2: Binding['renameat2'] = b.renameat2;
export const linkat: Binding['linkat'] = b.linkat;
export const symlinkat: Binding['symlinkat'] = b.symlinkat;
/** readlinkat(2) → the target (UTF-8 decoded, or one char per byte with 'latin1') | -errno. */
export const readlinkat: Binding['readlinkat'] = b.readlinkat;
export const mkdirat: Binding['mkdirat'] = b.mkdirat;
/** unlinkat(2); AT_REMOVEDIR for directories. */
export const unlinkat: Binding['unlinkat'] = b.unlinkat;
export const access: Binding['access'] = b.access;
export const faccessat: Binding['faccessat'] = b.faccessat;
/**
 * setfsuid(2) / setfsgid(2) → the previous value. They act on the calling THREAD only, so the
 * daemon can create a file as its caller and switch back. -1 only queries. No error is reported:
 * call again with -1 to see whether the change took effect. Leaving fsuid 0 drops the
 * filesystem capabilities (CAP_DAC_OVERRIDE, CAP_CHOWN...) until it is set back to 0.
 */
export const setfsuid: Binding['setfsuid'] = b.setfsuid;
export const setfsgid: Binding['setfsgid'] = b.setfsgid;
/** Raises or drops one capability in this thread's effective set; the previous state (1/0) or -errno. */
export const capEffective: Binding['capEffective'] = b.capEffective;
export const CAP_SYS_RESOURCE = 24;
/** Drops O_APPEND from an open file (F_SETFL) → 0 | -errno (-EPERM for an append-only inode). */
export const clearAppend: Binding['clearAppend'] = b.clearAppend;
/** flock(2) with LOCK_SH/LOCK_EX/LOCK_UN | LOCK_NB → 0 | -errno (-EWOULDBLOCK on conflict). */
export const flock: Binding['flock'] = b.flock;
/**
 * fcntl record locks: cmd F_SETLK/F_SETLKW/F_OFD_SETLK/F_OFD_SETLKW → 0 | -errno (-EAGAIN or
 * -EACCES on conflict); F_GETLK/F_OFD_GETLK → LockInfo | -errno. Any other cmd: -EINVAL.
 */
export const fcntlLock: Binding['fcntlLock'] = b.fcntlLock;
/** mount(2). */
export const mount: Binding['mount'] = b.mount;
/** umount2(2) with MNT_FORCE / MNT_DETACH / MNT_EXPIRE / UMOUNT_NOFOLLOW. */
export const umount2: Binding['umount2'] = b.umount2;
/** The Linux name of an errno (positive or negative): 'ENOENT'; undefined if unknown. */
export const errnoName: Binding['errnoName'] = b.errnoName;
/** The C library's message for an errno (positive or negative). */
export const strerror: Binding['strerror'] = b.strerror;
/**
 * The pids (ascending) of the processes that map the file (devMajor:devMinor, ino), from
 * /proc/<pid>/maps; processes that vanish or cannot be read (another user's, unless root) are
 * skipped. `ino` may be a BigInt for inode numbers above 2^53. → pid[] | -errno (/proc unreadable).
 * The dev is the one the mapping was made through: for a file mapped through a FUSE mount, the
 * FUSE superblock's dev, so check every (dev, ino) a file is reachable as (scanMapsFor).
 * The processes are spread over up to min(CPUs, 8) threads; the call still returns synchronously.
 * A mapping made after the scan passed a process is not seen.
 */
export const scanMaps: Binding['scanMaps'] = b.scanMaps;
/** Like scanMaps for any of several [major, minor, ino] triples, in one pass over /proc. */
export const scanMapsFor: Binding['scanMapsFor'] = b.scanMapsFor;

// ---- stat layout ----

export const STAT_DEV = 0;
export const STAT_INO = 1;
export const STAT_MODE = 2;
export const STAT_NLINK = 3;
export const STAT_UID = 4;
export const STAT_GID = 5;
export const STAT_RDEV = 6;
export const STAT_SIZE = 7;
export const STAT_BLKSIZE = 8;
export const STAT_BLOCKS = 9;
export const STAT_ATIME_SEC = 10;
export const STAT_ATIME_NSEC = 11;
export const STAT_MTIME_SEC = 12;
export const STAT_MTIME_NSEC = 13;
export const STAT_CTIME_SEC = 14;
export const STAT_CTIME_NSEC = 15;
export const STAT_FIELDS = 16;

export const STATVFS_BSIZE = 0;
export const STATVFS_FRSIZE = 1;
export const STATVFS_BLOCKS = 2;
export const STATVFS_BFREE = 3;
export const STATVFS_BAVAIL = 4;
export const STATVFS_FILES = 5;
export const STATVFS_FFREE = 6;
export const STATVFS_FAVAIL = 7;
export const STATVFS_FSID = 8;
export const STATVFS_FLAG = 9;
export const STATVFS_NAMEMAX = 10;
export const STATVFS_FIELDS = 11;

if (k('STAT_FIELDS') !== STAT_FIELDS || k('STATVFS_FIELDS') !== STATVFS_FIELDS) {
  throw new Error('dmapifs: native addon stat layout does not match src/native/sys.ts; rebuild it');
}

// ---- constants ----

export const O_RDONLY = k('O_RDONLY');
export const O_WRONLY = k('O_WRONLY');
export const O_RDWR = k('O_RDWR');
export const O_ACCMODE = k('O_ACCMODE');
export const O_CREAT = k('O_CREAT');
export const O_EXCL = k('O_EXCL');
export const O_NOCTTY = k('O_NOCTTY');
export const O_TRUNC = k('O_TRUNC');
export const O_APPEND = k('O_APPEND');
export const O_NONBLOCK = k('O_NONBLOCK');
export const O_DSYNC = k('O_DSYNC');
export const O_SYNC = k('O_SYNC');
export const O_DIRECT = k('O_DIRECT');
export const O_DIRECTORY = k('O_DIRECTORY');
export const O_NOFOLLOW = k('O_NOFOLLOW');
export const O_NOATIME = k('O_NOATIME');
export const O_CLOEXEC = k('O_CLOEXEC');
export const O_PATH = k('O_PATH');
export const O_TMPFILE = k('O_TMPFILE');

export const RESOLVE_NO_XDEV = k('RESOLVE_NO_XDEV');
export const RESOLVE_NO_MAGICLINKS = k('RESOLVE_NO_MAGICLINKS');
export const RESOLVE_NO_SYMLINKS = k('RESOLVE_NO_SYMLINKS');
export const RESOLVE_BENEATH = k('RESOLVE_BENEATH');
export const RESOLVE_IN_ROOT = k('RESOLVE_IN_ROOT');
export const RESOLVE_CACHED = k('RESOLVE_CACHED');

export const AT_FDCWD = k('AT_FDCWD');
export const AT_SYMLINK_NOFOLLOW = k('AT_SYMLINK_NOFOLLOW');
export const AT_SYMLINK_FOLLOW = k('AT_SYMLINK_FOLLOW');
export const AT_REMOVEDIR = k('AT_REMOVEDIR');
export const AT_EACCESS = k('AT_EACCESS');
export const AT_EMPTY_PATH = k('AT_EMPTY_PATH');
export const AT_NO_AUTOMOUNT = k('AT_NO_AUTOMOUNT');

export const F_OK = k('F_OK');
export const R_OK = k('R_OK');
export const W_OK = k('W_OK');
export const X_OK = k('X_OK');

export const S_IFMT = k('S_IFMT');
export const S_IFSOCK = k('S_IFSOCK');
export const S_IFLNK = k('S_IFLNK');
export const S_IFREG = k('S_IFREG');
export const S_IFBLK = k('S_IFBLK');
export const S_IFDIR = k('S_IFDIR');
export const S_IFCHR = k('S_IFCHR');
export const S_IFIFO = k('S_IFIFO');
export const S_ISUID = k('S_ISUID');
export const S_ISGID = k('S_ISGID');
export const S_ISVTX = k('S_ISVTX');

export const SEEK_SET = k('SEEK_SET');
export const SEEK_CUR = k('SEEK_CUR');
export const SEEK_END = k('SEEK_END');
export const SEEK_DATA = k('SEEK_DATA');
export const SEEK_HOLE = k('SEEK_HOLE');

export const FALLOC_FL_KEEP_SIZE = k('FALLOC_FL_KEEP_SIZE');
export const FALLOC_FL_PUNCH_HOLE = k('FALLOC_FL_PUNCH_HOLE');
export const FALLOC_FL_COLLAPSE_RANGE = k('FALLOC_FL_COLLAPSE_RANGE');
export const FALLOC_FL_ZERO_RANGE = k('FALLOC_FL_ZERO_RANGE');
export const FALLOC_FL_INSERT_RANGE = k('FALLOC_FL_INSERT_RANGE');
export const FALLOC_FL_UNSHARE_RANGE = k('FALLOC_FL_UNSHARE_RANGE');

export const XATTR_CREATE = k('XATTR_CREATE');
export const XATTR_REPLACE = k('XATTR_REPLACE');

export const UTIME_NOW = k('UTIME_NOW');
export const UTIME_OMIT = k('UTIME_OMIT');

export const RENAME_NOREPLACE = k('RENAME_NOREPLACE');
export const RENAME_EXCHANGE = k('RENAME_EXCHANGE');
export const RENAME_WHITEOUT = k('RENAME_WHITEOUT');

export const LOCK_SH = k('LOCK_SH');
export const LOCK_EX = k('LOCK_EX');
export const LOCK_UN = k('LOCK_UN');
export const LOCK_NB = k('LOCK_NB');
export const F_GETLK = k('F_GETLK');
export const F_SETLK = k('F_SETLK');
export const F_SETLKW = k('F_SETLKW');
export const F_OFD_GETLK = k('F_OFD_GETLK');
export const F_OFD_SETLK = k('F_OFD_SETLK');
export const F_OFD_SETLKW = k('F_OFD_SETLKW');
export const F_RDLCK = k('F_RDLCK');
export const F_WRLCK = k('F_WRLCK');
export const F_UNLCK = k('F_UNLCK');

export const MS_RDONLY = k('MS_RDONLY');
export const MS_NOSUID = k('MS_NOSUID');
export const MS_NODEV = k('MS_NODEV');
export const MS_NOEXEC = k('MS_NOEXEC');
export const MS_SYNCHRONOUS = k('MS_SYNCHRONOUS');
export const MS_REMOUNT = k('MS_REMOUNT');
export const MS_MANDLOCK = k('MS_MANDLOCK');
export const MS_DIRSYNC = k('MS_DIRSYNC');
export const MS_NOATIME = k('MS_NOATIME');
export const MS_NODIRATIME = k('MS_NODIRATIME');
export const MS_BIND = k('MS_BIND');
export const MS_MOVE = k('MS_MOVE');
export const MS_REC = k('MS_REC');
export const MS_SILENT = k('MS_SILENT');
export const MS_UNBINDABLE = k('MS_UNBINDABLE');
export const MS_PRIVATE = k('MS_PRIVATE');
export const MS_SLAVE = k('MS_SLAVE');
export const MS_SHARED = k('MS_SHARED');
export const MS_RELATIME = k('MS_RELATIME');
export const MS_STRICTATIME = k('MS_STRICTATIME');
export const MS_LAZYTIME = k('MS_LAZYTIME');
export const MNT_FORCE = k('MNT_FORCE');
export const MNT_DETACH = k('MNT_DETACH');
export const MNT_EXPIRE = k('MNT_EXPIRE');
export const UMOUNT_NOFOLLOW = k('UMOUNT_NOFOLLOW');

// ---- errno numbers (Linux values, from the addon) ----

/** Every errno name the addon knows, including the aliases EWOULDBLOCK, EDEADLOCK, ENOTSUP. */
export const errno: Readonly<Record<string, number>> = Object.freeze({ ...b.errno });

function e(name: string): number {
  const v = b.errno[name];
  if (typeof v !== 'number') throw new Error(`dmapifs: native addon lacks errno ${name}`);
  return v;
}

export const EPERM = e('EPERM');
export const ENOENT = e('ENOENT');
export const ESRCH = e('ESRCH');
export const EINTR = e('EINTR');
export const EIO = e('EIO');
export const ENXIO = e('ENXIO');
export const E2BIG = e('E2BIG');
export const EBADF = e('EBADF');
export const ECHILD = e('ECHILD');
export const EAGAIN = e('EAGAIN');
export const EWOULDBLOCK = e('EWOULDBLOCK');
export const ENOMEM = e('ENOMEM');
export const EACCES = e('EACCES');
export const EFAULT = e('EFAULT');
export const EBUSY = e('EBUSY');
export const EEXIST = e('EEXIST');
export const EXDEV = e('EXDEV');
export const ENODEV = e('ENODEV');
export const ENOTDIR = e('ENOTDIR');
export const EISDIR = e('EISDIR');
export const EINVAL = e('EINVAL');
export const ENFILE = e('ENFILE');
export const EMFILE = e('EMFILE');
export const ENOTTY = e('ENOTTY');
export const ETXTBSY = e('ETXTBSY');
export const EFBIG = e('EFBIG');
export const ENOSPC = e('ENOSPC');
export const ESPIPE = e('ESPIPE');
export const EROFS = e('EROFS');
export const EMLINK = e('EMLINK');
export const EPIPE = e('EPIPE');
export const ERANGE = e('ERANGE');
export const EDEADLK = e('EDEADLK');
export const ENAMETOOLONG = e('ENAMETOOLONG');
export const ENOLCK = e('ENOLCK');
export const ENOSYS = e('ENOSYS');
export const ENOTEMPTY = e('ENOTEMPTY');
export const ELOOP = e('ELOOP');
export const ENODATA = e('ENODATA');
export const EOVERFLOW = e('EOVERFLOW');
export const ENOTSOCK = e('ENOTSOCK');
export const EOPNOTSUPP = e('EOPNOTSUPP');
export const ENOTSUP = e('ENOTSUP');
export const ENOTCONN = e('ENOTCONN');
export const ECONNREFUSED = e('ECONNREFUSED');
export const ETIMEDOUT = e('ETIMEDOUT');
export const ESTALE = e('ESTALE');
export const EDQUOT = e('EDQUOT');
export const ECANCELED = e('ECANCELED');
export const EILSEQ = e('EILSEQ');

// ---- convenience ----

/**
 * Throws an ErrnoError when `ret` is a negative number (a -errno result), else returns it.
 *   const fd = sys.check(sys.open(p, sys.O_RDONLY), 'open', p);
 *   const value = sys.check(sys.lgetxattr(p, 'user.x'), 'lgetxattr', p);   // Buffer
 */
export function check(ret: number, syscall: string, path?: string, dest?: string): number;
export function check<T>(ret: T | number, syscall: string, path?: string, dest?: string): T;
export function check<T>(ret: T | number, syscall: string, path?: string, dest?: string): T | number {
  if (typeof ret === 'number' && ret < 0) throw new ErrnoError(-ret, syscall, path, dest);
  return ret;
}

/** A fresh result array for lstat/fstat/fstatat. */
export function statArray(): BigUint64Array {
  return new BigUint64Array(STAT_FIELDS);
}

/** A fresh result array for statvfs. */
export function statvfsArray(): BigUint64Array {
  return new BigUint64Array(STATVFS_FIELDS);
}

type TimeIndex = typeof STAT_ATIME_SEC | typeof STAT_MTIME_SEC | typeof STAT_CTIME_SEC;

/** The signed seconds of a stat time (index STAT_ATIME_SEC, STAT_MTIME_SEC or STAT_CTIME_SEC). */
export function statTimeSec(out: U64Out, secIndex: TimeIndex): bigint {
  return BigInt.asIntN(64, out[secIndex]);
}

/** A stat time as nanoseconds since the epoch (negative before 1970), like Node's *timeNs. */
export function statTimeNs(out: U64Out, secIndex: TimeIndex): bigint {
  return BigInt.asIntN(64, out[secIndex]) * 1_000_000_000n + BigInt.asIntN(64, out[secIndex + 1]);
}

/** A decoded stat result (allocates; the raw arrays are for the hot path). */
export interface StatInfo {
  dev: bigint;
  ino: bigint;
  mode: number;
  nlink: bigint;
  uid: number;
  gid: number;
  rdev: bigint;
  size: bigint;
  blksize: bigint;
  blocks: bigint;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

export function decodeStat(out: U64Out): StatInfo {
  const u = (i: number): bigint => BigInt.asUintN(64, out[i]);
  return {
    dev: u(STAT_DEV),
    ino: u(STAT_INO),
    mode: Number(u(STAT_MODE)),
    nlink: u(STAT_NLINK),
    uid: Number(u(STAT_UID)),
    gid: Number(u(STAT_GID)),
    rdev: u(STAT_RDEV),
    size: BigInt.asIntN(64, out[STAT_SIZE]),
    blksize: BigInt.asIntN(64, out[STAT_BLKSIZE]),
    blocks: BigInt.asIntN(64, out[STAT_BLOCKS]),
    atimeNs: statTimeNs(out, STAT_ATIME_SEC),
    mtimeNs: statTimeNs(out, STAT_MTIME_SEC),
    ctimeNs: statTimeNs(out, STAT_CTIME_SEC),
  };
}

/** lstat that throws an ErrnoError, decoded. */
export function lstatInfo(p: string): StatInfo {
  const out = statArray();
  check(lstat(p, out), 'lstat', p);
  return decodeStat(out);
}

/** fstat that throws an ErrnoError, decoded. */
export function fstatInfo(fd: number): StatInfo {
  const out = statArray();
  check(fstat(fd, out), 'fstat');
  return decodeStat(out);
}

/** lchown(path, uid, gid) = fchownat(AT_FDCWD, path, uid, gid, AT_SYMLINK_NOFOLLOW). */
export function lchown(p: PathArg, uid: number, gid: number): number {
  return b.fchownat(AT_FDCWD, p, uid, gid, AT_SYMLINK_NOFOLLOW);
}

/** The glibc dev_t encoding of (major, minor), as mknod wants it. */
export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major >>> 0);
  const mi = BigInt(minor >>> 0);
  return ((ma & 0xfffff000n) << 32n) | ((ma & 0xfffn) << 8n) | ((mi & 0xffffff00n) << 12n) | (mi & 0xffn);
}

/** The major number of a dev_t (number or bigint, e.g. st.dev). */
export function devMajor(dev: Int64): number {
  const d = BigInt.asUintN(64, BigInt(dev));
  return Number(((d >> 32n) & 0xfffff000n) | ((d >> 8n) & 0xfffn));
}

/** The minor number of a dev_t (number or bigint). */
export function devMinor(dev: Int64): number {
  const d = BigInt.asUintN(64, BigInt(dev));
  return Number(((d >> 12n) & 0xffffff00n) | (d & 0xffn));
}

/** The scanMapsFor key of a file: its dev split into major/minor, and its inode number. */
export function mapKey(dev: Int64, ino: Int64): MapKey {
  return [devMajor(dev), devMinor(dev), typeof ino === 'bigint' ? ino : BigInt(ino)];
}

/**
 * SO_PEERCRED of a connected net.Socket on a Unix socket (its fd is `_handle.fd`, a libuv
 * internal) → {pid, uid, gid} | -errno (-EBADF when the socket has no fd: closed, or not a
 * libuv stream with one).
 */
export function peerCredOfSocket(sock: Socket): PeerCred | number {
  const handle = (sock as unknown as { _handle?: { fd?: unknown } | null })._handle;
  const fd = handle?.fd;
  if (typeof fd !== 'number' || fd < 0) return -EBADF;
  return b.peerCred(fd);
}
