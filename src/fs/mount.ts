// Mounting one backing directory: checks, the backing view, the reserved area, the FUSE session.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Fuse } from '../fuse/fuse';
import { nativeFuse } from '../fuse/binding';
import * as sys from '../native/sys';
import type { FsEventHooks } from './events';
import { Passthrough } from './passthrough';
import { ReservedArea } from './reserved';
import type { MountedFs, MountInfo, MountOptions } from './types';

export interface FsMountOptions extends MountOptions {
  /** Seconds the kernel may cache attributes and names (default 1; 0 = every stat asks us). */
  attrTimeout?: number;
  entryTimeout?: number;
}

/** An Error with an errno-style code and a one-line message. */
export class MountError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

/** Mount points served by this process (its own mounts cannot be used synchronously here). */
const served = new Set<string>();

function within(p: string, dir: string): boolean {
  return p === dir || p.startsWith(dir === '/' ? '/' : dir + '/');
}

/** Is `p` a mount point (listed in /proc/self/mountinfo)? */
export function isMountPoint(p: string): boolean {
  const want = path.resolve(p);
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    if (f.length > 4 && f[4].replace(/\\040/g, ' ') === want) return true;
  }
  return false;
}

/**
 * Checks the arguments of a mount; rejects with a MountError with a one-line message.
 * Only asynchronous calls here: a path could lie inside a mount this very thread serves.
 */
export async function checkMountArgs(backing: string, mountpoint: string): Promise<{ realBacking: string; realMountpoint: string }> {
  const fsp = fs.promises;
  if (!path.isAbsolute(backing) || !path.isAbsolute(mountpoint)) throw new MountError('EINVAL', 'paths must be absolute');
  const b = await fsp.stat(backing).catch(() => null);
  if (!b) throw new MountError('ENOENT', `backing directory ${backing} does not exist`);
  if (!b.isDirectory()) throw new MountError('ENOTDIR', `backing path ${backing} is not a directory`);
  const m = await fsp.stat(mountpoint).catch(() => null);
  if (!m) throw new MountError('ENOENT', `mount point ${mountpoint} does not exist`);
  if (!m.isDirectory()) throw new MountError('ENOTDIR', `mount point ${mountpoint} is not a directory`);
  const rb = await fsp.realpath(backing);
  const rm = await fsp.realpath(mountpoint);
  for (const s of served) {
    if (within(rb, s)) throw new MountError('EINVAL', `backing directory ${backing} lies inside the dmapifs mount ${s}`);
    if (within(rm, s)) throw new MountError('EINVAL', `mount point ${mountpoint} lies inside the dmapifs mount ${s}`);
  }
  if (isMountPoint(rm)) throw new MountError('EBUSY', `${mountpoint} is already a mount point`);
  if ((await fsp.readdir(rm)).length) throw new MountError('ENOTEMPTY', `mount point ${mountpoint} is not empty`);
  if (within(rm, rb) || within(rb, rm)) {
    throw new MountError('EINVAL', `mount point ${mountpoint} and backing directory ${backing} overlap`);
  }
  if (!fs.existsSync('/dev/fuse')) throw new MountError('ENODEV', '/dev/fuse is missing (load the fuse module: modprobe fuse)');
  try { nativeFuse(); } catch (e) { throw new MountError('ELIBACC', (e as Error).message); }
  return { realBacking: rb, realMountpoint: rm };
}

/**
 * Opens the backing directory as the daemon will serve it: a non-recursive bind mount of it,
 * detached at once, so that mounts nested inside the backing tree are simply not there (and
 * the view vanishes with the last descriptor, even after kill -9). Falls back to the directory
 * itself (nested mounts are then refused by RESOLVE_NO_XDEV) where bind mounts are not allowed.
 */
function openView(backing: string): number {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dmapifs-view-'));
  try {
    if (sys.mount(backing, tmp, null, sys.MS_BIND, null) === 0) {
      const fd = sys.open(tmp, sys.O_PATH | sys.O_DIRECTORY, 0);
      sys.umount2(tmp, sys.MNT_DETACH);
      if (fd >= 0) return fd;
    }
  } finally {
    fs.rmdirSync(tmp);
  }
  const fd = sys.open(backing, sys.O_PATH | sys.O_DIRECTORY, 0);
  if (fd < 0) throw new MountError('EIO', `cannot open backing directory ${backing}: ${sys.strerror(-fd)}`);
  return fd;
}

export async function mountFs(opts: FsMountOptions): Promise<MountedFs> {
  const backing = path.resolve(opts.backing);
  const mountpoint = path.resolve(opts.mountpoint);
  const { realMountpoint } = await checkMountArgs(backing, mountpoint);
  // Files are created by the daemon and handed to the caller: the kernel already applied the
  // caller's umask, the daemon's own must not apply a second time.
  process.umask(0);
  const reserved = new ReservedArea(backing);
  try {
    reserved.prepare();
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new MountError(err.code ?? 'EIO', `cannot prepare the reserved area ${reserved.dir}: ${err.code === 'EROFS' ? 'the backing filesystem is read-only' : err.message}`);
  }
  const rootFd = openView(backing);
  const mountedAt = Date.now();
  // MOUNT comes before the kernel mount; the DM application may refuse it.
  let fuseRef: Fuse | null = null;
  let hooks: FsEventHooks | null = null;
  if (opts.events) {
    try {
      hooks = await opts.events.attach({
        backing, mountpoint, mountedAt, invalidate: (ino) => fuseRef?.invalidateIno(ino), mountEventOptional: opts.mountEventOptional,
      });
    } catch (e) {
      sys.close(rootFd);
      const err = e as { code?: string; message?: string };
      throw new MountError(err.code ?? 'EIO', err.message ?? String(e));
    }
  }
  const ops = new Passthrough({ rootFd, backing, reserved, events: hooks, capacity: opts.capacity });
  let closedResolve!: () => void;
  const closed = new Promise<void>((r) => { closedResolve = r; });
  const fuse = new Fuse(mountpoint, ops, {
    fsname: `dmapifs:${opts.node}`,
    subtype: 'dmapifs',
    allowOther: true,
    defaultPermissions: true,
    attrTimeout: opts.attrTimeout ?? 1,
    entryTimeout: opts.entryTimeout ?? 1,
    maxWrite: 131072,
    onClosed: () => {
      served.delete(realMountpoint);
      sys.close(rootFd);
      if (hooks) opts.events?.detach(hooks);
      closedResolve();
    },
  });
  fuseRef = fuse;
  await new Promise<void>((resolve, reject) => {
    fuse.mount((err) => (err ? reject(new MountError('EIO', `mount of ${mountpoint} failed: ${err.message}`)) : resolve()));
  }).catch((e) => {
    sys.close(rootFd);
    if (hooks) opts.events?.detach(hooks);
    throw e;
  });
  served.add(realMountpoint);
  const info: MountInfo = { backing, mountpoint, node: opts.node, mountedAt, dev: null };
  // The device number of the new superblock, read off the thread pool (never synchronously:
  // this thread serves the mount). Waiting for it also means the kernel has finished its first
  // lookups, so an unmount right after mountFs resolves does not find the mount busy.
  info.dev = await fs.promises.stat(mountpoint).then((st) => st.dev, () => null);
  return {
    info,
    closed,
    unmount: async ({ lazy } = {}) => {
      // PREUNMOUNT before an unmount asked for (a lazy one is forced: no events, as GPFS's forced
      // unmounts); UNMOUNT after it, with its result.
      if (hooks && !lazy) {
        const errno = await (hooks.preUnmount() ?? 0);
        if (errno) throw new MountError(os.constants.errno.EBUSY === errno ? 'EBUSY' : (Object.entries(os.constants.errno).find(([, v]) => v === errno)?.[0] ?? 'EIO'), `the DM application refused the unmount of ${mountpoint} (PREUNMOUNT answered with errno ${errno})`);
      }
      await new Promise<void>((resolve, reject) => {
        fuse.unmount((err) => {
          if (!err) {
            if (!lazy) hooks?.unmounted(0, false);
            return resolve();
          }
          const errno = (err as { errno?: number }).errno ?? os.constants.errno.EIO;
          if (!lazy) hooks?.unmounted(errno, false);
          const code = os.constants.errno.EBUSY === errno ? 'EBUSY' : 'EIO';
          reject(new MountError(code, err.message));
        }, lazy);
      });
    },
  };
}
