// Directory listings with inode numbers and types, for readdir.
import * as fs from 'fs';
import * as os from 'os';

export interface Listing { names: string[]; inos: Float64Array; types: Uint8Array }

const DT: Array<[keyof fs.Dirent, number]> = [
  ['isFIFO', 1], ['isCharacterDevice', 2], ['isDirectory', 4], ['isBlockDevice', 6],
  ['isFile', 8], ['isSymbolicLink', 10], ['isSocket', 12],
];

/** Lists a directory: names, inode numbers (0xffffffff when unknown) and DT_* types; or -errno. */
export function listDir(dir: string): Listing | number {
  let ents: fs.Dirent[];
  try {
    ents = fs.readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
    return -((os.constants.errno as Record<string, number>)[code] ?? os.constants.errno.EIO);
  }
  const names = new Array<string>(ents.length);
  const inos = new Float64Array(ents.length).fill(0xffffffff);
  const types = new Uint8Array(ents.length);
  for (let i = 0; i < ents.length; i++) {
    const d = ents[i];
    names[i] = d.name;
    for (const [m, t] of DT) if ((d[m] as () => boolean).call(d)) { types[i] = t; break; }
  }
  return { names, inos, types };
}
