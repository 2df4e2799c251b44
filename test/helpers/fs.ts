// Shared helpers of the filesystem tests (test/fs-*.test.ts): a real mount per test, errno
// capture, and child processes (other uids, lock holders) that run small scripts against it.
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { ExecutionContext } from 'ava';
import * as sys from '../../src/native/sys';
import { Cluster, fuseMountsAt, useCluster } from './cluster';

export { sys };

/** Absolute path of the compiled sys addon wrapper, for scripts run in child processes. */
export const SYS_JS = require.resolve('../../src/native/sys');

/** An unprivileged uid/gid without a passwd entry (kernel checks only need numbers). */
export const USER = { uid: 41001, gid: 41001 };
export const USER2 = { uid: 41002, gid: 41002 };

export interface TestMount {
  /** The mount point. */
  mnt: string;
  /** The backing directory. */
  backing: string;
  /** Path inside the mount. */
  m(...p: string[]): string;
  /** Path inside the backing directory. */
  b(...p: string[]): string;
}

/** errno name of what `fn` threw ('' when it did not throw). */
export function code(fn: () => unknown): string {
  try {
    fn();
    return '';
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? String(e);
  }
}

/** errno name of a sys.* result (negative errno), or the result itself when not an error. */
export function rc<T>(r: T | number): string | number | T {
  if (typeof r === 'number' && r < 0) return sys.errnoName(-r) ?? String(r);
  return r;
}

/** Async version of code(). */
export async function acode(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return '';
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? String(e);
  }
}

export function lstatBig(p: string): fs.BigIntStats {
  return fs.lstatSync(p, { bigint: true });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A fresh temporary directory removed at teardown (world-traversable so other uids reach mounts). */
export function tmpDir(t: ExecutionContext, prefix = 'dmapifs-fs-'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.chmodSync(d, 0o755);
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

export interface ChildResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The JSON value the script printed last with out(...), if any. */
  value: unknown;
}

export interface ChildOptions {
  uid?: number;
  gid?: number;
  /** Arguments, available to the script as `args`. */
  args?: unknown;
  cwd?: string;
  timeoutMs?: number;
}

const PRELUDE = `
'use strict';
const fs = require('fs');
const path = require('path');
const sys = require(${JSON.stringify(SYS_JS)});
const args = JSON.parse(process.env.FS_TEST_ARGS || 'null');
const out = (v) => process.stdout.write('\\n@@' + JSON.stringify(v) + '\\n');
const code = (fn) => { try { fn(); return ''; } catch (e) { return e.code || String(e); } };
const rc = (r) => (typeof r === 'number' && r < 0 ? sys.errnoName(-r) : r);
const ready = () => process.stdout.write('\\n@@ready\\n');
`;

/**
 * Runs `script` (CommonJS, async allowed) in a new node process, optionally as another uid/gid.
 * In scope: fs, path, sys, args, out(v), code(fn), rc(r), ready().
 */
export function runNode(script: string, o: ChildOptions = {}): Promise<ChildResult> {
  return startNode(script, o).done;
}

export interface RunningChild {
  pid: number;
  /** Resolves when the script calls ready(). */
  ready: Promise<void>;
  done: Promise<ChildResult>;
  /** Writes a line to the child's stdin. */
  send(line: string): void;
  kill(sig?: NodeJS.Signals): void;
}

/** Starts `script` like runNode and returns at once. Its stdin is a pipe (read it with `readline`). */
export function startNode(script: string, o: ChildOptions = {}): RunningChild {
  // Exit when the script is done, even if stdin (read by some scripts) would keep the process up.
  const full = `${PRELUDE}\n(async () => {\n${script}\n})().then(() => process.exit(0), (e) => { console.error(e && e.stack || e); process.exit(99); });`;
  const child = spawn(process.execPath, ['-e', full], {
    uid: o.uid,
    gid: o.gid,
    cwd: o.cwd ?? '/',
    env: { ...process.env, FS_TEST_ARGS: JSON.stringify(o.args ?? null) },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let readyRes!: () => void;
  let readyRej!: (e: Error) => void;
  const ready = new Promise<void>((res, rej) => { readyRes = res; readyRej = rej; });
  ready.catch(() => undefined);
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (d: string) => {
    stdout += d;
    if (stdout.includes('\n@@ready\n')) readyRes();
  });
  child.stderr.on('data', (d: string) => { stderr += d; });
  const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 60_000);
  const done = new Promise<ChildResult>((resolve) => {
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      readyRej(new Error(`child exited (${status ?? signal}) before ready: ${stderr}`));
      let value: unknown;
      const lines = stdout.split('\n').filter((l) => l.startsWith('@@') && l !== '@@ready');
      if (lines.length) value = JSON.parse(lines[lines.length - 1].slice(2));
      resolve({ status, signal, stdout, stderr, value });
    });
  });
  return {
    pid: child.pid as number,
    ready,
    done,
    send: (line: string) => { child.stdin.write(line + '\n'); },
    kill: (sig: NodeJS.Signals = 'SIGTERM') => { child.kill(sig); },
  };
}

/** runNode that fails the test unless the script exits 0, and returns what it out()-ed. */
export async function inChild<T = unknown>(t: ExecutionContext, script: string, o: ChildOptions = {}): Promise<T> {
  const r = await runNode(script, o);
  if (r.status !== 0) t.fail(`child failed (${r.status ?? r.signal}): ${r.stderr}`);
  return r.value as T;
}

/** The errno constants by name. */
export const E = os.constants.errno;

// ---------------------------------------------------------------- mounts

export interface MountOpts {
  attrTimeout?: number;
  entryTimeout?: number;
  /** Reuse this backing directory (default: a new empty one). */
  backing?: string;
  /** Serve the mount from this node (default: the test file's shared node). */
  node?: string;
  /** Serve the mount from a node daemon of its own (for tests that kill or stop it). */
  ownNode?: boolean;
}

export interface FsMount extends TestMount {
  node: string;
  /** The pid of the node daemon serving the mount (changes on remount after a kill). */
  pid: number;
  cluster: Cluster;
  /** Unmounts through the CLI (`dmapifs umount`). */
  unmount(): Promise<void>;
  /** `dmapifs umount`, then `dmapifs mount` of the same backing directory on the same mount point. */
  remount(): Promise<void>;
}

export type MountFn = (t: ExecutionContext, o?: MountOpts) => Promise<FsMount>;

/**
 * For a test file: a private cluster (DMAPIFS_RUN_DIR) and a function that mounts a backing
 * directory through the real CLI for one test (unmounted, node stopped, dirs removed at teardown).
 */
export function useMounts(): { cluster: Cluster; mount: MountFn } {
  const cluster = useCluster();
  // One node daemon serves the mounts of all tests of a file (starting one per test costs about a
  // second of CPU each); the cluster's last sweep stops it.
  let shared: Promise<string> | null = null;
  const sharedNode = (): Promise<string> => (shared ??= (async () => {
    const node = cluster.uniqueNode('fs');
    const r = await cluster.cli(['node', 'start', '--node', node]);
    if (r.code !== 0) throw new Error(`dmapifs node start --node ${node} exited ${r.code}: ${r.stderr.trim()}`);
    return node;
  })());
  const mount: MountFn = async (t, o = {}) => {
    const opts = { attrTimeout: o.attrTimeout, entryTimeout: o.entryTimeout };
    const node = o.node ?? (o.ownNode ? undefined : await sharedNode());
    const ctx = await cluster.withMount(t, { ...opts, backing: o.backing, node });
    // Temporary directories are 0700: let other uids reach the mount (its root is the backing root).
    fs.chmodSync(ctx.backing, 0o755);
    const x: FsMount = {
      mnt: ctx.mnt,
      backing: ctx.backing,
      node: ctx.node,
      pid: ctx.pid,
      cluster,
      m: (...p) => path.join(ctx.mnt, ...p),
      b: (...p) => path.join(ctx.backing, ...p),
      unmount: async () => {
        const r = await cluster.cli(['umount', ctx.mnt]);
        if (r.code !== 0) throw new Error(`dmapifs umount ${ctx.mnt} exited ${r.code}: ${r.stderr.trim()}`);
      },
      remount: async () => {
        if (fuseMountsAt(ctx.mnt).length) await x.unmount();
        const again = await cluster.withMount(t, { ...opts, backing: ctx.backing, mnt: ctx.mnt, node: ctx.node });
        x.pid = again.pid;
      },
    };
    return x;
  };
  return { cluster, mount };
}
