// The state of a node's DMAPI: sessions, events and tokens, dispositions, the filesystem table and
// rights; shared by the function groups (sessions.ts, events.ts, ...), each of which registers the
// handlers of its opcodes. Handlers throw DmError (constants.ts) to fail with an errno.
import { AsyncLocalStorage } from 'async_hooks';
import {
  DM_EVENT_MAX, DM_EVENT_MOUNT, DM_MAX_SESSIONS, DM_NO_TOKEN, DM_RIGHT_EXCL, DM_RIGHT_SHARED, E, eventBit, fail,
} from './constants';
import { FsTable, Obj } from './fstable';
import { Journal, JournalRecord } from './journal';
import type { FieldValue, OpName } from './protocol/codec';
import type { Rights } from './rights';

/** How a caller is known: SO_PEERCRED of its connection. */
export interface CallCtx {
  pid: number;
  uid: number;
  gid: number;
  /**
   * Calls fn when the caller's connection closes (a waiting call then gives up); returns what
   * cancels that (a call that ends otherwise must not leave its listener behind).
   */
  onClose(fn: () => void): () => void;
  isClosed(): boolean;
}

/**
 * The caller of the DMAPI call being served (the server runs each handler in it): what a call that
 * waits (for a right) needs to give up when its caller dies or its connection drops.
 */
export const callContext = new AsyncLocalStorage<CallCtx>();

export type Args = Record<string, FieldValue>;
export type Handler = (args: Args, ctx: CallCtx) => Record<string, unknown> | Promise<Record<string, unknown>>;
export type Handlers = Partial<Record<OpName, Handler>>;

export interface EventAnswer {
  response: number;
  errno: number;
  respbuf: Buffer;
}

export type EventState = 'queued' | 'outstanding' | 'recovered';

export interface DmEvent {
  /** DM_INVALID_TOKEN (0) for asynchronous messages. */
  token: number;
  type: number;
  seq: number;
  /** The type-specific part of the message (dm_data_event_t ...), without the dm_eventmsg_t header. */
  data: Buffer;
  sync: boolean;
  sid: number;
  state: EventState;
  /** Filesystem the event is about (null: user events). */
  fsid: bigint | null;
  /** A token made by dm_create_userevent (no message). */
  userevent: boolean;
  /** dm_pending was called for it. */
  pending: boolean;
  /** Settles the raiser's wait (synchronous events). */
  answer?: (a: EventAnswer) => void;
  /** Told when dm_pending is called (for O_NONBLOCK operations). */
  onPending?: () => void;
  /** When it was raised (ms since the epoch; for a recovered event, when the daemon stopped). */
  raisedAt: number;
  /** Logged once as waiting too long (the service's slow-event check). */
  slowLogged?: boolean;
}

/**
 * What the observer interface (observer.ts) is told: an event raised, delivered by dm_get_events,
 * moved, answered; a session created, assumed or destroyed. Observers only look: they never
 * change what the sessions see.
 */
export type Observed =
  | { what: 'raised' | 'delivered'; ev: DmEvent }
  | { what: 'moved'; ev: DmEvent; from: number }
  | { what: 'answered'; ev: DmEvent; answer: EventAnswer; by?: string }
  | { what: 'session-created' | 'session-assumed' | 'session-destroyed'; session: Session; by?: string };

export class Session {
  /** Not yet received (dm_get_events), in order. */
  queue: DmEvent[] = [];
  /** Received and not answered, by token. */
  readonly outstanding = new Map<number, DmEvent>();
  /** dm_get_events calls waiting for a message. */
  waiters = new Set<() => void>();
  /** Disposition sets: 'global' or fsid → event set. */
  readonly disp = new Map<string, bigint>();
  /** Set for a session rebuilt from the journal after a daemon restart, until it is assumed. */
  failedAt: number | null = null;
  /** When it was created (or rebuilt from the journal). */
  readonly createdAt = Date.now();

  constructor(readonly sid: number, public info: Buffer) {}

  wake(): void {
    const w = [...this.waiters];
    this.waiters.clear();
    for (const f of w) f();
  }
}

export const GLOBAL_KEY = 'global';
export function fsKey(fsid: bigint): string {
  return fsid.toString(16).padStart(16, '0');
}

/** GPFS keeps failed-session state for 24 hours (docs/decisions.md). */
export const FAILED_SESSION_KEEP_MS = 24 * 3600 * 1000;

export class Dmapi {
  readonly sessions = new Map<number, Session>();
  /** Every live token (queued sync, outstanding, recovered, user events) → its event. */
  readonly tokens = new Map<number, DmEvent>();
  nextSid = 1;
  nextToken = 1;
  nextSeq = 1;
  rights!: Rights;
  /** dm_obj_ref_hold: token → held objects ("fsid:ino"). */
  readonly objRefs = new Map<number, Set<string>>();
  /**
   * GPFS's dmapiMountTimeout window (settings.ts): a MOUNT disposition has been set on this node
   * since the daemon started (or came back with a recovered session), and the end of the one
   * window the first DMAPI mount opened (null: not opened yet).
   */
  mountDispositionSeen = false;
  mountWindowEnd: number | null = null;
  /** The observer interface (observer.ts): told of events and sessions as they change. */
  observe: ((o: Observed) => void) | null = null;
  /** Told when a DMAPI call changed a file's data, size, times or regions (the mount drops its caches). */
  onObjectChanged: ((o: Obj) => Promise<void>) | null = null;

  objectChanged(o: Obj): void {
    const p = this.onObjectChanged?.(o);
    if (p) o.invalidated = o.invalidated ? Promise.all([o.invalidated, p]).then(() => undefined) : p;
  }

  constructor(readonly fsTable: FsTable, readonly journal: Journal | null) {}

  // ---- journal

  log(r: JournalRecord): void {
    if (!this.journal) return;
    this.journal.append(r);
    if (this.journal.size > 20000 && this.journal.size > 4 * (this.sessions.size + this.tokens.size + 16)) this.compact();
  }

  snapshot(): JournalRecord[] {
    const out: JournalRecord[] = [{ t: 'n', sid: this.nextSid, tok: this.nextToken, seq: this.nextSeq }];
    for (const s of this.sessions.values()) {
      out.push({ t: 's', sid: s.sid, info: s.info.toString('base64') });
      for (const [k, set] of s.disp) out.push({ t: 'd', sid: s.sid, fs: k, set: set.toString(16) });
    }
    for (const ev of this.tokens.values()) {
      if (!ev.sync || ev.userevent) continue;
      out.push({ t: 'e', tok: ev.token, sid: ev.sid, type: ev.type, seq: ev.seq, data: ev.data, fs: ev.fsid === null ? null : fsKey(ev.fsid) });
    }
    return out;
  }

  compact(): void {
    this.journal?.rewrite(this.snapshot());
  }

  /**
   * Rebuilds the state after a restart (as GPFS recovers sessions): the same session ids, their dispositions,
   * and their synchronous events back in the not-received state with the same tokens (ESRCH until
   * received again); user-event tokens and asynchronous messages are lost.
   */
  recover(records: JournalRecord[], failedAt: number): void {
    const events = new Map<number, DmEvent>();
    for (const r of records) {
      switch (r.t) {
        case 'n':
          this.nextSid = Math.max(this.nextSid, r.sid);
          this.nextToken = Math.max(this.nextToken, r.tok);
          this.nextSeq = Math.max(this.nextSeq, r.seq);
          break;
        case 's': {
          const s = this.sessions.get(r.sid) ?? new Session(r.sid, Buffer.alloc(0));
          s.info = Buffer.from(r.info, 'base64');
          this.sessions.set(r.sid, s);
          this.nextSid = Math.max(this.nextSid, r.sid + 1);
          break;
        }
        case 'S':
          this.sessions.delete(r.sid);
          break;
        case 'd': {
          const s = this.sessions.get(r.sid);
          if (s) {
            const set = BigInt('0x' + (r.set || '0'));
            if (set) s.disp.set(r.fs, set); else s.disp.delete(r.fs);
            if (r.fs === GLOBAL_KEY && set & eventBit(DM_EVENT_MOUNT)) this.mountDispositionSeen = true;
          }
          break;
        }
        case 'e':
          events.set(r.tok, {
            token: r.tok, type: r.type, seq: r.seq, data: typeof r.data === 'string' ? Buffer.from(r.data, 'base64') : r.data, sync: true, sid: r.sid,
            state: 'recovered', fsid: r.fs === null ? null : BigInt('0x' + r.fs), userevent: false, pending: false, raisedAt: failedAt,
          });
          this.nextToken = Math.max(this.nextToken, r.tok + 1);
          this.nextSeq = Math.max(this.nextSeq, r.seq + 1);
          break;
        case 'm': {
          const ev = events.get(r.tok);
          if (ev) ev.sid = r.sid;
          break;
        }
        case 'r':
          events.delete(r.tok);
          break;
      }
    }
    for (const s of this.sessions.values()) s.failedAt = failedAt;
    for (const ev of [...events.values()].sort((a, b) => a.seq - b.seq)) {
      const s = this.sessions.get(ev.sid);
      if (!s) continue;
      s.queue.push(ev);
      this.tokens.set(ev.token, ev);
    }
    this.compact();
  }

  // ---- lookups shared by the groups

  session(sid: unknown): Session {
    const s = typeof sid === 'number' ? this.sessions.get(sid) : undefined;
    if (!s) fail(E.EINVAL, `no session ${String(sid)}`);
    return s;
  }

  /**
   * The outstanding event of `token` in session `sid`. Never-issued token, DM_NO_TOKEN or
   * DM_INVALID_TOKEN → EINVAL; issued but not outstanding here (answered, not yet (re)received,
   * moved away) → ESRCH (GPFS: "not in outstanding state").
   */
  outstanding(sid: unknown, token: unknown): DmEvent {
    const s = this.session(sid);
    const tok = Number(token);
    if (!Number.isInteger(tok) || tok <= 0 || tok >= this.nextToken) fail(E.EINVAL, `no token ${tok}`);
    const ev = this.tokens.get(tok);
    if (!ev || ev.sid !== s.sid || ev.state !== 'outstanding') fail(E.ESRCH, `token ${tok} is not outstanding in session ${s.sid}`);
    return ev;
  }

  newSession(info: Buffer): Session {
    if (this.sessions.size >= DM_MAX_SESSIONS) fail(E.ENOMEM, `at most ${DM_MAX_SESSIONS} sessions per node`);
    const s = new Session(this.nextSid++, info);
    this.sessions.set(s.sid, s);
    this.log({ t: 's', sid: s.sid, info: info.toString('base64') });
    this.observe?.({ what: 'session-created', session: s });
    return s;
  }

  /** Queues an event on a session (tokens for synchronous ones). */
  enqueue(s: Session, type: number, data: Buffer, sync: boolean, fsid: bigint | null): DmEvent {
    const ev: DmEvent = {
      token: sync ? this.nextToken++ : 0, type, seq: this.nextSeq++, data, sync, sid: s.sid, state: 'queued', fsid, userevent: false, pending: false,
      raisedAt: Date.now(),
    };
    if (sync) {
      this.tokens.set(ev.token, ev);
      this.log({ t: 'e', tok: ev.token, sid: s.sid, type, seq: ev.seq, data, fs: fsid === null ? null : fsKey(fsid) });
    }
    s.queue.push(ev);
    this.observe?.({ what: 'raised', ev });
    s.wake();
    return ev;
  }

  /**
   * The service stops: every operation waiting for an answer gets `a` now (GPFS: ESTALE on the
   * session node). The events stay outstanding and journaled for the next start.
   */
  abandonWaits(a: EventAnswer): void {
    for (const ev of this.tokens.values()) {
      const answer = ev.answer;
      ev.answer = undefined;
      answer?.(a);
    }
  }

  /** Ends a token: answered (or its session's raiser gave up); its rights go with it. `by`: who
   *  answered when it was not the session (an operator). */
  finish(ev: DmEvent, a: EventAnswer, by?: string): void {
    this.tokens.delete(ev.token);
    const s = this.sessions.get(ev.sid);
    if (s) {
      s.outstanding.delete(ev.token);
      const i = s.queue.indexOf(ev);
      if (i >= 0) s.queue.splice(i, 1);
    }
    this.rights?.releaseToken(ev.token);
    this.objRefs.delete(ev.token);
    if (!ev.userevent) this.log({ t: 'r', tok: ev.token });
    this.observe?.({ what: 'answered', ev, answer: a, by });
    ev.answer?.(a);
  }

  // ---- object access under a token (DM rights) or DM_NO_TOKEN

  /**
   * Runs fn on the object of `handle` with at least `need` right: with DM_NO_TOKEN the right is taken
   * for the duration of the call only (GPFS "semantically equivalent to holding an access right");
   * with a token, the token must be outstanding in `sid` and hold the right, else EACCES.
   */
  async withObject<T>(sid: unknown, handle: unknown, token: unknown, need: number, fn: (o: Obj) => T | Promise<T>): Promise<T> {
    this.session(sid);
    const o = this.fsTable.resolve(handle as Buffer);
    let r: T;
    if (Number(token) === DM_NO_TOKEN) {
      // A caller that dies (or whose connection drops) while the call waits for its right cancels
      // the call and its queued lock request: nothing runs for a caller that is gone.
      const release = await this.rights.acquireTemporary(o, need, callContext.getStore());
      try {
        r = await fn(o);
      } finally {
        release();
      }
    } else {
      this.outstanding(sid, token);
      const have = this.rights.held(Number(token), o);
      if (have < need) fail(E.EACCES, `token ${Number(token)} holds no ${need === DM_RIGHT_EXCL ? 'exclusive' : 'shared'} right on the object`);
      r = await fn(o);
    }
    // A call that changed the object answers once the mounts' caches of it are gone (after the
    // temporary right is released: a read waiting for it may hold the very pages to drop).
    await o.invalidated;
    return r;
  }
}

export { DM_EVENT_MAX, DM_RIGHT_SHARED, DM_RIGHT_EXCL };
