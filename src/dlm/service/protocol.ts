// The client protocol of the DLM service (dlm.sock, and forwarded unchanged between nodes): message
// types and the layout of every request and answer, encoded and decoded with codec.ts. Shared by
// the client (src/dlm/client.ts) and the server (dispatcher.ts); no I/O.
//
// Request   (client → node):  type = op (1..21) | u32 reqId | op fields
// Answer    (node → client):  REPLY | u32 reqId | i32 status | op answer fields
// Wait end  (node → client):  WAITDONE | u32 reqId | i32 status | valb?      (dlm_lock/dlm_cvt that waited)
// Blocking  (node → client):  BLOCKING | u32 blkRid | u32 npRid | lkid | u8 mode | value hint
// Completion(node → client):  COMPLETION | u32 cplRid | u32 npRid | lkid | i32 status | valb?
// Error     (node → client):  ERROR | u32 reqId (0: none) | str code | str message   (malformed frame)
// Reset     (node → client):  RESET | str reason | u32 lastReq   (the lock space lost this node's
//                             locks; requests up to lastReq will never be answered)
//
// Identity is never on the wire: the node takes pid/uid/gid from SO_PEERCRED.
//
// Routines and notprm stay in the client: a request that carries a notprm, a blocking routine or a
// completion routine is given a request id (rid) by the client, and the node stores rids where the
// engine keeps notprm and routines. Notifications name the rids; the client maps them back. A rid
// lives as long as the lock it was given for (see client.ts). A hint is given by one process and
// passed to another's blocking routine, so it crosses the wire as a value (codec.ts WireValue).
//
// lkid:   u32 hndl | f64 seqn        (0, 0 = no lock)
// valb?:  u8 present | 32 bytes when present

import { DLM_VALBLKSIZE } from '../constants';
import type { LockId } from '../types';
import { Reader, WireError, Writer } from './codec';

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

/** Node → client messages. */
export const MSG = {
  REPLY: 0x81,
  WAITDONE: 0x82,
  BLOCKING: 0x83,
  COMPLETION: 0x84,
  ERROR: 0x85,
  RESET: 0x86,
} as const;

/** Bits of a lock request (dlm_lock / dlm_quelock). */
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
  /** A value block follows (sent when the buffer was given, whatever the flags). */
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

/**
 * Options byte that may end an UNLOCK request (lkid | u32 flags | valb? | u8 options).
 * UNLOCK_QUIET: answer only a failure (the client answered DLM_SUCCESS itself, see client.ts).
 */
export const UNLOCK_QUIET = 0x01;

/** Error codes of ERROR messages (protocol errors; DLM statuses travel in REPLY). */
export const PROTO_ERR = {
  MALFORMED: 'EPROTO',
  TOO_BIG: 'EMSGSIZE',
  UNKNOWN_OP: 'EOPNOTSUPP',
  BUSY: 'EAGAIN',
} as const;

export const NO_LKID: LockId = Object.freeze({ hndl: 0, seqn: 0 });

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

/** A value block into a fresh buffer, or null. */
export function readValb(r: Reader): Uint8Array | null {
  return r.u8() !== 0 ? r.bytes(DLM_VALBLKSIZE) : null;
}

/** Copies a value block into `dst` (when present); returns whether it was. */
export function readValbInto(r: Reader, dst: Uint8Array | null): boolean {
  if (r.u8() === 0) return false;
  if (dst) r.bytesInto(dst, DLM_VALBLKSIZE);
  else r.pos += DLM_VALBLKSIZE;
  if (r.pos > r.end) throw new WireError('truncated value block');
  return true;
}

/** Resource names are 1..DLM_RESNAMELEN bytes; the wire takes up to 255 (the engine judges). */
export function resnamBytes(resnam: string | Uint8Array): Uint8Array | null {
  if (typeof resnam === 'string') {
    const b = Buffer.from(resnam, 'utf8');
    return b.length <= 255 ? b : null;
  }
  if (resnam instanceof Uint8Array) return resnam.length <= 255 ? resnam : null;
  return null;
}
