// DM attributes: dm_set_dmattr, dm_get_dmattr, dm_remove_dmattr, dm_getall_dmattr (persistent, in
// private xattrs of the backing file: trusted.dmapifs.dm.a.<name as 16 hex digits>, like XFS's
// SGI_DMI_<name>), dm_set_return_on_destroy (filesystem handle, DM_NO_TOKEN), and the inheritance
// functions (ENOSYS: DM_CONFIG_PERS_INHERIT_ATTRIBS = 0 as in GPFS, SGI and JFS).
//
// Limits: a value ≤ DM_CONFIG_MAX_ATTRIBUTE_SIZE (1022) bytes (E2BIG beyond); all values of one
// object ≤ DM_CONFIG_TOTAL_ATTRIBUTE_SPACE (7168) bytes (ENOSPC beyond). Times (ctime.ts): the dtime
// is the ctime (DM_CONFIG_DTIME_OVERLOAD, as GPFS); setdtime != 0 lets the change show in it, and
// setdtime = 0 leaves the ctime users see alone, as SGI's XFS DMAPI does on purpose.
import {
  DM_ATTR_NAME_SIZE, DM_EVENT_DESTROY, DM_NO_TOKEN, eventBit, DM_RIGHT_EXCL, DM_RIGHT_SHARED, E, fail, MAX_ATTRIBUTE_SIZE, TOTAL_ATTRIBUTE_SPACE,
} from './constants';
import { Args, Dmapi, fsKey, Handlers } from './core';
import { assignDispositions } from './dispositions';
import { forgetShownCtime, keepingCtime } from './ctime';
import { getXattr, listXattr, Obj, removeXattr, setXattr, XA_ATTR } from './fstable';
import { parseHandle } from './handles';
import { attrList, attrListChain } from './layouts';

export function attrName(raw: unknown): Buffer {
  const b = raw as Buffer;
  if (!Buffer.isBuffer(b) || b.length !== DM_ATTR_NAME_SIZE) fail(E.EINVAL, 'an attribute name is 8 bytes');
  if (b.every((x) => x === 0)) fail(E.EINVAL, 'empty attribute name');
  return b;
}
const xname = (n: Buffer) => XA_ATTR + n.toString('hex');

export function dmAttrs(o: Obj): Array<{ name: Buffer; value: Buffer }> {
  const out: Array<{ name: Buffer; value: Buffer }> = [];
  for (const x of listXattr(o).sort()) {
    if (!x.startsWith(XA_ATTR)) continue;
    const v = getXattr(o, x);
    if (v) out.push({ name: Buffer.from(x.slice(XA_ATTR.length), 'hex'), value: v });
  }
  return out;
}

/** Object handles only: a filesystem handle → EINVAL. */
function objectOnly(a: Args): void {
  const p = parseHandle(a.handle as Buffer);
  if (p && p.kind === 'fs') fail(E.EINVAL, 'DM attributes belong to files and directories');
}

export function attributeHandlers(dm: Dmapi): Handlers {
  const guard = (a: Args) => {
    const p = parseHandle(a.handle as Buffer);
    if (p && p.kind === 'fs') { dm.fsTable.fsOf(p.fsid); fail(E.EINVAL, 'DM attributes belong to files and directories'); }
  };
  return {
    SET_DMATTR: (a: Args) => {
      guard(a);
      const name = attrName(a.name);
      const value = a.value as Buffer;
      if (value.length > MAX_ATTRIBUTE_SIZE) fail(E.E2BIG, `attribute value over ${MAX_ATTRIBUTE_SIZE} bytes`);
      return dm.withObject(a.sid, a.handle, a.token, DM_RIGHT_EXCL, (o) => {
        let total = value.length;
        for (const x of dmAttrs(o)) if (!x.name.equals(name)) total += x.value.length;
        if (total > TOTAL_ATTRIBUTE_SPACE) fail(E.ENOSPC, `DM attributes of one object take at most ${TOTAL_ATTRIBUTE_SPACE} bytes`);
        if (Number(a.setdtime)) { setXattr(o, xname(name), value); forgetShownCtime(o); }
        else keepingCtime(o, () => setXattr(o, xname(name), value));
        return {};
      });
    },
    GET_DMATTR: (a: Args) => {
      guard(a);
      const name = attrName(a.name);
      return dm.withObject(a.sid, a.handle, a.token, DM_RIGHT_SHARED, (o) => {
        const v = getXattr(o, xname(name));
        if (!v) fail(E.ENOENT, 'no such DM attribute');
        if (BigInt(v.length) > (a.buflen as bigint)) fail(E.E2BIG, 'buffer too small', { rlen: v.length });
        return { rlen: v.length, value: v };
      });
    },
    REMOVE_DMATTR: (a: Args) => {
      guard(a);
      const name = attrName(a.name);
      return dm.withObject(a.sid, a.handle, a.token, DM_RIGHT_EXCL, (o) => {
        const setdtime = Number(a.setdtime) !== 0;
        if (!(setdtime ? removeXattr(o, xname(name)) : keepingCtime(o, () => removeXattr(o, xname(name))))) {
          fail(E.ENOENT, 'no such DM attribute');
        }
        if (setdtime) forgetShownCtime(o);
        return {};
      });
    },
    GETALL_DMATTR: (a: Args) => {
      guard(a);
      return dm.withObject(a.sid, a.handle, a.token, DM_RIGHT_SHARED, (o) => {
        const buf = attrListChain(dmAttrs(o).map((x) => attrList(x.name, x.value)));
        const rlen = buf.length;
        if (BigInt(rlen) > (a.buflen as bigint)) fail(E.E2BIG, 'buffer too small', { rlen });
        return { rlen, buf };
      });
    },
    // SGI's dm_set_return_on_destroy: enabling is an implicit dm_set_disp of DESTROY for the caller
    // (the attribute belongs to the session that receives the DESTROY events); disabling from a
    // session that does not hold the DESTROY disposition → EINVAL.
    SET_RETURN_ON_DESTROY: (a: Args) => {
      const s = dm.session(a.sid);
      const p = parseHandle(a.handle as Buffer);
      if (!p) fail(E.EINVAL, 'malformed handle');
      if (p.kind === 'global') fail(E.EBADF, 'the global handle');
      const fsE = dm.fsTable.fsOf(p.fsid);
      if (p.kind !== 'fs') fail(E.EINVAL, 'dm_set_return_on_destroy takes a filesystem handle');
      if (Number(a.token) !== DM_NO_TOKEN) fail(E.EINVAL, 'GPFS: a filesystem handle takes DM_NO_TOKEN');
      const enable = Number(a.enable) !== 0;
      const destroy = eventBit(DM_EVENT_DESTROY);
      const key = fsKey(p.fsid);
      let name: Buffer | null = null;
      if (enable) {
        name = attrName(a.name);
        assignDispositions(dm, s, key, destroy, destroy, fsE);
      } else {
        if (((s.disp.get(key) ?? 0n) & destroy) === 0n) fail(E.EINVAL, 'the session does not hold the DESTROY disposition');
      }
      fsE.updateState((st) => { st.returnOnDestroy = name; });
      return {};
    },
  };
}

export { objectOnly };
