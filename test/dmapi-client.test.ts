// The TypeScript DMAPI client as a TypeScript developer uses it, against a real node daemon:
// errors carry the daemon's reason and the caller's stack; connect() finds this host's node as
// libdm does; events({ signal }) stops on an abort without losing a message; `resume` rides a
// daemon restart out; event messages are typed per event (DM attribute names as strings).
import test from 'ava';
import * as fs from 'fs';
import { useCluster, waitFor, pidAlive } from './helpers/cluster';
import { dmapiMount } from './helpers/dmapi-mount';
import { connect, DmapiError, isEvent, type DmEventMsg, type DmUserEvent } from '../src/dmapi';
import { defaultNodeName } from '../src/common/paths';
import * as C from '../src/dmapi/constants';

const cluster = useCluster();

async function startNode(t: import('ava').ExecutionContext, node = cluster.uniqueNode('cl')): Promise<string> {
  await cluster.cliOk(t, ['node', 'start', '--node', node]);
  t.teardown(() => cluster.cli(['node', 'stop', '--node', node]).then(() => undefined));
  return node;
}

test('DmapiError: errno, code, the daemon\'s reason and the caller\'s stack', async (t) => {
  const node = await startNode(t);
  const dm = await connect({ node, runDir: cluster.runDir });
  t.teardown(() => dm.close());
  async function callerOfTheFailingCall() {
    return await dm.createSession(987654, 'nobody');
  }
  const e = await t.throwsAsync(callerOfTheFailingCall(), { instanceOf: DmapiError });
  t.is(e!.code, 'EINVAL');
  t.is(e!.errno, C.E.EINVAL);
  t.is(e!.op, 'CREATE_SESSION');
  t.regex(e!.reason, /no session 987654 to assume/);
  t.is(e!.message, 'create_session: EINVAL: no session 987654 to assume');
  t.regex(e!.stack ?? '', /callerOfTheFailingCall/, 'the stack reaches the caller');
  // E2BIG still carries the size needed next to the reason.
  const sid = await dm.createSession(C.DM_NO_SESSION, 'a description longer than ten bytes');
  const big = await t.throwsAsync(dm.querySession(sid, 10), { instanceOf: DmapiError });
  t.is(big!.code, 'E2BIG');
  t.true(Number(big!.fields.rlen) > 10);
  await dm.destroySession(sid);
  // No daemon: ENOTREADY, saying where it looked.
  const none = await t.throwsAsync(connect({ node: 'no-such-node', runDir: cluster.runDir }), { instanceOf: DmapiError });
  t.is(none!.code, 'ENOTREADY');
  t.regex(none!.reason, /no-such-node\/dmapi\.sock/);
});

test('connect() with no node: $DMAPIFS_NODE, else the host name, as libdm', async (t) => {
  const host = await startNode(t, defaultNodeName());
  const other = await startNode(t);
  const saved = process.env.DMAPIFS_NODE;
  t.teardown(() => { if (saved === undefined) delete process.env.DMAPIFS_NODE; else process.env.DMAPIFS_NODE = saved; });
  delete process.env.DMAPIFS_NODE;
  const a = await connect({ runDir: cluster.runDir });
  t.is(a.socketPath, `${cluster.runDir}/${host}/dmapi.sock`);
  t.regex(await a.initService(), /DMAPI/);
  a.close();
  process.env.DMAPIFS_NODE = other;
  const b = await connect({ runDir: cluster.runDir });
  t.is(b.socketPath, `${cluster.runDir}/${other}/dmapi.sock`);
  t.regex(await b.initService(), /DMAPI/);
  b.close();
});

test('events({ signal }): an abort ends the iterator; a message sent afterwards is not lost', async (t) => {
  const node = await startNode(t);
  const dm = await connect({ node, runDir: cluster.runDir });
  t.teardown(() => dm.close());
  const sid = await dm.createSession(C.DM_NO_SESSION, 'abortable');
  const ac = new AbortController();
  const got: string[] = [];
  const loop = (async () => {
    for await (const ev of dm.events(sid, { signal: ac.signal })) {
      if (isEvent(ev, C.DM_EVENT_USER)) got.push(ev.data.toString());
    }
    return 'ended';
  })();
  await dm.sendMsg(sid, C.DM_MSGTYPE_ASYNC, Buffer.from('before'));
  await waitFor(() => got.length === 1, 5000, 'the first message');
  await new Promise((r) => setTimeout(r, 100)); // the iterator waits again
  ac.abort();
  t.is(await loop, 'ended');
  // The daemon cancelled the aborted wait: the next message stays queued for the next reader.
  // (A message the daemon sends in the instant of the abort would be received but not delivered:
  // give it the moment it needs to see the connection close, as a real HSM's next event does.)
  await new Promise((r) => setTimeout(r, 200));
  await dm.sendMsg(sid, C.DM_MSGTYPE_ASYNC, Buffer.from('after'));
  const [m] = await dm.getEvents(sid, 0, C.DM_EV_WAIT);
  t.is(m.type, C.DM_EVENT_USER);
  t.is((m as DmUserEvent).data.toString(), 'after');
  t.deepEqual(got, ['before']);
  // An aborted signal ends at once; the session is free to go.
  const done = new AbortController();
  done.abort();
  for await (const ev of dm.events(sid, { signal: done.signal })) t.fail(`unexpected ${ev.type}`);
  await waitFor(() => dm.destroySession(sid).then(() => true, () => false), 5000, 'the session destroyed');
});

test('events({ resume: true }): the daemon is killed and restarted; the session is assumed again and events flow', async (t) => {
  const node = await startNode(t);
  const dm = await connect({ node, runDir: cluster.runDir });
  t.teardown(() => dm.close());
  const sid = await dm.createSession(C.DM_NO_SESSION, 'resumer');
  const ac = new AbortController();
  t.teardown(() => ac.abort());
  const seen: DmEventMsg[] = [];
  const loop = (async () => {
    for await (const ev of dm.events(sid, { signal: ac.signal, resume: true, retryMs: 50 })) seen.push(ev);
  })();
  await new Promise((r) => setTimeout(r, 200));
  const pid = cluster.daemonPid(node)!;
  process.kill(pid, 'SIGKILL');
  await waitFor(() => !pidAlive(pid), 5000, 'daemon death');
  await new Promise((r) => setTimeout(r, 300));
  await cluster.cliOk(t, ['node', 'start', '--node', node]);
  // Once assumed, a message reaches the iterator.
  const other = await connect({ node, runDir: cluster.runDir });
  t.teardown(() => other.close());
  await waitFor(async () => {
    await other.sendMsg(sid, C.DM_MSGTYPE_ASYNC, Buffer.from('after restart')).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 100));
    return seen.length > 0;
  }, 10000, 'an event after the restart');
  const ev = seen[0];
  t.true(isEvent(ev, C.DM_EVENT_USER) && ev.data.toString() === 'after restart');
  ac.abort();
  await loop;
  t.pass();
});

test('event messages are typed per event: DESTROY names its attribute as a string; getallDmattr too', async (t) => {
  const node = await startNode(t);
  const e = await dmapiMount(t, cluster, node);
  fs.writeFileSync(`${e.backing}/f`, 'x');
  const dm = await connect({ node, runDir: cluster.runDir });
  t.teardown(() => dm.close());
  const sid = await dm.createSession(C.DM_NO_SESSION, 'typed');
  t.teardown(() => dm.destroySession(sid).catch(() => undefined));
  const fsh = await dm.pathToFshandle(e.mnt);
  await dm.setDisp(sid, fsh, C.DM_NO_TOKEN, [C.DM_EVENT_DESTROY]);
  await dm.setEventlist(sid, fsh, C.DM_NO_TOKEN, [C.DM_EVENT_DESTROY]);
  await dm.setReturnOnDestroy(sid, fsh, C.DM_NO_TOKEN, 'hsmid', true);
  const h = await dm.pathToHandle(`${e.mnt}/f`);
  await dm.setDmattr(sid, h, C.DM_NO_TOKEN, 'hsmid', Buffer.from('tape-7'));
  t.deepEqual(await dm.getallDmattr(sid, h, C.DM_NO_TOKEN), [{ name: 'hsmid', value: Buffer.from('tape-7') }]);
  await dm.removeDmattr(sid, h, C.DM_NO_TOKEN, 'nothere').catch((err: DmapiError) => t.is(err.code, 'ENOENT'));
  fs.unlinkSync(`${e.mnt}/f`);
  const [ev] = await dm.getEvents(sid, 0, C.DM_EV_WAIT);
  if (ev.type !== C.DM_EVENT_DESTROY) return t.fail(`expected DESTROY, got ${ev.type}`);
  t.is(ev.attrName, 'hsmid');
  t.is(ev.attrCopy.toString(), 'tape-7');
  t.deepEqual(ev.handle, h);
});
