// Where a node daemon keeps its runtime files, and what a node name may be.
//
// Layout: <base>/<node>/{control.sock, daemon.pid, daemon.log}; <base> is /run/dmapifs unless the
// environment sets DMAPIFS_RUN_DIR (tests use a private one per test file).
import * as os from 'os';
import * as path from 'path';
import { CodedError } from './errors';

export const DEFAULT_RUN_BASE = '/run/dmapifs';
export const DEFAULT_STATE_BASE = '/var/lib/dmapifs';

/** Longest Unix socket path the kernel takes (sun_path is 108 bytes with the NUL). */
const MAX_SOCKET_PATH = 107;

export function runBase(env: NodeJS.ProcessEnv = process.env): string {
  const v = env.DMAPIFS_RUN_DIR;
  return path.resolve(v && v.length ? v : DEFAULT_RUN_BASE);
}

/**
 * Where nodes keep what must outlive a reboot (settings, the mount list): DMAPIFS_STATE_DIR, else
 * /var/lib/dmapifs for the default run directory, else <run dir>/.state (a private instance, such
 * as a test's, keeps its state to itself).
 */
export function stateBase(env: NodeJS.ProcessEnv = process.env): string {
  const v = env.DMAPIFS_STATE_DIR;
  if (v && v.length) return path.resolve(v);
  const r = env.DMAPIFS_RUN_DIR;
  return r && r.length ? path.join(runBase(env), '.state') : DEFAULT_STATE_BASE;
}

/** A node's state directory: <state base>/<node>. */
export function nodeStateDir(node: string, base: string = stateBase()): string {
  return path.join(base, checkNodeName(node));
}

const NODE_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** Throws EINVAL unless `name` is a usable node name (it becomes a directory name). */
export function checkNodeName(name: string): string {
  if (!NODE_RE.test(name) || name === '.' || name === '..') {
    throw new CodedError('EINVAL',
      `invalid node name '${name}': use 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit`);
  }
  return name;
}

/** The default node name: the host name (first label kept whole; odd characters become '-'). */
export function defaultNodeName(): string {
  const h = os.hostname().replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 63);
  return h || 'localhost';
}

export interface NodePaths {
  node: string;
  base: string;
  dir: string;
  socket: string;
  pidFile: string;
  logFile: string;
}

export function nodePaths(node: string, base: string = runBase()): NodePaths {
  checkNodeName(node);
  const dir = path.join(base, node);
  const p: NodePaths = {
    node,
    base,
    dir,
    socket: path.join(dir, 'control.sock'),
    pidFile: path.join(dir, 'daemon.pid'),
    logFile: path.join(dir, 'daemon.log'),
  };
  if (Buffer.byteLength(p.socket) > MAX_SOCKET_PATH) {
    throw new CodedError('ENAMETOOLONG',
      `control socket path too long for a Unix socket (${Buffer.byteLength(p.socket)} > ${MAX_SOCKET_PATH} bytes): ${p.socket}`);
  }
  return p;
}

