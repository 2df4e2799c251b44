// Filesystem benchmark: a dmapifs mount against its backing directory, side by side.
// `npm run bench:fs` (after a build; as root), `-- --json` for a last line
// {"metrics": {"<name>": {"value": N, "unit": "..."}}}, `-- --profile DIR` to have the node
// daemon write a V8 CPU profile (.cpuprofile, open in Chrome DevTools) into DIR.
//
// Set-up: a private tmpfs (mount -t tmpfs) holds the backing directories and the native
// directory, so neither side waits on a disk; a private node daemon (own DMAPIFS_RUN_DIR) serves
// two mounts through the real CLI: one with the default caches (attributes and names 1 s), one
// with both off (--attr-timeout 0 --entry-timeout 0) for the uncached stat.
//
//   seq_write_mb_per_s       1 GiB written in 128 KiB write() calls, fsync and close included
//   seq_read_mb_per_s        the same file read back in 128 KiB read() calls after dropping the
//                            page cache (echo 3 > /proc/sys/vm/drop_caches): on the mount every
//                            byte comes through the daemon (kernel readahead → 128 KiB READ
//                            requests → pread on the backing file); tmpfs itself keeps its pages
//   rand_read_4k_ops_per_s   4 KiB pread() at random aligned offsets of the 1 GiB file, 3 s, page
//                            cache dropped first (misses go to the daemon with readahead)
//   rand_read_4k_direct_ops_per_s  same with O_DIRECT: every read is a round trip to the daemon
//   create_per_s             10,000 files: open(O_CREAT|O_EXCL|O_WRONLY) + close
//   stat_per_s               lstat of those 10,000 files (default caches: partly cached)
//   unlink_per_s             unlink of those 10,000 files
//   uncached_stat_per_s      lstat of 10,000 existing files on the mount without caches (every
//                            lstat is a LOOKUP round trip, plus GETATTR when the reply aged)
// Each has native_* (the backing tmpfs directly) and *_ratio (mount / native).
import { execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { report, type Row } from './report';

const args = process.argv.slice(2);
const json = args.includes('--json');
const profileDir = args.includes('--profile') ? path.resolve(args[args.indexOf('--profile') + 1] ?? 'bench-profile') : null;
const REPO = path.resolve(__dirname, '..', '..');
const CLI = path.join(REPO, 'bin', 'dmapifs');

const GiB = 1 << 30;
const BLOCK = 128 << 10;
const FILES = 10000;
const RAND_SECONDS = 3;

const O = fs.constants;

function now(): number {
  return Number(process.hrtime.bigint()) / 1e9;
}

function dropCaches(): boolean {
  try {
    fs.writeFileSync('/proc/sys/vm/drop_caches', '3');
    return true;
  } catch {
    return false;
  }
}

/** A fast PRNG for offsets (xorshift32). */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x;
  };
}

interface SideResult {
  seqWrite: number; seqRead: number; rand: number; randDirect: number | null;
  create: number; stat: number; unlink: number;
}

function seqWrite(file: string): number {
  const buf = Buffer.alloc(BLOCK);
  for (let i = 0; i < BLOCK; i += 4) buf.writeUInt32LE((i * 2654435761) >>> 0, i);
  const t0 = now();
  const fd = fs.openSync(file, O.O_WRONLY | O.O_CREAT | O.O_TRUNC, 0o644);
  for (let off = 0; off < GiB; off += BLOCK) {
    buf.writeUInt32LE(off / BLOCK, 0);
    if (fs.writeSync(fd, buf, 0, BLOCK, off) !== BLOCK) throw new Error('short write');
  }
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  return GiB / 1e6 / (now() - t0);
}

function seqRead(file: string): number {
  const buf = Buffer.alloc(BLOCK);
  const t0 = now();
  const fd = fs.openSync(file, O.O_RDONLY);
  let total = 0;
  for (;;) {
    const n = fs.readSync(fd, buf, 0, BLOCK, null);
    if (n <= 0) break;
    total += n;
  }
  fs.closeSync(fd);
  if (total !== GiB) throw new Error(`read ${total} bytes of ${GiB}`);
  return GiB / 1e6 / (now() - t0);
}

function randRead(file: string, direct: boolean): number | null {
  let fd: number;
  try {
    fd = fs.openSync(file, O.O_RDONLY | (direct ? O.O_DIRECT : 0));
  } catch (e) {
    if (direct && (e as NodeJS.ErrnoException).code === 'EINVAL') return null;
    throw e;
  }
  // O_DIRECT wants an aligned buffer: a 4 KiB slice of a page-aligned allocation.
  const big = Buffer.allocUnsafeSlow(8192);
  const buf = big.subarray((4096 - (big.byteOffset % 4096)) % 4096).subarray(0, 4096);
  const next = rng(12345);
  const pages = GiB / 4096;
  let ops = 0;
  const t0 = now();
  const end = t0 + RAND_SECONDS;
  let t = t0;
  while (t < end) {
    for (let i = 0; i < 256; i++) {
      const off = (next() % pages) * 4096;
      if (fs.readSync(fd, buf, 0, 4096, off) !== 4096) throw new Error('short read');
    }
    ops += 256;
    t = now();
  }
  fs.closeSync(fd);
  return ops / (t - t0);
}

function manyFiles(dir: string): { create: number; stat: number; unlink: number } {
  fs.mkdirSync(dir);
  const names = Array.from({ length: FILES }, (_, i) => path.join(dir, `f${i}`));
  let t0 = now();
  for (const n of names) fs.closeSync(fs.openSync(n, O.O_CREAT | O.O_EXCL | O.O_WRONLY, 0o644));
  const create = FILES / (now() - t0);
  t0 = now();
  for (const n of names) fs.lstatSync(n);
  const stat = FILES / (now() - t0);
  t0 = now();
  for (const n of names) fs.unlinkSync(n);
  const unlink = FILES / (now() - t0);
  fs.rmdirSync(dir);
  return { create, stat, unlink };
}

function side(root: string, canDrop: boolean): SideResult {
  const file = path.join(root, 'big');
  const seqW = seqWrite(file);
  if (canDrop) dropCaches();
  const seqR = seqRead(file);
  if (canDrop) dropCaches();
  const rand = randRead(file, false) as number;
  const randDirect = randRead(file, true);
  fs.unlinkSync(file);
  const m = manyFiles(path.join(root, 'many'));
  return { seqWrite: seqW, seqRead: seqR, rand, randDirect, ...m };
}

/** lstat of FILES existing names in `dir`, two passes; per second. */
function statPasses(dir: string, names: string[]): number {
  const t0 = now();
  for (let pass = 0; pass < 2; pass++) for (const n of names) fs.lstatSync(path.join(dir, n));
  return (2 * names.length) / (now() - t0);
}

function cli(env: NodeJS.ProcessEnv, a: string[]): void {
  execFileSync(process.execPath, [CLI, ...a], { env, stdio: ['ignore', 'ignore', 'inherit'] });
}

function main(): void {
  if (process.geteuid?.() !== 0) throw new Error('bench:fs must run as root (FUSE mounts, tmpfs, drop_caches)');
  const work = fs.mkdtempSync('/tmp/dmbench-fs-');
  const env: NodeJS.ProcessEnv = { ...process.env, DMAPIFS_RUN_DIR: path.join(work, 'run') };
  const node = `benchfs-${process.pid}`;
  const tmpfs = path.join(work, 'tmpfs');
  const mnt = path.join(work, 'mnt');
  const mntU = path.join(work, 'mnt-uncached');
  fs.mkdirSync(tmpfs);
  fs.mkdirSync(mnt);
  fs.mkdirSync(mntU);
  let tmpfsMounted = false;
  const mounted: string[] = [];
  const cleanup = () => {
    for (const m of mounted.splice(0)) {
      try { cli(env, ['umount', m]); } catch { try { execFileSync('umount', ['-l', m]); } catch { /* gone */ } }
    }
    try { cli(env, ['node', 'stop', '--node', node]); } catch { /* not running */ }
    if (tmpfsMounted) {
      try { execFileSync('umount', [tmpfs]); } catch { try { execFileSync('umount', ['-l', tmpfs]); } catch { /* gone */ } }
      tmpfsMounted = false;
    }
    fs.rmSync(work, { recursive: true, force: true });
  };
  const onSignal = () => { cleanup(); process.exit(130); };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=3g,mode=0755', 'dmbench-tmpfs', tmpfs]);
    tmpfsMounted = true;
    const backing = path.join(tmpfs, 'backing');
    const backingU = path.join(tmpfs, 'backing-uncached');
    const native = path.join(tmpfs, 'native');
    for (const d of [backing, backingU, native]) fs.mkdirSync(d);

    // The uncached mount's files are made directly in its backing directory (fast), before it mounts.
    const names = Array.from({ length: FILES }, (_, i) => `s${i}`);
    const nativeStat = path.join(native, 'stat');
    fs.mkdirSync(nativeStat);
    for (const n of names) {
      fs.closeSync(fs.openSync(path.join(backingU, n), 'w'));
      fs.closeSync(fs.openSync(path.join(nativeStat, n), 'w'));
    }

    if (profileDir) {
      // Node refuses --cpu-prof in NODE_OPTIONS: start the daemon ourselves, profiled; the CLI
      // then finds it running. The profile is written when the node stops.
      fs.mkdirSync(profileDir, { recursive: true });
      const daemon = spawn(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, path.join(REPO, 'dist', 'src', 'daemon', 'main.js'), '--node', node],
        { env, cwd: '/', detached: true, stdio: 'ignore' });
      daemon.unref();
      const sock = path.join(env.DMAPIFS_RUN_DIR as string, node, 'control.sock');
      const deadline = Date.now() + 20000;
      while (!fs.existsSync(sock)) {
        if (Date.now() > deadline) throw new Error(`profiled daemon did not come up (${sock})`);
        execFileSync('sleep', ['0.1']);
      }
    }
    cli(env, ['node', 'start', '--node', node]);
    cli(env, ['mount', '--node', node, backing, mnt]);
    mounted.push(mnt);
    cli(env, ['mount', '--node', node, '--attr-timeout', '0', '--entry-timeout', '0', backingU, mntU]);
    mounted.push(mntU);

    const canDrop = dropCaches();
    const m = side(mnt, canDrop);
    const n = side(native, canDrop);
    const uncached = statPasses(mntU, names);
    const uncachedNative = statPasses(nativeStat, names);

    const spec: [name: string, unit: string, mount: number | null, native: number | null, target: number | null][] = [
      ['seq_write_mb_per_s', 'MB/s', m.seqWrite, n.seqWrite, 400],
      ['seq_read_mb_per_s', 'MB/s', m.seqRead, n.seqRead, 550],
      ['rand_read_4k_ops_per_s', 'reads/s', m.rand, n.rand, 20000],
      ['rand_read_4k_direct_ops_per_s', 'reads/s', m.randDirect, n.randDirect, null],
      ['create_per_s', 'files/s', m.create, n.create, 3000],
      ['stat_per_s', 'stats/s', m.stat, n.stat, null],
      ['unlink_per_s', 'files/s', m.unlink, n.unlink, null],
      ['uncached_stat_per_s', 'stats/s', uncached, uncachedNative, 10000],
    ];
    const rows: Row[] = [];
    const notes: string[] = [];
    for (const [name, unit, mv, nv, target] of spec) {
      if (mv === null) {
        notes.push(`${name}: not measured, the mount refused O_DIRECT (EINVAL)`);
        continue;
      }
      if (nv === null) notes.push(`${name}: no native figure, the backing tmpfs refused O_DIRECT (EINVAL)`);
      rows.push({
        name, value: mv, unit,
        peer: nv === null ? null : { name: `native_${name}`, label: 'native tmpfs', value: nv, ratio: name.replace(/_(mb_per_s|ops_per_s|per_s)$/, '_ratio') },
        target: target === null ? undefined : { op: '>=', value: target },
      });
    }
    notes.push(`1 GiB file, 128 KiB blocks; page cache dropped before the reads${canDrop ? '' : ' (NOT possible here: reads may be cached)'}; ` +
      `mount reads arrive at the daemon as 128 KiB READ requests (kernel readahead); ${FILES.toLocaleString('en-US')} files for create/stat/unlink; ` +
      `uncached stat on a mount with --attr-timeout 0 --entry-timeout 0.`);
    notes.push('native_<metric>: the same operations on the backing tmpfs directly; the *_ratio metrics are mount / native; the targets are for the mount.');
    if (profileDir) notes.push(`daemon CPU profile: written to ${profileDir} when the node stops`);
    report(`dmapifs filesystem benchmark: mount vs its backing directory on tmpfs (node ${process.version}, ${os.cpus().length} CPUs, ${os.cpus()[0]?.model ?? ''})`,
      rows, { json, notes });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    cleanup();
  }
}

try {
  main();
} catch (e) {
  console.error(`bench:fs: ${(e as Error).stack ?? e}`);
  process.exit(1);
}
