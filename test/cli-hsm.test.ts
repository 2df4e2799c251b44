// dmapifs hsm against real daemons and a real mount: the HSM command's whole life (policy,
// archive, release, state, restore, recall on access, cancel, checksum mismatch refused), the
// passive tracer beside it, and kill -9 of the HSM in the middle of a recall.
import test, { ExecutionContext } from 'ava';
import { ChildProcess, spawn } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { CLI, useCluster, waitFor } from './helpers/cluster';
import { run } from './helpers/events';

const cluster = useCluster();

/** `dmapifs ARGS` as a child process of this cluster's run directory; killed in teardown. */
function cliProc(t: ExecutionContext, args: string[]) {
  const saved = process.env.DMAPIFS_RUN_DIR;
  process.env.DMAPIFS_RUN_DIR = cluster.runDir;
  try { return run(t, process.execPath, [CLI, ...args]); } finally { if (saved === undefined) delete process.env.DMAPIFS_RUN_DIR; else process.env.DMAPIFS_RUN_DIR = saved; }
}

interface Hsmd { proc: ChildProcess; log(): string; stop(): Promise<void> }

function startHsm(t: ExecutionContext, node: string, archive: string, extra: string[] = []): Hsmd {
  let log = '';
  const proc = spawn(process.execPath, [CLI, 'hsm', 'start', '--node', node, '--archive', archive, ...extra], { env: cluster.env, stdio: ['ignore', 'ignore', 'pipe'] });
  proc.stderr!.on('data', (b: Buffer) => { log += b.toString(); });
  const exited = new Promise<void>((r) => proc.on('exit', () => r()));
  const stop = async () => { if (proc.exitCode === null && proc.signalCode === null) { proc.kill('SIGTERM'); await exited; } };
  t.teardown(async () => { if (proc.exitCode === null && proc.signalCode === null) { proc.kill('SIGKILL'); await exited; } });
  return { proc, log: () => log, stop };
}

async function setup(t: ExecutionContext, files: Record<string, Buffer>, hsmArgs: string[] = []) {
  const node = cluster.uniqueNode('hsm');
  const backing = cluster.tmpDir(t, 'dmfs-back-');
  const mnt = cluster.tmpDir(t, 'dmfs-mnt-');
  const archive = cluster.tmpDir(t, 'dmfs-arch-');
  for (const [n, b] of Object.entries(files)) fs.writeFileSync(path.join(backing, n), b);
  await cluster.cliOk(t, ['node', 'start', '--node', node]);
  t.teardown(() => cluster.stopNode(node));
  let hsm = startHsm(t, node, archive, hsmArgs);
  await waitFor(() => /holding MOUNT/.test(hsm.log()), 10000, 'the HSM to start');
  // The HSM takes the filesystem in hand at its MOUNT event.
  await cluster.cliOk(t, ['mount', '--node', node, '--dmapi', backing, mnt]);
  t.teardown(async () => {
    await hsm.stop();
    await cluster.cli(['umount', '--node', node, mnt]);
    if (fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${mnt} `)) await cluster.cli(['umount', '--lazy', mnt]);
  });
  await waitFor(() => /MOUNT of .*managing it/.test(hsm.log()), 10000, 'the HSM to manage the mount');
  return {
    node, backing, mnt, archive, m: (n: string) => path.join(mnt, n), hsm: () => hsm,
    restart: (args: string[] = []) => { hsm = startHsm(t, node, archive, args); return hsm; },
  };
}

async function hsmJson<T>(t: ExecutionContext, args: string[]): Promise<T> {
  const r = await cluster.cli(['hsm', ...args, '--json']);
  t.is(r.code, 0, `dmapifs hsm ${args.join(' ')}: ${r.stdout}${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

const stateOf = async (t: ExecutionContext, f: string) => (await hsmJson<{ files: Array<{ state: string; key: string | null; sha256: string | null }> }>(t, ['state', f])).files[0];
const allocated = (f: string) => fs.statSync(f).blocks * 512;

test.serial('the HSM command: policy, archive, release, state, recall on access beside the tracer, restore, cancel, checksum refused', async (t) => {
  const big = crypto.randomBytes(3 << 20);
  const small = crypto.randomBytes(5000);
  const fresh = crypto.randomBytes(2 << 20);
  const e = await setup(t, { 'old.dat': big, 'small.dat': small, 'fresh.dat': fresh, 'old.txt': crypto.randomBytes(2 << 20) });
  const old = new Date(Date.now() - 3 * 3600 * 1000);
  for (const n of ['old.dat', 'small.dat', 'old.txt']) fs.utimesSync(path.join(e.backing, n), old, old);

  // policy: a bulkattr scan chooses the old, large .dat files only.
  const dry = await hsmJson<{ chosen: string[] }>(t, ['policy', e.mnt, '--archive', e.archive, '--older-than', '1h', '--larger-than', '1M', '--match', '*.dat', '--dry-run']);
  t.deepEqual(dry.chosen, [e.m('old.dat')]);
  const pol = await hsmJson<{ results: Array<{ path: string; state: string }> }>(t, ['policy', e.mnt, '--archive', e.archive, '--older-than', '1h', '--larger-than', '1M', '--match', '*.dat']);
  t.deepEqual(pol.results.map((r) => [r.path, r.state]), [[e.m('old.dat'), 'premigrated']]);
  const pre = await stateOf(t, e.m('old.dat'));
  t.is(pre.sha256, crypto.createHash('sha256').update(big).digest('hex'));
  t.true(fs.readFileSync(path.join(e.archive, pre.key!)).equals(big), 'the archive copy holds the data');
  t.true(allocated(path.join(e.backing, 'old.dat')) >= big.length, 'premigrated: the data is still in the file');
  t.is((await stateOf(t, e.m('small.dat'))).state, 'resident');

  // release: punched out, state migrated.
  await hsmJson(t, ['release', e.m('old.dat'), '--archive', e.archive]);
  t.is((await stateOf(t, e.m('old.dat'))).state, 'migrated');
  t.true(allocated(path.join(e.backing, 'old.dat')) < 64 * 1024, 'migrated: the data is punched out');
  const plainState = await cluster.cli(['hsm', 'state', e.m('old.dat'), e.m('fresh.dat')]);
  t.regex(plainState.stdout, /^migrated .*old\.dat\nresident .*fresh\.dat\n$/);

  // The tracer beside the HSM: an application reads the migrated file; bytes right, the
  // dispositions the same before and after, and the tracer saw the READ raised and answered.
  const dispBefore = (await cluster.cli(['dm', 'disp', '--node', e.node, '--json'])).stdout;
  const tracer = cliProc(t, ['events', 'watch', e.mnt, '--json', '--duration', '8']);
  let banner = '';
  tracer.proc.stderr!.on('data', (b: Buffer) => { banner += b.toString(); });
  await waitFor(() => /watching DMAPI events/.test(banner), 10000, 'the tracer to start');
  t.true(fs.readFileSync(e.m('old.dat')).equals(big), 'the application read the right bytes');
  t.is((await cluster.cli(['dm', 'disp', '--node', e.node, '--json'])).stdout, dispBefore);
  const trace = (await tracer.finish(20000)).stdout.toString().trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { what: string; event?: { type: string; object: string }; response?: string });
  const reads = trace.filter((r) => r.event?.type === 'READ' && r.event.object === e.m('old.dat'));
  t.deepEqual(reads.map((r) => r.what), ['raised', 'delivered', 'answered'], JSON.stringify(trace));
  t.is(reads[2].response, 'continue');
  t.is((await stateOf(t, e.m('old.dat'))).state, 'premigrated');
  t.regex(e.hsm().log(), /recalled .*3145728 bytes .*checksum verified/);

  // restore: recall without an access.
  await hsmJson(t, ['archive', '--release', e.m('fresh.dat'), '--archive', e.archive]);
  t.is((await stateOf(t, e.m('fresh.dat'))).state, 'migrated');
  await hsmJson(t, ['restore', e.m('fresh.dat'), '--archive', e.archive]);
  t.is((await stateOf(t, e.m('fresh.dat'))).state, 'premigrated');
  t.true(fs.readFileSync(path.join(e.backing, 'fresh.dat')).equals(fresh), 'restored in the backing file itself');

  // A write to a premigrated file drops its (now stale) archive copy.
  const key = (await stateOf(t, e.m('fresh.dat'))).key!;
  fs.appendFileSync(e.m('fresh.dat'), 'more');
  t.is((await stateOf(t, e.m('fresh.dat'))).state, 'resident');
  t.false(fs.existsSync(path.join(e.archive, key)));

  // Checksum mismatch: a corrupted archive copy is refused by release and by the recall.
  await hsmJson(t, ['archive', e.m('small.dat'), '--archive', e.archive]);
  const sk = (await stateOf(t, e.m('small.dat'))).key!;
  const copy = path.join(e.archive, sk);
  const bad = Buffer.from(small);
  bad[100] ^= 0xff;
  fs.writeFileSync(copy, bad);
  const refused = await cluster.cli(['hsm', 'release', e.m('small.dat'), '--archive', e.archive]);
  t.is(refused.code, 1);
  t.regex(refused.stderr, /does not match its checksum.*not released/);
  t.is((await stateOf(t, e.m('small.dat'))).state, 'premigrated');
  t.true(fs.readFileSync(path.join(e.backing, 'small.dat')).equals(small), 'the data was not punched out');
  fs.writeFileSync(copy, small);
  await hsmJson(t, ['release', e.m('small.dat'), '--archive', e.archive]);
  fs.writeFileSync(copy, bad);
  const rd = await run(t, 'cat', [e.m('small.dat')]).finish();
  t.not(rd.code, 0);
  t.regex(rd.stderr, /Input\/output error/);
  t.regex(e.hsm().log(), /does not match its checksum.*recall refused/);
  t.is((await stateOf(t, e.m('small.dat'))).state, 'migrated');
  fs.writeFileSync(copy, small);
  t.true(fs.readFileSync(e.m('small.dat')).equals(small), 'recalled once the copy is right again');

  // cancel: a slow archive (--bandwidth) is cancelled; nothing is left of it.
  const slowData = crypto.randomBytes(8 << 20);
  fs.writeFileSync(e.m('slow.bin'), slowData);
  const job = cliProc(t, ['hsm', 'archive', e.m('slow.bin'), '--archive', e.archive, '--bandwidth', '1M']);
  await waitFor(() => fs.readdirSync(path.join(e.archive, '.partial')).length > 0, 10000, 'the archive to start');
  const c = await cluster.cli(['hsm', 'cancel', e.m('slow.bin'), '--archive', e.archive]);
  t.is(c.code, 0, c.stderr);
  t.regex(c.stdout, /cancelled archive \(pid \d+\)/);
  const jr = await job.finish(20000);
  t.is(jr.code, 130);
  t.regex(jr.stderr, /cancelled/);
  t.is((await stateOf(t, e.m('slow.bin'))).state, 'resident');
  t.deepEqual(fs.readdirSync(path.join(e.archive, '.partial')), []);
  t.true(fs.readFileSync(e.m('slow.bin')).equals(slowData));
});

test.serial('kill -9 of the HSM in the middle of a recall: the restarted HSM assumes its session and redoes it', async (t) => {
  const data = crypto.randomBytes(6 << 20);
  const e = await setup(t, { 'f.bin': data }, ['--bandwidth', '1M']);
  await hsmJson(t, ['archive', '--release', e.m('f.bin'), '--archive', e.archive]);
  const reader = run(t, 'sha256sum', [e.m('f.bin')]);
  await waitFor(() => /recalling/.test(e.hsm().log()), 10000, 'the recall to start');
  await new Promise((r) => setTimeout(r, 1500));
  e.hsm().proc.kill('SIGKILL');
  await new Promise((r) => e.hsm().proc.once('exit', r));
  t.false(reader.exited(), 'the reader still waits');
  const again = e.restart();
  const r = await reader.finish(30000);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout.toString().split(' ')[0], crypto.createHash('sha256').update(data).digest('hex'));
  t.regex(again.log(), /session \d+ assumed/);
  t.regex(again.log(), /redoing 1 event/);
  t.is((await stateOf(t, e.m('f.bin'))).state, 'premigrated');
});
