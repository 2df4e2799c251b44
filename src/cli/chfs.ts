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
import { out } from './output';
import { Command, str, UsageError } from './spec';
import { listNodeDirs, probeNode, servedMounts } from './nodes';

function yesNo(v: string | undefined): boolean {
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

export const CHFS: Command = {
  name: 'chfs',
  args: 'PATH',
  nargs: [1, 1],
  needs: 'chfs needs PATH',
  summary: 'enable or disable the DMAPI of a filesystem, like mmchfs -z',
  help: `The filesystem must not be mounted. PATH is its backing directory or a mount point it was
mounted at before. While disabled, every DMAPI call on the filesystem fails with EPERM and no
events are raised; event lists, regions and DM attributes are kept.`,
  options: [{ name: 'dmapi', value: 'yes|no', required: true, help: 'enable (yes) or disable (no) the DMAPI' }],
  async run(inv) {
    const on = yesNo(str(inv, 'dmapi'));
    const p = path.resolve(inv.args[0]);
    const backing = backingOf(p);
    await checkUnmounted(p, backing);
    setDmapi(backing, on);
    const cfg = loadFsConfig(backing);
    out(`dmapi ${on ? 'enabled' : 'disabled'} for ${backing} (fsid ${cfg.fsid.toString(16).padStart(16, '0')})`);
    return 0;
  },
};
