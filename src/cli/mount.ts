// dmapifs mount, umount and config: a node daemon's mounts and DMAPI settings.
import * as fs from 'fs';
import * as path from 'path';
import { callDaemon } from '../daemon/control-client';
import { checkBacking, checkFuseAvailable, checkMountpoint, checkRelation } from '../fs/checks';
import { CodedError } from '../common/errors';
import type { MountRecord } from '../daemon/mount-service';
import { isDeadFuseMount, isFuse, mountAt, readMounts } from '../fs/mountinfo';
import { nodePaths, runBase } from '../common/paths';
import type { DmState } from '../dmapi/admin';
import { RESERVED } from '../dmapi/fsconfig';
import { setDmapi } from './chfs';
import { EXIT_OK, NODE_OPT, nodeOf } from './common';
import { listNodeDirs, probeNode, ensureDaemon, stopNode } from './nodes';
import { out, outJson } from './output';
import { Command, Invocation, parseSeconds, parseSize, str, UsageError } from './spec';

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

/** The backing directory's DMAPI flag, without creating its configuration. */
function dmapiEnabled(backing: string): boolean {
  try { return (JSON.parse(fs.readFileSync(path.join(backing, RESERVED, 'config.json'), 'utf8')) as { dmapi?: unknown }).dmapi === true; } catch { return false; }
}

/** After a second, prints once (stderr) what a pending DMAPI mount waits for and how long it may. */
function waitingNotice(node: string, mountpoint: string): { cancel(): void } {
  let done = false;
  const timer = setTimeout(() => {
    void callDaemon<DmState>(nodePaths(node).socket, 'dmapi.state', {}, { timeoutMs: 5000 }).then((st) => {
      const p = st.pendingMounts.find((x) => x.mountpoint === mountpoint);
      if (done || !p) return;
      const msg = p.disposition
        ? 'waiting for the DM application to answer its MOUNT event'
        : p.windowEnd === -1 ? 'waiting for a DM application to take the MOUNT disposition (no time limit: dmapiMountTimeout -1)'
          : p.windowEnd !== null ? `waiting up to ${Math.max(0, Math.round((p.windowEnd - st.now) / 1000))} s for a DM application to take the MOUNT disposition (dmapiMountTimeout; see dmapifs config)`
            : 'waiting for a MOUNT disposition';
      process.stderr.write(`dmapifs: ${mountpoint}: ${msg}\n`);
    }, () => undefined);
  }, 1000);
  return { cancel: () => { done = true; clearTimeout(timer); } };
}

export const MOUNT: Command = {
  name: 'mount',
  args: 'BACKING MOUNTPOINT',
  nargs: [2, 2],
  needs: 'mount needs BACKING and MOUNTPOINT',
  summary: 'mount the directory BACKING at MOUNTPOINT through FUSE',
  help: `MOUNTPOINT is an existing empty directory. The node's daemon is started if it does not run.
Returns once the mount is ready.`,
  options: [
    { ...NODE_OPT, help: 'node daemon to serve the mount (default: the host name)' },
    { name: 'attr-timeout', value: 'S', help: 'seconds the kernel may cache attributes (default 1; 0 = never)' },
    { name: 'entry-timeout', value: 'S', help: 'seconds the kernel may cache names (default 1; 0 = never)' },
    {
      name: 'dmapi',
      help: `enable the DMAPI for this filesystem (persistent; see dmapifs chfs). As on
GPFS, mounting a DMAPI-enabled filesystem raises MOUNT and waits for its
answer; with no DM application holding a MOUNT disposition it fails with EIO
(the node's first such mount waits dmapiMountTimeout s for one: dmapifs config)`,
    },
    { name: 'mount-event-optional', help: 'with no MOUNT disposition, mount without a MOUNT event (dmapifs extension)' },
    {
      name: 'capacity', value: 'SIZE',
      help: `limit the space the filesystem's files may take (500M, 2G...): writes past it
raise NOSPACE (DMAPI) and fail with ENOSPC`,
    },
    { name: 'dev', help: 'device files in the mount may be opened (default: nodev)' },
    {
      name: 'suid',
      help: `set-user-ID/set-group-ID bits and file capabilities take effect when a
program of the mount is run (default: nosuid). Both only for trusted content:
see docs/mount-options.md`,
    },
    {
      name: 'passthrough',
      help: `kernel FUSE passthrough (Linux 6.9+) on a mount without --dmapi or
--capacity: reads, writes and mmaps go from the kernel straight to the
backing files. The kernel then writes with the daemon's credentials, not the
caller's (root-reserved blocks, quota limits), as libfuse's passthrough_hp`,
    },
  ],
  async run(inv) {
    const node = nodeOf(inv);
    const at = str(inv, 'attr-timeout');
    const et = str(inv, 'entry-timeout');
    const attrTimeout = at !== undefined ? parseSeconds('attr-timeout', at) : undefined;
    const entryTimeout = et !== undefined ? parseSeconds('entry-timeout', et) : undefined;
    const cap = str(inv, 'capacity');
    const capacity = cap !== undefined ? parseSize('capacity', cap) : undefined;
    if (capacity === 0) throw new UsageError('--capacity must be a positive size');
    if (inv.opts.passthrough && (inv.opts.dmapi || capacity !== undefined)) {
      throw new UsageError(`--passthrough does not go with ${inv.opts.dmapi ? '--dmapi' : '--capacity'}: every read and write must reach the daemon there`);
    }
    const backingArg = path.resolve(inv.args[0]);
    const mountArg = path.resolve(inv.args[1]);
    // Check here first so that bad input never starts a daemon; the daemon checks again.
    const backing = await checkBacking(backingArg);
    const mountpoint = await checkMountpoint(mountArg);
    checkRelation(backing, mountpoint);
    await checkFuseAvailable();
    // --dmapi: enable the DMAPI of the filesystem (persistent, like mmchfs -z yes) before mounting it.
    if (inv.opts.dmapi) setDmapi(backing, true);
    const daemon = await ensureDaemon(node);
    let rec: MountRecord;
    // A DMAPI mount waits for its MOUNT event: say so once, and for how long, if it takes a while.
    const waiting = inv.opts.dmapi || dmapiEnabled(backing) ? waitingNotice(node, mountpoint) : null;
    try {
      rec = await callDaemon<MountRecord>(nodePaths(node).socket, 'mount',
        { backing, mountpoint, attrTimeout, entryTimeout, capacity, mountEventOptional: inv.opts['mount-event-optional'] === true,
          allowDev: inv.opts.dev === true, allowSuid: inv.opts.suid === true, passthrough: inv.opts.passthrough === true },
        // A DMAPI mount waits for its MOUNT event's answer, as long as the DM application takes.
        { timeoutMs: 0 });
    } catch (e) {
      if (daemon.started) {
        // Do not leave behind a daemon that this command started for nothing.
        const st = await probeNode(node).catch(() => null);
        if (st?.state === 'running' && st.status && st.status.mounts.length === 0) await stopNode(node).catch(() => undefined);
      }
      throw e;
    } finally {
      waiting?.cancel();
    }
    if (inv.json) outJson({ ...rec, node, pid: daemon.pid, daemonStarted: daemon.started });
    else out(`mounted ${rec.backing} at ${rec.mountpoint} (node ${node}, pid ${daemon.pid}${daemon.started ? ', daemon started' : ''})`);
    return EXIT_OK;
  },
  json: true,
};

export const UMOUNT: Command = {
  name: 'umount',
  args: 'MOUNTPOINT',
  nargs: [1, 1],
  needs: 'umount needs MOUNTPOINT',
  summary: 'unmount MOUNTPOINT through the daemon serving it',
  help: `A FUSE mount left behind by a daemon that died (kill -9: "Transport endpoint is not
connected") is detached. "unmount" is accepted as its other name.`,
  options: [
    { ...NODE_OPT, help: 'only ask this node (a mount that another node serves is refused, not unmounted)' },
    { name: 'lazy', short: 'l', help: 'detach even while files are open (the mount goes away once they are closed)' },
  ],
  run: cmdUmount,
};

async function cmdUmount(inv: Invocation): Promise<number> {
  const lazy = inv.opts.lazy === true;
  let target = canonicalTarget(inv.args[0]);
  // The mount point itself may be given through a symlink: resolve it too, unless that hangs or
  // fails (a dead mount cannot be resolved, but then its own path was given).
  const kernelMounts = await readMounts();
  if (!mountAt(kernelMounts, target)) {
    const real = await realpathWithin(target, 2000);
    if (real && mountAt(kernelMounts, real)) target = real;
  }
  const only = str(inv, 'node') !== undefined ? nodeOf(inv) : null;
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

export const CONFIG: Command = {
  name: 'config',
  args: '[NAME=VALUE...]',
  nargs: [0, Infinity],
  summary: "show, or change, a running node's DMAPI settings",
  help: `The settings are kept in the node's state directory (dmapi-settings.json):
  dmapiEventTimeout           ms a data event waits for its answer, then ENOTREADY (86400000 = forever)
  dmapiSessionFailureTimeout  s an event waits for its failed session to be assumed, then EIO (0)
  dmapiMountTimeout           s the node's first DMAPI mount waits for a MOUNT disposition, then EIO (60; -1 forever)
  dmapiDataEventRetry         times a data event re-enabled during its handling is raised again (2; -1 always)`,
  options: [NODE_OPT],
  json: true,
  async run(inv) {
    const node = nodeOf(inv);
    const set: Record<string, string> = {};
    for (const a of inv.args) {
      const i = a.indexOf('=');
      if (i <= 0) throw new UsageError(`expected NAME=VALUE, not '${a}'`);
      set[a.slice(0, i)] = a.slice(i + 1);
    }
    const r = await callDaemon<{ node: string; file: string; settings: Record<string, number> }>(nodePaths(node).socket, 'dmapi-config', { set });
    if (inv.json) outJson(r);
    else for (const [k, v] of Object.entries(r.settings)) out(`${k} ${v}`);
    return EXIT_OK;
  },
};
