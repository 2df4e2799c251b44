// Mounting one backing directory: the backing view, the reserved area, the FUSE session (the checks
// are in checks.ts).
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Fuse } from '../fuse/fuse';
import * as sys from '../native/sys';
import { checkBacking, checkFuseAvailable, checkMountpoint, checkRelation, markServed, MountError, servedMountContaining } from './checks';
import type { FsEventHooks } from './events';
import { Passthrough } from './passthrough';
import { ReservedArea } from './reserved';
import type { MountedFs, MountInfo, MountOptions } from './types';

export interface FsMountOptions extends MountOptions {
  /** Seconds the kernel may cache attributes and names (default 1; 0 = every stat asks us). */
  attrTimeout?: number;
  entryTimeout?: number;
}

/**
 * Checks the arguments of a mount (src/fs/checks.ts, the same checks the CLI and the daemon's mount
 * service make first) and that neither path lies inside a mount this process serves; resolves to
 * the canonical paths or rejects with a MountError.
 */
export async function checkMountArgs(backing: string, mountpoint: string): Promise<{ realBacking: string; realMountpoint: string }> {
  const inside = (what: string, p: string) => {
    const s = servedMountContaining(p);
    if (s) throw new MountError('EINVAL', `${what} ${p} lies inside the dmapifs mount ${s}`);
  };
  // Lexically first: resolving a path inside our own mount would be answered by this very thread.
  inside('backing directory', path.resolve(backing));
  inside('mount point', path.resolve(mountpoint));
  const realBacking = await checkBacking(backing);
  const realMountpoint = await checkMountpoint(mountpoint);
  inside('backing directory', realBacking);
  inside('mount point', realMountpoint);
  checkRelation(realBacking, realMountpoint);
  await checkFuseAvailable();
  return { realBacking, realMountpoint };
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
        backing, mountpoint, mountedAt, invalidate: (ino) => fuseRef?.invalidateIno(ino) ?? Promise.resolve(), mountEventOptional: opts.mountEventOptional,
        passthrough: opts.passthrough,
      });
    } catch (e) {
      sys.close(rootFd);
      const err = e as { code?: string; message?: string };
      throw new MountError(err.code ?? 'EIO', err.message ?? String(e));
    }
  }
  if (opts.passthrough && (hooks?.enabled || opts.capacity)) {
    if (hooks) opts.events?.detach(hooks);
    sys.close(rootFd);
    throw new MountError('EINVAL', `kernel passthrough cannot be used ${hooks?.enabled ? 'on a DMAPI-enabled filesystem' : 'with a capacity limit'}: every read and write must reach the daemon there`);
  }
  const ops = new Passthrough({ rootFd, backing, reserved, events: hooks, capacity: opts.capacity, passthrough: opts.passthrough, fenced: opts.fenced });
  let closedResolve!: () => void;
  const closed = new Promise<void>((r) => { closedResolve = r; });
  const fuse = new Fuse(mountpoint, ops, {
    fsname: `dmapifs:${opts.node}`,
    subtype: 'dmapifs',
    allowOther: true,
    defaultPermissions: true,
    // The kernel judges access by ACLs as well as mode bits, as the backing filesystem would.
    posixAcl: true,
    attrTimeout: opts.attrTimeout ?? 1,
    entryTimeout: opts.entryTimeout ?? 1,
    maxWrite: 131072,
    // libfuse mounts nosuid,nodev unless told otherwise.
    options: [...(opts.allowDev ? ['dev'] : []), ...(opts.allowSuid ? ['suid'] : [])],
    // The filesystem decides per open which opens are passthrough ones (Passthrough.opened).
    passthrough: opts.passthrough === true,
    onClosed: () => {
      markServed(realMountpoint, false);
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
  markServed(realMountpoint, true);
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
        if (errno) {
          const name = Object.entries(os.constants.errno).find(([, v]) => v === errno)?.[0];
          // dmAbort: the refusal is the DM application's, whatever errno it chose (EBUSY included).
          throw Object.assign(new MountError(name ?? 'EIO', `the DM application refused the unmount of ${mountpoint}: PREUNMOUNT answered ABORT with errno ${errno}${name ? ` (${name})` : ''}`), { dmAbort: true });
        }
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
