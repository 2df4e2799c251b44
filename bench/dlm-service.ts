// DLM service benchmark against Redis: `npm run bench:dlm-service` (after a build), `-- --json` for a
// last line {"metrics": {"<name>": {"value": N, "unit": "..."}}} after the table, `-- --seconds S`
// per measurement (default 2), `-- --rounds N` (default 3, best kept).
//
//   one client     one process, sequential lock + unlock pairs (each call awaited):
//                  DLM: dlm_lock(EX) + dlm_unlock over <run>/<node>/dlm.sock (DlmClient)
//                  Redis: SET key token NX PX 30000 + EVALSHA compare-and-delete (the Redis docs'
//                  single-instance lock), over TCP loopback
//   16 clients     16 client processes at once, each on its own resource (its own key), aggregate
//
// DlmClient answers an unlock whose outcome is certain (a process lock it holds, no sublock, no
// request pending on it) at once and sends it ahead of the next request (src/dlm/client.ts): a pair
// costs one round trip. A Redis release cannot be answered that way (the lease may have expired and
// the key passed to another owner: the compare-and-delete's answer carries information), so it costs
// two. The "DLM, unlock confirmed" column (confirmUnlocks: true) waits for every unlock's answer too.
//
// Both sides use the same client style: one connection per process, binary/RESP frames written
// once per event-loop turn, one promise per call. The benchmark starts its own node daemon (private
// run directory, no cluster configuration) and its own redis-server (127.0.0.1, a free port,
// --save '' --appendonly no), and stops both at the end, also on failure or Ctrl-C.
//
// Metrics, W = one_client or clients_16 (Redis is the peer of every row):
//   W_dlm_pairs_per_s, W_dlm_confirmed_pairs_per_s, W_redis_pairs_per_s   lock+unlock pairs/s
//   W_ratio, W_confirmed_ratio                                            DLM / Redis pairs/s
//   W_{dlm,dlm_confirmed,redis}_{client,server}_cpu_us                    CPU time per pair (µs)
//   W_{client,server}_cpu_ratio, W_confirmed_{client,server}_cpu_ratio    DLM / Redis CPU per pair
//
// Cluster rows (bench/dlm-cluster.ts; `-- --no-cluster` skips them): three nodes with membership from
// etcd against the same three with one static master, 6 clients (--cluster-clients N) spread over the nodes, unlocks
// confirmed (the headline, like for like with Redis and etcd's own lock):
//   cluster_confirmed_pairs_per_s, one_master_confirmed_pairs_per_s, cluster_pairs_vs_one_master_ratio
//   confirmed_pairs_vs_redis_ratio, etcd_lock_pairs_per_s, confirmed_pairs_vs_etcd_ratio
//   cross_node_pair_p50_us, recovery_after_master_kill_ms, recovery_lock_space_ms

import { ChildProcess, spawn } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { DlmClient } from '../src/dlm/client';
import { DLM_EXMODE, DLM_SUCCESS, DLM_USER } from '../src/dlm';
import { report, type Row } from './report';
import { clusterRows, etcdWorkerPair } from './dlm-cluster';

const REPO = path.resolve(__dirname, '..', '..');
const DAEMON = path.join(REPO, 'dist', 'src', 'daemon', 'main.js');
const CLIENTS = 16;
/** Clients of the cluster rows, spread over three nodes (--cluster-clients N). */
const CLUSTER_CLIENTS = Number(process.argv[process.argv.indexOf('--cluster-clients') + 1]) || 6;

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

// ---- a minimal RESP client (same style as DlmClient: batched writes, a promise per call) ---------

type RespValue = string | number | null | Error | RespValue[];

class RespClient {
  private out: Buffer[] = [];
  private queued = false;
  private readonly waiting: ((v: RespValue) => void)[] = [];
  private head = 0;
  private buf: Buffer = Buffer.alloc(0);

  private constructor(private readonly sock: net.Socket) {
    sock.setNoDelay(true);
    sock.on('data', (c: Buffer) => this.onData(c));
  }

  static connect(port: number): Promise<RespClient> {
    return new Promise((resolve, reject) => {
      const s = net.createConnection({ host: '127.0.0.1', port });
      s.once('connect', () => resolve(new RespClient(s)));
      s.once('error', reject);
    });
  }

  call(...args: string[]): Promise<RespValue> {
    let s = `*${args.length}\r\n`;
    for (const a of args) s += `$${Buffer.byteLength(a)}\r\n${a}\r\n`;
    this.out.push(Buffer.from(s));
    if (!this.queued) {
      this.queued = true;
      process.nextTick(() => {
        this.queued = false;
        const b = this.out.length === 1 ? this.out[0] : Buffer.concat(this.out);
        this.out = [];
        this.sock.write(b);
      });
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  close(): void {
    this.sock.destroy();
  }

  private onData(c: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, c]) : c;
    let pos = 0;
    for (;;) {
      const r = this.parse(this.buf, pos);
      if (r === null) break;
      pos = r.next;
      const resolve = this.waiting[this.head++];
      if (this.head > 1024) {
        this.waiting.splice(0, this.head);
        this.head = 0;
      }
      resolve(r.value);
    }
    this.buf = pos >= this.buf.length ? Buffer.alloc(0) : this.buf.subarray(pos);
  }

  private parse(b: Buffer, pos: number): { value: RespValue; next: number } | null {
    const nl = b.indexOf('\r\n', pos);
    if (nl < 0) return null;
    const line = b.toString('latin1', pos + 1, nl);
    const next = nl + 2;
    switch (b[pos]) {
      case 0x2b: return { value: line, next };                    // +
      case 0x2d: return { value: new Error(line), next };         // -
      case 0x3a: return { value: Number(line), next };            // :
      case 0x24: {                                                // $
        const n = Number(line);
        if (n < 0) return { value: null, next };
        if (b.length < next + n + 2) return null;
        return { value: b.toString('utf8', next, next + n), next: next + n + 2 };
      }
      case 0x2a: {                                                // *
        const n = Number(line);
        const arr: RespValue[] = [];
        let p = next;
        for (let i = 0; i < n; i++) {
          const r = this.parse(b, p);
          if (r === null) return null;
          arr.push(r.value);
          p = r.next;
        }
        return { value: arr, next: p };
      }
      default:
        throw new Error(`bad RESP reply byte ${b[pos]}`);
    }
  }
}

const UNLOCK_LUA = 'if redis.call("get",KEYS[1]) == ARGV[1] then return redis.call("del",KEYS[1]) else return 0 end';

// ---- workers: run pairs from `start` to `end` (epoch ms), print the count and the CPU time used ---

interface WorkerResult {
  n: number;
  /** CPU time of the worker (user + system) during the timed window, in microseconds. */
  cpuUs: number;
}


/** Runs pair() until `start` (warm-up to the common start), then counts pairs and this process's CPU until `end`. */
async function timed(pair: () => Promise<void>, start: number, end: number): Promise<WorkerResult> {
  while (Date.now() < start) await pair();
  let n = 0;
  const cpu0 = process.cpuUsage();
  while (Date.now() < end) {
    for (let i = 0; i < 64; i++) await pair();
    n += 64;
  }
  const cpu = process.cpuUsage(cpu0);
  return { n, cpuUs: cpu.user + cpu.system };
}
async function dlmWorker(socketPath: string, resource: string, start: number, end: number, confirmUnlocks: boolean): Promise<WorkerResult> {
  const c = await DlmClient.connect({ socketPath, confirmUnlocks });
  const uid = process.getuid!();
  const j = await c.nsjoin(uid, DLM_USER);
  if (j.status !== DLM_SUCCESS) throw new Error(`nsjoin: status ${j.status}`);
  const nsp = j.nsp!;
  const pair = async () => {
    const r = await c.lock(nsp, resource, DLM_EXMODE);
    if (r.status !== DLM_SUCCESS || r.wait) throw new Error(`lock: status ${r.status}`);
    const st = await c.unlock(r.lkid!);
    if (st !== DLM_SUCCESS) throw new Error(`unlock: status ${st}`);
  };
  const r = await timed(pair, start, end);
  c.close();
  return r;
}

async function redisWorker(port: number, resource: string, start: number, end: number): Promise<WorkerResult> {
  const c = await RespClient.connect(port);
  const sha = await c.call('SCRIPT', 'LOAD', UNLOCK_LUA);
  if (typeof sha !== 'string') throw new Error(`SCRIPT LOAD: ${String(sha)}`);
  const key = `lock:${resource}`;
  const base = crypto.randomBytes(8).toString('hex');
  let seq = 0;
  const pair = async () => {
    const token = `${base}:${++seq}`;
    const r = await c.call('SET', key, token, 'NX', 'PX', '30000');
    if (r !== 'OK') throw new Error(`SET NX: ${String(r)}`);
    const u = await c.call('EVALSHA', sha, '1', key, token);
    if (u !== 1) throw new Error(`unlock: ${String(u)}`);
  };
  const r = await timed(pair, start, end);
  c.close();
  return r;
}

// ---- the driver ------------------------------------------------------------------------------------

const children = new Set<ChildProcess>();
function killAll(): void {
  for (const c of children) {
    try { c.kill('SIGKILL'); } catch { /* gone */ }
  }
}

function waitExit(c: ChildProcess): Promise<number | null> {
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve(c.exitCode);
  return new Promise((r) => c.once('exit', (code) => r(code)));
}

async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
    s.on('error', reject);
  });
}

interface Measure {
  /** Pairs per second, all workers together. */
  rate: number;
  /** Client CPU time per pair (µs), and the server's (from /proc) over the same window. */
  clientUs: number;
  serverUs: number;
}

/** CPU time (user + system) of a process so far, in microseconds; 0 if unknown. */
function cpuOf(pid: number): number {
  try {
    const st = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1e6) / 100;
  } catch {
    return 0;
  }
}

/** Runs `n` worker processes together for `seconds`. */
async function measure(kind: 'dlm' | 'dlm-confirmed' | 'redis' | 'etcd', target: string | string[], n: number, seconds: number, serverPid: number): Promise<Measure> {
  const targets = typeof target === 'string' ? [target] : target;
  // Workers start together once all have loaded (node start-up of 16 processes on a small machine).
  const start = Date.now() + 1500 + n * 400;
  const end = start + seconds * 1000;
  const procs: Promise<WorkerResult>[] = [];
  let server0 = 0;
  const t0 = setTimeout(() => { server0 = cpuOf(serverPid); }, Math.max(0, start - Date.now()));
  let server1 = 0;
  const t1 = setTimeout(() => { server1 = cpuOf(serverPid); }, Math.max(0, end - Date.now()));
  for (let i = 0; i < n; i++) {
    const c = spawn(process.execPath, [__filename, '--worker', kind, targets[i % targets.length], `r${i}`, String(start), String(end)], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.add(c);
    let out = '';
    c.stdout!.on('data', (d) => (out += d));
    procs.push(waitExit(c).then((code) => {
      children.delete(c);
      if (code !== 0) throw new Error(`${kind} worker exited ${code}`);
      const [cnt, cpu] = out.trim().split(' ').map(Number);
      return { n: cnt, cpuUs: cpu };
    }));
  }
  const results = await Promise.all(procs);
  clearTimeout(t0);
  clearTimeout(t1);
  const pairs = results.reduce((a, b) => a + b.n, 0);
  const cpu = results.reduce((a, b) => a + b.cpuUs, 0);
  return { rate: pairs / seconds, clientUs: cpu / pairs, serverUs: server1 > server0 ? (server1 - server0) / pairs : 0 };
}

async function main(): Promise<void> {
  const json = process.argv.includes('--json');
  const seconds = arg('seconds', 2);
  const rounds = arg('rounds', 3);
  const redisBin = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'].find((p) => fs.existsSync(p));
  if (!redisBin) throw new Error('redis-server not found (apt-get install -y redis-server, or bash scripts/setup.sh)');

  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dmfs-bench-'));
  const node = 'bench';
  const env = { ...process.env, DMAPIFS_RUN_DIR: runDir, DMAPIFS_CLUSTER_CONFIG: path.join(runDir, 'no-cluster.json') };
  const daemon = spawn(process.execPath, [DAEMON, '--node', node], { env, stdio: 'ignore' });
  children.add(daemon);
  const daemonPid = daemon.pid!;
  const socketPath = path.join(runDir, node, 'dlm.sock');
  const port = await freePort();
  const redis = spawn(redisBin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--loglevel', 'warning'], { stdio: 'ignore' });
  children.add(redis);
  try {
    await waitFor(() => fs.existsSync(socketPath), 15000, 'the node daemon');
    await waitFor(() => redis.exitCode === null, 100, 'redis');
    for (let i = 0; ; i++) {
      try {
        const c = await RespClient.connect(port);
        c.close();
        break;
      } catch (e) {
        if (i > 200) throw e;
        await new Promise((r) => setTimeout(r, 25));
      }
    }
    const rows: { name: string; dlm: Measure; confirmed: Measure; redis: Measure }[] = [];
    const zero: Measure = { rate: 0, clientUs: 0, serverUs: 0 };
    const best = (a: Measure, b: Measure) => (b.rate > a.rate ? b : a);
    for (const [name, n] of [['one client', 1], [`${CLIENTS} clients`, CLIENTS]] as const) {
      let d = zero;
      let c = zero;
      let r = zero;
      for (let i = 0; i < rounds; i++) {
        // Interleaved, so that a busy machine hurts every side alike.
        d = best(d, await measure('dlm', socketPath, n, seconds, daemonPid));
        r = best(r, await measure('redis', String(port), n, seconds, redis.pid!));
        c = best(c, await measure('dlm-confirmed', socketPath, n, seconds, daemonPid));
      }
      rows.push({ name, dlm: d, confirmed: c, redis: r });
    }
    const table: Row[] = [];
    const cluster = process.argv.includes('--no-cluster') ? [] : await clusterRows({
      seconds, rounds: Math.max(1, rounds), clients: CLUSTER_CLIENTS, daemon: DAEMON, children, freePort, waitExit,
      measure: async (kind, targets, n, secs) => (await measure(kind as 'dlm-confirmed' | 'etcd' | 'redis', targets, n, secs, 0)).rate,
      redisPort: port,
    });
    for (const row of rows) {
      const k = row.name.startsWith('one') ? 'one_client' : `clients_${CLIENTS}`;
      const redis = (name: string, value: number, ratio: string) => ({ name: `${k}_redis_${name}`, label: 'Redis', value, ratio });
      table.push(
        { name: `${k}_dlm_pairs_per_s`, value: row.dlm.rate, unit: 'pairs/s', peer: redis('pairs_per_s', row.redis.rate, `${k}_ratio`) },
        { name: `${k}_dlm_confirmed_pairs_per_s`, value: row.confirmed.rate, unit: 'pairs/s', peer: redis('pairs_per_s', row.redis.rate, `${k}_confirmed_ratio`) },
      );
      for (const [side, m, ratio] of [['dlm', row.dlm, ''], ['dlm_confirmed', row.confirmed, 'confirmed_']] as const) {
        table.push(
          { name: `${k}_${side}_client_cpu_us`, value: m.clientUs, unit: 'µs per pair', digits: 1, peer: redis('client_cpu_us', row.redis.clientUs, `${k}_${ratio}client_cpu_ratio`) },
          { name: `${k}_${side}_server_cpu_us`, value: m.serverUs, unit: 'µs per pair', digits: 1, peer: redis('server_cpu_us', row.redis.serverUs, `${k}_${ratio}server_cpu_ratio`) },
        );
      }
    }
    table.push(...cluster);
    report(`DLM service vs Redis: lock+unlock pairs (best of ${rounds} rounds of ${seconds} s; ${os.cpus().length} CPUs; node ${process.version})`, table, {
      json,
      notes: [
        `one_client: one process, each call awaited; clients_${CLIENTS}: ${CLIENTS} client processes at once, each on its own resource (key), aggregate.`,
        'DLM: dlm_lock(EX) + dlm_unlock on dlm.sock; Redis: SET NX PX 30000 + EVALSHA compare-and-delete on 127.0.0.1.',
        '"dlm_confirmed": every dlm_unlock waits for the node (DlmClient confirmUnlocks), two round trips a pair as Redis.',
        'CPU time per pair: client = the worker processes (process.cpuUsage), server = the node daemon or redis-server (/proc/<pid>/stat, 10 ms ticks; 0 = no tick seen).',
        ...(cluster.length ? [
          `cluster: 3 node daemons on loopback, ${CLUSTER_CLIENTS} clients spread over them, each on its own resource, every unlock confirmed; "one master" = the same with a static master (no etcd), measured in this run.`,
          'etcd lock: a lease, then a txn creating the key if absent (etcdctl lock), unlock = delete; one private etcd on loopback.',
          'recovery: kill -9 of the resource\'s master until a survivor\'s client is granted (etcd must expire the lease first); lock space = the recovery itself.',
        ] : []),
      ],
    });
  } finally {
    daemon.kill('SIGTERM');
    redis.kill('SIGTERM');
    await Promise.race([Promise.all([waitExit(daemon), waitExit(redis)]), new Promise((r) => setTimeout(r, 5000))]);
    killAll();
    fs.rmSync(runDir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--worker') {
  const [, , , kind, target, resource, start, end] = process.argv;
  const run = kind === 'redis'
    ? redisWorker(Number(target), resource, Number(start), Number(end))
    : kind === 'etcd'
      ? etcdWorkerPair(target, resource).then((pair) => timed(pair, Number(start), Number(end)))
      : dlmWorker(target, resource, Number(start), Number(end), kind === 'dlm-confirmed');
  run.then((r) => {
    process.stdout.write(`${r.n} ${Math.round(r.cpuUs)}\n`);
    process.exit(0);
  }, (e) => {
    process.stderr.write(`worker: ${(e as Error)?.stack ?? e}\n`);
    process.exit(1);
  });
} else {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => { killAll(); process.exit(130); });
  process.on('exit', killAll);
  main().catch((e) => {
    process.stderr.write(`bench:dlm-service: ${(e as Error)?.stack ?? e}\n`);
    killAll();
    process.exit(1);
  });
}
