// The CLI's view of node daemons: find them in the run directory, ask them, start and stop them,
// and clean up after dead ones.
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { callDaemon, UNREACHABLE } from '../daemon/control-client';
import type { DaemonStatus } from '../daemon/daemon';
import { CodedError } from '../common/errors';
import type { MountRecord } from '../daemon/mount-service';
import { nodePaths, NodePaths, runBase } from '../common/paths';
import { isDaemonProcess, readPid } from '../daemon/pidfile';

/** 'denied': the daemon runs but its control socket is root's (the caller is not root). */
export type NodeState = 'running' | 'unresponsive' | 'denied' | 'stale' | 'absent';

export interface NodeProbe {
  node: string;
  state: NodeState;
  paths: NodePaths;
  pid: number | null;
  status: DaemonStatus | null;
  /** For a stale node: what was cleaned. */
  cleaned?: string[];
  /** For an unresponsive node: why. */
  reason?: string;
}

/** Names of the node directories in the run directory. */
export function listNodeDirs(base = runBase()): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(base, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
  } catch {
    return [];
  }
  return names.filter((n) => {
    try { nodePaths(n, base); return true; } catch { return false; }
  }).sort();
}

/** Asks a node's daemon for its status; classifies the node when it does not answer. */
export async function probeNode(node: string, opts: { clean?: boolean; timeoutMs?: number } = {}): Promise<NodeProbe> {
  const paths = nodePaths(node);
  const hasSock = fs.existsSync(paths.socket);
  const pid = readPid(paths.pidFile);
  if (!hasSock && pid === null) return { node, state: 'absent', paths, pid: null, status: null };
  let reason = '';
  if (hasSock) {
    try {
      const status = await callDaemon<DaemonStatus>(paths.socket, 'status', {}, { timeoutMs: opts.timeoutMs ?? 10000, connectTimeoutMs: 3000 });
      return { node, state: 'running', paths, pid: status.pid, status };
    } catch (e) {
      reason = (e as Error).message;
      if (DENIED.has((e as CodedError).code)) {
        const alive = pid !== null && isDaemonProcess(pid);
        return alive
          ? { node, state: 'denied', paths, pid, status: null, reason: `permission denied: ${paths.socket} is root's (run as root to see the node's mounts)` }
          : { node, state: 'stale', paths, pid, status: null };
      }
      if (!UNREACHABLE.has((e as CodedError).code)) {
        return { node, state: 'unresponsive', paths, pid, status: null, reason };
      }
    }
  }
  if (pid !== null && isDaemonProcess(pid)) {
    return { node, state: 'unresponsive', paths, pid, status: null, reason: reason || 'no control socket' };
  }
  const probe: NodeProbe = { node, state: 'stale', paths, pid, status: null };
  if (opts.clean !== false) probe.cleaned = cleanStale(paths);
  return probe;
}

/** Codes of a connect refused for want of permission (the control socket is 0600, root's). */
const DENIED = new Set(['EACCES', 'EPERM']);

/** The error of a command that needs the daemon's owner (root) run by another user. */
function needsRoot(node: string, what: string): CodedError {
  return new CodedError('EACCES', `permission denied: ${what} node ${node} needs root (its daemon and control socket are root's)`);
}

/** Removes what a dead daemon left: its socket and pid file (the log stays). */
export function cleanStale(paths: NodePaths): string[] {
  const removed: string[] = [];
  for (const f of [paths.socket, paths.pidFile]) {
    try { fs.unlinkSync(f); removed.push(path.basename(f)); } catch { /* not there */ }
  }
  return removed;
}

/** The daemon entry point next to this file (dist/src/cli -> dist/src/daemon/main.js). */
export function daemonMain(): string {
  return path.join(__dirname, '..', 'daemon', 'main.js');
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function logTail(file: string, from: number, lines = 3): string {
  try {
    const buf = fs.readFileSync(file);
    const text = buf.subarray(Math.min(from, buf.length)).toString('utf8').trim();
    if (!text) return '';
    return text.split('\n').slice(-lines).map((l) => l.replace(/^\S+ dmapifs\[[^\]]*\] \w+: /, '')).join('; ');
  } catch {
    return '';
  }
}

export interface StartResult { started: boolean; pid: number }

/**
 * Makes sure the node's daemon runs: starts it detached (output appended to daemon.log) if no
 * live daemon answers, and waits until it answers on its control socket.
 */
export async function ensureDaemon(node: string, timeoutMs = 20000, daemonArgs: string[] = []): Promise<StartResult> {
  const probe = await probeNode(node);
  if (probe.state === 'running') return { started: false, pid: probe.status!.pid };
  if (probe.state === 'denied') throw needsRoot(node, 'using');
  if (probe.state === 'unresponsive') {
    // Alive: maybe just starting (pid file written, socket not listening yet). Give it time.
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      try {
        const pong = await callDaemon<{ pid: number }>(probe.paths.socket, 'ping', {}, { timeoutMs: 5000, connectTimeoutMs: 1000 });
        return { started: false, pid: pong.pid };
      } catch (e) {
        if (!UNREACHABLE.has((e as CodedError).code)) throw e;
      }
      if (probe.pid !== null && !isDaemonProcess(probe.pid)) return ensureDaemon(node, timeoutMs, daemonArgs);
      await sleep(50);
    }
    throw new CodedError('ETIMEDOUT', `node ${node} (pid ${probe.pid}) is alive but does not answer on ${probe.paths.socket}: ${probe.reason}`);
  }
  const paths = probe.paths;
  fs.mkdirSync(paths.base, { recursive: true, mode: 0o755 });
  fs.mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
  const logFd = fs.openSync(paths.logFile, 'a', 0o600);
  fs.fchmodSync(logFd, 0o600);
  const logStart = fs.fstatSync(logFd).size;
  let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  let spawnErr: Error | null = null;
  let childPid: number | undefined;
  try {
    const child = spawn(process.execPath, [daemonMain(), '--node', node, ...daemonArgs], {
      detached: true,
      stdio: ['ignore', logFd, logFd],
      cwd: '/',
      env: process.env,
    });
    child.on('error', (e) => { spawnErr = e; });
    child.on('exit', (code, signal) => { exited = { code, signal }; });
    childPid = child.pid;
    child.unref();
  } finally {
    fs.closeSync(logFd);
  }
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (spawnErr) throw new CodedError('EIO', `cannot start the daemon of node ${node}: ${(spawnErr as Error).message}`);
    try {
      const pong = await callDaemon<{ pid: number }>(paths.socket, 'ping', {}, { timeoutMs: 5000, connectTimeoutMs: 1000 });
      // Several CLIs may race to start the same node: only the one whose daemon won says "started".
      return { started: pong.pid === childPid, pid: pong.pid };
    } catch (e) {
      if (!UNREACHABLE.has((e as CodedError).code)) throw e;
    }
    const ex = exited as { code: number | null; signal: NodeJS.Signals | null } | null;
    // Exit code 3: another daemon for this node won the race; wait for that one instead.
    if (ex && ex.code !== 3) {
      const tail = logTail(paths.logFile, logStart);
      throw new CodedError('EIO', `the daemon of node ${node} exited at start (${ex.signal ?? `code ${ex.code}`})${tail ? `: ${tail}` : ''}`);
    }
    if (Date.now() > deadline) {
      throw new CodedError('ETIMEDOUT', `the daemon of node ${node} did not answer within ${timeoutMs / 1000} s (see ${paths.logFile})`);
    }
    await sleep(50);
  }
}

function processGone(pid: number): boolean {
  try { process.kill(pid, 0); } catch (e) { return (e as NodeJS.ErrnoException).code === 'ESRCH'; }
  try {
    // A zombie (not yet reaped by its parent) is gone for our purposes.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return / Z /.test(stat.slice(stat.lastIndexOf(')')));
  } catch {
    return true;
  }
}

export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (processGone(pid)) return true;
    await sleep(50);
  }
  return processGone(pid);
}

export interface StopResult { wasRunning: boolean; pid: number | null; mounts: number; how: string }

/** Stops a node's daemon (unmounting its mounts) and waits for the process to end. */
export async function stopNode(node: string, timeoutMs = 40000): Promise<StopResult> {
  const probe = await probeNode(node);
  if (probe.state === 'absent' || probe.state === 'stale') {
    return { wasRunning: false, pid: probe.pid, mounts: 0, how: probe.state };
  }
  if (probe.state === 'denied') throw needsRoot(node, 'stopping');
  let pid = probe.pid;
  let mounts = 0;
  let how = 'stop command';
  if (probe.state === 'running') {
    pid = probe.status!.pid;
    try {
      const r = await callDaemon<{ mounts: number }>(probe.paths.socket, 'stop', {}, { timeoutMs: 10000 });
      mounts = r.mounts;
    } catch (e) {
      if (!UNREACHABLE.has((e as CodedError).code)) throw e;
    }
  } else if (pid !== null) {
    how = 'SIGTERM';
    try {
      process.kill(pid, 'SIGTERM');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EPERM') throw needsRoot(node, 'stopping');
      /* gone */
    }
  }
  if (pid !== null && !(await waitForExit(pid, timeoutMs))) {
    throw new CodedError('ETIMEDOUT', `the daemon of node ${node} (pid ${pid}) did not exit within ${timeoutMs / 1000} s`);
  }
  return { wasRunning: true, pid, mounts, how };
}

/** Every live node's mounts, by canonical mount point. */
export async function servedMounts(nodes: NodeProbe[]): Promise<Map<string, { node: string; mount: MountRecord }>> {
  const out = new Map<string, { node: string; mount: MountRecord }>();
  for (const p of nodes) {
    if (p.state !== 'running' || !p.status) continue;
    for (const m of p.status.mounts as MountRecord[]) out.set(m.mountpoint, { node: p.node, mount: m });
  }
  return out;
}
