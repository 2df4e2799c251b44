// Network namespaces for the DLM cluster tests: one per node, each with a veth to a bridge that lives
// in a namespace of its own (the host's interfaces and sysctls are not touched), plus one veth from
// the host to the bridge so that the test can reach the nodes. Names start with the prefix given
// (the branch's, e.g. "i14") and addresses are 10.77.<subnet>.x on those veths only. Everything is
// deleted in teardown; a partition is a node's veth set down.
import type { ExecutionContext } from 'ava';
import { execFileSync } from 'child_process';

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export interface NetNode {
  ns: string;
  addr: string;
  /** Command prefix that runs a program in the namespace (network only: the mounts are the host's). */
  wrap: string[];
  /** The node's interface (set down for a partition). */
  dev: string;
}

export interface Net {
  nodes: NetNode[];
  hostAddr: string;
  partition(n: NetNode): void;
  heal(n: NetNode): void;
}

/** Removes what an earlier run with this prefix left (a crashed test). */
function sweep(prefix: string): void {
  for (const line of ip('netns', 'list').split('\n')) {
    const name = line.split(' ')[0];
    if (name.startsWith(prefix)) try { ip('netns', 'delete', name); } catch { /* gone */ }
  }
  for (const line of ip('-o', 'link', 'show').split('\n')) {
    const m = /^\d+: ([^:@]+)/.exec(line);
    if (m && m[1].startsWith(prefix)) try { ip('link', 'delete', m[1]); } catch { /* gone */ }
  }
}

export function makeNet(t: ExecutionContext, prefix: string, count: number, subnet: number): Net {
  sweep(prefix);
  const br = `${prefix}br`;
  const cleanup = () => sweep(prefix);
  t.teardown(cleanup);
  ip('netns', 'add', br);
  ip('-n', br, 'link', 'add', 'br0', 'type', 'bridge');
  ip('-n', br, 'link', 'set', 'br0', 'up');
  const nodes: NetNode[] = [];
  for (let i = 0; i < count; i++) {
    const ns = `${prefix}${String.fromCharCode(97 + i)}`;
    const dev = `${ns}0`;
    const peer = `${ns}p`;
    ip('netns', 'add', ns);
    ip('link', 'add', dev, 'netns', ns, 'type', 'veth', 'peer', 'name', peer, 'netns', br);
    ip('-n', br, 'link', 'set', peer, 'master', 'br0', 'up');
    const addr = `10.77.${subnet}.${i + 1}`;
    ip('-n', ns, 'addr', 'add', `${addr}/24`, 'dev', dev);
    ip('-n', ns, 'link', 'set', dev, 'up');
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    nodes.push({ ns, addr, dev, wrap: ['nsenter', `--net=/run/netns/${ns}`, '--'] });
  }
  const hostDev = `${prefix}h0`;
  const hostAddr = `10.77.${subnet}.254`;
  ip('link', 'add', hostDev, 'type', 'veth', 'peer', 'name', `${prefix}hp`, 'netns', br);
  ip('-n', br, 'link', 'set', `${prefix}hp`, 'master', 'br0', 'up');
  ip('addr', 'add', `${hostAddr}/24`, 'dev', hostDev);
  ip('link', 'set', hostDev, 'up');
  return {
    nodes,
    hostAddr,
    partition: (n) => { ip('-n', n.ns, 'link', 'set', n.dev, 'down'); },
    heal: (n) => { ip('-n', n.ns, 'link', 'set', n.dev, 'up'); },
  };
}
