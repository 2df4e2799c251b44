// The node's local endpoint: <run>/<node>/dlm.sock, a Unix stream socket any local user may
// connect to (mode 0666). Who a client is comes from SO_PEERCRED when it connects (pid, uid, gid)
// and /proc (start time, supplementary groups), never from its frames.
//
// A client process is gone when its connection closes, or when its pid no longer names the process
// that connected (checked every `pidCheckMs`: a connection inherited by a child outlives its
// parent). Either way the backend hears close() once, and the engine treats the owner as dead.
import * as fs from 'fs';
import * as net from 'net';
import { LogLimiter } from '../../common/log-limit';
import { peerCredOfSocket } from '../../native/sys';
import type { Credentials } from '../types';
import { FrameDecoder, MAX_CLIENT_FRAME, Writer } from './codec';
import { sameProcessAlive, startTime, supplementaryGroups } from './procfs';
import { PROTO_ERR, encodeMessage } from './protocol';

/** A connected local client. */
export class LocalConn {
  /** Set by the backend (its session or forwarding state). */
  state: unknown = null;
  closed = false;

  constructor(
    readonly id: number,
    readonly sock: net.Socket,
    readonly cred: Credentials,
    readonly start: string | null,
  ) {}

  get label(): string {
    return `pid ${this.cred.pid} (uid ${this.cred.uid}, gid ${this.cred.gid})`;
  }

  /** Writes bytes (complete frames) to the client; cuts a client that does not read. */
  write(buf: Uint8Array): void {
    if (this.closed || this.sock.destroyed) return;
    this.sock.write(buf);
    if (this.sock.writableLength > MAX_UNREAD) {
      this.sock.destroy();
    }
  }
}

/** Most bytes a client may leave unread before it is disconnected. */
const MAX_UNREAD = 16 * 1024 * 1024;

export interface LocalBackend {
  /** Around the frames of one read (output may be held until inputEnd). */
  inputBegin?(): void;
  inputEnd?(): void;
  open(conn: LocalConn): void;
  /** One complete frame from the client (a view, valid during the call). */
  frame(conn: LocalConn, buf: Buffer, start: number, end: number): void;
  /** The client is gone (connection closed, or its process died). Called once. */
  close(conn: LocalConn, reason: string): void;
}

export interface LocalServerLog {
  info(msg: string): void;
  warn(msg: string): void;
}

export class LocalServer {
  private server: net.Server | null = null;
  private readonly conns = new Set<LocalConn>();
  private nextId = 1;
  private pidTimer: NodeJS.Timeout | null = null;
  private closing = false;
  /** Bad input from local users is logged a few lines per uid and minute, not per frame or connection. */
  private readonly badInput = new LogLimiter();

  constructor(
    readonly socketPath: string,
    private readonly backend: LocalBackend,
    private readonly log: LocalServerLog,
    private readonly pidCheckMs = 1000,
  ) {}

  get connections(): number {
    return this.conns.size;
  }

  listen(): Promise<void> {
    try { fs.rmSync(this.socketPath, { force: true }); } catch { /* not there */ }
    return new Promise((resolve, reject) => {
      const server = net.createServer({ allowHalfOpen: false }, (sock) => this.accept(sock));
      server.on('error', (e) => {
        if (!this.server) reject(e);
        else this.log.warn(`dlm socket error: ${e.message}`);
      });
      server.listen(this.socketPath, () => {
        this.server = server;
        // Any local user may talk to the lock manager; who they are comes from the kernel.
        try { fs.chmodSync(this.socketPath, 0o666); } catch (e) { this.log.warn(`chmod ${this.socketPath}: ${(e as Error).message}`); }
        this.pidTimer = setInterval(() => this.checkPids(), this.pidCheckMs);
        this.pidTimer.unref();
        resolve();
      });
    });
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.pidTimer) clearInterval(this.pidTimer);
    const server = this.server;
    const closed = server ? new Promise<void>((r) => server.close(() => r())) : Promise.resolve();
    try { fs.rmSync(this.socketPath, { force: true }); } catch { /* gone */ }
    for (const c of [...this.conns]) this.drop(c, 'node stopping');
    await Promise.race([closed, new Promise((r) => setTimeout(r, 1000).unref())]);
  }

  /** Every connected client. */
  list(): LocalConn[] {
    return [...this.conns];
  }

  /** Disconnects a client (its process is then dead for the engine). */
  drop(c: LocalConn, reason: string): void {
    if (c.closed) return;
    c.closed = true;
    this.conns.delete(c);
    c.sock.destroy();
    try {
      this.backend.close(c, reason);
    } catch (e) {
      this.log.warn(`dlm: closing ${c.label} failed: ${(e as Error)?.stack ?? e}`);
    }
  }

  private accept(sock: net.Socket): void {
    if (this.closing) { sock.destroy(); return; }
    sock.setNoDelay?.(true);
    const pc = peerCredOfSocket(sock);
    if (typeof pc === 'number') {
      this.log.warn(`dlm: refused a connection without peer credentials (errno ${-pc})`);
      sock.destroy();
      return;
    }
    const start = startTime(pc.pid);
    const cred: Credentials = { pid: pc.pid, uid: pc.uid, gid: pc.gid, groups: supplementaryGroups(pc.pid) };
    const conn = new LocalConn(this.nextId++, sock, cred, start);
    this.conns.add(conn);
    const decoder = new FrameDecoder(
      MAX_CLIENT_FRAME,
      (buf, s, e) => {
        if (!conn.closed) this.backend.frame(conn, buf, s, e);
      },
      (len) => {
        this.badInput.warn(`uid ${cred.uid}`, `dlm: ${conn.label} sent a frame of ${len} bytes (max ${MAX_CLIENT_FRAME}); disconnected`, (m) => this.log.warn(m));
        conn.write(errorFrame(PROTO_ERR.TOO_BIG, `frame of ${len} bytes exceeds the maximum of ${MAX_CLIENT_FRAME}`));
        sock.end();
        setTimeout(() => this.drop(conn, 'oversized frame'), 100).unref();
      },
      (why) => conn.write(errorFrame(PROTO_ERR.MALFORMED, `malformed frame: ${why}`)),
    );
    const backend = this.backend;
    sock.on('data', (chunk: Buffer) => {
      backend.inputBegin?.();
      try {
        decoder.push(chunk);
      } catch (e) {
        // Nothing below is expected to throw; if it does, this client goes, the node stays.
        this.log.warn(`dlm: input from ${conn.label} failed: ${(e as Error)?.stack ?? e}`);
        this.drop(conn, 'internal error');
      } finally {
        backend.inputEnd?.();
      }
    });
    sock.on('error', () => { /* the client went away; 'close' follows */ });
    sock.on('close', () => this.drop(conn, 'connection closed'));
    try {
      this.backend.open(conn);
    } catch (e) {
      this.log.warn(`dlm: opening ${conn.label} failed: ${(e as Error)?.stack ?? e}`);
      this.drop(conn, 'internal error');
    }
  }

  private checkPids(): void {
    for (const c of [...this.conns]) {
      if (!sameProcessAlive(c.cred.pid, c.start)) this.drop(c, `process ${c.cred.pid} is gone`);
    }
  }
}

/** An ERROR message with no request id (a frame that could not be read at all). */
export function errorFrame(code: string, message: string): Buffer {
  const w = new Writer(128);
  encodeMessage(w, 'ERROR', { reqId: 0, code, message: message.slice(0, 512) });
  return w.take();
}
