// Directory listings with inode numbers and types, for readdir.
import * as sys from '../native/sys';

export interface Listing {
  names: string[];
  /** d_ino of each entry, exact over the whole 64-bit range. */
  inos: BigUint64Array;
  types: Uint8Array;
  /** Inode numbers of '.' and '..' (d_ino of the dot entries). */
  dotIno: bigint;
  dotdotIno: bigint;
}

const UNKNOWN = 0xffffffffn;

/**
 * Lists the directory open as `dirfd`: names (latin1: one char per byte, see passthrough.ts),
 * inode numbers and DT_* types as getdents gives them (d_ino equals st_ino, exact over 64 bits,
 * with no stat per entry), or -errno.
 */
export function listDir(dirfd: number): Listing | number {
  const r = sys.readdirat(dirfd, '.', 'latin1');
  if (typeof r === 'number') return r;
  const st = new BigUint64Array(sys.STAT_FIELDS);
  const dotIno = sys.fstat(dirfd, st) === 0 ? st[sys.STAT_INO] : UNKNOWN;
  const dotdotIno = sys.fstatat(dirfd, '..', sys.AT_SYMLINK_NOFOLLOW, st) === 0 ? st[sys.STAT_INO] : UNKNOWN;
  return { names: r.names, inos: r.inos, types: r.types, dotIno, dotdotIno };
}
