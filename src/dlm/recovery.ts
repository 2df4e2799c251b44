// Recovery domains and persistent resources (dlm_rd_attach / detach / collect / validate).
//
// A persistent resource is created by a lock taken with DLM_PERSIST and a recovery domain handle. It
// survives the release of its last lock while its domain exists, keeping its value block. When a
// holder of PW or EX on it dies (or is killed), its value block is marked invalid and the resource
// becomes collectable: dlm_rd_collect gathers the invalid resources of the domain, the collector
// repairs them, dlm_rd_validate zeroes their value blocks and marks them valid.
//
// TM (dlm_rd_collect): "may not call dlm_rd_collect() twice for the same recovery domain without an
// intervening call to dlm_rd_validate()"; the domain is "in recovery ... regardless of whether there
// are resources to be collected"; "If the collecting process fails, the DLM makes the resources that
// were on its collection queue eligible for collection again."
// TM (dlm_rd_validate): "validating the value blocks of the resources in the collection ... and
// reinitializing the value blocks to zero (0)"; DLM_MORE_TO_RECOVER when another resource of the domain
// became invalid after the collect, or "after the failure of any cluster member system that had a
// process or process lock group attached to the recovery domain".
//
// GAP decisions:
// - Persistent locks are released when their holder dies, like any process lock; the resource stays.
//   This is what Ingres relied on: its "First CSP" lock is taken with DLM_VALB|DLM_PERSIST|DLM_NOQUEUE,
//   and the next requester after a holder's death is granted with DLM_SUCCVALNOTVALID ("Previous 'First
//   CSP' candidate must have died"). A lock kept by a dead owner would have refused it instead. The
//   seed says the same of group locks released by DLM_GLC_FORCE: the resource "may survive".
// - A domain outlives the processes attached to it. Ingres: "if a resource is left in an unknown state
//   by a process holding a write (PW, EX) lock dying, the resource state is maintained even if all
//   locks on this resource were lost", and the seed (dlm_glc_destroy, DLM_GLC_FORCE): the group's
//   recovery domain ids are destroyed while "the resource itself may survive". So a handle that goes
//   because its process died (or its container was destroyed) frees nothing: the domain keeps every
//   persistent resource with its value block, and a successor that attaches to the domain by name
//   collects what the dead one left invalid (the dead-man lock pattern works with a single process).
//   Only a handle given back on purpose (dlm_rd_detach, dlm_detach) by the last one attached ends the
//   domain's duty: its persistent resources without locks and with a valid value block are freed
//   (nothing is left to recover); invalid ones stay for the next collector, and resources still locked
//   stay persistent. The domain itself goes when it has neither handles nor resources.
// - Locking: DLM_PERSIST needs a handle of the caller (else DLM_IVRDID) of the right kind (a group lock
//   needs a DLM_RD_GROUP handle of its container, a process lock a DLM_RD_PROCESS handle; else
//   DLM_BADPARAM); an existing persistent resource of another domain gives DLM_PR_RD_MISMATCH, an
//   existing ordinary resource DLM_NOT_PR, and locking a persistent resource without DLM_PERSIST
//   DLM_IS_PR. Without DLM_PERSIST the rd_id argument is ignored.
// - Collections: one per domain at a time. A second dlm_rd_collect through the same handle gives
//   DLM_EALREADY, through another handle DLM_EINPROGRESS. dlm_rd_validate needs the handle the
//   collection was made through and its collection handle (else DLM_IVHNDL); it zeroes and validates
//   every resource of the collection, as the man page says, even one a writer has rewritten since.
// - dlm_rd_detach refuses with DLM_HASLOCKS while the process holds persistent process locks in the
//   domain; a DLM_RD_GROUP handle can always go (group locks belong to the container). Unknown handle:
//   DLM_IVRDID; any flag: DLM_BADPARAM. A collection pending on the handle is abandoned (its resources
//   become collectable again), as when the collector dies.
// - Names are 1..DLM_RDNAMELEN bytes (empty: DLM_BADPARAM; longer: DLM_ENAMETOOLONG). Exactly one of
//   DLM_RD_PROCESS / DLM_RD_GROUP (else DLM_BADPARAM); DLM_RD_GROUP without a container: DLM_NO_GROUP.
//   Attaching a second time to the same domain in the same way: DLM_ATTACHED.

import type { Dlm } from './engine';
import type { ProcessRecord } from './process-record';
import type { Resource } from './resource';
import type { Glc } from './glc';
import type { RdAttachResult, RdCollectResult, RdCollectedResource } from './types';
import { keyBytes } from './resource';
import { DLM_RD_GROUP, DLM_RD_PROCESS, DLM_RDNAMELEN, DLM_RDPROCMAX } from './constants';
import {
  DLM_ATTACHED,
  DLM_BADPARAM,
  DLM_EALREADY,
  DLM_EINPROGRESS,
  DLM_ENAMETOOLONG,
  DLM_HASLOCKS,
  DLM_IVHNDL,
  DLM_IVRDID,
  DLM_MORE_TO_RECOVER,
  DLM_NO_GROUP,
  DLM_NOTATTACHED,
  DLM_SUCCESS,
  DLM_TOOMANYRD,
  type DlmStatus,
} from './status';

export class RecoveryDomain {
  readonly attachments = new Set<RdHandle>();
  /** Its persistent resources. */
  readonly resources = new Set<Resource>();
  /** The collection in progress, if any. */
  collection: Collection | null = null;
  /** Between dlm_rd_collect and a dlm_rd_validate that found nothing more to recover. */
  recovering = false;
  /** A cluster member with a process attached failed during the recovery. */
  memberFailed = false;

  constructor(readonly name: string) {}

  /** Resources with an invalid value block that no collection holds. */
  collectable(): Resource[] {
    const out: Resource[] = [];
    for (const r of this.resources) if (!r.lvbValid && r.collection === null) out.push(r);
    return out;
  }
}

/** A per-process handle on a recovery domain (dlm_rd_id_t). */
export class RdHandle {
  collection: Collection | null = null;

  constructor(
    readonly id: number,
    readonly proc: ProcessRecord,
    readonly domain: RecoveryDomain,
    readonly mode: number,
    readonly glc: Glc | null,
  ) {}
}

export class Collection {
  constructor(
    readonly hndl: number,
    readonly handle: RdHandle,
    readonly resources: readonly Resource[],
  ) {}
}

function describe(r: Resource): RdCollectedResource {
  return { namespace: r.ns.key, path: r.path().map(keyBytes), valb: r.lvbCopy(), vbseqnum: r.lvbSeq };
}

/** dlm_rd_attach. */
export function rdAttach(dlm: Dlm, rec: ProcessRecord, name: string, flags: number): RdAttachResult {
  if (flags !== DLM_RD_PROCESS && flags !== DLM_RD_GROUP) return { status: DLM_BADPARAM };
  if (rec.joined === 0) return { status: DLM_NOTATTACHED };
  if (typeof name !== 'string' || name.length === 0) return { status: DLM_BADPARAM };
  if (Buffer.byteLength(name, 'utf8') > DLM_RDNAMELEN) return { status: DLM_ENAMETOOLONG };
  if (flags === DLM_RD_GROUP && !rec.glc) return { status: DLM_NO_GROUP };
  const existing = dlm.domains.get(name);
  let free = 0;
  for (let i = DLM_RDPROCMAX; i >= 1; i--) {
    const h = rec.rds[i];
    if (h === null) free = i;
    else if (h.domain === existing && h.mode === flags) return { status: DLM_ATTACHED };
  }
  if (free === 0) return { status: DLM_TOOMANYRD };
  let domain = existing;
  if (!domain) {
    domain = new RecoveryDomain(name);
    dlm.domains.set(name, domain);
  }
  const glc = flags === DLM_RD_GROUP ? rec.glc : null;
  const h = new RdHandle(free, rec, domain, flags, glc);
  rec.rds[free] = h;
  domain.attachments.add(h);
  glc?.rdHandles.add(h);
  return { status: DLM_SUCCESS, rdId: free };
}

/**
 * Drops a handle and abandons its collection. `detached`: given back on purpose (dlm_rd_detach,
 * dlm_detach), not lost with its process or container; when it was the last handle, the domain's
 * resources that need nothing more are freed (see the rule above).
 */
export function destroyRdHandle(dlm: Dlm, h: RdHandle, detached: boolean): void {
  abandonCollection(h);
  const domain = h.domain;
  domain.attachments.delete(h);
  h.glc?.rdHandles.delete(h);
  if (h.proc.rds[h.id] === h) h.proc.rds[h.id] = null;
  if (domain.attachments.size > 0 || dlm.domains.get(domain.name) !== domain) return;
  if (detached) {
    for (const r of [...domain.resources]) {
      if (r.lockCount > 0 || !r.lvbValid) continue;
      domain.resources.delete(r);
      r.rd = null;
      r.collection = null;
      dlm.afterRelease(r);
    }
  }
  if (domain.resources.size === 0) dlm.domains.delete(domain.name);
}

function abandonCollection(h: RdHandle): void {
  const c = h.collection;
  if (!c) return;
  for (const r of c.resources) if (r.collection === c) r.collection = null;
  h.collection = null;
  if (h.domain.collection === c) h.domain.collection = null;
}

/** dlm_rd_detach. */
export function rdDetach(dlm: Dlm, rec: ProcessRecord, rdId: number, flags: number): DlmStatus {
  if (flags !== 0) return DLM_BADPARAM;
  const h = rec.rdHandle(rdId);
  if (!h) return DLM_IVRDID;
  if (h.mode === DLM_RD_PROCESS) {
    for (let lk = rec.locks.head; lk; lk = lk.oNext) if (lk.rd === h.domain) return DLM_HASLOCKS;
  }
  destroyRdHandle(dlm, h, true);
  return DLM_SUCCESS;
}

/** dlm_rd_collect. */
export function rdCollect(dlm: Dlm, rec: ProcessRecord, rdId: number, flags: number): RdCollectResult {
  if (flags !== 0) return { status: DLM_BADPARAM };
  const h = rec.rdHandle(rdId);
  if (!h) return { status: DLM_IVRDID };
  if (h.collection) return { status: DLM_EALREADY };
  const domain = h.domain;
  if (domain.collection) return { status: DLM_EINPROGRESS };
  const resources = domain.collectable();
  const c = new Collection(dlm.nextCollection++, h, resources);
  for (const r of resources) r.collection = c;
  h.collection = c;
  domain.collection = c;
  domain.recovering = true;
  return { status: DLM_SUCCESS, hndl: c.hndl, resources: resources.map(describe) };
}

/** dlm_rd_validate. */
export function rdValidate(rec: ProcessRecord, rdId: number, hndl: number, flags: number): DlmStatus {
  if (flags !== 0) return DLM_BADPARAM;
  const h = rec.rdHandle(rdId);
  if (!h) return DLM_IVRDID;
  const c = h.collection;
  if (!c || c.hndl !== hndl) return DLM_IVHNDL;
  for (const r of c.resources) {
    if (r.collection !== c) continue;
    r.collection = null;
    r.lvb = null;
    r.lvbValid = true;
    r.lvbSeq++;
  }
  h.collection = null;
  const domain = h.domain;
  domain.collection = null;
  const more = domain.memberFailed || domain.collectable().length > 0;
  domain.memberFailed = false;
  if (more) return DLM_MORE_TO_RECOVER;
  domain.recovering = false;
  return DLM_SUCCESS;
}
