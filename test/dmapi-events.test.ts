// The DMAPI event queue through a real daemon: get_events, respond_event, find_eventmsg,
// getall_tokens, move_event, pending, create_userevent, send_msg — success and every errno.
import test, { ExecutionContext } from 'ava';
import { useCluster } from './helpers/cluster';
import { userData } from './helpers/events';
import { connect, DmapiError } from '../src/dmapi';
import * as C from '../src/dmapi/constants';
import { EVENTMSG_SIZE, walkChain } from '../src/dmapi/layouts';

const cluster = useCluster();
let node = '';
let dm: Awaited<ReturnType<typeof connect>>;

test.before(async () => {
  const backing = cluster.tmpDir(null, 'dmfs-back-');
  const mnt = cluster.tmpDir(null, 'dmfs-mnt-');
  node = cluster.uniqueNode('dm');
  const r = await cluster.cli(['mount', '--node', node, '--dmapi', '--mount-event-optional', backing, mnt]);
  if (r.code !== 0) throw new Error(r.stderr);
  dm = await connect({ node, runDir: cluster.runDir });
});
test.after.always(() => dm?.close());

async function errno(t: ExecutionContext, p: Promise<unknown>, code: string): Promise<DmapiError> {
  const e = await t.throwsAsync(p, { instanceOf: DmapiError });
  t.is(e?.code, code);
  return e as DmapiError;
}
const session = (t: ExecutionContext, info = 'ev') => dm.createSession(0, info).then((sid) => {
  t.teardown(async () => {
    for (const tok of await dm.getallTokens(sid).catch(() => [])) await dm.respondEvent(sid, tok, C.DM_RESP_CONTINUE, 0).catch(() => undefined);
    await dm.getEvents(sid, 0, 0).catch(() => undefined);
    await dm.destroySession(sid).catch(() => undefined);
  });
  return sid;
});

test('get_events: empty queue without DM_EV_WAIT → EAGAIN', async (t) => {
  const sid = await session(t);
  await errno(t, dm.getEvents(sid, 0, 0), 'EAGAIN');
});

test('get_events: invalid sid → EINVAL; unknown flags → EINVAL', async (t) => {
  await errno(t, dm.getEvents(424242, 0, 0), 'EINVAL');
  const sid = await session(t);
  await errno(t, dm.getEvents(sid, 0, 0x80), 'EINVAL');
});

test('get_events: DM_EV_WAIT blocks until a message arrives', async (t) => {
  const sid = await session(t);
  const other = await connect({ node, runDir: cluster.runDir });
  t.teardown(() => other.close());
  let done = false;
  const p = other.getEvents(sid, 0, C.DM_EV_WAIT).then((m) => { done = true; return m; });
  await new Promise((r) => setTimeout(r, 150));
  t.false(done);
  await dm.sendMsg(sid, C.DM_MSGTYPE_ASYNC, Buffer.from('wake'));
  const msgs = await p;
  t.is(userData(msgs[0]).toString(), 'wake');
});

test('get_events: maxmsgs 1 returns one message, the next call the other; chained with _link', async (t) => {
  const sid = await session(t);
  await dm.sendMsg(sid, C.DM_MSGTYPE_ASYNC, Buffer.from('one'));
  await dm.sendMsg(sid, C.DM_MSGTYPE_ASYNC, Buffer.from('two'));
  const a = await dm.getEvents(sid, 1, 0);
  t.deepEqual(a.map((m) => userData(m).toString()), ['one']);
  await dm.sendMsg(sid, C.DM_MSGTYPE_ASYNC, Buffer.from('three'));
  const raw = await dm.getEventsRaw(sid, 0, 0);
  const offs = walkChain(raw);
  t.is(offs.length, 2);
  t.is(raw.readInt32LE(offs[0]), 32); // 24-byte header + 3 bytes, padded to 8
  t.is(raw.readInt32LE(offs[1]), 0);
  t.is(raw.readInt32LE(offs[1] + 4), C.DM_EVENT_USER);
});

test('get_events: first message larger than the buffer → E2BIG with the size; it stays queued', async (t) => {
  const sid = await session(t);
  await dm.sendMsg(sid, C.DM_MSGTYPE_ASYNC, Buffer.alloc(100, 1));
  const e = await errno(t, dm.getEvents(sid, 0, 0, 50), 'E2BIG');
  t.is(Number(e.fields.rlen), EVENTMSG_SIZE + 100);
  const m = await dm.getEvents(sid, 0, 0, 124);
  t.is(userData(m[0]).length, 100);
});

test('async messages carry DM_INVALID_TOKEN and are not in getall_tokens', async (t) => {
  const sid = await session(t);
  await dm.sendMsg(sid, C.DM_MSGTYPE_ASYNC, Buffer.from('a'));
  const [m] = await dm.getEvents(sid, 0, 0);
  t.is(m.token, C.DM_INVALID_TOKEN);
  t.deepEqual(await dm.getallTokens(sid), []);
});

test('send_msg SYNC blocks until answered: CONTINUE → 0, ABORT(12) → errno 12', async (t) => {
  const sid = await session(t);
  const p1 = dm.sendMsg(sid, C.DM_MSGTYPE_SYNC, Buffer.from('s1'));
  const [m1] = await dm.getEvents(sid, 0, C.DM_EV_WAIT);
  t.true(m1.token > 0);
  t.deepEqual(await dm.getallTokens(sid), [m1.token]);
  await dm.respondEvent(sid, m1.token, C.DM_RESP_CONTINUE, 0);
  await p1;
  const p2 = dm.sendMsg(sid, C.DM_MSGTYPE_SYNC, Buffer.from('s2'));
  const [m2] = await dm.getEvents(sid, 0, C.DM_EV_WAIT);
  await dm.respondEvent(sid, m2.token, C.DM_RESP_ABORT, 12);
  const e = await t.throwsAsync(p2, { instanceOf: DmapiError });
  t.is(e?.errno, 12);
});

test('send_msg: invalid msgtype → EINVAL; too long → E2BIG; bad sid → EINVAL', async (t) => {
  const sid = await session(t);
  await errno(t, dm.sendMsg(sid, C.DM_MSGTYPE_INVALID, Buffer.from('x')), 'EINVAL');
  await errno(t, dm.sendMsg(sid, C.DM_MSGTYPE_ASYNC, Buffer.alloc(C.MAX_MESSAGE_DATA + 1)), 'E2BIG');
  await errno(t, dm.sendMsg(777777, C.DM_MSGTYPE_ASYNC, Buffer.from('x')), 'EINVAL');
});

test('respond_event: CONTINUE with an errno → EINVAL; ABORT with 0 → EINVAL; INVALID → EINVAL', async (t) => {
  const sid = await session(t);
  const tok = await dm.createUserevent(sid, Buffer.from('u'));
  await errno(t, dm.respondEvent(sid, tok, C.DM_RESP_CONTINUE, 5), 'EINVAL');
  await errno(t, dm.respondEvent(sid, tok, C.DM_RESP_ABORT, 0), 'EINVAL');
  await errno(t, dm.respondEvent(sid, tok, C.DM_RESP_INVALID, 0), 'EINVAL');
  await dm.respondEvent(sid, tok, C.DM_RESP_ABORT, 12);
  t.pass();
});

test('respond_event: DONTCARE on a non-MOUNT event → EINVAL', async (t) => {
  const sid = await session(t);
  const tok = await dm.createUserevent(sid, Buffer.from('u'));
  await errno(t, dm.respondEvent(sid, tok, C.DM_RESP_DONTCARE, 0), 'EINVAL');
});

test('respond_event: twice on one token → ESRCH', async (t) => {
  const sid = await session(t);
  const tok = await dm.createUserevent(sid, Buffer.from('u'));
  await dm.respondEvent(sid, tok, C.DM_RESP_CONTINUE, 0);
  await errno(t, dm.respondEvent(sid, tok, C.DM_RESP_CONTINUE, 0), 'ESRCH');
});

test('respond_event: DM_NO_TOKEN, DM_INVALID_TOKEN, never-issued token → EINVAL', async (t) => {
  const sid = await session(t);
  await errno(t, dm.respondEvent(sid, C.DM_NO_TOKEN, C.DM_RESP_CONTINUE, 0), 'EINVAL');
  await errno(t, dm.respondEvent(sid, C.DM_INVALID_TOKEN, C.DM_RESP_CONTINUE, 0), 'EINVAL');
  await errno(t, dm.respondEvent(sid, 0x7ffffff0, C.DM_RESP_CONTINUE, 0), 'EINVAL');
});

test('respond_event: response data over MAX_MESSAGE_DATA → E2BIG', async (t) => {
  const sid = await session(t);
  const tok = await dm.createUserevent(sid, Buffer.from('u'));
  await errno(t, dm.respondEvent(sid, tok, C.DM_RESP_CONTINUE, 0, Buffer.alloc(C.MAX_MESSAGE_DATA + 1)), 'E2BIG');
});

test('respond_event: a sync event queued but not yet received → ESRCH', async (t) => {
  const sid = await session(t);
  const p1 = dm.sendMsg(sid, C.DM_MSGTYPE_SYNC, Buffer.from('s1'));
  const p2 = dm.sendMsg(sid, C.DM_MSGTYPE_SYNC, Buffer.from('s2'));
  const [m1] = await dm.getEvents(sid, 1, C.DM_EV_WAIT);
  // Tokens are issued in order: the second message's token exists but it was not received.
  await errno(t, dm.respondEvent(sid, m1.token + 1, C.DM_RESP_CONTINUE, 0), 'ESRCH');
  const [m2] = await dm.getEvents(sid, 1, C.DM_EV_WAIT);
  t.is(m2.token, m1.token + 1);
  await dm.respondEvent(sid, m1.token, C.DM_RESP_CONTINUE, 0);
  await dm.respondEvent(sid, m2.token, C.DM_RESP_CONTINUE, 0);
  await Promise.all([p1, p2]);
});

test('create_userevent: tokens in getall_tokens; message too long → E2BIG; bad sid → EINVAL', async (t) => {
  const sid = await session(t);
  const a = await dm.createUserevent(sid, Buffer.from('a'));
  const b = await dm.createUserevent(sid, Buffer.from('b'));
  t.deepEqual((await dm.getallTokens(sid, 10)).sort(), [a, b].sort());
  await errno(t, dm.createUserevent(sid, Buffer.alloc(C.MAX_MESSAGE_DATA + 1)), 'E2BIG');
  await errno(t, dm.createUserevent(555555, Buffer.from('x')), 'EINVAL');
  // No message is queued for a user event.
  await errno(t, dm.getEvents(sid, 0, 0), 'EAGAIN');
});

test('getall_tokens: nelem too small → E2BIG with the count; bad sid → EINVAL', async (t) => {
  const sid = await session(t);
  await dm.createUserevent(sid, Buffer.from('a'));
  const e = await errno(t, dm.getallTokens(sid, 0), 'E2BIG');
  t.is(Number(e.fields.nelem), 1);
  await errno(t, dm.getallTokens(666666), 'EINVAL');
});

test('find_eventmsg: the received message again; too small → E2BIG; bad token → EINVAL', async (t) => {
  const sid = await session(t);
  const p = dm.sendMsg(sid, C.DM_MSGTYPE_SYNC, Buffer.from('find me'));
  const [m] = await dm.getEvents(sid, 0, 0).catch(async () => { await new Promise((r) => setTimeout(r, 50)); return dm.getEvents(sid, 0, C.DM_EV_WAIT); });
  const again = await dm.findEventmsg(sid, m.token);
  t.is(again.token, m.token);
  t.is(userData(again).toString(), 'find me');
  const e = await errno(t, dm.findEventmsg(sid, m.token, 10), 'E2BIG');
  t.is(Number(e.fields.rlen), EVENTMSG_SIZE + 7);
  await errno(t, dm.findEventmsg(sid, C.DM_NO_TOKEN), 'EINVAL');
  await dm.respondEvent(sid, m.token, C.DM_RESP_CONTINUE, 0);
  await p;
});

test('move_event: moves an outstanding event; the old session no longer has it (ESRCH)', async (t) => {
  const s1 = await session(t, 'src');
  const s2 = await session(t, 'dst');
  const tok = await dm.createUserevent(s1, Buffer.from('m'));
  const rtok = await dm.moveEvent(s1, tok, s2);
  t.deepEqual(await dm.getallTokens(s2), [rtok]);
  t.deepEqual(await dm.getallTokens(s1), []);
  await errno(t, dm.respondEvent(s1, tok, C.DM_RESP_CONTINUE, 0), 'ESRCH');
  await dm.respondEvent(s2, rtok, C.DM_RESP_CONTINUE, 0);
});

test('move_event: same session allowed; bad target → EINVAL; token not in source → ESRCH', async (t) => {
  const s1 = await session(t, 'src');
  const s2 = await session(t, 'other');
  const tok = await dm.createUserevent(s1, Buffer.from('m'));
  t.is(await dm.moveEvent(s1, tok, s1), tok);
  await errno(t, dm.moveEvent(s1, tok, 919191), 'EINVAL');
  await errno(t, dm.moveEvent(s2, tok, s1), 'ESRCH');
});

test('pending: on an outstanding token → 0; answered token → ESRCH; bad delay → EINVAL', async (t) => {
  const sid = await session(t);
  const tok = await dm.createUserevent(sid, Buffer.from('p'));
  await dm.pending(sid, tok, { sec: 1, nsec: 0 });
  await errno(t, dm.pending(sid, tok, { sec: 0, nsec: 2e9 }), 'EINVAL');
  await dm.respondEvent(sid, tok, C.DM_RESP_CONTINUE, 0);
  await errno(t, dm.pending(sid, tok), 'ESRCH');
});

test('events() async iterator yields messages as they come', async (t) => {
  const sid = await session(t);
  const other = await connect({ node, runDir: cluster.runDir });
  const it = other.events(sid);
  await dm.sendMsg(sid, C.DM_MSGTYPE_ASYNC, Buffer.from('i1'));
  await dm.sendMsg(sid, C.DM_MSGTYPE_ASYNC, Buffer.from('i2'));
  const got: string[] = [];
  for await (const m of it) {
    got.push(userData(m).toString());
    if (got.length === 2) break;
  }
  t.deepEqual(got, ['i1', 'i2']);
  other.close();
});
