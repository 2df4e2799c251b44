// A capacity limit for one mount (`dmapifs mount --capacity SIZE`): the space the files of the
// filesystem take in the backing directory (allocated blocks, hard links counted once, the reserved
// area not counted) may not grow past the limit. A write that would grow it past fails with ENOSPC,
// after a NOSPACE event when DMAPI is enabled (the DM application may free space and let it retry).
//
// Accounting: the usage is measured by a walk of the backing tree at mount time, then kept up to
// date by the data operations made through the mount (st_blocks before and after each one: writes,
// truncations, every fallocate mode; src/fs/data-gate.ts). Space freed otherwise (unlink, dm_punch_hole,
// writes in the backing directory) is found by walking again whenever an allocation would not fit,
// and before statfs reports the use after a removal: the limit is never enforced on a stale count.
import type { BackingDir } from '../backing';
import * as sys from '../native/sys';

const BLOCK = 4096;

export class Capacity {
  used = 0;
  /** Space may have been freed without the count knowing (a name removed): measure before use. */
  private stale = false;

  constructor(readonly limit: number, private readonly dir: BackingDir) {
    this.used = this.measure();
  }

  /** Bytes allocated by the files of the tree (the backing view's walk: no reserved area). */
  measure(): number {
    const seen = new Set<bigint>();
    let total = 0;
    const st = new BigUint64Array(sys.STAT_FIELDS);
    this.dir.walk('', (rel, ino) => {
      if (seen.has(ino) || !this.dir.stat(rel, st)) return;
      seen.add(ino);
      total += Number(st[sys.STAT_BLOCKS]) * 512;
    });
    this.stale = false;
    return total;
  }

  /** A name was removed: the space of its file may be free now. */
  freed(): void {
    this.stale = true;
  }

  /** The space used now (for statfs). */
  current(): number {
    if (this.stale) this.used = this.measure();
    return this.used;
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
