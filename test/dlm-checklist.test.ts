// Our conformance checklist of the TruCluster DLM, one test per item, named after its number.
// Processes are engine processes (dlm.process); "killed" is dlm.ownerDied. Time is a ManualScheduler;
// notifications are delivered by the default signal (SIGIO: deferred through the scheduler, run by
// sched.flush()) unless a test switches a process to polling with setSignal(0).

import test from 'ava';
import * as D from '../src/dlm';
import type { BlockingRoutine, CompletionRoutine, DlmEvent, DlmProcess, LockId } from '../src/dlm';

const { Dlm, ManualScheduler } = D;
const MODES = [D.DLM_NLMODE, D.DLM_CRMODE, D.DLM_CWMODE, D.DLM_PRMODE, D.DLM_PWMODE, D.DLM_EXMODE];
const NAME = ['', 'NL', 'CR', 'CW', 'PR', 'PW', 'EX'];

function world() {
  const sched = new ManualScheduler();
  const killed: { pid: number; reason: string }[] = [];
  const unkillable = new Set<number>();
  const events: DlmEvent[] = [];
  const dlm = new Dlm({
    scheduler: sched,
    hooks: {
      kill: (procs, reason) => {
        const failed = procs.filter((p) => unkillable.has(p.pid));
        for (const p of procs) if (!unkillable.has(p.pid)) killed.push({ pid: p.pid, reason });
        return failed;
      },
      event: (e) => events.push(e),
    },
  });
  let nextPid = 100;
  const proc = (uid = 1000, gid = uid, groups?: number[]) => dlm.process({ pid: nextPid++, uid, gid, groups });
  /** A process of `uid` that joined the namespace of `uid`. */
  const member = (uid = 1000) => {
    const p = proc(uid);
    const r = p.nsjoin(uid, D.DLM_USER);
    if (r.status !== D.DLM_SUCCESS) throw new Error(`nsjoin: ${D.sperrno(r.status)}`);
    return { p, nsp: r.nsp! };
  };
  const deadlocks = () => events.filter((e) => e.type === 'completed' && e.status === D.DLM_DEADLOCK);
  return { dlm, sched, killed, unkillable, events, proc, member, deadlocks };
}

/** Records blocking and completion notifications. */
function recorder() {
  const blk: { notprm: unknown; hint: unknown; lkid: LockId; mode: number }[] = [];
  const cpl: { notprm: unknown; lkid: LockId; status: number }[] = [];
  const blkrtn: BlockingRoutine = (notprm, hint, lkid, mode) => blk.push({ notprm, hint, lkid, mode });
  const cplrtn: CompletionRoutine = (notprm, lkid, status) => cpl.push({ notprm, lkid, status });
  return { blk, cpl, blkrtn, cplrtn };
}

function info(p: DlmProcess, lkid: LockId) {
  const r = p.getLkinfo(lkid);
  if (r.status !== D.DLM_SUCCESS) throw new Error(`getLkinfo: ${D.sperrno(r.status)}`);
  return r.info!;
}

function granted(p: DlmProcess, lkid: LockId): number | null {
  const i = info(p, lkid);
  return i.lkstate === D.DLM_LK_GRANTED ? i.grmode : null;
}

function rsb(p: DlmProcess, nsp: number, name: string) {
  const r = p.getRsbinfo(nsp, name);
  if (r.status !== D.DLM_SUCCESS) throw new Error(`getRsbinfo: ${D.sperrno(r.status)}`);
  return r.info!;
}

function vb(fill: number): Uint8Array {
  return new Uint8Array(D.DLM_VALBLKSIZE).fill(fill);
}

// ---- Namespaces, setup, signals ----------------------------------------------------------------

test('01: nsjoin(geteuid(), DLM_USER) by a fresh process → DLM_SUCCESS and a valid handle', (t) => {
  const w = world();
  const p = w.proc(1000);
  const r = p.nsjoin(1000, D.DLM_USER);
  t.is(r.status, D.DLM_SUCCESS);
  t.true(Number.isInteger(r.nsp) && r.nsp! >= 1 && r.nsp! <= D.DLM_NSPROCMAX);
  t.is(p.lock(r.nsp!, 'R', D.DLM_EXMODE, { flags: D.DLM_SYNCSTS }).status, D.DLM_SYNCH);
});

test('02: joining again without DLM_JOIN_SAME_OK → DLM_ATTACHED and no handle', (t) => {
  const w = world();
  const p = w.proc(1000);
  t.is(p.nsjoin(1000, D.DLM_USER).status, D.DLM_SUCCESS);
  const again = p.nsjoin(1000, D.DLM_USER);
  t.is(again.status, D.DLM_ATTACHED);
  t.is(again.nsp, undefined);
});

test('03: joining again with DLM_JOIN_SAME_OK → same handle; one nsleave leaves', (t) => {
  const w = world();
  const p = w.proc(1000);
  const first = p.nsjoin(1000, D.DLM_USER);
  const second = p.nsjoin(1000, D.DLM_USER | D.DLM_JOIN_SAME_OK);
  t.is(second.status, D.DLM_SUCCESS);
  t.is(second.nsp, first.nsp);
  t.is(p.nsleave(first.nsp!), D.DLM_SUCCESS);
  t.is(p.nsleave(first.nsp!), D.DLM_NOTATTACHED);
  t.is(p.lock(first.nsp!, 'R', D.DLM_NLMODE).status, D.DLM_NOTATTACHED);
});

test('04: joining another UID\'s namespace as non-root → DLM_NOACCESS', (t) => {
  const w = world();
  t.is(w.proc(1000).nsjoin(2000, D.DLM_USER).status, D.DLM_NOACCESS);
  t.is(w.proc(0).nsjoin(2000, D.DLM_USER).status, D.DLM_SUCCESS, 'root holds every ID');
});

test('05: the systemwide namespace (nsid 0, DLM_USER) is refused to non-root, granted to root', (t) => {
  const w = world();
  t.is(w.proc(1000).nsjoin(0, D.DLM_USER).status, D.DLM_NOACCESS);
  const r1 = w.proc(0);
  const r2 = w.proc(0);
  const a = r1.nsjoin(0, D.DLM_USER);
  const b = r2.nsjoin(0, D.DLM_USER);
  t.is(a.status, D.DLM_SUCCESS);
  t.is(b.status, D.DLM_SUCCESS);
  // One namespace for both root processes: their EX locks on R conflict.
  t.is(r1.lock(a.nsp!, 'R', D.DLM_EXMODE).status, D.DLM_SUCCESS);
  t.is(r2.lock(b.nsp!, 'R', D.DLM_EXMODE, { flags: D.DLM_NOQUEUE }).status, D.DLM_NOTQUEUED);
});

test('06: DLM_GROUP needs group membership; DLM_USER|DLM_GROUP → DLM_BADPARAM', (t) => {
  const w = world();
  t.is(w.proc(1000, 1000).nsjoin(50, D.DLM_GROUP).status, D.DLM_NOACCESS);
  t.is(w.proc(1000, 1000, [50]).nsjoin(50, D.DLM_GROUP).status, D.DLM_SUCCESS, 'supplementary group');
  t.is(w.proc(1000, 50).nsjoin(50, D.DLM_GROUP).status, D.DLM_SUCCESS, 'primary group');
  t.is(w.proc(1000).nsjoin(1000, D.DLM_USER | D.DLM_GROUP).status, D.DLM_BADPARAM);
});

test('07: the same name in two namespaces (UID A, UID B) names two resources', (t) => {
  const w = world();
  const a = w.member(1000);
  const b = w.member(2000);
  t.is(a.p.lock(a.nsp, 'R', D.DLM_EXMODE, { flags: D.DLM_SYNCSTS }).status, D.DLM_SYNCH);
  t.is(b.p.lock(b.nsp, 'R', D.DLM_EXMODE, { flags: D.DLM_SYNCSTS | D.DLM_NOQUEUE }).status, D.DLM_SYNCH);
});

test('08: lock calls and dlm_set_signal before nsjoin → DLM_NOTATTACHED', (t) => {
  const w = world();
  const p = w.proc(1000);
  t.is(p.lock(1, 'R', D.DLM_EXMODE).status, D.DLM_NOTATTACHED);
  t.is(p.quelock(1, 'R', D.DLM_EXMODE).status, D.DLM_NOTATTACHED);
  t.is(p.setSignal(10).status, D.DLM_NOTATTACHED);
  t.is(p.getRsbinfo(1, 'R').status, D.DLM_NOTATTACHED);
});

test('09: dlm_set_signal refuses SIGKILL, SIGSTOP and out-of-range signals', (t) => {
  const w = world();
  const { p } = w.member();
  for (const sig of [D.SIGKILL, D.SIGSTOP, -1, D.SIGMAX + 1, 1.5]) t.is(p.setSignal(sig).status, D.DLM_BADPARAM, `signal ${sig}`);
  const ok = p.setSignal(10);
  t.is(ok.status, D.DLM_SUCCESS);
  t.is(ok.oldsig, D.DLM_DEFAULT_SIGNAL);
  t.is(p.setSignal(D.SIGMAX).oldsig, 10);
});

test('10: with dlm_set_signal(0) a completion waits for dlm_notify, which runs it and returns 1', (t) => {
  const w = world();
  const a = w.member();
  const b = w.member();
  const rec = recorder();
  t.is(b.p.setSignal(0).status, D.DLM_SUCCESS);
  const held = a.p.lock(a.nsp, 'R', D.DLM_EXMODE);
  const q = b.p.quelock(b.nsp, 'R', D.DLM_EXMODE, { cplrtn: rec.cplrtn, notprm: 'n' });
  t.is(q.status, D.DLM_SUCCESS);
  a.p.unlock(held.lkid!);
  w.sched.flush();
  w.sched.advance(10_000);
  t.is(rec.cpl.length, 0, 'no delivery without dlm_notify');
  t.is(b.p.pendingNotifications, 1);
  t.is(b.p.notify(), 1);
  t.deepEqual(rec.cpl, [{ notprm: 'n', lkid: q.lkid!, status: D.DLM_SUCCESS }]);
});

test('11: dlm_notify with nothing pending → 0', (t) => {
  const w = world();
  const { p } = w.member();
  t.is(p.notify(), 0);
  p.setSignal(0);
  t.is(p.notify(), 0);
});

test('12: dlm_nsleave while holding a lock → DLM_HASLOCKS; after the unlock → DLM_SUCCESS', (t) => {
  const w = world();
  const { p, nsp } = w.member();
  const l = p.lock(nsp, 'R', D.DLM_PRMODE);
  t.is(p.nsleave(nsp), D.DLM_HASLOCKS);
  t.is(p.unlock(l.lkid!), D.DLM_SUCCESS);
  t.is(p.nsleave(nsp), D.DLM_SUCCESS);
});

test('13: dlm_nsleave while attached to a group lock container of that namespace → DLM_ATTACHEDGROUP', (t) => {
  const w = world();
  const { p, nsp } = w.member();
  t.is(p.glcCreate(0, [nsp]).status, D.DLM_SUCCESS);
  t.is(p.nsleave(nsp), D.DLM_ATTACHEDGROUP);
  t.is(p.glcDetach(), D.DLM_SUCCESS);
  t.is(p.nsleave(nsp), D.DLM_SUCCESS);
});

test('14: dlm_nsleave with an invalid handle → DLM_NOTATTACHED; with flags → DLM_BADPARAM', (t) => {
  const w = world();
  const { p, nsp } = w.member();
  for (const bad of [0, -1, nsp + 1, D.DLM_NSPROCMAX + 1, 2.5]) t.is(p.nsleave(bad), D.DLM_NOTATTACHED, `nsp ${bad}`);
  t.is(p.nsleave(nsp, 1), D.DLM_BADPARAM);
  t.is(p.nsleave(nsp), D.DLM_SUCCESS);
});

test('15: dlm_detach with locks → DLM_HASLOCKS; without → DLM_SUCCESS; again → DLM_NOTATTACHED', (t) => {
  const w = world();
  const { p, nsp } = w.member();
  const l = p.lock(nsp, 'R', D.DLM_NLMODE);
  t.is(p.detach(), D.DLM_HASLOCKS);
  p.unlock(l.lkid!);
  t.is(p.detach(), D.DLM_SUCCESS);
  t.is(p.detach(), D.DLM_NOTATTACHED);
  t.is(p.lock(nsp, 'R', D.DLM_NLMODE).status, D.DLM_NOTATTACHED);
});

// ---- Mode compatibility and basic grant --------------------------------------------------------

test('16: the 36 cells of the compatibility matrix (held by P1, requested by P2 with DLM_NOQUEUE)', (t) => {
  // Requested modes compatible with each held mode (VMS's compatibility table).
  const compatibleWith: Record<string, string[]> = {
    NL: ['NL', 'CR', 'CW', 'PR', 'PW', 'EX'],
    CR: ['NL', 'CR', 'CW', 'PR', 'PW'],
    CW: ['NL', 'CR', 'CW'],
    PR: ['NL', 'CR', 'PR'],
    PW: ['NL', 'CR'],
    EX: ['NL'],
  };
  let cells = 0;
  for (const held of MODES) {
    for (const req of MODES) {
      const w = world();
      const a = w.member();
      const b = w.member();
      t.is(a.p.lock(a.nsp, 'R', held).status, D.DLM_SUCCESS);
      const r = b.p.lock(b.nsp, 'R', req, { flags: D.DLM_NOQUEUE | D.DLM_SYNCSTS });
      const expect = compatibleWith[NAME[held]].includes(NAME[req]) ? D.DLM_SYNCH : D.DLM_NOTQUEUED;
      t.is(r.status, expect, `held ${NAME[held]}, requested ${NAME[req]}`);
      t.is(D.compatible(held, req), expect === D.DLM_SYNCH);
      cells++;
    }
  }
  t.is(cells, 36);
});

test('17: dlm_lock NL on a new resource with DLM_SYNCSTS → DLM_SYNCH at once', (t) => {
  const w = world();
  const { p, nsp } = w.member();
  const r = p.lock(nsp, 'R', D.DLM_NLMODE, { flags: D.DLM_SYNCSTS });
  t.is(r.status, D.DLM_SYNCH);
  t.is(r.wait, null);
});

test('18: dlm_lock grantable without DLM_SYNCSTS → DLM_SUCCESS', (t) => {
  const w = world();
  const { p, nsp } = w.member();
  const r = p.lock(nsp, 'R', D.DLM_EXMODE);
  t.is(r.status, D.DLM_SUCCESS);
  t.is(r.wait, null);
  t.is(granted(p, r.lkid!), D.DLM_EXMODE);
});

test('19: dlm_quelock grantable with DLM_SYNCSTS → DLM_SYNCH, no completion routine', (t) => {
  const w = world();
  const { p, nsp } = w.member();
  const rec = recorder();
  const r = p.quelock(nsp, 'R', D.DLM_PRMODE, { flags: D.DLM_SYNCSTS, cplrtn: rec.cplrtn });
  t.is(r.status, D.DLM_SYNCH);
  w.sched.flush();
  t.is(p.notify(), 0);
  t.deepEqual(rec.cpl, []);
});

test('20: dlm_quelock grantable without DLM_SYNCSTS → DLM_SUCCESS, then one completion with DLM_SUCCESS and notprm', (t) => {
  const w = world();
  const { p, nsp } = w.member();
  const rec = recorder();
  const r = p.quelock(nsp, 'R', D.DLM_PRMODE, { cplrtn: rec.cplrtn, notprm: 42 });
  t.is(r.status, D.DLM_SUCCESS);
  t.deepEqual(rec.cpl, [], 'the routine runs later, not inside the call');
  w.sched.flush();
  t.deepEqual(rec.cpl, [{ notprm: 42, lkid: r.lkid!, status: D.DLM_SUCCESS }]);
  w.sched.flush();
  t.is(rec.cpl.length, 1);
});

test('20a: dlm_lock with DLM_SYNCSTS that had to wait → DLM_SUCCESS, not DLM_SYNCH', async (t) => {
  const w = world();
  const a = w.member();
  const b = w.member();
  const held = a.p.lock(a.nsp, 'R', D.DLM_EXMODE);
  const r = b.p.lock(b.nsp, 'R', D.DLM_EXMODE, { flags: D.DLM_SYNCSTS });
  t.not(r.wait, null);
  a.p.unlock(held.lkid!);
  t.is(await r.wait, D.DLM_SUCCESS);
  t.is(r.status, D.DLM_SUCCESS);
});

test('20b: a waiting dlm_quelock shows lkstate waiting and grmode none until its completion runs', (t) => {
  const w = world();
  const a = w.member();
  const b = w.member();
  const rec = recorder();
  const held = a.p.lock(a.nsp, 'R', D.DLM_EXMODE);
  const q = b.p.quelock(b.nsp, 'R', D.DLM_PRMODE, { cplrtn: rec.cplrtn });
  t.is(q.status, D.DLM_SUCCESS);
  let i = info(b.p, q.lkid!);
  t.is(i.lkstate, D.DLM_LK_WAITING);
  t.is(i.grmode, D.DLM_NOMODE);
  t.is(i.rqmode, D.DLM_PRMODE);
  a.p.unlock(held.lkid!);
  i = info(b.p, q.lkid!);
  t.is(i.lkstate, D.DLM_LK_GRANTED);
  t.is(i.grmode, D.DLM_PRMODE);
  w.sched.flush();
  t.deepEqual(rec.cpl.map((c) => c.status), [D.DLM_SUCCESS]);
});

test('21: resource name of length 0 or more than DLM_RESNAMELEN → DLM_IVBUFLEN', (t) => {
  const w = world();
  const { p, nsp } = w.member();
  t.is(p.lock(nsp, '', D.DLM_NLMODE).status, D.DLM_IVBUFLEN);
  t.is(p.lock(nsp, new Uint8Array(0), D.DLM_NLMODE).status, D.DLM_IVBUFLEN);
  t.is(p.lock(nsp, 'x'.repeat(D.DLM_RESNAMELEN + 1), D.DLM_NLMODE).status, D.DLM_IVBUFLEN);
  t.is(p.lock(nsp, new Uint8Array(D.DLM_RESNAMELEN + 1), D.DLM_NLMODE).status, D.DLM_IVBUFLEN);
  // Multi-byte UTF-8 counts in bytes.
  t.is(p.lock(nsp, 'é'.repeat(D.DLM_RESNAMELEN / 2 + 1), D.DLM_NLMODE).status, D.DLM_IVBUFLEN);
  t.is(p.lock(nsp, 'x'.repeat(D.DLM_RESNAMELEN), D.DLM_NLMODE).status, D.DLM_SUCCESS);
  t.is(p.lock(nsp, new Uint8Array([0, 255, 1]), D.DLM_NLMODE).status, D.DLM_SUCCESS, 'binary names');
});

test('22: invalid mode (0 or 7) → DLM_BADPARAM', (t) => {
  const w = world();
  const { p, nsp } = w.member();
  t.is(p.lock(nsp, 'R', 0).status, D.DLM_BADPARAM);
  t.is(p.lock(nsp, 'R', 7).status, D.DLM_BADPARAM);
  const l = p.lock(nsp, 'R', D.DLM_NLMODE);
  t.is(p.cvt(l.lkid!, 0).status, D.DLM_BADPARAM);
  t.is(p.cvt(l.lkid!, 7).status, D.DLM_BADPARAM);
});

// ---- Queue ordering and conversions ------------------------------------------------------------

test('23: a new NL request waits behind waiters; with DLM_EXPEDITE it is granted at once', async (t) => {
  const w = world();
  const [p1, p2, p3] = [w.member(), w.member(), w.member()];
  const held = p1.p.lock(p1.nsp, 'R', D.DLM_EXMODE);
  const pr = p2.p.lock(p2.nsp, 'R', D.DLM_PRMODE);
  t.not(pr.wait, null);
  const nl = p3.p.lock(p3.nsp, 'R', D.DLM_NLMODE, { flags: D.DLM_SYNCSTS });
  t.not(nl.wait, null, 'VMS 6-4: a new request waits while the wait queue is not empty, even NL');
  const ex = p3.p.lock(p3.nsp, 'R', D.DLM_NLMODE, { flags: D.DLM_SYNCSTS | D.DLM_EXPEDITE });
  t.is(ex.status, D.DLM_SYNCH);
  t.is(ex.wait, null);
  t.is(p3.p.lock(p3.nsp, 'R', D.DLM_PRMODE, { flags: D.DLM_EXPEDITE }).status, D.DLM_BADPARAM, 'EXPEDITE is for NL only');
  p1.p.unlock(held.lkid!);
  t.is(await pr.wait, D.DLM_SUCCESS);
  t.is(await nl.wait, D.DLM_SUCCESS);
});

test('24: a new compatible request queues behind a waiter (P1 PR; P2 waits EX; P3 PR waits)', (t) => {
  const w = world();
  const [p1, p2, p3] = [w.member(), w.member(), w.member()];
  p1.p.lock(p1.nsp, 'R', D.DLM_PRMODE);
  const ex = p2.p.lock(p2.nsp, 'R', D.DLM_EXMODE);
  const pr = p3.p.lock(p3.nsp, 'R', D.DLM_PRMODE);
  t.not(ex.wait, null);
  t.not(pr.wait, null);
  t.is(info(p3.p, pr.lkid!).lkstate, D.DLM_LK_WAITING);
});

test('25: waiters are granted first in, first out', async (t) => {
  const w = world();
  const [p1, p2, p3] = [w.member(), w.member(), w.member()];
  const order: number[] = [];
  const h1 = p1.p.lock(p1.nsp, 'R', D.DLM_EXMODE);
  const h2 = p2.p.lock(p2.nsp, 'R', D.DLM_EXMODE);
  const h3 = p3.p.lock(p3.nsp, 'R', D.DLM_EXMODE);
  void h2.wait!.then(() => order.push(2));
  void h3.wait!.then(() => order.push(3));
  p1.p.unlock(h1.lkid!);
  await h2.wait;
  t.is(granted(p2.p, h2.lkid!), D.DLM_EXMODE);
  t.is(info(p3.p, h3.lkid!).lkstate, D.DLM_LK_WAITING);
  p2.p.unlock(h2.lkid!);
  await h3.wait;
  t.deepEqual(order, [2, 3]);
});

test('26: P1 PR, P2 PR; P1 converts PR→EX and waits; P2 unlocks → P1 granted EX with DLM_SUCCESS', async (t) => {
  const w = world();
  const [p1, p2] = [w.member(), w.member()];
  const rec = recorder();
  const a = p1.p.lock(p1.nsp, 'R', D.DLM_PRMODE);
  const b = p2.p.lock(p2.nsp, 'R', D.DLM_PRMODE);
  t.is(p1.p.quecvt(a.lkid!, D.DLM_EXMODE, { cplrtn: rec.cplrtn }), D.DLM_SUCCESS);
  t.is(info(p1.p, a.lkid!).lkstate, D.DLM_LK_CONVERTING);
  t.is(info(p1.p, a.lkid!).grmode, D.DLM_PRMODE);
  p2.p.unlock(b.lkid!);
  w.sched.flush();
  t.deepEqual(rec.cpl.map((c) => c.status), [D.DLM_SUCCESS]);
  t.is(granted(p1.p, a.lkid!), D.DLM_EXMODE);
  // The synchronous form waits the same way.
  const c = p2.p.lock(p2.nsp, 'R', D.DLM_NLMODE);
  const up = p2.p.cvt(c.lkid!, D.DLM_PRMODE);
  t.not(up.wait, null);
  p1.p.cvt(a.lkid!, D.DLM_NLMODE);
  t.is(await up.wait, D.DLM_SUCCESS);
});

test('27: conversions go before new requests (P1 PR, P2 PR; P3 waits EX; P1 PR→PW waits; P2 unlocks → P1 PW first)', (t) => {
  const w = world();
  const [p1, p2, p3] = [w.member(), w.member(), w.member()];
  const a = p1.p.lock(p1.nsp, 'R', D.DLM_PRMODE);
  const b = p2.p.lock(p2.nsp, 'R', D.DLM_PRMODE);
  const c = p3.p.quelock(p3.nsp, 'R', D.DLM_EXMODE);
  t.is(p1.p.quecvt(a.lkid!, D.DLM_PWMODE), D.DLM_SUCCESS);
  t.is(info(p1.p, a.lkid!).lkstate, D.DLM_LK_CONVERTING);
  p2.p.unlock(b.lkid!);
  t.is(granted(p1.p, a.lkid!), D.DLM_PWMODE);
  t.is(info(p3.p, c.lkid!).lkstate, D.DLM_LK_WAITING);
  t.is(w.deadlocks().length, 0);
});

test('28: a conversion without DLM_QUECVT is granted in place; with DLM_QUECVT it queues behind others', (t) => {
  const setup = () => {
    const w = world();
    const [p1, p2, p3] = [w.member(), w.member(), w.member()];
    const a = p1.p.lock(p1.nsp, 'R', D.DLM_PRMODE);
    const c = p3.p.lock(p3.nsp, 'R', D.DLM_NLMODE);
    const b = p2.p.lock(p2.nsp, 'R', D.DLM_NLMODE);
    t.is(p3.p.quecvt(c.lkid!, D.DLM_EXMODE), D.DLM_SUCCESS);
    t.is(info(p3.p, c.lkid!).lkstate, D.DLM_LK_CONVERTING, 'P3 NL→EX is blocked by P1 PR');
    return { w, p1, p2, p3, a, b, c };
  };
  {
    const { p2, p3, b, c } = setup();
    const r = p2.p.cvt(b.lkid!, D.DLM_PRMODE);
    t.is(r.status, D.DLM_SUCCESS);
    t.is(r.wait, null, 'granted at once, overtaking P3 (VMS 6-5)');
    t.is(granted(p2.p, b.lkid!), D.DLM_PRMODE);
    t.is(info(p3.p, c.lkid!).lkstate, D.DLM_LK_CONVERTING);
  }
  {
    const { w, p1, p2, p3, a, b, c } = setup();
    const order: string[] = [];
    const r = p2.p.quecvt(b.lkid!, D.DLM_PRMODE, { flags: D.DLM_QUECVT, cplrtn: () => order.push('P2 PR') });
    t.is(r, D.DLM_SUCCESS);
    t.is(info(p2.p, b.lkid!).lkstate, D.DLM_LK_CONVERTING, 'queued behind P3 (VMS 6-7)');
    p1.p.unlock(a.lkid!);
    t.is(granted(p3.p, c.lkid!), D.DLM_EXMODE);
    t.is(info(p2.p, b.lkid!).lkstate, D.DLM_LK_CONVERTING);
    order.push('P3 EX');
    p3.p.unlock(c.lkid!);
    w.sched.flush();
    t.is(granted(p2.p, b.lkid!), D.DLM_PRMODE);
    t.deepEqual(order, ['P3 EX', 'P2 PR']);
  }
});

test('29: DLM_QUECVT on a down-conversion (and outside the Tru64 table) → DLM_BADPARAM', (t) => {
  const w = world();
  const { p, nsp } = w.member();
  const l = p.lock(nsp, 'R', D.DLM_EXMODE);
  t.is(p.cvt(l.lkid!, D.DLM_NLMODE, { flags: D.DLM_QUECVT }).status, D.DLM_BADPARAM);
  t.is(p.cvt(l.lkid!, D.DLM_EXMODE, { flags: D.DLM_QUECVT }).status, D.DLM_BADPARAM, 'same mode');
  t.is(granted(p, l.lkid!), D.DLM_EXMODE, 'refused conversions change nothing');
  // The legality table (GAP decision: Ingres' Tru64 table).
  const legal = ['NL>CR', 'NL>CW', 'NL>PR', 'NL>PW', 'NL>EX', 'CR>CW', 'CR>PR', 'CR>PW', 'CR>EX', 'CW>PW', 'CW>EX', 'PR>PW', 'PR>EX'];
  for (const from of MODES) {
    for (const to of MODES) {
      const x = p.lock(nsp, `T${from}${to}`, from);
      const st = p.cvt(x.lkid!, to, { flags: D.DLM_QUECVT | D.DLM_SYNCSTS }).status;
      t.is(st, legal.includes(`${NAME[from]}>${NAME[to]}`) ? D.DLM_SYNCH : D.DLM_BADPARAM, `${NAME[from]}→${NAME[to]}`);
    }
  }
});

test('30: dlm_cvt on a lock still waiting to be granted → DLM_CVTUNGRANT', (t) => {
  const w = world();
  const [p1, p2] = [w.member(), w.member()];
  p1.p.lock(p1.nsp, 'R', D.DLM_EXMODE);
  const q = p2.p.quelock(p2.nsp, 'R', D.DLM_EXMODE);
  t.is(p2.p.cvt(q.lkid!, D.DLM_NLMODE).status, D.DLM_CVTUNGRANT);
  t.is(p2.p.quecvt(q.lkid!, D.DLM_NLMODE), D.DLM_CVTUNGRANT);
});

test('31: dlm_cvt while a dlm_quecvt on the same lock is pending → DLM_LKBUSY', (t) => {
  const w = world();
  const [p1, p2] = [w.member(), w.member()];
  p1.p.lock(p1.nsp, 'R', D.DLM_PRMODE);
  const b = p2.p.lock(p2.nsp, 'R', D.DLM_PRMODE);
  t.is(p2.p.quecvt(b.lkid!, D.DLM_EXMODE), D.DLM_SUCCESS);
  t.is(p2.p.cvt(b.lkid!, D.DLM_NLMODE).status, D.DLM_LKBUSY);
  t.is(p2.p.quecvt(b.lkid!, D.DLM_NLMODE), D.DLM_LKBUSY);
});

test('32: dlm_cvt with an unknown or stale lock id → DLM_IVLOCKID', (t) => {
  const w = world();
  const { p, nsp } = w.member();
  t.is(p.cvt({ hndl: 999, seqn: 1 }, D.DLM_EXMODE).status, D.DLM_IVLOCKID);
  const l = p.lock(nsp, 'R', D.DLM_NLMODE);
  p.unlock(l.lkid!);
  const reused = p.lock(nsp, 'R', D.DLM_NLMODE);
  t.is(reused.lkid!.hndl, l.lkid!.hndl, 'the slot is reused...');
  t.is(p.cvt(l.lkid!, D.DLM_EXMODE).status, D.DLM_IVLOCKID, '...but the old id stays invalid');
  const other = w.member();
  t.is(other.p.cvt(reused.lkid!, D.DLM_EXMODE).status, D.DLM_IVLOCKID, "another process' lock");
});

test('33: down-conversions are granted at once and let waiters in', async (t) => {
  const w = world();
  const [p1, p2] = [w.member(), w.member()];
  const a = p1.p.lock(p1.nsp, 'R', D.DLM_EXMODE);
  const b = p2.p.lock(p2.nsp, 'R', D.DLM_PRMODE);
  t.not(b.wait, null);
  const down = p1.p.cvt(a.lkid!, D.DLM_PRMODE);
  t.is(down.status, D.DLM_SUCCESS);
  t.is(down.wait, null);
  t.is(await b.wait, D.DLM_SUCCESS);
  const nl = p1.p.cvt(a.lkid!, D.DLM_NLMODE, { flags: D.DLM_SYNCSTS });
  t.is(nl.status, D.DLM_SYNCH);
});

test('34: after a grant, dlm_get_lkinfo shows the new grmode, lkstate granted and the owner pid', (t) => {
  const w = world();
  const { p, nsp } = w.member();
  const l = p.lock(nsp, 'Res', D.DLM_CRMODE, { notprm: 'np' });
  p.cvt(l.lkid!, D.DLM_PWMODE);
  const i = info(p, l.lkid!);
  t.is(i.grmode, D.DLM_PWMODE);
  t.is(i.rqmode, D.DLM_PWMODE);
  t.is(i.lkstate, D.DLM_LK_GRANTED);
  t.is(i.lk_pid, p.pid);
  t.is(Buffer.from(i.resnam).toString(), 'Res');
  t.is(i.resnlen, 3);
  t.is(i.notprm, 'np');
  t.is(i.parlkid, null);
});

// ---- NOQUEUE and timeouts ----------------------------------------------------------------------

test('35: DLM_NOQUEUE conflicting → DLM_NOTQUEUED, no lock left, no blocking notification', (t) => {
  const w = world();
  const [p1, p2] = [w.member(), w.member()];
  const rec = recorder();
  p1.p.lock(p1.nsp, 'R', D.DLM_EXMODE, { blkrtn: rec.blkrtn });
  const before = rsb(p1.p, p1.nsp, 'R').lckcnt;
  const r = p2.p.lock(p2.nsp, 'R', D.DLM_EXMODE, { flags: D.DLM_NOQUEUE });
  t.is(r.status, D.DLM_NOTQUEUED);
  t.is(r.lkid, null);
  t.is(rsb(p1.p, p1.nsp, 'R').lckcnt, before);
  w.sched.flush();
  t.deepEqual(rec.blk, []);
});

test('36: DLM_NOQUEUE conflicting conversion → DLM_NOTQUEUED and the old mode stays', (t) => {
  const w = world();
  const [p1, p2] = [w.member(), w.member()];
  p1.p.lock(p1.nsp, 'R', D.DLM_PRMODE);
  const b = p2.p.lock(p2.nsp, 'R', D.DLM_PRMODE, { notprm: 'old' });
  t.is(p2.p.cvt(b.lkid!, D.DLM_EXMODE, { flags: D.DLM_NOQUEUE, notprm: 'new' }).status, D.DLM_NOTQUEUED);
  const i = info(p2.p, b.lkid!);
  t.is(i.grmode, D.DLM_PRMODE);
  t.is(i.lkstate, D.DLM_LK_GRANTED);
  t.is(i.notprm, 'old');
});

test('37: DLM_NOQUEUE compatible request behind a non-empty wait queue → DLM_NOTQUEUED', (t) => {
  const w = world();
  const [p1, p2, p3] = [w.member(), w.member(), w.member()];
  p1.p.lock(p1.nsp, 'R', D.DLM_PRMODE);
  p2.p.quelock(p2.nsp, 'R', D.DLM_EXMODE);
  t.is(p3.p.lock(p3.nsp, 'R', D.DLM_PRMODE, { flags: D.DLM_NOQUEUE }).status, D.DLM_NOTQUEUED);
});

test('38: dlm_lock with timeout 100 blocked by EX → DLM_TIMEOUT after 1 s, request removed', async (t) => {
  const w = world();
  const [p1, p2] = [w.member(), w.member()];
  p1.p.lock(p1.nsp, 'R', D.DLM_EXMODE);
  const r = p2.p.lock(p2.nsp, 'R', D.DLM_EXMODE, { timeout: 100 });
  t.not(r.wait, null);
  w.sched.advance(999);
  t.is(info(p2.p, r.lkid!).lkstate, D.DLM_LK_WAITING);
  w.sched.advance(1);
  t.is(await r.wait, D.DLM_TIMEOUT);
  t.is(p2.p.getLkinfo(r.lkid!).status, D.DLM_IVLOCKID);
  t.is(rsb(p1.p, p1.nsp, 'R').lckcnt, 1);
  t.is(rsb(p1.p, p1.nsp, 'R').wtqmode, D.DLM_NOMODE);
});

test('38 (real clock): the timeout runs on the event loop with SystemScheduler', async (t) => {
  const scheduler = new D.SystemScheduler();
  const dlm = new Dlm({ scheduler });
  const p1 = dlm.process({ pid: 1, uid: 1000, gid: 1000 });
  const p2 = dlm.process({ pid: 2, uid: 1000, gid: 1000 });
  const n1 = p1.nsjoin(1000, D.DLM_USER).nsp!;
  const n2 = p2.nsjoin(1000, D.DLM_USER).nsp!;
  p1.lock(n1, 'R', D.DLM_EXMODE);
  const start = performance.now();
  const r = p2.lock(n2, 'R', D.DLM_EXMODE, { timeout: 10 });
  t.is(await r.wait, D.DLM_TIMEOUT);
  const elapsed = performance.now() - start;
  t.true(elapsed >= 95 && elapsed < 5000, `${elapsed} ms`);
  scheduler.dispose();
});

// ---- Value blocks ------------------------------------------------------------------------------

test('39: P1 EX writes V by converting EX→NL with DLM_VALB; P2 PR with DLM_VALB receives V', (t) => {
  const w = world();
  const [p1, p2] = [w.member(), w.member()];
  const v1 = vb(0);
  const a = p1.p.lock(p1.nsp, 'R', D.DLM_EXMODE, { flags: D.DLM_VALB, valb: v1 });
  v1.set([1, 2, 3, 4]);
  t.is(p1.p.cvt(a.lkid!, D.DLM_NLMODE, { flags: D.DLM_VALB, valb: v1 }).status, D.DLM_SUCCESS);
  const v2 = vb(0xee);
  t.is(p2.p.lock(p2.nsp, 'R', D.DLM_PRMODE, { flags: D.DLM_VALB, valb: v2 }).status, D.DLM_SUCCESS);
  t.deepEqual([...v2], [...v1]);
  t.is(rsb(p2.p, p2.nsp, 'R').vbseqnum, 1);
});

test('40: converting PR→NL with DLM_VALB and a modified buffer leaves the value block unchanged', (t) => {
  const w = world();
  const [p1, p2] = [w.member(), w.member()];
  const a = p1.p.lock(p1.nsp, 'R', D.DLM_EXMODE);
  p1.p.cvt(a.lkid!, D.DLM_PRMODE, { flags: D.DLM_VALB, valb: vb(7) });
  const buf = vb(0);
  p1.p.cvt(a.lkid!, D.DLM_PRMODE, { flags: D.DLM_VALB, valb: buf });
  t.deepEqual([...buf], [...vb(7)], 'PR→PR reads');
  buf.fill(9);
  p1.p.cvt(a.lkid!, D.DLM_NLMODE, { flags: D.DLM_VALB, valb: buf });
  const out = vb(0);
  p2.p.lock(p2.nsp, 'R', D.DLM_PRMODE, { flags: D.DLM_VALB, valb: out });
  t.deepEqual([...out], [...vb(7)]);
  t.is(rsb(p2.p, p2.nsp, 'R').vbseqnum, 1);
});

test('41: dlm_unlock from EX with DLM_VALB writes V2; without flags the value block is unchanged', (t) => {
  const w = world();
  const [keeper, p1, p2, p3] = [w.member(), w.member(), w.member(), w.member()];
  keeper.p.lock(keeper.nsp, 'R', D.DLM_NLMODE); // keeps the resource alive between holders
  const a = p1.p.lock(p1.nsp, 'R', D.DLM_EXMODE);
  t.is(p1.p.unlock(a.lkid!, vb(0x22), D.DLM_VALB), D.DLM_SUCCESS);
  const r2 = vb(0);
  const b = p2.p.lock(p2.nsp, 'R', D.DLM_EXMODE, { flags: D.DLM_VALB, valb: r2 });
  t.deepEqual([...r2], [...vb(0x22)]);
  t.is(p2.p.unlock(b.lkid!, vb(0x33), 0), D.DLM_SUCCESS);
  const r3 = vb(0);
  p3.p.lock(p3.nsp, 'R', D.DLM_PRMODE, { flags: D.DLM_VALB, valb: r3 });
  t.deepEqual([...r3], [...vb(0x22)]);
});

test('42: dlm_unlock with DLM_INVVALBLK → next grants report DLM_SUCCVALNOTVALID / DLM_SYNCVALNOTVALID', (t) => {
  const w = world();
  const [keeper, p1, p2, p3] = [w.member(), w.member(), w.member(), w.member()];
  keeper.p.lock(keeper.nsp, 'R', D.DLM_NLMODE);
  const a = p1.p.lock(p1.nsp, 'R', D.DLM_EXMODE);
  t.is(p1.p.unlock(a.lkid!, null, D.DLM_INVVALBLK), D.DLM_SUCCESS);
  t.is(p2.p.lock(p2.nsp, 'R', D.DLM_PRMODE, { flags: D.DLM_VALB, valb: vb(0) }).status, D.DLM_SUCCVALNOTVALID);
  t.is(p3.p.lock(p3.nsp, 'R', D.DLM_PRMODE, { flags: D.DLM_VALB | D.DLM_SYNCSTS, valb: vb(0) }).status, D.DLM_SYNCVALNOTVALID);
  t.is(p3.p.lock(p3.nsp, 'R', D.DLM_PRMODE).status, D.DLM_SUCCESS, 'without DLM_VALB nothing is reported');
  t.is(rsb(p3.p, p3.nsp, 'R').vbstatus, D.DLM_SUCCVALNOTVALID);
});

test('43: the EX holder is killed → the waiting PR completes with DLM_SUCCVALNOTVALID', (t) => {
  const w = world();
  const [p1, p2] = [w.member(), w.member()];
  const rec = recorder();
  const v = vb(5);
  const a = p1.p.lock(p1.nsp, 'R', D.DLM_EXMODE, { flags: D.DLM_VALB, valb: v });
  t.deepEqual([...v], [...vb(0)], 'the grant read the (zero) value block into the buffer');
  v.fill(5);
  p1.p.cvt(a.lkid!, D.DLM_EXMODE, { flags: D.DLM_VALB, valb: v });
  const out = vb(0);
  p2.p.quelock(p2.nsp, 'R', D.DLM_PRMODE, { flags: D.DLM_VALB, valb: out, cplrtn: rec.cplrtn });
  w.dlm.ownerDied(p1.p);
  w.sched.flush();
  t.deepEqual(rec.cpl.map((c) => c.status), [D.DLM_SUCCVALNOTVALID]);
  t.deepEqual([...out], [...vb(5)], 'the last value written is still returned');
});

test('44: after an invalid value block, a write from EX makes it valid again', (t) => {
  const w = world();
  const [keeper, p1, p2] = [w.member(), w.member(), w.member()];
  keeper.p.lock(keeper.nsp, 'R', D.DLM_NLMODE);
  const a = p1.p.lock(p1.nsp, 'R', D.DLM_EXMODE);
  p1.p.unlock(a.lkid!, null, D.DLM_INVVALBLK);
  const b = p1.p.lock(p1.nsp, 'R', D.DLM_EXMODE, { flags: D.DLM_VALB, valb: vb(0) });
  t.is(b.status, D.DLM_SUCCVALNOTVALID);
  t.is(p1.p.cvt(b.lkid!, D.DLM_EXMODE, { flags: D.DLM_VALB, valb: vb(1) }).status, D.DLM_SUCCESS, 'EX→EX writes');
  t.is(p1.p.cvt(b.lkid!, D.DLM_NLMODE, { flags: D.DLM_VALB, valb: vb(2) }).status, D.DLM_SUCCESS);
  const out = vb(0);
  t.is(p2.p.lock(p2.nsp, 'R', D.DLM_PRMODE, { flags: D.DLM_VALB, valb: out }).status, D.DLM_SUCCESS);
  t.deepEqual([...out], [...vb(2)]);
});

test('45: the value block lives while NL locks remain; a fresh resource starts zeroed', (t) => {
  const w = world();
  const [p1, p2, p3] = [w.member(), w.member(), w.member()];
  const a = p1.p.lock(p1.nsp, 'R', D.DLM_EXMODE);
  const nl = p2.p.lock(p2.nsp, 'R', D.DLM_NLMODE);
  p1.p.unlock(a.lkid!, vb(0x44), D.DLM_VALB);
  const out = vb(0);
  const c = p3.p.lock(p3.nsp, 'R', D.DLM_PRMODE, { flags: D.DLM_VALB, valb: out });
  t.deepEqual([...out], [...vb(0x44)]);
  p3.p.unlock(c.lkid!);
  p2.p.unlock(nl.lkid!);
  t.is(p3.p.getRsbinfo(p3.nsp, 'R').status, D.DLM_ENOENT, 'freed with its last lock');
  const fresh = vb(0xff);
  t.is(p3.p.lock(p3.nsp, 'R', D.DLM_PRMODE, { flags: D.DLM_VALB, valb: fresh }).status, D.DLM_SUCCESS);
  t.deepEqual([...fresh], [...vb(0)]);
});

test('46: DLM_VALB without a value block buffer → DLM_BADPARAM', (t) => {
  const w = world();
  const { p, nsp } = w.member();
  t.is(p.lock(nsp, 'R', D.DLM_EXMODE, { flags: D.DLM_VALB }).status, D.DLM_BADPARAM);
  t.is(p.quelock(nsp, 'R', D.DLM_EXMODE, { flags: D.DLM_VALB, valb: null }).status, D.DLM_BADPARAM);
  t.is(p.lock(nsp, 'R', D.DLM_EXMODE, { flags: D.DLM_VALB, valb: new Uint8Array(16) }).status, D.DLM_BADPARAM, 'too short');
  const l = p.lock(nsp, 'R', D.DLM_EXMODE);
  t.is(p.cvt(l.lkid!, D.DLM_NLMODE, { flags: D.DLM_VALB }).status, D.DLM_BADPARAM);
  t.is(p.unlock(l.lkid!, null, D.DLM_VALB), D.DLM_BADPARAM);
  t.is(granted(p, l.lkid!), D.DLM_EXMODE);
});

test('47: the value block is exactly 32 bytes; bytes beyond are neither stored nor overwritten', (t) => {
  t.is(D.DLM_VALBLKSIZE, 32);
  const w = world();
  const [p1, p2] = [w.member(), w.member()];
  const big = new Uint8Array(40);
  for (let i = 0; i < 40; i++) big[i] = i + 1;
  const a = p1.p.lock(p1.nsp, 'R', D.DLM_EXMODE);
  const keep = p2.p.lock(p2.nsp, 'R', D.DLM_NLMODE);
  p1.p.unlock(a.lkid!, big, D.DLM_VALB);
  const out = new Uint8Array(40).fill(0xaa);
  p2.p.cvt(keep.lkid!, D.DLM_PRMODE, { flags: D.DLM_VALB, valb: out });
  t.deepEqual([...out.subarray(0, 32)], [...big.subarray(0, 32)]);
  t.deepEqual([...out.subarray(32)], new Array(8).fill(0xaa));
  t.is(rsb(p2.p, p2.nsp, 'R').valb.length, 32);
});

// ---- Blocking notifications and completion routines --------------------------------------------

test('48: a blocked request notifies the holder once with (holder notprm, waiter hint, holder lkid, mode)', (t) => {
  const w = world();
  const [p1, p2] = [w.member(), w.member()];
  const rec = recorder();
  const a = p1.p.lock(p1.nsp, 'R', D.DLM_PRMODE, { blkrtn: rec.blkrtn, notprm: 'P1' });
  p2.p.quelock(p2.nsp, 'R', D.DLM_EXMODE, { hint: 'H' });
  w.sched.flush();
  t.deepEqual(rec.blk, [{ notprm: 'P1', hint: 'H', lkid: a.lkid!, mode: D.DLM_EXMODE }]);
  w.sched.flush();
  t.is(rec.blk.length, 1);
});

test('49: no repeated notification for the same or a lower mode; a higher one notifies again', (t) => {
  const w = world();
  const [p1, p2, p3, p4] = [w.member(), w.member(), w.member(), w.member()];
  const rec = recorder();
  p1.p.lock(p1.nsp, 'R', D.DLM_EXMODE, { blkrtn: rec.blkrtn });
  p2.p.quelock(p2.nsp, 'R', D.DLM_PRMODE);
  w.sched.flush();
  p3.p.quelock(p3.nsp, 'R', D.DLM_PRMODE);
  w.sched.flush();
  p3.p.quelock(p3.nsp, 'R', D.DLM_CRMODE);
  w.sched.flush();
  t.deepEqual(rec.blk.map((b) => b.mode), [D.DLM_PRMODE]);
  p4.p.quelock(p4.nsp, 'R', D.DLM_EXMODE);
  w.sched.flush();
  t.deepEqual(rec.blk.map((b) => b.mode), [D.DLM_PRMODE, D.DLM_EXMODE]);
});

test('50: a converting lock receives no blocking notification until it is granted in its new mode', (t) => {
  const w = world();
  const [p1, p2, p3] = [w.member(), w.member(), w.member()];
  const r1 = recorder();
  const r2 = recorder();
  const a = p1.p.lock(p1.nsp, 'R', D.DLM_PRMODE, { blkrtn: r1.blkrtn });
  const b = p2.p.lock(p2.nsp, 'R', D.DLM_PRMODE, { blkrtn: r2.blkrtn });
  p1.p.quecvt(a.lkid!, D.DLM_EXMODE);
  p3.p.quelock(p3.nsp, 'R', D.DLM_EXMODE); // blocked by P1's granted PR, among others
  w.sched.flush();
  t.deepEqual(r1.blk, [], 'P1 is converting');
  t.deepEqual(r2.blk.map((x) => x.mode), [D.DLM_EXMODE]);
  p2.p.unlock(b.lkid!);
  w.sched.flush();
  t.is(granted(p1.p, a.lkid!), D.DLM_EXMODE);
  t.deepEqual(r1.blk.map((x) => x.mode), [D.DLM_EXMODE], 'granted EX, now it blocks P3');
});

test('51: dlm_cvt with a new blkrtn/notprm replaces the old ones', (t) => {
  const w = world();
  const [p1, p2] = [w.member(), w.member()];
  const old = recorder();
  const neu = recorder();
  const a = p1.p.lock(p1.nsp, 'R', D.DLM_PRMODE, { blkrtn: old.blkrtn, notprm: 'old' });
  t.is(p1.p.cvt(a.lkid!, D.DLM_PRMODE, { blkrtn: neu.blkrtn, notprm: 'new' }).status, D.DLM_SUCCESS);
  p2.p.quelock(p2.nsp, 'R', D.DLM_EXMODE, { hint: 'h' });
  w.sched.flush();
  t.deepEqual(old.blk, []);
  t.deepEqual(neu.blk, [{ notprm: 'new', hint: 'h', lkid: a.lkid!, mode: D.DLM_EXMODE }]);
});

test('52: a completion routine runs exactly once: granted, canceled, deadlock, timeout, abort', (t) => {
  const w = world();
  const [p1, p2, p3] = [w.member(), w.member(), w.member()];
  const rec = recorder();
  const opts = (tag: string, extra = {}) => ({ cplrtn: rec.cplrtn, notprm: tag, ...extra });
  // granted
  const g = p1.p.lock(p1.nsp, 'G', D.DLM_EXMODE);
  p2.p.quelock(p2.nsp, 'G', D.DLM_EXMODE, opts('granted'));
  p1.p.unlock(g.lkid!);
  // canceled (conversion)
  const c1 = p1.p.lock(p1.nsp, 'C', D.DLM_PRMODE);
  const c2 = p2.p.lock(p2.nsp, 'C', D.DLM_PRMODE);
  p2.p.quecvt(c2.lkid!, D.DLM_EXMODE, opts('canceled'));
  p2.p.cancel(c2.lkid!);
  void c1;
  // deadlock
  p1.p.lock(p1.nsp, 'X', D.DLM_EXMODE);
  p2.p.lock(p2.nsp, 'Y', D.DLM_EXMODE);
  p1.p.quelock(p1.nsp, 'Y', D.DLM_EXMODE, opts('survivor'));
  p2.p.quelock(p2.nsp, 'X', D.DLM_EXMODE, opts('deadlock'));
  // timeout
  p3.p.lock(p3.nsp, 'T', D.DLM_EXMODE);
  p1.p.quelock(p1.nsp, 'T', D.DLM_EXMODE, opts('timeout', { timeout: 50 }));
  // abort
  p3.p.lock(p3.nsp, 'A', D.DLM_EXMODE);
  const ab = p1.p.quelock(p1.nsp, 'A', D.DLM_EXMODE, opts('abort'));
  p1.p.unlock(ab.lkid!);
  w.sched.advance(10_000);
  w.sched.flush();
  const got = rec.cpl.map((c) => `${c.notprm}:${D.statusName(c.status)}`).sort();
  t.deepEqual(got, ['abort:DLM_ABORT', 'canceled:DLM_CANCEL', 'deadlock:DLM_DEADLOCK', 'granted:DLM_SUCCESS', 'timeout:DLM_TIMEOUT']);
});

// ---- Cancel and unlock of pending requests -----------------------------------------------------

test('53: dlm_cancel of a pending conversion → DLM_SUCCESS; back at PR; completion DLM_CANCEL', (t) => {
  const w = world();
  const [p1, p2] = [w.member(), w.member()];
  const rec = recorder();
  p1.p.lock(p1.nsp, 'R', D.DLM_PRMODE);
  const b = p2.p.lock(p2.nsp, 'R', D.DLM_PRMODE);
  p2.p.quecvt(b.lkid!, D.DLM_EXMODE, { cplrtn: rec.cplrtn });
  t.is(p2.p.cancel(b.lkid!), D.DLM_SUCCESS);
  const i = info(p2.p, b.lkid!);
  t.is(i.lkstate, D.DLM_LK_GRANTED);
  t.is(i.grmode, D.DLM_PRMODE);
  t.is(i.rqmode, D.DLM_PRMODE);
  w.sched.flush();
  t.deepEqual(rec.cpl.map((c) => c.status), [D.DLM_CANCEL]);
});

test('54: dlm_cancel after the conversion was granted → DLM_CANCELGRANT', (t) => {
  const w = world();
  const [p1, p2] = [w.member(), w.member()];
  const a = p1.p.lock(p1.nsp, 'R', D.DLM_PRMODE);
  const b = p2.p.lock(p2.nsp, 'R', D.DLM_PRMODE);
  p2.p.quecvt(b.lkid!, D.DLM_EXMODE);
  p1.p.unlock(a.lkid!);
  t.is(p2.p.cancel(b.lkid!), D.DLM_CANCELGRANT);
  t.is(granted(p2.p, b.lkid!), D.DLM_EXMODE);
});

test('55: dlm_cancel of a waiting request: DLM_CANCELWAIT, or dequeued with DLM_CANCELWAITOK (completion DLM_ABORT)', (t) => {
  const w = world();
  const [p1, p2] = [w.member(), w.member()];
  const rec = recorder();
  p1.p.lock(p1.nsp, 'R', D.DLM_EXMODE);
  const q = p2.p.quelock(p2.nsp, 'R', D.DLM_EXMODE, { cplrtn: rec.cplrtn });
  t.is(p2.p.cancel(q.lkid!), D.DLM_CANCELWAIT);
  t.is(info(p2.p, q.lkid!).lkstate, D.DLM_LK_WAITING);
  t.is(p2.p.cancel(q.lkid!, D.DLM_CANCELWAITOK), D.DLM_SUCCESS);
  t.is(p2.p.getLkinfo(q.lkid!).status, D.DLM_IVLOCKID);
  t.is(rsb(p1.p, p1.nsp, 'R').lckcnt, 1);
  w.sched.flush();
  t.deepEqual(rec.cpl.map((c) => c.status), [D.DLM_ABORT]);
});

test('56: dlm_cancel with illegal flags → DLM_BADPARAM; with a bad lock id → DLM_IVLOCKID', (t) => {
  const w = world();
  const { p, nsp } = w.member();
  const l = p.lock(nsp, 'R', D.DLM_EXMODE);
  t.is(p.cancel(l.lkid!, D.DLM_VALB), D.DLM_BADPARAM);
  t.is(p.cancel({ hndl: 12345, seqn: 9 }), D.DLM_IVLOCKID);
});

test('57: after a cancel, a reverted mode that blocks queued requests gets its blocking notification', (t) => {
  const w = world();
  const [p1, p2, p3] = [w.member(), w.member(), w.member()];
  const rec = recorder();
  p2.p.lock(p2.nsp, 'R', D.DLM_CRMODE);
  const a = p1.p.lock(p1.nsp, 'R', D.DLM_PRMODE, { blkrtn: rec.blkrtn, notprm: 'P1' });
  const c = p3.p.lock(p3.nsp, 'R', D.DLM_NLMODE);
  p1.p.quecvt(a.lkid!, D.DLM_EXMODE); // blocked by P2's CR
  p3.p.quecvt(c.lkid!, D.DLM_PWMODE, { hint: 'P3' }); // blocked by P1's PR
  w.sched.flush();
  t.deepEqual(rec.blk, [], 'converting locks get no blocking notification');
  t.is(p1.p.cancel(a.lkid!), D.DLM_SUCCESS);
  w.sched.flush();
  t.deepEqual(rec.blk, [{ notprm: 'P1', hint: 'P3', lkid: a.lkid!, mode: D.DLM_PWMODE }]);
});

test('58: dlm_unlock of a waiting request → DLM_SUCCESS; its completion gets DLM_ABORT', async (t) => {
  const w = world();
  const [p1, p2] = [w.member(), w.member()];
  const rec = recorder();
  p1.p.lock(p1.nsp, 'R', D.DLM_EXMODE);
  const q = p2.p.quelock(p2.nsp, 'R', D.DLM_EXMODE, { cplrtn: rec.cplrtn });
  t.is(p2.p.unlock(q.lkid!), D.DLM_SUCCESS);
  w.sched.flush();
  t.deepEqual(rec.cpl.map((c) => c.status), [D.DLM_ABORT]);
  const s = p2.p.lock(p2.nsp, 'R', D.DLM_EXMODE);
  p2.p.unlock(s.lkid!);
  t.is(await s.wait, D.DLM_ABORT, 'a synchronous waiter returns DLM_ABORT too');
});

test('59: cancelling a conversion lets a waiter behind it be granted', (t) => {
  const w = world();
  const [p1, p2, p3] = [w.member(), w.member(), w.member()];
  p1.p.lock(p1.nsp, 'R', D.DLM_PRMODE);
  const b = p2.p.lock(p2.nsp, 'R', D.DLM_PRMODE);
  p2.p.quecvt(b.lkid!, D.DLM_EXMODE);
  const c = p3.p.quelock(p3.nsp, 'R', D.DLM_PRMODE);
  t.is(info(p3.p, c.lkid!).lkstate, D.DLM_LK_WAITING, 'new requests wait while conversions are queued');
  p2.p.cancel(b.lkid!);
  t.is(granted(p3.p, c.lkid!), D.DLM_PRMODE);
});

// ---- Deadlock ----------------------------------------------------------------------------------

test('60: a two-process deadlock: exactly one victim (DLM_DEADLOCK); the other is granted after release', async (t) => {
  const w = world();
  const [p1, p2] = [w.member(), w.member()];
  p1.p.lock(p1.nsp, 'R', D.DLM_EXMODE);
  const held2 = p2.p.lock(p2.nsp, 'R2', D.DLM_EXMODE);
  const w1 = p1.p.lock(p1.nsp, 'R2', D.DLM_EXMODE);
  const w2 = p2.p.lock(p2.nsp, 'R', D.DLM_EXMODE);
  t.is(await w2.wait, D.DLM_DEADLOCK, 'the newest waiter is the victim');
  t.is(info(p1.p, w1.lkid!).lkstate, D.DLM_LK_WAITING);
  t.is(w.deadlocks().length, 1);
  p2.p.unlock(held2.lkid!);
  t.is(await w1.wait, D.DLM_SUCCESS);
});

test('61: conversion deadlock (PR, PR, both →EX): one conversion gets DLM_DEADLOCK and stays PR', async (t) => {
  const w = world();
  const [p1, p2] = [w.member(), w.member()];
  const a = p1.p.lock(p1.nsp, 'R', D.DLM_PRMODE);
  const b = p2.p.lock(p2.nsp, 'R', D.DLM_PRMODE);
  const ca = p1.p.cvt(a.lkid!, D.DLM_EXMODE);
  const cb = p2.p.cvt(b.lkid!, D.DLM_EXMODE);
  t.is(await cb.wait, D.DLM_DEADLOCK);
  t.is(granted(p2.p, b.lkid!), D.DLM_PRMODE);
  t.is(info(p1.p, a.lkid!).lkstate, D.DLM_LK_CONVERTING);
  p2.p.unlock(b.lkid!);
  t.is(await ca.wait, D.DLM_SUCCESS);
  t.is(granted(p1.p, a.lkid!), D.DLM_EXMODE);
  t.is(w.deadlocks().length, 1);
});

test('62: DLM_NODLCKWT on the wait and DLM_NODLCKBLK on the holding lock → the cycle is ignored', (t) => {
  const w = world();
  const [p1, p2] = [w.member(), w.member()];
  p1.p.lock(p1.nsp, 'R', D.DLM_EXMODE);
  p2.p.lock(p2.nsp, 'R2', D.DLM_EXMODE, { flags: D.DLM_NODLCKBLK });
  const w1 = p1.p.quelock(p1.nsp, 'R2', D.DLM_EXMODE, { flags: D.DLM_NODLCKWT });
  const w2 = p2.p.quelock(p2.nsp, 'R', D.DLM_EXMODE);
  t.is(w.deadlocks().length, 0);
  t.is(info(p1.p, w1.lkid!).lkstate, D.DLM_LK_WAITING);
  t.is(info(p2.p, w2.lkid!).lkstate, D.DLM_LK_WAITING);
});

test('63: with DLM_TXID_LOCAL two processes of one transaction are one owner (no deadlock between them)', (t) => {
  const run = (tx1: string, tx2: string) => {
    const w = world();
    const [p1, p2] = [w.member(), w.member()];
    const o = (tranid: string) => ({ flags: D.DLM_TXID_LOCAL, tranid });
    p1.p.lock(p1.nsp, 'R', D.DLM_EXMODE, o(tx1));
    p2.p.lock(p2.nsp, 'R2', D.DLM_EXMODE, o(tx2));
    p1.p.quelock(p1.nsp, 'R2', D.DLM_EXMODE, o(tx1));
    p2.p.quelock(p2.nsp, 'R', D.DLM_EXMODE, o(tx2));
    return w.deadlocks().length;
  };
  t.is(run('T', 'T'), 0);
  t.is(run('T1', 'T2'), 1);
  const w = world();
  const { p, nsp } = w.member();
  t.is(p.lock(nsp, 'R', D.DLM_EXMODE, { flags: D.DLM_TXID_LOCAL }).status, D.DLM_BADPARAM, 'DLM_TXID_LOCAL needs a tranid');
});

// ---- Sublocks / resource trees -----------------------------------------------------------------

test('64: a sublock under a parent that is not granted → DLM_PARNOTGRANT', (t) => {
  const w = world();
  const [p1, p2] = [w.member(), w.member()];
  p1.p.lock(p1.nsp, 'P', D.DLM_EXMODE);
  const q = p2.p.quelock(p2.nsp, 'P', D.DLM_EXMODE);
  t.is(p2.p.lock(0, 'C', D.DLM_EXMODE, { parlkid: q.lkid }).status, D.DLM_PARNOTGRANT);
});

test('65: the same child name under different parents, or at the root, names different resources', (t) => {
  const w = world();
  const [p1, p2] = [w.member(), w.member()];
  const A = p1.p.lock(p1.nsp, 'A', D.DLM_EXMODE);
  const B = p1.p.lock(p1.nsp, 'B', D.DLM_EXMODE);
  const o = { flags: D.DLM_SYNCSTS | D.DLM_NOQUEUE };
  t.is(p1.p.lock(0, 'C', D.DLM_EXMODE, { ...o, parlkid: A.lkid }).status, D.DLM_SYNCH);
  t.is(p1.p.lock(0, 'C', D.DLM_EXMODE, { ...o, parlkid: B.lkid }).status, D.DLM_SYNCH);
  t.is(p1.p.lock(p1.nsp, 'C', D.DLM_EXMODE, o).status, D.DLM_SYNCH);
  // Children are named under the parent *resource* (VMS): another lock on A reaches the same child.
  p1.p.cvt(A.lkid!, D.DLM_NLMODE);
  const A2 = p2.p.lock(p2.nsp, 'A', D.DLM_NLMODE);
  t.is(p2.p.lock(0, 'C', D.DLM_EXMODE, { ...o, parlkid: A2.lkid }).status, D.DLM_NOTQUEUED);
});

test('66: dlm_unlock of a parent that still has sublocks → DLM_SUBLOCKS', (t) => {
  const w = world();
  const { p, nsp } = w.member();
  const parent = p.lock(nsp, 'P', D.DLM_EXMODE);
  const child = p.lock(0, 'C', D.DLM_EXMODE, { parlkid: parent.lkid });
  t.is(p.unlock(parent.lkid!), D.DLM_SUBLOCKS);
  t.is(granted(p, parent.lkid!), D.DLM_EXMODE);
  t.is(p.unlock(child.lkid!), D.DLM_SUCCESS);
  t.is(p.unlock(parent.lkid!), D.DLM_SUCCESS);
});

test('67: dlm_get_rsbinfo on the parent shows subrescnt = number of child resources', (t) => {
  const w = world();
  const { p, nsp } = w.member();
  const parent = p.lock(nsp, 'P', D.DLM_EXMODE);
  t.is(rsb(p, nsp, 'P').subrescnt, 0);
  p.lock(0, 'C1', D.DLM_EXMODE, { parlkid: parent.lkid });
  p.lock(0, 'C2', D.DLM_EXMODE, { parlkid: parent.lkid });
  p.lock(0, 'C2', D.DLM_NLMODE, { parlkid: parent.lkid });
  t.is(rsb(p, nsp, 'P').subrescnt, 2);
  const child = p.getRsbinfo(nsp, 'C2', parent.lkid);
  t.is(child.status, D.DLM_SUCCESS);
  t.is(child.info!.lckcnt, 2);
});

// ---- Group lock containers ---------------------------------------------------------------------

test('68: glc_create, glc_attach; attaching again → DLM_ATTACHED; unknown container → DLM_ENOENT', (t) => {
  const w = world();
  const [p1, p2, p3] = [w.member(), w.member(), w.member()];
  const g = p1.p.glcCreate(D.DLM_GLC_PERM, [p1.nsp]);
  t.is(g.status, D.DLM_SUCCESS);
  t.is(p2.p.glcAttach(g.id!, 0), D.DLM_SUCCESS);
  t.is(p2.p.glcAttach(g.id!, 0), D.DLM_ATTACHED);
  t.is(p3.p.glcAttach(g.id! + 100, 0), D.DLM_ENOENT);
  t.is(p1.p.glcCreate(0, [p1.nsp]).status, D.DLM_ATTACHED, 'one container at a time');
});

test('69: DLM_GLC_OWNED|DLM_GLC_PERM → DLM_BADPARAM', (t) => {
  const w = world();
  const { p, nsp } = w.member();
  t.is(p.glcCreate(D.DLM_GLC_OWNED | D.DLM_GLC_PERM, [nsp]).status, D.DLM_BADPARAM);
});

test('70: a group lock can be converted and unlocked by another member; outsiders wait', async (t) => {
  const w = world();
  const [p1, p2, p3] = [w.member(), w.member(), w.member()];
  const g = p1.p.glcCreate(0, [p1.nsp]);
  p2.p.glcAttach(g.id!);
  const gl = p1.p.lock(p1.nsp, 'R', D.DLM_EXMODE, { flags: D.DLM_GROUP_LOCK });
  t.is(gl.status, D.DLM_SUCCESS);
  const out = p3.p.lock(p3.nsp, 'R', D.DLM_EXMODE);
  t.not(out.wait, null);
  t.is(p3.p.cvt(gl.lkid!, D.DLM_NLMODE).status, D.DLM_IVLOCKID, 'not a member');
  t.is(p2.p.cvt(gl.lkid!, D.DLM_PRMODE).status, D.DLM_SUCCESS);
  t.is(info(p2.p, gl.lkid!).lk_pid, p2.p.pid, 'P2 manipulates it now');
  t.is(p2.p.unlock(gl.lkid!), D.DLM_SUCCESS);
  t.is(await out.wait, D.DLM_SUCCESS);
});

test('71: a member exits while its group lock is granted EX → the lock stays; outsiders still wait', (t) => {
  const w = world();
  const [p1, p2, p3] = [w.member(), w.member(), w.member()];
  const g = p1.p.glcCreate(0, [p1.nsp]);
  p2.p.glcAttach(g.id!);
  const gl = p1.p.lock(p1.nsp, 'R', D.DLM_EXMODE, { flags: D.DLM_GROUP_LOCK });
  const out = p3.p.quelock(p3.nsp, 'R', D.DLM_EXMODE);
  w.dlm.ownerDied(p1.p);
  const i = info(p2.p, gl.lkid!);
  t.is(i.lkstate, D.DLM_LK_GRANTED);
  t.is(i.grmode, D.DLM_EXMODE);
  t.is(i.lk_pid, 0, 'no member manipulates it');
  t.is(info(p3.p, out.lkid!).lkstate, D.DLM_LK_WAITING);
});

test('72: the last member detaching from a non-PERM container destroys it and releases its locks', async (t) => {
  const w = world();
  const [p1, p3] = [w.member(), w.member()];
  const g = p1.p.glcCreate(0, [p1.nsp]);
  p1.p.lock(p1.nsp, 'R', D.DLM_EXMODE, { flags: D.DLM_GROUP_LOCK });
  const out = p3.p.lock(p3.nsp, 'R', D.DLM_EXMODE);
  t.is(p1.p.glcDetach(), D.DLM_SUCCESS);
  t.is(await out.wait, D.DLM_SUCCESS);
  t.is(p3.p.glcAttach(g.id!), D.DLM_ENOENT);
});

test('73: the creator of a DLM_GLC_OWNED container exits → group locks released, members killed', async (t) => {
  const w = world();
  const [p1, p2, p3, p4] = [w.member(), w.member(), w.member(), w.member()];
  const g = p1.p.glcCreate(D.DLM_GLC_OWNED, [p1.nsp]);
  p2.p.glcAttach(g.id!);
  p3.p.glcAttach(g.id!);
  p2.p.lock(p2.nsp, 'R', D.DLM_EXMODE, { flags: D.DLM_GROUP_LOCK });
  const out = p4.p.lock(p4.nsp, 'R', D.DLM_EXMODE);
  w.dlm.ownerDied(p1.p);
  t.deepEqual(
    w.killed.sort((a, b) => a.pid - b.pid),
    [
      { pid: p2.p.pid, reason: 'glc-owned' },
      { pid: p3.p.pid, reason: 'glc-owned' },
    ],
  );
  t.false(p2.p.alive);
  t.false(p3.p.alive);
  t.is(await out.wait, D.DLM_SUCCESS);
  t.deepEqual(w.dlm.dump().glcs, []);
});

test('74: glc_destroy: members attached → DLM_HASPROCS; locks, no flag → DLM_HASLOCKS; DLM_GLC_LOCKS → DLM_SUCCESS', (t) => {
  const w = world();
  const [p1, p2] = [w.member(), w.member()];
  const g = p1.p.glcCreate(D.DLM_GLC_PERM, [p1.nsp]);
  const gl = p1.p.lock(p1.nsp, 'R', D.DLM_EXMODE, { flags: D.DLM_GROUP_LOCK });
  t.is(p2.p.glcDestroy(g.id!, 0), D.DLM_HASPROCS);
  t.is(p2.p.glcDestroy(g.id!, D.DLM_GLC_LOCKS), D.DLM_HASPROCS, 'DLM_GLC_LOCKS needs no process attached');
  t.is(p1.p.glcDetach(), D.DLM_SUCCESS);
  t.is(rsb(p2.p, p2.nsp, 'R').lckcnt, 1, 'a PERM container keeps its locks');
  t.is(p2.p.glcDestroy(g.id!, 0), D.DLM_HASLOCKS);
  t.is(p2.p.glcDestroy(g.id!, D.DLM_GLC_LOCKS), D.DLM_SUCCESS);
  t.is(p2.p.getRsbinfo(p2.nsp, 'R').status, D.DLM_ENOENT);
  t.is(p1.p.getLkinfo(gl.lkid!).status, D.DLM_IVLOCKID);
  t.is(p2.p.glcDestroy(g.id!, 0), D.DLM_ENOENT);
});

test('75: glc_destroy(DLM_GLC_FORCE) by the creator → members killed, locks released, group RD ids invalid', (t) => {
  const w = world();
  const [p1, p2, p3, p4] = [w.member(), w.member(), w.member(), w.member()];
  const g = p1.p.glcCreate(D.DLM_GLC_PERM, [p1.nsp]);
  p2.p.glcAttach(g.id!);
  p3.p.glcAttach(g.id!);
  const rd = p1.p.rdAttach('grp', D.DLM_RD_GROUP);
  t.is(rd.status, D.DLM_SUCCESS);
  p2.p.lock(p2.nsp, 'R', D.DLM_EXMODE, { flags: D.DLM_GROUP_LOCK });
  const out = p4.p.quelock(p4.nsp, 'R', D.DLM_EXMODE);
  t.is(p1.p.glcDestroy(g.id!, D.DLM_GLC_FORCE), D.DLM_SUCCESS);
  t.deepEqual(w.killed.map((k) => k.pid).sort(), [p2.p.pid, p3.p.pid]);
  t.true(w.killed.every((k) => k.reason === 'glc-force'));
  t.true(p1.p.alive);
  t.is(granted(p4.p, out.lkid!), D.DLM_EXMODE);
  t.is(p1.p.rdCollect(rd.rdId!).status, D.DLM_IVRDID);
  t.is(p1.p.glcAttach(g.id!), D.DLM_ENOENT);
});

test('76: glc_detach while attached to a recovery domain on behalf of the group → DLM_ATTACHED', (t) => {
  const w = world();
  const { p, nsp } = w.member();
  p.glcCreate(0, [nsp]);
  const rd = p.rdAttach('grp', D.DLM_RD_GROUP);
  t.is(p.glcDetach(), D.DLM_ATTACHED);
  t.is(p.rdDetach(rd.rdId!), D.DLM_SUCCESS);
  t.is(p.glcDetach(), D.DLM_SUCCESS);
});

test('77: glc_detach with a group conversion pending → regranted at the previous mode, notifications canceled', (t) => {
  const w = world();
  const [p1, p2, p3, p4] = [w.member(), w.member(), w.member(), w.member()];
  const rec = recorder();
  const g = p1.p.glcCreate(0, [p1.nsp]);
  p2.p.glcAttach(g.id!);
  p1.p.setSignal(0);
  const conv = p1.p.lock(p1.nsp, 'R', D.DLM_PRMODE, { flags: D.DLM_GROUP_LOCK });
  p3.p.lock(p3.nsp, 'R', D.DLM_PRMODE);
  p1.p.quecvt(conv.lkid!, D.DLM_EXMODE, { cplrtn: rec.cplrtn }); // blocked by P3
  const held = p1.p.lock(p1.nsp, 'S', D.DLM_EXMODE, { flags: D.DLM_GROUP_LOCK, blkrtn: rec.blkrtn });
  p4.p.quelock(p4.nsp, 'S', D.DLM_EXMODE); // a blocking notification for P1 is now pending
  t.is(p1.p.pendingNotifications, 1);
  t.is(p1.p.glcDetach(), D.DLM_SUCCESS);
  const i = info(p2.p, conv.lkid!);
  t.is(i.lkstate, D.DLM_LK_GRANTED);
  t.is(i.grmode, D.DLM_PRMODE);
  t.is(granted(p2.p, held.lkid!), D.DLM_EXMODE, 'granted group locks stay with the container');
  t.is(p1.p.notify(), 0);
  w.sched.flush();
  t.deepEqual(rec.cpl, []);
  t.deepEqual(rec.blk, []);
});

// ---- Recovery domains and persistent resources -------------------------------------------------

test('78: rd_attach with DLM_RD_PROCESS|DLM_RD_GROUP → DLM_BADPARAM; name too long → DLM_ENAMETOOLONG', (t) => {
  const w = world();
  const { p } = w.member();
  t.is(p.rdAttach('rd1', D.DLM_RD_PROCESS | D.DLM_RD_GROUP).status, D.DLM_BADPARAM);
  t.is(p.rdAttach('x'.repeat(D.DLM_RDNAMELEN + 1), D.DLM_RD_PROCESS).status, D.DLM_ENAMETOOLONG);
  t.is(p.rdAttach('x'.repeat(D.DLM_RDNAMELEN), D.DLM_RD_PROCESS).status, D.DLM_SUCCESS);
});

test('79: a persistent EX holder dies → R persists, rd_collect finds it, rd_validate zeroes and validates it', (t) => {
  const w = world();
  const [p1, p2] = [w.member(), w.member()];
  const rd1 = p1.p.rdAttach('rd1', D.DLM_RD_PROCESS).rdId!;
  const rd2 = p2.p.rdAttach('rd1', D.DLM_RD_PROCESS).rdId!;
  const v = vb(0x5a);
  const l = p1.p.lock(p1.nsp, 'R', D.DLM_EXMODE, { flags: D.DLM_PERSIST | D.DLM_VALB, valb: v, rdId: rd1 });
  t.is(l.status, D.DLM_SUCCESS);
  p1.p.cvt(l.lkid!, D.DLM_EXMODE, { flags: D.DLM_VALB, valb: v });
  w.dlm.ownerDied(p1.p);
  const r = rsb(p2.p, p2.nsp, 'R');
  t.is(r.lckcnt, 0, 'no lock left');
  t.is(r.vbstatus, D.DLM_SUCCVALNOTVALID);
  const c = p2.p.rdCollect(rd2);
  t.is(c.status, D.DLM_SUCCESS);
  t.is(c.resources!.length, 1);
  t.is(Buffer.from(c.resources![0].path[0]).toString(), 'R');
  t.is(c.resources![0].namespace, 'user:1000');
  t.deepEqual([...c.resources![0].valb], [...v]);
  t.is(p2.p.rdValidate(rd2, c.hndl!), D.DLM_SUCCESS);
  const after = rsb(p2.p, p2.nsp, 'R');
  t.is(after.vbstatus, D.DLM_SUCCESS);
  t.deepEqual([...after.valb], [...vb(0)]);
});

test('80: rd_collect twice without rd_validate → DLM_EALREADY', (t) => {
  const w = world();
  const { p } = w.member();
  const rd = p.rdAttach('rd1', D.DLM_RD_PROCESS).rdId!;
  t.is(p.rdCollect(rd).status, D.DLM_SUCCESS);
  t.is(p.rdCollect(rd).status, D.DLM_EALREADY);
});

test('81: rd_collect with nothing invalid → DLM_SUCCESS, empty collection, domain in recovery', (t) => {
  const w = world();
  const { p } = w.member();
  const rd = p.rdAttach('rd1', D.DLM_RD_PROCESS).rdId!;
  const c = p.rdCollect(rd);
  t.is(c.status, D.DLM_SUCCESS);
  t.deepEqual(c.resources, []);
  t.true(w.dlm.dump().domains[0].recovering);
  t.is(p.rdValidate(rd, c.hndl!), D.DLM_SUCCESS);
  t.false(w.dlm.dump().domains[0].recovering);
});

test('82: a resource becoming invalid between collect and validate → DLM_MORE_TO_RECOVER', (t) => {
  const w = world();
  const [p1, p2, p3] = [w.member(), w.member(), w.member()];
  const ids = [p1, p2, p3].map((m) => m.p.rdAttach('rd1', D.DLM_RD_PROCESS).rdId!);
  p1.p.lock(p1.nsp, 'R1', D.DLM_EXMODE, { flags: D.DLM_PERSIST, rdId: ids[0] });
  p3.p.lock(p3.nsp, 'R2', D.DLM_PWMODE, { flags: D.DLM_PERSIST, rdId: ids[2] });
  w.dlm.ownerDied(p1.p);
  const c = p2.p.rdCollect(ids[1]);
  t.is(c.resources!.length, 1);
  w.dlm.ownerDied(p3.p);
  t.is(p2.p.rdValidate(ids[1], c.hndl!), D.DLM_MORE_TO_RECOVER);
  const c2 = p2.p.rdCollect(ids[1]);
  t.deepEqual(c2.resources!.map((r) => Buffer.from(r.path[0]).toString()), ['R2']);
  t.is(p2.p.rdValidate(ids[1], c2.hndl!), D.DLM_SUCCESS);
});

test('83: the collector dies between collect and validate → the resources are collectable again', (t) => {
  const w = world();
  const [p1, p2, p3] = [w.member(), w.member(), w.member()];
  const ids = [p1, p2, p3].map((m) => m.p.rdAttach('rd1', D.DLM_RD_PROCESS).rdId!);
  p1.p.lock(p1.nsp, 'R1', D.DLM_EXMODE, { flags: D.DLM_PERSIST, rdId: ids[0] });
  w.dlm.ownerDied(p1.p);
  t.is(p2.p.rdCollect(ids[1]).resources!.length, 1);
  t.is(p3.p.rdCollect(ids[2]).status, D.DLM_EINPROGRESS, 'one collection per domain at a time');
  w.dlm.ownerDied(p2.p);
  const again = p3.p.rdCollect(ids[2]);
  t.is(again.status, D.DLM_SUCCESS);
  t.is(again.resources!.length, 1);
});

test('84: DLM_IS_PR, DLM_NOT_PR, DLM_PR_RD_MISMATCH, DLM_IVRDID', (t) => {
  const w = world();
  const [p1, p2] = [w.member(), w.member()];
  const a = p1.p.rdAttach('rd1', D.DLM_RD_PROCESS).rdId!;
  const b = p2.p.rdAttach('rd2', D.DLM_RD_PROCESS).rdId!;
  p1.p.lock(p1.nsp, 'P', D.DLM_NLMODE, { flags: D.DLM_PERSIST, rdId: a });
  p1.p.lock(p1.nsp, 'N', D.DLM_NLMODE);
  t.is(p2.p.lock(p2.nsp, 'P', D.DLM_NLMODE).status, D.DLM_IS_PR);
  t.is(p2.p.lock(p2.nsp, 'N', D.DLM_NLMODE, { flags: D.DLM_PERSIST, rdId: b }).status, D.DLM_NOT_PR);
  t.is(p2.p.lock(p2.nsp, 'P', D.DLM_NLMODE, { flags: D.DLM_PERSIST, rdId: b }).status, D.DLM_PR_RD_MISMATCH);
  t.is(p2.p.lock(p2.nsp, 'Q', D.DLM_NLMODE, { flags: D.DLM_PERSIST, rdId: 99 }).status, D.DLM_IVRDID);
  const a2 = p1.p.rdAttach('rd3', D.DLM_RD_PROCESS).rdId!;
  t.is(a2, 2);
  t.is(p2.p.lock(p2.nsp, 'Q', D.DLM_NLMODE, { flags: D.DLM_PERSIST, rdId: a2 }).status, D.DLM_IVRDID, 'handles are per process');
});

// ---- Process death -----------------------------------------------------------------------------

test('85: a killed process loses its lock, conversion and waiting request; waiters granted; nothing delivered to it', (t) => {
  const w = world();
  const [p1, p4, p5, p6, p7] = [w.member(), w.member(), w.member(), w.member(), w.member()];
  const rec = recorder();
  // R: P1 holds PR and converts another lock NL→EX; P4 waits PR behind the conversion.
  p1.p.lock(p1.nsp, 'R', D.DLM_PRMODE, { blkrtn: rec.blkrtn });
  const conv = p1.p.lock(p1.nsp, 'R', D.DLM_NLMODE);
  p1.p.quecvt(conv.lkid!, D.DLM_EXMODE, { cplrtn: rec.cplrtn });
  const r4 = p4.p.quelock(p4.nsp, 'R', D.DLM_PRMODE);
  // R2: P5 holds PR; P1 waits EX; P6 waits PR and P7 EX behind it.
  p5.p.lock(p5.nsp, 'R2', D.DLM_PRMODE);
  p1.p.quelock(p1.nsp, 'R2', D.DLM_EXMODE, { cplrtn: rec.cplrtn });
  const r6 = p6.p.quelock(p6.nsp, 'R2', D.DLM_PRMODE);
  const r7 = p7.p.quelock(p7.nsp, 'R2', D.DLM_EXMODE);
  t.is(info(p4.p, r4.lkid!).lkstate, D.DLM_LK_WAITING);
  t.is(info(p6.p, r6.lkid!).lkstate, D.DLM_LK_WAITING);
  w.dlm.ownerDied(p1.p);
  w.sched.flush();
  t.is(granted(p4.p, r4.lkid!), D.DLM_PRMODE);
  t.is(granted(p6.p, r6.lkid!), D.DLM_PRMODE);
  t.is(info(p7.p, r7.lkid!).lkstate, D.DLM_LK_WAITING);
  t.is(rsb(p4.p, p4.nsp, 'R').lckcnt, 1);
  t.is(rsb(p5.p, p5.nsp, 'R2').lckcnt, 3);
  t.deepEqual(rec.blk, []);
  t.deepEqual(rec.cpl, []);
  t.is(p1.p.lock(p1.nsp, 'X', D.DLM_NLMODE).status, D.DLM_NOTATTACHED, 'a dead process can do nothing');
});

test('86: a killed process whose request was a link of a (detection-exempt) cycle → the waiter is granted, no DLM_DEADLOCK', async (t) => {
  const w = world();
  const [p1, p2] = [w.member(), w.member()];
  p1.p.lock(p1.nsp, 'R', D.DLM_EXMODE);
  p2.p.lock(p2.nsp, 'R2', D.DLM_EXMODE);
  p1.p.quelock(p1.nsp, 'R2', D.DLM_EXMODE, { flags: D.DLM_NODLCKWT });
  const w2 = p2.p.lock(p2.nsp, 'R', D.DLM_EXMODE);
  t.is(w.deadlocks().length, 0);
  w.dlm.ownerDied(p1.p);
  t.is(await w2.wait, D.DLM_SUCCESS);
  t.is(w.deadlocks().length, 0);
});

test('87: a non-persistent resource left without locks by a death is freed (dlm_get_rsbinfo → DLM_ENOENT)', (t) => {
  const w = world();
  const [p1, p2] = [w.member(), w.member()];
  const parent = p1.p.lock(p1.nsp, 'R', D.DLM_EXMODE);
  p1.p.lock(0, 'C', D.DLM_EXMODE, { parlkid: parent.lkid });
  t.is(rsb(p2.p, p2.nsp, 'R').subrescnt, 1);
  w.dlm.ownerDied(p1.p);
  t.is(p2.p.getRsbinfo(p2.nsp, 'R').status, D.DLM_ENOENT);
  t.is(w.dlm.dump().locks, 0);
});

// ---- Info and messages -------------------------------------------------------------------------

test("88: dlm_get_lkinfo on another user's lock by non-root → DLM_NOACCESS; root may", (t) => {
  const w = world();
  const a = w.member(1000);
  const b = w.member(2000);
  const l = a.p.lock(a.nsp, 'R', D.DLM_PRMODE);
  t.is(b.p.getLkinfo(l.lkid!).status, D.DLM_NOACCESS);
  t.is(w.member(1000).p.getLkinfo(l.lkid!).status, D.DLM_NOACCESS, 'another process of the same user is not the owner');
  const root = w.proc(0);
  const r = root.getLkinfo(l.lkid!);
  t.is(r.status, D.DLM_SUCCESS);
  t.is(r.info!.lk_pid, a.p.pid);
});

test('89: dlm_get_rsbinfo before joining the namespace → DLM_NOTATTACHED', (t) => {
  const w = world();
  const a = w.member(1000);
  a.p.lock(a.nsp, 'R', D.DLM_PRMODE);
  const stranger = w.proc(1000);
  t.is(stranger.getRsbinfo(a.nsp, 'R').status, D.DLM_NOTATTACHED);
  const other = w.member(2000);
  t.is(other.p.getRsbinfo(other.nsp, 'R').status, D.DLM_ENOENT, 'joined another namespace: no such resource there');
});

test('90: dlm_sperrno / dlm_perrno / dlm_perror', (t) => {
  t.regex(D.sperrno(D.DLM_NOTQUEUED), /^DLM_NOTQUEUED: ./);
  t.is(D.sperrno(9999), D.DLM_ILLEGAL_ERROR_TEXT);
  t.regex(D.sperrno(9999), /DLM_ILLEGAL_EEROR/);
  const lines: string[] = [];
  D.perror('x', D.DLM_DEADLOCK, (s) => lines.push(s));
  D.perrno(D.DLM_SUCCESS, (s) => lines.push(s));
  t.deepEqual(lines, [`x: ${D.sperrno(D.DLM_DEADLOCK)}\n`, `${D.sperrno(D.DLM_SUCCESS)}\n`]);
  // Default sink: stderr.
  const write = process.stderr.write;
  const captured: string[] = [];
  process.stderr.write = ((chunk: string) => (captured.push(String(chunk)), true)) as typeof process.stderr.write;
  try {
    D.perror('y', D.DLM_TIMEOUT);
  } finally {
    process.stderr.write = write;
  }
  t.deepEqual(captured, [`y: ${D.sperrno(D.DLM_TIMEOUT)}\n`]);
});

// ---- Cross-check workload (the in-process side of item 91) -------------------------------------

test('91: lvb_torture-style workload: N owners × M resources, PR/EX mix, LVB counter with fencing — no exclusion violation', async (t) => {
  // The engine side of the cross-check harness: every owner loops taking EX (increment the counter in
  // the value block and in a shadow "storage" that checks the fencing token) or PR (read and compare),
  // through the real synchronous API with waits. Comparing with redis/etcd/ZooKeeper needs the DLM
  // service (src/dlm/service) and is done by its benchmark (bench/dlm-service.ts).
  const scheduler = new D.SystemScheduler();
  const dlm = new Dlm({ scheduler });
  const OWNERS = 8;
  const RESOURCES = 4;
  const ROUNDS = 300;
  const storage = new Map<string, { value: number; token: number; writers: number; readers: number }>();
  for (let r = 0; r < RESOURCES; r++) storage.set(`res${r}`, { value: 0, token: 0, writers: 0, readers: 0 });
  let violations = 0;
  let writes = 0;
  let seed = 12345;
  const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) % n);
  const owners = Array.from({ length: OWNERS }, (_, i) => {
    const p = dlm.process({ pid: 1000 + i, uid: 1000, gid: 1000 });
    return { p, nsp: p.nsjoin(1000, D.DLM_USER).nsp! };
  });
  // A keeper holds NL on every resource so that the value blocks live through the whole run.
  const keeper = dlm.process({ pid: 999, uid: 1000, gid: 1000 });
  const knsp = keeper.nsjoin(1000, D.DLM_USER).nsp!;
  const kept = [...storage.keys()].map((name) => keeper.lock(knsp, name, D.DLM_NLMODE).lkid!);
  const tick = () => new Promise<void>((res) => setImmediate(res));
  await Promise.all(
    owners.map(async ({ p, nsp }) => {
      const valb = new Uint8Array(D.DLM_VALBLKSIZE);
      const view = new DataView(valb.buffer);
      for (let i = 0; i < ROUNDS; i++) {
        const name = `res${rnd(RESOURCES)}`;
        const s = storage.get(name)!;
        const ex = rnd(3) === 0;
        const r = p.lock(nsp, name, ex ? D.DLM_EXMODE : D.DLM_PRMODE, { flags: D.DLM_VALB, valb });
        const st = r.wait ? await r.wait : r.status;
        if (st !== D.DLM_SUCCESS) throw new Error(`lock: ${D.sperrno(st)}`);
        if (ex) {
          if (s.writers || s.readers) violations++;
          s.writers++;
          const counter = view.getUint32(0, true);
          const token = view.getUint32(4, true) + 1;
          if (counter !== s.value || token <= s.token) violations++;
          s.value = counter + 1;
          s.token = token;
          view.setUint32(0, s.value, true);
          view.setUint32(4, token, true);
          await tick();
          s.writers--;
          writes++;
          p.unlock(r.lkid!, valb, D.DLM_VALB);
        } else {
          if (s.writers) violations++;
          s.readers++;
          if (view.getUint32(0, true) !== s.value) violations++;
          await tick();
          s.readers--;
          p.unlock(r.lkid!);
        }
      }
    }),
  );
  for (const lkid of kept) keeper.unlock(lkid);
  scheduler.dispose();
  t.is(violations, 0);
  t.true(writes > 0);
  t.is([...storage.values()].reduce((n, s) => n + s.value, 0), writes, 'every increment landed');
  t.is(dlm.lockCount, 0);
});
