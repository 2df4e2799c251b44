// dmapifs chfs --dmapi yes|no PATH   (like `mmchfs -z yes|no`)
//
// Enables or disables the DMAPI of a filesystem while it is not mounted. PATH is the backing
// directory, or a mount point a node daemon has served it at (remembered in
// <run>/<node>/dmapi-fstab.json). The setting is persisted in the backing directory's reserved
// area (.dmapifs/config.json) and read by the daemon at each mount.
import * as fs from 'fs';
import * as path from 'path';
import { CodedError } from '../common/errors';
import { mountAt, readMounts } from '../fs/mountinfo';
import { runBase } from '../common/paths';
import { loadFsConfig, RESERVED, saveFsConfig } from '../dmapi/fsconfig';
import { parseArgs, UsageError } from './args';
import { listNodeDirs, probeNode, servedMounts } from './nodes';

export const CHFS_HELP = `usage: dmapifs chfs --dmapi yes|no PATH

Enables (yes) or disables (no) the DMAPI of a filesystem, like mmchfs -z. The filesystem must
not be mounted. PATH is its backing directory or a mount point it was mounted at before.
While disabled, every DMAPI call on the filesystem fails with EPERM and no events are raised;
event lists, regions and DM attributes are kept.`;

function yesNo(v: string | true | undefined): boolean {
  if (v === 'yes') return true;
  if (v === 'no') return false;
  throw new UsageError("--dmapi takes 'yes' or 'no'");
}

/** The backing directory PATH stands for. */
function backingOf(p: string): string {
  try {
    if (fs.statSync(path.join(p, RESERVED)).isDirectory()) return p;
  } catch { /* not a backing directory */ }
  for (const node of listNodeDirs()) {
    try {
      const h = JSON.parse(fs.readFileSync(path.join(runBase(), node, 'dmapi-fstab.json'), 'utf8')) as Record<string, string>;
      if (h[p]) return h[p];
    } catch { /* none */ }
  }
  throw new CodedError('ENOENT', `${p} is neither a dmapifs backing directory nor a known mount point`);
}

/** Refuses while the filesystem is mounted by any node (EBUSY). */
async function checkUnmounted(p: string, backing: string): Promise<void> {
  const entries = await readMounts();
  if (mountAt(entries, p)) throw new CodedError('EBUSY', `${p} is mounted: unmount it first`);
  const probes = await Promise.all(listNodeDirs().map((n) => probeNode(n).catch(() => null)));
  const served = await servedMounts(probes.filter((x): x is NonNullable<typeof x> => x !== null));
  for (const { node, mount } of served.values()) {
    if (mount.backing === backing) throw new CodedError('EBUSY', `${backing} is mounted at ${mount.mountpoint} by node ${node}: unmount it first`);
  }
}

/** Sets the DMAPI flag of a backing directory (the caller checked it is not mounted). */
export function setDmapi(backing: string, on: boolean): void {
  const cfg = loadFsConfig(backing);
  cfg.dmapi = on;
  saveFsConfig(backing, cfg);
}

export async function cmdChfs(argv: string[], out: (s: string) => void): Promise<number> {
  const { opts, positional } = parseArgs(argv, { dmapi: 'value', help: 'flag' }, 'chfs');
  if (opts.help) { out(CHFS_HELP); return 0; }
  if (opts.dmapi === undefined) throw new UsageError('chfs needs --dmapi yes|no');
  const on = yesNo(opts.dmapi);
  if (positional.length !== 1) throw new UsageError(positional.length ? `unexpected argument '${positional[1]}' for 'chfs'` : 'chfs needs PATH');
  const p = path.resolve(positional[0]);
  const backing = backingOf(p);
  await checkUnmounted(p, backing);
  setDmapi(backing, on);
  const cfg = loadFsConfig(backing);
  out(`dmapi ${on ? 'enabled' : 'disabled'} for ${backing} (fsid ${cfg.fsid.toString(16).padStart(16, '0')})`);
  return 0;
}
