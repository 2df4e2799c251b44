// Membership and quorum from etcd, the cluster engine the nodes share (as the Linux DLM takes them
// from corosync). Each node daemon registers under <prefix>/members/<node> with a lease of its own
// and watches the prefix: every change of the member set is an epoch, numbered by the etcd revision
// of the change, so every node sees the same epochs in the same order.
//
// Quorum is etcd's: a lease is granted and renewed only by a majority of the etcd cluster, so a node
// that can renew is on the side that keeps the lock space, and a node that cannot is out.
//
// Self-fencing. The survivors re-master a departed node's resources when etcd deletes its key,
// which happens no earlier than TTL after the last renewal etcd received. A renewal sent at t is
// received after t, so the lease cannot expire before t + TTL: a node whose last successful renewal
// was sent at t stops granting, fails its clients' locks (RESET) and makes its mounts refuse I/O at
// t + TTL - margin (`deadline`), before anyone else can be granted what it held. Every request path
// checks the deadline synchronously (checkFenced), because a process that was stopped (SIGSTOP, a VM
// pause) handles the input that waited before its timers run. A fenced node rejoins as a new member
// (a new lease: a new incarnation), with nothing of its old locks.
import { EventEmitter } from 'events';
import { Etcd3, type Lease, type Watcher } from 'etcd3';

export interface Member {
  name: string;
  id: number;
  address: string;
  port: number;
  /** The lease id of the registration: a node that rejoins is a new member. */
  incarnation: string;
}

export interface MembershipOptions {
  endpoints: string[];
  /** Key prefix (the cluster's name is part of it). */
  prefix: string;
  self: Omit<Member, 'incarnation'>;
  /** Lease time to live, seconds (etcd's unit). */
  ttlSec: number;
  /** How long before the lease could expire the node fences itself. */
  marginMs: number;
  log: { info(m: string): void; warn(m: string): void };
}

export type MembershipState = 'joining' | 'member' | 'fenced' | 'stopped';

export interface EpochChange {
  epoch: number;
  members: Member[];
  joined: Member[];
  left: Member[];
}

/**
 * Events: 'epoch' (EpochChange; the first one is this node's own registration), 'fenced' (reason),
 * 'state' (MembershipState).
 */
export class EtcdMembership extends EventEmitter {
  state: MembershipState = 'joining';
  epoch = 0;
  members: Member[] = [];
  incarnation = '';
  /** Until when this node may act on its locks (ms since the epoch, this machine's clock). */
  deadline = 0;
  /** When the lease was last renewed, and the reason of the last fencing. */
  lastRenew = 0;
  lastFence = '';
  epochChanges = 0;
  private client: Etcd3 | null = null;
  private lease: Lease | null = null;
  private watcher: Watcher | null = null;
  private renewTimer: NodeJS.Timeout | null = null;
  private checkTimer: NodeJS.Timeout | null = null;
  private rejoinTimer: NodeJS.Timeout | null = null;
  private registered = false;
  private gen = 0;

  constructor(private readonly opts: MembershipOptions) {
    super();
  }

  private get key(): string {
    return `${this.opts.prefix}/members/${this.opts.self.name}`;
  }

  /** Joins; resolves once registered (retries until then). */
  async start(): Promise<void> {
    for (;;) {
      if (this.state === 'stopped') return;
      try {
        await this.join();
        return;
      } catch (e) {
        this.opts.log.warn(`dlm: cannot join the cluster through etcd (${this.opts.endpoints.join(',')}): ${(e as Error).message}; retrying`);
        await this.teardown();
        await new Promise((r) => setTimeout(r, 1000).unref());
      }
    }
  }

  private async join(): Promise<void> {
    const gen = ++this.gen;
    this.setState('joining');
    const o = this.opts;
    const client = new Etcd3({ hosts: o.endpoints, dialTimeout: 2000 });
    this.client = client;
    const lease = client.lease(o.ttlSec, { autoKeepAlive: false });
    const sent = Date.now();
    const id = await lease.grant();
    if (gen !== this.gen) return;
    this.lease = lease;
    this.incarnation = id;
    this.deadline = sent + o.ttlSec * 1000 - o.marginMs;
    this.lastRenew = sent;
    // The snapshot first, the watch from the next revision, then the registration: its own PUT is
    // the first epoch this node takes part in, as for every other member.
    const snap = await client.getAll().prefix(`${o.prefix}/members/`).exec();
    if (gen !== this.gen) return;
    const known = new Map<string, Member>();
    for (const kv of snap.kvs) {
      const m = parseMember(kv.value);
      if (m) known.set(m.name, m);
    }
    this.members = sortMembers([...known.values()]);
    this.registered = false;
    this.lastRev = Number(snap.header.revision);
    await this.watch(gen, client);
    if (gen !== this.gen) return;
    const me: Member = { ...o.self, incarnation: id };
    await lease.put(this.key).value(JSON.stringify(me)).exec();
    if (gen !== this.gen) return;
    this.renewTimer = setInterval(() => this.renew(gen), Math.max(100, (o.ttlSec * 1000) / 4));
    this.checkTimer = setInterval(() => this.checkFenced(), 50);
    this.watchdogTimer = setInterval(() => this.checkWatch(gen), Math.max(500, (o.ttlSec * 1000) / 3));
    this.opts.log.info(`dlm: registered in etcd as ${this.key} (lease ${id}, ttl ${o.ttlSec} s, fencing ${o.marginMs} ms before it could expire)`);
  }

  /** The member watch, from the revision after the last one applied. */
  private async watch(gen: number, client: Etcd3): Promise<void> {
    const o = this.opts;
    const watcher = await client.watch().prefix(`${o.prefix}/members/`).startRevision(String(this.lastRev + 1)).create();
    if (gen !== this.gen) { void watcher.cancel().catch(() => undefined); return; }
    this.watcher = watcher;
    watcher.on('data', (res) => {
      if (gen !== this.gen || this.watcher !== watcher) return;
      for (const ev of res.events) {
        const rev = Number(ev.kv.mod_revision);
        if (rev <= this.lastRev) continue;
        this.lastRev = rev;
        this.apply(ev.type === 'Put' ? 'put' : 'delete', ev.kv.key.toString(), ev.kv.value, rev);
      }
    });
    watcher.on('disconnected', (e: Error) => o.log.warn(`dlm: etcd watch disconnected: ${e.message}`));
    watcher.on('error', (e: Error) => o.log.warn(`dlm: etcd watch: ${e.message}`));
  }

  private lastRev = 0;
  private watchdogTimer: NodeJS.Timeout | null = null;
  private stale = 0;
  private rewatching = false;

  /**
   * A watch stream on an etcd member that was cut off stays silent without an error: the member set
   * is read through every endpoint at once (the JSON gateway), and a watch that has not shown what
   * etcd holds on two checks in a row is made again on an endpoint that answered.
   */
  private checkWatch(gen: number): void {
    if (gen !== this.gen || this.state !== 'member' || this.rewatching) return;
    const prefix = `${this.opts.prefix}/members/`;
    const end = prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
    const body = JSON.stringify({ key: Buffer.from(prefix).toString('base64'), range_end: Buffer.from(end).toString('base64') });
    const timeout = Math.min(1000, (this.opts.ttlSec * 1000) / 4);
    let done = false;
    for (const url of this.opts.endpoints) {
      fetch(`${url}/v3/kv/range`, { method: 'POST', body, signal: AbortSignal.timeout(timeout) })
        .then((r) => r.json() as Promise<{ kvs?: { value: string }[]; header?: { revision?: string } }>)
        .then((res) => {
          if (done || gen !== this.gen || !res.header) return;
          done = true;
          const seen = new Set(this.members.map((m) => `${m.name}/${m.incarnation}`));
          const there = (res.kvs ?? []).map((kv) => parseMember(Buffer.from(kv.value, 'base64'))).filter((m): m is Member => m !== null);
          const same = there.length === seen.size && there.every((m) => seen.has(`${m.name}/${m.incarnation}`));
          if (same) { this.stale = 0; return; }
          if (++this.stale < 2) return;
          this.stale = 0;
          this.rewatch(gen, url);
        })
        .catch(() => undefined);
    }
  }

  private rewatch(gen: number, url: string): void {
    this.rewatching = true;
    this.opts.log.warn(`dlm: the etcd watch fell behind (revision ${this.lastRev}); watching again through ${url}`);
    const old = this.watcher;
    this.watcher = null;
    if (old) void old.cancel().catch(() => undefined);
    const client = new Etcd3({ hosts: [url], dialTimeout: 2000 });
    this.extraClients.push(client);
    this.watch(gen, client).catch((e: Error) => this.opts.log.warn(`dlm: etcd watch through ${url}: ${e.message}`)).finally(() => { this.rewatching = false; });
  }

  private extraClients: Etcd3[] = [];

  private apply(kind: 'put' | 'delete', key: string, value: Buffer, rev: number): void {
    const name = key.slice(key.lastIndexOf('/') + 1);
    const before = this.members;
    let joined: Member[] = [];
    let left: Member[] = [];
    const next = before.filter((m) => m.name !== name);
    const old = before.find((m) => m.name === name);
    if (kind === 'put') {
      const m = parseMember(value);
      if (!m) return;
      if (old && old.incarnation === m.incarnation) return;
      if (old) left = [old];
      joined = [m];
      next.push(m);
    } else {
      if (!old) return;
      left = [old];
    }
    this.members = sortMembers(next);
    if (!this.registered) {
      if (kind === 'put' && name === this.opts.self.name && joined[0]?.incarnation === this.incarnation) {
        this.registered = true;
        this.epoch = rev;
        this.setState('member');
        this.emitEpoch({ epoch: rev, members: this.members, joined, left });
      }
      return;
    }
    if (left.some((m) => m.name === this.opts.self.name && m.incarnation === this.incarnation)) {
      this.fence(`etcd removed this node's registration (revision ${rev})`);
      return;
    }
    this.epoch = rev;
    this.emitEpoch({ epoch: rev, members: this.members, joined, left });
  }

  private emitEpoch(c: EpochChange): void {
    this.epochChanges++;
    this.opts.log.info(`dlm: epoch ${c.epoch}: members ${c.members.map((m) => `${m.name}(${m.id})`).join(', ')}${c.joined.length ? `; joined ${c.joined.map((m) => m.name).join(', ')}` : ''}${c.left.length ? `; left ${c.left.map((m) => m.name).join(', ')}` : ''}`);
    this.emit('epoch', c);
  }

  /**
   * Renews the lease through every endpoint at once (etcd's JSON gateway, /v3/lease/keepalive): a
   * member that died (the leader, say) must not hold the renewal up while a connection to it times
   * out; any member forwards the renewal to the leader, and one answer is enough.
   */
  private renew(gen: number): void {
    if (!this.lease || gen !== this.gen || this.state === 'fenced' || this.state === 'stopped') return;
    const sent = Date.now();
    const timeout = Math.min(1000, (this.opts.ttlSec * 1000) / 4);
    const body = JSON.stringify({ ID: this.incarnation });
    let settled = false;
    for (const url of this.opts.endpoints) {
      fetch(`${url}/v3/lease/keepalive`, { method: 'POST', body, signal: AbortSignal.timeout(timeout) })
        .then((r) => r.json() as Promise<{ result?: { TTL?: string } }>)
        .then((res) => {
          if (settled || gen !== this.gen || this.state === 'fenced' || this.state === 'stopped' || !res.result) return;
          settled = true;
          if (!(Number(res.result.TTL ?? 0) > 0)) {
            this.fence('the etcd lease expired');
            return;
          }
          const d = sent + this.opts.ttlSec * 1000 - this.opts.marginMs;
          if (d > this.deadline) this.deadline = d;
          this.lastRenew = sent;
        })
        .catch(() => undefined);
    }
  }

  /**
   * Whether this node is out of the lock space; fences it when its deadline passed. Cheap (a clock
   * read): called before every grant-relevant step.
   */
  checkFenced(): boolean {
    if (this.state === 'member' && Date.now() >= this.deadline) {
      this.fence(`the etcd lease was not renewed since ${new Date(this.lastRenew).toISOString()} (deadline passed)`);
    }
    return this.state !== 'member';
  }

  /** Leaves the lock space now (and rejoins as a new member). */
  fenceNow(reason: string): void {
    this.fence(reason);
  }

  private fence(reason: string): void {
    if (this.state === 'fenced' || this.state === 'stopped') return;
    this.lastFence = reason;
    this.opts.log.warn(`dlm: fenced: ${reason}; this node's locks are released and its mounts refuse I/O until it rejoins`);
    this.setState('fenced');
    this.emit('fenced', reason);
    void this.teardown().then(() => {
      if (this.state !== 'fenced') return;
      this.rejoinTimer = setTimeout(() => {
        this.rejoinTimer = null;
        if (this.state === 'fenced') void this.start();
      }, 500);
      this.rejoinTimer.unref();
    });
  }

  private setState(s: MembershipState): void {
    if (this.state === s) return;
    this.state = s;
    this.emit('state', s);
  }

  /** Drops the lease (the survivors recover at once) and the etcd connection. */
  private async teardown(): Promise<void> {
    this.gen++;
    if (this.renewTimer) clearInterval(this.renewTimer);
    if (this.checkTimer) clearInterval(this.checkTimer);
    if (this.watchdogTimer) clearInterval(this.watchdogTimer);
    this.renewTimer = this.checkTimer = this.watchdogTimer = null;
    for (const c of this.extraClients.splice(0)) c.close();
    const lease = this.lease;
    const watcher = this.watcher;
    const client = this.client;
    this.lease = null;
    this.watcher = null;
    this.client = null;
    this.registered = false;
    if (watcher) await watcher.cancel().catch(() => undefined);
    if (lease) await Promise.race([lease.revoke().catch(() => undefined), new Promise((r) => setTimeout(r, 1000).unref())]);
    client?.close();
  }

  async stop(): Promise<void> {
    this.setState('stopped');
    if (this.rejoinTimer) clearTimeout(this.rejoinTimer);
    await this.teardown();
  }
}

function parseMember(v: Buffer): Member | null {
  try {
    const o = JSON.parse(v.toString('utf8')) as Member;
    if (typeof o.name !== 'string' || typeof o.id !== 'number' || typeof o.incarnation !== 'string') return null;
    return o;
  } catch {
    return null;
  }
}

function sortMembers(ms: Member[]): Member[] {
  return ms.sort((a, b) => a.id - b.id);
}
