// Directory listings with inode numbers and types, for readdir.
import * as sys from '../native/sys';

export interface Listing {
  names: string[];
  inos: Float64Array;
  types: Uint8Array;
  /** Inode numbers of '.' and '..' (d_ino of the dot entries). */
  dotIno: number;
  dotdotIno: number;
}

/**
 * Lists the directory open as `dirfd`: names, inode numbers and DT_* types as getdents gives
 * them (d_ino equals st_ino, with no stat per entry), or -errno.
 */
export function listDir(dirfd: number): Listing | number {
  const r = sys.readdirat(dirfd, '.');
  if (typeof r === 'number') return r;
  const st = new BigUint64Array(sys.STAT_FIELDS);
  const dotIno = sys.fstat(dirfd, st) === 0 ? Number(st[sys.STAT_INO]) : 0xffffffff;
  const dotdotIno = sys.fstatat(dirfd, '..', sys.AT_SYMLINK_NOFOLLOW, st) === 0 ? Number(st[sys.STAT_INO]) : 0xffffffff;
  return { ...r, dotIno, dotdotIno };
}
