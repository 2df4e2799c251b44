// The resource block (Linux: struct dlm_rsb): a named resource in a namespace or under a parent
// resource, its three queues, its value block, and the namespace that roots resource trees.

import { DLM_RESNAMELEN, DLM_VALBLKSIZE } from './constants';
import { INCOMPAT_MASK } from './modes';
import { LockQueue, type Lock } from './lock';
import type { RecoveryDomain, Collection } from './recovery';

/**
 * Resource names are 1..DLM_RESNAMELEN bytes, binary allowed. Internally a name is the latin1 string
 * of its bytes, so equal byte strings give equal keys whether they came as a string (UTF-8 encoded) or
 * as a Uint8Array. Returns null for a length out of range (DLM_IVBUFLEN).
 */
export function nameKey(resnam: unknown): string | null {
  if (typeof resnam === 'string') {
    const n = resnam.length;
    if (n === 0 || n > DLM_RESNAMELEN) return null;
    for (let i = 0; i < n; i++) {
      if (resnam.charCodeAt(i) > 0x7f) {
        const bytes = Buffer.from(resnam, 'utf8');
        return bytes.length > DLM_RESNAMELEN ? null : bytes.toString('latin1');
      }
    }
    return resnam;
  }
  if (resnam instanceof Uint8Array) {
    if (resnam.length === 0 || resnam.length > DLM_RESNAMELEN) return null;
    return Buffer.from(resnam.buffer, resnam.byteOffset, resnam.length).toString('latin1');
  }
  return null;
}

export function keyBytes(key: string): Uint8Array {
  return new Uint8Array(Buffer.from(key, 'latin1'));
}

/** A printable form of a name key: the text when it is printable ASCII, else hex. */
export function keyText(key: string): string {
  return /^[\x20-\x7e]*$/.test(key) ? key : `0x${Buffer.from(key, 'latin1').toString('hex')}`;
}

export type NamespaceKind = 'system' | 'user' | 'group';

/** A namespace: the systemwide one (nsid 0 with DLM_USER), a UID's or a GID's. */
export class Namespace {
  readonly key: string;
  readonly resources = new Map<string, Resource>();
  /** Processes that joined it. */
  members = 0;

  constructor(
    readonly kind: NamespaceKind,
    readonly nsid: number,
  ) {
    this.key = kind === 'system' ? 'system' : `${kind}:${nsid}`;
  }
}

export class Resource {
  readonly key: string;
  readonly ns: Namespace;
  readonly parent: Resource | null;
  /** Child resources (sublock resources), by name. */
  children: Map<string, Resource> | null = null;

  /** Locks granted and not converting. */
  readonly granted = new LockQueue();
  /** Conversion requests, in arrival order; they keep their granted mode while they wait. */
  readonly converting = new LockQueue();
  /** New requests, in arrival order. */
  readonly waiting = new LockQueue();
  /** How many granted and converting locks hold each mode. */
  readonly counts = [0, 0, 0, 0, 0, 0, 0];
  /** Bit m set while counts[m] > 0. */
  modeBits = 0;
  /** All locks: granted, converting and waiting. */
  lockCount = 0;
  /** Locks with a blocking routine. */
  blkCount = 0;

  /** The value block; null stands for all zeros until the first write. */
  lvb: Uint8Array | null = null;
  lvbValid = true;
  /** Counts the writes to the value block. */
  lvbSeq = 0;

  /** Recovery domain of a persistent resource (null: not persistent). */
  rd: RecoveryDomain | null = null;
  /** The recovery collection this resource is on, if any. */
  collection: Collection | null = null;

  /** In the engine's list of resources whose queues must be re-examined. */
  settling = false;
  /** In the engine's list of resources settled during the current call (notifications, freeing). */
  inSettled = false;
  /** Removed from its namespace or parent. */
  freed = false;
  /**
   * Being re-mastered (remaster.ts): its locks arrive from the survivors in any order, so nothing is
   * granted and nobody notified until every survivor has sent its locks.
   */
  held = false;

  constructor(key: string, ns: Namespace, parent: Resource | null) {
    this.key = key;
    this.ns = ns;
    this.parent = parent;
  }

  get hasPending(): boolean {
    return this.converting.head !== null || this.waiting.head !== null;
  }

  addMode(mode: number): void {
    if (this.counts[mode]++ === 0) this.modeBits |= 1 << mode;
  }

  dropMode(mode: number): void {
    if (--this.counts[mode] === 0) this.modeBits &= ~(1 << mode);
  }

  /**
   * Whether a request for `rqmode` conflicts with the modes granted on this resource (granted and
   * converting locks both hold their granted mode), leaving out the granted mode of `self`.
   */
  conflicts(rqmode: number, self: Lock | null): boolean {
    let bits = this.modeBits;
    if (self !== null) {
      const g = self.grmode;
      if (g !== 0 && this.counts[g] === 1) bits &= ~(1 << g);
    }
    return (bits & INCOMPAT_MASK[rqmode]) !== 0;
  }

  /**
   * The most restrictive granted mode (0 when none). Granted modes are pairwise compatible, and every
   * compatible set ({NL,CR,CW}, {NL,CR,PR}, {NL,CR,PW}, {NL,EX}) is ordered by mode number.
   */
  get ggmode(): number {
    for (let m = 6; m > 0; m--) if (this.counts[m] > 0) return m;
    return 0;
  }

  /** A copy of the value block (zeros while never written). */
  lvbCopy(): Uint8Array {
    return this.lvb ? this.lvb.slice() : new Uint8Array(DLM_VALBLKSIZE);
  }

  /** Names from the root resource down to this one. */
  path(): string[] {
    const out: string[] = [];
    for (let r: Resource | null = this; r; r = r.parent) out.unshift(r.key);
    return out;
  }

  /** Whether the resource may be freed: no locks, no child resources, not kept by a recovery domain. */
  get idle(): boolean {
    return this.lockCount === 0 && (this.children === null || this.children.size === 0) && this.rd === null;
  }
}
