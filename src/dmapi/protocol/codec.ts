// The DMAPI wire codec: length-prefixed binary frames on the node's dmapi.sock, kept apart from the
// server and the client so that the C library (native/libdm) can be written from docs/dmapi-protocol.md.
//
// Frame (all integers little-endian):
//   u32 length      bytes that follow this field (header rest + body), 8 ≤ length ≤ MAX_FRAME - 4
//   u32 id          request id, echoed in the reply (the client picks it; replies may come out of order)
//   u16 opcode      see OPS
//   u16 flags       0 in requests, FLAG_REPLY in replies
//   body            request: the opcode's request fields in order
//                   reply:   i32 errno (0 = success) then the opcode's reply fields in order; on an
//                            error the fields are still present (zero/empty) and carry the sizes
//                            E2BIG reports (rlen, nelem), followed by one more bytes field, the
//                            daemon's reason (UTF-8, one line; readers that stop after the
//                            opcode's fields never see it); a reply to an unknown opcode or to a
//                            malformed request carries the errno only.
// Field types: i32, u32 (4 bytes), i64, u64 (8 bytes), bytes (u32 length + that many bytes).
//
// Malformed input never throws out of the decoder: FrameDecoder reports oversize/short lengths as a
// protocol error (the server then closes the connection: a stream cannot be resynchronised), and
// decodeFields reports truncated or trailing bytes (the server answers EPROTO and goes on).

export const FLAG_REPLY = 0x1;
export const HEADER_SIZE = 12;
/** Largest frame including its length field: 4 MiB (read_invis / write_invis move ≤ MAX_IO per call). */
export const MAX_FRAME = 4 * 1024 * 1024;
/** Largest data a single read_invis / write_invis moves (the client splits larger writes). */
export const MAX_IO = 1024 * 1024;

export type FieldType = 'i32' | 'u32' | 'i64' | 'u64' | 'bytes';
export type FieldSpec = readonly (readonly [string, FieldType])[];
export type FieldValue = number | bigint | Buffer;

export interface OpSpec {
  readonly code: number;
  readonly req: FieldSpec;
  readonly rep: FieldSpec;
}

const H = ['handle', 'bytes'] as const;
const SID = ['sid', 'i32'] as const;
const TOK = ['token', 'i32'] as const;
const HT = [SID, H, TOK] as const;

/** Every operation: name → opcode and field layouts (docs/dmapi-protocol.md is generated from the same facts). */
export const OPS = {
  // ---- service and sessions
  INIT_SERVICE: { code: 1, req: [], rep: [['version', 'bytes']] },
  CREATE_SESSION: { code: 2, req: [['oldsid', 'i32'], ['info', 'bytes']], rep: [['sid', 'i32']] },
  DESTROY_SESSION: { code: 3, req: [SID], rep: [] },
  QUERY_SESSION: { code: 4, req: [SID, ['buflen', 'u64']], rep: [['rlen', 'u64'], ['info', 'bytes']] },
  GETALL_SESSIONS: { code: 5, req: [['nelem', 'u32']], rep: [['nelem', 'u32'], ['sids', 'bytes']] },
  // ---- events
  GET_EVENTS: { code: 10, req: [SID, ['maxmsgs', 'u32'], ['flags', 'u32'], ['buflen', 'u64']], rep: [['rlen', 'u64'], ['buf', 'bytes']] },
  RESPOND_EVENT: { code: 11, req: [SID, TOK, ['response', 'i32'], ['reterror', 'i32'], ['respbuf', 'bytes']], rep: [] },
  FIND_EVENTMSG: { code: 12, req: [SID, TOK, ['buflen', 'u64']], rep: [['rlen', 'u64'], ['buf', 'bytes']] },
  GETALL_TOKENS: { code: 13, req: [SID, ['nelem', 'u32']], rep: [['nelem', 'u32'], ['tokens', 'bytes']] },
  MOVE_EVENT: { code: 14, req: [['srcsid', 'i32'], TOK, ['targetsid', 'i32']], rep: [['token', 'i32']] },
  PENDING: { code: 15, req: [SID, TOK, ['delay_sec', 'i64'], ['delay_nsec', 'i32']], rep: [] },
  CREATE_USEREVENT: { code: 16, req: [SID, ['msg', 'bytes']], rep: [['token', 'i32']] },
  SEND_MSG: { code: 17, req: [SID, ['msgtype', 'i32'], ['msg', 'bytes']], rep: [] },
  // ---- dispositions, event lists, config
  SET_DISP: { code: 20, req: [...HT, ['eventset', 'u64'], ['maxevent', 'u32']], rep: [] },
  GETALL_DISP: { code: 21, req: [SID, ['buflen', 'u64']], rep: [['rlen', 'u64'], ['buf', 'bytes']] },
  SET_EVENTLIST: { code: 22, req: [...HT, ['eventset', 'u64'], ['maxevent', 'u32']], rep: [] },
  GET_EVENTLIST: { code: 23, req: [...HT, ['nelem', 'u32']], rep: [['nelem', 'u32'], ['eventset', 'u64']] },
  GET_CONFIG_EVENTS: { code: 24, req: [H, ['nelem', 'u32']], rep: [['nelem', 'u32'], ['eventset', 'u64']] },
  GET_CONFIG: { code: 25, req: [H, ['flagname', 'u32']], rep: [['value', 'u64']] },
  GET_MOUNTINFO: { code: 26, req: [...HT, ['buflen', 'u64']], rep: [['rlen', 'u64'], ['buf', 'bytes']] },
  // ---- handles (the client resolves the path itself: see docs)
  PATH_TO_HANDLE: { code: 30, req: [['dev', 'u64'], ['ino', 'u64'], ['path', 'bytes']], rep: [H] },
  PATH_TO_FSHANDLE: { code: 31, req: [['dev', 'u64'], ['ino', 'u64'], ['path', 'bytes']], rep: [H] },
  FD_TO_HANDLE: { code: 32, req: [['dev', 'u64'], ['ino', 'u64'], ['path', 'bytes']], rep: [H] },
  HANDLE_TO_PATH: { code: 33, req: [['dirhandle', 'bytes'], ['targhandle', 'bytes'], ['buflen', 'u64']], rep: [['rlen', 'u64'], ['path', 'bytes']] },
  // ---- rights and references
  REQUEST_RIGHT: { code: 40, req: [...HT, ['flags', 'u32'], ['right', 'i32']], rep: [] },
  RELEASE_RIGHT: { code: 41, req: [...HT], rep: [] },
  UPGRADE_RIGHT: { code: 42, req: [...HT], rep: [] },
  DOWNGRADE_RIGHT: { code: 43, req: [...HT], rep: [] },
  QUERY_RIGHT: { code: 44, req: [...HT], rep: [['right', 'i32']] },
  OBJ_REF_HOLD: { code: 45, req: [...HT], rep: [] },
  OBJ_REF_RELE: { code: 46, req: [...HT], rep: [] },
  OBJ_REF_QUERY: { code: 47, req: [...HT], rep: [['held', 'i32']] },
  // ---- managed regions
  SET_REGION: { code: 50, req: [...HT, ['regions', 'bytes']], rep: [['exact', 'i32']] },
  GET_REGION: { code: 51, req: [...HT, ['nelem', 'u32']], rep: [['nelem', 'u32'], ['regions', 'bytes']] },
  // ---- DM attributes
  SET_DMATTR: { code: 60, req: [...HT, ['name', 'bytes'], ['setdtime', 'i32'], ['value', 'bytes']], rep: [] },
  GET_DMATTR: { code: 61, req: [...HT, ['name', 'bytes'], ['buflen', 'u64']], rep: [['rlen', 'u64'], ['value', 'bytes']] },
  REMOVE_DMATTR: { code: 62, req: [...HT, ['setdtime', 'i32'], ['name', 'bytes']], rep: [] },
  GETALL_DMATTR: { code: 63, req: [...HT, ['buflen', 'u64']], rep: [['rlen', 'u64'], ['buf', 'bytes']] },
  SET_RETURN_ON_DESTROY: { code: 64, req: [...HT, ['name', 'bytes'], ['enable', 'i32']], rep: [] },
  SET_INHERIT: { code: 65, req: [...HT, ['name', 'bytes'], ['mode', 'u32']], rep: [] },
  CLEAR_INHERIT: { code: 66, req: [...HT, ['name', 'bytes']], rep: [] },
  GETALL_INHERIT: { code: 67, req: [...HT, ['nelem', 'u32']], rep: [['nelem', 'u32'], ['buf', 'bytes']] },
  // ---- file attributes and scans
  GET_FILEATTR: { code: 70, req: [...HT, ['mask', 'u32']], rep: [['stat', 'bytes']] },
  SET_FILEATTR: {
    code: 71,
    req: [...HT, ['mask', 'u32'], ['mode', 'u32'], ['uid', 'u32'], ['gid', 'u32'], ['atime', 'i64'], ['mtime', 'i64'],
      ['ctime', 'i64'], ['dtime', 'i64'], ['size', 'i64']],
    rep: [],
  },
  INIT_ATTRLOC: { code: 72, req: [...HT], rep: [['loc', 'i64']] },
  GET_DIRATTRS: { code: 73, req: [...HT, ['mask', 'u32'], ['loc', 'i64'], ['buflen', 'u64']], rep: [['more', 'i32'], ['loc', 'i64'], ['rlen', 'u64'], ['buf', 'bytes']] },
  GET_BULKATTR: { code: 74, req: [...HT, ['mask', 'u32'], ['loc', 'i64'], ['buflen', 'u64']], rep: [['more', 'i32'], ['loc', 'i64'], ['rlen', 'u64'], ['buf', 'bytes']] },
  GET_BULKALL: { code: 75, req: [...HT, ['mask', 'u32'], ['name', 'bytes'], ['loc', 'i64'], ['buflen', 'u64']], rep: [['more', 'i32'], ['loc', 'i64'], ['rlen', 'u64'], ['buf', 'bytes']] },
  // ---- data
  READ_INVIS: { code: 80, req: [...HT, ['off', 'i64'], ['len', 'u64']], rep: [['data', 'bytes']] },
  WRITE_INVIS: { code: 81, req: [...HT, ['flags', 'u32'], ['off', 'i64'], ['data', 'bytes']], rep: [['written', 'i64']] },
  PROBE_HOLE: { code: 82, req: [...HT, ['off', 'i64'], ['len', 'u64']], rep: [['roff', 'i64'], ['rlen', 'u64']] },
  PUNCH_HOLE: { code: 83, req: [...HT, ['off', 'i64'], ['len', 'u64']], rep: [] },
  GET_ALLOCINFO: { code: 84, req: [...HT, ['off', 'i64'], ['nelem', 'u32']], rep: [['more', 'i32'], ['off', 'i64'], ['nelem', 'u32'], ['extents', 'bytes']] },
  SYNC_BY_HANDLE: { code: 85, req: [...HT], rep: [] },
  // ---- namespace by handle (DM_CONFIG_CREATE_BY_HANDLE = 0: ENOSYS, as SGI, JFS and GPFS)
  CREATE_BY_HANDLE: { code: 90, req: [SID, ['dirhandle', 'bytes'], TOK, H, ['cname', 'bytes']], rep: [] },
  MKDIR_BY_HANDLE: { code: 91, req: [SID, ['dirhandle', 'bytes'], TOK, H, ['cname', 'bytes']], rep: [] },
  SYMLINK_BY_HANDLE: { code: 92, req: [SID, ['dirhandle', 'bytes'], TOK, H, ['cname', 'bytes'], ['path', 'bytes']], rep: [] },
} as const satisfies Record<string, OpSpec>;

export type OpName = keyof typeof OPS;
export const OP_BY_CODE: ReadonlyMap<number, OpName> = new Map(Object.entries(OPS).map(([k, v]) => [v.code, k as OpName]));

export class ProtocolError extends Error {}

function fieldSize(t: FieldType, v: FieldValue | undefined): number {
  if (t === 'bytes') return 4 + (v instanceof Buffer ? v.length : 0);
  return t === 'i32' || t === 'u32' ? 4 : 8;
}

/** Encodes a frame: header, optional errno (replies), fields. Missing fields are encoded as zero / empty. */
export function encodeFrame(id: number, opcode: number, flags: number, spec: FieldSpec, values: Record<string, unknown>, errno?: number): Buffer {
  let size = HEADER_SIZE + (errno !== undefined ? 4 : 0);
  for (const [name, t] of spec) size += fieldSize(t, values[name] as FieldValue | undefined);
  if (size > MAX_FRAME) throw new ProtocolError(`frame of ${size} bytes exceeds ${MAX_FRAME}`);
  const b = Buffer.allocUnsafe(size);
  b.writeUInt32LE(size - 4, 0);
  b.writeUInt32LE(id >>> 0, 4);
  b.writeUInt16LE(opcode, 8);
  b.writeUInt16LE(flags, 10);
  let o = HEADER_SIZE;
  if (errno !== undefined) { b.writeInt32LE(errno, o); o += 4; }
  for (const [name, t] of spec) {
    const v = values[name];
    switch (t) {
      case 'i32': b.writeInt32LE(Number(v ?? 0) | 0, o); o += 4; break;
      case 'u32': b.writeUInt32LE(Number(v ?? 0) >>> 0, o); o += 4; break;
      case 'i64': b.writeBigInt64LE(BigInt.asIntN(64, BigInt((v as number | bigint | undefined) ?? 0)), o); o += 8; break;
      case 'u64': b.writeBigUInt64LE(BigInt.asUintN(64, BigInt((v as number | bigint | undefined) ?? 0)), o); o += 8; break;
      case 'bytes': {
        const buf = v instanceof Buffer ? v : v instanceof Uint8Array ? Buffer.from(v) : Buffer.alloc(0);
        b.writeUInt32LE(buf.length, o); o += 4;
        buf.copy(b, o); o += buf.length;
        break;
      }
    }
  }
  return b;
}

/**
 * Decodes fields from `b[off..]`. Throws ProtocolError on truncation or (when `exact`) trailing bytes.
 * 64-bit fields come back as bigint, 32-bit ones as number; bytes as Buffer slices (copied).
 */
export function decodeFields(b: Buffer, off: number, spec: FieldSpec, exact = true): Record<string, FieldValue> {
  const out: Record<string, FieldValue> = {};
  let o = off;
  const need = (n: number) => { if (o + n > b.length) throw new ProtocolError('truncated body'); };
  for (const [name, t] of spec) {
    switch (t) {
      case 'i32': need(4); out[name] = b.readInt32LE(o); o += 4; break;
      case 'u32': need(4); out[name] = b.readUInt32LE(o); o += 4; break;
      case 'i64': need(8); out[name] = b.readBigInt64LE(o); o += 8; break;
      case 'u64': need(8); out[name] = b.readBigUInt64LE(o); o += 8; break;
      case 'bytes': {
        need(4);
        const n = b.readUInt32LE(o); o += 4;
        need(n);
        out[name] = Buffer.from(b.subarray(o, o + n)); o += n;
        break;
      }
    }
  }
  if (exact && o !== b.length) throw new ProtocolError(`${b.length - o} trailing bytes`);
  return out;
}

/** The field an error reply carries after the opcode's reply fields: why the call failed. */
export const REASON_FIELD = ['reason', 'bytes'] as const;

export interface Reply {
  /** 0 on success. */
  errno: number;
  fields: Record<string, FieldValue>;
  /** An error reply's reason text ('' when it carries none). */
  reason: string;
}

/** Decodes a reply frame of an operation whose reply fields are `spec`; never throws. */
export function decodeReply(raw: Buffer, spec: FieldSpec): Reply {
  if (raw.length < HEADER_SIZE + 4) return { errno: E_PROTO, fields: {}, reason: 'short reply' };
  const errno = raw.readInt32LE(HEADER_SIZE);
  if (errno) {
    try {
      const fields = decodeFields(raw, HEADER_SIZE + 4, [...spec, REASON_FIELD], true);
      return { errno, fields, reason: (fields.reason as Buffer).toString() };
    } catch { /* an errno-only reply, or one without a reason */ }
  }
  try {
    return { errno, fields: raw.length > HEADER_SIZE + 4 ? decodeFields(raw, HEADER_SIZE + 4, spec, false) : {}, reason: '' };
  } catch {
    return { errno: errno || E_PROTO, fields: {}, reason: errno ? '' : 'undecodable reply' };
  }
}
const E_PROTO = 71;

export interface Frame {
  id: number;
  opcode: number;
  flags: number;
  /** The whole frame (header included); the body starts at HEADER_SIZE. */
  raw: Buffer;
}

/**
 * Splits a byte stream into frames. `push` returns the complete frames; a length below the header
 * size or above MAX_FRAME throws ProtocolError (the stream cannot be trusted any more).
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private have = 0;

  push(data: Buffer): Frame[] {
    this.chunks.push(data);
    this.have += data.length;
    const frames: Frame[] = [];
    if (this.have < 4) return frames;
    let buf = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.have);
    let o = 0;
    while (buf.length - o >= 4) {
      const len = buf.readUInt32LE(o);
      if (len < HEADER_SIZE - 4 || len > MAX_FRAME - 4) throw new ProtocolError(`bad frame length ${len}`);
      if (buf.length - o < 4 + len) break;
      const raw = buf.subarray(o, o + 4 + len);
      frames.push({ id: raw.readUInt32LE(4), opcode: raw.readUInt16LE(8), flags: raw.readUInt16LE(10), raw });
      o += 4 + len;
    }
    buf = buf.subarray(o);
    this.chunks = buf.length ? [buf] : [];
    this.have = buf.length;
    return frames;
  }
}
