// The operator's view of a node's DMAPI, on the control socket (root only, mode 0600): what
// `dmapifs dm` shows and does — sessions, events and tokens, dispositions, filesystems, pending
// DMAPI mounts — like GPFS's `mmdiag --dmapi` and `mmlsfs -z`; answering an event on a session's
// behalf and destroying a session, for the rescue of a node whose HSM died (its events would
// otherwise hold their operations until the session is assumed); and the observer ring
// (observer.ts) that `dmapifs events watch` reads.
import type { CommandHandler } from '../common/service';
import { CodedError } from '../common/errors';
import { DM_EVENT_MOUNT, DM_RESP_ABORT, DM_RESP_CONTINUE, E, EVENT_NAMES, errnoName, eventBit, eventsIn } from './constants';
import { Dmapi, fsKey, GLOBAL_KEY, Session } from './core';
import type { MountView } from './fstable';
import { describeEvent, EventView, sessionName, TraceRing } from './observer';

export interface SessionView {
  sid: number;
  name: string;
  node: string;
  createdAt: number;
  /** Rebuilt from the journal and not yet assumed (GPFS: a failed session). */
  failedAt: number | null;
  dispositions: Array<{ fs: string; mountpoint: string | null; events: string[] }>;
  queued: number[];
  outstanding: number[];
  /** A dm_get_events call waits on it (its DM application is alive and listening). */
  listening: boolean;
}

export interface FsView {
  fsid: string;
  backing: string;
  mountpoint: string;
  dmapi: boolean;
  eventlist: string[];
  mountedAt: number | null;
  capacity: number | null;
}

export interface PendingMountView {
  backing: string;
  mountpoint: string;
  since: number | null;
  /** A session holds the MOUNT disposition (else the mount waits for one, until windowEnd). */
  disposition: boolean;
  /** When the node's MOUNT window (dmapiMountTimeout) closes; null: not open, Infinity → -1. */
  windowEnd: number | null;
}

export interface DmState {
  node: string;
  now: number;
  sessions: SessionView[];
  events: EventView[];
  filesystems: FsView[];
  pendingMounts: PendingMountView[];
}

const names = (set: bigint) => eventsIn(set).map((e) => EVENT_NAMES[e] ?? String(e));

export interface AdminContext {
  node: string;
  dm: Dmapi;
  ring: TraceRing;
  /** Mounts under way (their MOUNT event before the mount service lists them). */
  attaching(): MountView[];
  /** Capacity of each mount point (the mount service's records). */
  capacities(): Map<string, number | null>;
  log(level: 'info' | 'warn', msg: string): void;
}

function sessionView(cx: AdminContext, s: Session): SessionView {
  const dm = cx.dm;
  const disp = [...s.disp.entries()].map(([k, set]) => {
    const fsE = k === GLOBAL_KEY ? undefined : dm.fsTable.list().find((f) => fsKey(f.fsid) === k);
    return { fs: k, mountpoint: fsE ? fsE.mountpoint : null, events: names(set) };
  });
  return {
    sid: s.sid, name: sessionName(s.info), node: cx.node, createdAt: s.createdAt, failedAt: s.failedAt, dispositions: disp,
    queued: s.queue.filter((e) => e.sync).map((e) => e.token), outstanding: [...s.outstanding.keys()].sort((a, b) => a - b),
    listening: s.waiters.size > 0,
  };
}

export function dmState(cx: AdminContext): DmState {
  const dm = cx.dm;
  const caps = cx.capacities();
  const events = [...dm.tokens.values()].sort((a, b) => a.seq - b.seq).map((ev) => describeEvent(dm, ev));
  // Asynchronous messages not yet received have no token but are queued too.
  for (const s of dm.sessions.values()) for (const ev of s.queue) if (!ev.sync) events.push(describeEvent(dm, ev));
  const attaching = cx.attaching();
  const mountDisp = [...dm.sessions.values()].some((s) => ((s.disp.get(GLOBAL_KEY) ?? 0n) & eventBit(DM_EVENT_MOUNT)) !== 0n);
  return {
    node: cx.node,
    now: Date.now(),
    sessions: [...dm.sessions.values()].sort((a, b) => a.sid - b.sid).map((s) => sessionView(cx, s)),
    events,
    filesystems: dm.fsTable.list().filter((f) => !attaching.some((a) => a.backing === f.backing)).map((f) => ({
      fsid: fsKey(f.fsid), backing: f.backing, mountpoint: f.mountpoint, dmapi: f.enabled, eventlist: names(f.state.eventlist),
      mountedAt: f.mountedAt ?? null, capacity: caps.get(f.mountpoint) ?? null,
    })),
    pendingMounts: attaching.map((a) => ({
      backing: a.backing, mountpoint: a.mountpoint, since: a.mountedAt ?? null, disposition: mountDisp,
      windowEnd: dm.mountWindowEnd === null ? null : Number.isFinite(dm.mountWindowEnd) ? dm.mountWindowEnd : -1,
    })),
  };
}

function intArg(args: Record<string, unknown>, key: string): number {
  const v = args[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new CodedError('EINVAL', `'${key}' must be an integer`);
  return v;
}

function byArg(args: Record<string, unknown>): string {
  const v = args.by;
  return typeof v === 'string' && v.length && v.length < 200 ? v : 'operator';
}

export function adminCommands(cx: AdminContext): Record<string, CommandHandler> {
  const dm = cx.dm;
  return {
    'dmapi.state': () => dmState(cx),

    // Answers an event as its session would (dm_respond_event), whatever its state: an event still
    // queued (never received: its HSM died first) or rebuilt from the journal included.
    'dmapi.respond': (args) => {
      const token = intArg(args, 'token');
      const ev = dm.tokens.get(token);
      if (!ev) throw new CodedError('ENOENT', `no pending event with token ${token} on node ${cx.node} (see dmapifs dm events)`);
      if (ev.userevent) throw new CodedError('EINVAL', `token ${token} is a user event token (dm_create_userevent): it has no operation waiting`);
      const response = args.response;
      let errno = 0;
      if (response === 'abort') {
        errno = intArg(args, 'errno');
        if (errno <= 0 || errno > 4095) throw new CodedError('EINVAL', 'abort needs a positive errno');
      } else if (response !== 'continue') {
        throw new CodedError('EINVAL', "response must be 'continue' or 'abort'");
      }
      const by = byArg(args);
      const view = describeEvent(dm, ev);
      cx.log('warn', `dmapi: ${by} answered token ${token} (${view.type} ${view.object ?? ''}, session ${ev.sid}, ${ev.state}) `
        + `on the session's behalf: ${response}${errno ? ` ${errnoName(errno)}` : ''}`);
      dm.finish(ev, { response: response === 'abort' ? DM_RESP_ABORT : DM_RESP_CONTINUE, errno, respbuf: Buffer.alloc(0) }, by);
      return { token, response, errno: errno ? errnoName(errno) : null, event: view };
    },

    // dm_destroy_session by an operator. XDSM refuses while the session has events (EBUSY): with
    // `abortWith` those are answered ABORT with that errno first (logged one by one).
    'dmapi.session-destroy': (args) => {
      const sid = intArg(args, 'sid');
      const s = dm.sessions.get(sid);
      if (!s) throw new CodedError('ENOENT', `no session ${sid} on node ${cx.node}`);
      if (s.waiters.size) throw new CodedError('EBUSY', `session ${sid} (${sessionName(s.info)}) is in use: a dm_get_events call waits on it (stop its DM application first)`);
      const pending = [...dm.tokens.values()].filter((e) => e.sid === sid && !e.userevent);
      const abortWith = args.abortWith === undefined ? null : intArg(args, 'abortWith');
      const by = byArg(args);
      if (pending.length && abortWith === null) {
        throw new CodedError('EBUSY', `session ${sid} has ${pending.length} pending event(s) (tokens ${pending.map((e) => e.token).join(', ')}): `
          + 'answer them with dmapifs dm respond, or destroy with --abort ERRNO');
      }
      for (const ev of pending) {
        const view = describeEvent(dm, ev);
        cx.log('warn', `dmapi: ${by} aborted token ${ev.token} (${view.type} ${view.object ?? ''}) with ${errnoName(abortWith!)} to destroy session ${sid}`);
        dm.finish(ev, { response: DM_RESP_ABORT, errno: abortWith!, respbuf: Buffer.alloc(0) }, by);
      }
      // User event tokens and asynchronous messages go with the session.
      for (const ev of [...dm.tokens.values()]) if (ev.sid === sid) dm.finish(ev, { response: DM_RESP_ABORT, errno: E.EINTR, respbuf: Buffer.alloc(0) }, by);
      s.queue = [];
      dm.sessions.delete(sid);
      dm.log({ t: 'S', sid });
      cx.log('warn', `dmapi: ${by} destroyed session ${sid} (${sessionName(s.info)}), releasing its dispositions`);
      dm.observe?.({ what: 'session-destroyed', session: s, by });
      return { sid, aborted: pending.map((e) => e.token) };
    },

    // The observer interface: records with seq >= since, waiting up to waitMs for the first.
    'dmapi.trace': async (args) => {
      const since = args.since === undefined ? 0 : intArg(args, 'since');
      const waitMs = Math.min(Math.max(args.waitMs === undefined ? 0 : intArg(args, 'waitMs'), 0), 20000);
      const max = Math.min(Math.max(args.max === undefined ? 1000 : intArg(args, 'max'), 1), 10000);
      return cx.ring.read(since, max, waitMs, () => false, () => () => undefined);
    },
  };
}
