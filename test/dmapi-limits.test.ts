// The GPFS session limit: 4000 sessions per node, the 4001st refused with ENOMEM (documented in
// docs/dmapi-protocol.md). A node of its own: no other test's sessions count.
import test from 'ava';
import { useCluster } from './helpers/cluster';
import { connect, DmapiError } from '../src/dmapi';
import * as C from '../src/dmapi/constants';

const cluster = useCluster();

test('4000 sessions per node; the 4001st → ENOMEM; destroying one makes room', async (t) => {
  const { node } = await cluster.startNode(t);
  const dm = await connect({ node, runDir: cluster.runDir });
  t.teardown(() => dm.close());
  const sids = await Promise.all(Array.from({ length: C.DM_MAX_SESSIONS }, (_, i) => dm.createSession(0, `s${i}`)));
  t.is(new Set(sids).size, C.DM_MAX_SESSIONS);
  const e = await t.throwsAsync(dm.createSession(0, 'one too many'), { instanceOf: DmapiError });
  t.is(e?.code, 'ENOMEM');
  t.is((await dm.getallSessions()).length, C.DM_MAX_SESSIONS);
  await dm.destroySession(sids[0]);
  const again = await dm.createSession(0, 'fits again');
  t.true(again > sids[sids.length - 1]);
  await Promise.all([...sids.slice(1), again].map((s) => dm.destroySession(s)));
  t.deepEqual(await dm.getallSessions(), []);
});
