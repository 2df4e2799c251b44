// Randomized model checking: tens of thousands of random operations from several processes (quelock,
// quecvt, unlock, cancel, timeouts, death) run against the engine and against a small reference model
// written here from the VMS rules, naively (arrays, full scans, brute-force graph search).
//
// After every operation:
// - every returned status is the one the model predicts;
// - the queues (granted, converting, waiting, in order, with modes) equal the model's, and no empty
//   resource is left behind;
// - granted modes on each resource are pairwise compatible;
// - grants come in the documented order (per resource, the engine's grant sequence is the model's);
// - every deadlock victim the engine picked was on a wait-for cycle when it was picked, and was the
//   newest waiter of such a cycle; once the victims are gone no cycle is left (every cycle broken, one
//   victim per cycle);
// - every completion owed to a live process is delivered exactly once, with the model's status.

import test from 'ava';
import * as D from '../src/dlm';
import type { DlmEvent, DlmProcess, LockId } from '../src/dlm';

// ---- the reference model ------------------------------------------------------------------------

// Compatibility [held][requested], written out again from VMS's table (not taken from the engine).
const COMPAT: Record<number, number[]> = {
  1: [1, 2, 3, 4, 5, 6],
  2: [1, 2, 3, 4, 5],
  3: [1, 2, 3],
  4: [1, 2, 4],
  5: [1, 2],
  6: [1],
};
const compat = (held: number, req: number) => held === 0 || COMPAT[held].includes(req);
// DLM_QUECVT legality (the engine's documented decision: Ingres' Tru64 table).
const QUECVT_OK = new Set(['1>2', '1>3', '1>4', '1>5', '1>6', '2>3', '2>4', '2>5', '2>6', '3>5', '3>6', '4>5', '4>6']);

type State = 'G' | 'C' | 'W';

interface MLock {
  key: string;
  owner: number;
  res: string;
  grmode: number;
  rqmode: number;
  state: State;
  flags: number;
  svFlags: number;
  waitSeq: number;
  deadline: number | null;
  timerOrder: number;
}

interface MRes {
  G: MLock[];
  C: MLock[];
  W: MLock[];
}

interface Completion {
  key: string;
  res: string;
  status: number;
}

const keyOf = (id: LockId) => `${id.hndl}.${id.seqn}`;

class Model {
  readonly resources = new Map<string, MRes>();
  readonly locks = new Map<string, MLock>();
  now = 0;
  private waitSeq = 0;
  private timerOrder = 0;
  /** Pending requests that ended during the current operation, in order. */
  ended: Completion[] = [];
  /** Completion routines owed to live processes, not yet delivered. */
  owed: Completion[] = [];

  res(name: string): MRes {
    let r = this.resources.get(name);
    if (!r) {
      r = { G: [], C: [], W: [] };
      this.resources.set(name, r);
    }
    return r;
  }

  private holdersCompatible(r: MRes, mode: number, self: MLock | null): boolean {
    for (const l of [...r.G, ...r.C]) if (l !== self && !compat(l.grmode, mode)) return false;
    return true;
  }

  private startWait(l: MLock, timeout: number): void {
    l.waitSeq = ++this.waitSeq;
    if (timeout > 0) {
      l.deadline = this.now + timeout * 10;
      l.timerOrder = ++this.timerOrder;
    } else {
      l.deadline = null;
    }
  }

  private end(l: MLock, status: number): void {
    this.ended.push({ key: l.key, res: l.res, status });
    this.owed.push({ key: l.key, res: l.res, status });
  }

  private remove(l: MLock): void {
    const r = this.res(l.res);
    for (const q of [r.G, r.C, r.W]) {
      const i = q.indexOf(l);
      if (i >= 0) q.splice(i, 1);
    }
    this.locks.delete(l.key);
    if (!r.G.length && !r.C.length && !r.W.length) this.resources.delete(l.res);
  }

  /** dlm_quelock: the expected status, and whether a lock is created. */
  request(name: string, mode: number, flags: number): { status: number; created: boolean; granted: boolean } {
    const r = this.resources.get(name);
    const now = !r || flags & D.DLM_EXPEDITE || (!r.C.length && !r.W.length && this.holdersCompatible(r, mode, null));
    if (!now && flags & D.DLM_NOQUEUE) return { status: D.DLM_NOTQUEUED, created: false, granted: false };
    return { status: now && flags & D.DLM_SYNCSTS ? D.DLM_SYNCH : D.DLM_SUCCESS, created: true, granted: !!now };
  }

  addLock(lkid: LockId, owner: number, name: string, mode: number, flags: number, granted: boolean, timeout: number): void {
    const l: MLock = { key: keyOf(lkid), owner, res: name, grmode: 0, rqmode: mode, state: 'W', flags, svFlags: flags, waitSeq: 0, deadline: null, timerOrder: 0 };
    this.locks.set(l.key, l);
    const r = this.res(name);
    if (granted) {
      l.state = 'G';
      l.grmode = mode;
      r.G.push(l);
      if (!(flags & D.DLM_SYNCSTS)) this.owed.push({ key: l.key, res: name, status: D.DLM_SUCCESS });
    } else {
      r.W.push(l);
      this.startWait(l, timeout);
    }
  }

  convert(l: MLock, mode: number, flags: number, timeout: number): number {
    if (l.state === 'W') return D.DLM_CVTUNGRANT;
    if (l.state === 'C') return D.DLM_LKBUSY;
    if (flags & D.DLM_QUECVT && !QUECVT_OK.has(`${l.grmode}>${mode}`)) return D.DLM_BADPARAM;
    const r = this.res(l.res);
    const now = this.holdersCompatible(r, mode, l) && (!(flags & D.DLM_QUECVT) || r.C.length === 0);
    if (!now && flags & D.DLM_NOQUEUE) return D.DLM_NOTQUEUED;
    l.svFlags = l.flags;
    l.flags = flags;
    l.rqmode = mode;
    if (now) {
      l.grmode = mode;
      if (!(flags & D.DLM_SYNCSTS)) this.owed.push({ key: l.key, res: l.res, status: D.DLM_SUCCESS });
      return flags & D.DLM_SYNCSTS ? D.DLM_SYNCH : D.DLM_SUCCESS;
    }
    r.G.splice(r.G.indexOf(l), 1);
    r.C.push(l);
    l.state = 'C';
    this.startWait(l, timeout);
    return D.DLM_SUCCESS;
  }

  /** A pending request ends unsuccessfully. */
  fail(l: MLock, status: number): void {
    this.end(l, status);
    if (l.state === 'C') {
      const r = this.res(l.res);
      r.C.splice(r.C.indexOf(l), 1);
      r.G.push(l);
      l.state = 'G';
      l.rqmode = l.grmode;
      l.flags = l.svFlags;
      l.deadline = null;
    } else {
      this.remove(l);
    }
  }

  unlock(l: MLock): number {
    if (l.state !== 'G') this.end(l, D.DLM_ABORT);
    this.remove(l);
    return D.DLM_SUCCESS;
  }

  cancel(l: MLock, flags: number): number {
    if (l.state === 'G') return D.DLM_CANCELGRANT;
    if (l.state === 'W') {
      if (!(flags & D.DLM_CANCELWAITOK)) return D.DLM_CANCELWAIT;
      this.fail(l, D.DLM_ABORT);
    } else {
      this.fail(l, D.DLM_CANCEL);
    }
    return D.DLM_SUCCESS;
  }

  die(owner: number): void {
    for (const l of [...this.locks.values()]) {
      if (l.owner !== owner) continue;
      if (l.state !== 'G') this.ended.push({ key: l.key, res: l.res, status: D.DLM_ABORT });
      this.remove(l);
    }
  }

  /** VMS 6-3 / 6-4: conversions first, FIFO; new requests only when no conversion waits, FIFO. */
  grantAll(): void {
    for (const [, r] of this.resources) {
      while (r.C.length && this.holdersCompatible(r, r.C[0].rqmode, r.C[0])) {
        const l = r.C.shift()!;
        l.grmode = l.rqmode;
        l.state = 'G';
        l.deadline = null;
        r.G.push(l);
        this.end(l, D.DLM_SUCCESS);
      }
      if (r.C.length) continue;
      while (r.W.length && this.holdersCompatible(r, r.W[0].rqmode, null)) {
        const l = r.W.shift()!;
        l.grmode = l.rqmode;
        l.state = 'G';
        l.deadline = null;
        r.G.push(l);
        this.end(l, D.DLM_SUCCESS);
      }
    }
  }

  /** Expired requests, in (deadline, order of setting) order. */
  expiredBy(time: number): MLock[] {
    return [...this.locks.values()]
      .filter((l) => l.state !== 'G' && l.deadline !== null && l.deadline <= time)
      .sort((a, b) => a.deadline! - b.deadline! || a.timerOrder - b.timerOrder);
  }

  // -- the wait-for graph, as the engine documents it (src/dlm/deadlock.ts) ------------------------

  /** Successors of a node: "o:<pid>" for owners, lock keys for pending requests. */
  private succ(node: string, maxSeq: number): string[] {
    if (node.startsWith('o:')) {
      const owner = Number(node.slice(2));
      return [...this.locks.values()]
        .filter((l) => l.owner === owner && l.state !== 'G' && !(l.flags & D.DLM_NODLCKWT) && l.waitSeq <= maxSeq)
        .map((l) => l.key);
    }
    const l = this.locks.get(node)!;
    if (l.flags & D.DLM_NODLCKWT) return [];
    const r = this.res(l.res);
    const out: string[] = [];
    for (const m of [...r.G, ...r.C]) {
      if (m !== l && !compat(m.grmode, l.rqmode) && !(m.flags & D.DLM_NODLCKBLK) && m.owner !== l.owner) out.push(`o:${m.owner}`);
    }
    const ahead = l.state === 'C' ? r.C.slice(0, r.C.indexOf(l)) : [...r.C, ...r.W.slice(0, r.W.indexOf(l))];
    for (const p of ahead) {
      if (!(p.flags & D.DLM_NODLCKWT) && p.waitSeq <= maxSeq) out.push(p.key);
      if (!compat(p.rqmode, l.rqmode) && !(p.flags & D.DLM_NODLCKBLK) && p.owner !== l.owner) out.push(`o:${p.owner}`);
    }
    return out;
  }

  private reaches(from: string, to: string, maxSeq: number): boolean {
    const seen = new Set<string>();
    const stack = this.succ(from, maxSeq);
    while (stack.length) {
      const n = stack.pop()!;
      if (n === to) return true;
      if (seen.has(n)) continue;
      seen.add(n);
      stack.push(...this.succ(n, maxSeq));
    }
    return false;
  }

  /** Whether pending request `key` lies on a cycle whose requests are all no newer than it. */
  onCycleAsNewest(key: string): boolean {
    const l = this.locks.get(key);
    return !!l && l.state !== 'G' && this.reaches(key, key, l.waitSeq);
  }

  /** Some node on a cycle, or null when the graph is acyclic. */
  anyCycle(): string | null {
    for (const l of this.locks.values()) if (l.state !== 'G' && this.reaches(l.key, l.key, Infinity)) return l.key;
    return null;
  }
}

// ---- the run ------------------------------------------------------------------------------------

function mulberry32(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const MODES = [D.DLM_NLMODE, D.DLM_CRMODE, D.DLM_CWMODE, D.DLM_PRMODE, D.DLM_PWMODE, D.DLM_EXMODE];
const RESOURCES = ['A', 'B', 'C', 'D'];
const PROCS = 5;

interface Stats {
  ops: number;
  grants: number;
  deadlocks: number;
  timeouts: number;
  deaths: number;
  delivered: number;
}

function runSeed(seed: number, opsCount: number, failed: (msg: string) => never, stats: Stats): void {
  const rnd = mulberry32(seed);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)];
  const chance = (p: number) => rnd() < p;
  const sched = new D.ManualScheduler();
  const events: DlmEvent[] = [];
  const dlm = new D.Dlm({ scheduler: sched, hooks: { event: (e) => events.push(e) } });
  const model = new Model();
  const fail = (msg: string): never => failed(`${msg}\n${D.formatDump(dlm.dump())}`);
  const delivered: Completion[] = [];
  let nextPid = 1;
  const procs: { p: DlmProcess; nsp: number }[] = [];
  const spawn = () => {
    const p = dlm.process({ pid: nextPid++, uid: 1000, gid: 1000 });
    const nsp = p.nsjoin(1000, D.DLM_USER).nsp!;
    p.setSignal(0); // delivery by dlm_notify, after every operation
    return { p, nsp };
  };
  for (let i = 0; i < PROCS; i++) procs.push(spawn());
  const resOf = new Map<string, string>();
  const cplrtn = (_notprm: unknown, lkid: LockId, status: number) => {
    const key = keyOf(lkid);
    delivered.push({ key, res: resOf.get(key)!, status });
  };

  for (let op = 0; op < opsCount; op++) {
    events.length = 0;
    model.ended = [];
    const where = () => `seed ${seed}, op ${op}`;
    const expectStatus = (got: number, want: number, what: string) => {
      if (got !== want) fail(`${where()}: ${what} returned ${D.statusName(got)}, model says ${D.statusName(want)}`);
    };
    const live = [...model.locks.values()];
    const roll = rnd();
    let what: string;
    if (roll < 0.36 || live.length === 0) {
      const i = Math.floor(rnd() * procs.length);
      const { p, nsp } = procs[i];
      const name = pick(RESOURCES);
      const mode = pick(MODES);
      let flags = 0;
      if (chance(0.5)) flags |= D.DLM_SYNCSTS;
      if (chance(0.1)) flags |= D.DLM_NOQUEUE;
      if (chance(0.05)) flags |= D.DLM_NODLCKWT;
      if (chance(0.05)) flags |= D.DLM_NODLCKBLK;
      if (mode === D.DLM_NLMODE && chance(0.2)) flags |= D.DLM_EXPEDITE;
      const timeout = chance(0.2) ? 1 + Math.floor(rnd() * 20) : 0;
      what = `P${p.pid} quelock ${name} ${mode} flags ${flags} timeout ${timeout}`;
      const want = model.request(name, mode, flags);
      const r = p.quelock(nsp, name, mode, { flags, timeout, cplrtn });
      expectStatus(r.status, want.status, what);
      if (want.created) {
        resOf.set(keyOf(r.lkid!), name);
        model.addLock(r.lkid!, p.pid, name, mode, flags, want.granted, timeout);
      }
    } else if (roll < 0.58) {
      const l = pick(live);
      const owner = procs.find((x) => x.p.pid === l.owner)!;
      const mode = pick(MODES);
      let flags = 0;
      if (chance(0.5)) flags |= D.DLM_SYNCSTS;
      if (chance(0.1)) flags |= D.DLM_NOQUEUE;
      if (chance(0.3)) flags |= D.DLM_QUECVT;
      if (chance(0.05)) flags |= D.DLM_NODLCKWT;
      if (chance(0.05)) flags |= D.DLM_NODLCKBLK;
      const timeout = chance(0.2) ? 1 + Math.floor(rnd() * 20) : 0;
      what = `P${l.owner} quecvt ${l.key} ${l.grmode}->${mode} flags ${flags}`;
      const [hndl, seqn] = l.key.split('.').map(Number);
      const st = owner.p.quecvt({ hndl, seqn }, mode, { flags, timeout, cplrtn });
      expectStatus(st, model.convert(l, mode, flags, timeout), what);
    } else if (roll < 0.74) {
      const l = pick(live);
      const owner = procs.find((x) => x.p.pid === l.owner)!;
      what = `P${l.owner} unlock ${l.key}`;
      const [hndl, seqn] = l.key.split('.').map(Number);
      expectStatus(owner.p.unlock({ hndl, seqn }), model.unlock(l), what);
    } else if (roll < 0.86) {
      const l = pick(live);
      const owner = procs.find((x) => x.p.pid === l.owner)!;
      const flags = chance(0.6) ? D.DLM_CANCELWAITOK : 0;
      what = `P${l.owner} cancel ${l.key} flags ${flags}`;
      const [hndl, seqn] = l.key.split('.').map(Number);
      expectStatus(owner.p.cancel({ hndl, seqn }, flags), model.cancel(l, flags), what);
    } else if (roll < 0.97) {
      const ms = 1 + Math.floor(rnd() * 120);
      what = `advance ${ms} ms`;
      const target = model.now + ms;
      sched.advance(ms);
      for (const l of model.expiredBy(target)) {
        if (l.state === 'G' || !model.locks.has(l.key)) continue;
        model.now = l.deadline!;
        model.fail(l, D.DLM_TIMEOUT);
        model.grantAll();
        stats.timeouts++;
      }
      model.now = target;
    } else {
      const i = Math.floor(rnd() * procs.length);
      const victim = procs[i].p;
      what = `P${victim.pid} dies`;
      model.die(victim.pid);
      dlm.ownerDied(victim);
      procs[i] = spawn();
      stats.deaths++;
    }

    // Grants, then the engine's deadlock victims one by one, each checked against the model's graph.
    model.grantAll();
    const victims = events.filter((e) => e.type === 'completed' && e.status === D.DLM_DEADLOCK) as Extract<DlmEvent, { type: 'completed' }>[];
    for (const v of victims) {
      const key = keyOf(v.lkid);
      if (!model.onCycleAsNewest(key)) fail(`${where()} (${what}): victim ${key} is not the newest waiter of a cycle`);
      model.fail(model.locks.get(key)!, D.DLM_DEADLOCK);
      model.grantAll();
      stats.deadlocks++;
    }
    const left = model.anyCycle();
    if (left !== null) fail(`${where()} (${what}): a deadlock cycle through ${left} was left unbroken`);

    // The ended requests: same events per resource, grants in the same order.
    const engineEnded = events
      .filter((e): e is Extract<DlmEvent, { type: 'completed' }> => e.type === 'completed')
      .map((e) => ({ key: keyOf(e.lkid), res: resOf.get(keyOf(e.lkid))!, status: e.status }));
    for (const name of RESOURCES) {
      const mine = engineEnded.filter((c) => c.res === name);
      const theirs = model.ended.filter((c) => c.res === name);
      const fmt = (cs: Completion[]) => cs.map((c) => `${c.key}:${D.statusName(c.status)}`);
      const grants = (cs: Completion[]) => fmt(cs.filter((c) => c.status === D.DLM_SUCCESS));
      if (fmt(mine).sort().join() !== fmt(theirs).sort().join()) {
        fail(`${where()} (${what}): ended requests on ${name}: engine ${fmt(mine)}, model ${fmt(theirs)}`);
      }
      if (grants(mine).join() !== grants(theirs).join()) {
        fail(`${where()} (${what}): grant order on ${name}: engine ${grants(mine)}, model ${grants(theirs)}`);
      }
      stats.grants += grants(mine).length;
    }

    // Queues and modes.
    const dump = dlm.dump();
    const ns = dump.namespaces.find((n) => n.key === 'user:1000');
    const engineRes = new Map((ns?.resources ?? []).map((r) => [r.name, r]));
    for (const name of RESOURCES) {
      const er = engineRes.get(name);
      const mr = model.resources.get(name);
      const eq = er
        ? [er.granted, er.converting, er.waiting].map((q) => q.map((l) => `${keyOf(l.lkid)}:${l.grmode}:${l.rqmode}`).join(' '))
        : null;
      const mq = mr
        ? [mr.G, mr.C, mr.W].map((q) => q.map((l) => `${l.key}:${['--', 'NL', 'CR', 'CW', 'PR', 'PW', 'EX'][l.grmode]}:${['--', 'NL', 'CR', 'CW', 'PR', 'PW', 'EX'][l.rqmode]}`).join(' '))
        : null;
      if (JSON.stringify(eq) !== JSON.stringify(mq)) {
        fail(`${where()} (${what}): queues of ${name}: engine ${JSON.stringify(eq)}, model ${JSON.stringify(mq)}`);
      }
      if (er) {
        const held = [...er.granted, ...er.converting].map((l) => MODES[['NL', 'CR', 'CW', 'PR', 'PW', 'EX'].indexOf(l.grmode)]);
        for (let a = 0; a < held.length; a++) {
          for (let b = a + 1; b < held.length; b++) {
            if (!compat(held[a], held[b])) fail(`${where()}: incompatible granted modes on ${name}`);
          }
        }
      }
    }
    if (dump.locks !== model.locks.size) fail(`${where()}: engine has ${dump.locks} locks, model ${model.locks.size}`);

    // Deliver: every owed completion exactly once, with its status.
    delivered.length = 0;
    for (const { p } of procs) p.notify();
    const fmt = (cs: Completion[]) => cs.map((c) => `${c.key}:${D.statusName(c.status)}`).sort();
    if (fmt(delivered).join() !== fmt(model.owed).join()) {
      fail(`${where()} (${what}): delivered ${fmt(delivered)}, owed ${fmt(model.owed)}`);
    }
    stats.delivered += delivered.length;
    model.owed = [];
    stats.ops++;
  }
}

test('random operations from several processes agree with the reference model', (t) => {
  const stats: Stats = { ops: 0, grants: 0, deadlocks: 0, timeouts: 0, deaths: 0, delivered: 0 };
  // DLM_RANDOM_SEEDS / DLM_RANDOM_FIRST scale the run up for soak testing.
  const SEEDS = Number(process.env.DLM_RANDOM_SEEDS ?? 30);
  const FIRST = Number(process.env.DLM_RANDOM_FIRST ?? 1);
  const OPS = 2000;
  for (let s = FIRST; s < FIRST + SEEDS; s++) {
    runSeed(s * 7919, OPS, (msg) => {
      throw new Error(msg);
    }, stats);
  }
  t.is(stats.ops, SEEDS * OPS);
  t.log(JSON.stringify(stats));
  // The run must have exercised what it checks.
  t.true(stats.deadlocks > 50, `deadlocks ${stats.deadlocks}`);
  t.true(stats.timeouts > 50, `timeouts ${stats.timeouts}`);
  t.true(stats.grants > 1000, `grants ${stats.grants}`);
  t.true(stats.deaths > 100, `deaths ${stats.deaths}`);
});
