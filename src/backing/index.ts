// The backing layer: one view of a backing directory shared by the passthrough (src/fs) and the
// DMAPI (src/dmapi): names as bytes, the reserved area and the private xattr namespace, the
// per-inode records, the generations and the one tree walk.
export { BackingDir, procPath, RESOLVE, DT_DIR } from './dir';
export type { Listing, Visit } from './dir';
export { InodeRecord, InodeTable } from './inodes';
export type { DmState } from './inodes';
export { Generations } from './generations';
export type { GenTarget } from './generations';
export { bytes, child, fromBytes, relOf, split } from './names';
export type { RelPath } from './names';
export * from './private';
export { classifyPath, QUOTA_FILES, ReservedArea } from './reserved';
export type { QuotaKind, ReservedKind } from './reserved';
