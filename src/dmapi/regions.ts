// Managed regions: dm_set_region, dm_get_region — persistent (trusted.dmapifs.dm.regions on the
// backing file, packed dm_region_t), up to DM_CONFIG_MAX_MANAGED_REGIONS (32) per regular file,
// stored exactly as given (*exactflagp = DM_TRUE; overlapping regions are kept as they are; size 0
// means "to the end of the file and beyond": docs/decisions.md).
import { DM_REGION_VALID_FLAGS, DM_RIGHT_EXCL, DM_RIGHT_SHARED, E, fail, MAX_MANAGED_REGIONS } from './constants';
import { Args, Dmapi, Handlers } from './core';
import { getXattr, Obj, removeXattr, setXattr, XA_REGIONS } from './fstable';
import { parseHandle } from './handles';
import { packRegions, Region, REGION_SIZE, unpackRegions } from './layouts';

export function regionsOf(o: Obj): Region[] {
  if (o.type !== 'reg') return [];
  const b = getXattr(o, XA_REGIONS);
  return (b && unpackRegions(b)) || [];
}

export function regionHandlers(dm: Dmapi): Handlers {
  const fsGuard = (a: Args) => {
    const p = parseHandle(a.handle as Buffer);
    if (p && p.kind === 'fs') { dm.fsTable.fsOf(p.fsid); fail(E.EINVAL, 'regions belong to regular files'); }
  };
  return {
    SET_REGION: (a: Args) => {
      fsGuard(a);
      const raw = a.regions as Buffer;
      if (raw.length % REGION_SIZE) fail(E.EINVAL, 'bad region array');
      const regs = unpackRegions(raw)!;
      if (regs.length > MAX_MANAGED_REGIONS) fail(E.E2BIG, `at most ${MAX_MANAGED_REGIONS} managed regions`);
      for (const r of regs) {
        if (r.flags & ~DM_REGION_VALID_FLAGS) fail(E.EINVAL, 'unknown region flags');
        if (r.offset < 0n) fail(E.EINVAL, 'negative region offset');
      }
      return dm.withObject(a.sid, a.handle, a.token, DM_RIGHT_EXCL, (o) => {
        if (o.type !== 'reg') fail(E.EINVAL, 'managed regions are for regular files');
        if (regs.length) setXattr(o, XA_REGIONS, packRegions(regs)); else removeXattr(o, XA_REGIONS);
        // Pages the kernel cached before the region existed must not let a read skip its event.
        dm.objectChanged(o);
        return { exact: 1 };
      });
    },
    GET_REGION: (a: Args) => {
      fsGuard(a);
      return dm.withObject(a.sid, a.handle, a.token, DM_RIGHT_SHARED, (o) => {
        if (o.type !== 'reg') fail(E.EINVAL, 'managed regions are for regular files');
        const regs = regionsOf(o);
        if (regs.length > Number(a.nelem)) fail(E.E2BIG, 'nelem too small', { nelem: regs.length });
        return { nelem: regs.length, regions: packRegions(regs) };
      });
    },
  };
}
