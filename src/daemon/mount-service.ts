// The filesystem service of a node daemon: its table of FUSE mounts, and the mount/umount commands.
//
// The daemon serves every FUSE request on its own JavaScript thread, so this file never makes a
// synchronous filesystem call on a path that might be inside one of its mounts: all path checks are
// asynchronous, and paths inside our own mounts are refused as backing or mount point.
import * as path from 'path';
import type { MountedFs, MountInfo, MountOptions } from '../fs/types';
import { checkBacking, checkFuseAvailable, checkMountpoint, checkRelation, isInside, servedMountContaining } from '../fs/checks';
import { dmapifsMountContaining, readMountsSync } from '../fs/mountinfo';
import { CodedError, errorBody } from '../common/errors';
import { Logger } from '../common/log';
import { CommandHandler, Service } from '../common/service';

export type MountFn = (opts: MountOptions & { attrTimeout?: number; entryTimeout?: number }) => Promise<MountedFs>;

function optBytes(args: Record<string, unknown>, key: string): number | undefined {
  const v = args[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) throw new CodedError('EINVAL', `'${key}' must be a positive number of bytes`);
  return v;
}

export interface MountRecord extends MountInfo {
  attrTimeout: number | null;
  entryTimeout: number | null;
  /** Mount options dev and suid (both off by default). */
  allowDev: boolean;
  allowSuid: boolean;
  /** --capacity in bytes (null: none). */
  capacity: number | null;
  mountEventOptional: boolean;
}

interface Entry {
  fs: MountedFs;
  attrTimeout: number | null;
  entryTimeout: number | null;
  allowDev: boolean;
  allowSuid: boolean;
  capacity: number | null;
  mountEventOptional: boolean;
  /** Set once the kernel mount is gone. */
  gone: boolean;
  /** Set while we unmount it ourselves. */
  unmounting: boolean;
}

/** How long to wait for the kernel to report a mount gone after a successful unmount. */
const CLOSE_WAIT_MS = 5000;

function str(args: Record<string, unknown>, key: string): string {
  const v = args[key];
  if (typeof v !== 'string' || !v.length) throw new CodedError('EINVAL', `'${key}' must be a non-empty string`);
  if (v.includes('\0')) throw new CodedError('EINVAL', `'${key}' contains a NUL byte`);
  return v;
}

function bool(args: Record<string, unknown>, key: string): boolean {
  const v = args[key];
  if (typeof v !== 'boolean') throw new CodedError('EINVAL', `'${key}' must be true or false`);
  return v;
}

function optSeconds(args: Record<string, unknown>, key: string): number | undefined {
  const v = args[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 86400) {
    throw new CodedError('EINVAL', `'${key}' must be a number of seconds between 0 and 86400`);
  }
  return v;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<'timeout'>((r) => { timer = setTimeout(() => r('timeout'), ms); timer.unref(); }),
  ]);
}

/** Told of mounts made and unmounted through the commands (the node's mount list). */
export interface MountListener {
  mounted(rec: MountRecord): void;
  unmounted(mountpoint: string): void;
}

export class MountService implements Service {
  readonly name = 'fs';
  listener: MountListener | null = null;
  readonly commands: Record<string, CommandHandler>;
  private readonly mounts = new Map<string, Entry>();
  /** Mount points with a mount or unmount under way. */
  private readonly busy = new Set<string>();
  private stopping = false;

  constructor(
    private readonly node: string,
    private readonly mountFn: MountFn,
    private readonly log: Logger,
    /** Paths the daemon itself uses (its run directory): no mount may cover them. */
    private readonly ownPaths: string[] = [],
    /** Called once a mount has left the list (after its unmount, events included, is complete). */
    private readonly onGone: () => void = () => undefined,
  ) {
    this.commands = {
      mount: async (args) => {
        const rec = await this.mount(args);
        this.listener?.mounted(rec);
        return rec;
      },
      umount: async (args) => {
        const r = await this.umount(args);
        this.listener?.unmounted(r.mountpoint);
        return r;
      },
    };
  }

  private record(e: Entry): MountRecord {
    // fs.info is live (dev is filled in once known).
    return {
      ...e.fs.info, node: this.node, attrTimeout: e.attrTimeout, entryTimeout: e.entryTimeout, allowDev: e.allowDev, allowSuid: e.allowSuid,
      capacity: e.capacity, mountEventOptional: e.mountEventOptional,
    };
  }

  list(): MountRecord[] {
    return [...this.mounts.values()].map((e) => this.record(e)).sort((a, b) => a.mountedAt - b.mountedAt);
  }

  status(): unknown {
    return { mounts: this.mounts.size };
  }

  /** The mount of ours that contains `p` (or is `p`), if any. */
  private refuseInsideOwn(what: string, p: string): void {
    const mp = servedMountContaining(p);
    if (mp) throw new CodedError('EINVAL', `${what} ${p} is inside ${mp}, a mount served by node ${this.node} itself`);
  }

  /**
   * A backing directory must be the backing filesystem itself, not a view of it through another
   * node's dmapifs mount: this daemon would then hang whenever that one stalls, and DMAPI events
   * and rights would be taken twice, by two nodes that do not know of each other.
   */
  private refuseInsideDmapifs(backing: string): void {
    const m = dmapifsMountContaining(readMountsSync(), backing);
    if (!m) return;
    const owner = /^dmapifs:(.+)$/.exec(m.source)?.[1] ?? m.source;
    throw new CodedError('EINVAL', `backing directory ${backing} is inside ${m.mountpoint}, a dmapifs mount (node ${owner}): give the directory of its backing filesystem instead`);
  }

  async mount(args: Record<string, unknown>): Promise<MountRecord> {
    if (this.stopping) throw new CodedError('ESHUTDOWN', `node ${this.node} is shutting down`);
    const backingArg = str(args, 'backing');
    const mountArg = str(args, 'mountpoint');
    const attrTimeout = optSeconds(args, 'attrTimeout');
    const entryTimeout = optSeconds(args, 'entryTimeout');
    const capacity = optBytes(args, 'capacity');
    const mountEventOptional = args.mountEventOptional === undefined ? undefined : bool(args, 'mountEventOptional');
    const allowDev = args.allowDev === undefined ? false : bool(args, 'allowDev');
    const allowSuid = args.allowSuid === undefined ? false : bool(args, 'allowSuid');
    const passthrough = args.passthrough === undefined ? undefined : bool(args, 'passthrough');
    if (!path.isAbsolute(backingArg)) throw new CodedError('EINVAL', `backing path must be absolute: ${backingArg}`);
    if (!path.isAbsolute(mountArg)) throw new CodedError('EINVAL', `mount point must be absolute: ${mountArg}`);
    // Before touching either path: nothing inside our own mounts (a mount(2) there would wait on
    // this very thread).
    const key0 = path.resolve(mountArg);
    if (this.mounts.has(key0)) throw new CodedError('EBUSY', `already a mount point: ${key0} (served by node ${this.node})`);
    this.refuseInsideOwn('mount point', key0);
    this.refuseInsideOwn('backing directory', path.resolve(backingArg));
    this.refuseInsideDmapifs(path.resolve(backingArg));
    if (this.busy.has(key0)) throw new CodedError('EBUSY', `a mount or unmount of ${key0} is already under way`);
    this.busy.add(key0);
    let mountpoint = key0;
    try {
      const backing = await checkBacking(backingArg);
      mountpoint = await checkMountpoint(mountArg);
      if (mountpoint !== key0) {
        this.refuseInsideOwn('mount point', mountpoint);
        if (this.mounts.has(mountpoint) || this.busy.has(mountpoint)) {
          throw new CodedError('EBUSY', `already a mount point: ${mountpoint} (served by node ${this.node})`);
        }
        this.busy.add(mountpoint);
      }
      this.refuseInsideOwn('backing directory', backing);
      this.refuseInsideDmapifs(backing);
      checkRelation(backing, mountpoint);
      for (const own of this.ownPaths) {
        if (isInside(own, mountpoint)) throw new CodedError('EINVAL', `mount point ${mountpoint} would hide ${own}, which node ${this.node} uses`);
      }
      await checkFuseAvailable();
      if (this.stopping) throw new CodedError('ESHUTDOWN', `node ${this.node} is shutting down`);
      this.log.info(`mounting ${backing} at ${mountpoint}`);
      let mfs: MountedFs;
      try {
        mfs = await this.mountFn({ backing, mountpoint, node: this.node, attrTimeout, entryTimeout, capacity, mountEventOptional, allowDev, allowSuid, passthrough });
      } catch (e) {
        const b = errorBody(e);
        this.log.warn(`mount of ${backing} at ${mountpoint} failed: ${b.code}: ${b.message}`);
        throw new CodedError(b.code === 'EINTERNAL' ? 'EIO' : b.code, `mount failed: ${b.message}`);
      }
      const entry: Entry = {
        fs: mfs, attrTimeout: attrTimeout ?? null, entryTimeout: entryTimeout ?? null, allowDev, allowSuid, capacity: capacity ?? null,
        mountEventOptional: mountEventOptional === true, gone: false, unmounting: false,
      };
      this.mounts.set(mountpoint, entry);
      mfs.closed.then(() => this.onClosed(mountpoint, entry), (e) => {
        this.log.warn(`mount ${mountpoint}: closed with an error: ${(e as Error)?.message ?? e}`);
        this.onClosed(mountpoint, entry);
      });
      // Answer once the filesystem layer has also finished its own look at the new mount (it
      // reads st_dev off the thread pool): until then that stat holds the mount point, and an
      // unmount right after our answer would fail with EBUSY.
      for (let i = 0; i < 80 && mfs.info.dev === null && !entry.gone; i++) await new Promise((r) => setTimeout(r, 25));
      this.log.info(`mounted ${backing} at ${mountpoint}`);
      if (this.stopping) {
        // A stop arrived while we were mounting: do not leave this one behind.
        await this.unmountEntry(mountpoint, entry, true).catch(() => undefined);
        throw new CodedError('ESHUTDOWN', `node ${this.node} is shutting down`);
      }
      return this.record(entry);
    } finally {
      this.busy.delete(key0);
      this.busy.delete(mountpoint);
    }
  }

  private onClosed(mountpoint: string, entry: Entry): void {
    entry.gone = true;
    if (this.mounts.get(mountpoint) === entry) {
      this.mounts.delete(mountpoint);
      // An unmount of ours tells onGone itself, once it is complete.
      if (!entry.unmounting) {
        this.log.info(`mount ${mountpoint} went away (unmounted from outside)`);
        this.onGone();
      }
    }
  }

  async umount(args: Record<string, unknown>): Promise<{ mountpoint: string; lazy: boolean }> {
    const arg = str(args, 'mountpoint');
    if (!path.isAbsolute(arg)) throw new CodedError('EINVAL', `mount point must be absolute: ${arg}`);
    const lazy = args.lazy === true;
    const mountpoint = path.resolve(arg);
    const entry = this.mounts.get(mountpoint);
    if (!entry) throw new CodedError('ENOENT', `not mounted by node ${this.node}: ${mountpoint}`);
    if (this.busy.has(mountpoint)) throw new CodedError('EBUSY', `an unmount of ${mountpoint} is already under way`);
    this.busy.add(mountpoint);
    try {
      await this.unmountEntry(mountpoint, entry, lazy);
    } finally {
      this.busy.delete(mountpoint);
    }
    return { mountpoint, lazy };
  }

  private async unmountEntry(mountpoint: string, entry: Entry, lazy: boolean): Promise<void> {
    this.log.info(`unmounting ${mountpoint}${lazy ? ' (lazy)' : ''}`);
    entry.unmounting = true;
    try {
      await entry.fs.unmount({ lazy });
    } catch (e) {
      entry.unmounting = false;
      const b = errorBody(e);
      if (entry.gone) {
        // Went away meanwhile (unmounted from outside): that is what was asked.
      } else if ((e as { dmAbort?: boolean }).dmAbort) {
        throw new CodedError(b.code === 'EINTERNAL' ? 'EIO' : b.code, b.message);
      } else if (b.code === 'EBUSY') {
        throw new CodedError('EBUSY', `mount point is busy: ${mountpoint} (files are open or a process has its cwd there; close them or unmount with --lazy)`);
      } else {
        throw new CodedError(b.code === 'EINTERNAL' ? 'EIO' : b.code, `unmount of ${mountpoint} failed: ${b.message}`);
      }
    }
    // Non-lazy: the kernel mount is gone now. Lazy: it is detached, and closes once unused.
    const r = await withTimeout(entry.fs.closed.catch(() => undefined), lazy ? 200 : CLOSE_WAIT_MS);
    if (r === 'timeout' && !lazy) this.log.warn(`mount ${mountpoint}: no close notice ${CLOSE_WAIT_MS} ms after unmount`);
    if (this.mounts.get(mountpoint) === entry) this.mounts.delete(mountpoint);
    this.onGone();
    this.log.info(`unmounted ${mountpoint}`);
  }

  /** Unmounts everything: cleanly when possible, lazily when busy. */
  async stop(reason: string): Promise<void> {
    this.stopping = true;
    // Let mounts under way finish (they check `stopping` and unmount themselves).
    for (let i = 0; i < 100 && this.busy.size; i++) await new Promise((r) => setTimeout(r, 50));
    const entries = [...this.mounts.entries()];
    if (entries.length) this.log.info(`${reason}: unmounting ${entries.length} mount(s)`);
    await Promise.all(entries.map(async ([mp, entry]) => {
      try {
        await this.unmountEntry(mp, entry, false);
      } catch (e) {
        this.log.warn(`${(e as Error).message}; detaching it lazily`);
        try {
          await this.unmountEntry(mp, entry, true);
        } catch (e2) {
          this.log.error(`lazy unmount of ${mp} failed: ${(e2 as Error).message}`);
        }
      }
    }));
  }
}
