// The lock manager of a node daemon (a Service of src/common/service.ts).
//
// Every node daemon runs one engine (`engine`, a Dlm) and serves its local processes on
// <run>/<node>/dlm.sock. With a cluster configuration naming this node (cluster-config.ts) the
// node joins the cluster's lock space over TCP:
//   - the master (the configuration's `master`, see placement.ts) serves every resource with its
//     engine: local clients directly, the other nodes' clients through their nodes' links;
//   - another node forwards its clients' requests to the master and their answers back, unchanged,
//     and answers DLM_ENOSYS at once while it has no link to the master.
// A node that dies or is cut off (connection closed, or heartbeats missed) loses its locks on the
// master (engine.nodeDied: value blocks it held in PW/EX become invalid); its clients are told with
// a RESET message (pending requests end with DLM_ENOSYS). A link coming back is a new session: the
// master forgot everything of the old one, so nothing is granted twice and nothing stays granted to
// a process that was told otherwise.
//
// Control commands: `dlm.locks` (the lock space's dump, for `dmapifs locks`).
import * as fs from 'fs';
import * as path from 'path';
import type { Logger } from '../../common/log';
import type { CommandHandler, Service } from '../../common/service';
import { Dlm } from '../engine';
import type { DlmProcess } from '../process';
import { SystemScheduler } from '../scheduler';
import type { DlmDump } from '../dump';
import { clusterConfigPath, findNode, keyFingerprint, keyFilePath, loadConfig, readKey, type ClusterConfig } from './cluster-config';
import { Dispatcher } from './dispatcher';
import { Forwarder } from './forwarder';
import { LocalServer } from './local-server';
import { LocalSessions } from './local-sessions';
import { homeOf } from './placement';
import { RemoteSessions } from './remote-sessions';
import { ClusterTransport } from './transport';
import { sameProcessAlive } from './procfs';

export interface DlmServiceOptions {
  node: string;
  /** The node's run directory (<run>/<node>). */
  runDir: string;
  log: Logger;
  /** Cluster configuration file (default: $DMAPIFS_CLUSTER_CONFIG or /etc/dmapifs/cluster.json). */
  configPath?: string;
  /** Most locks the engine holds at once (default 1,000,000). */
  maxLocks?: number;
}

/** What `dlm.locks` answers. */
export interface LocksAnswer {
  node: string;
  master: string;
  mode: 'standalone' | 'master' | 'member';
  /** Node numbers of the dump → names. */
  nodes: Record<string, string>;
  dump: DlmDump;
}

export class DlmService implements Service {
  readonly name = 'dlm';
  /** This node's lock manager engine (the cluster's lock space when this node is the master). */
  readonly engine: Dlm;
  readonly commands: Record<string, CommandHandler>;
  readonly socketPath: string;
  private readonly scheduler = new SystemScheduler();
  private readonly dispatcher: Dispatcher;
  private readonly log: Logger;
  private local: LocalServer | null = null;
  private localSessions: LocalSessions | null = null;
  private cfg: ClusterConfig | null = null;
  private transport: ClusterTransport | null = null;
  private remote: RemoteSessions | null = null;
  private forwarder: Forwarder | null = null;
  private mode: 'standalone' | 'master' | 'member' = 'standalone';
  private masterNode: string;
  private selfId = 0;
  private keyPrint: string | null = null;

  constructor(private readonly opts: DlmServiceOptions) {
    this.log = opts.log;
    this.masterNode = opts.node;
    this.socketPath = path.join(opts.runDir, 'dlm.sock');
    this.engine = new Dlm({
      scheduler: this.scheduler,
      maxLocks: opts.maxLocks ?? 1_000_000,
      hooks: {
        // Notifications go out at once, in the order the engine made them (before the answer of the
        // request that caused them): the client then never hears of a lock after it was told it is gone.
        signal: (proc) => {
          if (this.dispatcher.hasSessions(proc)) {
            // A client's routines only write messages: safe to run now.
            this.notifySafely(proc);
          } else {
            // A process of another service of this daemon (the engine's default: deferred).
            setImmediate(() => {
              const rec = proc.record;
              if (proc.alive && rec.signal !== 0 && rec.signalRaised) this.notifySafely(proc);
            });
          }
        },
        kill: (procs, reason) => this.kill(procs, reason),
      },
    });
    this.dispatcher = new Dispatcher(this.engine, this.log);
    this.commands = {
      'dlm.locks': () => this.locks(),
    };
  }

  /** Delivers a process' notifications; a routine that throws is logged, not propagated. */
  private notifySafely(proc: DlmProcess): void {
    try {
      proc.notify();
    } catch (e) {
      this.log.warn(`dlm: a notification routine of pid ${proc.pid} threw: ${(e as Error)?.stack ?? e}`);
    }
  }

  async start(): Promise<void> {
    const file = this.opts.configPath ?? clusterConfigPath();
    const cfg = loadConfig(file);
    const me = cfg ? findNode(cfg, this.opts.node) : undefined;
    if (cfg && me) {
      const key = readKey(keyFilePath(cfg, file));
      this.cfg = cfg;
      this.selfId = me.id;
      this.keyPrint = keyFingerprint(key);
      this.masterNode = homeOf(cfg, this.opts.node);
      this.mode = this.masterNode === this.opts.node ? 'master' : 'member';
      this.transport = new ClusterTransport(cfg, me, key, this.log);
    } else if (cfg) {
      this.log.info(`dlm: node ${this.opts.node} is not in cluster configuration ${file}: running as a cluster of its own`);
    }

    // Any local user may reach dlm.sock, so the node directory must let them through (not list).
    try { fs.chmodSync(this.opts.runDir, 0o711); } catch (e) { this.log.warn(`dlm: chmod ${this.opts.runDir}: ${(e as Error).message}`); }
    let backend;
    if (this.mode === 'member') {
      this.forwarder = new Forwarder(this.transport!, this.masterNode, this.log);
      backend = this.forwarder;
    } else {
      this.localSessions = new LocalSessions(this.dispatcher, this.selfId, (c, why) => this.local?.drop(c, why));
      backend = this.localSessions;
    }
    this.local = new LocalServer(this.socketPath, backend, this.log);
    await this.local.listen();
    if (this.forwarder) this.forwarder.attach(this.local);
    if (this.transport) {
      if (this.mode === 'master') this.remote = new RemoteSessions(this.transport, this.dispatcher, this.engine, this.log);
      await this.transport.start(this.mode === 'member' ? this.masterNode : null);
    }
    this.log.info(`dlm: ${this.describe()}, socket ${this.socketPath}`);
  }

  private describe(): string {
    if (this.mode === 'standalone') return 'lock space of this node only';
    const cfg = this.cfg!;
    return `cluster "${cfg.name}" node ${this.opts.node} (id ${this.selfId}), ${this.mode === 'master' ? 'master of every resource' : `master ${this.masterNode}`}, heartbeat ${cfg.heartbeatMs} ms x ${cfg.missCount}, key ${this.keyPrint}`;
  }

  async stop(reason: string): Promise<void> {
    void reason;
    await this.local?.close();
    await this.transport?.stop();
    this.scheduler.dispose();
  }

  status(): unknown {
    return {
      socket: this.socketPath,
      mode: this.mode,
      master: this.masterNode,
      clients: this.local?.connections ?? 0,
      locks: this.engine.lockCount,
      cluster: this.cfg ? this.cfg.name : null,
      peers: this.transport ? this.transport.peerStatus() : [],
    };
  }

  /** Node numbers → names (0 is this node when it runs on its own). */
  private nodeNames(): Record<string, string> {
    const out: Record<string, string> = { [String(this.selfId)]: this.opts.node };
    for (const n of this.cfg?.nodes ?? []) out[String(n.id)] = n.name;
    return out;
  }

  private async locks(): Promise<LocksAnswer> {
    const base = { node: this.opts.node, master: this.masterNode, mode: this.mode, nodes: this.nodeNames() };
    if (this.mode !== 'member') return { ...base, dump: this.engine.dump() };
    const dump = await this.forwarder!.dump();
    return { ...base, dump };
  }

  /**
   * The engine's kill hook (DLM_GLC_FORCE, or the end of a DLM_GLC_OWNED container's creator): a
   * local process is killed if it is still the process that connected; another node's process by
   * its node. Returns the processes that could not be killed.
   */
  private kill(procs: readonly DlmProcess[], reason: string): DlmProcess[] {
    const failed: DlmProcess[] = [];
    for (const p of procs) {
      const sessions = this.dispatcher.sessionsOf(p);
      let done = false;
      for (const s of sessions) {
        if (p.node === this.selfId && this.localSessions) {
          const conn = s.ctx as import('./local-server').LocalConn;
          if (conn && sameProcessAlive(conn.cred.pid, conn.start)) {
            try {
              process.kill(conn.cred.pid, 'SIGKILL');
              done = true;
              this.log.info(`dlm: killed pid ${conn.cred.pid} (${reason})`);
            } catch (e) {
              this.log.warn(`dlm: cannot kill pid ${conn.cred.pid} (${reason}): ${(e as Error).message}`);
            }
          }
        } else if (this.remote && this.remote.kill(s, reason)) {
          done = true;
        }
        if (done) break;
      }
      if (!done) failed.push(p);
    }
    return failed;
  }
}

