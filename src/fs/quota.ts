// GPFS-style quota reports (user.quota, group.quota, fileset.quota in the mount root): blocks and
// inodes used per uid, gid and fileset, computed from the backing tree. The whole filesystem is
// fileset "root". No limits are enforced, so quota and limit columns are 0 ("none"), as
// mmrepquota prints for entries without limits.
import * as fs from 'fs';
import { BackingDir, QuotaKind } from '../backing';
import * as sys from '../native/sys';

interface Usage { kb: bigint; files: number }
export interface UsageTable { user: Map<number, Usage>; group: Map<number, Usage>; fileset: Map<string, Usage> }

function add(m: Map<number | string, Usage>, k: number | string, kb: bigint): void {
  const u = m.get(k);
  if (u) { u.kb += kb; u.files++; } else m.set(k, { kb, files: 1 });
}

/** Walks the backing tree (the backing view's walk: not the reserved area, not nested mounts), counting each inode once. */
export function scanUsage(dir: BackingDir): UsageTable {
  const t: UsageTable = { user: new Map(), group: new Map(), fileset: new Map() };
  const seen = new Set<bigint>();
  const st = new BigUint64Array(sys.STAT_FIELDS);
  const count = () => {
    const ino = st[sys.STAT_INO];
    if (seen.has(ino)) return;
    seen.add(ino);
    const kb = (st[sys.STAT_BLOCKS] * 512n) / 1024n;
    add(t.user as Map<number | string, Usage>, Number(st[sys.STAT_UID]), kb);
    add(t.group as Map<number | string, Usage>, Number(st[sys.STAT_GID]), kb);
    add(t.fileset as Map<number | string, Usage>, 'root', kb);
  };
  if (dir.stat('', st)) count();
  dir.walk('', (rel) => {
    if (!dir.stat(rel, st) || st[sys.STAT_DEV] !== dir.dev) return false;
    count();
  });
  return t;
}

function idNames(file: string): Map<number, string> {
  const m = new Map<number, string>();
  try {
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      const f = line.split(':');
      if (f.length > 2 && /^\d+$/.test(f[2])) m.set(Number(f[2]), f[0]);
    }
  } catch { /* no such database: numeric ids */ }
  return m;
}

const HEADER1 = '                                      Block Limits                                    |                     File Limits';
const HEADER2 = 'Name       fileset    type             KB      quota      limit   in_doubt    grace |    files   quota    limit in_doubt    grace  entryType';

/** The text of one report, in the layout of GPFS mmrepquota. */
export function formatReport(kind: QuotaKind, t: UsageTable): string {
  const type = kind === 'user' ? 'USR' : kind === 'group' ? 'GRP' : 'FILESET';
  const lines = [`*** Report for ${kind === 'user' ? 'USR' : kind === 'group' ? 'GRP' : 'FILESET'} quotas on dmapifs`, HEADER1, HEADER2];
  const names = kind === 'user' ? idNames('/etc/passwd') : kind === 'group' ? idNames('/etc/group') : null;
  const rows: Array<[string, Usage]> = [];
  if (kind === 'fileset') for (const [k, u] of t.fileset) rows.push([k, u]);
  else for (const [id, u] of (kind === 'user' ? t.user : t.group)) rows.push([names?.get(id) ?? String(id), u]);
  rows.sort((a, b) => a[0].localeCompare(b[0]));
  for (const [name, u] of rows) {
    lines.push(`${name.padEnd(10)} ${'root'.padEnd(10)} ${type.padEnd(7)} ${u.kb.toString().padStart(14)} ${'0'.padStart(10)} ${'0'.padStart(10)} ${'0'.padStart(10)}     none | ${String(u.files).padStart(8)} ${'0'.padStart(7)} ${'0'.padStart(8)} ${'0'.padStart(8)}     none  default on`);
  }
  return lines.join('\n') + '\n';
}

/**
 * Reports kept current: any change made through the mount bumps `generation`, and changes made
 * behind the mount's back are picked up after `ttlMs`.
 */
export class QuotaReports {
  generation = 0;
  private cached: { gen: number; at: number; texts: Map<QuotaKind, Buffer>; mtime: number } | null = null;
  private pending: Promise<void> | null = null;

  constructor(private readonly dir: BackingDir, private readonly ttlMs = 1000) {}

  changed(): void {
    this.generation++;
  }

  /** The current report text and the time it was computed (ms). */
  async report(kind: QuotaKind): Promise<{ text: Buffer; mtime: number }> {
    const c = this.cached;
    if (!c || c.gen !== this.generation || Date.now() - c.at > this.ttlMs) {
      this.pending ??= this.refresh().finally(() => { this.pending = null; });
      await this.pending;
    }
    const x = this.cached!;
    return { text: x.texts.get(kind)!, mtime: x.mtime };
  }

  private async refresh(): Promise<void> {
    const gen = this.generation;
    const t = scanUsage(this.dir);
    const texts = new Map<QuotaKind, Buffer>();
    for (const k of ['user', 'group', 'fileset'] as QuotaKind[]) texts.set(k, Buffer.from(formatReport(k, t)));
    const prev = this.cached;
    const same = prev && [...texts].every(([k, v]) => prev.texts.get(k)?.equals(v));
    this.cached = { gen, at: Date.now(), texts, mtime: same && prev ? prev.mtime : Date.now() };
  }
}
