// dmapifs package entry point.

/** The TruCluster-style distributed lock manager engine (src/dlm). */
export * as dlm from './dlm';

/** The DLM client: the engine's API over a node daemon's socket (src/dlm/client.ts). */
export { DlmClient, dlmSocketPath, type DlmClientOptions } from './dlm/client';

/** The DMAPI client (connect({ node }) → dm_* in camelCase), constants and handle helpers (src/dmapi). */
export * as dmapi from './dmapi';
export { connect as connectDmapi, DmapiClient, DmapiError } from './dmapi/client';

/** Our fuse-native: fuse-native's API on libfuse 3's low-level API (src/fuse). */
export { Fuse, UTIME_NOW, UTIME_OMIT } from './fuse/fuse';
export type { FuseOps, FuseOptions, RequestContext, Timespec } from './fuse/fuse';

/** Mounting a backing directory in-process (what the node daemon does; src/fs). */
export { mountFs, MountError } from './fs';
export type { FsMountOptions, MountedFs, MountInfo } from './fs';
