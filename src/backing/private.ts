// What dmapifs keeps of its own inside the backing directory, named once: the reserved area (a
// directory in the backing root, invisible and unchangeable through the mount: reserved.ts) and the
// private xattr namespace (DMAPI attributes, event lists, regions, generations: hidden from the
// mount, refused to its callers).
export const RESERVED_DIR = '.dmapifs';

export const PRIVATE_XATTR_PREFIX = 'trusted.dmapifs.';
/** The object's generation when the backing filesystem has none of its own (generations.ts). */
export const XA_IGEN = PRIVATE_XATTR_PREFIX + 'igen';
/** The object's own DMAPI event list (u64 LE event set). */
export const XA_EVENTS = PRIVATE_XATTR_PREFIX + 'dm.events';
/** The managed regions of a regular file (packed dm_region_t). */
export const XA_REGIONS = PRIVATE_XATTR_PREFIX + 'dm.regions';
export const XA_DTIME = PRIVATE_XATTR_PREFIX + 'dm.dtime';
/** DM attributes: this prefix + the 8-byte name as 16 hex digits. */
export const XA_ATTR = PRIVATE_XATTR_PREFIX + 'dm.a.';

export function isPrivateXattr(name: string): boolean {
  return name.startsWith(PRIVATE_XATTR_PREFIX);
}
