// Tests of the GAP decisions (taken where the references are silent, docs/decisions.md; each is
// documented beside the code that implements it), and of the engine's service-facing behaviour:
// hooks, re-entrancy, dump.

import test from 'ava';
import * as D from '../src/dlm';
import type { DlmEvent, DlmHooks, DlmProcess, LockId } from '../src/dlm';

const { Dlm, ManualScheduler } = D;

function world(hooks: DlmHooks = {}, extra: { maxLocks?: number } = {}) {
  const sched = new ManualScheduler();
  const events: DlmEvent[] = [];
  const killed: number[] = [];
  const unkillable = new Set<number>();
  const dlm = new Dlm({
    scheduler: sched,
    maxLocks: extra.maxLocks,
    hooks: {
      kill: (procs) => {
        for (const p of procs) if (!unkillable.has(p.pid)) killed.push(p.pid);
        return procs.filter((p) => unkillable.has(p.pid));
      },
      event: (e) => events.push(e),
      ...hooks,
    },
  });
  let nextPid = 100;
  const proc = (uid = 1000, gid = uid) => dlm.process({ pid: nextPid++, uid, gid });
  const member = (uid = 1000) => {
    const p = proc(uid);
    return { p, nsp: p.nsjoin(uid, D.DLM_USER).nsp! };
  };
  const deadlocks = () => events.filter((e) => e.type === 'completed' && e.status === D.DLM_DEADLOCK);
  return { dlm, sched, events, killed, unkillable, proc, member, deadlocks };
}

function info(p: DlmProcess, lkid: LockId) {
  const r = p.getLkinfo(lkid);
  if (r.status !== D.DLM_SUCCESS) throw new Error(D.sperrno(r.status));
  return r.info!;
}

const vb = (fill: number) => new Uint8Array(D.DLM_VALBLKSIZE).fill(fill);

// ---- statuses, flags, limits -------------------------------------------------------------------

test('status names carry the Tru64 numbers (DLM_SYNCH = 1 is our decision)', (t) => {
  const expected: Record<string, number> = {
    DLM_SUCCESS: 0, DLM_SYNCH: 1, DLM_SUCCVALNOTVALID: 2, DLM_SYNCVALNOTVALID: 3, DLM_MORE_TO_RECOVER: 4,
    DLM_MORE_TO_TRAVERSE: 5, DLM_ABORT: 16, DLM_ATTACHED: 17, DLM_BADPARAM: 18, DLM_CANCEL: 19,
    DLM_CANCELGRANT: 20, DLM_CANCELWAIT: 21, DLM_CVTUNGRANT: 22, DLM_DEADLOCK: 23, DLM_EFAULT: 24,
    DLM_ENOENT: 25, DLM_ENOSYS: 26, DLM_HASLOCKS: 27, DLM_INSFMEM: 28, DLM_INTR: 29, DLM_IVBUFLEN: 30,
    DLM_IVLOCKID: 31, DLM_LKBUSY: 32, DLM_NOACCESS: 33, DLM_NOLOCKID: 34, DLM_NOTATTACHED: 35,
    DLM_NOTQUEUED: 36, DLM_PARNOTGRANT: 37, DLM_RETRY: 38, DLM_SUBLOCKS: 39, DLM_TIMEOUT: 40,
    DLM_TOOMANYNS: 41, DLM_UNEXPERR: 42, DLM_HASPROCS: 43, DLM_KILLFAIL: 44, DLM_ATTACHEDGROUP: 45,
    DLM_NO_GROUP: 46, DLM_ENAMETOOLONG: 47, DLM_TOOMANYRD: 48, DLM_IS_PR: 49, DLM_NOT_PR: 50,
    DLM_IVRDID: 51, DLM_PR_RD_MISMATCH: 52, DLM_IVHNDL: 53, DLM_EALREADY: 54, DLM_EINPROGRESS: 55,
    DLM_PUBNS_DISALLOW: 56,
  };
  for (const [name, n] of Object.entries(expected)) {
    t.is((D as unknown as Record<string, number>)[name], n, name);
    t.is(D.statusName(n), name);
    t.true(D.sperrno(n).startsWith(`${name}: `));
  }
  t.is(D.statusName(6), undefined, 'values 6..15 were never observed');
});

test('request flags are distinct bits; the modes are Tru64\'s 1..6', (t) => {
  const flags = [D.DLM_VALB, D.DLM_SYNCSTS, D.DLM_NOQUEUE, D.DLM_QUECVT, D.DLM_EXPEDITE, D.DLM_PERSIST, D.DLM_NODLCKWT,
    D.DLM_NODLCKBLK, D.DLM_GROUP_LOCK, D.DLM_TXID_LOCAL, D.DLM_INVVALBLK, D.DLM_CANCELWAITOK, D.DLM_USER, D.DLM_GROUP, D.DLM_JOIN_SAME_OK];
  let all = 0;
  for (const f of flags) {
    t.is(f & (f - 1), 0, `${f} is one bit`);
    t.is(all & f, 0, `${f} is distinct`);
    all |= f;
  }
  t.deepEqual([D.DLM_NLMODE, D.DLM_CRMODE, D.DLM_CWMODE, D.DLM_PRMODE, D.DLM_PWMODE, D.DLM_EXMODE], [1, 2, 3, 4, 5, 6]);
});

test('DLM_ENOSYS for every call while the DLM is disabled', (t) => {
  const w = world();
  const { p, nsp } = w.member();
  const l = p.lock(nsp, 'R', D.DLM_EXMODE);
  w.dlm.enabled = false;
  t.is(p.nsjoin(1000, D.DLM_USER).status, D.DLM_ENOSYS);
  t.is(p.lock(nsp, 'S', D.DLM_EXMODE).status, D.DLM_ENOSYS);
  t.is(p.cvt(l.lkid!, D.DLM_NLMODE).status, D.DLM_ENOSYS);
  t.is(p.unlock(l.lkid!), D.DLM_ENOSYS);
  t.is(p.glcDestroy(1, 0), D.DLM_ENOSYS);
  t.is(p.rdAttach('x', D.DLM_RD_PROCESS).status, D.DLM_ENOSYS);
  t.is(p.getLkinfo(l.lkid!).status, D.DLM_ENOSYS);
  t.is(p.notify(), 0);
  w.dlm.enabled = true;
  t.is(p.unlock(l.lkid!), D.DLM_SUCCESS);
});

test('maxLocks: requests beyond the limit fail with DLM_INSFMEM', (t) => {
  const w = world({}, { maxLocks: 2 });
  const { p, nsp } = w.member();
  t.is(p.lock(nsp, 'A', D.DLM_NLMODE).status, D.DLM_SUCCESS);
  const b = p.lock(nsp, 'B', D.DLM_NLMODE);
  t.is(p.lock(nsp, 'C', D.DLM_NLMODE).status, D.DLM_INSFMEM);
  p.unlock(b.lkid!);
  t.is(p.lock(nsp, 'C', D.DLM_NLMODE).status, D.DLM_SUCCESS);
});

// ---- namespaces --------------------------------------------------------------------------------

test('nsjoin without DLM_USER or DLM_GROUP takes nsid as a UID; handles run 1..DLM_NSPROCMAX', (t) => {
  const w = world();
  const root = w.proc(0);
  const plain = root.nsjoin(1000, 0);
  t.is(plain.status, D.DLM_SUCCESS);
  t.is(root.nsjoin(1000, D.DLM_USER).status, D.DLM_ATTACHED, 'the same namespace as DLM_USER');
  t.is(plain.nsp, 1);
  for (let uid = 2000; uid < 2000 + D.DLM_NSPROCMAX - 1; uid++) t.is(root.nsjoin(uid, D.DLM_USER).status, D.DLM_SUCCESS);
  t.is(root.nsjoin(9999, D.DLM_USER).status, D.DLM_TOOMANYNS);
  t.is(root.nsleave(5), D.DLM_SUCCESS);
  t.deepEqual(root.nsjoin(9999, D.DLM_USER), { status: D.DLM_SUCCESS, nsp: 5 }, 'the lowest free handle');
  t.is(w.proc(1000).nsjoin(1000, 0x10).status, D.DLM_BADPARAM, 'unknown flag');
});

test('dlm_detach also leaves the group lock container and drops recovery domain handles', (t) => {
  const w = world();
  const [a, b] = [w.member(), w.member()];
  const g = a.p.glcCreate(0, [a.nsp]);
  b.p.glcAttach(g.id!);
  const gl = a.p.lock(a.nsp, 'R', D.DLM_EXMODE, { flags: D.DLM_GROUP_LOCK });
  const rd = a.p.rdAttach('rd', D.DLM_RD_PROCESS);
  a.p.rdAttach('grp', D.DLM_RD_GROUP);
  t.is(a.p.detach(), D.DLM_SUCCESS, 'group locks are the container\'s, not the process\'s');
  t.deepEqual(w.dlm.dump().glcs[0].members, [b.p.pid]);
  t.is(info(b.p, gl.lkid!).lkstate, D.DLM_LK_GRANTED);
  t.is(a.p.rdDetach(rd.rdId!), D.DLM_IVRDID);
  t.deepEqual(w.dlm.dump().domains, []);
});

// ---- signals and notification delivery ---------------------------------------------------------

test('default signal: notifications are delivered after the call, through the scheduler', (t) => {
  const w = world();
  const [a, b] = [w.member(), w.member()];
  const seen: string[] = [];
  a.p.lock(a.nsp, 'R', D.DLM_EXMODE, { blkrtn: () => seen.push('blk') });
  b.p.quelock(b.nsp, 'R', D.DLM_EXMODE);
  t.deepEqual(seen, [], 'never inside the engine call');
  w.sched.flush();
  t.deepEqual(seen, ['blk']);
});

test('a signal hook is raised once per batch and may deliver (and call the engine) at once', (t) => {
  const raised: number[] = [];
  const w = world({
    signal: (proc, sig) => {
      raised.push(sig);
      proc.notify();
    },
  });
  const [a, b] = [w.member(), w.member()];
  const order: string[] = [];
  let held: LockId | null = null;
  // The holder releases from its blocking routine: the hook runs it synchronously, at the end of the
  // call that queued the waiter, and the waiter's completion follows.
  held = a.p.lock(a.nsp, 'R', D.DLM_EXMODE, {
    blkrtn: () => {
      order.push('blocking');
      a.p.unlock(held!);
    },
  }).lkid;
  const q = b.p.quelock(b.nsp, 'R', D.DLM_EXMODE, { cplrtn: (_n, _l, st) => order.push(`completion ${D.statusName(st)}`) });
  t.is(q.status, D.DLM_SUCCESS);
  t.deepEqual(order, ['blocking', 'completion DLM_SUCCESS']);
  t.deepEqual(raised, [D.DLM_DEFAULT_SIGNAL, D.DLM_DEFAULT_SIGNAL]);
  t.is(info(b.p, q.lkid!).grmode, D.DLM_EXMODE);
});

test('setSignal(n) after polling raises the signal for what is already pending', (t) => {
  const w = world();
  const [a, b] = [w.member(), w.member()];
  const seen: number[] = [];
  b.p.setSignal(0);
  const l = a.p.lock(a.nsp, 'R', D.DLM_EXMODE);
  b.p.quelock(b.nsp, 'R', D.DLM_EXMODE, { cplrtn: (_n, _l, st) => seen.push(st) });
  a.p.unlock(l.lkid!);
  w.sched.flush();
  t.deepEqual(seen, []);
  b.p.setSignal(D.SIGIO);
  w.sched.flush();
  t.deepEqual(seen, [D.DLM_SUCCESS]);
});

test('a blocking notification for a lock released before delivery is dropped', (t) => {
  const w = world();
  const [a, b] = [w.member(), w.member()];
  a.p.setSignal(0);
  let calls = 0;
  const l = a.p.lock(a.nsp, 'R', D.DLM_EXMODE, { blkrtn: () => calls++ });
  b.p.quelock(b.nsp, 'R', D.DLM_EXMODE);
  t.is(a.p.pendingNotifications, 1);
  a.p.unlock(l.lkid!);
  t.is(a.p.notify(), 0);
  t.is(calls, 0);
});

test('a routine that throws does not cost the others their delivery', (t) => {
  const w = world();
  const { p, nsp } = w.member();
  p.setSignal(0);
  const seen: string[] = [];
  p.quelock(nsp, 'A', D.DLM_NLMODE, { cplrtn: () => { throw new Error('boom'); } });
  p.quelock(nsp, 'B', D.DLM_NLMODE, { cplrtn: () => seen.push('B') });
  t.throws(() => p.notify(), { message: 'boom' });
  t.deepEqual(seen, ['B']);
  t.is(p.notify(), 0);
});

test('blocking notifications: CW and PR are not covered by each other, PW covers both', (t) => {
  const w = world();
  const [h, x, y, z] = [w.member(), w.member(), w.member(), w.member()];
  const modes: number[] = [];
  h.p.lock(h.nsp, 'R', D.DLM_EXMODE, { blkrtn: (_n, _h, _l, m) => modes.push(m) });
  x.p.quelock(x.nsp, 'R', D.DLM_CWMODE);
  w.sched.flush();
  y.p.quelock(y.nsp, 'R', D.DLM_PRMODE);
  w.sched.flush();
  z.p.quelock(z.nsp, 'R', D.DLM_CRMODE);
  w.sched.flush();
  z.p.quelock(z.nsp, 'R', D.DLM_PWMODE);
  w.sched.flush();
  t.deepEqual(modes, [D.DLM_CWMODE, D.DLM_PRMODE, D.DLM_PWMODE]);
  t.true(D.covers(D.DLM_PWMODE, D.DLM_CWMODE) && D.covers(D.DLM_PWMODE, D.DLM_PRMODE));
  t.false(D.covers(D.DLM_CWMODE, D.DLM_PRMODE) || D.covers(D.DLM_PRMODE, D.DLM_CWMODE));
});

test('a down-conversion that still blocks tells the holder again', (t) => {
  const w = world();
  const [h, x] = [w.member(), w.member()];
  const modes: number[] = [];
  const l = h.p.lock(h.nsp, 'R', D.DLM_EXMODE, { blkrtn: (_n, _h, _l, m) => modes.push(m) });
  x.p.quelock(x.nsp, 'R', D.DLM_EXMODE);
  w.sched.flush();
  h.p.cvt(l.lkid!, D.DLM_PRMODE);
  w.sched.flush();
  t.deepEqual(modes, [D.DLM_EXMODE, D.DLM_EXMODE]);
});

// ---- conversions -------------------------------------------------------------------------------

test('dlm_cvt keeps notprm/hint/blkrtn that are left out, and a failed conversion restores them', (t) => {
  const w = world();
  const [a, b] = [w.member(), w.member()];
  const calls: unknown[] = [];
  const l = a.p.lock(a.nsp, 'R', D.DLM_PRMODE, { notprm: 'keep', blkrtn: (n) => calls.push(n) });
  a.p.cvt(l.lkid!, D.DLM_CRMODE);
  t.is(info(a.p, l.lkid!).notprm, 'keep');
  b.p.lock(b.nsp, 'R', D.DLM_PRMODE);
  a.p.quecvt(l.lkid!, D.DLM_EXMODE, { notprm: 'conv', blkrtn: null, timeout: 5 });
  t.is(info(a.p, l.lkid!).notprm, 'conv');
  w.sched.advance(50);
  const i = info(a.p, l.lkid!);
  t.is(i.lkstate, D.DLM_LK_GRANTED, 'a timed-out conversion goes back to its granted mode');
  t.is(i.grmode, D.DLM_CRMODE);
  t.is(i.notprm, 'keep');
  t.not(i.blkrtn, null);
});

test('dlm_cvt from PW/EX with DLM_INVVALBLK invalidates; DLM_VALB|DLM_INVVALBLK together is refused', (t) => {
  const w = world();
  const [a, b] = [w.member(), w.member()];
  const l = a.p.lock(a.nsp, 'R', D.DLM_EXMODE);
  t.is(a.p.cvt(l.lkid!, D.DLM_NLMODE, { flags: D.DLM_VALB | D.DLM_INVVALBLK, valb: vb(1) }).status, D.DLM_BADPARAM);
  t.is(a.p.unlock(l.lkid!, vb(1), D.DLM_VALB | D.DLM_INVVALBLK), D.DLM_BADPARAM);
  t.is(a.p.cvt(l.lkid!, D.DLM_NLMODE, { flags: D.DLM_INVVALBLK }).status, D.DLM_SUCCESS);
  t.is(b.p.lock(b.nsp, 'R', D.DLM_PRMODE, { flags: D.DLM_VALB, valb: vb(0) }).status, D.DLM_SUCCVALNOTVALID);
});

test('a converting lock can be a parent; a waiting one cannot; sublocks are owned like their parent', (t) => {
  const w = world();
  const [a, b] = [w.member(), w.member()];
  const parent = a.p.lock(a.nsp, 'P', D.DLM_PRMODE);
  b.p.lock(b.nsp, 'P', D.DLM_PRMODE);
  a.p.quecvt(parent.lkid!, D.DLM_EXMODE);
  t.is(a.p.lock(0, 'C', D.DLM_EXMODE, { parlkid: parent.lkid }).status, D.DLM_SUCCESS, 'converting: granted at PR');
  t.is(a.p.lock(0, 'C2', D.DLM_EXMODE, { parlkid: parent.lkid, flags: D.DLM_GROUP_LOCK }).status, D.DLM_BADPARAM);
  t.is(b.p.lock(0, 'C', D.DLM_EXMODE, { parlkid: parent.lkid }).status, D.DLM_IVLOCKID, "another process' lock");
});

// ---- deadlock ----------------------------------------------------------------------------------

test('deadlock: a three-process cycle loses exactly its newest waiter', async (t) => {
  const w = world();
  const [a, b, c] = [w.member(), w.member(), w.member()];
  a.p.lock(a.nsp, 'X', D.DLM_EXMODE);
  b.p.lock(b.nsp, 'Y', D.DLM_EXMODE);
  const cz = c.p.lock(c.nsp, 'Z', D.DLM_EXMODE);
  const ay = a.p.lock(a.nsp, 'Y', D.DLM_EXMODE);
  const bz = b.p.lock(b.nsp, 'Z', D.DLM_EXMODE);
  t.is(w.deadlocks().length, 0);
  const cx = c.p.lock(c.nsp, 'X', D.DLM_EXMODE);
  t.is(await cx.wait, D.DLM_DEADLOCK);
  t.is(w.deadlocks().length, 1);
  c.p.unlock(cz.lkid!);
  t.is(await bz.wait, D.DLM_SUCCESS);
  t.is(info(a.p, ay.lkid!).lkstate, D.DLM_LK_WAITING);
});

test('deadlock: a process whose own locks block each other is not deadlocked', (t) => {
  const w = world();
  const { p, nsp } = w.member();
  p.lock(nsp, 'R', D.DLM_EXMODE);
  const q = p.quelock(nsp, 'R', D.DLM_EXMODE);
  t.is(w.deadlocks().length, 0);
  t.is(info(p, q.lkid!).lkstate, D.DLM_LK_WAITING);
});

test('deadlock: a compatible request ahead is awaited through its blockers; an incompatible one through its owner', (t) => {
  // Compatible: P1 holds EX on R; P2 then P3 wait PR on R; P3 holds EX on S and P2 requests S. P2's PR
  // waits only for P1; P3's PR waits for P2's request to be granted (then they share R), not for P2
  // to release anything. No cycle, no victim.
  {
    const w = world();
    const [p1, p2, p3] = [w.member(), w.member(), w.member()];
    p1.p.lock(p1.nsp, 'R', D.DLM_EXMODE);
    p2.p.quelock(p2.nsp, 'R', D.DLM_PRMODE);
    p3.p.quelock(p3.nsp, 'R', D.DLM_PRMODE);
    p3.p.lock(p3.nsp, 'S', D.DLM_EXMODE);
    const x = p2.p.quelock(p2.nsp, 'S', D.DLM_EXMODE);
    t.is(w.deadlocks().length, 0);
    t.is(info(p2.p, x.lkid!).lkstate, D.DLM_LK_WAITING);
  }
  // Incompatible: the same with P2 waiting EX on R. Once granted, P2's EX blocks P3's PR until P2
  // releases it, and P2 waits for P3's S: a real cycle, and P2's S request (the newest) is the victim.
  {
    const w = world();
    const [p1, p2, p3] = [w.member(), w.member(), w.member()];
    p1.p.lock(p1.nsp, 'R', D.DLM_EXMODE);
    const r2 = p2.p.quelock(p2.nsp, 'R', D.DLM_EXMODE);
    p3.p.quelock(p3.nsp, 'R', D.DLM_PRMODE);
    p3.p.lock(p3.nsp, 'S', D.DLM_EXMODE);
    const x = p2.p.quelock(p2.nsp, 'S', D.DLM_EXMODE);
    t.is(w.deadlocks().length, 1);
    t.deepEqual((w.deadlocks()[0] as Extract<DlmEvent, { type: 'completed' }>).lkid, x.lkid);
    t.is(info(p2.p, r2.lkid!).lkstate, D.DLM_LK_WAITING);
  }
});

test('deadlock: a cycle closed by an in-place conversion loses its newest waiter', (t) => {
  // R: P1 holds NL, P3 holds CR. P2 holds S in EX and waits EX on R (blocked by P3's CR); P1 then waits
  // EX on S (blocked by P2). P1 raises its NL on R to PR in place (compatible with CR, no DLM_QUECVT):
  // P2's request on R now waits for P1 too, closing the cycle P1 → S → P2 → R → P1. Both requests are
  // on it; P1's on S is the newer and is the victim.
  const w = world();
  const [p1, p2, p3] = [w.member(), w.member(), w.member()];
  const nl = p1.p.lock(p1.nsp, 'R', D.DLM_NLMODE);
  p3.p.lock(p3.nsp, 'R', D.DLM_CRMODE);
  p2.p.lock(p2.nsp, 'S', D.DLM_EXMODE);
  const p2r = p2.p.quelock(p2.nsp, 'R', D.DLM_EXMODE);
  const p1s = p1.p.quelock(p1.nsp, 'S', D.DLM_EXMODE);
  t.is(w.deadlocks().length, 0);
  const up = p1.p.cvt(nl.lkid!, D.DLM_PRMODE);
  t.is(up.status, D.DLM_SUCCESS);
  t.is(up.wait, null, 'granted in place');
  t.is(w.deadlocks().length, 1);
  t.deepEqual((w.deadlocks()[0] as Extract<DlmEvent, { type: 'completed' }>).lkid, p1s.lkid);
  t.is(info(p2.p, p2r.lkid!).lkstate, D.DLM_LK_WAITING);
});

test('deadlock: group locks of one container wait for each other without deadlock', (t) => {
  const w = world();
  const [a, b] = [w.member(), w.member()];
  const g = a.p.glcCreate(0, [a.nsp]);
  b.p.glcAttach(g.id!);
  const G = { flags: D.DLM_GROUP_LOCK };
  a.p.lock(a.nsp, 'R', D.DLM_EXMODE, G);
  b.p.lock(b.nsp, 'S', D.DLM_EXMODE, G);
  const x = a.p.quelock(a.nsp, 'S', D.DLM_EXMODE, G);
  const y = b.p.quelock(b.nsp, 'R', D.DLM_EXMODE, G);
  t.is(w.deadlocks().length, 0, 'one owner for deadlock detection');
  t.is(info(a.p, x.lkid!).lkstate, D.DLM_LK_WAITING, 'but group locks still conflict with each other');
  t.is(info(b.p, y.lkid!).lkstate, D.DLM_LK_WAITING);
});

// ---- group lock containers ---------------------------------------------------------------------

test('glc_detach returns a waiting group request to the process', (t) => {
  const w = world();
  const [a, b, c] = [w.member(), w.member(), w.member()];
  const g = a.p.glcCreate(0, [a.nsp]);
  b.p.glcAttach(g.id!);
  c.p.lock(c.nsp, 'R', D.DLM_EXMODE);
  const q = a.p.quelock(a.nsp, 'R', D.DLM_EXMODE, { flags: D.DLM_GROUP_LOCK });
  t.is(a.p.glcDetach(), D.DLM_SUCCESS);
  t.is(info(a.p, q.lkid!).lkstate, D.DLM_LK_WAITING);
  t.is(b.p.getLkinfo(q.lkid!).status, D.DLM_NOACCESS, 'no longer a group lock');
  t.is(a.p.nsleave(a.nsp), D.DLM_HASLOCKS, 'it counts as the process\' own lock now');
});

test('the creator of an OWNED container detaching kills the other members', (t) => {
  const w = world();
  const [a, b, c] = [w.member(), w.member(), w.member()];
  const g = a.p.glcCreate(D.DLM_GLC_OWNED, [a.nsp]);
  b.p.glcAttach(g.id!);
  c.p.lock(c.nsp, 'R', D.DLM_NLMODE);
  b.p.lock(b.nsp, 'R', D.DLM_EXMODE, { flags: D.DLM_GROUP_LOCK });
  t.is(a.p.glcDetach(), D.DLM_SUCCESS);
  t.deepEqual(w.killed, [b.p.pid]);
  t.true(a.p.alive);
  t.false(b.p.alive);
  t.deepEqual(w.dlm.dump().glcs, []);
  t.is(c.p.getRsbinfo(c.nsp, 'R').info!.lckcnt, 1);
});

test('DLM_KILLFAIL: some members killed, no group lock released, the container stays', (t) => {
  const w = world();
  const [a, b, c, d] = [w.member(), w.member(), w.member(), w.member()];
  const g = a.p.glcCreate(D.DLM_GLC_PERM, [a.nsp]);
  b.p.glcAttach(g.id!);
  c.p.glcAttach(g.id!);
  w.unkillable.add(c.p.pid);
  const gl = b.p.lock(b.nsp, 'R', D.DLM_EXMODE, { flags: D.DLM_GROUP_LOCK });
  t.is(d.p.glcDestroy(g.id!, D.DLM_GLC_FORCE), D.DLM_KILLFAIL);
  t.deepEqual(w.killed.sort(), [a.p.pid, b.p.pid].sort(), 'the creator is a member like the others');
  t.false(b.p.alive);
  t.true(c.p.alive);
  t.is(info(c.p, gl.lkid!).grmode, D.DLM_EXMODE);
  t.deepEqual(w.dlm.dump().glcs[0].members, [c.p.pid]);
});

test('glc_destroy access: DLM_NOTATTACHED outside the DLM, DLM_NOACCESS outside its namespaces; root may', (t) => {
  const w = world();
  const a = w.member(1000);
  const g = a.p.glcCreate(D.DLM_GLC_PERM, [a.nsp]);
  a.p.glcDetach();
  t.is(w.proc(2000).glcDestroy(g.id!, 0), D.DLM_NOTATTACHED);
  t.is(w.member(2000).p.glcDestroy(g.id!, 0), D.DLM_NOACCESS);
  t.is(w.member(2000).p.glcDestroy(g.id!, 0x100), D.DLM_BADPARAM);
  const root = w.proc(0);
  root.nsjoin(0, D.DLM_USER);
  t.is(root.glcDestroy(g.id!, 0), D.DLM_SUCCESS);
});

test('value blocks: group locks released by DLM_GLC_FORCE are invalidated, by DLM_GLC_LOCKS not', (t) => {
  const run = (force: boolean) => {
    const w = world();
    const [a, b, keeper] = [w.member(), w.member(), w.member()];
    keeper.p.lock(keeper.nsp, 'R', D.DLM_NLMODE);
    const g = a.p.glcCreate(D.DLM_GLC_PERM, [a.nsp]);
    b.p.glcAttach(g.id!);
    b.p.lock(b.nsp, 'R', D.DLM_EXMODE, { flags: D.DLM_GROUP_LOCK });
    if (!force) {
      a.p.glcDetach();
      b.p.glcDetach();
    }
    t.is(keeper.p.glcDestroy(g.id!, force ? D.DLM_GLC_FORCE : D.DLM_GLC_LOCKS), D.DLM_SUCCESS);
    return keeper.p.getRsbinfo(keeper.nsp, 'R').info!.vbstatus;
  };
  t.is(run(true), D.DLM_SUCCVALNOTVALID);
  t.is(run(false), D.DLM_SUCCESS);
});

// ---- recovery domains --------------------------------------------------------------------------

test('a persistent resource keeps its value block without locks while its domain exists', (t) => {
  const w = world();
  const [a, b] = [w.member(), w.member()];
  const rd = a.p.rdAttach('rd', D.DLM_RD_PROCESS).rdId!;
  const l = a.p.lock(a.nsp, 'R', D.DLM_EXMODE, { flags: D.DLM_PERSIST, rdId: rd });
  a.p.unlock(l.lkid!, vb(9), D.DLM_VALB);
  const r = b.p.getRsbinfo(b.nsp, 'R');
  t.is(r.status, D.DLM_SUCCESS);
  t.is(r.info!.lckcnt, 0);
  t.deepEqual([...r.info!.valb], [...vb(9)]);
  t.is(a.p.rdDetach(rd), D.DLM_SUCCESS);
  t.is(b.p.getRsbinfo(b.nsp, 'R').status, D.DLM_ENOENT, 'gone with its domain');
});

test('dead-man lock with a single process: the domain outlives its only process, its successor collects', (t) => {
  const w = world();
  const a = w.member();
  const rd = a.p.rdAttach('rd', D.DLM_RD_PROCESS).rdId!;
  const l = a.p.lock(a.nsp, 'alive', D.DLM_EXMODE, { flags: D.DLM_PERSIST | D.DLM_VALB, rdId: rd, valb: vb(0) });
  t.is(l.status, D.DLM_SUCCESS);
  a.p.cvt(l.lkid!, D.DLM_EXMODE, { flags: D.DLM_VALB, valb: vb(7) });
  w.dlm.ownerDied(a.p); // its only attached process dies holding EX
  const b = w.member();
  const rd2 = b.p.rdAttach('rd', D.DLM_RD_PROCESS).rdId!;
  const c = b.p.rdCollect(rd2);
  t.is(c.status, D.DLM_SUCCESS);
  t.deepEqual(c.resources!.map((r) => Buffer.from(r.path[0]).toString()), ['alive'], 'the dead holder left it invalid');
  t.deepEqual([...c.resources![0].valb], [...vb(7)], 'with the value block it last wrote');
  t.is(b.p.rdValidate(rd2, c.hndl!), D.DLM_SUCCESS);
  const got = vb(1);
  const again = b.p.lock(b.nsp, 'alive', D.DLM_EXMODE, { flags: D.DLM_PERSIST | D.DLM_VALB, rdId: rd2, valb: got });
  t.is(again.status, D.DLM_SUCCESS);
  t.deepEqual([...got], [...new Uint8Array(D.DLM_VALBLKSIZE)], 'validated: the value block was zeroed');
  // A clean shutdown: unlock, detach; nothing is left to recover, so the resource goes.
  t.is(b.p.unlock(again.lkid!), D.DLM_SUCCESS);
  t.is(b.p.rdDetach(rd2), D.DLM_SUCCESS);
  t.is(w.member().p.getRsbinfo(b.nsp, 'alive').status, D.DLM_ENOENT);
});

test('the last handle detached on purpose leaves invalid persistent resources for the next collector', (t) => {
  const w = world();
  const [a, b] = [w.member(), w.member()];
  const rdA = a.p.rdAttach('rd', D.DLM_RD_PROCESS).rdId!;
  const rdB = b.p.rdAttach('rd', D.DLM_RD_PROCESS).rdId!;
  a.p.lock(a.nsp, 'R', D.DLM_EXMODE, { flags: D.DLM_PERSIST, rdId: rdA });
  w.dlm.ownerDied(a.p);
  t.is(b.p.rdDetach(rdB), D.DLM_SUCCESS);
  const c = w.member();
  const rdC = c.p.rdAttach('rd', D.DLM_RD_PROCESS).rdId!;
  t.is(c.p.rdCollect(rdC).resources!.length, 1);
});

test('rd_detach refuses while the process holds persistent locks in the domain; bad handle, flags', (t) => {
  const w = world();
  const { p, nsp } = w.member();
  const rd = p.rdAttach('rd', D.DLM_RD_PROCESS).rdId!;
  t.is(p.rdAttach('rd', D.DLM_RD_PROCESS).status, D.DLM_ATTACHED);
  t.is(p.rdAttach('rd', D.DLM_RD_GROUP).status, D.DLM_NO_GROUP);
  t.is(p.rdAttach('', D.DLM_RD_PROCESS).status, D.DLM_BADPARAM);
  const l = p.lock(nsp, 'R', D.DLM_NLMODE, { flags: D.DLM_PERSIST, rdId: rd });
  t.is(p.lock(nsp, 'S', D.DLM_NLMODE, { flags: D.DLM_PERSIST | D.DLM_GROUP_LOCK, rdId: rd }).status, D.DLM_NO_GROUP);
  t.is(p.rdDetach(rd), D.DLM_HASLOCKS);
  t.is(p.rdDetach(rd, 1), D.DLM_BADPARAM);
  t.is(p.rdDetach(rd + 1), D.DLM_IVRDID);
  p.unlock(l.lkid!);
  t.is(p.rdDetach(rd), D.DLM_SUCCESS);
  t.is(p.rdValidate(rd, 1), D.DLM_IVRDID);
});

test('rd_validate with a wrong collection handle → DLM_IVHNDL', (t) => {
  const w = world();
  const { p } = w.member();
  const rd = p.rdAttach('rd', D.DLM_RD_PROCESS).rdId!;
  t.is(p.rdValidate(rd, 1), D.DLM_IVHNDL, 'nothing collected');
  const c = p.rdCollect(rd);
  t.is(p.rdValidate(rd, c.hndl! + 1), D.DLM_IVHNDL);
  t.is(p.rdValidate(rd, c.hndl!), D.DLM_SUCCESS);
});

test('a cluster member fails during recovery → rd_validate reports DLM_MORE_TO_RECOVER', (t) => {
  const w = world();
  const a = w.member();
  const remote = w.dlm.process({ pid: 7, uid: 1000, gid: 1000, node: 2 });
  remote.nsjoin(1000, D.DLM_USER);
  const rdA = a.p.rdAttach('rd', D.DLM_RD_PROCESS).rdId!;
  remote.rdAttach('rd', D.DLM_RD_PROCESS);
  const c = a.p.rdCollect(rdA);
  t.is(w.dlm.nodeDied(2), 1);
  t.false(remote.alive);
  t.is(a.p.rdValidate(rdA, c.hndl!), D.DLM_MORE_TO_RECOVER);
  const c2 = a.p.rdCollect(rdA);
  t.is(a.p.rdValidate(rdA, c2.hndl!), D.DLM_SUCCESS);
});

test('persistent group locks need a DLM_RD_GROUP handle, process locks a DLM_RD_PROCESS one', (t) => {
  const w = world();
  const { p, nsp } = w.member();
  p.glcCreate(0, [nsp]);
  const grp = p.rdAttach('g', D.DLM_RD_GROUP).rdId!;
  const prc = p.rdAttach('p', D.DLM_RD_PROCESS).rdId!;
  t.is(p.lock(nsp, 'A', D.DLM_NLMODE, { flags: D.DLM_PERSIST, rdId: grp }).status, D.DLM_BADPARAM);
  t.is(p.lock(nsp, 'A', D.DLM_NLMODE, { flags: D.DLM_PERSIST | D.DLM_GROUP_LOCK, rdId: prc }).status, D.DLM_BADPARAM);
  t.is(p.lock(nsp, 'A', D.DLM_NLMODE, { flags: D.DLM_PERSIST | D.DLM_GROUP_LOCK, rdId: grp }).status, D.DLM_SUCCESS);
  t.is(p.lock(nsp, 'B', D.DLM_NLMODE, { flags: D.DLM_PERSIST, rdId: prc }).status, D.DLM_SUCCESS);
});

// ---- death and tooling -------------------------------------------------------------------------

test('a dying process\' synchronous waits end (DLM_ABORT) and its process record is reusable', async (t) => {
  const w = world();
  const [a, b] = [w.member(), w.member()];
  a.p.lock(a.nsp, 'R', D.DLM_EXMODE);
  const r = b.p.lock(b.nsp, 'R', D.DLM_EXMODE);
  w.dlm.ownerDied(b.p);
  w.dlm.ownerDied(b.p); // idempotent
  t.is(await r.wait, D.DLM_ABORT);
  const again = w.dlm.process({ pid: b.p.pid, uid: 1000, gid: 1000 });
  t.not(again, b.p);
  t.true(again.alive);
  t.is(w.dlm.process({ pid: again.pid, uid: 1000, gid: 1000 }), again);
});

test('dump and formatDump show queues, containers and domains', (t) => {
  const w = world();
  const [a, b] = [w.member(), w.member()];
  a.p.lock(a.nsp, 'R', D.DLM_PRMODE);
  const l = b.p.lock(b.nsp, 'R', D.DLM_PRMODE);
  b.p.quecvt(l.lkid!, D.DLM_EXMODE);
  a.p.lock(a.nsp, new Uint8Array([0, 1, 2]), D.DLM_NLMODE);
  a.p.glcCreate(0, [a.nsp]);
  a.p.rdAttach('rd', D.DLM_RD_PROCESS);
  const d = w.dlm.dump();
  t.is(d.locks, 3);
  const res = d.namespaces[0].resources;
  t.deepEqual(res.map((r) => r.name), ['R', '0x000102']);
  t.is(res[0].converting[0].rqmode, 'EX');
  t.is(res[0].converting[0].grmode, 'PR');
  t.is(res[0].converting[0].pid, b.p.pid);
  const text = D.formatDump(d);
  t.regex(text, /resource R/);
  t.regex(text, /converting PR->EX/);
  t.regex(text, /group lock container 1/);
  t.regex(text, /recovery domain "rd"/);
});
