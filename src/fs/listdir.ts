// Directory listings with inode numbers and types, for readdir.
import * as fs from 'fs';
import * as os from 'os';
import * as sys from '../native/sys';

export interface Listing {
  names: string[];
  inos: Float64Array;
  types: Uint8Array;
  /** Inode numbers of '.' and '..' (d_ino of the dot entries). */
  dotIno: number;
  dotdotIno: number;
}

const DT: Array<[keyof fs.Dirent, number]> = [
  ['isFIFO', 1], ['isCharacterDevice', 2], ['isDirectory', 4], ['isBlockDevice', 6],
  ['isFile', 8], ['isSymbolicLink', 10], ['isSocket', 12],
];

/**
 * Lists the directory open as `dirfd` (any descriptor of it, O_PATH included): names, inode
 * numbers (d_ino must equal st_ino: Node's readdir does not give d_ino, so each entry is stat'ed
 * relative to the descriptor, without following symlinks) and DT_* types; or -errno.
 */
export function listDir(dirfd: number): Listing | number {
  let ents: fs.Dirent[];
  try {
    ents = fs.readdirSync(`/proc/self/fd/${dirfd}`, { withFileTypes: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
    return -((os.constants.errno as Record<string, number>)[code] ?? os.constants.errno.EIO);
  }
  const st = new BigUint64Array(sys.STAT_FIELDS);
  const names = new Array<string>(ents.length);
  const inos = new Float64Array(ents.length).fill(0xffffffff);
  const types = new Uint8Array(ents.length);
  for (let i = 0; i < ents.length; i++) {
    const d = ents[i];
    names[i] = d.name;
    for (const [m, t] of DT) if ((d[m] as () => boolean).call(d)) { types[i] = t; break; }
    // An entry removed since the listing keeps the "unknown" inode number.
    if (sys.fstatat(dirfd, d.name, sys.AT_SYMLINK_NOFOLLOW, st) === 0) inos[i] = Number(st[sys.STAT_INO]);
  }
  const dotIno = sys.fstat(dirfd, st) === 0 ? Number(st[sys.STAT_INO]) : 0xffffffff;
  const dotdotIno = sys.fstatat(dirfd, '..', sys.AT_SYMLINK_NOFOLLOW, st) === 0 ? Number(st[sys.STAT_INO]) : 0xffffffff;
  return { names, inos, types, dotIno, dotdotIno };
}
