// The lock manager engine: a state machine over processes, namespaces, resources and locks, with no
// I/O. Processes are inputs (credentials from the service layer), time comes from the Scheduler,
// notifications leave through each process' queue (and the `signal` hook), kills through the `kill`
// hook. Modelled on Linux fs/dlm/lock.c; the VMS rules it enforces are quoted where they apply.
//
// Every public call runs to completion synchronously. Side effects that other locks feel (grants from
// the queues, deadlock resolution, blocking notifications, freeing idle resources) are gathered and
// carried out by settle() at the end of the call, before any hook runs, so hooks always see a
// consistent state and may call back into the engine.

import {
  DLM_CANCELWAITOK,
  DLM_EXPEDITE,
  DLM_GROUP,
  DLM_GROUP_LOCK,
  DLM_INVVALBLK,
  DLM_JOIN_SAME_OK,
  DLM_LK_CONVERTING,
  DLM_LK_GRANTED,
  DLM_LK_WAITING,
  DLM_NLMODE,
  DLM_NODLCKBLK,
  DLM_NODLCKWT,
  DLM_NOMODE,
  DLM_NOQUEUE,
  DLM_NSPROCMAX,
  DLM_PERSIST,
  DLM_QUECVT,
  DLM_RD_GROUP,
  DLM_SYNCSTS,
  DLM_TXID_LOCAL,
  DLM_USER,
  DLM_VALB,
  DLM_VALBLKSIZE,
  SIGKILL,
  SIGMAX,
  SIGSTOP,
} from './constants';
import {
  DLM_ABORT,
  DLM_ATTACHED,
  DLM_BADPARAM,
  DLM_CANCEL,
  DLM_CANCELGRANT,
  DLM_CANCELWAIT,
  DLM_CVTUNGRANT,
  DLM_DEADLOCK,
  DLM_ENOSYS,
  DLM_HASLOCKS,
  DLM_INSFMEM,
  DLM_IS_PR,
  DLM_IVBUFLEN,
  DLM_IVLOCKID,
  DLM_IVRDID,
  DLM_LKBUSY,
  DLM_NO_GROUP,
  DLM_NOACCESS,
  DLM_NOT_PR,
  DLM_NOTATTACHED,
  DLM_NOTQUEUED,
  DLM_PARNOTGRANT,
  DLM_PR_RD_MISMATCH,
  DLM_SUBLOCKS,
  DLM_SUCCESS,
  DLM_SUCCVALNOTVALID,
  DLM_SYNCH,
  DLM_SYNCVALNOTVALID,
  DLM_TIMEOUT,
  DLM_TOOMANYNS,
  DLM_ATTACHEDGROUP,
  type DlmStatus,
} from './status';
import { COVERED_BY_MASK, compatible, covers, lvbOperation, LVB_READ, LVB_WRITE, quecvtLegal, validMode, writesValueBlock } from './modes';
import { Lock, LockTable, type SyncWaiter } from './lock';
import { Namespace, Resource, nameKey, type NamespaceKind } from './resource';
import { NsAttachment, ProcessRecord, ownerKey } from './process-record';
import { DeadlockOwner, chooseVictim, findCycleThrough } from './deadlock';
import { deliverable, run, type Notification } from './notifications';
import { SystemScheduler, type Scheduler } from './scheduler';
import { DlmProcess } from './process';
import { Glc, glcAttach, glcCreate, glcDestroy, glcDetach, leaveGlc } from './glc';
import { RecoveryDomain, destroyRdHandle, rdAttach, rdCollect, rdDetach, rdValidate } from './recovery';
import { getLkinfo, getRsbinfo } from './info';
import { snapshot, type DlmDump } from './dump';
import type {
  BlockingRoutine,
  CompletionRoutine,
  Credentials,
  DlmEvent,
  DlmHooks,
  DlmOptions,
  GlcCreateResult,
  KillReason,
  LkInfoResult,
  LockId,
  LockResult,
  NsJoinResult,
  QueCvtOptions,
  QueLockOptions,
  RdAttachResult,
  RdCollectResult,
  RsbInfoResult,
  SetSignalResult,
  TransId,
} from './types';

/** Flags dlm_lock / dlm_quelock accept. */
const LOCK_FLAGS =
  DLM_VALB | DLM_SYNCSTS | DLM_NOQUEUE | DLM_EXPEDITE | DLM_PERSIST | DLM_NODLCKWT | DLM_NODLCKBLK | DLM_GROUP_LOCK | DLM_TXID_LOCAL;
/** Flags dlm_cvt / dlm_quecvt accept. */
const CVT_FLAGS = DLM_VALB | DLM_SYNCSTS | DLM_NOQUEUE | DLM_QUECVT | DLM_NODLCKWT | DLM_NODLCKBLK | DLM_INVVALBLK;
/** Flags fixed when a lock is created, kept across conversions. */
const STICKY_FLAGS = DLM_GROUP_LOCK | DLM_PERSIST | DLM_TXID_LOCAL;

function failure(status: DlmStatus): LockResult {
  return { status, lkid: null, wait: null };
}

function isFlags(flags: unknown): flags is number {
  return typeof flags === 'number' && Number.isInteger(flags) && flags >= 0;
}

/** A value block buffer: at least DLM_VALBLKSIZE bytes (only the first DLM_VALBLKSIZE are used). */
function validValb(valb: unknown): valb is Uint8Array {
  return valb instanceof Uint8Array && valb.length >= DLM_VALBLKSIZE;
}

/** Timeouts are hundredths of a second (GAP: Ingres waited with 10*100 "every ten seconds"); 0 = none. */
function validTimeout(t: unknown): t is number {
  return typeof t === 'number' && Number.isInteger(t) && t >= 0;
}

function validRoutine(fn: unknown): boolean {
  return fn === null || fn === undefined || typeof fn === 'function';
}

/** A lock whose flags go from `before` to `after` counts as a blocker again (deadlock.ts). */
function becameBlocker(before: number, after: number): boolean {
  return (before & DLM_NODLCKBLK) !== 0 && (after & DLM_NODLCKBLK) === 0;
}

function validTranid(t: unknown): t is TransId {
  return typeof t === 'number' || typeof t === 'string' || typeof t === 'bigint';
}

export class Dlm {
  readonly scheduler: Scheduler;
  /** @internal */ readonly hooks: DlmHooks;
  private enabledFlag: boolean;
  readonly maxLocks: number;

  /** @internal */ readonly locks: LockTable;
  /** @internal */ readonly processes = new Map<string, ProcessRecord>();
  /** @internal */ readonly namespaces = new Map<string, Namespace>();
  /** @internal */ readonly glcs = new Map<number, Glc>();
  /** @internal */ readonly domains = new Map<string, RecoveryDomain>();
  private readonly txns = new Map<TransId, DeadlockOwner>();
  /** @internal */ nextGlcId = 1;
  /** @internal */ nextCollection = 1;
  private waitSeq = 0;

  // Work gathered during a call and done by settle().
  private readonly toSettle: Resource[] = [];
  private readonly settledList: Resource[] = [];
  private readonly seeds: (Lock | DeadlockOwner)[] = [];
  private readonly toSignal: ProcessRecord[] = [];
  private readonly events: DlmEvent[] | null;
  private settling = false;
  private flushing = false;

  constructor(opts: DlmOptions = {}) {
    this.scheduler = opts.scheduler ?? new SystemScheduler();
    this.hooks = opts.hooks ?? {};
    this.enabledFlag = opts.enabled ?? true;
    this.maxLocks = opts.maxLocks ?? Infinity;
    this.locks = new LockTable(opts.lockSeqBase ?? 0, opts.lockHndlBase ?? 0);
    this.events = this.hooks.event ? [] : null;
  }

  /** Whether the DLM is enabled; while it is not, every call answers DLM_ENOSYS. */
  get enabled(): boolean {
    return this.enabledFlag;
  }

  set enabled(on: boolean) {
    this.enabledFlag = on;
  }

  /** Number of locks (granted, converting and waiting) in the engine. */
  get lockCount(): number {
    return this.locks.count;
  }

  /**
   * The handle of a process. Calls with the credentials of a live process return its handle; after the
   * process died, the same (node, pid) gets a new process.
   */
  process(cred: Credentials): DlmProcess {
    for (const k of ['pid', 'uid', 'gid'] as const) {
      if (!Number.isInteger(cred[k]) || cred[k] < 0) throw new TypeError(`Credentials.${k} must be a non-negative integer`);
    }
    const key = ownerKey(cred.node ?? 0, cred.pid);
    const existing = this.processes.get(key);
    if (existing && existing.alive) return existing.facade;
    const rec = new ProcessRecord(cred);
    rec.facade = new DlmProcess(this, rec);
    this.processes.set(key, rec);
    return rec.facade;
  }

  // ==== namespaces ================================================================================

  /** @internal dlm_nsjoin. */
  nsjoin(rec: ProcessRecord, nsid: number, flags: number): NsJoinResult {
    if (!this.enabledFlag) return { status: DLM_ENOSYS };
    if (!rec.alive) return { status: DLM_NOTATTACHED };
    // "DLM_GROUP and DLM_USER are mutually exclusive."
    if (!isFlags(flags) || flags & ~(DLM_USER | DLM_GROUP | DLM_JOIN_SAME_OK) || (flags & DLM_USER && flags & DLM_GROUP)) {
      return { status: DLM_BADPARAM };
    }
    if (!Number.isInteger(nsid) || nsid < 0) return { status: DLM_BADPARAM };
    // GAP decision: with neither DLM_USER nor DLM_GROUP, nsid is a UID (0 = systemwide), as with DLM_USER.
    const kind: NamespaceKind = flags & DLM_GROUP ? 'group' : nsid === 0 ? 'system' : 'user';
    // "The process must hold this ID for access to the namespace to be granted." "A user ID of zero (0)
    // indicates a systemwide namespace. In that case, the process must have root privilege." DLM_GROUP:
    // "The process must be a member of this group." Root holds every ID.
    if (!rec.root) {
      const ok = kind === 'user' ? rec.uid === nsid : kind === 'group' ? rec.inGroup(nsid) : false;
      if (!ok) return { status: DLM_NOACCESS };
    }
    const key = kind === 'system' ? 'system' : `${kind}:${nsid}`;
    let ns = this.namespaces.get(key);
    const already = ns ? rec.byNs.get(ns) : undefined;
    if (already) {
      // DLM_JOIN_SAME_OK: "joining an already-joined namespace returns the handle and DLM_SUCCESS".
      // "Otherwise, the function returns DLM_ATTACHED status and does not return a namespace handle."
      return flags & DLM_JOIN_SAME_OK ? { status: DLM_SUCCESS, nsp: already.nsp } : { status: DLM_ATTACHED };
    }
    let nsp = 0;
    for (let i = 1; i <= DLM_NSPROCMAX; i++) {
      if (rec.nsps[i] === null) {
        nsp = i;
        break;
      }
    }
    if (nsp === 0) return { status: DLM_TOOMANYNS };
    if (!ns) {
      ns = new Namespace(kind, nsid);
      this.namespaces.set(key, ns);
    }
    const att = new NsAttachment(nsp, ns);
    rec.nsps[nsp] = att;
    rec.byNs.set(ns, att);
    ns.members++;
    return { status: DLM_SUCCESS, nsp };
  }

  /** @internal dlm_nsleave. */
  nsleave(rec: ProcessRecord, nsp: number, flags: number): DlmStatus {
    if (!this.enabledFlag) return DLM_ENOSYS;
    if (flags !== 0) return DLM_BADPARAM; // "flags: must be 0"
    const att = rec.alive ? rec.attachment(nsp) : null;
    if (!att) return DLM_NOTATTACHED;
    // "The process must release its locks in the namespace and detach itself from any group lock
    // container before leaving."
    if (rec.glc && rec.glc.namespaces.includes(att.ns)) return DLM_ATTACHEDGROUP;
    if (att.lockCount > 0) return DLM_HASLOCKS;
    this.leaveNamespace(rec, att);
    return DLM_SUCCESS;
  }

  private leaveNamespace(rec: ProcessRecord, att: NsAttachment): void {
    rec.nsps[att.nsp] = null;
    rec.byNs.delete(att.ns);
    const ns = att.ns;
    if (--ns.members === 0 && ns.resources.size === 0) this.namespaces.delete(ns.key);
  }

  /**
   * @internal dlm_detach: "Disconnects from all namespaces", refused with DLM_HASLOCKS while the process
   * holds locks. GAP decision: it releases everything else the process is attached to as well: its
   * group lock container (as dlm_glc_detach does) and its recovery domain handles.
   */
  detach(rec: ProcessRecord): DlmStatus {
    if (!this.enabledFlag) return DLM_ENOSYS;
    if (!rec.alive || rec.joined === 0) return DLM_NOTATTACHED;
    if (rec.locks.size > 0) return DLM_HASLOCKS;
    if (rec.glc) {
      // Only the creator of a DLM_GLC_OWNED container can fail here (DLM_KILLFAIL); it then stays as it was.
      const st = leaveGlc(this, rec, false);
      if (st !== DLM_SUCCESS) {
        this.done();
        return st;
      }
    }
    for (const h of rec.rds) if (h) destroyRdHandle(this, h, true);
    for (const att of [...rec.byNs.values()]) this.leaveNamespace(rec, att);
    this.done();
    return DLM_SUCCESS;
  }

  /** @internal dlm_set_signal. */
  setSignal(rec: ProcessRecord, newsig: number): SetSignalResult {
    if (!this.enabledFlag) return { status: DLM_ENOSYS };
    if (!rec.alive || rec.joined === 0) return { status: DLM_NOTATTACHED };
    // "invalid/out-of-range signal; SIGKILL and SIGSTOP are invalid; range 0..SIGMAX".
    if (!Number.isInteger(newsig) || newsig < 0 || newsig > SIGMAX || newsig === SIGKILL || newsig === SIGSTOP) {
      return { status: DLM_BADPARAM };
    }
    const oldsig = rec.signal;
    rec.signal = newsig;
    // newsig 0: "the DLM will not deliver event notifications and you must use dlm_notify() to poll".
    if (newsig === 0) rec.signalRaised = false;
    else if (rec.notifications.length && !rec.signalRaised) this.raise(rec);
    this.done();
    return { status: DLM_SUCCESS, oldsig };
  }

  /**
   * @internal dlm_notify: "requests that the DLM deliver any pending completion or blocking notifications
   * to the caller"; returns "the number of completion and blocking notifications delivered". Delivers
   * what is pending when called; notifications the routines cause are left for the next delivery.
   */
  notify(rec: ProcessRecord): number {
    if (!this.enabledFlag || !rec.alive) return 0;
    rec.signalRaised = false;
    const batch = rec.notifications;
    if (batch.length === 0) return 0;
    rec.notifications = [];
    let count = 0;
    let failed = false;
    let error: unknown;
    for (const n of batch) {
      if (!deliverable(n)) continue;
      count++;
      try {
        run(n);
      } catch (e) {
        if (!failed) error = e;
        failed = true;
      }
    }
    if (rec.alive && rec.notifications.length && rec.signal !== 0 && !rec.signalRaised) this.raise(rec);
    this.done();
    if (failed) throw error;
    return count;
  }

  // ==== lock requests =============================================================================

  /** @internal dlm_lock (sync) / dlm_quelock. */
  request(rec: ProcessRecord, nsp: number, resnam: string | Uint8Array, mode: number, o: QueLockOptions | undefined, sync: boolean): LockResult {
    if (!this.enabledFlag) return failure(DLM_ENOSYS);
    if (!rec.alive) return failure(DLM_NOTATTACHED);
    let flags = 0;
    let valb: Uint8Array | null = null;
    let parlkid: LockId | null = null;
    let notprm: unknown;
    let hint: unknown;
    let blkrtn: BlockingRoutine | null = null;
    let cplrtn: CompletionRoutine | null = null;
    let timeout = 0;
    let tranid: TransId | null = null;
    let rdId: number | null = null;
    if (o) {
      if (o.flags !== undefined) flags = o.flags;
      if (o.valb) valb = o.valb;
      if (o.parlkid) parlkid = o.parlkid;
      notprm = o.notprm;
      hint = o.hint;
      if (o.blkrtn) blkrtn = o.blkrtn;
      if (!sync && o.cplrtn) cplrtn = o.cplrtn;
      if (o.timeout !== undefined) timeout = o.timeout;
      if (o.tranid !== undefined) tranid = o.tranid;
      if (o.rdId !== undefined) rdId = o.rdId;
      if (!validRoutine(o.blkrtn) || !validRoutine(o.cplrtn)) return failure(DLM_BADPARAM);
    }
    if (!isFlags(flags) || flags & ~LOCK_FLAGS) return failure(DLM_BADPARAM);
    if (!validMode(mode)) return failure(DLM_BADPARAM);
    // dlm_cvt: "If you specify the DLM_VALB flag, you must specify the valb_p parameter".
    if (flags & DLM_VALB && !validValb(valb)) return failure(DLM_BADPARAM);
    // VMS: "... only ... with new requests for NL mode locks" (GAP decision: other modes DLM_BADPARAM).
    if (flags & DLM_EXPEDITE && mode !== DLM_NLMODE) return failure(DLM_BADPARAM);
    if (!validTimeout(timeout)) return failure(DLM_BADPARAM);
    const key = nameKey(resnam);
    if (key === null) return failure(DLM_IVBUFLEN);

    // Where the resource lives: under the parent lock's resource (sublock), else in the namespace.
    let parent: Lock | null = null;
    let ns: Namespace;
    if (parlkid) {
      parent = this.locks.get(parlkid);
      if (parent === null || !this.canUse(rec, parent)) return failure(DLM_IVLOCKID);
      // GAP decision: a lock that still waits cannot be a parent (DLM_PARNOTGRANT); a converting lock is
      // granted at its old mode and can.
      if (parent.grmode === DLM_NOMODE) return failure(DLM_PARNOTGRANT);
      // GAP decision: a sublock is owned like its parent (group sublocks under group locks of the same
      // container, process sublocks under the process' own locks), so a tree goes away as a whole.
      if ((flags & DLM_GROUP_LOCK) !== 0 !== (parent.glc !== null)) return failure(DLM_BADPARAM);
      ns = parent.res.ns;
    } else {
      const a = rec.attachment(nsp);
      if (a === null) return failure(DLM_NOTATTACHED);
      ns = a.ns;
    }
    let glc: Glc | null = null;
    let att: NsAttachment | null = null;
    if (flags & DLM_GROUP_LOCK) {
      glc = rec.glc;
      if (glc === null) return failure(DLM_NO_GROUP);
      if (!glc.namespaces.includes(ns)) return failure(DLM_NOTATTACHED);
    } else {
      att = rec.byNs.get(ns) ?? null;
      if (att === null) return failure(DLM_NOTATTACHED);
    }
    if (flags & DLM_TXID_LOCAL && !validTranid(tranid)) return failure(DLM_BADPARAM);
    let rd: RecoveryDomain | null = null;
    if (flags & DLM_PERSIST) {
      const h = rec.rdHandle(rdId);
      if (h === null) return failure(DLM_IVRDID);
      if (glc !== null ? h.mode !== DLM_RD_GROUP || h.glc !== glc : h.mode === DLM_RD_GROUP) return failure(DLM_BADPARAM);
      rd = h.domain;
    }
    if (this.locks.count >= this.maxLocks) return failure(DLM_INSFMEM);

    const map = parent !== null ? parent.res.children : ns.resources;
    let res = map !== null ? map.get(key) : undefined;
    if (res !== undefined) {
      if (rd === null && res.rd !== null) return failure(DLM_IS_PR);
      if (rd !== null && res.rd === null) return failure(DLM_NOT_PR);
      if (rd !== null && res.rd !== rd) return failure(DLM_PR_RD_MISMATCH);
    }
    // VMS 6-4: "By default, a new request is immediately granted only if all three of the following
    // conditions are satisfied when the request is issued: The queue of ungranted conversion requests
    // for the resource is empty. The queue of ungranted new requests for the resource is empty. The
    // mode of the new request is compatible with the most restrictive mode of all granted locks."
    // VMS 6-10: "If the optional EXPEDITE flag is used with the new NL mode request, then it would be
    // granted ... without considering what may be in the CONVERTING or WAITING queues".
    const now =
      res === undefined ||
      (flags & DLM_EXPEDITE) !== 0 ||
      (res.converting.head === null && res.waiting.head === null && !res.conflicts(mode, null));
    // DLM_NOQUEUE: fail instead of waiting; no lock is left behind and no holder is notified (Linux
    // sends blocking ASTs for a failed NOQUEUE request only with NOQUEUEBAST; GAP decision: never).
    if (!now && flags & DLM_NOQUEUE) return failure(DLM_NOTQUEUED);
    if (res === undefined) res = this.createResource(key, ns, parent, rd);

    const dl = flags & DLM_TXID_LOCAL ? this.txnOwner(tranid!) : glc !== null ? glc.dl : rec.dl;
    const lk = new Lock(this.locks.newId(), res, parent, rec, glc, dl, flags & DLM_TXID_LOCAL ? tranid : null, mode, flags, notprm, hint, blkrtn, cplrtn, timeout, valb, rd);
    this.addLock(lk, att);
    const result: LockResult = { status: DLM_SUCCESS, lkid: lk.id, wait: null };
    if (now) {
      lk.state = DLM_LK_GRANTED;
      lk.grmode = mode;
      res.granted.push(lk);
      res.addMode(mode);
      const valid = flags & DLM_VALB ? this.readLvb(res, valb!) : true;
      if (flags & DLM_SYNCSTS) {
        // DLM_SYNCSTS: an immediate grant "returns DLM_SYNCH (DLM_SYNCVALNOTVALID if the value block is
        // invalid) instead of DLM_SUCCESS; for the queued variants this is the final status and no
        // completion routine runs".
        result.status = valid ? DLM_SYNCH : DLM_SYNCVALNOTVALID;
      } else if (sync) {
        result.status = valid ? DLM_SUCCESS : DLM_SUCCVALNOTVALID;
      } else {
        // dlm_quelock without DLM_SYNCSTS: DLM_SUCCESS now, the completion routine runs later.
        this.deliverCompletion(lk, valid ? DLM_SUCCESS : DLM_SUCCVALNOTVALID);
      }
    } else {
      lk.state = DLM_LK_WAITING;
      res.waiting.push(lk);
      this.startWait(lk, result, sync);
    }
    this.done();
    return result;
  }

  /** @internal dlm_cvt (sync) / dlm_quecvt. */
  convert(rec: ProcessRecord, lkid: LockId, mode: number, o: QueCvtOptions | undefined, sync: boolean): LockResult {
    if (!this.enabledFlag) return failure(DLM_ENOSYS);
    if (!rec.alive) return failure(DLM_NOTATTACHED);
    const lk = this.locks.get(lkid);
    if (lk === null || !this.canUse(rec, lk)) return failure(DLM_IVLOCKID);
    const flags = o?.flags ?? 0;
    const valb = o?.valb ?? null;
    const timeout = o?.timeout ?? 0;
    if (!isFlags(flags) || flags & ~CVT_FLAGS || (flags & DLM_VALB && flags & DLM_INVVALBLK)) return failure(DLM_BADPARAM);
    if (!validMode(mode)) return failure(DLM_BADPARAM);
    if (flags & DLM_VALB && !validValb(valb)) return failure(DLM_BADPARAM);
    if (!validTimeout(timeout)) return failure(DLM_BADPARAM);
    if (o && (!validRoutine(o.blkrtn) || !validRoutine(o.cplrtn))) return failure(DLM_BADPARAM);
    // DLM_CVTUNGRANT: "Attempted to convert ungranted lock". DLM_LKBUSY: a request is in progress on
    // the lock ("A group lock can be manipulated by only one group member at a time").
    if (lk.state === DLM_LK_WAITING) return failure(DLM_CVTUNGRANT);
    if (lk.state === DLM_LK_CONVERTING) return failure(DLM_LKBUSY);
    if (flags & DLM_QUECVT && !quecvtLegal(lk.grmode, mode)) return failure(DLM_BADPARAM);
    const res = lk.res;
    // VMS 6-3: "By default, a conversion request is immediately granted if the requested mode is
    // compatible with the modes of all other granted locks" (converting locks included: they keep their
    // granted mode). VMS 6-7: "the optional QUECVT flag ... forces certain conversion requests to be
    // queued, even if they are compatible with the granted modes"; Linux grants such a request at once
    // only when the conversion queue is empty.
    const now = !res.conflicts(mode, lk) && (!(flags & DLM_QUECVT) || res.converting.head === null);
    if (!now && flags & DLM_NOQUEUE) return { status: DLM_NOTQUEUED, lkid: lk.id, wait: null };

    if (lk.glc !== null) lk.proc = rec;
    lk.saveForConversion();
    lk.flags = (lk.flags & STICKY_FLAGS) | flags;
    if (o) {
      // dlm_cvt: notprm "replaces any notprm parameter that may have been supplied on a prior request".
      if ('notprm' in o) lk.notprm = o.notprm;
      if ('hint' in o) lk.hint = o.hint;
      if ('blkrtn' in o) this.setBlkrtn(lk, o.blkrtn ?? null);
      if (!sync && 'cplrtn' in o) lk.cplrtn = o.cplrtn ?? null;
    }
    lk.timeout = timeout;
    lk.valb = valb;
    lk.rqmode = mode;
    const result: LockResult = { status: DLM_SUCCESS, lkid: lk.id, wait: null };
    if (now) {
      const old = lk.grmode;
      const st = this.grantConversion(lk);
      if (flags & DLM_SYNCSTS) result.status = st === DLM_SUCCESS ? DLM_SYNCH : DLM_SYNCVALNOTVALID;
      else if (sync) result.status = st;
      else this.deliverCompletion(lk, st);
      // A down-conversion may let waiters in; an up-conversion in place may block waiters (new edges
      // for deadlock detection, see deadlock.ts: so does dropping DLM_NODLCKBLK) and owes its holder
      // fresh blocking notifications.
      if (res.hasPending) {
        this.touch(res);
        if (!covers(old, mode) || becameBlocker(lk.svFlags, lk.flags)) this.seeds.push(lk.dl);
      }
    } else {
      res.granted.remove(lk);
      res.converting.push(lk);
      lk.state = DLM_LK_CONVERTING;
      // VMS: "Locks that are converting to a new mode, but that are not yet granted in the new mode, do
      // not receive blocking ASTs"; what it was told before no longer holds once it is back.
      lk.bastMask = 0;
      this.startWait(lk, result, sync);
    }
    this.done();
    return result;
  }

  /**
   * @internal dlm_unlock. From PW or EX, DLM_VALB writes the value block and DLM_INVVALBLK marks it
   * invalid ("lock value block is marked invalid as the lock is released"). A request still waiting or
   * converting completes with DLM_ABORT ("lock was unlocked while waiting for grant or cvt").
   * GAP decision: a lock with sublocks is not released (DLM_SUBLOCKS, as VMS SS$_SUBLOCKS).
   */
  unlock(rec: ProcessRecord, lkid: LockId, valb: Uint8Array | null | undefined, flags: number): DlmStatus {
    if (!this.enabledFlag) return DLM_ENOSYS;
    if (!rec.alive) return DLM_NOTATTACHED;
    const lk = this.locks.get(lkid);
    if (lk === null || !this.canUse(rec, lk)) return DLM_IVLOCKID;
    if (!isFlags(flags) || flags & ~(DLM_VALB | DLM_INVVALBLK) || (flags & DLM_VALB && flags & DLM_INVVALBLK)) return DLM_BADPARAM;
    if (flags & DLM_VALB && !validValb(valb)) return DLM_BADPARAM;
    if (lk.subCount > 0) return DLM_SUBLOCKS;
    if (lk.state !== DLM_LK_GRANTED) {
      this.stopWaiting(lk);
      this.finish(lk, DLM_ABORT);
    }
    if (writesValueBlock(lk.grmode)) {
      if (flags & DLM_VALB) this.writeLvb(lk.res, valb!);
      else if (flags & DLM_INVVALBLK) lk.res.lvbValid = false;
    }
    this.releaseLock(lk);
    this.done();
    return DLM_SUCCESS;
  }

  /**
   * @internal dlm_cancel: "cancels a lock conversion request, returning the lock from the converting
   * state to its prior granted state. You can use the dlm_cancel() function to dequeue a waiting lock
   * request if you specify the DLM_CANCELWAITOK flag."
   * GAP decision: a dequeued waiting request completes with DLM_ABORT (VMS SS$_ABORT, "canceled before
   * it could be granted"); a canceled conversion with DLM_CANCEL. Either way the request is gone.
   */
  cancel(rec: ProcessRecord, lkid: LockId, flags: number): DlmStatus {
    if (!this.enabledFlag) return DLM_ENOSYS;
    if (!isFlags(flags) || flags & ~DLM_CANCELWAITOK) return DLM_BADPARAM;
    if (!rec.alive) return DLM_NOTATTACHED;
    const lk = this.locks.get(lkid);
    if (lk === null || !this.canUse(rec, lk)) return DLM_IVLOCKID;
    if (lk.state === DLM_LK_GRANTED) return DLM_CANCELGRANT;
    if (lk.state === DLM_LK_WAITING) {
      if (!(flags & DLM_CANCELWAITOK)) return DLM_CANCELWAIT;
      this.failRequest(lk, DLM_ABORT);
    } else {
      this.failRequest(lk, DLM_CANCEL);
    }
    this.done();
    return DLM_SUCCESS;
  }

  // ==== group lock containers, recovery domains, info =============================================

  /** @internal */
  glcCreate(rec: ProcessRecord, flags: number, nsList: readonly number[]): GlcCreateResult {
    if (!this.enabledFlag) return { status: DLM_ENOSYS };
    if (!rec.alive) return { status: DLM_NOTATTACHED };
    return glcCreate(this, rec, flags, nsList);
  }

  /** @internal */
  glcAttach(rec: ProcessRecord, id: number, flags: number): DlmStatus {
    if (!this.enabledFlag) return DLM_ENOSYS;
    if (!rec.alive) return DLM_NOTATTACHED;
    return glcAttach(this, rec, id, flags);
  }

  /** @internal */
  glcDetach(rec: ProcessRecord): DlmStatus {
    if (!this.enabledFlag) return DLM_ENOSYS;
    if (!rec.alive) return DLM_NOTATTACHED;
    const st = glcDetach(this, rec);
    this.done();
    return st;
  }

  /** @internal */
  glcDestroy(rec: ProcessRecord, id: number, flags: number): DlmStatus {
    // DLM_ENOSYS: "The DLM is not enabled."
    if (!this.enabledFlag) return DLM_ENOSYS;
    if (!rec.alive) return DLM_NOTATTACHED;
    const st = glcDestroy(this, rec, id, flags);
    this.done();
    return st;
  }

  /** @internal */
  rdAttach(rec: ProcessRecord, name: string, flags: number): RdAttachResult {
    if (!this.enabledFlag) return { status: DLM_ENOSYS };
    if (!rec.alive) return { status: DLM_NOTATTACHED };
    return rdAttach(this, rec, name, flags);
  }

  /** @internal */
  rdDetach(rec: ProcessRecord, rdId: number, flags: number): DlmStatus {
    if (!this.enabledFlag) return DLM_ENOSYS;
    if (!rec.alive) return DLM_NOTATTACHED;
    const st = rdDetach(this, rec, rdId, flags);
    this.done();
    return st;
  }

  /** @internal */
  rdCollect(rec: ProcessRecord, rdId: number, flags: number): RdCollectResult {
    if (!this.enabledFlag) return { status: DLM_ENOSYS };
    if (!rec.alive) return { status: DLM_NOTATTACHED };
    return rdCollect(this, rec, rdId, flags);
  }

  /** @internal */
  rdValidate(rec: ProcessRecord, rdId: number, hndl: number, flags: number): DlmStatus {
    if (!this.enabledFlag) return DLM_ENOSYS;
    if (!rec.alive) return DLM_NOTATTACHED;
    return rdValidate(rec, rdId, hndl, flags);
  }

  /** @internal */
  getLkinfo(rec: ProcessRecord, lkid: LockId): LkInfoResult {
    if (!this.enabledFlag) return { status: DLM_ENOSYS };
    return getLkinfo(this, rec, lkid);
  }

  /** @internal */
  getRsbinfo(rec: ProcessRecord, nsp: number, resnam: string | Uint8Array, parlkid: LockId | null | undefined): RsbInfoResult {
    if (!this.enabledFlag) return { status: DLM_ENOSYS };
    return getRsbinfo(this, rec, nsp, resnam, parlkid ?? null);
  }

  // ==== death =====================================================================================

  /**
   * A process is gone (its connection closed, it was killed). Frees its process locks, cancels its
   * pending requests (no notification reaches it any more), grants what became grantable, invalidates
   * the value blocks it held in PW or EX (marking persistent resources for recovery), takes it out of
   * its group lock container (its group locks stay with the container; the creator of a
   * DLM_GLC_OWNED container takes the container and its members down), drops its recovery domain
   * handles and leaves its namespaces.
   */
  ownerDied(proc: DlmProcess): void {
    this.ownerDiedInternal(proc.record);
    this.done();
  }

  /**
   * A cluster member failed: every process on it died, and recovery domains it had processes attached
   * to report DLM_MORE_TO_RECOVER on their next dlm_rd_validate ("after the failure of any cluster
   * member system that had a process or process lock group attached to the recovery domain").
   * Returns the number of processes that died.
   */
  nodeDied(node: number): number {
    for (const d of this.domains.values()) {
      for (const h of d.attachments) if (h.proc.node === node) d.memberFailed = true;
    }
    let n = 0;
    for (const rec of [...this.processes.values()]) {
      if (rec.node === node && rec.alive) {
        this.ownerDiedInternal(rec);
        n++;
      }
    }
    this.done();
    return n;
  }

  /** @internal */
  ownerDiedInternal(rec: ProcessRecord): void {
    if (!rec.alive) return;
    rec.alive = false;
    this.events?.push({ type: 'died', pid: rec.pid, node: rec.node });
    rec.notifications = [];
    rec.signalRaised = false;
    if (rec.glc) leaveGlc(this, rec, true);
    // All its locks go at once; grants happen afterwards, in queue order, at settle time.
    for (let lk = rec.locks.head; lk; lk = rec.locks.head) this.forceRelease(lk, true);
    for (const h of rec.rds) if (h) destroyRdHandle(this, h, false);
    for (const att of [...rec.byNs.values()]) this.leaveNamespace(rec, att);
    if (this.processes.get(rec.key) === rec) this.processes.delete(rec.key);
  }

  /** @internal Asks the service layer to kill processes; returns those that could not be killed. */
  killProcesses(procs: readonly ProcessRecord[], reason: KillReason): Set<ProcessRecord> {
    const hook = this.hooks.kill;
    if (!hook) return new Set();
    const failed = hook(
      procs.map((p) => p.facade),
      reason,
    );
    return new Set(failed.map((p) => p.record));
  }

  // ==== tooling ===================================================================================

  /** Everything the engine holds, as plain data (for `dmapifs locks` and debugging). */
  dump(): DlmDump {
    return snapshot(this);
  }

  // ==== internals: locks ==========================================================================

  /** @internal Whether `rec` may manipulate `lk`: its own process lock, or a group lock of its container. */
  canUse(rec: ProcessRecord, lk: Lock): boolean {
    return lk.glc !== null ? rec.glc === lk.glc : lk.proc === rec;
  }

  private txnOwner(tranid: TransId): DeadlockOwner {
    let dl = this.txns.get(tranid);
    if (!dl) {
      dl = new DeadlockOwner(`transaction ${String(tranid)}`);
      this.txns.set(tranid, dl);
    }
    return dl;
  }

  /** @internal */ createResource(key: string, ns: Namespace, parent: Lock | null, rd: RecoveryDomain | null): Resource {
    const pres = parent !== null ? parent.res : null;
    const res = new Resource(key, ns, pres);
    if (pres !== null) {
      if (pres.children === null) pres.children = new Map();
      pres.children.set(key, res);
    } else {
      ns.resources.set(key, res);
    }
    if (rd !== null) {
      res.rd = rd;
      rd.resources.add(res);
    }
    return res;
  }

  /** @internal Frees an idle resource (and its parent when that becomes idle in turn). */
  freeResource(res: Resource): void {
    for (let r: Resource | null = res; r !== null && r.idle && !r.freed; r = r.parent) {
      r.freed = true;
      if (r.parent !== null) {
        const siblings = r.parent.children!;
        siblings.delete(r.key);
        if (siblings.size === 0) r.parent.children = null;
      } else {
        const ns = r.ns;
        ns.resources.delete(r.key);
        if (ns.resources.size === 0 && ns.members === 0 && this.namespaces.get(ns.key) === ns) this.namespaces.delete(ns.key);
      }
    }
  }

  /** @internal `inTable`: the lock is in the table already (a re-mastered lock, remaster.ts). */
  addLock(lk: Lock, att: NsAttachment | null, inTable = false): void {
    if (!inTable) this.locks.insert(lk);
    const res = lk.res;
    res.lockCount++;
    if (lk.blkrtn !== null) res.blkCount++;
    if (lk.parent !== null) lk.parent.subCount++;
    if (lk.glc !== null) {
      lk.glc.locks.add(lk);
    } else {
      lk.proc!.locks.add(lk);
      lk.att = att;
      att!.lockCount++;
    }
    lk.dl.refs++;
  }

  /** @internal Takes a lock off every list and out of the table; the resource settles afterwards. */
  releaseLock(lk: Lock): void {
    const res = lk.res;
    if (lk.state === DLM_LK_GRANTED) res.granted.remove(lk);
    else if (lk.state === DLM_LK_CONVERTING) res.converting.remove(lk);
    else if (lk.state === DLM_LK_WAITING) res.waiting.remove(lk);
    if (lk.grmode !== DLM_NOMODE) res.dropMode(lk.grmode);
    res.lockCount--;
    if (lk.blkrtn !== null) res.blkCount--;
    if (lk.parent !== null) lk.parent.subCount--;
    if (lk.glc !== null) {
      lk.glc.locks.remove(lk);
    } else {
      lk.proc!.locks.remove(lk);
      lk.att!.lockCount--;
      lk.att = null;
    }
    const dl = lk.dl;
    if (--dl.refs === 0 && lk.tranid !== null && this.txns.get(lk.tranid) === dl) this.txns.delete(lk.tranid);
    this.locks.release(lk);
    lk.state = 0;
    lk.waiter = null;
    this.afterRelease(res);
  }

  /** @internal A resource lost a lock or its recovery domain: settle it, or free it at once when idle. */
  afterRelease(res: Resource): void {
    if (res.hasPending || res.settling || res.inSettled) this.touch(res);
    else if (res.idle) this.freeResource(res);
  }

  /**
   * @internal Releases a lock whatever its state (death, container destruction): its sublocks first,
   * a pending request completes with DLM_ABORT, and with `invalidate` a PW/EX grant marks the value
   * block invalid (the holder may have left the protected data half-written).
   */
  forceRelease(lk: Lock, invalidate: boolean): void {
    if (lk.state === 0) return;
    if (lk.subCount > 0) for (const child of this.childrenOf(lk)) this.forceRelease(child, invalidate);
    if (lk.state !== DLM_LK_GRANTED) {
      this.stopWaiting(lk);
      this.finish(lk, DLM_ABORT);
    }
    if (invalidate && writesValueBlock(lk.grmode)) lk.res.lvbValid = false;
    this.releaseLock(lk);
  }

  private childrenOf(lk: Lock): Lock[] {
    const out: Lock[] = [];
    const kids = lk.res.children;
    if (kids === null) return out;
    for (const r of kids.values()) {
      for (const q of [r.granted, r.converting, r.waiting]) {
        for (let c = q.head; c; c = c.qNext) if (c.parent === lk) out.push(c);
      }
    }
    return out;
  }

  private setBlkrtn(lk: Lock, fn: BlockingRoutine | null): void {
    if ((lk.blkrtn === null) !== (fn === null)) lk.res.blkCount += fn === null ? -1 : 1;
    lk.blkrtn = fn;
  }

  /** A request starts waiting: deadlock search, timeout, synchronous waiter, blocking notifications. */
  /** @internal */ startWait(lk: Lock, result: LockResult, sync: boolean): void {
    const seq = ++this.waitSeq;
    lk.waitSeq = seq;
    lk.dl.pending.add(lk);
    if (lk.timeout > 0) {
      lk.timer = this.scheduler.setTimer(this.scheduler.now() + lk.timeout * 10, () => this.expire(lk, seq));
    }
    if (sync) {
      let resolve!: (s: number) => void;
      result.wait = new Promise<number>((r) => (resolve = r));
      lk.waiter = { result, resolve } satisfies SyncWaiter;
    }
    // New edges: from the owner to the request and from the request on (a search from the request finds
    // every cycle through them). A conversion also goes ahead of every new request waiting on the
    // resource, giving each an edge to it and, when its mode blocks them, to its owner (and without
    // DLM_NODLCKBLK any more its granted mode blocks as before): a cycle through such an edge need not
    // pass the request itself, so the search also starts from the owner.
    this.seeds.push(lk);
    if (lk.state === DLM_LK_CONVERTING) this.seeds.push(lk.dl);
    this.touch(lk.res);
    this.events?.push({ type: 'queued', lkid: lk.id, pid: lk.proc?.pid ?? 0, mode: lk.rqmode, conversion: lk.grmode !== DLM_NOMODE });
  }

  /** @internal The request is no longer pending: timer and deadlock graph. */
  stopWaiting(lk: Lock): void {
    if (lk.timer !== null) {
      this.scheduler.clearTimer(lk.timer);
      lk.timer = null;
    }
    lk.dl.pending.delete(lk);
  }

  /** A request's timeout expired ("expiry returns DLM_TIMEOUT"; the request leaves the queue). */
  private expire(lk: Lock, seq: number): void {
    lk.timer = null;
    if (lk.state === 0 || lk.state === DLM_LK_GRANTED || lk.waitSeq !== seq) return;
    this.failRequest(lk, DLM_TIMEOUT);
    this.done();
  }

  /**
   * @internal A pending request ends without being granted (cancel, timeout, deadlock victim). A new
   * request goes away with its lock; a conversion is regranted at its previous mode with the routines
   * and parameters it had before.
   */
  failRequest(lk: Lock, status: DlmStatus): void {
    if (lk.state === DLM_LK_CONVERTING) {
      this.revertConversion(lk, status, true);
    } else {
      this.stopWaiting(lk);
      this.finish(lk, status);
      this.releaseLock(lk);
    }
  }

  /**
   * @internal Puts a converting lock back at its granted mode. With `notify`, its requester hears
   * `status`; without (dlm_glc_detach cancels the notifications), only a synchronous waiter does.
   */
  revertConversion(lk: Lock, status: DlmStatus, notify: boolean): void {
    const res = lk.res;
    this.stopWaiting(lk);
    res.converting.remove(lk);
    res.granted.push(lk);
    lk.state = DLM_LK_GRANTED;
    lk.rqmode = lk.grmode;
    if (notify) this.finish(lk, status);
    else if (lk.waiter !== null) this.resolveWaiter(lk, status);
    if (becameBlocker(lk.flags, lk.svFlags)) this.seeds.push(lk.dl);
    lk.flags = lk.svFlags;
    lk.notprm = lk.svNotprm;
    lk.hint = lk.svHint;
    this.setBlkrtn(lk, lk.svBlkrtn);
    lk.cplrtn = lk.svCplrtn;
    lk.timeout = lk.svTimeout;
    lk.valb = lk.svValb;
    // TM dlm_cancel: "If the granted mode to which lock has been reverted is blocking requests waiting in
    // the conversion queue, the blocking notification routine specified for the granted lock is queued
    // for delivery": its bastMask was cleared when the conversion began and it was told nothing since,
    // so the settle pass notifies it afresh.
    this.touch(res);
  }

  /**
   * @internal dlm_glc_detach: "Waiting locks are returned to the process": a waiting group request
   * becomes a process lock of the member that made it.
   */
  returnToProcess(lk: Lock, rec: ProcessRecord): void {
    const att = rec.byNs.get(lk.res.ns)!;
    lk.glc!.locks.remove(lk);
    lk.glc = null;
    lk.flags &= ~DLM_GROUP_LOCK;
    rec.locks.add(lk);
    lk.att = att;
    att.lockCount++;
    const old = lk.dl;
    old.refs--;
    old.pending.delete(lk);
    if (lk.tranid === null) {
      lk.dl = rec.dl;
      rec.dl.refs++;
    } else {
      old.refs++;
    }
    lk.dl.pending.add(lk);
    // New owner, new edges.
    this.seeds.push(lk, lk.dl);
  }

  /** Grants a converting lock or converts a granted one in place; returns the completion status. */
  private grantConversion(lk: Lock): DlmStatus {
    const res = lk.res;
    const old = lk.grmode;
    const mode = lk.rqmode;
    let valid = true;
    if (lk.flags & DLM_VALB) {
      const op = lvbOperation(old, mode);
      if (op === LVB_WRITE) this.writeLvb(res, lk.valb!);
      else if (op === LVB_READ) valid = this.readLvb(res, lk.valb!);
    } else if (lk.flags & DLM_INVVALBLK && writesValueBlock(old)) {
      res.lvbValid = false;
    }
    if (old !== mode) {
      res.dropMode(old);
      res.addMode(mode);
    }
    lk.grmode = mode;
    lk.bastMask = 0;
    if (lk.state === DLM_LK_CONVERTING) {
      res.converting.remove(lk);
      res.granted.push(lk);
    }
    lk.state = DLM_LK_GRANTED;
    return valid ? DLM_SUCCESS : DLM_SUCCVALNOTVALID;
  }

  /** Grants a request from the queues. */
  private grantQueued(lk: Lock): void {
    this.stopWaiting(lk);
    let st: DlmStatus;
    if (lk.state === DLM_LK_CONVERTING) {
      st = this.grantConversion(lk);
    } else {
      const res = lk.res;
      res.waiting.remove(lk);
      lk.grmode = lk.rqmode;
      res.addMode(lk.grmode);
      res.granted.push(lk);
      lk.state = DLM_LK_GRANTED;
      lk.bastMask = 0;
      st = lk.flags & DLM_VALB && !this.readLvb(res, lk.valb!) ? DLM_SUCCVALNOTVALID : DLM_SUCCESS;
    }
    this.finish(lk, st);
  }

  /**
   * Grants what the queues allow, in the VMS order:
   * VMS 6-3: "Once in that queue [CONVERTING], a conversion request cannot be granted until all other
   * conversion requests ahead of it are granted and/or canceled."
   * VMS 6-4: "Once a lock request is in the queue of ungranted new requests, it cannot be granted until
   * the queue of ungranted conversion requests is empty, all ungranted new requests ahead of it are
   * granted and/or canceled, and it is compatible with the granted mode of the most restrictive lock
   * granted on the resource."
   */
  private grantPending(res: Resource): void {
    for (;;) {
      const c = res.converting.head;
      if (c === null || res.conflicts(c.rqmode, c)) break;
      this.grantQueued(c);
    }
    if (res.converting.head !== null) return;
    for (;;) {
      const w = res.waiting.head;
      if (w === null || res.conflicts(w.rqmode, null)) break;
      this.grantQueued(w);
    }
  }

  /**
   * Blocking notifications. VMS: the blocking routine is "called whenever this lock is granted and is
   * blocking any other lock requests ... Locks that are converting to a new mode, but that are not yet
   * granted in the new mode, do not receive blocking ASTs". Tru64 passes the blocked request's hint and
   * mode. GAP decision (after Linux' lkb_highbast): a holder is told once per blocked mode and not again
   * for a mode its earlier notifications cover (the same or a lower mode), until it gets a new mode;
   * the first blocked request in queue order (conversions, then new requests) supplies the hint.
   */
  private bastPass(res: Resource): void {
    if (res.blkCount === 0 || !res.hasPending) return;
    for (let g = res.granted.head; g; g = g.qNext) {
      if (g.blkrtn === null) continue;
      const p = g.proc;
      if (p === null || !p.alive) continue;
      for (const q of [res.converting, res.waiting]) {
        for (let r = q.head; r; r = r.qNext) {
          const m = r.rqmode;
          if (compatible(g.grmode, m) || (g.bastMask & COVERED_BY_MASK[m]) !== 0) continue;
          g.bastMask |= 1 << m;
          this.queueNotification(p, { blocking: true, lock: g, epoch: g.ntfEpoch, routine: g.blkrtn, notprm: g.notprm, hint: r.hint, mode: m });
        }
      }
    }
  }

  /** Breaks the cycles through `seed` one victim at a time (deadlock.ts). */
  private breakDeadlocks(seed: Lock | DeadlockOwner): void {
    if (seed instanceof Lock && (!seed.pending || seed.flags & DLM_NODLCKWT)) return;
    const cycle = findCycleThrough(seed);
    if (cycle === null) return;
    // VMS $ENQ: cancellation occurs "if the waiting request is chosen to break a deadlock".
    this.failRequest(chooseVictim(cycle), DLM_DEADLOCK);
    // Another cycle may run through the same place: look again once the victim's resource settled.
    this.seeds.push(seed);
  }

  // ==== internals: value blocks ===================================================================

  /** Copies the resource's value block into `valb`; returns whether it is valid. */
  private readLvb(res: Resource, valb: Uint8Array): boolean {
    if (res.lvb !== null) valb.set(res.lvb);
    else valb.fill(0, 0, DLM_VALBLKSIZE);
    return res.lvbValid;
  }

  /** Writes the first DLM_VALBLKSIZE bytes of `valb` to the resource (valid again, sequence + 1). */
  private writeLvb(res: Resource, valb: Uint8Array): void {
    if (res.lvb === null) res.lvb = new Uint8Array(DLM_VALBLKSIZE);
    res.lvb.set(valb.subarray(0, DLM_VALBLKSIZE));
    res.lvbValid = true;
    res.lvbSeq++;
  }

  // ==== internals: completions, notifications, settling ===========================================

  /** @internal A pending request ends with `status`: trace it and tell the requester. */
  finish(lk: Lock, status: DlmStatus): void {
    this.events?.push({ type: 'completed', lkid: lk.id, pid: lk.proc?.pid ?? 0, mode: lk.rqmode, status });
    this.deliverCompletion(lk, status);
  }

  /** A synchronous caller's wait ends, or the completion routine is queued. */
  private deliverCompletion(lk: Lock, status: DlmStatus): void {
    if (lk.waiter !== null) {
      this.resolveWaiter(lk, status);
      return;
    }
    const p = lk.proc;
    if (lk.cplrtn !== null && p !== null && p.alive) {
      this.queueNotification(p, { blocking: false, lock: lk, epoch: lk.ntfEpoch, routine: lk.cplrtn, notprm: lk.notprm, status });
    }
  }

  private resolveWaiter(lk: Lock, status: DlmStatus): void {
    const w = lk.waiter!;
    lk.waiter = null;
    w.result.status = status;
    w.resolve(status);
  }

  private queueNotification(p: ProcessRecord, n: Notification): void {
    p.notifications.push(n);
    if (p.signal !== 0 && !p.signalRaised) this.raise(p);
  }

  private raise(p: ProcessRecord): void {
    p.signalRaised = true;
    this.toSignal.push(p);
  }

  /** @internal Marks a resource for settling at the end of the call. */
  touch(res: Resource): void {
    if (!res.settling) {
      res.settling = true;
      this.toSettle.push(res);
    }
  }

  /** @internal Ends a public call: settles what it touched, then runs the hooks. */
  done(): void {
    if (this.toSettle.length || this.seeds.length || this.toSignal.length || (this.events !== null && this.events.length)) this.settle();
  }

  private settle(): void {
    if (!this.settling) {
      this.settling = true;
      try {
        for (;;) {
          let r: Resource | undefined;
          while ((r = this.toSettle.pop()) !== undefined) {
            r.settling = false;
            if (r.freed || r.held) continue;
            this.grantPending(r);
            if (!r.inSettled) {
              r.inSettled = true;
              this.settledList.push(r);
            }
          }
          const seed = this.seeds.pop();
          if (seed === undefined) break;
          this.breakDeadlocks(seed);
        }
        for (const res of this.settledList) {
          res.inSettled = false;
          if (res.freed || res.held) continue;
          this.bastPass(res);
          if (res.idle) this.freeResource(res);
        }
        this.settledList.length = 0;
      } finally {
        this.settling = false;
      }
    }
    this.flush();
  }

  /** Runs the event and signal hooks (which may call back into the engine). */
  private flush(): void {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.toSignal.length || (this.events !== null && this.events.length)) {
        if (this.events !== null && this.events.length) {
          const evs = this.events.splice(0);
          for (const e of evs) this.hooks.event!(e);
        }
        const procs = this.toSignal.splice(0);
        for (const p of procs) {
          if (!p.alive || !p.signalRaised || p.signal === 0) continue;
          if (this.hooks.signal) this.hooks.signal(p.facade, p.signal);
          else this.scheduler.defer(() => {
            if (p.signal !== 0 && p.signalRaised) this.notify(p);
          });
        }
      }
    } finally {
      this.flushing = false;
    }
  }
}
