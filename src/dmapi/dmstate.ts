// An object's DMAPI event list as its DM state (src/backing/inodes.ts: the raw private xattrs)
// gives it. XDSM: an object's event list holds the events set on it and, for a regular file, the
// events its managed regions ask for (READ, WRITE, TRUNCATE); get_eventlist and dt_emask report
// both, and the data event rules use both.
import type { DmState } from '../backing';
import { DM_EVENT_READ, DM_EVENT_TRUNCATE, DM_EVENT_WRITE, DM_REGION_READ, DM_REGION_TRUNCATE, DM_REGION_WRITE, eventBit } from './constants';
import { Region, unpackRegions } from './layouts';

/** The events a region's flags ask for. */
export function regionEvents(flags: number): bigint {
  let set = 0n;
  if (flags & DM_REGION_READ) set |= eventBit(DM_EVENT_READ);
  if (flags & DM_REGION_WRITE) set |= eventBit(DM_EVENT_WRITE);
  if (flags & DM_REGION_TRUNCATE) set |= eventBit(DM_EVENT_TRUNCATE);
  return set;
}

export function regionsIn(state: DmState): Region[] {
  return (state.regions && unpackRegions(state.regions)) || [];
}

/** The object's own event list; `withRegions`: with the events of its managed regions. */
export function eventListOf(state: DmState, withRegions: boolean): bigint {
  let set = state.events && state.events.length === 8 ? state.events.readBigUInt64LE(0) : 0n;
  if (withRegions) for (const r of regionsIn(state)) set |= regionEvents(r.flags);
  return set;
}
