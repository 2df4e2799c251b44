// Checks before a mount, shared by the CLI (for early, clear messages) and the daemon (which
// decides). All asynchronous: in the daemon a path may lie inside one of its own FUSE mounts, and
// a synchronous call there would deadlock the thread that serves the mount.
import * as fs from 'fs';
import * as path from 'path';
import { nativeFuse } from '../fuse/binding';
import { CodedError } from './errors';
import { isDeadFuseMount, isFuse, MountEntry, mountAt, readMounts } from './mountinfo';
import { isInside } from './paths';

export const FUSE_DEVICE = '/dev/fuse';

function errCode(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException)?.code;
}

/** Resolves and checks the backing directory; returns its canonical path. */
export async function checkBacking(p: string): Promise<string> {
  if (!path.isAbsolute(p)) throw new CodedError('EINVAL', `backing path must be absolute: ${p}`);
  let real: string;
  try {
    real = await fs.promises.realpath(p);
  } catch (e) {
    const code = errCode(e);
    if (code === 'ENOENT') throw new CodedError('ENOENT', `backing directory does not exist: ${p}`);
    if (code === 'ENOTDIR') throw new CodedError('ENOTDIR', `backing path is not a directory: ${p}`);
    if (code === 'ENOTCONN') throw new CodedError('ENOTCONN', `backing directory is on a dead FUSE mount (transport endpoint is not connected): ${p}`);
    throw new CodedError(code ?? 'EIO', `cannot access backing directory ${p}: ${(e as Error).message}`);
  }
  let st: fs.Stats;
  try {
    st = await fs.promises.stat(real);
  } catch (e) {
    throw new CodedError(errCode(e) ?? 'EIO', `cannot access backing directory ${p}: ${(e as Error).message}`);
  }
  if (!st.isDirectory()) throw new CodedError('ENOTDIR', `backing path is not a directory: ${p}`);
  return real;
}

function deadMountError(p: string, m: MountEntry | undefined): CodedError {
  return new CodedError('ENOTCONN', `mount point ${p} is a dead FUSE mount left by a daemon that died`
    + `${m ? ` (${m.source})` : ''}, transport endpoint is not connected: run 'dmapifs umount ${p}' first`);
}

const DEAD = new Set(['ENOTCONN', 'ECONNABORTED']);

/** Resolves and checks the mount point (an existing, empty directory, not a mount point yet). */
export async function checkMountpoint(p: string): Promise<string> {
  if (!path.isAbsolute(p)) throw new CodedError('EINVAL', `mount point must be absolute: ${p}`);
  const mounts = await readMounts();
  const fail = (e: unknown, what: string): never => {
    const code = errCode(e);
    if (code && DEAD.has(code)) throw deadMountError(p, mountAt(mounts, path.resolve(p)));
    throw new CodedError(code ?? 'EIO', `cannot ${what} mount point ${p}: ${(e as Error).message}`);
  };
  let real: string;
  try {
    real = await fs.promises.realpath(p);
  } catch (e) {
    const code = errCode(e);
    if (code === 'ENOENT') throw new CodedError('ENOENT', `mount point does not exist: ${p}`);
    if (code === 'ENOTDIR') throw new CodedError('ENOTDIR', `mount point is not a directory: ${p}`);
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
  if (!st.isDirectory()) throw new CodedError('ENOTDIR', `mount point is not a directory: ${p}`);
  if (m) {
    throw new CodedError('EBUSY', `already a mount point: ${p} (${isFuse(m) ? 'FUSE ' : ''}${m.fstype} from ${m.source})`);
  }
  let dir: fs.Dir;
  try {
    dir = await fs.promises.opendir(real);
  } catch (e) {
    return fail(e, 'read');
  }
  try {
    if ((await dir.read()) !== null) throw new CodedError('ENOTEMPTY', `mount point is not empty: ${p}`);
  } finally {
    await dir.close().catch(() => undefined);
  }
  return real;
}

/** Backing and mount point must not contain each other. */
export function checkRelation(backing: string, mountpoint: string): void {
  if (isInside(mountpoint, backing)) {
    throw new CodedError('EINVAL', `mount point must not be the backing directory or inside it: ${mountpoint} (backing ${backing})`);
  }
  if (isInside(backing, mountpoint)) {
    throw new CodedError('EINVAL', `backing directory must not be inside the mount point: ${backing} (mount point ${mountpoint})`);
  }
}

/** /dev/fuse is there and the FUSE binding (libfuse 3) loads. */
export async function checkFuseAvailable(): Promise<void> {
  let st: fs.Stats;
  try {
    st = await fs.promises.stat(FUSE_DEVICE);
  } catch (e) {
    if (errCode(e) === 'ENOENT') {
      throw new CodedError('ENODEV', `no ${FUSE_DEVICE}: the fuse kernel module is not loaded (run modprobe fuse) or this container has no FUSE device`);
    }
    throw new CodedError(errCode(e) ?? 'EIO', `cannot access ${FUSE_DEVICE}: ${(e as Error).message}`);
  }
  if (!st.isCharacterDevice()) throw new CodedError('ENODEV', `${FUSE_DEVICE} is not a character device`);
  try {
    nativeFuse();
  } catch (e) {
    throw new CodedError('ELIBACC', (e as Error).message);
  }
}
