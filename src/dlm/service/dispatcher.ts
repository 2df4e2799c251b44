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
import { DLM_VALB, DLM_VALBLKSIZE } from '../constants';
import { DLM_IVLOCKID, DLM_SUCCESS, DLM_SUCCVALNOTVALID, DLM_SYNCH, DLM_SYNCVALNOTVALID } from '../status';
import { MAX_CLIENT_FRAME, Reader, WireError, Writer, readValue, writeValue } from './codec';
import { CV, LK, MSG, OP, OP_MAX, PROTO_ERR, UNLOCK_QUIET, readLkid, writeLkid, writeValb } from './protocol';

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

/** Resource name from the wire: ASCII as a string (the engine's own key form), else the bytes. */
function readResnam(r: Reader): string | Uint8Array {
  const n = r.u8();
  const start = r.pos;
  r.pos += n;
  if (r.pos > r.end) throw new WireError('truncated resource name');
  const b = r.buf;
  for (let i = start; i < start + n; i++) {
    if (b[i] > 0x7f) return Uint8Array.prototype.slice.call(b, start, start + n);
  }
  return b.toString('latin1', start, start + n);
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
    const w = s.out;
    w.begin(MSG.ERROR).u32(reqId).str(code).str(message.slice(0, 512));
    w.end(MAX_CLIENT_FRAME);
    this.markDirty(s);
  }

  // ---- notifications: the routines the engine calls for remote-controlled callbacks ---------------

  private blockingRoutine(s: Session, rid: number): Routine {
    const fn = ((notprm: unknown, hint: unknown, lkid: LockId, mode: number) => {
      if (s.closed) return;
      const w = s.out;
      w.begin(MSG.BLOCKING).u32(rid).u32(typeof notprm === 'number' ? notprm : NOT_RID);
      writeLkid(w, lkid);
      w.u8(mode);
      writeValue(w, hint as never);
      w.end(MAX_CLIENT_FRAME);
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
      const w = s.out;
      w.begin(MSG.COMPLETION).u32(rid).u32(typeof notprm === 'number' ? notprm : NOT_RID);
      writeLkid(w, lkid);
      w.i32(status);
      writeValb(w, vb !== null && granted(status) ? vb : null);
      w.end(MAX_CLIENT_FRAME);
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
    const op = r.u8();
    let reqId = 0;
    try {
      if (op < 1 || op > OP_MAX) {
        if (r.remaining >= 4) reqId = r.u32();
        this.sendError(s, reqId, PROTO_ERR.UNKNOWN_OP, `unknown request type ${op}`);
        return;
      }
      reqId = r.u32();
      this.run(s, op, reqId, r);
    } catch (e) {
      const w = s.out;
      w.abort();
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

  private reply(s: Session, reqId: number, status: number): Writer {
    const w = s.out;
    w.begin(MSG.REPLY).u32(reqId).i32(status);
    return w;
  }

  private endReply(s: Session): void {
    s.out.end(MAX_CLIENT_FRAME);
    this.markDirty(s);
  }

  private run(s: Session, op: number, reqId: number, r: Reader): void {
    const p = s.proc!;
    switch (op) {
      case OP.NSJOIN: {
        const nsid = r.u32();
        const flags = r.u32();
        r.done();
        const res = p.nsjoin(nsid, flags);
        this.reply(s, reqId, res.status).u32(res.nsp ?? 0);
        return this.endReply(s);
      }
      case OP.NSLEAVE: {
        const nsp = r.u32();
        const flags = r.u32();
        r.done();
        this.reply(s, reqId, p.nsleave(nsp, flags));
        return this.endReply(s);
      }
      case OP.DETACH:
        r.done();
        this.reply(s, reqId, p.detach());
        return this.endReply(s);
      case OP.SETSIGNAL: {
        const sig = r.i32();
        r.done();
        const res = p.setSignal(sig);
        this.reply(s, reqId, res.status).i32(res.oldsig ?? 0);
        return this.endReply(s);
      }
      case OP.NOTIFY: {
        r.done();
        const n = p.notify();
        this.reply(s, reqId, DLM_SUCCESS).u32(n);
        return this.endReply(s);
      }
      case OP.LOCK:
      case OP.QUELOCK:
        return this.lock(s, p, op === OP.LOCK, reqId, r);
      case OP.CVT:
      case OP.QUECVT:
        return this.convert(s, p, op === OP.CVT, reqId, r);
      case OP.UNLOCK: {
        const lkid = readLkid(r);
        const flags = r.u32();
        const hasValb = r.u8();
        const valb = hasValb ? r.bytes(DLM_VALBLKSIZE) : null;
        const opts = r.remaining > 0 ? r.u8() : 0;
        r.done();
        const st = lkid === null ? p.unlock(NO_LOCK, valb, flags) : p.unlock(lkid, valb, flags);
        if (st === DLM_SUCCESS && lkid !== null) s.valbs.delete(lkid.hndl);
        // UNLOCK_QUIET: the client already counts on success; only a failure is worth a message.
        if (opts & UNLOCK_QUIET && st === DLM_SUCCESS) return;
        this.reply(s, reqId, st);
        return this.endReply(s);
      }
      case OP.CANCEL: {
        const lkid = readLkid(r) ?? NO_LOCK;
        const flags = r.u32();
        r.done();
        this.reply(s, reqId, p.cancel(lkid, flags));
        return this.endReply(s);
      }
      case OP.GLC_CREATE: {
        const flags = r.u32();
        const n = r.u8();
        const list: number[] = [];
        for (let i = 0; i < n; i++) list.push(r.u32());
        r.done();
        const res = p.glcCreate(flags, list);
        this.reply(s, reqId, res.status).u32(res.id ?? 0);
        return this.endReply(s);
      }
      case OP.GLC_ATTACH: {
        const id = r.u32();
        const flags = r.u32();
        r.done();
        this.reply(s, reqId, p.glcAttach(id, flags));
        return this.endReply(s);
      }
      case OP.GLC_DETACH:
        r.done();
        this.reply(s, reqId, p.glcDetach());
        return this.endReply(s);
      case OP.GLC_DESTROY: {
        const id = r.u32();
        const flags = r.u32();
        r.done();
        this.reply(s, reqId, p.glcDestroy(id, flags));
        return this.endReply(s);
      }
      case OP.RD_ATTACH: {
        const name = r.str(255);
        const flags = r.u32();
        r.done();
        const res = p.rdAttach(name, flags);
        this.reply(s, reqId, res.status).u32(res.rdId ?? 0);
        return this.endReply(s);
      }
      case OP.RD_DETACH: {
        const rdId = r.u32();
        const flags = r.u32();
        r.done();
        this.reply(s, reqId, p.rdDetach(rdId, flags));
        return this.endReply(s);
      }
      case OP.RD_COLLECT: {
        const rdId = r.u32();
        const flags = r.u32();
        r.done();
        const res = p.rdCollect(rdId, flags);
        const w = this.reply(s, reqId, res.status).u32(res.hndl ?? 0);
        const list = res.resources ?? [];
        w.u16(list.length);
        for (const c of list) {
          w.str(c.namespace).u8(c.path.length);
          for (const seg of c.path) w.short(seg);
          w.bytes(c.valb, DLM_VALBLKSIZE).f64(c.vbseqnum);
        }
        return this.endReply(s);
      }
      case OP.RD_VALIDATE: {
        const rdId = r.u32();
        const hndl = r.u32();
        const flags = r.u32();
        r.done();
        this.reply(s, reqId, p.rdValidate(rdId, hndl, flags));
        return this.endReply(s);
      }
      case OP.LKINFO: {
        const lkid = readLkid(r) ?? NO_LOCK;
        r.done();
        const res = p.getLkinfo(lkid);
        const w = this.reply(s, reqId, res.status);
        const i = res.info;
        if (i) {
          w.short(i.resnam);
          writeLkid(w, i.parlkid);
          w.u8(i.rqmode);
          writeValb(w, i.valb);
          w.u32(i.flags).u32(typeof i.notprm === 'number' ? i.notprm : NOT_RID);
          writeValue(w, i.hint as never);
          w.u32(i.blkrtn ? ((i.blkrtn as Routine).rid ?? NOT_RID) : NOT_RID);
          w.u32(i.timeout).u32(i.cplrtn ? ((i.cplrtn as Routine).rid ?? NOT_RID) : NOT_RID);
          w.i32(i.sig).u8(i.grmode).u8(i.lkstate).u32(i.lk_pid);
        }
        return this.endReply(s);
      }
      case OP.RSBINFO: {
        const nsp = r.u32();
        const resnam = readResnam(r);
        const parlkid = readLkid(r);
        r.done();
        const res = p.getRsbinfo(nsp, resnam, parlkid);
        const w = this.reply(s, reqId, res.status);
        const i = res.info;
        if (i) {
          w.i32(i.vbstatus).f64(i.vbseqnum).u32(i.subrescnt).u32(i.lckcnt).u32(i.blkastcnt).u32(i.ggcnt);
          w.u8(i.ggmode).u8(i.cvtqmode).u8(i.wtqmode).bytes(i.valb, DLM_VALBLKSIZE);
        }
        return this.endReply(s);
      }
      default:
        throw new WireError(`unhandled request type ${op}`);
    }
  }

  /** dlm_lock / dlm_quelock. */
  private lock(s: Session, p: DlmProcess, sync: boolean, reqId: number, r: Reader): void {
    const nsp = r.u32();
    const mode = r.u8();
    const flags = r.u32();
    const timeout = r.u32();
    const rid = r.u32();
    const bits = r.u8();
    const resnam = readResnam(r);
    const parlkid = bits & LK.PARENT ? readLkid(r) : null;
    const tranid = bits & LK.TRANID ? readValue(r) : undefined;
    const rdId = bits & LK.RDID ? r.u32() : undefined;
    const valb = bits & LK.VALB ? r.bytes(DLM_VALBLKSIZE) : null;
    const hint = bits & LK.HINT ? readValue(r) : undefined;
    r.done();
    if (bits & LK.PARENT && parlkid === null) {
      this.reply(s, reqId, DLM_IVLOCKID);
      return this.endReply(s);
    }
    // The options object is built only as far as the request needs (the common request has none
    // of the optional parts).
    let o: QueLockOptions | undefined;
    if (flags !== 0 || timeout !== 0 || bits !== 0) {
      o = { flags, timeout };
      if (valb !== null) o.valb = valb;
      if (parlkid !== null) o.parlkid = parlkid;
      if (bits & LK.TRANID) o.tranid = tranid as never;
      if (rdId !== undefined) o.rdId = rdId;
      if (bits & LK.HINT) o.hint = hint;
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
    const res = sync ? p.lock(nsp, resnam, mode, o) : p.quelock(nsp, resnam, mode, o);
    const lkid = res.lkid;
    // Granted with DLM_SYNCH, or refused: no completion for this request, the value block (if any)
    // goes with the answer and the routine must not ship it later.
    if (cpl !== null && res.status !== DLM_SUCCESS) cpl.first = null;
    const w = this.reply(s, reqId, res.status);
    writeLkid(w, lkid);
    if (res.wait !== null) {
      w.u8(1).u8(0);
      this.endReply(s);
      res.wait.then(
        (st) => {
          if (s.closed) return;
          const ww = s.out;
          ww.begin(MSG.WAITDONE).u32(reqId).i32(st);
          writeValb(ww, useValb !== null && granted(st) ? useValb : null);
          ww.end(MAX_CLIENT_FRAME);
          this.markDirty(s);
        },
        () => undefined,
      );
      return;
    }
    w.u8(0);
    writeValb(w, useValb !== null && granted(res.status) && (sync || res.status !== DLM_SUCCESS) ? useValb : null);
    this.endReply(s);
  }

  /** dlm_cvt / dlm_quecvt. */
  private convert(s: Session, p: DlmProcess, sync: boolean, reqId: number, r: Reader): void {
    const lkid = readLkid(r) ?? NO_LOCK;
    const mode = r.u8();
    const flags = r.u32();
    const timeout = r.u32();
    const rid = r.u32();
    const bits = r.u8();
    const valb = bits & CV.VALB ? r.bytes(DLM_VALBLKSIZE) : null;
    const hint = bits & CV.HINT ? readValue(r) : undefined;
    r.done();
    let o: QueCvtOptions | undefined;
    if (flags !== 0 || timeout !== 0 || bits !== 0) {
      o = { flags, timeout };
      if (valb !== null) o.valb = valb;
      if (bits & CV.NOTPRM) o.notprm = rid;
      if (bits & CV.HINT) o.hint = hint;
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
      const res = p.cvt(lkid, mode, o);
      st = res.status;
      wait = res.wait;
    } else {
      st = p.quecvt(lkid, mode, o);
      // Refused at once: the lock's pending value block is what it was.
      if (!granted(st)) {
        if (prev !== undefined) s.valbs.set(lkid.hndl, prev);
        else s.valbs.delete(lkid.hndl);
      }
    }
    const w = this.reply(s, reqId, st);
    writeLkid(w, lkid);
    if (wait !== null) {
      w.u8(1).u8(0);
      this.endReply(s);
      wait.then(
        (fin) => {
          if (s.closed) return;
          const ww = s.out;
          ww.begin(MSG.WAITDONE).u32(reqId).i32(fin);
          writeValb(ww, useValb !== null && granted(fin) ? useValb : null);
          ww.end(MAX_CLIENT_FRAME);
          this.markDirty(s);
        },
        () => undefined,
      );
      return;
    }
    w.u8(0);
    writeValb(w, useValb !== null && granted(st) && (sync || st !== DLM_SUCCESS) ? useValb : null);
    this.endReply(s);
  }
}

const NO_LOCK: LockId = Object.freeze({ hndl: 0, seqn: 0 });
