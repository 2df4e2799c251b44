// The reference HSM (`dmapifs hsm`), on the public TypeScript DMAPI client: files are archived to
// a store (store.ts), released (their data punched out, a managed region left in its place) and
// recalled when an application touches them or on request.
//
// A file's HSM state is one DM attribute, "hsm", holding {key, size, sha256, mtime, state}:
//   resident     no attribute: the data is only in the file.
//   premigrated  archived: the store holds a verified copy, the data is still in the file; a
//                managed region for WRITE|TRUNCATE tells the HSM when the copy stops matching.
//   migrated     released: the data is only in the store; a region for READ|WRITE|TRUNCATE makes
//                every access wait for the recall.
// The copy is checked against its SHA-256 before the file's data is punched out, and again while
// it is written back: a copy that does not match is refused (the file stays as it was).
//
// Changes that must not race with applications (release, recall, invalidation) are made under
// the exclusive DM right: an event's token for the HSM daemon, a user-event token for commands.
import * as crypto from 'crypto';
import type { DmapiClient, DmEventMsg } from '../dmapi/client';
import * as C from '../dmapi/constants';
import type { ArchiveStore } from './store';

export const HSM_SESSION = 'dmapifs-hsm';
/** The DM attribute (at most 8 bytes: DM_ATTR_NAME_SIZE). */
export const HSM_ATTR = 'hsm';
const CHUNK = 1 << 20;

export type HsmState = 'resident' | 'premigrated' | 'migrated';

export interface HsmRecord {
  v: 1;
  key: string;
  size: number;
  sha256: string;
  /** The file's mtime (ns) when it was archived. */
  mtime: string;
  state: 'premigrated' | 'migrated';
  archivedAt: number;
}

export interface FileStatus {
  path: string;
  state: HsmState;
  key: string | null;
  size: number;
  sha256: string | null;
  archivedAt: number | null;
}

export class HsmError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

export class Cancelled extends HsmError {
  constructor(what: string) {
    super('ECANCELED', `${what}: cancelled`);
  }
}

export interface HsmOptions {
  /** Bytes per second the store is read and written at (0 = as fast as it goes). */
  bandwidth?: number;
  log?: (msg: string) => void;
  /** Progress of one file's copy (archive or recall). */
  progress?: (label: string, total: number) => { update(done: number): void } | null;
  /** Checked between chunks: a cancelled operation stops and undoes what it did. */
  cancelled?: () => boolean;
}

const WHOLE = (flags: number) => [{ offset: 0n, size: 0n, flags, opaque: 0 }];
const PREMIGRATED_REGION = C.DM_REGION_WRITE | C.DM_REGION_TRUNCATE;
const MIGRATED_REGION = C.DM_REGION_READ | C.DM_REGION_WRITE | C.DM_REGION_TRUNCATE;

/** dm_get_dmattr of a missing attribute: ENOENT. */
function isNoAttr(e: unknown): boolean {
  return (e as { errno?: number }).errno === C.E.ENOENT;
}

export class Hsm {
  private readonly log: (msg: string) => void;

  constructor(readonly dm: DmapiClient, readonly sid: number, readonly store: ArchiveStore, private readonly opts: HsmOptions = {}) {
    this.log = opts.log ?? (() => undefined);
  }

  async record(h: Buffer, token = C.DM_NO_TOKEN): Promise<HsmRecord | null> {
    let raw: Buffer;
    try {
      raw = await this.dm.getDmattr(this.sid, h, token, HSM_ATTR);
    } catch (e) {
      if (isNoAttr(e)) return null;
      throw e;
    }
    try {
      const r = JSON.parse(raw.toString('utf8')) as HsmRecord;
      if (r.v !== 1 || typeof r.key !== 'string') throw new Error('version');
      return r;
    } catch {
      throw new HsmError('EIO', `the ${HSM_ATTR} DM attribute is not an HSM record: ${raw.toString('hex').slice(0, 64)}`);
    }
  }

  private async setRecord(h: Buffer, token: number, r: HsmRecord): Promise<void> {
    await this.dm.setDmattr(this.sid, h, token, HSM_ATTR, Buffer.from(JSON.stringify(r)));
  }

  async status(file: string): Promise<FileStatus> {
    const h = await this.dm.pathToHandle(file);
    const r = await this.record(h);
    const st = await this.dm.getFileattr(this.sid, h, C.DM_NO_TOKEN, C.DM_AT_STAT);
    return {
      path: file, state: r ? r.state : 'resident', key: r?.key ?? null, size: Number(st.size), sha256: r?.sha256 ?? null,
      archivedAt: r?.archivedAt ?? null,
    };
  }

  private async throttle(started: number, bytes: number): Promise<void> {
    const bw = this.opts.bandwidth ?? 0;
    if (!bw) return;
    const due = started + (bytes / bw) * 1000;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }

  private check(what: string): void {
    if (this.opts.cancelled?.()) throw new Cancelled(what);
  }

  /** Runs fn holding the exclusive right on the file under a user-event token of our own. */
  private async exclusive<T>(h: Buffer, fn: (token: number) => Promise<T>): Promise<T> {
    const token = await this.dm.createUserevent(this.sid, Buffer.from('dmapifs-hsm'));
    try {
      await this.dm.requestRight(this.sid, h, token, C.DM_RR_WAIT, C.DM_RIGHT_EXCL);
      return await fn(token);
    } finally {
      await this.dm.respondEvent(this.sid, token, C.DM_RESP_CONTINUE, 0).catch(() => undefined);
    }
  }

  /**
   * Premigrates: copies the data to the store (SHA-256 on the way), then records it and sets the
   * WRITE|TRUNCATE region, unless the file changed meanwhile (then nothing is kept). A file already
   * archived is left alone.
   */
  async archive(file: string): Promise<FileStatus & { copied: number }> {
    const h = await this.dm.pathToHandle(file);
    const old = await this.record(h);
    if (old) return { ...(await this.status(file)), copied: 0 };
    const before = await this.dm.getFileattr(this.sid, h, C.DM_NO_TOKEN, C.DM_AT_STAT);
    if ((before.mode & 0o170000) !== 0o100000) throw new HsmError('EINVAL', `${file} is not a regular file`);
    const size = Number(before.size);
    const key = this.store.newKey();
    const w = await this.store.create(key);
    const sha = crypto.createHash('sha256');
    const bar = this.opts.progress?.(`archive ${file}`, size) ?? null;
    const started = Date.now();
    let off = 0;
    try {
      for (;;) {
        this.check(`archive ${file}`);
        const b = await this.dm.readInvis(this.sid, h, C.DM_NO_TOKEN, off, CHUNK);
        if (!b.length) break;
        sha.update(b);
        await w.write(b);
        off += b.length;
        bar?.update(off);
        await this.throttle(started, off);
      }
      bar?.update(off);
      await w.commit();
    } catch (e) {
      await w.abort();
      throw e;
    }
    const digest = sha.digest('hex');
    try {
      await this.exclusive(h, async (token) => {
        const now = await this.dm.getFileattr(this.sid, h, token, C.DM_AT_STAT);
        if (now.mtime !== before.mtime || now.size !== before.size || now.ctime !== before.ctime || BigInt(off) !== now.size) {
          throw new HsmError('EAGAIN', `${file} changed while it was archived: not archived`);
        }
        await this.setRecord(h, token, { v: 1, key, size: off, sha256: digest, mtime: now.mtime.toString(), state: 'premigrated', archivedAt: Date.now() });
        await this.dm.setRegion(this.sid, h, token, WHOLE(PREMIGRATED_REGION));
      });
    } catch (e) {
      await this.store.remove(key);
      throw e;
    }
    this.log(`archived ${file}: ${off} bytes, sha256 ${digest.slice(0, 16)}..., key ${key} in ${this.store.where}`);
    return { ...(await this.status(file)), copied: off };
  }

  /** The SHA-256 of a stored copy (read at the store's bandwidth). */
  private async storedDigest(key: string, size: number, label: string): Promise<string> {
    const sha = crypto.createHash('sha256');
    const bar = this.opts.progress?.(`verify ${label}`, size) ?? null;
    const started = Date.now();
    let off = 0;
    for (;;) {
      this.check(`verify ${label}`);
      const b = await this.store.read(key, off, CHUNK);
      if (!b.length) break;
      sha.update(b);
      off += b.length;
      bar?.update(off);
      await this.throttle(started, off);
    }
    if (off !== size) throw new HsmError('EIO', `archive copy ${key} of ${label} has ${off} bytes, ${size} expected`);
    return sha.digest('hex');
  }

  /**
   * Releases a premigrated file: the store's copy is verified against its checksum, then (under
   * the exclusive right, the file unchanged since it was archived) the data is punched out and
   * the READ|WRITE|TRUNCATE region set. A resident file is archived first.
   */
  async release(file: string): Promise<FileStatus> {
    const h = await this.dm.pathToHandle(file);
    let r = await this.record(h);
    if (r?.state === 'migrated') return this.status(file);
    if (!r) {
      await this.archive(file);
      r = await this.record(h);
      if (!r) throw new HsmError('EIO', `${file}: archive left no record`);
    }
    const got = await this.storedDigest(r.key, r.size, file);
    if (got !== r.sha256) {
      throw new HsmError('EIO', `archive copy ${r.key} of ${file} does not match its checksum (sha256 ${got.slice(0, 16)}..., recorded ${r.sha256.slice(0, 16)}...): not released`);
    }
    const rec = r;
    await this.exclusive(h, async (token) => {
      const now = await this.record(h, token);
      const st = await this.dm.getFileattr(this.sid, h, token, C.DM_AT_STAT);
      if (!now || now.key !== rec.key || st.mtime.toString() !== rec.mtime || Number(st.size) !== rec.size) {
        throw new HsmError('EAGAIN', `${file} changed since it was archived: not released`);
      }
      await this.dm.setRegion(this.sid, h, token, WHOLE(MIGRATED_REGION));
      await this.setRecord(h, token, { ...rec, state: 'migrated' });
      await this.dm.punchHole(this.sid, h, token, 0, 0);
    });
    this.log(`released ${file}: ${rec.size} bytes punched out, copy ${rec.key} verified`);
    return this.status(file);
  }

  /**
   * Writes a migrated file's data back from the store, verifying the checksum on the way; the file
   * becomes premigrated. On a mismatch the data written is punched out again and the file stays
   * migrated. `token` holds the exclusive right (an event's), or DM_NO_TOKEN: one is taken.
   */
  async recall(h: Buffer, label: string, token = C.DM_NO_TOKEN): Promise<number> {
    if (token === C.DM_NO_TOKEN) return this.exclusive(h, (t) => this.recall(h, label, t));
    const r = await this.record(h, token);
    if (!r || r.state !== 'migrated') {
      // Not migrated (recalled meanwhile, or never): nothing to bring back; drop a stale region.
      if (!r) await this.dm.setRegion(this.sid, h, token, []);
      return 0;
    }
    const sha = crypto.createHash('sha256');
    const bar = this.opts.progress?.(`recall ${label}`, r.size) ?? null;
    const started = Date.now();
    let off = 0;
    try {
      for (;;) {
        this.check(`recall ${label}`);
        const b = await this.store.read(r.key, off, CHUNK);
        if (!b.length) break;
        sha.update(b);
        await this.dm.writeInvis(this.sid, h, token, off, b);
        off += b.length;
        bar?.update(off);
        await this.throttle(started, off);
      }
      const got = sha.digest('hex');
      if (got !== r.sha256 || off !== r.size) {
        throw new HsmError('EIO', `archive copy ${r.key} of ${label} does not match its checksum (${off} bytes, sha256 ${got.slice(0, 16)}..., recorded ${r.sha256.slice(0, 16)}...): recall refused`);
      }
    } catch (e) {
      // Leave the file as it was: migrated, its data punched out, the region still in place.
      await this.dm.punchHole(this.sid, h, token, 0, 0).catch(() => undefined);
      throw e;
    }
    await this.setRecord(h, token, { ...r, state: 'premigrated' });
    await this.dm.setRegion(this.sid, h, token, WHOLE(PREMIGRATED_REGION));
    this.log(`recalled ${label}: ${off} bytes from copy ${r.key}, checksum verified`);
    return off;
  }

  /** The file is about to change: its copy no longer matches. Drops the record, region and copy. */
  async invalidate(h: Buffer, label: string, token: number): Promise<void> {
    const r = await this.record(h, token);
    await this.dm.setRegion(this.sid, h, token, []);
    if (!r) return;
    await this.dm.removeDmattr(this.sid, h, token, HSM_ATTR);
    await this.store.remove(r.key);
    this.log(`${label} is being modified: archive copy ${r.key} dropped, the file is resident`);
  }

  // ---- the daemon side

  /** Takes the dispositions this HSM serves on one filesystem. */
  async manage(fsh: Buffer): Promise<void> {
    await this.dm.setDisp(this.sid, fsh, C.DM_NO_TOKEN, [C.DM_EVENT_READ, C.DM_EVENT_WRITE, C.DM_EVENT_TRUNCATE, C.DM_EVENT_DESTROY]);
    const cur = await this.dm.getEventlist(this.sid, fsh, C.DM_NO_TOKEN);
    await this.dm.setEventlist(this.sid, fsh, C.DM_NO_TOKEN, [...new Set([...cur.events, C.DM_EVENT_DESTROY])]);
    await this.dm.setReturnOnDestroy(this.sid, fsh, C.DM_NO_TOKEN, HSM_ATTR, true);
  }

  /** Answers one event (the HSM daemon's loop). */
  async handle(ev: DmEventMsg): Promise<void> {
    const name = C.EVENT_NAMES[ev.type] ?? String(ev.type);
    const answer = (r: number, errno = 0) => this.dm.respondEvent(this.sid, ev.token, r, errno);
    if (ev.type === C.DM_EVENT_MOUNT) {
      await this.manage(ev.fsHandle!);
      await answer(C.DM_RESP_CONTINUE);
      this.log(`MOUNT of ${ev.mountPoint}: managing it (READ, WRITE, TRUNCATE, DESTROY)`);
      return;
    }
    if (ev.type === C.DM_EVENT_READ || ev.type === C.DM_EVENT_WRITE || ev.type === C.DM_EVENT_TRUNCATE) {
      const h = ev.handle!;
      const label = `ino ${h.readBigUInt64LE(8)}`;
      try {
        await this.dm.requestRight(this.sid, h, ev.token, C.DM_RR_WAIT, C.DM_RIGHT_EXCL);
        const r = await this.record(h, ev.token);
        if (r?.state === 'migrated') {
          this.log(`${name} token ${ev.token} on migrated ${label}: recalling ${r.size} bytes`);
          await this.recall(h, label, ev.token);
        }
        if (ev.type !== C.DM_EVENT_READ) await this.invalidate(h, label, ev.token);
        await answer(C.DM_RESP_CONTINUE);
      } catch (e) {
        this.log(`${name} token ${ev.token} on ${label}: ${(e as Error).message}; answering ABORT EIO`);
        await answer(C.DM_RESP_ABORT, C.E.EIO);
      }
      return;
    }
    if (ev.type === C.DM_EVENT_DESTROY) {
      const raw = ev.attrCopy?.toString('utf8') ?? '';
      try {
        const r = JSON.parse(raw) as HsmRecord;
        await this.store.remove(r.key);
        this.log(`DESTROY: archive copy ${r.key} deleted`);
      } catch { /* no HSM record: a resident file */ }
      return;
    }
    if (ev.token) await answer(C.DM_RESP_CONTINUE);
  }
}

/** Creates the named session, or assumes it when an earlier run left it (restart safety). */
export async function hsmSession(dm: DmapiClient, name: string): Promise<{ sid: number; assumed: boolean }> {
  for (const sid of await dm.getallSessions()) {
    if ((await dm.querySession(sid).catch(() => '')) === name) return { sid: await dm.createSession(sid, name), assumed: true };
  }
  return { sid: await dm.createSession(C.DM_NO_SESSION, name), assumed: false };
}

/** A shell-style pattern (*, ?, ** across directories) as a RegExp on a relative path. */
export function globRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*' && glob[i + 1] === '*') { re += '.*'; i++; if (glob[i + 1] === '/') i++; } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  // A pattern without '/' matches the file name in any directory (like find -name).
  return glob.includes('/') ? new RegExp(`^${re}$`) : new RegExp(`(^|/)${re}$`);
}
