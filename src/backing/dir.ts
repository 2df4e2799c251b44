// One view of a backing directory, shared by the passthrough (src/fs) and the DMAPI (src/dmapi) of
// the process: one descriptor of the tree, one resolve policy, the per-inode records (inodes.ts),
// the generations (generations.ts), the reserved area (reserved.ts) and the one tree walk.
//
// The descriptor: a non-recursive bind mount of the backing directory, detached at once, so that
// mounts nested inside the backing tree are simply not there (and the view vanishes with its last
// descriptor, even after kill -9); where bind mounts are not allowed, the directory itself (nested
// mounts are then refused by RESOLVE_NO_XDEV).
//
// Resolution: every path is opened below that descriptor with openat2(RESOLVE), never walked by a
// *at() call: the directory holding a name is opened first, and the call gets that descriptor and
// the last name only (AT_SYMLINK_NOFOLLOW where it would follow). So nothing escapes the backing
// directory, even when a directory is replaced by a symlink behind our back; symlinks stored in the
// tree are never followed, nested mounts never crossed. A path longer than one openat2 takes
// (PATH_MAX) is resolved hop by hop, each hop from the descriptor of the directory the previous one
// reached: a local filesystem has no limit on depth, and neither has the mount.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as sys from '../native/sys';
import { Generations } from './generations';
import { InodeTable } from './inodes';
import { bytes, child, RelPath, split } from './names';
import { RESERVED_DIR } from './private';
import { ReservedArea } from './reserved';

/** The one resolve policy of every lookup in the backing tree. */
export const RESOLVE = sys.RESOLVE_BENEATH | sys.RESOLVE_NO_SYMLINKS | sys.RESOLVE_NO_XDEV | sys.RESOLVE_NO_MAGICLINKS;
const E = os.constants.errno;
const DT_DIR = 4;
/** Longest path one openat2 resolves (PATH_MAX includes the NUL). */
const HOP = 4095;

/**
 * A path naming (dirfd, name) for the calls that take no directory descriptor (l*xattr, statvfs).
 * Without a name it is the /proc link itself: give '.' to reach the directory with an l* call.
 */
export function procPath(dirfd: number, name?: Buffer): Buffer {
  const d = Buffer.from(`/proc/self/fd/${dirfd}`);
  return name ? Buffer.concat([d, Buffer.from('/'), name]) : d;
}

function openView(backing: string): number {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dmapifs-view-'));
  try {
    if (sys.mount(backing, tmp, null, sys.MS_BIND, null) === 0) {
      const fd = sys.open(tmp, sys.O_PATH | sys.O_DIRECTORY | sys.O_CLOEXEC, 0);
      sys.umount2(tmp, sys.MNT_DETACH);
      if (fd >= 0) return fd;
    }
  } finally {
    fs.rmdirSync(tmp);
  }
  return sys.open(backing, sys.O_PATH | sys.O_DIRECTORY | sys.O_CLOEXEC, 0);
}

export interface Listing {
  /** Names (RelPath bytes), '.' and '..' left out. */
  names: string[];
  inos: BigUint64Array;
  types: Uint8Array;
}

/** What the one walk tells its visitor about each entry; return false to skip a directory's subtree. */
export type Visit = (rel: RelPath, ino: bigint, type: number) => boolean | void;

const shared = new Map<string, BackingDir>();

export class BackingDir {
  /** The descriptor of the tree (O_PATH). */
  readonly fd: number;
  readonly rootIno: bigint;
  /** st_dev of the backing filesystem. */
  readonly dev: bigint;
  readonly reserved: ReservedArea;
  readonly inodes = new InodeTable();
  readonly generations: Generations;
  private refs = 1;

  /**
   * The view of a backing directory (absolute, canonical path) for this process: opened on first
   * use, shared by the mounts and the DMAPI of the process, closed with its last release().
   * Throws an errno-coded Error when the directory cannot be opened.
   */
  static acquire(backing: string): BackingDir {
    // One view per directory, however it is spelled (the path is never inside our own mounts).
    let key = backing;
    try { key = fs.realpathSync(backing); } catch { /* the open below reports it */ }
    const cur = shared.get(key);
    if (cur) { cur.refs++; return cur; }
    const d = new BackingDir(key);
    shared.set(key, d);
    return d;
  }

  private constructor(readonly path: string) {
    const fd = openView(path);
    if (fd < 0) throw Object.assign(new Error(`cannot open backing directory ${path}: ${sys.strerror(-fd)}`), { code: sys.errnoName(-fd) ?? 'EIO', errno: -fd });
    this.fd = fd;
    const st = new BigUint64Array(sys.STAT_FIELDS);
    sys.fstat(fd, st);
    this.rootIno = st[sys.STAT_INO];
    this.dev = st[sys.STAT_DEV];
    this.reserved = new ReservedArea(path, (visit) => this.walk(RESERVED_DIR, visit));
    this.generations = new Generations(this);
    this.inodes.record(this.rootIno).path = '';
  }

  release(): void {
    if (--this.refs > 0) return;
    if (shared.get(this.path) === this) shared.delete(this.path);
    this.generations.close();
    sys.close(this.fd);
  }

  // ---- resolution

  /** Opens the directory `rel` (O_PATH unless flags say otherwise), hop by hop past PATH_MAX; -errno. */
  openDir(rel: RelPath, flags = sys.O_PATH): number {
    return this.open(rel, flags | sys.O_DIRECTORY);
  }

  /** Opens `rel` below the tree with openat2(RESOLVE); -errno. */
  open(rel: RelPath, flags: number, mode = 0): number {
    const f = flags | sys.O_CLOEXEC;
    if (rel.length <= HOP) return sys.openat2(this.fd, bytes(rel === '' ? '.' : rel), f, mode, RESOLVE);
    // Hop by hop: cut at a '/' so that each hop fits one openat2.
    let dfd = this.fd;
    let rest = rel;
    try {
      while (rest.length > HOP) {
        const cut = rest.lastIndexOf('/', HOP);
        if (cut <= 0) return -E.ENAMETOOLONG;
        const next = sys.openat2(dfd, bytes(rest.slice(0, cut)), sys.O_PATH | sys.O_DIRECTORY | sys.O_CLOEXEC, 0, RESOLVE);
        if (next < 0) return next;
        if (dfd !== this.fd) sys.close(dfd);
        dfd = next;
        rest = rest.slice(cut + 1);
      }
      return sys.openat2(dfd, bytes(rest), f, mode, RESOLVE);
    } finally {
      if (dfd !== this.fd) sys.close(dfd);
    }
  }

  /**
   * Runs fn(dirfd, name) on the directory holding `rel` and its last name ('.' for the root): a
   * call on (dirfd, name) reaches the backing object `rel` names or fails (ELOOP when a component
   * has become a symlink). Returns what fn returns, or -errno when the directory cannot be opened.
   */
  at<T>(rel: RelPath, fn: (dirfd: number, name: Buffer) => T): T | number {
    const { parent, name } = split(rel);
    if (parent === '') return fn(this.fd, bytes(name));
    const dfd = this.openDir(parent);
    if (dfd < 0) return dfd;
    try {
      return fn(dfd, bytes(name));
    } finally {
      sys.close(dfd);
    }
  }

  /** `rel` is the new name of an object (a rename): the handle index follows it. */
  renamed(rel: RelPath): void {
    const st = this.stat(rel);
    if (st) this.inodes.setPath(st[sys.STAT_INO], rel);
  }

  /** lstat of `rel` into st (a new array when absent); null when it cannot be reached. */
  stat(rel: RelPath, st: BigUint64Array = new BigUint64Array(sys.STAT_FIELDS)): BigUint64Array | null {
    return this.at(rel, (d, n) => sys.fstatat(d, n, sys.AT_SYMLINK_NOFOLLOW, st)) === 0 ? st : null;
  }

  // ---- xattrs of an object by path (the object itself, never a symlink's target)

  getXattr(rel: RelPath, name: string): Buffer | number {
    return this.at(rel, (d, n) => sys.lgetxattr(procPath(d, n), name));
  }
  setXattr(rel: RelPath, name: string, value: Buffer, flags = 0): number {
    return this.at(rel, (d, n) => sys.lsetxattr(procPath(d, n), name, value, flags));
  }
  removeXattr(rel: RelPath, name: string): number {
    return this.at(rel, (d, n) => sys.lremovexattr(procPath(d, n), name));
  }
  listXattr(rel: RelPath): string[] | number {
    return this.at(rel, (d, n) => sys.llistxattr(procPath(d, n)));
  }

  // ---- listings and the walk

  /** The entries of the directory `rel` (names as RelPath bytes), or -errno. */
  readdir(rel: RelPath): Listing | number {
    const dfd = this.openDir(rel, sys.O_RDONLY);
    if (dfd < 0) return dfd;
    try {
      return sys.readdirat(dfd, '.', 'latin1');
    } finally {
      sys.close(dfd);
    }
  }

  /**
   * The one walk of the tree: visits every entry below `from` (depth first, d_ino and d_type from
   * getdents, no stat), the reserved area left out unless the walk starts inside it (the area's
   * own directory is then visited first). `index`: record the paths found in the handle index
   * (the DMAPI's walks, which look for objects by inode number).
   */
  walk(from: RelPath, visit: Visit, index = false): void {
    const inArea = from === RESERVED_DIR || from.startsWith(RESERVED_DIR + '/');
    if (inArea) {
      const st = this.stat(from);
      if (!st || visit(from, st[sys.STAT_INO], DT_DIR) === false) return;
    }
    const go = (dir: RelPath) => {
      const r = this.readdir(dir);
      if (typeof r === 'number') return;
      for (let i = 0; i < r.names.length; i++) {
        if (dir === '' && r.names[i] === RESERVED_DIR) continue;
        const rel = child(dir, r.names[i]);
        const ino = r.inos[i];
        if (index && !inArea) this.inodes.setPath(ino, rel);
        if (visit(rel, ino, r.types[i]) !== false && r.types[i] === DT_DIR) go(rel);
      }
    };
    go(from);
  }

  /** statvfs of the backing filesystem. */
  statvfs(st: BigUint64Array): number {
    return sys.statvfs(procPath(this.fd), st);
  }
}

export { DT_DIR };
