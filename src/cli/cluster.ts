// dmapifs cluster init|add-node|show: the cluster configuration file of the DLM's node-to-node
// transport (src/dlm/service/cluster-config.ts). Node daemons read it when they start.
import * as fs from 'fs';
import { CodedError } from '../common/errors';
import { checkNodeName, defaultNodeName, nodePaths } from '../common/paths';
import {
  clusterConfigPath, configDigest, createKeyFile, DEFAULT_PORT, keyFilePath, keyFingerprint, loadConfig, masterName, readKey, saveConfig,
  type ClusterConfig,
} from '../dlm/service/cluster-config';
import { parseArgs, UsageError } from './args';
import { callDaemon } from '../daemon/control-client';
import type { ClusterStatus } from '../dlm/service/dlm-service';

export const CLUSTER_HELP = `usage: dmapifs cluster init [--name NAME] [--master NODE] [--heartbeat-ms MS] [--miss-count N] [--key-file F] [--force]
       dmapifs cluster add-node NODE [--address ADDR] [--port PORT] [--id N] [--master]
       dmapifs cluster show [--json]
       dmapifs cluster status [--node NODE] [--json]

The cluster configuration ($DMAPIFS_CLUSTER_CONFIG, default /etc/dmapifs/cluster.json) lists
the node daemons that share one DLM lock space over TCP, where each listens, which node masters
the resources (default: the lowest id), and the heartbeat: a node silent for HEARTBEAT-MS x
MISS-COUNT is dead and loses its locks. init also creates the shared key (32 random bytes,
mode 0600, default cluster.key next to the file) that nodes authenticate each other with:
copy both files to every node. Daemons read the file when they start.
With an "etcd" section ({"endpoints": [URL...], "leaseTtl": S, "fenceMarginMs": MS}, see
docs/dlm-cluster.md) membership, quorum and failover come from etcd and every member masters part
of the resources; without it one node masters everything and there is no failover.
status asks a running node daemon: members, epoch, quorum, the resources each member masters.
  --heartbeat-ms MS   default 1000       --miss-count N   default 5
  --address ADDR      default 127.0.0.1  --port PORT      default ${DEFAULT_PORT}`;

function print(s: string): void {
  fs.writeSync(1, s.endsWith('\n') ? s : s + '\n');
}

function intOpt(v: string | true | undefined, name: string, lo: number, hi: number): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !/^\d+$/.test(v) || Number(v) < lo || Number(v) > hi) throw new UsageError(`--${name} must be an integer from ${lo} to ${hi}`);
  return Number(v);
}

function mustLoad(file: string): ClusterConfig {
  const cfg = loadConfig(file);
  if (!cfg) throw new CodedError('ENOENT', `no cluster configuration at ${file} (create it with dmapifs cluster init)`);
  return cfg;
}

export async function cmdCluster(argv: string[]): Promise<number> {
  const sub = argv[0];
  const rest = argv.slice(1);
  if (sub === undefined) throw new UsageError("'cluster' needs a subcommand: init, add-node, show or status");
  if (sub === '--help' || sub === '-h' || sub === 'help') { print(CLUSTER_HELP); return 0; }
  const file = clusterConfigPath();
  switch (sub) {
    case 'init': {
      const { opts, positional } = parseArgs(rest, { name: 'value', master: 'value', 'heartbeat-ms': 'value', 'miss-count': 'value', 'key-file': 'value', force: 'flag', help: 'flag' }, 'cluster init');
      if (opts.help) { print(CLUSTER_HELP); return 0; }
      if (positional.length) throw new UsageError(`unexpected argument '${positional[0]}' for 'cluster init'`);
      if (fs.existsSync(file) && !opts.force) throw new CodedError('EEXIST', `${file} exists (use --force to replace it and its key)`);
      const cfg: ClusterConfig = {
        version: 1,
        name: typeof opts.name === 'string' ? opts.name : 'dmapifs',
        keyFile: typeof opts['key-file'] === 'string' ? opts['key-file'] : 'cluster.key',
        master: null,
        heartbeatMs: intOpt(opts['heartbeat-ms'], 'heartbeat-ms', 20, 600000) ?? 1000,
        missCount: intOpt(opts['miss-count'], 'miss-count', 1, 1000) ?? 5,
        nodes: [],
      };
      if (typeof opts.master === 'string') throw new UsageError('--master names a node: add it with dmapifs cluster add-node NODE --master');
      const keyPath = keyFilePath(cfg, file);
      createKeyFile(keyPath, opts.force === true);
      saveConfig(cfg, file);
      print(`created ${file} (cluster "${cfg.name}") and key ${keyPath} (mode 0600, fingerprint ${keyFingerprint(readKey(keyPath))})`);
      return 0;
    }
    case 'add-node': {
      const { opts, positional } = parseArgs(rest, { address: 'value', port: 'value', id: 'value', master: 'flag', help: 'flag' }, 'cluster add-node');
      if (opts.help) { print(CLUSTER_HELP); return 0; }
      if (positional.length !== 1) throw new UsageError(positional.length ? `unexpected argument '${positional[1]}' for 'cluster add-node'` : 'cluster add-node needs NODE');
      const name = checkNodeName(positional[0]);
      const cfg = mustLoad(file);
      if (cfg.nodes.some((n) => n.name === name)) throw new CodedError('EEXIST', `node ${name} is already in ${file}`);
      const id = intOpt(opts.id, 'id', 1, 65535) ?? Math.max(0, ...cfg.nodes.map((n) => n.id)) + 1;
      if (cfg.nodes.some((n) => n.id === id)) throw new CodedError('EEXIST', `node id ${id} is taken`);
      const address = typeof opts.address === 'string' ? opts.address : '127.0.0.1';
      const port = intOpt(opts.port, 'port', 1, 65535) ?? DEFAULT_PORT;
      cfg.nodes.push({ name, id, address, port });
      if (opts.master) cfg.master = name;
      saveConfig(cfg, file);
      print(`added node ${name} (id ${id}, ${address}:${port})${opts.master ? ' as the lock master' : ''} to ${file}; restart the cluster's node daemons to use it`);
      return 0;
    }
    case 'show': {
      const { opts, positional } = parseArgs(rest, { json: 'flag', help: 'flag' }, 'cluster show');
      if (opts.help) { print(CLUSTER_HELP); return 0; }
      if (positional.length) throw new UsageError(`unexpected argument '${positional[0]}' for 'cluster show'`);
      const cfg = mustLoad(file);
      const keyPath = keyFilePath(cfg, file);
      let key: string;
      try { key = keyFingerprint(readKey(keyPath)); } catch (e) { key = `UNUSABLE: ${(e as Error).message}`; }
      const master = masterName(cfg);
      if (opts.json) {
        print(JSON.stringify({ file, ...cfg, keyFile: keyPath, keyFingerprint: key, effectiveMaster: master, digest: configDigest(cfg) }, null, 2));
        return 0;
      }
      const lines = [
        `cluster "${cfg.name}" (${file}, digest ${configDigest(cfg)})`,
        `key ${keyPath}: ${key.startsWith('UNUSABLE') ? key : `fingerprint ${key}`}`,
        `heartbeat every ${cfg.heartbeatMs} ms; a node silent for ${cfg.heartbeatMs * cfg.missCount} ms (${cfg.missCount} missed) is dead`,
        `lock master: ${master ?? '(no nodes)'}${cfg.master ? '' : ' (lowest id)'}`,
        cfg.nodes.length ? 'nodes:' : 'no nodes yet (dmapifs cluster add-node NODE --address ADDR --port PORT)',
      ];
      for (const n of cfg.nodes) lines.push(`  ${String(n.id).padStart(5)}  ${n.name.padEnd(20)} ${n.address}:${n.port}${n.name === master ? '  master' : ''}`);
      print(lines.join('\n'));
      return 0;
    }
    case 'status': {
      const { opts, positional } = parseArgs(rest, { node: 'value', json: 'flag', help: 'flag' }, 'cluster status');
      if (opts.help) { print(CLUSTER_HELP); return 0; }
      if (positional.length) throw new UsageError(`unexpected argument '${positional[0]}' for 'cluster status'`);
      const node = checkNodeName(typeof opts.node === 'string' ? opts.node : defaultNodeName());
      const st = await callDaemon<ClusterStatus>(nodePaths(node).socket, 'dlm.cluster', {}, { timeoutMs: 20000 });
      if (opts.json) { print(JSON.stringify(st, null, 2)); return 0; }
      const lines = [
        `node ${st.node}: cluster ${st.cluster ?? '(none)'}, ${st.mode === 'etcd' ? `membership from etcd ${st.etcd.join(',')}` : st.mode}`,
        `state ${st.state}, epoch ${st.epoch}, quorum ${st.quorum ? 'yes' : 'no'}${st.fenceInMs !== null ? `, lease good for ${st.fenceInMs} ms` : ''}${st.lastFence ? `; last fenced: ${st.lastFence}` : ''}`,
        'members:',
      ];
      for (const m of st.members) lines.push(`  ${String(m.id).padStart(5)}  ${m.name.padEnd(20)} ${m.address.padEnd(22)} ${m.resources === null ? 'no answer' : `${m.resources} resource${m.resources === 1 ? '' : 's'} mastered, ${m.locks} lock${m.locks === 1 ? '' : 's'}`}`);
      const r = st.lastRecovery as { epoch: number; ms: number; adopted: number; resent: number; reset: number } | null;
      if (r) lines.push(`last recovery: epoch ${r.epoch}, ${r.ms} ms, ${r.adopted} locks re-mastered, ${r.resent} requests sent again, ${r.reset} clients reset`);
      print(lines.join('\n'));
      return 0;
    }
    default:
      throw new UsageError(`unknown cluster subcommand '${sub}' (init, add-node, show or status)`);
  }
}
