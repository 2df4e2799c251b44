// A member's master side when membership comes from etcd: the sessions of every member's clients on
// this node's engine (this node's own clients included, through the mesh), and this node's part of
// each recovery:
//   - on a new epoch, the processes of departed members die here (engine.nodeDied: their PW/EX value
//     blocks become invalid, waiters are granted once recovery ends), and the resources this node
//     mastered that now belong to another member are held, their value blocks sent to it (RES_LVB);
//   - MARK is answered once this node is in the epoch (what it answered before is then known to
//     the asker, and the resources that move are held: nothing changes on them any more);
//   - ADOPT puts survivors' locks back (remaster.ts); RES_LVB gives the value blocks;
//   - when every member said RECOVERED: the resources that moved away are dropped, the rebuilt ones
//     get their value blocks (invalid when no survivor could know it), are released (grants, blocking
//     notifications), and READY goes to every member.
// Sessions belong to (member, incarnation): a member that rejoins is a new one, its old sessions die.
import type { Dlm } from '../engine';
import type { Resource } from '../resource';
import { keyBytes, nameKey } from '../resource';
import { dropSilently, release, rootResources, setLvb } from '../remaster';
import { Reader, WireError } from './codec';
import { Session, type Dispatcher, type SessionTransport } from './dispatcher';
import { engineName, masterOf } from './directory';
import type { Member } from './membership';
import type { Mesh } from './mesh';
import { MAX_SESSIONS_PER_NODE, P, decodeAdopt, decodeEpoch, decodeOpen, decodeResLvb, encodeEpoch, encodeResLvb } from './peer-protocol';

interface Ctx {
  node: string;
  conn: number;
}


export class MasterSessions implements SessionTransport {
  private readonly byNode = new Map<string, Map<number, Session>>();
  private nextId = 1;
  private members: Member[] = [];
  private prevMembers: Member[] = [];
  private epoch = 0;
  private recovered = new Set<string>();
  /** Resources rebuilt in this recovery, with the value block survivors reported. */
  private rebuilt = new Map<Resource, { valb: Uint8Array | null; fromMaster: boolean }>();
  private moving: Resource[] = [];
  private earlyMarks: { from: string; epoch: number }[] = [];
  private future: { from: string; type: number; buf: Buffer }[] = [];
  adopted = 0;

  constructor(
    private readonly mesh: Mesh,
    private readonly self: string,
    private readonly dispatcher: Dispatcher,
    private readonly engine: Dlm,
    private readonly log: { info(m: string): void; warn(m: string): void },
  ) {}

  /** Resources this node masters, per namespace (for `dmapifs cluster status`). */
  mastered(): number {
    let n = 0;
    for (const ns of this.engine.namespaces.values()) n += ns.resources.size;
    return n;
  }

  epochChanged(epoch: number, members: Member[]): void {
    this.prevMembers = this.members.length ? this.members : members;
    const before = this.members;
    this.members = members;
    this.epoch = epoch;
    this.recovered.clear();
    // Departed members (or members that came back as new ones): their processes die here.
    for (const m of before) {
      if (members.some((x) => x.name === m.name && x.incarnation === m.incarnation)) continue;
      this.memberGone(m, 'left the cluster');
    }
    // Resources that now belong to another member: held, their value block sent ahead.
    for (const { nsKey, res } of rootResources(this.engine)) {
      if (res.freed) continue;
      const root = keyBytes(res.key);
      const owner = masterOf(members, nsKey, root);
      if (owner === null || owner.name === this.self) continue;
      res.held = true;
      if (!this.moving.includes(res)) this.moving.push(res);
      const valb = res.lvbCopy();
      this.mesh.send(owner.name, P.RES_LVB, (w) => encodeResLvb(w, epoch, { ns: nsKey, root, valid: res.lvbValid, valb }));
    }
    const marks = this.earlyMarks;
    this.earlyMarks = [];
    for (const m of marks) this.mark(m.from, m.epoch);
    const future = this.future;
    this.future = [];
    for (const f of future) this.replayFuture(f);
  }

  private memberGone(m: Member, why: string): void {
    const sessions = this.byNode.get(m.name);
    this.byNode.delete(m.name);
    if (sessions) this.dispatcher.forget(sessions.values());
    if (m.name === this.self) return;
    const n = this.engine.nodeDied(m.id);
    if (n) this.log.warn(`dlm: node ${m.name} ${why}: ${n} process${n === 1 ? '' : 'es'} dropped, their locks released (value blocks they held in PW/EX invalid)`);
  }

  /** This node was fenced: nothing it masters stands (the survivors rebuild it elsewhere). */
  fenced(): void {
    for (const [node, sessions] of this.byNode) {
      this.dispatcher.forget(sessions.values());
      const id = this.members.find((m) => m.name === node)?.id;
      if (id !== undefined) this.engine.nodeDied(id);
    }
    this.byNode.clear();
    for (const { res } of rootResources(this.engine)) if (!res.freed) dropSilently(this.engine, res);
    this.members = [];
    this.moving = [];
    this.rebuilt.clear();
    this.epoch = 0;
  }

  onFrame(from: string, type: number, r: Reader, buf: Buffer, start: number, end: number): void {
    let sessions = this.byNode.get(from);
    switch (type) {
      case P.OPEN: {
        const { conn, pid, uid, gid, groups } = decodeOpen(r);
        const member = this.members.find((m) => m.name === from);
        if (!member) return;
        if (!sessions) this.byNode.set(from, (sessions = new Map()));
        const old = sessions.get(conn);
        if (old) {
          sessions.delete(conn);
          this.dispatcher.close(old);
        }
        if (sessions.size >= MAX_SESSIONS_PER_NODE) throw new WireError('too many client processes');
        const s = new Session(this.nextId++, { pid, uid, gid, groups, node: member.id }, this, `node ${from} pid ${pid}`);
        s.ctx = { node: from, conn } satisfies Ctx;
        sessions.set(conn, s);
        this.dispatcher.open(s);
        return;
      }
      case P.FWD: {
        const conn = r.u32();
        const s = sessions?.get(conn);
        if (!s) return;
        this.dispatcher.feed(s, buf, r.pos, end);
        return;
      }
      case P.CLOSE: {
        const conn = r.u32();
        r.done();
        const s = sessions?.get(conn);
        if (!s) return;
        sessions!.delete(conn);
        this.dispatcher.close(s);
        return;
      }
      case P.DUMP: {
        const req = r.u32();
        r.done();
        const json = Buffer.from(JSON.stringify(this.engine.dump()));
        this.mesh.send(from, P.DUMP_REPLY, (w) => w.u32(req).u32(json.length).bytes(json));
        return;
      }
      case P.MARK:
        return this.mark(from, decodeEpoch(r));
      case P.ADOPT:
      case P.RES_LVB:
      case P.RECOVERED: {
        const epoch = r.buf.readDoubleLE(r.pos);
        if (epoch > this.epoch) {
          // The sender saw the epoch first: this waits until this node is in it.
          this.future.push({ from, type, buf: Buffer.from(buf.subarray(start, end)) });
          return;
        }
        if (epoch < this.epoch) return;
        if (type === P.ADOPT) return this.adopt(from, r);
        if (type === P.RES_LVB) return this.resLvb(from, r);
        decodeEpoch(r);
        if (this.readyEpoch === epoch) {
          // Its READY was lost (no link then): again.
          this.mesh.send(from, P.READY, (w) => encodeEpoch(w, epoch));
          return;
        }
        this.recovered.add(from);
        this.maybeReady();
        return;
      }
      default:
        throw new WireError(`unexpected message type ${type}`);
    }
  }

  private replayFuture(f: { from: string; type: number; buf: Buffer }): void {
    const r = new Reader().reset(f.buf, 0, f.buf.length);
    r.u8();
    this.onFrame(f.from, f.type, r, f.buf, 0, f.buf.length);
  }

  private mark(from: string, epoch: number): void {
    if (epoch > this.epoch) {
      this.earlyMarks.push({ from, epoch });
      return;
    }
    if (epoch === this.epoch) this.mesh.send(from, P.MARK_ACK, (w) => encodeEpoch(w, epoch));
  }

  private adopt(from: string, r: Reader): void {
    const { m } = decodeAdopt(r);
    const s = this.byNode.get(from)?.get(m.conn);
    if (!s) return;
    const res = this.dispatcher.adopt(s, m);
    if (res.res) {
      this.adopted++;
      let root: Resource = res.res;
      while (root.parent) root = root.parent;
      if (!this.rebuilt.has(root)) this.rebuilt.set(root, { valb: null, fromMaster: false });
    } else {
      this.log.warn(`dlm: could not put back lock ${m.lkid.hndl}:${m.lkid.seqn} of ${s.label}: status ${res.status}`);
    }
  }

  private resLvb(from: string, r: Reader): void {
    const { m } = decodeResLvb(r);
    const ns = this.engine.namespaces.get(m.ns);
    const key = nameKey(engineName(m.root));
    const res = ns && key !== null ? ns.resources.get(key) : undefined;
    if (!res) return;
    const prevOwner = masterOf(this.prevMembers, m.ns, m.root)?.name;
    const fromMaster = from === prevOwner && this.members.some((x) => x.name === from);
    const cur = this.rebuilt.get(res);
    if (cur?.fromMaster && !fromMaster) return;
    this.rebuilt.set(res, { valb: m.valid ? m.valb : null, fromMaster });
    if (fromMaster && !m.valid) this.rebuilt.set(res, { valb: null, fromMaster: true });
  }

  private readyEpoch = 0;

  private maybeReady(): void {
    if (!this.members.every((m) => this.recovered.has(m.name))) return;
    const epoch = this.epoch;
    this.readyEpoch = epoch;
    let dropped = 0;
    for (const res of this.moving) if (!res.freed) dropped += dropSilently(this.engine, res);
    this.moving = [];
    let invalid = 0;
    for (const [res, v] of this.rebuilt) {
      if (res.freed) continue;
      // No survivor held it in PR or above with its value block, and its master is gone: the value
      // may have been written by a holder that is no more.
      setLvb(res, v.valb, v.valb !== null);
      if (v.valb === null) invalid++;
    }
    const n = this.rebuilt.size;
    const resources = [...this.rebuilt.keys()];
    this.rebuilt.clear();
    const all: Resource[] = [];
    for (const { res } of rootResources(this.engine)) if (res.held) all.push(res);
    release(this.engine, [...resources, ...all, ...heldChildren(all)]);
    if (n || dropped || this.adopted) {
      this.log.info(`dlm: epoch ${epoch}: rebuilt ${n} resource${n === 1 ? '' : 's'} from ${this.adopted} survivor lock${this.adopted === 1 ? '' : 's'} (${invalid} value block${invalid === 1 ? '' : 's'} marked invalid), handed ${dropped} lock${dropped === 1 ? '' : 's'} over to new masters`);
    }
    this.adopted = 0;
    for (const m of this.members) this.mesh.send(m.name, P.READY, (w) => encodeEpoch(w, epoch));
  }

  // ---- SessionTransport ---------------------------------------------------------------------------

  flush(s: Session): void {
    const { node, conn } = s.ctx as Ctx;
    const out = s.out;
    const ok = this.mesh.send(node, P.BACK, (w) => w.u32(conn).raw(out.buf, 0, out.length));
    void ok;
    out.pos = 0;
  }

  kick(s: Session, reason: string): void {
    const { node, conn } = s.ctx as Ctx;
    this.log.warn(`dlm: ${s.label}: ${reason}; asking its node to end it`);
    this.kill(s, reason);
    this.byNode.get(node)?.delete(conn);
    this.dispatcher.close(s);
  }

  kill(s: Session, reason: string): boolean {
    const { node, conn } = s.ctx as Ctx;
    if (!this.mesh.send(node, P.KILL, (w) => w.u32(conn))) return false;
    this.log.info(`dlm: asked node ${node} to kill ${s.label} (${reason})`);
    return true;
  }
}

function heldChildren(roots: Resource[]): Resource[] {
  const out: Resource[] = [];
  const walk = (r: Resource) => {
    if (r.children) for (const c of r.children.values()) {
      if (c.held) out.push(c);
      walk(c);
    }
  };
  for (const r of roots) walk(r);
  return out;
}
