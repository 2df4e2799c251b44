// Randomized differential testing of a filesystem against a reference directory.
//
// A seeded generator produces a sequence of operations (create with random open flags, reads and
// writes at random offsets incl. past EOF and past 4 GiB, truncate, rename in all its forms,
// link, unlink, mkdir, rmdir, symlink, chmod, utimensat with nanoseconds and UTIME_NOW/OMIT,
// xattrs, fallocate, lseek SEEK_DATA/SEEK_HOLE, mmap reads and writes...). Each operation is
// applied to both trees, the subject (a dmapifs mount) and the reference (a plain directory on
// the same kind of filesystem), and their results are compared: return value or errno code, data
// read, and the attributes of what the operation touched. Every `checkEvery` operations and at
// the end the whole trees are compared: names, types, sizes, modes, nlink, uid/gid, mtime,
// hard-link structure, contents, xattrs and symlink targets.
//
// Times: an operation that changes mtime implicitly stamps "now", which can never be equal on
// both sides; explicit times set by the test are always far from now (before 2011, or after
// 2100). So an mtime is compared exactly unless it lies within the run's time window, and then
// the other side's must lie in the window too. atime and ctime are not compared, except the
// atime an explicit utimensat just set.
import * as fs from 'fs';
import * as os from 'os';
import * as sys from '../../src/native/sys';
import { MmapHelper, MmapReply } from './mmap-helper';

const O = fs.constants;
const ERRNO_NAMES = new Map<number, string>(Object.entries(os.constants.errno).map(([k, v]) => [v, k]));

// ---------------------------------------------------------------------------------------- rng

/** xoshiro128** seeded through splitmix32: fast, and the same sequence on every platform. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    let s = seed >>> 0;
    const next = () => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next(); this.b = next(); this.c = next(); this.d = next();
  }

  u32(): number {
    const r = Math.imul(rotl(Math.imul(this.b, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.b << 9) >>> 0;
    this.c ^= this.a; this.d ^= this.b; this.b ^= this.c; this.a ^= this.d;
    this.c ^= t; this.d = rotl(this.d, 11);
    return r;
  }

  /** Uniform in [0, n) for n up to 2^53. */
  int(n: number): number {
    if (n <= 0) return 0;
    if (n <= 0x100000000) return Math.floor((this.u32() / 0x100000000) * n);
    return Math.floor(((this.u32() * 0x100000000 + this.u32()) / 2 ** 64) * n);
  }

  /** Uniform in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.u32() / 0x100000000 < p;
  }

  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)];
  }

  weighted<T>(pairs: ReadonlyArray<readonly [number, T]>): T {
    let total = 0;
    for (const [w] of pairs) total += w;
    let x = (this.u32() / 0x100000000) * total;
    for (const [w, v] of pairs) {
      if (x < w) return v;
      x -= w;
    }
    return pairs[pairs.length - 1][1];
  }

  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    let i = 0;
    // Runs of one byte now and then, so zero pages and compressible data also occur.
    if (n > 64 && this.chance(0.1)) return b.fill(this.chance(0.5) ? 0 : this.u32() & 0xff);
    for (; i + 4 <= n; i += 4) b.writeUInt32LE(this.u32(), i);
    for (; i < n; i++) b[i] = this.u32() & 0xff;
    return b;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

// ---------------------------------------------------------------------------------- outcomes

/** What one side returned: a value, or an errno code. */
export type Outcome = { ok: true; v: unknown } | { ok: false; e: string };

export function errnoName(n: number): string {
  return ERRNO_NAMES.get(n) ?? sys.errnoName(n) ?? `errno${n}`;
}

class SysError extends Error {
  constructor(readonly code: string) {
    super(code);
  }
}

/** A sys.* result: throws its errno as a code when negative. */
function sr<T>(r: T | number): T | number {
  if (typeof r === 'number' && r < 0) throw new SysError(errnoName(-r));
  return r;
}

function attempt(fn: () => unknown): Outcome {
  try {
    return { ok: true, v: fn() };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && /^E[A-Z0-9]+$/.test(code)) return { ok: false, e: code };
    throw e;
  }
}

function sameValue(a: unknown, b: unknown): boolean {
  if (Buffer.isBuffer(a) || Buffer.isBuffer(b)) return Buffer.isBuffer(a) && Buffer.isBuffer(b) && a.equals(b);
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a as object);
    const kb = Object.keys(b as object);
    if (ka.length !== kb.length) return false;
    for (const k of ka) if (!sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
    return true;
  }
  return a === b;
}

export function sameOutcome(a: Outcome, b: Outcome): boolean {
  if (a.ok !== b.ok) return false;
  if (!a.ok) return a.e === (b as { e: string }).e;
  return sameValue(a.v, (b as { v: unknown }).v);
}

function showValue(v: unknown): string {
  if (Buffer.isBuffer(v)) {
    const h = v.subarray(0, 24).toString('hex');
    return `<${v.length} bytes ${h}${v.length > 24 ? '…' : ''}>`;
  }
  if (v && typeof v === 'object') {
    return '{' + Object.entries(v as Record<string, unknown>).map(([k, x]) => `${k}: ${showValue(x)}`).join(', ') + '}';
  }
  return JSON.stringify(v) ?? String(v);
}

export function showOutcome(o: Outcome): string {
  return o.ok ? `ok ${showValue(o.v)}` : `error ${o.e}`;
}

/** Where two buffers first differ (for messages). */
function firstDiff(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

// ---------------------------------------------------------------------------------- attributes

/** Window of "now" timestamps of the run, in ns since the epoch. */
export interface TimeWindow {
  lo: bigint;
  hi: () => bigint;
}

export function timeWindow(slackMs = 5000): TimeWindow {
  const lo = BigInt(Date.now() - slackMs) * 1000000n;
  return { lo, hi: () => BigInt(Date.now() + slackMs) * 1000000n };
}

function timeClass(ns: bigint, w: TimeWindow): string {
  return ns >= w.lo && ns <= w.hi() ? 'now' : ns.toString();
}

const TYPES: Record<number, string> = { 0o140000: 'sock', 0o120000: 'link', 0o100000: 'file', 0o060000: 'blk', 0o040000: 'dir', 0o020000: 'chr', 0o010000: 'fifo' };

/** The compared attributes of a stat (no inode number, device, atime, ctime, blocks). */
export function attrs(st: fs.BigIntStats, w: TimeWindow): Record<string, string | number> {
  const mode = Number(st.mode);
  return {
    type: TYPES[mode & 0o170000] ?? `type${mode & 0o170000}`,
    mode: (mode & 0o7777).toString(8),
    size: Number(st.size),
    nlink: Number(st.nlink),
    uid: Number(st.uid),
    gid: Number(st.gid),
    mtime: timeClass(st.mtimeNs, w),
  };
}

// ---------------------------------------------------------------------------------- tree compare

export interface TreeCompareOptions {
  /** Names ignored in the top directory of each side (e.g. the mount's quota reports). */
  excludeTopA?: ReadonlySet<string>;
  excludeTopB?: ReadonlySet<string>;
  window: TimeWindow;
  /** Stop after this many differences. */
  limit?: number;
}

export interface TreeCompareResult {
  diffs: string[];
  /** Relative paths seen on side B (the reference), by type. */
  files: string[];
  dirs: string[];
  links: string[];
  entries: number;
  bytes: number;
}

const CHUNK = 1 << 17;

/**
 * Paths are byte strings (latin1: one char per byte), so that names which are not UTF-8 travel
 * whole: every path goes to the system as B(path), every name comes back decoded as latin1.
 */
export function B(p: string): Buffer {
  return Buffer.from(p, 'latin1');
}

function xattrsOf(p: Buffer): Record<string, Buffer> | string {
  const names = sys.llistxattr(p);
  if (typeof names === 'number') return errnoName(-names);
  const out: Record<string, Buffer> = {};
  for (const n of [...names].sort()) {
    const v = sys.lgetxattr(p, n);
    out[n] = typeof v === 'number' ? Buffer.from(`<${errnoName(-v)}>`) : v;
  }
  return out;
}

/** Compares two files' contents, skipping ranges both report as holes. Returns bytes compared. */
function compareContents(pa: string, pb: string, size: number, rel: string, diffs: string[]): number {
  const fa = fs.openSync(B(pa), O.O_RDONLY | O.O_NOFOLLOW);
  const fb = fs.openSync(B(pb), O.O_RDONLY | O.O_NOFOLLOW);
  const ba = Buffer.allocUnsafe(CHUNK);
  const bb = Buffer.allocUnsafe(CHUNK);
  let compared = 0;
  try {
    const dataFrom = (fd: number, pos: number): number => {
      const r = sys.lseek(fd, pos, sys.SEEK_DATA);
      return r < 0 ? size : r;
    };
    let pos = 0;
    while (pos < size) {
      const d = Math.min(dataFrom(fa, pos), dataFrom(fb, pos));
      if (d >= size) break;
      const start = d - (d % CHUNK);
      const len = Math.min(CHUNK, size - start);
      const na = fs.readSync(fa, ba, 0, len, start);
      const nb = fs.readSync(fb, bb, 0, len, start);
      compared += len;
      if (na !== nb || !ba.subarray(0, na).equals(bb.subarray(0, nb))) {
        const at = start + firstDiff(ba.subarray(0, na), bb.subarray(0, nb));
        diffs.push(`${rel}: contents differ at byte ${at} (read ${na} vs ${nb} bytes at ${start})`);
        break;
      }
      pos = start + len;
    }
    // Past the end both must read nothing.
    const ea = fs.readSync(fa, ba, 0, 1, size);
    const eb = fs.readSync(fb, bb, 0, 1, size);
    if (ea !== eb) diffs.push(`${rel}: read at EOF ${size} gave ${ea} vs ${eb} bytes`);
  } finally {
    fs.closeSync(fa);
    fs.closeSync(fb);
  }
  return compared;
}

/**
 * Walks two trees in lockstep and lists every difference. Side A is the subject, side B the
 * reference.
 */
export function compareTrees(rootA: string, rootB: string, o: TreeCompareOptions): TreeCompareResult {
  const res: TreeCompareResult = { diffs: [], files: [], dirs: [], links: [], entries: 0, bytes: 0 };
  const limit = o.limit ?? 20;
  // Hard-link structure: the first path seen of each inode, per side.
  const firstA = new Map<bigint, string>();
  const firstB = new Map<bigint, string>();
  const walk = (rel: string, top: boolean) => {
    const da = rel ? `${rootA}/${rel}` : rootA;
    const db = rel ? `${rootB}/${rel}` : rootB;
    let na = fs.readdirSync(B(da), { encoding: 'latin1' });
    let nb = fs.readdirSync(B(db), { encoding: 'latin1' });
    if (top && o.excludeTopA) na = na.filter((n) => !o.excludeTopA!.has(n));
    if (top && o.excludeTopB) nb = nb.filter((n) => !o.excludeTopB!.has(n));
    na.sort();
    nb.sort();
    if (na.join('/') !== nb.join('/')) {
      const sa = new Set(na);
      const sb = new Set(nb);
      const onlyA = na.filter((n) => !sb.has(n));
      const onlyB = nb.filter((n) => !sa.has(n));
      res.diffs.push(`${rel || '.'}: names differ: only in subject [${onlyA.join(', ')}], only in reference [${onlyB.join(', ')}]`);
    }
    const setA = new Set(na);
    for (const name of nb) {
      if (res.diffs.length >= limit) return;
      if (!setA.has(name)) continue;
      const r = rel ? `${rel}/${name}` : name;
      const pa = `${rootA}/${r}`;
      const pb = `${rootB}/${r}`;
      res.entries++;
      let sa: fs.BigIntStats;
      let sb: fs.BigIntStats;
      try {
        sa = fs.lstatSync(B(pa), { bigint: true });
        sb = fs.lstatSync(B(pb), { bigint: true });
      } catch (e) {
        res.diffs.push(`${r}: listed, but lstat failed: ${(e as Error).message}`);
        continue;
      }
      const aa = attrs(sa, o.window);
      const ab = attrs(sb, o.window);
      if (!sameValue(aa, ab)) res.diffs.push(`${r}: attributes differ: subject ${showValue(aa)} reference ${showValue(ab)}`);
      if (!sa.isDirectory()) {
        const fa = firstA.get(sa.ino);
        const fb = firstB.get(sb.ino);
        if (fa === undefined) firstA.set(sa.ino, r);
        if (fb === undefined) firstB.set(sb.ino, r);
        if ((fa ?? r) !== (fb ?? r)) res.diffs.push(`${r}: hard links differ: subject same file as ${fa ?? '(none)'}, reference as ${fb ?? '(none)'}`);
      }
      const xa = xattrsOf(B(pa));
      const xb = xattrsOf(B(pb));
      if (!sameValue(xa, xb)) res.diffs.push(`${r}: xattrs differ: subject ${showValue(xa)} reference ${showValue(xb)}`);
      if (sb.isSymbolicLink()) {
        res.links.push(r);
        if (sa.isSymbolicLink()) {
          const ta = fs.readlinkSync(B(pa), { encoding: 'latin1' });
          const tb = fs.readlinkSync(B(pb), { encoding: 'latin1' });
          if (ta !== tb) res.diffs.push(`${r}: symlink targets differ: ${JSON.stringify(ta)} vs ${JSON.stringify(tb)}`);
        }
      } else if (sb.isFile()) {
        res.files.push(r);
        if (sa.isFile() && sa.size === sb.size) res.bytes += compareContents(pa, pb, Number(sb.size), r, res.diffs);
      } else if (sb.isDirectory()) {
        res.dirs.push(r);
        if (sa.isDirectory()) walk(r, false);
      }
    }
  };
  walk('', true);
  return res;
}

// ---------------------------------------------------------------------------------- the runner

export interface DiffOptions {
  seed: number;
  ops: number;
  /** Directory operated on in the subject (inside the mount) and in the reference. */
  subject: string;
  reference: string;
  /** A scratch directory for the mmap helper (not inside either tree). */
  scratch: string;
  /** Compare the whole trees every this many operations (and at the end). */
  checkEvery?: number;
  /** Most descriptors open at once per side. */
  maxFds?: number;
  /** Progress lines. */
  log?: (line: string) => void;
}

export interface DiffStats {
  ops: number;
  /** Operations per kind. */
  byKind: Record<string, number>;
  /** Operations that succeeded (identically) on both sides, per kind. */
  succeeded: Record<string, number>;
  /** Operations that failed (identically) on both sides, per errno. */
  errors: Record<string, number>;
  treeChecks: number;
  bytesWritten: number;
  bytesCompared: number;
  maxEntries: number;
  /** Operations on a path with a name that is not UTF-8 that succeeded on both sides. */
  nonUtf8: number;
  ms: number;
}

export class DiffMismatch extends Error {}

interface Slot {
  fds: [number, number];
  path: string;
  flags: number;
  /** The descriptor is a directory. */
  dir: boolean;
}

interface Op {
  kind: string;
  desc: string;
  run: (side: 0 | 1, root: string) => unknown;
  /** After both sides ran the operation with the same outcome. */
  after?: (o: Outcome) => void;
  /** When the sides disagree: release what one side acquired. */
  cleanup?: () => void;
}

// 'n\xe9' and '\xff\xfe' are not UTF-8 (a lone 0xE9, 0xFF 0xFE): names are bytes, not text.
const NAMES = ['a', 'b', 'c', 'd', 'e', 'f', 'n\xe9', '\xff\xfe'];
const ASCII = /^[\x00-\x7f]*$/;
const LONG_OK = 'L'.repeat(255);
const LONG_BAD = 'M'.repeat(256);
const XATTR_NAMES = ['user.a', 'user.b', 'user.c', 'user.' + 'n'.repeat(250), 'user.' + 'o'.repeat(251), 'trusted.t', 'security.s', 'system.nope', 'bogus.x'];
const MODES = [0o644, 0o600, 0o755, 0o700, 0o444, 0o000, 0o666, 0o777, 0o4755, 0o2755, 0o1777, 0o6711, 0o640, 0o2770];
const UMASKS = [0o022, 0o000, 0o077, 0o027, 0o002];
const GiB4 = 2 ** 32;

/** A far-from-now timestamp: before 2011 (also negative) or after 2100. */
function explicitTime(rng: Rng): [number, number] {
  const sec = rng.weighted<() => number>([
    [6, () => rng.range(0, 1293840000)],
    [2, () => -rng.range(1, 2 ** 31 - 1)],
    [2, () => rng.range(4102444800, 9999999999)],
  ])();
  const ns = rng.weighted<() => number>([[8, () => rng.int(1e9)], [1, () => 0], [1, () => 999999999]])();
  return [sec, ns];
}

export class DiffRunner {
  private readonly rng: Rng;
  private readonly roots: [string, string];
  private readonly slots: Array<Slot | null>;
  /** The run's window of "now" timestamps (for comparisons made after it). */
  readonly window = timeWindow();
  private readonly history: string[] = [];
  private known: { files: string[]; dirs: string[]; links: string[] } = { files: [], dirs: [], links: [] };
  private mmap: MmapHelper | null = null;
  private umask = 0o022;
  private readonly stats: DiffStats = { ops: 0, byKind: {}, succeeded: {}, errors: {}, treeChecks: 0, bytesWritten: 0, bytesCompared: 0, maxEntries: 0, nonUtf8: 0, ms: 0 };
  private index = 0;
  /**
   * Reference inodes that had unwritten extents allocated (fallocate modes 0, KEEP_SIZE,
   * ZERO_RANGE). ext4 reports such a range as data or hole depending on what the page cache holds
   * (iomap seek treats uptodate pages over unwritten extents as data), and the mount's page cache
   * reads ahead differently: SEEK_DATA/SEEK_HOLE answers there are checked for validity only.
   */
  private readonly unwritten = new Set<bigint>();

  constructor(private readonly o: DiffOptions) {
    this.rng = new Rng(o.seed);
    this.roots = [o.subject, o.reference];
    this.slots = new Array(o.maxFds ?? 8).fill(null);
  }

  // ------------------------------------------------------------------ driving

  run(): DiffStats {
    const t0 = Date.now();
    const every = this.o.checkEvery ?? 2000;
    const oldUmask = process.umask(this.umask);
    this.mmap = MmapHelper.start(this.o.scratch);
    try {
      this.treeCheck();
      for (this.index = 0; this.index < this.o.ops; this.index++) {
        this.step();
        if ((this.index + 1) % every === 0) {
          this.treeCheck();
          this.o.log?.(`${this.index + 1} ops, ${Math.round((Date.now() - t0) / 1000)} s, ${this.stats.maxEntries} entries max`);
        }
      }
      this.closeAll();
      this.treeCheck();
    } finally {
      this.closeAll();
      this.mmap.close();
      process.umask(oldUmask);
    }
    this.stats.ops = this.o.ops;
    this.stats.ms = Date.now() - t0;
    return this.stats;
  }

  private fail(msg: string): never {
    const tail = this.history.slice(-(Number(process.env.DMAPIFS_DIFF_HISTORY) || 25)).join('\n  ');
    throw new DiffMismatch(`seed ${this.o.seed}, op #${this.index}: ${msg}\n  last operations:\n  ${tail}\n` +
      `replay with DMAPIFS_DIFF_SEED=${this.o.seed} DMAPIFS_DIFF_OPS=${this.index + 1}`);
  }

  private record(s: string): void {
    this.history.push(`#${this.index} ${s}`);
    if (this.history.length > 10000) this.history.splice(0, 5000);
  }

  private step(): void {
    const op = this.generate();
    this.record(op.desc);
    const a = attempt(() => op.run(0, this.roots[0]));
    const b = attempt(() => op.run(1, this.roots[1]));
    this.stats.byKind[op.kind] = (this.stats.byKind[op.kind] ?? 0) + 1;
    if (!sameOutcome(a, b)) {
      op.cleanup?.(); // do not leak a descriptor one side opened
      this.fail(`${op.desc}\n  subject:   ${showOutcome(a)}\n  reference: ${showOutcome(b)}`);
    }
    if (!b.ok) this.stats.errors[b.e] = (this.stats.errors[b.e] ?? 0) + 1;
    else {
      this.stats.succeeded[op.kind] = (this.stats.succeeded[op.kind] ?? 0) + 1;
      if (!ASCII.test(op.desc)) this.stats.nonUtf8++;
    }
    op.after?.(b);
  }

  private treeCheck(): void {
    const r = compareTrees(this.roots[0], this.roots[1], { window: this.window });
    this.stats.treeChecks++;
    this.stats.bytesCompared += r.bytes;
    this.stats.maxEntries = Math.max(this.stats.maxEntries, r.entries);
    if (r.diffs.length) this.fail(`trees differ:\n  ${r.diffs.join('\n  ')}`);
    this.known = { files: r.files, dirs: r.dirs, links: r.links };
  }

  private closeAll(): void {
    for (let i = 0; i < this.slots.length; i++) {
      const s = this.slots[i];
      if (!s) continue;
      this.slots[i] = null;
      for (const fd of s.fds) try { fs.closeSync(fd); } catch { /* closed */ }
    }
  }

  // ------------------------------------------------------------------ choosing arguments

  private randomPath(maxDepth = 3): string {
    const depth = this.rng.weighted([[45, 1], [35, 2], [20, 3]] as const);
    const parts: string[] = [];
    for (let i = 0; i < Math.min(depth, maxDepth); i++) parts.push(this.rng.pick(NAMES));
    if (this.rng.chance(0.005)) parts[parts.length - 1] = this.rng.chance(0.5) ? LONG_OK : LONG_BAD;
    return parts.join('/');
  }

  /** A path, biased to what exists in the reference (by kind). */
  private path(kind: 'file' | 'dir' | 'any' | 'new' = 'any'): string {
    const k = this.known;
    const pool = kind === 'file' ? k.files : kind === 'dir' ? k.dirs : [...k.files, ...k.dirs, ...k.links];
    // New names go into shallow directories, so the tree stays a few levels deep (renames of
    // directories still make deeper paths now and then).
    const shallow = k.dirs.filter((d) => depthOf(d) < 3);
    if (kind === 'new') {
      if (shallow.length && this.rng.chance(0.5)) return `${this.rng.pick(shallow)}/${this.rng.pick(NAMES)}`;
      return this.randomPath();
    }
    if (pool.length && this.rng.chance(0.65)) return this.rng.pick(pool);
    if (shallow.length && this.rng.chance(0.3)) return `${this.rng.pick(shallow)}/${this.rng.pick(NAMES)}`;
    return this.randomPath();
  }

  private refSize(p: string): number {
    try {
      return Number(fs.statSync(B(`${this.roots[1]}/${p}`)).size);
    } catch {
      return 0;
    }
  }

  private refIno(s: Slot): bigint {
    try {
      return fs.fstatSync(s.fds[1], { bigint: true }).ino;
    } catch {
      return -1n;
    }
  }

  private fdSize(s: Slot): number {
    try {
      return fs.fstatSync(s.fds[1]).size;
    } catch {
      return 0;
    }
  }

  private offset(size: number): number {
    return this.rng.weighted<() => number>([
      [45, () => this.rng.int(size + 8192)],
      [25, () => this.rng.int(2 << 20)],
      [15, () => this.rng.int(size + 1)],
      [8, () => this.rng.int(64 << 20)],
      [4, () => size],
      [3, () => GiB4 - 4096 + this.rng.int(1 << 20)],
    ])();
  }

  private length(): number {
    return this.rng.weighted<() => number>([
      [45, () => this.rng.int(4097)],
      [35, () => this.rng.int(65537)],
      [15, () => this.rng.range(65536, 300000)],
      [5, () => 0],
    ])();
  }

  private slot(): [number, Slot] | null {
    const used: number[] = [];
    for (let i = 0; i < this.slots.length; i++) if (this.slots[i]) used.push(i);
    if (!used.length) return null;
    const i = this.rng.pick(used);
    return [i, this.slots[i] as Slot];
  }

  private freeSlot(): number {
    const free: number[] = [];
    for (let i = 0; i < this.slots.length; i++) if (!this.slots[i]) free.push(i);
    if (free.length) return this.rng.pick(free);
    // All busy: close one first (on both sides).
    const i = this.rng.int(this.slots.length);
    const s = this.slots[i] as Slot;
    this.slots[i] = null;
    this.record(`(close slot ${i} to make room)`);
    const a = attempt(() => fs.closeSync(s.fds[0]));
    const b = attempt(() => fs.closeSync(s.fds[1]));
    if (!sameOutcome(a, b)) this.fail(`close of ${s.path}: subject ${showOutcome(a)} reference ${showOutcome(b)}`);
    return i;
  }

  private st(side: 0 | 1, full: string | Buffer, follow = false): Record<string, string | number> {
    return attrs(follow ? fs.statSync(full, { bigint: true }) : fs.lstatSync(full, { bigint: true }), this.window);
  }

  private fst(fd: number): Record<string, string | number> {
    return attrs(fs.fstatSync(fd, { bigint: true }), this.window);
  }

  /** lstat of a path as part of a result: attributes, or the errno. */
  private after(full: Buffer): unknown {
    try {
      return this.st(0, full);
    } catch (e) {
      return (e as NodeJS.ErrnoException).code;
    }
  }

  // ------------------------------------------------------------------ the operations

  private generate(): Op {
    const g = this.rng.weighted<() => Op>([
      [8, () => this.opCreate()],
      [6, () => this.opOpen()],
      [5, () => this.opClose()],
      [12, () => this.opWrite()],
      [8, () => this.opRead()],
      [2, () => this.opFtruncate()],
      [2, () => this.opTruncate()],
      [3, () => this.opFstat()],
      [4, () => this.opStat()],
      [1, () => this.opFsync()],
      [2, () => this.opFallocate()],
      [1.5, () => this.opCopyFileRange()],
      [2, () => this.opAcl()],
      [1.5, () => this.opAccessAs()],
      [2, () => this.opLseek()],
      [6, () => this.opRename()],
      [3, () => this.opLink()],
      [4, () => this.opUnlink()],
      [5, () => this.opMkdir()],
      [3, () => this.opRmdir()],
      [3, () => this.opSymlink()],
      [2, () => this.opReadlink()],
      [3, () => this.opChmod()],
      [1.5, () => this.opChown()],
      [4, () => this.opUtimens()],
      [8, () => this.opXattr()],
      [3, () => this.opMmapWrite()],
      [2, () => this.opMmapRead()],
      [2, () => this.opReaddir()],
      [2, () => this.opReadFile()],
      [1, () => this.opAccess()],
      [0.3, () => this.opUmask()],
    ]);
    return g();
  }

  private openOp(kind: string, p: string, flags: number, mode: number, desc: string): Op {
    const fds: number[] = [];
    return {
      kind,
      desc,
      run: (side, root) => {
        const full = B(`${root}/${p}`);
        const fd = fs.openSync(full, flags, mode);
        fds[side] = fd;
        return attrs(fs.fstatSync(fd, { bigint: true }), this.window);
      },
      cleanup: () => {
        for (const fd of fds) if (fd !== undefined) fs.closeSync(fd);
      },
      after: (o) => {
        if (!o.ok) return;
        const i = this.freeSlot();
        this.slots[i] = { fds: [fds[0], fds[1]], path: p, flags, dir: (o.v as { type: string }).type === 'dir' };
      },
    };
  }

  private opCreate(): Op {
    const p = this.rng.chance(0.4) ? this.path('file') : this.path('new');
    const acc = this.rng.pick([O.O_WRONLY, O.O_RDWR, O.O_RDWR, O.O_RDONLY]);
    let flags = O.O_CREAT | acc;
    if (this.rng.chance(0.35)) flags |= O.O_EXCL;
    if (this.rng.chance(0.3)) flags |= O.O_TRUNC;
    if (this.rng.chance(0.25)) flags |= O.O_APPEND;
    if (this.rng.chance(0.05)) flags |= O.O_NOFOLLOW;
    const mode = this.rng.pick(MODES);
    return this.openOp('open-create', p, flags, mode, `open(${p}, ${flagStr(flags)}, ${mode.toString(8)})`);
  }

  private opOpen(): Op {
    const p = this.path(this.rng.chance(0.15) ? 'dir' : 'any');
    let flags = this.rng.pick([O.O_RDONLY, O.O_WRONLY, O.O_RDWR, O.O_RDWR]);
    if (this.rng.chance(0.15)) flags |= O.O_TRUNC;
    if (this.rng.chance(0.2)) flags |= O.O_APPEND;
    if (this.rng.chance(0.1)) flags |= O.O_DIRECTORY;
    if (this.rng.chance(0.1)) flags |= O.O_NOFOLLOW;
    return this.openOp('open', p, flags, 0, `open(${p}, ${flagStr(flags)})`);
  }

  private opClose(): Op {
    const s = this.slot();
    if (!s) return this.opCreate();
    const [i, slot] = s;
    this.slots[i] = null;
    return { kind: 'close', desc: `close(${slot.path} #${i})`, run: (side) => fs.closeSync(slot.fds[side]) };
  }

  private opWrite(): Op {
    const s = this.slot();
    if (!s) return this.opCreate();
    const [i, slot] = s;
    const size = this.fdSize(slot);
    const pos = this.rng.chance(0.3) ? null : this.offset(size);
    const len = this.length();
    const data = this.rng.bytes(len);
    this.stats.bytesWritten += len;
    return {
      kind: 'write',
      desc: `pwrite(${slot.path} #${i} ${flagStr(slot.flags)}, ${len} bytes, at ${pos ?? 'cur'})`,
      run: (side) => {
        const fd = slot.fds[side];
        const n = fs.writeSync(fd, data, 0, len, pos);
        return { n, st: this.fst(fd) };
      },
    };
  }

  private opRead(): Op {
    const s = this.slot();
    if (!s) return this.opOpen();
    const [i, slot] = s;
    const size = this.fdSize(slot);
    const pos = this.rng.chance(0.3) ? null : this.offset(size);
    const len = this.length();
    const bufs = [Buffer.alloc(len), Buffer.alloc(len)];
    return {
      kind: 'read',
      desc: `pread(${slot.path} #${i}, ${len} bytes, at ${pos ?? 'cur'})`,
      run: (side) => {
        const n = fs.readSync(slot.fds[side], bufs[side], 0, len, pos);
        return bufs[side].subarray(0, n);
      },
    };
  }

  private newSize(size: number): number {
    return this.rng.weighted<() => number>([
      [40, () => this.rng.int(size + 1)],
      [35, () => this.rng.int(size + 100000)],
      [15, () => this.rng.int(16 << 20)],
      [5, () => 0],
      [3, () => GiB4 + this.rng.int(1 << 20)],
      [2, () => -1],
    ])();
  }

  private opFtruncate(): Op {
    const s = this.slot();
    if (!s) return this.opTruncate();
    const [i, slot] = s;
    const len = this.newSize(this.fdSize(slot));
    return {
      kind: 'ftruncate',
      desc: `ftruncate(${slot.path} #${i}, ${len})`,
      run: (side) => {
        sr(sys.ftruncate(slot.fds[side], len));
        return this.fst(slot.fds[side]);
      },
    };
  }

  private opTruncate(): Op {
    const p = this.path('file');
    const len = this.newSize(this.refSize(p));
    return {
      kind: 'truncate',
      desc: `truncate(${p}, ${len})`,
      run: (_side, root) => {
        sr(sys.truncate(B(`${root}/${p}`), len));
        return this.after(B(`${root}/${p}`));
      },
    };
  }

  private opFstat(): Op {
    const s = this.slot();
    if (!s) return this.opStat();
    const [i, slot] = s;
    return { kind: 'fstat', desc: `fstat(${slot.path} #${i})`, run: (side) => this.fst(slot.fds[side]) };
  }

  private opStat(): Op {
    const p = this.rng.chance(0.05) ? this.rng.pick(['', '.', 'a/..', 'a/.', 'a/b/..']) : this.path();
    const follow = this.rng.chance(0.4);
    return {
      kind: follow ? 'stat' : 'lstat',
      desc: `${follow ? 'stat' : 'lstat'}(${p})`,
      run: (side, root) => {
        // The root of the run is the top of the compared tree: its nlink and mtime are not
        // compared (the mount's root also holds the reserved area).
        const v = this.st(side, p ? B(`${root}/${p}`) : B(root), follow);
        if (v.type === 'dir' && (p === '' || p === '.' || p === 'a/..' || p === 'a/b/..')) return v.type;
        return v;
      },
    };
  }

  private opFsync(): Op {
    const s = this.slot();
    if (!s) return this.opStat();
    const [i, slot] = s;
    const data = this.rng.chance(0.5);
    return {
      kind: 'fsync',
      desc: `${data ? 'fdatasync' : 'fsync'}(${slot.path} #${i})`,
      run: (side) => (data ? fs.fdatasyncSync(slot.fds[side]) : fs.fsyncSync(slot.fds[side])),
    };
  }

  private opFallocate(): Op {
    const s = this.slot();
    if (!s) return this.opCreate();
    const [i, slot] = s;
    const size = this.fdSize(slot);
    // Every mode: allocation, KEEP_SIZE, PUNCH_HOLE (with KEEP_SIZE; alone it is invalid),
    // ZERO_RANGE (with and without KEEP_SIZE), COLLAPSE_RANGE and INSERT_RANGE (block-aligned, or
    // refused as on the backing filesystem), UNSHARE_RANGE.
    const mode = this.rng.pick([0, sys.FALLOC_FL_KEEP_SIZE, sys.FALLOC_FL_PUNCH_HOLE | sys.FALLOC_FL_KEEP_SIZE, sys.FALLOC_FL_ZERO_RANGE,
      sys.FALLOC_FL_ZERO_RANGE | sys.FALLOC_FL_KEEP_SIZE, sys.FALLOC_FL_PUNCH_HOLE, sys.FALLOC_FL_COLLAPSE_RANGE, sys.FALLOC_FL_INSERT_RANGE,
      sys.FALLOC_FL_UNSHARE_RANGE]);
    const shifts = mode === sys.FALLOC_FL_COLLAPSE_RANGE || mode === sys.FALLOC_FL_INSERT_RANGE;
    const aligned = shifts && this.rng.chance(0.8);
    const off = this.rng.chance(0.1) ? -1 : aligned ? 4096 * this.rng.int(Math.ceil((size + 1) / 4096)) : this.rng.int(size + 65536);
    const len = this.rng.chance(0.05) ? 0 : aligned ? 4096 * this.rng.range(1, 16) : this.rng.range(1, 300000);
    // The kernel's FUSE passes only KEEP_SIZE, PUNCH_HOLE and ZERO_RANGE on to a filesystem and
    // answers every other mode EOPNOTSUPP itself (fuse_file_fallocate), whatever the backing
    // filesystem supports. So for those modes: an error of the VFS's own checks (EBADF, EINVAL...)
    // must be the reference's; EOPNOTSUPP is FUSE's refusal, and the reference is then left alone.
    const fuseRefuses = (mode & ~(sys.FALLOC_FL_KEEP_SIZE | sys.FALLOC_FL_PUNCH_HOLE | sys.FALLOC_FL_ZERO_RANGE)) !== 0;
    let subjectRefused = false;
    if (!(mode & sys.FALLOC_FL_PUNCH_HOLE) && !fuseRefuses) this.unwritten.add(this.refIno(slot));
    return {
      kind: fuseRefuses ? 'fallocate-refused-by-fuse' : 'fallocate',
      desc: `fallocate(${slot.path} #${i}, mode ${mode}, ${off}, ${len})${fuseRefuses ? ' (a mode FUSE does not pass on)' : ''}`,
      run: (side) => {
        if (fuseRefuses && side === 1 && subjectRefused) throw new SysError('EOPNOTSUPP');
        const r = sys.fallocate(slot.fds[side], mode, off, len);
        if (side === 0) subjectRefused = r === -os.constants.errno.EOPNOTSUPP;
        sr(r);
        return this.fst(slot.fds[side]);
      },
    };
  }

  /** copy_file_range between two open files (or within one), at explicit offsets. */
  private opCopyFileRange(): Op {
    const a = this.slot();
    const b = this.slot();
    if (!a || !b || a[1].dir || b[1].dir) return this.opCreate();
    const [ia, from] = a;
    const [ib, to] = b;
    const offIn = this.rng.chance(0.05) ? -1 : this.rng.int(this.fdSize(from) + 8192);
    const offOut = this.offset(this.fdSize(to));
    const len = this.length();
    return {
      kind: 'copy_file_range',
      desc: `copy_file_range(${from.path} #${ia} @${offIn} -> ${to.path} #${ib} @${offOut}, ${len})`,
      run: (side) => {
        const n = sr(sys.copyFileRange(from.fds[side], offIn, to.fds[side], offOut, len, 0));
        return { n, st: this.fst(to.fds[side]) };
      },
    };
  }

  /** An ACL in the xattr form (linux/posix_acl_xattr.h), valid most of the time, not always. */
  private aclValue(): Buffer {
    const perm = () => this.rng.int(8);
    const entries: Array<[number, number, number]> = [[0x01, perm(), 0xffffffff], [0x04, perm(), 0xffffffff]];
    const named = this.rng.chance(0.8);
    if (named) {
      for (const uid of [65534, 41001]) if (this.rng.chance(0.6)) entries.push([0x02, perm(), uid]);
      for (const gid of [65534, 41002]) if (this.rng.chance(0.4)) entries.push([0x08, perm(), gid]);
    }
    // Named entries need a mask (else EINVAL); now and then one is left out on purpose.
    if (entries.length > 2 ? this.rng.chance(0.95) : this.rng.chance(0.3)) entries.push([0x10, perm(), 0xffffffff]);
    entries.push([0x20, perm(), 0xffffffff]);
    const v = Buffer.alloc(4 + 8 * entries.length);
    v.writeUInt32LE(2, 0);
    entries.forEach(([tag, p, id], i) => {
      v.writeUInt16LE(tag, 4 + 8 * i);
      v.writeUInt16LE(p, 6 + 8 * i);
      v.writeUInt32LE(id, 8 + 8 * i);
    });
    return v;
  }

  /** setfacl/getfacl/setfacl -b: the system.posix_acl_access and _default xattrs. */
  private opAcl(): Op {
    const p = this.path();
    const name = this.rng.chance(0.7) ? 'system.posix_acl_access' : 'system.posix_acl_default';
    const what = this.rng.weighted([[50, 'set'], [35, 'get'], [15, 'remove']] as const);
    const value = this.aclValue();
    const short = name.slice('system.posix_acl_'.length);
    if (what === 'set') {
      return {
        kind: 'acl-set',
        desc: `setfacl(${p}, ${short}, ${value.toString('hex')})`,
        run: (_side, root) => {
          const full = B(`${root}/${p}`);
          sr(sys.lsetxattr(full, name, value, 0));
          return this.after(full);
        },
      };
    }
    if (what === 'get') {
      return { kind: 'acl-get', desc: `getfacl(${p}, ${short})`, run: (_side, root) => sr(sys.lgetxattr(B(`${root}/${p}`), name)) };
    }
    return {
      kind: 'acl-remove',
      desc: `setfacl -b/-k(${p}, ${short})`,
      run: (_side, root) => {
        const full = B(`${root}/${p}`);
        sr(sys.lremovexattr(full, name));
        return this.after(full);
      },
    };
  }

  /** Access by another uid (opening for reading or writing, access(2) for search/execute): the ACL and mode decide. */
  private opAccessAs(): Op {
    const p = this.path();
    const [uid, gid] = this.rng.pick([[65534, 65534], [41001, 41001], [41002, 41002]] as const);
    const how = this.rng.weighted([[40, 'read'], [30, 'write'], [30, 'exec']] as const);
    return {
      kind: 'access-as',
      desc: `as uid ${uid}: ${how}(${p})`,
      run: (_side, root) => {
        const full = B(`${root}/${p}`);
        // The filesystem uid/gid of this thread: the kernel (and FUSE) judge access by them.
        sys.setfsgid(gid);
        sys.setfsuid(uid);
        try {
          if (how === 'exec') return sr(sys.faccessat(sys.AT_FDCWD, full, O.X_OK, sys.AT_EACCESS));
          const fd = fs.openSync(full, (how === 'read' ? O.O_RDONLY : O.O_WRONLY) | O.O_NOFOLLOW | O.O_NONBLOCK);
          fs.closeSync(fd);
          return 'opened';
        } finally {
          sys.setfsuid(0);
          sys.setfsgid(0);
        }
      },
    };
  }

  private opLseek(): Op {
    const s = this.slot();
    // Directory offsets are cookies of the filesystem (ext4 hashes them), not comparable.
    if (!s || s[1].dir) return this.opOpen();
    const [i, slot] = s;
    const size = this.fdSize(slot);
    const whence = this.rng.pick([sys.SEEK_DATA, sys.SEEK_HOLE, sys.SEEK_SET, sys.SEEK_END, sys.SEEK_CUR]);
    const off = whence === sys.SEEK_END || whence === sys.SEEK_CUR ? this.rng.range(-5000, 5000) : this.rng.int(size + 4096);
    const holes = whence === sys.SEEK_DATA || whence === sys.SEEK_HOLE;
    // Where a file had unwritten extents, or where the two sides' page caches differ (the daemon's
    // writes and FUSE's readahead fill the backing file's cache otherwise than the reference's
    // own), ext4 may place holes and data differently: hole/data answers are then checked for
    // what a reader relies on (a hole reads as zeros; no data is skipped) instead of compared.
    const loose = holes && off < size;
    return {
      kind: 'lseek',
      desc: `lseek(${slot.path} #${i}, ${off}, ${holes ? (whence === sys.SEEK_DATA ? 'SEEK_DATA' : 'SEEK_HOLE') : `whence ${whence}`}${loose ? ', checked for validity' : ''})`,
      run: (side) => {
        const r = sys.lseek(slot.fds[side], off, whence);
        if (!loose) return sr(r);
        // Any answer within [off, size] is valid (and ENXIO for SEEK_DATA: no data after off).
        // The answers may differ (one side ENXIO, which leaves the position, the other a
        // position): leave both descriptors at the same place.
        sr(sys.lseek(slot.fds[side], off, sys.SEEK_SET));
        const zeros = (from: number, to: number) => {
          const n = Math.min(to, from + (1 << 20)) - from;
          if (n <= 0) return true;
          const b = Buffer.alloc(n, 1);
          const got = sys.pread(slot.fds[side], b, 0, n, from);
          return got < 0 || b.subarray(0, got).every((x) => x === 0);
        };
        // A hole at r must read as zeros (a reader that skips it loses nothing).
        if (whence === sys.SEEK_HOLE && r >= off && r <= size) return r === size || zeros(r, Math.min(size, r + 4096)) ? 'valid' : sr(r);
        if (whence === sys.SEEK_DATA && r >= off && r <= size) return zeros(off, r) ? 'valid' : sr(r);
        if (whence === sys.SEEK_DATA && r === -os.constants.errno.ENXIO) return zeros(off, size) ? 'valid' : sr(r);
        return sr(r);
      },
    };
  }

  private opRename(): Op {
    let src: string;
    let dst: string;
    const how = this.rng.weighted<string>([[60, 'random'], [8, 'self'], [10, 'subdir'], [12, 'dirs'], [10, 'files']]);
    const k = this.known;
    if (how === 'self') {
      src = dst = this.path();
    } else if (how === 'subdir' && k.dirs.length) {
      src = this.rng.pick(k.dirs);
      dst = `${src}/${this.rng.pick(NAMES)}`;
      if (this.rng.chance(0.3)) dst += `/${this.rng.pick(NAMES)}`;
    } else if (how === 'dirs' && k.dirs.length) {
      src = this.rng.pick(k.dirs);
      dst = this.rng.pick(k.dirs);
    } else if (how === 'files' && k.files.length) {
      src = this.rng.pick(k.files);
      dst = this.rng.chance(0.7) ? this.rng.pick(k.files) : this.rng.pick([...k.links, ...k.dirs, 'zz']);
    } else {
      src = this.path();
      dst = this.rng.chance(0.5) ? this.path('new') : this.path();
    }
    const flags = this.rng.weighted([[80, 0], [10, sys.RENAME_NOREPLACE], [10, sys.RENAME_EXCHANGE]] as const);
    const name = flags === 0 ? 'rename' : flags === sys.RENAME_NOREPLACE ? 'rename-noreplace' : 'rename-exchange';
    return {
      kind: name,
      desc: `${name}(${src}, ${dst})`,
      run: (_side, root) => {
        if (flags === 0) fs.renameSync(B(`${root}/${src}`), B(`${root}/${dst}`));
        else sr(sys.renameat2(sys.AT_FDCWD, B(`${root}/${src}`), sys.AT_FDCWD, B(`${root}/${dst}`), flags));
        return { src: this.after(B(`${root}/${src}`)), dst: this.after(B(`${root}/${dst}`)) };
      },
    };
  }

  private opLink(): Op {
    const src = this.rng.chance(0.8) ? this.path('file') : this.path();
    const dst = this.rng.chance(0.8) ? this.path('new') : this.path();
    return {
      kind: 'link',
      desc: `link(${src}, ${dst})`,
      run: (_side, root) => {
        fs.linkSync(B(`${root}/${src}`), B(`${root}/${dst}`));
        return { src: this.after(B(`${root}/${src}`)), dst: this.after(B(`${root}/${dst}`)) };
      },
    };
  }

  private opUnlink(): Op {
    const p = this.rng.chance(0.85) ? this.rng.pick([...this.known.files, ...this.known.links, this.path()]) : this.path();
    return {
      kind: 'unlink',
      desc: `unlink(${p})`,
      run: (_side, root) => {
        fs.unlinkSync(B(`${root}/${p}`));
        return this.parentAttrs(root, p);
      },
    };
  }

  private parentAttrs(root: string, p: string): unknown {
    const i = p.lastIndexOf('/');
    return i < 0 ? null : this.after(B(`${root}/${p.slice(0, i)}`));
  }

  private opMkdir(): Op {
    const p = this.path('new');
    const mode = this.rng.pick(MODES);
    return {
      kind: 'mkdir',
      desc: `mkdir(${p}, ${mode.toString(8)})`,
      run: (_side, root) => {
        fs.mkdirSync(B(`${root}/${p}`), mode);
        return { st: this.after(B(`${root}/${p}`)), parent: this.parentAttrs(root, p) };
      },
    };
  }

  private opRmdir(): Op {
    const p = this.rng.chance(0.85) && this.known.dirs.length ? this.rng.pick(this.known.dirs) : this.path();
    return {
      kind: 'rmdir',
      desc: `rmdir(${p})`,
      run: (_side, root) => {
        fs.rmdirSync(B(`${root}/${p}`));
        return this.parentAttrs(root, p);
      },
    };
  }

  private opSymlink(): Op {
    const p = this.path('new');
    // Relative targets without "..", so no link leads out of the compared tree.
    const target = this.rng.weighted<() => string>([
      [40, () => this.rng.pick(NAMES)],
      [30, () => `${this.rng.pick(NAMES)}/${this.rng.pick(NAMES)}`],
      [10, () => '.'],
      [10, () => `/nonexistent-dmapifs-diff/${this.rng.pick(NAMES)}`],
      [5, () => 'x'.repeat(this.rng.range(1, 4000))],
      [5, () => p.slice(p.lastIndexOf('/') + 1)],
    ])();
    return {
      kind: 'symlink',
      desc: `symlink(${target.length > 40 ? target.slice(0, 20) + '…' + target.length : target}, ${p})`,
      run: (_side, root) => {
        fs.symlinkSync(B(target), B(`${root}/${p}`));
        return this.after(B(`${root}/${p}`));
      },
    };
  }

  private opReadlink(): Op {
    const p = this.rng.chance(0.7) && this.known.links.length ? this.rng.pick(this.known.links) : this.path();
    return { kind: 'readlink', desc: `readlink(${p})`, run: (_side, root) => fs.readlinkSync(B(`${root}/${p}`), { encoding: 'latin1' }) };
  }

  private opChmod(): Op {
    const mode = this.rng.pick(MODES);
    const s = this.rng.chance(0.25) ? this.slot() : null;
    if (s) {
      const [i, slot] = s;
      return {
        kind: 'fchmod',
        desc: `fchmod(${slot.path} #${i}, ${mode.toString(8)})`,
        run: (side) => {
          fs.fchmodSync(slot.fds[side], mode);
          return this.fst(slot.fds[side]);
        },
      };
    }
    const p = this.path();
    return {
      kind: 'chmod',
      desc: `chmod(${p}, ${mode.toString(8)})`,
      run: (_side, root) => {
        fs.chmodSync(B(`${root}/${p}`), mode);
        return this.st(0, B(`${root}/${p}`), true);
      },
    };
  }

  private opChown(): Op {
    const uid = this.rng.pick([0, 0, 1000, 41001, -1]);
    const gid = this.rng.pick([0, 0, 100, 41001, -1]);
    const s = this.rng.chance(0.2) ? this.slot() : null;
    if (s) {
      const [i, slot] = s;
      return {
        kind: 'fchown',
        desc: `fchown(${slot.path} #${i}, ${uid}, ${gid})`,
        run: (side) => {
          fs.fchownSync(slot.fds[side], uid, gid);
          return this.fst(slot.fds[side]);
        },
      };
    }
    const p = this.path();
    const follow = this.rng.chance(0.5);
    return {
      kind: follow ? 'chown' : 'lchown',
      desc: `${follow ? 'chown' : 'lchown'}(${p}, ${uid}, ${gid})`,
      run: (_side, root) => {
        const full = B(`${root}/${p}`);
        (follow ? fs.chownSync : fs.lchownSync)(full, uid, gid);
        return this.st(0, full, follow);
      },
    };
  }

  private timeArg(): [number | null, number, string] {
    const w = this.rng.weighted([[70, 'set'], [15, 'now'], [15, 'omit']] as const);
    if (w === 'now') return [null, sys.UTIME_NOW, 'NOW'];
    if (w === 'omit') return [null, sys.UTIME_OMIT, 'OMIT'];
    const [sec, ns] = explicitTime(this.rng);
    return [sec, ns, `${sec}.${String(ns).padStart(9, '0')}`];
  }

  private opUtimens(): Op {
    const [as, an, ad] = this.timeArg();
    const [ms, mn, md] = this.timeArg();
    // atime is compared only when this call sets it (reads move it differently on each side).
    const times = (st: fs.BigIntStats) =>
      an === sys.UTIME_OMIT ? attrs(st, this.window) : { ...attrs(st, this.window), atime: timeClass(st.atimeNs, this.window) };
    const s = this.rng.chance(0.2) ? this.slot() : null;
    if (s) {
      const [i, slot] = s;
      return {
        kind: 'futimens',
        desc: `futimens(${slot.path} #${i}, a=${ad}, m=${md})`,
        run: (side) => {
          sr(sys.futimens(slot.fds[side], as, an, ms, mn));
          return times(fs.fstatSync(slot.fds[side], { bigint: true }));
        },
      };
    }
    const p = this.path();
    const nofollow = this.rng.chance(0.3);
    return {
      kind: 'utimensat',
      desc: `utimensat(${p}, a=${ad}, m=${md}${nofollow ? ', NOFOLLOW' : ''})`,
      run: (_side, root) => {
        const full = B(`${root}/${p}`);
        sr(sys.utimensat(sys.AT_FDCWD, full, as, an, ms, mn, nofollow ? sys.AT_SYMLINK_NOFOLLOW : 0));
        return times(nofollow ? fs.lstatSync(full, { bigint: true }) : fs.statSync(full, { bigint: true }));
      },
    };
  }

  private opXattr(): Op {
    const name = this.rng.chance(0.85) ? this.rng.pick(XATTR_NAMES.slice(0, 3)) : this.rng.pick(XATTR_NAMES);
    const what = this.rng.weighted([[35, 'set'], [25, 'get'], [20, 'list'], [20, 'remove']] as const);
    const s = this.rng.chance(0.2) ? this.slot() : null;
    const p = s ? '' : this.path();
    const where = s ? `${s[1].path} #${s[0]}` : p;
    const value = this.rng.weighted<() => Buffer>([
      [80, () => this.rng.bytes(this.rng.int(256))],
      [10, () => Buffer.alloc(0)],
      [8, () => this.rng.bytes(this.rng.range(1000, 4000))],
      [2, () => this.rng.bytes(70000)],
    ])();
    const flags = this.rng.weighted([[70, 0], [15, sys.XATTR_CREATE], [15, sys.XATTR_REPLACE]] as const);
    const tgt = (side: 0 | 1, root: string) => (s ? s[1].fds[side] : B(`${root}/${p}`));
    switch (what) {
      case 'set':
        return {
          kind: 'setxattr',
          desc: `setxattr(${where}, ${name.slice(0, 24)}, ${value.length} bytes, flags ${flags})`,
          run: (side, root) => {
            const t = tgt(side, root);
            return sr(typeof t === 'number' ? sys.fsetxattr(t, name, value, flags) : sys.lsetxattr(t, name, value, flags));
          },
        };
      case 'get':
        return {
          kind: 'getxattr',
          desc: `getxattr(${where}, ${name.slice(0, 24)})`,
          run: (side, root) => {
            const t = tgt(side, root);
            return sr(typeof t === 'number' ? sys.fgetxattr(t, name) : sys.lgetxattr(t, name));
          },
        };
      case 'list':
        return {
          kind: 'listxattr',
          desc: `listxattr(${where})`,
          run: (side, root) => {
            const t = tgt(side, root);
            const r = sr(typeof t === 'number' ? sys.flistxattr(t) : sys.llistxattr(t)) as string[];
            return [...r].sort().join(',');
          },
        };
      default:
        return {
          kind: 'removexattr',
          desc: `removexattr(${where}, ${name.slice(0, 24)})`,
          run: (side, root) => {
            const t = tgt(side, root);
            return sr(typeof t === 'number' ? sys.fremovexattr(t, name) : sys.lremovexattr(t, name));
          },
        };
    }
  }

  private mmapOutcome(r: MmapReply): unknown {
    if (r.ok) return r.data ?? 'ok';
    if (r.errno !== undefined) throw new SysError(errnoName(r.errno));
    return { outOfRange: r.range };
  }

  private opMmapWrite(): Op {
    const p = this.rng.chance(0.9) ? this.path('file') : this.path();
    // The mmap helper's line protocol carries text paths only.
    if (!ASCII.test(p)) return this.opStat();
    const size = this.refSize(p);
    const off = size > 0 ? this.rng.int(size) : 0;
    const len = size > 0 ? this.rng.range(1, Math.min(size - off, this.rng.chance(0.8) ? 4096 : 40000)) : 1;
    const data = this.rng.bytes(len);
    const sync = this.rng.chance(0.5);
    this.stats.bytesWritten += len;
    return {
      kind: 'mmap-write',
      desc: `mmap-write(${p}, ${len} bytes at ${off}${sync ? ', msync' : ''})`,
      run: (_side, root) => {
        const full = `${root}/${p}`;
        const r = this.mmapOutcome((this.mmap as MmapHelper).write(full, off, data, sync));
        return { r, st: this.after(B(full)) };
      },
    };
  }

  private opMmapRead(): Op {
    const p = this.rng.chance(0.9) ? this.path('file') : this.path();
    if (!ASCII.test(p)) return this.opStat();
    const size = this.refSize(p);
    const off = size > 0 ? this.rng.int(size) : 0;
    const len = size > 0 ? this.rng.range(1, Math.min(size - off, 40000)) : 1;
    const priv = this.rng.chance(0.3);
    return {
      kind: 'mmap-read',
      desc: `mmap-read(${p}, ${len} bytes at ${off}${priv ? ', private' : ''})`,
      run: (_side, root) => this.mmapOutcome((this.mmap as MmapHelper).read(`${root}/${p}`, off, len, priv)),
    };
  }

  private opReaddir(): Op {
    const p = this.rng.chance(0.8) && this.known.dirs.length ? this.rng.pick(this.known.dirs) : this.path();
    return {
      kind: 'readdir',
      desc: `readdir(${p})`,
      run: (_side, root) => {
        const ents = fs.readdirSync(B(`${root}/${p}`), { withFileTypes: true, encoding: 'latin1' });
        return ents.map((e) => `${e.name}:${e.isDirectory() ? 'd' : e.isSymbolicLink() ? 'l' : e.isFile() ? 'f' : '?'}`).sort().join(',');
      },
    };
  }

  private opReadFile(): Op {
    const p = this.path('file');
    if (this.refSize(p) > 4 << 20) return this.opStat();
    return { kind: 'readfile', desc: `readFile(${p})`, run: (_side, root) => fs.readFileSync(B(`${root}/${p}`)) };
  }

  private opAccess(): Op {
    const p = this.path();
    const mode = this.rng.pick([O.F_OK, O.R_OK, O.W_OK, O.X_OK, O.R_OK | O.W_OK | O.X_OK]);
    return { kind: 'access', desc: `access(${p}, ${mode})`, run: (_side, root) => fs.accessSync(B(`${root}/${p}`), mode) };
  }

  private opUmask(): Op {
    const m = this.rng.pick(UMASKS);
    return {
      kind: 'umask',
      desc: `umask(${m.toString(8)})`,
      run: (side) => {
        if (side === 0) process.umask(m);
        return null;
      },
    };
  }
}

function depthOf(p: string): number {
  let n = 1;
  for (let i = 0; i < p.length; i++) if (p.charCodeAt(i) === 47) n++;
  return n;
}

function flagStr(f: number): string {
  const acc = f & 3;
  const parts = [acc === O.O_RDONLY ? 'RDONLY' : acc === O.O_WRONLY ? 'WRONLY' : 'RDWR'];
  const named: Array<[number, string]> = [[O.O_CREAT, 'CREAT'], [O.O_EXCL, 'EXCL'], [O.O_TRUNC, 'TRUNC'], [O.O_APPEND, 'APPEND'], [O.O_DIRECTORY, 'DIRECTORY'], [O.O_NOFOLLOW, 'NOFOLLOW']];
  for (const [bit, n] of named) if (f & bit) parts.push(n);
  return parts.join('|');
}
