// The client side of the control socket: one connection, requests matched to answers by id.
import * as net from 'net';
import { encode, LineDecoder, parseAnswer, RequestId } from './control-codec';
import { CodedError } from '../common/errors';

export interface RequestOptions {
  /** Milliseconds to wait for the answer (default 30 s; 0 = wait forever). */
  timeoutMs?: number;
}

/** Codes of failures to reach a daemon at all (as opposed to a daemon answering an error). */
export const UNREACHABLE = new Set(['ENODAEMON', 'ECONNREFUSED', 'ENOENT', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTSOCK']);

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout | null;
  cmd: string;
}

export class ControlClient {
  private nextId = 1;
  private pending = new Map<RequestId, Pending>();
  private closedErr: Error | null = null;

  private constructor(private readonly sock: net.Socket, readonly socketPath: string) {
    const decoder = new LineDecoder(
      (line) => {
        const a = parseAnswer(line);
        if (!a || a.id === null) {
          // An answer we cannot match: the daemon rejected something we sent as a whole.
          const err = a && !a.ok ? new CodedError(a.error.code, a.error.message) : new CodedError('EPROTO', `unexpected line from daemon: ${line.slice(0, 200)}`);
          this.failAll(err);
          return;
        }
        const p = this.pending.get(a.id);
        if (!p) return;
        this.pending.delete(a.id);
        if (p.timer) clearTimeout(p.timer);
        if (a.ok) p.resolve(a.result);
        else p.reject(new CodedError(a.error.code, a.error.message));
      },
      () => this.failAll(new CodedError('EMSGSIZE', 'answer line from daemon too long')),
    );
    sock.on('data', (c: Buffer) => decoder.push(c));
    sock.on('error', (e: NodeJS.ErrnoException) => {
      this.failAll(new CodedError(e.code ?? 'ECONNRESET', `control connection failed: ${e.message}`));
    });
    sock.on('close', () => this.failAll(new CodedError('ECONNRESET', 'the daemon closed the control connection')));
  }

  /** Connects to a daemon's control socket; rejects with code ENODAEMON when nobody listens. */
  static connect(socketPath: string, timeoutMs = 5000): Promise<ControlClient> {
    return new Promise((resolve, reject) => {
      const sock = net.createConnection({ path: socketPath });
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new CodedError('ETIMEDOUT', `no answer from control socket ${socketPath} within ${timeoutMs} ms`));
      }, timeoutMs);
      sock.once('connect', () => {
        clearTimeout(timer);
        sock.removeAllListeners('error');
        resolve(new ControlClient(sock, socketPath));
      });
      sock.once('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED') {
          reject(new CodedError('ENODAEMON', `no daemon listens on ${socketPath} (${e.code})`));
        } else {
          reject(new CodedError(e.code ?? 'ECONNREFUSED', `cannot connect to ${socketPath}: ${e.message}`));
        }
      });
    });
  }

  request<T = unknown>(cmd: string, args: Record<string, unknown> = {}, opts: RequestOptions = {}): Promise<T> {
    if (this.closedErr) return Promise.reject(this.closedErr);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timeoutMs = opts.timeoutMs ?? 30000;
      const timer = timeoutMs > 0 ? setTimeout(() => {
        this.pending.delete(id);
        reject(new CodedError('ETIMEDOUT', `the daemon did not answer '${cmd}' within ${Math.round(timeoutMs / 1000)} s`));
      }, timeoutMs) : null;
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer, cmd });
      try {
        this.sock.write(encode({ id, cmd, args }));
      } catch (e) {
        this.pending.delete(id);
        if (timer) clearTimeout(timer);
        reject(new CodedError('EINVAL', (e as Error).message));
      }
    });
  }

  close(): void {
    this.sock.end();
    this.sock.destroy();
    this.failAll(new CodedError('ECONNRESET', 'control connection closed'));
  }

  private failAll(err: Error): void {
    if (!this.closedErr) this.closedErr = err;
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      if (p.timer) clearTimeout(p.timer);
      p.reject(err);
    }
  }
}

/** One request on a fresh connection. */
export async function callDaemon<T = unknown>(socketPath: string, cmd: string, args: Record<string, unknown> = {},
  opts: RequestOptions & { connectTimeoutMs?: number } = {}): Promise<T> {
  const c = await ControlClient.connect(socketPath, opts.connectTimeoutMs ?? 5000);
  try {
    return await c.request<T>(cmd, args, opts);
  } finally {
    c.close();
  }
}
