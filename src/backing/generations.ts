// Inode generations: what tells an object from a later one that got the same inode number (DMAPI
// handles carry it: a handle of a deleted file must not name its successor).
//
// One scheme for the whole process: FS_IOC_GETVERSION for regular files and directories where the
// backing filesystem answers it; otherwise a number stored in the object's private xattr (XA_IGEN)
// on first use, taken from a counter of the filesystem in the reserved area.
//
// Several daemons may serve one backing directory (one per node), so both steps are atomic on the
// backing filesystem itself, not in a daemon's memory:
// * the xattr is created with XATTR_CREATE: of two daemons giving an object a generation at once,
//   the first wins and the other reads the winner's (a handle, once given out, never changes);
// * the counter is read and advanced under flock(2) of its file, a block of numbers at a time, so
//   no two daemons hand out the same number and none goes backwards.
import * as os from 'os';
import * as sys from '../native/sys';
import type { BackingDir } from './dir';
import type { RelPath } from './names';
import { RESERVED_DIR, XA_IGEN } from './private';

const E = os.constants.errno;
const COUNTER = `${RESERVED_DIR}/igen-counter`;
/** Numbers leased from the counter at a time (one locked read-modify-write per block). */
const BLOCK = 64;

/** An object as the generation scheme reaches it: by path, or by a descriptor it is open as. */
export interface GenTarget {
  rel: RelPath | null;
  fd?: number;
}

export class Generations {
  /** FS_IOC_GETVERSION answers on the backing root. */
  readonly kernel: boolean;
  private counterFd = -1;
  private next = 0;
  private end = 0;

  constructor(private readonly dir: BackingDir) {
    const rfd = dir.openDir('', sys.O_RDONLY);
    this.kernel = rfd >= 0 && sys.getVersion(rfd) >= 0;
    if (rfd >= 0) sys.close(rfd);
  }

  close(): void {
    if (this.counterFd >= 0) sys.close(this.counterFd);
    this.counterFd = -1;
  }

  /**
   * The generation of an object of stat `st`; `assign`: give it one when it has none. null when it
   * has none (and assign is false) or it cannot be read. Kept in the inode's record while open.
   */
  of(t: GenTarget, st: BigUint64Array, assign: boolean): number | null {
    const rec = this.dir.inodes.get(st[sys.STAT_INO]);
    if (rec && rec.opens > 0 && rec.gen !== null) return rec.gen;
    const g = this.read(t, st, assign);
    if (g !== null && rec && rec.opens > 0) rec.gen = g;
    return g;
  }

  private read(t: GenTarget, st: BigUint64Array, assign: boolean): number | null {
    const type = Number(st[sys.STAT_MODE]) & sys.S_IFMT;
    if (this.kernel && (type === sys.S_IFREG || type === sys.S_IFDIR)) {
      const own = t.fd === undefined;
      const fd = own ? (t.rel === null ? -1 : this.dir.open(t.rel, sys.O_RDONLY | sys.O_NOFOLLOW | sys.O_NONBLOCK)) : t.fd!;
      if (fd >= 0) {
        const g = sys.getVersion(fd);
        if (own) sys.close(fd);
        if (g >= 0) return g;
      }
    }
    const x = this.getIgen(t);
    if (x !== null || !assign || t.rel === null) return x;
    const b = Buffer.alloc(4);
    b.writeUInt32LE(this.take(), 0);
    const w = this.dir.setXattr(t.rel, XA_IGEN, b, sys.XATTR_CREATE);
    if (w === -E.EEXIST) return this.getIgen(t);
    if (w < 0) throw Object.assign(new Error(`cannot store the generation: ${sys.strerror(-w)}`), { errno: E.EIO });
    return b.readUInt32LE(0);
  }

  private getIgen(t: GenTarget): number | null {
    const x = t.fd !== undefined ? sys.fgetxattr(t.fd, XA_IGEN) : t.rel !== null ? this.dir.getXattr(t.rel, XA_IGEN) : -E.ENOENT;
    return x instanceof Buffer && x.length === 4 ? x.readUInt32LE(0) : null;
  }

  /** Makes the counter at least `n` (a counter kept elsewhere by an older version). */
  floor(n: number): void {
    this.locked((cur) => Math.max(cur, n));
  }

  /** The next number, from the block leased from the counter. */
  private take(): number {
    if (this.next >= this.end) {
      const start = this.locked((cur) => cur + BLOCK) - BLOCK;
      this.next = start;
      this.end = start + BLOCK;
    }
    return this.next++ >>> 0;
  }

  /** Runs a read-modify-write of the counter under its flock; returns the new value. */
  private locked(update: (cur: number) => number): number {
    if (this.counterFd < 0) {
      const fd = this.dir.open(COUNTER, sys.O_RDWR | sys.O_CREAT | sys.O_NOFOLLOW, 0o600);
      if (fd < 0) throw Object.assign(new Error(`cannot open the generation counter: ${sys.strerror(-fd)}`), { errno: E.EIO });
      this.counterFd = fd;
      const st = new BigUint64Array(sys.STAT_FIELDS);
      if (sys.fstat(fd, st) === 0) this.dir.reserved.track(st[sys.STAT_INO]);
    }
    const fd = this.counterFd;
    let r = sys.flock(fd, sys.LOCK_EX);
    while (r === -E.EINTR) r = sys.flock(fd, sys.LOCK_EX);
    if (r < 0) throw Object.assign(new Error(`cannot lock the generation counter: ${sys.strerror(-r)}`), { errno: E.EIO });
    try {
      const buf = Buffer.alloc(32);
      const n = sys.pread(fd, buf, 0, 32, 0);
      const cur = n > 0 ? parseInt(buf.subarray(0, n).toString(), 10) || 1 : 1;
      const next = update(cur);
      if (next !== cur || n <= 0) {
        const text = Buffer.from(`${next}\n`);
        sys.ftruncate(fd, 0);
        const w = sys.pwrite(fd, text, 0, text.length, 0);
        if (w !== text.length || sys.fdatasync(fd) < 0) throw Object.assign(new Error('cannot write the generation counter'), { errno: E.EIO });
      }
      return next;
    } finally {
      sys.flock(fd, sys.LOCK_UN);
    }
  }
}
