// The reserved area: the filesystem's own state inside the backing directory, invisible and
// unchangeable through the mount, and the GPFS-style quota files shown in the mount root.
//
// Layout in the backing root:
//   .dmapifs/            the area itself (never listed, looked up or changed through the mount)
//   .dmapifs/quota/      one real, empty file per quota report: it gives each report a stable
//                        inode number of its own, so reserved files are recognised by inode
//   .dmapifs/igen-counter the generation counter (generations.ts)
//   .dmapifs/...         the DMAPI's configuration and filesystem-wide state (src/dmapi/fsconfig.ts)
import * as fs from 'fs';
import * as path from 'path';
import { RESERVED_DIR } from './private';

export { RESERVED_DIR };
export const QUOTA_FILES = ['user.quota', 'group.quota', 'fileset.quota'] as const;
export type QuotaKind = 'user' | 'group' | 'fileset';

/** What a mount path names, as far as reservations go. */
export type ReservedKind = { kind: 'area' } | { kind: 'quota'; which: QuotaKind } | null;

export function classifyPath(p: string): ReservedKind {
  // Paths from the FUSE layer are absolute within the mount: "/", "/a", "/a/b".
  if (p.charCodeAt(0) !== 47) return null;
  if (p.startsWith('/' + RESERVED_DIR) && (p.length === RESERVED_DIR.length + 1 || p[RESERVED_DIR.length + 1] === '/')) {
    return { kind: 'area' };
  }
  if (p.indexOf('/', 1) === -1) {
    const name = p.slice(1);
    if (name === 'user.quota') return { kind: 'quota', which: 'user' };
    if (name === 'group.quota') return { kind: 'quota', which: 'group' };
    if (name === 'fileset.quota') return { kind: 'quota', which: 'fileset' };
  }
  return null;
}

export class ReservedArea {
  /** Absolute path of .dmapifs in the backing directory. */
  readonly dir: string;
  private readonly inos = new Set<bigint>();
  readonly quotaIno = new Map<QuotaKind, bigint>();

  /** `walk` visits the area's objects (the backing view's one walk, started in the area). */
  constructor(readonly backing: string, private readonly walk: (visit: (rel: string, ino: bigint) => void) => void) {
    this.dir = path.join(backing, RESERVED_DIR);
  }

  /** Creates the area if needed and learns the inode numbers of everything in it. */
  prepare(): void {
    // One level at a time: a recursive mkdir reports ENOENT where the real error is EROFS.
    for (const d of [this.dir, path.join(this.dir, 'quota')]) {
      try { fs.mkdirSync(d, { mode: 0o700 }); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e; }
    }
    if ((fs.statSync(this.dir).mode & 0o777) !== 0o700) fs.chmodSync(this.dir, 0o700);
    for (const q of QUOTA_FILES) {
      const f = path.join(this.dir, 'quota', q);
      if (!fs.existsSync(f)) fs.writeFileSync(f, '', { mode: 0o444 });
      this.quotaIno.set(q.replace('.quota', '') as QuotaKind, fs.lstatSync(f, { bigint: true }).ino);
    }
    this.rescan();
  }

  /** When the inode numbers were last read off the area (ms). */
  private scannedAt = 0;

  /** Re-reads the inode numbers of the area (after the daemon adds or replaces files in it). */
  rescan(): void {
    const inos = new Set<bigint>();
    this.walk((_rel, ino) => { inos.add(ino); });
    this.inos.clear();
    for (const i of inos) this.inos.add(i);
    this.scannedAt = Date.now();
  }

  /** Records a file the daemon created in the area. */
  track(ino: bigint): void {
    this.inos.add(ino);
  }

  /**
   * THE predicate: is this backing inode one of the filesystem's reserved files?
   * DMAPI refuses handles of such inodes with EBADF; the mount does not show them.
   *
   * The area changes (configuration rewritten, journals) and inode numbers are reused, so the set
   * is re-read at most once a second when asked, and a hit is always confirmed against the area as
   * it is now: an ordinary file that got the number of a file once in the area is not hidden.
   */
  isReserved(ino: bigint): boolean {
    if (Date.now() - this.scannedAt > 1000) this.rescan();
    if (!this.inos.has(ino)) return false;
    this.rescan();
    return this.inos.has(ino);
  }
}
