// A member node's local backend: its clients' frames go to the master unchanged (FWD), the master's
// answers and notifications come back (BACK) and go to the client unchanged. The node decodes only
// what it must answer itself: while it has no link to the master every request is answered at once
// with DLM_ENOSYS ("the DLM is not up"), so no client ever hangs on an unreachable master.
//
// A client is registered with the master (OPEN, with its SO_PEERCRED identity) on a link the first
// time it sends something there. When the link goes down, the master has dropped every process of
// this node: each registered client gets a RESET (its pending requests end with DLM_ENOSYS, its locks
// are gone) and is registered afresh on the next link.
import type { DlmDump } from '../dump';
import { DLM_ENOSYS } from '../status';
import { MAX_CLIENT_FRAME, Reader, Writer, WireError, forEachFrame } from './codec';
import { errorFrame, type LocalBackend, type LocalConn, type LocalServer } from './local-server';
import type { PeerLink } from './peer-link';
import { P, encodeOpen } from './peer-protocol';
import { OP_MAX, PROTO_ERR, decodeRequestHead, encodeMessage, encodeReply, type Op } from './protocol';
import type { ClusterTransport } from './transport';
import { sameProcessAlive } from './procfs';

interface ConnState {
  /** Epoch of the link the client is registered on (0: none). */
  epoch: number;
  /** Request id of the last request forwarded on that link (its answer may never come). */
  lastReq: number;
}

/** Most bytes queued towards the master before a client that keeps sending is cut off. */
const MAX_LINK_BACKLOG = 32 * 1024 * 1024;

export class Forwarder implements LocalBackend {
  private readonly conns = new Map<number, LocalConn>();
  private link: PeerLink | null = null;
  private local: LocalServer | null = null;
  private readonly w = new Writer(256);
  private readonly reader = new Reader();
  private nextDump = 1;
  private readonly dumps = new Map<number, { resolve: (d: DlmDump) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();

  constructor(
    transport: ClusterTransport,
    private readonly master: string,
    private readonly log: { info(m: string): void; warn(m: string): void },
  ) {
    transport.on('peerUp', (link: PeerLink) => {
      if (link.peer!.name === this.master) this.link = link;
    });
    transport.on('peerDown', (link: PeerLink, reason: string) => {
      if (link === this.link) this.linkDown(link, reason);
    });
    transport.on('frame', (link: PeerLink, type: number, r: Reader, buf: Buffer, s: number, e: number) => {
      if (link !== this.link) return;
      try {
        this.onFrame(type, r, buf, e);
      } catch (err) {
        this.log.warn(`dlm: bad message ${type} from master ${this.master}: ${(err as Error).message}`);
        link.close(`protocol error: ${(err as Error).message}`);
      }
      void s;
    });
  }

  attach(local: LocalServer): void {
    this.local = local;
  }

  open(conn: LocalConn): void {
    conn.state = { epoch: 0, lastReq: 0 } satisfies ConnState;
    this.conns.set(conn.id, conn);
  }

  frame(conn: LocalConn, buf: Buffer, start: number, end: number): void {
    const link = this.link;
    const st = conn.state as ConnState;
    if (link === null || link.state !== 'up') {
      this.answerDown(conn, buf, start, end);
      return;
    }
    if (st.epoch !== link.epoch) {
      const c = conn.cred;
      encodeOpen(link.begin(P.OPEN), { conn: conn.id, pid: c.pid, uid: c.uid, gid: c.gid, groups: c.groups ?? [] });
      link.end();
      st.epoch = link.epoch;
    }
    if (link.sock.writableLength > MAX_LINK_BACKLOG) {
      // The master does not keep up with what this client sends: the client goes, not the node.
      this.log.warn(`dlm: ${conn.label} floods the link to the lock master (${link.sock.writableLength} bytes queued); disconnected`);
      this.local?.drop(conn, 'flooding the link to the lock master');
      return;
    }
    if (end - start >= 5) st.lastReq = buf.readUInt32LE(start + 1);
    const w = link.begin(P.FWD);
    w.u32(conn.id).raw(buf, start - 4, end);
    link.end();
  }

  close(conn: LocalConn): void {
    this.conns.delete(conn.id);
    const st = conn.state as ConnState;
    const link = this.link;
    if (link !== null && link.state === 'up' && st.epoch === link.epoch) {
      link.begin(P.CLOSE).u32(conn.id);
      link.end();
    }
  }

  /** The lock space's dump, from the master. */
  dump(timeoutMs = 10000): Promise<DlmDump> {
    const link = this.link;
    if (link === null || link.state !== 'up') {
      return Promise.reject(Object.assign(new Error(`the lock master (node ${this.master}) is not reachable`), { code: 'EHOSTUNREACH' }));
    }
    const id = this.nextDump++;
    link.begin(P.DUMP).u32(id);
    link.end();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.dumps.delete(id);
        reject(Object.assign(new Error(`the lock master (node ${this.master}) did not answer`), { code: 'ETIMEDOUT' }));
      }, timeoutMs);
      this.dumps.set(id, { resolve, reject, timer });
    });
  }

  /** No master: answer the request ourselves, at once. */
  private answerDown(conn: LocalConn, buf: Buffer, start: number, end: number): void {
    const op = buf[start];
    if (op < 1 || op > OP_MAX || end - start < 5) {
      conn.write(errorFrame(PROTO_ERR.MALFORMED, `malformed request (type ${op})`));
      return;
    }
    const w = this.w;
    encodeReply(w, op as Op, decodeRequestHead(this.reader.reset(buf, start, end)).reqId, DLM_ENOSYS, null);
    conn.write(w.take());
  }

  private onFrame(type: number, r: Reader, buf: Buffer, end: number): void {
    switch (type) {
      case P.BACK: {
        const id = r.u32();
        const conn = this.conns.get(id);
        if (!conn) return;
        // Only whole, well-formed frames reach the client.
        forEachFrame(buf, r.pos, end, MAX_CLIENT_FRAME, () => undefined);
        conn.write(buf.subarray(r.pos, end));
        return;
      }
      case P.KILL: {
        const id = r.u32();
        r.done();
        const conn = this.conns.get(id);
        if (!conn) return;
        if (sameProcessAlive(conn.cred.pid, conn.start)) {
          try {
            process.kill(conn.cred.pid, 'SIGKILL');
            this.log.info(`dlm: killed pid ${conn.cred.pid} at the request of master ${this.master}`);
          } catch (e) {
            this.log.warn(`dlm: cannot kill pid ${conn.cred.pid}: ${(e as Error).message}`);
          }
        }
        this.local?.drop(conn, 'killed by the lock master');
        return;
      }
      case P.DUMP_REPLY: {
        const id = r.u32();
        const n = r.u32();
        if (n !== r.remaining) throw new WireError('dump length mismatch');
        const text = buf.toString('utf8', r.pos, r.pos + n);
        const d = this.dumps.get(id);
        if (!d) return;
        this.dumps.delete(id);
        clearTimeout(d.timer);
        try { d.resolve(JSON.parse(text) as DlmDump); } catch (e) { d.reject(e as Error); }
        return;
      }
      default:
        throw new WireError(`unexpected message type ${type}`);
    }
  }

  private linkDown(link: PeerLink, reason: string): void {
    this.link = null;
    const msg = `lost the lock master (node ${this.master}): ${reason}; this node's locks are released`;
    let n = 0;
    for (const conn of this.conns.values()) {
      const st = conn.state as ConnState;
      if (st.epoch !== link.epoch) continue;
      st.epoch = 0;
      n++;
      const w = this.w;
      // The client fails what it sent up to lastReq: those answers went down with the link.
      encodeMessage(w, 'RESET', { reason: msg.slice(0, 1000), lastReq: st.lastReq });
      st.lastReq = 0;
      conn.write(w.take());
    }
    for (const [id, d] of this.dumps) {
      this.dumps.delete(id);
      clearTimeout(d.timer);
      d.reject(Object.assign(new Error(msg), { code: 'EHOSTUNREACH' }));
    }
    if (n) this.log.warn(`dlm: ${n} client${n === 1 ? '' : 's'} told that their locks are gone`);
  }
}
