// The passthrough: every FUSE operation applied to the backing directory.
//
// All system calls go through the backing view (src/backing/dir.ts): one descriptor of the backing
// tree, one resolve policy (nothing escapes the backing directory, symlinks stored in the tree are
// never followed by the daemon, nested mounts are not crossed), no limit on depth. The *at() calls
// get the descriptor of the directory holding the name and the last name only, with
// AT_SYMLINK_NOFOLLOW where the call would follow a symlink. Names are bytes (src/backing/names.ts).
// Every operation on a file's data goes through the one data gate (data-gate.ts). The calls are
// synchronous on the event loop (they are local and short) except fsync, which may wait on a disk
// and goes to the libuv pool.
//
// Ownership: the daemon runs as root with umask 0; files are created by it and then given to the
// calling uid/gid (keeping the group of a set-group-ID directory), so the kernel, which already
// checked permissions (default_permissions), stays the only judge of access.
import * as fs from 'fs';
import * as os from 'os';
import type { Cb, CbV, DirStats, FuseOps, OpenCb, OpenOptions, RequestContext, StatfsObject, StatLike, Timespec } from '../fuse/fuse';
import { UTIME_NOW, UTIME_OMIT } from '../fuse/fuse';
import * as sys from '../native/sys';
import {
  BackingDir, bytes, classifyPath, isPrivateXattr, procPath, QuotaKind, QUOTA_FILES, relOf, RESERVED_DIR, RESOLVE, split as splitRel,
} from '../backing';
import { QuotaReports } from './quota';
import { listDir } from './listdir';
import type { FileRef, FsEventHooks, NsOp } from './events';
import { Capacity } from './capacity';
import { creationMode, mayAccess } from './acl';
import { CAP, callerHasCap } from './caller';
import { backingIoctl } from './ioctl';
import { afterGate, DataGate, DataOp, fallocateGrowth } from './data-gate';

const E = os.constants.errno;
const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_ISGID = 0o2000;
const S_ISUID = 0o4000;
/** The open options of a file whose reads and writes the kernel does itself (see opened()). */
const PASSTHROUGH_OPEN: OpenOptions = Object.freeze({ passthrough: true });
/** Open flags passed on to the backing file (see Passthrough.openFlags; O_APPEND: see opened()). */
const OPEN_FLAGS_KEPT = sys.O_ACCMODE | sys.O_TRUNC | sys.O_APPEND | sys.O_NONBLOCK | sys.O_DSYNC | sys.O_SYNC |
  sys.O_NOATIME | sys.O_DIRECTORY;
/** File handles above this are virtual (quota reports), not descriptors. */
const VIRTUAL_FH_BASE = 2 ** 40;

function stat(): BigUint64Array {
  return new BigUint64Array(sys.STAT_FIELDS);
}

export interface PassthroughOptions {
  /** The backing view (src/backing): the one the DMAPI of this process shares. */
  dir: BackingDir;
  /** Data management events (src/fs/events.ts); none when absent or when DMAPI is disabled. */
  events?: FsEventHooks | null;
  /** Capacity limit in bytes (src/fs/capacity.ts). */
  capacity?: number;
  /** Offer kernel passthrough opens where they are safe (see opened(), FsMount.passthrough). */
  passthrough?: boolean;
  /** The node's lock manager is fenced: data I/O fails with EIO (MountOptions.fenced). */
  fenced?: () => boolean;
}

/** What the event hooks need to know about an open file. */
interface OpenFile {
  ino: bigint;
  nonblock: boolean;
  direct: boolean;
  /** FileRef.memo of this open. */
  memo: Record<string, unknown>;
}

/** Parent (backing-relative) and last name of a mount path. */
function split(p: string): { parent: string; name: string } {
  return splitRel(relOf(p));
}

export class Passthrough implements FuseOps {
  private readonly dir: BackingDir;
  readonly quota: QuotaReports;
  private readonly virtual = new Map<number, Buffer>();
  private nextVirtual = VIRTUAL_FH_BASE;
  private readonly myUid = process.geteuid?.() ?? 0;
  /** Event hooks when DMAPI is enabled for this filesystem, else null (no event code runs at all). */
  private readonly ev: FsEventHooks | null;
  private readonly capacity: Capacity | null;
  private readonly passthrough: boolean;
  private readonly fenced: (() => boolean) | undefined;
  private readonly gate: DataGate;
  /** Open files (by backing descriptor); open counts are in the inode records. */
  private readonly files = new Map<number, OpenFile>();
  /** Descriptors opened with O_APPEND (see appendPos). */
  private readonly appending = new Set<number>();

  constructor(o: PassthroughOptions) {
    this.dir = o.dir;
    this.quota = new QuotaReports(o.dir);
    this.ev = o.events && o.events.enabled ? o.events : null;
    this.capacity = o.capacity ? new Capacity(o.capacity, o.dir) : null;
    this.passthrough = o.passthrough === true;
    this.fenced = o.fenced;
    this.gate = new DataGate(this.ev, this.capacity, (fd) => { this.changed(); this.ev?.attribute(null, fd); });
  }

  // ---------------------------------------------------------------- events (src/fs/events.ts)

  /** A namespace operation under its events: pre-event, the operation, post-event. */
  private nsOp(op: NsOp, cb: Cb, run: () => number): void {
    const ev = this.ev;
    if (!ev) return cb(run());
    afterGate(ev.before(op), (e) => cb(e), () => {
      const r = run();
      ev.after(op, r < 0 ? -r : 0);
      cb(r);
    });
  }

  /** The DESTROY notice for `p` if removing it drops its last link and nobody has it open. */
  private doomed(p: string): (() => void) | null {
    if (!this.ev) return null;
    const st = this.dir.stat(relOf(p));
    if (!st) return null;
    const isDir = (Number(st[sys.STAT_MODE]) & S_IFMT) === S_IFDIR;
    if ((!isDir && st[sys.STAT_NLINK] > 1n) || this.dir.inodes.isOpen(st[sys.STAT_INO])) return null;
    return this.ev.prepareDestroy(relOf(p), st[sys.STAT_INO]);
  }

  private fileRef(p: string, fd: number): FileRef | null {
    const f = this.ev ? this.files.get(fd) : undefined;
    return f ? { rel: relOf(p), ino: f.ino, fd, nonblock: f.nonblock, memo: f.memo } : null;
  }

  /**
   * Registers an open file; returns the open options: direct I/O for files with data events, and
   * kernel passthrough where nothing of ours has to see the file's reads and writes.
   */
  private opened(p: string, fd: number, flags: number): OpenOptions | undefined {
    const ev = this.ev;
    // The backing file is opened with O_APPEND (an append-only inode allows no other write open),
    // then loses it: the kernel gives every write its offset (the end of the file for an append,
    // which it works out itself), and a backing descriptor with O_APPEND would move writes at an
    // explicit offset (pwritev2 RWF_NOAPPEND, mmap write-back) to the end. An append-only inode
    // keeps it (the kernel refuses to drop it), and all its writes append, as natively.
    if (flags & sys.O_APPEND && sys.clearAppend(fd) === 0) this.appending.add(fd);
    // Kernel passthrough (when the kernel accepted it) only on a mount where no read or write can
    // concern us: no DMAPI (no data event, DM right or NOSPACE event may ever apply) and no
    // --capacity limit to enforce. Everything else about the file (attributes, locks, xattrs,
    // fallocate, the namespace) still comes to the daemon.
    const kernelIo = !ev && this.passthrough && !this.capacity ? PASSTHROUGH_OPEN : undefined;
    const st = stat();
    if (sys.fstat(fd, st) < 0) return kernelIo;
    const ino = st[sys.STAT_INO];
    this.dir.inodes.opened(ino).path = relOf(p);
    if (!ev) {
      this.files.set(fd, { ino, nonblock: false, direct: false, memo: {} });
      return kernelIo;
    }
    // Files with data events in force bypass the page cache: every read and write reaches us and
    // raises its event (shared mmap still works: FUSE_DIRECT_IO_ALLOW_MMAP, see the binding).
    const memo = {};
    const direct = ev.managed({ rel: relOf(p), ino, fd, memo });
    this.files.set(fd, { ino, nonblock: (flags & sys.O_NONBLOCK) !== 0, direct, memo });
    return direct ? { directIo: true } : undefined;
  }

  /** Runs fn(dirfd, name) on the directory holding `p` and its last name (BackingDir.at). */
  private at<T>(p: string, fn: (dirfd: number, name: Buffer) => T): T | number {
    return this.dir.at(relOf(p), fn);
  }

  /** The backing file of a path that must not be reserved: 0, or the errno to fail with. */
  private guard(p: string, forChange: boolean): number {
    const r = classifyPath(p);
    if (!r) return 0;
    if (r.kind === 'area') return forChange ? -E.EPERM : -E.ENOENT;
    return forChange ? -E.EPERM : 0;
  }

  private changed(): void {
    this.quota.changed();
  }

  /** Gives the new file `name` in the directory `dirfd` to the caller (see the header). */
  private own(ctx: RequestContext, dirfd: number, name: Buffer, mode: number, isDir: boolean): number {
    if (ctx.uid === this.myUid && ctx.gid === 0) return 0;
    const pst = stat();
    const r = sys.fstat(dirfd, pst);
    const inheritGroup = r === 0 && (Number(pst[sys.STAT_MODE]) & S_ISGID) !== 0;
    const gid = inheritGroup ? -1 : ctx.gid;
    const res = sys.fchownat(dirfd, name, ctx.uid, gid, sys.AT_SYMLINK_NOFOLLOW);
    if (res < 0) return res;
    // chown clears set-user/group-ID bits of regular files; the creator asked for them. The
    // permission bits are the ones the file got (a default ACL may have narrowed them).
    const st = stat();
    if (!isDir && (mode & (S_ISUID | S_ISGID)) && sys.fstatat(dirfd, name, sys.AT_SYMLINK_NOFOLLOW, st) === 0) {
      sys.fchmodat(dirfd, name, (Number(st[sys.STAT_MODE]) & 0o777) | (mode & (S_ISUID | S_ISGID)), sys.AT_SYMLINK_NOFOLLOW);
    }
    return 0;
  }

  private async quotaStat(which: QuotaKind, cb: CbV<StatLike>): Promise<void> {
    const st = stat();
    if (!this.dir.stat(`${RESERVED_DIR}/quota/${which}.quota`, st)) return cb(-E.ENOENT);
    const { text, mtime } = await this.quota.report(which);
    const sec = BigInt(Math.floor(mtime / 1000));
    const ns = BigInt((mtime % 1000) * 1e6);
    st[sys.STAT_MODE] = BigInt(S_IFREG | 0o444);
    st[sys.STAT_UID] = 0n;
    st[sys.STAT_GID] = 0n;
    st[sys.STAT_NLINK] = 1n;
    st[sys.STAT_SIZE] = BigInt(text.length);
    st[sys.STAT_BLOCKS] = BigInt(Math.ceil(text.length / 512));
    st[sys.STAT_MTIME_SEC] = st[sys.STAT_CTIME_SEC] = sec;
    st[sys.STAT_MTIME_NSEC] = st[sys.STAT_CTIME_NSEC] = ns;
    cb(0, st);
  }

  // ---------------------------------------------------------------- attributes

  getattr(p: string, cb: CbV<StatLike>): void {
    const r = classifyPath(p);
    if (r) {
      if (r.kind === 'area') return cb(-E.ENOENT);
      this.quotaStat(r.which, cb).catch((e) => cb(e));
      return;
    }
    const st = stat();
    const res = this.at(p, (dfd, name) => sys.fstatat(dfd, name, sys.AT_SYMLINK_NOFOLLOW, st));
    // A reserved file reached under another name (a hard link made in the backing directory)
    // stays invisible.
    if (res === 0 && this.dir.reserved.isReserved(st[sys.STAT_INO])) return cb(-E.ENOENT);
    cb(res, res === 0 ? this.shown(st) : st);
  }

  /** Quota reports are not backing files: their xattr and access questions are answered here. */
  private isQuota(p: string): boolean {
    return classifyPath(p)?.kind === 'quota';
  }

  fgetattr(p: string, fd: number, cb: CbV<StatLike>): void {
    if (fd >= VIRTUAL_FH_BASE) return this.getattr(p, cb);
    const st = stat();
    const res = sys.fstat(fd, st);
    cb(res, res === 0 ? this.shown(st) : st);
  }

  /** A stat with the times a DM application's invisible change must not alter (src/backing/inodes.ts). */
  private shown(st: BigUint64Array): BigUint64Array {
    const rec = this.dir.inodes.get(st[sys.STAT_INO]);
    if (!rec) return st;
    rec.kernelSize = Number(st[sys.STAT_SIZE]);
    return rec.shownTimes(st);
  }

  /**
   * Where a write through an O_APPEND open goes. The kernel gives every write its offset (for an
   * append, the end of the file as it last heard of it), so an explicit offset (pwritev2
   * RWF_NOAPPEND, mmap write-back) is kept; an append at the end the kernel was told, in a file
   * that has grown behind the mount's back since, goes to the real end, as a native append would.
   */
  private appendPos(fd: number, pos: number): number {
    const st = stat();
    if (sys.fstat(fd, st) < 0) return pos;
    const rec = this.dir.inodes.get(st[sys.STAT_INO]);
    const size = Number(st[sys.STAT_SIZE]);
    return rec && rec.kernelSize === pos && size > pos ? size : pos;
  }

  access(p: string, mode: number, cb: Cb): void {
    const g = this.guard(p, (mode & 2) !== 0);
    if (g) return cb(g);
    if (this.isQuota(p)) return cb(0);
    cb(this.at(p, (dfd, name) => sys.faccessat(dfd, name, mode, sys.AT_EACCESS | sys.AT_SYMLINK_NOFOLLOW)));
  }

  statfs(p: string, cb: CbV<StatfsObject | BigUint64Array>): void {
    const st = new BigUint64Array(sys.STATVFS_FIELDS);
    const r = this.dir.statvfs(st);
    const cap = this.capacity;
    if (r === 0 && cap) {
      // A mount with --capacity is a filesystem of that size: its files' space is what is used of
      // it, and no more is free than the backing filesystem has.
      const frsize = st[sys.STATVFS_FRSIZE] || 4096n;
      const total = BigInt(cap.limit) / frsize;
      const used = (BigInt(cap.current()) + frsize - 1n) / frsize;
      const left = used >= total ? 0n : total - used;
      st[sys.STATVFS_BLOCKS] = total;
      st[sys.STATVFS_BFREE] = left < st[sys.STATVFS_BFREE] ? left : st[sys.STATVFS_BFREE];
      st[sys.STATVFS_BAVAIL] = left < st[sys.STATVFS_BAVAIL] ? left : st[sys.STATVFS_BAVAIL];
    }
    cb(r, st);
  }

  chmod(p: string, mode: number, cb: Cb): void {
    const g = this.guard(p, true);
    if (g) return cb(g);
    const r = this.at(p, (dfd, name) => sys.fchmodat(dfd, name, mode, sys.AT_SYMLINK_NOFOLLOW));
    if (r === 0) { this.changed(); this.ev?.attribute(relOf(p)); }
    cb(r);
  }

  chown(p: string, uid: number, gid: number, cb: Cb): void {
    const g = this.guard(p, true);
    if (g) return cb(g);
    const r = this.at(p, (dfd, name) => sys.fchownat(dfd, name, uid, gid, sys.AT_SYMLINK_NOFOLLOW));
    if (r === 0) { this.changed(); this.ev?.attribute(relOf(p)); }
    cb(r);
  }

  utimens(p: string, atime: Timespec, mtime: Timespec, cb: Cb): void {
    const g = this.guard(p, true);
    if (g) return cb(g);
    const a = atime.nsec === UTIME_NOW || atime.nsec === UTIME_OMIT ? null : atime.sec;
    const m = mtime.nsec === UTIME_NOW || mtime.nsec === UTIME_OMIT ? null : mtime.sec;
    const r = this.at(p, (dfd, name) => sys.utimensat(dfd, name, a, atime.nsec, m, mtime.nsec, sys.AT_SYMLINK_NOFOLLOW));
    if (r === 0) this.ev?.attribute(relOf(p));
    cb(r);
  }

  fchmod(p: string, fd: number, mode: number, cb: Cb): void {
    if (fd >= VIRTUAL_FH_BASE) return cb(-E.EPERM);
    const r = sys.fchmod(fd, mode);
    if (r === 0) { this.changed(); this.ev?.attribute(null, fd); }
    cb(r);
  }

  fchown(p: string, fd: number, uid: number, gid: number, cb: Cb): void {
    if (fd >= VIRTUAL_FH_BASE) return cb(-E.EPERM);
    const r = sys.fchown(fd, uid, gid);
    if (r === 0) { this.changed(); this.ev?.attribute(null, fd); }
    cb(r);
  }

  futimens(p: string, fd: number, atime: Timespec, mtime: Timespec, cb: Cb): void {
    if (fd >= VIRTUAL_FH_BASE) return cb(-E.EPERM);
    const a = atime.nsec === UTIME_NOW || atime.nsec === UTIME_OMIT ? null : atime.sec;
    const m = mtime.nsec === UTIME_NOW || mtime.nsec === UTIME_OMIT ? null : mtime.sec;
    const r = sys.futimens(fd, a, atime.nsec, m, mtime.nsec);
    if (r === 0) this.ev?.attribute(null, fd);
    cb(r);
  }

  truncate(p: string, size: number, cb: Cb): void {
    const g = this.guard(p, true);
    if (g) return cb(g);
    const fd = this.dir.open(relOf(p), sys.O_WRONLY | sys.O_NONBLOCK | sys.O_NOFOLLOW);
    if (fd < 0) return cb(fd);
    let f: FileRef | null = null;
    if (this.ev) {
      const st = stat();
      sys.fstat(fd, st);
      f = { rel: relOf(p), ino: st[sys.STAT_INO], fd };
    }
    this.truncateFd(f, fd, size, (r) => { sys.close(fd); cb(r); });
  }

  ftruncate(p: string, fd: number, size: number, cb: Cb): void {
    if (fd >= VIRTUAL_FH_BASE) return cb(-E.EPERM);
    this.truncateFd(this.ev ? this.fileRef(p, fd) : null, fd, size, cb);
  }

  /** A truncation through the data gate; its TRUNCATE event covers the range between the old and the new size. */
  private truncateFd(f: FileRef | null, fd: number, size: number, cb: (r: number) => void): void {
    const st = stat();
    const old = f && sys.fstat(fd, st) === 0 ? Number(st[sys.STAT_SIZE]) : size;
    this.gate.pass(f, fd, {
      kind: old === size ? null : 'truncate', off: Math.min(old, size), len: Math.abs(old - size), changes: true,
      growth: () => 0, run: () => sys.ftruncate(fd, size),
    }, cb);
  }

  readlink(p: string, cb: CbV<string>): void {
    const r = this.at(p, (dfd, name) => sys.readlinkat(dfd, name, 'latin1'));
    if (typeof r === 'number') return cb(r);
    cb(0, r);
  }

  // ---------------------------------------------------------------- xattrs

  setxattr(p: string, name: string, value: Buffer, position: number, flags: number, cb: Cb): void {
    const g = this.guard(p, true);
    if (g) return cb(g);
    if (isPrivateXattr(name)) return cb(-E.EPERM);
    const r = this.at(p, (dfd, n) => sys.lsetxattr(procPath(dfd, n), bytes(name), value, flags));
    if (r === 0) { this.changed(); this.ev?.attribute(relOf(p)); }
    cb(r);
  }

  getxattr(p: string, name: string, position: number, cb: CbV<Buffer>): void {
    const g = this.guard(p, false);
    if (g) return cb(g);
    if (isPrivateXattr(name) || this.isQuota(p)) return cb(-E.ENODATA);
    const r = this.at(p, (dfd, n) => sys.lgetxattr(procPath(dfd, n), bytes(name)));
    if (typeof r === 'number') return cb(r);
    cb(0, r);
  }

  listxattr(p: string, cb: CbV<string[]>, ctx: RequestContext): void {
    const g = this.guard(p, false);
    if (g) return cb(g);
    if (this.isQuota(p)) return cb(0, []);
    const r = this.at(p, (dfd, n) => sys.llistxattr(procPath(dfd, n)));
    if (typeof r === 'number') return cb(r);
    let list = r.filter((n) => !isPrivateXattr(n));
    // The kernel lists trusted.* names only to callers with CAP_SYS_ADMIN (and refuses them
    // get/set); the daemon reads them as root, so it must hide them from other callers itself.
    if (list.some((n) => n.startsWith('trusted.')) && !callerHasCap(ctx, CAP.SYS_ADMIN)) {
      list = list.filter((n) => !n.startsWith('trusted.'));
    }
    cb(0, list);
  }

  removexattr(p: string, name: string, cb: Cb): void {
    const g = this.guard(p, true);
    if (g) return cb(g);
    if (isPrivateXattr(name)) return cb(-E.ENODATA);
    const r = this.at(p, (dfd, n) => sys.lremovexattr(procPath(dfd, n), bytes(name)));
    if (r === 0) { this.changed(); this.ev?.attribute(relOf(p)); }
    cb(r);
  }

  fsetxattr(p: string, fd: number, name: string, value: Buffer, position: number, flags: number, cb: Cb): void {
    if (fd >= VIRTUAL_FH_BASE) return cb(-E.EPERM);
    if (isPrivateXattr(name)) return cb(-E.EPERM);
    const r = sys.fsetxattr(fd, bytes(name), value, flags);
    if (r === 0) { this.changed(); this.ev?.attribute(null, fd); }
    cb(r);
  }

  fgetxattr(p: string, fd: number, name: string, position: number, cb: CbV<Buffer>): void {
    if (fd >= VIRTUAL_FH_BASE) return cb(-E.ENODATA);
    if (isPrivateXattr(name)) return cb(-E.ENODATA);
    const r = sys.fgetxattr(fd, bytes(name));
    if (typeof r === 'number') return cb(r);
    cb(0, r);
  }

  flistxattr(p: string, fd: number, cb: CbV<string[]>): void {
    if (fd >= VIRTUAL_FH_BASE) return cb(0, []);
    const r = sys.flistxattr(fd);
    if (typeof r === 'number') return cb(r);
    cb(0, r.filter((n) => !isPrivateXattr(n)));
  }

  fremovexattr(p: string, fd: number, name: string, cb: Cb): void {
    if (fd >= VIRTUAL_FH_BASE) return cb(-E.EPERM);
    if (isPrivateXattr(name)) return cb(-E.ENODATA);
    const r = sys.fremovexattr(fd, bytes(name));
    if (r === 0) { this.changed(); this.ev?.attribute(null, fd); }
    cb(r);
  }

  // ---------------------------------------------------------------- namespace

  readdir(p: string, cb: (err: number | Error | null, names?: string[], stats?: DirStats) => void): void {
    const g = this.guard(p, false);
    if (g) return cb(g);
    const dfd = this.dir.openDir(relOf(p), sys.O_RDONLY);
    if (dfd < 0) return cb(dfd);
    const r = listDir(dfd);
    sys.close(dfd);
    if (typeof r === 'number') return cb(r);
    let { names, inos, types, dotdotIno } = r;
    // Reserved files under other names (hard links made in the backing directory) are not listed.
    if (names.some((_, i) => this.dir.reserved.isReserved(inos[i]))) {
      const keep = names.map((_, i) => i).filter((i) => !this.dir.reserved.isReserved(inos[i]));
      names = keep.map((i) => names[i]);
      inos = BigUint64Array.from(keep.map((i) => inos[i]));
      types = Uint8Array.from(keep.map((i) => types[i]));
    }
    if (p === '/') {
      // The reserved area is never listed; the quota reports always are.
      const keep: number[] = [];
      for (let i = 0; i < names.length; i++) {
        if (names[i] !== RESERVED_DIR && !(QUOTA_FILES as readonly string[]).includes(names[i])) keep.push(i);
      }
      const extra = QUOTA_FILES.map((q) => this.dir.reserved.quotaIno.get(q.replace('.quota', '') as QuotaKind) ?? 0n);
      names = [...keep.map((i) => names[i]), ...QUOTA_FILES];
      inos = BigUint64Array.from([...keep.map((i) => inos[i]), ...extra]);
      types = Uint8Array.from([...keep.map((i) => types[i]), 8, 8, 8]);
      // The root's parent is outside the filesystem: '..' names the root itself, as in a root dir.
      dotdotIno = r.dotIno;
    }
    cb(null, names, { inos, types, dotIno: r.dotIno, dotdotIno });
  }

  mknod(p: string, mode: number, dev: number, cb: Cb, ctx: RequestContext): void {
    const g = this.guard(p, true);
    if (g) return cb(g);
    this.nsOp({ op: 'create', ...split(p), mode }, cb, () => this.at(p, (dfd, name) => {
      const r = sys.mknodat(dfd, name, creationMode(dfd, mode, ctx.umask), dev);
      if (r < 0) return r;
      this.changed();
      return this.own(ctx, dfd, name, mode, false);
    }));
  }

  mkdir(p: string, mode: number, cb: Cb, ctx: RequestContext): void {
    const g = this.guard(p, true);
    if (g) return cb(g);
    this.nsOp({ op: 'create', ...split(p), mode: mode | S_IFDIR }, cb, () => this.at(p, (dfd, name) => {
      const r = sys.mkdirat(dfd, name, creationMode(dfd, mode, ctx.umask));
      if (r < 0) return r;
      this.changed();
      return this.own(ctx, dfd, name, mode | S_IFDIR, true);
    }));
  }

  symlink(target: string, p: string, cb: Cb, ctx: RequestContext): void {
    const g = this.guard(p, true);
    if (g) return cb(g);
    this.nsOp({ op: 'symlink', ...split(p), mode: 0o120777, target }, cb, () => this.at(p, (dfd, name) => {
      const r = sys.symlinkat(bytes(target), dfd, name);
      if (r < 0) return r;
      this.changed();
      return this.own(ctx, dfd, name, 0o777, false);
    }));
  }

  /** The mode of an object (0 when it cannot be read), for REMOVE and RENAME messages. */
  private modeOf(p: string): number {
    const st = stat();
    return this.at(p, (dfd, name) => sys.fstatat(dfd, name, sys.AT_SYMLINK_NOFOLLOW, st)) === 0 ? Number(st[sys.STAT_MODE]) : 0;
  }

  unlink(p: string, cb: Cb): void {
    const g = this.guard(p, true);
    if (g) return cb(g);
    this.nsOp({ op: 'remove', ...split(p), mode: this.ev ? this.modeOf(p) : 0 }, cb, () => {
      const destroy = this.doomed(p);
      const r = this.at(p, (dfd, name) => sys.unlinkat(dfd, name, 0));
      if (r === 0) { this.changed(); destroy?.(); }
      return r;
    });
  }

  rmdir(p: string, cb: Cb): void {
    const g = this.guard(p, true);
    if (g) return cb(g);
    this.nsOp({ op: 'remove', ...split(p), mode: this.ev ? this.modeOf(p) : 0 }, cb, () => {
      const destroy = this.doomed(p);
      const r = this.at(p, (dfd, name) => sys.unlinkat(dfd, name, sys.AT_REMOVEDIR));
      if (r === 0) { this.changed(); destroy?.(); }
      return r;
    });
  }

  rename(src: string, dest: string, cb: Cb, ctx: RequestContext): void {
    const flags = ctx.flags;
    const g = this.guard(src, true) || this.guard(dest, true);
    if (g) return cb(g);
    const d = split(dest);
    this.nsOp({ op: 'rename', ...split(src), newParent: d.parent, newName: d.name, mode: this.ev ? this.modeOf(src) : 0 }, cb, () => {
      // A rename over an existing file removes that file's name (RENAME_EXCHANGE keeps both).
      const destroy = flags & 2 /* RENAME_EXCHANGE */ ? null : this.doomed(dest);
      const r = this.at(src, (sfd, sname) => this.at(dest, (dfd, dname) => sys.renameat2(sfd, sname, dfd, dname, flags)));
      if (r === 0) {
        this.changed();
        this.dir.renamed(relOf(dest));
        if (flags & 2) this.dir.renamed(relOf(src));
        destroy?.();
      }
      return r;
    });
  }

  link(src: string, dest: string, cb: Cb): void {
    const g = this.guard(src, true) || this.guard(dest, true);
    if (g) return cb(g);
    this.nsOp({ op: 'link', ...split(dest), target: relOf(src), mode: this.ev ? this.modeOf(src) : 0 }, cb, () => {
      const r = this.at(src, (sfd, sname) => this.at(dest, (dfd, dname) => sys.linkat(sfd, sname, dfd, dname, 0)));
      if (r === 0) this.changed();
      return r;
    });
  }

  // ---------------------------------------------------------------- files

  private openFlags(flags: number): number {
    // Only the flags that mean something for the backing file are kept: the kernel also passes
    // its internal bits (__FMODE_EXEC for execve, O_LARGEFILE...), which openat2 refuses with
    // EINVAL. O_DIRECT is the kernel's business on the FUSE side (the backing may refuse it);
    // creation flags are handled by create().
    return (flags & OPEN_FLAGS_KEPT) | sys.O_NOFOLLOW;
  }

  open(p: string, flags: number, cb: OpenCb): void {
    const r = classifyPath(p);
    if (r) {
      if (r.kind === 'area') return cb(-E.ENOENT);
      if ((flags & sys.O_ACCMODE) !== sys.O_RDONLY || flags & sys.O_TRUNC) return cb(-E.EPERM);
      const which = r.which;
      this.quota.report(which).then(({ text }) => {
        const fh = this.nextVirtual++;
        this.virtual.set(fh, text);
        cb(0, fh, { directIo: true });
      }, (e) => cb(e));
      return;
    }
    const ev = this.ev;
    const trunc = ev !== null && (flags & sys.O_TRUNC) !== 0 && (flags & sys.O_ACCMODE) !== sys.O_RDONLY;
    // With events, O_TRUNC is done after the open, once its TRUNCATE event (if any) is answered.
    const fd = this.dir.open(relOf(p), this.openFlags(trunc ? flags & ~sys.O_TRUNC : flags));
    if (fd < 0) return cb(fd);
    if (flags & sys.O_TRUNC && !trunc) this.changed();
    const o = this.opened(p, fd, flags);
    if (!trunc) return cb(0, fd, o);
    const f = this.fileRef(p, fd)!;
    this.truncateFd(f, fd, 0, (r) => {
      if (r < 0) {
        this.forget(fd);
        sys.close(fd);
        return cb(r);
      }
      cb(0, fd, o);
    });
  }

  /** Drops the event bookkeeping of a descriptor; true when it was the inode's last open. */
  private forget(fd: number): OpenFile | null {
    const f = this.files.get(fd);
    if (!f) return null;
    this.files.delete(fd);
    return this.dir.inodes.closed(f.ino) ? f : null;
  }

  create(p: string, mode: number, cb: OpenCb, ctx: RequestContext): void {
    const g = this.guard(p, true);
    if (g) return cb(g === -E.EPERM && classifyPath(p)?.kind === 'quota' ? -E.EEXIST : g);
    const ev = this.ev;
    if (!ev) return this.doCreate(p, mode, cb, ctx);
    const op: NsOp = { op: 'create', ...split(p), mode: mode | S_IFREG };
    afterGate(ev.before(op), (e) => cb(e), () => this.doCreate(p, mode, (err, fd, o) => {
      ev.after(op, typeof err === 'number' && err < 0 ? -err : 0);
      cb(err, fd, o);
    }, ctx));
  }

  private doCreate(p: string, mode: number, cb: OpenCb, ctx: RequestContext): void {
    const flags = ctx.flags;
    const self = this;
    const fd = self.at(p, (dfd, name) => {
      // O_EXCL always: the daemon must know whether it made the file, to give it to the caller.
      let f = -E.EEXIST;
      const perm = creationMode(dfd, mode & 0o7777, ctx.umask);
      for (let tries = 0; tries < 5 && f === -E.EEXIST; tries++) {
        f = sys.openat2(dfd, name, self.openFlags(flags) | sys.O_CREAT | sys.O_EXCL, perm, RESOLVE);
        if (f !== -E.EEXIST || flags & sys.O_EXCL) break;
        const e = self.openExisting(ctx, dfd, name, flags);
        if (e !== -E.ENOENT) return e;
        // Removed again in between: try to create it once more.
      }
      if (f < 0) return f;
      self.changed();
      const r = self.own(ctx, dfd, name, mode, false);
      if (r < 0) {
        sys.close(f);
        sys.unlinkat(dfd, name, 0);
        return r;
      }
      return f;
    });
    if (fd < 0) return cb(fd);
    cb(0, fd, this.opened(p, fd, flags));
  }

  /**
   * create() without O_EXCL of a name that appeared after the kernel found it missing (made
   * through another mount of the backing directory, or in it directly): open(2) then opens the
   * existing file. The kernel checked only what a creation needs (the directory), so the access
   * check of the file itself is made here, on its ACL or mode bits (src/fs/acl.ts).
   */
  private openExisting(ctx: RequestContext, dfd: number, name: Buffer, flags: number): number {
    const st = stat();
    const r = sys.fstatat(dfd, name, sys.AT_SYMLINK_NOFOLLOW, st);
    if (r < 0) return r;
    const type = Number(st[sys.STAT_MODE]) & S_IFMT;
    if (type === S_IFDIR) return -E.EISDIR;
    // Not a regular file (a symlink, a fifo...): the daemon must not follow or open it.
    if (type !== S_IFREG) return -E.EEXIST;
    const acc = flags & sys.O_ACCMODE;
    const want = (acc !== sys.O_WRONLY ? 4 : 0) | (acc !== sys.O_RDONLY || flags & sys.O_TRUNC ? 2 : 0);
    const who = Number(st[sys.STAT_UID]);
    if (!mayAccess(ctx, procPath(dfd, name), Number(st[sys.STAT_MODE]), who, Number(st[sys.STAT_GID]), want)) return -E.EACCES;
    const fd = sys.openat2(dfd, name, this.openFlags(flags), 0, RESOLVE);
    if (fd >= 0 && flags & sys.O_TRUNC) this.changed();
    return fd;
  }

  read(p: string, fd: number, buf: Buffer, len: number, pos: number, cb: (n: number) => void): void {
    if (this.fenced?.()) return cb(-E.EIO);
    if (fd >= VIRTUAL_FH_BASE) {
      const text = this.virtual.get(fd);
      if (!text) return cb(-E.EBADF);
      const n = Math.max(0, Math.min(len, text.length - pos));
      if (n > 0) text.copy(buf, 0, pos, pos + n);
      return cb(n);
    }
    const f = this.ev ? this.fileRef(p, fd) : null;
    if (!f) return cb(sys.pread(fd, buf, 0, len, pos));
    this.gate.pass(f, fd, {
      kind: 'read', off: pos, len, changes: false, growth: () => 0, run: () => sys.pread(fd, buf, 0, len, pos),
      // A cached open: the pages this read brought in must not serve the next read without its event.
      served: () => { if (!this.files.get(fd)?.direct) this.ev!.readServed?.(f, pos, len); },
    }, cb);
  }

  write(p: string, fd: number, buf: Buffer, len: number, pos: number, cb: (n: number) => void, ctx?: RequestContext): void {
    if (fd >= VIRTUAL_FH_BASE) return cb(-E.EPERM);
    if (this.fenced?.()) return cb(-E.EIO);
    // buf is valid only now: copied when the write has to wait (event, DM right, NOSPACE).
    let data = buf;
    const append = this.appending.has(fd);
    this.gate.pass(this.ev ? this.fileRef(p, fd) : null, fd, {
      kind: 'write', off: pos, len, changes: true, ctx,
      growth: (st) => Capacity.growth(st, pos, len),
      run: () => {
        const n = sys.pwrite(fd, data, 0, len, append ? this.appendPos(fd, pos) : pos);
        // The kernel now takes the file to end at pos + n.
        const rec = append && n > 0 ? this.dir.inodes.get(this.files.get(fd)?.ino ?? -1n) : undefined;
        if (rec) rec.kernelSize = Math.max(rec.kernelSize ?? 0, pos + n);
        return n;
      },
      willWait: () => { if (data === buf) data = Buffer.from(buf.subarray(0, len)); },
    }, cb);
  }

  flush(p: string, fd: number, cb: Cb): void {
    cb(0);
  }

  release(p: string, fd: number, cb: Cb): void {
    if (fd >= VIRTUAL_FH_BASE) {
      this.virtual.delete(fd);
      return cb(0);
    }
    this.appending.delete(fd);
    const last = this.forget(fd);
    if (last && this.ev) {
      // The last close through this mount: CLOSE, and DESTROY when the file has no name left.
      const f: FileRef = { rel: relOf(p), ino: last.ino, fd, memo: last.memo };
      this.ev!.closed(f);
      const st = stat();
      if (sys.fstat(fd, st) === 0 && st[sys.STAT_NLINK] === 0n) this.ev!.prepareDestroy(f.rel, f.ino, fd)?.();
    }
    cb(sys.close(fd));
  }

  fsync(p: string, datasync: boolean, fd: number, cb: Cb): void {
    if (fd >= VIRTUAL_FH_BASE) return cb(0);
    (datasync ? fs.fdatasync : fs.fsync)(fd, (err) => cb(err));
  }

  opendir(p: string, flags: number, cb: CbV<number>): void {
    const g = this.guard(p, false);
    if (g) return cb(g);
    // The handle holds the directory itself, so that it can still be described and changed
    // (fstat, fchmod, futimens, xattrs) after it is removed or renamed while open.
    const dfd = this.dir.openDir(relOf(p), sys.O_RDONLY);
    if (dfd < 0) return cb(dfd);
    if (this.ev) {
      // Counted like a file's opens: the last release raises CLOSE for directories too (GPFS, JFS).
      const st = stat();
      if (sys.fstat(dfd, st) === 0) {
        const ino = st[sys.STAT_INO];
        this.files.set(dfd, { ino, nonblock: false, direct: false, memo: {} });
        this.dir.inodes.opened(ino);
      }
    }
    cb(0, dfd);
  }

  releasedir(p: string, fd: number, cb: Cb): void {
    if (fd <= 0) return cb(0);
    const last = this.ev ? this.forget(fd) : null;
    if (last) this.ev!.closed({ rel: relOf(p), ino: last.ino, fd, memo: last.memo });
    cb(sys.close(fd));
  }

  fsyncdir(p: string, datasync: boolean, fd: number, cb: Cb): void {
    if (fd > 0) return void (datasync ? fs.fdatasync : fs.fsync)(fd, (err) => cb(err));
    const dfd = this.dir.openDir(relOf(p), sys.O_RDONLY);
    if (dfd < 0) return cb(dfd);
    fs.fsync(dfd, (err) => { sys.close(dfd); cb(err); });
  }

  fallocate(p: string, fd: number, mode: number, offset: number, length: number, cb: Cb, ctx?: RequestContext): void {
    if (fd >= VIRTUAL_FH_BASE) return cb(-E.EPERM);
    // Every mode changes the file's data or allocation: WRITE for the range; collapsing or
    // inserting a range moves everything after it, so the range reaches the end of the file.
    const moves = (mode & (sys.FALLOC_FL_COLLAPSE_RANGE | sys.FALLOC_FL_INSERT_RANGE)) !== 0;
    let len = length;
    if (moves) {
      const st = stat();
      if (sys.fstat(fd, st) === 0) len = Math.max(length, Number(st[sys.STAT_SIZE]) - offset + (mode & sys.FALLOC_FL_INSERT_RANGE ? length : 0));
    }
    this.gate.pass(this.ev ? this.fileRef(p, fd) : null, fd, {
      kind: 'write', off: offset, len, changes: true, ctx,
      growth: (st) => fallocateGrowth(mode, st, offset, length),
      run: () => sys.fallocate(fd, mode, offset, length),
    }, cb);
  }

  /** lsattr/chattr and xfs_io's fsxattr on the backing file (src/fs/ioctl.ts). */
  ioctl(p: string, fd: number, cmd: number, input: Buffer, outSize: number, cb: (err: number, result?: number, out?: Buffer) => void, ctx: RequestContext): void {
    if (fd >= VIRTUAL_FH_BASE) return cb(-E.ENOTTY);
    const r = backingIoctl(fd, ctx, cmd, input, outSize);
    if (typeof r === 'number') return cb(r);
    if (r.changed) { this.changed(); this.ev?.attribute(null, fd); }
    cb(0, r.result, r.out);
  }

  lseek(p: string, fd: number, offset: number, whence: number, cb: CbV<number>): void {
    if (fd >= VIRTUAL_FH_BASE) {
      const text = this.virtual.get(fd);
      if (!text) return cb(-E.EBADF);
      if (whence === 3 /* SEEK_DATA */) return offset < text.length ? cb(0, offset) : cb(-E.ENXIO);
      if (whence === 4 /* SEEK_HOLE */) return offset < text.length ? cb(0, text.length) : cb(-E.ENXIO);
      return cb(-E.EINVAL);
    }
    const r = sys.lseek(fd, offset, whence);
    if (r < 0) return cb(r);
    cb(0, r);
  }

  // Locks are left to the kernel (local to this mount) until the DLM issue makes them
  // cluster-wide: no getlk/setlk/flock here.
}
