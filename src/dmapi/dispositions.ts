// Dispositions (dm_set_disp, dm_getall_disp), event lists (dm_set_eventlist, dm_get_eventlist),
// configuration (dm_get_config, dm_get_config_events) and dm_get_mountinfo.
//
// Decisions:
// * Dispositions are per filesystem (keyed by fsid) and in memory + session journal (GPFS: not
//   persistent across mounts... but kept across a daemon restart with their session; docs/decisions.md).
//   Setting an event another session holds moves it to the caller (one session per event and
//   filesystem); MOUNT on the global handle may be held by several sessions (GPFS sends the mount
//   event to every session with a mount disposition).
// * dm_getall_disp lists filesystem dispositions only: the global handle has no bytes a
//   dm_dispinfo_t could point at in C (DM_GLOBAL_HANP is not a pointer).
// * Object event lists are persistent (private xattr); the filesystem list is in the reserved area.
// * dm_get_config / dm_get_config_events ignore the handle, as GPFS ("configuration is not
//   dependent on the specific file or file system").
import * as sys from '../native/sys';
import {
  CONFIG_VALUES, DIR_EVENTLIST_ALLOWED, DM_EVENT_DESTROY, DM_EVENT_MAX, DM_EVENT_MOUNT, DM_NO_TOKEN, DM_RIGHT_EXCL,
  DM_RIGHT_SHARED, E, eventBit, eventSetNelem, fail, FILE_EVENTLIST_ALLOWED, FS_DISP_ALLOWED, FS_EVENTLIST_ALLOWED,
  SUPPORTED_EVENT_SET,
} from './constants';
import { eventListOf } from './dmstate';
import { Args, Dmapi, fsKey, GLOBAL_KEY, Handlers, Session } from './core';
import { dmStateOf, FsEntry, Obj, removeXattr, setXattr, XA_EVENTS } from './fstable';
import { parseHandle } from './handles';
import { chain, chainSize, dispInfo, DISPINFO_SIZE, mountEvent } from './layouts';

function maskBelow(maxevent: number): bigint {
  return (1n << BigInt(maxevent)) - 1n;
}

function checkMax(maxevent: number): void {
  if (!Number.isInteger(maxevent) || maxevent < 0 || maxevent > DM_EVENT_MAX) fail(E.EINVAL, `maxevent must be at most DM_EVENT_MAX (${DM_EVENT_MAX})`);
}

/** GPFS: calls on a filesystem handle must use DM_NO_TOKEN. */
function noToken(token: unknown): void {
  if (Number(token) !== DM_NO_TOKEN) fail(E.EINVAL, 'GPFS: a filesystem handle takes DM_NO_TOKEN');
}

/** The persistent event list of an object (files: plus the data events its regions imply). */
export function objectEventList(o: Obj, withRegions: boolean): bigint {
  return eventListOf(dmStateOf(o.fs, { rel: o.rel }, o.st), withRegions && o.type === 'reg');
}

/** The session holding the disposition of `event` for the filesystem `key`, if any. */
function holder(dm: Dmapi, key: string, event: number): Session | undefined {
  for (const s of dm.sessions.values()) if (((s.disp.get(key) ?? 0n) & eventBit(event)) !== 0n) return s;
  return undefined;
}

/**
 * Sets session s's dispositions below `mask` for `key` to `want`; on a filesystem, events another
 * session held move to s (one session per event and filesystem). As SGI's dm_set_disp: when the
 * DESTROY disposition changes hands or is dropped, the filesystem's return-on-destroy attribute
 * name is cleared (it belongs to the session that set it).
 */
export function assignDispositions(dm: Dmapi, s: Session, key: string, mask: bigint, want: bigint, fsE?: FsEntry): void {
  const destroyBefore = key !== GLOBAL_KEY ? holder(dm, key, DM_EVENT_DESTROY) : undefined;
  const next = ((s.disp.get(key) ?? 0n) & ~mask) | want;
  if (key !== GLOBAL_KEY && want) {
    for (const other of dm.sessions.values()) {
      if (other === s) continue;
      const o = other.disp.get(key);
      if (o !== undefined && o & want) {
        const left = o & ~want;
        if (left) other.disp.set(key, left); else other.disp.delete(key);
        dm.log({ t: 'd', sid: other.sid, fs: key, set: left.toString(16) });
      }
    }
  }
  if (next) s.disp.set(key, next); else s.disp.delete(key);
  if (key === GLOBAL_KEY && next & eventBit(DM_EVENT_MOUNT)) dm.mountDispositionSeen = true;
  dm.log({ t: 'd', sid: s.sid, fs: key, set: next.toString(16) });
  if (key !== GLOBAL_KEY && destroyBefore !== holder(dm, key, DM_EVENT_DESTROY)) {
    if (fsE && fsE.state.returnOnDestroy) fsE.updateState((st) => { st.returnOnDestroy = null; });
  }
}

export function dispositionHandlers(dm: Dmapi): Handlers {
  return {
    SET_DISP: (a: Args) => {
      const s = dm.session(a.sid);
      const maxevent = Number(a.maxevent);
      checkMax(maxevent);
      const p = parseHandle(a.handle as Buffer);
      if (!p) fail(E.EINVAL, 'malformed handle');
      const mask = maskBelow(maxevent);
      const want = (a.eventset as bigint) & mask;
      let key: string;
      let fsE: FsEntry | undefined;
      if (p.kind === 'global') {
        noToken(a.token);
        if (want & ~eventBit(DM_EVENT_MOUNT)) fail(E.EINVAL, 'the global handle takes DM_EVENT_MOUNT only');
        key = GLOBAL_KEY;
      } else {
        fsE = dm.fsTable.fsOf(p.fsid);
        if (p.kind === 'file') fail(E.EINVAL, 'dispositions are set on a filesystem or the global handle');
        noToken(a.token);
        if (want & eventBit(DM_EVENT_MOUNT)) fail(E.EINVAL, 'DM_EVENT_MOUNT goes on the global handle');
        if (want & ~FS_DISP_ALLOWED) fail(E.EINVAL, 'an event without dispositions (CANCEL, DEBUT, USER) or unknown');
        key = fsKey(p.fsid);
      }
      assignDispositions(dm, s, key, mask, want, fsE);
      return {};
    },

    GETALL_DISP: (a: Args) => {
      const s = dm.session(a.sid);
      const items: Buffer[] = [];
      for (const [k, set] of s.disp) {
        if (k === GLOBAL_KEY || !set) continue;
        const fsh = Buffer.alloc(8);
        fsh.writeBigUInt64LE(BigInt('0x' + k), 0);
        items.push(dispInfo(fsh, set));
      }
      const rlen = chainSize(items.map((b) => b.length));
      if (BigInt(rlen) > (a.buflen as bigint)) fail(E.E2BIG, 'buffer too small', { rlen });
      return { rlen, buf: chain(items) };
    },

    SET_EVENTLIST: async (a: Args) => {
      dm.session(a.sid);
      const maxevent = Number(a.maxevent);
      checkMax(maxevent);
      const p = parseHandle(a.handle as Buffer);
      if (!p) fail(E.EINVAL, 'malformed handle');
      if (p.kind === 'global') fail(E.EINVAL, 'no event list on the global handle');
      const mask = maskBelow(maxevent);
      const want = (a.eventset as bigint) & mask;
      if (p.kind === 'fs') {
        const fsE = dm.fsTable.fsOf(p.fsid);
        noToken(a.token);
        if (want & ~FS_EVENTLIST_ALLOWED) fail(E.EINVAL, 'event not valid in a filesystem event list');
        fsE.updateState((st) => { st.eventlist = (st.eventlist & ~mask) | want; });
        return {};
      }
      return dm.withObject(a.sid, a.handle, a.token, DM_RIGHT_EXCL, (o) => {
        const allowed = o.type === 'dir' ? DIR_EVENTLIST_ALLOWED : FILE_EVENTLIST_ALLOWED;
        if (want & ~allowed) fail(E.EINVAL, o.type === 'dir' ? 'event not valid for a directory' : 'event not valid for a file (data events come from managed regions)');
        const next = (objectEventList(o, false) & ~mask) | want;
        if (next) {
          const b = Buffer.alloc(8);
          b.writeBigUInt64LE(next, 0);
          setXattr(o, XA_EVENTS, b);
        } else {
          removeXattr(o, XA_EVENTS);
        }
        return {};
      });
    },

    GET_EVENTLIST: async (a: Args) => {
      dm.session(a.sid);
      const p = parseHandle(a.handle as Buffer);
      if (!p) fail(E.EINVAL, 'malformed handle');
      if (p.kind === 'global') fail(E.EBADF, 'no event list on the global handle');
      const answer = (set: bigint) => {
        const n = eventSetNelem(set);
        if (n > Number(a.nelem)) fail(E.E2BIG, 'nelem too small', { nelem: n });
        return { nelem: n, eventset: set };
      };
      if (p.kind === 'fs') {
        const fsE = dm.fsTable.fsOf(p.fsid);
        noToken(a.token);
        return answer(fsE.refreshState().eventlist);
      }
      return dm.withObject(a.sid, a.handle, a.token, DM_RIGHT_SHARED, (o) => answer(objectEventList(o, true)));
    },

    GET_CONFIG_EVENTS: (a: Args) => {
      const n = eventSetNelem(SUPPORTED_EVENT_SET);
      if (n > Number(a.nelem)) fail(E.E2BIG, 'nelem too small', { nelem: n });
      return { nelem: n, eventset: SUPPORTED_EVENT_SET };
    },

    GET_CONFIG: (a: Args) => {
      const v = CONFIG_VALUES[Number(a.flagname)];
      if (v === undefined) fail(E.EINVAL, `unknown dm_config_t ${Number(a.flagname)}`);
      return { value: v };
    },

    GET_MOUNTINFO: (a: Args) => {
      dm.session(a.sid);
      const p = parseHandle(a.handle as Buffer);
      if (!p) fail(E.EINVAL, 'malformed handle');
      if (p.kind === 'global') fail(E.EBADF, 'the global handle');
      const fsE = dm.fsTable.fsOf(p.fsid);
      if (p.kind !== 'fs') fail(E.EINVAL, 'dm_get_mountinfo takes a filesystem handle');
      noToken(a.token);
      const root = dm.fsTable.objAt(fsE, '', true);
      if (!root) fail(E.EBADF, 'filesystem root is gone');
      const buf = mountEvent({
        mode: 0, fsHandle: fsE.fsHandle, mountDirHandle: null, mountPoint: fsE.mountpoint,
        device: fsE.backing, rootHandle: root.handle,
      });
      if (BigInt(buf.length) > (a.buflen as bigint)) fail(E.E2BIG, 'buffer too small', { rlen: buf.length });
      return { rlen: buf.length, buf };
    },
  };
}

export { DISPINFO_SIZE, sys };
