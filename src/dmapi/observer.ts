// The observer interface (a dmapifs extension, docs/dmapi-protocol.md "Observing"): a passive
// record of what the node's DMAPI does — every event as it is raised, delivered by dm_get_events,
// moved and answered, and every session created, assumed and destroyed — for tracers
// (`dmapifs events watch`) and the daemon's log. An observer holds no disposition and answers
// nothing: XDSM gives each event to exactly one session (the one holding the disposition), and a
// tracer that took dispositions, as the old dmdump did, would take the events away from the HSM.
//
// Records are kept in a bounded ring; a reader polls with the sequence number it has seen and
// waits (long poll) for newer ones. A reader too slow for the ring is told how many it lost.
import { EVENT_NAMES, errnoName, DM_EVENT_MOUNT, DM_EVENT_DESTROY, DM_EVENT_READ, DM_EVENT_WRITE, DM_EVENT_TRUNCATE, DM_EVENT_USER, DM_RESP_ABORT, DM_RESP_CONTINUE, DM_RESP_DONTCARE } from './constants';
import type { DmEvent, Dmapi, Observed } from './core';
import { fsKey } from './core';
import { parseHandle } from './handles';
import { vardata, vstring } from './layouts';
import { bytes, type RelPath } from '../backing/names';

export interface EventView {
  token: number;
  seq: number;
  type: string;
  sync: boolean;
  sid: number;
  state: string;
  fsid: string | null;
  /** The object(s) as mount paths when known (else "ino N"); data events: the byte range. */
  object: string | null;
  target?: string | null;
  name?: string;
  offset?: string;
  length?: string;
  raisedAt: number;
  pending: boolean;
}

export interface TraceRecord {
  seq: number;
  at: number;
  what: Observed['what'];
  sid: number;
  event?: EventView;
  /** moved: the session it came from. */
  from?: number;
  /** answered: the response and errno; `by` when an operator answered on the session's behalf. */
  response?: string;
  errno?: string | null;
  by?: string;
  session?: { sid: number; name: string };
}

const RESPONSES: Record<number, string> = { [DM_RESP_CONTINUE]: 'continue', [DM_RESP_ABORT]: 'abort', [DM_RESP_DONTCARE]: 'dontcare' };
export function responseName(r: number): string {
  return RESPONSES[r] ?? `response ${r}`;
}

/** The session's name: its info string up to the first NUL. */
export function sessionName(info: Buffer): string {
  return info.toString('utf8');
}

/**
 * Where a handle points: the mount path, from the filesystem's handle index (the same lookup, and
 * the same one-time walk on a miss, that the DM application's first call on the handle makes),
 * else "MOUNTPOINT ino N" for an object that is gone.
 */
export function handlePath(dm: Dmapi, h: Buffer): string {
  const p = parseHandle(h);
  if (!p) return '(bad handle)';
  if (p.kind === 'global') return '(global)';
  const fsE = dm.fsTable.peek(p.fsid);
  if (p.kind === 'fs') return fsE ? fsE.mountpoint : `fs ${fsKey(p.fsid)}`;
  let rel: RelPath | undefined;
  if (fsE) {
    try { rel = dm.fsTable.locate(fsE, p.ino)?.rel; } catch { /* gone */ }
  }
  // A RelPath holds the name's bytes one per char: shown as UTF-8, as a terminal would.
  if (fsE && rel !== undefined) return rel === '' ? fsE.mountpoint : `${fsE.mountpoint}/${bytes(rel).toString('utf8')}`;
  return `${fsE ? fsE.mountpoint : fsKey(p.fsid)} ino ${p.ino}`;
}

export function describeEvent(dm: Dmapi, ev: DmEvent): EventView {
  const v: EventView = {
    token: ev.token, seq: ev.seq, type: EVENT_NAMES[ev.type] ?? String(ev.type), sync: ev.sync, sid: ev.sid, state: ev.state,
    fsid: ev.fsid === null ? null : fsKey(ev.fsid), object: null, raisedAt: ev.raisedAt, pending: ev.pending,
  };
  try {
    const d = ev.data;
    if (ev.type === DM_EVENT_READ || ev.type === DM_EVENT_WRITE || ev.type === DM_EVENT_TRUNCATE) {
      v.object = handlePath(dm, vardata(d, 0, 0));
      v.offset = d.readBigInt64LE(8).toString();
      v.length = d.readBigUInt64LE(16).toString();
    } else if (ev.type === DM_EVENT_MOUNT) {
      v.object = vstring(d, 0, 20);
      v.target = vstring(d, 0, 28);
    } else if (ev.type === DM_EVENT_DESTROY) {
      v.object = handlePath(dm, vardata(d, 0, 0));
    } else if (ev.type === DM_EVENT_USER) {
      v.object = null;
    } else if (d.length >= 40) {
      // dm_namesp_event_t: the directory (or object) and the name(s).
      const h1 = vardata(d, 0, 4);
      const h2 = vardata(d, 0, 12);
      const n1 = vstring(d, 0, 20);
      const n2 = vstring(d, 0, 28);
      const base = h1.length ? handlePath(dm, h1) : null;
      v.object = base !== null && n1 ? `${base}/${n1}` : base;
      if (h2.length) v.target = n2 ? `${handlePath(dm, h2)}/${n2}` : handlePath(dm, h2);
      else if (n2) v.target = n2;
      if (n1) v.name = n1;
    }
  } catch {
    /* a message we cannot take apart: show it without an object */
  }
  return v;
}

/** A bounded ring of trace records with long-poll readers. */
export class TraceRing {
  private readonly ring: TraceRecord[] = [];
  private nextSeq = 1;
  private readonly waiters = new Set<() => void>();
  /** When the last reader asked: records are only built while someone reads (they cost). */
  private lastRead = 0;

  constructor(private readonly dm: Dmapi, private readonly capacity = 8192, private readonly idleMs = 15000) {}

  /** Someone has read within idleMs (or waits now). */
  get active(): boolean {
    return this.waiters.size > 0 || Date.now() - this.lastRead < this.idleMs;
  }

  record(o: Observed): void {
    if (!this.active) return;
    const r: TraceRecord = { seq: this.nextSeq++, at: Date.now(), what: o.what, sid: 0 };
    if ('ev' in o) {
      r.sid = o.ev.sid;
      r.event = describeEvent(this.dm, o.ev);
      if (o.what === 'moved') r.from = o.from;
      if (o.what === 'answered') {
        r.response = responseName(o.answer.response);
        r.errno = o.answer.errno ? errnoName(o.answer.errno) : null;
        if (o.by) r.by = o.by;
      }
    } else {
      r.sid = o.session.sid;
      r.session = { sid: o.session.sid, name: sessionName(o.session.info) };
      if (o.by) r.by = o.by;
    }
    this.ring.push(r);
    if (this.ring.length > this.capacity) this.ring.splice(0, this.ring.length - this.capacity);
    const w = [...this.waiters];
    this.waiters.clear();
    for (const f of w) f();
  }

  /** The next sequence number (a reader starting now asks from here). */
  get head(): number {
    return this.nextSeq;
  }

  /**
   * Records with seq >= since (at most max), waiting up to waitMs for the first; `lost` counts
   * the records that fell out of the ring before the reader came back for them.
   */
  async read(since: number, max: number, waitMs: number, cancelled: () => boolean, onCancel: (fn: () => void) => () => void): Promise<{ records: TraceRecord[]; next: number; lost: number }> {
    this.lastRead = Date.now();
    if (since <= 0 || since > this.nextSeq) since = this.nextSeq;
    if (since === this.nextSeq && waitMs > 0 && !cancelled()) {
      await new Promise<void>((resolve) => {
        const done = () => { clearTimeout(timer); undo(); this.waiters.delete(done); resolve(); };
        const timer = setTimeout(done, waitMs);
        const undo = onCancel(done);
        this.waiters.add(done);
      });
      this.lastRead = Date.now();
    }
    const first = this.ring.length ? this.ring[0].seq : this.nextSeq;
    const lost = Math.max(0, first - since);
    const records = this.ring.filter((r) => r.seq >= since).slice(0, max);
    const next = records.length ? records[records.length - 1].seq + 1 : Math.max(since, first);
    return { records, next, lost };
  }
}
