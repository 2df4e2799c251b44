// The TypeScript DMAPI client: connect({ node }) → methods mirroring dm_* in camelCase, Promise
// based, handles as Buffers, failures as DmapiError (errno name and number), events also as an
// async iterator. Speaks the binary protocol of protocol/codec.ts over <run>/<node>/dmapi.sock.
//
//   const dm = await connect({ node: 'n1' });
//   const sid = await dm.createSession(DM_NO_SESSION, 'my hsm');
//   const h = await dm.pathToHandle('/mnt/f');
//   await dm.setRegion(sid, h, DM_NO_TOKEN, [{ offset: 0n, size: 0n, flags: DM_REGION_READ, opaque: 0 }]);
//   for await (const ev of dm.events(sid)) { ...; await dm.respondEvent(sid, ev.token, DM_RESP_CONTINUE, 0); }
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { runBase } from '../common/paths';
import {
  DM_ATTR_NAME_SIZE, DM_EV_WAIT, DM_EVENT_DESTROY, DM_EVENT_MAX, DM_EVENT_MOUNT, DM_EVENT_READ, DM_EVENT_TRUNCATE,
  DM_EVENT_USER, DM_EVENT_WRITE, DM_MAX_SESSIONS, E, ENOTREADY, errnoName, eventSetOf, eventsIn, MAX_MANAGED_REGIONS,
  MAX_ATTRIBUTE_SIZE,
} from './constants';
import * as H from './handles';
import {
  ATTRLIST_SIZE, EVENTMSG_SIZE, Extent, packRegions, Region, STAT_SIZE, StatInfo, unpackExtents, unpackRegions, vardata,
  vstring, walkChain,
} from './layouts';
import {
  decodeFields, encodeFrame, FieldValue, FrameDecoder, HEADER_SIZE, MAX_IO, OpName, OPS,
} from './protocol/codec';
import { frameWriter } from './protocol/writer';

export class DmapiError extends Error {
  /** 'EINVAL', 'E2BIG', 'ENOTREADY', ... */
  readonly code: string;
  constructor(readonly errno: number, readonly op: string, readonly fields: Record<string, FieldValue> = {}) {
    super(`${op}: ${errno === ENOTREADY ? 'ENOTREADY' : errnoName(errno)}`);
    this.code = errno === ENOTREADY ? 'ENOTREADY' : errnoName(errno);
    this.name = 'DmapiError';
  }
}

export interface ConnectOptions {
  node: string;
  /** Base run directory (default $DMAPIFS_RUN_DIR or /run/dmapifs). */
  runDir?: string;
}

export interface DmEventMsg {
  type: number;
  token: number;
  sequence: number;
  /** The type-specific part as the C structure (dm_data_event_t, ...); USER: the message data. */
  raw: Buffer;
  /** USER */
  data?: Buffer;
  /** READ / WRITE / TRUNCATE */
  handle?: Buffer;
  offset?: bigint;
  length?: bigint;
  /** Namespace, metadata and unmount events (dm_namesp_event_t) */
  mode?: number;
  handle1?: Buffer;
  handle2?: Buffer;
  name1?: string;
  name2?: string;
  retcode?: number;
  /** MOUNT (dm_mount_event_t) */
  fsHandle?: Buffer;
  mountPoint?: string;
  device?: string;
  rootHandle?: Buffer;
  /** DESTROY */
  attrName?: Buffer;
  attrCopy?: Buffer;
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
  atime?: bigint | number;
  mtime?: bigint | number;
  ctime?: bigint | number;
  dtime?: bigint | number;
  size?: bigint | number;
}

export function parseEventMsg(b: Buffer, o: number): DmEventMsg {
  const type = b.readInt32LE(o + 4);
  const token = b.readInt32LE(o + 8);
  const sequence = b.readUInt32LE(o + 12);
  const raw = vardata(b, o, 16);
  const m: DmEventMsg = { type, token, sequence, raw };
  if (!raw.length && type !== DM_EVENT_USER) return m;
  if (type === DM_EVENT_USER) m.data = raw;
  else if (type === DM_EVENT_READ || type === DM_EVENT_WRITE || type === DM_EVENT_TRUNCATE) {
    m.handle = vardata(raw, 0, 0);
    m.offset = raw.readBigInt64LE(8);
    m.length = raw.readBigUInt64LE(16);
  } else if (type === DM_EVENT_MOUNT) {
    m.mode = raw.readUInt32LE(0);
    m.fsHandle = vardata(raw, 0, 4);
    m.handle2 = vardata(raw, 0, 12);
    m.mountPoint = vstring(raw, 0, 20);
    m.device = vstring(raw, 0, 28);
    m.rootHandle = vardata(raw, 0, 36);
  } else if (type === DM_EVENT_DESTROY) {
    m.handle = vardata(raw, 0, 0);
    m.attrName = Buffer.from(raw.subarray(8, 16));
    m.attrCopy = vardata(raw, 0, 16);
  } else if (raw.length >= 40) {
    m.mode = raw.readUInt32LE(0);
    m.handle1 = vardata(raw, 0, 4);
    m.handle2 = vardata(raw, 0, 12);
    m.name1 = vstring(raw, 0, 20);
    m.name2 = vstring(raw, 0, 28);
    m.retcode = raw.readInt32LE(36);
  }
  return m;
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

interface Pending {
  op: OpName;
  resolve(v: Record<string, FieldValue>): void;
  reject(e: Error): void;
}

export class DmapiClient {
  private nextId = 1;
  private readonly waiting = new Map<number, Pending>();
  private closedErr: DmapiError | null = null;

  /** Frames written in one run go out in one write (protocol/writer.ts). */
  private readonly send: (frame: Buffer) => void;

  private constructor(private readonly sock: net.Socket) {
    this.send = frameWriter(sock);
    const dec = new FrameDecoder();
    sock.on('data', (chunk: Buffer) => {
      let frames;
      try {
        frames = dec.push(chunk);
      } catch {
        sock.destroy();
        return;
      }
      for (const f of frames) {
        const p = this.waiting.get(f.id);
        if (!p) continue;
        this.waiting.delete(f.id);
        const errno = f.raw.length >= HEADER_SIZE + 4 ? f.raw.readInt32LE(HEADER_SIZE) : E.EPROTO;
        let fields: Record<string, FieldValue> = {};
        if (f.raw.length > HEADER_SIZE + 4) {
          try { fields = decodeFields(f.raw, HEADER_SIZE + 4, OPS[p.op].rep, false); } catch { /* errno only */ }
        }
        if (errno) p.reject(new DmapiError(errno, p.op, fields));
        else p.resolve(fields);
      }
    });
    const onGone = () => {
      this.closedErr ??= new DmapiError(ENOTREADY, 'connection');
      for (const p of this.waiting.values()) p.reject(new DmapiError(ENOTREADY, p.op));
      this.waiting.clear();
    };
    sock.on('close', onGone);
    sock.on('error', () => undefined);
  }

  /** Connects to the node's DMAPI socket; no daemon or not ready → DmapiError ENOTREADY. */
  static connect(opts: ConnectOptions): Promise<DmapiClient> {
    const p = path.join(opts.runDir ?? runBase(), opts.node, 'dmapi.sock');
    return new Promise((resolve, reject) => {
      const sock = net.createConnection(p);
      sock.once('connect', () => {
        sock.removeAllListeners('error');
        resolve(new DmapiClient(sock));
      });
      sock.once('error', (e: NodeJS.ErrnoException) => {
        // Only root may use DMAPI: a socket we may not even reach is EPERM, a missing one ENOTREADY.
        reject(new DmapiError(e.code === 'EACCES' ? E.EPERM : ENOTREADY, 'connect'));
      });
    });
  }

  close(): void {
    this.sock.destroy();
  }

  /** One request; resolves with the reply fields. */
  call(op: OpName, args: Record<string, unknown>): Promise<Record<string, FieldValue>> {
    if (this.closedErr || this.sock.destroyed) return Promise.reject(new DmapiError(ENOTREADY, op));
    const id = this.nextId;
    this.nextId = (this.nextId + 1) >>> 0 || 1;
    const spec = OPS[op];
    const frame = encodeFrame(id, spec.code, 0, spec.req, args);
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { op, resolve, reject });
      this.send(frame);
    });
  }

  // ---- service and sessions

  async initService(): Promise<string> {
    return ((await this.call('INIT_SERVICE', {})).version as Buffer).toString();
  }
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
  /** Messages as they arrive (dm_get_events with DM_EV_WAIT in a loop) until the client closes. */
  async *events(sid: number, opts: { buflen?: number; maxmsgs?: number } = {}): AsyncGenerator<DmEventMsg> {
    for (;;) {
      let batch: DmEventMsg[];
      try {
        batch = await this.getEvents(sid, opts.maxmsgs ?? 0, DM_EV_WAIT, opts.buflen ?? 65536);
      } catch (e) {
        if (e instanceof DmapiError && e.code === 'ENOTREADY' && this.sock.destroyed) return;
        throw e;
      }
      for (const m of batch) yield m;
    }
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
  async getMountinfo(sid: number, handle: Buffer, token: number, buflen = 65536): Promise<DmEventMsg> {
    const raw = (await this.call('GET_MOUNTINFO', { sid, handle, token, buflen: BigInt(buflen) })).buf as Buffer;
    const m = Buffer.alloc(EVENTMSG_SIZE);
    m.writeInt32LE(DM_EVENT_MOUNT, 4);
    m.writeInt32LE(EVENTMSG_SIZE, 16);
    m.writeUInt32LE(raw.length, 20);
    return parseEventMsg(Buffer.concat([m, raw]), 0);
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
  async objRefHold(sid: number, token: number, handle: Buffer): Promise<void> {
    await this.call('OBJ_REF_HOLD', { sid, handle, token });
  }
  async objRefRele(sid: number, token: number, handle: Buffer): Promise<void> {
    await this.call('OBJ_REF_RELE', { sid, handle, token });
  }
  async objRefQuery(sid: number, token: number, handle: Buffer): Promise<boolean> {
    return ((await this.call('OBJ_REF_QUERY', { sid, handle, token })).held as number) === 1;
  }

  // ---- regions

  async setRegion(sid: number, handle: Buffer, token: number, regions: Region[]): Promise<boolean> {
    return ((await this.call('SET_REGION', { sid, handle, token, regions: packRegions(regions) })).exact as number) !== 0;
  }
  async getRegion(sid: number, handle: Buffer, token: number, nelem = MAX_MANAGED_REGIONS): Promise<Region[]> {
    return unpackRegions((await this.call('GET_REGION', { sid, handle, token, nelem })).regions as Buffer) ?? [];
  }

  // ---- DM attributes

  async setDmattr(sid: number, handle: Buffer, token: number, name: string | Buffer, setdtime: boolean | number, value: Buffer): Promise<void> {
    await this.call('SET_DMATTR', { sid, handle, token, name: attrName(name), setdtime: setdtime ? 1 : 0, value });
  }
  async getDmattr(sid: number, handle: Buffer, token: number, name: string | Buffer, buflen = MAX_ATTRIBUTE_SIZE): Promise<Buffer> {
    return (await this.call('GET_DMATTR', { sid, handle, token, name: attrName(name), buflen: BigInt(buflen) })).value as Buffer;
  }
  async removeDmattr(sid: number, handle: Buffer, token: number, setdtime: boolean | number, name: string | Buffer): Promise<void> {
    await this.call('REMOVE_DMATTR', { sid, handle, token, setdtime: setdtime ? 1 : 0, name: attrName(name) });
  }
  async getallDmattr(sid: number, handle: Buffer, token: number, buflen = 65536): Promise<Array<{ name: Buffer; value: Buffer }>> {
    const b = (await this.call('GETALL_DMATTR', { sid, handle, token, buflen: BigInt(buflen) })).buf as Buffer;
    return walkChain(b).map((o) => ({ name: Buffer.from(b.subarray(o + 4, o + 12)), value: vardata(b, o, 12) }));
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
  async initAttrloc(sid: number, handle: Buffer, token: number): Promise<bigint> {
    return (await this.call('INIT_ATTRLOC', { sid, handle, token })).loc as bigint;
  }
  private scan(op: 'GET_DIRATTRS' | 'GET_BULKATTR' | 'GET_BULKALL', args: Record<string, unknown>, xstat: boolean) {
    return this.call(op, args).then((r) => {
      const b = r.buf as Buffer;
      return { more: r.more === 1, loc: r.loc as bigint, entries: walkChain(b).map((o) => parseStat(b, o, xstat)) };
    });
  }
  getDirattrs(sid: number, handle: Buffer, token: number, mask: number, loc: bigint, buflen = 65536) {
    return this.scan('GET_DIRATTRS', { sid, handle, token, mask, loc, buflen: BigInt(buflen) }, false);
  }
  getBulkattr(sid: number, handle: Buffer, token: number, mask: number, loc: bigint, buflen = 65536) {
    return this.scan('GET_BULKATTR', { sid, handle, token, mask, loc, buflen: BigInt(buflen) }, false);
  }
  getBulkall(sid: number, handle: Buffer, token: number, mask: number, name: string | Buffer, loc: bigint, buflen = 65536) {
    return this.scan('GET_BULKALL', { sid, handle, token, mask, name: attrName(name), loc, buflen: BigInt(buflen) }, true);
  }

  // ---- data

  async readInvis(sid: number, handle: Buffer, token: number, off: bigint | number, len: bigint | number): Promise<Buffer> {
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
  async writeInvis(sid: number, handle: Buffer, token: number, flags: number, off: bigint | number, data: Buffer): Promise<number> {
    let done = 0;
    do {
      const chunk = data.subarray(done, done + MAX_IO);
      const n = Number((await this.call('WRITE_INVIS', { sid, handle, token, flags, off: BigInt(off) + BigInt(done), data: chunk })).written as bigint);
      done += n;
      if (n < chunk.length) break;
    } while (done < data.length);
    return done;
  }
  async probeHole(sid: number, handle: Buffer, token: number, off: bigint | number, len: bigint | number): Promise<{ roff: bigint; rlen: bigint }> {
    const r = await this.call('PROBE_HOLE', { sid, handle, token, off: BigInt(off), len: BigInt(len) });
    return { roff: r.roff as bigint, rlen: r.rlen as bigint };
  }
  async punchHole(sid: number, handle: Buffer, token: number, off: bigint | number, len: bigint | number): Promise<void> {
    await this.call('PUNCH_HOLE', { sid, handle, token, off: BigInt(off), len: BigInt(len) });
  }
  async getAllocinfo(sid: number, handle: Buffer, token: number, off: bigint | number, nelem: number): Promise<{ more: boolean; off: bigint; extents: Extent[] }> {
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

export function connect(opts: ConnectOptions): Promise<DmapiClient> {
  return DmapiClient.connect(opts);
}

export { ATTRLIST_SIZE };
