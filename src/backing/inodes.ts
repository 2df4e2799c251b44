// One record per backing inode the process knows, shared by the passthrough and the DMAPI: the
// handle index (the last path that led to it), its generation and DMAPI handle, how many opens the
// mounts of this process hold on it, the cache of its DM state, and the times to show after a
// change users must not see.
//
// What is cached, and why it stays right:
// * An inode number is reused once the inode is gone, so what identifies an object (generation,
//   handle) is kept only while the object is open through a mount (an open inode cannot be reused);
//   otherwise it is read again from the backing object each time.
// * The DM state (event list, regions, whether it has DM attributes) is kept with the ctime it was
//   read at: every change of an xattr changes the ctime, so a change made by anyone (another
//   daemon serving the same backing directory, too) is seen at the next access. Changes made by
//   this process drop it at once (dmChanged()), so that a coarse ctime clock cannot hide one.
// * invalidate() drops everything derived from the backing object. It is the hook of a coherence
//   layer between nodes (a DLM lock per cached inode, whose loss invalidates the record).
import * as sys from '../native/sys';
import type { RelPath } from './names';

/** The DM state of an object as its private xattrs hold it (raw bytes; the DMAPI decodes them). */
export interface DmState {
  /** XA_EVENTS: the object's own event list, or null. */
  events: Buffer | null;
  /** XA_REGIONS: its managed regions, or null. */
  regions: Buffer | null;
}

function ctimeOf(st: BigUint64Array): bigint {
  return st[sys.STAT_CTIME_SEC] * 1_000_000_000n + st[sys.STAT_CTIME_NSEC];
}

export class InodeRecord {
  /** The handle index: the last backing path known to lead to this inode (checked before use). */
  path: RelPath | null = null;
  /** Opens held through the mounts of this process. */
  opens = 0;
  /** The generation, kept while open (see the header). */
  gen: number | null = null;
  /** The DMAPI's handle of the object (opaque here), kept with the generation. */
  handle: Buffer | null = null;
  /**
   * The size the kernel was last told (attribute replies), and so where it puts an O_APPEND write:
   * the passthrough moves such a write to the real end when the file grew behind the mount's back.
   */
  kernelSize: number | null = null;
  private dm: { state: DmState; ctime: bigint } | null = null;
  private attrs: { has: boolean; ctime: bigint } | null = null;
  /** A change users must not see: the ctime to show while the backing ctime is `backing`. */
  private hidden: { sec: bigint; nsec: bigint; backing: bigint } | null = null;

  constructor(readonly ino: bigint) {}

  /** The cached DM state, if it was read at the ctime `st` shows. */
  dmState(st: BigUint64Array): DmState | null {
    return this.dm && this.dm.ctime === ctimeOf(st) ? this.dm.state : null;
  }
  cacheDmState(st: BigUint64Array, state: DmState): void {
    this.dm = { state, ctime: ctimeOf(st) };
  }
  hasDmAttrs(st: BigUint64Array): boolean | null {
    return this.attrs && this.attrs.ctime === ctimeOf(st) ? this.attrs.has : null;
  }
  cacheHasDmAttrs(st: BigUint64Array, has: boolean): void {
    this.attrs = { has, ctime: ctimeOf(st) };
  }
  /** This process changed the object's DM state. */
  dmChanged(): void {
    this.dm = null;
    this.attrs = null;
  }

  /**
   * A change users must not see was made (src/dmapi/ctime.ts): until the object changes again, its
   * ctime shows as it was shown `before`. (Linux has no call that sets a ctime.)
   */
  hideChange(before: BigUint64Array, after: BigUint64Array): void {
    const shown = this.hidden && this.hidden.backing === ctimeOf(before)
      ? { sec: this.hidden.sec, nsec: this.hidden.nsec }
      : { sec: before[sys.STAT_CTIME_SEC], nsec: before[sys.STAT_CTIME_NSEC] };
    this.hidden = { ...shown, backing: ctimeOf(after) };
  }
  /** Shows `sec`.`nsec` as the ctime while the backing ctime stays the one `st` shows. */
  showCtime(sec: bigint, nsec: bigint, st: BigUint64Array): void {
    this.hidden = { sec, nsec, backing: ctimeOf(st) };
  }
  /** The real ctime shows from now on. */
  unhide(): void {
    this.hidden = null;
  }
  /** Puts the ctime to show into a stat of the object (unchanged when nothing is hidden). */
  shownTimes(st: BigUint64Array): BigUint64Array {
    const h = this.hidden;
    if (!h) return st;
    if (h.backing !== ctimeOf(st)) { this.hidden = null; return st; }
    st[sys.STAT_CTIME_SEC] = h.sec;
    st[sys.STAT_CTIME_NSEC] = h.nsec;
    return st;
  }

  /** Drops everything derived from the backing object (see the header). */
  invalidate(): void {
    this.dmChanged();
    if (this.opens === 0) { this.gen = null; this.handle = null; }
  }
}

export class InodeTable {
  private readonly byIno = new Map<bigint, InodeRecord>();

  get(ino: bigint): InodeRecord | undefined {
    return this.byIno.get(ino);
  }

  /** The record of an inode, made on first use. */
  record(ino: bigint): InodeRecord {
    let r = this.byIno.get(ino);
    if (!r) { r = new InodeRecord(ino); this.byIno.set(ino, r); }
    return r;
  }

  /** Records the path that leads to an inode (the handle index). */
  setPath(ino: bigint, rel: RelPath): void {
    this.record(ino).path = rel;
  }

  pathOf(ino: bigint): RelPath | null {
    return this.byIno.get(ino)?.path ?? null;
  }

  /** The path no longer leads to the inode (checked and found wrong). */
  lostPath(ino: bigint): void {
    const r = this.byIno.get(ino);
    if (r) r.path = null;
  }

  opened(ino: bigint): InodeRecord {
    const r = this.record(ino);
    r.opens++;
    return r;
  }

  /** One open released; the record when it was the last. */
  closed(ino: bigint): InodeRecord | null {
    const r = this.byIno.get(ino);
    if (!r) return null;
    r.opens = Math.max(0, r.opens - 1);
    if (r.opens > 0) return null;
    r.gen = null;
    r.handle = null;
    return r;
  }

  isOpen(ino: bigint): boolean {
    return (this.byIno.get(ino)?.opens ?? 0) > 0;
  }

  /** The object is gone (its last name removed and not open): its record goes. */
  forget(ino: bigint): void {
    const r = this.byIno.get(ino);
    if (r && r.opens === 0) this.byIno.delete(ino);
  }
}
