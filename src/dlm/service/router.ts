// A node's local backend when membership comes from etcd: each request of a local client goes to the
// master of the resource it is about (directory.ts), this node included, and the answers come back
// to the client unchanged. The router keeps what recovery needs, as a Linux DLM node keeps its
// process copies of its locks (fs/dlm/lock.c): for every lock of its clients, where it is mastered,
// its modes and state, the request's routine ids, and the value block it last read or wrote.
//
// Requests by resource (LOCK, QUELOCK, RSBINFO) go by directory, the others follow the lock (CVT,
// UNLOCK, CANCEL, LKINFO: the master that gave the lock id) or go to the client's own node (NSJOIN,
// NSLEAVE, DETACH, SETSIGNAL, NOTIFY, which are replayed on every other master the client uses, with
// request id 0 so that their answers are dropped here). Group lock containers, recovery domains and
// the locks that need them (DLM_GROUP_LOCK, DLM_PERSIST, DLM_TXID_LOCAL) live on the coordinator
// (the member with the lowest id); they are not re-mastered: when the coordinator leaves, clients
// that had them are reset.
//
// Recovery, on every epoch (membership.ts): requests stop (they are queued); the router sends MARK to
// every member and waits for MARK_ACK (what each master answered before is known here); it sends
// every lock whose master left or changed to the new master (ADOPT, with the client's session opened
// there first), the value blocks it knows, then RECOVERED; once every member said READY, queued
// requests go, and the requests the departed master never answered are sent again to the new one.
import type { DlmDump } from '../dump';
import type { LockId } from '../types';
import { DLM_EXMODE, DLM_GROUP, DLM_GROUP_LOCK, DLM_LK_CONVERTING, DLM_LK_GRANTED, DLM_LK_WAITING, DLM_NOMODE, DLM_PERSIST, DLM_PRMODE, DLM_PWMODE, DLM_TXID_LOCAL, DLM_VALB, DLM_VALBLKSIZE } from '../constants';
import { DLM_ENOSYS, DLM_SUCCESS, DLM_SUCCVALNOTVALID, DLM_SYNCH, DLM_SYNCVALNOTVALID } from '../status';
import { Reader, WireError, Writer } from './codec';
import { masterOf, namespaceKey } from './directory';
import { errorFrame, type LocalBackend, type LocalConn, type LocalServer } from './local-server';
import type { Member } from './membership';
import type { Mesh } from './mesh';
import { P, decodeEpoch, encodeAdopt, encodeEpoch, encodeOpen, encodeResLvb, type AdoptMsg } from './peer-protocol';
import { CV, LK, MSG, OP, OP_MAX, PROTO_ERR, UNLOCK_QUIET, decodeMessage, decodeReply, decodeReplyHead, decodeRequest, decodeRequestHead, encodeMessage, encodeReply, encodeRequest, resnamBytes, type Op } from './protocol';
import { sameProcessAlive } from './procfs';

function granted(st: number): boolean {
  return st === DLM_SUCCESS || st === DLM_SYNCH || st === DLM_SUCCVALNOTVALID || st === DLM_SYNCVALNOTVALID;
}

const lkKey = (id: LockId) => `${id.hndl}:${id.seqn}`;

interface Leg {
  node: string;
  incarnation: string;
  /** client nsp → nsp of the client's process on that master (allocated as the engine does). */
  nsps: Map<number, number>;
  /** Groups, containers or persistent locks there: what recovery cannot rebuild. */
  unrecoverable: boolean;
}

/** A lock of a local client, as recovery sends it (AdoptMsg) plus where it stands. */
interface LockRec extends Pick<AdoptMsg, 'lkid' | 'resnam' | 'state' | 'grmode' | 'rqmode' | 'flags' | 'rid' | 'bits' | 'hint' | 'valb' | 'waitReq' | 'quelock'> {
  key: string;
  /** Its master. */
  node: string;
  ns: string;
  /** Root resource name of the lock's tree (the directory's key). */
  root: Uint8Array;
  parent: LockRec | null;
  /** The client's namespace handle. */
  cnsp: number;
  /** The value block this client last read or wrote (null: unknown). */
  lvb: Uint8Array | null;
  /** Not a group, persistent or transaction lock (those are not re-mastered). */
  recoverable: boolean;
}

interface Pending {
  op: number;
  node: string;
  /** The request frame (u32 length | body), to send again when its master left without answering. */
  frame: Buffer;
  /** LOCK / QUELOCK: the lock-to-be. */
  proto?: LockRec;
  /** CVT / QUECVT / UNLOCK / CANCEL: the lock and the request's fields. */
  lock?: LockRec;
  mode?: number;
  flags?: number;
  valb?: Uint8Array | null;
  cvtBits?: number;
  rid?: number;
  nsjoin?: { nsid: number; flags: number };
  nsleave?: number;
  /** An unlock answered by the client itself (UNLOCK_QUIET): no answer comes unless it failed. */
  quiet?: boolean;
}

interface Client {
  conn: LocalConn;
  legs: Map<string, Leg>;
  joins: Map<number, { nsid: number; flags: number; ns: string }>;
  signal: number;
  locks: Map<string, LockRec>;
  pending: Map<number, Pending>;
  /** Locks whose dlm_lock / dlm_cvt waits, by the request id WAITDONE will name. */
  waits: Map<number, LockRec>;
  /** Completions that came before the answer of their request (an immediate grant of a queued request). */
  early: Map<string, { status: number; valb: Uint8Array | null }>;
  lastReq: number;
}

/** Most frames queued for one client while the lock space recovers. */
const MAX_HELD = 100000;

export class Router implements LocalBackend {
  private readonly clients = new Map<number, Client>();
  private local: LocalServer | null = null;
  private members: Member[] = [];
  private epoch = 0;
  /** 'down': not a member (joining or fenced); 'recovering': requests wait; 'up'. */
  state: 'down' | 'recovering' | 'up' = 'down';
  private held: { c: Client; frame: Buffer }[] = [];
  private acks = new Set<string>();
  private ready = new Set<string>();
  private phase: 'mark' | 'ready' = 'mark';
  private readonly reader = new Reader();
  private readonly w = new Writer(256);
  private nextDump = 1;
  private readonly dumps = new Map<number, { resolve: (d: { node: string; dump: DlmDump }[]) => void; want: Set<string>; got: { node: string; dump: DlmDump }[]; timer: NodeJS.Timeout }>();
  private readonly dirCache = new Map<string, string>();
  /** Statistics of the last recovery, for status and logs. */
  lastRecovery: { epoch: number; startedAt: number; ms: number; adopted: number; resent: number; reset: number } | null = null;
  private recStart = 0;
  private recAdopted = 0;
  private recReset = 0;

  constructor(
    private readonly mesh: Mesh,
    private readonly self: string,
    private readonly isFenced: () => boolean,
    private readonly log: { info(m: string): void; warn(m: string): void },
  ) {}

  attach(local: LocalServer): void {
    this.local = local;
  }

  // ---- directory ----------------------------------------------------------------------------------

  private masterFor(ns: string, root: Uint8Array): string {
    const k = `${ns}\0${Buffer.from(root).toString('latin1')}`;
    let m = this.dirCache.get(k);
    if (m === undefined) {
      m = masterOf(this.members, ns, root)?.name ?? this.self;
      if (this.dirCache.size > 100000) this.dirCache.clear();
      this.dirCache.set(k, m);
    }
    return m;
  }

  private coordinator(): string {
    return this.members[0]?.name ?? this.self;
  }

  private member(name: string): Member | undefined {
    return this.members.find((m) => m.name === name);
  }

  // ---- local connections --------------------------------------------------------------------------

  /** Until when clients' locks stand (0: no lease yet). */
  private lease = 0;

  open(conn: LocalConn): void {
    const c: Client = { conn, legs: new Map(), joins: new Map(), signal: 0, locks: new Map(), pending: new Map(), waits: new Map(), early: new Map(), lastReq: 0 };
    conn.state = c;
    this.clients.set(conn.id, c);
    if (this.state !== 'down' && this.lease > 0) {
      encodeMessage(this.w, 'LEASE', { validUntil: this.lease });
      conn.write(this.w.take());
    }
  }

  close(conn: LocalConn): void {
    const c = conn.state as Client;
    this.clients.delete(conn.id);
    if (this.state === 'recovering') {
      // The masters rebuild from what was sent; the close follows the recovery.
      this.held.push({ c, frame: Buffer.alloc(0) });
      return;
    }
    this.closeLegs(c);
  }

  private closeLegs(c: Client): void {
    for (const leg of c.legs.values()) this.mesh.send(leg.node, P.CLOSE, (w) => w.u32(c.conn.id));
    c.legs.clear();
  }

  frame(conn: LocalConn, buf: Buffer, start: number, end: number): void {
    const c = conn.state as Client;
    if (this.isFenced() || this.state === 'down') return this.answerDown(c, buf, start, end);
    if (end - start >= 5) c.lastReq = buf.readUInt32LE(start + 1);
    const frame = Buffer.from(buf.subarray(start - 4, end));
    if (this.state === 'recovering') {
      if (this.held.length >= MAX_HELD) {
        this.local?.drop(conn, 'too many requests queued while the lock space recovers');
        return;
      }
      this.held.push({ c, frame });
      return;
    }
    this.route(c, frame);
  }

  /** Not a member: every request is answered at once with DLM_ENOSYS ("the DLM is not up"). */
  private answerDown(c: Client, buf: Buffer, start: number, end: number): void {
    const h = this.head(c, this.reader.reset(buf, start, end));
    if (h === null) return;
    encodeReply(this.w, h.op as Op, h.reqId, DLM_ENOSYS, null);
    c.conn.write(this.w.take());
  }

  /** A request's op and id; a frame without them gets an ERROR answer (null). */
  private head(c: Client, r: Reader): { op: number; reqId: number } | null {
    let h: { op: number; reqId: number } | null = null;
    try {
      h = decodeRequestHead(r);
    } catch (e) {
      if (!(e instanceof WireError)) throw e;
    }
    if (h === null || h.op < 1 || h.op > OP_MAX) {
      c.conn.write(errorFrame(PROTO_ERR.MALFORMED, `malformed request (type ${h?.op ?? '?'})`));
      return null;
    }
    return h;
  }

  /** Decodes what routing needs and sends the request to its master. */
  private route(c: Client, frame: Buffer): void {
    if (this.clients.get(c.conn.id) !== c) return;
    const r = this.reader.reset(frame, 4, frame.length);
    const h = this.head(c, r);
    if (h === null) return;
    const { op, reqId } = h;
    let p: Pending;
    try {
      p = this.classify(c, op, r, frame);
    } catch (e) {
      if (!(e instanceof WireError)) throw e;
      // The master decodes it again and answers the error; the home node will do.
      p = { op, node: this.self, frame };
    }
    this.send(c, reqId, p);
  }

  private classify(c: Client, op: number, r: Reader, frame: Buffer): Pending {
    switch (op) {
      case OP.NSJOIN:
        return { op, node: this.self, frame, nsjoin: decodeRequest(r, OP.NSJOIN) };
      case OP.NSLEAVE:
        return { op, node: this.self, frame, nsleave: decodeRequest(r, OP.NSLEAVE).nsp };
      case OP.DETACH:
      case OP.SETSIGNAL:
      case OP.NOTIFY:
        return { op, node: this.self, frame };
      case OP.GLC_CREATE:
      case OP.GLC_ATTACH:
      case OP.GLC_DETACH:
      case OP.GLC_DESTROY:
      case OP.RD_ATTACH:
      case OP.RD_DETACH:
      case OP.RD_COLLECT:
      case OP.RD_VALIDATE:
        return { op, node: this.coordinator(), frame };
      case OP.LOCK:
      case OP.QUELOCK: {
        const q = decodeRequest(r, op);
        const resnam = resnamBytes(q.resnam) ?? new Uint8Array(0);
        const special = (q.flags & (DLM_GROUP_LOCK | DLM_PERSIST | DLM_TXID_LOCAL)) !== 0;
        let parent: LockRec | null = null;
        let ns = '';
        let root = resnam;
        let node: string;
        if (q.parlkid) {
          parent = c.locks.get(lkKey(q.parlkid)) ?? null;
          if (parent === null) return { op, node: this.self, frame };
          ns = parent.ns;
          root = parent.root;
          node = parent.node;
        } else {
          const j = c.joins.get(q.nsp);
          if (j === undefined) return { op, node: this.self, frame };
          ns = j.ns;
          node = special ? this.coordinator() : this.masterFor(ns, resnam);
        }
        const proto: LockRec = {
          key: '', lkid: { hndl: 0, seqn: 0 }, node, ns, root, resnam, parent, cnsp: q.nsp,
          state: DLM_LK_WAITING, grmode: DLM_NOMODE, rqmode: q.mode, flags: q.flags, rid: q.rid, bits: q.bits, hint: q.hint,
          valb: q.valb ?? null, lvb: null, waitReq: 0, quelock: op === OP.QUELOCK,
          recoverable: !special && (parent === null || parent.recoverable),
        };
        return { op, node, frame, proto };
      }
      case OP.CVT:
      case OP.QUECVT: {
        const q = decodeRequest(r, op);
        const lock = q.lkid ? c.locks.get(lkKey(q.lkid)) : undefined;
        return { op, node: lock?.node ?? this.self, frame, lock, mode: q.mode, flags: q.flags, valb: q.valb ?? null, cvtBits: q.bits, rid: q.rid };
      }
      case OP.UNLOCK: {
        const q = decodeRequest(r, OP.UNLOCK);
        const lock = q.lkid ? c.locks.get(lkKey(q.lkid)) : undefined;
        const quiet = (q.options & UNLOCK_QUIET) !== 0;
        if (lock && quiet) {
          // The client counts on success already (client.ts): the lock is gone for recovery too.
          this.noteWrite(lock, q.flags, q.valb);
          this.forget(c, lock);
        }
        return { op, node: lock?.node ?? this.self, frame, lock, flags: q.flags, valb: q.valb, quiet };
      }
      case OP.CANCEL:
      case OP.LKINFO: {
        const { lkid } = decodeRequest(r, op);
        const lock = lkid ? c.locks.get(lkKey(lkid)) : undefined;
        return { op, node: lock?.node ?? this.self, frame, lock };
      }
      case OP.RSBINFO: {
        const q = decodeRequest(r, OP.RSBINFO);
        if (q.parlkid !== null) return { op, node: c.locks.get(lkKey(q.parlkid))?.node ?? this.self, frame };
        const j = c.joins.get(q.nsp);
        return { op, node: j ? this.masterFor(j.ns, resnamBytes(q.resnam) ?? new Uint8Array(0)) : this.self, frame };
      }
      default:
        return { op, node: this.self, frame };
    }
  }

  private send(c: Client, reqId: number, p: Pending): void {
    const leg = this.leg(c, p.node);
    const frame = this.onLeg(leg, p);
    // A request id 0 is the router's own replay: the client never uses it.
    if (reqId !== 0 && !p.quiet) c.pending.set(reqId, p);
    if (p.op === OP.GLC_CREATE || p.op === OP.GLC_ATTACH || p.op === OP.RD_ATTACH || (p.proto && !p.proto.recoverable)) leg.unrecoverable = true;
    this.mesh.send(p.node, P.FWD, (w) => w.u32(c.conn.id).raw(frame, 0, frame.length));
  }

  /** The frame as the leg's master must see it: the client's namespace handle mapped to its own. */
  private onLeg(leg: Leg, p: Pending): Buffer {
    const op = p.op;
    if (leg.node === this.self || !(op === OP.LOCK || op === OP.QUELOCK || op === OP.RSBINFO || op === OP.NSLEAVE)) return p.frame;
    const r = new Reader().reset(p.frame, 4, p.frame.length);
    const { reqId } = decodeRequestHead(r);
    const q = decodeRequest(r, op);
    const mapped = leg.nsps.get(q.nsp) ?? (op === OP.NSLEAVE ? 0 : q.nsp);
    if (mapped === q.nsp) return p.frame;
    encodeRequest(this.w, op, reqId, { ...q, nsp: mapped } as never);
    return this.w.take();
  }

  /** The client's session on a master, opened (with its namespaces joined there) on first use. */
  private leg(c: Client, node: string): Leg {
    let leg = c.legs.get(node);
    const inc = this.member(node)?.incarnation ?? '';
    if (leg !== undefined && leg.incarnation === inc) return leg;
    leg = { node, incarnation: inc, nsps: new Map(), unrecoverable: false };
    c.legs.set(node, leg);
    const cred = c.conn.cred;
    this.mesh.send(node, P.OPEN, (w) => encodeOpen(w, { conn: c.conn.id, pid: cred.pid, uid: cred.uid, gid: cred.gid, groups: cred.groups ?? [] }));
    if (node !== this.self) {
      for (const [cnsp, j] of [...c.joins.entries()].sort((a, b) => a[0] - b[0])) this.replayJoin(c, leg, cnsp, j.nsid, j.flags);
      if (c.signal !== 0) this.replay(c, leg, (w) => encodeRequest(w, OP.SETSIGNAL, 0, { sig: c.signal }));
    }
    return leg;
  }

  private replay(c: Client, leg: Leg, build: (w: Writer) => void): void {
    const w = this.w;
    build(w);
    const f = w.take();
    this.mesh.send(leg.node, P.FWD, (x) => x.u32(c.conn.id).raw(f, 0, f.length));
  }

  /** Joins a namespace on a leg; its handle there is the lowest free one, as the engine gives it. */
  private replayJoin(c: Client, leg: Leg, cnsp: number, nsid: number, flags: number): void {
    const used = new Set(leg.nsps.values());
    let nsp = 1;
    while (used.has(nsp)) nsp++;
    leg.nsps.set(cnsp, nsp);
    this.replay(c, leg, (w) => encodeRequest(w, OP.NSJOIN, 0, { nsid, flags }));
  }

  // ---- answers ------------------------------------------------------------------------------------

  /** Frames from a master (BACK, KILL, MARK_ACK, READY, DUMP_REPLY). */
  onFrame(from: string, type: number, r: Reader, buf: Buffer, end: number): void {
    switch (type) {
      case P.BACK: {
        const id = r.u32();
        const c = this.clients.get(id);
        if (!c) return;
        const leg = c.legs.get(from);
        if (!leg) return;
        this.answers(c, from, buf, r.pos, end);
        return;
      }
      case P.KILL: {
        const id = r.u32();
        r.done();
        const c = this.clients.get(id);
        if (!c) return;
        if (sameProcessAlive(c.conn.cred.pid, c.conn.start)) {
          try {
            process.kill(c.conn.cred.pid, 'SIGKILL');
            this.log.info(`dlm: killed pid ${c.conn.cred.pid} at the request of master ${from}`);
          } catch (e) {
            this.log.warn(`dlm: cannot kill pid ${c.conn.cred.pid}: ${(e as Error).message}`);
          }
        }
        this.local?.drop(c.conn, 'killed by the lock master');
        return;
      }
      case P.MARK_ACK: {
        const e = decodeEpoch(r);
        if (e === this.epoch && this.state === 'recovering' && this.phase === 'mark') {
          this.acks.add(from);
          this.maybeAdopt();
        }
        return;
      }
      case P.READY: {
        const e = decodeEpoch(r);
        if (e === this.epoch && this.state === 'recovering' && this.phase === 'ready') {
          this.ready.add(from);
          this.maybeResume();
        }
        return;
      }
      case P.DUMP_REPLY: {
        const id = r.u32();
        const n = r.u32();
        if (n !== r.remaining) throw new WireError('dump length mismatch');
        const d = this.dumps.get(id);
        if (!d) return;
        d.got.push({ node: from, dump: JSON.parse(buf.toString('utf8', r.pos, r.pos + n)) as DlmDump });
        d.want.delete(from);
        if (d.want.size === 0) {
          this.dumps.delete(id);
          clearTimeout(d.timer);
          d.resolve(d.got);
        }
        return;
      }
      default:
        throw new WireError(`unexpected message type ${type}`);
    }
  }

  /** Follows a master's answers to one client (state for recovery), then passes them on unchanged. */
  private answers(c: Client, from: string, buf: Buffer, start: number, end: number): void {
    let pos = start;
    const out: [number, number][] = [];
    while (pos + 4 <= end) {
      const len = buf.readUInt32LE(pos);
      const fs = pos + 4;
      const fe = fs + len;
      if (len === 0 || fe > end) throw new WireError('bad frame in BACK');
      if (this.track(c, from, buf, fs, fe)) out.push([pos, fe]);
      pos = fe;
    }
    if (out.length === 0) return;
    if (out.length === 1 && out[0][0] === start && out[0][1] === end) c.conn.write(buf.subarray(start, end));
    else for (const [s, e] of out) c.conn.write(buf.subarray(s, e));
  }

  /** One answer: updates the lock records; false for an answer to a replay (dropped). */
  private track(c: Client, from: string, buf: Buffer, s: number, e: number): boolean {
    const r = new Reader().reset(buf, s, e);
    const type = r.u8();
    switch (type) {
      case MSG.REPLY: {
        const { reqId, status } = decodeReplyHead(r);
        if (reqId === 0) return false;
        const p = c.pending.get(reqId);
        if (!p || p.node !== from) return true;
        c.pending.delete(reqId);
        this.replied(c, reqId, p, status, r);
        return true;
      }
      case MSG.WAITDONE: {
        const { reqId, status, valb } = decodeMessage(r, 'WAITDONE');
        const l = c.waits.get(reqId);
        if (l && l.node === from) {
          c.waits.delete(reqId);
          l.waitReq = 0;
          this.ended(c, l, status, valb);
        }
        return true;
      }
      case MSG.COMPLETION: {
        const { lkid, status, valb } = decodeMessage(r, 'COMPLETION');
        if (lkid === null) return true;
        const key = lkKey(lkid);
        const l = c.locks.get(key);
        if (l === undefined || this.requestPending(c, l)) {
          // Its request's answer is still to come (a queued request granted at once): applied then.
          if (c.early.size > 10000) c.early.clear();
          c.early.set(key, { status, valb });
        } else if (l.waitReq === 0 && l.state !== DLM_LK_GRANTED) {
          this.ended(c, l, status, valb);
        }
        return true;
      }
      case MSG.ERROR: {
        const { reqId } = decodeMessage(r, 'ERROR');
        if (reqId === 0) return false;
        c.pending.delete(reqId);
        return true;
      }
      default:
        return true;
    }
  }

  private requestPending(c: Client, l: LockRec): boolean {
    for (const p of c.pending.values()) if (p.lock === l && p.op === OP.QUECVT) return true;
    return false;
  }

  /** A completion that came before the answer of its dlm_quelock / dlm_quecvt. */
  private applyEarly(c: Client, l: LockRec): void {
    const e = c.early.get(l.key);
    if (e === undefined) return;
    c.early.delete(l.key);
    this.ended(c, l, e.status, e.valb);
  }

  private replied(c: Client, reqId: number, p: Pending, status: number, r: Reader): void {
    switch (p.op) {
      case OP.NSJOIN: {
        const nsp = decodeReply(r, OP.NSJOIN)?.nsp ?? 0;
        if (status !== DLM_SUCCESS || !p.nsjoin || c.joins.has(nsp)) return;
        const ns = namespaceKey(p.nsjoin.nsid, p.nsjoin.flags, DLM_GROUP);
        c.joins.set(nsp, { ...p.nsjoin, ns });
        for (const leg of c.legs.values()) if (leg.node !== this.self) this.replayJoin(c, leg, nsp, p.nsjoin.nsid, p.nsjoin.flags);
        return;
      }
      case OP.NSLEAVE: {
        if (status !== DLM_SUCCESS || p.nsleave === undefined) return;
        c.joins.delete(p.nsleave);
        for (const leg of c.legs.values()) {
          const m = leg.nsps.get(p.nsleave);
          if (leg.node === this.self || m === undefined) continue;
          leg.nsps.delete(p.nsleave);
          this.replay(c, leg, (w) => encodeRequest(w, OP.NSLEAVE, 0, { nsp: m, flags: 0 }));
        }
        return;
      }
      case OP.DETACH:
        if (status !== DLM_SUCCESS) return;
        c.joins.clear();
        for (const leg of c.legs.values()) {
          if (leg.node === this.self) continue;
          leg.nsps.clear();
          this.replay(c, leg, (w) => encodeRequest(w, OP.DETACH, 0, {}));
        }
        return;
      case OP.SETSIGNAL: {
        if (status !== DLM_SUCCESS) return;
        const sig = decodeRequest(new Reader().reset(p.frame, 9, p.frame.length), OP.SETSIGNAL).sig;
        c.signal = sig;
        for (const leg of c.legs.values()) if (leg.node !== this.self) this.replay(c, leg, (w) => encodeRequest(w, OP.SETSIGNAL, 0, { sig }));
        return;
      }
      case OP.LOCK:
      case OP.QUELOCK: {
        const a = decodeReply(r, p.op as typeof OP.LOCK);
        const lkid = a?.lkid ?? null;
        if (a === null || lkid === null || !p.proto) return;
        const l: LockRec = { ...p.proto, lkid, key: lkKey(lkid) };
        const valb = a.valb;
        if (a.waits) {
          l.waitReq = reqId;
          c.waits.set(reqId, l);
          c.locks.set(l.key, l);
          return;
        }
        if (p.op === OP.QUELOCK && !(status === DLM_SYNCH || status === DLM_SYNCVALNOTVALID)) {
          // Queued, or granted with its completion sent ahead of this answer.
          if (status === DLM_SUCCESS) {
            c.locks.set(l.key, l);
            this.applyEarly(c, l);
          }
          return;
        }
        if (!granted(status)) return;
        l.state = DLM_LK_GRANTED;
        l.grmode = l.rqmode;
        if (valb) l.lvb = valb;
        c.locks.set(l.key, l);
        return;
      }
      case OP.CVT:
      case OP.QUECVT: {
        const l = p.lock;
        const a = decodeReply(r, p.op as typeof OP.CVT);
        if (!l || !c.locks.has(l.key) || a === null) return;
        const wait = a.waits;
        if (p.op === OP.QUECVT && status === DLM_SUCCESS) {
          this.converting(l, p);
          this.applyEarly(c, l);
          return;
        }
        if (wait) {
          this.converting(l, p);
          l.waitReq = reqId;
          c.waits.set(reqId, l);
          return;
        }
        if (!granted(status)) return;
        const valb = a.valb;
        this.noteWrite(l, p.flags ?? 0, p.valb ?? null);
        l.grmode = l.rqmode = p.mode!;
        l.state = DLM_LK_GRANTED;
        this.newParams(l, p);
        if (valb) l.lvb = valb;
        return;
      }
      case OP.UNLOCK: {
        const l = p.lock;
        if (l && status === DLM_SUCCESS) {
          this.noteWrite(l, p.flags ?? 0, p.valb ?? null);
          this.forget(c, l);
        }
        return;
      }
      default:
    }
  }

  private converting(l: LockRec, p: Pending): void {
    this.noteWrite(l, p.flags ?? 0, p.valb ?? null);
    l.state = DLM_LK_CONVERTING;
    l.rqmode = p.mode!;
    this.newParams(l, p);
  }

  /** A conversion's parameters become the lock's (the recovery entry carries them). */
  private newParams(l: LockRec, p: Pending): void {
    const b = p.cvtBits ?? 0;
    l.flags = p.flags ?? l.flags;
    if (p.valb) l.valb = p.valb;
    let bits = l.bits & ~(LK.NOTPRM | LK.BLK | LK.CPL);
    if (b & CV.NOTPRM) bits |= LK.NOTPRM;
    if (b & CV.BLK_SET ? b & CV.BLK_FN : l.bits & LK.BLK) bits |= LK.BLK;
    if (b & CV.CPL_SET ? b & CV.CPL_FN : l.bits & LK.CPL) bits |= LK.CPL;
    if (b & (CV.NOTPRM | CV.BLK_SET | CV.CPL_SET)) l.rid = p.rid ?? l.rid;
    l.bits = bits;
    l.quelock = p.op === OP.QUECVT;
  }

  /** A down-conversion or unlock from PW/EX with DLM_VALB writes the value block. */
  private noteWrite(l: LockRec, flags: number, valb: Uint8Array | null): void {
    if (flags & DLM_VALB && valb && (l.grmode === DLM_PWMODE || l.grmode === DLM_EXMODE)) l.lvb = valb;
  }

  /** A pending request ended (WAITDONE or COMPLETION). */
  private ended(c: Client, l: LockRec, status: number, valb: Uint8Array | null): void {
    if (granted(status)) {
      l.state = DLM_LK_GRANTED;
      l.grmode = l.rqmode;
      if (valb) l.lvb = valb;
    } else if (l.grmode === DLM_NOMODE) {
      this.forget(c, l);
    } else {
      l.state = DLM_LK_GRANTED;
      l.rqmode = l.grmode;
    }
  }

  private forget(c: Client, l: LockRec): void {
    c.locks.delete(l.key);
    if (l.waitReq !== 0) c.waits.delete(l.waitReq);
    // Its sublocks went with it on the master.
    for (const x of [...c.locks.values()]) if (x.parent === l) this.forget(c, x);
  }

  // ---- recovery -----------------------------------------------------------------------------------

  /** A new epoch (membership.ts): stop, then rebuild on the new masters. */
  epochChanged(epoch: number, members: Member[]): void {
    const before = this.members;
    this.members = members;
    this.epoch = epoch;
    this.dirCache.clear();
    this.recStart = Date.now();
    this.recAdopted = 0;
    this.recReset = 0;
    if (this.state !== 'recovering') this.held = [];
    this.state = 'recovering';
    this.phase = 'mark';
    this.acks.clear();
    this.ready.clear();
    // Clients whose state on a departed member cannot be rebuilt are reset.
    const gone = before.filter((m) => !members.some((x) => x.name === m.name && x.incarnation === m.incarnation)).map((m) => m.name);
    for (const c of [...this.clients.values()]) {
      for (const leg of [...c.legs.values()]) {
        const alive = members.some((m) => m.name === leg.node && m.incarnation === leg.incarnation);
        if (alive) continue;
        if (leg.unrecoverable) {
          this.resetClient(c, `the lock space lost node ${leg.node}, which held this process' group locks, containers or recovery domains`);
          break;
        }
        c.legs.delete(leg.node);
      }
    }
    if (gone.length) this.log.info(`dlm: recovery for epoch ${epoch}: ${gone.join(', ')} left; waiting for the members to answer`);
    for (const m of members) this.mesh.send(m.name, P.MARK, (w) => encodeEpoch(w, epoch));
    this.armRetry();
  }

  private retryTimer: NodeJS.Timeout | null = null;

  /** A member's link may come up after the epoch: MARK and RECOVERED are sent again until answered. */
  private armRetry(): void {
    if (this.retryTimer) return;
    this.retryTimer = setInterval(() => {
      if (this.state !== 'recovering') {
        clearInterval(this.retryTimer!);
        this.retryTimer = null;
        return;
      }
      const epoch = this.epoch;
      for (const m of this.members) {
        if (this.phase === 'mark' && !this.acks.has(m.name)) this.mesh.send(m.name, P.MARK, (w) => encodeEpoch(w, epoch));
        if (this.phase === 'ready' && !this.ready.has(m.name)) this.mesh.send(m.name, P.RECOVERED, (w) => encodeEpoch(w, epoch));
      }
    }, 250);
    this.retryTimer.unref();
  }

  private maybeAdopt(): void {
    if (!this.members.every((m) => this.acks.has(m.name))) return;
    this.phase = 'ready';
    const epoch = this.epoch;
    const lvbs = new Map<string, { node: string; ns: string; root: Uint8Array; valb: Uint8Array; rank: number }>();
    for (const c of this.clients.values()) {
      const recs = [...c.locks.values()];
      let reset = false;
      for (const l of recs) {
        const target = l.recoverable ? this.masterFor(l.ns, l.root) : l.node;
        const alive = this.member(l.node) !== undefined && c.legs.has(l.node);
        if (l.node === target && alive) continue;
        if (!l.recoverable) {
          reset = true;
          break;
        }
        const leg = this.leg(c, target);
        l.node = target;
        this.recAdopted++;
        this.mesh.send(target, P.ADOPT, (w) =>
          encodeAdopt(w, epoch, {
            conn: c.conn.id, lkid: l.lkid, nsp: target === this.self ? l.cnsp : leg.nsps.get(l.cnsp) ?? 0, resnam: l.resnam,
            parlkid: l.parent?.lkid ?? null, state: l.state, grmode: l.grmode, rqmode: l.rqmode, flags: l.flags,
            rid: l.rid, bits: l.bits, hint: l.hint, valb: l.valb, waitReq: l.waitReq, quelock: l.quelock,
          }),
        );
        // What this client knows of the value block (PW/EX holders know it exactly, PR readers too).
        if (l.lvb !== null && l.parent === null && l.grmode >= DLM_PRMODE) {
          const k = `${l.ns}\0${Buffer.from(l.root).toString('latin1')}`;
          const rank = l.grmode;
          const cur = lvbs.get(k);
          if (!cur || cur.rank < rank) lvbs.set(k, { node: target, ns: l.ns, root: l.root, valb: l.lvb, rank });
        }
      }
      if (reset) this.resetClient(c, 'the lock space lost the node that held some of this process\' locks');
    }
    for (const v of lvbs.values()) this.mesh.send(v.node, P.RES_LVB, (w) => encodeResLvb(w, epoch, { ns: v.ns, root: v.root, valid: true, valb: v.valb }));
    for (const m of this.members) this.mesh.send(m.name, P.RECOVERED, (w) => encodeEpoch(w, epoch));
  }

  private maybeResume(): void {
    if (!this.members.every((m) => this.ready.has(m.name))) return;
    this.state = 'up';
    // Requests a departed master never answered go to the new one (their locks were rebuilt there).
    let resent = 0;
    for (const c of this.clients.values()) {
      for (const [reqId, p] of [...c.pending]) {
        if (c.legs.has(p.node)) continue;
        c.pending.delete(reqId);
        resent++;
        this.route(c, p.frame);
      }
    }
    const held = this.held;
    this.held = [];
    for (const h of held) {
      if (h.frame.length === 0) this.closeLegs(h.c);
      else this.route(h.c, h.frame);
    }
    const ms = Date.now() - this.recStart;
    this.lastRecovery = { epoch: this.epoch, startedAt: this.recStart, ms, adopted: this.recAdopted, resent, reset: this.recReset };
    if (this.recAdopted || resent || this.recReset) {
      this.log.info(`dlm: recovery for epoch ${this.epoch} done in ${ms} ms: ${this.recAdopted} lock${this.recAdopted === 1 ? '' : 's'} sent to new masters, ${resent} request${resent === 1 ? '' : 's'} sent again, ${this.recReset} client${this.recReset === 1 ? '' : 's'} reset, ${held.length} queued request${held.length === 1 ? '' : 's'} released`);
    }
  }

  private resetClient(c: Client, reason: string): void {
    this.recReset++;
    this.closeLegs(c);
    c.locks.clear();
    c.pending.clear();
    c.waits.clear();
    c.early.clear();
    c.joins.clear();
    c.signal = 0;
    encodeMessage(this.w, 'RESET', { reason: reason.slice(0, 1000), lastReq: c.lastReq });
    c.conn.write(this.w.take());
    this.held = this.held.filter((h) => h.c !== c);
  }

  /** Fenced, or stopping: every client is told its locks are gone; requests answer DLM_ENOSYS. */
  down(reason: string): void {
    this.state = 'down';
    if (this.retryTimer) clearInterval(this.retryTimer);
    this.retryTimer = null;
    this.members = [];
    this.held = [];
    let n = 0;
    for (const c of this.clients.values()) {
      const had = c.legs.size > 0 || c.locks.size > 0 || c.pending.size > 0 || c.joins.size > 0;
      c.legs.clear();
      if (!had) continue;
      n++;
      this.resetClient(c, reason);
    }
    for (const [id, d] of this.dumps) {
      this.dumps.delete(id);
      clearTimeout(d.timer);
      d.resolve(d.got);
    }
    if (n) this.log.warn(`dlm: ${n} client${n === 1 ? '' : 's'} told that their locks are gone (${reason})`);
  }

  /** Tells every client until when its locks stand (MSG.LEASE). */
  sendLease(validUntil: number): void {
    this.lease = validUntil;
    const w = this.w;
    for (const c of this.clients.values()) {
      encodeMessage(w, 'LEASE', { validUntil });
      c.conn.write(w.take());
    }
  }

  /** Every member's engine dump (members that do not answer in time are left out). */
  dumpAll(timeoutMs = 5000): Promise<{ node: string; dump: DlmDump }[]> {
    const id = this.nextDump++;
    const want = new Set<string>();
    for (const m of this.members) if (this.mesh.send(m.name, P.DUMP, (w) => w.u32(id))) want.add(m.name);
    return new Promise((resolve) => {
      if (want.size === 0) return resolve([]);
      const got: { node: string; dump: DlmDump }[] = [];
      const timer = setTimeout(() => {
        this.dumps.delete(id);
        resolve(got);
      }, timeoutMs);
      this.dumps.set(id, { resolve, want, got, timer });
    });
  }

  /** For status: how many locks this node's clients hold, by master. */
  locksByMaster(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const c of this.clients.values()) for (const l of c.locks.values()) out[l.node] = (out[l.node] ?? 0) + 1;
    return out;
  }
}
