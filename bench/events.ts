// Event benchmark against a real node daemon and a real DMAPI-enabled mount (private run directory):
// `npm run bench:events` after a build, `-- --json` for a last-line JSON {"metrics": {...}}. Root only.
//
//   read_event_rtt_p50_us / _p99_us   one application process preads 4 KiB of a file with a READ
//                                     region: pread → READ event → consumer (get_events, respond
//                                     CONTINUE) → pread returns. Targets: p50 ≤ 100 µs.
//   sync_events_per_s_1_consumer      synchronous READ events answered per second, 4 application
//                                     processes on 4 files, 1 consumer process (target ≥ 10,000)
//   sync_events_per_s_4_consumers     the same with 4 consumer processes on the session
//   create_us / create_with_event_us  time to create (open O_CREAT|O_EXCL + close) one file, without
//                                     and with a CREATE disposition (the consumer answers CONTINUE)
//   create_event_overhead_us          the difference
import { ChildProcess, execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { connect } from '../src/dmapi';
import * as C from '../src/dmapi/constants';

const json = process.argv.includes('--json');
const REPO = path.resolve(__dirname, '..', '..');
const CLI = path.join(REPO, 'bin', 'dmapifs');
const CLIENT = path.join(REPO, 'dist', 'src', 'dmapi', 'client.js');

/**
 * A child that preads `file` n times (4 KiB at 0) once the parent says go (a line on stdin), prints
 * the latencies (ns) as JSON and exits (stdin closed first: an open pipe would keep it alive).
 */
function reader(file: string, n: number): ChildProcess {
  const js = `const fs=require('fs');const fd=fs.openSync(process.argv[1],'r');const b=Buffer.alloc(4096);const n=+process.argv[2];
const t=new Float64Array(n);process.stdin.once('data',()=>{for(let i=0;i<n;i++){const a=process.hrtime.bigint();fs.readSync(fd,b,0,4096,0);t[i]=Number(process.hrtime.bigint()-a);}
process.stdin.destroy();process.stdout.write(JSON.stringify(Array.from(t)),()=>process.exit(0));});`;
  return spawn(process.execPath, ['-e', js, file, String(n)], { stdio: ['pipe', 'pipe', 'inherit'] });
}

/** A child consumer on session sid: answers CONTINUE to everything until killed. */
function consumer(node: string, runDir: string, sid: number): ChildProcess {
  const js = `const {connect}=require(${JSON.stringify(CLIENT)});(async()=>{const dm=await connect({node:${JSON.stringify(node)},runDir:${JSON.stringify(runDir)}});
process.stdout.write('ready\\n');for(;;){const ev=await dm.getEvents(${sid},0,1,1<<16);for(const e of ev)if(e.token)dm.respondEvent(${sid},e.token,1,0).catch(()=>{});}})().catch((e)=>{console.error('consumer:',e.message);process.exit(0)});`;
  return spawn(process.execPath, ['-e', js], { stdio: ['ignore', 'pipe', 'inherit'] });
}

const out = (c: ChildProcess) => new Promise<string>((res) => { let s = ''; c.stdout!.on('data', (b) => { s += b; }); c.on('close', () => res(s)); });
const ready = (c: ChildProcess) => new Promise<void>((res) => c.stdout!.once('data', () => res()));
const pct = (a: number[], p: number) => { const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };

async function main(): Promise<void> {
  const runDir = fs.mkdtempSync('/tmp/dmbench-');
  const env = { ...process.env, DMAPIFS_RUN_DIR: runDir };
  const node = `bev-${process.pid}`;
  const base = fs.mkdtempSync('/tmp/dmbench-ev-');
  const backing = path.join(base, 'b');
  const mnt = path.join(base, 'm');
  fs.mkdirSync(backing);
  fs.mkdirSync(mnt);
  execFileSync(process.execPath, [CLI, 'mount', '--node', node, '--dmapi', backing, mnt], { env, stdio: 'ignore' });
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

    const run = async (consumers: number, readers: number, n: number) => {
      const cs = Array.from({ length: consumers }, () => consumer(node, runDir, sid));
      kids.push(...cs);
      await Promise.all(cs.map(ready));
      const rs = Array.from({ length: readers }, (_, i) => reader(files[i], n));
      kids.push(...rs);
      await new Promise((r) => setTimeout(r, 300));
      const outs = rs.map(out);
      const t0 = process.hrtime.bigint();
      for (const r of rs) r.stdin!.end('go\n');
      const lat = (await Promise.all(outs)).flatMap((s) => JSON.parse(s) as number[]);
      const secs = Number(process.hrtime.bigint() - t0) / 1e9;
      for (const c of cs) c.kill('SIGKILL');
      await new Promise((r) => setTimeout(r, 200));
      return { lat, rate: (readers * n) / secs };
    };

    await run(1, 1, 500); // warm-up
    const one = await run(1, 1, 5000);
    const r1 = await run(1, 4, 5000);
    const r4 = await run(4, 4, 5000);

    // ---- creation with and without a CREATE event: rounds alternate (the machine's load drifts),
    // one consumer runs throughout, the median round of each kind counts.
    const cons = consumer(node, runDir, sid);
    kids.push(cons);
    await ready(cons);
    const createRun = async (withEvent: boolean, n: number, round: number) => {
      // The directory first, with no CREATE in force: this process's own mkdirSync would otherwise
      // wait for an answer while its event loop is blocked in the call.
      const dir = path.join(mnt, `c${withEvent ? 1 : 0}-${round}`);
      fs.mkdirSync(dir);
      await dm.setEventlist(sid, fsh, C.DM_NO_TOKEN, withEvent ? [C.DM_EVENT_CREATE] : []);
      const js = `const fs=require('fs');const d=process.argv[1];const n=+process.argv[2];const a=process.hrtime.bigint();
for(let i=0;i<n;i++)fs.closeSync(fs.openSync(d+'/f'+i,'wx'));process.stdout.write(String(Number(process.hrtime.bigint()-a)/n));`;
      const w = spawn(process.execPath, ['-e', js, dir, String(n)], { stdio: ['ignore', 'pipe', 'inherit'] });
      const ns = Number(await out(w));
      await dm.setEventlist(sid, fsh, C.DM_NO_TOKEN, []);
      return ns / 1000;
    };
    await createRun(false, 300, -1); // warm-up
    await createRun(true, 300, -1);
    const plain: number[] = [];
    const withEv: number[] = [];
    for (let round = 0; round < 5; round++) {
      plain.push(await createRun(false, 1000, round));
      withEv.push(await createRun(true, 1000, round));
    }
    cons.kill('SIGKILL');
    const createUs = pct(plain, 0.5);
    const createEvUs = pct(withEv, 0.5);

    const metrics: Record<string, { value: number; unit: string }> = {
      read_event_rtt_p50_us: { value: Math.round(pct(one.lat, 0.5) / 100) / 10, unit: 'µs (target ≤ 100)' },
      read_event_rtt_p99_us: { value: Math.round(pct(one.lat, 0.99) / 100) / 10, unit: 'µs' },
      sync_events_per_s_1_consumer: { value: Math.round(r1.rate), unit: 'events/s, 4 readers (target ≥ 10,000)' },
      sync_events_per_s_4_consumers: { value: Math.round(r4.rate), unit: 'events/s, 4 readers' },
      create_us: { value: Math.round(createUs * 10) / 10, unit: 'µs per file, no event' },
      create_with_event_us: { value: Math.round(createEvUs * 10) / 10, unit: 'µs per file, CREATE answered' },
      create_event_overhead_us: { value: Math.round((createEvUs - createUs) * 10) / 10, unit: 'µs per file' },
    };
    const rows = Object.entries(metrics).map(([name, m]) => [name, m.value.toLocaleString('en-US'), m.unit]);
    const w0 = Math.max(...rows.map((r) => r[0].length));
    const w1 = Math.max(...rows.map((r) => r[1].length));
    for (const r of rows) console.log(`${r[0].padEnd(w0)}  ${r[1].padStart(w1)}  ${r[2]}`);
    if (json) console.log(JSON.stringify({ metrics: Object.fromEntries(Object.entries(metrics).map(([k, v]) => [k, v.value])) }));
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
