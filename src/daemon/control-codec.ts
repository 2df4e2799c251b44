// The control protocol's wire format: JSON lines over a Unix stream socket.
//
//   request:  {"id": 1, "cmd": "mount", "args": {...}}\n
//   answer:   {"id": 1, "ok": true, "result": ...}\n
//          or {"id": 1, "ok": false, "error": {"code": "ENOENT", "message": "..."}}\n
//
// A line is at most MAX_LINE bytes. Malformed input (bad JSON, wrong shape, an over-long line)
// gives an error answer (id null when the id could not be read) and never throws out of the codec.
import { oneLine } from '../common/errors';

export const MAX_LINE = 1024 * 1024;

export type RequestId = string | number;

export interface Request {
  id: RequestId;
  cmd: string;
  args: Record<string, unknown>;
}

export interface ErrorBody { code: string; message: string }

export type Answer =
  | { id: RequestId | null; ok: true; result: unknown }
  | { id: RequestId | null; ok: false; error: ErrorBody };

/** Protocol error codes of the codec itself. */
export const PROTO = {
  /** The line is not JSON, or not a request/answer object. */
  MALFORMED: 'EPROTO',
  /** The line is longer than MAX_LINE. */
  TOO_LONG: 'EMSGSIZE',
  /** The request is well-formed JSON but its fields are wrong. */
  INVALID: 'EINVAL',
} as const;

/**
 * Splits a byte stream into lines. Lines longer than `maxLine` bytes are dropped whole (up to
 * and including their newline) and reported through `onOversize` once each. Empty lines and a
 * trailing '\r' are ignored.
 */
export class LineDecoder {
  private parts: Buffer[] = [];
  private size = 0;
  private discarding = false;

  constructor(
    private readonly onLine: (line: string) => void,
    private readonly onOversize: () => void,
    private readonly maxLine: number = MAX_LINE,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(0x0a, start);
      const end = nl < 0 ? chunk.length : nl;
      if (!this.discarding) {
        const piece = chunk.subarray(start, end);
        if (this.size + piece.length > this.maxLine) {
          this.parts = [];
          this.size = 0;
          this.discarding = true;
          this.onOversize();
        } else if (piece.length) {
          this.parts.push(piece);
          this.size += piece.length;
        }
      }
      if (nl < 0) {
        // Keep an unfinished line; copy it so the caller's buffer can be reused.
        if (!this.discarding && this.parts.length) {
          const last = this.parts.length - 1;
          if (this.parts[last].buffer === chunk.buffer) this.parts[last] = Buffer.from(this.parts[last]);
        }
        return;
      }
      if (this.discarding) {
        this.discarding = false;
      } else {
        const line = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.size);
        this.parts = [];
        this.size = 0;
        let text = line.toString('utf8');
        if (text.endsWith('\r')) text = text.slice(0, -1);
        if (text.trim().length) this.onLine(text);
      }
      start = nl + 1;
    }
  }

  /** Bytes of an unfinished line held. */
  get pending(): number { return this.size; }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isId(v: unknown): v is RequestId {
  return (typeof v === 'string' && v.length <= 256) || (typeof v === 'number' && Number.isFinite(v));
}

export function errorAnswer(id: RequestId | null, code: string, message: string): Answer {
  return { id, ok: false, error: { code, message: oneLine(message) } };
}

/** Parses one request line; on bad input returns the error answer to send back. */
export function parseRequest(line: string): { request: Request } | { error: Answer } {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch (e) {
    return { error: errorAnswer(null, PROTO.MALFORMED, `malformed request: not JSON (${(e as Error).message})`) };
  }
  if (!isPlainObject(v)) return { error: errorAnswer(null, PROTO.MALFORMED, 'malformed request: not a JSON object') };
  const id = isId(v.id) ? v.id : null;
  if (id === null) return { error: errorAnswer(null, PROTO.INVALID, 'invalid request: "id" must be a string or a number') };
  if (typeof v.cmd !== 'string' || !v.cmd.length) {
    return { error: errorAnswer(id, PROTO.INVALID, 'invalid request: "cmd" must be a non-empty string') };
  }
  let args: Record<string, unknown> = {};
  if (v.args !== undefined && v.args !== null) {
    if (!isPlainObject(v.args)) return { error: errorAnswer(id, PROTO.INVALID, 'invalid request: "args" must be an object') };
    args = v.args;
  }
  return { request: { id, cmd: v.cmd, args } };
}

/** Parses one answer line (client side); returns null for anything that is not an answer. */
export function parseAnswer(line: string): Answer | null {
  let v: unknown;
  try { v = JSON.parse(line); } catch { return null; }
  if (!isPlainObject(v)) return null;
  const id = isId(v.id) ? v.id : v.id === null ? null : undefined;
  if (id === undefined) return null;
  if (v.ok === true) return { id, ok: true, result: v.result };
  if (v.ok === false && isPlainObject(v.error)) {
    const code = typeof v.error.code === 'string' ? v.error.code : 'EINTERNAL';
    const message = typeof v.error.message === 'string' ? v.error.message : 'unknown error';
    return { id, ok: false, error: { code, message } };
  }
  return null;
}

/** Encodes a message as one line; an answer too large for the wire becomes an error answer. */
export function encode(msg: Request | Answer): string {
  let s: string;
  try {
    s = JSON.stringify(msg);
  } catch (e) {
    s = JSON.stringify(errorAnswer((msg as { id: RequestId | null }).id ?? null, 'EINTERNAL',
      `cannot encode message: ${(e as Error).message}`));
  }
  if (Buffer.byteLength(s) > MAX_LINE) {
    if ('cmd' in msg) throw new RangeError(`request too large (${Buffer.byteLength(s)} > ${MAX_LINE} bytes)`);
    s = JSON.stringify(errorAnswer(msg.id, PROTO.TOO_LONG, `answer too large (over ${MAX_LINE} bytes)`));
  }
  return s + '\n';
}
