// dmapifs cluster init|add-node|show: the cluster configuration file of the DLM's node-to-node
// transport (src/dlm/service/cluster-config.ts). Node daemons read it when they start.
import * as fs from 'fs';
import { CodedError } from '../common/errors';

import { checkNodeName, nodePaths } from '../common/paths';
import { callDaemon } from '../daemon/control-client';
import type { ClusterStatus } from '../dlm/service/dlm-service';
import { NODE_OPT, nodeOf } from './common';
import {
  clusterConfigPath, configDigest, createKeyFile, DEFAULT_PORT, keyFilePath, keyFingerprint, loadConfig, masterName, readKey, saveConfig,
  type ClusterConfig,
} from '../dlm/service/cluster-config';
import { out, outJson } from './output';
import { Command, Group, intOpt, str } from './spec';

const CLUSTER_TEXT = `The cluster configuration ($DMAPIFS_CLUSTER_CONFIG, default /etc/dmapifs/cluster.json) lists
the node daemons that share one DLM lock space over TCP, where each listens, which node masters
the resources (default: the lowest id), and the heartbeat: a node silent for HEARTBEAT-MS x
MISS-COUNT is dead and loses its locks. init also creates the shared key (32 random bytes,
mode 0600, default cluster.key next to the file) that nodes authenticate each other with:
copy both files to every node. Daemons read the file when they start.
With an "etcd" section ({"endpoints": [URL...], "leaseTtl": S, "fenceMarginMs": MS}, see
docs/dlm-cluster.md) membership, quorum and failover come from etcd and every member masters part
of the resources; without it one node masters everything and there is no failover.`;

function mustLoad(file: string): ClusterConfig {
  const cfg = loadConfig(file);
  if (!cfg) throw new CodedError('ENOENT', `no cluster configuration at ${file} (create it with dmapifs cluster init)`);
  return cfg;
}

const INIT: Command = {
  name: 'cluster init',
  summary: 'create the cluster configuration and its shared key',
  options: [
    { name: 'name', value: 'NAME', help: 'cluster name (default dmapifs)' },
    { name: 'heartbeat-ms', value: 'MS', help: 'heartbeat period (default 1000)' },
    { name: 'miss-count', value: 'N', help: 'missed heartbeats before a node is dead (default 5)' },
    { name: 'key-file', value: 'F', help: 'the shared key, relative to the configuration (default cluster.key)' },
    { name: 'force', help: 'replace an existing configuration and its key' },
  ],
  async run(inv) {
    const file = clusterConfigPath();
    if (fs.existsSync(file) && !inv.opts.force) throw new CodedError('EEXIST', `${file} exists (use --force to replace it and its key)`);
    const cfg: ClusterConfig = {
      version: 1,
      name: str(inv, 'name') ?? 'dmapifs',
      keyFile: str(inv, 'key-file') ?? 'cluster.key',
      master: null,
      heartbeatMs: intOpt(inv, 'heartbeat-ms', 20, 600000) ?? 1000,
      missCount: intOpt(inv, 'miss-count', 1, 1000) ?? 5,
      nodes: [],
    };
    const keyPath = keyFilePath(cfg, file);
    createKeyFile(keyPath, inv.opts.force === true);
    saveConfig(cfg, file);
    out(`created ${file} (cluster "${cfg.name}") and key ${keyPath} (mode 0600, fingerprint ${keyFingerprint(readKey(keyPath))})`);
    return 0;
  },
};

const ADD_NODE: Command = {
  name: 'cluster add-node',
  args: 'NODE',
  nargs: [1, 1],
  summary: 'add a node daemon to the cluster configuration',
  options: [
    { name: 'address', value: 'ADDR', help: 'where the node listens (default 127.0.0.1)' },
    { name: 'port', value: 'PORT', help: `its TCP port (default ${DEFAULT_PORT})` },
    { name: 'id', value: 'N', help: 'its node id (default: the highest + 1)' },
    { name: 'master', help: 'make it the lock master' },
  ],
  async run(inv) {
    const file = clusterConfigPath();
    const name = checkNodeName(inv.args[0]);
    const cfg = mustLoad(file);
    if (cfg.nodes.some((n) => n.name === name)) throw new CodedError('EEXIST', `node ${name} is already in ${file}`);
    const id = intOpt(inv, 'id', 1, 65535) ?? Math.max(0, ...cfg.nodes.map((n) => n.id)) + 1;
    if (cfg.nodes.some((n) => n.id === id)) throw new CodedError('EEXIST', `node id ${id} is taken`);
    const address = str(inv, 'address') ?? '127.0.0.1';
    const port = intOpt(inv, 'port', 1, 65535) ?? DEFAULT_PORT;
    cfg.nodes.push({ name, id, address, port });
    if (inv.opts.master) cfg.master = name;
    saveConfig(cfg, file);
    out(`added node ${name} (id ${id}, ${address}:${port})${inv.opts.master ? ' as the lock master' : ''} to ${file}; restart the cluster's node daemons to use it`);
    return 0;
  },
};

const SHOW: Command = {
  name: 'cluster show',
  summary: 'show the cluster configuration',
  options: [],
  json: true,
  async run(inv) {
    const file = clusterConfigPath();
    const cfg = mustLoad(file);
    const keyPath = keyFilePath(cfg, file);
    let key: string;
    try { key = keyFingerprint(readKey(keyPath)); } catch (e) { key = `UNUSABLE: ${(e as Error).message}`; }
    const master = masterName(cfg);
    if (inv.json) {
      outJson({ file, ...cfg, keyFile: keyPath, keyFingerprint: key, effectiveMaster: master, digest: configDigest(cfg) });
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
    out(lines.join('\n'));
    return 0;
  },
};

const STATUS: Command = {
  name: 'cluster status',
  summary: 'ask a running node daemon: members, epoch, quorum, the resources each member masters',
  options: [NODE_OPT],
  json: true,
  async run(inv) {
    const st = await callDaemon<ClusterStatus>(nodePaths(nodeOf(inv)).socket, 'dlm.cluster', {}, { timeoutMs: 20000 });
    if (inv.json) { outJson(st); return 0; }
    const lines = [
      `node ${st.node}: cluster ${st.cluster ?? '(none)'}, ${st.mode === 'etcd' ? `membership from etcd ${st.etcd.join(',')}` : st.mode}`,
      `state ${st.state}, epoch ${st.epoch}, quorum ${st.quorum ? 'yes' : 'no'}${st.fenceInMs !== null ? `, lease good for ${st.fenceInMs} ms` : ''}${st.lastFence ? `; last fenced: ${st.lastFence}` : ''}`,
      'members:',
    ];
    for (const m of st.members) lines.push(`  ${String(m.id).padStart(5)}  ${m.name.padEnd(20)} ${m.address.padEnd(22)} ${m.resources === null ? 'no answer' : `${m.resources} resource${m.resources === 1 ? '' : 's'} mastered, ${m.locks} lock${m.locks === 1 ? '' : 's'}`}`);
    const r = st.lastRecovery as { epoch: number; ms: number; adopted: number; resent: number; reset: number } | null;
    if (r) lines.push(`last recovery: epoch ${r.epoch}, ${r.ms} ms, ${r.adopted} locks re-mastered, ${r.resent} requests sent again, ${r.reset} clients reset`);
    out(lines.join('\n'));
    return 0;
  },
};

export const CLUSTER: Group = {
  kind: 'group',
  name: 'cluster',
  summary: "the cluster configuration of the DLM's node-to-node transport",
  help: CLUSTER_TEXT,
  subcommands: [INIT, ADD_NODE, SHOW, STATUS],
};
