// Test side of dlm-service-worker.ts: spawns client processes (optionally as another user) and talks
// to them; every worker is killed in the test's teardown.
import type { ExecutionContext } from 'ava';
import { ChildProcess, execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as readline from 'readline';

const WORKER = path.join(__dirname, 'dlm-service-worker.js');

/** Whether any user may read `file` (every directory above it searchable by others, the file readable). */
function worldReadable(file: string): boolean {
  try {
    if ((fs.statSync(file).mode & 0o004) === 0) return false;
    for (let d = path.dirname(file); ; d = path.dirname(d)) {
      if ((fs.statSync(d).mode & 0o001) === 0) return false;
      if (d === path.dirname(d)) return true;
    }
  } catch {
    return false;
  }
}

let publicCopy: string | null = null;

/**
 * The worker script as another user can run it: the build's own when its path is open to everyone,
 * else a copy of the compiled tree in a world-readable temporary directory (a checkout under a
 * private home directory), removed when the test process exits.
 */
function workerFor(uid: number | undefined): string {
  if (uid === undefined || uid === process.getuid?.() || worldReadable(WORKER)) return WORKER;
  if (publicCopy === null) {
    const dist = path.dirname(__dirname);
    const dir = fs.mkdtempSync('/tmp/dmfs-worker-');
    fs.chmodSync(dir, 0o755);
    fs.cpSync(path.join(dist, 'src'), path.join(dir, 'src'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'test'), { mode: 0o755 });
    fs.copyFileSync(WORKER, path.join(dir, 'test', 'dlm-service-worker.js'));
    execFileSync('chmod', ['-R', 'a+rX', dir]);
    process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
    publicCopy = path.join(dir, 'test', 'dlm-service-worker.js');
  }
  return publicCopy;
}

export interface WorkerMsg {
  id?: number;
  event?: string;
  status?: number;
  [k: string]: any;
}

export class Worker {
  readonly proc: ChildProcess;
  private nextId = 1;
  private readonly lines: WorkerMsg[] = [];
  private readonly waiters: { pred: (m: WorkerMsg) => boolean; resolve: (m: WorkerMsg) => void }[] = [];
  stderr = '';
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(t: ExecutionContext, opts: { uid?: number; gid?: number; env?: NodeJS.ProcessEnv } = {}) {
    this.proc = spawn(process.execPath, [workerFor(opts.uid)], {
      stdio: ['pipe', 'pipe', 'pipe'],
      uid: opts.uid,
      gid: opts.gid,
      env: opts.env ?? process.env,
      cwd: '/',
    });
    t.teardown(() => this.kill());
    this.exited = new Promise((r) => this.proc.once('exit', (code, signal) => r({ code, signal })));
    this.proc.stderr!.on('data', (d) => (this.stderr += d));
    readline.createInterface({ input: this.proc.stdout! }).on('line', (line) => {
      let m: WorkerMsg;
      try { m = JSON.parse(line); } catch { return; }
      const i = this.waiters.findIndex((w) => w.pred(m));
      if (i >= 0) {
        const [w] = this.waiters.splice(i, 1);
        w.resolve(m);
      } else {
        this.lines.push(m);
      }
    });
  }

  get pid(): number {
    return this.proc.pid!;
  }

  /** The next message matching `pred` (already received, or to come). */
  next(pred: (m: WorkerMsg) => boolean, timeoutMs = 15000, what = 'a message'): Promise<WorkerMsg> {
    const i = this.lines.findIndex(pred);
    if (i >= 0) return Promise.resolve(this.lines.splice(i, 1)[0]);
    return new Promise((resolve, reject) => {
      const w = { pred, resolve: (m: WorkerMsg) => { clearTimeout(timer); resolve(m); } };
      const timer = setTimeout(() => {
        const k = this.waiters.indexOf(w);
        if (k >= 0) this.waiters.splice(k, 1);
        reject(new Error(`worker ${this.pid}: no ${what} within ${timeoutMs} ms (stderr: ${this.stderr.trim().slice(-500)})`));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  /** Whether a matching message arrived (without waiting). */
  has(pred: (m: WorkerMsg) => boolean): boolean {
    return this.lines.some(pred);
  }

  async call(cmd: string, args: Record<string, unknown> = {}, timeoutMs = 15000): Promise<WorkerMsg> {
    const id = this.nextId++;
    this.proc.stdin!.write(JSON.stringify({ id, cmd, ...args }) + '\n');
    const m = await this.next((x) => x.id === id && x.event === undefined, timeoutMs, `answer to ${cmd}`);
    if (m.error) throw new Error(`worker ${cmd}: ${m.error}`);
    return m;
  }

  /** Sends a command without waiting; returns its id. */
  send(cmd: string, args: Record<string, unknown> = {}): number {
    const id = this.nextId++;
    this.proc.stdin!.write(JSON.stringify({ id, cmd, ...args }) + '\n');
    return id;
  }

  waitEvent(id: number, timeoutMs = 15000): Promise<WorkerMsg> {
    return this.next((m) => m.event === 'wait' && m.id === id, timeoutMs, `end of the wait of request ${id}`);
  }

  kill(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      try { this.proc.kill('SIGKILL'); } catch { /* gone */ }
    }
  }
}

/** A worker connected to `socket`, joined to the namespace `nsid` (DLM_USER). */
export async function joinedWorker(t: ExecutionContext, socket: string, nsid = 0, opts: { uid?: number; gid?: number } = {}): Promise<{ w: Worker; nsp: number }> {
  const w = new Worker(t, opts);
  await w.call('connect', { socket });
  const j = await w.call('nsjoin', { nsid, flags: 0x1000 });
  if (j.status !== 0) throw new Error(`nsjoin(${nsid}) by worker: status ${j.status}`);
  return { w, nsp: j.nsp };
}
