// The client protocol of the DLM service (dlm.sock, and forwarded unchanged between nodes): every
// message's layout, declared once as data (LAYOUTS), with the typed encode and decode built on it.
// The client (src/dlm/client.ts), the server (dispatcher.ts), the forwarder and the C library's
// documentation (docs/dlm-protocol.md, checked against LAYOUTS by test/dlm-protocol.test.ts) all
// follow these tables; nothing else writes or reads the client protocol's fields. No I/O here.
//
// Request   (client → node):  u8 op | u32 reqId | the op's request fields
// Answer    (node → client):  u8 REPLY | u32 reqId | i32 status | the op's answer fields, all of them
//                             or none (a node without a lock master answers DLM_ENOSYS with none)
// Others    (node → client):  u8 type | the message's fields (WAITDONE, BLOCKING, COMPLETION, ERROR, RESET,
//                             LEASE)
// LEASE (membership from etcd): the client's locks stand until validUntil (ms since 1970, this
// machine's clock) unless renewed; past it the client fails them itself, as on a RESET, even if the
// node is stopped and cannot say so.
//
// Identity is never on the wire: the node takes pid/uid/gid from SO_PEERCRED.
//
// Routines and notprm stay in the client: a request that carries a notprm, a blocking routine or a
// completion routine is given a request id (rid) by the client, and the node stores rids where the
// engine keeps notprm and routines. Notifications name the rids; the client maps them back. A rid
// lives as long as the lock it was given for (see client.ts). A hint is given by one process and
// passed to another's blocking routine, so it crosses the wire as a value (codec.ts WireValue).

import { DLM_VALBLKSIZE } from '../constants';
import type { LockId, RdCollectedResource } from '../types';
import { MAX_CLIENT_FRAME, Reader, WireError, Writer, readValue, writeValue, type WireValue } from './codec';

/** Requests. */
export const OP = {
  NSJOIN: 1,
  NSLEAVE: 2,
  DETACH: 3,
  SETSIGNAL: 4,
  NOTIFY: 5,
  LOCK: 6,
  QUELOCK: 7,
  CVT: 8,
  QUECVT: 9,
  UNLOCK: 10,
  CANCEL: 11,
  GLC_CREATE: 12,
  GLC_ATTACH: 13,
  GLC_DETACH: 14,
  GLC_DESTROY: 15,
  RD_ATTACH: 16,
  RD_DETACH: 17,
  RD_COLLECT: 18,
  RD_VALIDATE: 19,
  LKINFO: 20,
  RSBINFO: 21,
} as const;
export const OP_MAX = 21;
export type Op = (typeof OP)[keyof typeof OP];

/** Node → client messages. */
export const MSG = {
  REPLY: 0x81,
  WAITDONE: 0x82,
  BLOCKING: 0x83,
  COMPLETION: 0x84,
  ERROR: 0x85,
  RESET: 0x86,
  LEASE: 0x87,
} as const;

/** Bits of a lock request (dlm_lock / dlm_quelock): which optional parts it carries. */
export const LK = {
  /** The rid carries notprm. */
  NOTPRM: 0x01,
  /** The rid carries a blocking routine. */
  BLK: 0x02,
  /** The rid carries a completion routine (quelock). */
  CPL: 0x04,
  PARENT: 0x08,
  TRANID: 0x10,
  RDID: 0x20,
  HINT: 0x40,
  /** A value block follows (sent with DLM_VALB). */
  VALB: 0x80,
} as const;

/** Bits of a conversion (dlm_cvt / dlm_quecvt): which of the lock's parameters it replaces. */
export const CV = {
  NOTPRM: 0x01,
  BLK_SET: 0x02,
  /** With BLK_SET: a routine (else the routine is cleared). */
  BLK_FN: 0x04,
  CPL_SET: 0x08,
  CPL_FN: 0x10,
  HINT: 0x20,
  VALB: 0x40,
} as const;

/** Options of an UNLOCK request. QUIET: answer only a failure (the client answered DLM_SUCCESS itself). */
export const UNLOCK_QUIET = 0x01;

/** Error codes of ERROR messages (protocol errors; DLM statuses travel in REPLY). */
export const PROTO_ERR = {
  MALFORMED: 'EPROTO',
  TOO_BIG: 'EMSGSIZE',
  UNKNOWN_OP: 'EOPNOTSUPP',
  BUSY: 'EAGAIN',
} as const;

export const NO_LKID: LockId = Object.freeze({ hndl: 0, seqn: 0 });

// ==== layouts ======================================================================================

/**
 * Field encodings (docs/dlm-protocol.md, "Field types"):
 * u8 u16 u32 i32 f64 little-endian; lkid = u32 hndl | f64 seqn (0, 0 = no lock); valb = 32 bytes;
 * valb? = u8 present | 32 bytes when present; value = a tagged WireValue (codec.ts); resnam and
 * short = u8 length | bytes; str = u16 length | UTF-8; u32list = u8 count | u32 each;
 * resources = u16 count | per resource: str namespace | u8 depth | short × depth | valb | f64 vbseqnum.
 */
export type FieldType = 'u8' | 'u16' | 'u32' | 'i32' | 'f64' | 'lkid' | 'valb' | 'valb?' | 'value' | 'resnam' | 'short' | 'str' | 'u32list' | 'resources';

export interface Field {
  readonly name: string;
  readonly type: FieldType;
  /** Present only when the message's `bits` field has this bit. */
  readonly bit?: number;
}

export interface Layout {
  readonly name: string;
  readonly type: number;
  readonly fields: readonly Field[];
}

const f = (name: string, type: FieldType, bit?: number): Field => (bit === undefined ? { name, type } : { name, type, bit });

const LOCK_REQ: readonly Field[] = [
  f('nsp', 'u32'), f('mode', 'u8'), f('flags', 'u32'), f('timeout', 'u32'), f('rid', 'u32'), f('bits', 'u8'), f('resnam', 'resnam'),
  f('parlkid', 'lkid', LK.PARENT), f('tranid', 'value', LK.TRANID), f('rdId', 'u32', LK.RDID), f('valb', 'valb', LK.VALB), f('hint', 'value', LK.HINT),
];
const CVT_REQ: readonly Field[] = [
  f('lkid', 'lkid'), f('mode', 'u8'), f('flags', 'u32'), f('timeout', 'u32'), f('rid', 'u32'), f('bits', 'u8'),
  f('valb', 'valb', CV.VALB), f('hint', 'value', CV.HINT),
];
const LOCK_ANS: readonly Field[] = [f('lkid', 'lkid'), f('waits', 'u8'), f('valb', 'valb?')];
const ID_FLAGS = (id: string): readonly Field[] => [f(id, 'u32'), f('flags', 'u32')];

/** Requests, after `u8 op | u32 reqId`. */
export const REQUESTS: Readonly<Record<Op, Layout>> = {
  [OP.NSJOIN]: { name: 'NSJOIN', type: OP.NSJOIN, fields: [f('nsid', 'u32'), f('flags', 'u32')] },
  [OP.NSLEAVE]: { name: 'NSLEAVE', type: OP.NSLEAVE, fields: ID_FLAGS('nsp') },
  [OP.DETACH]: { name: 'DETACH', type: OP.DETACH, fields: [] },
  [OP.SETSIGNAL]: { name: 'SETSIGNAL', type: OP.SETSIGNAL, fields: [f('sig', 'i32')] },
  [OP.NOTIFY]: { name: 'NOTIFY', type: OP.NOTIFY, fields: [] },
  [OP.LOCK]: { name: 'LOCK', type: OP.LOCK, fields: LOCK_REQ },
  [OP.QUELOCK]: { name: 'QUELOCK', type: OP.QUELOCK, fields: LOCK_REQ },
  [OP.CVT]: { name: 'CVT', type: OP.CVT, fields: CVT_REQ },
  [OP.QUECVT]: { name: 'QUECVT', type: OP.QUECVT, fields: CVT_REQ },
  [OP.UNLOCK]: { name: 'UNLOCK', type: OP.UNLOCK, fields: [f('lkid', 'lkid'), f('flags', 'u32'), f('valb', 'valb?'), f('options', 'u8')] },
  [OP.CANCEL]: { name: 'CANCEL', type: OP.CANCEL, fields: [f('lkid', 'lkid'), f('flags', 'u32')] },
  [OP.GLC_CREATE]: { name: 'GLC_CREATE', type: OP.GLC_CREATE, fields: [f('flags', 'u32'), f('nsList', 'u32list')] },
  [OP.GLC_ATTACH]: { name: 'GLC_ATTACH', type: OP.GLC_ATTACH, fields: ID_FLAGS('id') },
  [OP.GLC_DETACH]: { name: 'GLC_DETACH', type: OP.GLC_DETACH, fields: [] },
  [OP.GLC_DESTROY]: { name: 'GLC_DESTROY', type: OP.GLC_DESTROY, fields: ID_FLAGS('id') },
  [OP.RD_ATTACH]: { name: 'RD_ATTACH', type: OP.RD_ATTACH, fields: [f('name', 'str'), f('flags', 'u32')] },
  [OP.RD_DETACH]: { name: 'RD_DETACH', type: OP.RD_DETACH, fields: ID_FLAGS('rdId') },
  [OP.RD_COLLECT]: { name: 'RD_COLLECT', type: OP.RD_COLLECT, fields: ID_FLAGS('rdId') },
  [OP.RD_VALIDATE]: { name: 'RD_VALIDATE', type: OP.RD_VALIDATE, fields: [f('rdId', 'u32'), f('hndl', 'u32'), f('flags', 'u32')] },
  [OP.LKINFO]: { name: 'LKINFO', type: OP.LKINFO, fields: [f('lkid', 'lkid')] },
  [OP.RSBINFO]: { name: 'RSBINFO', type: OP.RSBINFO, fields: [f('nsp', 'u32'), f('resnam', 'resnam'), f('parlkid', 'lkid')] },
};

/** Answers (REPLY), after `u8 REPLY | u32 reqId | i32 status`: all of these fields, or none. */
export const ANSWERS: Readonly<Record<Op, Layout>> = {
  [OP.NSJOIN]: { name: 'NSJOIN', type: OP.NSJOIN, fields: [f('nsp', 'u32')] },
  [OP.NSLEAVE]: { name: 'NSLEAVE', type: OP.NSLEAVE, fields: [] },
  [OP.DETACH]: { name: 'DETACH', type: OP.DETACH, fields: [] },
  [OP.SETSIGNAL]: { name: 'SETSIGNAL', type: OP.SETSIGNAL, fields: [f('oldsig', 'i32')] },
  [OP.NOTIFY]: { name: 'NOTIFY', type: OP.NOTIFY, fields: [f('count', 'u32')] },
  [OP.LOCK]: { name: 'LOCK', type: OP.LOCK, fields: LOCK_ANS },
  [OP.QUELOCK]: { name: 'QUELOCK', type: OP.QUELOCK, fields: LOCK_ANS },
  [OP.CVT]: { name: 'CVT', type: OP.CVT, fields: LOCK_ANS },
  [OP.QUECVT]: { name: 'QUECVT', type: OP.QUECVT, fields: LOCK_ANS },
  [OP.UNLOCK]: { name: 'UNLOCK', type: OP.UNLOCK, fields: [] },
  [OP.CANCEL]: { name: 'CANCEL', type: OP.CANCEL, fields: [] },
  [OP.GLC_CREATE]: { name: 'GLC_CREATE', type: OP.GLC_CREATE, fields: [f('id', 'u32')] },
  [OP.GLC_ATTACH]: { name: 'GLC_ATTACH', type: OP.GLC_ATTACH, fields: [] },
  [OP.GLC_DETACH]: { name: 'GLC_DETACH', type: OP.GLC_DETACH, fields: [] },
  [OP.GLC_DESTROY]: { name: 'GLC_DESTROY', type: OP.GLC_DESTROY, fields: [] },
  [OP.RD_ATTACH]: { name: 'RD_ATTACH', type: OP.RD_ATTACH, fields: [f('rdId', 'u32')] },
  [OP.RD_DETACH]: { name: 'RD_DETACH', type: OP.RD_DETACH, fields: [] },
  [OP.RD_COLLECT]: { name: 'RD_COLLECT', type: OP.RD_COLLECT, fields: [f('hndl', 'u32'), f('resources', 'resources')] },
  [OP.RD_VALIDATE]: { name: 'RD_VALIDATE', type: OP.RD_VALIDATE, fields: [] },
  [OP.LKINFO]: {
    name: 'LKINFO', type: OP.LKINFO, fields: [
      f('resnam', 'short'), f('parlkid', 'lkid'), f('rqmode', 'u8'), f('valb', 'valb?'), f('flags', 'u32'), f('npRid', 'u32'), f('hint', 'value'),
      f('blkRid', 'u32'), f('timeout', 'u32'), f('cplRid', 'u32'), f('sig', 'i32'), f('grmode', 'u8'), f('lkstate', 'u8'), f('lkPid', 'u32'),
    ],
  },
  [OP.RSBINFO]: {
    name: 'RSBINFO', type: OP.RSBINFO, fields: [
      f('vbstatus', 'i32'), f('vbseqnum', 'f64'), f('subrescnt', 'u32'), f('lckcnt', 'u32'), f('blkastcnt', 'u32'), f('ggcnt', 'u32'),
      f('ggmode', 'u8'), f('cvtqmode', 'u8'), f('wtqmode', 'u8'), f('valb', 'valb'),
    ],
  },
};

/** The other node → client messages, after their type byte. */
export const MESSAGES: Readonly<Record<Exclude<keyof typeof MSG, 'REPLY'>, Layout>> = {
  WAITDONE: { name: 'WAITDONE', type: MSG.WAITDONE, fields: [f('reqId', 'u32'), f('status', 'i32'), f('valb', 'valb?')] },
  BLOCKING: { name: 'BLOCKING', type: MSG.BLOCKING, fields: [f('blkRid', 'u32'), f('npRid', 'u32'), f('lkid', 'lkid'), f('mode', 'u8'), f('hint', 'value')] },
  COMPLETION: { name: 'COMPLETION', type: MSG.COMPLETION, fields: [f('cplRid', 'u32'), f('npRid', 'u32'), f('lkid', 'lkid'), f('status', 'i32'), f('valb', 'valb?')] },
  ERROR: { name: 'ERROR', type: MSG.ERROR, fields: [f('reqId', 'u32'), f('code', 'str'), f('message', 'str')] },
  RESET: { name: 'RESET', type: MSG.RESET, fields: [f('reason', 'str'), f('lastReq', 'u32')] },
  LEASE: { name: 'LEASE', type: MSG.LEASE, fields: [f('validUntil', 'f64')] },
};

// ==== typed messages ===============================================================================

type ResName = string | Uint8Array;

export interface LockReq { nsp: number; mode: number; flags: number; timeout: number; rid: number; bits: number; resnam: ResName; parlkid?: LockId | null; tranid?: WireValue; rdId?: number; valb?: Uint8Array | null; hint?: WireValue }
export interface CvtReq { lkid: LockId | null; mode: number; flags: number; timeout: number; rid: number; bits: number; valb?: Uint8Array | null; hint?: WireValue }

export interface RequestMap {
  [OP.NSJOIN]: { nsid: number; flags: number };
  [OP.NSLEAVE]: { nsp: number; flags: number };
  [OP.DETACH]: Record<string, never>;
  [OP.SETSIGNAL]: { sig: number };
  [OP.NOTIFY]: Record<string, never>;
  [OP.LOCK]: LockReq;
  [OP.QUELOCK]: LockReq;
  [OP.CVT]: CvtReq;
  [OP.QUECVT]: CvtReq;
  [OP.UNLOCK]: { lkid: LockId | null; flags: number; valb: Uint8Array | null; options: number };
  [OP.CANCEL]: { lkid: LockId | null; flags: number };
  [OP.GLC_CREATE]: { flags: number; nsList: readonly number[] };
  [OP.GLC_ATTACH]: { id: number; flags: number };
  [OP.GLC_DETACH]: Record<string, never>;
  [OP.GLC_DESTROY]: { id: number; flags: number };
  [OP.RD_ATTACH]: { name: string; flags: number };
  [OP.RD_DETACH]: { rdId: number; flags: number };
  [OP.RD_COLLECT]: { rdId: number; flags: number };
  [OP.RD_VALIDATE]: { rdId: number; hndl: number; flags: number };
  [OP.LKINFO]: { lkid: LockId | null };
  [OP.RSBINFO]: { nsp: number; resnam: ResName; parlkid: LockId | null };
}

export interface LockAns { lkid: LockId | null; waits: number; valb: Uint8Array | null }
type NoFields = Record<string, never>;

export interface AnswerMap {
  [OP.NSJOIN]: { nsp: number };
  [OP.NSLEAVE]: NoFields;
  [OP.DETACH]: NoFields;
  [OP.SETSIGNAL]: { oldsig: number };
  [OP.NOTIFY]: { count: number };
  [OP.LOCK]: LockAns;
  [OP.QUELOCK]: LockAns;
  [OP.CVT]: LockAns;
  [OP.QUECVT]: LockAns;
  [OP.UNLOCK]: NoFields;
  [OP.CANCEL]: NoFields;
  [OP.GLC_CREATE]: { id: number };
  [OP.GLC_ATTACH]: NoFields;
  [OP.GLC_DETACH]: NoFields;
  [OP.GLC_DESTROY]: NoFields;
  [OP.RD_ATTACH]: { rdId: number };
  [OP.RD_DETACH]: NoFields;
  [OP.RD_COLLECT]: { hndl: number; resources: RdCollectedResource[] };
  [OP.RD_VALIDATE]: NoFields;
  [OP.LKINFO]: {
    resnam: Uint8Array; parlkid: LockId | null; rqmode: number; valb: Uint8Array | null; flags: number; npRid: number; hint: WireValue;
    blkRid: number; timeout: number; cplRid: number; sig: number; grmode: number; lkstate: number; lkPid: number;
  };
  [OP.RSBINFO]: {
    vbstatus: number; vbseqnum: number; subrescnt: number; lckcnt: number; blkastcnt: number; ggcnt: number;
    ggmode: number; cvtqmode: number; wtqmode: number; valb: Uint8Array;
  };
}

export interface MessageMap {
  WAITDONE: { reqId: number; status: number; valb: Uint8Array | null };
  BLOCKING: { blkRid: number; npRid: number; lkid: LockId | null; mode: number; hint: WireValue };
  COMPLETION: { cplRid: number; npRid: number; lkid: LockId | null; status: number; valb: Uint8Array | null };
  ERROR: { reqId: number; code: string; message: string };
  RESET: { reason: string; lastReq: number };
  LEASE: { validUntil: number };
}

// ==== encode / decode ==============================================================================

type Obj = Record<string, unknown>;

function writeField(w: Writer, t: FieldType, v: unknown): void {
  switch (t) {
    case 'u8': w.u8(v as number); return;
    case 'u16': w.u16(v as number); return;
    case 'u32': w.u32(v as number); return;
    case 'i32': w.i32(v as number); return;
    case 'f64': w.f64(v as number); return;
    case 'lkid': writeLkid(w, v as LockId | null); return;
    case 'valb': w.bytes(v as Uint8Array, DLM_VALBLKSIZE); return;
    case 'valb?': writeValb(w, v as Uint8Array | null); return;
    case 'value': writeValue(w, v as WireValue); return;
    case 'resnam': writeResnam(w, v as ResName); return;
    case 'short': w.short(v as Uint8Array); return;
    case 'str': w.str(v as string); return;
    case 'u32list': {
      const list = v as readonly number[];
      if (list.length > 255) throw new RangeError('list of more than 255 entries');
      w.u8(list.length);
      for (const n of list) w.u32(n);
      return;
    }
    case 'resources': {
      const list = v as readonly RdCollectedResource[];
      w.u16(list.length);
      for (const c of list) {
        w.str(c.namespace).u8(c.path.length);
        for (const seg of c.path) w.short(seg);
        w.bytes(c.valb, DLM_VALBLKSIZE).f64(c.vbseqnum);
      }
      return;
    }
  }
}

function readField(r: Reader, t: FieldType): unknown {
  switch (t) {
    case 'u8': return r.u8();
    case 'u16': return r.u16();
    case 'u32': return r.u32();
    case 'i32': return r.i32();
    case 'f64': return r.f64();
    case 'lkid': return readLkid(r);
    case 'valb': return r.bytes(DLM_VALBLKSIZE);
    case 'valb?': return readValb(r);
    case 'value': return readValue(r);
    case 'resnam': return readResnam(r);
    case 'short': return r.short();
    case 'str': return r.str();
    case 'u32list': {
      const n = r.u8();
      const list: number[] = [];
      for (let i = 0; i < n; i++) list.push(r.u32());
      return list;
    }
    case 'resources': {
      const n = r.u16();
      const list: RdCollectedResource[] = [];
      for (let i = 0; i < n; i++) {
        const namespace = r.str();
        const depth = r.u8();
        const path: Uint8Array[] = [];
        for (let j = 0; j < depth; j++) path.push(r.short());
        list.push({ namespace, path, valb: r.bytes(DLM_VALBLKSIZE), vbseqnum: r.f64() });
      }
      return list;
    }
  }
}

function writeFields(w: Writer, fields: readonly Field[], m: Obj): void {
  const bits = (m.bits as number | undefined) ?? 0;
  for (const fd of fields) {
    if (fd.bit !== undefined && (bits & fd.bit) === 0) continue;
    writeField(w, fd.type, m[fd.name]);
  }
}

function readFields(r: Reader, fields: readonly Field[]): Obj {
  const m: Obj = {};
  let bits = 0;
  for (const fd of fields) {
    if (fd.bit !== undefined && (bits & fd.bit) === 0) continue;
    const v = readField(r, fd.type);
    if (fd.name === 'bits') bits = v as number;
    m[fd.name] = v;
  }
  r.done();
  return m;
}

/**
 * Appends a request frame. RangeError when a field cannot be encoded (a resource name over 255
 * bytes, a string over its maximum): the frame is dropped and nothing is written.
 */
export function encodeRequest<K extends Op>(w: Writer, op: K, reqId: number, m: RequestMap[K]): void {
  w.begin(op).u32(reqId);
  endFrame(w, REQUESTS[op].fields, m);
}

/** Writes the fields and ends the frame begun in w; on any error drops the frame and rethrows. */
function endFrame(w: Writer, fields: readonly Field[] | null, m: unknown): void {
  try {
    if (fields !== null) writeFields(w, fields, m as Obj);
    w.end(MAX_CLIENT_FRAME);
  } catch (e) {
    w.abort();
    throw e;
  }
}

/** A request frame's op and reqId (the frame starts at r.pos); WireError when it has neither. */
export function decodeRequestHead(r: Reader): { op: number; reqId: number } {
  const op = r.u8();
  const reqId = r.u32();
  return { op, reqId };
}

/** The fields of a request of `op`, read to the end of the frame (WireError on any mismatch). */
export function decodeRequest<K extends Op>(r: Reader, op: K): RequestMap[K] {
  return readFields(r, REQUESTS[op].fields) as unknown as RequestMap[K];
}

/** Appends an answer; `m` null: the status alone. */
export function encodeReply<K extends Op>(w: Writer, op: K, reqId: number, status: number, m: AnswerMap[K] | null): void {
  w.begin(MSG.REPLY).u32(reqId).i32(status);
  endFrame(w, m === null ? null : ANSWERS[op].fields, m);
}

/** An answer's reqId and status (after the type byte). */
export function decodeReplyHead(r: Reader): { reqId: number; status: number } {
  const reqId = r.u32();
  const status = r.i32();
  return { reqId, status };
}

/** The answer fields of `op`, or null when the answer has none. */
export function decodeReply<K extends Op>(r: Reader, op: K): AnswerMap[K] | null {
  if (r.remaining === 0) return null;
  return readFields(r, ANSWERS[op].fields) as unknown as AnswerMap[K];
}

/** Appends a WAITDONE, BLOCKING, COMPLETION, ERROR, RESET or LEASE message. */
export function encodeMessage<K extends keyof MessageMap>(w: Writer, kind: K, m: MessageMap[K]): void {
  const l = MESSAGES[kind];
  w.begin(l.type);
  endFrame(w, l.fields, m);
}

/** The fields of a message of `kind` (after its type byte). */
export function decodeMessage<K extends keyof MessageMap>(r: Reader, kind: K): MessageMap[K] {
  return readFields(r, MESSAGES[kind].fields) as unknown as MessageMap[K];
}

// ==== field helpers ================================================================================

export function writeLkid(w: Writer, id: LockId | null | undefined): void {
  if (id) w.u32(id.hndl).f64(id.seqn);
  else w.u32(0).f64(0);
}

/** A lock id, or null for (0, 0). Out-of-range fields are a malformed frame. */
export function readLkid(r: Reader): LockId | null {
  const hndl = r.u32();
  const seqn = r.f64();
  if (hndl === 0 && seqn === 0) return null;
  if (!Number.isSafeInteger(seqn) || seqn < 0) throw new WireError('malformed lock id');
  return { hndl, seqn };
}

export function writeValb(w: Writer, valb: Uint8Array | null | undefined): void {
  if (valb) w.u8(1).bytes(valb, DLM_VALBLKSIZE);
  else w.u8(0);
}

export function readValb(r: Reader): Uint8Array | null {
  return r.u8() !== 0 ? r.bytes(DLM_VALBLKSIZE) : null;
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** The bytes of a resource name as the wire carries them, or null over 255 bytes (the engine judges shorter ones). */
export function resnamBytes(resnam: ResName): Uint8Array | null {
  if (typeof resnam === 'string') {
    const b = Buffer.from(resnam, 'utf8');
    return b.length <= 255 ? b : null;
  }
  if (resnam instanceof Uint8Array) return resnam.length <= 255 ? resnam : null;
  return null;
}

function writeResnam(w: Writer, resnam: ResName): void {
  if (typeof resnam === 'string' && isAscii(resnam)) {
    w.latin1Short(resnam);
    return;
  }
  const b = resnamBytes(resnam);
  if (b === null) throw new RangeError('resource name over 255 bytes');
  w.short(b);
}

/** Resource name from the wire: ASCII as a string (the engine's own key form), else the bytes. */
function readResnam(r: Reader): ResName {
  const n = r.u8();
  const start = r.pos;
  if (start + n > r.end) throw new WireError('truncated resource name');
  r.pos += n;
  const b = r.buf;
  for (let i = start; i < start + n; i++) {
    if (b[i] > 0x7f) return Uint8Array.prototype.slice.call(b, start, start + n);
  }
  return b.toString('latin1', start, start + n);
}
