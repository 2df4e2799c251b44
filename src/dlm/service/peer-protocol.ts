// The node-to-node protocol over TCP (framing from codec.ts). After the handshake, client frames
// travel inside FWD / BACK unchanged: a member node does not decode its clients' requests.
//
// Handshake (the acceptor speaks first; nothing else is read before it ends). The acceptor tells
// nothing about itself (node, cluster, configuration) before the connector proved the key:
//   HELLO     acceptor → connector   u8 version | 32 nonce
//   AUTH      connector → acceptor   str node | 32 nonce | 32 mac   (mac: auth.ts, proves the key)
//   AUTH_OK   acceptor → connector   32 mac | str cluster | str digest  (proves the acceptor has it too)
//   CONFIRM   connector → acceptor   str cluster | str digest        (both sides compare configurations)
//   REFUSE    either way             str reason                      (then the connection closes;
//                                                                     unauthenticated: no details)
// Session:
//   PING      both ways              f64 sender's clock (heartbeat; any frame counts as alive)
//   OPEN      member → master        u32 conn | u32 pid | u32 uid | u32 gid | u16 n | u32 groups[n]
//   CLOSE     member → master        u32 conn                        (the client process is gone)
//   FWD       member → master        u32 conn | client frames
//   BACK      master → member        u32 conn | node-to-client frames
//   KILL      master → member        u32 conn                        (engine kill hook)
//   DUMP      member → master        u32 req
//   DUMP_REPLY master → member       u32 req | str32 JSON of the engine dump
//
// With membership from etcd (membership.ts) every node masters some resources, so these go both ways
// between any two members, and recovery adds (epochs are etcd revisions, f64):
//   (a client's dlm_nsjoin, dlm_nsleave, dlm_detach and dlm_set_signal are replayed on every master
//   it uses as FWD frames with request id 0, whose answers the client's node drops)
//   MARK      client's node → master  f64 epoch   (everything before it was answered once MARK_ACK comes)
//   MARK_ACK  master → client's node  f64 epoch   (sent once the master itself is in that epoch)
//   ADOPT     client's node → master  f64 epoch | u32 conn | adopted lock (encodeAdopt)
//   RES_LVB   old master → new master f64 epoch | str ns | short root | u8 valid | 32 valb
//   RECOVERED client's node → master  f64 epoch   (all its locks and value blocks for this master sent)
//   READY     master → every member   f64 epoch   (its resources are rebuilt: requests may resume)
import { DLM_VALBLKSIZE } from '../constants';
import type { LockId } from '../types';
import { Reader, WireError, Writer, readValue, writeValue } from './codec';
import { readLkid, readValb, writeLkid, writeValb } from './protocol';

export const PEER_VERSION = 3;

export const P = {
  HELLO: 0x40,
  AUTH: 0x41,
  AUTH_OK: 0x42,
  REFUSE: 0x43,
  PING: 0x44,
  OPEN: 0x45,
  CLOSE: 0x46,
  FWD: 0x47,
  BACK: 0x48,
  KILL: 0x49,
  DUMP: 0x4a,
  DUMP_REPLY: 0x4b,
  CONFIRM: 0x4c,
  MARK: 0x4d,
  MARK_ACK: 0x4e,
  ADOPT: 0x4f,
  RES_LVB: 0x50,
  RECOVERED: 0x51,
  READY: 0x52,
} as const;

/** Largest handshake frame (names, digests, nonces and macs only). */
export const MAX_HANDSHAKE_FRAME = 1024;
export const NONCE_BYTES = 32;
export const MAC_BYTES = 32;

// ---- typed layouts of the recovery messages ---------------------------------------------------------


/** One lock a node's client holds or waits for, sent to the resource's new master. */
export interface AdoptMsg {
  conn: number;
  lkid: LockId;
  /** The client's namespace handle on that master. */
  nsp: number;
  resnam: Uint8Array;
  parlkid: LockId | null;
  /** DLM_LK_GRANTED / CONVERTING / WAITING. */
  state: number;
  grmode: number;
  rqmode: number;
  flags: number;
  /** The request's routine id and LK bits (NOTPRM, BLK, CPL) as the client sent them. */
  rid: number;
  bits: number;
  hint: unknown;
  valb: Uint8Array | null;
  /** A dlm_lock / dlm_cvt that waits: the request id its WAITDONE answers (0: none). */
  waitReq: number;
  /** A dlm_quelock's completion still owes the request's value block. */
  quelock: boolean;
}

export function encodeAdopt(w: Writer, epoch: number, m: AdoptMsg): void {
  w.f64(epoch).u32(m.conn);
  writeLkid(w, m.lkid);
  w.u32(m.nsp).short(m.resnam);
  writeLkid(w, m.parlkid);
  w.u8(m.state).u8(m.grmode).u8(m.rqmode).u32(m.flags).u32(m.rid).u8(m.bits);
  writeValue(w, m.hint as never);
  writeValb(w, m.valb);
  w.u32(m.waitReq).u8(m.quelock ? 1 : 0);
}

export function decodeAdopt(r: Reader): { epoch: number; m: AdoptMsg } {
  const epoch = r.f64();
  const conn = r.u32();
  const lkid = readLkid(r);
  if (lkid === null) throw new WireError('adopted lock without an id');
  const nsp = r.u32();
  const resnam = r.short();
  const parlkid = readLkid(r);
  const state = r.u8();
  const grmode = r.u8();
  const rqmode = r.u8();
  const flags = r.u32();
  const rid = r.u32();
  const bits = r.u8();
  const hint = readValue(r);
  const valb = readValb(r);
  const waitReq = r.u32();
  const quelock = r.u8() !== 0;
  r.done();
  return { epoch, m: { conn, lkid, nsp, resnam, parlkid, state, grmode, rqmode, flags, rid, bits, hint, valb, waitReq, quelock } };
}

export interface ResLvb {
  ns: string;
  root: Uint8Array;
  valid: boolean;
  valb: Uint8Array;
}

export function encodeResLvb(w: Writer, epoch: number, m: ResLvb): void {
  w.f64(epoch).str(m.ns, 255).short(m.root).u8(m.valid ? 1 : 0).bytes(m.valb, DLM_VALBLKSIZE);
}

export function decodeResLvb(r: Reader): { epoch: number; m: ResLvb } {
  const epoch = r.f64();
  const ns = r.str(255);
  const root = r.short();
  const valid = r.u8() !== 0;
  const valb = r.bytes(DLM_VALBLKSIZE);
  r.done();
  return { epoch, m: { ns, root, valid, valb } };
}

/** MARK, MARK_ACK, RECOVERED, READY: an epoch alone. */
export function encodeEpoch(w: Writer, epoch: number): void {
  w.f64(epoch);
}

export function decodeEpoch(r: Reader): number {
  const e = r.f64();
  r.done();
  if (!Number.isSafeInteger(e) || e < 0) throw new WireError('bad epoch');
  return e;
}

/** OPEN: a client process of the sender, with its SO_PEERCRED identity. */
export interface OpenMsg {
  conn: number;
  pid: number;
  uid: number;
  gid: number;
  groups: readonly number[];
}

/** Most client processes one node may register on another. */
export const MAX_SESSIONS_PER_NODE = 65536;

export function encodeOpen(w: Writer, m: OpenMsg): void {
  const groups = m.groups.slice(0, 65535);
  w.u32(m.conn).u32(m.pid).u32(m.uid).u32(m.gid).u16(groups.length);
  for (const g of groups) w.u32(g);
}

export function decodeOpen(r: Reader): OpenMsg {
  const conn = r.u32();
  const pid = r.u32();
  const uid = r.u32();
  const gid = r.u32();
  const groups: number[] = [];
  for (let i = 0, n = r.u16(); i < n; i++) groups.push(r.u32());
  r.done();
  return { conn, pid, uid, gid, groups };
}
