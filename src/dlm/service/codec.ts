// The binary wire codec of the DLM service: length-prefixed frames and the primitive field
// encodings both protocols (client ↔ node on dlm.sock, node ↔ node over TCP) are built from.
// No I/O here: the client and the servers own their sockets and use this file to cut and build
// frames (the node-postgres split between the protocol codec and the connection).
//
// Frame:   u32 LE body length | body (u8 type, then the type's fields)
//
// Integers are little-endian. A frame whose length is 0 or above the connection's maximum is
// reported (FrameDecoder.onOversize / onMalformed) and never buffered; reading past the end of a
// frame's body throws WireError, which the servers turn into an error answer: malformed input never
// throws out of a socket handler and never reaches the engine half-decoded (a request is decoded
// completely before anything is done with it).

export const FRAME_HEADER = 4;
/** Default largest body on a client connection (requests and answers are all far smaller). */
export const MAX_CLIENT_FRAME = 64 * 1024;
/** Largest body between authenticated nodes (lock dumps travel there). */
export const MAX_PEER_FRAME = 32 * 1024 * 1024;
/** Largest string or byte field in a value (hints, transaction ids). */
export const MAX_VALUE_BYTES = 1024;

/** Bad input on the wire: truncated, out-of-range or inconsistent fields. */
export class WireError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WireError';
  }
}

/**
 * Cuts a byte stream into frames. Complete frames are handed to `onFrame(buf, start, end)` as a
 * view on the received bytes (valid during the call only): `buf[start]` is the type byte and
 * `end` is one past the body. A length of 0 is a malformed frame (skipped, the stream stays in
 * step); a length above `maxFrame` cannot be skipped safely (it may be garbage), so the decoder
 * stops and reports it: the owner closes the connection.
 */
export class FrameDecoder {
  private pending: Buffer | null = null;
  private stopped = false;

  constructor(
    /** May be raised later (a peer link after its handshake). */
    public maxFrame: number,
    private readonly onFrame: (buf: Buffer, start: number, end: number) => void,
    private readonly onOversize: (length: number) => void,
    private readonly onMalformed: (why: string) => void,
  ) {}

  get closed(): boolean {
    return this.stopped;
  }

  /** Bytes of an unfinished frame held. */
  get buffered(): number {
    return this.pending ? this.pending.length : 0;
  }

  stop(): void {
    this.stopped = true;
    this.pending = null;
  }

  push(chunk: Buffer): void {
    if (this.stopped) return;
    let buf = chunk;
    if (this.pending !== null) {
      buf = Buffer.concat([this.pending, chunk]);
      this.pending = null;
    }
    let pos = 0;
    const n = buf.length;
    while (!this.stopped) {
      if (n - pos < FRAME_HEADER) break;
      const len = buf.readUInt32LE(pos);
      if (len === 0) {
        pos += FRAME_HEADER;
        this.onMalformed('empty frame');
        continue;
      }
      if (len > this.maxFrame) {
        this.stopped = true;
        this.onOversize(len);
        return;
      }
      if (n - pos - FRAME_HEADER < len) break;
      const start = pos + FRAME_HEADER;
      pos = start + len;
      this.onFrame(buf, start, pos);
    }
    if (!this.stopped && pos < n) {
      // Keep the unfinished frame; copy it when it is a view on the caller's buffer.
      const rest = buf.subarray(pos);
      this.pending = buf === chunk ? Buffer.from(rest) : rest;
    }
  }
}

/**
 * Reads fields from one frame body, bounds-checked: every read past `end` throws WireError.
 * Reusable: reset() points it at the next frame (no allocation per frame).
 */
export class Reader {
  buf: Buffer = Buffer.alloc(0);
  pos = 0;
  end = 0;

  reset(buf: Buffer, start: number, end: number): this {
    this.buf = buf;
    this.pos = start;
    this.end = end;
    return this;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  private need(n: number): number {
    const p = this.pos;
    if (p + n > this.end) throw new WireError(`truncated frame: ${n} more bytes needed at offset ${p}, ${this.end - p} left`);
    this.pos = p + n;
    return p;
  }

  u8(): number {
    return this.buf[this.need(1)];
  }

  u16(): number {
    return this.buf.readUInt16LE(this.need(2));
  }

  u32(): number {
    return this.buf.readUInt32LE(this.need(4));
  }

  i32(): number {
    return this.buf.readInt32LE(this.need(4));
  }

  f64(): number {
    return this.buf.readDoubleLE(this.need(8));
  }

  /** `n` bytes copied out (the frame's buffer is reused). */
  bytes(n: number): Uint8Array {
    const p = this.need(n);
    return Uint8Array.prototype.slice.call(this.buf, p, p + n);
  }

  /** Copies `n` bytes into `dst` (no allocation). */
  bytesInto(dst: Uint8Array, n: number): void {
    const p = this.need(n);
    this.buf.copy(dst, 0, p, p + n);
  }

  /** A byte string with a u8 length. */
  short(): Uint8Array {
    return this.bytes(this.u8());
  }

  /** UTF-8 text with a u16 length. */
  str(max = MAX_VALUE_BYTES): string {
    const n = this.u16();
    if (n > max) throw new WireError(`string field of ${n} bytes (max ${max})`);
    const p = this.need(n);
    return this.buf.toString('utf8', p, p + n);
  }

  /** Throws unless the whole body was read (trailing bytes are a malformed frame too). */
  done(): void {
    if (this.pos !== this.end) throw new WireError(`${this.end - this.pos} unexpected trailing bytes`);
  }
}

/**
 * Builds frames into a growing buffer. A connection keeps one Writer; answers are appended as they
 * are produced and taken out in one piece when the connection flushes (one write per batch).
 */
export class Writer {
  buf: Buffer;
  pos = 0;
  private frameStart = -1;

  constructor(initial = 4096) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  get length(): number {
    return this.pos;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const b = Buffer.allocUnsafe(size);
    this.buf.copy(b, 0, 0, this.pos);
    this.buf = b;
  }

  /** Starts a frame of `type`; finish it with end(). */
  begin(type: number): this {
    if (this.frameStart >= 0) throw new Error('Writer.begin: previous frame not ended');
    this.ensure(5);
    this.frameStart = this.pos;
    this.buf[this.pos + 4] = type;
    this.pos += 5;
    return this;
  }

  /** Ends the frame: writes its length. Throws RangeError past `maxFrame` (the frame is dropped). */
  end(maxFrame = MAX_PEER_FRAME): void {
    const start = this.frameStart;
    if (start < 0) throw new Error('Writer.end without begin');
    this.frameStart = -1;
    const len = this.pos - start - FRAME_HEADER;
    if (len > maxFrame) {
      this.pos = start;
      throw new RangeError(`frame of ${len} bytes exceeds the maximum of ${maxFrame}`);
    }
    this.buf.writeUInt32LE(len, start);
  }

  /** Drops a frame begun but not ended (an encoding error half-way). */
  abort(): void {
    if (this.frameStart >= 0) {
      this.pos = this.frameStart;
      this.frameStart = -1;
    }
  }

  u8(v: number): this {
    this.ensure(1);
    this.buf[this.pos++] = v;
    return this;
  }

  u16(v: number): this {
    this.ensure(2);
    this.buf.writeUInt16LE(v, this.pos);
    this.pos += 2;
    return this;
  }

  u32(v: number): this {
    this.ensure(4);
    this.buf.writeUInt32LE(v >>> 0, this.pos);
    this.pos += 4;
    return this;
  }

  i32(v: number): this {
    this.ensure(4);
    this.buf.writeInt32LE(v | 0, this.pos);
    this.pos += 4;
    return this;
  }

  f64(v: number): this {
    this.ensure(8);
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
    return this;
  }

  bytes(b: Uint8Array, n = b.length): this {
    this.ensure(n);
    if (b.length >= n) {
      this.buf.set(n === b.length ? b : b.subarray(0, n), this.pos);
    } else {
      this.buf.set(b, this.pos);
      this.buf.fill(0, this.pos + b.length, this.pos + n);
    }
    this.pos += n;
    return this;
  }

  /** A byte string with a u8 length (at most 255 bytes). */
  short(b: Uint8Array): this {
    if (b.length > 255) throw new RangeError('short byte string over 255 bytes');
    return this.u8(b.length).bytes(b);
  }

  /** A Latin-1 key (resource name bytes kept as a binary string) with a u8 length. */
  latin1Short(s: string): this {
    const n = s.length;
    if (n > 255) throw new RangeError('short byte string over 255 bytes');
    this.ensure(1 + n);
    this.buf[this.pos++] = n;
    this.buf.write(s, this.pos, n, 'latin1');
    this.pos += n;
    return this;
  }

  /** UTF-8 text with a u16 length. */
  str(s: string, max = MAX_VALUE_BYTES): this {
    const n = Buffer.byteLength(s, 'utf8');
    if (n > max) throw new RangeError(`string of ${n} bytes (max ${max})`);
    this.ensure(2 + n);
    this.buf.writeUInt16LE(n, this.pos);
    this.buf.write(s, this.pos + 2, n, 'utf8');
    this.pos += 2 + n;
    return this;
  }

  /** Appends bytes already framed elsewhere (forwarding). */
  raw(b: Uint8Array, start = 0, end = b.length): this {
    const n = end - start;
    this.ensure(n);
    this.buf.set(b.subarray(start, end), this.pos);
    this.pos += n;
    return this;
  }

  /** Everything written so far, as a fresh buffer (safe to hand to socket.write); resets. */
  take(): Buffer {
    if (this.frameStart >= 0) throw new Error('Writer.take inside a frame');
    const out = Buffer.allocUnsafe(this.pos);
    this.buf.copy(out, 0, 0, this.pos);
    this.pos = 0;
    if (this.buf.length > 1 << 20) this.buf = Buffer.allocUnsafe(4096);
    return out;
  }
}

// ---- values: hints and transaction ids cross process and node boundaries -------------------------

const V_UNDEFINED = 0;
const V_NULL = 1;
const V_FALSE = 2;
const V_TRUE = 3;
const V_NUMBER = 4;
const V_STRING = 5;
const V_BYTES = 6;
const V_BIGINT = 7;

/** What a hint or a transaction id may be on the wire. */
export type WireValue = undefined | null | boolean | number | string | Uint8Array | bigint;

export function isWireValue(v: unknown): v is WireValue {
  switch (typeof v) {
    case 'undefined': case 'boolean': case 'number': case 'bigint':
      return true;
    case 'string':
      return Buffer.byteLength(v, 'utf8') <= MAX_VALUE_BYTES;
    case 'object':
      return v === null || (v instanceof Uint8Array && v.length <= MAX_VALUE_BYTES);
    default:
      return false;
  }
}

export function writeValue(w: Writer, v: WireValue): void {
  if (v === undefined) w.u8(V_UNDEFINED);
  else if (v === null) w.u8(V_NULL);
  else if (v === false) w.u8(V_FALSE);
  else if (v === true) w.u8(V_TRUE);
  else if (typeof v === 'number') w.u8(V_NUMBER).f64(v);
  else if (typeof v === 'string') w.u8(V_STRING).str(v);
  else if (typeof v === 'bigint') w.u8(V_BIGINT).str(v.toString());
  else if (v instanceof Uint8Array) {
    if (v.length > MAX_VALUE_BYTES) throw new RangeError(`value of ${v.length} bytes (max ${MAX_VALUE_BYTES})`);
    w.u8(V_BYTES).u16(v.length).bytes(v);
  } else throw new TypeError('not a wire value');
}

export function readValue(r: Reader): WireValue {
  const tag = r.u8();
  switch (tag) {
    case V_UNDEFINED: return undefined;
    case V_NULL: return null;
    case V_FALSE: return false;
    case V_TRUE: return true;
    case V_NUMBER: return r.f64();
    case V_STRING: return r.str();
    case V_BYTES: {
      const n = r.u16();
      if (n > MAX_VALUE_BYTES) throw new WireError(`byte value of ${n} bytes (max ${MAX_VALUE_BYTES})`);
      return r.bytes(n);
    }
    case V_BIGINT: {
      const s = r.str(64);
      if (!/^-?\d{1,60}$/.test(s)) throw new WireError('malformed bigint value');
      return BigInt(s);
    }
    default:
      throw new WireError(`unknown value tag ${tag}`);
  }
}

/**
 * Calls `fn` for each complete frame packed in buf[start, end) (frames carried inside another
 * frame). Throws WireError, before calling anything, unless the region is exactly a sequence of
 * well-formed frames of at most `maxFrame` bytes.
 */
export function forEachFrame(buf: Buffer, start: number, end: number, maxFrame: number, fn: (buf: Buffer, start: number, end: number) => void): void {
  let pos = start;
  while (pos < end) {
    if (end - pos < FRAME_HEADER) throw new WireError('truncated inner frame header');
    const len = buf.readUInt32LE(pos);
    if (len === 0 || len > maxFrame || end - pos - FRAME_HEADER < len) throw new WireError(`bad inner frame length ${len}`);
    pos += FRAME_HEADER + len;
  }
  pos = start;
  while (pos < end) {
    const len = buf.readUInt32LE(pos);
    const s = pos + FRAME_HEADER;
    pos = s + len;
    fn(buf, s, pos);
  }
}
