// dmapifs dm against real daemons: an HSM that died left a `touch` hung on its CREATE event; the
// operator sees the session, the event and the waiting process and rescues the node with
// `dmapifs dm` alone (answer on the session's behalf, destroy the session, clear the event list).
import test from 'ava';
import * as fs from 'fs';
import { connect } from '../src/dmapi/client';
import * as C from '../src/dmapi/constants';
import { useCluster, waitFor } from './helpers/cluster';
import { evMount, run } from './helpers/events';

process.env.DMAPIFS_SLOW_EVENT_SECONDS = '1';
const cluster = useCluster();

let node = '';
async function dmJson<T>(args: string[]): Promise<T> {
  const r = await cluster.cli(['dm', ...args, '--node', node, '--json']);
  if (r.code !== 0) throw new Error(`dmapifs dm ${args.join(' ')}: exit ${r.code}: ${r.stdout}${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

interface Ev { token: number; type: string; state: string; sid: number; object: string; raisedAt: number; waiters: Array<{ pid: number; syscall: string }> }
interface Sess { sid: number; name: string; listening: boolean; dispositions: Array<{ fs: string; events: string[] }>; queued: number[]; outstanding: number[] }

test.serial('the stuck-HSM rescue with dmapifs dm alone', async (t) => {
  node = cluster.uniqueNode('dm');
  t.teardown(() => cluster.stopNode(node));
  // The test's own session (evMount) holds nothing: the "HSM" is a separate client that dies.
  const e = await evMount(t, cluster, node, []);
  const hsm = await connect({ node, runDir: cluster.runDir });
  const hsid = await hsm.createSession(0, 'hsm-that-dies');
  await hsm.setDisp(hsid, e.fsh, C.DM_NO_TOKEN, [C.DM_EVENT_CREATE]);
  await hsm.setEventlist(hsid, e.fsh, C.DM_NO_TOKEN, [C.DM_EVENT_CREATE]);
  hsm.close();

  const touch = run(t, 'touch', [e.m('x')]);
  // The CREATE event waits in the dead session, never received.
  const ev = (await waitFor(async () => (await dmJson<{ events: Ev[] }>(['events'])).events.find((x) => x.type === 'CREATE' && x.waiters.length), 10000, 'the CREATE event with its waiter'))!;
  t.is(ev.sid, hsid);
  t.is(ev.state, 'queued');
  t.is(ev.object, e.m('x'));
  t.is(ev.waiters[0].pid, touch.proc.pid!);
  t.false(touch.exited());

  const sessions = (await dmJson<{ sessions: Sess[] }>(['sessions'])).sessions;
  const dead = sessions.find((s) => s.sid === hsid)!;
  t.is(dead.name, 'hsm-that-dies');
  t.false(dead.listening);
  t.deepEqual(dead.queued, [ev.token]);
  t.deepEqual(dead.dispositions.map((d) => d.events), [['CREATE']]);
  const w = (await dmJson<{ waiters: Array<{ pid: number; token: number; event: string; syscall: string }> }>(['waiters'])).waiters;
  t.true(w.some((x) => x.pid === touch.proc.pid && x.token === ev.token && x.event === 'CREATE'), JSON.stringify(w));
  const text = await cluster.cli(['dm', 'waiters', '--node', node]);
  t.regex(text.stdout, new RegExp(`pid ${touch.proc.pid} \\(touch.*waiting for CREATE token ${ev.token}`));
  const lsfs = (await dmJson<{ filesystems: Array<{ mountpoint: string; dmapi: boolean; eventlist: string[]; fsid: string }> }>(['lsfs'])).filesystems;
  t.like(lsfs.find((f) => f.mountpoint === e.mnt), { dmapi: true, eventlist: ['CREATE'] }, JSON.stringify(lsfs));

  // Destroying the session is refused while it has events (XDSM EBUSY).
  const busy = await cluster.cli(['dm', 'session', 'destroy', String(hsid), '--node', node]);
  t.is(busy.code, 1);
  t.regex(busy.stderr, /pending event/);

  // The daemon (DMAPIFS_SLOW_EVENT_SECONDS=1) logs the event that waits, and what it waits for.
  const slow = new RegExp(`token ${ev.token} \\(CREATE ${e.m('x')}\\) has waited \\d+ s in session ${hsid} \\(hsm-that-dies, queued; no dm_get_events call waits`);
  await waitFor(() => slow.test(fs.readFileSync(cluster.logFile(node), 'utf8')), 15000, 'the slow-event log line');

  // Answer on its behalf: the touch fails with EIO, and the daemon logs who answered.
  const ans = await cluster.cli(['dm', 'respond', String(ev.token), 'abort', 'EIO', '--node', node]);
  t.is(ans.code, 0, ans.stderr);
  const done = await touch.finish();
  t.not(done.code, 0);
  t.regex(done.stderr, /Input\/output error/);
  t.false(fs.existsSync(e.m('x')));
  const log = fs.readFileSync(cluster.logFile(node), 'utf8');
  t.regex(log, new RegExp(`dmapifs dm \\(pid \\d+.*answered token ${ev.token} \\(CREATE ${e.m('x')}.*abort EIO`));
  t.regex(log, new RegExp(`session ${hsid} \\(hsm-that-dies\\) created`));

  t.is((await cluster.cli(['dm', 'session', 'destroy', String(hsid), '--node', node])).code, 0);
  t.false((await dmJson<{ sessions: Sess[] }>(['sessions'])).sessions.some((s) => s.sid === hsid));
  // With the event list still set and nobody holding the disposition, creates fail at once (EIO).
  const eio = await run(t, 'touch', [e.m('y')]).finish();
  t.regex(eio.stderr, /Input\/output error/);
  const cleared = await dmJson<{ events: string[]; filesystem: boolean }>(['eventlist', 'clear', e.mnt]);
  t.deepEqual(cleared, { ...cleared, events: [], filesystem: true });
  t.is((await run(t, 'touch', [e.m('z')]).finish()).code, 0);
  t.true(fs.existsSync(e.m('z')));
  t.deepEqual((await dmJson<{ events: Ev[] }>(['events'])).events, []);
});

test.serial('dm eventlist, regions, attrs, disp on files; usage errors', async (t) => {
  node = cluster.uniqueNode('dmf');
  t.teardown(() => cluster.stopNode(node));
  const e = await evMount(t, cluster, node, [C.DM_EVENT_READ]);
  fs.writeFileSync(e.m('f'), 'data');
  const h = await e.dm.pathToHandle(e.m('f'));
  await e.dm.setRegion(e.sid, h, C.DM_NO_TOKEN, [{ offset: 0n, size: 0n, flags: C.DM_REGION_READ | C.DM_REGION_WRITE, opaque: 0 }]);
  await e.dm.setDmattr(e.sid, h, C.DM_NO_TOKEN, 'hsmstate', Buffer.from('migrated'));
  const regions = await dmJson<{ regions: Array<{ offset: string; size: string; flags: string }> }>(['regions', e.m('f')]);
  t.deepEqual(regions.regions, [{ offset: '0', size: '0', flags: 'read,write', opaque: 0 }]);
  const attrs = await dmJson<{ attrs: Array<{ name: string; text: string }> }>(['attrs', e.m('f')]);
  t.like(attrs.attrs[0], { name: 'hsmstate', text: 'migrated' });
  const set = await dmJson<{ events: string[]; filesystem: boolean }>(['eventlist', 'set', e.m('f'), 'attribute', 'destroy']);
  // get_eventlist reports the events the file's managed regions contribute too (GPFS).
  t.deepEqual([set.events, set.filesystem], [['READ', 'WRITE', 'ATTRIBUTE', 'DESTROY'], false]);
  t.deepEqual((await e.dm.getEventlist(e.sid, h, C.DM_NO_TOKEN)).events, [C.DM_EVENT_READ, C.DM_EVENT_WRITE, C.DM_EVENT_ATTRIBUTE, C.DM_EVENT_DESTROY]);
  const disp = await dmJson<{ dispositions: Array<{ sid: number; events: string[] }> }>(['disp', '--node', node]);
  t.deepEqual(disp.dispositions.find((d) => d.sid === e.sid)?.events, ['READ']);
  // Bad input: one-line usage errors, and errors as JSON under --json.
  let r = await cluster.cli(['dm', 'respond', 'x', 'continue', '--node', node]);
  t.is(r.code, 2);
  t.regex(r.stderr, /TOKEN must be a positive integer/);
  r = await cluster.cli(['dm', 'respond', '99999', 'continue', '--node', node, '--json']);
  t.is(r.code, 1);
  t.regex(JSON.parse(r.stdout).error.message, /no pending event with token 99999/);
  r = await cluster.cli(['dm', 'eventlist', 'set', e.m('f'), 'frob']);
  t.regex(r.stderr, /unknown event 'frob'/);
  r = await cluster.cli(['dm', 'regions', '/tmp']);
  t.regex(r.stderr, /not inside a mount served by a running node/);
});

test.serial('a pending DMAPI mount is visible in dm lsfs while it waits for a MOUNT disposition', async (t) => {
  node = cluster.uniqueNode('dmp');
  await cluster.startNode(t, node);
  await cluster.cliOk(t, ['config', '--node', node, 'dmapiMountTimeout=6']);
  const backing = cluster.tmpDir(t, 'dmfs-back-');
  const mnt = cluster.tmpDir(t, 'dmfs-mnt-');
  t.teardown(() => cluster.detach(mnt));
  const mounting = cluster.cli(['mount', '--node', node, '--dmapi', backing, mnt]);
  const st = (await waitFor(async () => {
    const s = await dmJson<{ pendingMounts: Array<{ mountpoint: string; backing: string; disposition: boolean; windowEnd: number | null }>; filesystems: Array<{ mountpoint: string }> }>(['lsfs']);
    return s.pendingMounts.length ? s : null;
  }, 5000, 'the pending mount'))!;
  t.like(st.pendingMounts[0], { mountpoint: mnt, backing, disposition: false });
  t.true(st.pendingMounts[0].windowEnd! > Date.now());
  t.false(st.filesystems.some((f) => f.mountpoint === mnt));
  const text = await cluster.cli(['dm', 'lsfs', '--node', node]);
  t.regex(text.stdout, new RegExp(`${mnt}  MOUNTING \\(waiting \\d+ s more for a DM application to take the MOUNT disposition\\)`));
  const r = await mounting;
  t.is(r.code, 1);
  t.deepEqual((await dmJson<{ pendingMounts: unknown[] }>(['lsfs'])).pendingMounts, []);
});
