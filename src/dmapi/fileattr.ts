// File attributes and scans: dm_get_fileattr, dm_set_fileattr, dm_init_attrloc, dm_get_dirattrs,
// dm_get_bulkattr, dm_get_bulkall; and object references dm_obj_ref_hold / rele / query.
//
// Decisions:
// * dm_set_fileattr: DM_AT_SIZE → EINVAL (GPFS: it cannot change the size); DM_AT_CTIME → EINVAL
//   (Linux offers no way to set a ctime; we do not pretend); DM_AT_DTIME sets the dtime, which is
//   the ctime users see (DTIME_OVERLOAD as GPFS; ctime.ts), with or without DM attributes (GPFS;
//   JFS refused it without); no events are raised.
// * Scans are resumable by inode number: dm_attrloc_t is the last inode number returned (0 at
//   start); entries come in inode order. A buffer too small for even one entry → E2BIG with *rlenp
//   = the size of that entry (XFS's choice, so a caller can grow its buffer; LTP expected 1).
// * dm_get_dirattrs lists "." and ".." too, as XFS does (".." of the mount root is the root);
//   dm_get_dirattrs, dm_get_bulkattr and dm_get_bulkall take the masks SGI's kernel takes there
//   (DM_AT_HANDLE, EMASK, PMANR, PATTR, DTIME, CFLAG, STAT): a set_fileattr mask such as
//   DM_AT_SIZE → EINVAL.
// * dt_dev is the mount's st_dev (what stat through the mount shows).
// * dt_change: the low 32 bits of the ctime in nanoseconds (changes with data, metadata and DM
//   attribute changes, the invisible ones included); dt_ctime and dt_dtime: the ctime users see.
// * SGI's tail: dt_fstype = the sysfs(2) GETFSIND index of "fuse" (its 0-based line in
//   /proc/filesystems; -1 if absent); dt_xfs_igen = the handle's igen; dt_xfs_xflags =
//   DM_XFLAG_HASATTR when the object holds DM attributes, nothing else; dt_xfs_extents = the data
//   extents of a regular file counted with SEEK_DATA/SEEK_HOLE on the backing file (0 for other
//   objects, and 0 = unknown when the file cannot be opened); extsize, aextents, dmstate = 0.
import * as fs from 'fs';
import * as sys from '../native/sys';
import {
  DM_AT_ALL_GET, DM_AT_ATIME, DM_AT_CFLAG, DM_AT_CTIME, DM_AT_DTIME, DM_AT_EMASK, DM_AT_GID, DM_AT_HANDLE, DM_AT_MODE,
  DM_AT_MTIME, DM_AT_PATTR, DM_AT_PMANR, DM_AT_SETTABLE, DM_AT_SIZE, DM_AT_STAT, DM_AT_UID, DM_EVENT_MAX, DM_NO_TOKEN, DM_RIGHT_EXCL, DM_RIGHT_SHARED, E, fail,
} from './constants';
import { Args, Dmapi, Handlers } from './core';
import { dmAttrs } from './attributes';
import { objectEventList } from './dispositions';
import { setShownCtime, shownCtimeNs } from './ctime';
import { atObj, getXattr, hasDmAttrs, Obj, openObj, XA_ATTR } from './fstable';
import { parseHandle } from './handles';
import { align8, statEntry, StatInfo } from './layouts';
import { regionsOf } from './regions';

export const DM_XFLAG_HASATTR = 0x80000000;

let fuseFsType: number | undefined;
/** sysfs(2) GETFSIND of "fuse": its 0-based position in /proc/filesystems (-1 if not listed). */
export function fuseFsIndex(): number {
  if (fuseFsType === undefined) {
    try {
      const names = fs.readFileSync('/proc/filesystems', 'utf8').split('\n').filter((l) => l.trim() !== '')
        .map((l) => l.split('\t').pop()!.trim());
      fuseFsType = names.indexOf('fuse');
    } catch {
      fuseFsType = -1;
    }
  }
  return fuseFsType;
}

/** Data extents of a regular file (runs found with SEEK_DATA/SEEK_HOLE); 0 when it cannot be read. */
export function dataExtents(o: Obj): number {
  if (o.type !== 'reg') return 0;
  const size = BigInt.asIntN(64, o.st[sys.STAT_SIZE]);
  if (size <= 0n) return 0;
  let fd: number;
  try {
    fd = openObj(o, sys.O_RDONLY | sys.O_NOATIME);
  } catch {
    return 0;
  }
  try {
    let n = 0;
    let off = 0;
    for (;;) {
      const data = sys.lseek(fd, off, sys.SEEK_DATA);
      if (data < 0) return data === -sys.ENXIO ? n : 0;
      const hole = sys.lseek(fd, data, sys.SEEK_HOLE);
      if (hole < 0) return 0;
      n++;
      if (hole <= data) return n;
      off = hole;
    }
  } finally {
    sys.close(fd);
  }
}

export function statInfo(o: Obj, withHandle: boolean, compname: string | null): StatInfo {
  const st = o.st;
  const ctime = shownCtimeNs(o.fs, st) / 1000000000n;
  const pers = hasDmAttrs(o) ? 1 : 0;
  const ctimeNs = st[sys.STAT_CTIME_SEC] * 1000000000n + st[sys.STAT_CTIME_NSEC];
  return {
    handle: withHandle ? o.handle : null,
    compname,
    nevents: DM_EVENT_MAX,
    // XDSM: dt_emask is the object's event list as dm_get_eventlist reports it (regions included).
    emask: objectEventList(o, true),
    pers,
    pmanreg: regionsOf(o).length ? 1 : 0,
    dtime: ctime,      // DM_CONFIG_DTIME_OVERLOAD: the dtime is the ctime (GPFS)
    change: Number(ctimeNs & 0xffffffffn),
    // what stat(2) through the mount shows (the FUSE device), not the backing filesystem's
    dev: o.fs.dev !== null ? BigInt(o.fs.dev) : st[sys.STAT_DEV],
    ino: st[sys.STAT_INO],
    mode: Number(st[sys.STAT_MODE]),
    nlink: Number(st[sys.STAT_NLINK]),
    uid: Number(st[sys.STAT_UID]),
    gid: Number(st[sys.STAT_GID]),
    rdev: st[sys.STAT_RDEV],
    size: BigInt.asIntN(64, st[sys.STAT_SIZE]),
    atime: BigInt.asIntN(64, st[sys.STAT_ATIME_SEC]),
    mtime: BigInt.asIntN(64, st[sys.STAT_MTIME_SEC]),
    ctime,
    blksize: Number(st[sys.STAT_BLKSIZE]),
    blocks: st[sys.STAT_BLOCKS],
    fstype: fuseFsIndex(),
    igen: o.igen,
    xflags: pers ? DM_XFLAG_HASATTR : 0,
    extsize: 0,
    extents: dataExtents(o),
    aextents: 0,
    dmstate: 0,
  };
}

/** The masks a scan takes (SGI's dm_get_dirattrs / dm_get_bulkattr): no set_fileattr masks. */
const SCAN_MASKS = DM_AT_HANDLE | DM_AT_EMASK | DM_AT_PMANR | DM_AT_PATTR | DM_AT_DTIME | DM_AT_CFLAG | DM_AT_STAT;

/**
 * Fills a scan buffer in inode order from entries with ino > loc. Entries sharing an inode number
 * (the root's "." and "..") are returned in the same call, since the cursor is the inode number.
 */
function scanReply(
  entries: Array<{ ino: bigint; make: () => Buffer | null }>, loc: bigint, buflen: bigint,
): { more: number; loc: bigint; rlen: number; buf: Buffer } {
  const todo = entries.filter((e) => e.ino > loc).sort((x, y) => (x.ino < y.ino ? -1 : x.ino > y.ino ? 1 : 0));
  const parts: Buffer[] = [];
  const inos: bigint[] = [];
  let used = 0;
  let last = loc;
  let i = 0;
  for (; i < todo.length; i++) {
    const b = todo[i].make();
    if (!b) continue; // vanished meanwhile
    const start = parts.length ? align8(used) : 0;
    if (BigInt(start + b.length) > buflen) {
      if (!parts.length) fail(E.E2BIG, 'buffer too small for one entry', { rlen: b.length, loc, more: 1 });
      break;
    }
    parts.push(b);
    inos.push(todo[i].ino);
    used = start + b.length;
    last = todo[i].ino;
  }
  if (i < todo.length && parts.length && todo[i].ino === last) {
    // the buffer ended inside a group of one inode number: the whole group waits for the next call
    while (parts.length && inos[inos.length - 1] === last) { parts.pop(); inos.pop(); }
    if (!parts.length) {
      const group = todo.filter((e) => e.ino === last).map((e) => e.make()).filter((b): b is Buffer => b !== null);
      const rlen = group.reduce((u, b, k) => (k ? align8(u) : 0) + b.length, 0);
      fail(E.E2BIG, 'buffer too small for the entries of one inode', { rlen, loc, more: 1 });
    }
    used = parts.reduce((u, b, k) => (k ? align8(u) : 0) + b.length, 0);
    last = inos[inos.length - 1];
  }
  // Chain: link = distance to the next entry.
  const out = Buffer.alloc(used);
  let o = 0;
  parts.forEach((b, k) => {
    b.copy(out, o);
    const step = align8(b.length);
    out.writeInt32LE(k === parts.length - 1 ? 0 : step, o);
    o += step;
  });
  return { more: i < todo.length ? 1 : 0, loc: last, rlen: used, buf: out };
}

export function fileattrHandlers(dm: Dmapi): Handlers {
  const fsGuard = (a: Args, what: string) => {
    const p = parseHandle(a.handle as Buffer);
    if (p && p.kind === 'fs') { dm.fsTable.fsOf(p.fsid); fail(E.EINVAL, what); }
  };
  const objKey = (o: Obj) => `${o.fs.fsid}:${o.ino}`;
  const refTarget = (a: Args) => {
    dm.session(a.sid);
    if (Number(a.token) === DM_NO_TOKEN) fail(E.EINVAL, 'object references need a token');
    const p = parseHandle(a.handle as Buffer);
    if (!p) fail(E.EINVAL, 'malformed handle');
    if (p.kind === 'global') fail(E.EBADF, 'the global handle');
    dm.outstanding(a.sid, a.token);
    const o = dm.fsTable.resolve(a.handle as Buffer);
    let set = dm.objRefs.get(Number(a.token));
    if (!set) { set = new Set(); dm.objRefs.set(Number(a.token), set); }
    return { set, key: objKey(o) };
  };
  return {
    GET_FILEATTR: (a: Args) => {
      const mask = Number(a.mask);
      if (mask & ~DM_AT_ALL_GET) fail(E.EINVAL, 'unknown DM_AT_* bits');
      fsGuard(a, 'dm_get_fileattr takes an object handle');
      return dm.withObject(a.sid, a.handle, a.token, DM_RIGHT_SHARED, (o) => ({ stat: statEntry(statInfo(o, (mask & DM_AT_HANDLE) !== 0, null)) }));
    },

    SET_FILEATTR: (a: Args) => {
      const mask = Number(a.mask);
      if (mask & ~DM_AT_SETTABLE) fail(E.EINVAL, 'only MODE, UID, GID, ATIME, MTIME, DTIME can be set');
      if (mask & DM_AT_SIZE) fail(E.EINVAL, 'GPFS: dm_set_fileattr cannot change the size');
      if (mask & DM_AT_CTIME) fail(E.EINVAL, 'the ctime cannot be set on Linux');
      fsGuard(a, 'dm_set_fileattr takes an object handle');
      return dm.withObject(a.sid, a.handle, a.token, DM_RIGHT_EXCL, (o) => {
        const chk = (r: number, what: string) => { if (r < 0) fail(-r, what); };
        if (mask & DM_AT_MODE) {
          if (o.type === 'lnk') fail(E.EINVAL, 'a symbolic link has no mode to set');
          chk(atObj(o.fs, o.rel, (d, n) => sys.fchmodat(d, n, Number(a.mode) & 0o7777, 0)), 'chmod');
        }
        if (mask & (DM_AT_UID | DM_AT_GID)) {
          chk(atObj(o.fs, o.rel, (d, n) => sys.fchownat(d, n, mask & DM_AT_UID ? Number(a.uid) : -1, mask & DM_AT_GID ? Number(a.gid) : -1, sys.AT_SYMLINK_NOFOLLOW)), 'chown');
        }
        if (mask & (DM_AT_ATIME | DM_AT_MTIME)) {
          const at = mask & DM_AT_ATIME ? [a.atime as bigint, 0] as const : [null, sys.UTIME_OMIT] as const;
          const mt = mask & DM_AT_MTIME ? [a.mtime as bigint, 0] as const : [null, sys.UTIME_OMIT] as const;
          chk(atObj(o.fs, o.rel, (d, n) => sys.utimensat(d, n, at[0], at[1], mt[0], mt[1], sys.AT_SYMLINK_NOFOLLOW)), 'utimensat');
        }
        // last: the dtime is the ctime (DTIME_OVERLOAD), shown as given from now on (ctime.ts)
        if (mask & DM_AT_DTIME) setShownCtime(o, a.dtime as bigint);
        // The mount's cached attributes are out of date now.
        dm.objectChanged(o);
        return {};
      });
    },

    INIT_ATTRLOC: (a: Args) => {
      const p = parseHandle(a.handle as Buffer);
      if (p && p.kind === 'fs') {
        dm.session(a.sid);
        dm.fsTable.fsOf(p.fsid);
        return { loc: 0n };
      }
      return dm.withObject(a.sid, a.handle, a.token, DM_RIGHT_SHARED, (o) => {
        if (o.type !== 'dir') fail(E.EINVAL, 'dm_init_attrloc takes a directory or filesystem handle');
        return { loc: 0n };
      });
    },

    GET_DIRATTRS: (a: Args) => {
      const mask = Number(a.mask);
      if (mask & ~SCAN_MASKS) fail(E.EINVAL, 'dm_get_dirattrs takes HANDLE, EMASK, PMANR, PATTR, DTIME, CFLAG, STAT');
      fsGuard(a, 'dm_get_dirattrs takes a directory handle');
      return dm.withObject(a.sid, a.handle, a.token, DM_RIGHT_SHARED, (dir) => {
        if (dir.type !== 'dir') fail(E.EINVAL, 'not a directory');
        const parent = dir.rel.includes('/') ? dir.rel.slice(0, dir.rel.lastIndexOf('/')) : '';
        const parentSt = dm.fsTable.objAt(dir.fs, parent, false);
        const names = [
          { name: '.', ino: dir.ino, rel: dir.rel },
          ...(parentSt ? [{ name: '..', ino: parentSt.ino, rel: parent }] : []),
          ...dm.fsTable.readdir(dir.fs, dir.rel).map((e) => ({ ...e, rel: dir.rel ? `${dir.rel}/${e.name}` : e.name })),
        ];
        const entries = names.map((e) => ({
          ino: e.ino,
          make: () => {
            const o = dm.fsTable.objAt(dir.fs, e.rel, (mask & DM_AT_HANDLE) !== 0);
            return o ? statEntry(statInfo(o, (mask & DM_AT_HANDLE) !== 0, e.name)) : null;
          },
        }));
        return scanReply(entries, BigInt.asUintN(64, a.loc as bigint), a.buflen as bigint);
      });
    },

    GET_BULKATTR: (a: Args) => bulk(dm, a, null),
    GET_BULKALL: (a: Args) => bulk(dm, a, a.name as Buffer),

    OBJ_REF_HOLD: (a: Args) => {
      const { set, key } = refTarget(a);
      if (set.has(key)) fail(E.EBUSY, 'already held');
      set.add(key);
      return {};
    },
    OBJ_REF_RELE: (a: Args) => {
      const { set, key } = refTarget(a);
      if (!set.has(key)) fail(E.EACCES, 'not held');
      set.delete(key);
      return {};
    },
    OBJ_REF_QUERY: (a: Args) => {
      const { set, key } = refTarget(a);
      return { held: set.has(key) ? 1 : 0 };
    },
  };
}

/** dm_get_bulkattr / dm_get_bulkall: a filesystem handle with DM_NO_TOKEN (GPFS). */
function bulk(dm: Dmapi, a: Args, attrname: Buffer | null): Record<string, unknown> {
  dm.session(a.sid);
  const mask = Number(a.mask);
  if (mask & ~SCAN_MASKS) fail(E.EINVAL, 'bulk scans take HANDLE, EMASK, PMANR, PATTR, DTIME, CFLAG, STAT');
  const p = parseHandle(a.handle as Buffer);
  if (!p) fail(E.EINVAL, 'malformed handle');
  if (p.kind === 'global') fail(E.EBADF, 'the global handle');
  const fsE = dm.fsTable.fsOf(p.fsid);
  if (p.kind !== 'fs') fail(E.EINVAL, 'bulk scans take a filesystem handle');
  if (Number(a.token) !== DM_NO_TOKEN) fail(E.EINVAL, 'GPFS: a filesystem handle takes DM_NO_TOKEN');
  if (attrname && (attrname.length !== 8 || attrname.every((x) => x === 0))) fail(E.EINVAL, 'bad attribute name');
  const seen = new Set<bigint>();
  const entries: Array<{ ino: bigint; make: () => Buffer | null }> = [];
  for (const e of dm.fsTable.walkAll(fsE)) {
    if (seen.has(e.ino)) continue;
    seen.add(e.ino);
    entries.push({
      ino: e.ino,
      make: () => {
        const o = dm.fsTable.objAt(fsE, e.rel, (mask & DM_AT_HANDLE) !== 0);
        if (!o) return null;
        const info = statInfo(o, (mask & DM_AT_HANDLE) !== 0, null);
        if (!attrname) return statEntry(info);
        return statEntry(info, getXattr(o, XA_ATTR + attrname.toString('hex')) ?? Buffer.alloc(0));
      },
    });
  }
  return scanReply(entries, BigInt.asUintN(64, a.loc as bigint), a.buflen as bigint);
}
