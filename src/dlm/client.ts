// The DLM client: the engine's per-process API (DlmProcess) over the node's local socket, with
// every call asynchronous.
//
//   const c = await DlmClient.connect({ node: 'n1' });      // <run>/<node>/dlm.sock
//   const { nsp } = await c.nsjoin(process.getuid(), DLM_USER);
//   const r = await c.lock(nsp!, 'R', DLM_EXMODE);
//   if (r.wait) await r.wait;                               // dlm_lock had to wait
//   await c.unlock(r.lkid!);
//   c.close();
//
// Results are the engine's (statuses, lock ids, `wait` promises); blocking and completion routines
// run in this process when the node's notifications arrive (after setSignal(0), only when notify()
// asks for them, as dlm_notify). The node knows who we are from the socket (SO_PEERCRED): nothing
// here can claim another identity. When the connection is lost, pending requests and waits end
// with DLM_ENOSYS (the lock manager is not reachable) and later calls answer DLM_ENOSYS; a 'reset'
// event says the node lost its locks (its lock master went away) while the connection stayed.
// With membership from etcd the node sends a lease (MSG.LEASE): past its end this process' locks
// may be granted elsewhere, so the client resets itself then, even if the node daemon is stopped
// and cannot say so (the node fences itself at the same time, see membership.ts).
//
// Events: 'reset' (reason), 'close' (reason).

import { EventEmitter } from 'events';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { defaultNodeName, runBase } from '../common/paths';
import { DLM_DEFAULT_SIGNAL, DLM_GROUP_LOCK, DLM_INVVALBLK, DLM_VALB, DLM_VALBLKSIZE } from './constants';
import {
  DLM_BADPARAM,
  DLM_ENOSYS,
  DLM_IVBUFLEN,
  DLM_IVLOCKID,
  DLM_SUCCESS,
  DLM_SUCCVALNOTVALID,
  DLM_SYNCH,
  DLM_SYNCVALNOTVALID,
  type DlmStatus,
} from './status';
import type {
  BlockingRoutine,
  CompletionRoutine,
  ConvertOptions,
  GlcCreateResult,
  LkInfoResult,
  LockId,
  LockOptions,
  LockResult,
  NsJoinResult,
  QueCvtOptions,
  QueLockOptions,
  RdAttachResult,
  RdCollectResult,
  RsbInfoResult,
  SetSignalResult,
} from './types';
import { FrameDecoder, MAX_CLIENT_FRAME, Reader, Writer, isWireValue, type WireValue } from './service/codec';
import {
  CV, LK, MSG, OP, UNLOCK_QUIET, decodeMessage, decodeReply, decodeReplyHead, encodeRequest,
  type AnswerMap, type LockAns, type Op, type RequestMap,
} from './service/protocol';

export interface DlmClientOptions {
  /** Node whose daemon to use (default: the host name). */
  node?: string;
  /** Run directory (default: $DMAPIFS_RUN_DIR or /run/dmapifs). */
  runDir?: string;
  /** The socket itself (overrides node and runDir). */
  socketPath?: string;
  /** Milliseconds to wait for the connection (default 5000). */
  connectTimeoutMs?: number;
  /**
   * Wait for the node's answer to every dlm_unlock (default false). By default an unlock whose
   * outcome is certain here is answered DLM_SUCCESS as soon as the node has the request (see
   * DlmClient.unlock); with true, every unlock takes a round trip.
   */
  confirmUnlocks?: boolean;
}

/** The socket of a node's lock manager. */
export function dlmSocketPath(node: string = defaultNodeName(), runDir: string = runBase()): string {
  return path.join(runDir, node, 'dlm.sock');
}

/** What the client keeps for a request that gave notprm, routines or a queued value block. */
interface Rec {
  notprm: unknown;
  blkrtn: BlockingRoutine | null;
  cplrtn: CompletionRoutine | null;
  /** dlm_quelock's value block, filled by its completion (its lock id is not known when sent). */
  valb: Uint8Array | null;
}

/** A lock this client knows of: the rids it references, and what is pending on it. */
interface ClientLock {
  seqn: number;
  rids: number[];
  /** Granted at least once (a failed request then reverts instead of removing the lock). */
  granted: boolean;
  /** Queued requests (quelock / quecvt) whose completion is still to come. */
  pendingCpl: number;
  /** Completions that arrived before the answer of their request (an immediate grant). */
  earlyCpl: number;
  /** dlm_quecvt's value block, filled by its completion. */
  valb: Uint8Array | null;
}

/** Turns an answer (its fields, or null when it has none) into the call's result. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Decode = (a: any, status: number, reqId: number, p: Pending) => unknown;

interface Pending {
  op: Op;
  resolve: (v: unknown) => void;
  decode: Decode;
  // lock / quelock / cvt / quecvt (kept here rather than in a closure per request):
  rid: number;
  sync: boolean;
  isNew: boolean;
  valb: Uint8Array | null;
  group: boolean;
}

/** What an unlock answered at once returns (a settled promise can be shared). */
const UNLOCKED: Promise<DlmStatus> = Promise.resolve(DLM_SUCCESS);

interface Waiter {
  result: LockResult;
  resolve: (s: DlmStatus) => void;
  valb: Uint8Array | null;
  /** dlm_lock (a failure then removes the lock) rather than dlm_cvt. */
  isNew: boolean;
  /** A group lock (never unlocked without the node's answer). */
  group: boolean;
  lkid: LockId | null;
}

function grantStatus(st: number): boolean {
  return st === DLM_SUCCESS || st === DLM_SYNCH || st === DLM_SUCCVALNOTVALID || st === DLM_SYNCVALNOTVALID;
}

function u32ok(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
}

function i32ok(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= -0x80000000 && v <= 0x7fffffff;
}

function lkidOk(id: unknown): id is LockId {
  return typeof id === 'object' && id !== null && u32ok((id as LockId).hndl) && Number.isSafeInteger((id as LockId).seqn) && (id as LockId).seqn >= 0;
}

export class DlmClient extends EventEmitter {
  private readonly out = new Writer(1024);
  private flushQueued = false;
  private readonly flushNow = () => this.flush();
  private readonly reader = new Reader();
  private nextReq = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly waiters = new Map<number, Waiter>();
  private nextRid = 1;
  private readonly recs = new Map<number, Rec>();
  private readonly locks = new Map<number, ClientLock>();
  /** Rids of locks gone while notifications are polled (setSignal(0)): freed after the next notify. */
  private zombies: number[] = [];
  private signal = DLM_DEFAULT_SIGNAL;
  /** Process locks known granted to us: hndl → seqn (what an unlock without waiting needs). */
  private readonly held = new Map<number, number>();
  /** Locks that are (or were) parents of our sublocks, and group locks: their unlock is always asked. */
  private readonly unsure = new Set<number>();
  private closedReason: string | null = null;
  private deferredErrors: unknown[] = [];

  private readonly decoder: FrameDecoder;
  private readonly confirmUnlocks: boolean;

  private constructor(private readonly sock: net.Socket, readonly socketPath: string, opts: DlmClientOptions) {
    super();
    this.confirmUnlocks = opts.confirmUnlocks === true;
    this.decoder = new FrameDecoder(
      MAX_CLIENT_FRAME,
      (buf, s, e) => this.onFrame(buf, s, e),
      (len) => this.shutdown(`the node sent a frame of ${len} bytes`),
      () => undefined,
    );
    sock.on('error', () => undefined);
    sock.on('close', () => this.shutdown('the node closed the connection'));
    process.on('exit', this.onExit);
  }

  /** The process exits: what is still unwritten (an unlock answered early) goes out now. */
  private readonly onExit = () => {
    if (this.closedReason !== null || this.out.length === 0) return;
    const fd = (this.sock as unknown as { _handle?: { fd?: number } | null })._handle?.fd;
    if (typeof fd !== 'number' || fd < 0) return;
    const buf = this.out.take();
    for (let off = 0, tries = 0; off < buf.length && tries < 1000; tries++) {
      try {
        off += fs.writeSync(fd, buf, off);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') return;
      }
    }
  };

  /** Input from the node (read into one reused buffer: the decoder copies what it keeps). */
  private input(chunk: Buffer): void {
    this.decoder.push(chunk);
    if (this.deferredErrors.length) {
      const errs = this.deferredErrors.splice(0);
      // A routine threw: report it as an uncaught exception of this process, as a throwing
      // callback of any Node API would, after the protocol state is consistent again.
      for (const e of errs) setImmediate(() => { throw e; });
    }
  }

  /** Connects to the node's lock manager. */
  static connect(opts: DlmClientOptions = {}): Promise<DlmClient> {
    const socketPath = opts.socketPath ?? dlmSocketPath(opts.node, opts.runDir);
    return new Promise((resolve, reject) => {
      let client: DlmClient | null = null;
      const readBuf = Buffer.allocUnsafe(64 * 1024);
      const sock = net.createConnection({
        path: socketPath,
        onread: { buffer: readBuf, callback: (n: number, buf: Uint8Array) => { client?.input((buf as Buffer).subarray(0, n)); } },
      } as unknown as net.NetConnectOpts);
      const timer = setTimeout(() => {
        sock.destroy();
        reject(Object.assign(new Error(`no answer from ${socketPath}`), { code: 'ETIMEDOUT' }));
      }, opts.connectTimeoutMs ?? 5000);
      sock.once('connect', () => {
        clearTimeout(timer);
        sock.removeAllListeners('error');
        client = new DlmClient(sock, socketPath, opts);
        resolve(client);
      });
      sock.once('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(Object.assign(new Error(`cannot connect to the lock manager at ${socketPath}: ${e.message}`), { code: e.code ?? 'ECONNREFUSED' }));
      });
    });
  }

  /** This process. */
  get pid(): number {
    return process.pid;
  }

  /** This process' user and group (what the node sees through SO_PEERCRED). */
  get uid(): number {
    return process.getuid?.() ?? 0;
  }

  get gid(): number {
    return process.getgid?.() ?? 0;
  }

  /** False once the connection is gone. */
  get connected(): boolean {
    return this.closedReason === null;
  }

  /** As DlmProcess.alive: false once the connection is gone (the node then counts us dead). */
  get alive(): boolean {
    return this.closedReason === null;
  }

  /** Closes the connection: the node releases this process' locks (as on exit). */
  close(): void {
    if (this.closedReason !== null) return;
    // What is written (an unlock answered early) still reaches the node; then the connection ends.
    this.flush();
    this.sock.end();
    const timer = setTimeout(() => this.sock.destroy(), 2000);
    timer.unref();
    this.sock.once('finish', () => this.sock.destroy());
    this.shutdown('closed by the client', false);
  }

  // ==== the API =====================================================================================

  /** dlm_nsjoin(nsid, &nsp, flags). */
  nsjoin(nsid: number, flags = 0): Promise<NsJoinResult> {
    if (!u32ok(nsid) || !u32ok(flags)) return Promise.resolve({ status: DLM_BADPARAM });
    this.encode(OP.NSJOIN, { nsid, flags });
    return this.send(OP.NSJOIN, decodeNsjoin) as Promise<NsJoinResult>;
  }

  /** dlm_nsleave(&nsp, flags). */
  nsleave(nsp: number, flags = 0): Promise<DlmStatus> {
    if (!u32ok(nsp) || !u32ok(flags)) return Promise.resolve(DLM_BADPARAM);
    this.encode(OP.NSLEAVE, { nsp, flags });
    return this.send(OP.NSLEAVE, decodeStatus) as Promise<DlmStatus>;
  }

  /** dlm_detach(). */
  detach(): Promise<DlmStatus> {
    this.encode(OP.DETACH, {});
    return this.send(OP.DETACH, decodeStatus) as Promise<DlmStatus>;
  }

  /** dlm_set_signal(newsig, &oldsig): 0 = notifications only through notify(). */
  setSignal(newsig: number): Promise<SetSignalResult> {
    if (!i32ok(newsig)) return Promise.resolve({ status: DLM_BADPARAM });
    this.encode(OP.SETSIGNAL, { sig: newsig });
    return (this.send(OP.SETSIGNAL, decodeSetSignal) as Promise<SetSignalResult>).then((r) => {
      if (r.status === DLM_SUCCESS) {
        this.signal = newsig;
        if (newsig !== 0) this.freeZombies(this.zombies.length);
      }
      return r;
    });
  }

  /** dlm_notify(): has the node deliver pending notifications (their routines run here first). */
  notify(): Promise<number> {
    this.encode(OP.NOTIFY, {});
    const zombies = this.zombies.length;
    return (this.send(OP.NOTIFY, decodeCount) as Promise<number>).then((n) => {
      this.freeZombies(zombies);
      return n;
    });
  }

  /** dlm_lock / dlm_locktp: when the request has to wait, `wait` resolves with its final status. */
  lock(nsp: number, resnam: string | Uint8Array, mode: number, opts?: LockOptions): Promise<LockResult> {
    return this.request(OP.LOCK, nsp, resnam, mode, opts);
  }

  /** dlm_quelock / dlm_quelocktp: the completion routine reports the outcome. */
  quelock(nsp: number, resnam: string | Uint8Array, mode: number, opts?: QueLockOptions): Promise<LockResult> {
    return this.request(OP.QUELOCK, nsp, resnam, mode, opts);
  }

  /** dlm_cvt. */
  cvt(lkid: LockId, mode: number, opts?: ConvertOptions): Promise<LockResult> {
    return this.convert(OP.CVT, lkid, mode, opts);
  }

  /** dlm_quecvt. */
  async quecvt(lkid: LockId, mode: number, opts?: QueCvtOptions): Promise<DlmStatus> {
    return (await this.convert(OP.QUECVT, lkid, mode, opts)).status;
  }

  /** dlm_unlock(&lkid, valb, flags). */
  unlock(lkid: LockId, valb: Uint8Array | null = null, flags = 0): Promise<DlmStatus> {
    if (!lkidOk(lkid)) return Promise.resolve(DLM_IVLOCKID);
    if (!u32ok(flags) || (flags & DLM_VALB && !(valb instanceof Uint8Array && valb.length >= DLM_VALBLKSIZE))) return Promise.resolve(DLM_BADPARAM);
    const hndl = lkid.hndl;
    const seqn = lkid.seqn;
    const certain = this.certainUnlock(hndl, seqn, flags);
    const m = { lkid, flags, valb: flags & DLM_VALB ? valb : null, options: certain ? UNLOCK_QUIET : 0 };
    if (certain) {
      // The node answers this request only if it fails. It goes out with the requests made in the
      // same turn of the event loop (typically the next lock request: one write, one wakeup of the
      // node), and before them; a process that exits first writes it synchronously on its way out.
      this.encode(OP.UNLOCK, m);
      if (!this.flushQueued) {
        this.flushQueued = true;
        process.nextTick(this.flushNow);
      }
      this.gone(hndl, seqn);
      return UNLOCKED;
    }
    this.encode(OP.UNLOCK, m);
    return (this.send(OP.UNLOCK, decodeStatus) as Promise<DlmStatus>).then((st) => {
      if (st === DLM_SUCCESS) this.gone(hndl, seqn);
      return st;
    });
  }

  /**
   * Whether dlm_unlock(lkid, flags) can only succeed: a process lock granted to this process (seen
   * granted here), that no sublock of ours hangs from, with no request of ours pending on it, and
   * flags the engine takes. The engine refuses such an unlock only when the lock is already gone,
   * which happens only with this process (its death) or its node (loss of the lock master): the
   * lock is released either way. Unlike a lease (a Redis lock may expire and pass to another
   * owner), a DLM lock cannot be lost behind its owner's back, so the answer carries nothing new
   * and need not be waited for; the node checks it anyway (a mismatch is reported as 'warning').
   */
  private certainUnlock(hndl: number, seqn: number, flags: number): boolean {
    if (this.confirmUnlocks || this.closedReason !== null) return false;
    if (this.held.get(hndl) !== seqn || this.unsure.has(hndl)) return false;
    if (flags & ~(DLM_VALB | DLM_INVVALBLK) || (flags & DLM_VALB && flags & DLM_INVVALBLK)) return false;
    const l = this.locks.get(hndl);
    if (l !== undefined && l.seqn === seqn && l.pendingCpl > 0) return false;
    for (const w of this.waiters.values()) if (w.lkid !== null && w.lkid.hndl === hndl && w.lkid.seqn === seqn) return false;
    return true;
  }

  /** The node refused an unlock answered early (which the checks above rule out). */
  private earlyFailed(reqId: number, status: number): void {
    if (status === DLM_ENOSYS) return; // the lock master went away: the lock is gone anyway
    this.emit('warning', new Error(`the node answered status ${status} to unlock request ${reqId}, which was answered DLM_SUCCESS here`));
  }

  /** dlm_cancel(&lkid, flags). */
  cancel(lkid: LockId, flags = 0): Promise<DlmStatus> {
    if (!lkidOk(lkid)) return Promise.resolve(DLM_IVLOCKID);
    if (!u32ok(flags)) return Promise.resolve(DLM_BADPARAM);
    this.encode(OP.CANCEL, { lkid, flags });
    return this.send(OP.CANCEL, decodeStatus) as Promise<DlmStatus>;
  }

  /** dlm_glc_create(&id, flags, ns_list, ns_num). */
  glcCreate(flags: number, nsList: readonly number[]): Promise<GlcCreateResult> {
    if (!u32ok(flags) || !Array.isArray(nsList) || nsList.length > 255 || !nsList.every(u32ok)) return Promise.resolve({ status: DLM_BADPARAM });
    this.encode(OP.GLC_CREATE, { flags, nsList });
    return this.send(OP.GLC_CREATE, decodeId) as Promise<GlcCreateResult>;
  }

  /** dlm_glc_attach(id, flags). */
  glcAttach(id: number, flags = 0): Promise<DlmStatus> {
    if (!u32ok(id) || !u32ok(flags)) return Promise.resolve(DLM_BADPARAM);
    this.encode(OP.GLC_ATTACH, { id, flags });
    return this.send(OP.GLC_ATTACH, decodeStatus) as Promise<DlmStatus>;
  }

  /** dlm_glc_detach(). */
  glcDetach(): Promise<DlmStatus> {
    this.encode(OP.GLC_DETACH, {});
    return this.send(OP.GLC_DETACH, decodeStatus) as Promise<DlmStatus>;
  }

  /** dlm_glc_destroy(id, flags). */
  glcDestroy(id: number, flags = 0): Promise<DlmStatus> {
    if (!u32ok(id) || !u32ok(flags)) return Promise.resolve(DLM_BADPARAM);
    this.encode(OP.GLC_DESTROY, { id, flags });
    return this.send(OP.GLC_DESTROY, decodeStatus) as Promise<DlmStatus>;
  }

  /** dlm_rd_attach(name, &rd_id, flags). */
  rdAttach(name: string, flags: number): Promise<RdAttachResult> {
    if (typeof name !== 'string' || Buffer.byteLength(name) > 255 || !u32ok(flags)) return Promise.resolve({ status: DLM_BADPARAM });
    this.encode(OP.RD_ATTACH, { name, flags });
    return this.send(OP.RD_ATTACH, decodeRdAttach) as Promise<RdAttachResult>;
  }

  /** dlm_rd_detach(rd_id, flags). */
  rdDetach(rdId: number, flags = 0): Promise<DlmStatus> {
    if (!u32ok(rdId) || !u32ok(flags)) return Promise.resolve(DLM_BADPARAM);
    this.encode(OP.RD_DETACH, { rdId, flags });
    return this.send(OP.RD_DETACH, decodeStatus) as Promise<DlmStatus>;
  }

  /** dlm_rd_collect(rd_id, &hndl, flags). */
  rdCollect(rdId: number, flags = 0): Promise<RdCollectResult> {
    if (!u32ok(rdId) || !u32ok(flags)) return Promise.resolve({ status: DLM_BADPARAM });
    this.encode(OP.RD_COLLECT, { rdId, flags });
    return this.send(OP.RD_COLLECT, decodeCollect) as Promise<RdCollectResult>;
  }

  /** dlm_rd_validate(rd_id, &hndl, flags). */
  rdValidate(rdId: number, hndl: number, flags = 0): Promise<DlmStatus> {
    if (!u32ok(rdId) || !u32ok(hndl) || !u32ok(flags)) return Promise.resolve(DLM_BADPARAM);
    this.encode(OP.RD_VALIDATE, { rdId, hndl, flags });
    return this.send(OP.RD_VALIDATE, decodeStatus) as Promise<DlmStatus>;
  }

  /** dlm_get_lkinfo(&lkid, &info): notprm and routines are this client's own. */
  getLkinfo(lkid: LockId): Promise<LkInfoResult> {
    if (!lkidOk(lkid)) return Promise.resolve({ status: DLM_IVLOCKID });
    this.encode(OP.LKINFO, { lkid });
    return this.send(OP.LKINFO, (a, st) => this.decodeLkinfo(a, st)) as Promise<LkInfoResult>;
  }

  /** dlm_get_rsbinfo(nsp, resnam, resnlen, &info, par_lkid). */
  getRsbinfo(nsp: number, resnam: string | Uint8Array, parlkid?: LockId | null): Promise<RsbInfoResult> {
    if (!u32ok(nsp)) return Promise.resolve({ status: DLM_BADPARAM });
    if (parlkid != null && !lkidOk(parlkid)) return Promise.resolve({ status: DLM_IVLOCKID });
    if (!this.encode(OP.RSBINFO, { nsp, resnam, parlkid: parlkid ?? null })) return Promise.resolve({ status: DLM_IVBUFLEN });
    return this.send(OP.RSBINFO, decodeRsbinfo) as Promise<RsbInfoResult>;
  }

  // ==== requests ====================================================================================

  private newRec(notprm: unknown, blkrtn: BlockingRoutine | null, cplrtn: CompletionRoutine | null, valb: Uint8Array | null): number {
    let rid = this.nextRid++;
    if (rid > 0xfffffff0) rid = this.nextRid = 1;
    this.recs.set(rid, { notprm, blkrtn, cplrtn, valb });
    return rid;
  }

  private track(lkid: LockId, rid: number): ClientLock {
    let l = this.locks.get(lkid.hndl);
    if (l === undefined || l.seqn !== lkid.seqn) {
      if (l !== undefined) this.release(l);
      l = { seqn: lkid.seqn, rids: [], granted: false, pendingCpl: 0, earlyCpl: 0, valb: null };
      this.locks.set(lkid.hndl, l);
    }
    if (rid !== 0 && !l.rids.includes(rid)) l.rids.push(rid);
    return l;
  }

  private release(l: ClientLock): void {
    if (this.signal === 0) this.zombies.push(...l.rids);
    else for (const rid of l.rids) this.recs.delete(rid);
    l.rids.length = 0;
  }

  /** The lock is gone: forget it and, unless notifications are polled, the rids it referenced. */
  private gone(hndl: number, seqn: number): void {
    if (this.held.get(hndl) === seqn) {
      this.held.delete(hndl);
      this.unsure.delete(hndl);
    }
    const l = this.locks.get(hndl);
    if (l === undefined || l.seqn !== seqn) return;
    this.locks.delete(hndl);
    this.release(l);
  }

  private freeZombies(n: number): void {
    if (n <= 0) return;
    for (const rid of this.zombies.splice(0, n)) this.recs.delete(rid);
  }

  private request(op: typeof OP.LOCK | typeof OP.QUELOCK, nsp: number, resnam: string | Uint8Array, mode: number, o: QueLockOptions | undefined): Promise<LockResult> {
    const sync = op === OP.LOCK;
    const flags = o?.flags ?? 0;
    const timeout = o?.timeout ?? 0;
    if (!u32ok(nsp) || !u32ok(flags) || !u32ok(timeout) || !Number.isInteger(mode) || mode < 0 || mode > 255) return Promise.resolve(failed(DLM_BADPARAM));
    let bits = 0;
    let rid = 0;
    const valb = o?.valb ?? null;
    if (valb !== null && !(valb instanceof Uint8Array)) return Promise.resolve(failed(DLM_BADPARAM));
    if (flags & DLM_VALB && (valb === null || valb.length < DLM_VALBLKSIZE)) return Promise.resolve(failed(DLM_BADPARAM));
    if (o) {
      if ((o.blkrtn != null && typeof o.blkrtn !== 'function') || (!sync && o.cplrtn != null && typeof o.cplrtn !== 'function')) return Promise.resolve(failed(DLM_BADPARAM));
      if (o.parlkid != null && !lkidOk(o.parlkid)) return Promise.resolve(failed(DLM_IVLOCKID));
      if (o.hint !== undefined && !isWireValue(o.hint)) return Promise.resolve(failed(DLM_BADPARAM));
      if (o.tranid != null && !isWireValue(o.tranid)) return Promise.resolve(failed(DLM_BADPARAM));
      if (o.rdId != null && !u32ok(o.rdId)) return Promise.resolve(failed(DLM_BADPARAM));
      const cpl = sync ? null : ((o as QueLockOptions).cplrtn ?? null);
      const queuedValb = !sync && flags & DLM_VALB ? valb : null;
      if (o.notprm !== undefined || o.blkrtn || cpl || queuedValb) {
        rid = this.newRec(o.notprm, o.blkrtn ?? null, cpl, queuedValb);
        bits |= LK.NOTPRM;
        if (o.blkrtn) bits |= LK.BLK;
        if (cpl) bits |= LK.CPL;
      }
      if (o.parlkid != null) bits |= LK.PARENT;
      if (o.tranid != null) bits |= LK.TRANID;
      if (o.rdId != null) bits |= LK.RDID;
      if (o.hint !== undefined) bits |= LK.HINT;
      if (flags & DLM_VALB) bits |= LK.VALB;
    }
    const req: RequestMap[typeof OP.LOCK] = { nsp, mode, flags, timeout, rid, bits, resnam, valb };
    if (o) {
      req.parlkid = o.parlkid;
      req.tranid = o.tranid as WireValue;
      req.rdId = o.rdId ?? 0;
      req.hint = o.hint as WireValue;
    }
    if (!this.encode(op as typeof OP.LOCK, req)) {
      if (rid) this.recs.delete(rid);
      return Promise.resolve(failed(DLM_IVBUFLEN));
    }
    const userValb = flags & DLM_VALB ? valb : null;
    if (bits & LK.PARENT) this.unsure.add(o!.parlkid!.hndl);
    const group = (flags & DLM_GROUP_LOCK) !== 0;
    return this.send(op, this.lockDecode, rid, sync, true, userValb, group) as Promise<LockResult>;
  }

  private convert(op: typeof OP.CVT | typeof OP.QUECVT, lkid: LockId, mode: number, o: QueCvtOptions | undefined): Promise<LockResult> {
    const sync = op === OP.CVT;
    if (!lkidOk(lkid)) return Promise.resolve(failed(DLM_IVLOCKID));
    const flags = o?.flags ?? 0;
    const timeout = o?.timeout ?? 0;
    if (!u32ok(flags) || !u32ok(timeout) || !Number.isInteger(mode) || mode < 0 || mode > 255) return Promise.resolve(failed(DLM_BADPARAM));
    const valb = o?.valb ?? null;
    if (valb !== null && !(valb instanceof Uint8Array)) return Promise.resolve(failed(DLM_BADPARAM));
    if (flags & DLM_VALB && (valb === null || valb.length < DLM_VALBLKSIZE)) return Promise.resolve(failed(DLM_BADPARAM));
    let bits = 0;
    let rid = 0;
    if (o) {
      if (('blkrtn' in o && o.blkrtn != null && typeof o.blkrtn !== 'function') || (!sync && 'cplrtn' in o && o.cplrtn != null && typeof o.cplrtn !== 'function')) {
        return Promise.resolve(failed(DLM_BADPARAM));
      }
      if ('hint' in o && !isWireValue(o.hint)) return Promise.resolve(failed(DLM_BADPARAM));
      const setNp = 'notprm' in o;
      const setBlk = 'blkrtn' in o;
      const setCpl = !sync && 'cplrtn' in o;
      if (setNp || (setBlk && o.blkrtn) || (setCpl && o.cplrtn)) {
        rid = this.newRec(o.notprm, o.blkrtn ?? null, sync ? null : (o.cplrtn ?? null), null);
      }
      if (setNp) bits |= CV.NOTPRM;
      if (setBlk) bits |= CV.BLK_SET | (o.blkrtn ? CV.BLK_FN : 0);
      if (setCpl) bits |= CV.CPL_SET | (o.cplrtn ? CV.CPL_FN : 0);
      if ('hint' in o) bits |= CV.HINT;
      if (flags & DLM_VALB) bits |= CV.VALB;
    }
    this.encode(op as typeof OP.CVT, { lkid, mode, flags, timeout, rid, bits, valb, hint: o?.hint as WireValue });
    const userValb = flags & DLM_VALB ? valb : null;
    if (rid !== 0) {
      const l = this.locks.get(lkid.hndl);
      if (l !== undefined && l.seqn === lkid.seqn) l.rids.push(rid);
      else this.track(lkid, rid).granted = true;
    }
    if (!sync) {
      const l = this.locks.get(lkid.hndl);
      if (l !== undefined && l.seqn === lkid.seqn) l.valb = userValb;
    }
    return this.send(op, this.lockDecode, rid, sync, false, userValb, false) as Promise<LockResult>;
  }

  /** Answer of lock / quelock / cvt / quecvt. */
  private lockAnswer(a: LockAns | null, status: number, reqId: number, rid: number, sync: boolean, isNew: boolean, valb: Uint8Array | null, group: boolean): LockResult {
    let lkid: LockId | null = null;
    let waits = false;
    if (a !== null) {
      lkid = a.lkid;
      waits = a.waits !== 0;
      copyValb(a.valb, valb);
    }
    const result: LockResult = { status, lkid, wait: null };
    if (lkid === null || !grantStatus(status)) {
      // Refused: nothing is pending (a new request left no lock; a conversion left the lock as it was).
      if (isNew) {
        if (rid !== 0) this.recs.delete(rid);
        result.lkid = null;
      } else if (!sync && lkid !== null) {
        const l = this.locks.get(lkid.hndl);
        if (l !== undefined && l.seqn === lkid.seqn && l.pendingCpl === 0) l.valb = null;
      }
      return result;
    }
    if (isNew) {
      if (group) this.unsure.add(lkid.hndl);
      else if (!waits && (sync || status !== DLM_SUCCESS)) this.held.set(lkid.hndl, lkid.seqn);
    }
    // A plain dlm_lock / dlm_cvt (no notprm, no routines) leaves nothing more to remember here.
    if (rid !== 0 || !sync || this.locks.has(lkid.hndl)) {
      const l = this.track(lkid, rid);
      if (!isNew || (!waits && (sync || status !== DLM_SUCCESS))) l.granted = true;
      if (!sync && status === DLM_SUCCESS) {
        // Queued: its completion is to come, unless it came already (an immediate grant completes
        // inside the request, before the answer is written).
        if (l.earlyCpl > 0) l.earlyCpl--;
        else l.pendingCpl++;
      }
    }
    if (waits) {
      let resolve!: (s: DlmStatus) => void;
      result.wait = new Promise<DlmStatus>((res) => (resolve = res));
      this.waiters.set(reqId, { result, resolve, valb, isNew, group, lkid });
    }
    return result;
  }

  private decodeLkinfo(a: AnswerMap[typeof OP.LKINFO] | null, status: number): LkInfoResult {
    if (a === null) return { status };
    return {
      status,
      info: {
        resnam: a.resnam, resnlen: a.resnam.length, parlkid: a.parlkid, rqmode: a.rqmode, valb: a.valb, flags: a.flags,
        notprm: this.recs.get(a.npRid)?.notprm,
        hint: a.hint,
        blkrtn: this.recs.get(a.blkRid)?.blkrtn ?? null,
        timeout: a.timeout,
        cplrtn: this.recs.get(a.cplRid)?.cplrtn ?? null,
        sig: a.sig, grmode: a.grmode, lkstate: a.lkstate, lk_pid: a.lkPid,
      },
    };
  }

  // ==== the wire ====================================================================================

  /** The request being built (encode → send). */
  private lastReq = 0;

  /** Appends a request with the next request id; false when a field cannot be encoded (nothing written). */
  private encode<K extends Op>(op: K, m: RequestMap[K]): boolean {
    let id = this.nextReq++;
    if (id > 0xfffffff0) id = this.nextReq = 1;
    this.lastReq = id;
    try {
      encodeRequest(this.out, op, id, m);
      this.lastEncoded = true;
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
      this.lastEncoded = false;
    }
    return this.lastEncoded;
  }

  /** Whether the last request could be encoded (send answers DLM_BADPARAM for one that could not). */
  private lastEncoded = true;

  private readonly lockDecode: Decode = (a, st, id, p) => this.lockAnswer(a, st, id, p.rid, p.sync, p.isNew, p.valb, p.group);

  private send(op: Op, decode: Decode, rid = 0, sync = false, isNew = false, valb: Uint8Array | null = null, group = false): Promise<unknown> {
    const id = this.lastReq;
    const p: Pending = { op, resolve: noResolve, decode, rid, sync, isNew, valb, group };
    if (!this.lastEncoded) return Promise.resolve(decode(null, DLM_BADPARAM, id, p));
    if (this.closedReason !== null) {
      this.out.pos = 0;
      return Promise.resolve(decode(null, DLM_ENOSYS, id, p));
    }
    if (!this.flushQueued) {
      this.flushQueued = true;
      process.nextTick(this.flushNow);
    }
    return new Promise((resolve) => {
      p.resolve = resolve;
      this.pending.set(id, p);
    });
  }

  private flush(): void {
    this.flushQueued = false;
    if (this.out.length === 0 || this.closedReason !== null) return;
    this.sock.write(this.out.take());
  }

  private onFrame(buf: Buffer, start: number, end: number): void {
    const r = this.reader.reset(buf, start, end);
    try {
      const type = r.u8();
      switch (type) {
        case MSG.REPLY: {
          const { reqId: id, status } = decodeReplyHead(r);
          const p = this.pending.get(id);
          if (p === undefined) {
            // Only an unlock answered early gets an answer nobody waits for: it failed.
            this.earlyFailed(id, status);
            return;
          }
          const a = decodeReply(r, p.op);
          this.pending.delete(id);
          p.resolve(p.decode(a, status, id, p));
          return;
        }
        case MSG.WAITDONE: {
          const m = decodeMessage(r, 'WAITDONE');
          const w = this.waiters.get(m.reqId);
          if (w === undefined) return;
          this.waiters.delete(m.reqId);
          copyValb(m.valb, w.valb);
          this.waitEnded(w, m.status);
          return;
        }
        case MSG.COMPLETION:
          return this.onCompletion(decodeMessage(r, 'COMPLETION'));
        case MSG.BLOCKING: {
          const m = decodeMessage(r, 'BLOCKING');
          const rec = this.recs.get(m.blkRid);
          const lkid = m.lkid;
          if (rec?.blkrtn && lkid !== null) this.call(() => rec.blkrtn!(this.recs.get(m.npRid)?.notprm, m.hint, lkid, m.mode));
          return;
        }
        case MSG.ERROR: {
          const { reqId: id, code, message } = decodeMessage(r, 'ERROR');
          const p = this.pending.get(id);
          if (p !== undefined) {
            // The node could not read our request: a bug on one side; the call fails cleanly.
            this.pending.delete(id);
            this.emit('protocolError', { code, message });
            p.resolve(p.decode(null, DLM_BADPARAM, id, p));
          } else {
            this.emit('protocolError', { code, message });
          }
          return;
        }
        case MSG.RESET: {
          const m = decodeMessage(r, 'RESET');
          // Told already by the lease's end: the node's own RESET only ends what is still pending.
          this.reset(m.reason, m.lastReq, !this.leaseLost);
          return;
        }
        case MSG.LEASE:
          this.onLease(decodeMessage(r, 'LEASE').validUntil);
          return;
        default:
          return;
      }
    } catch (e) {
      this.shutdown(`unreadable message from the node: ${(e as Error).message}`);
    }
  }

  private waitEnded(w: Waiter, status: number): void {
    w.result.status = status;
    if (w.lkid !== null) {
      const l = this.locks.get(w.lkid.hndl);
      if (grantStatus(status)) {
        if (l !== undefined) l.granted = true;
        if (w.isNew && !w.group) this.held.set(w.lkid.hndl, w.lkid.seqn);
      } else if (w.isNew) {
        this.gone(w.lkid.hndl, w.lkid.seqn);
      }
    }
    w.resolve(status);
  }

  private onCompletion(m: { cplRid: number; npRid: number; lkid: LockId | null; status: number; valb: Uint8Array | null }): void {
    const { cplRid, npRid, lkid, status } = m;
    if (lkid === null) return;
    const rec = cplRid !== 0 ? this.recs.get(cplRid) : undefined;
    let l = this.locks.get(lkid.hndl);
    if (l === undefined || l.seqn !== lkid.seqn) l = this.track(lkid, cplRid);
    // The value block goes to the pending dlm_quecvt's buffer, else to the dlm_quelock's.
    let dst: Uint8Array | null = null;
    if (l.valb !== null) {
      dst = l.valb;
      l.valb = null;
    } else if (rec?.valb) {
      dst = rec.valb;
      rec.valb = null;
    }
    copyValb(m.valb, dst);
    if (l.pendingCpl > 0) l.pendingCpl--;
    else l.earlyCpl++;
    const notprm = npRid !== 0 ? this.recs.get(npRid)?.notprm : undefined;
    const fn = rec?.cplrtn ?? null;
    if (grantStatus(status)) {
      if (!l.granted && !this.unsure.has(lkid.hndl)) this.held.set(lkid.hndl, lkid.seqn);
      l.granted = true;
    } else if (!l.granted) {
      this.gone(lkid.hndl, lkid.seqn);
    }
    if (fn) this.call(() => fn(notprm, lkid, status));
  }

  private call(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.deferredErrors.push(e);
    }
  }

  /**
   * The node lost this process' locks: waits and queued requests end with DLM_ENOSYS, and so do the
   * requests up to `lastReq`, whose answers went down with the node's link to the lock master (the
   * later ones are answered by the node).
   */
  private leaseUntil = 0;
  private leaseLost = false;
  private leaseTimer: NodeJS.Timeout | null = null;

  private onLease(until: number): void {
    this.leaseUntil = until;
    this.leaseLost = false;
    if (this.leaseTimer === null) this.armLease();
  }

  private armLease(): void {
    this.leaseTimer = setTimeout(() => {
      this.leaseTimer = null;
      if (this.closedReason !== null || this.leaseLost) return;
      if (Date.now() < this.leaseUntil) return this.armLease();
      this.leaseLost = true;
      this.reset(`the node's cluster lease ended at ${new Date(this.leaseUntil).toISOString()} without renewal: this process' locks are gone`, this.lastReq, true);
    }, Math.max(1, this.leaseUntil - Date.now()));
    this.leaseTimer.unref();
  }

  private reset(reason: string, lastReq: number, emit = true): void {
    if (lastReq !== 0) {
      for (const [id, p] of this.pending) {
        if (id > lastReq) continue;
        this.pending.delete(id);
        p.resolve(p.decode(null, DLM_ENOSYS, id, p));
      }
    }
    this.failPending();
    if (emit) this.emit('reset', reason);
  }

  private failPending(): void {
    for (const [id, w] of this.waiters) {
      this.waiters.delete(id);
      this.waitEnded(w, DLM_ENOSYS);
    }
    // Queued requests hear DLM_ENOSYS through their completion routines.
    for (const [hndl, l] of [...this.locks]) {
      if (l.pendingCpl > 0) {
        for (const rid of l.rids) {
          const rec = this.recs.get(rid);
          if (rec?.cplrtn) {
            const fn = rec.cplrtn;
            const lkid = { hndl, seqn: l.seqn };
            this.call(() => fn(rec.notprm, lkid, DLM_ENOSYS));
            break;
          }
        }
      }
    }
    this.locks.clear();
    this.recs.clear();
    this.held.clear();
    this.unsure.clear();
    this.zombies = [];
    if (this.deferredErrors.length) {
      const errs = this.deferredErrors.splice(0);
      for (const e of errs) setImmediate(() => { throw e; });
    }
  }

  private shutdown(reason: string, destroy = true): void {
    if (this.closedReason !== null) return;
    this.closedReason = reason;
    process.removeListener('exit', this.onExit);
    this.out.abort();
    this.out.pos = 0;
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.resolve(p.decode(null, DLM_ENOSYS, id, p));
    }
    this.failPending();
    if (destroy) this.sock.destroy();
    this.emit('close', reason);
  }
}

function noResolve(): void {}

function failed(status: DlmStatus): LockResult {
  return { status, lkid: null, wait: null };
}

/** A value block that came with an answer, into the caller's buffer. */
function copyValb(src: Uint8Array | null, dst: Uint8Array | null): void {
  if (src !== null && dst !== null) dst.set(src.subarray(0, DLM_VALBLKSIZE));
}

function decodeStatus(_a: unknown, status: number): DlmStatus {
  return status;
}

function decodeCount(a: AnswerMap[typeof OP.NOTIFY] | null, status: number): number {
  return status === DLM_SUCCESS && a !== null ? a.count : 0;
}

function decodeNsjoin(a: AnswerMap[typeof OP.NSJOIN] | null, status: number): NsJoinResult {
  return status === DLM_SUCCESS && a !== null ? { status, nsp: a.nsp } : { status };
}

function decodeSetSignal(a: AnswerMap[typeof OP.SETSIGNAL] | null, status: number): SetSignalResult {
  return status === DLM_SUCCESS && a !== null ? { status, oldsig: a.oldsig } : { status };
}

function decodeId(a: AnswerMap[typeof OP.GLC_CREATE] | null, status: number): GlcCreateResult {
  return status === DLM_SUCCESS && a !== null ? { status, id: a.id } : { status };
}

function decodeRdAttach(a: AnswerMap[typeof OP.RD_ATTACH] | null, status: number): RdAttachResult {
  return status === DLM_SUCCESS && a !== null ? { status, rdId: a.rdId } : { status };
}

function decodeCollect(a: AnswerMap[typeof OP.RD_COLLECT] | null, status: number): RdCollectResult {
  return status === DLM_SUCCESS && a !== null ? { status, hndl: a.hndl, resources: a.resources } : { status };
}

function decodeRsbinfo(a: AnswerMap[typeof OP.RSBINFO] | null, status: number): RsbInfoResult {
  return a === null ? { status } : { status, info: a };
}
