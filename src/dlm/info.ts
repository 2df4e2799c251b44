// dlm_get_lkinfo and dlm_get_rsbinfo.
//
// GAP decisions (field meanings beyond the names were not recovered; docs/decisions.md):
// - dlm_get_lkinfo: "You must be the superuser or the lock owner" (for a group lock: a member of its
//   container), else DLM_NOACCESS. lk_pid is the owner's pid (for a group lock, the member
//   manipulating it, 0 when none). grmode is DLM_NOMODE while a new request waits.
// - dlm_get_rsbinfo needs the caller to have joined the namespace (else DLM_NOTATTACHED); a resource
//   that does not exist (never created, or freed with its last lock) is DLM_ENOENT. vbstatus is
//   DLM_SUCCESS for a valid value block and DLM_SUCCVALNOTVALID for an invalid one; vbseqnum counts the
//   writes to the value block; subrescnt counts child resources; lckcnt all locks (granted, converting,
//   waiting); blkastcnt the locks with a blocking routine (VMS RSB$W_BLKASTCNT); ggcnt the locks holding
//   a granted mode and ggmode the most restrictive of those modes; cvtqmode / wtqmode the requested
//   modes at the heads of the conversion and wait queues (DLM_NOMODE when empty).

import type { Dlm } from './engine';
import type { ProcessRecord } from './process-record';
import type { LkInfoResult, LockId, RsbInfoResult } from './types';
import { DLM_NOMODE } from './constants';
import { keyBytes, nameKey } from './resource';
import { DLM_ENOENT, DLM_IVBUFLEN, DLM_IVLOCKID, DLM_NOACCESS, DLM_NOTATTACHED, DLM_SUCCESS, DLM_SUCCVALNOTVALID } from './status';

export function getLkinfo(dlm: Dlm, rec: ProcessRecord, lkid: LockId): LkInfoResult {
  if (!rec.alive) return { status: DLM_NOTATTACHED };
  const lk = dlm.locks.get(lkid);
  if (lk === null) return { status: DLM_IVLOCKID };
  if (!rec.root && !dlm.canUse(rec, lk)) return { status: DLM_NOACCESS };
  const name = keyBytes(lk.res.key);
  return {
    status: DLM_SUCCESS,
    info: {
      resnam: name,
      resnlen: name.length,
      parlkid: lk.parent ? lk.parent.id : null,
      rqmode: lk.rqmode,
      valb: lk.valb,
      flags: lk.flags,
      notprm: lk.notprm,
      hint: lk.hint,
      blkrtn: lk.blkrtn,
      timeout: lk.timeout,
      cplrtn: lk.cplrtn,
      sig: lk.proc ? lk.proc.signal : 0,
      grmode: lk.grmode,
      lkstate: lk.state,
      lk_pid: lk.proc ? lk.proc.pid : 0,
    },
  };
}

export function getRsbinfo(dlm: Dlm, rec: ProcessRecord, nsp: number, resnam: string | Uint8Array, parlkid: LockId | null): RsbInfoResult {
  if (!rec.alive || rec.joined === 0) return { status: DLM_NOTATTACHED };
  const key = nameKey(resnam);
  if (key === null) return { status: DLM_IVBUFLEN };
  let map;
  if (parlkid) {
    const parent = dlm.locks.get(parlkid);
    if (parent === null) return { status: DLM_IVLOCKID };
    if (!rec.root && !dlm.canUse(rec, parent)) return { status: DLM_NOACCESS };
    map = parent.res.children;
  } else {
    const att = rec.attachment(nsp);
    if (att === null) return { status: DLM_NOTATTACHED };
    map = att.ns.resources;
  }
  const res = map ? map.get(key) : undefined;
  if (res === undefined) return { status: DLM_ENOENT };
  return {
    status: DLM_SUCCESS,
    info: {
      vbstatus: res.lvbValid ? DLM_SUCCESS : DLM_SUCCVALNOTVALID,
      vbseqnum: res.lvbSeq,
      subrescnt: res.children ? res.children.size : 0,
      lckcnt: res.lockCount,
      blkastcnt: res.blkCount,
      ggcnt: res.granted.size + res.converting.size,
      ggmode: res.ggmode,
      cvtqmode: res.converting.head ? res.converting.head.rqmode : DLM_NOMODE,
      wtqmode: res.waiting.head ? res.waiting.head.rqmode : DLM_NOMODE,
      valb: res.lvbCopy(),
    },
  };
}
