// A plain-data snapshot of the engine (like `dlm_tool lockdebug`) and its text form, for the
// `dmapifs locks` command and for debugging.

import type { Dlm } from './engine';
import type { Lock, LockQueue } from './lock';
import type { Resource } from './resource';
import type { LockId } from './types';
import { LKSTATE_NAMES, MODE_NAMES, DLM_RD_GROUP } from './constants';
import { keyText } from './resource';

export interface DumpLock {
  lkid: LockId;
  /** Owner (process lock) or manipulating member (group lock); null for an unmanipulated group lock. */
  pid: number | null;
  node: number | null;
  /** Container of a group lock. */
  glc: number | null;
  grmode: string;
  rqmode: string;
  state: string;
  flags: number;
  parent: LockId | null;
  /** Deadlock owner ("process 0:42", "group lock container 3", "transaction T1"). */
  owner: string;
}

export interface DumpResource {
  /** Printable name (hex when binary). */
  name: string;
  /** Recovery domain of a persistent resource. */
  domain: string | null;
  lvb: { valid: boolean; seq: number; hex: string };
  granted: DumpLock[];
  converting: DumpLock[];
  waiting: DumpLock[];
  children: DumpResource[];
}

export interface DumpNamespace {
  key: string;
  members: number;
  resources: DumpResource[];
}

export interface DumpProcess {
  pid: number;
  node: number;
  uid: number;
  gid: number;
  namespaces: { nsp: number; ns: string }[];
  glc: number | null;
  signal: number;
  pendingNotifications: number;
  locks: number;
  rdHandles: { rdId: number; domain: string; mode: 'process' | 'group' }[];
}

export interface DumpGlc {
  id: number;
  flags: number;
  creator: number;
  namespaces: string[];
  members: number[];
  locks: number;
}

export interface DumpDomain {
  name: string;
  attachments: { pid: number; rdId: number; mode: 'process' | 'group' }[];
  resources: string[];
  recovering: boolean;
  collection: number | null;
}

export interface DlmDump {
  enabled: boolean;
  locks: number;
  processes: DumpProcess[];
  namespaces: DumpNamespace[];
  glcs: DumpGlc[];
  domains: DumpDomain[];
}

function dumpLock(lk: Lock): DumpLock {
  return {
    lkid: lk.id,
    pid: lk.proc ? lk.proc.pid : null,
    node: lk.proc ? lk.proc.node : null,
    glc: lk.glc ? lk.glc.id : null,
    grmode: MODE_NAMES[lk.grmode],
    rqmode: MODE_NAMES[lk.rqmode],
    state: LKSTATE_NAMES[lk.state],
    flags: lk.flags,
    parent: lk.parent ? lk.parent.id : null,
    owner: lk.dl.label,
  };
}

function dumpQueue(q: LockQueue): DumpLock[] {
  return q.toArray().map(dumpLock);
}

function dumpResource(r: Resource): DumpResource {
  const lvb = r.lvbCopy();
  return {
    name: keyText(r.key),
    domain: r.rd ? r.rd.name : null,
    lvb: { valid: r.lvbValid, seq: r.lvbSeq, hex: Buffer.from(lvb).toString('hex') },
    granted: dumpQueue(r.granted),
    converting: dumpQueue(r.converting),
    waiting: dumpQueue(r.waiting),
    children: r.children ? [...r.children.values()].map(dumpResource) : [],
  };
}

export function snapshot(dlm: Dlm): DlmDump {
  return {
    enabled: dlm.enabled,
    locks: dlm.lockCount,
    processes: [...dlm.processes.values()].map((p) => ({
      pid: p.pid,
      node: p.node,
      uid: p.uid,
      gid: p.gid,
      namespaces: [...p.byNs.values()].map((a) => ({ nsp: a.nsp, ns: a.ns.key })),
      glc: p.glc ? p.glc.id : null,
      signal: p.signal,
      pendingNotifications: p.notifications.length,
      locks: p.locks.size,
      rdHandles: p.rds.filter((h) => h !== null).map((h) => ({ rdId: h!.id, domain: h!.domain.name, mode: h!.mode === DLM_RD_GROUP ? 'group' : 'process' })),
    })),
    namespaces: [...dlm.namespaces.values()].map((ns) => ({
      key: ns.key,
      members: ns.members,
      resources: [...ns.resources.values()].map(dumpResource),
    })),
    glcs: [...dlm.glcs.values()].map((g) => ({
      id: g.id,
      flags: g.flags,
      creator: g.creator.pid,
      namespaces: g.namespaces.map((n) => n.key),
      members: [...g.members].map((m) => m.pid),
      locks: g.locks.size,
    })),
    domains: [...dlm.domains.values()].map((d) => ({
      name: d.name,
      attachments: [...d.attachments].map((h) => ({ pid: h.proc.pid, rdId: h.id, mode: h.mode === DLM_RD_GROUP ? 'group' : 'process' })),
      resources: [...d.resources].map((r) => r.path().map(keyText).join('/')),
      recovering: d.recovering,
      collection: d.collection ? d.collection.hndl : null,
    })),
  };
}

function lockLine(l: DumpLock, indent: string): string {
  const who = l.glc !== null ? `glc ${l.glc}${l.pid !== null ? ` (pid ${l.pid})` : ''}` : `pid ${l.pid}`;
  const mode = l.state === 'granted' ? l.grmode : l.state === 'converting' ? `${l.grmode}->${l.rqmode}` : `->${l.rqmode}`;
  return `${indent}  ${l.state.padEnd(10)} ${mode.padEnd(8)} lkid ${l.lkid.hndl}.${l.lkid.seqn}  ${who}`;
}

function resourceLines(r: DumpResource, indent: string, out: string[]): void {
  const extra = [r.domain ? `persistent in "${r.domain}"` : '', `lvb seq ${r.lvb.seq}${r.lvb.valid ? '' : ' INVALID'}`].filter(Boolean).join(', ');
  out.push(`${indent}resource ${r.name} (${extra})`);
  for (const l of [...r.granted, ...r.converting, ...r.waiting]) out.push(lockLine(l, indent));
  for (const c of r.children) resourceLines(c, `${indent}    `, out);
}

/** The dump as text: namespaces with their resource trees and queues, then containers and domains. */
export function formatDump(d: DlmDump): string {
  const out: string[] = [];
  out.push(`DLM ${d.enabled ? 'enabled' : 'DISABLED'}: ${d.locks} locks, ${d.processes.length} processes`);
  for (const ns of d.namespaces) {
    out.push(`namespace ${ns.key} (${ns.members} members)`);
    for (const r of ns.resources) resourceLines(r, '  ', out);
  }
  for (const g of d.glcs) {
    out.push(`group lock container ${g.id}: creator ${g.creator}, members [${g.members.join(', ')}], ${g.locks} locks, namespaces ${g.namespaces.join(', ')}`);
  }
  for (const dom of d.domains) {
    out.push(`recovery domain "${dom.name}": ${dom.attachments.length} attached, ${dom.resources.length} resources${dom.recovering ? ', in recovery' : ''}`);
  }
  return out.join('\n');
}
