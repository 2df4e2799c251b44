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
// With an "etcd" section in the configuration (membership.ts) there is no single master: members
// come from etcd, each masters the resources the directory gives it (directory.ts, router.ts,
// master-sessions.ts), and the survivors rebuild a departed member's resources; a node that cannot
// renew its etcd lease fences itself ('fenced' event, isFenced()): its clients are reset and the
// daemon's mounts refuse I/O until it has rejoined as a new member.
//
// Control commands: `dlm.locks` (the lock space's dump, for `dmapifs locks`), `dlm.cluster`
// (members, epoch, quorum, resources mastered per member, for `dmapifs cluster status`).
import { EventEmitter } from 'events';
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
import { EtcdMembership, type EpochChange } from './membership';
import { Mesh } from './mesh';
import { Router } from './router';
import { MasterSessions } from './master-sessions';
import { P } from './peer-protocol';
import { Reader } from './codec';
import type { DumpNamespace, DumpProcess } from '../dump';

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
  mode: 'standalone' | 'master' | 'member' | 'etcd';
  /** With etcd: the members whose dumps are merged in, and those that did not answer. */
  members?: string[];
  missing?: string[];
  /** Node numbers of the dump → names. */
  nodes: Record<string, string>;
  dump: DlmDump;
}

/** What `dlm.cluster` answers. */
export interface ClusterStatus {
  node: string;
  cluster: string | null;
  mode: 'standalone' | 'master' | 'member' | 'etcd';
  state: string;
  epoch: number;
  quorum: boolean;
  etcd: string[];
  leaseTtlSec: number | null;
  /** ms until this node fences itself unless it renews its lease. */
  fenceInMs: number | null;
  lastFence: string | null;
  members: { name: string; id: number; incarnation: string; address: string; resources: number | null; locks: number | null }[];
  lastRecovery: unknown;
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
  private mode: 'standalone' | 'master' | 'member' | 'etcd' = 'standalone';
  private membership: EtcdMembership | null = null;
  private router: Router | null = null;
  private masters: MasterSessions | null = null;
  private mesh: Mesh | null = null;
  private leaseTimer: NodeJS.Timeout | null = null;
  private lastLeaseSent = 0;
  /** 'fenced' (reason) and 'rejoined' (epoch): for the daemon's mounts and other services. */
  readonly events = new EventEmitter();
  private masterNode: string;
  private selfId = 0;
  private keyPrint: string | null = null;

  constructor(private readonly opts: DlmServiceOptions) {
    this.log = opts.log;
    this.masterNode = opts.node;
    this.socketPath = path.join(opts.runDir, 'dlm.sock');
    this.engine = new Dlm({
      scheduler: this.scheduler,
      // A lock id names one lock across the cluster (re-mastering keeps it): each node its range.
      lockSeqBase: this.nodeIdFromConfig() * 2 ** 37,
      lockHndlBase: (this.nodeIdFromConfig() & 0xfff) * 2 ** 20,
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
      'dlm.cluster': () => this.clusterStatus(),
    };
  }

  private nodeIdFromConfig(): number {
    try {
      const cfg = loadConfig(this.opts.configPath ?? clusterConfigPath());
      return (cfg && findNode(cfg, this.opts.node)?.id) || 0;
    } catch {
      return 0;
    }
  }

  /**
   * Whether this node is out of the lock space (etcd mode: not a member, or its lease could have
   * expired): its mounts must refuse I/O. Always false without etcd.
   */
  isFenced(): boolean {
    if (!this.membership) return false;
    return this.membership.checkFenced();
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
      this.transport = new ClusterTransport(cfg, me, key, this.log);
      if (cfg.etcd) {
        this.mode = 'etcd';
        this.masterNode = '';
      } else {
        this.masterNode = homeOf(cfg, this.opts.node);
        this.mode = this.masterNode === this.opts.node ? 'master' : 'member';
      }
    } else if (cfg) {
      this.log.info(`dlm: node ${this.opts.node} is not in cluster configuration ${file}: running as a cluster of its own`);
    }

    // Any local user may reach dlm.sock, so the node directory must let them through (not list).
    try { fs.chmodSync(this.opts.runDir, 0o711); } catch (e) { this.log.warn(`dlm: chmod ${this.opts.runDir}: ${(e as Error).message}`); }
    let backend;
    if (this.mode === 'etcd') {
      backend = this.startEtcdMode();
    } else if (this.mode === 'member') {
      this.forwarder = new Forwarder(this.transport!, this.masterNode, this.log);
      backend = this.forwarder;
    } else {
      this.localSessions = new LocalSessions(this.dispatcher, this.selfId, (c, why) => this.local?.drop(c, why));
      backend = this.localSessions;
    }
    this.local = new LocalServer(this.socketPath, backend, this.log);
    await this.local.listen();
    if (this.forwarder) this.forwarder.attach(this.local);
    if (this.router) this.router.attach(this.local);
    if (this.transport) {
      if (this.mode === 'master') this.remote = new RemoteSessions(this.transport, this.dispatcher, this.engine, this.log);
      await this.transport.start(this.mode === 'member' ? this.masterNode : null);
    }
    if (this.membership) void this.membership.start();
    this.log.info(`dlm: ${this.describe()}, socket ${this.socketPath}`);
  }

  /** Membership from etcd: the router is the local backend, the mesh carries both sides. */
  private startEtcdMode(): Router {
    const cfg = this.cfg!;
    const e = cfg.etcd!;
    const self = findNode(cfg, this.opts.node)!;
    const mesh = new Mesh(this.opts.node, this.transport!);
    const membership = new EtcdMembership({
      endpoints: e.endpoints,
      prefix: `/dmapifs/${cfg.name}`,
      self: { name: self.name, id: self.id, address: self.address, port: self.port },
      ttlSec: e.leaseTtl,
      marginMs: e.fenceMarginMs,
      log: this.log,
    });
    const router = new Router(mesh, this.opts.node, () => membership.checkFenced(), this.log);
    const masters = new MasterSessions(mesh, this.opts.node, this.dispatcher, this.engine, this.log);
    this.mesh = mesh;
    this.membership = membership;
    this.router = router;
    this.masters = masters;
    const toRouter = new Set<number>([P.BACK, P.KILL, P.MARK_ACK, P.READY, P.DUMP_REPLY]);
    // Frames that come while this node joins (a member saw its registration first) wait for its
    // first epoch; while it is fenced they mean nothing.
    let early: { from: string; buf: Buffer; start: number; end: number }[] = [];
    mesh.onFrame((from, type, r, buf, s, end) => {
      if (membership.state === 'joining' && early.length < 10000) {
        early.push({ from, buf: Buffer.from(buf.subarray(s, end)), start: 0, end: end - s });
        return;
      }
      if (membership.checkFenced()) return;
      try {
        if (toRouter.has(type)) router.onFrame(from, type, r, buf, end);
        else masters.onFrame(from, type, r, buf, s, end);
      } catch (err) {
        this.log.warn(`dlm: bad message ${type} from node ${from}: ${(err as Error)?.stack ?? err}`);
        if (from !== this.opts.node) this.transport!.link(from)?.close(`protocol error: ${(err as Error).message}`);
      }
    });
    this.transport!.on('frame', (link: import('./peer-link').PeerLink, type: number, r: import('./codec').Reader, buf: Buffer, s: number, end: number) => {
      const from = link.peer!.name;
      if (!membership.members.some((m) => m.name === from)) return;
      mesh.receive(from, type, r, buf, s, end);
    });
    // A link between two members lost while etcd keeps both: what was in flight on it is lost, and
    // only etcd can tell a dead peer from a cut link. After a lease's time, if the peer is still the
    // same member, the link alone failed: the member with the higher id leaves and rejoins (its
    // clients are reset, the other side recovers), so that the two never go on out of step.
    this.transport!.on('peerDown', (link: import('./peer-link').PeerLink, reason: string) => {
      const peer = membership.members.find((m) => m.name === link.peer?.name);
      if (!peer || membership.state !== 'member') return;
      const wait = e.leaseTtl * 1000 + e.fenceMarginMs + 500;
      const t = setTimeout(() => {
        const still = membership.members.find((m) => m.name === peer.name);
        if (!still || still.incarnation !== peer.incarnation || membership.state !== 'member') return;
        if (self.id > peer.id) membership.fenceNow(`the link to member ${peer.name} failed (${reason}) while etcd kept both`);
        else this.log.warn(`dlm: the link to member ${peer.name} failed (${reason}) while etcd kept both: it leaves and rejoins`);
      }, wait);
      t.unref();
    });
    membership.on('epoch', (c: EpochChange) => {
      // Links: every member dials the members with a lower id (one link per pair).
      this.transport!.setDialTargets(c.members.filter((m) => m.id < self.id).map((m) => m.name));
      const rejoined = c.joined.some((m) => m.name === this.opts.node);
      masters.epochChanged(c.epoch, c.members);
      router.epochChanged(c.epoch, c.members);
      const waiting = early;
      early = [];
      for (const f of waiting) {
        const rd = new Reader().reset(f.buf, 0, f.end);
        mesh.receive(f.from, rd.u8(), rd, f.buf, 0, f.end);
      }
      this.sendLeases(true);
      if (rejoined) this.events.emit('rejoined', c.epoch);
    });
    membership.on('fenced', (reason: string) => {
      early = [];
      router.down(`this node was fenced: ${reason}`);
      masters.fenced();
      this.transport!.setDialTargets([]);
      this.events.emit('fenced', reason);
    });
    // Clients learn until when their locks stand (client.ts fails them itself past that time, even
    // if this daemon is stopped and cannot tell them).
    this.leaseTimer = setInterval(() => this.sendLeases(false), 100);
    this.leaseTimer.unref();
    return router;
  }

  private sendLeases(force: boolean): void {
    const m = this.membership;
    if (!m || m.state !== 'member' || !this.router || this.router.state === 'down') return;
    if (!force && m.deadline === this.lastLeaseSent) return;
    this.lastLeaseSent = m.deadline;
    this.router.sendLease(m.deadline);
  }

  private describe(): string {
    if (this.mode === 'standalone') return 'lock space of this node only';
    const cfg = this.cfg!;
    if (this.mode === 'etcd') {
      return `cluster "${cfg.name}" node ${this.opts.node} (id ${this.selfId}), membership from etcd ${cfg.etcd!.endpoints.join(',')} (lease ${cfg.etcd!.leaseTtl} s, fencing ${cfg.etcd!.fenceMarginMs} ms before), key ${this.keyPrint}`;
    }
    return `cluster "${cfg.name}" node ${this.opts.node} (id ${this.selfId}), ${this.mode === 'master' ? 'master of every resource' : `master ${this.masterNode}`}, heartbeat ${cfg.heartbeatMs} ms x ${cfg.missCount}, key ${this.keyPrint}`;
  }

  async stop(reason: string): Promise<void> {
    void reason;
    if (this.leaseTimer) clearInterval(this.leaseTimer);
    if (this.membership) {
      // Clients first, then the lease: the survivors recover at once, and nothing is held twice.
      this.router?.down('the node daemon is stopping');
      this.masters?.fenced();
      await this.membership.stop();
    }
    await this.local?.close();
    await this.transport?.stop();
    this.scheduler.dispose();
  }

  status(): unknown {
    return {
      socket: this.socketPath,
      mode: this.mode,
      ...(this.membership ? { state: this.membership.state, epoch: this.membership.epoch, members: this.membership.members.map((m) => m.name), fenced: this.isFenced() } : {}),
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
    if (this.mode === 'etcd') {
      if (this.isFenced()) throw Object.assign(new Error(`node ${this.opts.node} is not a member of the lock space (${this.membership!.lastFence || this.membership!.state})`), { code: 'EHOSTUNREACH' });
      const dumps = await this.router!.dumpAll();
      const members = this.membership!.members.map((m) => m.name);
      return { ...base, members: dumps.map((d) => d.node), missing: members.filter((n) => !dumps.some((d) => d.node === n)), dump: mergeDumps(dumps) };
    }
    if (this.mode !== 'member') return { ...base, dump: this.engine.dump() };
    const dump = await this.forwarder!.dump();
    return { ...base, dump };
  }

  private async clusterStatus(): Promise<ClusterStatus> {
    const m = this.membership;
    const base = { node: this.opts.node, cluster: this.cfg?.name ?? null, mode: this.mode };
    if (!m) {
      const members = this.cfg ? this.cfg.nodes.map((n) => ({ name: n.name, id: n.id, incarnation: '', address: `${n.address}:${n.port}`, resources: null, locks: null })) : [];
      return { ...base, state: this.mode, epoch: 0, quorum: this.mode === 'standalone', etcd: [], leaseTtlSec: null, fenceInMs: null, lastFence: null, members, lastRecovery: null };
    }
    const fenced = this.isFenced();
    const dumps = fenced ? [] : await this.router!.dumpAll(3000);
    const members = m.members.map((x) => {
      const d = dumps.find((y) => y.node === x.name)?.dump;
      return {
        name: x.name, id: x.id, incarnation: x.incarnation, address: `${x.address}:${x.port}`,
        resources: d ? d.namespaces.reduce((a, ns) => a + ns.resources.length, 0) : null,
        locks: d ? d.locks : null,
      };
    });
    return {
      ...base, state: m.state, epoch: m.epoch, quorum: !fenced, etcd: this.cfg!.etcd!.endpoints, leaseTtlSec: this.cfg!.etcd!.leaseTtl,
      fenceInMs: fenced ? null : Math.max(0, m.deadline - Date.now()), lastFence: m.lastFence || null, members: fenced ? [] : members,
      lastRecovery: this.router!.lastRecovery,
    };
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


/** The members' dumps as one: namespaces merged by key, a process once with its locks summed. */
function mergeDumps(dumps: { node: string; dump: DlmDump }[]): DlmDump {
  const out: DlmDump = { enabled: true, locks: 0, processes: [], namespaces: [], glcs: [], domains: [] };
  const nss = new Map<string, DumpNamespace>();
  const procs = new Map<string, DumpProcess>();
  for (const { node, dump } of dumps) {
    out.locks += dump.locks;
    for (const ns of dump.namespaces) {
      let m = nss.get(ns.key);
      if (!m) {
        m = { ...ns, resources: [] };
        nss.set(ns.key, m);
        out.namespaces.push(m);
      }
      for (const r of ns.resources) m.resources.push({ ...r, master: node } as typeof r);
    }
    for (const p of dump.processes) {
      const k = `${p.node}:${p.pid}`;
      const cur = procs.get(k);
      if (cur) cur.locks += p.locks;
      else {
        const c = { ...p };
        procs.set(k, c);
        out.processes.push(c);
      }
    }
    out.glcs.push(...dump.glcs);
    out.domains.push(...dump.domains);
  }
  return out;
}
