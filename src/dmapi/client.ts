// The TypeScript DMAPI client: connect() → methods mirroring dm_* in camelCase, Promise based,
// handles as Buffers, failures as DmapiError (errno name and number, the daemon's reason, the
// caller's stack), events also as an async iterator. Speaks the binary protocol of
// protocol/codec.ts over <run>/<node>/dmapi.sock (docs/dmapi-protocol.md).
//
//   const dm = await connect();                              // this host's node, as libdm
//   const sid = await dm.createSession(DM_NO_SESSION, 'my hsm');
//   const h = await dm.pathToHandle('/mnt/f');
//   await dm.setRegion(sid, h, DM_NO_TOKEN, [{ offset: 0, size: 0, flags: DM_REGION_READ, opaque: 0 }]);
//   for await (const ev of dm.events(sid, { signal })) {
//     if (ev.type === DM_EVENT_READ) ...;                    // ev is a DmDataEvent here
//     if (ev.token) await dm.respondEvent(sid, ev.token, DM_RESP_CONTINUE, 0);
//   }
//
// Conventions (docs/api-conventions.md):
//  - arguments go sid, handle, token, then the call's own, as in the C API; where C puts a flag
//    before the data (dm_write_invis, dm_set_dmattr) the flag comes last here and is optional;
//  - 64-bit quantities (offsets, lengths, sizes, times, inode numbers, attribute cursors) are
//    bigint in every result and bigint | number in every argument; 32-bit ones (sessions, tokens,
//    modes, uids, flags, counts, buffer sizes) are numbers;
//  - as libdm, the client reconnects by itself after the node daemon restarted: calls in flight
//    when the connection is lost fail ENOTREADY, the next call opens a new connection.
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { defaultNodeName, runBase } from '../common/paths';
import {
  DM_AT_STAT, DM_ATTR_NAME_SIZE, DM_EV_WAIT, DM_EVENT_ATTRIBUTE, DM_EVENT_CANCEL, DM_EVENT_CLOSE, DM_EVENT_CREATE, DM_EVENT_DEBUT,
  DM_EVENT_DESTROY, DM_EVENT_LINK, DM_EVENT_MAX, DM_EVENT_MOUNT, DM_EVENT_NOSPACE, DM_EVENT_POSTCREATE, DM_EVENT_POSTLINK,
  DM_EVENT_POSTREMOVE, DM_EVENT_POSTRENAME, DM_EVENT_POSTSYMLINK, DM_EVENT_PREUNMOUNT, DM_EVENT_READ, DM_EVENT_REMOVE,
  DM_EVENT_RENAME, DM_EVENT_SYMLINK, DM_EVENT_TRUNCATE, DM_EVENT_UNMOUNT, DM_EVENT_USER, DM_EVENT_WRITE, DM_MAX_SESSIONS,
  DM_NO_SESSION, E, ENOTREADY, errnoName, eventSetOf, eventsIn, MAX_ATTRIBUTE_SIZE, MAX_MANAGED_REGIONS,
} from './constants';
import * as H from './handles';
import {
  ATTRLIST_SIZE, EVENTMSG_SIZE, Extent, packRegions, Region, STAT_SIZE, StatInfo, unpackExtents, unpackRegions, vardata,
  vstring, walkChain,
} from './layouts';
import { decodeReply, encodeFrame, FieldValue, FrameDecoder, MAX_IO, OpName, OPS, type Reply } from './protocol/codec';
import { frameWriter } from './protocol/writer';

/** A 64-bit argument: a bigint, or a number when it is a safe integer. */
export type Int64 = bigint | number;

const errnoCode = (errno: number) => (errno === ENOTREADY ? 'ENOTREADY' : errnoName(errno));

/**
 * A DMAPI call failed. `code`/`errno` are what the C call would set errno to; `reason` is the
 * node daemon's explanation (or the client's, for ENOTREADY and local failures); `fields` are the
 * reply fields an error still carries (E2BIG: `rlen` or `nelem`, the size needed). The stack is the
 * caller's: the error is made in the awaited call, so V8's async stack trace reaches your code.
 */
export class DmapiError extends Error {
  /** 'EINVAL', 'E2BIG', 'ENOTREADY', ... */
  readonly code: string;
  /** The operation, as the protocol names it ('GET_DMATTR', 'connect', ...). */
  readonly op: string;
  readonly errno: number;
  readonly reason: string;
  readonly fields: Record<string, FieldValue>;
  constructor(errno: number, op: string, reason = '', fields: Record<string, FieldValue> = {}) {
    const code = errnoCode(errno);
    const why = reason && reason !== code ? reason : '';
    super(`${op.toLowerCase()}: ${code}${why ? `: ${why}` : ''}`);
    this.name = 'DmapiError';
    this.code = code;
    this.op = op;
    this.errno = errno;
    this.reason = why;
    this.fields = fields;
  }
}

export interface ConnectOptions {
  /** The node whose daemon to use (default: $DMAPIFS_NODE, else the host name, as libdm). */
  node?: string;
  /** Base run directory (default $DMAPIFS_RUN_DIR or /run/dmapifs). */
  runDir?: string;
}

/** The node libdm and this client use when none is given: $DMAPIFS_NODE, else the host name. */
export function defaultDmapiNode(env: NodeJS.ProcessEnv = process.env): string {
  return env.DMAPIFS_NODE || defaultNodeName();
}

// ---- event messages: one interface per dm_*_event_t, discriminated by `type`

interface EventBase {
  /** The token to answer a synchronous event with (DM_INVALID_TOKEN 0 for asynchronous ones). */
  token: number;
  sequence: number;
  /** The type-specific part as the C structure (dm_data_event_t, ...). */
  raw: Buffer;
}

export type DataEventType = typeof DM_EVENT_READ | typeof DM_EVENT_WRITE | typeof DM_EVENT_TRUNCATE;
export type NamespaceEventType =
  | typeof DM_EVENT_CREATE | typeof DM_EVENT_POSTCREATE | typeof DM_EVENT_REMOVE | typeof DM_EVENT_POSTREMOVE
  | typeof DM_EVENT_RENAME | typeof DM_EVENT_POSTRENAME | typeof DM_EVENT_LINK | typeof DM_EVENT_POSTLINK
  | typeof DM_EVENT_SYMLINK | typeof DM_EVENT_POSTSYMLINK | typeof DM_EVENT_ATTRIBUTE | typeof DM_EVENT_CLOSE
  | typeof DM_EVENT_PREUNMOUNT | typeof DM_EVENT_UNMOUNT | typeof DM_EVENT_NOSPACE | typeof DM_EVENT_DEBUT
  | typeof DM_EVENT_CANCEL;

/** READ, WRITE, TRUNCATE (dm_data_event_t): the access that touched a managed region. */
export interface DmDataEvent extends EventBase {
  type: DataEventType;
  handle: Buffer;
  offset: bigint;
  /** Bytes accessed (TRUNCATE: 0). */
  length: bigint;
}

/**
 * The namespace, metadata and unmount events (dm_namesp_event_t). What handle1/handle2 and
 * name1/name2 hold depends on the event, as in XDSM: CREATE/REMOVE (parent, -, name), RENAME
 * (old parent, new parent, old name, new name), LINK (parent, target, name), SYMLINK (parent, -,
 * name, target), ATTRIBUTE/CLOSE (object), PREUNMOUNT (filesystem, root), UNMOUNT (filesystem,
 * retcode), NOSPACE (filesystem, file).
 */
export interface DmNamespaceEvent extends EventBase {
  type: NamespaceEventType;
  mode: number;
  handle1: Buffer;
  handle2: Buffer;
  name1: string;
  name2: string;
  /** The operation's result (the POST* events, UNMOUNT). */
  retcode: number;
}

/** MOUNT (dm_mount_event_t). */
export interface DmMountEvent extends EventBase {
  type: typeof DM_EVENT_MOUNT;
  mode: number;
  fsHandle: Buffer;
  /** The handle of the directory mounted on. */
  handle2: Buffer;
  mountPoint: string;
  device: string;
  rootHandle: Buffer;
}

/** DESTROY (dm_destroy_event_t): the file is gone; `attrCopy` is its return-on-destroy attribute. */
export interface DmDestroyEvent extends EventBase {
  type: typeof DM_EVENT_DESTROY;
  handle: Buffer;
  /** The DM attribute set with setReturnOnDestroy ('' when none). */
  attrName: string;
  attrCopy: Buffer;
}

/** USER (dm_send_msg, dm_create_userevent): the message data. */
export interface DmUserEvent extends EventBase {
  type: typeof DM_EVENT_USER;
  data: Buffer;
}

/** An event message; `switch (ev.type)` narrows it to the event's own fields. */
export type DmEventMsg = DmDataEvent | DmNamespaceEvent | DmMountEvent | DmDestroyEvent | DmUserEvent;

/** The message interface of an event type: EventOf<typeof DM_EVENT_READ> is DmDataEvent. */
export type EventOf<T extends number> = DmEventMsg extends infer M ? (M extends { type: infer U } ? (T extends U ? M : never) : never) : never;

/** Whether `ev` is one of `types`, narrowing it: `if (isEvent(ev, DM_EVENT_READ, DM_EVENT_WRITE)) ev.offset`. */
export function isEvent<T extends DmEventMsg['type']>(ev: DmEventMsg, ...types: T[]): ev is EventOf<T> {
  return (types as number[]).includes(ev.type);
}

/** What a bulk or directory scan answers: the entries, whether more remain, the cursor to go on from. */
export interface ScanResult {
  more: boolean;
  loc: bigint;
  entries: DmStat[];
}

/** A dm_stat_t as the client decodes it (the fields of layouts.ts' StatInfo). */
export interface DmStat extends StatInfo {
  /** dm_get_bulkall: the requested DM attribute (empty when the object has none). */
  attr?: Buffer;
}

export interface FileAttrs {
  mode?: number;
  uid?: number;
  gid?: number;
  atime?: Int64;
  mtime?: Int64;
  ctime?: Int64;
  dtime?: Int64;
  size?: Int64;
}

/** A managed region as setRegion takes it (getRegion answers Regions, with bigints). */
export interface RegionSpec {
  offset: Int64;
  /** 0: to the end of the file and beyond. */
  size: Int64;
  flags: number;
  opaque?: number;
}

/** The name an attribute's zero padding leaves (DM attribute names are up to 8 bytes). */
function attrString(b: Buffer): string {
  const z = b.indexOf(0);
  return b.subarray(0, z < 0 ? b.length : z).toString();
}

const EMPTY = Buffer.alloc(0);
const NAMESPACE_TYPES: ReadonlySet<number> = new Set<number>([
  DM_EVENT_CREATE, DM_EVENT_POSTCREATE, DM_EVENT_REMOVE, DM_EVENT_POSTREMOVE, DM_EVENT_RENAME, DM_EVENT_POSTRENAME,
  DM_EVENT_LINK, DM_EVENT_POSTLINK, DM_EVENT_SYMLINK, DM_EVENT_POSTSYMLINK, DM_EVENT_ATTRIBUTE, DM_EVENT_CLOSE,
  DM_EVENT_PREUNMOUNT, DM_EVENT_UNMOUNT, DM_EVENT_NOSPACE, DM_EVENT_DEBUT, DM_EVENT_CANCEL,
]);

/** Decodes the dm_eventmsg_t at `o`; a type no DMAPI defines → DmapiError EPROTO. */
export function parseEventMsg(b: Buffer, o: number): DmEventMsg {
  const type = b.readInt32LE(o + 4);
  const token = b.readInt32LE(o + 8);
  const sequence = b.readUInt32LE(o + 12);
  const raw = vardata(b, o, 16);
  const base = { token, sequence, raw };
  // Fields past the end of a short type-specific part read as empty (never out of bounds).
  const has = (n: number) => raw.length >= n;
  const vd = (at: number) => (has(at + 8) ? vardata(raw, 0, at) : EMPTY);
  const vs = (at: number) => (has(at + 8) ? vstring(raw, 0, at) : '');
  const u32 = (at: number) => (has(at + 4) ? raw.readUInt32LE(at) : 0);
  if (type === DM_EVENT_READ || type === DM_EVENT_WRITE || type === DM_EVENT_TRUNCATE) {
    return { ...base, type, handle: vd(0), offset: has(16) ? raw.readBigInt64LE(8) : 0n, length: has(24) ? raw.readBigUInt64LE(16) : 0n };
  }
  if (type === DM_EVENT_MOUNT) {
    return { ...base, type, mode: u32(0), fsHandle: vd(4), handle2: vd(12), mountPoint: vs(20), device: vs(28), rootHandle: vd(36) };
  }
  if (type === DM_EVENT_DESTROY) {
    return { ...base, type, handle: vd(0), attrName: has(16) ? attrString(raw.subarray(8, 16)) : '', attrCopy: vd(16) };
  }
  if (type === DM_EVENT_USER) return { ...base, type, data: raw };
  if (NAMESPACE_TYPES.has(type)) {
    return {
      ...base, type: type as NamespaceEventType, mode: u32(0), handle1: vd(4), handle2: vd(12), name1: vs(20), name2: vs(28),
      retcode: has(40) ? raw.readInt32LE(36) : 0,
    };
  }
  throw new DmapiError(E.EPROTO, 'GET_EVENTS', `event message of unknown type ${type}`);
}

export function parseEventBuffer(b: Buffer): DmEventMsg[] {
  return walkChain(b).map((o) => parseEventMsg(b, o));
}

export function parseStat(b: Buffer, o: number, xstat: boolean): DmStat {
  const s: DmStat = {
    handle: b.readUInt32LE(o + 8) ? vardata(b, o, 4) : null,
    compname: b.readUInt32LE(o + 16) ? vstring(b, o, 12) : null,
    nevents: b.readInt32LE(o + 20),
    emask: b.readBigUInt64LE(o + 24),
    pers: b.readInt32LE(o + 32),
    pmanreg: b.readInt32LE(o + 36),
    dtime: b.readBigInt64LE(o + 40),
    change: b.readUInt32LE(o + 48),
    dev: b.readBigUInt64LE(o + 56),
    ino: b.readBigUInt64LE(o + 64),
    mode: b.readUInt32LE(o + 72),
    nlink: b.readUInt32LE(o + 76),
    uid: b.readUInt32LE(o + 80),
    gid: b.readUInt32LE(o + 84),
    rdev: b.readBigUInt64LE(o + 88),
    size: b.readBigInt64LE(o + 96),
    atime: b.readBigInt64LE(o + 104),
    mtime: b.readBigInt64LE(o + 112),
    ctime: b.readBigInt64LE(o + 120),
    blksize: b.readUInt32LE(o + 128),
    blocks: b.readBigUInt64LE(o + 136),
    fstype: b.readInt32LE(o + 144),
    igen: b.readUInt32LE(o + 148),
    xflags: b.readUInt32LE(o + 152),
    extsize: b.readUInt32LE(o + 156),
    extents: b.readUInt32LE(o + 160),
    aextents: b.readUInt16LE(o + 164),
    dmstate: b.readUInt16LE(o + 166),
  };
  if (xstat) s.attr = vardata(b, o, STAT_SIZE);
  return s;
}

/** An attribute name: up to 8 bytes, zero-padded. */
export function attrName(n: string | Buffer): Buffer {
  const b = Buffer.alloc(DM_ATTR_NAME_SIZE);
  (typeof n === 'string' ? Buffer.from(n) : n).copy(b, 0, 0, DM_ATTR_NAME_SIZE);
  return b;
}

function eventSet(ev: readonly number[] | bigint): bigint {
  return typeof ev === 'bigint' ? ev : eventSetOf(ev);
}

/** How events() waits (dm_get_events with DM_EV_WAIT in a loop). */
export interface EventsOptions {
  /**
   * Stops the iterator (it ends normally). The waits then go on a connection of their own, which
   * an abort closes: the daemon cancels the waiting dm_get_events and keeps its messages queued.
   */
  signal?: AbortSignal;
  /** Most messages per dm_get_events (default 0: as many as fit). */
  maxmsgs?: number;
  buflen?: number;
  /**
   * When the node daemon stops or dies: false (default) → the iterator throws DmapiError
   * ENOTREADY; true → it waits for the daemon to come back, assumes the session again
   * (dm_create_session(sid, ...): its pending events come again, to be received anew) and goes on,
   * as examples/c/hsm.c does. What cannot be resumed (the session is gone) throws DmapiError.
   */
  resume?: boolean;
  /** Milliseconds between attempts to reach a daemon that is coming back (default 200). */
  retryMs?: number;
}

const LOST = 'the connection to the node daemon was lost (the daemon stopped or died)';

/** One connection to the node daemon: requests by id, replies in completion order. */
class Conn {
  private nextId = 1;
  private readonly waiting = new Map<number, { op: OpName; done(r: Reply): void }>();
  /** Frames written in one run go out in one write (protocol/writer.ts). */
  private readonly send: (frame: Buffer) => void;
  /** Why the connection ended (null while it is up). */
  lost: string | null = null;

  private constructor(private readonly sock: net.Socket) {
    this.send = frameWriter(sock);
    const dec = new FrameDecoder();
    sock.on('data', (chunk: Buffer) => {
      let frames;
      try {
        frames = dec.push(chunk);
      } catch {
        this.close('the node daemon sent an undecodable frame');
        return;
      }
      for (const f of frames) {
        const p = this.waiting.get(f.id);
        if (!p) continue;
        this.waiting.delete(f.id);
        p.done(decodeReply(f.raw, OPS[p.op].rep));
      }
    });
    sock.on('close', () => {
      this.lost ??= LOST;
      const gone: Reply = { errno: ENOTREADY, fields: {}, reason: this.lost };
      for (const p of this.waiting.values()) p.done(gone);
      this.waiting.clear();
    });
    sock.on('error', () => undefined);
  }

  /** Connects; no daemon → DmapiError ENOTREADY, a socket we may not reach → EPERM. */
  static open(socketPath: string, op: string): Promise<Conn> {
    return new Promise((resolve, reject) => {
      const sock = net.createConnection(socketPath);
      sock.once('connect', () => {
        sock.removeAllListeners('error');
        resolve(new Conn(sock));
      });
      sock.once('error', (e: NodeJS.ErrnoException) => {
        // Only root may use DMAPI: a socket we may not even reach is EPERM, a missing one ENOTREADY.
        reject(e.code === 'EACCES'
          ? new DmapiError(E.EPERM, op, `only root may use the DMAPI (${socketPath}: EACCES)`)
          : new DmapiError(ENOTREADY, op, `no node daemon answers on ${socketPath} (${e.code ?? e.message})`));
      });
    });
  }

  /** Sends one request; resolves with the reply (ENOTREADY once the connection is lost), never rejects. */
  request(op: OpName, args: Record<string, unknown>): Promise<Reply> {
    if (this.lost) return Promise.resolve({ errno: ENOTREADY, fields: {}, reason: this.lost });
    const id = this.nextId;
    this.nextId = (this.nextId + 1) >>> 0 || 1;
    const spec = OPS[op];
    let frame: Buffer;
    try {
      frame = encodeFrame(id, spec.code, 0, spec.req, args);
    } catch (e) {
      return Promise.resolve({ errno: E.EINVAL, fields: {}, reason: (e as Error).message });
    }
    return new Promise((done) => {
      this.waiting.set(id, { op, done });
      this.send(frame);
    });
  }

  close(why: string): void {
    this.lost ??= why;
    this.sock.destroy();
  }
}

const sleep = (ms: number, signal?: AbortSignal) => new Promise<void>((resolve) => {
  const t = setTimeout(done, ms);
  function done() { clearTimeout(t); signal?.removeEventListener('abort', done); resolve(); }
  signal?.addEventListener('abort', done, { once: true });
});

export class DmapiClient {
  private conn: Conn | null;
  private connecting: Promise<Conn> | null = null;
  private closed = false;
  /** The connections of events() iterators that have a signal. */
  private readonly waiters = new Set<Conn>();

  private constructor(
    /** The node daemon's DMAPI socket, <run>/<node>/dmapi.sock. */
    readonly socketPath: string,
    conn: Conn,
  ) {
    this.conn = conn;
  }

  /** Connects to the node's DMAPI socket; no daemon or not ready → DmapiError ENOTREADY. */
  static async connect(opts: ConnectOptions = {}): Promise<DmapiClient> {
    const p = path.join(opts.runDir ?? runBase(), opts.node ?? defaultDmapiNode(), 'dmapi.sock');
    return new DmapiClient(p, await Conn.open(p, 'connect'));
  }

  /** Closes the connections; calls in flight and later fail ENOTREADY, events() iterators end. */
  close(): void {
    this.closed = true;
    this.conn?.close('the client was closed');
    for (const c of this.waiters) c.close('the client was closed');
  }

  /** The live connection, or a new one when the daemon closed the last (it restarted). */
  private connection(op: string): Conn | Promise<Conn> {
    if (this.conn && !this.conn.lost) return this.conn;
    this.connecting ??= Conn.open(this.socketPath, op).then(
      (c) => { this.connecting = null; if (this.closed) c.close('the client was closed'); return (this.conn = c); },
      (e) => { this.connecting = null; throw e; });
    return this.connecting;
  }

  private async request(op: OpName, args: Record<string, unknown>): Promise<Reply> {
    if (this.closed) return { errno: ENOTREADY, fields: {}, reason: 'the client was closed' };
    const c = this.connection(op);
    return (c instanceof Conn ? c : await c).request(op, args);
  }

  /** One request; resolves with the reply fields, rejects with a DmapiError made here (the caller's stack). */
  async call(op: OpName, args: Record<string, unknown>): Promise<Record<string, FieldValue>> {
    const r = await this.request(op, args);
    if (r.errno) throw new DmapiError(r.errno, op, r.reason, r.fields);
    return r.fields;
  }

  // ---- service and sessions

  async initService(): Promise<string> {
    return ((await this.call('INIT_SERVICE', {})).version as Buffer).toString();
  }
  /** dm_create_session; `oldsid` (not DM_NO_SESSION) assumes that session (after a crash or a daemon restart). */
  async createSession(oldsid: number, info: string | Buffer): Promise<number> {
    return (await this.call('CREATE_SESSION', { oldsid, info: typeof info === 'string' ? Buffer.from(info) : info })).sid as number;
  }
  async destroySession(sid: number): Promise<void> {
    await this.call('DESTROY_SESSION', { sid });
  }
  async querySession(sid: number, buflen = 256): Promise<string> {
    const r = await this.call('QUERY_SESSION', { sid, buflen: BigInt(buflen) });
    const b = r.info as Buffer;
    return b.subarray(0, Math.max(0, b.length - 1)).toString();
  }
  async getallSessions(nelem = DM_MAX_SESSIONS): Promise<number[]> {
    const b = (await this.call('GETALL_SESSIONS', { nelem })).sids as Buffer;
    return Array.from({ length: b.length / 4 }, (_, i) => b.readInt32LE(4 * i));
  }

  // ---- events

  async getEventsRaw(sid: number, maxmsgs: number, flags: number, buflen = 65536): Promise<Buffer> {
    return (await this.call('GET_EVENTS', { sid, maxmsgs, flags, buflen: BigInt(buflen) })).buf as Buffer;
  }
  async getEvents(sid: number, maxmsgs: number, flags: number, buflen = 65536): Promise<DmEventMsg[]> {
    return parseEventBuffer(await this.getEventsRaw(sid, maxmsgs, flags, buflen));
  }

  /**
   * The session's messages as they arrive (dm_get_events with DM_EV_WAIT in a loop). Ends normally
   * when `signal` aborts or the client is closed; when the node daemon goes away it throws
   * DmapiError ENOTREADY, or with `resume` waits for it and goes on (EventsOptions.resume).
   */
  async *events(sid: number, opts: EventsOptions = {}): AsyncGenerator<DmEventMsg, void, undefined> {
    const { signal } = opts;
    const args = () => ({ sid, maxmsgs: opts.maxmsgs ?? 0, flags: DM_EV_WAIT, buflen: BigInt(opts.buflen ?? 65536) });
    // The session's description, to assume it again under the same one after a restart.
    const info = opts.resume ? await this.querySession(sid) : '';
    let own: Conn | null = null;
    const abort = () => own?.close('the wait was aborted');
    signal?.addEventListener('abort', abort, { once: true });
    try {
      while (!signal?.aborted && !this.closed) {
        let r: Reply;
        if (signal) {
          if (!own || own.lost) {
            if (own) this.waiters.delete(own);
            own = null;
            const c = await Conn.open(this.socketPath, 'GET_EVENTS').catch((e: DmapiError) => e);
            if (c instanceof DmapiError) {
              if (!opts.resume || c.errno !== ENOTREADY) throw c;
              sid = await this.resume(sid, info, opts);
              continue;
            }
            own = c;
            this.waiters.add(own);
            if (signal.aborted) return;
          }
          r = await own.request('GET_EVENTS', args());
        } else {
          r = await this.request('GET_EVENTS', args()).catch((e: DmapiError) => ({ errno: e.errno, fields: e.fields, reason: e.reason }));
        }
        if (signal?.aborted || this.closed) return;
        if (r.errno === ENOTREADY && opts.resume) {
          sid = await this.resume(sid, info, opts);
          continue;
        }
        if (r.errno) throw new DmapiError(r.errno, 'GET_EVENTS', r.reason, r.fields);
        for (const m of parseEventBuffer(r.fields.buf as Buffer)) yield m;
      }
    } finally {
      signal?.removeEventListener('abort', abort);
      if (own) { own.close('the iterator ended'); this.waiters.delete(own); }
    }
  }

  /** Waits for the node daemon to answer again, then assumes the session (events' `resume`). */
  private async resume(sid: number, info: string, opts: EventsOptions): Promise<number> {
    for (;;) {
      if (opts.signal?.aborted || this.closed) return sid;
      try {
        await this.initService();
        break;
      } catch (e) {
        if (!(e instanceof DmapiError) || e.errno !== ENOTREADY || this.closed) throw e;
      }
      await sleep(opts.retryMs ?? 200, opts.signal);
    }
    return this.createSession(sid, info);
  }

  async respondEvent(sid: number, token: number, response: number, reterror: number, respbuf: Buffer = Buffer.alloc(0)): Promise<void> {
    await this.call('RESPOND_EVENT', { sid, token, response, reterror, respbuf });
  }
  async findEventmsg(sid: number, token: number, buflen = 65536): Promise<DmEventMsg> {
    const b = (await this.call('FIND_EVENTMSG', { sid, token, buflen: BigInt(buflen) })).buf as Buffer;
    return parseEventMsg(b, 0);
  }
  async getallTokens(sid: number, nelem = 1 << 20): Promise<number[]> {
    const b = (await this.call('GETALL_TOKENS', { sid, nelem })).tokens as Buffer;
    return Array.from({ length: b.length / 4 }, (_, i) => b.readInt32LE(4 * i));
  }
  async moveEvent(srcsid: number, token: number, targetsid: number): Promise<number> {
    return (await this.call('MOVE_EVENT', { srcsid, token, targetsid })).token as number;
  }
  async pending(sid: number, token: number, delay: { sec: number; nsec: number } = { sec: 0, nsec: 0 }): Promise<void> {
    await this.call('PENDING', { sid, token, delay_sec: BigInt(delay.sec), delay_nsec: delay.nsec });
  }
  async createUserevent(sid: number, msg: Buffer): Promise<number> {
    return (await this.call('CREATE_USEREVENT', { sid, msg })).token as number;
  }
  async sendMsg(sid: number, msgtype: number, msg: Buffer): Promise<void> {
    await this.call('SEND_MSG', { sid, msgtype, msg });
  }

  // ---- dispositions, event lists, config

  async setDisp(sid: number, handle: Buffer, token: number, events: readonly number[] | bigint, maxevent = DM_EVENT_MAX): Promise<void> {
    await this.call('SET_DISP', { sid, handle, token, eventset: eventSet(events), maxevent });
  }
  async getallDisp(sid: number, buflen = 65536): Promise<Array<{ fsHandle: Buffer; events: number[]; eventset: bigint }>> {
    const b = (await this.call('GETALL_DISP', { sid, buflen: BigInt(buflen) })).buf as Buffer;
    return walkChain(b).map((o) => {
      const eventset = b.readBigUInt64LE(o + 16);
      return { fsHandle: vardata(b, o, 8), eventset, events: eventsIn(eventset) };
    });
  }
  async setEventlist(sid: number, handle: Buffer, token: number, events: readonly number[] | bigint, maxevent = DM_EVENT_MAX): Promise<void> {
    await this.call('SET_EVENTLIST', { sid, handle, token, eventset: eventSet(events), maxevent });
  }
  async getEventlist(sid: number, handle: Buffer, token: number, nelem = DM_EVENT_MAX): Promise<{ events: number[]; eventset: bigint; nelem: number }> {
    const r = await this.call('GET_EVENTLIST', { sid, handle, token, nelem });
    return { events: eventsIn(r.eventset as bigint), eventset: r.eventset as bigint, nelem: r.nelem as number };
  }
  async getConfigEvents(handle: Buffer, nelem = DM_EVENT_MAX): Promise<{ events: number[]; eventset: bigint; nelem: number }> {
    const r = await this.call('GET_CONFIG_EVENTS', { handle, nelem });
    return { events: eventsIn(r.eventset as bigint), eventset: r.eventset as bigint, nelem: r.nelem as number };
  }
  async getConfig(handle: Buffer, flagname: number): Promise<bigint> {
    return (await this.call('GET_CONFIG', { handle, flagname })).value as bigint;
  }
  async getMountinfo(sid: number, handle: Buffer, token: number, buflen = 65536): Promise<DmMountEvent> {
    const raw = (await this.call('GET_MOUNTINFO', { sid, handle, token, buflen: BigInt(buflen) })).buf as Buffer;
    const m = Buffer.alloc(EVENTMSG_SIZE);
    m.writeInt32LE(DM_EVENT_MOUNT, 4);
    m.writeInt32LE(EVENTMSG_SIZE, 16);
    m.writeUInt32LE(raw.length, 20);
    return parseEventMsg(Buffer.concat([m, raw]), 0) as DmMountEvent;
  }

  // ---- handles

  private async statPath(p: string): Promise<{ dev: bigint; ino: bigint; path: Buffer }> {
    let abs = path.resolve(p === '' ? '.' : p);
    try {
      const st = await fs.promises.lstat(abs, { bigint: true });
      if (abs !== '/') abs = path.join(await fs.promises.realpath(path.dirname(abs)), path.basename(abs));
      return { dev: st.dev, ino: st.ino, path: Buffer.from(abs) };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
      throw new DmapiError((E as Record<string, number>)[code] ?? E.EIO, 'path_to_handle');
    }
  }
  async pathToHandle(p: string): Promise<Buffer> {
    return (await this.call('PATH_TO_HANDLE', await this.statPath(p))).handle as Buffer;
  }
  async pathToFshandle(p: string): Promise<Buffer> {
    return (await this.call('PATH_TO_FSHANDLE', await this.statPath(p))).handle as Buffer;
  }
  async fdToHandle(fd: number): Promise<Buffer> {
    let st: fs.BigIntStats;
    let p: string;
    try {
      st = fs.fstatSync(fd, { bigint: true });
      p = fs.readlinkSync(`/proc/self/fd/${fd}`);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
      throw new DmapiError((E as Record<string, number>)[code] ?? E.EIO, 'fd_to_handle');
    }
    if (!path.isAbsolute(p)) throw new DmapiError(E.ENXIO, 'fd_to_handle');
    return (await this.call('FD_TO_HANDLE', { dev: st.dev, ino: st.ino, path: Buffer.from(p) })).handle as Buffer;
  }
  async handleToPath(dirhandle: Buffer, targhandle: Buffer, buflen = 4096): Promise<string> {
    const b = (await this.call('HANDLE_TO_PATH', { dirhandle, targhandle, buflen: BigInt(buflen) })).path as Buffer;
    return b.subarray(0, b.length - 1).toString();
  }
  // Library-side (no daemon): handles.ts.
  handleCmp = H.handleCmp;
  handleHash = H.handleHash;
  handleIsValid = H.handleIsValid;
  handleToFsid = H.handleToFsid;
  handleToIno = H.handleToIno;
  handleToIgen = H.handleToIgen;
  handleToFshandle = H.handleToFshandle;
  makeHandle = H.makeHandle;
  makeFshandle = H.makeFsHandle;
  readonly globalHandle = H.GLOBAL_HANDLE;

  // ---- rights and references

  async requestRight(sid: number, handle: Buffer, token: number, flags: number, right: number): Promise<void> {
    await this.call('REQUEST_RIGHT', { sid, handle, token, flags, right });
  }
  async releaseRight(sid: number, handle: Buffer, token: number): Promise<void> {
    await this.call('RELEASE_RIGHT', { sid, handle, token });
  }
  async upgradeRight(sid: number, handle: Buffer, token: number): Promise<void> {
    await this.call('UPGRADE_RIGHT', { sid, handle, token });
  }
  async downgradeRight(sid: number, handle: Buffer, token: number): Promise<void> {
    await this.call('DOWNGRADE_RIGHT', { sid, handle, token });
  }
  async queryRight(sid: number, handle: Buffer, token: number): Promise<number> {
    return (await this.call('QUERY_RIGHT', { sid, handle, token })).right as number;
  }
  async objRefHold(sid: number, handle: Buffer, token: number): Promise<void> {
    await this.call('OBJ_REF_HOLD', { sid, handle, token });
  }
  async objRefRele(sid: number, handle: Buffer, token: number): Promise<void> {
    await this.call('OBJ_REF_RELE', { sid, handle, token });
  }
  async objRefQuery(sid: number, handle: Buffer, token: number): Promise<boolean> {
    return ((await this.call('OBJ_REF_QUERY', { sid, handle, token })).held as number) === 1;
  }

  // ---- regions

  /** dm_set_region; resolves with exactflag (whether the regions are exactly those given). */
  async setRegion(sid: number, handle: Buffer, token: number, regions: readonly RegionSpec[]): Promise<boolean> {
    const packed = packRegions(regions.map((r) => ({ offset: BigInt(r.offset), size: BigInt(r.size), flags: r.flags, opaque: r.opaque ?? 0 })));
    return ((await this.call('SET_REGION', { sid, handle, token, regions: packed })).exact as number) !== 0;
  }
  async getRegion(sid: number, handle: Buffer, token: number, nelem = MAX_MANAGED_REGIONS): Promise<Region[]> {
    return unpackRegions((await this.call('GET_REGION', { sid, handle, token, nelem })).regions as Buffer) ?? [];
  }

  // ---- DM attributes

  /** dm_set_dmattr (C order: name, setdtime, value; here the flag comes last, optional). */
  async setDmattr(sid: number, handle: Buffer, token: number, name: string | Buffer, value: Buffer, setdtime = false): Promise<void> {
    await this.call('SET_DMATTR', { sid, handle, token, name: attrName(name), setdtime: setdtime ? 1 : 0, value });
  }
  async getDmattr(sid: number, handle: Buffer, token: number, name: string | Buffer, buflen = MAX_ATTRIBUTE_SIZE): Promise<Buffer> {
    return (await this.call('GET_DMATTR', { sid, handle, token, name: attrName(name), buflen: BigInt(buflen) })).value as Buffer;
  }
  /** dm_remove_dmattr (C order: setdtime, name; here the flag comes last, optional). */
  async removeDmattr(sid: number, handle: Buffer, token: number, name: string | Buffer, setdtime = false): Promise<void> {
    await this.call('REMOVE_DMATTR', { sid, handle, token, setdtime: setdtime ? 1 : 0, name: attrName(name) });
  }
  /** dm_getall_dmattr: every DM attribute, its name as a string (the 8 bytes without their padding). */
  async getallDmattr(sid: number, handle: Buffer, token: number, buflen = 65536): Promise<Array<{ name: string; value: Buffer }>> {
    const b = (await this.call('GETALL_DMATTR', { sid, handle, token, buflen: BigInt(buflen) })).buf as Buffer;
    return walkChain(b).map((o) => ({ name: attrString(b.subarray(o + 4, o + 12)), value: vardata(b, o, 12) }));
  }
  async setReturnOnDestroy(sid: number, handle: Buffer, token: number, name: string | Buffer, enable: boolean): Promise<void> {
    await this.call('SET_RETURN_ON_DESTROY', { sid, handle, token, name: attrName(name), enable: enable ? 1 : 0 });
  }
  async setInherit(sid: number, handle: Buffer, token: number, name: string | Buffer, mode: number): Promise<void> {
    await this.call('SET_INHERIT', { sid, handle, token, name: attrName(name), mode });
  }
  async clearInherit(sid: number, handle: Buffer, token: number, name: string | Buffer): Promise<void> {
    await this.call('CLEAR_INHERIT', { sid, handle, token, name: attrName(name) });
  }
  async getallInherit(sid: number, handle: Buffer, token: number, nelem = 64): Promise<Buffer> {
    return (await this.call('GETALL_INHERIT', { sid, handle, token, nelem })).buf as Buffer;
  }

  // ---- file attributes and scans

  async getFileattr(sid: number, handle: Buffer, token: number, mask: number): Promise<DmStat> {
    return parseStat((await this.call('GET_FILEATTR', { sid, handle, token, mask })).stat as Buffer, 0, false);
  }
  async setFileattr(sid: number, handle: Buffer, token: number, mask: number, a: FileAttrs): Promise<void> {
    await this.call('SET_FILEATTR', {
      sid, handle, token, mask, mode: a.mode ?? 0, uid: a.uid ?? 0, gid: a.gid ?? 0, atime: BigInt(a.atime ?? 0),
      mtime: BigInt(a.mtime ?? 0), ctime: BigInt(a.ctime ?? 0), dtime: BigInt(a.dtime ?? 0), size: BigInt(a.size ?? 0),
    });
  }
  /**
   * dm_get_dioinfo (SGI's extension), computed here as libdm does from dm_get_fileattr: the backing
   * file's block size is the alignment and granule, the mount's largest write (128 KiB) the
   * largest transfer; direct I/O is never required. Not a regular file → EINVAL.
   */
  async getDioinfo(sid: number, handle: Buffer, token: number): Promise<{ mem: number; miniosz: number; maxiosz: number; dioOnly: boolean }> {
    const st = await this.getFileattr(sid, handle, token, DM_AT_STAT);
    if ((st.mode & 0o170000) !== 0o100000) throw new DmapiError(E.EINVAL, 'GET_DIOINFO', 'not a regular file');
    const bs = st.blksize || 4096;
    const MAX_WRITE = 131072;
    return { mem: bs, miniosz: bs, maxiosz: MAX_WRITE > bs ? MAX_WRITE - (MAX_WRITE % bs) : bs, dioOnly: false };
  }
  async initAttrloc(sid: number, handle: Buffer, token: number): Promise<bigint> {
    return (await this.call('INIT_ATTRLOC', { sid, handle, token })).loc as bigint;
  }
  private async scan(op: 'GET_DIRATTRS' | 'GET_BULKATTR' | 'GET_BULKALL', args: Record<string, unknown>, xstat: boolean): Promise<ScanResult> {
    const r = await this.call(op, args);
    const b = r.buf as Buffer;
    return { more: r.more === 1, loc: r.loc as bigint, entries: walkChain(b).map((o) => parseStat(b, o, xstat)) };
  }
  /** dm_get_dirattrs: `loc` is the cursor initAttrloc gave (or the last result's). */
  getDirattrs(sid: number, handle: Buffer, token: number, mask: number, loc: Int64, buflen = 65536): Promise<ScanResult> {
    return this.scan('GET_DIRATTRS', { sid, handle, token, mask, loc: BigInt(loc), buflen: BigInt(buflen) }, false);
  }
  getBulkattr(sid: number, handle: Buffer, token: number, mask: number, loc: Int64, buflen = 65536): Promise<ScanResult> {
    return this.scan('GET_BULKATTR', { sid, handle, token, mask, loc: BigInt(loc), buflen: BigInt(buflen) }, false);
  }
  getBulkall(sid: number, handle: Buffer, token: number, mask: number, name: string | Buffer, loc: Int64, buflen = 65536): Promise<ScanResult> {
    return this.scan('GET_BULKALL', { sid, handle, token, mask, name: attrName(name), loc: BigInt(loc), buflen: BigInt(buflen) }, true);
  }

  // ---- data

  /** dm_read_invis: up to `len` bytes at `off` (fewer at EOF); split into 1 MiB requests. */
  async readInvis(sid: number, handle: Buffer, token: number, off: Int64, len: Int64): Promise<Buffer> {
    const parts: Buffer[] = [];
    let o = BigInt(off);
    let left = BigInt(len);
    do {
      const n = left > BigInt(MAX_IO) ? BigInt(MAX_IO) : left;
      const d = (await this.call('READ_INVIS', { sid, handle, token, off: o, len: n })).data as Buffer;
      parts.push(d);
      o += BigInt(d.length);
      left -= BigInt(d.length);
      if (BigInt(d.length) < n) break;
    } while (left > 0n);
    return Buffer.concat(parts);
  }
  /**
   * dm_write_invis: writes `data` at `off`, resolves with the bytes written (short: a partial
   * write). C order: flags, off, len, buf; here `flags` (DM_WRITE_SYNC) comes last, optional.
   */
  async writeInvis(sid: number, handle: Buffer, token: number, off: Int64, data: Buffer, flags = 0): Promise<number> {
    let done = 0;
    do {
      const chunk = data.subarray(done, done + MAX_IO);
      const n = Number((await this.call('WRITE_INVIS', { sid, handle, token, flags, off: BigInt(off) + BigInt(done), data: chunk })).written as bigint);
      done += n;
      if (n < chunk.length) break;
    } while (done < data.length);
    return done;
  }
  async probeHole(sid: number, handle: Buffer, token: number, off: Int64, len: Int64): Promise<{ roff: bigint; rlen: bigint }> {
    const r = await this.call('PROBE_HOLE', { sid, handle, token, off: BigInt(off), len: BigInt(len) });
    return { roff: r.roff as bigint, rlen: r.rlen as bigint };
  }
  /** dm_punch_hole; `len` 0: to the end of the file. */
  async punchHole(sid: number, handle: Buffer, token: number, off: Int64, len: Int64): Promise<void> {
    await this.call('PUNCH_HOLE', { sid, handle, token, off: BigInt(off), len: BigInt(len) });
  }
  async getAllocinfo(sid: number, handle: Buffer, token: number, off: Int64, nelem: number): Promise<{ more: boolean; off: bigint; extents: Extent[] }> {
    const r = await this.call('GET_ALLOCINFO', { sid, handle, token, off: BigInt(off), nelem });
    return { more: r.more === 1, off: r.off as bigint, extents: unpackExtents(r.extents as Buffer) };
  }
  async syncByHandle(sid: number, handle: Buffer, token: number): Promise<void> {
    await this.call('SYNC_BY_HANDLE', { sid, handle, token });
  }
  async createByHandle(sid: number, dirhandle: Buffer, token: number, handle: Buffer, cname: string): Promise<void> {
    await this.call('CREATE_BY_HANDLE', { sid, dirhandle, token, handle, cname: Buffer.from(cname) });
  }
  async mkdirByHandle(sid: number, dirhandle: Buffer, token: number, handle: Buffer, cname: string): Promise<void> {
    await this.call('MKDIR_BY_HANDLE', { sid, dirhandle, token, handle, cname: Buffer.from(cname) });
  }
  async symlinkByHandle(sid: number, dirhandle: Buffer, token: number, handle: Buffer, cname: string, target: string): Promise<void> {
    await this.call('SYMLINK_BY_HANDLE', { sid, dirhandle, token, handle, cname: Buffer.from(cname), path: Buffer.from(target) });
  }
}

/** Connects to a node daemon's DMAPI (by default this host's node, as libdm). */
export function connect(opts: ConnectOptions = {}): Promise<DmapiClient> {
  return DmapiClient.connect(opts);
}

export { ATTRLIST_SIZE };
