// The filesystems the DMAPI service can reach (the node's mounts) and the resolution of handles to
// backing objects.
//
// Every lookup goes to the backing directory (never through our own mounts: this thread serves
// them), with openat2(RESOLVE_BENEATH | NO_XDEV | NO_SYMLINKS | NO_MAGICLINKS) below a descriptor of
// the backing root, so nested mounts and symlinks are never crossed.
//
// Decision (handle → object): handles carry (fsid, ino, igen). The daemon keeps an ino → path index,
// filled by every path it resolves; a handle whose cached path no longer leads to its inode (renamed,
// or never seen since the daemon started) is found again by one walk of the backing tree (d_ino from
// getdents, the reserved area skipped), which refreshes the index. Then its generation must match:
// a deleted file is not found (EBADF) and a reused inode number has another generation (EBADF).
import * as fs from 'fs';
import * as path from 'path';
import * as sys from '../native/sys';
import { ReservedArea } from '../fs/reserved';
import { E, fail } from './constants';
import { loadFsConfig, RESERVED, writeAtomic } from './fsconfig';
import { FILE_HANDLE_LEN, makeFsHandle, makeHandle, parseHandle } from './handles';

export const XATTR_PREFIX = 'trusted.dmapifs.';
export const XA_IGEN = XATTR_PREFIX + 'igen';
export const XA_EVENTS = XATTR_PREFIX + 'dm.events';
export const XA_REGIONS = XATTR_PREFIX + 'dm.regions';
export const XA_DTIME = XATTR_PREFIX + 'dm.dtime';
export const XA_ATTR = XATTR_PREFIX + 'dm.a.';

const RESOLVE = sys.RESOLVE_BENEATH | sys.RESOLVE_NO_XDEV | sys.RESOLVE_NO_SYMLINKS | sys.RESOLVE_NO_MAGICLINKS;
const DT_DIR = 4;
const ENODATA = 61;

export interface MountView {
  backing: string;
  mountpoint: string;
  dev: number | null;
  /** Tells two mounts of the same directories apart (the configuration is read at each mount). */
  mountedAt?: number;
}

/** What the DMAPI keeps per filesystem besides config.json (.dmapifs/dmapi-state.json). */
interface FsState {
  eventlist: bigint;
  returnOnDestroy: Buffer | null;
  nextGen: number;
}

export class FsEntry {
  readonly rootFd: number;
  readonly reserved: ReservedArea;
  readonly rootIno: bigint;
  readonly backingDev: bigint;
  /** ino → path relative to the backing root ('' = the root). */
  readonly paths = new Map<bigint, string>();
  /** Generation scheme: FS_IOC_GETVERSION when the backing filesystem answers it. */
  readonly kernelGen: boolean;
  state: FsState;
  readonly fsHandle: Buffer;
  private readonly stateFile: string;

  mountedAt: number | undefined;

  constructor(readonly fsid: bigint, readonly backing: string, public mountpoint: string, public dev: number | null, public enabled: boolean) {
    this.fsHandle = makeFsHandle(fsid);
    this.reserved = new ReservedArea(backing);
    this.stateFile = path.join(backing, RESERVED, 'dmapi-state.json');
    this.state = this.loadState();
    this.reserved.prepare();
    const fd = sys.open(backing, sys.O_PATH | sys.O_DIRECTORY | sys.O_CLOEXEC, 0);
    if (fd < 0) throw new Error(`cannot open ${backing}: ${sys.strerror(-fd)}`);
    this.rootFd = fd;
    const st = new BigUint64Array(sys.STAT_FIELDS);
    sys.fstat(fd, st);
    this.rootIno = st[sys.STAT_INO];
    this.backingDev = st[sys.STAT_DEV];
    this.paths.set(this.rootIno, '');
    const rfd = sys.open(backing, sys.O_RDONLY | sys.O_DIRECTORY | sys.O_CLOEXEC, 0);
    this.kernelGen = rfd >= 0 && sys.getVersion(rfd) >= 0;
    if (rfd >= 0) sys.close(rfd);
  }

  close(): void {
    sys.close(this.rootFd);
  }

  private loadState(): FsState {
    try {
      const j = JSON.parse(fs.readFileSync(this.stateFile, 'utf8')) as { eventlist?: string; returnOnDestroy?: string | null; nextGen?: number };
      return {
        eventlist: BigInt(j.eventlist ?? '0'),
        returnOnDestroy: j.returnOnDestroy ? Buffer.from(j.returnOnDestroy, 'hex') : null,
        nextGen: typeof j.nextGen === 'number' ? j.nextGen : 1,
      };
    } catch {
      return { eventlist: 0n, returnOnDestroy: null, nextGen: 1 };
    }
  }

  saveState(): void {
    writeAtomic(this.stateFile, JSON.stringify({
      eventlist: '0x' + this.state.eventlist.toString(16),
      returnOnDestroy: this.state.returnOnDestroy ? this.state.returnOnDestroy.toString('hex') : null,
      nextGen: this.state.nextGen,
    }) + '\n');
  }
}

export type ObjType = 'reg' | 'dir' | 'lnk' | 'other';

/** A resolved object: its filesystem, identity, backing path and stat. */
export interface Obj {
  fs: FsEntry;
  ino: bigint;
  igen: number;
  rel: string;
  st: BigUint64Array;
  type: ObjType;
  handle: Buffer;
  /** True for a filesystem handle (the object is then the root directory). */
  isFs: boolean;
  /** Set by Dmapi.objectChanged: the mounts' caches of the object are being dropped. */
  invalidated?: Promise<void>;
}

export function typeOf(mode: number): ObjType {
  const t = mode & sys.S_IFMT;
  return t === sys.S_IFREG ? 'reg' : t === sys.S_IFDIR ? 'dir' : t === sys.S_IFLNK ? 'lnk' : 'other';
}

/** Runs fn(dirfd, name) on the parent of a backing-relative path ('.' for the root). */
export function atObj<T>(fsE: FsEntry, rel: string, fn: (dirfd: number, name: string) => T): T | number {
  if (rel === '') return fn(fsE.rootFd, '.');
  const i = rel.lastIndexOf('/');
  if (i < 0) return fn(fsE.rootFd, rel);
  const dfd = sys.openat2(fsE.rootFd, rel.slice(0, i), sys.O_PATH | sys.O_DIRECTORY | sys.O_CLOEXEC, 0, RESOLVE);
  if (dfd < 0) return dfd;
  try {
    return fn(dfd, rel.slice(i + 1));
  } finally {
    sys.close(dfd);
  }
}

/** The /proc path l*xattr calls use for (dirfd, name): the dirfd link is followed, the name is not. */
function procPath(dirfd: number, name: string): string {
  return `/proc/self/fd/${dirfd}/${name}`;
}

export function getXattr(o: Obj, name: string): Buffer | null {
  const r = atObj(o.fs, o.rel, (d, n) => sys.lgetxattr(procPath(d, n), name));
  if (typeof r === 'number') {
    if (r === -ENODATA) return null;
    fail(-r === E.ENOENT ? E.EBADF : -r, `getxattr ${name}`);
  }
  return r;
}
export function setXattr(o: Obj, name: string, value: Buffer): void {
  const r = atObj(o.fs, o.rel, (d, n) => sys.lsetxattr(procPath(d, n), name, value, 0));
  if (r < 0) fail(-r === E.ENOENT ? E.EBADF : -r === ENODATA ? E.EIO : -r, `setxattr ${name}`);
}
export function removeXattr(o: Obj, name: string): boolean {
  const r = atObj(o.fs, o.rel, (d, n) => sys.lremovexattr(procPath(d, n), name));
  if (r === -ENODATA) return false;
  if (r < 0) fail(-r === E.ENOENT ? E.EBADF : -r, `removexattr ${name}`);
  return true;
}
export function listXattr(o: Obj): string[] {
  const r = atObj(o.fs, o.rel, (d, n) => sys.llistxattr(procPath(d, n)));
  if (typeof r === 'number') fail(-r === E.ENOENT ? E.EBADF : -r, 'listxattr');
  return r;
}

/** Opens the object itself (regular files and directories) for I/O or ioctls. */
export function openObj(o: Obj, flags: number): number {
  const fd = sys.openat2(o.fs.rootFd, o.rel === '' ? '.' : o.rel, flags | sys.O_NOFOLLOW | sys.O_CLOEXEC | sys.O_NONBLOCK, 0, RESOLVE);
  if (fd < 0) fail(-fd === E.ENOENT ? E.EBADF : -fd, 'open');
  const st = new BigUint64Array(sys.STAT_FIELDS);
  if (sys.fstat(fd, st) < 0 || st[sys.STAT_INO] !== o.ino) {
    sys.close(fd);
    fail(E.EBADF, 'the object moved while it was opened');
  }
  return fd;
}

export class FsTable {
  private readonly byFsid = new Map<bigint, FsEntry>();
  private readonly byBacking = new Map<string, FsEntry>();

  constructor(private readonly mounts: () => MountView[], private readonly historyFile: string | null) {}

  /** Brings the table in line with the node's mounts. */
  sync(): void {
    // One entry per backing directory. A DMAPI-enabled one is mounted once per node (attach refuses
    // a second mount); one without DMAPI may be mounted twice: the entry keeps the mount it was
    // made for while that mount lasts, instead of being rebuilt for each in turn.
    const all = this.mounts();
    const same = (a: { mountpoint: string; mountedAt?: number }, b: { mountpoint: string; mountedAt?: number }) =>
      a.mountpoint === b.mountpoint && a.mountedAt === b.mountedAt;
    const list = all.filter((m) => {
      const cur = this.byBacking.get(m.backing);
      const chosen = (cur && all.find((o) => o.backing === m.backing && same(o, cur))) ?? all.find((o) => o.backing === m.backing)!;
      return same(m, chosen);
    });
    const seen = new Set<string>();
    let historyChanged = false;
    for (const m of list) {
      seen.add(m.backing);
      let e = this.byBacking.get(m.backing);
      if (e && !same(e, m)) { this.drop(e); e = undefined; }
      if (!e) {
        const cfg = loadFsConfig(m.backing);
        const other = this.byFsid.get(cfg.fsid);
        if (other) this.drop(other);
        e = new FsEntry(cfg.fsid, m.backing, m.mountpoint, m.dev, cfg.dmapi);
        e.mountedAt = m.mountedAt;
        this.byFsid.set(cfg.fsid, e);
        this.byBacking.set(m.backing, e);
        historyChanged = true;
      }
      e.dev = m.dev ?? e.dev;
    }
    for (const [b, e] of this.byBacking) if (!seen.has(b)) this.drop(e);
    if (historyChanged && this.historyFile) this.recordHistory();
  }

  private drop(e: FsEntry): void {
    e.close();
    this.byFsid.delete(e.fsid);
    this.byBacking.delete(e.backing);
  }

  /** Remembers mount point → backing directory, for `dmapifs chfs MOUNTPOINT` while unmounted. */
  private recordHistory(): void {
    let h: Record<string, string> = {};
    try { h = JSON.parse(fs.readFileSync(this.historyFile!, 'utf8')) as Record<string, string>; } catch { /* new */ }
    for (const e of this.byFsid.values()) h[e.mountpoint] = e.backing;
    // Root's only: it maps mount points to backing directories, which other users need not learn.
    try { writeAtomic(this.historyFile!, JSON.stringify(h, null, 1) + '\n', 0o600); } catch { /* best effort */ }
  }

  list(): FsEntry[] {
    this.sync();
    return [...this.byFsid.values()];
  }

  closeAll(): void {
    for (const e of [...this.byFsid.values()]) this.drop(e);
  }

  /** The entry of a filesystem without bringing the table up to date first (hot paths). */
  peek(fsid: bigint): FsEntry | undefined {
    return this.byFsid.get(fsid) ?? (this.sync(), this.byFsid.get(fsid));
  }

  /** The entry of a backing directory (after bringing the table up to date). */
  byBackingDir(backing: string): FsEntry | undefined {
    this.sync();
    return this.byBacking.get(backing);
  }

  /** The filesystem of a handle: not mounted here → EBADF; DMAPI disabled → EPERM. */
  fsOf(fsid: bigint): FsEntry {
    this.sync();
    const e = this.byFsid.get(fsid);
    if (!e) fail(E.EBADF, 'filesystem not mounted on this node');
    if (!e.enabled) fail(E.EPERM, 'DMAPI is disabled for this filesystem');
    return e;
  }

  /** The mount a (dev, path) seen by a client belongs to: none → ENXIO; DMAPI disabled → EPERM. */
  fsOfDev(dev: bigint, p: string): FsEntry {
    this.sync();
    for (const e of this.byFsid.values()) {
      if (e.dev !== null && BigInt(e.dev) === dev) {
        if (!e.enabled) fail(E.EPERM, `DMAPI is disabled for ${e.mountpoint}`);
        return e;
      }
    }
    fail(E.ENXIO, `${p} is not in a dmapifs filesystem of this node`);
  }

  // ---- generations

  /** The generation of an object; `assign`: give it one when it has none (fallback scheme). */
  generation(fsE: FsEntry, rel: string, type: ObjType, assign: boolean): number | null {
    if (fsE.kernelGen && (type === 'reg' || type === 'dir')) {
      const fd = sys.openat2(fsE.rootFd, rel === '' ? '.' : rel, sys.O_RDONLY | sys.O_NOFOLLOW | sys.O_NONBLOCK | sys.O_CLOEXEC, 0, RESOLVE);
      if (fd >= 0) {
        const g = sys.getVersion(fd);
        sys.close(fd);
        if (g >= 0) return g;
      }
    }
    const r = atObj(fsE, rel, (d, n) => sys.lgetxattr(procPath(d, n), XA_IGEN));
    if (r instanceof Buffer && r.length === 4) return r.readUInt32LE(0);
    if (!assign) return null;
    const g = fsE.state.nextGen++ >>> 0;
    fsE.saveState();
    const b = Buffer.alloc(4);
    b.writeUInt32LE(g, 0);
    const w = atObj(fsE, rel, (d, n) => sys.lsetxattr(procPath(d, n), XA_IGEN, b, 0));
    if (w < 0) fail(E.EIO, `cannot store the generation: ${sys.strerror(-w)}`);
    return g;
  }

  // ---- lookup

  private statRel(fsE: FsEntry, rel: string): BigUint64Array | null {
    const st = new BigUint64Array(sys.STAT_FIELDS);
    const r = atObj(fsE, rel, (d, n) => sys.fstatat(d, n, sys.AT_SYMLINK_NOFOLLOW, st));
    return r === 0 ? st : null;
  }

  /** Walks the backing tree for an inode; fills the index on the way. */
  private scan(fsE: FsEntry, ino: bigint): string | null {
    let found: string | null = null;
    const walk = (rel: string) => {
      const r = sys.readdirat(fsE.rootFd, rel === '' ? '.' : rel);
      if (typeof r === 'number') return;
      for (let i = 0; i < r.names.length; i++) {
        const name = r.names[i];
        if (rel === '' && name === RESERVED) continue;
        const child = rel === '' ? name : `${rel}/${name}`;
        const ci = BigInt(r.inos[i]);
        fsE.paths.set(ci, child);
        if (ci === ino && found === null) found = child;
        if (r.types[i] === DT_DIR) walk(child);
      }
    };
    walk('');
    return found;
  }

  private makeObj(fsE: FsEntry, ino: bigint, rel: string, st: BigUint64Array, igen: number): Obj {
    return { fs: fsE, ino, igen, rel, st, type: typeOf(Number(st[sys.STAT_MODE])), handle: makeHandle(fsE.fsid, ino, igen), isFs: false };
  }

  /** Finds the backing path of an inode (index, then a walk); null when gone. */
  locate(fsE: FsEntry, ino: bigint): { rel: string; st: BigUint64Array } | null {
    if (fsE.reserved.isReserved(ino)) return null;
    const cached = fsE.paths.get(ino);
    if (cached !== undefined) {
      const st = this.statRel(fsE, cached);
      if (st && st[sys.STAT_INO] === ino) return { rel: cached, st };
      fsE.paths.delete(ino);
    }
    const rel = this.scan(fsE, ino);
    if (rel === null) return null;
    const st = this.statRel(fsE, rel);
    return st && st[sys.STAT_INO] === ino ? { rel, st } : null;
  }

  /**
   * An object handle → the object. Malformed → EINVAL; global or fs handle → `wrongKind` errno
   * (EINVAL by default: "wrong object type"); not mounted → EBADF; DMAPI disabled → EPERM;
   * reserved, deleted or another generation → EBADF.
   */
  resolve(h: Buffer): Obj {
    const p = parseHandle(h);
    if (!p) fail(E.EINVAL, 'malformed handle');
    if (p.kind === 'global') fail(E.EBADF, 'the global handle names no object');
    const fsE = this.fsOf(p.fsid);
    if (p.kind === 'fs') {
      const st = this.statRel(fsE, '');
      if (!st) fail(E.EBADF, 'filesystem root is gone');
      return { ...this.makeObj(fsE, fsE.rootIno, '', st, this.generation(fsE, '', 'dir', true) ?? 0), handle: fsE.fsHandle, isFs: true };
    }
    if (fsE.reserved.isReserved(p.ino)) fail(E.EBADF, 'a reserved file');
    const loc = this.locate(fsE, p.ino);
    if (!loc) fail(E.EBADF, 'no such object (deleted)');
    const g = this.generation(fsE, loc.rel, typeOf(Number(loc.st[sys.STAT_MODE])), false);
    if (g === null || g !== p.igen) fail(E.EBADF, 'stale handle (the inode was reused)');
    return this.makeObj(fsE, p.ino, loc.rel, loc.st, g);
  }

  /** The object a client named by (dev, ino, absolute path); its generation is assigned if needed. */
  lookupPath(dev: bigint, ino: bigint, p: string): Obj {
    const fsE = this.fsOfDev(dev, p);
    if (fsE.reserved.isReserved(ino)) fail(E.EBADF, 'a reserved file');
    let rel: string | null = null;
    let st: BigUint64Array | null = null;
    const mp = fsE.mountpoint;
    if (p === mp || p === mp + '/') {
      rel = '';
      st = this.statRel(fsE, '');
    } else if (p.startsWith(mp + '/')) {
      const r = path.posix.normalize(p.slice(mp.length + 1));
      if (!r.startsWith('..') && r.split('/')[0] !== RESERVED) {
        st = this.statRel(fsE, r);
        rel = r;
      }
    }
    if (!st || (rel !== '' && st[sys.STAT_INO] !== ino)) {
      const loc = this.locate(fsE, ino);
      if (!loc) fail(E.ENOENT, `${p} is gone`);
      rel = loc.rel;
      st = loc.st;
    }
    fsE.paths.set(st[sys.STAT_INO], rel!);
    const g = this.generation(fsE, rel!, typeOf(Number(st[sys.STAT_MODE])), true)!;
    return this.makeObj(fsE, st[sys.STAT_INO], rel!, st, g);
  }

  /** An object by its backing-relative path (used by scans); null when it vanished. */
  objAt(fsE: FsEntry, rel: string, assignGen: boolean): Obj | null {
    const st = this.statRel(fsE, rel);
    if (!st) return null;
    const ino = st[sys.STAT_INO];
    if (fsE.reserved.isReserved(ino)) return null;
    fsE.paths.set(ino, rel);
    const g = this.generation(fsE, rel, typeOf(Number(st[sys.STAT_MODE])), assignGen);
    return this.makeObj(fsE, ino, rel, st, g ?? 0);
  }

  /** Every object of a filesystem (reserved area skipped), for bulk scans. */
  walkAll(fsE: FsEntry): Array<{ ino: bigint; rel: string }> {
    const out: Array<{ ino: bigint; rel: string }> = [{ ino: fsE.rootIno, rel: '' }];
    const walk = (rel: string) => {
      const r = sys.readdirat(fsE.rootFd, rel === '' ? '.' : rel);
      if (typeof r === 'number') return;
      for (let i = 0; i < r.names.length; i++) {
        if (rel === '' && r.names[i] === RESERVED) continue;
        const child = rel === '' ? r.names[i] : `${rel}/${r.names[i]}`;
        const ino = BigInt(r.inos[i]);
        fsE.paths.set(ino, child);
        out.push({ ino, rel: child });
        if (r.types[i] === DT_DIR) walk(child);
      }
    };
    walk('');
    return out;
  }

  readdir(fsE: FsEntry, rel: string): Array<{ name: string; ino: bigint }> {
    const r = sys.readdirat(fsE.rootFd, rel === '' ? '.' : rel);
    if (typeof r === 'number') fail(-r === E.ENOENT ? E.EBADF : -r, 'readdir');
    const out: Array<{ name: string; ino: bigint }> = [];
    for (let i = 0; i < r.names.length; i++) {
      if (rel === '' && r.names[i] === RESERVED) continue;
      out.push({ name: r.names[i], ino: BigInt(r.inos[i]) });
    }
    return out;
  }
}

export { FILE_HANDLE_LEN };
