// The resource directory: which member masters a resource tree (namespace, root resource name).
// The Linux DLM hashes the resource name over the members to find its directory node
// (fs/dlm/dir.c, dlm_hash2nodeid); here the hash names the master itself, by rendezvous hashing
// (highest random weight): every node computes the same answer from the same member set, and when a
// member leaves only the resources it mastered move (to the member that ranked second for each), so
// recovery rebuilds what the departed node held and leaves the rest where it is. A joining member
// takes over about 1/n of the resources, which move to it in the same recovery.
//
// "Local mastering for resources only one node uses" follows from the client's node being the
// master of every resource that hashes to it; sublocks are mastered with their root resource.
import * as crypto from 'crypto';

export interface DirectoryMember {
  name: string;
  id: number;
}

/** The byte form of a resource name (the engine's string keys are Latin-1 for ASCII names). */
export function nameBytes(name: string | Uint8Array): Uint8Array {
  return typeof name === 'string' ? Buffer.from(name, 'utf8') : name;
}

function weight(member: DirectoryMember, ns: string, root: Uint8Array): number {
  const h = crypto.createHash('sha1');
  h.update(`${member.id}\0${ns}\0`);
  h.update(root);
  return h.digest().readUInt32BE(0);
}

/** The master of (ns, root) among `members`; null with no member. */
export function masterOf<M extends DirectoryMember>(members: readonly M[], ns: string, root: string | Uint8Array): M | null {
  let best: M | null = null;
  let bestW = -1;
  const bytes = nameBytes(root);
  for (const m of members) {
    const w = weight(m, ns, bytes);
    if (w > bestW || (w === bestW && best !== null && m.id < best.id)) {
      best = m;
      bestW = w;
    }
  }
  return best;
}

/** A namespace's key as the engine names it (dlm_nsjoin's nsid and flags). */
export function namespaceKey(nsid: number, flags: number, groupFlag: number): string {
  if (flags & groupFlag) return `group:${nsid}`;
  return nsid === 0 ? 'system' : `user:${nsid}`;
}

/** A resource name's bytes in the engine's form: ASCII as a string (its own key form), else the bytes. */
export function engineName(b: Uint8Array): string | Uint8Array {
  for (let i = 0; i < b.length; i++) if (b[i] > 0x7f) return b;
  return Buffer.from(b).toString('latin1');
}
