// The C examples (examples/c) against a real mount and a real daemon: the C HSM passes the
// migrate/recall scenario of the TypeScript one (READ via cat, WRITE via dd, TRUNCATE via truncate,
// DESTROY deletes the archive copy), and dmdump prints namespace events as they happen.
import test, { ExecutionContext } from 'ava';
import { ChildProcess, execFile, execFileSync, spawn } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { connect } from '../src/dmapi/client';
import * as C from '../src/dmapi/constants';
import { pidAlive, REPO, useCluster, waitFor } from './helpers/cluster';
import { dmapiMount } from './helpers/dmapi-mount';

const cluster = useCluster();
const node = cluster.uniqueNode('libdmex');
const EX = path.join(REPO, 'examples', 'c');
const env = () => ({ ...process.env, DMAPIFS_RUN_DIR: cluster.runDir, DMAPIFS_NODE: node });

test.before(() => {
  execFileSync('make', ['-C', EX], { stdio: ['ignore', 'pipe', 'pipe'] });
});

const dmMount = (t: ExecutionContext) => dmapiMount(t, cluster, node);

/** A long-running example; its output accumulates; killed (by pid) in teardown. */
function start(t: ExecutionContext, exe: string, args: string[]): { proc: ChildProcess; out: () => string } {
  const proc = spawn(path.join(EX, 'build', exe), args, { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (b: Buffer) => { out += b.toString(); });
  proc.stderr!.on('data', (b: Buffer) => { out += b.toString(); });
  t.teardown(() => { if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL'); });
  return { proc, out: () => out };
}

function sh(cmd: string, args: string[]): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env: env(), encoding: 'buffer', timeout: 30000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr: stderr.toString() });
    });
  });
}

test.serial('C HSM: migrate, then READ / WRITE / TRUNCATE recall with write_invis, DESTROY deletes the copy', async (t) => {
  const { mnt, backing } = await dmMount(t);
  const archive = cluster.tmpDir(t, 'dmfs-arch-');
  const hsm = start(t, 'hsm', ['serve', '--mnt', mnt, '--archive', archive]);
  await waitFor(() => /waiting for events/.test(hsm.out()), 10000, 'the C HSM to start');

  const orig = crypto.randomBytes(300 * 1024 + 17);
  for (const f of ['r', 'w', 'tr', 'gone']) fs.writeFileSync(path.join(mnt, f), orig);
  const mig = await sh(path.join(EX, 'build', 'hsm'), ['migrate', '--archive', archive, ...['r', 'w', 'tr', 'gone'].map((f) => path.join(mnt, f))]);
  t.is(mig.code, 0, mig.stderr);
  t.is(fs.readdirSync(archive).length, 4, 'four archive copies');
  for (const f of ['r', 'w', 'tr', 'gone']) {
    t.is(fs.statSync(path.join(mnt, f)).size, orig.length, 'the size stays');
    t.true(fs.statSync(path.join(backing, f)).blocks * 512 < 64 * 1024, `the data of ${f} is gone from the backing file`);
  }

  // READ: cat blocks until the HSM recalled the data, then prints the original bytes.
  const cat = await sh('cat', [path.join(mnt, 'r')]);
  t.is(cat.code, 0, cat.stderr);
  t.true(cat.stdout.equals(orig), 'cat printed the original bytes');
  t.regex(hsm.out(), /event READ token \d+/);
  t.regex(hsm.out(), /recalled 307217 bytes/);

  // WRITE in the middle: recalled first, then the write lands on the original bytes.
  const dd = await sh('dd', ['if=/dev/zero', `of=${path.join(mnt, 'w')}`, 'bs=1', 'count=5', 'seek=1000', 'conv=notrunc', 'status=none']);
  t.is(dd.code, 0, dd.stderr);
  const want = Buffer.from(orig);
  want.fill(0, 1000, 1005);
  t.true(fs.readFileSync(path.join(mnt, 'w')).equals(want), 'original bytes with the write applied');
  t.regex(hsm.out(), /event WRITE token \d+ ino \d+ offset 1000 length 1/);

  // TRUNCATE: recalled, then truncated.
  const tr = await sh('truncate', ['-s', '4096', path.join(mnt, 'tr')]);
  t.is(tr.code, 0, tr.stderr);
  t.true(fs.readFileSync(path.join(mnt, 'tr')).equals(orig.subarray(0, 4096)));
  t.regex(hsm.out(), /event TRUNCATE token \d+ ino \d+ offset 4096/);
  // (the HSM logs the answer after sending it: the application may be faster than the log line)
  await waitFor(() => (hsm.out().match(/answered CONTINUE/g) ?? []).length === 3, 10000, 'three recalls answered');
  t.is(fs.readdirSync(archive).length, 4);

  // DESTROY: removing the migrated file deletes its archive copy (the id comes back in the message).
  fs.unlinkSync(path.join(mnt, 'gone'));
  await waitFor(() => /event DESTROY: archive copy [0-9a-f]+ deleted/.test(hsm.out()), 10000, 'the HSM to report DESTROY');
  t.is(fs.readdirSync(archive).length, 3, 'the archive copy of the removed file is gone');
  t.is(hsm.proc.exitCode, null, 'the HSM still runs');
  t.log(hsm.out().trim());
});

test.serial('C HSM: a restarted HSM assumes its session and answers what was left outstanding', async (t) => {
  const { mnt } = await dmMount(t);
  const archive = cluster.tmpDir(t, 'dmfs-arch-');
  const orig = crypto.randomBytes(100 * 1024);
  fs.writeFileSync(path.join(mnt, 'f'), orig);
  const first = start(t, 'hsm', ['serve', '--mnt', mnt, '--archive', archive]);
  await waitFor(() => /waiting for events/.test(first.out()), 10000, 'the C HSM to start');
  const mig = await sh(path.join(EX, 'build', 'hsm'), ['migrate', '--archive', archive, path.join(mnt, 'f')]);
  t.is(mig.code, 0, mig.stderr);
  // Stop the HSM, then read: the READ waits in the session with nobody to take it.
  first.proc.kill('SIGKILL');
  await new Promise((r) => first.proc.once('exit', r));
  const cat = sh('cat', [path.join(mnt, 'f')]);
  await new Promise((r) => setTimeout(r, 300));
  const second = start(t, 'hsm', ['serve', '--mnt', mnt, '--archive', archive]);
  const r = await cat;
  t.is(r.code, 0, r.stderr);
  t.true(r.stdout.equals(orig), 'the restarted HSM recalled the data');
  const sid1 = /session (\d+)/.exec(first.out())?.[1];
  const sid2 = /session (\d+)/.exec(second.out())?.[1];
  t.truthy(sid1);
  t.is(sid2, sid1, 'the same session, assumed');
});

test.serial('C HSM: kill -9 of the node daemon; after the remount the same HSM process assumes its session and recalls', async (t) => {
  const own = cluster.uniqueNode('libdmk');
  t.teardown(() => cluster.stopNode(own));
  const backing = cluster.tmpDir(t, 'dmfs-back-');
  const mnt = cluster.tmpDir(t, 'dmfs-mnt-');
  const archive = cluster.tmpDir(t, 'dmfs-arch-');
  t.teardown(() => cluster.unmount(mnt));
  t.is((await cluster.cli(['mount', '--node', own, '--dmapi', '--mount-event-optional', backing, mnt], { timeoutMs: 30000 })).code, 0);
  const orig = crypto.randomBytes(200 * 1024 + 3);
  fs.writeFileSync(path.join(mnt, 'f'), orig);
  const hsm = start(t, 'hsm', ['serve', '--node', own, '--mnt', mnt, '--archive', archive]);
  await waitFor(() => /waiting for events/.test(hsm.out()), 10000, 'the C HSM to start');
  const mig = await sh(path.join(EX, 'build', 'hsm'), ['migrate', '--node', own, '--archive', archive, path.join(mnt, 'f')]);
  t.is(mig.code, 0, mig.stderr);
  const sid = /session (\d+)/.exec(hsm.out())![1];

  const pid = cluster.daemonPid(own)!;
  process.kill(pid, 'SIGKILL');
  await waitFor(() => !pidAlive(pid), 5000, `daemon ${pid} to die`);
  await waitFor(() => /node daemon is gone \(ENOTREADY\)/.test(hsm.out()), 10000, 'the HSM to see ENOTREADY');
  await cluster.cli(['umount', mnt], { timeoutMs: 30000 });
  const r = await cluster.cli(['mount', '--node', own, '--dmapi', '--mount-event-optional', backing, mnt], { timeoutMs: 30000 });
  t.is(r.code, 0, r.stderr);
  await waitFor(() => new RegExp(`session ${sid} assumed`).test(hsm.out()), 10000, 'the HSM to assume its session again');
  t.true(fs.statSync(path.join(backing, 'f')).blocks * 512 < 64 * 1024, 'still migrated after the restart');
  const cat = await sh('cat', [path.join(mnt, 'f')]);
  t.is(cat.code, 0, cat.stderr);
  t.true(cat.stdout.equals(orig), 'recalled by the same HSM process');
  t.is(hsm.proc.exitCode, null);
  t.log(hsm.out().trim());
  // teardown of this node: the session goes with it
  const dm = await connect({ node: own, runDir: cluster.runDir });
  const fsh = await dm.pathToFshandle(mnt);
  await dm.setEventlist(Number(sid), fsh, C.DM_NO_TOKEN, []).catch(() => undefined);
  await dm.setDisp(Number(sid), fsh, C.DM_NO_TOKEN, []).catch(() => undefined);
  hsm.proc.kill('SIGKILL');
  await dm.destroySession(Number(sid)).catch(() => undefined);
  dm.close();
});

test.serial('dmdump prints namespace events with names and handles', async (t) => {
  const { mnt } = await dmMount(t);
  const dump = start(t, 'dmdump', [mnt]);
  await waitFor(() => /events 0x[0-9a-f]+ on /.test(dump.out()), 10000, 'dmdump to start');
  fs.writeFileSync(path.join(mnt, 'a'), 'x');
  fs.renameSync(path.join(mnt, 'a'), path.join(mnt, 'b'));
  fs.mkdirSync(path.join(mnt, 'd'));
  fs.unlinkSync(path.join(mnt, 'b'));
  await waitFor(() => /POSTREMOVE .*name1="b"/.test(dump.out()), 10000, 'the POSTREMOVE line');
  const out = dump.out();
  t.regex(out, /^CREATE token=[1-9]\d* seq=\d+ mode=0100\d+ handle1=ino:\d+ name1="a"/m);
  t.regex(out, /^POSTCREATE token=0 .*handle2=ino:\d+ name1="a" retcode=0/m);
  t.regex(out, /^RENAME token=[1-9]\d* .*name1="a" name2="b"/m);
  t.regex(out, /^CREATE token=[1-9]\d* seq=\d+ mode=040\d+ handle1=ino:\d+ name1="d"/m);
  t.regex(out, /^REMOVE token=[1-9]\d* .*name1="b"/m);
  t.is(dump.proc.exitCode, null);
  t.log(out.trim());
});

test.serial('dmdump leaves the dispositions another session holds, and restores the event list and --take dispositions at exit', async (t) => {
  const { mnt } = await dmMount(t);
  const dm = await connect({ node, runDir: cluster.runDir });
  t.teardown(() => dm.close());
  const sid = await dm.createSession(0, 'the-hsm');
  t.teardown(() => dm.destroySession(sid).catch(() => undefined));
  const fsh = await dm.pathToFshandle(mnt);
  await dm.setDisp(sid, fsh, C.DM_NO_TOKEN, [C.DM_EVENT_READ, C.DM_EVENT_DESTROY]);
  await dm.setEventlist(sid, fsh, C.DM_NO_TOKEN, [C.DM_EVENT_DESTROY]);
  const mine = async () => (await dm.getallDisp(sid)).find((d) => d.fsHandle.equals(fsh))?.events ?? [];

  const dump = start(t, 'dmdump', [mnt]);
  await waitFor(() => /events 0x[0-9a-f]+ on /.test(dump.out()), 10000, 'dmdump to start');
  t.regex(dump.out(), /leaving events 0x[0-9a-f]+ to session \d+/);
  t.deepEqual(await mine(), [C.DM_EVENT_READ, C.DM_EVENT_DESTROY], 'the HSM keeps its dispositions');
  fs.writeFileSync(path.join(mnt, 'a'), 'x');
  await waitFor(() => /POSTCREATE .*name1="a"/.test(dump.out()), 10000, 'the POSTCREATE line');
  dump.proc.kill('SIGTERM');
  await new Promise((r) => dump.proc.once('exit', r));
  t.is(dump.proc.exitCode, 0);
  t.deepEqual((await dm.getEventlist(sid, fsh, C.DM_NO_TOKEN)).events, [C.DM_EVENT_DESTROY], 'the event list it found is back');

  // --take: takes them while it runs, gives them back at exit.
  const take = start(t, 'dmdump', ['--take', mnt]);
  await waitFor(() => /events 0x[0-9a-f]+ on /.test(take.out()), 10000, 'dmdump --take to start');
  t.deepEqual(await mine(), []);
  take.proc.kill('SIGINT');
  await new Promise((r) => take.proc.once('exit', r));
  t.is(take.proc.exitCode, 0, take.out());
  t.deepEqual(await mine(), [C.DM_EVENT_READ, C.DM_EVENT_DESTROY], 'given back');
  t.deepEqual((await dm.getEventlist(sid, fsh, C.DM_NO_TOKEN)).events, [C.DM_EVENT_DESTROY]);
});
