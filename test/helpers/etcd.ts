// etcd for the DLM cluster tests: a private etcd server (Debian's etcd-server) on free loopback
// ports or on an address of a test's own network namespace, with a private data directory, killed
// and removed in teardown.
import type { ExecutionContext } from 'ava';
import { spawn, type ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { waitFor } from './cluster';

export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, host, () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
    s.on('error', reject);
  });
}

export interface EtcdMember {
  name: string;
  proc: ChildProcess;
  clientUrl: string;
  peerUrl: string;
  dir: string;
}

export interface EtcdSpec {
  name: string;
  host: string;
  clientPort: number;
  peerPort: number;
  /** Command prefix that runs it in a network namespace (netns.ts NetNode.wrap). */
  wrap?: string[];
}

/** Starts etcd members forming one cluster; every member is killed and its data removed in teardown. */
export async function startEtcd(t: ExecutionContext, specs: EtcdSpec[]): Promise<EtcdMember[]> {
  const token = `i14-${process.pid}-${Date.now()}`;
  const initial = specs.map((s) => `${s.name}=http://${s.host}:${s.peerPort}`).join(',');
  const out: EtcdMember[] = [];
  for (const s of specs) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'i14-etcd-'));
    const args = [
      '--name', s.name, '--data-dir', dir,
      '--listen-client-urls', `http://${s.host}:${s.clientPort}`, '--advertise-client-urls', `http://${s.host}:${s.clientPort}`,
      '--listen-peer-urls', `http://${s.host}:${s.peerPort}`, '--initial-advertise-peer-urls', `http://${s.host}:${s.peerPort}`,
      '--initial-cluster', initial, '--initial-cluster-token', token, '--initial-cluster-state', 'new',
      '--heartbeat-interval', '100', '--election-timeout', '1000', '--pre-vote=true', '--log-level', 'error', '--logger', 'zap',
    ];
    const cmd = s.wrap ? s.wrap[0] : 'etcd';
    const full = s.wrap ? [...s.wrap.slice(1), 'etcd', ...args] : args;
    const proc = spawn(cmd, full, { stdio: ['ignore', 'ignore', fs.openSync(path.join(dir, 'etcd.log'), 'a')], env: { ...process.env, ETCD_UNSUPPORTED_ARCH: '' } });
    const m: EtcdMember = { name: s.name, proc, clientUrl: `http://${s.host}:${s.clientPort}`, peerUrl: `http://${s.host}:${s.peerPort}`, dir };
    out.push(m);
    t.teardown(async () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGKILL');
        await new Promise((r) => proc.once('exit', r));
      }
      fs.rmSync(dir, { recursive: true, force: true });
    });
  }
  await waitFor(async () => {
    for (const m of out) {
      if (m.proc.exitCode !== null) throw new Error(`etcd ${m.name} exited: ${fs.readFileSync(path.join(m.dir, 'etcd.log'), 'utf8').slice(-2000)}`);
    }
    const r = await fetch(`${out[0].clientUrl}/health`).then((x) => x.json() as Promise<{ health: string }>).catch(() => null);
    return r?.health === 'true';
  }, 30000, 'etcd to be healthy');
  return out;
}
