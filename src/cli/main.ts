// The dmapifs command line.
//
//   dmapifs node start|stop|status [--node NAME]
//   dmapifs mount [--node NAME] [--attr-timeout S] [--entry-timeout S] BACKING MOUNTPOINT
//   dmapifs umount [--node NAME] [--lazy] MOUNTPOINT
//   dmapifs status [--json]
//
// Errors are one line on stderr ("dmapifs: ..."); exit codes: 0 success, 1 failure, 2 bad usage,
// 3 "node not running" from `node status`.
import * as fs from 'fs';
import * as path from 'path';
import { callDaemon } from '../daemon/control-client';
import { VERSION } from '../common/version';
import { checkBacking, checkFuseAvailable, checkMountpoint, checkRelation } from '../fs/checks';
import { CodedError, errorBody, oneLine } from '../common/errors';
import type { MountRecord } from '../daemon/mount-service';
import { isDeadFuseMount, isFuse, mountAt, readMounts, MountEntry } from '../fs/mountinfo';
import { checkNodeName, defaultNodeName, nodePaths, runBase } from '../common/paths';
import { parseArgs, parseSeconds, UsageError } from './args';
import { CHFS_HELP, cmdChfs, setDmapi } from './chfs';
import { cmdCluster } from './cluster';
import { cmdLocks } from './locks';
import { ensureDaemon, listNodeDirs, NodeProbe, probeNode, servedMounts, stopNode } from './nodes';

const EXIT_OK = 0;
const EXIT_FAIL = 1;
const EXIT_USAGE = 2;
const EXIT_NOT_RUNNING = 3;

const HELP: Record<string, string> = {
  main: `dmapifs ${VERSION}: FUSE passthrough filesystem served by a per-node daemon

usage:
  dmapifs mount [--node NAME] [--attr-timeout S] [--entry-timeout S] BACKING MOUNTPOINT
  dmapifs umount [--node NAME] [--lazy] MOUNTPOINT
  dmapifs chfs --dmapi yes|no PATH
  dmapifs config [--node NAME] [NAME=VALUE...]
  dmapifs status [--json]
  dmapifs locks [--node NAME] [--json]
  dmapifs cluster init|add-node|show ...
  dmapifs node start [--node NAME] [--foreground]
  dmapifs node stop [--node NAME]
  dmapifs node status [--node NAME] [--json]
  dmapifs help [COMMAND]
  dmapifs --version

NAME defaults to the host name (${safeDefaultNode()}). Runtime files live in
$DMAPIFS_RUN_DIR/NAME (default /run/dmapifs/NAME): control.sock, daemon.pid, daemon.log.
Exit codes: 0 ok, 1 failure, 2 bad usage, 3 node not running (node status).`,
  chfs: CHFS_HELP,
  config: `usage: dmapifs config [--node NAME] [--json] [NAME=VALUE...]
Shows, or changes, the DMAPI settings of a running node (kept in <run dir>/NAME/dmapi-settings.json):
  dmapiEventTimeout           ms a data event waits for its answer, then ENOTREADY (86400000 = forever)
  dmapiSessionFailureTimeout  s an event waits for its failed session to be assumed, then EIO (0)
  dmapiMountTimeout           s the node's first DMAPI mount waits for a MOUNT disposition, then EIO (60; -1 forever)
  dmapiDataEventRetry         times a data event re-enabled during its handling is raised again (2; -1 always)`,
  mount: `usage: dmapifs mount [--node NAME] [--attr-timeout S] [--entry-timeout S] [--dmapi] [--mount-event-optional] [--capacity SIZE] [--dev] [--suid] [--passthrough] BACKING MOUNTPOINT

Mounts the directory BACKING at MOUNTPOINT (an existing empty directory) through FUSE. The
node's daemon is started if it does not run. Returns once the mount is ready.
  --node NAME          node daemon to serve the mount (default: the host name)
  --attr-timeout S     seconds the kernel may cache attributes (default 1; 0 = never)
  --entry-timeout S    seconds the kernel may cache names (default 1; 0 = never)
  --dmapi              enable the DMAPI for this filesystem (persistent; see dmapifs chfs). As on
                       GPFS, mounting a DMAPI-enabled filesystem raises MOUNT and waits for its
                       answer; with no DM application holding a MOUNT disposition it fails with EIO
                       (the node's first such mount waits dmapiMountTimeout s for one: dmapifs config)
  --mount-event-optional
                       with no MOUNT disposition, mount without a MOUNT event (dmapifs extension)
  --capacity SIZE      limit the space the filesystem's files may take (500M, 2G...): writes past it
                       raise NOSPACE (DMAPI) and fail with ENOSPC
  --dev                device files in the mount may be opened (default: nodev)
  --suid               set-user-ID/set-group-ID bits and file capabilities take effect when a
                       program of the mount is run (default: nosuid). Both only for trusted content:
                       see docs/mount-options.md
  --passthrough        kernel FUSE passthrough (Linux 6.9+) on a mount without --dmapi or
                       --capacity: reads, writes and mmaps go from the kernel straight to the
                       backing files. The kernel then writes with the daemon's credentials, not the
                       caller's (root-reserved blocks, quota limits), as libfuse's passthrough_hp`,
  umount: `usage: dmapifs umount [--node NAME] [--lazy] MOUNTPOINT

Unmounts MOUNTPOINT through the daemon serving it. A FUSE mount left behind by a daemon that
died (kill -9: "Transport endpoint is not connected") is detached.
  --node NAME   only ask this node (a mount that another node serves is refused, not unmounted)
  --lazy, -l    detach even while files are open (the mount goes away once they are closed)`,
  status: `usage: dmapifs status [--json]

Lists every node in the run directory with its daemon and mounts. Nodes whose daemon died are
reported as stale and their run files removed; FUSE mounts they left are listed as dead.`,
  node: `usage: dmapifs node start|stop|status [--node NAME]

  node start [--foreground]   start the node daemon (detached, logging to daemon.log), or run it
                              in this process with --foreground
  node stop                   unmount the node's mounts and stop its daemon
  node status [--json]        show one node (exit 3 when it is not running)`,
};

function safeDefaultNode(): string {
  try { return defaultNodeName(); } catch { return 'localhost'; }
}

// ---------------------------------------------------------------------------------------------
// Output: written synchronously so that process.exit never truncates it.

function writeAll(fd: number, s: string): void {
  const buf = Buffer.from(s);
  let off = 0;
  while (off < buf.length) {
    try {
      off += fs.writeSync(fd, buf, off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') continue;
      if ((e as NodeJS.ErrnoException).code === 'EPIPE') return;
      throw e;
    }
  }
}
const out = (s: string) => writeAll(1, s.endsWith('\n') ? s : s + '\n');
const err = (s: string) => writeAll(2, `dmapifs: ${oneLine(s)}\n`);

function fmtTime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

function nodeOpt(opts: Record<string, string | true>): string {
  const v = opts.node;
  return checkNodeName(typeof v === 'string' ? v : defaultNodeName());
}

function noPositional(cmd: string, pos: string[]): void {
  if (pos.length) throw new UsageError(`unexpected argument '${pos[0]}' for '${cmd}'`);
}

/** Absolute, with symlinks in the parent resolved; the last component is kept as given (it may
 *  be a dead mount that cannot be stat'ed). */
function canonicalTarget(p: string): string {
  const abs = path.resolve(p);
  if (abs === '/') return abs;
  try {
    return path.join(fs.realpathSync(path.dirname(abs)), path.basename(abs));
  } catch {
    return abs;
  }
}

async function realpathWithin(p: string, ms: number): Promise<string | null> {
  let timer: NodeJS.Timeout | undefined;
  const r = await Promise.race([
    fs.promises.realpath(p).catch(() => null),
    new Promise<null>((res) => { timer = setTimeout(() => res(null), ms); }),
  ]);
  clearTimeout(timer);
  return r;
}

// ---------------------------------------------------------------------------------------------
// Commands

async function cmdMount(argv: string[]): Promise<number> {
  const { opts, positional } = parseArgs(argv, { node: 'value', 'attr-timeout': 'value', 'entry-timeout': 'value', dmapi: 'flag', 'mount-event-optional': 'flag', capacity: 'value', dev: 'flag', suid: 'flag', passthrough: 'flag', help: 'flag' }, 'mount');
  if (opts.help) { out(HELP.mount); return EXIT_OK; }
  if (positional.length !== 2) {
    throw new UsageError(positional.length < 2 ? 'mount needs BACKING and MOUNTPOINT' : `unexpected argument '${positional[2]}' for 'mount'`);
  }
  const node = nodeOpt(opts);
  const attrTimeout = typeof opts['attr-timeout'] === 'string' ? parseSeconds('attr-timeout', opts['attr-timeout']) : undefined;
  const entryTimeout = typeof opts['entry-timeout'] === 'string' ? parseSeconds('entry-timeout', opts['entry-timeout']) : undefined;
  const capacity = typeof opts.capacity === 'string' ? parseSize('capacity', opts.capacity) : undefined;
  if (opts.passthrough && (opts.dmapi || capacity !== undefined)) {
    throw new UsageError(`--passthrough does not go with ${opts.dmapi ? '--dmapi' : '--capacity'}: every read and write must reach the daemon there`);
  }
  const backingArg = path.resolve(positional[0]);
  const mountArg = path.resolve(positional[1]);
  // Check here first so that bad input never starts a daemon; the daemon checks again.
  const backing = await checkBacking(backingArg);
  const mountpoint = await checkMountpoint(mountArg);
  checkRelation(backing, mountpoint);
  await checkFuseAvailable();
  // --dmapi: enable the DMAPI of the filesystem (persistent, like mmchfs -z yes) before mounting it.
  if (opts.dmapi) setDmapi(backing, true);
  const daemon = await ensureDaemon(node);
  let rec: MountRecord;
  try {
    rec = await callDaemon<MountRecord>(nodePaths(node).socket, 'mount',
      { backing, mountpoint, attrTimeout, entryTimeout, capacity, mountEventOptional: opts['mount-event-optional'] === true,
        allowDev: opts.dev === true, allowSuid: opts.suid === true, passthrough: opts.passthrough === true },
      // A DMAPI mount waits for its MOUNT event's answer, as long as the DM application takes.
      { timeoutMs: 0 });
  } catch (e) {
    if (daemon.started) {
      // Do not leave behind a daemon that this command started for nothing.
      const st = await probeNode(node).catch(() => null);
      if (st?.state === 'running' && st.status && st.status.mounts.length === 0) await stopNode(node).catch(() => undefined);
    }
    throw e;
  }
  out(`mounted ${rec.backing} at ${rec.mountpoint} (node ${node}, pid ${daemon.pid}${daemon.started ? ', daemon started' : ''})`);
  return EXIT_OK;
}

/** A size in bytes: a number with an optional K, M, G or T suffix (powers of 1024). */
function parseSize(name: string, v: string): number {
  const m = /^(\d+)([KMGT]?)i?B?$/i.exec(v.trim());
  if (!m) throw new UsageError(`--${name} must be a size such as 500M or 2G, not '${v}'`);
  const n = Number(m[1]) * 1024 ** ' KMGT'.indexOf((m[2] || ' ').toUpperCase());
  if (!Number.isSafeInteger(n) || n <= 0) throw new UsageError(`--${name} must be a positive size`);
  return n;
}

/** dmapifs config [--node NODE] [--json] [NAME=VALUE...]: the node's DMAPI settings. */
async function cmdConfig(argv: string[]): Promise<number> {
  const { opts, positional } = parseArgs(argv, { node: 'value', json: 'flag', help: 'flag' }, 'config');
  if (opts.help) { out(HELP.config); return EXIT_OK; }
  const node = nodeOpt(opts);
  const set: Record<string, string> = {};
  for (const a of positional) {
    const i = a.indexOf('=');
    if (i <= 0) throw new UsageError(`expected NAME=VALUE, not '${a}'`);
    set[a.slice(0, i)] = a.slice(i + 1);
  }
  const r = await callDaemon<{ node: string; file: string; settings: Record<string, number> }>(nodePaths(node).socket, 'dmapi-config', { set });
  if (opts.json) out(JSON.stringify(r));
  else for (const [k, v] of Object.entries(r.settings)) out(`${k} ${v}`);
  return EXIT_OK;
}

async function cmdUmount(argv: string[]): Promise<number> {
  const { opts, positional } = parseArgs(argv, { node: 'value', lazy: 'flag', help: 'flag' }, 'umount');
  if (opts.help) { out(HELP.umount); return EXIT_OK; }
  if (positional.length !== 1) {
    throw new UsageError(positional.length ? `unexpected argument '${positional[1]}' for 'umount'` : 'umount needs MOUNTPOINT');
  }
  const lazy = opts.lazy === true;
  let target = canonicalTarget(positional[0]);
  // The mount point itself may be given through a symlink: resolve it too, unless that hangs or
  // fails (a dead mount cannot be resolved, but then its own path was given).
  const kernelMounts = await readMounts();
  if (!mountAt(kernelMounts, target)) {
    const real = await realpathWithin(target, 2000);
    if (real && mountAt(kernelMounts, real)) target = real;
  }
  const only = typeof opts.node === 'string' ? checkNodeName(opts.node) : null;
  const nodes = only ? [only] : listNodeDirs();
  const denied: string[] = [];
  for (const node of nodes) {
    const p = await probeNode(node);
    if (p.state === 'denied') denied.push(node);
    if (p.state !== 'running' || !p.status) continue;
    if (!(p.status.mounts as MountRecord[]).some((m) => m.mountpoint === target)) continue;
    await callDaemon(p.paths.socket, 'umount', { mountpoint: target, lazy }, { timeoutMs: 60000 });
    out(`unmounted ${target} (node ${node}${lazy ? ', lazy' : ''})`);
    return EXIT_OK;
  }
  // No live daemon of ours serves it: what does the kernel have there?
  const m = mountAt(kernelMounts, target);
  if (!m) throw new CodedError('EINVAL', `not mounted: ${target}`);
  if (!isFuse(m)) throw new CodedError('EINVAL', `${target} is not a FUSE mount (${m.fstype} from ${m.source}); use umount(8)`);
  const dead = await isDeadFuseMount(target);
  const servedBy = /^dmapifs:(.+)$/.exec(m.source)?.[1];
  if (!dead) {
    // A live mount of a node we may not ask: leave it to root (a kernel unmount here would skip
    // that node's PREUNMOUNT and UNMOUNT events).
    if (servedBy && denied.includes(servedBy)) {
      throw new CodedError('EACCES', `permission denied: ${target} is served by node ${servedBy}, whose daemon only root may ask to unmount it`);
    }
    // --node names the node that is to unmount it: a mount another node serves is not that
    // node's to take away (and taking it away from under its daemon would skip its events).
    if (only && servedBy !== only) {
      throw new CodedError('EINVAL', `${target} is not served by node ${only}${servedBy ? ` but by node ${servedBy} (dmapifs umount --node ${servedBy} ${target})` : ` (${m.source})`}`);
    }
  }
  const { nativeFuse } = require('../fuse/binding') as typeof import('../fuse/binding');
  let fuse;
  try { fuse = nativeFuse(); } catch (e) { throw new CodedError('ELIBACC', (e as Error).message); }
  try {
    await fuse.umount(target, dead || lazy ? 2 /* MNT_DETACH */ : 0);
  } catch (e) {
    const errno = (e as { errno?: number }).errno;
    if (errno === 16) throw new CodedError('EBUSY', `mount point is busy: ${target} (close the files open there, or use --lazy)`);
    throw new CodedError('EIO', (e as Error).message);
  }
  // The node named in the mount's source may have left a stale run directory: clean it too.
  const owner = servedBy;
  if (owner && listNodeDirs().includes(owner)) await probeNode(owner).catch(() => undefined);
  out(dead ? `detached dead FUSE mount ${target} (its daemon is gone)` : `unmounted ${target} (${m.source}, not served by a dmapifs node in ${runBase()})`);
  return EXIT_OK;
}

interface DeadMount { mountpoint: string; source: string; fstype: string; node: string | null }

/**
 * FUSE mounts of this run directory's nodes that no live daemon serves any more and whose kernel
 * connection is dead. Only mounts of nodes known here are probed: a probe (statfs) of a live mount
 * of someone else's would make it briefly busy for its own unmount.
 */
async function deadMounts(served: Set<string>, entries: MountEntry[], knownNodes: Set<string>): Promise<DeadMount[]> {
  const outl: DeadMount[] = [];
  for (const e of entries) {
    if (!isFuse(e) || served.has(e.mountpoint)) continue;
    const node = /^dmapifs:(.+)$/.exec(e.source)?.[1];
    if (!node || !knownNodes.has(node)) continue;
    if (await isDeadFuseMount(e.mountpoint, 1000)) {
      outl.push({ mountpoint: e.mountpoint, source: e.source, fstype: e.fstype, node });
    }
  }
  return outl;
}

function nodeJson(p: NodeProbe): Record<string, unknown> {
  const o: Record<string, unknown> = { node: p.node, state: p.state, pid: p.pid, runDir: p.paths.dir };
  if (p.status) {
    o.startedAt = p.status.startedAt;
    o.version = p.status.version;
    o.mounts = p.status.mounts;
    o.services = p.status.services;
  } else {
    o.mounts = [];
  }
  if (p.cleaned) o.cleaned = p.cleaned;
  if (p.reason) o.reason = p.reason;
  return o;
}

function nodeText(p: NodeProbe): string[] {
  const lines: string[] = [];
  switch (p.state) {
    case 'running': {
      const s = p.status!;
      const ms = s.mounts as MountRecord[];
      lines.push(`node ${p.node}: running, pid ${s.pid}, since ${fmtTime(s.startedAt)}, ${ms.length} mount${ms.length === 1 ? '' : 's'}`);
      for (const m of ms) lines.push(`  ${m.mountpoint}  <-  ${m.backing}  (mounted ${fmtTime(m.mountedAt)})`);
      break;
    }
    case 'unresponsive':
      lines.push(`node ${p.node}: NOT ANSWERING, pid ${p.pid} (${p.reason})`);
      break;
    case 'denied':
      lines.push(`node ${p.node}: running, pid ${p.pid} (${p.reason})`);
      break;
    case 'stale':
      lines.push(`node ${p.node}: stale, daemon${p.pid ? ` pid ${p.pid}` : ''} is gone${p.cleaned?.length ? ` (removed ${p.cleaned.join(', ')})` : ''}`);
      break;
    case 'absent':
      lines.push(`node ${p.node}: not running`);
      break;
  }
  return lines;
}

async function cmdStatus(argv: string[]): Promise<number> {
  const { opts, positional } = parseArgs(argv, { json: 'flag', help: 'flag' }, 'status');
  if (opts.help) { out(HELP.status); return EXIT_OK; }
  noPositional('status', positional);
  const probes: NodeProbe[] = [];
  const known = listNodeDirs();
  for (const node of known) {
    const p = await probeNode(node);
    if (p.state !== 'absent') probes.push(p);
  }
  const served = await servedMounts(probes);
  const dead = await deadMounts(new Set(served.keys()), await readMounts(), new Set(known));
  if (opts.json) {
    out(JSON.stringify({ runDir: runBase(), nodes: probes.map(nodeJson), deadMounts: dead }, null, 2));
    return EXIT_OK;
  }
  const lines: string[] = [];
  if (!probes.length) lines.push(`no dmapifs nodes in ${runBase()}`);
  for (const p of probes) lines.push(...nodeText(p));
  if (dead.length) {
    lines.push('dead FUSE mounts (their daemon is gone; clean with dmapifs umount MOUNTPOINT):');
    for (const d of dead) lines.push(`  ${d.mountpoint}  (${d.source})`);
  }
  out(lines.join('\n'));
  return EXIT_OK;
}

async function cmdNode(argv: string[]): Promise<number> {
  const sub = argv[0];
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
    if (sub === undefined) throw new UsageError("'node' needs a subcommand: start, stop or status");
    out(HELP.node);
    return EXIT_OK;
  }
  const rest = argv.slice(1);
  switch (sub) {
    case 'start': {
      const { opts, positional } = parseArgs(rest, { node: 'value', foreground: 'flag', help: 'flag' }, 'node start');
      if (opts.help) { out(HELP.node); return EXIT_OK; }
      noPositional('node start', positional);
      const node = nodeOpt(opts);
      if (opts.foreground) {
        const { runDaemon } = require('../daemon/main') as typeof import('../daemon/main');
        return runDaemon(node);
      }
      const r = await ensureDaemon(node);
      out(r.started ? `node ${node} started (pid ${r.pid})` : `node ${node} is already running (pid ${r.pid})`);
      return EXIT_OK;
    }
    case 'stop': {
      const { opts, positional } = parseArgs(rest, { node: 'value', help: 'flag' }, 'node stop');
      if (opts.help) { out(HELP.node); return EXIT_OK; }
      noPositional('node stop', positional);
      const node = nodeOpt(opts);
      const r = await stopNode(node);
      if (!r.wasRunning) {
        out(r.how === 'stale' ? `node ${node} was not running (cleaned the files of dead pid ${r.pid ?? '?'})` : `node ${node} is not running`);
      } else {
        out(`node ${node} stopped (pid ${r.pid}${r.mounts ? `, ${r.mounts} mount${r.mounts === 1 ? '' : 's'} unmounted` : ''})`);
      }
      return EXIT_OK;
    }
    case 'status': {
      const { opts, positional } = parseArgs(rest, { node: 'value', json: 'flag', help: 'flag' }, 'node status');
      if (opts.help) { out(HELP.node); return EXIT_OK; }
      noPositional('node status', positional);
      const node = nodeOpt(opts);
      const p = await probeNode(node);
      if (opts.json) out(JSON.stringify(nodeJson(p), null, 2));
      else out(nodeText(p).join('\n'));
      return p.state === 'running' ? EXIT_OK : p.state === 'unresponsive' || p.state === 'denied' ? EXIT_FAIL : EXIT_NOT_RUNNING;
    }
    default:
      throw new UsageError(`unknown node subcommand '${sub}' (start, stop or status)`);
  }
}

export async function main(argv: string[]): Promise<number> {
  try {
    const cmd = argv[0];
    const rest = argv.slice(1);
    switch (cmd) {
      case undefined:
        writeAll(2, HELP.main + '\n');
        return EXIT_USAGE;
      case '--help': case '-h': case 'help': {
        const topic = cmd === 'help' ? rest[0] : undefined;
        if (topic && !HELP[topic]) throw new UsageError(`no help for '${topic}'`);
        out(HELP[topic ?? 'main']);
        return EXIT_OK;
      }
      case '--version': case '-V': case 'version':
        out(VERSION);
        return EXIT_OK;
      case 'mount': return await cmdMount(rest);
      case 'umount': case 'unmount': return await cmdUmount(rest);
      case 'status': return await cmdStatus(rest);
      case 'chfs': return await cmdChfs(rest, out);
      case 'config': return await cmdConfig(rest);
      case 'node': return await cmdNode(rest);
      case 'locks': return await cmdLocks(rest);
      case 'cluster': return await cmdCluster(rest);
      default:
        if (cmd.startsWith('-')) throw new UsageError(`unknown option ${cmd}`);
        throw new UsageError(`unknown command '${cmd}'`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      err(`${e.message} (see dmapifs --help)`);
      return EXIT_USAGE;
    }
    err(errorBody(e).message);
    return EXIT_FAIL;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code), (e) => {
    err(String((e as Error)?.stack ?? e));
    process.exit(EXIT_FAIL);
  });
}
