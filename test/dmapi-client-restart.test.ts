// The TypeScript DMAPI client across a death and a restart of the node daemon, as libdm behaves:
// the events() iterator never ends silently (an HSM written the documented way must not exit 0
// and log nothing when its daemon dies), the client opens a new connection once the daemon is
// back, and `resume` rides the restart out (the session assumed again, its events delivered).
import test from 'ava';
import { useCluster, waitFor, pidAlive } from './helpers/cluster';
import { connect, DmapiError } from '../src/dmapi';
import * as C from '../src/dmapi/constants';

const cluster = useCluster();

async function startNode(t: import('ava').ExecutionContext): Promise<string> {
  const node = cluster.uniqueNode('rs');
  await cluster.cliOk(t, ['node', 'start', '--node', node]);
  t.teardown(() => cluster.cli(['node', 'stop', '--node', node]).then(() => undefined));
  return node;
}

async function killDaemon(node: string): Promise<void> {
  const pid = cluster.daemonPid(node)!;
  process.kill(pid, 'SIGKILL');
  await waitFor(() => !pidAlive(pid), 5000, 'daemon death');
}

test('events(): the daemon dies while it waits → it throws DmapiError ENOTREADY, it does not end', async (t) => {
  const node = await startNode(t);
  const dm = await connect({ node, runDir: cluster.runDir });
  t.teardown(() => dm.close());
  const sid = await dm.createSession(C.DM_NO_SESSION, 'restart-1');
  const it = dm.events(sid)[Symbol.asyncIterator]();
  const next = it.next().then((r) => ({ ended: r.done === true }), (e: unknown) => ({ error: e }));
  await new Promise((r) => setTimeout(r, 200));
  await killDaemon(node);
  const r = await next;
  t.false('ended' in r && r.ended, 'the iterator ended normally: an HSM would exit 0 without a word');
  t.true('error' in r && r.error instanceof DmapiError, `not a DmapiError: ${JSON.stringify(r)}`);
  if ('error' in r && r.error instanceof DmapiError) t.is(r.error.code, 'ENOTREADY');
});

test('the client reconnects once the daemon is back: the same client answers, the session can be assumed', async (t) => {
  const node = await startNode(t);
  const dm = await connect({ node, runDir: cluster.runDir });
  t.teardown(() => dm.close());
  const sid = await dm.createSession(C.DM_NO_SESSION, 'restart-2');
  await killDaemon(node);
  await t.throwsAsync(dm.getallSessions(), { instanceOf: DmapiError, message: /ENOTREADY/ });
  await cluster.cliOk(t, ['node', 'start', '--node', node]);
  t.regex(await dm.initService(), /DMAPI/, 'the same client talks to the restarted daemon');
  t.true((await dm.getallSessions()).includes(sid));
  t.is(await dm.createSession(sid, 'restart-2'), sid);
  await dm.destroySession(sid);
});
