// The node daemon: one long-lived process per node name, hosting that node's services (filesystem
// mounts, the DMAPI, the DLM) and answering the control socket in its run directory.
import * as fs from 'fs';
import * as path from 'path';
import { ControlServer } from './control-server';
import { Logger, LogOptions } from '../common/log';
import { MountList } from './mount-list';
import { MountFn, MountService } from './mount-service';
import { sdNotify } from './notify';
import { nodePaths, NodePaths, nodeStateDir, stateBase } from '../common/paths';
import { acquirePidFile, releasePidFile } from './pidfile';
import { ServiceRegistry } from '../common/service';
import { VERSION } from '../common/version';
import { DlmService } from '../dlm/service/dlm-service';
import { DmapiService } from '../dmapi/service';

export { VERSION };

/** Synchronous events waiting longer than this are logged: $DMAPIFS_SLOW_EVENT_SECONDS (default 30; 0 = never). */
function slowEventSeconds(env: NodeJS.ProcessEnv = process.env): number {
  const v = Number(env.DMAPIFS_SLOW_EVENT_SECONDS);
  return env.DMAPIFS_SLOW_EVENT_SECONDS !== undefined && Number.isFinite(v) && v >= 0 ? v : 30;
}

export interface DaemonOptions {
  node: string;
  /** Base run directory (default from DMAPIFS_RUN_DIR or /run/dmapifs). */
  runBase?: string;
  mountFn: MountFn;
  /** Called once the daemon has shut down, with the exit code it wants. */
  onExit?: (code: number) => void;
  /** Base state directory (default from DMAPIFS_STATE_DIR, see paths.ts). */
  stateBase?: string;
  log?: LogOptions;
  /** Mount the node's listed mounts (mount-list.ts) once started. */
  restoreMounts?: boolean;
}

export interface DaemonStatus {
  node: string;
  pid: number;
  version: string;
  startedAt: number;
  runDir: string;
  mounts: unknown[];
  services: Record<string, unknown>;
}

export class Daemon {
  readonly node: string;
  readonly paths: NodePaths;
  readonly log: Logger;
  readonly services: ServiceRegistry;
  readonly mounts: MountService;
  readonly mountList: MountList;
  /** <state>/<node>: settings and the mount list, kept across reboots. */
  readonly stateDir: string;
  readonly startedAt = Date.now();
  private server: ControlServer | null = null;
  private shutdownPromise: Promise<void> | null = null;
  private ownsPidFile = false;
  private finished = false;
  /** Keeps the event loop alive while the daemon runs, even with no mount and no connection. */
  private keepAlive: NodeJS.Timeout | null = null;
  private readonly signalHandlers: Array<[NodeJS.Signals, () => void]> = [];

  constructor(private readonly opts: DaemonOptions) {
    this.node = opts.node;
    this.paths = nodePaths(opts.node, opts.runBase);
    // The run directory must exist before the log can be opened.
    this.makeRunDir();
    this.stateDir = nodeStateDir(opts.node, opts.stateBase ?? stateBase());
    fs.mkdirSync(path.dirname(this.stateDir), { recursive: true, mode: 0o755 });
    fs.mkdirSync(this.stateDir, { recursive: true, mode: 0o700 });
    this.log = new Logger(`dmapifs[${this.node}:${process.pid}]`, this.paths.logFile, { node: this.node, ...opts.log });
    this.mountList = new MountList(this.stateDir);
    this.services = new ServiceRegistry(this.log);
    // DMAPI: rights use the dlm service's engine when one is registered (looked up at start); the
    // filesystem layer gets it as its event provider (src/fs/events.ts) at each mount.
    const dmapi = new DmapiService({
      node: this.node, runDir: this.paths.dir, stateDir: this.stateDir, log: this.log, mounts: () => this.mounts.list(),
      slowEventSeconds: slowEventSeconds(),
      engine: () => (this.services.get('dlm') as { engine?: import('../dlm/engine').Dlm } | undefined)?.engine,
    });
    // A mount refuses data I/O while the node's lock manager is fenced (membership from etcd lost).
    const dlm = new DlmService({ node: this.node, runDir: this.paths.dir, log: this.log });
    this.mounts = new MountService(this.node, (o) => opts.mountFn({ ...o, events: dmapi, fenced: () => dlm.isFenced() }), this.log, [this.paths.dir], () => dmapi.unmounted());
    this.mounts.listener = {
      mounted: (r) => this.listChange(() => this.mountList.add({
        backing: r.backing, mountpoint: r.mountpoint, attrTimeout: r.attrTimeout, entryTimeout: r.entryTimeout, capacity: r.capacity,
        mountEventOptional: r.mountEventOptional,
      })),
      unmounted: (mp) => this.listChange(() => this.mountList.remove(mp)),
    };
    this.services.register(this.mounts);
    this.services.register(dlm);
    this.services.register(dmapi);
    this.services.addCommand('ping', () => ({ pong: true, node: this.node, pid: process.pid }));
    this.services.addCommand('status', () => this.status());
    this.services.addCommand('stop', () => this.stopCommand());
  }

  private makeRunDir(): void {
    fs.mkdirSync(this.paths.base, { recursive: true, mode: 0o755 });
    // 0711: other users may reach the sockets meant for them (dlm.sock, dmapi.sock: 0666, callers
    // identified by SO_PEERCRED) but not list the directory; control.sock itself is 0600.
    fs.mkdirSync(this.paths.dir, { recursive: true, mode: 0o711 });
    fs.chmodSync(this.paths.dir, 0o711);
  }

  private listChange(fn: () => void): void {
    try { fn(); } catch (e) { this.log.warn(`mount list ${this.mountList.file}: ${(e as Error).message}`); }
  }

  /** Mounts the listed mounts again (in the background: a DMAPI mount waits for its HSM). */
  private restoreMounts(): void {
    let list;
    try { list = this.mountList.load(); } catch (e) { this.log.error(`mount list: ${(e as Error).message}; nothing restored`); return; }
    if (!list.length) return;
    this.log.info(`restoring ${list.length} mount(s) from ${this.mountList.file}`);
    let left = list.length;
    let ok = 0;
    for (const m of list) {
      const args = {
        backing: m.backing, mountpoint: m.mountpoint, attrTimeout: m.attrTimeout ?? undefined, entryTimeout: m.entryTimeout ?? undefined,
        capacity: m.capacity ?? undefined, mountEventOptional: m.mountEventOptional ?? undefined,
      };
      this.mounts.mount(args).then(() => { ok++; }, (e) => this.log.error(`could not restore the mount of ${m.backing} at ${m.mountpoint}: ${(e as Error).message}`))
        .finally(() => {
          if (--left === 0) sdNotify({ STATUS: `node ${this.node}: ${ok} of ${list.length} listed mount(s) restored` });
        });
    }
  }

  status(): DaemonStatus {
    return {
      node: this.node,
      pid: process.pid,
      version: VERSION,
      startedAt: this.startedAt,
      runDir: this.paths.dir,
      mounts: this.mounts.list(),
      services: this.services.status(),
    };
  }

  /** Takes the node name, starts the services and listens; throws EALREADY if the node runs. */
  async start(): Promise<void> {
    this.keepAlive = setInterval(() => undefined, 1 << 30);
    acquirePidFile(this.paths.pidFile, this.node);
    this.ownsPidFile = true;
    try {
      // We hold the pid file, so a socket file left here belongs to a dead daemon.
      fs.rmSync(this.paths.socket, { force: true });
      await this.services.startAll();
      this.server = new ControlServer(this.paths.socket, (req) => this.services.dispatch(req.cmd, req.args, { node: this.node }), this.log);
      await this.server.listen();
    } catch (e) {
      this.log.error(`start failed: ${(e as Error).message}`);
      releasePidFile(this.paths.pidFile);
      this.ownsPidFile = false;
      if (this.keepAlive) clearInterval(this.keepAlive);
      throw e;
    }
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as NodeJS.Signals[]) {
      const h = () => {
        if (sig === 'SIGHUP') { this.log.info('SIGHUP ignored (use SIGTERM to stop)'); return; }
        this.log.info(`${sig} received`);
        void this.shutdown(sig);
      };
      process.on(sig, h);
      this.signalHandlers.push([sig, h]);
    }
    this.log.info(`node ${this.node} started (version ${VERSION}, node ${process.version}), control socket ${this.paths.socket}, state ${this.stateDir}`);
    // Ready once the control socket answers; listed mounts come back after (a DMAPI one may wait
    // for an HSM that itself waits for this daemon).
    sdNotify({ READY: 1, MAINPID: process.pid, STATUS: `node ${this.node} running` });
    if (this.opts.restoreMounts) this.restoreMounts();
  }

  private stopCommand(): { stopping: true; mounts: number } {
    const n = this.mounts.list().length;
    // Answer first, then go: the answer is written before the server closes its connections.
    setImmediate(() => void this.shutdown('stop command'));
    return { stopping: true, mounts: n };
  }

  /** Unmounts everything, removes the socket and pid file; idempotent. */
  shutdown(reason: string): Promise<void> {
    if (this.shutdownPromise) return this.shutdownPromise;
    this.shutdownPromise = (async () => {
      this.log.info(`shutting down (${reason})`);
      sdNotify({ STOPPING: 1, STATUS: `stopping: ${reason}` });
      let code = 0;
      const hardStop = setTimeout(() => {
        this.log.error('shutdown took over 30 s; exiting anyway');
        this.finish(1);
      }, 30000);
      hardStop.unref();
      try {
        // No new connections; the ones open may still get their answers.
        const closing = this.server?.close(100);
        await this.services.stopAll(reason);
        await closing;
      } catch (e) {
        code = 1;
        this.log.error(`shutdown: ${(e as Error).message}`);
      }
      clearTimeout(hardStop);
      this.finish(code);
    })();
    return this.shutdownPromise;
  }

  private finish(code: number): void {
    if (this.finished) return;
    this.finished = true;
    try { fs.rmSync(this.paths.socket, { force: true }); } catch { /* ignore */ }
    if (this.ownsPidFile) { try { releasePidFile(this.paths.pidFile); } catch { /* ignore */ } this.ownsPidFile = false; }
    for (const [sig, h] of this.signalHandlers) process.removeListener(sig, h);
    if (this.keepAlive) clearInterval(this.keepAlive);
    this.log.info(`node ${this.node} stopped`);
    this.log.close();
    this.opts.onExit?.(code);
  }
}

