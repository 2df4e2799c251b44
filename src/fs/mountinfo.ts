// Reads the kernel's mount table (/proc/self/mountinfo): which paths are mount points, and which
// are FUSE mounts. Reading /proc never touches a FUSE mount, so it is safe in the daemon.
import * as fs from 'fs';

export interface MountEntry {
  id: number;
  parentId: number;
  /** "major:minor" of the mounted filesystem (st_dev). */
  devno: string;
  root: string;
  mountpoint: string;
  options: string;
  fstype: string;
  source: string;
  superOptions: string;
}

const MOUNTINFO = '/proc/self/mountinfo';

/** Undoes the kernel's octal escapes (\040 for space, \011, \012, \134). */
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const f = line.split(' ');
    const sep = f.indexOf('-', 6);
    if (f.length < 10 || sep < 0) continue;
    out.push({
      id: Number(f[0]),
      parentId: Number(f[1]),
      devno: f[2],
      root: unescape(f[3]),
      mountpoint: unescape(f[4]),
      options: f[5],
      fstype: f[sep + 1],
      source: unescape(f[sep + 2] ?? ''),
      superOptions: f[sep + 3] ?? '',
    });
  }
  return out;
}

export function readMountsSync(): MountEntry[] {
  return parseMountinfo(fs.readFileSync(MOUNTINFO, 'utf8'));
}

export async function readMounts(): Promise<MountEntry[]> {
  return parseMountinfo(await fs.promises.readFile(MOUNTINFO, 'utf8'));
}

export function isFuse(e: MountEntry): boolean {
  return e.fstype === 'fuse' || e.fstype === 'fuseblk' || e.fstype.startsWith('fuse.');
}

/**
 * The dmapifs mount (of any node: fstype fuse.dmapifs) that `p` (absolute) is on or under, judged
 * from the mount table alone (nothing is looked up, so a stalled mount cannot hang the caller).
 */
export function dmapifsMountContaining(entries: MountEntry[], p: string): MountEntry | undefined {
  let found: MountEntry | undefined;
  for (const e of entries) {
    const inside = p === e.mountpoint || p.startsWith(e.mountpoint === '/' ? '/' : e.mountpoint + '/');
    // The deepest mount wins; later lines are stacked on top of earlier ones at the same point.
    if (inside && (!found || e.mountpoint.length >= found.mountpoint.length)) found = e;
  }
  return found && found.fstype === 'fuse.dmapifs' ? found : undefined;
}

/** The topmost mount at exactly `mountpoint` (absolute, canonical), if any. */
export function mountAt(entries: MountEntry[], mountpoint: string): MountEntry | undefined {
  let found: MountEntry | undefined;
  for (const e of entries) if (e.mountpoint === mountpoint) found = e; // later lines are stacked on top
  return found;
}

/**
 * Whether the FUSE mount at `mountpoint` has lost its daemon (kill -9): the kernel then answers
 * ENOTCONN (ECONNABORTED once aborted). statfs always reaches the daemon (stat may be answered
 * from the attribute cache). Asynchronous and bounded: a live but slow daemon is not "dead".
 */
export async function isDeadFuseMount(mountpoint: string, timeoutMs = 2000): Promise<boolean> {
  const probe: Promise<unknown> = typeof fs.promises.statfs === 'function'
    ? fs.promises.statfs(mountpoint)
    : fs.promises.opendir(mountpoint).then((d) => d.close());
  let timer: NodeJS.Timeout | undefined;
  const r = await Promise.race([
    probe.then(() => 'live', (e: NodeJS.ErrnoException) => e.code ?? 'error'),
    new Promise<string>((res) => { timer = setTimeout(() => res('timeout'), timeoutMs); }),
  ]);
  clearTimeout(timer);
  return r === 'ENOTCONN' || r === 'ECONNABORTED';
}
