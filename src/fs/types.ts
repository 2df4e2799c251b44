// The contract between the filesystem layer (src/fs) and the node daemon (src/daemon) that hosts it.
import type { FsEventsProvider } from './events';

export interface MountOptions {
  /** Absolute path of the backing directory. */
  backing: string;
  /** Absolute path of the (empty) directory to mount on. */
  mountpoint: string;
  /** Name of the node daemon serving the mount (shown as fsname). */
  node: string;
  /** Data management events (the node's DMAPI service, src/fs/events.ts). */
  events?: FsEventsProvider;
  /** Capacity limit in bytes (`dmapifs mount --capacity`). */
  capacity?: number;
  /**
   * Kernel FUSE passthrough (Linux 6.9+, `dmapifs mount --passthrough`) for the opens that nothing
   * of ours has to see (no DMAPI, no capacity limit): their reads, writes and mmaps go from the
   * kernel to the backing file at native speed. Off by default because the kernel then does that
   * I/O with the daemon's credentials (registered once per inode), not the caller's: space written
   * by a non-root caller may use root-reserved blocks and is not held to the caller's limits, as
   * with libfuse's passthrough_hp. The daemon's own write path writes as the caller.
   */
  passthrough?: boolean;
  /**
   * DMAPI: when no session holds a MOUNT disposition, mount without a MOUNT event instead of GPFS's
   * wait and EIO (`dmapifs mount --mount-event-optional`).
   */
  mountEventOptional?: boolean;
  /**
   * Device files of the mount may be opened (mount option `dev`; off by default: `nodev`, as every
   * FUSE mount and as a mount of untrusted content should be).
   */
  allowDev?: boolean;
  /** Set-user-ID and set-group-ID bits and file capabilities take effect on exec (`suid`; off by default: `nosuid`). */
  allowSuid?: boolean;
  /**
   * The node's lock manager has fenced itself (it lost its cluster membership, see
   * src/dlm/service/membership.ts): reads and writes fail with EIO until it has rejoined, since the
   * locks that protected the data may be held elsewhere by now.
   */
  fenced?: () => boolean;
}

export interface MountInfo {
  backing: string;
  mountpoint: string;
  node: string;
  /** Unix ms when the mount became ready. */
  mountedAt: number;
  /** Device number of the FUSE superblock as st_dev, once known. */
  dev: number | null;
}

export interface MountedFs {
  readonly info: MountInfo;
  /** Unmounts cleanly; rejects with an errno-coded Error (EBUSY) when the mount is in use. */
  unmount(opts?: { lazy?: boolean }): Promise<void>;
  /** Resolves when the kernel mount is gone, whoever unmounted it (us, `umount`, `fusermount -u`). */
  readonly closed: Promise<void>;
}
