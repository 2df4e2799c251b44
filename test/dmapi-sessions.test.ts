// DMAPI sessions through a real daemon: create/assume/destroy/query/getall with every errno the
// reference names; root only (SO_PEERCRED); ENOTREADY without a daemon; sessions outliving their
// creator and a kill -9 of the node daemon (journal recovery).
import test from 'ava';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { useCluster, waitFor, pidAlive, REPO } from './helpers/cluster';
import { userData } from './helpers/events';
import { connect, DmapiClient, DmapiError } from '../src/dmapi';
import * as C from '../src/dmapi/constants';

const cluster = useCluster();

async function dmapiMount(files: Record<string, string> = {}) {
  const backing = cluster.tmpDir(null, 'dmfs-back-');
  cluster.writeFiles(backing, files);
  const mnt = cluster.tmpDir(null, 'dmfs-mnt-');
  const node = cluster.uniqueNode('dm');
  const r = await cluster.cli(['mount', '--node', node, '--dmapi', '--mount-event-optional', backing, mnt]);
  if (r.code !== 0) throw new Error(`mount --dmapi failed: ${r.stderr}`);
  const dm = await connect({ node, runDir: cluster.runDir });
  return { node, backing, mnt, dm };
}

async function errno(t: import('ava').ExecutionContext, p: Promise<unknown>, code: string): Promise<DmapiError> {
  const e = await t.throwsAsync(p, { instanceOf: DmapiError });
  t.is(e?.code, code);
  return e as DmapiError;
}

let env: Awaited<ReturnType<typeof dmapiMount>>;
test.before(async () => { env = await dmapiMount({ f: 'x' }); });
test.after.always(() => env?.dm.close());

test('dm_init_service returns the version string', async (t) => {
  t.regex(await env.dm.initService(), /DMAPI/);
});

test('create_session: new session, info kept, sid != DM_NO_SESSION', async (t) => {
  const sid = await env.dm.createSession(C.DM_NO_SESSION, 'test1');
  t.not(sid, C.DM_NO_SESSION);
  t.is(await env.dm.querySession(sid), 'test1');
  await env.dm.destroySession(sid);
});

test('create_session: two sessions may share an info string', async (t) => {
  const a = await env.dm.createSession(0, 'same');
  const b = await env.dm.createSession(0, 'same');
  t.not(a, b);
  await env.dm.destroySession(a);
  await env.dm.destroySession(b);
});

test('create_session: oldsid never created → EINVAL', async (t) => {
  await errno(t, env.dm.createSession(987654, 'x'), 'EINVAL');
});

test('create_session: oldsid destroyed → EINVAL', async (t) => {
  const sid = await env.dm.createSession(0, 'gone');
  await env.dm.destroySession(sid);
  await errno(t, env.dm.createSession(sid, 'x'), 'EINVAL');
});

test('create_session: 256-byte info → E2BIG, 255 bytes + NUL fits', async (t) => {
  await errno(t, env.dm.createSession(0, 'a'.repeat(256)), 'E2BIG');
  const sid = await env.dm.createSession(0, 'b'.repeat(255));
  t.is(await env.dm.querySession(sid), 'b'.repeat(255));
  await env.dm.destroySession(sid);
});

test('create_session: assuming a live session returns the same id (GPFS) with the new info', async (t) => {
  const sid = await env.dm.createSession(0, 'old');
  t.is(await env.dm.createSession(sid, 'new'), sid);
  t.is(await env.dm.querySession(sid), 'new');
  await env.dm.destroySession(sid);
});

test('destroy_session: DM_NO_SESSION and destroyed sid → EINVAL', async (t) => {
  await errno(t, env.dm.destroySession(C.DM_NO_SESSION), 'EINVAL');
  const sid = await env.dm.createSession(0, 'x');
  await env.dm.destroySession(sid);
  await errno(t, env.dm.destroySession(sid), 'EINVAL');
});

test('destroy_session: outstanding token → EBUSY, after responding → 0', async (t) => {
  const sid = await env.dm.createSession(0, 'busy');
  const tok = await env.dm.createUserevent(sid, Buffer.from('u'));
  await errno(t, env.dm.destroySession(sid), 'EBUSY');
  await env.dm.respondEvent(sid, tok, C.DM_RESP_CONTINUE, 0);
  await env.dm.destroySession(sid);
  t.pass();
});

test('destroy_session: undelivered message → EBUSY', async (t) => {
  const sid = await env.dm.createSession(0, 'queued');
  await env.dm.sendMsg(sid, C.DM_MSGTYPE_ASYNC, Buffer.from('m'));
  await errno(t, env.dm.destroySession(sid), 'EBUSY');
  await env.dm.getEvents(sid, 0, 0);
  await env.dm.destroySession(sid);
  t.pass();
});

test('destroy_session: a dm_get_events waiting → EBUSY', async (t) => {
  const sid = await env.dm.createSession(0, 'waiter');
  const other = await connect({ node: env.node, runDir: cluster.runDir });
  const waiting = other.getEvents(sid, 0, C.DM_EV_WAIT).catch((e) => e);
  await new Promise((r) => setTimeout(r, 100));
  await errno(t, env.dm.destroySession(sid), 'EBUSY');
  await env.dm.sendMsg(sid, C.DM_MSGTYPE_ASYNC, Buffer.from('wake'));
  const got = await waiting;
  t.is((got as unknown[]).length, 1);
  other.close();
  await env.dm.destroySession(sid);
});

test('query_session: buflen 0 → E2BIG with rlen = strlen+1; DM_NO_SESSION → EINVAL', async (t) => {
  const sid = await env.dm.createSession(0, 'test1');
  const e = await errno(t, env.dm.querySession(sid, 0), 'E2BIG');
  t.is(Number(e.fields.rlen), 6);
  t.is(await env.dm.querySession(sid, 6), 'test1');
  await errno(t, env.dm.querySession(C.DM_NO_SESSION), 'EINVAL');
  await env.dm.destroySession(sid);
});

test('getall_sessions: nelem too small → E2BIG with the count; enough → all ids', async (t) => {
  const mine = [await env.dm.createSession(0, 'g1'), await env.dm.createSession(0, 'g2')];
  const all = await env.dm.getallSessions();
  for (const s of mine) t.true(all.includes(s));
  const e = await errno(t, env.dm.getallSessions(0), 'E2BIG');
  t.true(Number(e.fields.nelem) >= 2);
  for (const s of mine) await env.dm.destroySession(s);
});

test('sessions outlive the client that created them (kill -9 of the client)', async (t) => {
  const script = `
    const { connect } = require(${JSON.stringify(path.join(REPO, 'dist/src/dmapi'))});
    (async () => {
      const dm = await connect({ node: ${JSON.stringify(env.node)}, runDir: ${JSON.stringify(cluster.runDir)} });
      const sid = await dm.createSession(0, 'orphan');
      const tok = await dm.createUserevent(sid, Buffer.from('held'));
      process.stdout.write(sid + ' ' + tok + '\\n');
      setInterval(() => {}, 1000);
    })();`;
  const { spawn } = await import('child_process');
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve) => child.stdout!.once('data', (d) => resolve(String(d))));
  const [sid, tok] = line.trim().split(' ').map(Number);
  child.kill('SIGKILL');
  await waitFor(() => child.exitCode !== null || child.signalCode !== null, 5000, 'client exit');
  t.true((await env.dm.getallSessions()).includes(sid));
  t.is(await env.dm.querySession(sid), 'orphan');
  t.deepEqual(await env.dm.getallTokens(sid), [tok]);
  // A new process assumes it and answers the outstanding event.
  t.is(await env.dm.createSession(sid, 'orphan'), sid);
  await env.dm.respondEvent(sid, tok, C.DM_RESP_CONTINUE, 0);
  await env.dm.destroySession(sid);
});

test('a non-root caller gets EPERM for every call (SO_PEERCRED)', async (t) => {
  const script = `
    const { connect } = require(${JSON.stringify(path.join(REPO, 'dist/src/dmapi'))});
    (async () => {
      const dm = await connect({ node: ${JSON.stringify(env.node)}, runDir: ${JSON.stringify(cluster.runDir)} });
      const out = [];
      for (const f of [() => dm.initService(), () => dm.createSession(0, 'x'), () => dm.getallSessions()]) {
        try { await f(); out.push('ok'); } catch (e) { out.push(e.code); }
      }
      console.log(out.join(','));
      dm.close();
    })().catch((e) => { console.log('connect:' + e.code); });`;
  fs.chmodSync(cluster.runDir, 0o755);
  const dir = path.join(cluster.runDir, env.node);
  const mode = fs.statSync(dir).mode & 0o777;
  if ((mode & 0o011) === 0) {
    // A node run directory closed to others: the socket cannot even be reached; the client says EPERM.
    const r0 = spawnSync(process.execPath, ['-e', script], { uid: 65534, gid: 65534, encoding: 'utf8', cwd: '/' });
    t.is(r0.stdout.trim(), 'connect:EPERM', r0.stderr);
  }
  // Reachable: the daemon's own check (SO_PEERCRED) refuses every call.
  fs.chmodSync(dir, 0o711);
  try {
    const r = spawnSync(process.execPath, ['-e', script], { uid: 65534, gid: 65534, encoding: 'utf8', cwd: '/' });
    t.is(r.stdout.trim(), 'EPERM,EPERM,EPERM', r.stderr);
  } finally {
    fs.chmodSync(dir, mode);
  }
});

test('no daemon running → ENOTREADY', async (t) => {
  const e = await t.throwsAsync(connect({ node: 'no-such-node', runDir: cluster.runDir }), { instanceOf: DmapiError });
  t.is(e?.code, 'ENOTREADY');
  t.is(e?.errno, C.ENOTREADY);
});

test('a call on a connection whose daemon died → ENOTREADY', async (t) => {
  const e2 = await dmapiMount();
  const pid = cluster.daemonPid(e2.node)!;
  process.kill(pid, 'SIGKILL');
  await waitFor(() => !pidAlive(pid), 5000, 'daemon death');
  await errno(t, e2.dm.getallSessions(), 'ENOTREADY');
  e2.dm.close();
});

test('kill -9 of the node daemon: same session ids, dispositions kept, pending sync events back as not received (ESRCH until re-received), tokens kept', async (t) => {
  const e2 = await dmapiMount({ f: 'x' });
  const dm = e2.dm;
  const sid = await dm.createSession(0, 'hsm-recover');
  const fsh = await dm.pathToFshandle(e2.mnt);
  await dm.setDisp(sid, fsh, C.DM_NO_TOKEN, [C.DM_EVENT_RENAME, C.DM_EVENT_DESTROY]);
  // A synchronous user event, received (outstanding) before the crash.
  const other = await connect({ node: e2.node, runDir: cluster.runDir });
  const sending = other.sendMsg(sid, C.DM_MSGTYPE_SYNC, Buffer.from('sync-1')).catch((e) => e);
  const [ev] = await dm.getEvents(sid, 0, C.DM_EV_WAIT);
  t.is(userData(ev).toString(), 'sync-1');
  await dm.sendMsg(sid, C.DM_MSGTYPE_ASYNC, Buffer.from('async-lost'));
  const pid = cluster.daemonPid(e2.node)!;
  process.kill(pid, 'SIGKILL');
  await waitFor(() => !pidAlive(pid), 5000, 'daemon death');
  t.is(((await sending) as DmapiError).code, 'ENOTREADY');
  dm.close();
  other.close();
  // Restart the daemon and mount again.
  await cluster.cli(['umount', e2.mnt]);
  const r = await cluster.cli(['mount', '--node', e2.node, '--mount-event-optional', e2.backing, e2.mnt]);
  t.is(r.code, 0, r.stderr);
  const dm2 = await connect({ node: e2.node, runDir: cluster.runDir });
  t.teardown(() => dm2.close());
  t.true((await dm2.getallSessions()).includes(sid));
  t.is(await dm2.querySession(sid), 'hsm-recover');
  // Recovered token: exists but not outstanding → ESRCH; getall_tokens empty.
  await errno(t, dm2.respondEvent(sid, ev.token, C.DM_RESP_CONTINUE, 0), 'ESRCH');
  t.deepEqual(await dm2.getallTokens(sid), []);
  // Assume: same id.
  t.is(await dm2.createSession(sid, 'hsm-recover'), sid);
  const disp = await dm2.getallDisp(sid);
  t.is(disp.length, 1);
  t.deepEqual(disp[0].events, [C.DM_EVENT_RENAME, C.DM_EVENT_DESTROY]);
  t.deepEqual(disp[0].fsHandle, fsh);
  // The sync event comes again with the same token; the async one is lost.
  const again = await dm2.getEvents(sid, 0, 0);
  t.is(again.length, 1);
  t.is(again[0].token, ev.token);
  t.is(userData(again[0]).toString(), 'sync-1');
  t.deepEqual(await dm2.getallTokens(sid), [ev.token]);
  await dm2.respondEvent(sid, ev.token, C.DM_RESP_CONTINUE, 0);
  await errno(t, dm2.respondEvent(sid, ev.token, C.DM_RESP_CONTINUE, 0), 'ESRCH');
  // New tokens never reuse old ids.
  const tok2 = await dm2.createUserevent(sid, Buffer.from('n'));
  t.true(tok2 > ev.token);
  await dm2.respondEvent(sid, tok2, C.DM_RESP_CONTINUE, 0);
  await dm2.setDisp(sid, fsh, C.DM_NO_TOKEN, []);
  await dm2.destroySession(sid);
});

export type { DmapiClient };
