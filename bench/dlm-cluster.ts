// The cluster rows of `npm run bench:dlm-service`: three node daemons on loopback with membership
// from a private etcd (src/dlm/service/membership.ts), against the same three nodes with one static
// master (today's mode without etcd), measured in the same run with the same clients:
//
//   cluster pairs/s       16 client processes spread over the three nodes, each on its own resource
//                         (resources spread over the members by the directory), lock(EX) + unlock
//                         with every unlock confirmed (two round trips a pair, like Redis and etcd)
//   one master pairs/s    the same clients and nodes, every resource mastered on the first node
//   cross-node latency    one client, its resources mastered on another node: p50 of a confirmed pair
//   recovery              kill -9 of the node mastering a resource, until a client on another node is
//                         granted it (p50 over runs; the etcd lease TTL is most of it) and the
//                         lock space's own part (from the epoch to the end of recovery)
//   etcd lock             etcd's own lock as `etcdctl lock` makes it (a lease, then a txn putting the
//                         key if its create revision is 0; unlock = delete), 16 clients, each its key
import { spawn, type ChildProcess } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Etcd3 } from 'etcd3';
import { DlmClient } from '../src/dlm/client';
import { DLM_EXMODE, DLM_SUCCESS, DLM_USER } from '../src/dlm';
import { masterOf, namespaceKey } from '../src/dlm/service/directory';
import { DLM_GROUP, DLM_JOIN_SAME_OK } from '../src/dlm/constants';
import type { Row } from './report';

export interface ClusterBenchDeps {
  seconds: number;
  rounds: number;
  clients: number;
  daemon: string;
  children: Set<ChildProcess>;
  freePort: () => Promise<number>;
  waitExit: (c: ChildProcess) => Promise<number | null>;
  /** Runs `n` workers of `kind` with targets[i % targets.length]; pairs/s all together. */
  measure: (kind: string, targets: string[], n: number, seconds: number) => Promise<number>;
  /** Redis's port (the peer is measured here with the same number of clients as the cluster). */
  redisPort: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitUntil(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** etcd's lock, as etcdctl lock does it, on this worker's own key; unlock confirmed. */
export async function etcdWorkerPair(endpoint: string, resource: string): Promise<() => Promise<void>> {
  const client = new Etcd3({ hosts: endpoint });
  const lease = client.lease(30, { autoKeepAlive: true });
  const id = await lease.grant();
  const key = `/bench/lock/${resource}`;
  return async () => {
    const r = await client.if(key, 'Create', '==', 0).then(client.put(key).value('x').lease(id)).commit();
    if (!r.succeeded) throw new Error('etcd lock: key taken');
    await client.delete().key(key).exec();
  };
}

interface Nodes {
  names: string[];
  runDir: string;
  env: NodeJS.ProcessEnv;
  procs: ChildProcess[];
  sockets: string[];
}

export async function clusterRows(d: ClusterBenchDeps): Promise<Row[]> {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'dmfs-bench-cl-'));
  const etcdDir = path.join(base, 'etcd');
  const [cport, pport] = [await d.freePort(), await d.freePort()];
  const endpoint = `http://127.0.0.1:${cport}`;
  const etcd = spawn('etcd', ['--name', 'b1', '--data-dir', etcdDir, '--listen-client-urls', endpoint, '--advertise-client-urls', endpoint,
    '--listen-peer-urls', `http://127.0.0.1:${pport}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${pport}`,
    '--initial-cluster', `b1=http://127.0.0.1:${pport}`, '--log-level', 'error', '--logger', 'zap'], { stdio: 'ignore' });
  d.children.add(etcd);
  const started: Nodes[] = [];
  const key = crypto.randomBytes(32).toString('hex');
  const ports = [await d.freePort(), await d.freePort(), await d.freePort()];
  const startNodes = async (tag: string, withEtcd: boolean): Promise<Nodes> => {
    const runDir = path.join(base, tag);
    fs.mkdirSync(runDir, { recursive: true });
    const names = ['b1', 'b2', 'b3'];
    const cfg = {
      version: 1, name: `bench-${tag}`, keyFile: 'cluster.key', master: withEtcd ? null : 'b1', heartbeatMs: 500, missCount: 6,
      nodes: names.map((name, i) => ({ name, id: i + 1, address: '127.0.0.1', port: ports[i] })),
      ...(withEtcd ? { etcd: { endpoints: [endpoint], leaseTtl: 5, fenceMarginMs: 1500 } } : {}),
    };
    fs.writeFileSync(path.join(runDir, 'cluster.json'), JSON.stringify(cfg));
    fs.writeFileSync(path.join(runDir, 'cluster.key'), key, { mode: 0o600 });
    const env = { ...process.env, DMAPIFS_RUN_DIR: runDir, DMAPIFS_CLUSTER_CONFIG: path.join(runDir, 'cluster.json') };
    const procs = names.map((n) => {
      const p = spawn(process.execPath, [d.daemon, '--node', n], { env, stdio: 'ignore' });
      d.children.add(p);
      return p;
    });
    const sockets = names.map((n) => path.join(runDir, n, 'dlm.sock'));
    const nodes = { names, runDir, env, procs, sockets };
    started.push(nodes);
    await waitUntil(() => sockets.every((s) => fs.existsSync(s)), 20000, 'the node daemons');
    await waitUntil(async () => {
      // Every node answers a lock: links up (static) or three members (etcd).
      for (const s of sockets) if (!(await probe(s))) return false;
      return true;
    }, 30000, 'the lock space');
    return nodes;
  };
  const stopNodes = async (n: Nodes) => {
    for (const p of n.procs) p.kill('SIGTERM');
    await Promise.race([Promise.all(n.procs.map(d.waitExit)), sleep(5000)]);
    for (const p of n.procs) { try { p.kill('SIGKILL'); } catch { /* gone */ } d.children.delete(p); }
  };
  try {
    await waitUntil(async () => (await fetch(`${endpoint}/health`).then((r) => r.json() as Promise<{ health: string }>).catch(() => null))?.health === 'true', 20000, 'etcd');
    // One master first (today's mode), then membership from etcd, with the same clients.
    const one = await startNodes('static', false);
    let oneRate = 0;
    for (let i = 0; i < d.rounds; i++) oneRate = Math.max(oneRate, await d.measure('dlm-confirmed', one.sockets, d.clients, d.seconds));
    await stopNodes(one);
    const cl = await startNodes('etcd', true);
    let clRate = 0;
    let etcdRate = 0;
    let redisRate = 0;
    for (let i = 0; i < d.rounds; i++) {
      clRate = Math.max(clRate, await d.measure('dlm-confirmed', cl.sockets, d.clients, d.seconds));
      etcdRate = Math.max(etcdRate, await d.measure('etcd', [endpoint], d.clients, d.seconds));
      redisRate = Math.max(redisRate, await d.measure('redis', [String(d.redisPort)], d.clients, d.seconds));
    }
    const members = cl.names.map((name, i) => ({ name, id: i + 1 }));
    const latency = await crossNodeLatency(cl.sockets[0], members, d.seconds);
    const rec = await recoveryRuns(cl, members, d);
    return [
      { name: 'cluster_confirmed_pairs_per_s', value: clRate, unit: 'pairs/s', what: `${d.clients} clients on 3 nodes, etcd membership`,
        peer: { name: 'one_master_confirmed_pairs_per_s', label: 'one master', value: oneRate, ratio: 'cluster_pairs_vs_one_master_ratio' }, target: undefined },
      { name: 'cluster_confirmed_pairs_per_s', value: clRate, unit: 'pairs/s', what: `${d.clients} clients`,
        peer: { name: 'cluster_clients_redis_pairs_per_s', label: 'Redis', value: redisRate, ratio: 'confirmed_pairs_vs_redis_ratio' } },
      { name: 'cluster_confirmed_pairs_per_s', value: clRate, unit: 'pairs/s', what: `${d.clients} clients`,
        peer: { name: 'etcd_lock_pairs_per_s', label: 'etcd lock (lease+txn)', value: etcdRate, ratio: 'confirmed_pairs_vs_etcd_ratio' } },
      { name: 'cross_node_pair_p50_us', value: latency, unit: 'µs', what: 'one client, resource mastered on another node, unlock confirmed' },
      { name: 'recovery_after_master_kill_ms', value: rec.total, unit: 'ms', what: `p50 of ${rec.runs} runs, kill -9 to grant on a survivor (lease TTL 5 s)` },
      { name: 'recovery_lock_space_ms', value: rec.own, unit: 'ms', what: 'p50, from the epoch to the end of recovery' },
    ];
  } finally {
    for (const n of started) await stopNodes(n);
    etcd.kill('SIGKILL');
    await d.waitExit(etcd);
    d.children.delete(etcd);
    fs.rmSync(base, { recursive: true, force: true });
  }
}

/** Whether a node grants a lock now. */
async function probe(socketPath: string): Promise<boolean> {
  let c: DlmClient | null = null;
  try {
    c = await DlmClient.connect({ socketPath });
    const j = await c.nsjoin(process.getuid!(), DLM_USER);
    if (j.status !== DLM_SUCCESS) return false;
    for (let i = 0; i < 6; i++) {
      const r = await c.lock(j.nsp!, `probe${i}`, DLM_EXMODE);
      if (r.status !== DLM_SUCCESS) return false;
      await c.unlock(r.lkid!);
    }
    return true;
  } catch {
    return false;
  } finally {
    c?.close();
  }
}

/** dlm_nsjoin, retried while the node is between epochs (DLM_ENOSYS while it is not a member). */
async function join(c: DlmClient): Promise<number> {
  let st = 0;
  for (let i = 0; i < 200; i++) {
    const j = await c.nsjoin(process.getuid!(), DLM_USER | DLM_JOIN_SAME_OK);
    if (j.status === DLM_SUCCESS) return j.nsp!;
    st = j.status;
    await sleep(50);
  }
  throw new Error(`nsjoin: status ${st}`);
}

function p50(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)] : 0;
}

async function crossNodeLatency(socketPath: string, members: { name: string; id: number }[], seconds: number): Promise<number> {
  const uid = process.getuid!();
  const ns = namespaceKey(uid, DLM_USER, DLM_GROUP);
  const names: string[] = [];
  for (let i = 0; names.length < 8; i++) if (masterOf(members, ns, `x${i}`)?.name !== members[0].name) names.push(`x${i}`);
  const c = await DlmClient.connect({ socketPath, confirmUnlocks: true });
  const j = { nsp: await join(c) };
  const samples: number[] = [];
  const end = Date.now() + seconds * 1000;
  for (let i = 0; Date.now() < end; i++) {
    const t0 = process.hrtime.bigint();
    const r = await c.lock(j.nsp!, names[i % names.length], DLM_EXMODE);
    if (r.status !== DLM_SUCCESS) throw new Error(`lock: ${r.status}`);
    await c.unlock(r.lkid!);
    samples.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  c.close();
  return p50(samples);
}

/** kill -9 of b3 (the master of the resource), a client on b1 locks it: until granted. */
async function recoveryRuns(cl: Nodes, members: { name: string; id: number }[], d: ClusterBenchDeps): Promise<{ total: number; own: number; runs: number }> {
  const uid = process.getuid!();
  const ns = namespaceKey(uid, DLM_USER, DLM_GROUP);
  let res = '';
  for (let i = 0; !res; i++) if (masterOf(members, ns, `k${i}`)?.name === 'b3') res = `k${i}`;
  const totals: number[] = [];
  const owns: number[] = [];
  const runs = Math.max(3, d.rounds);
  for (let run = 0; run < runs; run++) {
    const c = await DlmClient.connect({ socketPath: cl.sockets[0], confirmUnlocks: true });
    let why = '';
    c.on('protocolError', (e: { code: string; message: string }) => (why = `${e.code}: ${e.message}`));
    const j = { nsp: await join(c) };
    // Warm: the client's session on b3 exists.
    const w = await c.lock(j.nsp!, res, DLM_EXMODE);
    await c.unlock(w.lkid!);
    cl.procs[2].kill('SIGKILL');
    const t0 = Date.now();
    const r = await c.lock(j.nsp!, res, DLM_EXMODE);
    const st = r.wait ? await r.wait : r.status;
    if (st !== DLM_SUCCESS) {
      const tail = (n: string) => fs.readFileSync(path.join(cl.runDir, n, 'daemon.log'), 'utf8').split('\n').slice(-15).join('\n');
      throw new Error(`run ${run}: lock after the master's death: status ${st} ${why}\n${tail('b1')}\n${tail('b2')}`);
    }
    totals.push(Date.now() - t0);
    c.close();
    const logText = fs.readFileSync(path.join(cl.runDir, 'b1', 'daemon.log'), 'utf8');
    const m = [...logText.matchAll(/recovery for epoch \d+ done in (\d+) ms/g)].pop();
    if (m) owns.push(Number(m[1]));
    // b3 comes back as a new member before the next run.
    await d.waitExit(cl.procs[2]);
    const p = spawn(process.execPath, [d.daemon, '--node', 'b3'], { env: cl.env, stdio: 'ignore' });
    d.children.add(p);
    cl.procs[2] = p;
    await sleep(300);
    await waitUntil(async () => (await probe(cl.sockets[2])) && (await probe(cl.sockets[0])), 30000, 'b3 to rejoin');
  }
  return { total: p50(totals), own: p50(owns), runs };
}
