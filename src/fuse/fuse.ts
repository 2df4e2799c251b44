// fuse-native's JavaScript API (new Fuse(mnt, ops, opts); mount/unmount; path-based ops answering
// through a callback with negative errnos), rebuilt on the raw low-level binding.
//
// Fixed and extended against fuse-native 2.2.6 (docs/fuse-binding.md has the table):
//  - the caller's uid/gid/pid/umask are `this` in every handler (RequestContext);
//  - 64-bit inode numbers, device numbers and statfs fields; nanosecond timestamps;
//  - utimens(path, atime, mtime) gets both times as {sec, nsec}, nsec may be UTIME_NOW/UTIME_OMIT;
//    a change of one time only (touch -a / touch -m) reaches the handler;
//  - fgetattr(path, fd) is called for fstat on an open file (not getattr(path));
//  - create(path, mode, flags, cb) gets the open flags; rename(src, dest, flags, cb) the
//    RENAME_* flags;
//  - open/create may answer cb(0, fd, { directIo, keepCache, nonSeekable }) per open;
//  - new ops getlk, setlk, flock (when absent the kernel keeps locks local to the mount),
//    fallocate, lseek (SEEK_DATA/SEEK_HOLE);
//  - invalidate(path) / invalidateData(path) drop the kernel's caches for one file;
//  - no operation is ever timed out by the binding;
//  - 128 KiB reads and writes (max_write), requests served on the Node event loop.
// One node per backing inode (hard links share it), so nlink and attributes stay right.
//
// Buffer lifetime: `buf` in write() is a view of the receive buffer and is valid during the
// synchronous part of the handler only; a handler that answers later must copy it first.
// `buf` in read() belongs to the handler until it calls cb.
import * as os from 'os';
import { nativeFuse, NativeFuse, OPEN, Req, Session, ST } from './binding';

export const UTIME_NOW = (1 << 30) - 1;
export const UTIME_OMIT = (1 << 30) - 2;

export interface Timespec { sec: number; nsec: number }

export interface RequestContext {
  uid: number;
  gid: number;
  pid: number;
  umask: number;
  /** Supplementary groups of the caller (read from /proc on demand). */
  groups(): number[];
  /** True once the kernel asked to interrupt this request (the caller got a signal). */
  interrupted(): boolean;
  /** create: the open flags (O_EXCL, O_APPEND, O_TRUNC...); rename: the RENAME_* flags. */
  flags: number;
}

export interface StatObject {
  mode: number; uid?: number; gid?: number; size?: number | bigint; dev?: number | bigint;
  nlink?: number; ino?: number | bigint; rdev?: number | bigint; blksize?: number;
  blocks?: number | bigint; atime?: TimeLike; mtime?: TimeLike; ctime?: TimeLike;
}
export type TimeLike = Date | number | bigint | Timespec;
/** A stat: our BigUint64Array(16) layout (ST) or a fuse-native style object. */
export type StatLike = BigUint64Array | StatObject;

export interface StatfsObject {
  bsize: number; frsize?: number; blocks: number | bigint; bfree: number | bigint; bavail: number | bigint;
  files: number | bigint; ffree: number | bigint; favail?: number | bigint; fsid?: number | bigint;
  flag?: number; namemax: number;
}

/** A directory listing: names, and optionally inode numbers and DT_* types (same order). */
export interface DirStats {
  /** Inode numbers; above 2^53 only a BigUint64Array (or bigints) carries them exactly. */
  inos: BigUint64Array | Float64Array | Array<number | bigint>;
  types: Uint8Array | number[];
  /** d_ino of the '.' and '..' entries (the binding adds them; unknown when absent). */
  dotIno?: number | bigint;
  dotdotIno?: number | bigint;
}

export type Cb = (err: number | Error | null | undefined) => void;
export type CbV<T> = (err: number | Error | null | undefined, value?: T) => void;
export interface OpenOptions {
  directIo?: boolean; keepCache?: boolean; nonSeekable?: boolean; noFlush?: boolean; cacheReaddir?: boolean;
  /**
   * Kernel passthrough: reads, writes and mmaps of this open go from the kernel straight to the
   * backing file (the descriptor returned as fd, or passthroughFd), never to the handlers. Only on
   * a session mounted with `passthrough: true` whose kernel accepted it (Fuse.passthrough);
   * otherwise, or when the kernel refuses the backing file, the open is served as if this were
   * absent. All passthrough opens of one inode share one backing file.
   */
  passthrough?: boolean;
  passthroughFd?: number;
}
export type OpenCb = (err: number | Error | null | undefined, fd?: number, opts?: OpenOptions) => void;
export interface LockDesc { type: number; start: number; len: number; pid: number }

export interface FuseOps {
  init?(cb: Cb): void;
  access?(path: string, mode: number, cb: Cb, ctx: RequestContext): void;
  statfs?(path: string, cb: CbV<StatfsObject | BigUint64Array>, ctx: RequestContext): void;
  getattr?(path: string, cb: CbV<StatLike>, ctx: RequestContext): void;
  fgetattr?(path: string, fd: number, cb: CbV<StatLike>, ctx: RequestContext): void;
  flush?(path: string, fd: number, cb: Cb, ctx: RequestContext): void;
  fsync?(path: string, datasync: boolean, fd: number, cb: Cb, ctx: RequestContext): void;
  fsyncdir?(path: string, datasync: boolean, fd: number, cb: Cb, ctx: RequestContext): void;
  readdir?(path: string, cb: (err: number | Error | null | undefined, names?: string[], stats?: DirStats | StatLike[]) => void, ctx: RequestContext): void;
  truncate?(path: string, size: number, cb: Cb, ctx: RequestContext): void;
  ftruncate?(path: string, fd: number, size: number, cb: Cb, ctx: RequestContext): void;
  readlink?(path: string, cb: CbV<string>, ctx: RequestContext): void;
  chown?(path: string, uid: number, gid: number, cb: Cb, ctx: RequestContext): void;
  chmod?(path: string, mode: number, cb: Cb, ctx: RequestContext): void;
  mknod?(path: string, mode: number, dev: number, cb: Cb, ctx: RequestContext): void;
  setxattr?(path: string, name: string, value: Buffer, position: number, flags: number, cb: Cb, ctx: RequestContext): void;
  getxattr?(path: string, name: string, position: number, cb: CbV<Buffer>, ctx: RequestContext): void;
  listxattr?(path: string, cb: CbV<string[]>, ctx: RequestContext): void;
  removexattr?(path: string, name: string, cb: Cb, ctx: RequestContext): void;
  open?(path: string, flags: number, cb: OpenCb, ctx: RequestContext): void;
  opendir?(path: string, flags: number, cb: CbV<number>, ctx: RequestContext): void;
  read?(path: string, fd: number, buf: Buffer, len: number, pos: number, cb: (n: number) => void, ctx: RequestContext): void;
  write?(path: string, fd: number, buf: Buffer, len: number, pos: number, cb: (n: number) => void, ctx: RequestContext): void;
  release?(path: string, fd: number, cb: Cb, ctx: RequestContext): void;
  releasedir?(path: string, fd: number, cb: Cb, ctx: RequestContext): void;
  create?(path: string, mode: number, cb: OpenCb, ctx: RequestContext): void;
  utimens?(path: string, atime: Timespec, mtime: Timespec, cb: Cb, ctx: RequestContext): void;
  /** chmod, chown, utimens through an open handle: used for files that have no name left. */
  fchmod?(path: string, fd: number, mode: number, cb: Cb, ctx: RequestContext): void;
  fchown?(path: string, fd: number, uid: number, gid: number, cb: Cb, ctx: RequestContext): void;
  futimens?(path: string, fd: number, atime: Timespec, mtime: Timespec, cb: Cb, ctx: RequestContext): void;
  /** xattrs through an open handle: used for files that have no name left. */
  fsetxattr?(path: string, fd: number, name: string, value: Buffer, position: number, flags: number, cb: Cb, ctx: RequestContext): void;
  fgetxattr?(path: string, fd: number, name: string, position: number, cb: CbV<Buffer>, ctx: RequestContext): void;
  flistxattr?(path: string, fd: number, cb: CbV<string[]>, ctx: RequestContext): void;
  fremovexattr?(path: string, fd: number, name: string, cb: Cb, ctx: RequestContext): void;
  unlink?(path: string, cb: Cb, ctx: RequestContext): void;
  rename?(src: string, dest: string, cb: Cb, ctx: RequestContext): void;
  link?(src: string, dest: string, cb: Cb, ctx: RequestContext): void;
  symlink?(target: string, path: string, cb: Cb, ctx: RequestContext): void;
  mkdir?(path: string, mode: number, cb: Cb, ctx: RequestContext): void;
  rmdir?(path: string, cb: Cb, ctx: RequestContext): void;
  getlk?(path: string, fd: number, owner: number, lock: LockDesc, cb: CbV<LockDesc>, ctx: RequestContext): void;
  setlk?(path: string, fd: number, owner: number, lock: LockDesc, sleep: boolean, cb: Cb, ctx: RequestContext): void;
  flock?(path: string, fd: number, owner: number, op: number, cb: Cb, ctx: RequestContext): void;
  fallocate?(path: string, fd: number, mode: number, offset: number, length: number, cb: Cb, ctx: RequestContext): void;
  lseek?(path: string, fd: number, offset: number, whence: number, cb: CbV<number>, ctx: RequestContext): void;
  /**
   * ioctl on an open file or directory (fd: its handle): `input` holds what the kernel copied in,
   * `outSize` bytes go back (cb(0, result, out)). The kernel sends lsattr/chattr here too
   * (FS_IOC_GETFLAGS/SETFLAGS, FS_IOC_FSGETXATTR/FSSETXATTR on a handle it opens itself).
   * Restricted ioctls only: the sizes are those encoded in the command.
   */
  ioctl?(path: string, fd: number, cmd: number, input: Buffer, outSize: number, cb: (err: number | Error | null | undefined, result?: number, out?: Buffer) => void, ctx: RequestContext): void;
}

export interface FuseOptions {
  /** Name shown in /proc/mounts (first column). */
  fsname?: string;
  /** Type suffix: the type is fuse.<subtype>. */
  subtype?: string;
  allowOther?: boolean;
  defaultPermissions?: boolean;
  /**
   * POSIX ACLs (FUSE_POSIX_ACL, implies defaultPermissions): the kernel reads the
   * system.posix_acl_* xattrs through getxattr, caches them and checks access with them. It also
   * leaves the umask to the filesystem (FUSE_DONT_MASK): create, mkdir and mknod get the mode
   * unmasked and the caller's umask in `ctx.umask`, to apply unless a default ACL of the parent
   * decides the permissions (POSIX.1e).
   */
  posixAcl?: boolean;
  readOnly?: boolean;
  /** Seconds the kernel may cache attributes / names / negative lookups. */
  attrTimeout?: number;
  entryTimeout?: number;
  negativeTimeout?: number;
  /** Largest read and write request, bytes (default 128 KiB). */
  maxWrite?: number;
  maxRead?: number;
  maxReadahead?: number;
  /** Kernel drops cached pages when it sees mtime or size change (default true). */
  autoInvalData?: boolean;
  /** Extra raw mount options ("name" or "name=value"). */
  options?: string[];
  /** Ask the kernel for FUSE passthrough (Linux 6.9+): opens may then say OpenOptions.passthrough. */
  passthrough?: boolean;
  /** Called once the kernel connection is gone, whoever unmounted. */
  onClosed?: () => void;
}

/** A handler's arguments without the trailing request context. */
type HandlerArgs<F> = NonNullable<F> extends (...a: [...infer H, RequestContext]) => void ? H : never;

const E = os.constants.errno;
const ROOT_ID = 1;

/** Turns whatever a handler reported into a positive errno. */
export function toErrno(err: unknown): number {
  if (typeof err === 'number') return err < 0 ? -err : err || E.EIO;
  if (err && typeof err === 'object') {
    const e = err as { errno?: unknown; code?: unknown };
    if (typeof e.errno === 'number' && e.errno !== 0) return Math.abs(e.errno);
    if (typeof e.code === 'string' && (E as Record<string, number>)[e.code]) return (E as Record<string, number>)[e.code];
  }
  return E.EIO;
}

/** An open's I/O: through the page cache, direct to the handlers, or kernel passthrough. */
const enum IoMode { Cached = 1, Direct = 2, Passthrough = 3 }

class Node {
  pathEpoch = -1;
  cachedPath = '';
  nlookup = 0;
  /** Children looked up by the kernel, by name (directories only). */
  kids: Map<string, Node> | null = null;
  /** Other known names of a hard-linked file (the primary is parent/name). */
  aliases: Array<{ parent: Node; name: string }> | null = null;
  /** All names are gone (unlinked while the kernel still holds it). */
  unlinked = false;
  /** Open file handles, so that attributes of an open file come from the file itself. */
  fhs: number[] | null = null;
  /** The backing file registered for this inode's passthrough opens (see Fuse.ioMode). */
  backing: { id: number; opens: number } | null = null;
  /** How each open handle of a regular file does its I/O (see Fuse.ioMode). */
  io: Map<number, IoMode> | null = null;
  cachedOpens = 0;
  constructor(readonly id: number, public key: number | string, public parent: Node | null, public name: string) {}
}

interface DirHandle { fh: number; names: string[] | null; inos: BigUint64Array; types: Uint8Array }

const S_IFMT = 0o170000;

function timeParts(t: TimeLike | undefined): [bigint, bigint] {
  if (t === undefined) return [0n, 0n];
  if (t instanceof Date) t = t.getTime();
  if (typeof t === 'number') {
    const ms = Math.floor(t);
    const sec = Math.floor(ms / 1000);
    return [BigInt.asUintN(64, BigInt(sec)), BigInt((ms - sec * 1000) * 1e6 + Math.round((t - ms) * 1e6))];
  }
  if (typeof t === 'bigint') {
    let sec = t / 1000000000n;
    let ns = t % 1000000000n;
    if (ns < 0n) { ns += 1000000000n; sec -= 1n; }
    return [BigInt.asUintN(64, sec), ns];
  }
  return [BigInt.asUintN(64, BigInt(t.sec)), BigInt(t.nsec)];
}

function big(v: number | bigint | undefined): bigint {
  if (v === undefined) return 0n;
  return typeof v === 'bigint' ? BigInt.asUintN(64, v) : BigInt.asUintN(64, BigInt(Math.trunc(v)));
}

export class Fuse {
  static readonly UTIME_NOW = UTIME_NOW;
  static readonly UTIME_OMIT = UTIME_OMIT;

  readonly mnt: string;
  readonly ops: FuseOps;
  readonly opts: FuseOptions;
  private native: NativeFuse;
  private session: Session | null = null;
  private recv: Buffer | null = null;
  private nodes = new Map<number, Node>();
  private byIno = new Map<number | string, Node>();
  private nextId = ROOT_ID + 1;
  private epoch = 0;
  private root: Node;
  private dirs = new Map<number, DirHandle>();
  private nextDir = 1;
  private readBufs: Buffer[] = [];
  private readonly ctxBuf = new Float64Array(4);
  private readonly statScratch = new BigUint64Array(ST.FIELDS);
  private readonly attrTimeout: number;
  private readonly entryTimeout: number;
  private readonly negativeTimeout: number;
  private readyCb: ((err: Error | null) => void) | null = null;
  private closedFired = false;
  mounted = false;

  constructor(mnt: string, ops: FuseOps, opts: FuseOptions = {}) {
    this.mnt = mnt;
    this.ops = ops;
    this.opts = opts;
    this.native = nativeFuse();
    this.attrTimeout = opts.attrTimeout ?? 1;
    this.entryTimeout = opts.entryTimeout ?? 1;
    this.negativeTimeout = opts.negativeTimeout ?? 0;
    this.root = new Node(ROOT_ID, -1, null, '');
    this.root.nlookup = 1;
    this.nodes.set(ROOT_ID, this.root);
  }

  // ------------------------------------------------------------------ mount / unmount

  mount(cb: (err: Error | null) => void): void {
    const o = this.opts;
    const mo: string[] = [];
    mo.push(`fsname=${o.fsname ?? 'fuse-native'}`);
    if (o.subtype) mo.push(`subtype=${o.subtype}`);
    if (o.allowOther) mo.push('allow_other');
    if (o.defaultPermissions || o.posixAcl) mo.push('default_permissions');
    if (o.readOnly) mo.push('ro');
    const maxRead = o.maxRead ?? o.maxWrite ?? 131072;
    mo.push(`max_read=${maxRead}`);
    for (const x of o.options ?? []) mo.push(x);
    for (const x of mo) {
      if (/[,\\]/.test(x.replace(/^fsname=/, ''))) return cb(new Error(`mount option may not contain ',' or '\\': ${x}`));
    }
    const CAP = this.native.CAP;
    let wantSet = CAP.ASYNC_READ | CAP.ATOMIC_O_TRUNC | CAP.EXPORT_SUPPORT | CAP.PARALLEL_DIROPS;
    let wantClear = CAP.WRITEBACK_CACHE;
    if (o.posixAcl) wantSet |= CAP.POSIX_ACL | CAP.DONT_MASK; else wantClear |= CAP.POSIX_ACL | CAP.DONT_MASK;
    if (o.autoInvalData === false) wantClear |= CAP.AUTO_INVAL_DATA; else wantSet |= CAP.AUTO_INVAL_DATA;
    if (this.ops.getlk && this.ops.setlk) wantSet |= CAP.POSIX_LOCKS;
    if (this.ops.flock) wantSet |= CAP.FLOCK_LOCKS;
    if (this.ops.ioctl) wantSet |= CAP.IOCTL_DIR;
    this.readyCb = cb;
    let r: { handle: Session; recv: Buffer };
    try {
      r = this.native.mount(this.mnt, ['-o', mo.join(',')], {
        wantSet, wantClear,
        maxWrite: o.maxWrite ?? 131072,
        maxRead,
        maxReadahead: o.maxReadahead ?? 131072,
        passthrough: o.passthrough ? 1 : 0,
      }, this.rawOps());
    } catch (e) {
      this.readyCb = null;
      return cb(e as Error);
    }
    this.session = r.handle;
    this.recv = r.recv;
  }

  /** Unmounts (EBUSY while in use unless lazy); cb runs once the session is gone. */
  unmount(cb: (err: Error | null) => void, lazy = false): void {
    if (!this.session) return cb(null);
    this.native.umount(this.mnt, lazy ? 2 /* MNT_DETACH */ : 0).then(() => {
      // The kernel connection closes right after; closed() will tear the session down.
      this.teardown();
      cb(null);
    }, (e: Error) => cb(e));
  }

  static unmount(mnt: string, cb: (err: Error | null) => void): void {
    nativeFuse().umount(mnt, 2).then(() => cb(null), (e: Error) => cb(e));
  }

  /** Whether the kernel accepted FUSE passthrough for this session (after init). */
  get passthrough(): boolean {
    return !!this.session && this.native.passthrough(this.session);
  }

  /**
   * The open flags and backing id (0: none) of an open of node, or null when the open must fail
   * (EBUSY). The kernel's rules (fs/fuse/iomode.c): while an inode has a passthrough open, every
   * open of it must be a passthrough open on the same backing file (any other fails with EIO); a
   * passthrough open is refused while the inode has page-cache opens; direct-I/O opens go with
   * page-cache ones. So: a passthrough open registers the inode's backing file (first open) or
   * shares it; while cached opens exist it is served cached instead (the handlers then see its
   * I/O, as they would without passthrough); an open the handler wants served by itself while
   * passthrough opens exist cannot be had: EBUSY, never an open whose I/O silently bypasses what
   * the handler asked for. The kernel may also refuse the backing file (e.g. stacked too deep):
   * then the open is served as if passthrough had not been asked for.
   */
  private ioMode(node: Node, fh: number, o: OpenOptions | undefined): [bits: number, backing: number] | null {
    if (node.backing && !o?.passthrough) return null;
    let mode = o?.directIo ? IoMode.Direct : IoMode.Cached;
    if (o?.passthrough && this.session && node.cachedOpens === 0) {
      if (!node.backing) {
        const id = this.native.passthrough(this.session) ? this.native.backingOpen(this.session, o.passthroughFd ?? fh) : -1;
        if (id > 0) node.backing = { id, opens: 0 };
      }
      if (node.backing) mode = IoMode.Passthrough;
    }
    (node.io ??= new Map()).set(fh, mode);
    if (mode === IoMode.Passthrough) node.backing!.opens++;
    else if (mode === IoMode.Cached) node.cachedOpens++;
    return [openBits(o), mode === IoMode.Passthrough ? node.backing!.id : 0];
  }

  /** An open of node is released: the last passthrough open unregisters the backing file. */
  private ioReleased(node: Node, fh: number): void {
    const mode = node.io!.get(fh);
    if (mode === undefined) return;
    node.io!.delete(fh);
    if (mode === IoMode.Cached) node.cachedOpens--;
    else if (mode === IoMode.Passthrough && node.backing && --node.backing.opens === 0) {
      if (this.session) this.native.backingClose(this.session, node.backing.id);
      node.backing = null;
    }
  }

  private teardown(): void {
    if (!this.session) return;
    const s = this.session;
    this.session = null;
    this.mounted = false;
    this.native.destroy(s);
    if (!this.closedFired) {
      this.closedFired = true;
      this.opts.onClosed?.();
    }
  }

  /** Keep (true) or do not keep (false) the Node process alive for this mount. */
  ref(on: boolean): void {
    if (this.session) this.native.ref(this.session, on);
  }

  // ------------------------------------------------------------------ cache invalidation

  private nodeByPath(p: string): Node | null {
    let n: Node | undefined = this.root;
    for (const part of p.split('/')) {
      if (!part) continue;
      n = n.kids?.get(part);
      if (!n) return null;
    }
    return n;
  }

  /** Drops the kernel's cached attributes and data pages of a path (no-op if not cached). */
  invalidate(path: string): void {
    const n = this.nodeByPath(path);
    if (n && this.session) this.native.invalInode(this.session, n.id, 0, 0);
  }

  /**
   * Same, by backing inode number; resolves once the kernel has dropped them (the notification is
   * sent from the binding's own thread; the result may be ignored).
   */
  invalidateIno(ino: bigint | number): Promise<void> {
    const n = this.byIno.get(this.inoKey(typeof ino === 'bigint' ? ino : BigInt(ino)));
    if (!n || !this.session) return Promise.resolve();
    this.native.invalInode(this.session, n.id, 0, 0);
    return this.native.notifyFlush(this.session);
  }

  /** Drops the kernel's cached name lookup of a path. */
  invalidateEntry(path: string): void {
    const i = path.lastIndexOf('/');
    const parent = this.nodeByPath(path.slice(0, i) || '/');
    if (parent && this.session) this.native.invalEntry(this.session, parent.id, path.slice(i + 1));
  }

  // ------------------------------------------------------------------ node table

  private inoKey(ino: bigint): number | string {
    return ino <= 0x1fffffffffffffn ? Number(ino) : ino.toString();
  }

  private pathOf(n: Node): string {
    if (n === this.root) return '/';
    if (n.pathEpoch === this.epoch) return n.cachedPath;
    const parent = n.parent as Node;
    const pp = parent === this.root ? '' : this.pathOf(parent);
    n.cachedPath = pp + '/' + n.name;
    n.pathEpoch = this.epoch;
    return n.cachedPath;
  }

  private childPath(parent: Node, name: string): string {
    return parent === this.root ? '/' + name : this.pathOf(parent) + '/' + name;
  }

  private attach(n: Node, parent: Node, name: string): void {
    (parent.kids ??= new Map()).set(name, n);
  }

  /** Registers a looked-up entry; hard links of one inode share one node. */
  private remember(parent: Node, name: string, st: BigUint64Array): Node {
    const key = this.inoKey(st[ST.INO]);
    let n = this.byIno.get(key);
    if (n && n !== this.root) {
      if (n.parent !== parent || n.name !== name) {
        // Another name of the same file: keep the old one as an alias, use the new one.
        const old = n.parent as Node;
        if (old.kids?.get(n.name) === n) (n.aliases ??= []).push({ parent: old, name: n.name });
        if (n.aliases) n.aliases = n.aliases.filter((a) => !(a.parent === parent && a.name === name));
        n.parent = parent;
        n.name = name;
        n.unlinked = false;
        this.renamed(n);
      }
    } else {
      n = new Node(this.nextId++, key, parent, name);
      this.nodes.set(n.id, n);
      this.byIno.set(key, n);
    }
    const prev = parent.kids?.get(name);
    if (prev && prev !== n) this.dropName(parent, name);
    this.attach(n, parent, name);
    n.nlookup++;
    return n;
  }

  /** The primary name of a node changed: its path, and its descendants' if a directory, are stale. */
  private renamed(n: Node): void {
    n.pathEpoch = -1;
    if (n.kids && n.kids.size) this.epoch++;
  }

  /** A name went away (unlink, rmdir, rename over it). */
  private dropName(parent: Node, name: string): void {
    const n = parent.kids?.get(name);
    if (!n) return;
    parent.kids!.delete(name);
    if (n.parent === parent && n.name === name) {
      const next = n.aliases?.pop();
      if (next) { n.parent = next.parent; n.name = next.name; this.renamed(n); }
      else {
        n.unlinked = true;
        if (this.byIno.get(n.key) === n) this.byIno.delete(n.key); // the inode number may be reused
      }
    } else if (n.aliases) {
      n.aliases = n.aliases.filter((a) => !(a.parent === parent && a.name === name));
    }
  }

  private moved(parent: Node, name: string, newParent: Node, newName: string): void {
    const n = parent.kids?.get(name);
    if (!n) return;
    parent.kids!.delete(name);
    this.relink(n, parent, name, newParent, newName);
  }

  /** The name parent/name of node n (primary or alias) is now newParent/newName. */
  private relink(n: Node, parent: Node, name: string, newParent: Node, newName: string): void {
    if (n.parent === parent && n.name === name) { n.parent = newParent; n.name = newName; this.renamed(n); }
    else if (n.aliases) {
      for (const a of n.aliases) if (a.parent === parent && a.name === name) { a.parent = newParent; a.name = newName; }
    }
    this.attach(n, newParent, newName);
  }

  private forgetNode(n: Node): void {
    this.nodes.delete(n.id);
    if (this.byIno.get(n.key) === n) this.byIno.delete(n.key);
    if (n.parent?.kids?.get(n.name) === n) n.parent.kids.delete(n.name);
    for (const a of n.aliases ?? []) if (a.parent.kids?.get(a.name) === n) a.parent.kids.delete(a.name);
  }

  private node(req: Req, id: number): Node | null {
    const n = this.nodes.get(id);
    if (!n) this.native.replyErr(req, E.ESTALE);
    return n ?? null;
  }

  // ------------------------------------------------------------------ conversions

  private toStat(st: StatLike): BigUint64Array {
    if (st instanceof BigUint64Array) return st;
    const a = this.statScratch;
    a[ST.DEV] = big(st.dev); a[ST.INO] = big(st.ino); a[ST.MODE] = big(st.mode);
    a[ST.NLINK] = big(st.nlink ?? 1); a[ST.UID] = big(st.uid); a[ST.GID] = big(st.gid);
    a[ST.RDEV] = big(st.rdev); a[ST.SIZE] = big(st.size); a[ST.BLKSIZE] = big(st.blksize ?? 4096);
    a[ST.BLOCKS] = big(st.blocks);
    [a[ST.ATIME], a[ST.ATIME_NS]] = timeParts(st.atime);
    [a[ST.MTIME], a[ST.MTIME_NS]] = timeParts(st.mtime);
    [a[ST.CTIME], a[ST.CTIME_NS]] = timeParts(st.ctime);
    return a;
  }

  private toStatfs(s: StatfsObject | BigUint64Array): BigUint64Array {
    if (s instanceof BigUint64Array) return s;
    return BigUint64Array.from([s.bsize, s.frsize ?? s.bsize, s.blocks, s.bfree, s.bavail, s.files, s.ffree,
      s.favail ?? s.ffree, s.fsid ?? 0, s.flag ?? 0, s.namemax].map((v) => big(v)));
  }

  private ctx(req: Req): RequestContext {
    const native = this.native;
    native.context(req, this.ctxBuf);
    const c = this.ctxBuf;
    return {
      uid: c[0], gid: c[1], pid: c[2], umask: c[3], flags: 0,
      groups: () => native.groups(req),
      interrupted: () => native.interrupted(req),
    };
  }

  private replyErrOr(req: Req, err: unknown): boolean {
    if (err === null || err === undefined || err === 0) return false;
    this.native.replyErr(req, toErrno(err));
    return true;
  }

  /** Calls a handler as a method of the ops object, with the request context after the callback. */
  private invoke<K extends Exclude<keyof FuseOps, 'init'>>(name: K, ctx: RequestContext, ...args: HandlerArgs<FuseOps[K]>): void {
    (this.ops[name] as unknown as (...a: unknown[]) => void).apply(this.ops, [...args, ctx]);
  }

  /** Runs a handler; a throw becomes EIO for that request instead of killing the daemon. */
  private run(req: Req, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      process.emitWarning(`fuse handler failed: ${(e as Error)?.stack ?? e}`);
      this.native.replyErr(req, E.EIO);
    }
  }

  /** Replies an entry for `parent/name` after a successful create-like op. */
  private replyNewEntry(req: Req, ctx: RequestContext, parent: Node, name: string): void {
    const path = this.childPath(parent, name);
    if (!this.ops.getattr) { this.native.replyErr(req, E.ENOSYS); return; }
    this.invoke('getattr', ctx, path, (err, st) => {
      if (this.replyErrOr(req, err)) return;
      const a = this.toStat(st as StatLike);
      const n = this.remember(parent, name, a);
      this.native.replyEntry(req, n.id, 0, a, this.attrTimeout, this.entryTimeout);
    });
  }

  /**
   * For a file whose names are all gone (unlinked while open): the open handle to reach it
   * through, with `op`. -1 when the node still has a name (use its path); null when the request
   * was answered here (ENOENT: no handle, or no `op` to use it with).
   */
  private orphanFh(req: Req, node: Node, op: keyof FuseOps): number | null {
    if (!node.unlinked) return -1;
    const fh = node.fhs?.length ? node.fhs[0] : -1;
    if (fh < 0 || !this.ops[op]) {
      this.native.replyErr(req, E.ENOENT);
      return null;
    }
    return fh;
  }

  private readBuf(size: number): Buffer {
    const b = this.readBufs.pop();
    if (b && b.length >= size) return b;
    return Buffer.allocUnsafeSlow(Math.max(size, 131072));
  }

  // ------------------------------------------------------------------ raw ops

  private rawOps(): Record<string, unknown> {
    const n = this.native;
    const ops = this.ops;
    const self = this;
    const r: Record<string, unknown> = {
      init() {
        self.mounted = true;
        const done = (err: unknown) => {
          const cb = self.readyCb;
          self.readyCb = null;
          cb?.(err ? new Error(`init failed: errno ${toErrno(err)}`) : null);
        };
        if (ops.init) { try { ops.init(done); } catch (e) { done(e); } } else setImmediate(() => done(null));
      },
      closed() {
        self.mounted = false;
        if (!self.closedFired) {
          self.closedFired = true;
          self.opts.onClosed?.();
        }
        setImmediate(() => self.teardown());
      },
      lookup(req: Req, parentId: number, name: string) {
        const parent = self.node(req, parentId);
        if (!parent) return;
        if (!ops.getattr) return n.replyErr(req, E.ENOSYS);
        const path = self.childPath(parent, name);
        self.run(req, () => self.invoke('getattr', self.ctx(req), path, (err, st) => {
          if (err) {
            const e = toErrno(err);
            if (e === E.ENOENT && self.negativeTimeout > 0) {
              n.replyEntry(req, 0, 0, self.statScratch.fill(0n), 0, self.negativeTimeout);
            } else n.replyErr(req, e);
            return;
          }
          const a = self.toStat(st as StatLike);
          const node = self.remember(parent, name, a);
          n.replyEntry(req, node.id, 0, a, self.attrTimeout, self.entryTimeout);
        }));
      },
      forget(id: number, count: number) {
        const node = self.nodes.get(id);
        if (!node || node === self.root) return;
        node.nlookup -= count;
        if (node.nlookup <= 0) self.forgetNode(node);
      },
      getattr(req: Req, id: number, fh: number) {
        const node = self.node(req, id);
        if (!node) return;
        const path = self.pathOf(node);
        const done = (err: unknown, st?: StatLike) => {
          if (self.replyErrOr(req, err)) return;
          const a = self.toStat(st as StatLike);
          if (node === self.root) self.root.key = self.inoKey(a[ST.INO]);
          n.replyAttr(req, a, self.attrTimeout);
        };
        if (fh < 0 && node.fhs?.length) fh = node.fhs[0];
        if (fh < 0 && node.unlinked) return void n.replyErr(req, E.ENOENT);
        self.run(req, () => {
          if (fh >= 0 && ops.fgetattr) self.invoke('fgetattr', self.ctx(req), path, fh, done);
          else if (ops.getattr) self.invoke('getattr', self.ctx(req), path, done);
          else n.replyErr(req, E.ENOSYS);
        });
      },
      setattr(req: Req, id: number, toSet: number, fh: number, mode: number, uid: number, gid: number, size: number,
        atime: number, atimeNs: number, mtime: number, mtimeNs: number) {
        const node = self.node(req, id);
        if (!node) return;
        const path = self.pathOf(node);
        // The kernel names a handle only for ftruncate (and O_TRUNC opens); that one may be
        // truncated through. Any handle of the node may be used to read attributes, and is the only
        // way left to change a file whose names are all gone (fchmod, futimens on an unlinked file).
        const given = fh;
        if (fh < 0 && node.fhs?.length) fh = node.fhs[0];
        if (node.unlinked && fh < 0) return void n.replyErr(req, E.ENOENT);
        const byFd = node.unlinked;
        const ctx = self.ctx(req);
        const steps: Array<(cb: Cb) => void> = [];
        const need = (op: keyof FuseOps) => {
          if (!ops[op]) throw Object.assign(new Error(op), { errno: byFd ? E.ENOENT : E.ENOSYS });
        };
        try {
          if (toSet & 1) {
            if (byFd) { need('fchmod'); steps.push((cb) => self.invoke('fchmod', ctx, path, fh, mode, cb)); }
            else { need('chmod'); steps.push((cb) => self.invoke('chmod', ctx, path, mode, cb)); }
          }
          if (toSet & 6) {
            const u = toSet & 2 ? uid : -1;
            const g = toSet & 4 ? gid : -1;
            if (byFd) { need('fchown'); steps.push((cb) => self.invoke('fchown', ctx, path, fh, u, g, cb)); }
            else { need('chown'); steps.push((cb) => self.invoke('chown', ctx, path, u, g, cb)); }
          }
          if (toSet & 8) {
            const tfh = given >= 0 ? given : byFd ? fh : -1;
            if (tfh >= 0 && ops.ftruncate) steps.push((cb) => self.invoke('ftruncate', ctx, path, tfh, size, cb));
            else { need('truncate'); steps.push((cb) => self.invoke('truncate', ctx, path, size, cb)); }
          }
          if (toSet & (16 | 32 | 128 | 256)) {
            const at: Timespec = toSet & 128 ? { sec: 0, nsec: UTIME_NOW } : toSet & 16 ? { sec: atime, nsec: atimeNs } : { sec: 0, nsec: UTIME_OMIT };
            const mt: Timespec = toSet & 256 ? { sec: 0, nsec: UTIME_NOW } : toSet & 32 ? { sec: mtime, nsec: mtimeNs } : { sec: 0, nsec: UTIME_OMIT };
            if (byFd) { need('futimens'); steps.push((cb) => self.invoke('futimens', ctx, path, fh, at, mt, cb)); }
            else { need('utimens'); steps.push((cb) => self.invoke('utimens', ctx, path, at, mt, cb)); }
          }
          if (!steps.length) {
            // A setattr that changes nothing is chown(f, -1, -1) (the kernel's ATTR_CTIME alone): a
            // local filesystem still updates the ctime, so the backing file gets the same call.
            if (byFd) { need('fchown'); steps.push((cb) => self.invoke('fchown', ctx, path, fh, -1, -1, cb)); }
            else { need('chown'); steps.push((cb) => self.invoke('chown', ctx, path, -1, -1, cb)); }
          }
        } catch (e) { return void self.replyErrOr(req, e); }
        let i = 0;
        const next = (err: unknown) => {
          if (self.replyErrOr(req, err)) return;
          if (i < steps.length) { self.run(req, () => steps[i++](next)); return; }
          const done = (e2: unknown, st?: StatLike) => {
            if (self.replyErrOr(req, e2)) return;
            n.replyAttr(req, self.toStat(st as StatLike), self.attrTimeout);
          };
          self.run(req, () => {
            if (fh >= 0 && ops.fgetattr) self.invoke('fgetattr', ctx, path, fh, done);
            else self.invoke('getattr', ctx, path, done);
          });
        };
        next(null);
      },
      readlink(req: Req, id: number) {
        const node = self.node(req, id);
        if (!node) return;
        if (!ops.readlink) return n.replyErr(req, E.ENOSYS);
        self.run(req, () => self.invoke('readlink', self.ctx(req), self.pathOf(node), (err, target) => {
          if (self.replyErrOr(req, err)) return;
          n.replyReadlink(req, target ?? '');
        }));
      },
      mknod(req: Req, pid: number, name: string, mode: number, rdev: number) {
        const parent = self.node(req, pid);
        if (!parent) return;
        if (!ops.mknod) return n.replyErr(req, E.ENOSYS);
        const ctx = self.ctx(req);
        self.run(req, () => self.invoke('mknod', ctx, self.childPath(parent, name), mode, rdev, (err) => {
          if (self.replyErrOr(req, err)) return;
          self.replyNewEntry(req, ctx, parent, name);
        }));
      },
      mkdir(req: Req, pid: number, name: string, mode: number) {
        const parent = self.node(req, pid);
        if (!parent) return;
        if (!ops.mkdir) return n.replyErr(req, E.ENOSYS);
        const ctx = self.ctx(req);
        self.run(req, () => self.invoke('mkdir', ctx, self.childPath(parent, name), mode, (err) => {
          if (self.replyErrOr(req, err)) return;
          self.replyNewEntry(req, ctx, parent, name);
        }));
      },
      unlink(req: Req, pid: number, name: string) {
        const parent = self.node(req, pid);
        if (!parent) return;
        if (!ops.unlink) return n.replyErr(req, E.ENOSYS);
        self.run(req, () => self.invoke('unlink', self.ctx(req), self.childPath(parent, name), (err) => {
          if (self.replyErrOr(req, err)) return;
          self.dropName(parent, name);
          n.replyErr(req, 0);
        }));
      },
      rmdir(req: Req, pid: number, name: string) {
        const parent = self.node(req, pid);
        if (!parent) return;
        if (!ops.rmdir) return n.replyErr(req, E.ENOSYS);
        self.run(req, () => self.invoke('rmdir', self.ctx(req), self.childPath(parent, name), (err) => {
          if (self.replyErrOr(req, err)) return;
          self.dropName(parent, name);
          n.replyErr(req, 0);
        }));
      },
      symlink(req: Req, target: string, pid: number, name: string) {
        const parent = self.node(req, pid);
        if (!parent) return;
        if (!ops.symlink) return n.replyErr(req, E.ENOSYS);
        const ctx = self.ctx(req);
        self.run(req, () => self.invoke('symlink', ctx, target, self.childPath(parent, name), (err) => {
          if (self.replyErrOr(req, err)) return;
          self.replyNewEntry(req, ctx, parent, name);
        }));
      },
      rename(req: Req, pid: number, name: string, npid: number, newName: string, flags: number) {
        const parent = self.node(req, pid);
        if (!parent) return;
        const np = self.node(req, npid);
        if (!np) return;
        if (!ops.rename) return n.replyErr(req, E.ENOSYS);
        const ctx = self.ctx(req);
        ctx.flags = flags;
        self.run(req, () => self.invoke('rename', ctx, self.childPath(parent, name), self.childPath(np, newName), (err: unknown) => {
          if (self.replyErrOr(req, err)) return;
          if (flags & 2 /* RENAME_EXCHANGE */) {
            // Each side may be a node's primary name or one of its aliases (hard links).
            const a = parent.kids?.get(name);
            const b = np.kids?.get(newName);
            if (a) parent.kids!.delete(name);
            if (b) np.kids!.delete(newName);
            if (a) self.relink(a, parent, name, np, newName);
            if (b) self.relink(b, np, newName, parent, name);
          } else {
            self.dropName(np, newName);
            self.moved(parent, name, np, newName);
          }
          n.replyErr(req, 0);
        }));
      },
      link(req: Req, id: number, npid: number, newName: string) {
        const node = self.node(req, id);
        if (!node) return;
        const np = self.node(req, npid);
        if (!np) return;
        if (!ops.link) return n.replyErr(req, E.ENOSYS);
        const ctx = self.ctx(req);
        self.run(req, () => self.invoke('link', ctx, self.pathOf(node), self.childPath(np, newName), (err) => {
          if (self.replyErrOr(req, err)) return;
          self.replyNewEntry(req, ctx, np, newName);
        }));
      },
      open(req: Req, id: number, flags: number) {
        const node = self.node(req, id);
        if (!node) return;
        if (!ops.open) return n.replyOpen(req, 0, 0);
        self.run(req, () => self.invoke('open', self.ctx(req), self.pathOf(node), flags, (err, fd, o) => {
          if (self.replyErrOr(req, err)) return;
          const io = self.ioMode(node, fd ?? 0, o);
          if (!io) {
            if (ops.release) self.invoke('release', self.ctx(req), self.pathOf(node), fd ?? 0, () => undefined);
            return void n.replyErr(req, E.EBUSY);
          }
          (node.fhs ??= []).push(fd ?? 0);
          n.replyOpen(req, fd ?? 0, io[0], io[1]);
        }));
      },
      read(req: Req, id: number, fh: number, size: number, off: number) {
        const node = self.node(req, id);
        if (!node) return;
        if (!ops.read) return n.replyErr(req, E.ENOSYS);
        const buf = self.readBuf(size);
        self.run(req, () => self.invoke('read', self.ctx(req), self.pathOf(node), fh, buf, size, off, (bytes) => {
          if (bytes < 0) n.replyErr(req, -bytes);
          else n.replyBuf(req, buf, Math.min(bytes, size));
          if (self.readBufs.length < 64) self.readBufs.push(buf);
        }));
      },
      write(req: Req, id: number, fh: number, bufOff: number, size: number, off: number) {
        const node = self.node(req, id);
        if (!node) return;
        if (!ops.write) return n.replyErr(req, E.ENOSYS);
        const buf = (self.recv as Buffer).subarray(bufOff, bufOff + size);
        self.run(req, () => self.invoke('write', self.ctx(req), self.pathOf(node), fh, buf, size, off, (bytes) => {
          if (bytes < 0) n.replyErr(req, -bytes);
          else n.replyWrite(req, bytes);
        }));
      },
      flush(req: Req, id: number, fh: number) {
        const node = self.node(req, id);
        if (!node) return;
        if (!ops.flush) return n.replyErr(req, 0);
        self.run(req, () => self.invoke('flush', self.ctx(req), self.pathOf(node), fh, (err) => n.replyErr(req, err ? toErrno(err) : 0)));
      },
      release(req: Req, id: number, fh: number) {
        const node = self.nodes.get(id);
        if (node?.fhs) {
          const i = node.fhs.indexOf(fh);
          if (i >= 0) node.fhs.splice(i, 1);
        }
        if (node?.io) self.ioReleased(node, fh);
        if (!ops.release) return n.replyErr(req, 0);
        self.run(req, () => self.invoke('release', self.ctx(req), node ? self.pathOf(node) : '', fh, (err) => n.replyErr(req, err ? toErrno(err) : 0)));
      },
      fsync(req: Req, id: number, fh: number, datasync: number) {
        const node = self.node(req, id);
        if (!node) return;
        if (!ops.fsync) return n.replyErr(req, 0);
        self.run(req, () => self.invoke('fsync', self.ctx(req), self.pathOf(node), !!datasync, fh, (err) => n.replyErr(req, err ? toErrno(err) : 0)));
      },
      opendir(req: Req, id: number, flags: number) {
        const node = self.node(req, id);
        if (!node) return;
        const made = (fd: number) => {
          const h = self.nextDir++;
          self.dirs.set(h, { fh: fd, names: null, inos: new BigUint64Array(0), types: new Uint8Array(0) });
          // A directory handle also answers for the directory once it is removed (fstat, fchmod...).
          if (fd > 0) (node.fhs ??= []).push(fd);
          n.replyOpen(req, h, 0);
        };
        if (!ops.opendir) return made(0);
        self.run(req, () => self.invoke('opendir', self.ctx(req), self.pathOf(node), flags, (err, fd) => {
          if (self.replyErrOr(req, err)) return;
          made(fd ?? 0);
        }));
      },
      readdir(req: Req, id: number, fh: number, size: number, off: number) {
        const node = self.node(req, id);
        if (!node) return;
        const d = self.dirs.get(fh);
        if (!d) return n.replyErr(req, E.EBADF);
        if (d.names && off > 0) { n.replyReaddir(req, size, d.names, d.inos, d.types, off); return; }
        if (!ops.readdir) return n.replyErr(req, E.ENOSYS);
        self.run(req, () => self.invoke('readdir', self.ctx(req), self.pathOf(node), (err, names, stats) => {
          if (self.replyErrOr(req, err)) return;
          const list = names ?? [];
          const count = list.length + 2;
          const inos = new BigUint64Array(count);
          const UNKNOWN = 0xffffffffn;
          const ino = (v: number | bigint | undefined) => (v ? big(v) : UNKNOWN);
          const types = new Uint8Array(count);
          const all = ['.', '..', ...list];
          types[0] = types[1] = 4; // DT_DIR
          inos[0] = inos[1] = UNKNOWN;
          if (stats && !Array.isArray(stats)) {
            inos[0] = ino(stats.dotIno);
            inos[1] = ino(stats.dotdotIno);
            for (let i = 0; i < list.length; i++) { inos[i + 2] = ino(stats.inos[i]); types[i + 2] = Number(stats.types[i]) || 0; }
          } else if (Array.isArray(stats)) {
            for (let i = 0; i < list.length; i++) {
              const a = stats[i] ? self.toStat(stats[i]) : null;
              inos[i + 2] = a ? ino(a[ST.INO]) : UNKNOWN;
              types[i + 2] = a ? (Number(a[ST.MODE]) & S_IFMT) >> 12 : 0;
            }
          } else inos.fill(UNKNOWN);
          d.names = all; d.inos = inos; d.types = types;
          n.replyReaddir(req, size, all, inos, types, off);
        }));
      },
      releasedir(req: Req, id: number, fh: number) {
        const d = self.dirs.get(fh);
        self.dirs.delete(fh);
        const node = self.nodes.get(id);
        if (d && d.fh > 0 && node?.fhs) {
          const i = node.fhs.indexOf(d.fh);
          if (i >= 0) node.fhs.splice(i, 1);
        }
        if (!d || !ops.releasedir) return n.replyErr(req, 0);
        self.run(req, () => self.invoke('releasedir', self.ctx(req), node ? self.pathOf(node) : '', d.fh, (err) => n.replyErr(req, err ? toErrno(err) : 0)));
      },
      fsyncdir(req: Req, id: number, fh: number, datasync: number) {
        const node = self.node(req, id);
        if (!node) return;
        const d = self.dirs.get(fh);
        if (!ops.fsyncdir) return n.replyErr(req, 0);
        self.run(req, () => self.invoke('fsyncdir', self.ctx(req), self.pathOf(node), !!datasync, d ? d.fh : 0, (err) => n.replyErr(req, err ? toErrno(err) : 0)));
      },
      statfs(req: Req, id: number) {
        const node = self.nodes.get(id) ?? self.root;
        if (!ops.statfs) return n.replyStatfs(req, new BigUint64Array(11));
        self.run(req, () => self.invoke('statfs', self.ctx(req), self.pathOf(node), (err, st) => {
          if (self.replyErrOr(req, err)) return;
          n.replyStatfs(req, self.toStatfs(st as StatfsObject));
        }));
      },
      setxattr(req: Req, id: number, name: string, value: Buffer, flags: number) {
        const node = self.node(req, id);
        if (!node) return;
        const done = (err: unknown) => n.replyErr(req, err ? toErrno(err) : 0);
        const fh = self.orphanFh(req, node, 'fsetxattr');
        if (fh === null) return;
        if (fh >= 0) return self.run(req, () => self.invoke('fsetxattr', self.ctx(req), self.pathOf(node), fh, name, value, 0, flags, done));
        self.run(req, () => self.invoke('setxattr', self.ctx(req), self.pathOf(node), name, value, 0, flags, done));
      },
      getxattr(req: Req, id: number, name: string, size: number) {
        const node = self.node(req, id);
        if (!node) return;
        const done = (err: unknown, value?: Buffer) => {
          if (self.replyErrOr(req, err)) return;
          const v = value ?? Buffer.alloc(0);
          if (size === 0) n.replyXattr(req, v.length);
          else if (v.length > size) n.replyErr(req, E.ERANGE);
          else n.replyBuf(req, v, v.length);
        };
        const fh = self.orphanFh(req, node, 'fgetxattr');
        if (fh === null) return;
        if (fh >= 0) return self.run(req, () => self.invoke('fgetxattr', self.ctx(req), self.pathOf(node), fh, name, 0, done));
        self.run(req, () => self.invoke('getxattr', self.ctx(req), self.pathOf(node), name, 0, done));
      },
      listxattr(req: Req, id: number, size: number) {
        const node = self.node(req, id);
        if (!node) return;
        const done = (err: unknown, names?: string[]) => {
          if (self.replyErrOr(req, err)) return;
          const v = Buffer.from((names ?? []).map((x) => x + '\0').join(''));
          if (size === 0) n.replyXattr(req, v.length);
          else if (v.length > size) n.replyErr(req, E.ERANGE);
          else n.replyBuf(req, v, v.length);
        };
        const fh = self.orphanFh(req, node, 'flistxattr');
        if (fh === null) return;
        if (fh >= 0) return self.run(req, () => self.invoke('flistxattr', self.ctx(req), self.pathOf(node), fh, done));
        self.run(req, () => self.invoke('listxattr', self.ctx(req), self.pathOf(node), done));
      },
      removexattr(req: Req, id: number, name: string) {
        const node = self.node(req, id);
        if (!node) return;
        const done = (err: unknown) => n.replyErr(req, err ? toErrno(err) : 0);
        const fh = self.orphanFh(req, node, 'fremovexattr');
        if (fh === null) return;
        if (fh >= 0) return self.run(req, () => self.invoke('fremovexattr', self.ctx(req), self.pathOf(node), fh, name, done));
        self.run(req, () => self.invoke('removexattr', self.ctx(req), self.pathOf(node), name, done));
      },
      access(req: Req, id: number, mask: number) {
        const node = self.node(req, id);
        if (!node) return;
        self.run(req, () => self.invoke('access', self.ctx(req), self.pathOf(node), mask, (err) => n.replyErr(req, err ? toErrno(err) : 0)));
      },
      create(req: Req, pid: number, name: string, mode: number, flags: number) {
        const parent = self.node(req, pid);
        if (!parent) return;
        if (!ops.create) return n.replyErr(req, E.ENOSYS);
        const ctx = self.ctx(req);
        const path = self.childPath(parent, name);
        ctx.flags = flags;
        self.run(req, () => self.invoke('create', ctx, path, mode, (err: unknown, fd?: number, o?: OpenOptions) => {
          if (self.replyErrOr(req, err)) return;
          const fh = fd ?? 0;
          const got = (e2: unknown, st?: StatLike) => {
            if (e2) {
              // The file exists but cannot be described: close it again and fail.
              if (ops.release) self.invoke('release', ctx, path, fh, () => undefined);
              return void n.replyErr(req, toErrno(e2));
            }
            const a = self.toStat(st as StatLike);
            const node = self.remember(parent, name, a);
            const io = self.ioMode(node, fh, o);
            if (!io) return got(E.EBUSY);
            (node.fhs ??= []).push(fh);
            n.replyCreate(req, node.id, 0, a, self.attrTimeout, self.entryTimeout, fh, io[0], io[1]);
          };
          self.run(req, () => {
            if (ops.fgetattr) self.invoke('fgetattr', ctx, path, fh, got);
            else self.invoke('getattr', ctx, path, got);
          });
        }));
      },
      getlk(req: Req, id: number, fh: number, owner: number, type: number, start: number, len: number, pid: number) {
        const node = self.node(req, id);
        if (!node) return;
        self.run(req, () => self.invoke('getlk', self.ctx(req), self.pathOf(node), fh, owner, { type, start, len, pid }, (err, l) => {
          if (self.replyErrOr(req, err)) return;
          const x = l ?? { type: 2 /* F_UNLCK */, start: 0, len: 0, pid: 0 };
          n.replyLock(req, x.type, x.start, x.len, x.pid);
        }));
      },
      setlk(req: Req, id: number, fh: number, owner: number, type: number, start: number, len: number, pid: number, sleep: number) {
        const node = self.node(req, id);
        if (!node) return;
        self.run(req, () => self.invoke('setlk', self.ctx(req), self.pathOf(node), fh, owner, { type, start, len, pid }, !!sleep, (err) => n.replyErr(req, err ? toErrno(err) : 0)));
      },
      flock(req: Req, id: number, fh: number, owner: number, op: number) {
        const node = self.node(req, id);
        if (!node) return;
        self.run(req, () => self.invoke('flock', self.ctx(req), self.pathOf(node), fh, owner, op, (err) => n.replyErr(req, err ? toErrno(err) : 0)));
      },
      fallocate(req: Req, id: number, fh: number, mode: number, offset: number, length: number) {
        const node = self.node(req, id);
        if (!node) return;
        self.run(req, () => self.invoke('fallocate', self.ctx(req), self.pathOf(node), fh, mode, offset, length, (err) => n.replyErr(req, err ? toErrno(err) : 0)));
      },
      ioctl(req: Req, id: number, fh: number, cmd: number, flags: number, input: Buffer, outSize: number) {
        const node = self.node(req, id);
        if (!node) return;
        // FUSE_IOCTL_UNRESTRICTED (CUSE only) would let the server name any user memory: never.
        if (flags & 2) return n.replyErr(req, E.ENOTTY);
        // FUSE_IOCTL_DIR: fh is a directory handle of ours; the filesystem's handle is inside it.
        const fd = flags & 16 ? self.dirs.get(fh)?.fh ?? -1 : fh;
        if (fd <= 0) return n.replyErr(req, E.EBADF);
        self.run(req, () => self.invoke('ioctl', self.ctx(req), self.pathOf(node), fd, cmd, input, outSize, (err, result, out) => {
          if (self.replyErrOr(req, err)) return;
          const o = out ?? Buffer.alloc(0);
          n.replyIoctl(req, result ?? 0, o, Math.min(o.length, outSize));
        }));
      },
      lseek(req: Req, id: number, fh: number, off: number, whence: number) {
        const node = self.node(req, id);
        if (!node) return;
        self.run(req, () => self.invoke('lseek', self.ctx(req), self.pathOf(node), fh, off, whence, (err, res) => {
          if (self.replyErrOr(req, err)) return;
          n.replyLseek(req, res ?? 0);
        }));
      },
    };
    // Ops the filesystem does not implement stay unset, so the binding leaves them to the kernel.
    const optional: Array<[string, keyof FuseOps | Array<keyof FuseOps>]> = [
      ['setxattr', 'setxattr'], ['getxattr', 'getxattr'], ['listxattr', 'listxattr'], ['removexattr', 'removexattr'],
      ['access', 'access'], ['getlk', ['getlk', 'setlk']], ['setlk', ['getlk', 'setlk']], ['flock', 'flock'],
      ['fallocate', 'fallocate'], ['lseek', 'lseek'], ['ioctl', 'ioctl'],
    ];
    for (const [raw, need] of optional) {
      const list = Array.isArray(need) ? need : [need];
      if (!list.every((k) => typeof ops[k] === 'function')) delete r[raw];
    }
    return r;
  }
}

function openBits(o: OpenOptions | undefined): number {
  if (!o) return 0;
  return (o.directIo ? OPEN.DIRECT_IO : 0) | (o.keepCache ? OPEN.KEEP_CACHE : 0) | (o.nonSeekable ? OPEN.NONSEEKABLE : 0) |
    (o.cacheReaddir ? OPEN.CACHE_READDIR : 0) | (o.noFlush ? OPEN.NOFLUSH : 0);
}

// fuse-native's error constants: Fuse.ENOENT === -2 and so on, for cb(Fuse.ENOENT).
for (const [name, value] of Object.entries(os.constants.errno)) {
  Object.defineProperty(Fuse, name, { value: -value, enumerable: true });
}

/** Fuse with its static errno constants typed (negative, as fuse-native's). */
export type FuseClass = typeof Fuse & { readonly [errno in keyof typeof os.constants.errno]: number };

export default Fuse;
