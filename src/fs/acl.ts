// POSIX ACLs on the daemon's side of the mount.
//
// Access through the mount is judged by the kernel (default_permissions with FUSE_POSIX_ACL: it
// reads the system.posix_acl_access xattr through the mount and applies the ACL itself). Two
// things remain for the daemon, which works as root:
//  - the umask (FUSE_DONT_MASK: the kernel hands it over unapplied): POSIX.1e says a new object in
//    a directory with a default ACL takes its permissions from that ACL and the creation mode, and
//    the umask is not applied; without a default ACL the umask is applied. The backing filesystem
//    applies the default ACL itself (the daemon's umask is 0), so the daemon applies the caller's
//    umask only where the parent has none;
//  - the rare access decision the kernel did not make (a file that appeared between the kernel's
//    lookup and the create it sent): the access check algorithm of POSIX.1e (as in Linux's
//    posix_acl_permission), on the backing file's ACL, or its mode bits when it has none.
import { procPath } from '../backing';
import * as sys from '../native/sys';

const ACL_XATTR_ACCESS = 'system.posix_acl_access';
const ACL_XATTR_DEFAULT = 'system.posix_acl_default';
/** The xattr form (linux/posix_acl_xattr.h): a u32 version (2), then entries {u16 tag, u16 perm, u32 id}. */
const ACL_XATTR_VERSION = 2;
const TAG = { USER_OBJ: 0x01, USER: 0x02, GROUP_OBJ: 0x04, GROUP: 0x08, MASK: 0x10, OTHER: 0x20 } as const;

export interface Caller {
  uid: number;
  gid: number;
  groups(): number[];
}

interface AclEntry { tag: number; perm: number; id: number }

function parse(v: Buffer): AclEntry[] | null {
  if (v.length < 4 || (v.length - 4) % 8 !== 0 || v.readUInt32LE(0) !== ACL_XATTR_VERSION) return null;
  const out: AclEntry[] = [];
  for (let o = 4; o < v.length; o += 8) out.push({ tag: v.readUInt16LE(o), perm: v.readUInt16LE(o + 2), id: v.readUInt32LE(o + 4) });
  return out;
}

/** The creation mode to pass to the backing filesystem for a new object in the directory `dirfd`. */
export function creationMode(dirfd: number, mode: number, umask: number): number {
  if ((mode & umask & 0o777) === 0) return mode;
  const hasDefault = sys.lgetxattr(procPath(dirfd, Buffer.from('.')), ACL_XATTR_DEFAULT);
  return typeof hasDefault === 'number' ? mode & ~(umask & 0o777) : mode;
}

/**
 * May `who` have the access `want` (4 read, 2 write, 1 execute) to the file `path` (a path the
 * l*xattr calls take, e.g. /proc/self/fd/N/name) of mode `mode`, owner `uid`, group `gid`?
 */
export function mayAccess(who: Caller, path: Buffer | string, mode: number, uid: number, gid: number, want: number): boolean {
  if (who.uid === 0) return true;
  if (who.uid === uid) return ((mode >> 6) & want) === want;
  const inGroup = (g: number) => who.gid === g || who.groups().includes(g);
  const v = sys.lgetxattr(path, ACL_XATTR_ACCESS);
  const acl = typeof v === 'number' ? null : parse(v);
  if (!acl) {
    const bits = inGroup(gid) ? mode >> 3 : mode;
    return (bits & want) === want;
  }
  // POSIX.1e: the first matching class decides; named users and all group entries are limited by
  // the mask; a caller in several matching groups is granted if any of them grants.
  const mask = acl.find((e) => e.tag === TAG.MASK)?.perm ?? 7;
  const named = acl.find((e) => e.tag === TAG.USER && e.id === who.uid);
  if (named) return (named.perm & mask & want) === want;
  let groupMatched = false;
  for (const e of acl) {
    const matches = (e.tag === TAG.GROUP_OBJ && inGroup(gid)) || (e.tag === TAG.GROUP && inGroup(e.id));
    if (!matches) continue;
    groupMatched = true;
    if ((e.perm & mask & want) === want) return true;
  }
  if (groupMatched) return false;
  const other = acl.find((e) => e.tag === TAG.OTHER)?.perm ?? 0;
  return (other & want) === want;
}
