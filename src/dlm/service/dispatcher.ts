// The master side of the client protocol: sessions (one per client connection, local on dlm.sock or
// forwarded by another node) and the execution of their requests on the engine.
//
// A session is bound to one engine process (credentials from SO_PEERCRED, with the node of origin);
// several sessions of one process (two clients in one program) share it, and the process dies in
// the engine (ownerDied) when its last session closes. A request frame is decoded completely before
// the engine sees it; a malformed frame gets an ERROR answer and changes nothing.
//
// Output is batched: answers and notifications are appended to the session's Writer and written
// once per tick (one syscall for everything a session got in one turn of the event loop).

import type { Dlm } from '../engine';
import type { DlmProcess } from '../process';
import type { BlockingRoutine, CompletionRoutine, Credentials, LockId, QueCvtOptions, QueLockOptions } from '../types';
import { DLM_VALB } from '../constants';
import { DLM_IVLOCKID, DLM_SUCCESS, DLM_SUCCVALNOTVALID, DLM_SYNCH, DLM_SYNCVALNOTVALID } from '../status';
import { MAX_CLIENT_FRAME, Reader, WireError, Writer, forEachFrame, type WireValue } from './codec';
import { CV, LK, OP, OP_MAX, PROTO_ERR, UNLOCK_QUIET, decodeRequest, decodeRequestHead, encodeMessage, encodeReply, type AnswerMap, type CvtReq, type LockReq, type Op } from './protocol';
import { adopt } from '../remaster';
import { engineName } from './directory';
import type { Resource } from '../resource';
import type { AdoptMsg } from './peer-protocol';
import { DLM_LK_GRANTED, DLM_LK_CONVERTING, DLM_LK_WAITING } from '../constants';

/** Where a session's output goes. */
export interface SessionTransport {
  /** Writes what the session produced (session.out.take()). */
  flush(session: Session): void;
  /** Ends the session's connection (output overflow); the session is closed when it is gone. */
  kick(session: Session, reason: string): void;
}

type Routine = (BlockingRoutine | CompletionRoutine) & { rid: number; first?: Uint8Array | null };

/** Most bytes of output a session may have waiting before it is cut off as not reading. */
export const MAX_PENDING_OUTPUT = 16 * 1024 * 1024;

export class Session {
  readonly out = new Writer(512);
  proc: DlmProcess | null = null;
  /** The transport's own state (the local connection, or the remote node and connection id). */
  ctx: unknown = null;
  closed = false;
  dirty = false;
  /** The current value block buffer of each lock with a pending DLM_VALB request: hndl → buffer. */
  readonly valbs = new Map<number, { seqn: number; buf: Uint8Array }>();

  constructor(
    readonly id: number,
    readonly cred: Credentials,
    readonly transport: SessionTransport,
    /** For logs: "pid 42 (uid 1000)" or "node b pid 42". */
    readonly label: string,
  ) {}
}

function granted(st: number): boolean {
  return st === DLM_SUCCESS || st === DLM_SYNCH || st === DLM_SUCCVALNOTVALID || st === DLM_SYNCVALNOTVALID;
}

const NOT_RID = 0;

export class Dispatcher {
  private readonly reader = new Reader();
  private readonly byProc = new Map<DlmProcess, Set<Session>>();
  private readonly dirty: Session[] = [];
  private flushQueued = false;
  private inputDepth = 0;
  private readonly flushAll = () => this.flushDirty();

  constructor(
    readonly engine: Dlm,
    private readonly log: { warn(msg: string): void },
  ) {}

  /** Binds a new session to its engine process. */
  open(session: Session): void {
    const proc = this.engine.process(session.cred);
    session.proc = proc;
    let set = this.byProc.get(proc);
    if (!set) this.byProc.set(proc, (set = new Set()));
    set.add(session);
  }

  /** The session's connection is gone: the process dies in the engine with its last session. */
  close(session: Session): void {
    if (session.closed) return;
    session.closed = true;
    session.valbs.clear();
    const proc = session.proc;
    if (!proc) return;
    const set = this.byProc.get(proc);
    if (set) {
      set.delete(session);
      if (set.size > 0) return;
      this.byProc.delete(proc);
    }
    if (proc.alive) this.engine.ownerDied(proc);
  }

  /**
   * Closes sessions without telling the engine: their node is gone and the caller reports it with
   * engine.nodeDied (one pass over the node's processes).
   */
  forget(sessions: Iterable<Session>): void {
    for (const session of sessions) {
      if (session.closed) continue;
      session.closed = true;
      session.valbs.clear();
      const proc = session.proc;
      if (!proc) continue;
      const set = this.byProc.get(proc);
      if (set) {
        set.delete(session);
        if (set.size === 0) this.byProc.delete(proc);
      }
    }
  }

  /** Whether a process is one of this dispatcher's clients. */
  hasSessions(proc: DlmProcess): boolean {
    return this.byProc.has(proc);
  }

  /** Sessions of a process (for the kill hook). */
  sessionsOf(proc: DlmProcess): Session[] {
    return [...(this.byProc.get(proc) ?? [])];
  }

  /** Every open session. */
  get sessionCount(): number {
    let n = 0;
    for (const s of this.byProc.values()) n += s.size;
    return n;
  }

  // ---- output -----------------------------------------------------------------------------------

  markDirty(s: Session): void {
    if (s.dirty || s.closed) return;
    s.dirty = true;
    this.dirty.push(s);
    if (!this.flushQueued && this.inputDepth === 0) {
      this.flushQueued = true;
      process.nextTick(this.flushAll);
    }
  }

  /**
   * Input from a connection is being handled: output waits for endInput(), which writes it at once
   * (no extra turn of the event loop; everything one read produced goes out in one write per session).
   */
  beginInput(): void {
    this.inputDepth++;
  }

  endInput(): void {
    if (--this.inputDepth === 0 && this.dirty.length > 0) this.flushDirty();
  }

  private flushDirty(): void {
    this.flushQueued = false;
    for (let i = 0; i < this.dirty.length; i++) {
      const s = this.dirty[i];
      s.dirty = false;
      if (s.closed) {
        s.out.pos = 0;
        continue;
      }
      if (s.out.length > 0) s.transport.flush(s);
    }
    this.dirty.length = 0;
  }

  /** Sends an ERROR message (malformed or refused frame). */
  sendError(s: Session, reqId: number, code: string, message: string): void {
    encodeMessage(s.out, 'ERROR', { reqId, code, message: message.slice(0, 512) });
    this.markDirty(s);
  }

  // ---- notifications: the routines the engine calls for remote-controlled callbacks ---------------

  private blockingRoutine(s: Session, rid: number): Routine {
    const fn = ((notprm: unknown, hint: unknown, lkid: LockId, mode: number) => {
      if (s.closed) return;
      encodeMessage(s.out, 'BLOCKING', { blkRid: rid, npRid: typeof notprm === 'number' ? notprm : NOT_RID, lkid, mode, hint: hint as WireValue });
      this.markDirty(s);
    }) as Routine;
    fn.rid = rid;
    return fn;
  }

  /**
   * The completion routine of a queued request. `first` is the value block of the new request it is
   * made for (dlm_quelock: the lock id is not known before the engine call, whose immediate grant
   * completes inside it); later completions through the same routine (a dlm_quecvt that kept it)
   * take the value block noted for the lock.
   */
  private completionRoutine(s: Session, rid: number, first: Uint8Array | null): Routine {
    const fn = ((notprm: unknown, lkid: LockId, status: number) => {
      let vb: Uint8Array | null = null;
      if (fn.first) {
        vb = fn.first;
        fn.first = null;
      } else {
        const v = s.valbs.get(lkid.hndl);
        if (v !== undefined && v.seqn === lkid.seqn) {
          vb = v.buf;
          s.valbs.delete(lkid.hndl);
        }
      }
      if (s.closed) return;
      encodeMessage(s.out, 'COMPLETION', {
        cplRid: rid, npRid: typeof notprm === 'number' ? notprm : NOT_RID, lkid, status, valb: vb !== null && granted(status) ? vb : null,
      });
      this.markDirty(s);
    }) as Routine;
    fn.rid = rid;
    fn.first = first;
    return fn;
  }

  private noteValb(s: Session, lkid: LockId | null, buf: Uint8Array | null): void {
    if (lkid === null) return;
    if (buf !== null) s.valbs.set(lkid.hndl, { seqn: lkid.seqn, buf });
    else s.valbs.delete(lkid.hndl);
  }

  // ---- requests ---------------------------------------------------------------------------------

  /** Runs one request frame (buf[start] is the op). Never throws. */
  handleFrame(s: Session, buf: Buffer, start: number, end: number): void {
    if (s.closed) return;
    const r = this.reader.reset(buf, start, end);
    const op = buf[start];
    let reqId = 0;
    try {
      if (op < 1 || op > OP_MAX) {
        if (end - start >= 5) reqId = decodeRequestHead(r).reqId;
        this.sendError(s, reqId, PROTO_ERR.UNKNOWN_OP, `unknown request type ${op}`);
        return;
      }
      reqId = decodeRequestHead(r).reqId;
      this.run(s, op as Op, reqId, r);
    } catch (e) {
      s.out.abort();
      if (e instanceof WireError) {
        this.sendError(s, reqId, PROTO_ERR.MALFORMED, `malformed request: ${e.message}`);
      } else {
        // An engine or encoding failure on one request must not take the node down.
        this.log.warn(`dlm: request type ${op} of ${s.label} failed: ${(e as Error)?.stack ?? e}`);
        this.sendError(s, reqId, 'EINTERNAL', `request failed: ${(e as Error)?.message ?? e}`);
      }
    }
    if (s.out.length > MAX_PENDING_OUTPUT) s.transport.kick(s, 'client does not read its answers');
  }

  private reply<K extends Op>(s: Session, op: K, reqId: number, status: number, m: AnswerMap[K] | null): void {
    encodeReply(s.out, op, reqId, status, m);
    this.markDirty(s);
  }

  private run(s: Session, op: Op, reqId: number, r: Reader): void {
    const p = s.proc!;
    switch (op) {
      case OP.NSJOIN: {
        const m = decodeRequest(r, op);
        const res = p.nsjoin(m.nsid, m.flags);
        return this.reply(s, op, reqId, res.status, { nsp: res.nsp ?? 0 });
      }
      case OP.NSLEAVE: {
        const m = decodeRequest(r, op);
        return this.reply(s, op, reqId, p.nsleave(m.nsp, m.flags), null);
      }
      case OP.DETACH:
        decodeRequest(r, op);
        return this.reply(s, op, reqId, p.detach(), null);
      case OP.SETSIGNAL: {
        const m = decodeRequest(r, op);
        const res = p.setSignal(m.sig);
        return this.reply(s, op, reqId, res.status, { oldsig: res.oldsig ?? 0 });
      }
      case OP.NOTIFY:
        decodeRequest(r, op);
        return this.reply(s, op, reqId, DLM_SUCCESS, { count: p.notify() });
      case OP.LOCK:
      case OP.QUELOCK:
        return this.lock(s, p, op, reqId, decodeRequest(r, op));
      case OP.CVT:
      case OP.QUECVT:
        return this.convert(s, p, op, reqId, decodeRequest(r, op));
      case OP.UNLOCK: {
        const m = decodeRequest(r, op);
        const st = p.unlock(m.lkid ?? NO_LOCK, m.valb, m.flags);
        if (st === DLM_SUCCESS && m.lkid !== null) s.valbs.delete(m.lkid.hndl);
        // UNLOCK_QUIET: the client already counts on success; only a failure is worth a message.
        if (m.options & UNLOCK_QUIET && st === DLM_SUCCESS) return;
        return this.reply(s, op, reqId, st, null);
      }
      case OP.CANCEL: {
        const m = decodeRequest(r, op);
        return this.reply(s, op, reqId, p.cancel(m.lkid ?? NO_LOCK, m.flags), null);
      }
      case OP.GLC_CREATE: {
        const m = decodeRequest(r, op);
        const res = p.glcCreate(m.flags, m.nsList);
        return this.reply(s, op, reqId, res.status, { id: res.id ?? 0 });
      }
      case OP.GLC_ATTACH: {
        const m = decodeRequest(r, op);
        return this.reply(s, op, reqId, p.glcAttach(m.id, m.flags), null);
      }
      case OP.GLC_DETACH:
        decodeRequest(r, op);
        return this.reply(s, op, reqId, p.glcDetach(), null);
      case OP.GLC_DESTROY: {
        const m = decodeRequest(r, op);
        return this.reply(s, op, reqId, p.glcDestroy(m.id, m.flags), null);
      }
      case OP.RD_ATTACH: {
        const m = decodeRequest(r, op);
        const res = p.rdAttach(m.name, m.flags);
        return this.reply(s, op, reqId, res.status, { rdId: res.rdId ?? 0 });
      }
      case OP.RD_DETACH: {
        const m = decodeRequest(r, op);
        return this.reply(s, op, reqId, p.rdDetach(m.rdId, m.flags), null);
      }
      case OP.RD_COLLECT: {
        const m = decodeRequest(r, op);
        const res = p.rdCollect(m.rdId, m.flags);
        return this.reply(s, op, reqId, res.status, { hndl: res.hndl ?? 0, resources: res.resources ?? [] });
      }
      case OP.RD_VALIDATE: {
        const m = decodeRequest(r, op);
        return this.reply(s, op, reqId, p.rdValidate(m.rdId, m.hndl, m.flags), null);
      }
      case OP.LKINFO: {
        const m = decodeRequest(r, op);
        const res = p.getLkinfo(m.lkid ?? NO_LOCK);
        const i = res.info;
        return this.reply(s, op, reqId, res.status, i ? {
          resnam: i.resnam, parlkid: i.parlkid, rqmode: i.rqmode, valb: i.valb, flags: i.flags,
          npRid: typeof i.notprm === 'number' ? i.notprm : NOT_RID, hint: i.hint as WireValue,
          blkRid: ridOf(i.blkrtn), timeout: i.timeout, cplRid: ridOf(i.cplrtn), sig: i.sig, grmode: i.grmode, lkstate: i.lkstate, lkPid: i.lk_pid,
        } : null);
      }
      case OP.RSBINFO: {
        const m = decodeRequest(r, op);
        const res = p.getRsbinfo(m.nsp, m.resnam, m.parlkid);
        return this.reply(s, op, reqId, res.status, res.info ?? null);
      }
      default:
        throw new WireError(`unhandled request type ${op}`);
    }
  }

  /** A dlm_lock / dlm_cvt that had to wait ends: WAITDONE with the value block read at the grant. */
  private waitDone(s: Session, reqId: number, wait: Promise<number>, valb: Uint8Array | null): void {
    wait.then(
      (st) => {
        if (s.closed) return;
        encodeMessage(s.out, 'WAITDONE', { reqId, status: st, valb: valb !== null && granted(st) ? valb : null });
        this.markDirty(s);
      },
      () => undefined,
    );
  }

  /** dlm_lock / dlm_quelock. */
  private lock(s: Session, p: DlmProcess, op: typeof OP.LOCK | typeof OP.QUELOCK, reqId: number, m: LockReq): void {
    const sync = op === OP.LOCK;
    const { flags, timeout, bits, rid } = m;
    const valb = m.valb ?? null;
    const parlkid = m.parlkid ?? null;
    if (bits & LK.PARENT && parlkid === null) return this.reply(s, op, reqId, DLM_IVLOCKID, null);
    // The options object is built only as far as the request needs (the common request has none
    // of the optional parts).
    let o: QueLockOptions | undefined;
    if (flags !== 0 || timeout !== 0 || bits !== 0) {
      o = { flags, timeout };
      if (valb !== null) o.valb = valb;
      if (parlkid !== null) o.parlkid = parlkid;
      if (bits & LK.TRANID) o.tranid = m.tranid as never;
      if (bits & LK.RDID) o.rdId = m.rdId;
      if (bits & LK.HINT) o.hint = m.hint;
      if (bits & LK.NOTPRM) o.notprm = rid;
      if (bits & LK.BLK) o.blkrtn = this.blockingRoutine(s, rid) as BlockingRoutine;
    }
    const useValb = valb !== null && (flags & DLM_VALB) !== 0 ? valb : null;
    // A queued request always gets a completion routine here: the client learns the outcome (and the
    // value block) even when it gave none; it calls its own routine if it has one.
    let cpl: Routine | null = null;
    if (!sync) {
      if (o === undefined) o = {};
      cpl = this.completionRoutine(s, bits & LK.CPL ? rid : NOT_RID, useValb);
      o.cplrtn = cpl as CompletionRoutine;
    }
    const res = sync ? p.lock(m.nsp, m.resnam, m.mode, o) : p.quelock(m.nsp, m.resnam, m.mode, o);
    // Granted with DLM_SYNCH, or refused: no completion for this request, the value block (if any)
    // goes with the answer and the routine must not ship it later.
    if (cpl !== null && res.status !== DLM_SUCCESS) cpl.first = null;
    if (res.wait !== null) {
      this.reply(s, op, reqId, res.status, { lkid: res.lkid, waits: 1, valb: null });
      return this.waitDone(s, reqId, res.wait, useValb);
    }
    const vb = useValb !== null && granted(res.status) && (sync || res.status !== DLM_SUCCESS) ? useValb : null;
    this.reply(s, op, reqId, res.status, { lkid: res.lkid, waits: 0, valb: vb });
  }

  /** Runs the client frames of a FWD message (another node's client) as one input. */
  feed(s: Session, buf: Buffer, start: number, end: number): void {
    this.beginInput();
    try {
      forEachFrame(buf, start, end, MAX_CLIENT_FRAME, (b, fs, fe) => this.handleFrame(s, b, fs, fe));
    } finally {
      this.endInput();
    }
  }

  /**
   * Puts back a lock another node's client holds (re-mastering, remaster.ts) with the routines its
   * request had; a request that still waits answers its WAITDONE or completion from here.
   */
  adopt(s: Session, m: AdoptMsg): { status: number; res?: Resource } {
    const p = s.proc!;
    const state = m.state === DLM_LK_GRANTED ? DLM_LK_GRANTED : m.state === DLM_LK_CONVERTING ? DLM_LK_CONVERTING : DLM_LK_WAITING;
    const useValb = m.valb !== null && (m.flags & DLM_VALB) !== 0 ? m.valb : null;
    const blk = m.bits & LK.BLK ? (this.blockingRoutine(s, m.rid) as BlockingRoutine) : null;
    const cpl = m.quelock ? (this.completionRoutine(s, m.bits & LK.CPL ? m.rid : NOT_RID, state === DLM_LK_GRANTED ? null : useValb) as CompletionRoutine) : null;
    const res = adopt(this.engine, p.record, {
      lkid: m.lkid, nsp: m.nsp, resnam: engineName(m.resnam),
      parlkid: m.parlkid, state, grmode: m.grmode, rqmode: m.rqmode, flags: m.flags,
      notprm: m.bits & LK.NOTPRM ? m.rid : undefined, hint: m.hint, blkrtn: blk, cplrtn: cpl, valb: m.valb,
      sync: m.waitReq !== 0 && state !== DLM_LK_GRANTED,
    });
    if (res.wait !== null) this.waitDone(s, m.waitReq, res.wait, useValb);
    return { status: res.status, res: res.res };
  }

  /** dlm_cvt / dlm_quecvt. */
  private convert(s: Session, p: DlmProcess, op: typeof OP.CVT | typeof OP.QUECVT, reqId: number, m: CvtReq): void {
    const sync = op === OP.CVT;
    const lkid = m.lkid ?? NO_LOCK;
    const { flags, timeout, bits, rid } = m;
    const valb = m.valb ?? null;
    let o: QueCvtOptions | undefined;
    if (flags !== 0 || timeout !== 0 || bits !== 0) {
      o = { flags, timeout };
      if (valb !== null) o.valb = valb;
      if (bits & CV.NOTPRM) o.notprm = rid;
      if (bits & CV.HINT) o.hint = m.hint;
      if (bits & CV.BLK_SET) o.blkrtn = bits & CV.BLK_FN ? (this.blockingRoutine(s, rid) as BlockingRoutine) : null;
      if (!sync && bits & CV.CPL_SET) o.cplrtn = this.completionRoutine(s, bits & CV.CPL_FN ? rid : NOT_RID, null) as CompletionRoutine;
    }
    const useValb = valb !== null && (flags & DLM_VALB) !== 0 ? valb : null;
    let prev: { seqn: number; buf: Uint8Array } | undefined;
    if (!sync) {
      prev = s.valbs.get(lkid.hndl);
      this.noteValb(s, lkid, useValb);
    }
    let st: number;
    let wait: Promise<number> | null = null;
    if (sync) {
      const res = p.cvt(lkid, m.mode, o);
      st = res.status;
      wait = res.wait;
    } else {
      st = p.quecvt(lkid, m.mode, o);
      // Refused at once: the lock's pending value block is what it was.
      if (!granted(st)) {
        if (prev !== undefined) s.valbs.set(lkid.hndl, prev);
        else s.valbs.delete(lkid.hndl);
      }
    }
    if (wait !== null) {
      this.reply(s, op, reqId, st, { lkid, waits: 1, valb: null });
      return this.waitDone(s, reqId, wait, useValb);
    }
    const vb = useValb !== null && granted(st) && (sync || st !== DLM_SUCCESS) ? useValb : null;
    this.reply(s, op, reqId, st, { lkid, waits: 0, valb: vb });
  }
}

function ridOf(fn: unknown): number {
  return fn ? ((fn as Routine).rid ?? NOT_RID) : NOT_RID;
}

const NO_LOCK: LockId = Object.freeze({ hndl: 0, seqn: 0 });
