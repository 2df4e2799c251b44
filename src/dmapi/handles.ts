// DMAPI handles: layout and the library-side handle functions (no daemon needed), shared by the
// daemon and the TypeScript client; the C library computes the same from docs/dmapi-protocol.md.
//
//   global handle      1 byte  : 0x01                       (DM_GLOBAL_HANP/HLEN on the wire)
//   filesystem handle  8 bytes : u64 fsid
//   object handle     24 bytes : u64 fsid · u64 ino · u32 igen · u8 version (1) · u8 kind (1)
//                                · u16 check (sum of bytes 0..21, mod 65536)
// All little-endian. The fsid is random, created once per filesystem in its reserved area (never 0).
// ino is the backing inode number (the mount shows the same numbers), igen its generation: the
// FS_IOC_GETVERSION value where the backing filesystem has one, else a per-filesystem counter stored
// in the file's private xattr on first use (see FsTable.generation). The check bytes let
// dm_handle_is_valid detect damaged handles without a lookup (GPFS: malformed handle → EINVAL).
import { E, fail } from './constants';

export const GLOBAL_HANDLE: Buffer = Buffer.from([0x01]);
export const FS_HANDLE_LEN = 8;
export const FILE_HANDLE_LEN = 24;
export const HANDLE_VERSION = 1;
export const HANDLE_KIND_OBJECT = 1;

export type ParsedHandle =
  | { kind: 'global' }
  | { kind: 'fs'; fsid: bigint }
  | { kind: 'file'; fsid: bigint; ino: bigint; igen: number };

function check(b: Buffer): number {
  let s = 0;
  for (let i = 0; i < 22; i++) s += b[i];
  return s & 0xffff;
}

/** Structural parse (dm_handle_is_valid); null when malformed. */
export function parseHandle(h: Buffer | Uint8Array | null | undefined): ParsedHandle | null {
  if (!h) return null;
  const b = Buffer.isBuffer(h) ? h : Buffer.from(h);
  if (b.length === 1) return b[0] === 0x01 ? { kind: 'global' } : null;
  if (b.length === FS_HANDLE_LEN) {
    const fsid = b.readBigUInt64LE(0);
    return fsid === 0n ? null : { kind: 'fs', fsid };
  }
  if (b.length === FILE_HANDLE_LEN) {
    const fsid = b.readBigUInt64LE(0);
    if (fsid === 0n || b[20] !== HANDLE_VERSION || b[21] !== HANDLE_KIND_OBJECT || b.readUInt16LE(22) !== check(b)) return null;
    return { kind: 'file', fsid, ino: b.readBigUInt64LE(8), igen: b.readUInt32LE(16) };
  }
  return null;
}

export function makeFsHandle(fsid: bigint): Buffer {
  if (fsid === 0n) fail(E.EINVAL, 'fsid 0 is not a filesystem');
  const b = Buffer.alloc(FS_HANDLE_LEN);
  b.writeBigUInt64LE(BigInt.asUintN(64, fsid), 0);
  return b;
}

export function makeHandle(fsid: bigint, ino: bigint, igen: number): Buffer {
  if (fsid === 0n) fail(E.EINVAL, 'fsid 0 is not a filesystem');
  const b = Buffer.alloc(FILE_HANDLE_LEN);
  b.writeBigUInt64LE(BigInt.asUintN(64, fsid), 0);
  b.writeBigUInt64LE(BigInt.asUintN(64, ino), 8);
  b.writeUInt32LE(igen >>> 0, 16);
  b[20] = HANDLE_VERSION;
  b[21] = HANDLE_KIND_OBJECT;
  b.writeUInt16LE(check(b), 22);
  return b;
}

export function handleIsValid(h: Buffer): boolean {
  return parseHandle(h) !== null;
}

/** dm_handle_cmp: 0 when equal; otherwise orders by length, then bytes (SGI). */
export function handleCmp(a: Buffer, b: Buffer): number {
  if (a.length !== b.length) return a.length < b.length ? -1 : 1;
  return Buffer.compare(a, b);
}

/** dm_handle_hash: the byte sum (SGI libdm). */
export function handleHash(h: Buffer): number {
  let s = 0;
  for (const x of h) s = (s + x) >>> 0;
  return s;
}

/** dm_handle_to_fsid: EBADF for the global handle, EINVAL when malformed. */
export function handleToFsid(h: Buffer): bigint {
  const p = parseHandle(h);
  if (!p) fail(E.EINVAL, 'malformed handle');
  if (p.kind === 'global') fail(E.EBADF, 'the global handle has no filesystem');
  return p.fsid;
}
export function handleToIno(h: Buffer): bigint {
  const p = parseHandle(h);
  if (!p) fail(E.EINVAL, 'malformed handle');
  if (p.kind !== 'file') fail(E.EBADF, 'not an object handle');
  return p.ino;
}
export function handleToIgen(h: Buffer): number {
  const p = parseHandle(h);
  if (!p) fail(E.EINVAL, 'malformed handle');
  if (p.kind !== 'file') fail(E.EBADF, 'not an object handle');
  return p.igen;
}
export function handleToFshandle(h: Buffer): Buffer {
  return makeFsHandle(handleToFsid(h));
}
