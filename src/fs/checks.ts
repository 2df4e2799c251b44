// The checks before a mount, one set for every caller: the CLI (early, clear messages), the
// daemon's mount service and mountFs (which decides). Errors are MountErrors (errno-style code,
// one-line message). All asynchronous: in the daemon a path may lie inside one of its own FUSE
// mounts, and a synchronous call there would deadlock the thread that serves the mount.
import * as fs from 'fs';
import * as path from 'path';
import { nativeFuse } from '../fuse/binding';
import { isDeadFuseMount, isFuse, MountEntry, mountAt, readMounts } from './mountinfo';

/** An Error with an errno-style code (ENOENT, EBUSY...) and a one-line message. */
export class MountError extends Error {
  constructor(readonly code: string, message: string) {
    super(String(message).replace(/\s*[\r\n]+\s*/g, ' ').trim());
    this.name = 'MountError';
  }
}

/** Is p the directory dir or inside it (both absolute, normalised)? */
export function isInside(p: string, dir: string): boolean {
  if (p === dir) return true;
  return p.startsWith(dir.endsWith('/') ? dir : dir + '/');
}

/** Mount points served by this process: nothing may be mounted from or onto a path inside them. */
const served = new Set<string>();
export function markServed(mountpoint: string, on: boolean): void {
  if (on) served.add(mountpoint); else served.delete(mountpoint);
}
/** The mount served by this process that contains p (lexically), if any. */
export function servedMountContaining(p: string): string | undefined {
  for (const s of served) if (isInside(p, s)) return s;
  return undefined;
}

export const FUSE_DEVICE = '/dev/fuse';

function errCode(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException)?.code;
}

/** Resolves and checks the backing directory; returns its canonical path. */
export async function checkBacking(p: string): Promise<string> {
  if (!path.isAbsolute(p)) throw new MountError('EINVAL', `backing path must be absolute: ${p}`);
  let real: string;
  try {
    real = await fs.promises.realpath(p);
  } catch (e) {
    const code = errCode(e);
    if (code === 'ENOENT') throw new MountError('ENOENT', `backing directory does not exist: ${p}`);
    if (code === 'ENOTDIR') throw new MountError('ENOTDIR', `backing path is not a directory: ${p}`);
    if (code === 'ENOTCONN') throw new MountError('ENOTCONN', `backing directory is on a dead FUSE mount (transport endpoint is not connected): ${p}`);
    throw new MountError(code ?? 'EIO', `cannot access backing directory ${p}: ${(e as Error).message}`);
  }
  let st: fs.Stats;
  try {
    st = await fs.promises.stat(real);
  } catch (e) {
    throw new MountError(errCode(e) ?? 'EIO', `cannot access backing directory ${p}: ${(e as Error).message}`);
  }
  if (!st.isDirectory()) throw new MountError('ENOTDIR', `backing path is not a directory: ${p}`);
  return real;
}

function deadMountError(p: string, m: MountEntry | undefined): MountError {
  return new MountError('ENOTCONN', `mount point ${p} is a dead FUSE mount left by a daemon that died`
    + `${m ? ` (${m.source})` : ''}, transport endpoint is not connected: run 'dmapifs umount ${p}' first`);
}

const DEAD = new Set(['ENOTCONN', 'ECONNABORTED']);

/** Resolves and checks the mount point (an existing, empty directory, not a mount point yet). */
export async function checkMountpoint(p: string): Promise<string> {
  if (!path.isAbsolute(p)) throw new MountError('EINVAL', `mount point must be absolute: ${p}`);
  const mounts = await readMounts();
  const fail = (e: unknown, what: string): never => {
    const code = errCode(e);
    if (code && DEAD.has(code)) throw deadMountError(p, mountAt(mounts, path.resolve(p)));
    throw new MountError(code ?? 'EIO', `cannot ${what} mount point ${p}: ${(e as Error).message}`);
  };
  let real: string;
  try {
    real = await fs.promises.realpath(p);
  } catch (e) {
    const code = errCode(e);
    if (code === 'ENOENT') throw new MountError('ENOENT', `mount point does not exist: ${p}`);
    if (code === 'ENOTDIR') throw new MountError('ENOTDIR', `mount point is not a directory: ${p}`);
    return fail(e, 'access');
  }
  const m = mountAt(mounts, real);
  if (m && isFuse(m) && await isDeadFuseMount(real)) throw deadMountError(p, m);
  let st: fs.Stats;
  try {
    st = await fs.promises.stat(real);
  } catch (e) {
    return fail(e, 'access');
  }
  if (!st.isDirectory()) throw new MountError('ENOTDIR', `mount point is not a directory: ${p}`);
  if (m) {
    throw new MountError('EBUSY', `already a mount point: ${p} (${isFuse(m) ? 'FUSE ' : ''}${m.fstype} from ${m.source})`);
  }
  let dir: fs.Dir;
  try {
    dir = await fs.promises.opendir(real);
  } catch (e) {
    return fail(e, 'read');
  }
  try {
    if ((await dir.read()) !== null) throw new MountError('ENOTEMPTY', `mount point is not empty: ${p}`);
  } finally {
    await dir.close().catch(() => undefined);
  }
  return real;
}

/** Backing and mount point must not contain each other. */
export function checkRelation(backing: string, mountpoint: string): void {
  if (isInside(mountpoint, backing)) {
    throw new MountError('EINVAL', `mount point must not be the backing directory or inside it: ${mountpoint} (backing ${backing})`);
  }
  if (isInside(backing, mountpoint)) {
    throw new MountError('EINVAL', `backing directory must not be inside the mount point: ${backing} (mount point ${mountpoint})`);
  }
}

/** /dev/fuse is there and the FUSE binding (libfuse 3) loads. */
export async function checkFuseAvailable(): Promise<void> {
  let st: fs.Stats;
  try {
    st = await fs.promises.stat(FUSE_DEVICE);
  } catch (e) {
    if (errCode(e) === 'ENOENT') {
      throw new MountError('ENODEV', `no ${FUSE_DEVICE}: the fuse kernel module is not loaded (run modprobe fuse) or this container has no FUSE device`);
    }
    throw new MountError(errCode(e) ?? 'EIO', `cannot access ${FUSE_DEVICE}: ${(e as Error).message}`);
  }
  if (!st.isCharacterDevice()) throw new MountError('ENODEV', `${FUSE_DEVICE} is not a character device`);
  try {
    nativeFuse();
  } catch (e) {
    throw new MountError('ELIBACC', (e as Error).message);
  }
}
