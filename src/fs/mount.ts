// Mounting one backing directory: the backing view, the reserved area, the FUSE session (the checks
// are in checks.ts).
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { BackingDir } from '../backing';
import { Fuse } from '../fuse/fuse';
import { checkBacking, checkFuseAvailable, checkMountpoint, checkRelation, markServed, MountError, servedMountContaining } from './checks';
import type { FsEventHooks } from './events';
import { Passthrough } from './passthrough';
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

export async function mountFs(opts: FsMountOptions): Promise<MountedFs> {
  const backing = path.resolve(opts.backing);
  const mountpoint = path.resolve(opts.mountpoint);
  const { realMountpoint } = await checkMountArgs(backing, mountpoint);
  // Files are created by the daemon and handed to the caller: the kernel already applied the
  // caller's umask, the daemon's own must not apply a second time.
  process.umask(0);
  // The backing view this process shares between its mounts and its DMAPI (src/backing).
  let dir: BackingDir;
  try {
    dir = BackingDir.acquire(backing);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new MountError(err.code ?? 'EIO', err.message);
  }
  try {
    dir.reserved.prepare();
  } catch (e) {
    dir.release();
    const err = e as NodeJS.ErrnoException;
    throw new MountError(err.code ?? 'EIO', `cannot prepare the reserved area ${dir.reserved.dir}: ${err.code === 'EROFS' ? 'the backing filesystem is read-only' : err.message}`);
  }
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
      dir.release();
      const err = e as { code?: string; message?: string };
      throw new MountError(err.code ?? 'EIO', err.message ?? String(e));
    }
  }
  if (opts.passthrough && (hooks?.enabled || opts.capacity)) {
    if (hooks) opts.events?.detach(hooks);
    dir.release();
    throw new MountError('EINVAL', `kernel passthrough cannot be used ${hooks?.enabled ? 'on a DMAPI-enabled filesystem' : 'with a capacity limit'}: every read and write must reach the daemon there`);
  }
  const ops = new Passthrough({ dir, events: hooks, capacity: opts.capacity, passthrough: opts.passthrough, fenced: opts.fenced });
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
      dir.release();
      if (hooks) opts.events?.detach(hooks);
      closedResolve();
    },
  });
  fuseRef = fuse;
  await new Promise<void>((resolve, reject) => {
    fuse.mount((err) => (err ? reject(new MountError('EIO', `mount of ${mountpoint} failed: ${err.message}`)) : resolve()));
  }).catch((e) => {
    dir.release();
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
