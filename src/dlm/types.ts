// Public types of the DLM API: lock ids, routines, request options, results, info records, hooks.

import type { DlmStatus } from './status';
import type { LockMode } from './constants';
import type { Scheduler } from './scheduler';
import type { DlmProcess } from './process';

/**
 * dlm_lkid_t: a handle (slot number) and a sequence number. A slot is reused after its lock is gone,
 * with a new sequence number, so a stale id is refused (DLM_IVLOCKID) instead of reaching another lock.
 */
export interface LockId {
  readonly hndl: number;
  readonly seqn: number;
}

/**
 * Blocking routine (blk_callback_t): runs in the holder's process when its granted lock blocks another
 * request. `hint` is the hint of the blocked request, `blockedMode` the mode it asks for.
 */
export type BlockingRoutine = (notprm: unknown, hint: unknown, lkid: LockId, blockedMode: LockMode) => void;

/** Completion routine (cpl_callback_t) of a queued request (quelock / quecvt). */
export type CompletionRoutine = (notprm: unknown, lkid: LockId, status: DlmStatus) => void;

/** dlm_trans_id_t: with DLM_TXID_LOCAL, locks of one transaction form one owner for deadlock detection. */
export type TransId = number | string | bigint;

/** Who a process is: taken by a service from SO_PEERCRED. `node` tells cluster members apart. */
export interface Credentials {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
  /** Supplementary groups. */
  readonly groups?: readonly number[];
  /** Cluster member the process runs on (default 0). */
  readonly node?: number;
}

/** Arguments of dlm_lock / dlm_locktp after nsp, resnam and mode. */
export interface LockOptions {
  /** Parent lock for a sublock; null/undefined for a root lock (then `nsp` names the namespace). */
  parlkid?: LockId | null;
  /** Value block buffer (at least DLM_VALBLKSIZE bytes) for DLM_VALB. */
  valb?: Uint8Array | null;
  flags?: number;
  notprm?: unknown;
  /** Passed to the blocking routines of the locks that block this request. */
  hint?: unknown;
  blkrtn?: BlockingRoutine | null;
  /** Hundredths of a second; 0 = wait forever. */
  timeout?: number;
  /** Transaction (with DLM_TXID_LOCAL). */
  tranid?: TransId | null;
  /** Recovery domain handle (with DLM_PERSIST). */
  rdId?: number | null;
}

/** Arguments of dlm_quelock / dlm_quelocktp. */
export interface QueLockOptions extends LockOptions {
  cplrtn?: CompletionRoutine | null;
}

/**
 * Arguments of dlm_cvt. Fields left out keep the lock's current notprm/hint/blkrtn; fields given
 * (null included) replace them ("replaces any notprm parameter that may have been supplied on a prior
 * request on this lock").
 */
export interface ConvertOptions {
  valb?: Uint8Array | null;
  flags?: number;
  notprm?: unknown;
  hint?: unknown;
  blkrtn?: BlockingRoutine | null;
  timeout?: number;
}

export interface QueCvtOptions extends ConvertOptions {
  cplrtn?: CompletionRoutine | null;
}

/**
 * Result of lock / quelock / cvt / quecvt.
 *
 * A synchronous call (lock, cvt) that has to wait cannot block the engine: it returns at once with
 * `wait` set, a promise of the final status, and `status` DLM_SUCCESS (what the queued variant returns
 * for a queued request). When the wait ends, `status` is updated in place and `wait` resolves with it.
 * Otherwise `wait` is null and `status` is final.
 */
export interface LockResult {
  status: DlmStatus;
  /** The lock id (null when the request failed before a lock existed). */
  lkid: LockId | null;
  wait: Promise<DlmStatus> | null;
}

export interface NsJoinResult {
  status: DlmStatus;
  /** The namespace handle; undefined unless status is DLM_SUCCESS. */
  nsp?: number;
}

export interface SetSignalResult {
  status: DlmStatus;
  oldsig?: number;
}

export interface GlcCreateResult {
  status: DlmStatus;
  id?: number;
}

export interface RdAttachResult {
  status: DlmStatus;
  rdId?: number;
}

/** One resource of a recovery domain collection. */
export interface RdCollectedResource {
  /** Namespace key ("user:1000", "group:100", "system"). */
  namespace: string;
  /** Resource names from the root to this resource. */
  path: Uint8Array[];
  /** The (invalid) value block as it stands. */
  valb: Uint8Array;
  vbseqnum: number;
}

export interface RdCollectResult {
  status: DlmStatus;
  /** Collection handle for dlm_rd_validate. */
  hndl?: number;
  resources?: RdCollectedResource[];
}

/** dlm_lkinfo_t. */
export interface LkInfo {
  resnam: Uint8Array;
  resnlen: number;
  parlkid: LockId | null;
  rqmode: LockMode;
  valb: Uint8Array | null;
  flags: number;
  notprm: unknown;
  hint: unknown;
  blkrtn: BlockingRoutine | null;
  timeout: number;
  cplrtn: CompletionRoutine | null;
  sig: number;
  /** DLM_NOMODE while a new request has never been granted. */
  grmode: LockMode;
  /** DLM_LK_GRANTED, DLM_LK_CONVERTING or DLM_LK_WAITING. */
  lkstate: number;
  lk_pid: number;
}

export interface LkInfoResult {
  status: DlmStatus;
  info?: LkInfo;
}

/** dlm_rsbinfo_t. */
export interface RsbInfo {
  /** DLM_SUCCESS when the value block is valid, DLM_SUCCVALNOTVALID when it is marked invalid. */
  vbstatus: DlmStatus;
  /** Value block sequence number: counts writes to the value block. */
  vbseqnum: number;
  /** Number of child resources (sublock resources) under this resource. */
  subrescnt: number;
  /** Number of locks on the resource: granted, converting and waiting. */
  lckcnt: number;
  /** Number of locks on the resource that have a blocking routine. */
  blkastcnt: number;
  /** Number of locks holding a granted mode (granted and converting). */
  ggcnt: number;
  /** Most restrictive granted mode (DLM_NOMODE when none). */
  ggmode: LockMode;
  /** Requested mode at the head of the conversion queue (DLM_NOMODE when empty). */
  cvtqmode: LockMode;
  /** Requested mode at the head of the wait queue (DLM_NOMODE when empty). */
  wtqmode: LockMode;
  valb: Uint8Array;
}

export interface RsbInfoResult {
  status: DlmStatus;
  info?: RsbInfo;
}

/** Why the engine asks the service layer to kill processes. */
export type KillReason = 'glc-force' | 'glc-owned';

/** Events for tracing (logging, `dmapifs locks --watch`, tests). */
export type DlmEvent =
  /** A request could not be granted at once and was queued. */
  | { type: 'queued'; lkid: LockId; pid: number; mode: LockMode; conversion: boolean }
  /** A queued request ended: granted (DLM_SUCCESS / DLM_SUCCVALNOTVALID), DLM_DEADLOCK, DLM_TIMEOUT, DLM_CANCEL or DLM_ABORT. */
  | { type: 'completed'; lkid: LockId; pid: number; mode: LockMode; status: DlmStatus }
  /** A process died (ownerDied, or killed by the engine through the kill hook). */
  | { type: 'died'; pid: number; node: number };

export interface DlmHooks {
  /**
   * A process with a signal set (dlm_set_signal) has notifications pending. A service raises the
   * signal in the client (or forwards the notifications). Called once until the process drains its
   * queue with notify(). Default: defer proc.notify() through the scheduler.
   */
  signal?(proc: DlmProcess, sig: number): void;
  /**
   * Kill processes (DLM_GLC_FORCE, or the exit of the creator of a DLM_GLC_OWNED container). Returns
   * the processes that could NOT be killed (empty when all were). The engine then treats the killed
   * ones as dead. Must not call back into the engine. Default: every process is killed.
   */
  kill?(procs: readonly DlmProcess[], reason: KillReason): readonly DlmProcess[];
  /** Trace events, delivered in order at the end of each engine call. Must not call back into the engine. */
  event?(e: DlmEvent): void;
}

export interface DlmOptions {
  scheduler?: Scheduler;
  hooks?: DlmHooks;
  /** false: every call answers DLM_ENOSYS ("the DLM is not enabled"). Default true. */
  enabled?: boolean;
  /** Most locks that may exist at once; beyond, requests fail with DLM_INSFMEM. Default unlimited. */
  maxLocks?: number;
  /**
   * First lock sequence number minus one. Node daemons of a cluster give each engine its own range
   * (node id × 2^37) so that a lock id names one lock across the cluster and survives re-mastering.
   */
  lockSeqBase?: number;
  /** First lock handle minus one (node id × 2^20 in a cluster: handles are unique there too). */
  lockHndlBase?: number;
}
