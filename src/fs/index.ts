// The mount layer: passthrough over a backing directory, reserved files, quota reports.
export { mountFs, checkMountArgs } from './mount';
export { MountError } from './checks';
export type { FsMountOptions } from './mount';
export type { MountOptions, MountInfo, MountedFs } from './types';
export { classifyPath, ReservedArea, RESERVED_DIR, QUOTA_FILES } from '../backing';
