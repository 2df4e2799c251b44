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
 * Lists the directory open as `dirfd`: names, inode numbers and DT_* types as getdents gives
 * them (d_ino equals st_ino, with no stat per entry), or -errno. getdents' numbers arrive as
 * doubles, exact below 2^53; an entry above that (overlayfs xino, some XFS and NFS exports) is
 * stat'ed for its exact number.
 */
export function listDir(dirfd: number): Listing | number {
  const r = sys.readdirat(dirfd, '.');
  if (typeof r === 'number') return r;
  const st = new BigUint64Array(sys.STAT_FIELDS);
  const n = r.names.length;
  const inos = new BigUint64Array(n);
  for (let i = 0; i < n; i++) {
    const v = Number(r.inos[i]);
    if (v < 2 ** 53) inos[i] = BigInt(v);
    else inos[i] = sys.fstatat(dirfd, r.names[i], sys.AT_SYMLINK_NOFOLLOW, st) === 0 ? st[sys.STAT_INO] : BigInt.asUintN(64, BigInt(v));
  }
  const dotIno = sys.fstat(dirfd, st) === 0 ? st[sys.STAT_INO] : UNKNOWN;
  const dotdotIno = sys.fstatat(dirfd, '..', sys.AT_SYMLINK_NOFOLLOW, st) === 0 ? st[sys.STAT_INO] : UNKNOWN;
  return { names: r.names, inos, types: r.types, dotIno, dotdotIno };
}
