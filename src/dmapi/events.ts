// The event queue: dm_get_events, dm_respond_event, dm_find_eventmsg, dm_getall_tokens,
// dm_move_event, dm_pending, dm_create_userevent, dm_send_msg; and raise(), the entry point for
// events from file operations.
import {
  DM_EV_WAIT, DM_EVENT_MOUNT, DM_EVENT_USER, DM_MSGTYPE_ASYNC, DM_MSGTYPE_SYNC, DM_RESP_ABORT, DM_RESP_CONTINUE,
  DM_RESP_DONTCARE, DmError, E, eventBit, fail, MAX_MESSAGE_DATA,
} from './constants';
import { Args, CallCtx, DmEvent, Dmapi, EventAnswer, fsKey, GLOBAL_KEY, Handlers, Session } from './core';
import { align8, chain, eventMsg, EVENTMSG_SIZE } from './layouts';

function msgOf(ev: DmEvent): Buffer {
  return eventMsg(ev.type, ev.token, ev.seq, ev.data);
}

/** A message buffer of dm_get_events: as many messages as fit (at least the first, else E2BIG). */
function takeMessages(dm: Dmapi, s: Session, maxmsgs: number, buflen: bigint): { rlen: number; buf: Buffer } {
  const first = EVENTMSG_SIZE + s.queue[0].data.length;
  if (BigInt(first) > buflen) fail(E.E2BIG, 'the first message does not fit', { rlen: first });
  const taken: DmEvent[] = [];
  let used = 0;
  for (const ev of s.queue) {
    if (maxmsgs && taken.length >= maxmsgs) break;
    const size = EVENTMSG_SIZE + ev.data.length;
    const start = taken.length ? align8(used) : 0;
    if (BigInt(start + size) > buflen) break;
    used = start + size;
    taken.push(ev);
  }
  s.queue.splice(0, taken.length);
  for (const ev of taken) {
    if (ev.sync) {
      ev.state = 'outstanding';
      s.outstanding.set(ev.token, ev);
    }
    dm.observe?.({ what: 'delivered', ev });
  }
  return { rlen: used, buf: chain(taken.map(msgOf)) };
}

export interface RaiseOptions {
  /** The filesystem; its disposition decides the session. */
  fsid: bigint;
  type: number;
  /** The type-specific message part (layouts.ts: dataEvent, namespEvent, mountEvent, destroyEvent). */
  data: Buffer;
  sync: boolean;
  /** Sessions that already answered DONTCARE to this MOUNT event. */
  skip?: ReadonlySet<number>;
  /** Called if the DM application calls dm_pending for the event. */
  onPending?: () => void;
  /**
   * A synchronous event's answer ({response, errno}), called from inside dm_respond_event (or with
   * ABORT/ESTALE when the service stops): the released operation can be answered in the same turn.
   */
  onAnswer?: (a: EventAnswer) => void;
}

export type RaiseResult = { delivered: false } | { delivered: true; sid: number; token: number };

/**
 * The interface file operations use: is there a session with a disposition for this event
 * on this filesystem? If so the message is queued there, and a synchronous event's answer goes to
 * onAnswer. `delivered: false` means no disposition (GPFS then fails the operation with EIO when
 * the event is enabled — the caller decides, it knows the event lists).
 */
export function raise(dm: Dmapi, o: RaiseOptions): RaiseResult {
  const s = dispositionOf(dm, o.fsid, o.type, o.skip);
  if (!s) return { delivered: false };
  const ev = dm.enqueue(s, o.type, o.data, o.sync, o.fsid);
  ev.onPending = o.onPending;
  if (o.sync) ev.answer = o.onAnswer;
  return { delivered: true, sid: s.sid, token: ev.token };
}

/** The session holding the disposition for `type` on `fsid` (MOUNT: the global one). */
export function dispositionOf(dm: Dmapi, fsid: bigint, type: number, skip?: ReadonlySet<number>): Session | null {
  const key = type === DM_EVENT_MOUNT ? GLOBAL_KEY : fsKey(fsid);
  for (const s of dm.sessions.values()) {
    if (skip?.has(s.sid)) continue;
    const set = s.disp.get(key);
    if (set !== undefined && set & eventBit(type)) return s;
  }
  return null;
}

export function eventHandlers(dm: Dmapi): Handlers {
  return {
    GET_EVENTS: (a: Args, ctx: CallCtx) => {
      const maxmsgs = Number(a.maxmsgs);
      const flags = Number(a.flags);
      const buflen = a.buflen as bigint;
      if (flags & ~DM_EV_WAIT) fail(E.EINVAL, 'unknown flags');
      const s = dm.session(a.sid);
      if (s.queue.length) return takeMessages(dm, s, maxmsgs, buflen);
      if (!(flags & DM_EV_WAIT)) fail(E.EAGAIN, 'no message');
      if (ctx.isClosed()) fail(E.EINTR, 'caller went away');
      // GPFS: the wait is not interrupted by signals; it ends when a message arrives or when the
      // caller's connection closes (a session with a waiting caller cannot be destroyed). The
      // messages are taken inside enqueue(), in the same turn as the operation that raised them:
      // the blocked application's round trip does not wait for more event-loop hops.
      return new Promise<Record<string, unknown>>((resolve, reject) => {
        const w = () => {
          if (!s.queue.length) { s.waiters.add(w); return; }
          cancel();
          try {
            resolve(takeMessages(dm, s, maxmsgs, buflen));
          } catch (e) {
            reject(e);
          }
        };
        s.waiters.add(w);
        const cancel = ctx.onClose(() => { if (s.waiters.delete(w)) reject(new DmError(E.EINTR, 'caller went away')); });
      });
    },

    RESPOND_EVENT: (a: Args) => {
      const response = Number(a.response);
      const reterror = Number(a.reterror);
      const respbuf = a.respbuf as Buffer;
      const ev = dm.outstanding(a.sid, a.token);
      if (respbuf.length > MAX_MESSAGE_DATA) fail(E.E2BIG, `response data over ${MAX_MESSAGE_DATA} bytes`);
      if (response === DM_RESP_CONTINUE) {
        if (reterror !== 0) fail(E.EINVAL, 'DM_RESP_CONTINUE takes reterror 0');
      } else if (response === DM_RESP_ABORT) {
        if (reterror <= 0) fail(E.EINVAL, 'DM_RESP_ABORT needs a positive errno');
      } else if (response === DM_RESP_DONTCARE) {
        if (ev.type !== DM_EVENT_MOUNT) fail(E.EINVAL, 'DM_RESP_DONTCARE is for MOUNT events only');
      } else {
        fail(E.EINVAL, 'invalid response');
      }
      dm.finish(ev, { response, errno: response === DM_RESP_ABORT ? reterror : 0, respbuf });
      return {};
    },

    FIND_EVENTMSG: (a: Args) => {
      const ev = dm.outstanding(a.sid, a.token);
      const m = msgOf(ev);
      if (BigInt(m.length) > (a.buflen as bigint)) fail(E.E2BIG, 'buffer too small', { rlen: m.length });
      return { rlen: m.length, buf: m };
    },

    GETALL_TOKENS: (a: Args) => {
      const s = dm.session(a.sid);
      const toks = [...s.outstanding.keys()].sort((x, y) => x - y);
      if (toks.length > Number(a.nelem)) fail(E.E2BIG, 'buffer too small', { nelem: toks.length });
      const b = Buffer.alloc(4 * toks.length);
      toks.forEach((t, i) => b.writeInt32LE(t, 4 * i));
      return { nelem: toks.length, tokens: b };
    },

    MOVE_EVENT: (a: Args) => {
      const ev = dm.outstanding(a.srcsid, a.token);
      const src = dm.session(a.srcsid);
      const dst = dm.session(a.targetsid);
      src.outstanding.delete(ev.token);
      ev.sid = dst.sid;
      dst.outstanding.set(ev.token, ev);
      if (ev.sync && !ev.userevent) dm.log({ t: 'm', tok: ev.token, sid: dst.sid });
      dm.observe?.({ what: 'moved', ev, from: src.sid });
      return { token: ev.token };
    },

    PENDING: (a: Args) => {
      const ev = dm.outstanding(a.sid, a.token);
      if ((a.delay_sec as bigint) < 0n || Number(a.delay_nsec) < 0 || Number(a.delay_nsec) >= 1e9) fail(E.EINVAL, 'bad delay');
      ev.pending = true;
      ev.onPending?.();
      return {};
    },

    CREATE_USEREVENT: (a: Args) => {
      const s = dm.session(a.sid);
      const msg = a.msg as Buffer;
      if (msg.length > MAX_MESSAGE_DATA) fail(E.E2BIG, `message over ${MAX_MESSAGE_DATA} bytes`);
      const ev: DmEvent = {
        token: dm.nextToken++, type: DM_EVENT_USER, seq: dm.nextSeq++, data: msg, sync: true, sid: s.sid,
        state: 'outstanding', fsid: null, userevent: true, pending: false, raisedAt: Date.now(),
      };
      dm.tokens.set(ev.token, ev);
      s.outstanding.set(ev.token, ev);
      return { token: ev.token };
    },

    SEND_MSG: async (a: Args) => {
      const msgtype = Number(a.msgtype);
      const msg = a.msg as Buffer;
      const s = dm.session(a.sid);
      if (msgtype !== DM_MSGTYPE_SYNC && msgtype !== DM_MSGTYPE_ASYNC) fail(E.EINVAL, 'invalid message type');
      if (msg.length > MAX_MESSAGE_DATA) fail(E.E2BIG, `message over ${MAX_MESSAGE_DATA} bytes`);
      const ev = dm.enqueue(s, DM_EVENT_USER, msg, msgtype === DM_MSGTYPE_SYNC, null);
      if (msgtype === DM_MSGTYPE_ASYNC) return {};
      const ans = await new Promise<EventAnswer>((resolve) => { ev.answer = resolve; });
      if (ans.response === DM_RESP_ABORT) fail(ans.errno, 'aborted by the DM application');
      return {};
    },
  };
}
