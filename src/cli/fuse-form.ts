// `dmapifs BACKING MOUNTPOINT -o OPTIONS`: the form mount.fuse3 runs for `mount -t fuse.dmapifs`
// and for fstab entries of type fuse.dmapifs (mount.fuse3 calls the program named by the subtype
// with the source, the mount point and -o). The options become those of `dmapifs mount`.
import { UsageError } from './spec';

/** Options mount(8) and fstab use that mean nothing more here. */
const IGNORED = new Set(['rw', 'defaults', 'auto', 'noauto', 'nofail', '_netdev', 'nodev', 'nosuid', 'dev', 'suid', 'exec', 'noexec', 'async', 'user', 'nouser', 'users']);

/** The `dmapifs mount` arguments of a mount.fuse3-style invocation; null when argv is not one. */
export function fuseFormArgs(argv: string[]): string[] | null {
  const pos: string[] = [];
  const opts: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-o') {
      if (i + 1 >= argv.length) throw new UsageError('-o needs a value');
      opts.push(...argv[++i].split(',').filter(Boolean));
    } else if (a.startsWith('-o') && a.length > 2) {
      opts.push(...a.slice(2).split(',').filter(Boolean));
    } else if (a.startsWith('-')) {
      return null;
    } else {
      pos.push(a);
    }
  }
  if (pos.length !== 2 || !/^[/.]/.test(pos[0]) || !/^[/.]/.test(pos[1])) return null;
  const out: string[] = [];
  for (const o of opts) {
    const eq = o.indexOf('=');
    const k = eq < 0 ? o : o.slice(0, eq);
    const v = eq < 0 ? undefined : o.slice(eq + 1);
    const needV = () => { if (!v) throw new UsageError(`mount option ${k} needs a value (${k}=...)`); return v; };
    switch (k.replace(/_/g, '-')) {
      case 'dmapi': out.push('--dmapi'); break;
      case 'mount-event-optional': out.push('--mount-event-optional'); break;
      case 'capacity': out.push('--capacity', needV()); break;
      case 'node': out.push('--node', needV()); break;
      case 'attr-timeout': out.push('--attr-timeout', needV()); break;
      case 'entry-timeout': out.push('--entry-timeout', needV()); break;
      case 'ro': throw new UsageError('mount option ro: read-only dmapifs mounts are not supported');
      default:
        if (IGNORED.has(k) || k.startsWith('x-') || k === 'comment') break;
        throw new UsageError(`unknown mount option '${o}' (dmapi, capacity=SIZE, node=NAME, attr_timeout=S, entry_timeout=S, mount_event_optional)`);
    }
  }
  return [...out, pos[0], pos[1]];
}
