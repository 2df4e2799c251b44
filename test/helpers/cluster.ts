// Shared helpers for tests that need real node daemons and real mounts, driven through the real
// CLI (node bin/dmapifs ...) in child processes.
//
//   import test from 'ava';
//   import { useCluster } from './helpers/cluster';
//   const cluster = useCluster();            // a private DMAPIFS_RUN_DIR for this test file
//
//   test('reads through the mount', async (t) => {
//     const { backing, mnt, node } = await cluster.withMount(t, { files: { 'a.txt': 'hello' } });
//     ...                                    // unmounted and node stopped in t.teardown
//   });
//
// Every helper that creates something registers its clean-up with t.teardown, so mounts, daemons
// and directories go away even when the test fails; useCluster() adds a last sweep after all tests
// of the file (stops every daemon of the private run dir, detaches their leftover FUSE mounts).
import test, { ExecutionContext } from 'ava';
import { ChildProcess, execFile, spawn, SpawnOptions } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import * as tmp from 'tmp';

/** The repository root (this file is dist/test/helpers/cluster.js once compiled). */
export const REPO = (() => {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    dir = path.dirname(dir);
  }
  throw new Error(`cannot find the repository root above ${__dirname}`);
})();
export const CLI = path.join(REPO, 'bin', 'dmapifs');
export const DAEMON_MAIN = path.join(REPO, 'dist', 'src', 'daemon', 'main.js');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface MountCtx {
  backing: string;
  mnt: string;
  node: string;
  /** The private run directory of this test file (the DMAPIFS_RUN_DIR). */
  runDir: string;
  /** The node daemon's pid. */
  pid: number;
}

export interface WithMountOptions {
  /** Existing backing directory (default: a fresh temporary one). */
  backing?: string;
  /** Files to create in the backing directory first: relative path → content. */
  files?: Record<string, string | Buffer>;
  /** Node to serve the mount (default: a fresh node, stopped in teardown). */
  node?: string;
  /** Existing empty mount point (default: a fresh temporary one). */
  mnt?: string;
  attrTimeout?: number;
  entryTimeout?: number;
}

export interface StatusJson {
  runDir: string;
  nodes: Array<{
    node: string; state: string; pid: number | null; runDir: string; startedAt?: number; version?: string;
    mounts: Array<{ backing: string; mountpoint: string; node: string; mountedAt: number; dev: number | null }>;
    cleaned?: string[];
  }>;
  deadMounts: Array<{ mountpoint: string; source: string; fstype: string; node: string | null }>;
}

/** A TCP port free on 127.0.0.1 now (listen on 0, note the port, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
    s.on('error', reject);
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `cond` until it returns a truthy value; throws after `timeoutMs`. */
export async function waitFor<T>(cond: () => T | Promise<T>, timeoutMs = 10000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await cond();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await sleep(50);
  }
}

export interface MountLine { mountpoint: string; fstype: string; source: string }

/** The mounts of the kernel's table (/proc/self/mountinfo). */
export function mountTable(): MountLine[] {
  const un = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  const out: MountLine[] = [];
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    const sep = f.indexOf('-', 6);
    if (sep < 0) continue;
    out.push({ mountpoint: un(f[4]), fstype: f[sep + 1], source: un(f[sep + 2] ?? '') });
  }
  return out;
}

/** The FUSE mounts at `mnt` (normally zero or one). */
export function fuseMountsAt(mnt: string): MountLine[] {
  return mountTable().filter((m) => m.mountpoint === mnt && m.fstype.startsWith('fuse'));
}

export function isMounted(mnt: string): boolean {
  return mountTable().some((m) => m.mountpoint === mnt);
}

export function pidAlive(pid: number): boolean {
  try { process.kill(pid, 0); } catch { return false; }
  try {
    const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/ Z /.test(st.slice(st.lastIndexOf(')')));
  } catch {
    return false;
  }
}

let nodeCounter = 0;

export class Cluster {
  /** Private DMAPIFS_RUN_DIR (short, under /tmp: socket paths have a 107-byte limit). */
  readonly runDir: string;
  readonly env: NodeJS.ProcessEnv;
  private readonly dirs = new Set<string>();

  constructor() {
    this.runDir = fs.mkdtempSync('/tmp/dmfs-run-');
    this.env = { ...process.env, DMAPIFS_RUN_DIR: this.runDir };
  }

  /** A node name not used before in this process. */
  uniqueNode(prefix = 't'): string {
    return `${prefix}-${process.pid}-${++nodeCounter}`;
  }

  nodeDir(node: string): string { return path.join(this.runDir, node); }
  pidFile(node: string): string { return path.join(this.runDir, node, 'daemon.pid'); }
  socketPath(node: string): string { return path.join(this.runDir, node, 'control.sock'); }
  logFile(node: string): string { return path.join(this.runDir, node, 'daemon.log'); }

  daemonPid(node: string): number | null {
    try {
      const pid = parseInt(fs.readFileSync(this.pidFile(node), 'utf8'), 10);
      return Number.isInteger(pid) ? pid : null;
    } catch {
      return null;
    }
  }

  /** Runs `dmapifs ARGS` with this cluster's run dir; never rejects (look at .code). */
  cli(args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; cwd?: string; wrap?: string[] } = {}): Promise<CliResult> {
    const cmd = opts.wrap ? opts.wrap[0] : process.execPath;
    const argv = opts.wrap ? [...opts.wrap.slice(1), process.execPath, CLI, ...args] : [CLI, ...args];
    return new Promise((resolve) => {
      execFile(cmd, argv, {
        env: { ...this.env, ...opts.env },
        cwd: opts.cwd ?? REPO,
        timeout: opts.timeoutMs ?? 120000,
        maxBuffer: 16 * 1024 * 1024,
        encoding: 'utf8',
      }, (error, stdout, stderr) => {
        const e = error as (NodeJS.ErrnoException & { code?: number | string; signal?: NodeJS.Signals }) | null;
        resolve({
          code: e ? (typeof e.code === 'number' ? e.code : null) : 0,
          signal: e?.signal ?? null,
          stdout: String(stdout),
          stderr: String(stderr),
        });
      });
    });
  }

  /** Runs the CLI and fails the test unless it exits 0. */
  async cliOk(t: ExecutionContext, args: string[], opts: Parameters<Cluster['cli']>[1] = {}): Promise<CliResult> {
    const r = await this.cli(args, opts);
    if (r.code !== 0) t.fail(`dmapifs ${args.join(' ')} exited ${r.code ?? r.signal}: ${r.stderr.trim() || r.stdout.trim()}`);
    return r;
  }

  /** A fresh directory under /tmp, removed in teardown (after detaching anything mounted inside). */
  tmpDir(t: ExecutionContext | null, prefix = 'dmfs-'): string {
    const dir = tmp.dirSync({ prefix, tmpdir: '/tmp' }).name;
    this.dirs.add(dir);
    t?.teardown(() => this.removeDir(dir));
    return dir;
  }

  /** Writes files (relative path → content) into `dir`, creating subdirectories. */
  writeFiles(dir: string, files: Record<string, string | Buffer>): void {
    for (const [rel, content] of Object.entries(files)) {
      const p = path.join(dir, rel);
      fs.mkdirSync(path.dirname(p), { recursive: true });
      fs.writeFileSync(p, content);
    }
  }

  private async removeDir(dir: string): Promise<void> {
    for (const m of mountTable().reverse()) {
      if (m.mountpoint === dir || m.mountpoint.startsWith(dir + '/')) await this.detach(m.mountpoint);
    }
    try {
      fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      // Something is still mounted or busy inside: leave it rather than fail a teardown.
    }
    this.dirs.delete(dir);
  }

  /** Unmounts whatever is at `mnt`, lazily (for clean-up paths only). */
  async detach(mnt: string): Promise<void> {
    if (!isMounted(mnt)) return;
    await new Promise<void>((resolve) => {
      execFile('umount', ['-l', mnt], () => resolve());
    });
  }

  /** Starts a node daemon through the CLI (`node start`); stopped in teardown. */
  async startNode(t: ExecutionContext, name?: string): Promise<{ node: string; pid: number }> {
    const node = name ?? this.uniqueNode();
    t.teardown(() => this.stopNode(node));
    const r = await this.cli(['node', 'start', '--node', node]);
    if (r.code !== 0) throw new Error(`dmapifs node start --node ${node} exited ${r.code}: ${r.stderr.trim()}`);
    const pid = this.daemonPid(node);
    if (!pid) throw new Error(`node ${node} started but wrote no pid file`);
    return { node, pid };
  }

  /**
   * Stops a node: `dmapifs node stop`, and if its daemon is still alive after that, kill -9 and
   * detach the mounts it served. Never throws (used in teardown).
   */
  async stopNode(node: string): Promise<void> {
    const pid = this.daemonPid(node);
    const r = await this.cli(['node', 'stop', '--node', node], { timeoutMs: 60000 });
    if (pid && pidAlive(pid)) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
      await waitFor(() => !pidAlive(pid), 5000, `pid ${pid} to die`).catch(() => undefined);
    }
    for (const m of mountTable()) {
      if (m.fstype.startsWith('fuse') && m.source === `dmapifs:${node}`) await this.detach(m.mountpoint);
    }
    void r;
  }

  /**
   * Mounts a backing directory through the real CLI (`dmapifs mount`), creating what is not
   * given: backing dir (with `files`), mount point, node. Teardown unmounts, stops the node if
   * this call made it up, and removes the temporary directories.
   */
  async withMount(t: ExecutionContext, opts: WithMountOptions = {}): Promise<MountCtx> {
    const backing = opts.backing ?? this.tmpDir(t, 'dmfs-back-');
    if (opts.files) this.writeFiles(backing, opts.files);
    const mnt = opts.mnt ?? this.tmpDir(t, 'dmfs-mnt-');
    const ownNode = opts.node === undefined;
    const node = opts.node ?? this.uniqueNode();
    if (ownNode) t.teardown(() => this.stopNode(node));
    t.teardown(() => this.unmount(mnt));
    const args = ['mount', '--node', node];
    if (opts.attrTimeout !== undefined) args.push('--attr-timeout', String(opts.attrTimeout));
    if (opts.entryTimeout !== undefined) args.push('--entry-timeout', String(opts.entryTimeout));
    const r = await this.cli([...args, backing, mnt]);
    if (r.code !== 0) throw new Error(`dmapifs ${[...args, backing, mnt].join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
    const pid = this.daemonPid(node);
    if (!pid) throw new Error(`node ${node} serves ${mnt} but has no pid file`);
    return { backing, mnt, node, runDir: this.runDir, pid };
  }

  /** Unmounts `mnt` through the CLI, lazily if busy, detaching as a last resort. Never throws. */
  async unmount(mnt: string): Promise<void> {
    if (!fuseMountsAt(mnt).length) return;
    const r = await this.cli(['umount', mnt], { timeoutMs: 60000 });
    if (r.code !== 0 && fuseMountsAt(mnt).length) await this.cli(['umount', '--lazy', mnt], { timeoutMs: 60000 });
    if (fuseMountsAt(mnt).length) await this.detach(mnt);
  }

  /** `dmapifs status --json`, parsed. */
  async status(): Promise<StatusJson> {
    const r = await this.cli(['status', '--json']);
    if (r.code !== 0) throw new Error(`dmapifs status --json exited ${r.code}: ${r.stderr.trim()}`);
    return JSON.parse(r.stdout) as StatusJson;
  }

  /** Starts a daemon in the foreground as a child of the test (to watch its exit code). */
  spawnDaemon(node: string, opts: SpawnOptions = {}): ChildProcess {
    return spawn(process.execPath, [DAEMON_MAIN, '--node', node], {
      env: this.env, cwd: '/', stdio: ['ignore', 'pipe', 'pipe'], ...opts,
    });
  }

  /** Last sweep: stop every daemon of the run dir, detach their mounts, remove everything. */
  async cleanup(): Promise<void> {
    let nodes: string[] = [];
    try { nodes = fs.readdirSync(this.runDir); } catch { /* gone */ }
    for (const node of nodes) await this.stopNode(node);
    for (const dir of [...this.dirs]) await this.removeDir(dir);
    fs.rmSync(this.runDir, { recursive: true, force: true });
  }
}

/** A Cluster with a private run dir for this test file, swept after its last test. */
export function useCluster(): Cluster {
  const c = new Cluster();
  test.after.always('clean up daemons and mounts', () => c.cleanup());
  return c;
}
