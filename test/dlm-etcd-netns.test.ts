// Three node daemons in network namespaces (veths to a bridge of their own), one etcd member in each:
// a node cut off from the other two (its veth down) loses its lease and fences itself (its client is
// reset before the majority grants what it held, its mount refuses I/O), the majority goes on, and
// the node rejoins once its link is back; the etcd leader killed: the lock space goes on.
import test, { type ExecutionContext } from 'ava';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { execFileSync } from 'child_process';
import { useCluster, sleep, waitFor } from './helpers/cluster';
import { startEtcd, type EtcdMember } from './helpers/etcd';
import { makeNet, type Net, type NetNode } from './helpers/netns';
import { joinedWorker } from './dlm-service-driver';
import { masterOf } from '../src/dlm/service/directory';
import { DLM_EXMODE, DLM_SUCCESS } from '../src/dlm';

const C = useCluster();
const TTL = 8;

interface Node { name: string; id: number; pid: number; sock: string; net: NetNode }

async function cluster(t: ExecutionContext): Promise<{ net: Net; nodes: Node[]; etcd: EtcdMember[] }> {
  const net = makeNet(t, 'i14', 3, 14);
  const etcd = await startEtcd(t, net.nodes.map((n, i) => ({ name: `m${i + 1}`, host: n.addr, clientPort: 2379, peerPort: 2380, wrap: n.wrap })));
  const dir = C.tmpDir(t, 'i14-cfg-');
  const names = [1, 2, 3].map((i) => `n${i}-${process.pid}`);
  const cfg = {
    version: 1, name: `i14n-${process.pid}`, keyFile: 'cluster.key', master: null, heartbeatMs: 200, missCount: 5,
    nodes: names.map((name, i) => ({ name, id: i + 1, address: net.nodes[i].addr, port: 7470 })),
    etcd: { endpoints: etcd.map((e) => e.clientUrl), leaseTtl: TTL, fenceMarginMs: 2000 },
  };
  const cfgFile = path.join(dir, 'cluster.json');
  fs.writeFileSync(cfgFile, JSON.stringify(cfg));
  fs.writeFileSync(path.join(dir, 'cluster.key'), crypto.randomBytes(32).toString('hex'), { mode: 0o600 });
  C.env.DMAPIFS_CLUSTER_CONFIG = cfgFile;
  const nodes: Node[] = [];
  for (const [i, name] of names.entries()) {
    t.teardown(() => C.stopNode(name));
    // What the daemons said, for a failure's post-mortem (the run directory goes with the test file).
    t.teardown(() => { try { fs.copyFileSync(C.logFile(name), `/tmp/i14-last-${t.title.slice(0, 12).replace(/\W/g, "_")}-${name}.log`); } catch { /* none */ } });
    const r = await C.cli(['node', 'start', '--node', name], { wrap: net.nodes[i].wrap });
    if (r.code !== 0) throw new Error(`node start ${name}: ${r.stderr}`);
    nodes.push({ name, id: i + 1, pid: C.daemonPid(name)!, sock: path.join(C.nodeDir(name), 'dlm.sock'), net: net.nodes[i] });
  }
  await waitFor(async () => {
    for (const n of nodes) if ((await status(n))?.members?.length !== 3) return false;
    return true;
  }, 60000, 'three members');
  return { net, nodes, etcd };
}

async function status(n: Node): Promise<any> {
  const r = await C.cli(['cluster', 'status', '--node', n.name, '--json']);
  return r.code === 0 ? JSON.parse(r.stdout) : null;
}

function nameMasteredOn(nodes: Node[], node: Node, prefix: string): string {
  for (let i = 0; ; i++) if (masterOf(nodes, 'system', `${prefix}${i}`)?.name === node.name) return `${prefix}${i}`;
}

test.serial('a partition of one node: the majority goes on, the minority\'s client is reset first and its mount refuses I/O; it rejoins when healed', async (t) => {
  t.timeout(240000);
  const { net, nodes } = await cluster(t);
  const [a, b, c] = nodes;
  const mount = await C.withMount(t, { node: c.name, files: { 'f.txt': 'hello' } });
  t.is(fs.readFileSync(path.join(mount.mnt, 'f.txt'), 'utf8'), 'hello');
  // c holds EX on a resource mastered on a (the majority side); a's client waits for it.
  const res = nameMasteredOn(nodes, a, 'P');
  const hc = await joinedWorker(t, c.sock);
  const ha = await joinedWorker(t, a.sock);
  t.is((await hc.w.call('lock', { nsp: hc.nsp, res, mode: DLM_EXMODE })).status, DLM_SUCCESS);
  const waiting = await ha.w.call('lock', { nsp: ha.nsp, res, mode: DLM_EXMODE });
  t.true(waiting.wait);

  net.partition(c.net);
  const reset = await hc.w.next((m: any) => m.event === 'reset', 30000, 'the minority client to be reset');
  const granted = await ha.w.waitEvent(waiting.id!, 60000);
  t.is(granted.status, DLM_SUCCESS, 'the majority granted the waiter');
  t.true(reset.at < granted.at, `minority reset at ${reset.at}, majority granted at ${granted.at}`);
  // The minority's mount refuses I/O; the majority's lock space works.
  await waitFor(async () => (await status(c))?.quorum === false, 20000, 'the minority to lose quorum');
  t.throws(() => fs.readFileSync(path.join(mount.mnt, 'f.txt')), { code: 'EIO' });
  const hb = await joinedWorker(t, b.sock);
  const other = await hb.w.call('lock', { nsp: hb.nsp, res: nameMasteredOn(nodes, b, 'Q'), mode: DLM_EXMODE });
  t.is(other.status, DLM_SUCCESS);
  const sa = await status(a);
  t.deepEqual(sa.members.map((m: any) => m.name), [a.name, b.name]);
  t.true(sa.quorum);
  const nsj = await hc.w.call('nsjoin', { nsid: 0, flags: 0x1000 });
  t.not(nsj.status, DLM_SUCCESS, 'the minority grants nothing');

  net.heal(c.net);
  await waitFor(async () => (await status(c))?.members?.length === 3, 60000, 'the node to rejoin');
  t.is(fs.readFileSync(path.join(mount.mnt, 'f.txt'), 'utf8'), 'hello', 'its mount serves again');
  t.regex(fs.readFileSync(C.logFile(c.name), 'utf8'), /fenced: /);
});

test.serial('the etcd leader killed: the lock space goes on', async (t) => {
  t.timeout(240000);
  const { nodes, etcd } = await cluster(t);
  const leaderOf = () => {
    const out = execFileSync('etcdctl', ['--endpoints', etcd.filter((e) => e.proc.exitCode === null && e.proc.signalCode === null).map((e) => e.clientUrl).join(','), 'endpoint', 'status', '-w', 'json'], { encoding: 'utf8', env: { ...process.env, ETCDCTL_API: '3' } });
    const st = JSON.parse(out) as { Endpoint: string; Status: { header: { member_id: number }; leader: number } }[];
    const leader = st.find((s) => s.Status.header.member_id === s.Status.leader)!;
    return etcd.find((e) => e.clientUrl === leader.Endpoint)!;
  };
  const leader = leaderOf();
  const ws = await Promise.all(nodes.map((n) => joinedWorker(t, n.sock)));
  const before = await status(nodes[0]);
  leader.proc.kill('SIGKILL');
  t.log(`killed etcd leader ${leader.name}`);
  // Lock and unlock on every node, on resources mastered everywhere, while etcd elects a new leader.
  const until = Date.now() + 8000;
  let pairs = 0;
  while (Date.now() < until) {
    for (const [i, h] of ws.entries()) {
      const r = await h.w.call('lock', { nsp: h.nsp, res: `L${pairs % 7}-${i}`, mode: DLM_EXMODE });
      t.is(r.status, DLM_SUCCESS);
      t.is((await h.w.call('unlock', { lkid: r.lkid })).status, DLM_SUCCESS);
      pairs++;
    }
    await sleep(50);
  }
  t.log(`${pairs} lock+unlock pairs while etcd changed its leader (new leader ${leaderOf().name})`);
  const after = await status(nodes[0]);
  t.is(after.members.length, 3);
  t.true(after.quorum);
  t.is(after.epoch, before.epoch, 'no member was lost');
});
