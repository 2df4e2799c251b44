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
import { compareTrees, DiffMismatch, DiffRunner, DiffStats, timeWindow } from './helpers/diffops';
import * as sys from '../src/native/sys';

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
  'fallocate', 'lseek', 'readdir', 'stat', 'lstat', 'fstat', 'copy_file_range', 'acl-set', 'acl-get', 'acl-remove', 'access-as',
];

const runs: Array<{ title: string; seed: number; attrTimeout?: number; entryTimeout?: number }> = [
  { title: 'kernel attribute and entry caches on (1 s)', seed: SEED },
  { title: 'attribute and entry caches off', seed: GIVEN ?? (SEED + 1) >>> 0, attrTimeout: 0, entryTimeout: 0 },
];

// The comparator itself: two equal plain trees compare equal, and each kind of difference the
// differential test relies on is reported (so a passing run means something).
test('the tree comparator reports every kind of difference it is meant to see', (t) => {
  const make = (root: string) => {
    fs.mkdirSync(path.join(root, 'd/e'), { recursive: true });
    fs.writeFileSync(path.join(root, 'd/f'), Buffer.from('0123456789'));
    fs.linkSync(path.join(root, 'd/f'), path.join(root, 'd/e/h'));
    fs.writeFileSync(path.join(root, 'g'), '');
    fs.symlinkSync('d/f', path.join(root, 'l'));
    sys.lsetxattr(path.join(root, 'd/f'), 'user.x', Buffer.from('v'), 0);
    sys.utimensat(sys.AT_FDCWD, path.join(root, 'g'), 1000000000, 5, 1000000000, 7, 0);
  };
  const w = timeWindow();
  const mutations: Array<[string, (root: string) => void, RegExp]> = [
    ['extra name', (r) => fs.writeFileSync(path.join(r, 'd/e/new'), ''), /names differ/],
    ['content byte', (r) => { const fd = fs.openSync(path.join(r, 'd/f'), 'r+'); fs.writeSync(fd, 'X', 5); fs.closeSync(fd); }, /contents differ at byte 5/],
    ['size', (r) => fs.truncateSync(path.join(r, 'g'), 3), /attributes differ/],
    ['mode', (r) => fs.chmodSync(path.join(r, 'g'), 0o600), /attributes differ/],
    ['owner', (r) => fs.chownSync(path.join(r, 'g'), 41001, 41001), /attributes differ/],
    ['mtime ns', (r) => sys.utimensat(sys.AT_FDCWD, path.join(r, 'g'), 1000000000, 5, 1000000000, 8, 0), /attributes differ/],
    ['xattr value', (r) => sys.lsetxattr(path.join(r, 'd/f'), 'user.x', Buffer.from('w'), 0), /xattrs differ/],
    ['symlink target', (r) => { fs.unlinkSync(path.join(r, 'l')); fs.symlinkSync('d/F', path.join(r, 'l')); }, /symlink targets differ/],
    ['hard links', (r) => { fs.unlinkSync(path.join(r, 'd/e/h')); fs.copyFileSync(path.join(r, 'd/f'), path.join(r, 'd/e/h')); }, /(hard links|attributes) differ/],
    ['type', (r) => { fs.unlinkSync(path.join(r, 'g')); fs.mkdirSync(path.join(r, 'g')); }, /attributes differ/],
  ];
  for (const [what, mutate, expect] of mutations) {
    const a = cluster.tmpDir(t, 'dmfs-cmp-a-');
    const b = cluster.tmpDir(t, 'dmfs-cmp-b-');
    make(a);
    make(b);
    t.deepEqual(compareTrees(a, b, { window: w }).diffs, [], `equal trees before: ${what}`);
    mutate(a);
    const diffs = compareTrees(a, b, { window: w }).diffs;
    t.true(diffs.some((d) => expect.test(d)), `${what}: ${JSON.stringify(diffs)}`);
  }
});

for (const r of runs) {
  test.serial(`differential: ${OPS} random operations on the mount and on a plain directory give identical results (${r.title})`, async (t) => {
    t.timeout(15 * 60 * 1000);
    const { mnt, backing } = await cluster.withMount(t, { attrTimeout: r.attrTimeout, entryTimeout: r.entryTimeout });
    const reference = cluster.tmpDir(t, 'dmfs-ref-');
    const scratch = cluster.tmpDir(t, 'dmfs-diff-');
    // Other uids (access-as) reach the trees as far as their own modes and ACLs let them.
    fs.chmodSync(backing, 0o755);
    fs.chmodSync(reference, 0o755);
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
    t.true(stats.nonUtf8 > 0, 'operations on names that are not UTF-8 succeeded');
    t.true(failed < OPS * 0.6, 'most operations succeed');
  });
}
