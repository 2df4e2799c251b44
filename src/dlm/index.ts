// The TruCluster Server DLM engine: public API.
//
//   const dlm = new Dlm({ scheduler: new SystemScheduler() });
//   const p = dlm.process({ pid, uid, gid });          // one per client process
//   const { nsp } = p.nsjoin(uid, DLM_USER);
//   const r = p.lock(nsp, 'R', DLM_EXMODE, { flags: DLM_SYNCSTS });
//   if (r.wait) await r.wait;                           // dlm_lock had to wait
//   p.unlock(r.lkid!);

export { Dlm } from './engine';
export { DlmClient, dlmSocketPath, type DlmClientOptions } from './client';
export { DlmProcess } from './process';
export { ManualScheduler, SystemScheduler, type Scheduler, type TimerHandle } from './scheduler';
export * from './status';
export * from './constants';
export { compatible, covers, quecvtLegal } from './modes';
export { formatDump } from './dump';
export type { DlmDump, DumpDomain, DumpGlc, DumpLock, DumpNamespace, DumpProcess, DumpResource } from './dump';
export type * from './types';
