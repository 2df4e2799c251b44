// DMAPI constants in SGI's Linux numbering: the C library (native/libdm) mirrors SGI's
// <dmapi.h>, so event numbers, flags, masks and config names on the wire are SGI's.
//
// Decision: SGI ABI (int session ids and tokens, SGI event numbers and DM_AT_* masks) with GPFS
// *behaviour* (errnos, restrictions, recovery). Where GPFS has no SGI number (PREPERMCHANGE...)
// the event is not offered.

export const DM_VERSION_STRING = 'dmapifs DMAPI (XDSM, GPFS semantics) 1.0';

export const DM_NO_SESSION = 0;
export const DM_NO_TOKEN = -1;
export const DM_INVALID_TOKEN = 0;

export const DM_SESSION_INFO_LEN = 256;
export const DM_ATTR_NAME_SIZE = 8;
export const DM_MAX_SESSIONS = 4000;

// Event types (SGI values).
export const DM_EVENT_INVALID = -1;
export const DM_EVENT_CANCEL = 0;
export const DM_EVENT_MOUNT = 1;
export const DM_EVENT_PREUNMOUNT = 2;
export const DM_EVENT_UNMOUNT = 3;
export const DM_EVENT_DEBUT = 4;
export const DM_EVENT_CREATE = 5;
export const DM_EVENT_CLOSE = 6;
export const DM_EVENT_POSTCREATE = 7;
export const DM_EVENT_REMOVE = 8;
export const DM_EVENT_POSTREMOVE = 9;
export const DM_EVENT_RENAME = 10;
export const DM_EVENT_POSTRENAME = 11;
export const DM_EVENT_LINK = 12;
export const DM_EVENT_POSTLINK = 13;
export const DM_EVENT_SYMLINK = 14;
export const DM_EVENT_POSTSYMLINK = 15;
export const DM_EVENT_READ = 16;
export const DM_EVENT_WRITE = 17;
export const DM_EVENT_TRUNCATE = 18;
export const DM_EVENT_ATTRIBUTE = 19;
export const DM_EVENT_DESTROY = 20;
export const DM_EVENT_NOSPACE = 21;
export const DM_EVENT_USER = 22;
export const DM_EVENT_MAX = 23;

export const EVENT_NAMES: Record<number, string> = {
  0: 'CANCEL', 1: 'MOUNT', 2: 'PREUNMOUNT', 3: 'UNMOUNT', 4: 'DEBUT', 5: 'CREATE', 6: 'CLOSE', 7: 'POSTCREATE',
  8: 'REMOVE', 9: 'POSTREMOVE', 10: 'RENAME', 11: 'POSTRENAME', 12: 'LINK', 13: 'POSTLINK', 14: 'SYMLINK',
  15: 'POSTSYMLINK', 16: 'READ', 17: 'WRITE', 18: 'TRUNCATE', 19: 'ATTRIBUTE', 20: 'DESTROY', 21: 'NOSPACE', 22: 'USER',
};

/** Events GPFS implements: everything but CANCEL and DEBUT. */
export const SUPPORTED_EVENTS: readonly number[] = [
  DM_EVENT_MOUNT, DM_EVENT_PREUNMOUNT, DM_EVENT_UNMOUNT, DM_EVENT_CREATE, DM_EVENT_CLOSE, DM_EVENT_POSTCREATE,
  DM_EVENT_REMOVE, DM_EVENT_POSTREMOVE, DM_EVENT_RENAME, DM_EVENT_POSTRENAME, DM_EVENT_LINK, DM_EVENT_POSTLINK,
  DM_EVENT_SYMLINK, DM_EVENT_POSTSYMLINK, DM_EVENT_READ, DM_EVENT_WRITE, DM_EVENT_TRUNCATE, DM_EVENT_ATTRIBUTE,
  DM_EVENT_DESTROY, DM_EVENT_NOSPACE, DM_EVENT_USER,
];

/** Synchronous event types (the operation waits for the answer). USER depends on dm_send_msg. */
export const SYNC_EVENTS: ReadonlySet<number> = new Set([
  DM_EVENT_MOUNT, DM_EVENT_PREUNMOUNT, DM_EVENT_CREATE, DM_EVENT_REMOVE, DM_EVENT_RENAME, DM_EVENT_LINK,
  DM_EVENT_SYMLINK, DM_EVENT_READ, DM_EVENT_WRITE, DM_EVENT_TRUNCATE, DM_EVENT_NOSPACE,
]);

/** A dm_eventset_t: SGI `__u64`, event e is bit (1 << e). */
export function eventBit(e: number): bigint {
  return 1n << BigInt(e);
}
export function eventSetOf(events: readonly number[]): bigint {
  let s = 0n;
  for (const e of events) s |= eventBit(e);
  return s;
}
export function eventsIn(set: bigint): number[] {
  const out: number[] = [];
  for (let e = 0; e < DM_EVENT_MAX; e++) if (set & eventBit(e)) out.push(e);
  return out;
}
/** dm_get_eventlist's *nelemp: the highest event set + 1 (0 for the empty set). */
export function eventSetNelem(set: bigint): number {
  let n = 0;
  for (let e = 0; e < 64; e++) if (set & eventBit(e)) n = e + 1;
  return n;
}
export const SUPPORTED_EVENT_SET = eventSetOf(SUPPORTED_EVENTS);

// Where each event may be enabled (dm_set_eventlist) — LTP's XDSM table, with the
// GPFS extension that a filesystem event list may enable READ/WRITE/TRUNCATE for every file
// (IBM's sample HSM, hacksmd, does exactly that on MOUNT). Files get data events only
// through managed regions.
const NAMESPACE_EVENTS = [DM_EVENT_CREATE, DM_EVENT_POSTCREATE, DM_EVENT_REMOVE, DM_EVENT_POSTREMOVE, DM_EVENT_RENAME,
  DM_EVENT_POSTRENAME, DM_EVENT_LINK, DM_EVENT_POSTLINK, DM_EVENT_SYMLINK, DM_EVENT_POSTSYMLINK];
const OBJECT_EVENTS = [DM_EVENT_CLOSE, DM_EVENT_ATTRIBUTE, DM_EVENT_DESTROY];
export const FS_EVENTLIST_ALLOWED = eventSetOf([DM_EVENT_PREUNMOUNT, DM_EVENT_UNMOUNT, DM_EVENT_NOSPACE, ...NAMESPACE_EVENTS,
  ...OBJECT_EVENTS, DM_EVENT_READ, DM_EVENT_WRITE, DM_EVENT_TRUNCATE]);
export const DIR_EVENTLIST_ALLOWED = eventSetOf([...NAMESPACE_EVENTS, ...OBJECT_EVENTS]);
export const FILE_EVENTLIST_ALLOWED = eventSetOf(OBJECT_EVENTS);
/** Dispositions on a filesystem handle: every supported event but MOUNT (global handle only) and USER. */
export const FS_DISP_ALLOWED = SUPPORTED_EVENT_SET & ~eventBit(DM_EVENT_MOUNT) & ~eventBit(DM_EVENT_USER);

// Flags.
export const DM_EV_WAIT = 0x1;
export const DM_RR_WAIT = 0x1;
export const DM_WRITE_SYNC = 0x1;

// dm_response_t
export const DM_RESP_INVALID = 0;
export const DM_RESP_CONTINUE = 1;
export const DM_RESP_ABORT = 2;
export const DM_RESP_DONTCARE = 3;

// dm_msgtype_t
export const DM_MSGTYPE_INVALID = 0;
export const DM_MSGTYPE_SYNC = 1;
export const DM_MSGTYPE_ASYNC = 2;

// dm_right_t
export const DM_RIGHT_NULL = 0;
export const DM_RIGHT_SHARED = 1;
export const DM_RIGHT_EXCL = 2;

// Regions
export const DM_REGION_NOEVENT = 0x0;
export const DM_REGION_READ = 0x1;
export const DM_REGION_WRITE = 0x2;
export const DM_REGION_TRUNCATE = 0x4;
export const DM_REGION_VALID_FLAGS = 0x7;

// dm_extenttype_t
export const DM_EXTENT_INVALID = 0;
export const DM_EXTENT_RES = 1;
export const DM_EXTENT_HOLE = 2;

// DM_AT_* masks (SGI values).
export const DM_AT_MODE = 0x0001;
export const DM_AT_UID = 0x0002;
export const DM_AT_GID = 0x0004;
export const DM_AT_ATIME = 0x0008;
export const DM_AT_MTIME = 0x0010;
export const DM_AT_CTIME = 0x0020;
export const DM_AT_SIZE = 0x0040;
export const DM_AT_DTIME = 0x0080;
export const DM_AT_HANDLE = 0x0100;
export const DM_AT_EMASK = 0x0200;
export const DM_AT_PMANR = 0x0400;
export const DM_AT_PATTR = 0x0800;
export const DM_AT_STAT = 0x1000;
export const DM_AT_CFLAG = 0x2000;
export const DM_AT_ALL_GET = 0x3fff;
export const DM_AT_SETTABLE = DM_AT_MODE | DM_AT_UID | DM_AT_GID | DM_AT_ATIME | DM_AT_MTIME | DM_AT_CTIME | DM_AT_SIZE | DM_AT_DTIME;

// dm_config_t (SGI order).
export const DM_CONFIG_INVALID = 0;
export const DM_CONFIG_BULKALL = 1;
export const DM_CONFIG_CREATE_BY_HANDLE = 2;
export const DM_CONFIG_DTIME_OVERLOAD = 3;
export const DM_CONFIG_LEGACY = 4;
export const DM_CONFIG_LOCK_UPGRADE = 5;
export const DM_CONFIG_MAX_ATTR_ON_DESTROY = 6;
export const DM_CONFIG_MAX_ATTRIBUTE_SIZE = 7;
export const DM_CONFIG_MAX_HANDLE_SIZE = 8;
export const DM_CONFIG_MAX_MANAGED_REGIONS = 9;
export const DM_CONFIG_MAX_MESSAGE_DATA = 10;
export const DM_CONFIG_OBJ_REF = 11;
export const DM_CONFIG_PENDING = 12;
export const DM_CONFIG_PERS_ATTRIBUTES = 13;
export const DM_CONFIG_PERS_EVENTS = 14;
export const DM_CONFIG_PERS_INHERIT_ATTRIBS = 15;
export const DM_CONFIG_PERS_MANAGED_REGIONS = 16;
export const DM_CONFIG_PUNCH_HOLE = 17;
export const DM_CONFIG_TOTAL_ATTRIBUTE_SPACE = 18;
export const DM_CONFIG_WILL_RETRY = 19;

export const MAX_ATTRIBUTE_SIZE = 1022;
export const TOTAL_ATTRIBUTE_SPACE = 7168;
export const MAX_MANAGED_REGIONS = 32;
export const MAX_MESSAGE_DATA = 4096;
export const MAX_ATTR_ON_DESTROY = 1022;

/**
 * dm_get_config values (documented in docs/dmapi-protocol.md). GPFS 5.2's table, except:
 * MAX_HANDLE_SIZE is our handle size (24); DTIME_OVERLOAD 1 as GPFS (the dtime is the ctime users
 * see; setdtime = 0 leaves it alone: src/dmapi/ctime.ts); OBJ_REF 1 and PENDING 1 because
 * dm_obj_ref_* and dm_pending are implemented.
 */
export const CONFIG_VALUES: Record<number, bigint> = {
  [DM_CONFIG_BULKALL]: 1n,
  [DM_CONFIG_CREATE_BY_HANDLE]: 0n,
  [DM_CONFIG_DTIME_OVERLOAD]: 1n,
  [DM_CONFIG_LEGACY]: 1n,
  [DM_CONFIG_LOCK_UPGRADE]: 1n,
  [DM_CONFIG_MAX_ATTR_ON_DESTROY]: BigInt(MAX_ATTR_ON_DESTROY),
  [DM_CONFIG_MAX_ATTRIBUTE_SIZE]: BigInt(MAX_ATTRIBUTE_SIZE),
  [DM_CONFIG_MAX_HANDLE_SIZE]: 24n,
  [DM_CONFIG_MAX_MANAGED_REGIONS]: BigInt(MAX_MANAGED_REGIONS),
  [DM_CONFIG_MAX_MESSAGE_DATA]: BigInt(MAX_MESSAGE_DATA),
  [DM_CONFIG_OBJ_REF]: 1n,
  [DM_CONFIG_PENDING]: 1n,
  [DM_CONFIG_PERS_ATTRIBUTES]: 1n,
  [DM_CONFIG_PERS_EVENTS]: 1n,
  [DM_CONFIG_PERS_INHERIT_ATTRIBS]: 0n,
  [DM_CONFIG_PERS_MANAGED_REGIONS]: 1n,
  [DM_CONFIG_PUNCH_HOLE]: 1n,
  [DM_CONFIG_TOTAL_ATTRIBUTE_SPACE]: BigInt(TOTAL_ATTRIBUTE_SPACE),
  [DM_CONFIG_WILL_RETRY]: 0n,
};

/**
 * GPFS's ENOTREADY ("the GPFS daemon is not running or is initializing") has no Linux errno;
 * dmapifs uses 198 for it everywhere (client, C library). Documented in docs/dmapi-protocol.md.
 */
export const ENOTREADY = 198;

/** Errno names and numbers used by the service (Linux x86-64 values). */
export const E = {
  EPERM: 1, ENOENT: 2, ESRCH: 3, EINTR: 4, EIO: 5, ENXIO: 6, E2BIG: 7, EBADF: 9, EAGAIN: 11, ENOMEM: 12,
  EACCES: 13, EFAULT: 14, EBUSY: 16, EEXIST: 17, ENOTDIR: 20, EISDIR: 21, EINVAL: 22, EFBIG: 27, ENOSPC: 28,
  ENAMETOOLONG: 36, ENOSYS: 38, EPROTO: 71, EMSGSIZE: 90, EOPNOTSUPP: 95, ESTALE: 116, ENOTREADY,
} as const;

export function errnoName(n: number): string {
  for (const [k, v] of Object.entries(E)) if (v === n) return k;
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const os = require('os') as typeof import('os');
  for (const [k, v] of Object.entries(os.constants.errno as Record<string, number>)) if (v === n) return k;
  return `E${n}`;
}

/** An error a DMAPI function returns: errno plus, for E2BIG, the reply fields that tell the size. */
export class DmError extends Error {
  constructor(readonly errno: number, message?: string, readonly fields?: Record<string, unknown>) {
    super(message ?? errnoName(errno));
  }
}
export function fail(errno: number, message?: string, fields?: Record<string, unknown>): never {
  throw new DmError(errno, message, fields);
}
