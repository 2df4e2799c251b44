// C layouts of the variable-length DMAPI structures, built by the daemon so that the C library
// copies them into the caller's buffer unchanged, and parsed by the TypeScript client. Every layout
// is given in docs/dmapi-protocol.md (x86-64, little-endian, SGI field order and int sizes).
//
// Offsets of dm_vardata_t are relative to the start of the structure that contains the vardata;
// names carry their NUL and vd_length counts it; lists are chained by `_link` (bytes from this
// entry to the next, 0 on the last); every list entry starts on an 8-byte boundary.

export const EVENTMSG_SIZE = 24; // i32 _link, i32 ev_type, i32 ev_token, u32 ev_sequence, vardata ev_data
export const DATA_EVENT_SIZE = 24; // vardata de_handle, i64 de_offset, u64 de_length
export const NAMESP_EVENT_SIZE = 40; // u32 ne_mode, vardata ne_handle1/2, ne_name1/2, i32 ne_retcode
export const MOUNT_EVENT_SIZE = 44; // u32 me_mode, vardata me_handle1/2, me_name1/2, me_roothandle
export const DESTROY_EVENT_SIZE = 24; // vardata ds_handle, char ds_attrname[8], vardata ds_attrcopy
export const DISPINFO_SIZE = 24; // i32 _link, u32 pad, vardata di_fshandle, u64 di_eventset
export const ATTRLIST_SIZE = 20; // i32 _link, char al_name[8], vardata al_data
export const STAT_SIZE = 168; // dm_stat_t, see statEntry
export const XSTAT_SIZE = 176; // dm_xstat_t: dm_stat_t + vardata dx_attrdata
export const REGION_SIZE = 24; // i64 rg_offset, u64 rg_size, u32 rg_flags, u32 rg_opaque
export const EXTENT_SIZE = 24; // u32 ex_type, u32 pad, i64 ex_offset, u64 ex_length
export const INHERIT_SIZE = 12; // char ih_name[8], u32 ih_filetype

export const align8 = (n: number) => (n + 7) & ~7;

/** Lays out a fixed part followed by var data; returns the bytes and writes the vardata fields. */
function withVars(fixed: number, vars: Array<[number, Buffer | null]>, fill: (b: Buffer) => void): Buffer {
  let size = fixed;
  for (const [, v] of vars) size += v ? v.length : 0;
  const b = Buffer.alloc(size);
  fill(b);
  let o = fixed;
  for (const [at, v] of vars) {
    if (v && v.length) {
      b.writeInt32LE(o, at);
      b.writeUInt32LE(v.length, at + 4);
      v.copy(b, o);
      o += v.length;
    } else {
      b.writeInt32LE(0, at);
      b.writeUInt32LE(0, at + 4);
    }
  }
  return b;
}

/** A NUL-terminated name as DMAPI messages carry it. */
export function cname(s: string | Buffer | null | undefined): Buffer | null {
  if (s === null || s === undefined) return null;
  const b = typeof s === 'string' ? Buffer.from(s) : s;
  return Buffer.concat([b, Buffer.from([0])]);
}

export function dataEvent(handle: Buffer, offset: bigint, length: bigint): Buffer {
  return withVars(DATA_EVENT_SIZE, [[0, handle]], (b) => {
    b.writeBigInt64LE(offset, 8);
    b.writeBigUInt64LE(length, 16);
  });
}

export interface NamespEvent {
  mode: number;
  handle1?: Buffer | null;
  handle2?: Buffer | null;
  name1?: string | Buffer | null;
  name2?: string | Buffer | null;
  retcode?: number;
}
export function namespEvent(e: NamespEvent): Buffer {
  return withVars(NAMESP_EVENT_SIZE, [[4, e.handle1 ?? null], [12, e.handle2 ?? null], [20, cname(e.name1)], [28, cname(e.name2)]], (b) => {
    b.writeUInt32LE(e.mode >>> 0, 0);
    b.writeInt32LE(e.retcode ?? 0, 36);
  });
}

export interface MountEvent {
  mode: number;
  fsHandle: Buffer;
  mountDirHandle: Buffer | null;
  mountPoint: string;
  device: string;
  rootHandle: Buffer;
}
export function mountEvent(e: MountEvent): Buffer {
  return withVars(MOUNT_EVENT_SIZE, [[4, e.fsHandle], [12, e.mountDirHandle], [20, cname(e.mountPoint)], [28, cname(e.device)], [36, e.rootHandle]], (b) => {
    b.writeUInt32LE(e.mode >>> 0, 0);
  });
}

export function destroyEvent(handle: Buffer, attrName: Buffer | null, attrCopy: Buffer | null): Buffer {
  return withVars(DESTROY_EVENT_SIZE, [[0, handle], [16, attrCopy]], (b) => {
    if (attrName) attrName.copy(b, 8, 0, 8);
  });
}

/** One dm_eventmsg_t (without its _link, set when chained). */
export function eventMsg(type: number, token: number, sequence: number, data: Buffer): Buffer {
  const b = Buffer.alloc(EVENTMSG_SIZE + data.length);
  b.writeInt32LE(0, 0);
  b.writeInt32LE(type, 4);
  b.writeInt32LE(token, 8);
  b.writeUInt32LE(sequence >>> 0, 12);
  b.writeInt32LE(EVENTMSG_SIZE, 16);
  b.writeUInt32LE(data.length, 20);
  data.copy(b, EVENTMSG_SIZE);
  return b;
}

/** Chains entries with `_link` (each padded to 8 bytes; the last link is 0). */
export function chain(entries: Buffer[]): Buffer {
  let size = 0;
  for (let i = 0; i < entries.length; i++) size += i === entries.length - 1 ? entries[i].length : align8(entries[i].length);
  const out = Buffer.alloc(size);
  let o = 0;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    e.copy(out, o);
    const step = align8(e.length);
    out.writeInt32LE(i === entries.length - 1 ? 0 : step, o);
    o += step;
  }
  return out;
}
/** Size a chained list of entries takes. */
export function chainSize(sizes: number[]): number {
  let s = 0;
  for (let i = 0; i < sizes.length; i++) s += i === sizes.length - 1 ? sizes[i] : align8(sizes[i]);
  return s;
}

export function dispInfo(fsHandle: Buffer, eventset: bigint): Buffer {
  return withVars(DISPINFO_SIZE, [[8, fsHandle]], (b) => b.writeBigUInt64LE(eventset, 16));
}

export function attrList(name: Buffer, value: Buffer): Buffer {
  return withVars(ATTRLIST_SIZE, [[12, value]], (b) => name.copy(b, 4, 0, 8));
}

/**
 * The dm_getall_dmattr list as SGI's xfs_dm_getall_dmattr lays it out: every entry, the last one
 * included, padded to 4 bytes, _link = the padded size (0 in the last). One 30-byte value is
 * 20 + 30 → 52 bytes; a buffer sized by SGI's rule (the sum of the padded entries) is enough.
 */
export function attrListChain(entries: Buffer[]): Buffer {
  const align4 = (n: number) => (n + 3) & ~3;
  const out = Buffer.alloc(entries.reduce((s, e) => s + align4(e.length), 0));
  let o = 0;
  entries.forEach((e, i) => {
    e.copy(out, o);
    out.writeInt32LE(i === entries.length - 1 ? 0 : align4(e.length), o);
    o += align4(e.length);
  });
  return out;
}

export interface StatInfo {
  handle: Buffer | null;
  compname: string | null;
  nevents: number;
  emask: bigint;
  pers: number;
  pmanreg: number;
  dtime: bigint;
  change: number;
  dev: bigint;
  ino: bigint;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: bigint;
  size: bigint;
  atime: bigint;
  mtime: bigint;
  ctime: bigint;
  blksize: number;
  blocks: bigint;
  /** SGI's tail: dt_fstype and fsys_dep.sgi_xfs (see statEntry). */
  fstype: number;
  igen: number;
  xflags: number;
  extsize: number;
  extents: number;
  aextents: number;
  dmstate: number;
}

/**
 * dm_stat_t (168 bytes) [+ dx_attrdata for dm_xstat_t]:
 *  0 i32 _link · 4 vardata dt_handle · 12 vardata dt_compname · 20 i32 dt_nevents · 24 u64 dt_emask ·
 *  32 i32 dt_pers · 36 i32 dt_pmanreg · 40 i64 dt_dtime · 48 u32 dt_change · 52 pad · 56 u64 dt_dev ·
 *  64 u64 dt_ino · 72 u32 dt_mode · 76 u32 dt_nlink · 80 u32 dt_uid · 84 u32 dt_gid · 88 u64 dt_rdev ·
 *  96 i64 dt_size · 104 i64 dt_atime · 112 i64 dt_mtime · 120 i64 dt_ctime · 128 u32 dt_blksize ·
 *  132 pad · 136 u64 dt_blocks · 144 i32 dt_fstype · 148 u32 dt_xfs_igen · 152 u32 dt_xfs_xflags ·
 *  156 u32 dt_xfs_extsize · 160 u32 dt_xfs_extents · 164 u16 dt_xfs_aextents · 166 u16 dt_xfs_dmstate
 *  [· 168 vardata dx_attrdata]
 */
export function statEntry(s: StatInfo, xattr?: Buffer | null): Buffer {
  const fixed = xattr === undefined ? STAT_SIZE : XSTAT_SIZE;
  const vars: Array<[number, Buffer | null]> = [[4, s.handle], [12, cname(s.compname)]];
  if (xattr !== undefined) vars.push([STAT_SIZE, xattr]);
  return withVars(fixed, vars, (b) => {
    b.writeInt32LE(s.nevents, 20);
    b.writeBigUInt64LE(s.emask, 24);
    b.writeInt32LE(s.pers, 32);
    b.writeInt32LE(s.pmanreg, 36);
    b.writeBigInt64LE(s.dtime, 40);
    b.writeUInt32LE(s.change >>> 0, 48);
    b.writeBigUInt64LE(s.dev, 56);
    b.writeBigUInt64LE(s.ino, 64);
    b.writeUInt32LE(s.mode >>> 0, 72);
    b.writeUInt32LE(s.nlink >>> 0, 76);
    b.writeUInt32LE(s.uid >>> 0, 80);
    b.writeUInt32LE(s.gid >>> 0, 84);
    b.writeBigUInt64LE(s.rdev, 88);
    b.writeBigInt64LE(s.size, 96);
    b.writeBigInt64LE(s.atime, 104);
    b.writeBigInt64LE(s.mtime, 112);
    b.writeBigInt64LE(s.ctime, 120);
    b.writeUInt32LE(s.blksize >>> 0, 128);
    b.writeBigUInt64LE(s.blocks, 136);
    b.writeInt32LE(s.fstype, 144);
    b.writeUInt32LE(s.igen >>> 0, 148);
    b.writeUInt32LE(s.xflags >>> 0, 152);
    b.writeUInt32LE(s.extsize >>> 0, 156);
    b.writeUInt32LE(Math.min(s.extents, 0xffffffff) >>> 0, 160);
    b.writeUInt16LE(s.aextents & 0xffff, 164);
    b.writeUInt16LE(s.dmstate & 0xffff, 166);
  });
}

export interface Region { offset: bigint; size: bigint; flags: number; opaque: number }
export function packRegions(r: Region[]): Buffer {
  const b = Buffer.alloc(r.length * REGION_SIZE);
  r.forEach((x, i) => {
    b.writeBigInt64LE(x.offset, i * REGION_SIZE);
    b.writeBigUInt64LE(x.size, i * REGION_SIZE + 8);
    b.writeUInt32LE(x.flags >>> 0, i * REGION_SIZE + 16);
    b.writeUInt32LE(x.opaque >>> 0, i * REGION_SIZE + 20);
  });
  return b;
}
export function unpackRegions(b: Buffer): Region[] | null {
  if (b.length % REGION_SIZE) return null;
  const out: Region[] = [];
  for (let o = 0; o < b.length; o += REGION_SIZE) {
    out.push({ offset: b.readBigInt64LE(o), size: b.readBigUInt64LE(o + 8), flags: b.readUInt32LE(o + 16), opaque: b.readUInt32LE(o + 20) });
  }
  return out;
}

export interface Extent { type: number; offset: bigint; length: bigint }
export function packExtents(x: Extent[]): Buffer {
  const b = Buffer.alloc(x.length * EXTENT_SIZE);
  x.forEach((e, i) => {
    b.writeUInt32LE(e.type, i * EXTENT_SIZE);
    b.writeBigInt64LE(e.offset, i * EXTENT_SIZE + 8);
    b.writeBigUInt64LE(e.length, i * EXTENT_SIZE + 16);
  });
  return b;
}
export function unpackExtents(b: Buffer): Extent[] {
  const out: Extent[] = [];
  for (let o = 0; o + EXTENT_SIZE <= b.length; o += EXTENT_SIZE) {
    out.push({ type: b.readUInt32LE(o), offset: b.readBigInt64LE(o + 8), length: b.readBigUInt64LE(o + 16) });
  }
  return out;
}

// ---- parsing (TypeScript client) ---------------------------------------------------------------

export function vardata(b: Buffer, base: number, at: number): Buffer {
  const off = b.readInt32LE(base + at);
  const len = b.readUInt32LE(base + at + 4);
  if (!len) return Buffer.alloc(0);
  return Buffer.from(b.subarray(base + off, base + off + len));
}
export function vstring(b: Buffer, base: number, at: number): string {
  const v = vardata(b, base, at);
  const z = v.indexOf(0);
  return v.subarray(0, z < 0 ? v.length : z).toString();
}

/** Offsets of the entries of a chained list. */
export function walkChain(b: Buffer): number[] {
  const out: number[] = [];
  if (!b.length) return out;
  let o = 0;
  for (;;) {
    out.push(o);
    const link = b.readInt32LE(o);
    if (link <= 0 || o + link >= b.length) break;
    o += link;
  }
  return out;
}
