// Two node daemons on one host form one lock space over TCP (different ports and run directories,
// one cluster configuration made with `dmapifs cluster`): node loss, the master's loss, a node cut
// off by missed heartbeats and its reconnection, a wrong cluster key.
import test, { ExecutionContext } from 'ava';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { Cluster, freePort, useCluster, pidAlive, sleep, waitFor } from './helpers/cluster';
import { joinedWorker } from './dlm-service-driver';
import type { LocksAnswer } from '../src/dlm/service/dlm-service';
import { configDigest, loadConfig } from '../src/dlm/service/cluster-config';
import { DLM_ENOSYS, DLM_EXMODE, DLM_IVLOCKID, DLM_PRMODE, DLM_SUCCESS, DLM_SUCCVALNOTVALID, DLM_VALB } from '../src/dlm';

const A = useCluster();
const B = useCluster();
const HEARTBEAT_MS = 200;
const MISS = 5;
let seq = 0;


interface Node { node: string; pid: number; sock: string; c: Cluster }

/** A cluster configuration (through the CLI) with nodes a (the master) and b. */
async function makeConfig(t: ExecutionContext): Promise<{ file: string; a: string; b: string }> {
  const dir = A.tmpDir(t, 'dmfs-cfg-');
  const file = path.join(dir, 'cluster.json');
  const env = { DMAPIFS_CLUSTER_CONFIG: file };
  const k = ++seq;
  const a = `ca-${process.pid}-${k}`;
  const b = `cb-${process.pid}-${k}`;
  await A.cliOk(t, ['cluster', 'init', '--name', `test${k}`, '--heartbeat-ms', String(HEARTBEAT_MS), '--miss-count', String(MISS)], { env });
  await A.cliOk(t, ['cluster', 'add-node', a, '--address', '127.0.0.1', '--port', String(await freePort()), '--master'], { env });
  await A.cliOk(t, ['cluster', 'add-node', b, '--address', '127.0.0.1', '--port', String(await freePort())], { env });
  t.is(fs.statSync(path.join(dir, 'cluster.key')).mode & 0o777, 0o600);
  return { file, a, b };
}

async function start(t: ExecutionContext, c: Cluster, name: string, cfg: string): Promise<Node> {
  c.env.DMAPIFS_CLUSTER_CONFIG = cfg;
  const n = await c.startNode(t, name);
  return { ...n, sock: path.join(c.nodeDir(name), 'dlm.sock'), c };
}

async function dlmStatus(n: Node): Promise<any> {
  const r = await n.c.cli(['node', 'status', '--node', n.node, '--json']);
  if (r.code !== 0) return null;
  return JSON.parse(r.stdout).services?.dlm ?? null;
}

async function linked(n: Node, timeoutMs = 15000): Promise<void> {
  await waitFor(async () => (await dlmStatus(n))?.peers?.some((p: any) => p.up), timeoutMs, `node ${n.node} to link up`);
}

async function locks(t: ExecutionContext, n: Node): Promise<LocksAnswer> {
  const r = await n.c.cliOk(t, ['locks', '--node', n.node, '--json']);
  return JSON.parse(r.stdout) as LocksAnswer;
}

function resource(a: LocksAnswer, name: string) {
  for (const ns of a.dump.namespaces) for (const r of ns.resources) if (r.name === name) return r;
  return undefined;
}

async function twoNodes(t: ExecutionContext) {
  const cfg = await makeConfig(t);
  const a = await start(t, A, cfg.a, cfg.file);
  const b = await start(t, B, cfg.b, cfg.file);
  await linked(b);
  return { cfg, a, b };
}

const hexOf = (s: string) => Buffer.from(s).toString('hex');

test('two nodes share one lock space; kill -9 of a node releases its locks everywhere and invalidates its value blocks', async (t) => {
  const { a, b } = await twoNodes(t);
  const st = await dlmStatus(a);
  t.is(st.mode, 'master');
  t.is((await dlmStatus(b)).mode, 'member');
  const h = await joinedWorker(t, b.sock);
  const held = await h.w.call('lock', { nsp: h.nsp, res: 'S', mode: DLM_EXMODE, flags: DLM_VALB });
  t.is(held.status, DLM_SUCCESS);
  t.is((await h.w.call('cvt', { lkid: held.lkid, mode: DLM_EXMODE, flags: DLM_VALB, valb: hexOf('v1') })).status, DLM_SUCCESS);
  const wr = await joinedWorker(t, a.sock);
  const waiting = await wr.w.call('lock', { nsp: wr.nsp, res: 'S', mode: DLM_PRMODE, flags: DLM_VALB });
  t.true(waiting.wait, "a's process waits for b's process");
  // Both nodes show the one lock space (b asks the master).
  for (const n of [a, b]) {
    const l = await locks(t, n);
    t.is(l.master, a.node);
    const r = resource(l, 'S')!;
    t.is(r.granted.length, 1);
    t.is(l.nodes[String(r.granted[0].node)], b.node);
    t.is(r.granted[0].pid, h.w.pid);
    t.is(l.nodes[String(r.waiting[0].node)], a.node);
    t.true(r.lvb.valid);
  }
  const text = await a.c.cliOk(t, ['locks', '--node', a.node]);
  t.regex(text.stdout, new RegExp(`granted\\s+EX\\s+lkid \\S+\\s+owner ${b.node}:${h.w.pid}`));

  process.kill(b.pid, 'SIGKILL');
  const done = await wr.w.waitEvent(waiting.id!);
  t.is(done.status, DLM_SUCCVALNOTVALID, 'granted, with the value block of the dead node marked invalid');
  t.is(done.valb, hexOf('v1'));
  const l = await locks(t, a);
  const r = resource(l, 'S')!;
  t.false(r.lvb.valid);
  t.deepEqual(r.granted.map((x) => x.pid), [wr.w.pid]);
  t.false(l.dump.processes.some((p) => l.nodes[String(p.node)] === b.node), "no process of node b is left");
  await h.w.next((m) => m.event === 'close', 5000, 'the client on the dead node to see its connection close');
  t.regex(fs.readFileSync(A.logFile(a.node), 'utf8'), new RegExp(`node ${b.node} left the lock space`));
});

test('the master goes: blocked requests on the other node end with DLM_ENOSYS, new ones fail at once; all works again when it is back', async (t) => {
  const { cfg, a, b } = await twoNodes(t);
  const h = await joinedWorker(t, a.sock);
  t.is((await h.w.call('lock', { nsp: h.nsp, res: 'M', mode: DLM_EXMODE })).status, DLM_SUCCESS);
  const wr = await joinedWorker(t, b.sock);
  const waiting = await wr.w.call('lock', { nsp: wr.nsp, res: 'M', mode: DLM_EXMODE });
  t.true(waiting.wait);

  process.kill(a.pid, 'SIGKILL');
  const done = await wr.w.waitEvent(waiting.id!);
  t.is(done.status, DLM_ENOSYS, 'the blocked request fails with a clear status');
  const reset = await wr.w.next((m) => m.event === 'reset', 5000, 'the reset event');
  t.regex(reset.reason, new RegExp(`lost the lock master \\(node ${a.node}\\)`));
  const again = await wr.w.call('nsjoin', { nsid: 0, flags: 0x1000 });
  t.is(again.status, DLM_ENOSYS, 'no master: an immediate error, not a hang');
  t.true(again.ms < 1000, `answered in ${again.ms} ms`);
  const r = await b.c.cli(['locks', '--node', b.node]);
  t.is(r.code, 1);
  t.regex(r.stderr, /not reachable/);

  // The master comes back (a fresh lock space): the member links again and serves its clients.
  await a.c.stopNode(a.node);
  await start(t, A, cfg.a, cfg.file);
  await linked(b);
  const j = await wr.w.call('nsjoin', { nsid: 0, flags: 0x1000 });
  t.is(j.status, DLM_SUCCESS);
  t.is((await wr.w.call('lock', { nsp: j.nsp, res: 'M', mode: DLM_EXMODE })).status, DLM_SUCCESS);
});

test('a request in flight when the master dies is answered DLM_ENOSYS, not left hanging', async (t) => {
  const { a, b } = await twoNodes(t);
  const wr = await joinedWorker(t, b.sock);
  // The master freezes: b forwards the request, no answer comes; then the master dies.
  process.kill(a.pid, 'SIGSTOP');
  t.teardown(() => { try { process.kill(a.pid, 'SIGCONT'); } catch { /* gone */ } });
  const id = wr.w.send('lock', { nsp: wr.nsp, res: 'F', mode: DLM_EXMODE });
  await sleep(300);
  t.false(wr.w.has((m) => m.id === id), 'no answer while the master is frozen');
  process.kill(a.pid, 'SIGKILL');
  const m = await wr.w.next((x) => x.id === id && x.event === undefined, 10000, 'the answer');
  t.is(m.status, DLM_ENOSYS);
  t.true(wr.w.has((x) => x.event === 'reset') || !!(await wr.w.next((x) => x.event === 'reset', 5000)));
});

test('a node cut off by missed heartbeats loses its locks; after it reconnects nothing is granted twice or lost', async (t) => {
  const { a, b } = await twoNodes(t);
  const h = await joinedWorker(t, b.sock);
  const held = await h.w.call('lock', { nsp: h.nsp, res: 'C', mode: DLM_EXMODE, flags: DLM_VALB });
  t.is((await h.w.call('cvt', { lkid: held.lkid, mode: DLM_EXMODE, flags: DLM_VALB, valb: hexOf('c1') })).status, DLM_SUCCESS);
  const wr = await joinedWorker(t, a.sock);
  const waiting = await wr.w.call('lock', { nsp: wr.nsp, res: 'C', mode: DLM_EXMODE, flags: DLM_VALB });
  t.true(waiting.wait);

  // Freeze node b: its TCP connection stays open, but it stops answering heartbeats.
  process.kill(b.pid, 'SIGSTOP');
  t.teardown(() => { try { process.kill(b.pid, 'SIGCONT'); } catch { /* gone */ } });
  const t0 = Date.now();
  const done = await wr.w.waitEvent(waiting.id!, 20000);
  const took = Date.now() - t0;
  t.is(done.status, DLM_SUCCVALNOTVALID);
  t.true(took >= HEARTBEAT_MS * (MISS - 1), `declared dead after ${took} ms, not before the missed heartbeats`);
  t.regex(fs.readFileSync(A.logFile(a.node), 'utf8'), /no heartbeat for \d+ ms/);

  process.kill(b.pid, 'SIGCONT');
  const reset = await h.w.next((m) => m.event === 'reset', 20000, 'the reset on the cut-off node');
  t.regex(reset.reason, /locks are released/);
  await linked(b, 20000);
  // The old lock is gone for good: not given back by the new link.
  t.is((await h.w.call('unlock', { lkid: held.lkid })).status, DLM_IVLOCKID);
  const j = await h.w.call('nsjoin', { nsid: 0, flags: 0x1000 });
  t.is(j.status, DLM_SUCCESS, 'the process starts afresh on the new link');
  const again = await h.w.call('lock', { nsp: j.nsp, res: 'C', mode: DLM_EXMODE });
  t.true(again.wait, "it waits for a's process, which holds the lock now");
  const r = resource(await locks(t, a), 'C')!;
  t.deepEqual(r.granted.map((x) => x.pid), [wr.w.pid], 'exactly one holder');
  t.deepEqual(r.waiting.map((x) => x.pid), [h.w.pid]);
  t.is((await wr.w.call('unlock', { lkid: waiting.lkid })).status, DLM_SUCCESS);
  t.is((await h.w.waitEvent(again.id!)).status, DLM_SUCCESS);
});

test('a node with the wrong cluster key is refused and logged; so is garbage on the cluster port', async (t) => {
  const cfg = await makeConfig(t);
  const a = await start(t, A, cfg.a, cfg.file);
  // Same nodes, another key.
  const dir2 = A.tmpDir(t, 'dmfs-cfg2-');
  fs.copyFileSync(cfg.file, path.join(dir2, 'cluster.json'));
  fs.writeFileSync(path.join(dir2, 'cluster.key'), crypto.randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
  const b = await start(t, B, cfg.b, path.join(dir2, 'cluster.json'));
  await waitFor(() => /bad cluster key .* claiming to be node/.test(fs.readFileSync(A.logFile(a.node), 'utf8')), 15000, 'the refusal in the log of node a');
  await waitFor(() => new RegExp(`cannot join node ${cfg.a}.*bad cluster key`).test(fs.readFileSync(B.logFile(b.node), 'utf8')), 15000, 'the refusal in the log of node b');
  t.false((await dlmStatus(b)).peers[0].up);
  const w = await (async () => {
    const { Worker } = await import('./dlm-service-driver');
    const x = new Worker(t);
    await x.call('connect', { socket: b.sock });
    return x;
  })();
  t.is((await w.call('nsjoin', { nsid: 0, flags: 0x1000 })).status, DLM_ENOSYS);

  // Raw garbage, an oversized handshake frame, and silence: each refused, the node carries on.
  const port = JSON.parse(fs.readFileSync(cfg.file, 'utf8')).nodes.find((n: any) => n.name === cfg.a).port;
  for (const payload of [crypto.randomBytes(64), Buffer.from([0xff, 0xff, 0xff, 0x7f, 0x41]), Buffer.alloc(0)]) {
    await new Promise<void>((resolve) => {
      const s = net.createConnection({ host: '127.0.0.1', port }, () => { if (payload.length) s.write(payload); else s.end(); });
      s.on('error', () => undefined);
      s.on('close', () => resolve());
      setTimeout(() => { s.destroy(); resolve(); }, 3000);
    });
  }
  await sleep(200);
  t.true(pidAlive(a.pid));
  t.regex(fs.readFileSync(A.logFile(a.node), 'utf8'), /refused cluster connection from 127\.0\.0\.1:\d+: (malformed|frame of|handshake|unexpected)/);
  t.is((await dlmStatus(a)).mode, 'master');
});

test('the cluster port tells an unauthenticated peer nothing: no node or cluster name, no configuration digest', async (t) => {
  const cfg = await makeConfig(t);
  const a = await start(t, A, cfg.a, cfg.file);
  const conf = loadConfig(cfg.file)!;
  const secrets = [cfg.a, cfg.b, conf.name, configDigest(conf)];
  const port = conf.nodes.find((n) => n.name === cfg.a)!.port;
  /** Everything the port sends to a peer that sends `payload` (after the greeting), until it closes. */
  const talk = (payload: (hello: Buffer) => Buffer | null) => new Promise<Buffer>((resolve) => {
    const got: Buffer[] = [];
    let answered = false;
    const s = net.createConnection({ host: '127.0.0.1', port });
    s.on('data', (d: Buffer) => {
      got.push(d);
      if (!answered) {
        answered = true;
        const p = payload(Buffer.concat(got));
        if (p) s.write(p);
      }
    });
    s.on('error', () => undefined);
    s.on('close', () => resolve(Buffer.concat(got)));
    setTimeout(() => { s.destroy(); resolve(Buffer.concat(got)); }, 4000);
  });
  const leaks = (b: Buffer) => secrets.filter((x) => b.includes(Buffer.from(x)));
  // The greeting alone, then silence (the handshake times out).
  const hello = await talk(() => null);
  t.true(hello.length > 0 && hello.length < 64, `the greeting is a version and a nonce: ${hello.length} bytes`);
  t.deepEqual(leaks(hello), []);
  // A claim to be node b with a made-up proof: refused, without details.
  const claim = await talk((h) => {
    const name = Buffer.from(cfg.b);
    const nlen = Buffer.alloc(2);
    nlen.writeUInt16LE(name.length);
    // AUTH: str node | 32 nonce | 32 mac (a made-up one).
    const body = Buffer.concat([Buffer.from([0x41]), nlen, name, crypto.randomBytes(64)]);
    const len = Buffer.alloc(4);
    len.writeUInt32LE(body.length);
    t.true(h.length > 0);
    return Buffer.concat([len, body]);
  });
  t.deepEqual(leaks(claim.subarray(hello.length)).filter((x) => x !== cfg.b), [], 'the refusal names nothing of the cluster');
  // Garbage.
  const junk = await talk(() => crypto.randomBytes(200));
  t.deepEqual(leaks(junk), []);
  t.true(pidAlive(a.pid));
});

test('dmapifs cluster: init, add-node, show; bad input and an unsafe key are refused', async (t) => {
  const dir = A.tmpDir(t, 'dmfs-cfg3-');
  const file = path.join(dir, 'sub', 'cluster.json');
  const env = { DMAPIFS_CLUSTER_CONFIG: file };
  let r = await A.cli(['cluster', 'show'], { env });
  t.is(r.code, 1);
  t.regex(r.stderr, /no cluster configuration .* dmapifs cluster init/);
  await A.cliOk(t, ['cluster', 'init', '--name', 'c3', '--heartbeat-ms', '300', '--miss-count', '4'], { env });
  r = await A.cli(['cluster', 'init'], { env });
  t.is(r.code, 1);
  t.regex(r.stderr, /exists \(use --force/);
  await A.cliOk(t, ['cluster', 'add-node', 'n1', '--address', '10.1.2.3', '--port', '7001'], { env });
  await A.cliOk(t, ['cluster', 'add-node', 'n2', '--address', '::1', '--port', '7002', '--id', '9', '--master'], { env });
  r = await A.cli(['cluster', 'add-node', 'n1'], { env });
  t.is(r.code, 1);
  t.regex(r.stderr, /already in/);
  t.is((await A.cli(['cluster', 'add-node', 'bad/name'], { env })).code, 1);
  t.is((await A.cli(['cluster', 'add-node', 'n3', '--port', '70000'], { env })).code, 2);
  t.is((await A.cli(['cluster', 'frob'], { env })).code, 2);
  const shown = JSON.parse((await A.cliOk(t, ['cluster', 'show', '--json'], { env })).stdout);
  t.is(shown.name, 'c3');
  t.is(shown.heartbeatMs, 300);
  t.is(shown.missCount, 4);
  t.is(shown.effectiveMaster, 'n2');
  t.deepEqual(shown.nodes.map((n: any) => [n.name, n.id, n.address, n.port]), [['n1', 1, '10.1.2.3', 7001], ['n2', 9, '::1', 7002]]);
  t.regex(shown.keyFingerprint, /^[0-9a-f]{16}$/);
  const key = fs.readFileSync(path.join(dir, 'sub', 'cluster.key'), 'utf8').trim();
  t.false((await A.cliOk(t, ['cluster', 'show'], { env })).stdout.includes(key), 'the key itself is never shown');
  // A key others can read: refused, and a node of that cluster does not start with it.
  fs.chmodSync(path.join(dir, 'sub', 'cluster.key'), 0o644);
  t.regex((await A.cliOk(t, ['cluster', 'show'], { env })).stdout, /UNUSABLE: .*accessible by group or others/);
  r = await A.cli(['node', 'start', '--node', 'n1'], { env });
  t.teardown(() => A.stopNode('n1'));
  t.not(r.code, 0);
  t.regex(r.stderr + fs.readFileSync(A.logFile('n1'), 'utf8'), /accessible by group or others/);
});
