// The filesystems the DMAPI service can reach (the node's mounts) and the resolution of handles to
// backing objects.
//
// Every lookup goes to the backing directory through the backing view the mounts of this process
// share (src/backing: one descriptor, one resolve policy, never through our own mounts: this thread
// serves them), so nested mounts and symlinks are never crossed. Names are bytes (RelPath).
//
// Decision (handle → object): handles carry (fsid, ino, igen). The backing view keeps an ino → path
// index in its inode records, filled by every path resolved; a handle whose cached path no longer
// leads to its inode (renamed behind our back, or never seen since the daemon started) is found
// again by one walk of the backing tree (d_ino from getdents, the reserved area skipped), which
// refreshes the index. Then its generation must match: a deleted file is not found (EBADF) and a
// reused inode number has another generation (EBADF).
import * as fs from 'fs';
import * as path from 'path';
import { BackingDir, bytes, DmState, fromBytes, RelPath, RESERVED_DIR, XA_ATTR, XA_DTIME, XA_EVENTS, XA_IGEN, XA_REGIONS } from '../backing';
import * as sys from '../native/sys';
import { E, fail } from './constants';
import { loadFsConfig, writeAtomic } from './fsconfig';
import { FILE_HANDLE_LEN, makeFsHandle, makeHandle, parseHandle } from './handles';

export { XA_ATTR, XA_DTIME, XA_EVENTS, XA_IGEN, XA_REGIONS };

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
}

export class FsEntry {
  /** The backing view, shared with the mounts of this process. */
  readonly dir: BackingDir;
  readonly fsHandle: Buffer;
  private readonly stateFile: string;
  private cached: FsState;

  mountedAt: number | undefined;

  constructor(readonly fsid: bigint, readonly backing: string, public mountpoint: string, public dev: number | null, public enabled: boolean) {
    this.fsHandle = makeFsHandle(fsid);
    this.stateFile = path.join(backing, RESERVED_DIR, 'dmapi-state.json');
    this.dir = BackingDir.acquire(backing);
    try {
      this.dir.reserved.prepare();
      const { state, nextGen } = this.loadState();
      this.cached = state;
      // The generation counter moved to the backing layer: never below what an older version gave.
      if (nextGen > 1) this.dir.generations.floor(nextGen);
    } catch (e) {
      this.dir.release();
      throw e;
    }
  }

  get rootIno(): bigint {
    return this.dir.rootIno;
  }
  /** st_dev of the backing filesystem. */
  get backingDev(): bigint {
    return this.dir.dev;
  }

  close(): void {
    this.dir.release();
  }

  /**
   * The filesystem-wide DMAPI state as this daemon last read it (hot paths: every event check).
   * Another daemon serving the same backing directory may have changed it since; DMAPI calls that
   * report it read it again first (refreshState), and every change is a locked read-modify-write.
   */
  get state(): Readonly<FsState> {
    return this.cached;
  }

  refreshState(): Readonly<FsState> {
    this.cached = this.loadState().state;
    return this.cached;
  }

  private loadState(): { state: FsState; nextGen: number } {
    try {
      const j = JSON.parse(fs.readFileSync(this.stateFile, 'utf8')) as { eventlist?: string; returnOnDestroy?: string | null; nextGen?: number };
      return {
        state: { eventlist: BigInt(j.eventlist ?? '0'), returnOnDestroy: j.returnOnDestroy ? Buffer.from(j.returnOnDestroy, 'hex') : null },
        nextGen: typeof j.nextGen === 'number' ? j.nextGen : 1,
      };
    } catch {
      return { state: { eventlist: 0n, returnOnDestroy: null }, nextGen: 1 };
    }
  }

  /**
   * Changes the filesystem-wide state: read again, changed and written under flock(2) of the state
   * file's lock, so that no change made by another daemon serving the same backing directory is
   * lost (no last-writer-wins).
   */
  updateState(change: (s: FsState) => void): void {
    const lock = fs.openSync(`${this.stateFile}.lock`, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, 0o600);
    try {
      let r = sys.flock(lock, sys.LOCK_EX);
      while (r === -E.EINTR) r = sys.flock(lock, sys.LOCK_EX);
      if (r < 0) fail(E.EIO, `cannot lock the DMAPI state: ${sys.strerror(-r)}`);
      const st = new BigUint64Array(sys.STAT_FIELDS);
      if (sys.fstat(lock, st) === 0) this.dir.reserved.track(st[sys.STAT_INO]);
      const { state } = this.loadState();
      change(state);
      writeAtomic(this.stateFile, JSON.stringify({
        eventlist: '0x' + state.eventlist.toString(16),
        returnOnDestroy: state.returnOnDestroy ? state.returnOnDestroy.toString('hex') : null,
      }) + '\n');
      this.cached = state;
      this.dir.reserved.rescan();
    } finally {
      fs.closeSync(lock);
    }
  }

  /** The mount point as bytes (RelPath convention), to compare with and join to byte paths. */
  get mountpointBytes(): string {
    return fromBytes(Buffer.from(this.mountpoint));
  }
}

export type ObjType = 'reg' | 'dir' | 'lnk' | 'other';

/** A resolved object: its filesystem, identity, backing path and stat. */
export interface Obj {
  fs: FsEntry;
  ino: bigint;
  igen: number;
  /** The backing path (bytes). */
  rel: RelPath;
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

/** Runs fn(dirfd, name) on the parent of a backing-relative path ('.' for the root): BackingDir.at. */
export function atObj<T>(fsE: FsEntry, rel: RelPath, fn: (dirfd: number, name: Buffer) => T): T | number {
  return fsE.dir.at(rel, fn);
}

const gone = (r: number) => (-r === E.ENOENT ? E.EBADF : -r);

export function getXattr(o: Obj, name: string): Buffer | null {
  const r = o.fs.dir.getXattr(o.rel, name);
  if (typeof r === 'number') {
    if (r === -ENODATA) return null;
    fail(gone(r), `getxattr ${name}`);
  }
  return r;
}
/** Sets a private xattr of the object (its DM state: the inode record's cache is dropped). */
export function setXattr(o: Obj, name: string, value: Buffer): void {
  const r = o.fs.dir.setXattr(o.rel, name, value);
  o.fs.dir.inodes.get(o.ino)?.dmChanged();
  if (r < 0) fail(-r === ENODATA ? E.EIO : gone(r), `setxattr ${name}`);
}
export function removeXattr(o: Obj, name: string): boolean {
  const r = o.fs.dir.removeXattr(o.rel, name);
  o.fs.dir.inodes.get(o.ino)?.dmChanged();
  if (r === -ENODATA) return false;
  if (r < 0) fail(gone(r), 'removexattr ' + name);
  return true;
}
export function listXattr(o: Obj): string[] {
  const r = o.fs.dir.listXattr(o.rel);
  if (typeof r === 'number') fail(gone(r), 'listxattr');
  return r;
}

const scratch = Buffer.allocUnsafe(4096);
/** A private xattr of an open file through a scratch buffer (read on every access to a managed file). */
function fxattr(fd: number, name: string): Buffer | null {
  const n = sys.fgetxattrInto(fd, name, scratch);
  if (n >= 0) return Buffer.from(scratch.subarray(0, n));
  if (n !== -sys.ERANGE) return null;
  const r = sys.fgetxattr(fd, name);
  return typeof r === 'number' ? null : r;
}

/**
 * The DM state of an object (its own event list and regions), by descriptor or by path: from its
 * inode record while the backing object has not changed since it was read (src/backing/inodes.ts).
 */
export function dmStateOf(fsE: FsEntry, t: { rel: RelPath | null; fd?: number }, st?: BigUint64Array | null): DmState {
  let s = st ?? null;
  if (!s) {
    s = new BigUint64Array(sys.STAT_FIELDS);
    if (t.fd !== undefined ? sys.fstat(t.fd, s) !== 0 : t.rel === null || !fsE.dir.stat(t.rel, s)) return { events: null, regions: null };
  }
  const rec = fsE.dir.inodes.record(s[sys.STAT_INO]);
  const cached = rec.dmState(s);
  if (cached) return cached;
  const read = (name: string) => {
    if (t.fd !== undefined) return fxattr(t.fd, name);
    const r = t.rel === null ? -ENODATA : fsE.dir.getXattr(t.rel, name);
    return typeof r === 'number' ? null : r;
  };
  const state = { events: read(XA_EVENTS), regions: read(XA_REGIONS) };
  rec.cacheDmState(s, state);
  return state;
}

/** Does the object hold DM attributes (cached in its inode record like its DM state)? */
export function hasDmAttrs(o: Obj): boolean {
  const rec = o.fs.dir.inodes.record(o.ino);
  const c = rec.hasDmAttrs(o.st);
  if (c !== null) return c;
  const has = listXattr(o).some((x) => x.startsWith(XA_ATTR));
  rec.cacheHasDmAttrs(o.st, has);
  return has;
}

/** Opens the object itself (regular files and directories) for I/O or ioctls. */
export function openObj(o: Obj, flags: number): number {
  const fd = o.fs.dir.open(o.rel, flags | sys.O_NOFOLLOW | sys.O_NONBLOCK);
  if (fd < 0) fail(gone(fd), 'open');
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

  /** The generation of an object (src/backing/generations.ts); `assign`: give it one when it has none. */
  generation(fsE: FsEntry, t: { rel: RelPath | null; fd?: number }, st: BigUint64Array, assign: boolean): number | null {
    try {
      return fsE.dir.generations.of(t, st, assign);
    } catch (e) {
      fail(E.EIO, (e as Error).message);
    }
  }

  // ---- lookup

  /** Walks the backing tree for an inode (the backing view's walk, which fills the index). */
  private scan(fsE: FsEntry, ino: bigint): RelPath | null {
    let found: RelPath | null = null;
    fsE.dir.walk('', (rel, i) => {
      if (i === ino && found === null) found = rel;
    }, true);
    return found;
  }

  private makeObj(fsE: FsEntry, ino: bigint, rel: RelPath, st: BigUint64Array, igen: number): Obj {
    return { fs: fsE, ino, igen, rel, st, type: typeOf(Number(st[sys.STAT_MODE])), handle: makeHandle(fsE.fsid, ino, igen), isFs: false };
  }

  /** Finds the backing path of an inode (index, then a walk); null when gone. */
  locate(fsE: FsEntry, ino: bigint): { rel: RelPath; st: BigUint64Array } | null {
    if (fsE.dir.reserved.isReserved(ino)) return null;
    const cached = fsE.dir.inodes.pathOf(ino);
    if (cached !== null) {
      const st = fsE.dir.stat(cached);
      if (st && st[sys.STAT_INO] === ino) return { rel: cached, st };
      fsE.dir.inodes.lostPath(ino);
    }
    const rel = this.scan(fsE, ino);
    if (rel === null) return null;
    const st = fsE.dir.stat(rel);
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
      const st = fsE.dir.stat('');
      if (!st) fail(E.EBADF, 'filesystem root is gone');
      return { ...this.makeObj(fsE, fsE.rootIno, '', st, this.generation(fsE, { rel: '' }, st, true) ?? 0), handle: fsE.fsHandle, isFs: true };
    }
    if (fsE.dir.reserved.isReserved(p.ino)) fail(E.EBADF, 'a reserved file');
    const loc = this.locate(fsE, p.ino);
    if (!loc) fail(E.EBADF, 'no such object (deleted)');
    const g = this.generation(fsE, { rel: loc.rel }, loc.st, false);
    if (g === null || g !== p.igen) fail(E.EBADF, 'stale handle (the inode was reused)');
    return this.makeObj(fsE, p.ino, loc.rel, loc.st, g);
  }

  /**
   * The object a client named by (dev, ino, absolute path as bytes); its generation is assigned if
   * needed.
   */
  lookupPath(dev: bigint, ino: bigint, p: RelPath): Obj {
    const fsE = this.fsOfDev(dev, p);
    if (fsE.dir.reserved.isReserved(ino)) fail(E.EBADF, 'a reserved file');
    let rel: RelPath | null = null;
    let st: BigUint64Array | null = null;
    const mp = fsE.mountpointBytes;
    if (p === mp || p === mp + '/') {
      rel = '';
      st = fsE.dir.stat('');
    } else if (p.startsWith(mp + '/')) {
      const r = path.posix.normalize(p.slice(mp.length + 1));
      if (!r.startsWith('..') && r.split('/')[0] !== RESERVED_DIR) {
        st = fsE.dir.stat(r);
        rel = r;
      }
    }
    if (!st || (rel !== '' && st[sys.STAT_INO] !== ino)) {
      const loc = this.locate(fsE, ino);
      if (!loc) fail(E.ENOENT, `${p} is gone`);
      rel = loc.rel;
      st = loc.st;
    }
    fsE.dir.inodes.setPath(st[sys.STAT_INO], rel!);
    const g = this.generation(fsE, { rel }, st, true)!;
    return this.makeObj(fsE, st[sys.STAT_INO], rel!, st, g);
  }

  /** An object by its backing-relative path (used by scans); null when it vanished. */
  objAt(fsE: FsEntry, rel: RelPath, assignGen: boolean): Obj | null {
    const st = fsE.dir.stat(rel);
    if (!st) return null;
    const ino = st[sys.STAT_INO];
    if (fsE.dir.reserved.isReserved(ino)) return null;
    fsE.dir.inodes.setPath(ino, rel);
    const g = this.generation(fsE, { rel }, st, assignGen);
    return this.makeObj(fsE, ino, rel, st, g ?? 0);
  }

  /** Every object of a filesystem (reserved area skipped), for bulk scans. */
  walkAll(fsE: FsEntry): Array<{ ino: bigint; rel: RelPath }> {
    const out: Array<{ ino: bigint; rel: RelPath }> = [{ ino: fsE.rootIno, rel: '' }];
    fsE.dir.walk('', (rel, ino) => { out.push({ ino, rel }); }, true);
    return out;
  }

  /** The entries of a directory (names as bytes), the reserved area left out. */
  readdir(fsE: FsEntry, rel: RelPath): Array<{ name: string; ino: bigint }> {
    const r = fsE.dir.readdir(rel);
    if (typeof r === 'number') fail(gone(r), 'readdir');
    const out: Array<{ name: string; ino: bigint }> = [];
    for (let i = 0; i < r.names.length; i++) {
      if (rel === '' && r.names[i] === RESERVED_DIR) continue;
      out.push({ name: r.names[i], ino: r.inos[i] });
    }
    return out;
  }

  /** The absolute path (bytes) through the mount of a backing path. */
  static mountPath(fsE: FsEntry, rel: RelPath): Buffer {
    return Buffer.concat([Buffer.from(fsE.mountpoint), bytes(rel === '' ? '' : '/' + rel)]);
  }
}

export { FILE_HANDLE_LEN };
