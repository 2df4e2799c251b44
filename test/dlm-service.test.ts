// The DLM service of one node daemon, through real processes: clients (test/dlm-service-worker.ts)
// on <run>/<node>/dlm.sock, the daemon started by the CLI, `dmapifs locks` for the lock state.
import test, { ExecutionContext } from 'ava';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { useCluster, pidAlive, sleep, waitFor } from './helpers/cluster';
import { joinedWorker, Worker } from './dlm-service-driver';
import { DlmClient } from '../src/dlm/client';
import type { LocksAnswer } from '../src/dlm/service/dlm-service';
import {
  DLM_ABORT, DLM_BADPARAM, DLM_CANCELWAITOK, DLM_EXMODE, DLM_GROUP, DLM_NOACCESS, DLM_NLMODE, DLM_PRMODE, DLM_SUCCESS, DLM_SUCCVALNOTVALID,
  DLM_SYNCH, DLM_SYNCSTS, DLM_USER, DLM_VALB,
} from '../src/dlm';
import { OP, MSG } from '../src/dlm/service/protocol';

const cluster = useCluster();
// No cluster configuration: each node daemon is a lock space of its own.
cluster.env.DMAPIFS_CLUSTER_CONFIG = path.join(cluster.runDir, 'no-cluster.json');
// The node directories must be reachable by an unprivileged client (the SO_PEERCRED test).
fs.chmodSync(cluster.runDir, 0o755);

async function node(t: ExecutionContext): Promise<{ node: string; pid: number; sock: string }> {
  const n = await cluster.startNode(t);
  return { ...n, sock: path.join(cluster.nodeDir(n.node), 'dlm.sock') };
}

async function locks(t: ExecutionContext, nodeName: string): Promise<LocksAnswer> {
  const r = await cluster.cliOk(t, ['locks', '--node', nodeName, '--json']);
  return JSON.parse(r.stdout) as LocksAnswer;
}

function resource(a: LocksAnswer, name: string) {
  for (const ns of a.dump.namespaces) for (const r of ns.resources) if (r.name === name) return r;
  return undefined;
}

test('dlm.sock is 0666 in a node directory others can pass through, and the daemon says where it is', async (t) => {
  const n = await node(t);
  t.is(fs.statSync(n.sock).mode & 0o777, 0o666);
  t.is(fs.statSync(cluster.nodeDir(n.node)).mode & 0o777, 0o711);
  const st = await cluster.cliOk(t, ['node', 'status', '--node', n.node, '--json']);
  const dlm = JSON.parse(st.stdout).services.dlm;
  t.is(dlm.socket, n.sock);
  t.is(dlm.mode, 'standalone');
});

test('mutual exclusion: 6 processes increment a shared counter file under EX', async (t) => {
  const n = await node(t);
  const file = path.join(cluster.tmpDir(t), 'counter');
  fs.writeFileSync(file, '0');
  const N = 6;
  const ITER = 40;
  const ws = await Promise.all(Array.from({ length: N }, () => joinedWorker(t, n.sock)));
  const results = await Promise.all(ws.map(({ w, nsp }) => w.call('counter', { nsp, file, n: ITER }, 120000)));
  for (const r of results) {
    t.is(r.done, ITER);
    t.is(r.violations, 0, 'two processes were inside the critical section at once');
  }
  t.is(Number(fs.readFileSync(file, 'utf8')), N * ITER, 'an increment was lost');
  const a = await locks(t, n.node);
  t.is(resource(a, 'counter'), undefined, 'the resource is freed once nobody holds it');
});

test('kill -9 of a holder releases its lock, grants the waiter and marks the value block invalid', async (t) => {
  const n = await node(t);
  const h = await joinedWorker(t, n.sock);
  const wr = await joinedWorker(t, n.sock);
  const held = await h.w.call('lock', { nsp: h.nsp, res: 'VB', mode: DLM_EXMODE, flags: DLM_VALB });
  t.is(held.status, DLM_SUCCESS);
  // The holder writes a value (EX -> EX with DLM_VALB writes the value block).
  const wrote = await h.w.call('cvt', { lkid: held.lkid, mode: DLM_EXMODE, flags: DLM_VALB, valb: Buffer.from('v1').toString('hex') });
  t.is(wrote.status, DLM_SUCCESS);
  const waiting = await wr.w.call('lock', { nsp: wr.nsp, res: 'VB', mode: DLM_PRMODE, flags: DLM_VALB });
  t.true(waiting.wait, 'the PR request waits behind the EX holder');
  let a = await locks(t, n.node);
  let r = resource(a, 'VB')!;
  t.is(r.granted.length, 1);
  t.is(r.granted[0].pid, h.w.pid);
  t.is(r.waiting[0].pid, wr.w.pid);
  t.true(r.lvb.valid);
  t.is(r.lvb.seq, 1);

  process.kill(h.w.pid, 'SIGKILL');
  const done = await wr.w.waitEvent(waiting.id!);
  t.is(done.status, DLM_SUCCVALNOTVALID, 'the waiter is granted and told the value block is not valid');
  t.is(done.valb, Buffer.from('v1').toString('hex'), 'the value block keeps what was written last');
  a = await locks(t, n.node);
  r = resource(a, 'VB')!;
  t.false(r.lvb.valid);
  t.is(r.granted.length, 1);
  t.is(r.granted[0].pid, wr.w.pid);
  t.false(a.dump.processes.some((p) => p.pid === h.w.pid), 'the dead holder is gone from the engine');
  // The text form says so too.
  const text = await cluster.cliOk(t, ['locks', '--node', n.node]);
  t.regex(text.stdout, /resource "VB"\s+lvb seq 1 INVALID 7631/);
  t.regex(text.stdout, new RegExp(`granted\\s+PR\\s+lkid \\S+\\s+owner ${n.node}:${wr.w.pid}`));
});

test('a client that exits while waiting leaves the queue; the next waiter gets the lock', async (t) => {
  const n = await node(t);
  const h = await joinedWorker(t, n.sock);
  const held = await h.w.call('lock', { nsp: h.nsp, res: 'W', mode: DLM_EXMODE });
  t.is(held.status, DLM_SUCCESS);
  const ws = await Promise.all([joinedWorker(t, n.sock), joinedWorker(t, n.sock)]);
  for (const { w, nsp } of ws) t.true((await w.call('lock', { nsp, res: 'W', mode: DLM_EXMODE })).wait);
  await ws[0].w.call('exit');
  await waitFor(async () => resource(await locks(t, n.node), 'W')!.waiting.length === 1, 10000, 'the exited waiter to go');
  await h.w.call('unlock', { lkid: held.lkid });
  const r = resource(await locks(t, n.node), 'W')!;
  t.is(r.granted[0].pid, ws[1].w.pid);
});

test('a client killed while a child still holds its connection is dead by its pid: its locks go', async (t) => {
  const n = await node(t);
  const h = await joinedWorker(t, n.sock);
  t.is((await h.w.call('lock', { nsp: h.nsp, res: 'P', mode: DLM_EXMODE })).status, DLM_SUCCESS);
  const { child } = await h.w.call('share');
  t.teardown(() => { try { process.kill(child, 'SIGKILL'); } catch { /* gone */ } });
  const wr = await joinedWorker(t, n.sock);
  const waiting = await wr.w.call('lock', { nsp: wr.nsp, res: 'P', mode: DLM_EXMODE });
  t.true(waiting.wait);
  process.kill(h.w.pid, 'SIGKILL');
  await h.w.exited;
  t.true(pidAlive(child), 'the connection is still open in the child');
  t.is((await wr.w.waitEvent(waiting.id!, 10000)).status, DLM_SUCCESS);
});

test('the creator of a DLM_GLC_OWNED container dies: the daemon kills the other members', async (t) => {
  const n = await node(t);
  const creator = await joinedWorker(t, n.sock);
  const member = await joinedWorker(t, n.sock);
  const g = await creator.w.call('glcCreate', { flags: 0x1 /* DLM_GLC_OWNED */, nsps: [creator.nsp] });
  t.is(g.status, DLM_SUCCESS);
  t.is((await member.w.call('glcAttach', { glc: g.glc })).status, DLM_SUCCESS);
  process.kill(creator.w.pid, 'SIGKILL');
  const ex = await member.w.exited;
  t.is(ex.signal, 'SIGKILL', 'the member was killed');
  const logged = new RegExp(`killed pid ${member.w.pid} \\(glc-owned\\)`);
  await waitFor(() => logged.test(fs.readFileSync(cluster.logFile(n.node), 'utf8')), 5000, 'the kill in the log');
  t.pass();
});

test('identity comes from SO_PEERCRED: an unprivileged process is refused namespaces it does not hold', async (t) => {
  const n = await node(t);
  const w = new Worker(t, { uid: 65534, gid: 65534 });
  const c = await w.call('connect', { socket: n.sock });
  t.is(c.uid, 65534);
  t.is((await w.call('nsjoin', { nsid: 0, flags: DLM_USER })).status, DLM_NOACCESS, 'the systemwide namespace needs root');
  t.is((await w.call('nsjoin', { nsid: 1000, flags: DLM_USER })).status, DLM_NOACCESS, "another user's namespace");
  t.is((await w.call('nsjoin', { nsid: 0, flags: DLM_GROUP })).status, DLM_NOACCESS, 'a group it is not in');
  const own = await w.call('nsjoin', { nsid: 65534, flags: DLM_USER });
  t.is(own.status, DLM_SUCCESS, 'its own namespace');
  const l = await w.call('lock', { nsp: own.nsp, res: 'mine', mode: DLM_EXMODE });
  t.is(l.status, DLM_SUCCESS);
  const a = await locks(t, n.node);
  const p = a.dump.processes.find((x) => x.pid === w.pid)!;
  t.is(p.uid, 65534);
  t.is(p.gid, 65534);
  t.deepEqual(p.namespaces.map((x) => x.ns), ['user:65534']);
  // Root, on the same socket, gets the systemwide namespace: the answer depends on who connects.
  const root = await DlmClient.connect({ socketPath: n.sock });
  t.teardown(() => root.close());
  t.is((await root.nsjoin(0, DLM_USER)).status, DLM_SUCCESS);
});

test('the TypeScript client: routines, value blocks, cancel, SYNCSTS, notify, lkinfo', async (t) => {
  const n = await node(t);
  const c = await DlmClient.connect({ socketPath: n.sock });
  t.teardown(() => c.close());
  const o = await joinedWorker(t, n.sock);
  const { nsp } = await c.nsjoin(0, DLM_USER);
  const blk: unknown[] = [];
  const valb = new Uint8Array(32);
  const r = await c.lock(nsp!, 'T', DLM_EXMODE, { flags: DLM_VALB | DLM_SYNCSTS, valb, notprm: { who: 'me' }, blkrtn: (np, hint, lkid, mode) => blk.push({ np, hint, lkid, mode }) });
  t.is(r.status, DLM_SYNCH);
  // Another process asks for PR: our blocking routine hears its mode (the hint stays its own).
  const other = await o.w.call('lock', { nsp: o.nsp, res: 'T', mode: DLM_PRMODE });
  t.true(other.wait);
  await waitFor(() => blk.length === 1, 5000, 'the blocking routine');
  t.deepEqual(blk[0], { np: { who: 'me' }, hint: undefined, lkid: r.lkid, mode: DLM_PRMODE });
  const info = await c.getLkinfo(r.lkid!);
  t.is(info.status, DLM_SUCCESS);
  t.deepEqual(info.info!.notprm, { who: 'me' });
  t.is(typeof info.info!.blkrtn, 'function');
  t.is(info.info!.lk_pid, process.pid);
  // Down-convert EX -> NL writing the value block: the waiter is granted and reads it.
  valb.set(Buffer.from('hello'));
  t.is((await c.cvt(r.lkid!, DLM_NLMODE, { flags: DLM_VALB, valb })).status, DLM_SUCCESS);
  const granted = await o.w.waitEvent(other.id!);
  t.is(granted.status, DLM_SUCCESS);
  // A queued conversion back to EX, completion routine with notprm; cancel it (DLM_CANCEL).
  const cpl: number[] = [];
  t.is(await c.quecvt(r.lkid!, DLM_EXMODE, { notprm: 7, cplrtn: (np, _l, st) => cpl.push(np as number, st) }), DLM_SUCCESS);
  t.is(await c.cancel(r.lkid!), DLM_SUCCESS);
  await waitFor(() => cpl.length === 2, 5000, 'the completion routine');
  t.deepEqual(cpl, [7, 19 /* DLM_CANCEL */]);
  // Polling: after setSignal(0) a completion waits for notify().
  t.is((await c.setSignal(0)).status, DLM_SUCCESS);
  const done: number[] = [];
  const q = await c.quelock(nsp!, 'T', DLM_EXMODE, { cplrtn: (_np, _l, st) => done.push(st) });
  t.is(q.status, DLM_SUCCESS);
  t.is(await c.cancel(q.lkid!, DLM_CANCELWAITOK), DLM_SUCCESS);
  await sleep(100);
  t.deepEqual(done, [], 'nothing runs before notify()');
  t.is(await c.notify(), 1);
  t.deepEqual(done, [DLM_ABORT]);
  t.is(await c.notify(), 0);
  // Bad arguments are refused without reaching the node, or by the engine.
  t.is((await c.lock(nsp!, 'T', 0)).status, DLM_BADPARAM);
  t.is((await c.lock(nsp!, '', DLM_EXMODE)).status, 30 /* DLM_IVBUFLEN */);
  t.is(await c.unlock(r.lkid!), DLM_SUCCESS);
  t.is(await c.unlock(r.lkid!), 31 /* DLM_IVLOCKID */);
});

test('an unlock answered at once is carried out even when the process exits right after it', async (t) => {
  const n = await node(t);
  const h = await joinedWorker(t, n.sock);
  const wr = await joinedWorker(t, n.sock);
  const held = await h.w.call('lock', { nsp: h.nsp, res: 'E', mode: DLM_EXMODE, flags: DLM_VALB });
  t.is(held.status, DLM_SUCCESS);
  const waiting = await wr.w.call('lock', { nsp: wr.nsp, res: 'E', mode: DLM_PRMODE, flags: DLM_VALB });
  t.true(waiting.wait);
  h.w.send('unlockExit', { lkid: held.lkid, flags: DLM_VALB, valb: Buffer.from('e1').toString('hex') });
  t.is((await h.w.exited).code, 0);
  const done = await wr.w.waitEvent(waiting.id!);
  t.is(done.status, DLM_SUCCESS, 'released by the unlock, not by the death (the value block stays valid)');
  t.is(done.valb, Buffer.from('e1').toString('hex'));
});

test('unlocks whose outcome is not certain here wait for the node: sublocks, confirmUnlocks', async (t) => {
  const n = await node(t);
  const c = await DlmClient.connect({ socketPath: n.sock });
  t.teardown(() => c.close());
  const { nsp } = await c.nsjoin(0, DLM_USER);
  const parent = await c.lock(nsp!, 'parent', DLM_EXMODE);
  const child = await c.lock(nsp!, 'child', DLM_EXMODE, { parlkid: parent.lkid });
  t.is(child.status, DLM_SUCCESS);
  t.is(await c.unlock(parent.lkid!), 39 /* DLM_SUBLOCKS */, 'the node says no: the parent has a sublock');
  t.is(await c.unlock(child.lkid!), DLM_SUCCESS);
  t.is(await c.unlock(parent.lkid!), DLM_SUCCESS);
  t.is(await c.unlock(parent.lkid!), 31 /* DLM_IVLOCKID */, 'not held any more: asked, and refused');
  const warnings: Error[] = [];
  c.on('warning', (e: Error) => warnings.push(e));
  // A lock id never granted to us (forged): the node is asked and refuses.
  t.is(await c.unlock({ hndl: 999, seqn: 12345 }), 31);
  // With confirmUnlocks every unlock is a round trip; the results are the same.
  const s = await DlmClient.connect({ socketPath: n.sock, confirmUnlocks: true });
  t.teardown(() => s.close());
  const j = await s.nsjoin(0, DLM_USER | 0x4000);
  const l = await s.lock(j.nsp!, 'confirmed', DLM_EXMODE);
  t.is(await s.unlock(l.lkid!), DLM_SUCCESS);
  t.is(await s.unlock(l.lkid!), 31);
  t.deepEqual(warnings, []);
});

/** Sends raw bytes on a fresh connection; collects what comes back until the node closes or `ms` pass. */
function rawExchange(sock: string, chunks: Buffer[], ms = 300): Promise<{ data: Buffer; closed: boolean }> {
  return new Promise((resolve) => {
    const s = net.createConnection({ path: sock });
    const got: Buffer[] = [];
    let closed = false;
    s.on('data', (d) => got.push(d));
    s.on('error', () => undefined);
    s.on('close', () => { closed = true; finish(); });
    s.on('connect', () => { for (const c of chunks) s.write(c); });
    const timer = setTimeout(finish, ms);
    let done = false;
    function finish() {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve({ data: Buffer.concat(got), closed });
    }
  });
}

function frame(type: number, body: Buffer): Buffer {
  const h = Buffer.alloc(5);
  h.writeUInt32LE(body.length + 1, 0);
  h[4] = type;
  return Buffer.concat([h, body]);
}

/** The ERROR messages in a byte stream from the node. */
function errors(data: Buffer): { reqId: number; code: string }[] {
  const out: { reqId: number; code: string }[] = [];
  let p = 0;
  while (p + 5 <= data.length) {
    const len = data.readUInt32LE(p);
    if (data[p + 4] === MSG.ERROR) {
      const reqId = data.readUInt32LE(p + 5);
      const n = data.readUInt16LE(p + 9);
      out.push({ reqId, code: data.toString('utf8', p + 11, p + 11 + n) });
    }
    p += 4 + len;
  }
  return out;
}

test('bad frames: error answers or a closed connection, never a crash or a change of lock state', async (t) => {
  const n = await node(t);
  const h = await joinedWorker(t, n.sock);
  const wr = await joinedWorker(t, n.sock);
  const held = await h.w.call('lock', { nsp: h.nsp, res: 'F', mode: DLM_EXMODE, flags: DLM_VALB, valb: 'aa' });
  await h.w.call('cvt', { lkid: held.lkid, mode: DLM_EXMODE, flags: DLM_VALB, valb: 'abcd' });
  const waiting = await wr.w.call('lock', { nsp: wr.nsp, res: 'F', mode: DLM_PRMODE });
  t.true(waiting.wait);
  const before = await locks(t, n.node);

  // Deterministic cases first.
  const truncated = frame(OP.LOCK, Buffer.from([7, 0, 0, 0, 1, 0])); // reqId 7, then a cut-off nsp
  let r = await rawExchange(n.sock, [truncated]);
  t.deepEqual(errors(r.data), [{ reqId: 7, code: 'EPROTO' }]);
  t.false(r.closed, 'a malformed but delimited frame keeps the connection');
  r = await rawExchange(n.sock, [frame(99, Buffer.from([9, 0, 0, 0]))]);
  t.deepEqual(errors(r.data), [{ reqId: 9, code: 'EOPNOTSUPP' }]);
  const huge = Buffer.alloc(8);
  huge.writeUInt32LE(0x7fffffff, 0);
  r = await rawExchange(n.sock, [huge], 2000);
  t.deepEqual(errors(r.data).map((e) => e.code), ['EMSGSIZE']);
  t.true(r.closed, 'an oversized frame closes the connection');
  r = await rawExchange(n.sock, [Buffer.alloc(4)]); // a zero-length frame
  t.deepEqual(errors(r.data).map((e) => e.code), ['EPROTO']);
  // Trailing bytes after a complete request are malformed too.
  const nsjoin = Buffer.alloc(12);
  nsjoin.writeUInt32LE(5, 0);
  r = await rawExchange(n.sock, [frame(OP.NSJOIN, Buffer.concat([nsjoin, Buffer.from([1])]))]);
  t.deepEqual(errors(r.data), [{ reqId: 5, code: 'EPROTO' }]);

  // Then fuzz: random bytes, random bodies with valid lengths, truncated and split valid frames.
  let seed = 12345;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => rnd(256)));
  const lockBody = (reqId: number) => {
    const b = Buffer.alloc(4 + 4 + 1 + 4 + 4 + 4 + 1 + 2);
    let o = b.writeUInt32LE(reqId, 0);
    o = b.writeUInt32LE(1, o); // nsp
    b[o++] = DLM_EXMODE;
    o = b.writeUInt32LE(0, o);
    o = b.writeUInt32LE(0, o);
    o = b.writeUInt32LE(0, o);
    b[o++] = 0;
    b[o++] = 1;
    b[o++] = 0x46; // "F"
    return b;
  };
  const cases: Buffer[][] = [];
  for (let i = 0; i < 60; i++) {
    switch (i % 6) {
      case 0: cases.push([bytes(1 + rnd(200))]); break;
      case 1: cases.push([frame(1 + rnd(25), bytes(rnd(80)))]); break;
      case 2: { const f = frame(OP.LOCK, lockBody(i)); cases.push([f.subarray(0, 1 + rnd(f.length - 1))]); break; }
      case 3: { const f = frame(OP.QUELOCK, lockBody(i)); const cut = 1 + rnd(f.length - 1); cases.push([f.subarray(0, cut), f.subarray(cut)]); break; }
      case 4: { const b = bytes(5 + rnd(40)); b.writeUInt32LE(b.length - 4, 0); cases.push([b]); break; }
      case 5: { const b = Buffer.concat([frame(OP.UNLOCK, bytes(rnd(30))), bytes(rnd(20))]); cases.push([b]); break; }
    }
  }
  for (let i = 0; i < cases.length; i += 10) {
    await Promise.all(cases.slice(i, i + 10).map((c) => rawExchange(n.sock, c, 150)));
  }
  t.true(pidAlive(n.pid), 'the daemon survived');
  // Everything the fuzzing connections did died with them: the state is as before.
  await waitFor(async () => {
    const a = await locks(t, n.node);
    return a.dump.processes.length === before.dump.processes.length;
  }, 10000, 'the fuzzing connections to be gone');
  const after = await locks(t, n.node);
  t.deepEqual(after.dump.namespaces, before.dump.namespaces);
  t.is(after.dump.locks, before.dump.locks);
  const log = fs.readFileSync(cluster.logFile(n.node), 'utf8');
  t.notRegex(log, /uncaught|unhandled/i);
  // And the clients still work: the holder unlocks, the waiter gets PR with the written value block.
  t.is((await h.w.call('unlock', { lkid: held.lkid })).status, DLM_SUCCESS);
  t.is((await wr.w.waitEvent(waiting.id!)).status, DLM_SUCCESS);
});

test('dmapifs locks: usage errors and a node that does not run', async (t) => {
  let r = await cluster.cli(['locks', '--bogus']);
  t.is(r.code, 2);
  r = await cluster.cli(['locks', '--node', 'nobody-runs-this']);
  t.is(r.code, 1);
  t.regex(r.stderr, /no daemon/);
});
