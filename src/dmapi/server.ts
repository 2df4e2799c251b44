// The DMAPI socket server: <run>/<node>/dmapi.sock (mode 0666), one connection per client
// process, requests answered as they complete (a waiting dm_get_events does not hold up the
// others on the same connection). The caller's identity comes from SO_PEERCRED only: uid 0 or
// EPERM for every call. Bad frames: an unknown opcode → ENOSYS, an undecodable body → EPROTO, a
// bad length → the connection is closed (a byte stream cannot be resynchronised); nothing a peer
// sends can throw out of here.
import * as fs from 'fs';
import * as net from 'net';
import * as sys from '../native/sys';
import type { Logger } from '../common/log';
import { LogLimiter } from '../common/log-limit';
import { DmError, E } from './constants';
import { callContext } from './core';
import type { CallCtx, Handlers } from './core';
import {
  decodeFields, encodeFrame, FLAG_REPLY, Frame, FrameDecoder, HEADER_SIZE, OP_BY_CODE, OPS, ProtocolError, REASON_FIELD,
} from './protocol/codec';
import { frameWriter } from './protocol/writer';

export class DmapiServer {
  private server: net.Server | null = null;
  private readonly conns = new Set<net.Socket>();
  calls = 0;

  /** Bad input from local users is logged a few lines per uid and minute, not per frame or connection. */
  private readonly badInput = new LogLimiter();

  constructor(private readonly socketPath: string, private readonly handlers: Handlers, private readonly log: Logger) {}

  async listen(): Promise<void> {
    fs.rmSync(this.socketPath, { force: true });
    const server = net.createServer((sock) => this.accept(sock));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.socketPath, () => { server.off('error', reject); resolve(); });
    });
    fs.chmodSync(this.socketPath, 0o666);
    this.server = server;
  }

  get connections(): number {
    return this.conns.size;
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = null;
    for (const c of this.conns) c.destroy();
    if (s) await new Promise<void>((r) => s.close(() => r()));
    try { fs.rmSync(this.socketPath, { force: true }); } catch { /* gone */ }
  }

  private accept(sock: net.Socket): void {
    this.conns.add(sock);
    const cred = sys.peerCredOfSocket(sock);
    const root = typeof cred !== 'number' && cred.uid === 0;
    let isClosed = false;
    const onClose = new Set<() => void>();
    const ctx: CallCtx = {
      pid: typeof cred === 'number' ? -1 : cred.pid,
      uid: typeof cred === 'number' ? -1 : cred.uid,
      gid: typeof cred === 'number' ? -1 : cred.gid,
      onClose: (fn) => {
        onClose.add(fn);
        return () => { onClose.delete(fn); };
      },
      isClosed: () => isClosed,
    };
    const decoder = new FrameDecoder();
    const send = frameWriter(sock);
    sock.on('data', (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = decoder.push(chunk);
      } catch (e) {
        this.badInput.warn(`uid ${ctx.uid}`, `dmapi: closing connection of pid ${ctx.pid} (uid ${ctx.uid}): ${(e as Error).message}`, (m) => this.log.warn(m));
        sock.destroy();
        return;
      }
      for (const f of frames) this.handle(f, ctx, root, send);
    });
    sock.on('error', () => undefined);
    sock.on('close', () => {
      isClosed = true;
      this.conns.delete(sock);
      for (const fn of [...onClose]) fn();
      onClose.clear();
    });
  }

  private handle(f: Frame, ctx: CallCtx, root: boolean, send: (b: Buffer) => void): void {
    this.calls++;
    const name = OP_BY_CODE.get(f.opcode);
    const errOnly = (errno: number) => send(encodeFrame(f.id, f.opcode, FLAG_REPLY, [], {}, errno));
    if (!name) return errOnly(E.ENOSYS);
    const spec = OPS[name];
    const reply = (errno: number, fields: Record<string, unknown>, reason?: string) => {
      try {
        send(reason
          ? encodeFrame(f.id, f.opcode, FLAG_REPLY, [...spec.rep, REASON_FIELD], { ...fields, reason: Buffer.from(reason) }, errno)
          : encodeFrame(f.id, f.opcode, FLAG_REPLY, spec.rep, fields, errno));
      } catch (e) {
        // A reply too large for a frame (cannot happen with the size checks; never crash on it).
        this.log.error(`dmapi: ${name}: cannot encode the reply: ${(e as Error).message}`);
        errOnly(E.EMSGSIZE);
      }
    };
    if (!root) return reply(E.EPERM, {}, 'only root may use the DMAPI');
    if (f.flags !== 0) return errOnly(E.EPROTO);
    let args;
    try {
      args = decodeFields(f.raw, HEADER_SIZE, spec.req);
    } catch (e) {
      if (e instanceof ProtocolError) return errOnly(E.EPROTO);
      throw e;
    }
    const h = this.handlers[name];
    if (!h) return reply(E.ENOSYS, {}, `${name.toLowerCase()} is not implemented`);
    const onError = (e: unknown) => {
      // The reason travels with the errno (the TypeScript client shows it; C callers get the errno).
      if (e instanceof DmError) return reply(e.errno, e.fields ?? {}, e.message);
      this.log.error(`dmapi: ${name} failed: ${(e as Error)?.stack ?? e}`);
      reply(E.ESTALE, {}, `internal error in the node daemon (see its daemon.log): ${(e as Error)?.message ?? e}`);
    };
    try {
      const r = callContext.run(ctx, () => h(args, ctx));
      if (r instanceof Promise) r.then((v) => reply(0, v), onError);
      else reply(0, r);
    } catch (e) {
      onError(e);
    }
  }
}
