// Re-mastering: the engine's side of cluster recovery. When the node that mastered a resource leaves
// the cluster (or a new member takes the resource over), the resource is rebuilt on its new master
// from the locks the survivors hold, as the Linux DLM does (fs/dlm/recover.c, dlm_recover_locks):
// every survivor sends each of its locks on the resource with its granted and requested modes and
// its state, and the new master puts them back on the queues they were on, keeping their lock ids.
//
// While a resource is rebuilt it is held (Resource.held): survivors' locks arrive in any order, and a
// waiter must not be granted before a granted lock of another survivor has been put back. Nothing is
// granted and nobody notified until the caller releases the resources (release()), once every
// survivor has said it sent everything.
//
// Value blocks: Linux's recover_lvb takes the value block from a lock held in PW or EX (its holder has
// the latest one), else from a lock in PR or CR, "and if the departed node held the lock in PW/EX
// mode the lvb contents are lost" (RSB_VALNOTVALID). Here the survivors tell what they know
// (setLvb), and a resource whose departed master could have seen a PW or EX holder that is no more is
// marked invalid, so the next reader gets DLM_SUCCVALNOTVALID rather than stale data.
import type { Dlm } from './engine';
import type { ProcessRecord } from './process-record';
import type { Resource } from './resource';
import type { BlockingRoutine, CompletionRoutine, LockId, LockResult } from './types';
import { Lock } from './lock';
import { nameKey } from './resource';
import { DLM_LK_CONVERTING, DLM_LK_GRANTED, DLM_LK_WAITING, DLM_NOMODE } from './constants';
import { DLM_SUCCESS, DLM_IVLOCKID, DLM_NOTATTACHED, DLM_BADPARAM, DLM_IVBUFLEN, type DlmStatus } from './status';

/** One lock of a survivor, as it is put back on its new master. */
export interface AdoptedLock {
  lkid: LockId;
  /** The owner's namespace handle on this engine (root locks). */
  nsp: number;
  /** Root resource name (when parlkid is null). */
  resnam: string | Uint8Array;
  /** Parent lock (a sublock); it must have been adopted or exist already. */
  parlkid: LockId | null;
  state: typeof DLM_LK_GRANTED | typeof DLM_LK_CONVERTING | typeof DLM_LK_WAITING;
  grmode: number;
  rqmode: number;
  flags: number;
  notprm?: unknown;
  hint?: unknown;
  blkrtn: BlockingRoutine | null;
  cplrtn: CompletionRoutine | null;
  /** The requester's value block buffer (DLM_VALB). */
  valb: Uint8Array | null;
  /** A dlm_lock / dlm_cvt still waits for this request (the result gets its `wait` promise). */
  sync: boolean;
}

export interface AdoptResult {
  status: DlmStatus;
  /** The resource now held for recovery (release it with release()). */
  res?: Resource;
  wait: Promise<number> | null;
}

/** Puts a survivor's lock back on its new master; the resource stays held. */
export function adopt(dlm: Dlm, rec: ProcessRecord, a: AdoptedLock): AdoptResult {
  const no = (status: DlmStatus): AdoptResult => ({ status, wait: null });
  if (!rec.alive) return no(DLM_NOTATTACHED);
  if (dlm.locks.get(a.lkid) !== null) return no(DLM_IVLOCKID);
  let parent: Lock | null = null;
  let map: Map<string, Resource> | null;
  let ns;
  if (a.parlkid !== null) {
    parent = dlm.locks.get(a.parlkid);
    if (parent === null || parent.proc !== rec) return no(DLM_IVLOCKID);
    ns = parent.res.ns;
    map = parent.res.children;
  } else {
    const att = rec.attachment(a.nsp);
    if (att === null) return no(DLM_NOTATTACHED);
    ns = att.ns;
    map = ns.resources;
  }
  const att = rec.byNs.get(ns) ?? null;
  if (att === null) return no(DLM_NOTATTACHED);
  const key = nameKey(a.resnam);
  if (key === null) return no(DLM_IVBUFLEN);
  if (a.state !== DLM_LK_WAITING && a.grmode === DLM_NOMODE) return no(DLM_BADPARAM);
  let res = map !== null ? map.get(key) : undefined;
  if (res === undefined) res = dlm.createResource(key, ns, parent, null);
  res.held = true;
  const lk = new Lock(a.lkid, res, parent, rec, null, rec.dl, null, a.rqmode, a.flags, a.notprm, a.hint, a.blkrtn, a.cplrtn, 0, a.valb, null);
  dlm.locks.insertForeign(lk);
  dlm.addLock(lk, att, true);
  const result: LockResult = { status: DLM_SUCCESS, lkid: lk.id, wait: null };
  if (a.state === DLM_LK_GRANTED) {
    lk.state = DLM_LK_GRANTED;
    lk.grmode = lk.rqmode = a.grmode;
    res.granted.push(lk);
    res.addMode(a.grmode);
  } else if (a.state === DLM_LK_CONVERTING) {
    lk.state = DLM_LK_CONVERTING;
    lk.grmode = a.grmode;
    res.converting.push(lk);
    res.addMode(a.grmode);
    // A failed conversion goes back to the granted mode with what it had (the survivor does not send
    // the old routines: the request's stay, which only matters for a canceled conversion's notices).
    lk.saveForConversion();
    dlm.startWait(lk, result, a.sync);
  } else {
    lk.state = DLM_LK_WAITING;
    res.waiting.push(lk);
    dlm.startWait(lk, result, a.sync);
  }
  return { status: DLM_SUCCESS, res, wait: result.wait };
}

/** The value block a survivor knows for a held resource (`valid` false: lost with its master). */
export function setLvb(res: Resource, valb: Uint8Array | null, valid: boolean): void {
  if (valb !== null) res.lvb = valb.slice();
  res.lvbValid = valid;
  res.lvbSeq++;
}

/** Recovery is over for these resources: grant what is grantable, send the notifications. */
export function release(dlm: Dlm, resources: Iterable<Resource>): void {
  for (const res of resources) {
    if (!res.held) continue;
    res.held = false;
    dlm.touch(res);
  }
  dlm.done();
}

/**
 * Drops a resource tree without a word to its holders: it is mastered elsewhere from now on, where
 * the holders' nodes put their locks back. Returns the locks dropped.
 */
export function dropSilently(dlm: Dlm, res: Resource): number {
  let n = 0;
  res.held = true;
  if (res.children !== null) for (const c of [...res.children.values()]) n += dropSilently(dlm, c);
  for (const q of [res.granted, res.converting, res.waiting]) {
    for (let lk = q.head; lk; lk = q.head) {
      if (lk.state !== DLM_LK_GRANTED) dlm.stopWaiting(lk);
      lk.waiter = null;
      lk.cplrtn = null;
      dlm.releaseLock(lk);
      n++;
    }
  }
  res.held = false;
  dlm.afterRelease(res);
  return n;
}

/** Root resources of every namespace (the unit a master is chosen for). */
export function* rootResources(dlm: Dlm): Generator<{ nsKey: string; res: Resource }> {
  for (const ns of dlm.namespaces.values()) for (const res of [...ns.resources.values()]) yield { nsKey: ns.key, res };
}
