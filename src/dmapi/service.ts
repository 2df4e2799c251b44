// The node daemon's DMAPI service: the state (core.ts), the function groups' handlers, the socket
// server, recovery from the journal at start, and the filesystem layer's provider of event hooks
// (src/fs/events.ts: attach/detach, implemented by fs-events.ts).
//
// Readiness: the socket exists only while the service is ready (recovered and listening); a client
// that finds no socket or a refused connection reports ENOTREADY.
import * as path from 'path';
import { Dlm } from '../dlm/engine';
import type { Logger } from '../common/log';
import type { Service } from '../common/service';
import { attributeHandlers } from './attributes';
import { DM_EVENT_MOUNT, DM_RESP_ABORT, E, errnoName } from './constants';
import { Dmapi, Handlers } from './core';
import { dataHandlers } from './data';
import { dispositionHandlers } from './dispositions';
import { dispositionOf, eventHandlers } from './events';
import { fileattrHandlers } from './fileattr';
import { loadFsConfig } from './fsconfig';
import { FsTable, MountView } from './fstable';
import { handleOpsHandlers } from './handle-ops';
import { Journal } from './journal';
import { regionHandlers } from './regions';
import { Rights, rightsHandlers } from './rights';
import { adminCommands } from './admin';
import { describeEvent, sessionName, TraceRing } from './observer';
import { DmapiServer } from './server';
import { sessionHandlers } from './sessions';
import { MountHooks } from './fs-events';
import { NodeSettings } from './settings';
import type { FsEventHooks, FsEventsProvider, MountDescription } from '../fs/events';
import type { CommandHandler } from '../common/service';

/** How long a DMAPI call that changed a file waits for the mounts to drop their caches of it. */
const INVALIDATE_WAIT_MS = 200;

export const DMAPI_SOCKET = 'dmapi.sock';
export const DMAPI_JOURNAL = 'dmapi.journal';
export const DMAPI_FSTAB = 'dmapi-fstab.json';

export interface DmapiServiceOptions {
  node: string;
  /** The node's run directory (<run>/<node>): the journal, the socket. */
  runDir: string;
  /** The node's state directory (settings); default: the run directory. */
  stateDir?: string;
  log: Logger;
  mounts: () => MountView[];
  /** The node's DLM engine (the dlm service's), looked up at start; a private one when absent. */
  engine?: () => Dlm | undefined;
  /** Synchronous events waiting longer than this are logged (once each); 0 = never. Default 30 s. */
  slowEventSeconds?: number;
}

export class DmapiService implements Service, FsEventsProvider {
  readonly name = 'dmapi';
  readonly dm: Dmapi;
  private server: DmapiServer | null = null;
  private journal: Journal | null = null;
  readonly socketPath: string;
  private ready = false;
  /** The observer interface's ring (observer.ts): what `dmapifs events watch` reads. */
  readonly ring: TraceRing;
  private slowTimer: NodeJS.Timeout | null = null;
  /** Node settings (dmapiEventTimeout...): <state>/<node>/dmapi-settings.json. */
  readonly settings: NodeSettings;
  /** Mounts being made (their MOUNT event comes before the mount service lists them). */
  private readonly attaching: MountView[] = [];
  /** Hooks of the mounts attached, with the view each added to `attaching`. */
  private readonly mountHooks = new Map<MountHooks, MountView>();
  private stoppedFlag = false;
  readonly commands: Record<string, CommandHandler>;

  constructor(private readonly opts: DmapiServiceOptions) {
    this.socketPath = path.join(opts.runDir, DMAPI_SOCKET);
    const table = new FsTable(() => [...this.attaching, ...opts.mounts()], path.join(opts.runDir, DMAPI_FSTAB));
    this.dm = new Dmapi(table, null);
    this.settings = new NodeSettings(opts.stateDir ?? opts.runDir, opts.stateDir ? opts.runDir : undefined);
    this.dm.onObjectChanged = (o) => {
      const drops: Array<Promise<void>> = [];
      for (const h of this.mountHooks.keys()) if (h.fsid === o.fs.fsid) drops.push(h.desc.invalidate(o.ino));
      // Bounded: a page the kernel must drop can be held by a read that waits for a right the DM
      // application holds (its token); the call must not wait for that read. The drop then lands
      // when the read completes.
      let timer: NodeJS.Timeout | undefined;
      const bound = new Promise<void>((r) => { timer = setTimeout(r, INVALIDATE_WAIT_MS); });
      return Promise.race([Promise.all(drops).then(() => undefined), bound]).finally(() => clearTimeout(timer));
    };
    this.ring = new TraceRing(this.dm);
    this.dm.observe = (o) => {
      // Session lifecycle goes to the log; everything goes to the ring while someone reads it.
      if (o.what === 'session-created' || o.what === 'session-assumed' || o.what === 'session-destroyed') {
        const verb = o.what.slice('session-'.length);
        opts.log.info(`dmapi: session ${o.session.sid} (${sessionName(o.session.info) || 'no name'}) ${verb}${o.by ? ` by ${o.by}` : ''}`);
      } else if (o.what === 'answered' && o.ev.slowLogged) {
        opts.log.info(`dmapi: token ${o.ev.token} answered after ${((Date.now() - o.ev.raisedAt) / 1000).toFixed(1)} s`);
      }
      if (opts.log.debugEnabled) opts.log.debug(`dmapi: ${o.what} ${'ev' in o ? `token ${o.ev.token} ${describeEvent(this.dm, o.ev).type}` : `session ${o.session.sid}`}`);
      this.ring.record(o);
    };
    this.commands = {
      ...adminCommands({
        node: opts.node, dm: this.dm, ring: this.ring,
        // A view stays in `attaching` for the life of its mount: pending are those not listed yet.
        attaching: () => this.attaching.filter((v) => !opts.mounts().some((m) => m.mountpoint === v.mountpoint && m.mountedAt === v.mountedAt)),
        capacities: () => new Map(opts.mounts().map((m) => [m.mountpoint, (m as { capacity?: number | null }).capacity ?? null])),
        log: (level, msg) => opts.log[level](msg),
      }),
      // dmapifs config [NAME=VALUE...]: shows or changes the node's DMAPI settings.
      'dmapi-config': (args) => {
        const set = (args.set ?? {}) as Record<string, unknown>;
        if (typeof set !== 'object' || set === null || Array.isArray(set)) throw Object.assign(new Error("'set' must be an object"), { code: 'EINVAL' });
        try {
          return { node: opts.node, file: this.settings.file, settings: Object.keys(set).length ? this.settings.set(set) : this.settings.get() };
        } catch (e) {
          throw Object.assign(new Error((e as Error).message), { code: 'EINVAL' });
        }
      },
    };
  }

  async start(): Promise<void> {
    const file = path.join(this.opts.runDir, DMAPI_JOURNAL);
    const { records, mtimeMs } = Journal.read(file);
    this.journal = new Journal(file);
    (this.dm as { journal: Journal | null }).journal = this.journal;
    this.dm.rights = new Rights(this.opts.engine?.() ?? new Dlm());
    if (records.length) {
      this.dm.recover(records, mtimeMs);
      this.opts.log.info(`dmapi: recovered ${this.dm.sessions.size} session(s), ${this.dm.tokens.size} pending event(s)`);
    } else {
      this.dm.compact();
    }
    const handlers: Handlers = {
      ...sessionHandlers(this.dm), ...eventHandlers(this.dm), ...dispositionHandlers(this.dm), ...handleOpsHandlers(this.dm),
      ...rightsHandlers(this.dm), ...regionHandlers(this.dm), ...attributeHandlers(this.dm), ...fileattrHandlers(this.dm),
      ...dataHandlers(this.dm),
      // SET_INHERIT, CLEAR_INHERIT, GETALL_INHERIT, CREATE_BY_HANDLE, MKDIR_BY_HANDLE, SYMLINK_BY_HANDLE:
      // not implemented (DM_CONFIG_PERS_INHERIT_ATTRIBS = 0, DM_CONFIG_CREATE_BY_HANDLE = 0) → ENOSYS.
    };
    // The socket is 0666 and every call is checked by SO_PEERCRED (uid 0 or EPERM). The node's run
    // directory itself is 0700 (the daemon's choice), so an unprivileged process normally cannot
    // even reach the socket: the client libraries report that as EPERM too.
    this.server = new DmapiServer(this.socketPath, handlers, this.opts.log);
    await this.server.listen();
    this.ready = true;
    const slow = this.opts.slowEventSeconds ?? 30;
    if (slow > 0) {
      this.slowTimer = setInterval(() => this.logSlowEvents(slow * 1000), Math.min(5000, Math.max(200, slow * 250)));
      this.slowTimer.unref();
    }
  }

  /** Logs (once each) the synchronous events that have waited longer than `ms` for their answer. */
  private logSlowEvents(ms: number): void {
    const now = Date.now();
    for (const ev of this.dm.tokens.values()) {
      if (ev.slowLogged || ev.userevent || !ev.sync || now - ev.raisedAt < ms) continue;
      ev.slowLogged = true;
      const v = describeEvent(this.dm, ev);
      const s = this.dm.sessions.get(ev.sid);
      const listening = s && s.waiters.size > 0 ? 'its DM application is listening' : 'no dm_get_events call waits on the session';
      this.opts.log.warn(`dmapi: token ${ev.token} (${v.type} ${v.object ?? ''}) has waited ${((now - ev.raisedAt) / 1000).toFixed(0)} s `
        + `in session ${ev.sid} (${s ? sessionName(s.info) : '?'}, ${ev.state}; ${listening}); see dmapifs dm events`);
    }
  }

  async stop(_reason: string): Promise<void> {
    this.ready = false;
    if (this.slowTimer) clearInterval(this.slowTimer);
    // Operations waiting for events fail (GPFS: ESTALE on the session node); no new events.
    this.stoppedFlag = true;
    this.dm.abandonWaits({ response: DM_RESP_ABORT, errno: E.ESTALE, respbuf: Buffer.alloc(0) });
    await this.server?.close();
    this.server = null;
    this.dm.rights?.stop();
    if (this.journal) {
      // Sessions outlive the daemon: keep a compact journal for the next start.
      try { this.dm.compact(); } catch { /* keep the old one */ }
      this.journal.close();
    }
    this.dm.fsTable.closeAll();
  }

  status(): unknown {
    return {
      ready: this.ready,
      socket: this.socketPath,
      sessions: this.dm.sessions.size,
      tokens: this.dm.tokens.size,
      connections: this.server?.connections ?? 0,
      calls: this.server?.calls ?? 0,
    };
  }

  // ---- the interface for file operations: src/fs/events.ts

  async attach(m: MountDescription): Promise<FsEventHooks> {
    // A filesystem is mounted once per node (GPFS; one MOUNT event per mount per node): a second
    // mount of a DMAPI-enabled backing directory on this node is refused; other nodes may mount it.
    const twin = [...this.attaching, ...this.opts.mounts()].find((v) => v.backing === m.backing);
    if (twin && loadFsConfig(m.backing).dmapi) {
      throw Object.assign(new Error(`${m.backing} is a DMAPI-enabled filesystem already mounted on this node at ${twin.mountpoint}: `
        + 'it is mounted once per node (mount it through another node)'), { code: 'EBUSY' });
    }
    if (m.passthrough && loadFsConfig(m.backing).dmapi) {
      throw Object.assign(new Error('kernel passthrough cannot be used on a DMAPI-enabled filesystem: every read and write must reach the daemon there'),
        { code: 'EINVAL' });
    }
    const view: MountView = { backing: m.backing, mountpoint: m.mountpoint, dev: null, mountedAt: m.mountedAt };
    this.attaching.push(view);
    const fsE = this.dm.fsTable.byBackingDir(m.backing);
    if (!fsE) {
      this.dropView(view);
      throw Object.assign(new Error(`dmapi: no filesystem entry for ${m.backing}`), { code: 'EIO' });
    }
    const hooks = new MountHooks({
      dm: this.dm, settings: this.settings, isStopped: () => this.stoppedFlag,
    }, fsE, m);
    this.mountHooks.set(hooks, view);
    const errno = this.stoppedFlag ? 0 : await hooks.mountEvent(m.mountEventOptional === true);
    if (errno) {
      this.detach(hooks);
      const code = errnoName(errno);
      const why = errno === E.EIO && !dispositionOf(this.dm, fsE.fsid, DM_EVENT_MOUNT)
        ? 'EIO: no DM application holds a MOUNT disposition (see dmapiMountTimeout, or mount with --mount-event-optional)'
        : `the DM application refused the mount (MOUNT event: ${code})`;
      throw Object.assign(new Error(why), { code, errno });
    }
    return hooks;
  }

  detach(hooks: FsEventHooks): void {
    if (!(hooks instanceof MountHooks)) return;
    const view = this.mountHooks.get(hooks);
    this.mountHooks.delete(hooks);
    if (view) this.dropView(view);
  }

  /**
   * A mount has left the node's list (its unmount and UNMOUNT event are done): the filesystem
   * entries of what is no longer mounted go now, and with them their descriptors of the backing
   * directory, so that an unmounted filesystem is not kept busy by this daemon ("target is busy").
   */
  unmounted(): void {
    if (!this.stoppedFlag) this.dm.fsTable.sync();
  }

  private dropView(view: MountView): void {
    const i = this.attaching.indexOf(view);
    if (i >= 0) this.attaching.splice(i, 1);
  }
}
