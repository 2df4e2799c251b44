// DLM engine benchmark, in process: `npm run bench:dlm` (after a build), `-- --json` for a JSON line.
//
//   uncontended_pairs_per_s   one process: dlm_lock EX + dlm_unlock on a resource nobody else uses
//                             (the resource is created and freed every time)
//   conversions_per_s         one process: dlm_cvt NL→EX and EX→NL on a held lock
//   contended_handoffs_per_s  8 processes queue EX on one resource; each holder unlocks and queues
//                             again, the next one is granted (completion routine through dlm_notify,
//                             blocking routines, deadlock search on every new waiter)
//
// Each figure is the best of several timed rounds after a warm-up round.

import { Dlm, DLM_EXMODE, DLM_NLMODE, DLM_SUCCESS, DLM_SYNCH, DLM_SYNCSTS, DLM_USER, ManualScheduler, type DlmProcess, type LockId } from '../src/dlm';

const json = process.argv.includes('--json');
const ROUNDS = 5;

function best(rounds: number, run: () => { ops: number; ns: bigint }): number {
  let top = 0;
  run(); // warm-up
  for (let i = 0; i < rounds; i++) {
    const { ops, ns } = run();
    top = Math.max(top, ops / (Number(ns) / 1e9));
  }
  return top;
}

function joined(dlm: Dlm, pid: number): { p: DlmProcess; nsp: number } {
  const p = dlm.process({ pid, uid: 1000, gid: 1000 });
  const r = p.nsjoin(1000, DLM_USER);
  if (r.status !== DLM_SUCCESS) throw new Error('nsjoin failed');
  return { p, nsp: r.nsp! };
}

function uncontended(): { ops: number; ns: bigint } {
  const dlm = new Dlm({ scheduler: new ManualScheduler() });
  const { p, nsp } = joined(dlm, 1);
  const N = 1_000_000;
  const opts = { flags: DLM_SYNCSTS };
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    const r = p.lock(nsp, 'resource', DLM_EXMODE, opts);
    if (r.status !== DLM_SYNCH || p.unlock(r.lkid!) !== DLM_SUCCESS) throw new Error('uncontended pair failed');
  }
  return { ops: N, ns: process.hrtime.bigint() - t0 };
}

function conversions(): { ops: number; ns: bigint } {
  const dlm = new Dlm({ scheduler: new ManualScheduler() });
  const { p, nsp } = joined(dlm, 1);
  const lkid = p.lock(nsp, 'resource', DLM_NLMODE).lkid!;
  const N = 1_000_000;
  const opts = { flags: DLM_SYNCSTS };
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i += 2) {
    if (p.cvt(lkid, DLM_EXMODE, opts).status !== DLM_SYNCH || p.cvt(lkid, DLM_NLMODE, opts).status !== DLM_SYNCH) {
      throw new Error('conversion failed');
    }
  }
  return { ops: N, ns: process.hrtime.bigint() - t0 };
}

function contended(): { ops: number; ns: bigint } {
  const dlm = new Dlm({ scheduler: new ManualScheduler() });
  const OWNERS = 8;
  const N = 200_000;
  let holder = -1;
  let blocking = 0;
  const owners = Array.from({ length: OWNERS }, (_, i) => {
    const o = joined(dlm, i + 1);
    o.p.setSignal(0); // deliver with dlm_notify, on the spot
    return { ...o, lkid: null as LockId | null };
  });
  const blkrtn = () => {
    blocking++;
  };
  const request = (i: number) => {
    const o = owners[i];
    const r = o.p.quelock(o.nsp, 'resource', DLM_EXMODE, {
      flags: DLM_SYNCSTS,
      notprm: i,
      blkrtn,
      cplrtn: (notprm, _lkid, status) => {
        if (status !== DLM_SUCCESS) throw new Error(`completion ${status}`);
        holder = notprm as number;
      },
    });
    o.lkid = r.lkid;
    if (r.status === DLM_SYNCH) holder = i;
  };
  for (let i = 0; i < OWNERS; i++) request(i);
  const t0 = process.hrtime.bigint();
  for (let n = 0; n < N; n++) {
    const h = holder;
    const o = owners[h];
    o.p.unlock(o.lkid!);
    request(h); // back of the queue
    const next = (h + 1) % OWNERS;
    // The next one hears its completion and, as it now blocks the others, its blocking routine.
    if (owners[next].p.notify() !== 2 || holder !== next) throw new Error('hand-off out of order');
  }
  const ns = process.hrtime.bigint() - t0;
  if (blocking < N) throw new Error('blocking notifications missing');
  return { ops: N, ns };
}

const metrics: Record<string, { value: number; unit: string }> = {
  uncontended_pairs_per_s: { value: Math.round(best(ROUNDS, uncontended)), unit: 'pairs/s' },
  conversions_per_s: { value: Math.round(best(ROUNDS, conversions)), unit: 'conversions/s' },
  contended_handoffs_per_s: { value: Math.round(best(ROUNDS, contended)), unit: 'handoffs/s' },
};

const rows = Object.entries(metrics).map(([name, m]) => [name, m.value.toLocaleString('en-US'), m.unit]);
const widths = [0, 1, 2].map((c) => Math.max(...[['metric', 'value', 'unit'], ...rows].map((r) => r[c].length)));
const line = (r: string[]) => `${r[0].padEnd(widths[0])}  ${r[1].padStart(widths[1])}  ${r[2]}`;
console.log(`DLM engine, in process (node ${process.version}, best of ${ROUNDS} rounds)`);
console.log(line(['metric', 'value', 'unit']));
for (const r of rows) console.log(line(r));
if (json) console.log(JSON.stringify({ metrics }));
