// A capacity limit for one mount (`dmapifs mount --capacity SIZE`): the space the files of the
// filesystem take in the backing directory (allocated blocks, hard links counted once, the reserved
// area not counted) may not grow past the limit. A write that would grow it past fails with ENOSPC,
// after a NOSPACE event when DMAPI is enabled (the DM application may free space and let it retry).
//
// Accounting: the usage is measured by a walk of the backing tree at mount time, then kept up to
// date by the writes made through the mount (st_blocks before and after each write). Space freed
// behind our back (unlink, truncate, dm_punch_hole, writes in the backing directory) is found by
// walking again whenever a write would not fit: the limit is never enforced on a stale count.
import * as sys from '../native/sys';
import { RESERVED_DIR } from './reserved';

const DT_DIR = 4;
const BLOCK = 4096;

export class Capacity {
  used = 0;

  constructor(readonly limit: number, private readonly rootFd: number) {
    this.used = this.measure();
  }

  /** Bytes allocated by the files of the tree. */
  measure(): number {
    const seen = new Set<bigint>();
    let total = 0;
    const st = new BigUint64Array(sys.STAT_FIELDS);
    const walk = (rel: string, depth: number) => {
      if (depth > 256) return;
      const r = sys.readdirat(this.rootFd, Buffer.from(rel === '' ? '.' : rel, 'latin1'), 'latin1');
      if (typeof r === 'number') return;
      for (let i = 0; i < r.names.length; i++) {
        const name = r.names[i];
        if (rel === '' && name === RESERVED_DIR) continue;
        const child = rel === '' ? name : `${rel}/${name}`;
        if (sys.fstatat(this.rootFd, Buffer.from(child, 'latin1'), sys.AT_SYMLINK_NOFOLLOW, st) === 0) {
          const ino = st[sys.STAT_INO];
          if (!seen.has(ino)) {
            seen.add(ino);
            total += Number(st[sys.STAT_BLOCKS]) * 512;
          }
        }
        if (r.types[i] === DT_DIR) walk(child, depth + 1);
      }
    };
    walk('', 0);
    return total;
  }

  /** Upper bound of the space a write of len bytes at pos adds to a file of this stat. */
  static growth(st: BigUint64Array, pos: number, len: number): number {
    const size = Number(st[sys.STAT_SIZE]);
    const allocated = Number(st[sys.STAT_BLOCKS]) * 512;
    const up = (x: number) => Math.ceil(x / BLOCK) * BLOCK;
    const wholeFile = up(Math.max(size, pos + len)) - allocated;
    return Math.max(0, Math.min(up(len) + BLOCK, wholeFile));
  }

  /** Does `growth` more bytes fit (measuring again before saying no)? */
  fits(growth: number): boolean {
    if (this.used + growth <= this.limit) return true;
    this.used = this.measure();
    return this.used + growth <= this.limit;
  }

  add(delta: number): void {
    this.used = Math.max(0, this.used + delta);
  }
}
