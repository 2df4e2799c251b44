// What the filesystem layer needs from data management, and nothing more: the passthrough
// asks "must this operation raise an event here? raise it and tell me when to go on", and the
// implementation (the node's DMAPI service, src/dmapi/fs-events.ts) is injected at mount time.
// The passthrough knows no event numbers, sessions, handles or dispositions.
//
// Conventions:
// * Objects are named by their backing-relative path (latin1 strings, one char per byte, no
//   leading '/', '' for the root) and, for open files, by the backing descriptor too.
// * A "gate" is `null` when no event is due (the fast path: the operation goes on at once), or a
//   promise of 0 (go on) or a positive errno (fail the operation with it, changing nothing). The
//   operation never holds a thread or a lock while it waits: the FUSE request is just answered later.
// * Notices (post events, ATTRIBUTE, CLOSE, DESTROY) are fire-and-forget.

export type Gate = Promise<number> | null;

/** A namespace operation (pre and post events). Names are latin1 strings. */
export interface NsOp {
  op: 'create' | 'remove' | 'rename' | 'link' | 'symlink';
  /** Directory holding `name` (rename: the old parent). */
  parent: string;
  name: string;
  /** create: the mode asked for (with the file type); remove: the mode of the object. */
  mode: number;
  /** rename: the new parent and name; link: the new parent and name. */
  newParent?: string;
  newName?: string;
  /** link: the existing object; symlink: the contents. */
  target?: string;
}

/** An open file as the passthrough knows it. */
export interface FileRef {
  rel: string;
  ino: bigint;
  fd: number;
  /** The opener asked for O_NONBLOCK (dm_pending then fails it with EAGAIN). */
  nonblock?: boolean;
  /**
   * Scratch space of the hooks for this open (what they derived from it once, like its DMAPI
   * handle): it lives exactly as long as the open, and the passthrough never looks inside.
   */
  memo?: Record<string, unknown>;
}

export type DataKind = 'read' | 'write' | 'truncate';

/** Per-mount hooks; every method is cheap when DMAPI is disabled for the filesystem. */
export interface FsEventHooks {
  /** DMAPI is enabled for this filesystem (when false, nothing below ever raises an event). */
  readonly enabled: boolean;

  /** Synchronous namespace pre-event (CREATE, REMOVE, RENAME, LINK, SYMLINK). */
  before(op: NsOp): Gate;
  /** Asynchronous post-event with the operation's result (0 or a positive errno). */
  after(op: NsOp, retcode: number): void;

  /** Data events are in force for this file (it is opened for direct I/O then). */
  managed(f: FileRef): boolean;
  /** READ, WRITE or TRUNCATE for [off, off+len) (truncate: between the old and the new size). */
  data(kind: DataKind, f: FileRef, off: number, len: number): Gate;
  /** The operation on [off, off+len) must exclude DM access rights: resolves to the release. */
  access(ino: bigint, exclusive: boolean): Promise<() => void> | null;
  /** A read that raised an event was answered through a cached (non-direct) open. */
  readServed?(f: FileRef, off: number, len: number): void;

  /** ATTRIBUTE: mode, owner, times, size or xattrs of an object changed (by path or by descriptor). */
  attribute(rel: string | null, fd?: number): void;
  /** CLOSE: the last open of the file through this mount was released (`fd` is still open). */
  closed(f: FileRef): void;
  /**
   * Called before the last name of an object may go away (unlink, rmdir, rename over it): returns
   * what to call once it is really gone (no link left and not open), or null when no DESTROY event
   * can be due.
   */
  prepareDestroy(rel: string, ino: bigint, fd?: number): (() => void) | null;

  /** NOSPACE before failing a write with ENOSPC; CONTINUE (0) means "retry". */
  noSpace(f: FileRef | null): Gate;

  /** PREUNMOUNT (synchronous) before an unmount asked for by an administrator. */
  preUnmount(): Gate;
  /** UNMOUNT (asynchronous) with the result, once the unmount is done or has failed. */
  unmounted(retcode: number, forced: boolean): void;
}

export interface MountDescription {
  backing: string;
  mountpoint: string;
  /** The mount's time (MountInfo.mountedAt), which tells two mounts of the same directories apart. */
  mountedAt: number;
  /**
   * Drops the kernel's cached attributes and pages of a backing inode (a DM application changed
   * it); resolves once the kernel has dropped them.
   */
  invalidate(ino: bigint): Promise<void>;
  /** With no MOUNT disposition, mount without a MOUNT event (MountOptions.mountEventOptional). */
  mountEventOptional?: boolean;
  /**
   * The mount wants kernel passthrough (MountOptions.passthrough): a DMAPI-enabled filesystem
   * refuses it (EINVAL) before any event, since its reads and writes must reach the daemon.
   */
  passthrough?: boolean;
}

/** The provider of hooks (the DMAPI service), given to mountFs. */
export interface FsEventsProvider {
  /**
   * Called before the kernel mount is made: raises MOUNT (and waits for it) when DMAPI is enabled
   * for the filesystem. Resolves to the mount's hooks, or rejects with an errno-coded Error when
   * the mount must fail (ABORT; no MOUNT disposition, outside the dmapiMountTimeout window and not
   * mountEventOptional: EIO).
   */
  attach(m: MountDescription): Promise<FsEventHooks>;
  /** The mount is gone: its hooks are dropped. */
  detach(hooks: FsEventHooks): void;
}
