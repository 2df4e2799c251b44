// Three node daemons with membership and quorum from etcd (one etcd on loopback: these tests are
// about the DLM): resources mastered on different members, kill -9 of a master while its locks are
// held and waited for (the survivors rebuild them, waiters are granted, value blocks right), a node
// stopped longer than its lease (its clients reset before anyone else is granted; it rejoins as a
// new member), and the cluster status.
import test, { type ExecutionContext } from 'ava';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { Cluster, useCluster, sleep, waitFor } from './helpers/cluster';
import { freePort, startEtcd } from './helpers/etcd';
import { holds, violations, type HistoryEvent } from './helpers/history';
import { spawn } from 'child_process';
import { joinedWorker } from './dlm-service-driver';
import { masterOf } from '../src/dlm/service/directory';
import { DLM_EXMODE, DLM_PRMODE, DLM_SUCCESS, DLM_SUCCVALNOTVALID, DLM_VALB, DLM_ENOSYS } from '../src/dlm';

const C = useCluster();
const TTL = 3;
let seq = 0;

interface Node { name: string; id: number; pid: number; sock: string }

async function threeNodes(t: ExecutionContext, c: Cluster = C): Promise<{ nodes: Node[]; cfgFile: string }> {
  const [etcd] = await startEtcd(t, [{ name: 'e1', host: '127.0.0.1', clientPort: await freePort(), peerPort: await freePort() }]);
  const dir = c.tmpDir(t, 'i14-cfg-');
  const k = ++seq;
  const names = [1, 2, 3].map((i) => `e${i}-${process.pid}-${k}`);
  const cfg = {
    version: 1, name: `i14-${process.pid}-${k}`, keyFile: 'cluster.key', master: null, heartbeatMs: 200, missCount: 5,
    nodes: await Promise.all(names.map(async (name, i) => ({ name, id: i + 1, address: '127.0.0.1', port: await freePort() }))),
    etcd: { endpoints: [etcd.clientUrl], leaseTtl: TTL, fenceMarginMs: 1000 },
  };
  const cfgFile = path.join(dir, 'cluster.json');
  fs.writeFileSync(cfgFile, JSON.stringify(cfg));
  fs.writeFileSync(path.join(dir, 'cluster.key'), crypto.randomBytes(32).toString('hex'), { mode: 0o600 });
  c.env.DMAPIFS_CLUSTER_CONFIG = cfgFile;
  const nodes: Node[] = [];
  for (const [i, name] of names.entries()) {
    const n = await c.startNode(t, name);
    nodes.push({ name, id: i + 1, pid: n.pid, sock: path.join(c.nodeDir(name), 'dlm.sock') });
  }
  await waitFor(async () => {
    for (const n of nodes) {
      const s = await status(c, n);
      if (!s || s.members.length !== 3 || !s.quorum || (s.lastRecovery === null && s.epoch === 0)) return false;
    }
    return true;
  }, 30000, 'three members');
  return { nodes, cfgFile };
}

async function status(c: Cluster, n: Node): Promise<any> {
  const r = await c.cli(['cluster', 'status', '--node', n.name, '--json']);
  if (r.code !== 0) return null;
  return JSON.parse(r.stdout);
}

/** A resource name mastered on `node` with these members. */
function nameMasteredOn(nodes: Node[], node: Node, prefix: string): string {
  for (let i = 0; ; i++) {
    const name = `${prefix}${i}`;
    if (masterOf(nodes, 'system', name)?.name === node.name) return name;
  }
}

const hex = (s: string) => Buffer.from(s).toString('hex');

test.serial('kill -9 of the master of a resource: the survivors rebuild it from their locks, waiters are granted, value blocks right', async (t) => {
  const { nodes } = await threeNodes(t);
  const [a, b, m] = nodes;
  const res = nameMasteredOn(nodes, m, 'R');
  const res2 = nameMasteredOn(nodes, m, 'W');
  const ha = await joinedWorker(t, a.sock);
  const hb = await joinedWorker(t, b.sock);
  // a holds PW on R and writes the value block; b waits for EX.
  const held = await ha.w.call('lock', { nsp: ha.nsp, res, mode: DLM_EXMODE, flags: DLM_VALB });
  t.is(held.status, DLM_SUCCESS);
  t.is((await ha.w.call('cvt', { lkid: held.lkid, mode: DLM_PRMODE, flags: DLM_VALB, valb: hex('v1') })).status, DLM_SUCCESS);
  const waiting = await hb.w.call('lock', { nsp: hb.nsp, res, mode: DLM_EXMODE, flags: DLM_VALB });
  t.true(waiting.wait, "b's process waits for a's");
  // A process on the master itself holds EX on W with a value block: lost with it.
  const hm = await joinedWorker(t, m.sock);
  const wm = await hm.w.call('lock', { nsp: hm.nsp, res: res2, mode: DLM_EXMODE, flags: DLM_VALB });
  t.is(wm.status, DLM_SUCCESS);
  const locks = JSON.parse((await C.cliOk(t, ['locks', '--node', a.name, '--json'])).stdout);
  const where = locks.dump.namespaces.flatMap((ns: any) => ns.resources).find((r: any) => r.name === res);
  t.is(where.master, m.name, 'R is mastered on the third node');

  const killed = Date.now();
  process.kill(m.pid, 'SIGKILL');
  // Once the survivors rebuilt R (from a's PR and b's waiting EX), a releases its PR: b is granted on
  // the new master, with the value block a wrote.
  const before = (await status(C, a)).epoch;
  await waitFor(async () => {
    const s = await status(C, a);
    return s?.members.length === 2 && s.lastRecovery?.epoch > before;
  }, 30000, 'the survivors to recover');
  const recovered = Date.now() - killed;
  t.is((await ha.w.call('unlock', { lkid: held.lkid })).status, DLM_SUCCESS);
  const done = await hb.w.waitEvent(waiting.id!, 30000);
  const ms = Date.now() - killed;
  t.is(done.status, DLM_SUCCESS);
  t.is(done.valb, hex('v1'), 'the value block a wrote survived its master');
  t.log(`recovered within ${recovered} ms of kill -9 of the master (lease ${TTL} s); waiter granted at ${ms} ms`);
  // W: its value block may have been written by the dead holder.
  const w2 = await ha.w.call('lock', { nsp: ha.nsp, res: res2, mode: DLM_PRMODE, flags: DLM_VALB });
  t.true(w2.status === DLM_SUCCESS || w2.status === DLM_SUCCVALNOTVALID);
  // dmapifs locks works with a member down; R is mastered on a survivor now.
  const after = JSON.parse((await C.cliOk(t, ['locks', '--node', b.name, '--json'])).stdout);
  const moved = after.dump.namespaces.flatMap((ns: any) => ns.resources).find((r: any) => r.name === res);
  t.true([a.name, b.name].includes(moved.master));
  t.regex((await C.cliOk(t, ['locks', '--node', b.name])).stdout, new RegExp(`resource "${res}"  master (${a.name}|${b.name})`));
  const st = await status(C, a);
  t.is(st.members.length, 2);
  t.true(st.quorum);
  const log = fs.readFileSync(C.logFile(a.name), 'utf8') + fs.readFileSync(C.logFile(b.name), 'utf8');
  t.regex(log, /recovery for epoch \d+ done in \d+ ms: \d+ locks? sent to new masters/);
  t.regex(log, new RegExp(`left ${m.name}`));
});

test.serial('a node stopped for longer than its lease: its client is reset before anyone else is granted, and it rejoins as a new member', async (t) => {
  const { nodes } = await threeNodes(t);
  const [a, b, s] = nodes;
  const res = nameMasteredOn(nodes, a, 'S');
  const hs = await joinedWorker(t, s.sock);
  const ha = await joinedWorker(t, a.sock);
  const held = await hs.w.call('lock', { nsp: hs.nsp, res, mode: DLM_EXMODE });
  t.is(held.status, DLM_SUCCESS);
  const before = await status(C, s);
  const waiting = await ha.w.call('lock', { nsp: ha.nsp, res, mode: DLM_EXMODE });
  t.true(waiting.wait);
  process.kill(s.pid, 'SIGSTOP');
  const reset = await hs.w.next((x: any) => x.event === 'reset', 20000, 'the stopped node\'s client to reset itself');
  const granted = await ha.w.waitEvent(waiting.id!, 30000);
  t.is(granted.status, DLM_SUCCESS);
  t.true(reset.at < granted.at, `client reset at ${reset.at}, other node granted at ${granted.at}`);
  await sleep(500);
  process.kill(s.pid, 'SIGCONT');
  await waitFor(async () => (await status(C, s))?.members?.length === 3, 30000, 'the node to rejoin');
  const after = await status(C, s);
  const me = after.members.find((x: any) => x.name === s.name);
  t.not(me.incarnation, before.members.find((x: any) => x.name === s.name).incarnation, 'a new member');
  t.true(after.epoch > before.epoch);
  const again = await hs.w.call('lock', { nsp: hs.nsp, res, mode: DLM_EXMODE, flags: 0x1 });
  t.not(again.status, DLM_SUCCESS, 'its old namespace handle is gone');
  void b;
  void DLM_ENOSYS;
});

/** Clients on every node lock and unlock for `ms` while `faults` run; their histories. */
async function history(t: ExecutionContext, nodes: Node[], ms: number, seed: number, faults: () => Promise<void>): Promise<HistoryEvent[]> {
  const events: HistoryEvent[] = [];
  const runs = nodes.flatMap((n, i) => [0, 1].map((k) => {
    const name = `${n.name}/${k}`;
    const p = spawn(process.execPath, [path.join(__dirname, 'dlm-history-worker.js'), n.sock, name, String(ms), String(seed * 7 + i * 2 + k)], { stdio: ['ignore', 'pipe', 'pipe'] });
    t.teardown(() => { if (p.exitCode === null) p.kill('SIGKILL'); });
    let buf = '';
    p.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let i2;
      while ((i2 = buf.indexOf('\n')) >= 0) {
        events.push(JSON.parse(buf.slice(0, i2)) as HistoryEvent);
        buf = buf.slice(i2 + 1);
      }
    });
    let err = '';
    p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    return new Promise<void>((resolve, reject) => p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`history client ${name} exited ${code}: ${err}`)))));
  }));
  await faults();
  await Promise.all(runs);
  return events;
}

const ROUNDS = Number(process.env.DMAPIFS_DLM_SOAK_ROUNDS ?? 2);

test.serial(`history check over ${ROUNDS} randomized fault schedules (kill -9 and restart, SIGSTOP past the lease): no overlap of incompatible holders`, async (t) => {
  t.timeout(ROUNDS * 120000 + 60000);
  const { nodes } = await threeNodes(t);
  let total = 0;
  let oks = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const seed = (Date.now() ^ (round * 7919)) >>> 0;
    let s = seed;
    const rnd = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32);
    const victim = nodes[Math.floor(rnd() * 3)];
    const kind = rnd() < 0.5 ? 'kill' : 'stop';
    const events = await history(t, nodes, 14000, seed, async () => {
      await sleep(2000 + rnd() * 2000);
      if (kind === 'kill') {
        process.kill(victim.pid, 'SIGKILL');
        await sleep(TTL * 1000 + 1500);
        const n = await C.startNode(t, victim.name);
        victim.pid = n.pid;
      } else {
        process.kill(victim.pid, 'SIGSTOP');
        await sleep(TTL * 1000 + 1500);
        process.kill(victim.pid, 'SIGCONT');
      }
    });
    const hs = holds(events, Date.now());
    const bad = violations(hs);
    total += events.length;
    oks += hs.length;
    t.log(`round ${round} (seed ${seed}): ${kind} of ${victim.name}; ${events.length} events, ${hs.length} holds, ${events.filter((e) => e.op === 'reset').length} resets, ${bad.length} violations`);
    t.deepEqual(bad.slice(0, 3), [], `round ${round}: incompatible holders overlapped`);
    t.true(hs.length > 20, 'the clients got locks');
    await waitFor(async () => (await status(C, nodes[0]))?.members?.length === 3, 30000, 'three members again');
  }
  t.log(`${ROUNDS} rounds: ${total} events, ${oks} holds checked, 0 violations`);
});
