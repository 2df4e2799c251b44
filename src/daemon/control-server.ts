// The daemon side of the control socket: accepts connections, decodes request lines, hands each
// request to `dispatch` and writes its answer. Requests on one connection run concurrently (a slow
// mount does not hold up a ping); a failing handler becomes an error answer, never a crash.
import * as fs from 'fs';
import * as net from 'net';
import { encode, errorAnswer, LineDecoder, MAX_LINE, parseRequest, PROTO, Request, Answer } from './control-codec';
import { errorBody } from '../common/errors';

export type Dispatch = (req: Request) => Promise<unknown>;

/** Most requests one connection may have in flight. */
const MAX_IN_FLIGHT = 64;

export interface ServerLog {
  info(msg: string): void;
  warn(msg: string): void;
}

export class ControlServer {
  private server: net.Server | null = null;
  private conns = new Set<net.Socket>();
  private closing = false;

  constructor(readonly socketPath: string, private readonly dispatch: Dispatch, private readonly log: ServerLog) {}

  /** Listens on the socket path (mode 0600). A stale socket file must have been removed first. */
  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const server = net.createServer({ allowHalfOpen: false }, (sock) => this.onConnection(sock));
      server.on('error', (e) => {
        if (!this.server) reject(e);
        else this.log.warn(`control socket error: ${e.message}`);
      });
      // bind() happens inside listen(): make the socket file 0600 from its creation on.
      const old = process.umask(0o177);
      try {
        server.listen(this.socketPath, () => {
          this.server = server;
          try { fs.chmodSync(this.socketPath, 0o600); } catch { /* the umask already made it 0600 */ }
          resolve();
        });
      } finally {
        process.umask(old);
      }
    });
  }

  /** Stops accepting connections; `drainMs` later drops the remaining ones. Removes the socket file. */
  async close(drainMs = 0): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const server = this.server;
    const closed = server ? new Promise<void>((r) => server.close(() => r())) : Promise.resolve();
    try { fs.unlinkSync(this.socketPath); } catch { /* already gone */ }
    if (drainMs > 0 && this.conns.size) await new Promise((r) => setTimeout(r, drainMs).unref());
    for (const c of this.conns) c.end();
    setTimeout(() => { for (const c of this.conns) c.destroy(); }, 200).unref();
    await Promise.race([closed, new Promise((r) => setTimeout(r, 1000).unref())]);
  }

  get connections(): number { return this.conns.size; }

  private onConnection(sock: net.Socket): void {
    if (this.closing) { sock.destroy(); return; }
    this.conns.add(sock);
    let inFlight = 0;
    const send = (a: Answer) => {
      if (!sock.destroyed && sock.writable) sock.write(encode(a));
    };
    const decoder = new LineDecoder(
      (line) => {
        const parsed = parseRequest(line);
        if ('error' in parsed) { send(parsed.error); return; }
        const req = parsed.request;
        if (inFlight >= MAX_IN_FLIGHT) {
          send(errorAnswer(req.id, 'EAGAIN', `too many requests in flight on this connection (max ${MAX_IN_FLIGHT})`));
          return;
        }
        inFlight++;
        let p: Promise<unknown>;
        try { p = Promise.resolve(this.dispatch(req)); } catch (e) { p = Promise.reject(e); }
        p.then(
          (result) => send({ id: req.id, ok: true, result: result === undefined ? null : result }),
          (e) => {
            const body = errorBody(e);
            if (body.code === 'EINTERNAL') this.log.warn(`request ${req.cmd} failed: ${(e as Error)?.stack ?? body.message}`);
            send({ id: req.id, ok: false, error: body });
          },
        ).finally(() => { inFlight--; });
      },
      () => send(errorAnswer(null, PROTO.TOO_LONG, `request line too long (max ${MAX_LINE} bytes)`)),
    );
    sock.on('data', (chunk: Buffer) => {
      try { decoder.push(chunk); } catch (e) { this.log.warn(`control decoder: ${(e as Error).message}`); sock.destroy(); }
    });
    sock.on('error', () => { /* the peer went away; nothing to answer */ });
    sock.on('close', () => { this.conns.delete(sock); });
  }
}
