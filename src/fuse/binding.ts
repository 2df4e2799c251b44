// Loads the native half of our fuse-native build (native/fuse/binding.c) and types it.
import * as path from 'path';
import { buildHint, packageRoot } from '../native/addons';

/** Stat arrays are BigUint64Array(16) in this order (shared with src/native/sys.ts). */
export const ST = {
  DEV: 0, INO: 1, MODE: 2, NLINK: 3, UID: 4, GID: 5, RDEV: 6, SIZE: 7, BLKSIZE: 8, BLOCKS: 9,
  ATIME: 10, ATIME_NS: 11, MTIME: 12, MTIME_NS: 13, CTIME: 14, CTIME_NS: 15, FIELDS: 16,
} as const;

/** Bits of the open reply (fuse_file_info flags). */
export const OPEN = { DIRECT_IO: 1, KEEP_CACHE: 2, NONSEEKABLE: 4, CACHE_READDIR: 8, NOFLUSH: 16 } as const;

export type Req = number;

export interface RawOps {
  init?(protoMajor: number, protoMinor: number, want: number, maxWrite: number): void;
  lookup?(req: Req, parent: number, name: string): void;
  forget?(ino: number, nlookup: number): void;
  getattr?(req: Req, ino: number, fh: number): void;
  setattr?(req: Req, ino: number, toSet: number, fh: number, mode: number, uid: number, gid: number,
    size: number, atime: number, atimeNs: number, mtime: number, mtimeNs: number, ctime: number): void;
  readlink?(req: Req, ino: number): void;
  mknod?(req: Req, parent: number, name: string, mode: number, rdev: number): void;
  mkdir?(req: Req, parent: number, name: string, mode: number): void;
  unlink?(req: Req, parent: number, name: string): void;
  rmdir?(req: Req, parent: number, name: string): void;
  symlink?(req: Req, target: string, parent: number, name: string): void;
  rename?(req: Req, parent: number, name: string, newParent: number, newName: string, flags: number): void;
  link?(req: Req, ino: number, newParent: number, newName: string): void;
  open?(req: Req, ino: number, flags: number): void;
  read?(req: Req, ino: number, fh: number, size: number, off: number): void;
  write?(req: Req, ino: number, fh: number, bufOffset: number, size: number, off: number): void;
  flush?(req: Req, ino: number, fh: number, lockOwner: number): void;
  release?(req: Req, ino: number, fh: number, flags: number): void;
  fsync?(req: Req, ino: number, fh: number, datasync: number): void;
  opendir?(req: Req, ino: number, flags: number): void;
  readdir?(req: Req, ino: number, fh: number, size: number, off: number): void;
  releasedir?(req: Req, ino: number, fh: number): void;
  fsyncdir?(req: Req, ino: number, fh: number, datasync: number): void;
  statfs?(req: Req, ino: number): void;
  setxattr?(req: Req, ino: number, name: string, value: Buffer, flags: number): void;
  getxattr?(req: Req, ino: number, name: string, size: number): void;
  listxattr?(req: Req, ino: number, size: number): void;
  removexattr?(req: Req, ino: number, name: string): void;
  access?(req: Req, ino: number, mask: number): void;
  create?(req: Req, parent: number, name: string, mode: number, flags: number): void;
  getlk?(req: Req, ino: number, fh: number, owner: number, type: number, start: number, len: number, pid: number): void;
  setlk?(req: Req, ino: number, fh: number, owner: number, type: number, start: number, len: number, pid: number, sleep: number): void;
  flock?(req: Req, ino: number, fh: number, owner: number, op: number): void;
  fallocate?(req: Req, ino: number, fh: number, mode: number, offset: number, length: number): void;
  lseek?(req: Req, ino: number, fh: number, off: number, whence: number): void;
  ioctl?(req: Req, ino: number, fh: number, cmd: number, flags: number, input: Buffer, outSize: number): void;
  closed?(): void;
}

export interface SessionConf {
  wantSet?: number;
  wantClear?: number;
  maxWrite?: number;
  maxRead?: number;
  maxReadahead?: number;
  maxBackground?: number;
  congestionThreshold?: number;
  /** 1: ask the kernel for FUSE_PASSTHROUGH at INIT. */
  passthrough?: number;
}

export interface Session { readonly __session: unique symbol }

export interface NativeFuse {
  mount(mountpoint: string, options: string[], conf: SessionConf, ops: RawOps): { handle: Session; recv: Buffer };
  ref(handle: Session, on: boolean): void;
  destroy(handle: Session): void;
  umount(target: string, flags: number): Promise<void>;
  replyErr(req: Req, errno: number): number;
  replyNone(req: Req): void;
  replyEntry(req: Req, nodeid: number, generation: number, stat: BigUint64Array, attrTimeout: number, entryTimeout: number): number;
  /** backingId > 0 (from backingOpen): a passthrough open. */
  replyCreate(req: Req, nodeid: number, generation: number, stat: BigUint64Array, attrTimeout: number,
    entryTimeout: number, fh: number, openFlags: number, backingId?: number): number;
  replyAttr(req: Req, stat: BigUint64Array, attrTimeout: number): number;
  replyReadlink(req: Req, target: string): number;
  replyOpen(req: Req, fh: number, openFlags: number, backingId?: number): number;
  /** Whether the kernel accepted FUSE_PASSTHROUGH at INIT. */
  passthrough(handle: Session): boolean;
  /** Registers fd as a backing file for passthrough opens: its id (> 0) or -errno. */
  backingOpen(handle: Session, fd: number): number;
  /** Unregisters a backing id (opens made with it keep their file): 0 or -errno. */
  backingClose(handle: Session, id: number): number;
  replyWrite(req: Req, count: number): number;
  replyBuf(req: Req, buf: Buffer, length: number): number;
  replyStatfs(req: Req, st: BigUint64Array): number;
  replyXattr(req: Req, size: number): number;
  replyLock(req: Req, type: number, start: number, len: number, pid: number): number;
  replyLseek(req: Req, off: number): number;
  replyIoctl(req: Req, result: number, out: Buffer, length: number): number;
  replyReaddir(req: Req, size: number, names: string[], inos: BigUint64Array | Float64Array, types: Uint8Array, start: number): number;
  context(req: Req, out: Float64Array): void;
  groups(req: Req): number[];
  interrupted(req: Req): boolean;
  invalInode(handle: Session, nodeid: number, off: number, len: number): void;
  /** Resolves once every notification queued before the call has been sent to the kernel. */
  notifyFlush(handle: Session): Promise<void>;
  invalEntry(handle: Session, parent: number, name: string): void;
  notifyDelete(handle: Session, parent: number, child: number, name: string): void;
  version(): number;
  CAP: Record<string, number>;
}

let loaded: NativeFuse | null = null;
let loadError: Error | null = null;

export function nativeFuse(): NativeFuse {
  if (loaded) return loaded;
  if (loadError) throw loadError;
  const file = path.join(packageRoot(), 'native', 'fuse', 'build', 'Release', 'fuse_native.node');
  try {
    loaded = require(file) as NativeFuse;
    return loaded;
  } catch (e) {
    const msg = (e as Error).message;
    loadError = new Error(/libfuse3/.test(msg)
      ? 'libfuse 3 is not installed (run scripts/setup.sh, or apt-get install fuse3 libfuse3-3)'
      : `the FUSE binding is not built (${file}): ${buildHint()}`);
    throw loadError;
  }
}
