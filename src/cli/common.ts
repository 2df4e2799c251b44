// Options and helpers several commands share.
import { checkNodeName, defaultNodeName } from '../common/paths';
import { Invocation, Opt, str } from './spec';

export const EXIT_OK = 0;
export const EXIT_FAIL = 1;
export const EXIT_USAGE = 2;
export const EXIT_NOT_RUNNING = 3;

export function safeDefaultNode(): string {
  try { return defaultNodeName(); } catch { return 'localhost'; }
}

export const NODE_OPT: Opt = { name: 'node', value: 'NAME', help: `node daemon to ask (default: the host name, ${safeDefaultNode()})` };

/** The node the command is for: --node, or the host name. */
export function nodeOf(inv: Invocation): string {
  return checkNodeName(str(inv, 'node') ?? defaultNodeName());
}

/** "2026-12-07 22:45:38" in local time. */
export function fmtTime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** "3.2 s", "4 min", "2.0 h" */
export function fmtAge(ms: number): string {
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3600000) return `${Math.round(ms / 60000)} min`;
  return `${(ms / 3600000).toFixed(1)} h`;
}
