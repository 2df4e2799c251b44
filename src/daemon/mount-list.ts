// The node's mount list: <state dir>/<node>/mounts.json, the mounts the node is configured to
// serve, like fstab. A mount made through the daemon is added, `dmapifs umount` removes it (a
// mount that went away otherwise, or the daemon stopping, leaves it listed); a daemon started with
// --restore-mounts (the systemd unit) mounts every listed entry again. The file may be edited.
import * as fs from 'fs';
import * as path from 'path';
import { writeAtomic } from '../dmapi/fsconfig';

export interface ListedMount {
  backing: string;
  mountpoint: string;
  attrTimeout?: number | null;
  entryTimeout?: number | null;
  capacity?: number | null;
  mountEventOptional?: boolean;
}

export const MOUNT_LIST = 'mounts.json';

export class MountList {
  readonly file: string;

  constructor(stateDir: string) {
    this.file = path.join(stateDir, MOUNT_LIST);
  }

  /** The entries; a missing file is an empty list, a broken one an error (never overwritten). */
  load(): ListedMount[] {
    let text: string;
    try { text = fs.readFileSync(this.file, 'utf8'); } catch { return []; }
    const j = JSON.parse(text) as { mounts?: unknown };
    if (!j || !Array.isArray(j.mounts)) throw new Error(`${this.file}: expected {"mounts": [...]}`);
    return (j.mounts as ListedMount[]).filter((m) => m && typeof m.backing === 'string' && typeof m.mountpoint === 'string');
  }

  private save(list: ListedMount[]): void {
    writeAtomic(this.file, JSON.stringify({ mounts: list }, null, 1) + '\n', 0o644);
  }

  add(m: ListedMount): void {
    const list = this.safeLoad().filter((x) => x.mountpoint !== m.mountpoint);
    list.push(m);
    this.save(list);
  }

  remove(mountpoint: string): void {
    const list = this.safeLoad();
    const next = list.filter((x) => x.mountpoint !== mountpoint);
    if (next.length !== list.length) this.save(next);
  }

  private safeLoad(): ListedMount[] {
    try { return this.load(); } catch { return []; }
  }
}
