// dmapifs locks [--node NAME] [--json]: the lock space as the node's lock master holds it, like
// dlm_tool lockdebug: namespaces, resources (with their value block: sequence number, valid or not,
// bytes), the granted / converting / waiting queues with modes, lock ids and owners (node and pid),
// group lock containers and recovery domains.
import { callDaemon } from '../daemon/control-client';
import { nodePaths } from '../common/paths';
import type { DumpLock, DumpResource } from '../dlm/dump';
import type { LocksAnswer } from '../dlm/service/dlm-service';
import { NODE_OPT, nodeOf } from './common';
import { out, outJson } from './output';
import type { Command } from './spec';

const LOCKS_TEXT = `Shows the DLM lock space served to NAME's processes (default: the host name): namespaces,
resources with their value block (sequence number, INVALID when a holder died or invalidated
it, contents in hex), the granted, converting and waiting queues (modes, lock ids, owners as
node:pid), group lock containers and recovery domains. In a cluster the node asks the lock
master. --json prints the engine's dump as JSON.`;

function owner(l: DumpLock, nodes: Record<string, string>): string {
  const where = l.node !== null ? `${nodes[String(l.node)] ?? `node${l.node}`}:` : '';
  if (l.glc !== null) return `glc ${l.glc}${l.pid !== null ? ` (${where}${l.pid})` : ''}`;
  return `${where}${l.pid}`;
}

function lockLine(l: DumpLock, nodes: Record<string, string>, indent: string): string {
  const mode = l.state === 'granted' ? l.grmode : l.state === 'converting' ? `${l.grmode}->${l.rqmode}` : `->${l.rqmode}`;
  return `${indent}  ${l.state.padEnd(10)} ${mode.padEnd(8)} lkid ${`${l.lkid.hndl}.${l.lkid.seqn}`.padEnd(10)} owner ${owner(l, nodes)}${l.flags ? `  flags 0x${l.flags.toString(16)}` : ''}`;
}

function resourceLines(r: DumpResource, nodes: Record<string, string>, indent: string, out: string[]): void {
  const lvb = r.lvb.seq === 0 && r.lvb.valid && /^0*$/.test(r.lvb.hex) ? 'lvb unset' : `lvb seq ${r.lvb.seq}${r.lvb.valid ? '' : ' INVALID'} ${r.lvb.hex.replace(/(00)+$/, '') || '0'}`;
  const master = (r as DumpResource & { master?: string }).master;
  out.push(`${indent}resource "${r.name}"${r.domain ? ` persistent in "${r.domain}"` : ''}${master ? `  master ${master}` : ''}  ${lvb}`);
  for (const l of [...r.granted, ...r.converting, ...r.waiting]) out.push(lockLine(l, nodes, indent));
  for (const c of r.children) resourceLines(c, nodes, `${indent}    `, out);
}

export function formatLocks(a: LocksAnswer): string {
  const d = a.dump;
  const nodes = a.nodes;
  const out: string[] = [];
  const where = a.mode === 'standalone' ? `node ${a.node}`
    : a.mode === 'etcd' ? `node ${a.node}, members ${(a.members ?? []).join(', ')}${a.missing?.length ? ` (no answer from ${a.missing.join(', ')})` : ''}`
      : `node ${a.node}, lock master ${a.master}`;
  out.push(`${where}: DLM ${d.enabled ? 'enabled' : 'DISABLED'}, ${d.locks} lock${d.locks === 1 ? '' : 's'}, ${d.processes.length} process${d.processes.length === 1 ? '' : 'es'}`);
  for (const ns of d.namespaces) {
    out.push(`namespace ${ns.key} (${ns.members} member${ns.members === 1 ? '' : 's'})`);
    for (const r of ns.resources) resourceLines(r, nodes, '  ', out);
  }
  for (const g of d.glcs) {
    out.push(`group lock container ${g.id}: creator ${g.creator}, members [${g.members.join(', ')}], ${g.locks} locks, namespaces ${g.namespaces.join(', ')}`);
  }
  for (const dom of d.domains) {
    out.push(`recovery domain "${dom.name}": ${dom.attachments.length} attached, ${dom.resources.length} resources${dom.recovering ? ', in recovery' : ''}`);
  }
  if (d.processes.length) {
    out.push('processes:');
    for (const p of d.processes) {
      out.push(`  ${nodes[String(p.node)] ?? `node${p.node}`}:${p.pid}  uid ${p.uid} gid ${p.gid}  ${p.locks} lock${p.locks === 1 ? '' : 's'}  namespaces ${p.namespaces.map((n) => `${n.nsp}=${n.ns}`).join(' ') || '-'}${p.pendingNotifications ? `  ${p.pendingNotifications} notifications pending` : ''}`);
    }
  }
  return out.join('\n');
}

export const LOCKS: Command = {
  name: 'locks',
  summary: 'the DLM lock space of a node, like dlm_tool lockdebug',
  help: LOCKS_TEXT,
  options: [NODE_OPT],
  json: true,
  async run(inv) {
    const a = await callDaemon<LocksAnswer>(nodePaths(nodeOf(inv)).socket, 'dlm.locks', {}, { timeoutMs: 20000 });
    if (inv.json) outJson(a); else out(formatLocks(a));
    return 0;
  },
};
