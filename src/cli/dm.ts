// dmapifs dm ...: see and act on a node's DMAPI state, as an operator (root): sessions, events and
// tokens, dispositions, event lists, managed regions, DM attributes, filesystems (like GPFS's
// `mmlsfs -z`) and the operations blocked on events (like `mmdiag --waiters`). The node-wide views
// come from the daemon's control socket (src/dmapi/admin.ts); the per-file ones go through the
// public DMAPI client with a short-lived session of their own.
import * as fs from 'fs';
import * as path from 'path';
import { callDaemon } from '../daemon/control-client';
import { CodedError } from '../common/errors';
import type { MountRecord } from '../daemon/mount-service';
import { nodePaths } from '../common/paths';
import type { DmState } from '../dmapi/admin';
import { connect, DmapiClient, DmapiError } from '../dmapi/client';
import {
  DM_NO_TOKEN, DM_REGION_READ, DM_REGION_TRUNCATE, DM_REGION_WRITE, E, EVENT_NAMES, errnoName,
} from '../dmapi/constants';
import type { EventView } from '../dmapi/observer';
import { fmtAge, fmtTime, NODE_OPT, nodeOf } from './common';
import { listNodeDirs, probeNode } from './nodes';
import { out, outJson } from './output';
import { Command, Group, Invocation, str, UsageError } from './spec';
import { fuseWaiters, KernelWaiter } from './waiters';

export async function dmState(node: string): Promise<DmState> {
  return callDaemon<DmState>(nodePaths(node).socket, 'dmapi.state', {}, { timeoutMs: 20000 });
}

const who = () => `dmapifs dm (pid ${process.pid}, uid ${process.getuid?.() ?? '?'})`;

function objText(e: EventView): string {
  let s = e.object ?? '';
  if (e.offset !== undefined) s += ` [${e.offset}, +${e.length === '0' ? 'EOF' : e.length})`;
  if (e.target) s += ` -> ${e.target}`;
  return s;
}

function eventLine(e: EventView, now: number): string {
  return `${String(e.token || '-').padStart(6)}  ${e.type.padEnd(11)} ${e.state.padEnd(11)} session ${String(e.sid).padEnd(4)} ${fmtAge(now - e.raisedAt).padStart(8)}  ${objText(e)}${e.pending ? '  (dm_pending)' : ''}`;
}

// ---------------------------------------------------------------------------------------------

const SESSIONS: Command = {
  name: 'dm sessions',
  summary: 'DMAPI sessions: id, name, node, age, dispositions held, outstanding tokens',
  help: `A session marked FAILED was rebuilt from the journal after a daemon restart and has not been
assumed yet; one not LISTENING has no dm_get_events call waiting on it (its DM application may
be gone: its events wait until it is assumed, answered with dm respond or the session destroyed).`,
  options: [NODE_OPT],
  json: true,
  async run(inv) {
    const st = await dmState(nodeOf(inv));
    if (inv.json) { outJson({ node: st.node, sessions: st.sessions }); return 0; }
    if (!st.sessions.length) { out(`node ${st.node}: no DMAPI sessions`); return 0; }
    const lines: string[] = [];
    for (const s of st.sessions) {
      const flags = [s.failedAt !== null ? 'FAILED' : '', s.listening ? 'LISTENING' : 'not listening'].filter(Boolean).join(', ');
      lines.push(`session ${s.sid} "${s.name}" on ${s.node}, age ${fmtAge(st.now - s.createdAt)}, ${flags}`);
      for (const d of s.dispositions) lines.push(`  disposition ${d.fs === 'global' ? 'global' : `${d.fs}${d.mountpoint ? ` (${d.mountpoint})` : ''}`}: ${d.events.join(' ')}`);
      lines.push(`  tokens: ${s.outstanding.length} outstanding${s.outstanding.length ? ` (${s.outstanding.join(', ')})` : ''}, ${s.queued.length} queued${s.queued.length ? ` (${s.queued.join(', ')})` : ''}`);
    }
    out(lines.join('\n'));
    return 0;
  },
};

const SESSION: Command = {
  name: 'dm session',
  args: 'destroy SID',
  nargs: [2, 2],
  needs: 'dm session needs: destroy SID',
  summary: 'destroy a session (its dispositions go with it)',
  help: `Refused while a DM application waits in dm_get_events on it, and (XDSM) while it has pending
events, unless --abort ERRNO answers each of them ABORT with that errno first. Logged.`,
  options: [NODE_OPT, { name: 'abort', value: 'ERRNO', help: 'abort its pending events with ERRNO (EIO, 5...) first' }],
  json: true,
  async run(inv) {
    if (inv.args[0] !== 'destroy') throw new UsageError(`unknown dm session action '${inv.args[0]}' (destroy)`);
    const sid = positiveInt(inv.args[1], 'SID');
    const abort = str(inv, 'abort');
    const r = await callDaemon<{ sid: number; aborted: number[] }>(nodePaths(nodeOf(inv)).socket, 'dmapi.session-destroy',
      { sid, abortWith: abort === undefined ? undefined : parseErrno(abort), by: who() });
    if (inv.json) outJson(r);
    else out(`destroyed session ${r.sid}${r.aborted.length ? ` (aborted tokens ${r.aborted.join(', ')})` : ''}`);
    return 0;
  },
};

const EVENTS: Command = {
  name: 'dm events',
  summary: 'queued and outstanding events: type, object, token, age, and the operations waiting on them',
  options: [NODE_OPT],
  json: true,
  async run(inv) {
    const node = nodeOf(inv);
    const st = await dmState(node);
    const waiters = await waitersOf(node, st);
    if (inv.json) { outJson({ node: st.node, events: st.events.map((e) => ({ ...e, waiters: waiters.filter((w) => w.token === e.token) })) }); return 0; }
    if (!st.events.length) { out(`node ${st.node}: no pending DMAPI events`); return 0; }
    const lines = [` token  type        state       session       age  object`];
    for (const e of st.events) {
      lines.push(eventLine(e, st.now));
      for (const w of waiters.filter((x) => x.token === e.token)) lines.push(`          waiting: pid ${w.pid} (${w.comm}) in ${w.syscall}`);
    }
    out(lines.join('\n'));
    return 0;
  },
};

function parseErrno(v: string): number {
  if (/^\d+$/.test(v) && Number(v) > 0 && Number(v) < 4096) return Number(v);
  const n = (E as Record<string, number>)[v.toUpperCase()] ?? (require('os').constants.errno as Record<string, number>)[v.toUpperCase()];
  if (!n) throw new UsageError(`'${v}' is not an errno (EIO, EAGAIN, 5...)`);
  return n;
}

function positiveInt(v: string, what: string): number {
  if (!/^\d+$/.test(v) || Number(v) <= 0 || !Number.isSafeInteger(Number(v))) throw new UsageError(`${what} must be a positive integer, not '${v}'`);
  return Number(v);
}

const RESPOND: Command = {
  name: 'dm respond',
  args: 'TOKEN continue|abort [ERRNO]',
  nargs: [2, 3],
  needs: 'dm respond needs TOKEN and continue|abort',
  summary: "answer an event on its session's behalf (logged)",
  help: `For an event whose DM application died: continue lets the operation go on, abort ERRNO fails
it with ERRNO (default EIO). The event may be queued (never received), outstanding or rebuilt
from the journal. The daemon logs who answered.`,
  options: [NODE_OPT],
  json: true,
  async run(inv) {
    const token = positiveInt(inv.args[0], 'TOKEN');
    const response = inv.args[1];
    if (response !== 'continue' && response !== 'abort') throw new UsageError(`the response is continue or abort, not '${response}'`);
    if (response === 'continue' && inv.args[2] !== undefined) throw new UsageError('continue takes no errno');
    const errno = response === 'abort' ? parseErrno(inv.args[2] ?? 'EIO') : 0;
    const r = await callDaemon<{ token: number; event: EventView; errno: string | null }>(nodePaths(nodeOf(inv)).socket, 'dmapi.respond',
      { token, response, errno, by: who() });
    if (inv.json) outJson(r);
    else out(`answered token ${token} (${r.event.type} ${objText(r.event)}, session ${r.event.sid}): ${response}${r.errno ? ` ${r.errno}` : ''}`);
    return 0;
  },
};

const DISP: Command = {
  name: 'dm disp',
  summary: 'every disposition: session, filesystem (or global), events',
  options: [NODE_OPT],
  json: true,
  async run(inv) {
    const st = await dmState(nodeOf(inv));
    const rows = st.sessions.flatMap((s) => s.dispositions.map((d) => ({ sid: s.sid, session: s.name, ...d })));
    if (inv.json) { outJson({ node: st.node, dispositions: rows }); return 0; }
    if (!rows.length) { out(`node ${st.node}: no dispositions (events in force fail their operations with EIO)`); return 0; }
    out(rows.map((r) => `session ${r.sid} "${r.session}"  ${r.fs === 'global' ? 'global' : `${r.fs} ${r.mountpoint ?? ''}`}: ${r.events.join(' ')}`).join('\n'));
    return 0;
  },
};

const LSFS: Command = {
  name: 'dm lsfs',
  summary: 'filesystems of the node: DMAPI on/off, fsid, capacity, where mounted (like mmlsfs -z); pending DMAPI mounts',
  options: [NODE_OPT],
  json: true,
  async run(inv) {
    const st = await dmState(nodeOf(inv));
    if (inv.json) { outJson({ node: st.node, filesystems: st.filesystems, pendingMounts: st.pendingMounts }); return 0; }
    const lines: string[] = [];
    for (const f of st.filesystems) {
      lines.push(`${f.mountpoint}  fsid ${f.fsid}  dmapi ${f.dmapi ? 'yes' : 'no'}  capacity ${f.capacity === null ? 'none' : f.capacity}  backing ${f.backing}`
        + `${f.mountedAt ? `  mounted ${fmtTime(f.mountedAt)}` : ''}`);
      if (f.eventlist.length) lines.push(`  event list: ${f.eventlist.join(' ')}`);
    }
    for (const p of st.pendingMounts) {
      const wait = p.disposition ? 'waiting for the answer to its MOUNT event'
        : p.windowEnd === -1 ? 'waiting (forever) for a DM application to take the MOUNT disposition'
          : p.windowEnd !== null ? `waiting ${Math.max(0, Math.round((p.windowEnd - st.now) / 1000))} s more for a DM application to take the MOUNT disposition`
            : 'waiting for a MOUNT disposition';
      lines.push(`${p.mountpoint}  MOUNTING (${wait})  backing ${p.backing}`);
    }
    out(lines.length ? lines.join('\n') : `node ${st.node}: no filesystems mounted`);
    return 0;
  },
};

interface Waiter extends KernelWaiter { mountpoint: string; token: number | null; age: number | null; event: string | null }

/** Kernel-side waiters on the node's mounts, matched with the pending event of the same object. */
async function waitersOf(node: string, st: DmState): Promise<Waiter[]> {
  const mps = st.filesystems.map((f) => f.mountpoint).concat(st.pendingMounts.map((p) => p.mountpoint));
  const inside = (o: string | null) => mps.find((m) => o !== null && (o === m || o.startsWith(m + '/')));
  const out: Waiter[] = [];
  for (const w of fuseWaiters()) {
    const mp = inside(w.object);
    if (!mp) continue;
    // The event about the same object (or, for a create, its parent + name) raised earliest.
    const ev = st.events.find((e) => e.object === w.object) ?? st.events.find((e) => e.object !== null && w.object !== null && e.object === path.dirname(w.object));
    out.push({ ...w, mountpoint: mp, token: ev?.token ?? null, age: ev ? st.now - ev.raisedAt : null, event: ev?.type ?? null });
  }
  void node;
  return out;
}

const WAITERS: Command = {
  name: 'dm waiters',
  summary: 'operations blocked in the node\'s mounts, with their pid, call, object, event and age (like mmdiag --waiters)',
  options: [NODE_OPT],
  json: true,
  async run(inv) {
    const node = nodeOf(inv);
    const st = await dmState(node);
    const ws = await waitersOf(node, st);
    if (inv.json) { outJson({ node, waiters: ws }); return 0; }
    if (!ws.length) { out(`node ${node}: no process waits in its mounts`); return 0; }
    out(ws.map((w) => `pid ${w.pid} (${w.comm}, state ${w.state}) in ${w.syscall} ${w.object ?? '?'}`
      + `${w.token !== null ? `: waiting for ${w.event} token ${w.token} for ${fmtAge(w.age!)}` : ''}`).join('\n'));
    return 0;
  },
};

// ---------------------------------------------------------------------------------------------
// Per-file views, through the DMAPI client

/** The node whose mount holds `p` (absolute): --node, else the one serving it. */
export async function nodeServing(inv: Invocation, p: string): Promise<string> {
  if (str(inv, 'node') !== undefined) return nodeOf(inv);
  for (const node of listNodeDirs()) {
    const probe = await probeNode(node).catch(() => null);
    if (probe?.state !== 'running') continue;
    for (const m of probe.status!.mounts as MountRecord[]) if (p === m.mountpoint || p.startsWith(m.mountpoint + '/')) return node;
  }
  throw new CodedError('ENOENT', `${p} is not inside a mount served by a running node`);
}

async function withSession<T>(node: string, fn: (c: DmapiClient, sid: number) => Promise<T>): Promise<T> {
  let c: DmapiClient;
  try { c = await connect({ node }); } catch (e) { throw dmErr(e, `node ${node}`); }
  try {
    const sid = await c.createSession(0, `dmapifs dm (pid ${process.pid})`);
    try {
      return await fn(c, sid);
    } finally {
      await c.destroySession(sid).catch(() => undefined);
    }
  } catch (e) {
    throw dmErr(e, '');
  } finally {
    c.close();
  }
}

function dmErr(e: unknown, what: string): Error {
  if (e instanceof DmapiError) return new CodedError(errnoName(e.errno), `${what ? `${what}: ` : ''}${e.op}: ${errnoName(e.errno)}`);
  return e as Error;
}

const EVENT_BY_NAME = new Map(Object.entries(EVENT_NAMES).map(([n, name]) => [name.toLowerCase(), Number(n)]));

function parseEvents(words: string[]): number[] {
  return words.map((w) => {
    const n = EVENT_BY_NAME.get(w.toLowerCase());
    if (n === undefined) throw new UsageError(`unknown event '${w}' (${[...EVENT_BY_NAME.keys()].join(' ')})`);
    return n;
  });
}

const EVENTLIST: Command = {
  name: 'dm eventlist',
  args: 'show|set|clear FS|FILE [EVENT...]',
  nargs: [2, Infinity],
  needs: 'dm eventlist needs show|set|clear and FS|FILE',
  summary: 'show, set or clear the event list of a filesystem (its mount point) or of a file',
  help: `set replaces the list with the EVENTs given (read write truncate create remove ... destroy).
clear empties it: a filesystem whose HSM is gone for good no longer fails its operations with EIO.`,
  options: [NODE_OPT],
  json: true,
  async run(inv) {
    const [action, target, ...rest] = inv.args;
    if (!['show', 'set', 'clear'].includes(action)) throw new UsageError(`dm eventlist: unknown action '${action}' (show, set or clear)`);
    if (action !== 'set' && rest.length) throw new UsageError(`unexpected argument '${rest[0]}' for 'dm eventlist ${action}'`);
    const events = action === 'set' ? parseEvents(rest) : [];
    const p = path.resolve(target);
    const node = await nodeServing(inv, p);
    const r = await withSession(node, async (c, sid) => {
      // A mount point names its filesystem (the fs handle); anything else the object itself.
      const isFs = isMountRoot(p);
      const h = isFs ? await c.pathToFshandle(p) : await c.pathToHandle(p);
      if (action !== 'show') await c.setEventlist(sid, h, DM_NO_TOKEN, events);
      const now = await c.getEventlist(sid, h, DM_NO_TOKEN);
      return { path: p, node, filesystem: isFs, events: now.events.map((e) => EVENT_NAMES[e]) };
    });
    if (inv.json) outJson(r);
    else out(`${r.path} (${r.filesystem ? 'filesystem' : 'file'}): ${r.events.length ? r.events.join(' ') : 'no events'}`);
    return 0;
  },
};

function isMountRoot(p: string): boolean {
  try { return fs.statSync(p).dev !== fs.statSync(path.dirname(p)).dev; } catch { return false; }
}

const REGIONS: Command = {
  name: 'dm regions',
  args: 'FILE',
  nargs: [1, 1],
  summary: 'the managed regions of a file',
  options: [NODE_OPT],
  json: true,
  async run(inv) {
    const p = path.resolve(inv.args[0]);
    const node = await nodeServing(inv, p);
    const regions = await withSession(node, async (c, sid) => c.getRegion(sid, await c.pathToHandle(p), DM_NO_TOKEN));
    const flags = (f: number) => [f & DM_REGION_READ ? 'read' : '', f & DM_REGION_WRITE ? 'write' : '', f & DM_REGION_TRUNCATE ? 'truncate' : ''].filter(Boolean).join(',') || 'noevent';
    const rows = regions.map((r) => ({ offset: r.offset.toString(), size: r.size.toString(), flags: flags(r.flags), opaque: r.opaque }));
    if (inv.json) { outJson({ path: p, regions: rows }); return 0; }
    out(rows.length ? rows.map((r) => `${p}: offset ${r.offset} size ${r.size === '0' ? 'to EOF' : r.size} ${r.flags}`).join('\n') : `${p}: no managed regions`);
    return 0;
  },
};

const ATTRS: Command = {
  name: 'dm attrs',
  args: 'FILE',
  nargs: [1, 1],
  summary: 'the DM attributes of a file (names and values)',
  options: [NODE_OPT],
  json: true,
  async run(inv) {
    const p = path.resolve(inv.args[0]);
    const node = await nodeServing(inv, p);
    const attrs = await withSession(node, async (c, sid) => c.getallDmattr(sid, await c.pathToHandle(p), DM_NO_TOKEN));
    const printable = (b: Buffer) => /^[\x20-\x7e]*$/.test(b.toString('latin1'));
    const rows = attrs.map((a) => {
      const name = String(a.name).replace(/\0+$/, '');
      return { name, size: a.value.length, hex: a.value.toString('hex'), text: printable(a.value) ? a.value.toString('latin1') : null };
    });
    if (inv.json) { outJson({ path: p, attrs: rows }); return 0; }
    out(rows.length ? rows.map((r) => `${p}: ${r.name} (${r.size} bytes) ${r.text !== null ? JSON.stringify(r.text) : r.hex}`).join('\n') : `${p}: no DM attributes`);
    return 0;
  },
};

export const DM: Group = {
  kind: 'group',
  name: 'dm',
  summary: "see and act on a node's DMAPI state (root)",
  help: `The rescue of a node whose HSM died, leaving operations hung: dm events shows the events and
who waits on them; dm respond TOKEN abort EIO (or continue) releases each; dm session destroy SID
drops the dead session; dm eventlist clear MOUNTPOINT stops raising events nobody will answer.`,
  subcommands: [SESSIONS, SESSION, EVENTS, RESPOND, DISP, EVENTLIST, REGIONS, ATTRS, LSFS, WAITERS],
};
