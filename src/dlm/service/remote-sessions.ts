// The master's side of the other nodes' clients: each client process of a member node is a Session
// of the dispatcher, opened by OPEN on that node's link, fed by FWD, answered through BACK. When the
// link goes (node dead, cut off, or replaced by a new link), every session of it goes at once and
// the engine drops the node's processes (engine.nodeDied): their locks are released, the value
// blocks they held in PW/EX become invalid, and waiters elsewhere are granted.
import type { Dlm } from '../engine';
import { WireError, type Reader } from './codec';
import { Session, type Dispatcher, type SessionTransport } from './dispatcher';
import type { PeerLink } from './peer-link';
import { MAX_SESSIONS_PER_NODE, P, decodeOpen } from './peer-protocol';
import type { ClusterTransport } from './transport';

interface RemoteCtx {
  link: PeerLink;
  conn: number;
}


export class RemoteSessions implements SessionTransport {
  private readonly byLink = new Map<PeerLink, Map<number, Session>>();
  private nextId = 1;

  constructor(
    transport: ClusterTransport,
    private readonly dispatcher: Dispatcher,
    private readonly engine: Dlm,
    private readonly log: { info(m: string): void; warn(m: string): void },
  ) {
    transport.on('peerUp', (link: PeerLink) => this.byLink.set(link, new Map()));
    transport.on('peerDown', (link: PeerLink, reason: string) => this.linkDown(link, reason));
    transport.on('frame', (link: PeerLink, type: number, r: Reader, buf: Buffer, s: number, e: number) => {
      try {
        this.onFrame(link, type, r, buf, s, e);
      } catch (err) {
        const why = err instanceof WireError ? err.message : (err as Error)?.stack ?? String(err);
        this.log.warn(`dlm: bad message ${type} from node ${link.peerName}: ${why}`);
        link.close(`protocol error: ${(err as Error).message}`);
      }
    });
  }

  private onFrame(link: PeerLink, type: number, r: Reader, buf: Buffer, start: number, end: number): void {
    const sessions = this.byLink.get(link);
    if (!sessions) return;
    switch (type) {
      case P.OPEN: {
        const { conn, pid, uid, gid, groups } = decodeOpen(r);
        if (sessions.has(conn)) throw new WireError(`connection ${conn} opened twice`);
        if (sessions.size >= MAX_SESSIONS_PER_NODE) throw new WireError('too many client processes');
        const s = new Session(this.nextId++, { pid, uid, gid, groups, node: link.peer!.id }, this, `node ${link.peer!.name} pid ${pid}`);
        s.ctx = { link, conn } satisfies RemoteCtx;
        sessions.set(conn, s);
        this.dispatcher.open(s);
        return;
      }
      case P.FWD: {
        const conn = r.u32();
        const s = sessions.get(conn);
        if (!s) throw new WireError(`request for unknown connection ${conn}`);
        this.dispatcher.feed(s, buf, r.pos, end);
        return;
      }
      case P.CLOSE: {
        const conn = r.u32();
        r.done();
        const s = sessions.get(conn);
        if (!s) return;
        sessions.delete(conn);
        this.dispatcher.close(s);
        return;
      }
      case P.DUMP: {
        const req = r.u32();
        r.done();
        const w = link.begin(P.DUMP_REPLY);
        w.u32(req);
        const json = Buffer.from(JSON.stringify(this.engine.dump()));
        w.u32(json.length).bytes(json);
        link.end();
        return;
      }
      default:
        throw new WireError(`unexpected message type ${type}`);
    }
    void start;
  }

  flush(s: Session): void {
    const { link, conn } = s.ctx as RemoteCtx;
    if (link.state !== 'up') {
      s.out.pos = 0;
      return;
    }
    const w = link.begin(P.BACK);
    w.u32(conn);
    w.raw(s.out.buf, 0, s.out.length);
    s.out.pos = 0;
    link.end();
  }

  kick(s: Session, reason: string): void {
    const { link, conn } = s.ctx as RemoteCtx;
    // A remote client that does not read: its node is told to drop it (as a killed process).
    this.log.warn(`dlm: ${s.label}: ${reason}; asking its node to end it`);
    this.kill(s, reason);
    const sessions = this.byLink.get(link);
    sessions?.delete(conn);
    this.dispatcher.close(s);
  }

  /** Asks the session's node to kill its process; false when the node is not reachable. */
  kill(s: Session, reason: string): boolean {
    const { link, conn } = s.ctx as RemoteCtx;
    if (link.state !== 'up') return false;
    link.begin(P.KILL).u32(conn);
    link.end();
    this.log.info(`dlm: asked node ${link.peerName} to kill ${s.label} (${reason})`);
    return true;
  }

  private linkDown(link: PeerLink, reason: string): void {
    const sessions = this.byLink.get(link);
    this.byLink.delete(link);
    if (!sessions) return;
    this.dispatcher.forget(sessions.values());
    const node = link.peer!;
    const n = this.engine.nodeDied(node.id);
    this.log.warn(`dlm: node ${node.name} left the lock space (${reason}): ${n} process${n === 1 ? '' : 'es'} dropped, their locks released`);
  }
}
