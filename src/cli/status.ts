// dmapifs status and dmapifs node start|stop|status: the node daemons of the run directory.
import { readMounts, isDeadFuseMount, isFuse, MountEntry } from '../fs/mountinfo';
import type { MountRecord } from '../daemon/mount-service';
import { runBase } from '../common/paths';
import { EXIT_FAIL, EXIT_NOT_RUNNING, EXIT_OK, fmtTime, NODE_OPT, nodeOf } from './common';
import { ensureDaemon, listNodeDirs, NodeProbe, probeNode, servedMounts, stopNode } from './nodes';
import { out, outJson } from './output';
import { Level, LOG_FORMATS, LOG_LEVELS, LogFormat, logOptionsFromEnv } from '../common/log';
import { Command, Group, str, UsageError } from './spec';

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

export const STATUS: Command = {
  name: 'status',
  summary: 'every node of the run directory with its daemon and mounts',
  help: `Nodes whose daemon died are reported as stale and their run files removed; FUSE mounts
they left are listed as dead. With --check the exit code says whether all is well: 1 when a node
is stale or does not answer, or a mount is dead (for monitoring and scripts).`,
  options: [{ name: 'check', help: 'exit 1 when a node is stale or not answering, or a mount is dead' }],
  json: true,
  async run(inv) {
    const probes: NodeProbe[] = [];
    const known = listNodeDirs();
    for (const node of known) {
      const p = await probeNode(node);
      if (p.state !== 'absent') probes.push(p);
    }
    const served = await servedMounts(probes);
    const dead = await deadMounts(new Set(served.keys()), await readMounts(), new Set(known));
    const bad = probes.filter((p) => p.state === 'stale' || p.state === 'unresponsive');
    const failing = inv.opts.check === true && (bad.length > 0 || dead.length > 0);
    if (inv.json) {
      outJson({ runDir: runBase(), nodes: probes.map(nodeJson), deadMounts: dead, ...(inv.opts.check ? { ok: !failing } : {}) });
      return failing ? EXIT_FAIL : EXIT_OK;
    }
    const lines: string[] = [];
    if (!probes.length) lines.push(`no dmapifs nodes in ${runBase()}`);
    for (const p of probes) lines.push(...nodeText(p));
    if (dead.length) {
      lines.push('dead FUSE mounts (their daemon is gone; clean with dmapifs umount MOUNTPOINT):');
      for (const d of dead) lines.push(`  ${d.mountpoint}  (${d.source})`);
    }
    out(lines.join('\n'));
    if (failing) process.stderr.write(`dmapifs: check failed: ${[...bad.map((p) => `node ${p.node} ${p.state}`), ...dead.map((d) => `dead mount ${d.mountpoint}`)].join(', ')}\n`);
    return failing ? EXIT_FAIL : EXIT_OK;
  },
};

const NODE_START: Command = {
  name: 'node start',
  summary: 'start the node daemon (detached, logging to daemon.log)',
  help: `Node settings and the mount list (mounts.json) live in the state directory ($DMAPIFS_STATE_DIR,
default /var/lib/dmapifs/NAME; <run dir>/.state/NAME when DMAPIFS_RUN_DIR is set). Under systemd
(packaging/systemd/dmapifs@.service) the daemon runs with --foreground --restore-mounts and tells
systemd when it is ready.`,
  options: [
    NODE_OPT,
    { name: 'foreground', help: 'run the daemon in this process, logging to stderr too (service managers, journald)' },
    { name: 'log-format', value: 'text|json', help: 'log lines as text (default) or one JSON object each' },
    { name: 'log-level', value: 'LEVEL', help: 'debug, info (default), warn or error' },
    { name: 'restore-mounts', help: 'mount again the mounts of the node\'s mount list' },
  ],
  async run(inv) {
    const node = nodeOf(inv);
    const fmt = str(inv, 'log-format');
    const level = str(inv, 'log-level');
    if (fmt !== undefined && !(LOG_FORMATS as string[]).includes(fmt)) throw new UsageError(`--log-format is ${LOG_FORMATS.join(' or ')}, not '${fmt}'`);
    if (level !== undefined && !(LOG_LEVELS as string[]).includes(level)) throw new UsageError(`--log-level is one of ${LOG_LEVELS.join(', ')}, not '${level}'`);
    if (inv.opts.foreground) {
      const { runDaemon } = require('../daemon/main') as typeof import('../daemon/main');
      return runDaemon(node, {
        log: { ...logOptionsFromEnv(), stderr: true, ...(fmt ? { format: fmt as LogFormat } : {}), ...(level ? { level: level as Level } : {}) },
        restoreMounts: inv.opts['restore-mounts'] === true,
      });
    }
    const args = [...(fmt ? ['--log-format', fmt] : []), ...(level ? ['--log-level', level] : []), ...(inv.opts['restore-mounts'] ? ['--restore-mounts'] : [])];
    const r = await ensureDaemon(node, undefined, args);
    out(r.started ? `node ${node} started (pid ${r.pid})` : `node ${node} is already running (pid ${r.pid})`);
    return EXIT_OK;
  },
};

const NODE_STOP: Command = {
  name: 'node stop',
  summary: "unmount the node's mounts and stop its daemon",
  options: [NODE_OPT],
  async run(inv) {
    const node = nodeOf(inv);
    const r = await stopNode(node);
    if (!r.wasRunning) {
      out(r.how === 'stale' ? `node ${node} was not running (cleaned the files of dead pid ${r.pid ?? '?'})` : `node ${node} is not running`);
    } else {
      out(`node ${node} stopped (pid ${r.pid}${r.mounts ? `, ${r.mounts} mount${r.mounts === 1 ? '' : 's'} unmounted` : ''})`);
    }
    return EXIT_OK;
  },
};

const NODE_STATUS: Command = {
  name: 'node status',
  summary: 'show one node (exit 3 when it is not running, 1 when it does not answer)',
  options: [NODE_OPT],
  json: true,
  async run(inv) {
    const p = await probeNode(nodeOf(inv));
    if (inv.json) outJson(nodeJson(p));
    else out(nodeText(p).join('\n'));
    return p.state === 'running' ? EXIT_OK : p.state === 'unresponsive' || p.state === 'denied' ? EXIT_FAIL : EXIT_NOT_RUNNING;
  },
};

export const NODE: Group = {
  kind: 'group',
  name: 'node',
  summary: 'the node daemon: start, stop, status',
  subcommands: [NODE_START, NODE_STOP, NODE_STATUS],
};
