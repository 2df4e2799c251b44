// DLM engine benchmark, in process: `npm run bench:dlm` (after a build), `-- --json` for a last line
// {"metrics": {"<name>": {"value": N, "unit": "..."}}}.
//
//   uncontended_pairs_per_s   one process: dlm_lock EX + dlm_unlock on a resource nobody else uses
//                             (the resource is created and freed every time)
//   conversions_per_s         one process: dlm_cvt NL→EX and EX→NL on a held lock
//   contended_handoffs_per_s  8 processes queue EX on one resource; each holder unlocks and queues
//                             again, the next one is granted (completion routine through dlm_notify,
//                             blocking routines, deadlock search on every new waiter)
//
// The peer is the kernel's own lock manager (POSIX record locks, fs/locks.c), called from the same
// Node process through the syscall addon (src/native/sys.ts fcntlLock) on a temporary file:
//   fcntl_uncontended_pairs_per_s  fcntl(F_SETLK, F_WRLCK) + fcntl(F_SETLK, F_UNLCK), whole file
//   fcntl_conversions_per_s        a held F_RDLCK converted F_RDLCK→F_WRLCK and F_WRLCK→F_RDLCK
// and, as the headline peer, the same calls in a C loop (bench/native/fcntl-pairs.c, compiled at run
// time), with nothing between the caller and its lock manager, as the engine has. Ratios: engine /
// kernel (C), and engine / kernel (addon). The hand-offs have no peer (see the note printed).
//
// `-- --rounds N` (default 5): after a warm-up, every side runs once per round in rotated order;
// the table shows the median and range over the rounds, the ratios the median of per-round ones.

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Dlm, DLM_EXMODE, DLM_NLMODE, DLM_SUCCESS, DLM_SYNCH, DLM_SYNCSTS, DLM_USER, ManualScheduler, type DlmProcess, type LockId } from '../src/dlm';
import * as sys from '../src/native/sys';
import { execFileSync } from 'child_process';
import { compileNative } from './peers';
import { reportMatrix, roundsArg, type MatrixRatio, type MatrixRow } from './report';

const json = process.argv.includes('--json');
const ROUNDS = roundsArg(5);

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

// ---- the peer: the kernel's POSIX record locks on a temporary file, through the addon ----------

const SEEK_SET = 0;
const KERNEL_N = 200_000;

function kernelPairs(fd: number): () => { ops: number; ns: bigint } {
  return () => {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < KERNEL_N; i++) {
      if (sys.fcntlLock(fd, sys.F_SETLK, sys.F_WRLCK, SEEK_SET, 0, 0) !== 0 || sys.fcntlLock(fd, sys.F_SETLK, sys.F_UNLCK, SEEK_SET, 0, 0) !== 0) {
        throw new Error('fcntl lock pair failed');
      }
    }
    return { ops: KERNEL_N, ns: process.hrtime.bigint() - t0 };
  };
}

function kernelConversions(fd: number): () => { ops: number; ns: bigint } {
  return () => {
    if (sys.fcntlLock(fd, sys.F_SETLK, sys.F_RDLCK, SEEK_SET, 0, 0) !== 0) throw new Error('fcntl F_RDLCK failed');
    const N = 2 * KERNEL_N;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < N; i += 2) {
      if (sys.fcntlLock(fd, sys.F_SETLK, sys.F_WRLCK, SEEK_SET, 0, 0) !== 0 || sys.fcntlLock(fd, sys.F_SETLK, sys.F_RDLCK, SEEK_SET, 0, 0) !== 0) {
        throw new Error('fcntl conversion failed');
      }
    }
    const ns = process.hrtime.bigint() - t0;
    if (sys.fcntlLock(fd, sys.F_SETLK, sys.F_UNLCK, SEEK_SET, 0, 0) !== 0) throw new Error('fcntl F_UNLCK failed');
    return { ops: N, ns };
  };
}

// ---- the headline peer: the same kernel locks in a C loop (bench/native/fcntl-pairs.c) ----------

function cPeer(prog: string, file: string): { pairs: number; conversions: number } {
  const N = 1_000_000;
  const out = execFileSync(prog, [file, String(N)], { encoding: 'utf8' });
  const ns = (k: string) => Number(/^(\w+) (\d+)$/m.exec(out.split('\n').find((l) => l.startsWith(k)) ?? '')?.[2]);
  return { pairs: N / (ns('pairs') / 1e9), conversions: N / (ns('conversions') / 1e9) };
}

const rate = (r: { ops: number; ns: bigint }) => r.ops / (Number(r.ns) / 1e9);
const notes: string[] = [];
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dmbench-dlm-'));
const samples: Record<string, Record<string, number[]>> = { dlm: {}, fcntl: {}, fcntl_addon: {} };
const add = (sys_: string, m: string, v: number) => { (samples[sys_][m] ??= []).push(v); };
const perRound: Array<Record<string, Record<string, number>>> = [];
try {
  const { prog, why } = compileNative('fcntl-pairs.c', dir);
  if (why) notes.push(why);
  const file = path.join(dir, 'lockfile');
  const fd = fs.openSync(file + '-addon', 'w+');
  try {
    // Warm-up of every side, then rounds in which each side runs once, in rotated order.
    uncontended(); conversions(); contended(); kernelPairs(fd)(); kernelConversions(fd)();
    const sides: Array<[string, () => Record<string, number>]> = [
      ['dlm', () => ({ uncontended_pairs: rate(uncontended()), conversions: rate(conversions()), contended_handoffs: rate(contended()) })],
      ['fcntl_addon', () => ({ uncontended_pairs: rate(kernelPairs(fd)()), conversions: rate(kernelConversions(fd)()) })],
      ...(prog ? [['fcntl', () => { const c = cPeer(prog, file); return { uncontended_pairs: c.pairs, conversions: c.conversions }; }] as [string, () => Record<string, number>]] : []),
    ];
    for (let r = 0; r < ROUNDS; r++) {
      const got: Record<string, Record<string, number>> = {};
      for (const [key, run] of sides.slice(r % sides.length).concat(sides.slice(0, r % sides.length))) {
        got[key] = run();
        for (const [m, v] of Object.entries(got[key])) add(key, m, v);
      }
      perRound.push(got);
    }
  } finally {
    fs.closeSync(fd);
  }
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}

const ratio = (name: string, row: string, peer: string): MatrixRatio => ({
  name, row, ours: 'dlm', peer,
  rounds: perRound.filter((g) => g.dlm?.[row] && g[peer]?.[row]).map((g) => g.dlm[row] / g[peer][row]),
});
const row = (name: string, unit: string): MatrixRow => ({
  name, suffix: 'per_s', unit,
  samples: { dlm: samples.dlm[name] ?? null, fcntl: samples.fcntl[name] ?? null, fcntl_addon: samples.fcntl_addon[name] ?? null },
});
notes.push(
  'fcntl: the kernel\'s POSIX record locks (fs/locks.c) on a file in ' + os.tmpdir() + ' (whole file) from a C loop, the like-for-like peer: a lock manager in the ' +
    'caller\'s process with nothing in between; fcntl (addon): the same calls from this Node process through the N-API addon, each paying a JS→C crossing.',
  'The kernel keeps the inode\'s lock context between pairs, where the engine creates and frees the resource every pair. Conversions: the kernel converts ' +
    'F_RDLCK→F_WRLCK and back, the engine NL→EX and back.',
  'contended_handoffs has no peer: the engine\'s 8 owners live in one thread and a hand-off (grant, completion and blocking routines) happens in place, ' +
    'while a kernel hand-off needs 8 threads or processes blocked in F_SETLKW; it would time scheduler wake-ups on 2 CPUs, and the kernel wakes every ' +
    'waiter to retry instead of granting the next one in a queue, so the figures would not compare the same thing.',
);
reportMatrix(`DLM engine, in process, vs the kernel's POSIX record locks (node ${process.version}, ${os.cpus().length} CPUs, ${ROUNDS} interleaved rounds)`,
  [{ key: 'dlm', label: 'DLM engine' }, { key: 'fcntl', label: 'kernel fcntl (C)' }, { key: 'fcntl_addon', label: 'kernel fcntl (addon)' }],
  [row('uncontended_pairs', 'pairs/s'), row('conversions', 'conversions/s'), row('contended_handoffs', 'handoffs/s')],
  [ratio('uncontended_vs_fcntl_ratio', 'uncontended_pairs', 'fcntl'), ratio('conversions_vs_fcntl_ratio', 'conversions', 'fcntl'),
    ratio('uncontended_vs_fcntl_addon_ratio', 'uncontended_pairs', 'fcntl_addon'), ratio('conversions_vs_fcntl_addon_ratio', 'conversions', 'fcntl_addon')],
  { json, notes });
