// The node settings of the DMAPI (`dmapifs config --node NODE NAME=VALUE`, GPFS's mmchconfig attributes) with their
// GPFS meanings, through real mounts, daemons and processes:
//   dmapiEventTimeout           a data event unanswered after N ms fails the operation with ENOTREADY
//                               (the event stays pending); other synchronous events are not affected
//   dmapiSessionFailureTimeout  an event for a failed session (daemon restarted, not yet assumed)
//                               fails with EIO at once (0) or waits N s for the session to be assumed
//   dmapiMountTimeout           with no MOUNT disposition a DMAPI mount fails with EIO, except in the
//                               node's one window (no disposition ever set: the first mount waits
//                               N s for one); --mount-event-optional mounts without the event
//   dmapiDataEventRetry         a data event re-enabled during its handling is raised again N times
import test from 'ava';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { Cluster, pidAlive, useCluster, waitFor } from './helpers/cluster';
import { C, evMount, expectEvent, migrate, migrated, noEvent, recall, recallAndCheck, run } from './helpers/events';
import { connect } from '../src/dmapi/client';

const cluster = useCluster();
const node = cluster.uniqueNode('es');
const RW = [C.DM_EVENT_READ, C.DM_EVENT_WRITE, C.DM_EVENT_TRUNCATE];
const DEFAULTS = { dmapiEventTimeout: 86400000, dmapiSessionFailureTimeout: 0, dmapiMountTimeout: 60, dmapiDataEventRetry: 2 };

async function config(c: Cluster, n: string, ...set: string[]): Promise<Record<string, number>> {
  const r = await c.cli(['config', '--node', n, '--json', ...set]);
  if (r.code !== 0) throw new Error(`dmapifs config ${set.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  return (JSON.parse(r.stdout) as { settings: Record<string, number> }).settings;
}

/** Sets settings for one test and puts the defaults back in teardown. */
async function withSettings(t: import('ava').ExecutionContext, n: string, ...set: string[]): Promise<void> {
  t.teardown(() => config(cluster, n, ...Object.entries(DEFAULTS).map(([k, v]) => `${k}=${v}`)).then(() => undefined, () => undefined));
  await config(cluster, n, ...set);
}

test.serial('dmapifs config: defaults, NAME=VALUE changes, bad names and values refused', async (t) => {
  await evMount(t, cluster, node, []);
  t.deepEqual(await config(cluster, node), DEFAULTS);
  t.teardown(() => config(cluster, node, ...Object.entries(DEFAULTS).map(([k, v]) => `${k}=${v}`)).then(() => undefined, () => undefined));
  const s = await config(cluster, node, 'dmapiEventTimeout=1500', 'dmapiDataEventRetry=-1');
  t.is(s.dmapiEventTimeout, 1500);
  t.is(s.dmapiDataEventRetry, -1);
  t.is(s.dmapiMountTimeout, 60);
  t.deepEqual(await config(cluster, node), s, 'kept');
  const text = await cluster.cli(['config', '--node', node]);
  t.regex(text.stdout, /^dmapiEventTimeout 1500$/m);
  for (const bad of ['dmapiEventTimeout=abc', 'dmapiEventTimeout=-1', 'dmapiMountTimeout=-2', 'dmapiDataEventRetry=1.5', 'noSuchSetting=1', 'dmapiEventTimeout']) {
    const r = await cluster.cli(['config', '--node', node, bad]);
    t.not(r.code, 0, `${bad} refused`);
    t.true(r.stderr.trim().length > 0, `${bad}: a message`);
  }
  t.deepEqual(await config(cluster, node), s, 'a refused change changes nothing');
});

test.serial('dmapiEventTimeout: an unanswered READ fails the reader with ENOTREADY after the timeout, the event stays pending; CREATE still waits; back to forever', async (t) => {
  const e = await evMount(t, cluster, node, [...RW, C.DM_EVENT_CREATE]);
  const { orig, archive, h } = await migrated(t, cluster, e.dm, e.sid, e.m('f'), 50000);
  await withSettings(t, node, 'dmapiEventTimeout=400');
  const t0 = Date.now();
  const cat = run(t, 'cat', [e.m('f')]);
  const r = await cat.finish(10000);
  const took = Date.now() - t0;
  t.not(r.code, 0);
  t.regex(r.stderr, /Unknown error 198/, 'ENOTREADY (198)');
  t.true(took >= 350, `failed after ${took} ms, not before the timeout`);
  // GPFS: the event continues; the retried access finds it instead of raising another.
  const again = await run(t, 'cat', [e.m('f')]).finish(10000);
  t.regex(again.stderr, /Unknown error 198/, 'the retry times out too while the event is unanswered');
  const ev = await expectEvent(e.dm, e.sid, C.DM_EVENT_READ, 'the READ of the timed-out reader, still pending');
  t.deepEqual(ev.handle, h);
  t.true(await noEvent(e.dm, e.sid, 100), 'the retry joined the pending READ: no second event');
  await e.dm.respondEvent(e.sid, ev.token, C.DM_RESP_CONTINUE, 0);

  // Not a data event: CREATE waits past the timeout.
  await e.dm.setEventlist(e.sid, e.fsh, C.DM_NO_TOKEN, [C.DM_EVENT_CREATE]);
  const touch = run(t, 'touch', [e.m('new')]);
  const ce = await expectEvent(e.dm, e.sid, C.DM_EVENT_CREATE, 'touch new');
  await new Promise((res) => setTimeout(res, 1000));
  t.false(touch.exited(), 'CREATE is not bound by dmapiEventTimeout');
  await e.dm.respondEvent(e.sid, ce.token, C.DM_RESP_CONTINUE, 0);
  t.is((await touch.finish()).code, 0);
  await e.dm.setEventlist(e.sid, e.fsh, C.DM_NO_TOKEN, []);

  // Back to the default (forever): the reader waits for the recall.
  await config(cluster, node, `dmapiEventTimeout=${DEFAULTS.dmapiEventTimeout}`);
  const cat2 = run(t, 'cat', [e.m('f')]);
  const ev2 = await expectEvent(e.dm, e.sid, C.DM_EVENT_READ, 'cat with no timeout');
  await new Promise((res) => setTimeout(res, 1000));
  t.false(cat2.exited(), 'waits past the old timeout');
  await recallAndCheck(t, e.dm, e.sid, ev2, h, archive, cat2, orig);
});

test.serial('dmapiSessionFailureTimeout: after a daemon restart, events of the failed session fail with EIO at once (0) or wait for the session to be assumed', async (t) => {
  const own = cluster.uniqueNode('esf');
  t.teardown(() => cluster.stopNode(own));
  const backing = cluster.tmpDir(t, 'dmfs-back-');
  const mnt = cluster.tmpDir(t, 'dmfs-mnt-');
  t.teardown(() => cluster.unmount(mnt));
  t.is((await cluster.cli(['mount', '--node', own, '--dmapi', '--mount-event-optional', backing, mnt], { timeoutMs: 30000 })).code, 0);
  const dm = await connect({ node: own, runDir: cluster.runDir });
  const sid = await dm.createSession(0, 'hsm-sft');
  const fsh = await dm.pathToFshandle(mnt);
  await dm.setDisp(sid, fsh, C.DM_NO_TOKEN, RW);
  const orig = crypto.randomBytes(30000);
  fs.writeFileSync(path.join(mnt, 'f'), orig);
  const archive = path.join(cluster.tmpDir(t, 'dmfs-arch-'), 'f');
  const h = await migrate(dm, sid, path.join(mnt, 'f'), archive);
  const pid = cluster.daemonPid(own)!;
  process.kill(pid, 'SIGKILL');
  await waitFor(() => !pidAlive(pid), 5000, `daemon ${pid} to die`);
  dm.close();
  await cluster.cli(['umount', mnt], { timeoutMs: 30000 });
  t.is((await cluster.cli(['mount', '--node', own, '--dmapi', '--mount-event-optional', backing, mnt], { timeoutMs: 30000 })).code, 0);
  const dm2 = await connect({ node: own, runDir: cluster.runDir });
  t.teardown(async () => {
    await dm2.createSession(sid, 'cleanup').catch(() => undefined);
    for (const ev of await dm2.getEvents(sid, 0, 0).catch(() => [])) if (ev.token) await dm2.respondEvent(sid, ev.token, C.DM_RESP_CONTINUE, 0).catch(() => undefined);
    for (const tok of await dm2.getallTokens(sid).catch(() => [] as number[])) await dm2.respondEvent(sid, tok, C.DM_RESP_CONTINUE, 0).catch(() => undefined);
    await dm2.setDisp(sid, fsh, C.DM_NO_TOKEN, []).catch(() => undefined);
    await dm2.destroySession(sid).catch(() => undefined);
    dm2.close();
  });
  t.deepEqual(await config(cluster, own), DEFAULTS);

  // 0 (the default): the session is failed and not assumed → EIO at once.
  const t0 = Date.now();
  const r0 = await run(t, 'cat', [path.join(mnt, 'f')]).finish();
  t.not(r0.code, 0);
  t.regex(r0.stderr, /Input\/output error/);
  t.true(Date.now() - t0 < 5000, 'at once');

  // 30 s: the reader waits; the session is assumed meanwhile; the event reaches it.
  await config(cluster, own, 'dmapiSessionFailureTimeout=30');
  const cat = run(t, 'cat', [path.join(mnt, 'f')]);
  await new Promise((res) => setTimeout(res, 800));
  t.false(cat.exited(), 'waits for the session to be assumed');
  t.is(await dm2.createSession(sid, 'hsm-sft'), sid);
  const ev = await expectEvent(dm2, sid, C.DM_EVENT_READ, 'the READ raised once the session was assumed');
  await recallAndCheck(t, dm2, sid, ev, h, archive, cat, orig);
});

/** A node of its own, started with its settings file written first (the window opens at the first DMAPI mount). */
async function freshNode(t: import('ava').ExecutionContext, prefix: string, ...set: string[]): Promise<{ node: string; dm: import('../src/dmapi/client').DmapiClient }> {
  const own = cluster.uniqueNode(prefix);
  await cluster.startNode(t, own);
  if (set.length) await config(cluster, own, ...set);
  const dm = await connect({ node: own, runDir: cluster.runDir });
  t.teardown(() => dm.close());
  return { node: own, dm };
}
const mounted = (m: string) => fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${m} `);
function dirs(t: import('ava').ExecutionContext): { b: string; m: string } {
  const b = cluster.tmpDir(t, 'dmfs-back-');
  const m = cluster.tmpDir(t, 'dmfs-mnt-');
  t.teardown(() => cluster.unmount(m));
  return { b, m };
}

test.serial('dmapiMountTimeout: with no MOUNT disposition the node\'s first DMAPI mount waits N s for one, then EIO; the window opens once: the next mount fails at once', async (t) => {
  const { node: own } = await freshNode(t, 'esm', 'dmapiMountTimeout=4');
  const d1 = dirs(t);
  const t0 = Date.now();
  const r1 = await cluster.cli(['mount', '--node', own, '--dmapi', d1.b, d1.m], { timeoutMs: 30000 });
  const took = Date.now() - t0;
  t.not(r1.code, 0);
  t.regex(r1.stderr, /EIO|I\/O/);
  t.true(took >= 3900, `failed after ${took} ms, not before the 4 s window`);
  t.false(mounted(d1.m));
  const d2 = dirs(t);
  const t1 = Date.now();
  const r2 = await cluster.cli(['mount', '--node', own, '--dmapi', d2.b, d2.m], { timeoutMs: 30000 });
  t.not(r2.code, 0);
  t.true(Date.now() - t1 < 3000, 'the window was used: EIO at once (not after another 4 s)');
  t.false(mounted(d2.m));
  // --mount-event-optional: no disposition, no event, mounted.
  t.is((await cluster.cli(['mount', '--node', own, '--dmapi', '--mount-event-optional', d2.b, d2.m], { timeoutMs: 30000 })).code, 0);
  t.true(mounted(d2.m));
});

test.serial('dmapiMountTimeout: a disposition set within the window gets the MOUNT event; --mount-event-optional still raises MOUNT when a disposition exists', async (t) => {
  const { node: own, dm } = await freshNode(t, 'esw', 'dmapiMountTimeout=30');
  const sid = await dm.createSession(0, 'mount-late');
  t.teardown(async () => {
    for (const tok of await dm.getallTokens(sid).catch(() => [] as number[])) await dm.respondEvent(sid, tok, C.DM_RESP_CONTINUE, 0).catch(() => undefined);
    await dm.setDisp(sid, dm.globalHandle, C.DM_NO_TOKEN, []).catch(() => undefined);
    await dm.destroySession(sid).catch(() => undefined);
  });
  const d1 = dirs(t);
  const m1 = cluster.cli(['mount', '--node', own, '--dmapi', d1.b, d1.m], { timeoutMs: 30000 });
  await new Promise((res) => setTimeout(res, 800));
  t.false(mounted(d1.m), 'the mount waits for a MOUNT disposition');
  await dm.setDisp(sid, dm.globalHandle, C.DM_NO_TOKEN, [C.DM_EVENT_MOUNT]);
  const ev = await expectEvent(dm, sid, C.DM_EVENT_MOUNT, 'the mount waiting in the window');
  t.is(ev.mountPoint, d1.m);
  await dm.respondEvent(sid, ev.token, C.DM_RESP_CONTINUE, 0);
  const r1 = await m1;
  t.is(r1.code, 0, r1.stderr);
  t.true(mounted(d1.m));

  // With the disposition in place, --mount-event-optional changes nothing: MOUNT, and ABORT refuses.
  const d2 = dirs(t);
  const m2 = cluster.cli(['mount', '--node', own, '--dmapi', '--mount-event-optional', d2.b, d2.m], { timeoutMs: 30000 });
  const ev2 = await expectEvent(dm, sid, C.DM_EVENT_MOUNT, 'MOUNT of an optional-event mount with a disposition');
  await dm.respondEvent(sid, ev2.token, C.DM_RESP_ABORT, 1);
  const r2 = await m2;
  t.not(r2.code, 0);
  t.regex(r2.stderr, /EPERM|not permitted/);
  t.false(mounted(d2.m));

});

test.serial('dmapiMountTimeout: no window on a node where a MOUNT disposition was ever set: with none now, the mount fails with EIO at once', async (t) => {
  const { node: own, dm } = await freshNode(t, 'esx', 'dmapiMountTimeout=30');
  const sid = await dm.createSession(0, 'mount-gone');
  t.teardown(() => dm.destroySession(sid).catch(() => undefined));
  await dm.setDisp(sid, dm.globalHandle, C.DM_NO_TOKEN, [C.DM_EVENT_MOUNT]);
  await dm.setDisp(sid, dm.globalHandle, C.DM_NO_TOKEN, []);
  const d = dirs(t);
  const t0 = Date.now();
  const r = await cluster.cli(['mount', '--node', own, '--dmapi', d.b, d.m], { timeoutMs: 30000 });
  t.not(r.code, 0);
  t.regex(r.stderr, /EIO|I\/O/);
  t.true(Date.now() - t0 < 5000, 'EIO at once (not after the 30 s window)');
  t.false(mounted(d.m));
});

test.serial('dmapiDataEventRetry: a READ re-enabled during its handling is raised again N times (0, 1, -1 = until the regions are cleared)', async (t) => {
  const e = await evMount(t, cluster, node, RW);
  fs.writeFileSync(e.m('f'), crypto.randomBytes(20000));
  const h = await migrate(e.dm, e.sid, e.m('f'), path.join(cluster.tmpDir(t, 'dmfs-arch-'), 'f'));
  let opaque = 1;
  /** The DM application "re-migrates" during the event: the region changes and still covers the read. */
  const reenable = () => e.dm.setRegion(e.sid, h, C.DM_NO_TOKEN, [{ offset: 0n, size: 0n, flags: C.DM_REGION_READ, opaque: ++opaque }]);
  const readOnce = async (setting: number, reenableTimes: number, what: string) => {
    await config(cluster, node, `dmapiDataEventRetry=${setting}`);
    // One read() (one FUSE read: managed files are opened for direct I/O): each further read would
    // raise an event of its own, which is not a retry.
    const cat = run(t, 'python3', ['-c', 'import os,sys\nfd=os.open(sys.argv[1],os.O_RDONLY)\nsys.stdout.buffer.write(os.pread(fd,100,0))', e.m('f')]);
    /** The next READ, or null once the reader has finished with none queued. */
    const nextOrDone = async () => {
      const deadline = Date.now() + 10000;
      for (;;) {
        const finished = cat.exited();
        try {
          const [m] = await e.dm.getEvents(e.sid, 1, 0);
          return m;
        } catch (err) {
          if ((err as { code?: string }).code !== 'EAGAIN') throw err;
        }
        if (finished) return null;
        if (Date.now() > deadline) throw new Error(`${what}: neither another DM_EVENT_READ nor the end of the reader within 10 s`);
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    let events = 0;
    let ev = await expectEvent(e.dm, e.sid, C.DM_EVENT_READ, what);
    for (;;) {
      events++;
      if (events <= reenableTimes) await reenable();
      await e.dm.respondEvent(e.sid, ev.token, C.DM_RESP_CONTINUE, 0);
      const nxt = await nextOrDone();
      if (!nxt) break;
      if (nxt.type !== C.DM_EVENT_READ) throw new Error(`${what}: expected DM_EVENT_READ, got event type ${nxt.type}`);
      ev = nxt;
    }
    const r = await cat.finish();
    t.is(r.code, 0, `${what}: ${r.stderr}`);
    t.is(r.stdout.length, 100, what);
    t.true(await noEvent(e.dm, e.sid, 100), `${what}: no event after the reader is done`);
    return events;
  };
  t.teardown(() => config(cluster, node, `dmapiDataEventRetry=${DEFAULTS.dmapiDataEventRetry}`).then(() => undefined, () => undefined));
  t.is(await readOnce(0, 5, 'retry 0'), 1, '0: never raised again');
  t.is(await readOnce(1, 5, 'retry 1'), 2, '1: raised again once');
  t.is(await readOnce(2, 1, 'retry 2, re-enabled once'), 2, 'the region unchanged during the second event: no third');
  t.is(await readOnce(-1, 4, 'retry -1'), 5, '-1: raised again as long as it is re-enabled');
  await e.dm.setRegion(e.sid, h, C.DM_NO_TOKEN, []);
  t.is((await run(t, 'cat', [e.m('f')]).finish()).code, 0, 'regions cleared: no event at all');
});
