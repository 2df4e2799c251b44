// Events from file operations: the DMAPI side of src/fs/events.ts. One MountHooks per
// mount decides, with GPFS's rules, whether an operation raises an event, builds the XDSM message,
// queues it on the session holding the disposition, and (synchronous events) resolves when the DM
// application answers.
//
// Rules (XDSM's, with GPFS's where it differs; docs/dmapi.md):
// * DMAPI disabled for the filesystem → no event at all.
// * An event is in force for an object when the object's own event list has it, or, when the object
//   has no list of its own, the filesystem's list has it (GPFS: the object's list overrides).
//   Managed regions are not an event list: they decide the data events of their file only. Namespace events are
//   enabled by the list of the directory they happen in; PREUNMOUNT, UNMOUNT and NOSPACE by the
//   filesystem's list; MOUNT by a MOUNT disposition on the global handle.
// * Data events: a file with managed regions raises READ/WRITE/TRUNCATE only where a region with
//   that flag overlaps the operation's range (size 0 = to the end of the file and beyond); a file
//   without any list raises them on every access when the filesystem's list has them.
// * A synchronous event in force with no session holding its disposition fails the operation with
//   EIO. An asynchronous one is dropped (there is nobody to tell).
// * Synchronous events wait for the answer indefinitely; ABORT → the errno; CONTINUE → go on. Data
//   events honour dmapiEventTimeout (→ ENOTREADY) and dmapiDataEventRetry; events for a failed
//   session honour dmapiSessionFailureTimeout (→ EIO).
// * Many operations on one file waiting for the same kind of data event share one event: one
//   answer releases them all. After the answer the regions are read again: cleared → no further
//   event; unchanged → the DM application let the access through; changed and still covering the
//   range (re-enabled during the event) → raised again, at most dmapiDataEventRetry times.
// * Messages: retcodes of post events and UNMOUNT are 0 or the positive errno of the operation.
//   NOSPACE is a dm_namesp_event_t with ne_handle1 = the filesystem handle and ne_handle2 = the file
//   being written (dmapifs: the file is extra information, XDSM leaves it unspecified).
import { bytes, child, DmState, XA_ATTR } from '../backing';
import * as sys from '../native/sys';
import type { DataKind, FileRef, FsEventHooks, Gate, MountDescription, NsOp } from '../fs/events';
import {
  DM_EVENT_ATTRIBUTE, DM_EVENT_CLOSE, DM_EVENT_CREATE, DM_EVENT_DESTROY, DM_EVENT_LINK, DM_EVENT_MOUNT,
  DM_EVENT_NOSPACE, DM_EVENT_POSTCREATE, DM_EVENT_POSTLINK, DM_EVENT_POSTREMOVE, DM_EVENT_POSTRENAME,
  DM_EVENT_POSTSYMLINK, DM_EVENT_PREUNMOUNT, DM_EVENT_READ, DM_EVENT_REMOVE, DM_EVENT_RENAME, DM_EVENT_SYMLINK,
  DM_EVENT_TRUNCATE, DM_EVENT_UNMOUNT, DM_EVENT_WRITE, DM_REGION_READ, DM_REGION_TRUNCATE, DM_REGION_WRITE,
  DM_RESP_ABORT, DM_RESP_DONTCARE, E, eventBit,
} from './constants';
import type { Dmapi, EventAnswer, Session } from './core';
import { eventListOf, regionsIn } from './dmstate';
import { dispositionOf, raise } from './events';
import { dmStateOf, FsEntry } from './fstable';
import { makeHandle } from './handles';
import { dataEvent, destroyEvent, mountEvent, namespEvent } from './layouts';
import { NodeSettings, EVENT_TIMEOUT_INFINITE } from './settings';

/** XDSM: ne_mode of UNMOUNT for a forced unmount. */
export const DM_UNMOUNT_FORCE = 0x1;

const ENODATA = 61;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const PRE: Record<NsOp['op'], number> = {
  create: DM_EVENT_CREATE, remove: DM_EVENT_REMOVE, rename: DM_EVENT_RENAME, link: DM_EVENT_LINK, symlink: DM_EVENT_SYMLINK,
};
const POST: Record<NsOp['op'], number> = {
  create: DM_EVENT_POSTCREATE, remove: DM_EVENT_POSTREMOVE, rename: DM_EVENT_POSTRENAME, link: DM_EVENT_POSTLINK,
  symlink: DM_EVENT_POSTSYMLINK,
};
const DATA: Record<DataKind, { type: number; flag: number }> = {
  read: { type: DM_EVENT_READ, flag: DM_REGION_READ },
  write: { type: DM_EVENT_WRITE, flag: DM_REGION_WRITE },
  truncate: { type: DM_EVENT_TRUNCATE, flag: DM_REGION_TRUNCATE },
};
const DATA_BITS = eventBit(DM_EVENT_READ) | eventBit(DM_EVENT_WRITE) | eventBit(DM_EVENT_TRUNCATE);

const sameBuf = (a: Buffer | null, b: Buffer | null) => (a === null || b === null ? a === b : a.equals(b));
const sameState = (a: DmState, b: DmState) => sameBuf(a.regions, b.regions) && sameBuf(a.events, b.events);
const value = (r: Buffer | number): Buffer | null => (typeof r === 'number' ? null : r);

/** A data event under way for one file and kind, and the operations waiting for it. */
interface SharedDataEvent {
  waiters: Set<DataWaiter>;
}
interface DataWaiter {
  nonblock: boolean;
  /** The answer (0 or an errno) for this operation; later calls are ignored. */
  answered(r: number): void;
}

/** What the hooks need from the service around them. */
export interface EventsContext {
  dm: Dmapi;
  settings: NodeSettings;
  isStopped(): boolean;
}

export class MountHooks implements FsEventHooks {
  readonly enabled: boolean;
  readonly fsid: bigint;
  /** Data events under way, by "ino:kind": later operations join them. */
  private readonly pendingData = new Map<string, SharedDataEvent>();

  constructor(private readonly cx: EventsContext, fsE: FsEntry, readonly desc: MountDescription) {
    this.fsid = fsE.fsid;
    this.enabled = fsE.enabled;
  }

  private get dm(): Dmapi {
    return this.cx.dm;
  }

  private fs(): FsEntry | undefined {
    return this.cx.isStopped() ? undefined : this.dm.fsTable.peek(this.fsid);
  }

  // ---- backing objects (the backing view: names are bytes)

  /** Handle of an object by path (or by descriptor when open); null when it is gone. */
  private handleAt(fsE: FsEntry, rel: string | null, fd?: number): { handle: Buffer; st: BigUint64Array } | null {
    let st: BigUint64Array | null = null;
    if (fd !== undefined) {
      st = new BigUint64Array(sys.STAT_FIELDS);
      if (sys.fstat(fd, st) !== 0) st = null;
    } else if (rel !== null) {
      st = fsE.dir.stat(rel);
    }
    if (!st) return null;
    const ino = st[sys.STAT_INO];
    if (fsE.dir.reserved.isReserved(ino)) return null;
    if (rel !== null) fsE.dir.inodes.setPath(ino, rel);
    return { handle: makeHandle(fsE.fsid, ino, this.generation(fsE, rel, st, fd)), st };
  }

  private generation(fsE: FsEntry, rel: string | null, st: BigUint64Array, fd?: number): number {
    try {
      return fsE.dir.generations.of({ rel, fd }, st, rel !== null) ?? 0;
    } catch {
      return 0;
    }
  }

  /** The handle of an open file: kept in its inode record while it is open (src/backing/inodes.ts). */
  private fileHandle(fsE: FsEntry, f: FileRef): Buffer {
    const rec = fsE.dir.inodes.get(f.ino);
    if (rec && rec.opens > 0 && rec.handle) return rec.handle;
    const st = new BigUint64Array(sys.STAT_FIELDS);
    sys.fstat(f.fd, st);
    const handle = makeHandle(fsE.fsid, f.ino, this.generation(fsE, f.rel || null, st, f.fd));
    if (rec && rec.opens > 0 && rec.gen !== null) rec.handle = handle;
    return handle;
  }

  /** An object's own event list (with its regions' data events) by descriptor or path. */
  private ownList(fsE: FsEntry, rel: string | null, fd?: number, withRegions = true): bigint {
    if (fd === undefined && rel === null) return 0n;
    return eventListOf(dmStateOf(fsE, { rel, fd }), withRegions);
  }

  private static inForce(own: bigint, fsList: bigint, type: number): boolean {
    return ((own !== 0n ? own : fsList) & eventBit(type)) !== 0n;
  }

  // ---- raising

  /**
   * Queues a synchronous event; `done` gets 0 (CONTINUE) or an errno. It is called from inside
   * dm_respond_event, so the operation it releases is answered in the same turn (before the DM
   * application's own acknowledgement goes out).
   */
  private sync(type: number, data: Buffer, done: (errno: number) => void, onPending?: () => void): void {
    const s = dispositionOf(this.dm, this.fsid, type);
    if (!s) return done(E.EIO);
    if (s.failedAt !== null) {
      // The session's daemon failed and nobody has assumed it yet (dmapiSessionFailureTimeout).
      void this.assumed(s).then((ok) => (ok ? this.raiseSync(type, data, done, onPending) : done(E.EIO)));
      return;
    }
    this.raiseSync(type, data, done, onPending);
  }

  private raiseSync(type: number, data: Buffer, done: (errno: number) => void, onPending?: () => void): void {
    const r = raise(this.dm, {
      fsid: this.fsid, type, data, sync: true, onPending,
      onAnswer: (a) => done(a.response === DM_RESP_ABORT ? a.errno : 0),
    });
    if (!r.delivered) done(E.EIO);
  }

  /** Waits up to dmapiSessionFailureTimeout for a failed session to be assumed: still there? */
  private async assumed(s: Session): Promise<boolean> {
    const until = Date.now() + this.cx.settings.get().dmapiSessionFailureTimeout * 1000;
    while (s.failedAt !== null && Date.now() < until && !this.cx.isStopped()) await sleep(100);
    return s.failedAt === null && this.dm.sessions.has(s.sid) && !this.cx.isStopped();
  }

  /** sync() as a gate. */
  private gate(type: number, data: Buffer): Promise<number> {
    return new Promise((resolve) => this.sync(type, data, resolve));
  }

  private async(type: number, data: Buffer): void {
    if (!dispositionOf(this.dm, this.fsid, type)) return;
    raise(this.dm, { fsid: this.fsid, type, data, sync: false });
  }

  // ---- namespace

  private nsMessage(fsE: FsEntry, op: NsOp, post: boolean, retcode: number): Buffer | null {
    const h = (rel: string) => this.handleAt(fsE, rel)?.handle ?? null;
    const name1 = bytes(op.name);
    switch (op.op) {
      case 'create':
        return namespEvent({
          mode: op.mode, handle1: h(op.parent), name1,
          handle2: post && retcode === 0 ? h(child(op.parent, op.name)) : null, retcode,
        });
      case 'remove':
        return namespEvent({ mode: op.mode, handle1: h(op.parent), name1, retcode });
      case 'rename':
        return namespEvent({
          mode: op.mode, handle1: h(op.parent), handle2: h(op.newParent ?? op.parent), name1, name2: bytes(op.newName ?? ''), retcode,
        });
      case 'link':
        // LTP's printers: ne_handle1 = the directory receiving the link, ne_handle2 = the object.
        return namespEvent({ mode: op.mode, handle1: h(op.parent), handle2: h(op.target ?? ''), name1, retcode });
      case 'symlink':
        return namespEvent({
          mode: op.mode, handle1: h(op.parent), name1, name2: bytes(op.target ?? ''),
          handle2: post && retcode === 0 ? h(child(op.parent, op.name)) : null, retcode,
        });
    }
  }

  /**
   * A namespace event is in force by the parent directory's event list (or the filesystem's); a
   * rename also by the target directory's, as SGI's xfs_rename raises RENAME/POSTRENAME when
   * either directory enables it.
   */
  private nsInForce(fsE: FsEntry, op: NsOp, type: number): boolean {
    const by = (dir: string) => MountHooks.inForce(this.ownList(fsE, dir, undefined, false), fsE.state.eventlist, type);
    return by(op.parent) || (op.op === 'rename' && op.newParent !== undefined && op.newParent !== op.parent && by(op.newParent));
  }

  before(op: NsOp): Gate {
    if (!this.enabled) return null;
    const fsE = this.fs();
    if (!fsE) return null;
    const type = PRE[op.op];
    if (!this.nsInForce(fsE, op, type)) return null;
    const msg = this.nsMessage(fsE, op, false, 0);
    if (!msg) return Promise.resolve(E.EIO);
    return this.gate(type, msg);
  }

  after(op: NsOp, retcode: number): void {
    if (!this.enabled) return;
    const fsE = this.fs();
    if (!fsE) return;
    const type = POST[op.op];
    if (!this.nsInForce(fsE, op, type)) return;
    if (!dispositionOf(this.dm, this.fsid, type)) return;
    const msg = this.nsMessage(fsE, op, true, retcode);
    if (msg) this.async(type, msg);
  }

  // ---- data

  managed(f: FileRef): boolean {
    if (!this.enabled) return false;
    const fsE = this.fs();
    if (!fsE) return false;
    const own = this.ownList(fsE, null, f.fd);
    if (((own !== 0n ? own : fsE.state.eventlist) & DATA_BITS) !== 0n) return true;
    // A region may be set while the file is open, and FUSE cannot switch an open to direct I/O
    // later: while a session holds a data-event disposition for the filesystem, every open is
    // direct, so that a region set after the open raises its events with the application's own
    // offset and length (not page-cache readahead ranges, not reads the cache answers silently).
    return [DM_EVENT_READ, DM_EVENT_WRITE, DM_EVENT_TRUNCATE].some((e) => dispositionOf(this.dm, this.fsid, e) !== null);
  }

  /**
   * Is a data event due for the range? Returns the object's list state it was decided on (its raw
   * regions and event list, to tell after the answer whether the DM application changed them), or
   * null.
   */
  private dataDue(fsE: FsEntry, kind: DataKind, f: FileRef, off: number, len: number): DmState | null {
    const { type, flag } = DATA[kind];
    const state = dmStateOf(fsE, { rel: null, fd: f.fd });
    const regions = regionsIn(state);
    const own = eventListOf(state, true);
    if (own === 0n) return fsE.state.eventlist & eventBit(type) ? state : null;
    if (!(own & eventBit(type))) return null;
    const start = BigInt(off);
    const end = BigInt(off) + BigInt(Math.max(len, 1));
    for (const r of regions) {
      if (!(r.flags & flag)) continue;
      const rEnd = r.size === 0n ? null : r.offset + r.size;
      // A truncation (start = the lower of the old and the new size) is due when a TRUNCATE region
      // ends beyond that point, even a region wholly past the end of the file: XDSM raises TRUNCATE
      // when the new size is at or below the end of a TRUNCATE region (LTP: open(O_TRUNC) of a
      // file shorter than its region still raises it).
      if (kind === 'truncate' ? rEnd === null || rEnd > start : start < (rEnd ?? end + 1n) && end > r.offset) return state;
    }
    return null;
  }

  data(kind: DataKind, f: FileRef, off: number, len: number): Gate {
    if (!this.enabled) return null;
    const fsE = this.fs();
    if (!fsE) return null;
    const state = this.dataDue(fsE, kind, f, off, len);
    if (!state) return null;
    const retries = this.cx.settings.get().dmapiDataEventRetry;
    return new Promise((resolve) => this.dataEvent(fsE, kind, f, off, len, state, retries, resolve));
  }

  /**
   * One operation's data event: joins the event under way for the file and kind, or raises one;
   * then, after CONTINUE, reads the regions again: cleared or unchanged → done; changed and still
   * covering the range (re-enabled during the event) → raised again, at most `retries` times
   * (dmapiDataEventRetry; -1: no limit).
   */
  private dataEvent(fsE: FsEntry, kind: DataKind, f: FileRef, off: number, len: number, state: DmState, retries: number,
    done: (errno: number) => void): void {
    const key = `${f.ino}:${kind}`;
    // The event under way stays shared until it is answered, even when a waiter gave up
    // (dmapiEventTimeout): a retried access joins it instead of raising another one.
    let shared = this.pendingData.get(key);
    const raiseIt = !shared;
    if (!shared) {
      shared = { waiters: new Set() };
      this.pendingData.set(key, shared);
    }
    const ev = shared;
    let timer: NodeJS.Timeout | null = null;
    const w: DataWaiter = {
      nonblock: f.nonblock === true,
      answered: (r) => {
        if (!ev.waiters.delete(w)) return;
        if (timer) clearTimeout(timer);
        if (r !== 0) return done(r);
        // This runs inside dm_respond_event: whatever goes wrong fails this operation only.
        try {
          const cur = this.fs();
          if (!cur) return done(0);
          const again = this.dataDue(cur, kind, f, off, len);
          if (!again || sameState(again, state) || retries === 0) return done(0);
          this.dataEvent(cur, kind, f, off, len, again, retries > 0 ? retries - 1 : retries, done);
        } catch {
          done(E.EIO);
        }
      },
    };
    ev.waiters.add(w);
    const timeoutMs = this.cx.settings.get().dmapiEventTimeout;
    if (timeoutMs < EVENT_TIMEOUT_INFINITE) timer = setTimeout(() => w.answered(E.ENOTREADY), timeoutMs);
    if (!raiseIt) return;
    const answered = (r: number) => {
      if (this.pendingData.get(key) === ev) this.pendingData.delete(key);
      for (const x of [...ev.waiters]) x.answered(r);
    };
    let msg: Buffer;
    try {
      msg = dataEvent(this.fileHandle(fsE, f), BigInt(off), BigInt(len));
    } catch {
      return answered(E.EIO);
    }
    this.sync(DATA[kind].type, msg, answered, () => {
      // dm_pending: the O_NONBLOCK callers waiting for the event get EAGAIN (the event stays).
      for (const x of [...ev.waiters]) if (x.nonblock) x.answered(E.EAGAIN);
    });
  }

  access(ino: bigint, exclusive: boolean): Promise<() => void> | null {
    if (!this.enabled || this.cx.isStopped()) return null;
    return this.dm.rights?.fileOpLock(this.fsid, ino, exclusive) ?? null;
  }

  readServed(f: FileRef): void {
    // A cached open: the pages this read brought in must not serve the next read without its event.
    void this.desc.invalidate(f.ino);
  }

  // ---- metadata

  attribute(rel: string | null, fd?: number): void {
    if (!this.enabled) return;
    const fsE = this.fs();
    if (!fsE || !dispositionOf(this.dm, this.fsid, DM_EVENT_ATTRIBUTE)) return;
    if (!MountHooks.inForce(this.ownList(fsE, rel, fd, false), fsE.state.eventlist, DM_EVENT_ATTRIBUTE)) return;
    const o = this.handleAt(fsE, rel, fd);
    if (!o) return;
    this.async(DM_EVENT_ATTRIBUTE, namespEvent({ mode: Number(o.st[sys.STAT_MODE]), handle1: o.handle }));
  }

  closed(f: FileRef): void {
    if (!this.enabled) return;
    const fsE = this.fs();
    if (!fsE || !dispositionOf(this.dm, this.fsid, DM_EVENT_CLOSE)) return;
    if (!MountHooks.inForce(this.ownList(fsE, null, f.fd, false), fsE.state.eventlist, DM_EVENT_CLOSE)) return;
    const st = new BigUint64Array(sys.STAT_FIELDS);
    sys.fstat(f.fd, st);
    this.async(DM_EVENT_CLOSE, namespEvent({ mode: Number(st[sys.STAT_MODE]), handle1: this.fileHandle(fsE, f) }));
  }

  prepareDestroy(rel: string, ino: bigint, fd?: number): (() => void) | null {
    if (!this.enabled) return null;
    const fsE = this.fs();
    if (!fsE) return null;
    if (!MountHooks.inForce(this.ownList(fsE, fd === undefined ? rel : null, fd, false), fsE.state.eventlist, DM_EVENT_DESTROY)) return null;
    const o = fd !== undefined ? { handle: this.fileHandle(fsE, { rel, ino, fd }) } : this.handleAt(fsE, rel);
    if (!o) return null;
    const name = fsE.state.returnOnDestroy;
    let copy: Buffer | null = null;
    if (name) {
      const x = XA_ATTR + name.toString('hex');
      copy = value(fd !== undefined ? sys.fgetxattr(fd, x) : fsE.dir.getXattr(rel, x));
    }
    const handle = o.handle;
    return () => {
      fsE.dir.inodes.forget(ino);
      this.async(DM_EVENT_DESTROY, destroyEvent(handle, name, copy));
    };
  }

  // ---- filesystem

  noSpace(f: FileRef | null): Gate {
    if (!this.enabled) return null;
    const fsE = this.fs();
    if (!fsE || !(fsE.state.eventlist & eventBit(DM_EVENT_NOSPACE))) return null;
    const fh = f ? this.fileHandle(fsE, f) : null;
    return this.gate(DM_EVENT_NOSPACE, namespEvent({ mode: 0, handle1: fsE.fsHandle, handle2: fh }));
  }

  preUnmount(): Gate {
    if (!this.enabled) return null;
    const fsE = this.fs();
    if (!fsE || !(fsE.state.eventlist & eventBit(DM_EVENT_PREUNMOUNT))) return null;
    const root = this.handleAt(fsE, '');
    return this.gate(DM_EVENT_PREUNMOUNT, namespEvent({ mode: 0, handle1: fsE.fsHandle, handle2: root?.handle ?? null }));
  }

  unmounted(retcode: number, forced: boolean): void {
    if (!this.enabled) return;
    const fsE = this.fs();
    if (!fsE || !(fsE.state.eventlist & eventBit(DM_EVENT_UNMOUNT))) return;
    this.async(DM_EVENT_UNMOUNT, namespEvent({ mode: forced ? DM_UNMOUNT_FORCE : 0, handle1: fsE.fsHandle, retcode }));
  }

  /**
   * MOUNT, before the kernel mount exists: offered to one session with a MOUNT disposition after the
   * other (DONTCARE passes it on); CONTINUE or everybody's DONTCARE → 0; ABORT → its errno.
   * No disposition (GPFS, dmapiMountTimeout): if none was ever set on this node, the first DMAPI
   * mount opens a window of dmapiMountTimeout seconds (once per node) and the mounts made during it
   * wait for one; outside it the mount fails with EIO. `optional` (dmapifs mount
   * --mount-event-optional): with no disposition, mount without a MOUNT event.
   */
  async mountEvent(optional = false): Promise<number> {
    if (!this.enabled) return 0;
    const skip = new Set<number>();
    for (;;) {
      const fsE = this.fs();
      if (!fsE) return E.EIO;
      const s = dispositionOf(this.dm, this.fsid, DM_EVENT_MOUNT, skip);
      if (!s) {
        if (skip.size || optional) return 0;
        if (!this.inMountWindow()) return E.EIO;
        await sleep(100);
        continue;
      }
      const root = this.handleAt(fsE, '');
      const msg = mountEvent({
        mode: 0, fsHandle: fsE.fsHandle, mountDirHandle: null, mountPoint: this.desc.mountpoint, device: fsE.backing,
        rootHandle: root?.handle ?? fsE.fsHandle,
      });
      let sid = 0;
      const a = await new Promise<EventAnswer | null>((resolve) => {
        const r = raise(this.dm, { fsid: this.fsid, type: DM_EVENT_MOUNT, data: msg, sync: true, skip, onAnswer: resolve });
        if (r.delivered) sid = r.sid; else resolve(null);
      });
      if (!a) return E.EIO;
      if (a.response === DM_RESP_DONTCARE) { skip.add(sid); continue; }
      return a.response === DM_RESP_ABORT ? a.errno : 0;
    }
  }

  /** May a mount with no MOUNT disposition still wait for one (the node's one window is open)? */
  private inMountWindow(): boolean {
    const dm = this.dm;
    if (this.cx.isStopped()) return false;
    if (dm.mountWindowEnd === null) {
      if (dm.mountDispositionSeen) return false;
      const t = this.cx.settings.get().dmapiMountTimeout;
      dm.mountWindowEnd = t < 0 ? Infinity : Date.now() + t * 1000;
    }
    return Date.now() < dm.mountWindowEnd;
  }
}

export { ENODATA };
