// The seam between the filesystem and the DMAPI (src/backing): every fallocate mode and
// copy_file_range go through the one data gate (WRITE event, DM-rights exclusion); dm_punch_hole
// leaves the visible times alone; dt_emask counts region events as get_eventlist does; a
// DM_NO_TOKEN call whose caller dies while it waits for its right is cancelled; handles and
// filesystem-wide DMAPI state stay right with two daemons serving one backing directory.
import test from 'ava';
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { connect } from '../src/dmapi/client';
import { useCluster, waitFor } from './helpers/cluster';
import { C, evMount, expectEvent, holdRight, noEvent, run } from './helpers/events';

const cluster = useCluster();
const node = cluster.uniqueNode('seam');
const CLIENT_JS = require.resolve('../src/dmapi/client');

test.serial('fallocate (every mode) and copy_file_range raise WRITE where a region asks for it', async (t) => {
  const e = await evMount(t, cluster, node, [C.DM_EVENT_WRITE]);
  // The kernel's FUSE client passes on plain allocation, KEEP_SIZE, PUNCH_HOLE and ZERO_RANGE; it
  // refuses COLLAPSE_RANGE and INSERT_RANGE itself (EOPNOTSUPP, fs/fuse/file.c), before any request.
  const modes: Array<[string, string[]]> = [
    ['plain', ['-l', '1M']],
    ['KEEP_SIZE', ['-n', '-o', '1M', '-l', '1M']],
    ['PUNCH_HOLE', ['-p', '-o', '0', '-l', '64K']],
    ['ZERO_RANGE', ['-z', '-o', '64K', '-l', '64K']],
  ];
  for (const [name, args] of modes) {
    const f = `f-${name}`;
    fs.writeFileSync(path.join(e.backing, f), Buffer.alloc(256 * 1024, 7));
    fs.writeFileSync(path.join(e.backing, `native-${name}`), Buffer.alloc(256 * 1024, 7));
    const native = spawnSync('fallocate', [...args, path.join(e.backing, `native-${name}`)]);
    const h = await e.dm.pathToHandle(e.m(f));
    await e.dm.setRegion(e.sid, h, C.DM_NO_TOKEN, [{ offset: 0n, size: 0n, flags: C.DM_REGION_WRITE, opaque: 0 }]);
    const p = run(t, 'fallocate', [...args, e.m(f)]);
    const ev = await expectEvent(e.dm, e.sid, C.DM_EVENT_WRITE, `fallocate ${name}`);
    t.deepEqual(ev.handle, h, name);
    await new Promise((r) => setTimeout(r, 100));
    t.false(p.exited(), `fallocate ${name} waits for the answer`);
    await e.dm.respondEvent(e.sid, ev.token, C.DM_RESP_CONTINUE, 0);
    const r = await p.finish();
    t.is(r.code, native.status, `fallocate ${name}: the same result as on the backing (${r.stderr})`);
    t.is(fs.statSync(path.join(e.backing, f)).size, fs.statSync(path.join(e.backing, `native-${name}`)).size, name);
  }
  for (const [name, flag] of [['COLLAPSE_RANGE', '-c'], ['INSERT_RANGE', '-i']]) {
    const r = spawnSync('fallocate', [flag, '-o', '0', '-l', '64K', e.m('f-plain')], { encoding: 'utf8' });
    t.regex(r.stderr, /not supported/, `${name}: refused by the kernel's FUSE client`);
  }
  t.true(await noEvent(e.dm, e.sid, 100));
  // copy_file_range into a managed file: WRITE.
  fs.writeFileSync(path.join(e.backing, 'src'), Buffer.alloc(100 * 1024, 3));
  fs.writeFileSync(path.join(e.backing, 'dst'), '');
  const hd = await e.dm.pathToHandle(e.m('dst'));
  await e.dm.setRegion(e.sid, hd, C.DM_NO_TOKEN, [{ offset: 0n, size: 0n, flags: C.DM_REGION_WRITE, opaque: 0 }]);
  const cp = run(t, '/usr/bin/python3', ['-c', `
import os, sys
s = os.open(sys.argv[1], os.O_RDONLY)
d = os.open(sys.argv[2], os.O_WRONLY)
n = 0
while n < 100 * 1024:
    k = os.copy_file_range(s, d, 100 * 1024 - n)
    if k == 0: break
    n += k
print(n)
`, e.m('src'), e.m('dst')]);
  const ev = await expectEvent(e.dm, e.sid, C.DM_EVENT_WRITE, 'copy_file_range');
  t.deepEqual(ev.handle, hd);
  await e.dm.respondEvent(e.sid, ev.token, C.DM_RESP_CONTINUE, 0);
  for (;;) {
    // The copy may be split into several writes, each with its event.
    const more = await e.dm.getEvents(e.sid, 0, 0).catch(() => []);
    for (const m of more) if (m.token) await e.dm.respondEvent(e.sid, m.token, C.DM_RESP_CONTINUE, 0);
    if (cp.exited()) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const r = await cp.finish();
  t.is(r.code, 0, r.stderr);
  t.deepEqual(fs.readFileSync(path.join(e.backing, 'dst')), Buffer.alloc(100 * 1024, 3));
});

test.serial('fallocate waits for a DM right held on its file', async (t) => {
  const e = await evMount(t, cluster, node, []);
  fs.writeFileSync(path.join(e.backing, 'g'), 'x');
  const h = await e.dm.pathToHandle(e.m('g'));
  const release = await holdRight(e.dm, e.sid, h);
  const p = run(t, 'fallocate', ['-l', '1M', e.m('g')]);
  await new Promise((r) => setTimeout(r, 400));
  t.false(p.exited(), 'fallocate waits for the exclusive right');
  t.is(fs.statSync(path.join(e.backing, 'g')).size, 1, 'nothing allocated under the right');
  await release();
  const r = await p.finish();
  t.is(r.code, 0, r.stderr);
  t.is(fs.statSync(path.join(e.backing, 'g')).size, 1024 * 1024);
});

test.serial('dm_punch_hole leaves mtime and ctime as they were (as write_invis does)', async (t) => {
  const e = await evMount(t, cluster, node, []);
  fs.writeFileSync(e.m('p'), Buffer.alloc(256 * 1024, 9));
  const h = await e.dm.pathToHandle(e.m('p'));
  const before = fs.statSync(e.m('p'), { bigint: true });
  await new Promise((r) => setTimeout(r, 20));
  await e.dm.punchHole(e.sid, h, C.DM_NO_TOKEN, 0, 0);
  const after = fs.statSync(e.m('p'), { bigint: true });
  t.true(fs.statSync(path.join(e.backing, 'p')).blocks * 512 < 64 * 1024, 'the hole is punched');
  t.is(after.mtimeNs, before.mtimeNs, 'mtime unchanged');
  t.is(after.ctimeNs, before.ctimeNs, 'ctime unchanged');
  t.is(after.size, before.size);
  // A visible change afterwards shows its own times again.
  fs.appendFileSync(e.m('p'), 'z');
  t.true(fs.statSync(e.m('p'), { bigint: true }).ctimeNs > before.ctimeNs);
});

test.serial('dt_emask includes the events that regions contribute, as get_eventlist reports', async (t) => {
  const e = await evMount(t, cluster, node, []);
  fs.writeFileSync(e.m('r'), 'data');
  const h = await e.dm.pathToHandle(e.m('r'));
  await e.dm.setRegion(e.sid, h, C.DM_NO_TOKEN, [{ offset: 0n, size: 0n, flags: C.DM_REGION_READ | C.DM_REGION_WRITE, opaque: 0 }]);
  await e.dm.setEventlist(e.sid, h, C.DM_NO_TOKEN, [C.DM_EVENT_ATTRIBUTE]);
  const list = await e.dm.getEventlist(e.sid, h, C.DM_NO_TOKEN);
  t.deepEqual(list.events.sort((a, b) => a - b), [C.DM_EVENT_READ, C.DM_EVENT_WRITE, C.DM_EVENT_ATTRIBUTE].sort((a, b) => a - b));
  const st = await e.dm.getFileattr(e.sid, h, C.DM_NO_TOKEN, C.DM_AT_EMASK);
  t.is(st.emask, list.eventset);
});

test.serial('a DM_NO_TOKEN call whose caller is killed while it waits for its right never runs', async (t) => {
  const e = await evMount(t, cluster, node, []);
  const data = Buffer.alloc(128 * 1024, 0x41);
  fs.writeFileSync(e.m('k'), data);
  const h = await e.dm.pathToHandle(e.m('k'));
  const release = await holdRight(e.dm, e.sid, h);
  const child = spawn(process.execPath, ['-e', `
const { connect } = require(${JSON.stringify(CLIENT_JS)});
(async () => {
  const dm = await connect({ node: ${JSON.stringify(node)}, runDir: ${JSON.stringify(cluster.runDir)} });
  process.stdout.write('calling\\n');
  await dm.punchHole(${e.sid}, Buffer.from(${JSON.stringify(h.toString('hex'))}, 'hex'), ${C.DM_NO_TOKEN}, 0, 0);
  process.stdout.write('punched\\n');
})();
`], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => { child.kill('SIGKILL'); });
  let out = '';
  child.stdout.on('data', (d) => { out += String(d); });
  await waitFor(() => out.includes('calling'), 10000, 'the child calls punch_hole');
  await new Promise((r) => setTimeout(r, 300));
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  await new Promise((r) => setTimeout(r, 200));
  await release();
  await new Promise((r) => setTimeout(r, 500));
  t.false(out.includes('punched'));
  t.deepEqual(fs.readFileSync(path.join(e.backing, 'k')), data, "the dead caller's punch_hole did not run");
  t.true(fs.statSync(path.join(e.backing, 'k')).blocks * 512 >= data.length, 'the data is still allocated');
  // Its queued lock request is gone too: a new right is granted at once.
  const tok2 = await e.dm.createUserevent(e.sid, Buffer.from('again'));
  const granted = await Promise.race([
    e.dm.requestRight(e.sid, h, tok2, C.DM_RR_WAIT, C.DM_RIGHT_EXCL).then(() => true),
    new Promise<boolean>((r) => setTimeout(() => r(false), 3000)),
  ]);
  t.true(granted, 'the right is granted: no dead request ahead of it');
  await e.dm.respondEvent(e.sid, tok2, C.DM_RESP_CONTINUE, 0);
  t.true(await noEvent(e.dm, e.sid, 50));
});

test.serial('two daemons serving one backing directory: the same handles at once, no lost filesystem-wide state', async (t) => {
  const backing = cluster.tmpDir(t, 'dmfs-back-');
  const a = await cluster.startNode(t, cluster.uniqueNode('sa'));
  const b = await cluster.startNode(t, cluster.uniqueNode('sb'));
  const mA = cluster.tmpDir(t, 'dmfs-mnt-');
  const mB = cluster.tmpDir(t, 'dmfs-mnt-');
  for (const [n, m] of [[a.node, mA], [b.node, mB]]) {
    t.teardown(() => cluster.unmount(m));
    const r = await cluster.cli(['mount', '--node', n, '--dmapi', '--mount-event-optional', backing, m]);
    t.is(r.code, 0, r.stderr);
  }
  const N = 300;
  for (let i = 0; i < N; i++) {
    fs.symlinkSync(`target-${i}`, path.join(backing, `l${i}`));
    fs.writeFileSync(path.join(backing, `f${i}`), '');
  }
  const dmA = await connect({ node: a.node, runDir: cluster.runDir });
  const dmB = await connect({ node: b.node, runDir: cluster.runDir });
  t.teardown(() => { dmA.close(); dmB.close(); });
  const sidA = await dmA.createSession(0, 'seam-a');
  const sidB = await dmB.createSession(0, 'seam-b');
  t.teardown(async () => {
    await dmA.destroySession(sidA).catch(() => undefined);
    await dmB.destroySession(sidB).catch(() => undefined);
  });
  const fshA = await dmA.pathToFshandle(mA);
  // While the handles are being made (generations assigned on both daemons), A sets the
  // filesystem's event list.
  const names = [...Array(N).keys()].flatMap((i) => [`l${i}`, `f${i}`]);
  const [hA, hB] = await Promise.all([
    Promise.all(names.map((n) => dmA.pathToHandle(path.join(mA, n)))),
    Promise.all(names.map((n) => dmB.pathToHandle(path.join(mB, n)))),
    dmA.setEventlist(sidA, fshA, C.DM_NO_TOKEN, [C.DM_EVENT_DESTROY]),
  ]);
  let differ = 0;
  for (let i = 0; i < names.length; i++) if (!hA[i].equals(hB[i])) differ++;
  t.is(differ, 0, 'both daemons give every object the same handle');
  // Every handle still answers, on either daemon.
  let bad = 0;
  for (let i = 0; i < names.length; i += 7) {
    for (const [dm, sid, h] of [[dmA, sidA, hA[i]], [dmB, sidB, hA[i]]] as const) {
      await dm.getFileattr(sid, h, C.DM_NO_TOKEN, C.DM_AT_STAT).catch(() => { bad++; });
    }
  }
  t.is(bad, 0, 'no handle answers EBADF');
  // The event list A set survived B's generation counter updates, and B sees it.
  const fshB = await dmB.pathToFshandle(mB);
  t.deepEqual((await dmB.getEventlist(sidB, fshB, C.DM_NO_TOKEN)).events, [C.DM_EVENT_DESTROY]);
  t.deepEqual((await dmA.getEventlist(sidA, fshA, C.DM_NO_TOKEN)).events, [C.DM_EVENT_DESTROY]);
  await dmA.setEventlist(sidA, fshA, C.DM_NO_TOKEN, []);
  await waitFor(async () => (await dmB.getEventlist(sidB, fshB, C.DM_NO_TOKEN)).events.length === 0, 5000, 'B sees the cleared list');
});
