// A client process for the DLM service tests (test/dlm-service*.test.ts), driven by JSON lines on
// stdin; each command is answered by one JSON line on stdout ({"id": N, ...}); asynchronous events
// (a wait ending, a reset, the connection closing) are lines with "event".
//
//   {"id":1,"cmd":"connect","socket":"/run/x/n/dlm.sock"}
//   {"id":2,"cmd":"nsjoin","nsid":0,"flags":4096}                    → {"id":2,"status":0,"nsp":1}
//   {"id":3,"cmd":"lock","nsp":1,"res":"R","mode":6,"flags":1,"valb":"68656c6c6f"}
//        → {"id":3,"status":0,"lkid":{...},"wait":true}  then {"event":"wait","id":3,"status":0,"valb":"..."}
//   {"id":4,"cmd":"cvt","lkid":{...},"mode":1,"flags":1,"valb":"..."}  (same answers as lock)
//   {"id":5,"cmd":"unlock","lkid":{...},"flags":0}                     → {"id":5,"status":0}
//   {"id":6,"cmd":"counter","nsp":1,"file":"/tmp/c","n":50}            → {"id":6,"done":50,"violations":0}
//   {"id":7,"cmd":"exit"}
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as readline from 'readline';
import { DlmClient } from '../src/dlm/client';
import { DLM_EXMODE, DLM_SUCCESS, DLM_VALB } from '../src/dlm';
import type { LockId, LockResult } from '../src/dlm';

let client: DlmClient | null = null;

function emit(o: object): void {
  // `at`: when it happened here (the history checks of the cluster tests order events by it).
  process.stdout.write(JSON.stringify({ ...o, at: Date.now() }) + '\n');
}

function valbOf(hex: string | undefined): Uint8Array | null {
  if (hex === undefined) return null;
  const b = new Uint8Array(32);
  b.set(Buffer.from(hex, 'hex').subarray(0, 32));
  return b;
}

const hex = (b: Uint8Array | null) => (b ? Buffer.from(b).toString('hex').replace(/(00)+$/, '') : null);

function report(id: number, r: LockResult, valb: Uint8Array | null): void {
  emit({ id, status: r.status, lkid: r.lkid, wait: r.wait !== null, valb: r.wait ? null : hex(valb) });
  if (r.wait) void r.wait.then((st) => emit({ event: 'wait', id, status: st, valb: hex(valb) }));
}

/** Increments the counter file `n` times under EX, checking that nobody else is inside. */
async function counter(c: DlmClient, nsp: number, file: string, n: number): Promise<{ done: number; violations: number }> {
  let violations = 0;
  const marker = `${file}.inside`;
  for (let i = 0; i < n; i++) {
    const r = await c.lock(nsp, 'counter', DLM_EXMODE);
    const st = r.wait ? await r.wait : r.status;
    if (st !== DLM_SUCCESS) throw new Error(`lock: status ${st}`);
    try {
      fs.writeFileSync(marker, String(process.pid), { flag: 'wx' });
    } catch {
      violations++;
    }
    const v = Number(fs.readFileSync(file, 'utf8'));
    // Give the others every chance to run inside the critical section if the lock let them.
    await new Promise((res) => setTimeout(res, Math.random() < 0.5 ? 0 : 1));
    fs.writeFileSync(file, String(v + 1));
    try { fs.unlinkSync(marker); } catch { violations++; }
    const u = await c.unlock(r.lkid!);
    if (u !== DLM_SUCCESS) throw new Error(`unlock: status ${u}`);
  }
  return { done: n, violations };
}

async function run(m: Record<string, any>): Promise<void> {
  const id = m.id as number;
  const c = client;
  switch (m.cmd) {
    case 'connect': {
      client = await DlmClient.connect({ socketPath: m.socket });
      client.on('reset', (reason: string) => emit({ event: 'reset', reason }));
      client.on('close', (reason: string) => emit({ event: 'close', reason }));
      emit({ id, ok: true, pid: process.pid, uid: process.getuid!(), gid: process.getgid!() });
      return;
    }
    case 'nsjoin': {
      const t0 = Date.now();
      const r = await c!.nsjoin(m.nsid, m.flags);
      emit({ id, ...r, ms: Date.now() - t0 });
      return;
    }
    case 'lock': {
      const valb = valbOf(m.valb) ?? (m.flags & DLM_VALB ? new Uint8Array(32) : null);
      const t0 = Date.now();
      const r = await c!.lock(m.nsp, m.res, m.mode, { flags: m.flags ?? 0, valb, timeout: m.timeout ?? 0 });
      report(id, r, valb);
      void t0;
      return;
    }
    case 'cvt': {
      const valb = valbOf(m.valb) ?? (m.flags & DLM_VALB ? new Uint8Array(32) : null);
      const r = await c!.cvt(m.lkid as LockId, m.mode, { flags: m.flags ?? 0, valb });
      report(id, r, valb);
      return;
    }
    case 'unlock': {
      const st = await c!.unlock(m.lkid as LockId, valbOf(m.valb), m.flags ?? 0);
      emit({ id, status: st });
      return;
    }
    case 'counter': {
      const r = await counter(c!, m.nsp, m.file, m.n);
      emit({ id, ...r });
      return;
    }
    case 'share': {
      // A child that inherits this client's connection (fd 3) and outlives us: the node must notice
      // our death by the pid, not by the socket.
      const fd = (c as unknown as { sock: { _handle: { fd: number } } }).sock._handle.fd;
      const child = spawn('sleep', ['60'], { stdio: ['ignore', 'ignore', 'ignore', fd], detached: true });
      child.unref();
      emit({ id, child: child.pid });
      return;
    }
    case 'glcCreate': {
      const r = await c!.glcCreate(m.flags, m.nsps);
      emit({ id, status: r.status, glc: r.id });
      return;
    }
    case 'glcAttach': {
      emit({ id, status: await c!.glcAttach(m.glc) });
      return;
    }
    case 'unlockExit': {
      // Unlock (answered here at once), then exit on the spot: the request must still reach the node.
      // Called from a promise continuation, as most code does: the exit comes before any later turn.
      await Promise.resolve();
      const st = await c!.unlock(m.lkid as LockId, valbOf(m.valb), m.flags ?? 0);
      if (st !== DLM_SUCCESS) emit({ id, status: st });
      process.exit(st === DLM_SUCCESS ? 0 : 1);
      return;
    }
    case 'exit':
      emit({ id, ok: true });
      process.exit(0);
      return;
    default:
      emit({ id, error: `unknown command ${m.cmd}` });
  }
}

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  let m: Record<string, unknown>;
  try {
    m = JSON.parse(line);
  } catch {
    emit({ error: `bad command line ${line}` });
    return;
  }
  run(m).catch((e) => emit({ id: m.id, error: String((e as Error)?.stack ?? e) }));
});
rl.on('close', () => process.exit(0));
