// The one path of every operation on a file's data through the mount: read, write, truncate, every
// fallocate mode, and copy_file_range (which the kernel turns into reads and writes here). In order:
//
// 1. the data event (READ, WRITE or TRUNCATE) when one is in force for the range (XDSM: raised
//    before the access; the operation waits for the answer, ABORT fails it with the errno given);
// 2. the DLM lock that DM access rights exclude (GPFS: "a DM application holding an access right
//    on a file excludes the file operations that conflict with it"): shared for reads, exclusive
//    for changes;
// 3. for an operation that may allocate, the --capacity check (src/fs/capacity.ts); one that does
//    not fit, or that the backing filesystem refuses with ENOSPC, raises NOSPACE first (the DM
//    application may free space: CONTINUE retries once) and fails with ENOSPC;
// 4. the operation, as the caller (so that the space it allocates is the caller's on the backing
//    filesystem: root's reserved blocks and quota limits apply to it as to a native write);
// 5. the change accounted (capacity, quota reports) and ATTRIBUTE... as notices.
//
// Nothing holds the thread while it waits: the FUSE request is answered later. The DLM lock is
// released before any wait for an event (the DM application may need a right on this very file
// to answer), and taken again for the retry.
import * as os from 'os';
import type { RequestContext } from '../fuse/fuse';
import * as sys from '../native/sys';
import { Capacity } from './capacity';
import type { DataKind, FileRef, FsEventHooks, Gate } from './events';

const E = os.constants.errno;

export interface DataOp {
  /** The data event it raises; null: none (a truncation to the same size). */
  kind: DataKind | null;
  /** The range of the event ([off, off+len); truncate: between the old and the new size). */
  off: number;
  len: number;
  /** True for an operation that changes the file (exclusive lock, capacity, accounting). */
  changes: boolean;
  /** Upper bound of the space it may add to a file of stat `st` (0 when it allocates nothing). */
  growth(st: BigUint64Array): number;
  /** The operation itself: a count ≥ 0 or -errno. */
  run(): number;
  /** Called before the operation first waits (what is valid only in this turn must be copied). */
  willWait?(): void;
  /** After a read that raised an event (src/fs/events.ts readServed). */
  served?(): void;
  /** The caller, whose space an allocation is. */
  ctx?: RequestContext;
}

/** Runs `go` at once when no event is due, else once the gate opens; a closed gate fails cb. */
export function afterGate(gate: Gate, fail: (errno: number) => void, go: () => void): void {
  if (!gate) return go();
  gate.then((e) => (e ? fail(-e) : go()), () => fail(-E.EIO));
}

/**
 * Runs fn as the caller: its fsuid/fsgid, and CAP_SYS_RESOURCE dropped from this thread's effective
 * set (setfsuid drops only the file capabilities), so that what fn allocates counts as the caller's
 * on the backing filesystem. Root's requests run as they are.
 */
export function asCaller<T>(ctx: RequestContext | undefined, fn: () => T): T {
  if (!ctx || ctx.uid === 0) return fn();
  const had = sys.capEffective(sys.CAP_SYS_RESOURCE, false);
  const uid = sys.setfsuid(ctx.uid);
  const gid = sys.setfsgid(ctx.gid);
  try {
    return fn();
  } finally {
    sys.setfsgid(gid);
    sys.setfsuid(uid);
    if (had === 1) sys.capEffective(sys.CAP_SYS_RESOURCE, true);
  }
}

export class DataGate {
  constructor(
    private readonly ev: FsEventHooks | null,
    private readonly capacity: Capacity | null,
    /** The file's data or size changed through the mount (quota reports, ATTRIBUTE). */
    private readonly changed: (fd: number) => void,
  ) {}

  /** Runs op on the open file `fd` (`f`: its event reference when DMAPI is on); cb gets the result. */
  pass(f: FileRef | null, fd: number, op: DataOp, cb: (r: number) => void): void {
    const ev = f ? this.ev : null;
    if (!ev && !this.capacity) {
      const r = asCaller(op.ctx, op.run);
      if (r >= 0 && op.changes) this.changed(fd);
      return cb(r);
    }
    const gate = ev && op.kind ? ev.data(op.kind, f!, op.off, op.len) : null;
    if (gate) op.willWait?.();
    afterGate(gate, cb, () => this.attempt(f, fd, op, gate !== null, false, cb));
  }

  /** One attempt under the DLM lock: the space check, the operation, the accounting. */
  private attempt(f: FileRef | null, fd: number, op: DataOp, raised: boolean, retried: boolean, cb: (r: number) => void): void {
    const ev = f ? this.ev : null;
    const lk = ev ? ev.access(f!.ino, op.changes) : null;
    const body = (release: () => void) => {
      let held = true;
      const unlock = () => { if (held) { held = false; release(); } };
      try {
        const cap = op.changes ? this.capacity : null;
        const st0 = cap ? new BigUint64Array(sys.STAT_FIELDS) : null;
        if (st0 && sys.fstat(fd, st0) === 0) {
          const growth = op.growth(st0);
          if (growth > 0 && !cap!.fits(growth)) {
            unlock();
            return this.noSpace(f, fd, op, raised, retried, cb);
          }
        }
        const r = asCaller(op.ctx, op.run);
        if (r === -E.ENOSPC && op.changes && !retried) {
          unlock();
          return this.noSpace(f, fd, op, raised, retried, cb);
        }
        if (r >= 0 && op.changes) {
          const st1 = st0 ? new BigUint64Array(sys.STAT_FIELDS) : null;
          if (st1 && sys.fstat(fd, st1) === 0) cap!.add(Number(st1[sys.STAT_BLOCKS] - st0![sys.STAT_BLOCKS]) * 512);
          this.changed(fd);
        }
        cb(r);
        if (r >= 0 && raised) op.served?.();
      } finally {
        unlock();
      }
    };
    if (!lk) return body(() => undefined);
    op.willWait?.();
    lk.then(body, () => cb(-E.EIO));
  }

  /** NOSPACE: CONTINUE → one more attempt; ABORT, no event or a second failure → ENOSPC. */
  private noSpace(f: FileRef | null, fd: number, op: DataOp, raised: boolean, retried: boolean, cb: (r: number) => void): void {
    const gate = retried ? null : this.ev?.noSpace(f) ?? null;
    if (!gate) return cb(-E.ENOSPC);
    op.willWait?.();
    gate.then((e) => (e ? cb(-E.ENOSPC) : this.attempt(f, fd, op, raised, true, cb)), () => cb(-E.ENOSPC));
  }
}

/** Upper bound of the space an fallocate(mode, off, len) adds to a file of stat `st`. */
export function fallocateGrowth(mode: number, st: BigUint64Array, off: number, len: number): number {
  // Punching and collapsing free space; inserting a range adds a hole (and at most a split extent).
  if (mode & (sys.FALLOC_FL_PUNCH_HOLE | sys.FALLOC_FL_COLLAPSE_RANGE)) return 0;
  if (mode & sys.FALLOC_FL_INSERT_RANGE) return 4096;
  // Plain allocation, KEEP_SIZE and ZERO_RANGE allocate the range.
  return Capacity.growth(st, off, len);
}
