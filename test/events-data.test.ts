// Data events through real mounts and real processes: the HSM loop (migrate, `cat` blocks,
// READ, recall with write_invis, clear the region, CONTINUE, `cat` prints the original bytes), ABORT,
// WRITE and TRUNCATE, mmap reads, cache coherence, many readers released by one answer.
import test from 'ava';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { useCluster, waitFor } from './helpers/cluster';
import { C, evMount, expectEvent, migrate, migrated, mmapRead, noEvent, recall, recallAndCheck, run } from './helpers/events';

const cluster = useCluster();
const node = cluster.uniqueNode('ev');
const RW = [C.DM_EVENT_READ, C.DM_EVENT_WRITE, C.DM_EVENT_TRUNCATE];

test.serial('HSM loop: cat blocks on a migrated file, READ, recall, CONTINUE → the original bytes', async (t) => {
  const e = await evMount(t, cluster, node, RW);
  const { orig, archive, h } = await migrated(t, cluster, e.dm, e.sid, e.m('big'), 300 * 1024 + 17);
  t.is(fs.statSync(e.m('big')).size, orig.length, 'the size stays');
  t.true(fs.statSync(path.join(e.backing, 'big')).blocks * 512 < 64 * 1024, 'the data is gone from the backing file');
  const cat = run(t, 'cat', [e.m('big')]);
  const ev = await expectEvent(e.dm, e.sid, C.DM_EVENT_READ);
  t.true(ev.token > 0);
  t.deepEqual(ev.handle, h);
  t.is(ev.offset, 0n);
  t.true(ev.length! > 0n);
  await new Promise((r) => setTimeout(r, 200));
  t.false(cat.exited(), 'cat waits for the answer');
  await recallAndCheck(t, e.dm, e.sid, ev, h, archive, cat, orig);
  t.true(await noEvent(e.dm, e.sid), 'no more events once the region is cleared');
  t.is((await e.dm.getDmattr(e.sid, h, C.DM_NO_TOKEN, 'hsmstate')).toString(), 'resident');
});

test.serial('ABORT with an errno: the reader fails with it', async (t) => {
  const e = await evMount(t, cluster, node, RW);
  fs.writeFileSync(e.m('f'), 'hello');
  await migrate(e.dm, e.sid, e.m('f'), path.join(cluster.tmpDir(t, 'dmfs-arch-'), 'f'));
  const cat = run(t, 'cat', [e.m('f')]);
  const ev = await expectEvent(e.dm, e.sid, C.DM_EVENT_READ);
  await e.dm.respondEvent(e.sid, ev.token, C.DM_RESP_ABORT, 12);
  const r = await cat.finish();
  t.is(r.code, 1);
  t.regex(r.stderr, /Cannot allocate memory/);
});

test.serial('WRITE and TRUNCATE events carry the range; ABORT leaves the file as it was', async (t) => {
  const e = await evMount(t, cluster, node, RW);
  fs.writeFileSync(e.m('f'), Buffer.alloc(8192, 0x61));
  const h = await e.dm.pathToHandle(e.m('f'));
  await e.dm.setRegion(e.sid, h, C.DM_NO_TOKEN, [{ offset: 4096n, size: 4096n, flags: C.DM_REGION_WRITE | C.DM_REGION_TRUNCATE, opaque: 0 }]);
  // A write outside the region: no event.
  const fd = fs.openSync(e.m('f'), 'r+');
  t.teardown(() => { try { fs.closeSync(fd); } catch { /* closed */ } });
  fs.writeSync(fd, Buffer.from('x'), 0, 1, 10);
  t.true(await noEvent(e.dm, e.sid, 100));
  const w = run(t, 'python3', ['-c', 'import os,sys\nfd=os.open(sys.argv[1],os.O_WRONLY)\ntry:\n  os.pwrite(fd,b"zz",5000)\nexcept OSError as x:\n  print(x.errno); sys.exit(3)', e.m('f')]);
  const ev = await expectEvent(e.dm, e.sid, C.DM_EVENT_WRITE);
  t.deepEqual(ev.handle, h);
  t.is(ev.offset, 5000n);
  t.is(ev.length, 2n);
  await e.dm.respondEvent(e.sid, ev.token, C.DM_RESP_ABORT, 1);
  const r = await w.finish();
  t.is(r.code, 3);
  t.is(r.stdout.toString().trim(), '1');
  t.is(fs.readFileSync(path.join(e.backing, 'f')).subarray(5000, 5002).toString(), 'aa', 'the write did not happen');
  const tr = run(t, 'truncate', ['-s', '6000', e.m('f')]);
  const ev2 = await expectEvent(e.dm, e.sid, C.DM_EVENT_TRUNCATE);
  t.is(ev2.offset, 6000n);
  t.is(ev2.length, 8192n - 6000n);
  await e.dm.respondEvent(e.sid, ev2.token, C.DM_RESP_CONTINUE, 0);
  t.is((await tr.finish()).code, 0);
  t.is(fs.statSync(e.m('f')).size, 6000);
});

test.serial('mmap reads of a managed region raise READ (shared and private mappings)', async (t) => {
  const e = await evMount(t, cluster, node, RW);
  const orig = crypto.randomBytes(64 * 1024);
  fs.writeFileSync(e.m('m'), orig);
  const archive = path.join(cluster.tmpDir(t, 'dmfs-arch-'), 'm');
  for (const shared of [true, false]) {
    const h = await migrate(e.dm, e.sid, e.m('m'), archive, C.DM_REGION_READ);
    const reader = mmapRead(t, e.m('m'), 1000, 5000, shared);
    const ev = await expectEvent(e.dm, e.sid, C.DM_EVENT_READ, shared ? 'MAP_SHARED read' : 'MAP_PRIVATE read');
    await new Promise((r) => setTimeout(r, 100));
    t.false(reader.exited());
    await recall(e.dm, e.sid, ev.token, h, archive);
    await e.dm.respondEvent(e.sid, ev.token, C.DM_RESP_CONTINUE, 0);
    const r = await reader.finish();
    t.is(r.code, 0, r.stderr);
    t.true(r.stdout.equals(orig.subarray(1000, 6000)), 'the mapping shows the recalled bytes');
    t.true(await noEvent(e.dm, e.sid, 100));
  }
});

test.serial('dm_pending: readers that opened O_NONBLOCK fail with EAGAIN, blocking readers of the same event keep waiting for the answer', async (t) => {
  const e = await evMount(t, cluster, node, RW);
  const { orig, archive, h } = await migrated(t, cluster, e.dm, e.sid, e.m('f'), 5000);
  const nbRead = 'import os,sys\nfd=os.open(sys.argv[1],os.O_RDONLY|os.O_NONBLOCK)\ntry:\n  os.read(fd,100)\nexcept OSError as x:\n  print(x.errno); sys.exit(3)';
  const blocking = run(t, 'cat', [e.m('f')]);
  const ev = await expectEvent(e.dm, e.sid, C.DM_EVENT_READ);
  // Two non-blocking readers join the event under way (no second event).
  const nb = [run(t, 'python3', ['-c', nbRead, e.m('f')]), run(t, 'python3', ['-c', nbRead, e.m('f')])];
  // dm_pending concerns the operations waiting when it is called: wait until both readers are
  // blocked on this event (as `dmapifs dm events` sees them), however slowly python3 starts.
  await waitFor(async () => {
    const r = await cluster.cli(['dm', 'events', '--json', '--node', node]);
    const evs = (JSON.parse(r.stdout) as { events: Array<{ token: number; waiters: Array<{ pid: number }> }> }).events;
    const pids = evs.find((x) => x.token === ev.token)?.waiters.map((w) => w.pid) ?? [];
    return nb.every((c) => pids.includes(c.proc.pid!));
  }, 15000, 'both non-blocking readers waiting for the READ event');
  t.true(await noEvent(e.dm, e.sid, 50), 'the non-blocking readers joined the pending READ');
  t.true(nb.every((c) => !c.exited()), 'before dm_pending the non-blocking readers wait too');
  await e.dm.pending(e.sid, ev.token);
  for (const c of nb) {
    const r = await c.finish();
    t.is(r.code, 3, r.stderr);
    t.is(r.stdout.toString().trim(), '11', 'EAGAIN');
  }
  await new Promise((r) => setTimeout(r, 200));
  t.false(blocking.exited(), 'the blocking reader still waits');
  await recallAndCheck(t, e.dm, e.sid, ev, h, archive, blocking, orig);
});

test.serial('many readers of one file are released by one answer', async (t) => {
  const e = await evMount(t, cluster, node, RW);
  const { orig, archive, h } = await migrated(t, cluster, e.dm, e.sid, e.m('f'), 10000);
  const cats = Array.from({ length: 8 }, () => run(t, 'cat', [e.m('f')]));
  const ev = await expectEvent(e.dm, e.sid, C.DM_EVENT_READ, '8 cats of one migrated file');
  await new Promise((r) => setTimeout(r, 300));
  t.true(cats.every((c) => !c.exited()));
  t.true(await noEvent(e.dm, e.sid, 50), 'one event for all of them');
  await recall(e.dm, e.sid, ev.token, h, archive);
  await e.dm.respondEvent(e.sid, ev.token, C.DM_RESP_CONTINUE, 0);
  for (const c of cats) {
    const r = await c.finish();
    t.is(r.code, 0, r.stderr);
    t.true(r.stdout.equals(orig));
  }
});

test.serial('a DMAPI filesystem is mounted once per node; a file with data events read through one node\'s mount sees at once what another node\'s mount wrote', async (t) => {
  const e = await evMount(t, cluster, node, RW);
  const again = cluster.tmpDir(t, 'dmfs-mnt-');
  const r = await cluster.cli(['mount', '--node', node, '--mount-event-optional', e.backing, again]);
  t.not(r.code, 0, 'a second mount on the same node is refused');
  t.regex(r.stderr, /already mounted on this node/);
  const other = cluster.uniqueNode('ev2');
  const mnt2 = cluster.tmpDir(t, 'dmfs-mnt-');
  t.is((await cluster.cli(['mount', '--node', other, '--mount-event-optional', e.backing, mnt2])).code, 0, 'another node may mount it');
  t.teardown(async () => {
    await cluster.unmount(mnt2);
    await cluster.cli(['node', 'stop', '--node', other]);
  });
  fs.writeFileSync(e.m('w'), Buffer.alloc(8192, 0x41));
  // A WRITE region far away: the file is managed (every access reaches the daemon), reads raise nothing.
  await e.dm.setRegion(e.sid, await e.dm.pathToHandle(e.m('w')), C.DM_NO_TOKEN, [{ offset: 1n << 40n, size: 1n, flags: C.DM_REGION_WRITE, opaque: 0 }]);
  const fd = fs.openSync(e.m('w'), 'r');
  t.teardown(() => { try { fs.closeSync(fd); } catch { /* closed */ } });
  const b = Buffer.alloc(8192);
  for (let round = 0; round < 20; round++) {
    fs.readSync(fd, b, 0, 8192, 0);
    const v = 0x42 + round;
    const w = fs.openSync(path.join(mnt2, 'w'), 'r+');
    fs.writeSync(w, Buffer.alloc(8192, v), 0, 8192, 0);
    fs.closeSync(w);
    fs.readSync(fd, b, 0, 8192, 0);
    t.is(b[0], v, `round ${round}: the new bytes, not cached old ones`);
    t.is(b[8191], v);
  }
  t.true(await noEvent(e.dm, e.sid, 50), 'no READ event: the region is for writes only');
});

test.serial('the page cache never hides new data: write_invis and punch_hole on an open, cached file', async (t) => {
  const e = await evMount(t, cluster, node, RW);
  fs.writeFileSync(e.m('c'), Buffer.alloc(8192, 0x41));
  const fd = fs.openSync(e.m('c'), 'r');
  t.teardown(() => { try { fs.closeSync(fd); } catch { /* closed */ } });
  const b = Buffer.alloc(8192);
  fs.readSync(fd, b, 0, 8192, 0);
  t.is(b[0], 0x41);
  const h = await e.dm.pathToHandle(e.m('c'));
  // The DMAPI call answers once the kernel has dropped its caches of the file: no waiting here.
  const settle = () => Promise.resolve();
  await e.dm.writeInvis(e.sid, h, C.DM_NO_TOKEN, 0, Buffer.alloc(4096, 0x42));
  await settle();
  fs.readSync(fd, b, 0, 8192, 0);
  t.is(b[0], 0x42, 'write_invis is seen through the open descriptor');
  // Many times over, each read right after the call (a late invalidation would show old bytes).
  for (let i = 0; i < 200; i++) {
    const v = 0x50 + (i % 100);
    await e.dm.writeInvis(e.sid, h, C.DM_NO_TOKEN, 0, Buffer.alloc(4096, v));
    fs.readSync(fd, b, 0, 4096, 0);
    if (b[0] !== v) { t.fail(`round ${i}: read ${b[0]} after write_invis of ${v}`); break; }
  }
  await e.dm.punchHole(e.sid, h, C.DM_NO_TOKEN, 0, 0);
  await settle();
  fs.readSync(fd, b, 0, 8192, 0);
  t.is(b[0], 0, 'punch_hole is seen too');
  // A region set while the file is open and cached: the next read raises its event.
  await e.dm.setRegion(e.sid, h, C.DM_NO_TOKEN, [{ offset: 0n, size: 0n, flags: C.DM_REGION_READ, opaque: 0 }]);
  await settle();
  const reader = run(t, 'dd', [`if=${e.m('c')}`, 'bs=4096', 'count=1', 'status=none']);
  const ev = await expectEvent(e.dm, e.sid, C.DM_EVENT_READ);
  await e.dm.respondEvent(e.sid, ev.token, C.DM_RESP_CONTINUE, 0);
  t.is((await reader.finish()).code, 0);
  // Again: an answered event without clearing the region does not let the next read skip its event.
  const reader2 = run(t, 'dd', [`if=${e.m('c')}`, 'bs=4096', 'count=1', 'status=none']);
  const ev2 = await expectEvent(e.dm, e.sid, C.DM_EVENT_READ);
  await e.dm.respondEvent(e.sid, ev2.token, C.DM_RESP_CONTINUE, 0);
  t.is((await reader2.finish()).code, 0);
});
