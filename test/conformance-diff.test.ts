// Conformance: a seeded randomized differential test. The same random sequence of operations
// (see test/helpers/diffops.ts) is applied to a dmapifs mount, served by the real node daemon and
// mounted through the real CLI, and to a plain directory on the same kind of filesystem; every
// result, errno, data read and attribute touched must be identical, and so must the whole trees
// (checked every 1000 operations and at the end). At the end the backing directory itself must
// equal the reference too: what the mount showed did reach the backing files.
//
// Two runs: with the kernel's attribute and entry caches on (the default 1 s), and with both off
// (every lookup and stat reaches the daemon).
//
// DMAPIFS_DIFF_SEED=N replays a run (a failure prints its seed); DMAPIFS_DIFF_OPS=N changes the
// number of operations per run (default 100000).
import test from 'ava';
import * as fs from 'fs';
import * as path from 'path';
import { useCluster } from './helpers/cluster';
import { compareTrees, DiffMismatch, DiffRunner, DiffStats } from './helpers/diffops';

const cluster = useCluster();

const OPS = Number(process.env.DMAPIFS_DIFF_OPS) || 100000;
// A fresh seed per run unless one is given (then both runs use it: a failure reproduces).
const GIVEN = process.env.DMAPIFS_DIFF_SEED ? Number(process.env.DMAPIFS_DIFF_SEED) >>> 0 : null;
const SEED = GIVEN ?? (Date.now() ^ (process.pid << 16)) >>> 0;
const RESERVED_NAMES = new Set(['user.quota', 'group.quota', 'fileset.quota']);

/** Kinds every run must have exercised, each succeeding at least once. */
const REQUIRED_KINDS = [
  'open-create', 'open', 'close', 'write', 'read', 'truncate', 'ftruncate', 'rename', 'rename-noreplace',
  'rename-exchange', 'link', 'unlink', 'mkdir', 'rmdir', 'symlink', 'readlink', 'chmod', 'fchmod', 'chown',
  'utimensat', 'futimens', 'setxattr', 'getxattr', 'listxattr', 'removexattr', 'mmap-write', 'mmap-read',
  'fallocate', 'lseek', 'readdir', 'stat', 'lstat', 'fstat',
];

const runs: Array<{ title: string; seed: number; attrTimeout?: number; entryTimeout?: number }> = [
  { title: 'kernel attribute and entry caches on (1 s)', seed: SEED },
  { title: 'attribute and entry caches off', seed: GIVEN ?? (SEED + 1) >>> 0, attrTimeout: 0, entryTimeout: 0 },
];

for (const r of runs) {
  test.serial(`differential: ${OPS} random operations on the mount and on a plain directory give identical results (${r.title})`, async (t) => {
    t.timeout(15 * 60 * 1000);
    const { mnt, backing } = await cluster.withMount(t, { attrTimeout: r.attrTimeout, entryTimeout: r.entryTimeout });
    const reference = cluster.tmpDir(t, 'dmfs-ref-');
    const scratch = cluster.tmpDir(t, 'dmfs-diff-');
    // The reference must live on the backing's kind of filesystem (errnos, limits, sizes).
    t.is(fs.statfsSync(reference).type, fs.statfsSync(backing).type, 'reference and backing on the same filesystem type');
    const subject = path.join(mnt, 'w');
    const ref = path.join(reference, 'w');
    fs.mkdirSync(subject);
    fs.mkdirSync(ref);
    t.log(`seed ${r.seed} (replay: DMAPIFS_DIFF_SEED=${r.seed}), ${OPS} operations`);

    const runner = new DiffRunner({ seed: r.seed, ops: OPS, subject, reference: ref, scratch, checkEvery: 1000 });
    let stats: DiffStats;
    try {
      stats = runner.run();
    } catch (e) {
      if (e instanceof DiffMismatch) return void t.fail(e.message);
      throw e;
    }

    // The mount root shows the run's directory and the quota reports, nothing else.
    const top = compareTrees(mnt, reference, { window: runner.window, excludeTopA: RESERVED_NAMES, limit: 5 });
    t.deepEqual(top.diffs, [], 'mount root (quota reports excluded) equals the reference root');
    t.deepEqual(fs.readdirSync(mnt).sort(), ['fileset.quota', 'group.quota', 'user.quota', 'w']);
    // What the mount showed is what the backing directory holds.
    const back = compareTrees(path.join(backing, 'w'), ref, { window: runner.window, limit: 5 });
    t.deepEqual(back.diffs, [], 'backing directory equals the reference');

    const failed = Object.values(stats.errors).reduce((a, b) => a + b, 0);
    t.log(`${stats.ops} operations in ${(stats.ms / 1000).toFixed(1)} s (${Math.round(stats.ops / (stats.ms / 1000))}/s); ` +
      `${stats.ops - failed} succeeded, ${failed} failed identically (${Object.entries(stats.errors).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ')})`);
    t.log(`${stats.treeChecks} whole-tree comparisons (up to ${stats.maxEntries} entries), ${(stats.bytesWritten / 2 ** 20).toFixed(0)} MiB written, ` +
      `${(stats.bytesCompared / 2 ** 20).toFixed(0)} MiB compared`);
    t.is(stats.ops, OPS);
    for (const k of REQUIRED_KINDS) t.true((stats.succeeded[k] ?? 0) > 0, `operation ${k} succeeded at least once`);
    t.true(failed < OPS * 0.6, 'most operations succeed');
  });
}
