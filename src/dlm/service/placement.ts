// Which node masters a resource. In this issue one node masters every resource of the cluster (the
// configuration's master); this function is the only place that says so. Spreading resources
// later means answering per (namespace, root resource name), e.g. by hashing them over the live
// nodes, and routing each request by it (the requests that name a resource are LOCK, QUELOCK and
// RSBINFO; the others follow the lock id or the process).
import type { ClusterConfig } from './cluster-config';
import { masterName } from './cluster-config';

/**
 * The master node of the resource tree rooted at `root` in namespace `ns`, for a node named `self`
 * (itself when it is a cluster of its own).
 */
export function masterOf(cfg: ClusterConfig | null, self: string, ns: string, root: string | Uint8Array): string {
  void ns;
  void root;
  if (cfg === null) return self;
  return masterName(cfg) ?? self;
}

/** The node that holds a client process' engine state (namespaces, containers, domains). */
export function homeOf(cfg: ClusterConfig | null, self: string): string {
  return masterOf(cfg, self, '', '');
}
