// dmapifs events watch MNT|--node N: a passive tracer. It reads the daemon's observer interface
// (src/dmapi/observer.ts) and prints every event as it is raised, delivered, moved and answered,
// and every session as it comes and goes. It holds no session and no disposition and answers
// nothing, so the DM application sees exactly what it would without it.
import * as path from 'path';
import { callDaemon } from '../daemon/control-client';
import type { MountRecord } from '../daemon/mount-service';
import { nodePaths } from '../common/paths';
import type { DmState } from '../dmapi/admin';
import type { TraceRecord } from '../dmapi/observer';
import { NODE_OPT, nodeOf } from './common';
import { listNodeDirs, probeNode } from './nodes';
import { out } from './output';
import { Command, Group, intOpt, Invocation, str, UsageError } from './spec';

function time(ms: number): string {
  return new Date(ms).toISOString().slice(11, 23);
}

export function traceLine(r: TraceRecord): string {
  const t = time(r.at);
  if (r.session) return `${t} session ${r.session.sid} "${r.session.name}" ${r.what.slice('session-'.length)}${r.by ? ` by ${r.by}` : ''}`;
  const e = r.event!;
  const obj = `${e.object ?? ''}${e.offset !== undefined ? ` [${e.offset}, +${e.length === '0' ? 'EOF' : e.length})` : ''}${e.target ? ` -> ${e.target}` : ''}`;
  const tok = e.token ? `token ${e.token}` : 'async';
  switch (r.what) {
    case 'raised': return `${t} ${e.type.padEnd(10)} ${tok} raised to session ${e.sid}: ${obj}`;
    case 'delivered': return `${t} ${e.type.padEnd(10)} ${tok} delivered to session ${e.sid}`;
    case 'moved': return `${t} ${e.type.padEnd(10)} ${tok} moved from session ${r.from} to ${e.sid}`;
    case 'answered': return `${t} ${e.type.padEnd(10)} ${tok} answered ${r.response}${r.errno ? ` ${r.errno}` : ''}${r.by ? ` by ${r.by}` : ''} after ${((r.at - e.raisedAt) / 1000).toFixed(3)} s: ${obj}`;
    default: return `${t} ${r.what} ${tok}`;
  }
}

async function mountNode(inv: Invocation, mnt: string): Promise<string> {
  if (str(inv, 'node') !== undefined) return nodeOf(inv);
  for (const node of listNodeDirs()) {
    const p = await probeNode(node).catch(() => null);
    if (p?.state === 'running' && (p.status!.mounts as MountRecord[]).some((m) => m.mountpoint === mnt)) return node;
  }
  throw new UsageError(`${mnt} is not a mount point served by a running node (or give --node)`);
}

const WATCH: Command = {
  name: 'events watch',
  args: '[MOUNTPOINT]',
  nargs: [0, 1],
  summary: 'trace DMAPI events as they are raised and answered, without taking part',
  help: `Shows the events of one mount (MOUNTPOINT) or of the whole node (--node). Session records
(created, assumed, destroyed) are shown either way. With --json, one JSON object a line. Runs
until interrupted, --count records or --duration seconds. A tracer too slow for the daemon's
ring (8192 records) is told how many records it lost.`,
  options: [
    NODE_OPT,
    { name: 'count', value: 'N', help: 'exit after N records' },
    { name: 'duration', value: 'S', help: 'exit after S seconds' },
  ],
  json: true,
  async run(inv) {
    if (!inv.args.length && str(inv, 'node') === undefined) throw new UsageError('events watch needs MOUNTPOINT or --node NAME');
    const mnt = inv.args.length ? path.resolve(inv.args[0]) : null;
    const node = mnt ? await mountNode(inv, mnt) : nodeOf(inv);
    const count = intOpt(inv, 'count', 1, 1e9);
    const duration = intOpt(inv, 'duration', 1, 86400 * 365);
    const socket = nodePaths(node).socket;
    const deadline = duration ? Date.now() + duration * 1000 : Infinity;
    let stop = false;
    const onSig = () => { stop = true; };
    process.once('SIGINT', onSig);
    process.once('SIGTERM', onSig);
    // A mount's records: those of its filesystem (fsid), MOUNT events naming it, sessions.
    const fsid = mnt ? (await callDaemon<DmState>(socket, 'dmapi.state', {})).filesystems.find((f) => f.mountpoint === mnt)?.fsid ?? null : null;
    const mine = (r: TraceRecord) => !mnt || !r.event || (fsid !== null && r.event.fsid === fsid)
      || (r.event.object !== null && (r.event.object === mnt || r.event.object.startsWith(mnt + '/')));
    let shown = 0;
    // The first read starts the daemon's recording: only then is it true that nothing is missed.
    let since = (await callDaemon<{ next: number }>(socket, 'dmapi.trace', { since: 0, waitMs: 0, max: 1 })).next;
    process.stderr.write(`watching DMAPI events of ${mnt ?? `node ${node}`} (passive: no session, no disposition)\n`);
    try {
      while (!stop && Date.now() < deadline && (count === undefined || shown < count)) {
        const waitMs = Math.max(1, Math.min(1000, deadline - Date.now()));
        const r = await callDaemon<{ records: TraceRecord[]; next: number; lost: number }>(socket, 'dmapi.trace', { since, waitMs, max: 1000 }, { timeoutMs: waitMs + 10000 });
        if (r.lost && since) {
          if (inv.json) out(JSON.stringify({ lost: r.lost })); else out(`... ${r.lost} records lost (the tracer fell behind)`);
        }
        since = r.next;
        for (const rec of r.records) {
          if (!mine(rec)) continue;
          out(inv.json ? JSON.stringify(rec) : traceLine(rec));
          if (count !== undefined && ++shown >= count) break;
        }
      }
    } finally {
      process.removeListener('SIGINT', onSig);
      process.removeListener('SIGTERM', onSig);
    }
    return 0;
  },
};

export const EVENTS: Group = {
  kind: 'group',
  name: 'events',
  summary: 'watch DMAPI events passively (a tracer)',
  subcommands: [WATCH],
};
