// The ioctls passed through to the backing file: the inode flags of lsattr/chattr and the
// extended attributes of xfs_io (project id, extent size hint). Only these, and only with the
// argument sizes their commands encode: an ioctl's argument is raw memory the daemon (root) would
// otherwise hand to the backing filesystem as it came. Anything else is ENOTTY, as on a file
// that does not know the command.
//
// FIEMAP cannot come here: the kernel answers FS_IOC_FIEMAP itself (EOPNOTSUPP) for a filesystem
// without a fiemap inode operation, which FUSE does not have (see docs/mount-options.md).
import * as os from 'os';
import * as sys from '../native/sys';
import { CAP, callerHasCap } from './caller';

const E = os.constants.errno;

/** _IOC(dir, type, nr, size) of asm-generic/ioctl.h. */
const ioc = (dir: number, type: string, nr: number, size: number) => ((dir << 30) | (size << 16) | (type.charCodeAt(0) << 8) | nr) >>> 0;
const ioctlSize = (cmd: number) => (cmd >>> 16) & 0x3fff;
const READ = 2;
const WRITE = 1;
/** struct fsxattr (linux/fs.h): xflags, extsize, nextents, projid, cowextsize, 8 bytes of padding. */
const FSXATTR_SIZE = 28;
/** FS_IOC_GETFLAGS and SETFLAGS are declared with a long but carry an int (the kernel reads 4 bytes). */
const FLAGS_SIZE = 4;

export const IOCTL = {
  FS_IOC_GETFLAGS: ioc(READ, 'f', 1, 8),
  FS_IOC_SETFLAGS: ioc(WRITE, 'f', 2, 8),
  FS_IOC32_GETFLAGS: ioc(READ, 'f', 1, 4),
  FS_IOC32_SETFLAGS: ioc(WRITE, 'f', 2, 4),
  FS_IOC_FSGETXATTR: ioc(READ, 'X', 31, FSXATTR_SIZE),
  FS_IOC_FSSETXATTR: ioc(WRITE, 'X', 32, FSXATTR_SIZE),
} as const;

/** Flags whose change needs CAP_LINUX_IMMUTABLE (chattr +a/+i), in each command's encoding. */
const FS_APPEND_FL = 0x20;
const FS_IMMUTABLE_FL = 0x10;
const FS_XFLAG_IMMUTABLE = 0x8;
const FS_XFLAG_APPEND = 0x10;

interface Known {
  /** The command sent to the backing file: the native one (the FS_IOC32_ forms are compat-only). */
  cmd: number;
  /** Bytes the kernel copies in (set) or expects back (get). */
  size: number;
  get: boolean;
  /** For a set: the get command that reads the current value, and the bits needing CAP_LINUX_IMMUTABLE. */
  getCmd?: number;
  guarded?: number;
}

const KNOWN = new Map<number, Known>([
  [IOCTL.FS_IOC_GETFLAGS, { cmd: IOCTL.FS_IOC_GETFLAGS, size: FLAGS_SIZE, get: true }],
  [IOCTL.FS_IOC32_GETFLAGS, { cmd: IOCTL.FS_IOC_GETFLAGS, size: FLAGS_SIZE, get: true }],
  [IOCTL.FS_IOC_SETFLAGS, { cmd: IOCTL.FS_IOC_SETFLAGS, size: FLAGS_SIZE, get: false, getCmd: IOCTL.FS_IOC_GETFLAGS, guarded: FS_APPEND_FL | FS_IMMUTABLE_FL }],
  [IOCTL.FS_IOC32_SETFLAGS, { cmd: IOCTL.FS_IOC_SETFLAGS, size: FLAGS_SIZE, get: false, getCmd: IOCTL.FS_IOC_GETFLAGS, guarded: FS_APPEND_FL | FS_IMMUTABLE_FL }],
  [IOCTL.FS_IOC_FSGETXATTR, { cmd: IOCTL.FS_IOC_FSGETXATTR, size: FSXATTR_SIZE, get: true }],
  [IOCTL.FS_IOC_FSSETXATTR, { cmd: IOCTL.FS_IOC_FSSETXATTR, size: FSXATTR_SIZE, get: false, getCmd: IOCTL.FS_IOC_FSGETXATTR, guarded: FS_XFLAG_IMMUTABLE | FS_XFLAG_APPEND }],
]);

export interface IoctlCaller { uid: number; pid: number }

export interface IoctlResult { result: number; out: Buffer; changed: boolean }

/**
 * Runs a known ioctl on the backing descriptor `fd` for `caller`: its result and output, or
 * -errno. The kernel sends a get with outSize bytes wanted and a set with `input` (4 bytes for the
 * flags, though the command says 8 on 64-bit). The kernel also checks a set (owner or CAP_FOWNER,
 * CAP_LINUX_IMMUTABLE for the append-only and immutable flags: vfs_fileattr_set); the same checks
 * are made here with the caller's credentials, so that the daemon's never stand in for them.
 */
export function backingIoctl(fd: number, caller: IoctlCaller, cmd: number, input: Buffer, outSize: number): IoctlResult | number {
  const k = KNOWN.get(cmd >>> 0);
  if (!k) return -E.ENOTTY;
  // As large as the native command says (8 for the flags' long), of which `size` bytes are data.
  const buf = Buffer.alloc(ioctlSize(k.cmd));
  if (k.get) {
    if (outSize < k.size) return -E.EINVAL;
    const r = sys.ioctlBuf(fd, k.cmd, buf);
    return r < 0 ? r : { result: r, out: buf.subarray(0, k.size), changed: false };
  }
  if (input.length < k.size) return -E.EINVAL;
  input.copy(buf, 0, 0, k.size);
  const st = sys.statArray();
  if (sys.fstat(fd, st) < 0) return -E.EBADF;
  if (caller.uid !== Number(st[sys.STAT_UID]) && !callerHasCap(caller, CAP.FOWNER)) return -E.EPERM;
  const old = Buffer.alloc(ioctlSize(k.getCmd!));
  const g = sys.ioctlBuf(fd, k.getCmd!, old);
  if (g < 0) return g;
  if (((old.readUInt32LE(0) ^ buf.readUInt32LE(0)) & k.guarded!) !== 0 && !callerHasCap(caller, CAP.LINUX_IMMUTABLE)) return -E.EPERM;
  const r = sys.ioctlBuf(fd, k.cmd, buf);
  return r < 0 ? r : { result: r, out: Buffer.alloc(0), changed: true };
}
