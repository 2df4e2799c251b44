// Deadlock detection over all resources: a wait-for graph searched depth-first from the place where a
// new edge appeared.
//
// VMS and Tru64 detect wait-for cycles and cancel "the waiting request chosen to break a deadlock",
// which completes with DLM_DEADLOCK (VMS). Tru64's victim rule was not recovered.
//
// GAP decisions, all of them:
// - Owners. A lock waits and blocks on behalf of its owner: the process; the group lock container for
//   a group lock; the transaction for a lock taken with DLM_TXID_LOCAL (locks of one transaction form
//   one owner whichever process holds them). An owner with a pending request counts as blocked (the
//   VMS assumption, also for requests queued with dlm_quelock).
// - Edges. The graph has owner nodes and pending-request nodes.
//     owner O → each pending request of O (not DLM_NODLCKWT);
//     request L → owner of every lock whose granted mode is incompatible with L's requested mode
//                 (granted and converting locks both hold a granted mode);
//     request L → every request ahead of L that L must let go first (VMS 6-3/6-4: a conversion waits
//                 for the conversions ahead of it; a new request waits for all conversions and for the
//                 new requests ahead of it), and also → the owner of such a request when its requested
//                 mode is incompatible with L's (once granted it blocks L until released).
//   A request ahead of L that is compatible with it only delays L until it is granted, so L inherits
//   its blockers through the request node instead of waiting for its owner: that keeps queue order
//   from producing false cycles.
// - Exclusions: a request with DLM_NODLCKWT has no outgoing edge (its waiter is not really blocked);
//   a lock with DLM_NODLCKBLK is never a blocker (its holder releases on blocking notification). An
//   owner never waits for itself: edges from a request to its own owner are left out, so a process (or
//   a transaction, or a container) whose requests block each other waits, but is no deadlock.
// - Conversion deadlock (two PR holders both converting to EX) is a cycle of this graph like any other.
// - Victim: the newest waiter of the cycle (the request that started waiting last, usually the one that
//   closed it). Exactly one victim per cycle: after a victim is removed the search runs again from the
//   same place, and only a cycle that still exists yields another victim.
// - When: at once, at the end of the call that created the new edge (no deadlock-wait timer). New
//   edges appear only
//     * when a request starts waiting: from its owner to it, and from it on; a new conversion also
//       goes ahead of every waiting new request, which gets an edge to it and, if its mode blocks
//       them, to its owner. The search starts at the request, and for a conversion also at its owner;
//     * when a granted lock is raised in place while requests wait on its resource, or stops being
//       exempt as a blocker (a conversion, or a failed conversion's restored flags, drop
//       DLM_NODLCKBLK): from those requests to its owner. The search starts at the owner.
//   Grants from the queues never add edges: the requests behind a granted request already had an edge
//   to its owner if its mode blocks them. Reverting, cancelling and releasing only remove edges. So the
//   graph stays acyclic between calls, and every new cycle runs through a node a search starts from.

import type { Lock } from './lock';
import { compatible } from './modes';
import { DLM_LK_CONVERTING, DLM_LK_WAITING, DLM_NODLCKBLK, DLM_NODLCKWT } from './constants';

export class DeadlockOwner {
  /** Pending requests of this owner. */
  readonly pending = new Set<Lock>();
  /** Locks referring to this owner (for transactions, which are dropped when unused). */
  refs = 0;
  /** Depth-first search mark. */
  mark = 0;

  constructor(readonly label: string) {}
}

type Node = Lock | DeadlockOwner;

let epoch = 0;

/** The nodes `lk` (a pending request) has edges to. */
function requestEdges(lk: Lock, out: Node[]): void {
  const res = lk.res;
  const rq = lk.rqmode;
  const dl = lk.dl;
  // Holders: granted and converting locks whose granted mode blocks this request.
  for (let q = res.granted.head; q; q = q.qNext) {
    if (q !== lk && !compatible(q.grmode, rq) && !(q.flags & DLM_NODLCKBLK) && q.dl !== dl) out.push(q.dl);
  }
  for (let q = res.converting.head; q; q = q.qNext) {
    if (q !== lk && !compatible(q.grmode, rq) && !(q.flags & DLM_NODLCKBLK) && q.dl !== dl) out.push(q.dl);
  }
  // Requests that must be granted (or go) before this one.
  const ahead = (p: Lock): void => {
    if (!(p.flags & DLM_NODLCKWT)) out.push(p);
    if (!compatible(p.rqmode, rq) && !(p.flags & DLM_NODLCKBLK) && p.dl !== dl) out.push(p.dl);
  };
  if (lk.state === DLM_LK_CONVERTING) {
    for (let p = lk.qPrev; p; p = p.qPrev) ahead(p);
  } else if (lk.state === DLM_LK_WAITING) {
    for (let p = res.converting.head; p; p = p.qNext) ahead(p);
    for (let p = lk.qPrev; p; p = p.qPrev) ahead(p);
  }
}

function edges(node: Node, isLock: boolean): Node[] {
  const out: Node[] = [];
  if (isLock) {
    const lk = node as Lock;
    if (!(lk.flags & DLM_NODLCKWT)) requestEdges(lk, out);
  } else {
    for (const lk of (node as DeadlockOwner).pending) if (!(lk.flags & DLM_NODLCKWT)) out.push(lk);
  }
  return out;
}

function isLockNode(n: Node): n is Lock {
  return !(n instanceof DeadlockOwner);
}

/**
 * Looks for a cycle through `start` (a pending request or an owner). Returns the pending requests on
 * the cycle, or null. Assumes every other cycle has already been broken.
 */
export function findCycleThrough(start: Node): Lock[] | null {
  const mark = ++epoch;
  start.mark = mark;
  const nodes: Node[] = [start];
  const lists: Node[][] = [edges(start, isLockNode(start))];
  const idx: number[] = [0];
  while (nodes.length) {
    const top = nodes.length - 1;
    const list = lists[top];
    if (idx[top] >= list.length) {
      nodes.pop();
      lists.pop();
      idx.pop();
      continue;
    }
    const next = list[idx[top]++];
    if (next === start) {
      const cycle: Lock[] = [];
      for (const n of nodes) if (isLockNode(n)) cycle.push(n);
      return cycle;
    }
    if (next.mark === mark) continue;
    next.mark = mark;
    nodes.push(next);
    lists.push(edges(next, isLockNode(next)));
    idx.push(0);
  }
  return null;
}

/** The newest waiter among `cycle`: the deadlock victim. */
export function chooseVictim(cycle: readonly Lock[]): Lock {
  let v = cycle[0];
  for (const lk of cycle) if (lk.waitSeq > v.waitSeq) v = lk;
  return v;
}
