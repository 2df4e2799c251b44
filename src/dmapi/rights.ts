// DM access rights as DLM locks on the file's resource (SHARED = PR, EXCL = EX), so that they
// exclude file operations that lock the same resource on this node and, once nodes share a
// lock space, on every node.
//
// Decisions:
// * Resource name: fileResource(fsid, ino) = "dmapi:<fsid hex>:<ino hex>" in the system-wide
//   namespace (nsid 0, root only). File operations take the same name.
// * Owners: each token is a DLM process of its own, so two tokens conflict like two processes do,
//   with credentials {pid: TOKEN_PID_BASE + token, uid 0, node 0}; DM_NO_TOKEN calls take a
//   temporary owner from TEMP_PID_BASE. Linux pids never exceed 2^22, so these never collide with
//   the real client processes of the DLM service.
// * dm_request_right without DM_RR_WAIT fails EAGAIN (GPFS: "will almost always fail with EAGAIN";
//   we make it always, so applications are written for GPFS); with it, the call waits in the DLM.
// * All rights of a token go when its event is answered (releaseToken).
import type { Dlm } from '../dlm/engine';
import type { DlmProcess } from '../dlm/process';
import { DLM_EXMODE, DLM_PRMODE } from '../dlm/constants';
import { DLM_SUCCESS, DLM_SYNCH } from '../dlm/status';
import type { LockId } from '../dlm/types';
import {
  DM_NO_TOKEN, DM_RIGHT_EXCL, DM_RIGHT_NULL, DM_RIGHT_SHARED, DM_RR_WAIT, E, fail,
} from './constants';
import type { Args, CallCtx, Dmapi, Handlers } from './core';
import type { Obj } from './fstable';
import { parseHandle } from './handles';

export const TOKEN_PID_BASE = 0x40000000;
export const TEMP_PID_BASE = 0x60000000;
/** The owner of the locks file operations take: one DLM process for all of them. */
export const FILEOP_PID = 0x7ffffff0;

export function fileResource(fsid: bigint, ino: bigint): string {
  return `dmapi:${fsid.toString(16)}:${ino.toString(16)}`;
}

function okStatus(st: number): boolean {
  return st === DLM_SUCCESS || st === DLM_SYNCH;
}

interface Held {
  lkid: LockId;
  right: number;
  res: string;
}

interface TokenOwner {
  proc: DlmProcess;
  nsp: number;
  locks: Map<string, Held>;
}

export class Rights {
  private readonly owners = new Map<number, TokenOwner>();
  private tempSeq = 0;
  /** DM rights held (or being waited for) per resource: file operations lock only where this is > 0. */
  private readonly dmHeld = new Map<string, number>();
  private fileOps: { proc: DlmProcess; nsp: number } | null = null;

  private hold(res: string, d: number): void {
    const n = (this.dmHeld.get(res) ?? 0) + d;
    if (n > 0) this.dmHeld.set(res, n); else this.dmHeld.delete(res);
  }

  /**
   * For a file operation: when a DM right is held or asked for on the file, a DLM lock of the same
   * resource (PR for reads, EX for changes), so that DM rights exclude the operation; resolves to its
   * release. null when no DM right concerns the file (the common case: no lock at all). File
   * operations run synchronously on the daemon's thread once they have their lock, so no DM right can
   * be granted in the middle of one.
   */
  fileOpLock(fsid: bigint, ino: bigint, exclusive: boolean): Promise<() => void> | null {
    const res = fileResource(fsid, ino);
    if (!this.dmHeld.has(res)) return null;
    this.fileOps ??= this.owner(FILEOP_PID);
    const { proc, nsp } = this.fileOps;
    const r = proc.lock(nsp, res, exclusive ? DLM_EXMODE : DLM_PRMODE);
    const done = (st: number) => {
      if (!okStatus(st) || !r.lkid) throw Object.assign(new Error(`DLM lock failed (status ${st})`), { errno: E.EIO });
      const lkid = r.lkid;
      return () => { proc.unlock(lkid); };
    };
    return r.wait ? r.wait.then(done) : Promise.resolve(done(r.status));
  }

  constructor(readonly engine: Dlm) {}

  private owner(pid: number): { proc: DlmProcess; nsp: number } {
    const proc = this.engine.process({ pid, uid: 0, gid: 0, node: 0 });
    const r = proc.nsjoin(0, 0);
    if (r.status !== DLM_SUCCESS || r.nsp === undefined) fail(E.ENOMEM, `DLM namespace join failed (status ${r.status})`);
    return { proc, nsp: r.nsp };
  }

  private tokenOwner(token: number): TokenOwner {
    let o = this.owners.get(token);
    if (!o) {
      const { proc, nsp } = this.owner(TOKEN_PID_BASE + token);
      o = { proc, nsp, locks: new Map() };
      this.owners.set(token, o);
    }
    return o;
  }

  private static key(o: Obj): string {
    return `${o.fs.fsid}:${o.ino}`;
  }

  held(token: number, o: Obj): number {
    return this.owners.get(token)?.locks.get(Rights.key(o))?.right ?? DM_RIGHT_NULL;
  }

  /** Everything a token holds, for dm_getall_tokens' callers and tests. */
  heldCount(token: number): number {
    return this.owners.get(token)?.locks.size ?? 0;
  }

  async request(token: number, o: Obj, right: number): Promise<void> {
    const ow = this.tokenOwner(token);
    const k = Rights.key(o);
    const cur = ow.locks.get(k);
    const mode = right === DM_RIGHT_EXCL ? DLM_EXMODE : DLM_PRMODE;
    if (cur) {
      const r = ow.proc.cvt(cur.lkid, mode);
      const st = r.wait ? await r.wait : r.status;
      if (!okStatus(st)) fail(E.EAGAIN, `DLM conversion failed (status ${st})`);
      cur.right = right;
      return;
    }
    const res = fileResource(o.fs.fsid, o.ino);
    this.hold(res, 1);
    const r = ow.proc.lock(ow.nsp, res, mode);
    const st = r.wait ? await r.wait : r.status;
    if (!okStatus(st) || !r.lkid) { this.hold(res, -1); fail(E.EAGAIN, `DLM lock failed (status ${st})`); }
    if (!this.owners.has(token)) {
      // The token was answered while we waited: give the lock back.
      ow.proc.unlock(r.lkid);
      this.hold(res, -1);
      fail(E.ESRCH, 'the event was answered meanwhile');
    }
    ow.locks.set(k, { lkid: r.lkid, right, res });
  }

  release(token: number, o: Obj): void {
    const ow = this.owners.get(token);
    const k = Rights.key(o);
    const cur = ow?.locks.get(k);
    if (!ow || !cur) return;
    ow.proc.unlock(cur.lkid);
    ow.locks.delete(k);
    this.hold(cur.res, -1);
  }

  /** Drops every right of a token (its event was answered). */
  releaseToken(token: number): void {
    const ow = this.owners.get(token);
    if (!ow) return;
    this.owners.delete(token);
    for (const h of ow.locks.values()) { ow.proc.unlock(h.lkid); this.hold(h.res, -1); }
    ow.proc.nsleave(ow.nsp);
    this.engine.ownerDied(ow.proc);
  }

  /**
   * A right for the duration of one DM_NO_TOKEN call; resolves to its release. When the caller's
   * connection closes while the request waits, the request is dequeued (its temporary owner dies)
   * and the call fails: it must not run later for nobody.
   */
  async acquireTemporary(o: Obj, need: number, caller?: CallCtx): Promise<() => void> {
    if (need === DM_RIGHT_NULL || o.isFs) return () => undefined;
    if (caller?.isClosed()) fail(E.EINTR, 'the caller is gone');
    const pid = TEMP_PID_BASE + (this.tempSeq = (this.tempSeq + 1) % 0x1fffffff);
    const { proc, nsp } = this.owner(pid);
    const res = fileResource(o.fs.fsid, o.ino);
    this.hold(res, 1);
    let finished = false;
    const done = () => {
      if (finished) return;
      finished = true;
      proc.nsleave(nsp);
      this.engine.ownerDied(proc);
      this.hold(res, -1);
    };
    const r = proc.lock(nsp, res, need === DM_RIGHT_EXCL ? DLM_EXMODE : DLM_PRMODE);
    let gone = false;
    let stopWatching = () => undefined as void;
    const closed = new Promise<number>((resolve) => {
      if (r.wait && caller) stopWatching = caller.onClose(() => { gone = true; done(); resolve(-1); });
    });
    const st = r.wait ? await Promise.race([r.wait, closed]) : r.status;
    stopWatching();
    if (gone) fail(E.EINTR, 'the caller is gone');
    if (!okStatus(st) || !r.lkid) {
      done();
      fail(E.EAGAIN, `DLM lock failed (status ${st})`);
    }
    const lkid = r.lkid;
    return () => { if (!finished) proc.unlock(lkid); done(); };
  }

  stop(): void {
    for (const t of [...this.owners.keys()]) this.releaseToken(t);
  }
}

// ---- dm_*_right handlers

/**
 * Common checks: sid, token (DM_NO_TOKEN → EINVAL, not outstanding → ESRCH), handle (malformed →
 * EINVAL, global → EBADF, filesystem handle → EINVAL as GPFS, object gone → EBADF).
 */
function target(dm: Dmapi, a: Args): { token: number; o: Obj } {
  dm.session(a.sid);
  const token = Number(a.token);
  if (token === DM_NO_TOKEN) fail(E.EINVAL, 'rights need a token');
  const p = parseHandle(a.handle as Buffer);
  if (!p) fail(E.EINVAL, 'malformed handle');
  if (p.kind === 'global') fail(E.EBADF, 'the global handle');
  if (p.kind === 'fs') {
    dm.fsTable.fsOf(p.fsid);
    fail(E.EINVAL, 'GPFS has no access rights on whole filesystems');
  }
  dm.outstanding(a.sid, token);
  return { token, o: dm.fsTable.resolve(a.handle as Buffer) };
}

export function rightsHandlers(dm: Dmapi): Handlers {
  return {
    REQUEST_RIGHT: async (a: Args, _ctx: CallCtx) => {
      const { token, o } = target(dm, a);
      const right = Number(a.right);
      const flags = Number(a.flags);
      if (right !== DM_RIGHT_SHARED && right !== DM_RIGHT_EXCL) fail(E.EINVAL, 'right must be DM_RIGHT_SHARED or DM_RIGHT_EXCL');
      if (flags & ~DM_RR_WAIT) fail(E.EINVAL, 'unknown flags');
      const cur = dm.rights.held(token, o);
      if (cur >= right) return {};
      if (!(flags & DM_RR_WAIT)) fail(E.EAGAIN, 'GPFS: dm_request_right needs DM_RR_WAIT');
      // Deadlock avoidance (LTP right.c): SHARED → EXCL goes through dm_upgrade_right.
      if (cur === DM_RIGHT_SHARED) fail(E.EACCES, 'holding SHARED: use dm_upgrade_right');
      await dm.rights.request(token, o, right);
      return {};
    },
    RELEASE_RIGHT: (a: Args) => {
      const { token, o } = target(dm, a);
      if (dm.rights.held(token, o) === DM_RIGHT_NULL) fail(E.EACCES, 'no right held');
      dm.rights.release(token, o);
      return {};
    },
    UPGRADE_RIGHT: async (a: Args) => {
      const { token, o } = target(dm, a);
      const cur = dm.rights.held(token, o);
      if (cur === DM_RIGHT_NULL) fail(E.EPERM, 'no right to upgrade');
      if (cur === DM_RIGHT_SHARED) await dm.rights.request(token, o, DM_RIGHT_EXCL);
      return {};
    },
    DOWNGRADE_RIGHT: async (a: Args) => {
      const { token, o } = target(dm, a);
      if (dm.rights.held(token, o) !== DM_RIGHT_EXCL) fail(E.EPERM, 'only an exclusive right can be downgraded');
      await dm.rights.request(token, o, DM_RIGHT_SHARED);
      return {};
    },
    QUERY_RIGHT: (a: Args) => {
      const { token, o } = target(dm, a);
      return { right: dm.rights.held(token, o) };
    },
  };
}
