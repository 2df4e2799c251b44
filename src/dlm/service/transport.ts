// The node-to-node transport: listens on this node's address and port from the cluster
// configuration, dials the node it needs (the master, for a member), keeps at most one live link
// per peer (a new authenticated link from a peer replaces, and so fences, its old one), and
// redials a lost link until the node stops.
import { EventEmitter } from 'events';
import * as net from 'net';
import type { Reader } from './codec';
import { configDigest, type ClusterConfig, type ClusterNode } from './cluster-config';
import { PeerLink, type LinkContext } from './peer-link';

export interface TransportEvents {
  peerUp: (link: PeerLink) => void;
  peerDown: (link: PeerLink, reason: string) => void;
  frame: (link: PeerLink, type: number, r: Reader, buf: Buffer, start: number, end: number) => void;
}

export class ClusterTransport extends EventEmitter {
  private server: net.Server | null = null;
  private readonly links = new Map<string, PeerLink>();
  private readonly pending = new Set<PeerLink>();
  private readonly ctx: LinkContext;
  /** The nodes this one dials (the master; with etcd, the members with a lower id), by name. */
  private readonly targets = new Map<string, { node: ClusterNode; timer: NodeJS.Timeout | null; dialing: PeerLink | null; connecting: boolean }>();
  private stopped = false;
  private readonly lastDown = new Map<string, { at: number; reason: string }>();
  /** When each repeated message was last logged (a peer retrying every heartbeat must not flood the log). */
  private readonly logged = new Map<string, number>();

  constructor(readonly cfg: ClusterConfig, readonly self: ClusterNode, key: Buffer, private readonly log: { info(m: string): void; warn(m: string): void }) {
    super();
    this.ctx = { cfg, self, key, digest: configDigest(cfg), log };
  }

  /** Listens, and dials `dialTo` (a node name) when given. */
  async start(dialTo: string | null): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const server = net.createServer((sock) => this.accept(sock));
      server.once('error', reject);
      server.listen(this.self.port, this.self.address, () => {
        server.removeListener('error', reject);
        server.on('error', (e) => this.log.warn(`dlm: cluster listener: ${e.message}`));
        this.server = server;
        resolve();
      });
    }).catch((e: NodeJS.ErrnoException) => {
      throw Object.assign(new Error(`dlm: cannot listen on ${this.self.address}:${this.self.port} for cluster ${this.cfg.name}: ${e.message}`), { code: e.code });
    });
    if (dialTo) this.setDialTargets([dialTo]);
  }

  /** Dials these nodes (and keeps their links up); links to nodes no longer listed are closed. */
  setDialTargets(names: string[]): void {
    for (const [name, t] of this.targets) {
      if (names.includes(name)) continue;
      this.targets.delete(name);
      if (t.timer) clearTimeout(t.timer);
      t.dialing?.close('no longer a member');
      this.links.get(name)?.close('no longer a member');
    }
    for (const name of names) {
      if (this.targets.has(name)) continue;
      const node = this.cfg.nodes.find((n) => n.name === name);
      if (!node) continue;
      this.targets.set(name, { node, timer: null, dialing: null, connecting: false });
      if (!this.link(name)) this.dial(name);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.targets.values()) {
      if (t.timer) clearTimeout(t.timer);
      t.dialing?.close('node stopping');
    }
    for (const l of [...this.links.values(), ...this.pending]) l.close('node stopping');
    const server = this.server;
    if (server) await Promise.race([new Promise<void>((r) => server.close(() => r())), new Promise((r) => setTimeout(r, 500).unref())]);
  }

  /** The live link to a node, if any. */
  link(name: string): PeerLink | null {
    const l = this.links.get(name);
    return l && l.state === 'up' ? l : null;
  }

  peerStatus(): unknown[] {
    const out: unknown[] = [];
    for (const n of this.cfg.nodes) {
      if (n.name === this.self.name) continue;
      const l = this.link(n.name);
      const down = this.lastDown.get(n.name);
      out.push({ node: n.name, id: n.id, address: `${n.address}:${n.port}`, up: l !== null, ...(l ? { role: l.role } : down ? { lastDown: down.reason } : {}) });
    }
    return out;
  }

  private accept(sock: net.Socket): void {
    if (this.stopped) { sock.destroy(); return; }
    const link = new PeerLink(sock, 'acceptor', this.ctx, null);
    this.track(link);
  }

  private track(link: PeerLink): void {
    this.pending.add(link);
    link.on('up', () => {
      this.pending.delete(link);
      const name = link.peer!.name;
      const old = this.links.get(name);
      if (old && old !== link) old.close(`replaced by a new connection from node ${name}`);
      this.links.set(name, link);
      this.log.info(`dlm: link to node ${name} up (${link.role === 'acceptor' ? 'from' : 'to'} ${link.remote})`);
      this.emit('peerUp', link);
    });
    link.on('frame', (type: number, r: Reader, buf: Buffer, s: number, e: number) => this.emit('frame', link, type, r, buf, s, e));
    link.on('down', (reason: string, wasUp: boolean) => {
      this.pending.delete(link);
      if (wasUp) {
        const name = link.peer!.name;
        if (this.links.get(name) === link) this.links.delete(name);
        this.lastDown.set(name, { at: Date.now(), reason });
        this.log.warn(`dlm: link to node ${name} down: ${reason}`);
        this.emit('peerDown', link, reason);
      } else if (link.role === 'acceptor') {
        this.warnOnce(`in ${link.sock.remoteAddress} ${reason.replace(/:\d+/g, '')}`, `dlm: refused cluster connection from ${link.remote}: ${reason}`);
      } else {
        this.warnOnce(`out ${reason.replace(/:\d+/g, '')}`, `dlm: cannot join node ${link.peerName} at ${link.remote}: ${reason}`);
      }
      for (const [name, t] of this.targets) {
        if (t.dialing !== link) continue;
        t.dialing = null;
        this.scheduleDial(name);
      }
    });
  }

  /** Logs a warning, unless the same one (by `key`) was logged in the last minute. */
  private warnOnce(key: string, msg: string): void {
    const now = Date.now();
    const last = this.logged.get(key);
    if (last !== undefined && now - last < 60000) return;
    if (this.logged.size > 1000) this.logged.clear();
    this.logged.set(key, now);
    this.log.warn(msg);
  }

  private dial(name: string): void {
    const t = this.targets.get(name);
    if (this.stopped || !t || t.dialing || t.connecting) return;
    const n = t.node;
    t.connecting = true;
    const sock = net.createConnection({ host: n.address, port: n.port });
    const onError = (e: NodeJS.ErrnoException) => {
      sock.destroy();
      t.connecting = false;
      this.warnOnce(`dial ${n.name} ${e.code ?? e.message}`, `dlm: cannot reach node ${n.name} at ${n.address}:${n.port}: ${e.code ?? e.message} (retrying)`);
      this.scheduleDial(name);
    };
    sock.once('error', onError);
    sock.once('connect', () => {
      sock.removeListener('error', onError);
      t.connecting = false;
      if (this.targets.get(name) !== t) { sock.destroy(); return; }
      const link = new PeerLink(sock, 'connector', this.ctx, n);
      t.dialing = link;
      this.track(link);
    });
  }

  private scheduleDial(name: string): void {
    const t = this.targets.get(name);
    if (this.stopped || !t || t.timer) return;
    const delay = Math.min(1000, Math.max(50, this.cfg.heartbeatMs));
    t.timer = setTimeout(() => {
      t.timer = null;
      if (this.link(name) === null) this.dial(name);
    }, delay);
    t.timer.unref();
  }
}
