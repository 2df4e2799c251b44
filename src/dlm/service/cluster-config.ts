// The cluster configuration: which node daemons form one lock space, where each listens, which node
// masters the resources, heartbeat timing, and the shared key nodes authenticate each other with.
//
//   /etc/dmapifs/cluster.json      (or $DMAPIFS_CLUSTER_CONFIG)   mode 0644
//   {
//     "version": 1,
//     "name": "dmapifs",
//     "keyFile": "cluster.key",               relative to the config's directory, or absolute
//     "master": "n1",                         the node that masters every resource (this issue)
//     "heartbeatMs": 1000,                    a peer silent for heartbeatMs × missCount is dead
//     "missCount": 5,
//     "nodes": [ { "name": "n1", "id": 1, "address": "10.0.0.1", "port": 7470 }, ... ],
//     "etcd": { "endpoints": ["http://10.0.0.1:2379", ...], "leaseTtl": 5, "fenceMarginMs": 1000 }
//   }
//
// With "etcd", membership, quorum and failover come from etcd (membership.ts): every live member
// masters part of the resources and the survivors rebuild a departed member's. Without it the
// configuration is static: one node (`master`) masters everything and its loss stops the lock space
// until it is back (no failover, no quorum: use it on one machine or where that is acceptable).
//
//   cluster.key: 64 hex digits (32 random bytes), mode 0600, owned by the daemon's user (root);
//   a key file others can read is refused.
//
// A node daemon whose name is not in the file (or with no file at all) is a cluster of its own.
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { CodedError } from '../../common/errors';
import { checkNodeName } from '../../common/paths';

export const DEFAULT_CLUSTER_CONFIG = '/etc/dmapifs/cluster.json';
export const DEFAULT_PORT = 7470;

export interface ClusterNode {
  name: string;
  /** Node number in the engine (1..65535); unique in the cluster. */
  id: number;
  address: string;
  port: number;
}

export interface ClusterConfig {
  version: 1;
  name: string;
  keyFile: string;
  master: string | null;
  heartbeatMs: number;
  missCount: number;
  nodes: ClusterNode[];
  etcd?: EtcdSettings;
}

export interface EtcdSettings {
  endpoints: string[];
  /** Lease time to live, seconds. */
  leaseTtl: number;
  /** How long before its lease could expire a node that could not renew it fences itself. */
  fenceMarginMs: number;
}

export function clusterConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  const v = env.DMAPIFS_CLUSTER_CONFIG;
  return path.resolve(v && v.length ? v : DEFAULT_CLUSTER_CONFIG);
}

/** The key file's absolute path. */
export function keyFilePath(cfg: ClusterConfig, configPath: string): string {
  return path.resolve(path.dirname(configPath), cfg.keyFile);
}

function bad(file: string, msg: string): never {
  throw new CodedError('EINVAL', `cluster configuration ${file}: ${msg}`);
}

function intIn(v: unknown, lo: number, hi: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;
}

/** Checks a parsed configuration; throws EINVAL naming the first problem. */
export function validateConfig(v: unknown, file: string): ClusterConfig {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad(file, 'not a JSON object');
  const o = v as Record<string, unknown>;
  if (o.version !== 1) bad(file, `unsupported version ${JSON.stringify(o.version)} (expected 1)`);
  if (typeof o.name !== 'string' || !o.name) bad(file, '"name" must be a non-empty string');
  if (typeof o.keyFile !== 'string' || !o.keyFile) bad(file, '"keyFile" must be a non-empty string');
  if (!intIn(o.heartbeatMs, 20, 600000)) bad(file, '"heartbeatMs" must be an integer from 20 to 600000');
  if (!intIn(o.missCount, 1, 1000)) bad(file, '"missCount" must be an integer from 1 to 1000');
  if (!Array.isArray(o.nodes)) bad(file, '"nodes" must be an array');
  const names = new Set<string>();
  const ids = new Set<number>();
  const nodes: ClusterNode[] = [];
  for (const n of o.nodes as unknown[]) {
    if (typeof n !== 'object' || n === null) bad(file, 'a node is not an object');
    const x = n as Record<string, unknown>;
    if (typeof x.name !== 'string') bad(file, 'a node has no "name"');
    try { checkNodeName(x.name); } catch (e) { bad(file, (e as Error).message); }
    if (!intIn(x.id, 1, 65535)) bad(file, `node ${x.name}: "id" must be an integer from 1 to 65535`);
    if (typeof x.address !== 'string' || !x.address) bad(file, `node ${x.name}: "address" must be a host name or IP address`);
    if (!intIn(x.port, 1, 65535)) bad(file, `node ${x.name}: "port" must be from 1 to 65535`);
    if (names.has(x.name)) bad(file, `node ${x.name} is listed twice`);
    if (ids.has(x.id)) bad(file, `node id ${x.id} is used twice`);
    names.add(x.name);
    ids.add(x.id);
    nodes.push({ name: x.name, id: x.id, address: x.address, port: x.port });
  }
  const master = o.master === undefined || o.master === null ? null : o.master;
  if (master !== null && (typeof master !== 'string' || !names.has(master))) bad(file, `"master" ${JSON.stringify(master)} is not one of the nodes`);
  let etcd: EtcdSettings | undefined;
  if (o.etcd !== undefined) {
    const e = o.etcd as Record<string, unknown>;
    if (typeof e !== 'object' || e === null) bad(file, '"etcd" must be an object');
    if (!Array.isArray(e.endpoints) || e.endpoints.length === 0 || !e.endpoints.every((x) => typeof x === 'string' && /^https?:\/\/[^/\s]+$/.test(x))) {
      bad(file, '"etcd.endpoints" must be a non-empty list of URLs like http://10.0.0.1:2379');
    }
    const ttl = e.leaseTtl ?? 5;
    if (!intIn(ttl, 2, 3600)) bad(file, '"etcd.leaseTtl" must be an integer number of seconds from 2 to 3600');
    const margin = e.fenceMarginMs ?? 1000;
    if (!intIn(margin, 100, 3599000) || margin >= ttl * 1000) bad(file, '"etcd.fenceMarginMs" must be an integer from 100 to below leaseTtl x 1000');
    etcd = { endpoints: e.endpoints as string[], leaseTtl: ttl, fenceMarginMs: margin };
  }
  return { version: 1, name: o.name, keyFile: o.keyFile, master: master as string | null, heartbeatMs: o.heartbeatMs, missCount: o.missCount, nodes, ...(etcd ? { etcd } : {}) };
}

/** Reads the configuration; null when the file does not exist. */
export function loadConfig(file: string = clusterConfigPath()): ClusterConfig | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new CodedError((e as NodeJS.ErrnoException).code ?? 'EIO', `cannot read cluster configuration ${file}: ${(e as Error).message}`);
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    bad(file, `not JSON (${(e as Error).message})`);
  }
  return validateConfig(v, file);
}

/** Writes the configuration atomically (mode 0644). */
export function saveConfig(cfg: ClusterConfig, file: string): void {
  validateConfig(cfg, file);
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, JSON.stringify(cfg, null, 2) + '\n', { mode: 0o644 });
  fs.renameSync(tmp, file);
}

/** Creates a fresh key file (mode 0600); refuses to overwrite one unless `force`. */
export function createKeyFile(file: string, force = false): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
  const key = crypto.randomBytes(32).toString('hex') + '\n';
  const fd = fs.openSync(file, force ? 'w' : 'wx', 0o600);
  try {
    fs.fchmodSync(fd, 0o600);
    fs.writeSync(fd, key);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Reads the cluster key. The file must be a regular file owned by this process' user with no
 * access for group or others (as ssh does with private keys), and hold at least 32 bytes of key
 * (hex digits, or raw bytes).
 */
export function readKey(file: string): Buffer {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    throw new CodedError('ENOENT', `cluster key file ${file}: ${(e as Error).message}`);
  }
  if (!st.isFile()) throw new CodedError('EINVAL', `cluster key file ${file} is not a regular file`);
  const uid = process.getuid?.() ?? 0;
  if (st.uid !== uid) throw new CodedError('EPERM', `cluster key file ${file} is owned by uid ${st.uid}, not by uid ${uid}`);
  if (st.mode & 0o077) throw new CodedError('EPERM', `cluster key file ${file} is accessible by group or others (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`);
  const raw = fs.readFileSync(file);
  const text = raw.toString('latin1').trim();
  const key = /^[0-9a-fA-F]+$/.test(text) && text.length % 2 === 0 ? Buffer.from(text, 'hex') : raw;
  if (key.length < 32) throw new CodedError('EINVAL', `cluster key file ${file} holds ${key.length} bytes of key (at least 32 needed)`);
  return key;
}

/** A short fingerprint of the key, to compare nodes' keys without showing them. */
export function keyFingerprint(key: Buffer): string {
  return crypto.createHash('sha256').update(key).digest('hex').slice(0, 16);
}

/** A digest of what every node must agree on (nodes, ids, master): peers with another one are refused. */
export function configDigest(cfg: ClusterConfig): string {
  const nodes = [...cfg.nodes].sort((a, b) => a.id - b.id).map((n) => `${n.id}:${n.name}`).join(',');
  return crypto.createHash('sha256').update(`${cfg.name}|${cfg.master ?? ''}|${nodes}`).digest('hex').slice(0, 16);
}

export function findNode(cfg: ClusterConfig, name: string): ClusterNode | undefined {
  return cfg.nodes.find((n) => n.name === name);
}

/** The node that masters everything while the configuration names none: the lowest id. */
export function masterName(cfg: ClusterConfig): string | null {
  if (cfg.master) return cfg.master;
  if (!cfg.nodes.length) return null;
  return [...cfg.nodes].sort((a, b) => a.id - b.id)[0].name;
}
