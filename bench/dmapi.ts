// DMAPI benchmark against a real node daemon (private run directory): `npm run bench:dmapi` after a
// build, `-- --json` for a last-line JSON {"metrics": {...}}. Must run as root (DMAPI is root only).
//
//   sessions_per_s            dm_create_session calls answered per second (4000, pipelined)
//   create_4000_sessions_ms   wall time to create the node's 4000 sessions (target < 2000)
//   async_events_per_s        dm_send_msg(ASYNC) → dm_get_events delivery, messages per second
//                             (one sending and one receiving connection; target ≥ 50,000)
//   mmap_check_ms             the punch_hole mmap-busy check (/proc/*/maps scan for the file's two
//                             (dev, ino) keys) with 500 extra processes running (target < 5)
import { ChildProcess, execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { connect } from '../src/dmapi';
import * as C from '../src/dmapi/constants';
import * as sys from '../src/native/sys';

const json = process.argv.includes('--json');
const REPO = path.resolve(__dirname, '..', '..');
const CLI = path.join(REPO, 'bin', 'dmapifs');

async function main(): Promise<void> {
  const runDir = fs.mkdtempSync('/tmp/dmbench-');
  const env = { ...process.env, DMAPIFS_RUN_DIR: runDir };
  const node = `bench-${process.pid}`;
  execFileSync(process.execPath, [CLI, 'node', 'start', '--node', node], { env, stdio: 'ignore' });
  const extra: ChildProcess[] = [];
  try {
    const dm = await connect({ node, runDir });
    const rx = await connect({ node, runDir });

    // ---- sessions
    const t0 = process.hrtime.bigint();
    const sids = await Promise.all(Array.from({ length: C.DM_MAX_SESSIONS }, (_, i) => dm.createSession(0, `bench ${i}`)));
    const sessNs = Number(process.hrtime.bigint() - t0);
    await Promise.all(sids.slice(1).map((s) => dm.destroySession(s)));
    const sid = sids[0];

    // ---- async user events: send_msg → get_events
    const N = 200_000;
    const WINDOW = 4096;
    const msg = Buffer.from('migrate:0123456789');
    let received = 0;
    const t1 = process.hrtime.bigint();
    const receiving = (async () => {
      while (received < N) {
        const raw = await rx.getEventsRaw(sid, 0, C.DM_EV_WAIT, 1 << 20);
        let o = 0;
        for (;;) {
          received++;
          const link = raw.readInt32LE(o);
          if (!link) break;
          o += link;
        }
      }
    })();
    let sent = 0;
    const inflight = new Set<Promise<void>>();
    while (sent < N) {
      while (inflight.size < WINDOW && sent < N) {
        const p = dm.sendMsg(sid, C.DM_MSGTYPE_ASYNC, msg).then(() => { inflight.delete(p); });
        inflight.add(p);
        sent++;
      }
      await Promise.race(inflight);
    }
    await Promise.all(inflight);
    await receiving;
    const evNs = Number(process.hrtime.bigint() - t1);
    await dm.destroySession(sid);
    dm.close();
    rx.close();

    // ---- mmap check with 500 extra processes
    for (let i = 0; i < 500; i++) extra.push(spawn('sleep', ['120'], { stdio: 'ignore' }));
    await new Promise((r) => setTimeout(r, 1000));
    const file = path.join(runDir, 'mapped-file');
    fs.writeFileSync(file, 'x');
    const st = fs.statSync(file, { bigint: true });
    const keys = [sys.mapKey(st.dev, st.ino), sys.mapKey(st.dev + 1n, st.ino)];
    const samples: number[] = [];
    for (let i = 0; i < 30; i++) {
      const a = process.hrtime.bigint();
      const r = sys.scanMapsFor(keys);
      samples.push(Number(process.hrtime.bigint() - a) / 1e6);
      if (typeof r === 'number') throw new Error(`scan failed: ${r}`);
    }
    samples.sort((x, y) => x - y);
    const procs = fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n)).length;

    const metrics: Record<string, { value: number; unit: string }> = {
      sessions_per_s: { value: Math.round(C.DM_MAX_SESSIONS / (sessNs / 1e9)), unit: 'sessions/s' },
      create_4000_sessions_ms: { value: Math.round(sessNs / 1e6), unit: 'ms' },
      async_events_per_s: { value: Math.round(N / (evNs / 1e9)), unit: 'events/s' },
      mmap_check_ms: { value: Number(samples[Math.floor(samples.length / 2)].toFixed(2)), unit: `ms (median, ${procs} processes)` },
    };
    const rows = Object.entries(metrics).map(([name, m]) => [name, m.value.toLocaleString('en-US'), m.unit]);
    const widths = [0, 1, 2].map((c) => Math.max(...[['metric', 'value', 'unit'], ...rows].map((r) => r[c].length)));
    const line = (r: string[]) => `${r[0].padEnd(widths[0])}  ${r[1].padStart(widths[1])}  ${r[2]}`;
    console.log(`DMAPI service, one node daemon (node ${process.version}, ${os.cpus().length} CPUs)`);
    console.log(line(['metric', 'value', 'unit']));
    for (const r of rows) console.log(line(r));
    if (json) console.log(JSON.stringify({ metrics: Object.fromEntries(Object.entries(metrics).map(([k, v]) => [k, v.value])) }));
  } finally {
    for (const p of extra) p.kill('SIGKILL');
    try { execFileSync(process.execPath, [CLI, 'node', 'stop', '--node', node], { env, stdio: 'ignore' }); } catch { /* gone */ }
    fs.rmSync(runDir, { recursive: true, force: true });
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
