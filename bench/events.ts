// Event benchmark against a real node daemon and a real DMAPI-enabled mount (private run directory):
// `npm run bench:events` after a build, `-- --json` for a last-line JSON {"metrics": {...}}. Root only.
//
//   read_event_rtt_p50_us / _p99_us     one application process preads 4 KiB of a file with a READ
//                                       region: pread → READ event → DM application (get_events,
//                                       respond CONTINUE, TypeScript client) → pread returns.
//                                       Target: p50 ≤ 100 µs. Peer: the kernel's fanotify
//                                       permission-event round trip (FAN_ACCESS_PERM answered by a
//                                       C program), measured here the same way.
//   read_event_rtt_libdm_p50_us         the same with the DM application in C (libdm)
//   sync_events_1_consumer_per_s        synchronous READ events answered per second, 4 application
//                                       processes on 4 files, 1 consumer process (target ≥ 10,000)
//   sync_events_4_consumers_per_s       the same with 4 consumer processes on the session
//   create_us / create_with_event_us    time to create (open O_CREAT|O_EXCL + close) one file, without
//                                       and with a CREATE disposition (the consumer answers CONTINUE);
//                                       peer: the same in the backing directory
//   create_event_overhead_us            the difference
//
// Every measured phase runs after a warm-up in the same processes (JIT, caches), so the figures are
// the steady state an HSM sees, not the first few thousand events of a new process. The latency
// and rate phases repeat `--rounds N` times (default 3): medians over the rounds, with the range.
import { ChildProcess, execFileSync, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { connect } from '../src/dmapi';
import * as C from '../src/dmapi/constants';
import { compileNative } from './peers';
import { median, quantile, report, roundsArg, Row } from './report';

const json = process.argv.includes('--json');
/** `-- --rounds N`: every latency and rate measurement (and the fanotify peer) N times (default 3). */
const ROUNDS = roundsArg(3);
const fmtRange = (v: number[]) => `${Math.round(Math.min(...v)).toLocaleString('en-US')}–${Math.round(Math.max(...v)).toLocaleString('en-US')}`;
const REPO = path.resolve(__dirname, '..', '..');
const CLI = path.join(REPO, 'bin', 'dmapifs');
const CLIENT = path.join(REPO, 'dist', 'src', 'dmapi', 'client.js');
const WARM = 3000;
/** Measured reads of a latency run (about two seconds: a short stall of the shared machine weighs little). */
const N = 20000;
/** Measured reads per reader of a rate run (4 readers). */
const N_RATE = 5000;

/**
 * A child that preads 4 KiB at 0 of `file`: on "warm" (a line on stdin) `warm` times, then answers
 * "w"; on "go" n times, then prints the latencies (ns) as JSON and exits.
 */
function reader(file: string, warm: number, n: number): ChildProcess {
  const js = `const fs=require('fs');const fd=fs.openSync(process.argv[1],'r');const b=Buffer.alloc(4096);
const warm=+process.argv[2],n=+process.argv[3];let buf='';
process.stdin.on('data',(d)=>{buf+=d;let i;while((i=buf.indexOf('\\n'))>=0){const cmd=buf.slice(0,i);buf=buf.slice(i+1);
if(cmd==='warm'){for(let k=0;k<warm;k++)fs.readSync(fd,b,0,4096,0);process.stdout.write('w\\n');}
if(cmd==='go'){const t=new Float64Array(n);for(let k=0;k<n;k++){const a=process.hrtime.bigint();fs.readSync(fd,b,0,4096,0);t[k]=Number(process.hrtime.bigint()-a);}
process.stdin.destroy();process.stdout.write(JSON.stringify(Array.from(t)),()=>process.exit(0));}}});`;
  return spawn(process.execPath, ['-e', js, file, String(warm), String(n)], { stdio: ['pipe', 'pipe', 'inherit'] });
}

/** A child DM application on session sid (TypeScript client): answers CONTINUE to everything until killed. */
function consumer(node: string, runDir: string, sid: number): ChildProcess {
  const js = `const {connect}=require(${JSON.stringify(CLIENT)});(async()=>{const dm=await connect({node:${JSON.stringify(node)},runDir:${JSON.stringify(runDir)}});
process.stdout.write('ready\\n');for(;;){const ev=await dm.getEvents(${sid},0,1,1<<16);for(const e of ev)if(e.token)dm.respondEvent(${sid},e.token,1,0).catch(()=>{});}})().catch((e)=>{console.error('consumer:',e.message);process.exit(0)});`;
  return spawn(process.execPath, ['-e', js], { stdio: ['ignore', 'pipe', 'inherit'] });
}

const out = (c: ChildProcess) => new Promise<string>((res) => { let s = ''; c.stdout!.on('data', (b) => { s += b; }); c.on('close', () => res(s)); });
const line = (c: ChildProcess) => new Promise<void>((res, rej) => {
  c.stdout!.once('data', () => res());
  c.once('exit', (code) => rej(new Error(`child exited (${code}) before it was ready`)));
});

async function main(): Promise<void> {
  const runDir = fs.mkdtempSync('/tmp/dmbench-');
  const env = { ...process.env, DMAPIFS_RUN_DIR: runDir };
  const node = `bev-${process.pid}`;
  const base = fs.mkdtempSync('/tmp/dmbench-ev-');
  const backing = path.join(base, 'b');
  const mnt = path.join(base, 'm');
  fs.mkdirSync(backing);
  fs.mkdirSync(mnt);
  const notes: string[] = [];
  const fan = compileNative('fanotify-rtt.c', base);
  const libdm = compileNative('dm-responder.c', base, [`-I${path.join(REPO, 'include')}`, path.join(REPO, 'native', 'libdm', 'build', 'libdm.a'), '-pthread']);
  for (const c of [fan, libdm]) if (c.why) notes.push(c.why);

  execFileSync(process.execPath, [CLI, 'mount', '--node', node, '--dmapi', '--mount-event-optional', backing, mnt], { env, stdio: 'ignore' });
  const kids: ChildProcess[] = [];
  try {
    const dm = await connect({ node, runDir });
    const sid = await dm.createSession(0, 'bench events');
    const fsh = await dm.pathToFshandle(mnt);
    await dm.setDisp(sid, fsh, C.DM_NO_TOKEN, [C.DM_EVENT_READ, C.DM_EVENT_CREATE]);
    const files = [0, 1, 2, 3].map((i) => path.join(mnt, `f${i}`));
    for (const f of files) {
      fs.writeFileSync(f, Buffer.alloc(65536, 7));
      await dm.setRegion(sid, await dm.pathToHandle(f), C.DM_NO_TOKEN, [{ offset: 0n, size: 0n, flags: C.DM_REGION_READ, opaque: 0 }]);
    }

    /** Readers on the first `readers` files against the consumers given: warm-up, then n measured preads each. */
    const run = async (cs: ChildProcess[], readers: number, n: number) => {
      kids.push(...cs);
      await Promise.all(cs.map(line));
      const rs = Array.from({ length: readers }, (_, i) => reader(files[i], WARM, n));
      kids.push(...rs);
      const warmed = Promise.all(rs.map(line));
      for (const r of rs) r.stdin!.write('warm\n');
      await warmed;
      const outs = rs.map(out);
      const t0 = process.hrtime.bigint();
      for (const r of rs) r.stdin!.write('go\n');
      const lat = (await Promise.all(outs)).flatMap((s) => JSON.parse(s) as number[]).map((ns) => ns / 1000);
      const secs = Number(process.hrtime.bigint() - t0) / 1e9;
      for (const c of cs) c.kill('SIGKILL');
      await new Promise((r) => setTimeout(r, 200));
      return { lat, rate: (readers * n) / secs };
    };
    const tsConsumers = (k: number) => Array.from({ length: k }, () => consumer(node, runDir, sid));

    // Each round runs every latency and rate measurement once, the fanotify peer among them; the
    // figures are the medians over the rounds, with their range.
    const per: Record<string, number[]> = {};
    const keep = (k: string, v: number) => { (per[k] ??= []).push(v); };
    let fanWhy: string | null = fan.prog ? null : 'not built';
    const fanFile = path.join(base, 'fanotify-file');
    fs.writeFileSync(fanFile, Buffer.alloc(65536, 7));
    for (let round = 0; round < ROUNDS; round++) {
      const one = await run(tsConsumers(1), 1, N);
      keep('p50', quantile(one.lat, 0.5));
      keep('p99', quantile(one.lat, 0.99));
      if (libdm.prog) {
        const withC = await run([spawn(libdm.prog, [String(sid)], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...env, DMAPIFS_NODE: node } })], 1, N);
        keep('c_p50', quantile(withC.lat, 0.5));
        keep('c_p99', quantile(withC.lat, 0.99));
      }
      keep('r1', (await run(tsConsumers(1), 4, N_RATE)).rate);
      keep('r4', (await run(tsConsumers(4), 4, N_RATE)).rate);
      // The peer: fanotify on a file of the backing filesystem, same reads.
      if (fan.prog && !fanWhy) {
        const r = spawnSync(fan.prog, [fanFile, String(N), String(WARM)], { encoding: 'utf8' });
        const [p50, p99] = r.stdout.trim().split(/\s+/).map(Number);
        if (r.status === 0 && p50 > 0) { keep('fan_p50', p50); keep('fan_p99', p99); } else fanWhy = (r.stderr || '').trim().split('\n')[0] || `exit ${r.status}`;
      }
    }
    if (fanWhy && fan.prog) notes.push(`fanotify peer not measured: ${fanWhy}`);
    const med = (k: string) => median(per[k]);
    const spread = (k: string, unit: string) => (per[k].length > 1 ? `range ${fmtRange(per[k])} ${unit} over ${per[k].length} rounds` : '');
    const fanotify = per.fan_p50 ? { p50: med('fan_p50'), p99: med('fan_p99') } : null;

    // ---- creation with and without a CREATE event: rounds alternate (the machine's load drifts),
    // one consumer runs throughout, the median round of each kind counts; the peer creates the same
    // files in the backing directory.
    const cons = consumer(node, runDir, sid);
    kids.push(cons);
    await line(cons);
    const createIn = async (dir: string, n: number) => {
      const js = `const fs=require('fs');const d=process.argv[1];const n=+process.argv[2];for(let i=0;i<200;i++)fs.closeSync(fs.openSync(d+'/w'+i,'wx'));
const a=process.hrtime.bigint();for(let i=0;i<n;i++)fs.closeSync(fs.openSync(d+'/f'+i,'wx'));process.stdout.write(String(Number(process.hrtime.bigint()-a)/n));`;
      const w = spawn(process.execPath, ['-e', js, dir, String(n)], { stdio: ['ignore', 'pipe', 'inherit'] });
      return Number(await out(w)) / 1000;
    };
    const createRun = async (kind: 'plain' | 'event' | 'native', n: number, round: number) => {
      // The directory first, with no CREATE in force: this process's own mkdirSync would otherwise
      // wait for an answer while its event loop is blocked in the call.
      const name = `c-${kind}-${round}`;
      fs.mkdirSync(path.join(mnt, name));
      if (kind === 'native') return createIn(path.join(backing, name), n);
      await dm.setEventlist(sid, fsh, C.DM_NO_TOKEN, kind === 'event' ? [C.DM_EVENT_CREATE] : []);
      const us = await createIn(path.join(mnt, name), n);
      await dm.setEventlist(sid, fsh, C.DM_NO_TOKEN, []);
      return us;
    };
    const rounds: Record<'plain' | 'event' | 'native', number[]> = { plain: [], event: [], native: [] };
    for (let round = 0; round < 5; round++) {
      for (const kind of ['plain', 'event', 'native'] as const) rounds[kind].push(await createRun(kind, 1000, round));
    }
    cons.kill('SIGKILL');
    const createUs = quantile(rounds.plain, 0.5);
    const createEvUs = quantile(rounds.event, 0.5);
    const nativeUs = quantile(rounds.native, 0.5);

    const fanPeer = (q: 'p50' | 'p99', ratio: string) => fanotify && {
      name: `fanotify_rtt_${q}_us`, label: 'fanotify, C listener', value: fanotify[q], ratio,
    };
    const rows: Row[] = [
      { name: 'read_event_rtt_p50_us', value: med('p50'), unit: 'µs', what: `TypeScript consumer; ${spread('p50', 'µs')}`, target: { op: '<=', value: 100 }, peer: fanPeer('p50', 'read_event_rtt_p50_vs_fanotify_ratio') },
      { name: 'read_event_rtt_p99_us', value: med('p99'), unit: 'µs', what: `TypeScript consumer; ${spread('p99', 'µs')}`, peer: fanPeer('p99', 'read_event_rtt_p99_vs_fanotify_ratio') },
    ];
    if (per.c_p50) {
      rows.push({ name: 'read_event_rtt_libdm_p50_us', value: med('c_p50'), unit: 'µs', what: `C consumer (libdm); ${spread('c_p50', 'µs')}`, peer: fanPeer('p50', 'read_event_rtt_libdm_p50_vs_fanotify_ratio') });
      rows.push({ name: 'read_event_rtt_libdm_p99_us', value: med('c_p99'), unit: 'µs', what: `C consumer (libdm); ${spread('c_p99', 'µs')}` });
    }
    rows.push(
      { name: 'sync_events_1_consumer_per_s', value: med('r1'), unit: 'events/s', what: `4 readers; ${spread('r1', '/s')}`, target: { op: '>=', value: 10000 } },
      { name: 'sync_events_4_consumers_per_s', value: med('r4'), unit: 'events/s', what: `4 readers; ${spread('r4', '/s')}`, target: { op: '>=', value: 10000 } },
      { name: 'create_us', value: createUs, unit: 'µs', what: 'per file, no event', peer: { name: 'create_native_us', label: 'backing dir', value: nativeUs, ratio: 'create_vs_native_ratio' } },
      { name: 'create_with_event_us', value: createEvUs, unit: 'µs', what: 'per file, CREATE answered' },
      { name: 'create_event_overhead_us', value: createEvUs - createUs, unit: 'µs', what: 'per file' },
    );
    notes.push(`${WARM.toLocaleString('en-US')} warm-up reads per reader before ${N.toLocaleString('en-US')} measured ones (rates: ${N_RATE.toLocaleString('en-US')} per reader); ` +
      `the fanotify peer has no daemon in between: the kernel hands the event straight to the listener (2 context switches per read, ours 4).`);
    report(`DMAPI events, one node daemon (node ${process.version}, ${os.cpus().length} CPUs)`, rows, { json, notes });
    await dm.setDisp(sid, fsh, C.DM_NO_TOKEN, []);
    dm.close();
  } finally {
    for (const k of kids) k.kill('SIGKILL');
    try { execFileSync(process.execPath, [CLI, 'umount', '--node', node, mnt], { env, stdio: 'ignore' }); } catch { /* below */ }
    try { execFileSync(process.execPath, [CLI, 'node', 'stop', '--node', node], { env, stdio: 'ignore' }); } catch { /* gone */ }
    try { execFileSync('umount', ['-l', mnt], { stdio: 'ignore' }); } catch { /* not mounted */ }
    fs.rmSync(base, { recursive: true, force: true });
    fs.rmSync(runDir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(`bench:events: ${(e as Error).stack ?? e}`);
  process.exit(1);
});
