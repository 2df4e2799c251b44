// One authenticated TCP connection between two nodes: the handshake (auth.ts), heartbeats, and
// frames in both directions (peer-protocol.ts). A link is up once both sides proved the key; it is
// down for good once closed, for any reason (the peer's close, missed heartbeats, a protocol error):
// a node reconnecting makes a new link, a new session.
import { EventEmitter } from 'events';
import * as net from 'net';
import { FrameDecoder, MAX_PEER_FRAME, Reader, Writer } from './codec';
import { acceptorMac, connectorMac, macEqual, nonce, type HandshakeParams } from './auth';
import type { ClusterConfig, ClusterNode } from './cluster-config';
import { MAC_BYTES, MAX_HANDSHAKE_FRAME, NONCE_BYTES, P, PEER_VERSION } from './peer-protocol';

export interface LinkContext {
  cfg: ClusterConfig;
  self: ClusterNode;
  key: Buffer;
  digest: string;
  log: { info(m: string): void; warn(m: string): void };
}

let epochs = 0;

export class PeerLink extends EventEmitter {
  state: 'handshake' | 'up' | 'closed' = 'handshake';
  /** The authenticated peer (known once up; for a connector, the node it dialed). */
  peer: ClusterNode | null;
  /** Unique per link: what a member registered on one link means nothing on the next. */
  readonly epoch = ++epochs;
  readonly remote: string;
  private readonly out = new Writer(4096);
  private flushQueued = false;
  private readonly decoder: FrameDecoder;
  private readonly reader = new Reader();
  private myNonce = nonce();
  private peerNonce: Uint8Array | null = null;
  private lastRx = Date.now();
  private hbTimer: NodeJS.Timeout | null = null;
  private hsTimer: NodeJS.Timeout | null = null;
  closeReason = '';

  constructor(
    readonly sock: net.Socket,
    readonly role: 'acceptor' | 'connector',
    private readonly ctx: LinkContext,
    dialed: ClusterNode | null,
  ) {
    super();
    this.peer = dialed;
    this.remote = `${sock.remoteAddress ?? '?'}:${sock.remotePort ?? '?'}`;
    sock.setNoDelay(true);
    this.decoder = new FrameDecoder(
      MAX_HANDSHAKE_FRAME,
      (buf, s, e) => this.onFrame(buf, s, e),
      (len) => this.fail(`frame of ${len} bytes over the limit${this.state === 'handshake' ? ' during the handshake' : ''}`),
      (why) => this.fail(`malformed frame: ${why}`),
    );
    sock.on('data', (c: Buffer) => {
      this.lastRx = Date.now();
      try {
        this.decoder.push(c);
      } catch (e) {
        this.fail(`bad input: ${(e as Error).message}`);
      }
    });
    sock.on('error', (e) => this.close(`connection error: ${e.message}`));
    sock.on('close', () => this.close('connection closed by the peer'));
    const cfg = ctx.cfg;
    this.hsTimer = setTimeout(() => this.fail('handshake timed out'), Math.max(5000, cfg.heartbeatMs * cfg.missCount));
    this.hsTimer.unref();
    if (role === 'acceptor') {
      const w = this.begin(P.HELLO);
      w.u8(PEER_VERSION).bytes(this.myNonce);
      this.end();
    }
  }

  get peerName(): string {
    return this.peer?.name ?? `(unauthenticated ${this.remote})`;
  }

  /** Starts a frame; finish with end(). */
  begin(type: number): Writer {
    return this.out.begin(type);
  }

  end(): void {
    this.out.end(MAX_PEER_FRAME);
    if (!this.flushQueued) {
      this.flushQueued = true;
      process.nextTick(() => this.flush());
    }
  }

  private flush(): void {
    this.flushQueued = false;
    if (this.out.length === 0) return;
    if (this.state === 'closed' || this.sock.destroyed) {
      this.out.pos = 0;
      return;
    }
    this.sock.write(this.out.take());
  }

  /** Ends the link (logged by the owner through 'down'). */
  close(reason: string): void {
    if (this.state === 'closed') return;
    const wasUp = this.state === 'up';
    // What is queued (a REFUSE saying why) still goes out, then nothing more.
    this.flush();
    this.state = 'closed';
    this.closeReason = reason;
    if (this.hbTimer) clearInterval(this.hbTimer);
    if (this.hsTimer) clearTimeout(this.hsTimer);
    this.decoder.stop();
    this.sock.end();
    setTimeout(() => this.sock.destroy(), 200).unref();
    this.emit('down', reason, wasUp);
  }

  /**
   * A protocol violation: refuse, then close. The reason is logged here; the peer is told it once
   * it has proved the key, else only `told` (which must name nothing of this node or cluster).
   */
  private fail(reason: string, told = this.peerProved ? reason : 'handshake refused'): void {
    if (this.state === 'closed') return;
    try {
      this.begin(P.REFUSE).str(told.slice(0, 200));
      this.end();
    } catch { /* closing anyway */ }
    this.close(reason);
  }

  /** Set once the peer proved the cluster key (its MAC checked). */
  private peerProved = false;

  /** The configurations differ: the reason, naming both (told only to a proven peer). */
  private configDiffers(cluster: string, digest: string): string | null {
    const { cfg } = this.ctx;
    if (cluster === cfg.name && digest === this.ctx.digest) return null;
    return `cluster configuration differs (theirs: ${cluster}/${digest}, ours: ${cfg.name}/${this.ctx.digest})`;
  }

  private params(acceptor: string, connector: string): HandshakeParams {
    const mine = this.myNonce;
    const theirs = this.peerNonce!;
    return {
      acceptor,
      connector,
      acceptorNonce: this.role === 'acceptor' ? mine : theirs,
      connectorNonce: this.role === 'acceptor' ? theirs : mine,
    };
  }

  private up(): void {
    this.state = 'up';
    if (this.hsTimer) clearTimeout(this.hsTimer);
    this.decoder.maxFrame = MAX_PEER_FRAME;
    const { heartbeatMs, missCount } = this.ctx.cfg;
    this.lastRx = Date.now();
    let lastTick = this.lastRx;
    this.hbTimer = setInterval(() => {
      const now = Date.now();
      // After a stall of our own (timers run before pending input is read), what the peer sent
      // meanwhile is not read yet: judge the peer on the next tick, not on this one.
      const late = now - lastTick > heartbeatMs * 2;
      lastTick = now;
      if (!late && now - this.lastRx > heartbeatMs * missCount) {
        this.close(`no heartbeat for ${now - this.lastRx} ms (${missCount} x ${heartbeatMs} ms)`);
        return;
      }
      this.begin(P.PING).f64(Date.now());
      this.end();
    }, heartbeatMs);
    this.hbTimer.unref();
    this.emit('up');
  }

  private onFrame(buf: Buffer, start: number, end: number): void {
    if (this.state === 'closed') return;
    const r = this.reader.reset(buf, start, end);
    const type = r.u8();
    if (type === P.REFUSE) {
      let why = '';
      try { why = r.str(); } catch { why = '(unreadable reason)'; }
      this.close(`refused by the peer: ${why}`);
      return;
    }
    if (this.state === 'handshake') {
      try {
        this.handshake(type, r);
      } catch (e) {
        this.fail(`handshake failed: ${(e as Error).message}`);
      }
      return;
    }
    if (type === P.PING) return;
    this.emit('frame', type, r, buf, start, end);
  }

  private handshake(type: number, r: Reader): void {
    const { cfg, self, key, digest } = this.ctx;
    if (this.role === 'connector') {
      if (type === P.HELLO && this.peerNonce === null) {
        const ver = r.u8();
        if (ver !== PEER_VERSION) return this.fail(`protocol version ${ver} is not ${PEER_VERSION}`);
        this.peerNonce = r.bytes(NONCE_BYTES);
        r.done();
        if (!this.peer) return this.fail('a connector must know the node it dialed');
        const w = this.begin(P.AUTH);
        w.str(self.name).bytes(this.myNonce).bytes(connectorMac(key, this.params(this.peer.name, self.name)));
        this.end();
        return;
      }
      if (type === P.AUTH_OK && this.peerNonce !== null) {
        const m = r.bytes(MAC_BYTES);
        const cluster = r.str(255);
        const theirDigest = r.str(255);
        r.done();
        if (!macEqual(m, acceptorMac(key, this.params(this.peer!.name, self.name)))) {
          return this.fail(`node ${this.peer!.name} did not prove the cluster key`, 'bad cluster key');
        }
        this.peerProved = true;
        const differs = this.configDiffers(cluster, theirDigest);
        if (differs) return this.fail(differs);
        this.begin(P.CONFIRM).str(cfg.name).str(digest);
        this.end();
        return this.up();
      }
      return this.fail(`unexpected message ${type} during the handshake`);
    }
    // acceptor
    if (type === P.CONFIRM && this.peerProved) {
      const cluster = r.str(255);
      const theirDigest = r.str(255);
      r.done();
      const differs = this.configDiffers(cluster, theirDigest);
      if (differs) return this.fail(differs);
      return this.up();
    }
    if (type !== P.AUTH || this.peerNonce !== null) return this.fail(`unexpected message ${type} during the handshake`);
    const name = r.str(255);
    this.peerNonce = r.bytes(NONCE_BYTES);
    const m = r.bytes(MAC_BYTES);
    r.done();
    const node = cfg.nodes.find((n) => n.name === name);
    // Unauthenticated: the reason is logged, the peer learns nothing (not even the cluster's name).
    if (!node || node.name === self.name) {
      return this.fail(`${JSON.stringify(name)} from ${this.remote} is not another node of cluster ${cfg.name}`, `${JSON.stringify(name)} is not another node of this cluster`);
    }
    if (!macEqual(m, connectorMac(key, this.params(self.name, name)))) {
      return this.fail(`bad cluster key from ${this.remote} claiming to be node ${name}`, 'bad cluster key');
    }
    this.peer = node;
    this.peerProved = true;
    const w = this.begin(P.AUTH_OK);
    w.bytes(acceptorMac(key, this.params(self.name, name))).str(cfg.name).str(digest);
    this.end();
  }
}
