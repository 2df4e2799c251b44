// The per-process API: the TruCluster dlm_* calls in camelCase, made on behalf of one process.
// A service layer creates one DlmProcess per client (credentials from SO_PEERCRED) with
// dlm.process(cred) and forwards the client's calls to it.

import type { Dlm } from './engine';
import type { ProcessRecord } from './process-record';
import type { DlmStatus } from './status';
import type {
  ConvertOptions,
  GlcCreateResult,
  LkInfoResult,
  LockId,
  LockOptions,
  LockResult,
  NsJoinResult,
  QueCvtOptions,
  QueLockOptions,
  RdAttachResult,
  RdCollectResult,
  RsbInfoResult,
  SetSignalResult,
} from './types';

export class DlmProcess {
  /** @internal */
  readonly record: ProcessRecord;
  private readonly dlm: Dlm;

  /** @internal Use Dlm.process(). */
  constructor(dlm: Dlm, record: ProcessRecord) {
    this.dlm = dlm;
    this.record = record;
  }

  get pid(): number {
    return this.record.pid;
  }

  get uid(): number {
    return this.record.uid;
  }

  get gid(): number {
    return this.record.gid;
  }

  get node(): number {
    return this.record.node;
  }

  /** False once the process died (ownerDied, or killed by the engine). */
  get alive(): boolean {
    return this.record.alive;
  }

  /** Notifications waiting for dlm_notify. */
  get pendingNotifications(): number {
    return this.record.notifications.length;
  }

  /** dlm_nsjoin(nsid, &nsp, flags). */
  nsjoin(nsid: number, flags = 0): NsJoinResult {
    return this.dlm.nsjoin(this.record, nsid, flags);
  }

  /** dlm_nsleave(&nsp, flags). */
  nsleave(nsp: number, flags = 0): DlmStatus {
    return this.dlm.nsleave(this.record, nsp, flags);
  }

  /** dlm_detach(). */
  detach(): DlmStatus {
    return this.dlm.detach(this.record);
  }

  /** dlm_set_signal(newsig, &oldsig). */
  setSignal(newsig: number): SetSignalResult {
    return this.dlm.setSignal(this.record, newsig);
  }

  /** dlm_notify(): delivers pending notifications, returns how many. */
  notify(): number {
    return this.dlm.notify(this.record);
  }

  /**
   * dlm_lock / dlm_locktp: waits until granted. Returns at once; when the request had to wait, `wait`
   * resolves with the final status (see LockResult).
   */
  lock(nsp: number, resnam: string | Uint8Array, mode: number, opts?: LockOptions): LockResult {
    return this.dlm.request(this.record, nsp, resnam, mode, opts, true);
  }

  /** dlm_quelock / dlm_quelocktp: queues the request; the completion routine reports the outcome. */
  quelock(nsp: number, resnam: string | Uint8Array, mode: number, opts?: QueLockOptions): LockResult {
    return this.dlm.request(this.record, nsp, resnam, mode, opts, false);
  }

  /** dlm_cvt: converts and waits (see LockResult for waiting). */
  cvt(lkid: LockId, mode: number, opts?: ConvertOptions): LockResult {
    return this.dlm.convert(this.record, lkid, mode, opts, true);
  }

  /** dlm_quecvt: queues a conversion; the completion routine reports the outcome. */
  quecvt(lkid: LockId, mode: number, opts?: QueCvtOptions): DlmStatus {
    return this.dlm.convert(this.record, lkid, mode, opts, false).status;
  }

  /** dlm_unlock(&lkid, valb, flags). */
  unlock(lkid: LockId, valb: Uint8Array | null = null, flags = 0): DlmStatus {
    return this.dlm.unlock(this.record, lkid, valb, flags);
  }

  /** dlm_cancel(&lkid, flags). */
  cancel(lkid: LockId, flags = 0): DlmStatus {
    return this.dlm.cancel(this.record, lkid, flags);
  }

  /** dlm_glc_create(&id, flags, ns_list, ns_num). */
  glcCreate(flags: number, nsList: readonly number[]): GlcCreateResult {
    return this.dlm.glcCreate(this.record, flags, nsList);
  }

  /** dlm_glc_attach(id, flags). */
  glcAttach(id: number, flags = 0): DlmStatus {
    return this.dlm.glcAttach(this.record, id, flags);
  }

  /** dlm_glc_detach(). */
  glcDetach(): DlmStatus {
    return this.dlm.glcDetach(this.record);
  }

  /** dlm_glc_destroy(id, flags). */
  glcDestroy(id: number, flags = 0): DlmStatus {
    return this.dlm.glcDestroy(this.record, id, flags);
  }

  /** dlm_rd_attach(name, &rd_id, flags). */
  rdAttach(name: string, flags: number): RdAttachResult {
    return this.dlm.rdAttach(this.record, name, flags);
  }

  /** dlm_rd_detach(rd_id, flags). */
  rdDetach(rdId: number, flags = 0): DlmStatus {
    return this.dlm.rdDetach(this.record, rdId, flags);
  }

  /** dlm_rd_collect(rd_id, &hndl, flags). */
  rdCollect(rdId: number, flags = 0): RdCollectResult {
    return this.dlm.rdCollect(this.record, rdId, flags);
  }

  /** dlm_rd_validate(rd_id, &hndl, flags). */
  rdValidate(rdId: number, hndl: number, flags = 0): DlmStatus {
    return this.dlm.rdValidate(this.record, rdId, hndl, flags);
  }

  /** dlm_get_lkinfo(&lkid, &info). */
  getLkinfo(lkid: LockId): LkInfoResult {
    return this.dlm.getLkinfo(this.record, lkid);
  }

  /** dlm_get_rsbinfo(nsp, resnam, resnlen, &info, par_lkid). */
  getRsbinfo(nsp: number, resnam: string | Uint8Array, parlkid?: LockId | null): RsbInfoResult {
    return this.dlm.getRsbinfo(this.record, nsp, resnam, parlkid);
  }
}
