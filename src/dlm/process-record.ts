// What the engine knows about one process: credentials, joined namespaces, group lock container,
// recovery domain handles, its locks and its notification queue.

import { DLM_DEFAULT_SIGNAL, DLM_NSPROCMAX, DLM_RDPROCMAX } from './constants';
import { DeadlockOwner } from './deadlock';
import { OwnerLockList } from './lock';
import type { Namespace } from './resource';
import type { Glc } from './glc';
import type { RdHandle } from './recovery';
import type { Notification } from './notifications';
import type { Credentials } from './types';
import type { DlmProcess } from './process';

/** A process' membership of a namespace (the nsp handle). */
export class NsAttachment {
  /** Process locks (not group locks) the process has in this namespace. */
  lockCount = 0;

  constructor(
    readonly nsp: number,
    readonly ns: Namespace,
  ) {}
}

export function ownerKey(node: number, pid: number): string {
  return `${node}:${pid}`;
}

export class ProcessRecord {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
  readonly groups: readonly number[];
  readonly node: number;
  readonly key: string;
  alive = true;

  /** Namespace handles: index = nsp (1..DLM_NSPROCMAX). */
  readonly nsps: (NsAttachment | null)[] = new Array(DLM_NSPROCMAX + 1).fill(null);
  readonly byNs = new Map<Namespace, NsAttachment>();
  glc: Glc | null = null;
  /** Recovery domain handles: index = rdId (1..DLM_RDPROCMAX). */
  readonly rds: (RdHandle | null)[] = new Array(DLM_RDPROCMAX + 1).fill(null);

  /** Process locks (group locks are on their container's list). */
  readonly locks = new OwnerLockList();
  readonly dl: DeadlockOwner;

  signal = DLM_DEFAULT_SIGNAL;
  /** The signal was raised and the queue not drained since. */
  signalRaised = false;
  notifications: Notification[] = [];

  /** The public handle. */
  facade!: DlmProcess;

  constructor(cred: Credentials) {
    this.pid = cred.pid;
    this.uid = cred.uid;
    this.gid = cred.gid;
    this.groups = cred.groups ? [...cred.groups] : [];
    this.node = cred.node ?? 0;
    this.key = ownerKey(this.node, this.pid);
    this.dl = new DeadlockOwner(`process ${this.key}`);
  }

  get root(): boolean {
    return this.uid === 0;
  }

  get joined(): number {
    return this.byNs.size;
  }

  inGroup(gid: number): boolean {
    return this.gid === gid || this.groups.includes(gid);
  }

  attachment(nsp: unknown): NsAttachment | null {
    return typeof nsp === 'number' && Number.isInteger(nsp) && nsp >= 1 && nsp <= DLM_NSPROCMAX ? this.nsps[nsp] : null;
  }

  rdHandle(rdId: unknown): RdHandle | null {
    return typeof rdId === 'number' && Number.isInteger(rdId) && rdId >= 1 && rdId <= DLM_RDPROCMAX ? this.rds[rdId] : null;
  }
}
