// The lock block (Linux: struct dlm_lkb): one lock or pending request, the intrusive lists it sits
// on, and the table that turns lock ids into locks.

import type { TimerHandle } from './scheduler';
import type { BlockingRoutine, CompletionRoutine, LockId, LockResult, TransId } from './types';
import type { Resource } from './resource';
import type { ProcessRecord, NsAttachment } from './process-record';
import type { Glc } from './glc';
import type { DeadlockOwner } from './deadlock';
import type { RecoveryDomain } from './recovery';
import { DLM_LK_CONVERTING, DLM_LK_GRANTED, DLM_LK_WAITING, DLM_NOMODE } from './constants';

/** A synchronous caller (lock, cvt) waiting for its request to end. */
export interface SyncWaiter {
  result: LockResult;
  resolve: (status: number) => void;
}

export class Lock {
  readonly id: LockId;
  readonly res: Resource;
  readonly parent: Lock | null;
  /** Number of locks whose parent is this lock (DLM_SUBLOCKS while > 0). */
  subCount = 0;

  /** Owner of a process lock; for a group lock, the member manipulating it (null: nobody). */
  proc: ProcessRecord | null;
  /** Container of a group lock. */
  glc: Glc | null;
  /** Namespace attachment a process lock is counted on (dlm_nsleave's DLM_HASLOCKS). */
  att: NsAttachment | null;
  /** Who waits / blocks in the deadlock graph: the process, the container or the transaction. */
  dl: DeadlockOwner;
  readonly tranid: TransId | null;

  /** Granted mode (DLM_NOMODE while a new request waits). */
  grmode = DLM_NOMODE;
  /** Requested mode (equals grmode once granted). */
  rqmode: number;
  /** DLM_LK_GRANTED, DLM_LK_CONVERTING, DLM_LK_WAITING; 0 once released. */
  state = 0;

  flags: number;
  notprm: unknown;
  hint: unknown;
  blkrtn: BlockingRoutine | null;
  cplrtn: CompletionRoutine | null;
  timeout: number;
  valb: Uint8Array | null;

  // What a conversion replaced, restored when it fails ("the prior granted mode, blocking notification
  // routine, and blocking parameter are in effect as if the conversion was never attempted").
  svFlags = 0;
  svNotprm: unknown = undefined;
  svHint: unknown = undefined;
  svBlkrtn: BlockingRoutine | null = null;
  svCplrtn: CompletionRoutine | null = null;
  svTimeout = 0;
  svValb: Uint8Array | null = null;

  timer: TimerHandle | null = null;
  waiter: SyncWaiter | null = null;
  /** Order in which requests started waiting; the newest waiter of a cycle is the deadlock victim. */
  waitSeq = 0;
  /** Modes this lock was already told it blocks since it got its mode (bit per mode). */
  bastMask = 0;
  /** Bumped to void the notifications queued for this lock (dlm_glc_detach). */
  ntfEpoch = 0;
  /** Recovery domain of a persistent lock. */
  rd: RecoveryDomain | null;
  /** Depth-first search mark (deadlock.ts). */
  mark = 0;

  // Resource queue links (granted, converting or waiting).
  qPrev: Lock | null = null;
  qNext: Lock | null = null;
  // Owner list links (the owning process' or container's list of locks).
  oPrev: Lock | null = null;
  oNext: Lock | null = null;

  constructor(
    id: LockId,
    res: Resource,
    parent: Lock | null,
    proc: ProcessRecord | null,
    glc: Glc | null,
    dl: DeadlockOwner,
    tranid: TransId | null,
    rqmode: number,
    flags: number,
    notprm: unknown,
    hint: unknown,
    blkrtn: BlockingRoutine | null,
    cplrtn: CompletionRoutine | null,
    timeout: number,
    valb: Uint8Array | null,
    rd: RecoveryDomain | null,
  ) {
    this.id = id;
    this.res = res;
    this.parent = parent;
    this.proc = proc;
    this.glc = glc;
    this.att = null;
    this.dl = dl;
    this.tranid = tranid;
    this.rqmode = rqmode;
    this.flags = flags;
    this.notprm = notprm;
    this.hint = hint;
    this.blkrtn = blkrtn;
    this.cplrtn = cplrtn;
    this.timeout = timeout;
    this.valb = valb;
    this.rd = rd;
  }

  /** A conversion starts: what it may replace is kept, to restore if it fails. */
  saveForConversion(): void {
    this.svFlags = this.flags;
    this.svNotprm = this.notprm;
    this.svHint = this.hint;
    this.svBlkrtn = this.blkrtn;
    this.svCplrtn = this.cplrtn;
    this.svTimeout = this.timeout;
    this.svValb = this.valb;
  }

  get pending(): boolean {
    return this.state === DLM_LK_CONVERTING || this.state === DLM_LK_WAITING;
  }

  get granted(): boolean {
    return this.state === DLM_LK_GRANTED;
  }
}

/** A resource queue, linked through qPrev/qNext. */
export class LockQueue {
  head: Lock | null = null;
  tail: Lock | null = null;
  size = 0;

  push(lk: Lock): void {
    lk.qNext = null;
    lk.qPrev = this.tail;
    if (this.tail) this.tail.qNext = lk;
    else this.head = lk;
    this.tail = lk;
    this.size++;
  }

  remove(lk: Lock): void {
    if (lk.qPrev) lk.qPrev.qNext = lk.qNext;
    else this.head = lk.qNext;
    if (lk.qNext) lk.qNext.qPrev = lk.qPrev;
    else this.tail = lk.qPrev;
    lk.qPrev = lk.qNext = null;
    this.size--;
  }

  toArray(): Lock[] {
    const out: Lock[] = [];
    for (let l = this.head; l; l = l.qNext) out.push(l);
    return out;
  }
}

/** A list of the locks of one owner (process or container), linked through oPrev/oNext. */
export class OwnerLockList {
  head: Lock | null = null;
  size = 0;

  add(lk: Lock): void {
    lk.oPrev = null;
    lk.oNext = this.head;
    if (this.head) this.head.oPrev = lk;
    this.head = lk;
    this.size++;
  }

  remove(lk: Lock): void {
    if (lk.oPrev) lk.oPrev.oNext = lk.oNext;
    else this.head = lk.oNext;
    if (lk.oNext) lk.oNext.oPrev = lk.oPrev;
    lk.oPrev = lk.oNext = null;
    this.size--;
  }

  toArray(): Lock[] {
    const out: Lock[] = [];
    for (let l = this.head; l; l = l.oNext) out.push(l);
    return out;
  }
}

/**
 * Lock ids → locks: a slot array with a free list; every allocation gets a fresh sequence number.
 * In a cluster each node's engine numbers its locks from its own base (seqBase), so a lock id names
 * one lock cluster-wide; a lock re-mastered here after its master left keeps the id it was given
 * there ("foreign" ids: held by sequence number, apart from the slots).
 */
export class LockTable {
  private slots: (Lock | null)[] = [null];
  private free: number[] = [];
  private seqn: number;
  private readonly foreign = new Map<number, Lock>();
  count = 0;

  /** hndlBase: handles are base + slot (a cluster node's own range, so that they are unique too). */
  constructor(seqBase = 0, private readonly hndlBase = 0) {
    this.seqn = seqBase;
  }

  newId(): LockId {
    const slot = this.free.length ? this.free.pop()! : this.slots.push(null) - 1;
    return { hndl: this.hndlBase + slot, seqn: ++this.seqn };
  }

  insert(lk: Lock): void {
    this.slots[lk.id.hndl - this.hndlBase] = lk;
    this.count++;
  }

  /** A lock that keeps the id another engine gave it (re-mastering); false when the id is in use. */
  insertForeign(lk: Lock): boolean {
    if (this.get(lk.id) !== null) return false;
    this.foreign.set(lk.id.seqn, lk);
    this.count++;
    return true;
  }

  release(lk: Lock): void {
    if (this.foreign.get(lk.id.seqn) === lk) {
      this.foreign.delete(lk.id.seqn);
    } else {
      this.slots[lk.id.hndl - this.hndlBase] = null;
      this.free.push(lk.id.hndl - this.hndlBase);
    }
    this.count--;
  }

  get(id: LockId | null | undefined): Lock | null {
    if (!id || typeof id !== 'object') return null;
    const h = id.hndl;
    if (typeof h !== 'number' || h <= 0) return null;
    const slot = h - this.hndlBase;
    const lk = slot > 0 && slot < this.slots.length ? this.slots[slot] : null;
    if (lk && lk.id.seqn === id.seqn) return lk;
    if (this.foreign.size === 0) return null;
    const f = this.foreign.get(id.seqn);
    return f !== undefined && f.id.hndl === h ? f : null;
  }
}
