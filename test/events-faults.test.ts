// Faults, with real processes: kill -9 of the DM application (its session and
// events stay, the blocked readers stay blocked, a new process assumes the session, gets the events
// again, recalls and answers, the readers complete with the original bytes), and kill -9 of the node
// daemon (after the restart: sessions, dispositions, event lists, regions and DM attributes intact,
// the pending synchronous event comes again, and the blocked work can be redone).
import test from 'ava';
import { ChildProcess, spawn } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import * as readline from 'readline';
import { pidAlive, useCluster, waitFor } from './helpers/cluster';
import { C, evMount, expectEvent, migrate, migrated, recall, recallAndCheck, run } from './helpers/events';
import { connect } from '../src/dmapi/client';

const cluster = useCluster();
const node = cluster.uniqueNode('ef');
const CLIENT = path.join(__dirname, '..', 'src', 'dmapi', 'client.js');
const CONST = path.join(__dirname, '..', 'src', 'dmapi', 'constants.js');

/** A DM application in its own process: `js` runs with dm, C, arg (JSON) and out(obj) (one JSON line). */
function dmApp(t: import('ava').ExecutionContext, runDir: string, nodeName: string, arg: unknown, js: string) {
  const src = `const {connect}=require(${JSON.stringify(CLIENT)});const C=require(${JSON.stringify(CONST)});
const arg=${JSON.stringify(arg)};const out=(o)=>process.stdout.write(JSON.stringify(o)+'\\n');
(async()=>{const dm=await connect({node:${JSON.stringify(nodeName)},runDir:${JSON.stringify(runDir)}});${js}})()
.catch((e)=>{out({error:String(e&&e.message),code:e&&e.code});process.exit(3);});`;
  const proc: ChildProcess = spawn(process.execPath, ['-e', src], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => { if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL'); });
  const lines: unknown[] = [];
  const waiting: Array<() => void> = [];
  readline.createInterface({ input: proc.stdout! }).on('line', (l) => { lines.push(JSON.parse(l)); waiting.splice(0).forEach((w) => w()); });
  const exited = new Promise<void>((res) => proc.on('exit', () => { res(); waiting.splice(0).forEach((w) => w()); }));
  /** The next line the application prints, or a failure naming what it was expected to say. */
  const next = async <T = Record<string, unknown>>(what: string, ms = 10000): Promise<T> => {
    const deadline = Date.now() + ms;
    while (!lines.length) {
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`the DM application exited before it printed ${what}`);
      if (Date.now() > deadline) throw new Error(`the DM application did not print ${what} within ${ms} ms`);
      await new Promise<void>((r) => { waiting.push(r); setTimeout(r, 100); });
    }
    const l = lines.shift() as T & { error?: string };
    if (l.error) throw new Error(`the DM application failed (${what}): ${l.error}`);
    return l;
  };
  return { proc, next, exited };
}

/** Recall of one event in the DM application: archive path from the 'archive' DM attribute. */
const RECALL_JS = `async function recall(sid,ev){const h=ev.handle;const fs=require('fs');
const a=(await dm.getDmattr(sid,h,C.DM_NO_TOKEN,'archive')).toString();const d=fs.readFileSync(a);
await dm.requestRight(sid,h,ev.token,C.DM_RR_WAIT,C.DM_RIGHT_EXCL);
for(let o=0;o<d.length;o+=65536)await dm.writeInvis(sid,h,ev.token,o,d.subarray(o,o+65536));
await dm.setRegion(sid,h,ev.token,[]);await dm.respondEvent(sid,ev.token,C.DM_RESP_CONTINUE,0);}`;

test.serial('kill -9 of the DM application: session and events stay, readers stay blocked; a new process assumes the session, gets the events again, answers, the readers complete', async (t) => {
  const e = await evMount(t, cluster, node, []);
  const arch = cluster.tmpDir(t, 'dmfs-arch-');
  const data: Record<string, Buffer> = {};
  for (const n of ['a', 'b']) {
    data[n] = crypto.randomBytes(200 * 1024 + 3);
    fs.writeFileSync(e.m(n), data[n]);
    const h = await migrate(e.dm, e.sid, e.m(n), path.join(arch, n));
    await e.dm.setDmattr(e.sid, h, C.DM_NO_TOKEN, 'archive', Buffer.from(path.join(arch, n)));
  }
  // The DM application: its own session with the READ disposition; receives one event, never answers.
  const app = dmApp(t, cluster.runDir, node, { mnt: e.mnt }, `
    const sid=await dm.createSession(0,'hsm-app');
    await dm.setDisp(sid,await dm.pathToFshandle(arg.mnt),C.DM_NO_TOKEN,[C.DM_EVENT_READ]);
    out({sid});
    const [ev]=await dm.getEvents(sid,1,C.DM_EV_WAIT);
    out({token:ev.token,type:ev.type});
    setInterval(()=>{},1e9);`);
  const { sid } = await app.next<{ sid: number }>('its session id');
  t.teardown(async () => {
    // Whatever happens: release what is left and remove the application's session.
    const dm = await connect({ node, runDir: cluster.runDir }).catch(() => null);
    if (!dm) return;
    await dm.createSession(sid, 'cleanup').catch(() => undefined);
    for (let i = 0; i < 3; i++) {
      for (const tok of await dm.getallTokens(sid).catch(() => [] as number[])) await dm.respondEvent(sid, tok, C.DM_RESP_CONTINUE, 0).catch(() => undefined);
      for (const ev of await dm.getEvents(sid, 0, 0).catch(() => [])) if (ev.token) await dm.respondEvent(sid, ev.token, C.DM_RESP_CONTINUE, 0).catch(() => undefined);
    }
    await dm.setDisp(sid, e.fsh, C.DM_NO_TOKEN, []).catch(() => undefined);
    await dm.destroySession(sid).catch(() => undefined);
    dm.close();
  });
  const catA = run(t, 'cat', [e.m('a')]);
  const got = await app.next<{ token: number; type: number }>('the READ event of cat a');
  t.is(got.type, C.DM_EVENT_READ);
  app.proc.kill('SIGKILL');
  await app.exited;
  // A second reader, after the death: its event waits in the queue of the orphaned session.
  const catB = run(t, 'cat', [e.m('b')]);
  await new Promise((r) => setTimeout(r, 500));
  t.false(catA.exited(), 'cat a stays blocked after the DM application died');
  t.false(catB.exited(), 'cat b blocks on the orphaned session');
  t.true((await e.dm.getallSessions()).includes(sid), 'the session outlives its process');
  t.is(await e.dm.querySession(sid), 'hsm-app');
  t.deepEqual(await e.dm.getallTokens(sid), [got.token], 'the received event stays outstanding');

  // A new process assumes the session: the outstanding event by dm_getall_tokens/dm_find_eventmsg,
  // the undelivered one by dm_get_events; it recalls both files and answers.
  const rec = dmApp(t, cluster.runDir, node, {}, `${RECALL_JS}
    const sid=await dm.createSession(${sid},'hsm-app');
    const toks=await dm.getallTokens(sid);
    const found=[];for(const tk of toks){const ev=await dm.findEventmsg(sid,tk);found.push({token:tk,type:ev.type});await recall(sid,ev);}
    const [ev]=await dm.getEvents(sid,1,C.DM_EV_WAIT);
    await recall(sid,ev);
    out({sid,found,received:{token:ev.token,type:ev.type}});process.exit(0);`);
  const r = await rec.next<{ sid: number; found: Array<{ token: number; type: number }>; received: { token: number; type: number } }>('the events it recovered');
  t.is(r.sid, sid, 'assuming keeps the session id');
  t.deepEqual(r.found, [{ token: got.token, type: C.DM_EVENT_READ }]);
  t.is(r.received.type, C.DM_EVENT_READ);
  t.not(r.received.token, got.token);
  const ra = await catA.finish();
  const rb = await catB.finish();
  t.is(ra.code, 0, ra.stderr);
  t.is(rb.code, 0, rb.stderr);
  t.true(ra.stdout.equals(data.a), 'cat a prints the original bytes');
  t.true(rb.stdout.equals(data.b), 'cat b prints the original bytes');
});

test.serial('kill -9 of the node daemon: after the restart sessions, dispositions, event lists, regions and DM attributes are intact; the pending READ comes again; the blocked work is redone', async (t) => {
  const own = cluster.uniqueNode('efk');
  t.teardown(() => cluster.stopNode(own));
  const backing = cluster.tmpDir(t, 'dmfs-back-');
  const mnt = cluster.tmpDir(t, 'dmfs-mnt-');
  const m = (n: string) => path.join(mnt, n);
  t.teardown(() => cluster.unmount(mnt));
  t.is((await cluster.cli(['mount', '--node', own, '--dmapi', '--mount-event-optional', backing, mnt], { timeoutMs: 30000 })).code, 0);
  const dm = await connect({ node: own, runDir: cluster.runDir });
  const sid = await dm.createSession(0, 'hsm-node');
  const fsh = await dm.pathToFshandle(mnt);
  const DISP = [C.DM_EVENT_READ, C.DM_EVENT_WRITE, C.DM_EVENT_TRUNCATE, C.DM_EVENT_ATTRIBUTE, C.DM_EVENT_DESTROY];
  await dm.setDisp(sid, fsh, C.DM_NO_TOKEN, DISP);
  await dm.setEventlist(sid, fsh, C.DM_NO_TOKEN, [C.DM_EVENT_DESTROY]);
  const { orig, archive, h } = await migrated(t, cluster, dm, sid, m('f'), 150 * 1024 + 1);
  await dm.setEventlist(sid, h, C.DM_NO_TOKEN, [C.DM_EVENT_ATTRIBUTE, C.DM_EVENT_DESTROY]);
  const regions = await dm.getRegion(sid, h, C.DM_NO_TOKEN);
  t.is(regions.length, 1);
  // The file's list as reported (its regions' data events included, as XFS folds them in).
  const fileList = (await dm.getEventlist(sid, h, C.DM_NO_TOKEN)).events;
  t.true(fileList.includes(C.DM_EVENT_ATTRIBUTE) && fileList.includes(C.DM_EVENT_DESTROY));

  const cat = run(t, 'cat', [m('f')]);
  const ev = await expectEvent(dm, sid, C.DM_EVENT_READ, 'cat of the migrated file');
  const pid = cluster.daemonPid(own)!;
  process.kill(pid, 'SIGKILL');
  await waitFor(() => !pidAlive(pid), 5000, `daemon ${pid} to die`);
  dm.close();
  const rc = await cat.finish();
  t.not(rc.code, 0, 'the blocked reader fails when its daemon dies');

  // Restart: clear the dead mount, mount again (starts the daemon).
  await cluster.cli(['umount', mnt], { timeoutMs: 30000 });
  const r = await cluster.cli(['mount', '--node', own, '--dmapi', '--mount-event-optional', backing, mnt], { timeoutMs: 30000 });
  t.is(r.code, 0, r.stderr);
  t.not(cluster.daemonPid(own), pid);
  const dm2 = await connect({ node: own, runDir: cluster.runDir });
  t.teardown(async () => {
    for (const tok of await dm2.getallTokens(sid).catch(() => [] as number[])) await dm2.respondEvent(sid, tok, C.DM_RESP_CONTINUE, 0).catch(() => undefined);
    await dm2.setDisp(sid, fsh, C.DM_NO_TOKEN, []).catch(() => undefined);
    await dm2.destroySession(sid).catch(() => undefined);
    dm2.close();
  });
  t.true((await dm2.getallSessions()).includes(sid), 'the session survived');
  t.is(await dm2.createSession(sid, 'hsm-node'), sid, 'assumed with the same id');
  t.deepEqual(await dm2.pathToFshandle(mnt), fsh, 'same filesystem handle');
  const disp = await dm2.getallDisp(sid);
  t.is(disp.length, 1);
  t.deepEqual(disp[0].events, [...DISP].sort((x, y) => x - y));
  t.deepEqual((await dm2.getEventlist(sid, fsh, C.DM_NO_TOKEN)).events, [C.DM_EVENT_DESTROY]);
  t.deepEqual(await dm2.pathToHandle(m('f')), h, 'same file handle');
  t.deepEqual((await dm2.getEventlist(sid, h, C.DM_NO_TOKEN)).events, fileList);
  t.deepEqual(await dm2.getRegion(sid, h, C.DM_NO_TOKEN), regions);
  t.is((await dm2.getDmattr(sid, h, C.DM_NO_TOKEN, 'hsmstate')).toString(), 'migrated');
  t.true(fs.statSync(path.join(backing, 'f')).blocks * 512 < 64 * 1024, 'still migrated');

  // The synchronous event pending at the crash comes again with its token (not received yet).
  const again = await expectEvent(dm2, sid, C.DM_EVENT_READ, 'the READ pending at the crash, recovered');
  t.is(again.token, ev.token);
  t.deepEqual(again.handle, h);
  await dm2.respondEvent(sid, again.token, C.DM_RESP_CONTINUE, 0);

  // Redo the work: a new reader blocks, the recall answers, it gets the original bytes.
  const cat2 = run(t, 'cat', [m('f')]);
  const ev2 = await expectEvent(dm2, sid, C.DM_EVENT_READ, 'cat again after the restart');
  await new Promise((res) => setTimeout(res, 200));
  t.false(cat2.exited(), 'the reader waits again for the recall');
  await recallAndCheck(t, dm2, sid, ev2, h, archive, cat2, orig);
});
