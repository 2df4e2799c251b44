// The dmapifs package (`require('dmapifs')`, `import ... from 'dmapifs'`).
//
// Loading it loads no native code: the socket clients are plain TypeScript, the FUSE binding loads
// its addon when a Fuse is made, and mountFs loads the mount layer (and the syscall addon) on its
// first call. dmapifs/dmapi and dmapifs/dlm are the clients alone (docs/api-conventions.md).

/** The TruCluster-style distributed lock manager: the engine and the client (dmapifs/dlm). */
export * as dlm from './dlm';

/** The DLM client: the engine's API over a node daemon's socket. */
export { DlmClient, dlmSocketPath, type DlmClientOptions } from './dlm/client';

/** The DMAPI client (connect() → dm_* in camelCase), its types, constants and handle helpers (dmapifs/dmapi). */
export * as dmapi from './dmapi';
export { connect as connectDmapi, DmapiClient, DmapiError } from './dmapi/client';
export type { DmEventMsg, EventsOptions } from './dmapi/client';

/** Our fuse-native: fuse-native's API on libfuse 3's low-level API (the addon loads on `new Fuse`). */
export { Fuse, UTIME_NOW, UTIME_OMIT } from './fuse/fuse';
export type { FuseOps, FuseOptions, RequestContext, Timespec } from './fuse/fuse';

/** A mount refused before it started (bad backing directory or mount point, no FUSE). */
export { MountError } from './fs/checks';
export type { FsMountOptions, MountedFs, MountInfo } from './fs';

/**
 * Mounts a backing directory in this process (what the node daemon does). The mount layer and
 * its native addon load on the first call, so that the clients above work where nothing was built.
 */
export function mountFs(opts: import('./fs').FsMountOptions): Promise<import('./fs').MountedFs> {
  return (require('./fs/mount') as typeof import('./fs/mount')).mountFs(opts);
}
