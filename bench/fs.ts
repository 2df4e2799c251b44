// Filesystem benchmark: dmapifs beside the fastest public FUSE passthrough (libfuse 3.18.2's
// passthrough_hp, built at run time from ../shared/peers) and the backing tmpfs itself, doing the
// same work in the same run, in interleaved rounds.
//
//   npm run bench:fs [-- --rounds N] [--file-mib N] [--json] [--profile DIR]
//
// Systems (each over its own directory of one private tmpfs, so no side waits on a disk):
//   native            the tmpfs directory itself
//   passthrough_hp    passthrough_hp in its default mode: kernel FUSE passthrough for reads and
//                     writes, attribute/entry timeouts of 86400 s, splice, a thread pool
//   passthrough_hp_nopassthrough   the same with --nopassthrough (every read and write through
//                     its daemon; it then enables the writeback cache)
//   dmapifs           a dmapifs mount with --passthrough (kernel FUSE passthrough, as
//                     passthrough_hp's default) and the same 86400 s timeouts (equal timeouts: the
//                     metadata comparison is not about cache lifetimes)
//   dmapifs_daemon    a dmapifs mount without passthrough (the default: every read and write
//                     through the daemon), same timeouts: like for like with hp --nopassthrough
//   dmapifs_dmapi     a --dmapi mount with no event, region or disposition (what DMAPI costs when
//                     nothing is managed), same timeouts; compared with dmapifs_daemon
// and, for the uncached stat only, passthrough_hp --nocache beside a dmapifs mount with
// --attr-timeout 0 --entry-timeout 0.
//
// Each round runs every system once, in an order rotated by the round (the machine's load drifts
// over a run: interleaving spreads it over every system alike). Per metric the table shows the
// median over the rounds and the range; ratios are the median of the per-round ratios (ours and
// the peer of the same round), the like-for-like figure.
//
//   seqwrite          FILE written in 128 KiB write() calls, fsync and close included (MB/s)
//   seqread           read back in 128 KiB read() calls after dropping the page cache (MB/s)
//   randread_4k       4 KiB pread() at random aligned offsets, 2 s, page cache dropped first
//   randread_4k_direct  the same with O_DIRECT: every read reaches the filesystem
//   create            10,000 files: open(O_CREAT|O_EXCL|O_WRONLY) + close
//   stat              lstat of those 10,000 files (cached where the system caches)
//   readdir           entries/s listing that directory, 5 passes
//   unlink            unlink of those 10,000 files
//   uncached_stat     lstat of 10,000 files with every cache off (LOOKUP per lstat)
import { ChildProcess, execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { passthroughHp } from './peers';
import { reportMatrix, roundsArg, type MatrixRatio, type MatrixRow } from './report';

const args = process.argv.slice(2);
const json = args.includes('--json');
const argv = (name: string): string | undefined => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : undefined);
const ROUNDS = roundsArg(3);
const FILE_BYTES = Number(argv('file-mib') ?? 1024) * (1 << 20);
const profileDir = argv('profile') !== undefined || args.includes('--profile') ? path.resolve(argv('profile') ?? 'bench-profile') : null;
const REPO = path.resolve(__dirname, '..', '..');
const CLI = path.join(REPO, 'bin', 'dmapifs');

const BLOCK = 128 << 10;
const FILES = 10000;
const RAND_SECONDS = 2;
const READDIR_PASSES = 5;
const O = fs.constants;

const now = () => Number(process.hrtime.bigint()) / 1e9;

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

function seqWrite(file: string): number {
  const buf = Buffer.alloc(BLOCK);
  for (let i = 0; i < BLOCK; i += 4) buf.writeUInt32LE((i * 2654435761) >>> 0, i);
  const t0 = now();
  const fd = fs.openSync(file, O.O_WRONLY | O.O_CREAT | O.O_TRUNC, 0o644);
  for (let off = 0; off < FILE_BYTES; off += BLOCK) {
    buf.writeUInt32LE(off / BLOCK, 0);
    if (fs.writeSync(fd, buf, 0, BLOCK, off) !== BLOCK) throw new Error('short write');
  }
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  return FILE_BYTES / 1e6 / (now() - t0);
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
  if (total !== FILE_BYTES) throw new Error(`read ${total} bytes of ${FILE_BYTES}`);
  return FILE_BYTES / 1e6 / (now() - t0);
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
  const pages = FILE_BYTES / 4096;
  let ops = 0;
  const t0 = now();
  const end = t0 + RAND_SECONDS;
  let t = t0;
  while (t < end) {
    for (let i = 0; i < 256; i++) {
      if (fs.readSync(fd, buf, 0, 4096, (next() % pages) * 4096) !== 4096) throw new Error('short read');
    }
    ops += 256;
    t = now();
  }
  fs.closeSync(fd);
  return ops / (t - t0);
}

function manyFiles(dir: string): Record<'create' | 'stat' | 'readdir' | 'unlink', number> {
  fs.mkdirSync(dir);
  const names = Array.from({ length: FILES }, (_, i) => path.join(dir, `f${i}`));
  let t0 = now();
  for (const n of names) fs.closeSync(fs.openSync(n, O.O_CREAT | O.O_EXCL | O.O_WRONLY, 0o644));
  const create = FILES / (now() - t0);
  t0 = now();
  for (const n of names) fs.lstatSync(n);
  const stat = FILES / (now() - t0);
  t0 = now();
  for (let p = 0; p < READDIR_PASSES; p++) {
    if (fs.readdirSync(dir).length !== FILES) throw new Error('readdir: wrong entry count');
  }
  const readdir = (FILES * READDIR_PASSES) / (now() - t0);
  t0 = now();
  for (const n of names) fs.unlinkSync(n);
  const unlink = FILES / (now() - t0);
  fs.rmdirSync(dir);
  return { create, stat, readdir, unlink };
}

type Metric = 'seqwrite' | 'seqread' | 'randread_4k' | 'randread_4k_direct' | 'create' | 'stat' | 'readdir' | 'unlink' | 'uncached_stat';

function side(root: string, canDrop: boolean): Partial<Record<Metric, number>> {
  const file = path.join(root, 'big');
  const seqwrite = seqWrite(file);
  if (canDrop) dropCaches();
  const seqread = seqRead(file);
  if (canDrop) dropCaches();
  const randread4k = randRead(file, false) as number;
  const randread4kDirect = randRead(file, true);
  fs.unlinkSync(file);
  const m = manyFiles(path.join(root, 'many'));
  const out: Partial<Record<Metric, number>> = { seqwrite, seqread, randread_4k: randread4k, ...m };
  if (randread4kDirect !== null) out.randread_4k_direct = randread4kDirect;
  return out;
}

/** lstat of FILES existing names in `dir`, two passes; per second. */
function statPasses(dir: string, names: string[]): number {
  const t0 = now();
  for (let pass = 0; pass < 2; pass++) for (const n of names) fs.lstatSync(path.join(dir, n));
  return (2 * names.length) / (now() - t0);
}

function isMountpoint(p: string): boolean {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === p);
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

interface System {
  key: string;
  label: string;
  /** The directory the workload runs in. */
  root: string;
  /** Only the uncached stat runs on it. */
  uncachedOnly?: boolean;
  stop(): void;
}

function main(): void {
  if (process.geteuid?.() !== 0) throw new Error('bench:fs must run as root (FUSE mounts, tmpfs, drop_caches)');
  if (!Number.isInteger(FILE_BYTES / (1 << 20)) || FILE_BYTES < BLOCK) throw new Error('--file-mib takes a whole number ≥ 1');
  const notes: string[] = [];
  const hp = passthroughHp();
  if (!hp.prog) notes.push(`passthrough_hp not measured: ${hp.why}`);

  const work = fs.mkdtempSync('/tmp/dmbench-fs-');
  const env: NodeJS.ProcessEnv = { ...process.env, DMAPIFS_RUN_DIR: path.join(work, 'run') };
  const node = `benchfs-${process.pid}`;
  const tmpfs = path.join(work, 'tmpfs');
  fs.mkdirSync(tmpfs);
  const systems: System[] = [];
  const peers: ChildProcess[] = [];
  let tmpfsMounted = false;
  let nodeStarted = false;
  const cli = (a: string[]) => execFileSync(process.execPath, [CLI, ...a], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  const cleanup = () => {
    for (const s of systems.splice(0)) {
      try { s.stop(); } catch { /* already gone */ }
    }
    for (const p of peers.splice(0)) if (p.exitCode === null) p.kill('SIGKILL');
    if (nodeStarted) {
      try { cli(['node', 'stop', '--node', node]); } catch { /* not running */ }
    }
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
    const dirs = (key: string) => {
      const backing = path.join(tmpfs, key);
      const mnt = path.join(work, `mnt-${key}`);
      fs.mkdirSync(backing);
      fs.mkdirSync(mnt);
      return { backing, mnt };
    };
    // The uncached systems' files are made directly in their backing directories (fast), before
    // they mount.
    const names = Array.from({ length: FILES }, (_, i) => `s${i}`);
    const fill = (dir: string) => { for (const n of names) fs.closeSync(fs.openSync(path.join(dir, n), 'w')); };

    const nativeDir = path.join(tmpfs, 'native');
    fs.mkdirSync(nativeDir);
    systems.push({ key: 'native', label: 'native tmpfs', root: nativeDir, stop() {} });
    const nativeStat = path.join(tmpfs, 'native-stat');
    fs.mkdirSync(nativeStat);
    fill(nativeStat);
    systems.push({ key: 'native_nocache', label: 'native tmpfs', root: nativeStat, uncachedOnly: true, stop() {} });

    if (hp.prog) {
      const startHp = (key: string, label: string, flags: string[], uncachedOnly = false) => {
        const { backing, mnt } = dirs(key);
        if (uncachedOnly) fill(backing);
        const p = spawn(hp.prog as string, ['--foreground', ...flags, backing, mnt], { stdio: ['ignore', 'ignore', 'pipe'] });
        let err = '';
        p.stderr!.on('data', (b) => { err += b; });
        peers.push(p);
        const deadline = Date.now() + 10000;
        while (!isMountpoint(mnt)) {
          if (p.exitCode !== null || Date.now() > deadline) throw new Error(`passthrough_hp ${flags.join(' ')} did not mount: ${err.trim()}`);
          sleep(20);
        }
        systems.push({
          key, label, root: mnt, uncachedOnly,
          stop() {
            try { execFileSync('fusermount3', ['-u', mnt], { stdio: 'ignore' }); } catch { execFileSync('umount', ['-l', mnt], { stdio: 'ignore' }); }
            const end = Date.now() + 5000;
            while (p.exitCode === null && Date.now() < end) sleep(20);
          },
        });
      };
      startHp('passthrough_hp', 'passthrough_hp', []);
      startHp('passthrough_hp_nopassthrough', 'passthrough_hp --nopassthrough', ['--nopassthrough']);
      startHp('passthrough_hp_nocache', 'passthrough_hp --nocache', ['--nocache'], true);
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
        sleep(100);
      }
      notes.push(`daemon CPU profile: written to ${profileDir} when the node stops`);
    }
    cli(['node', 'start', '--node', node]);
    nodeStarted = true;
    const mountOurs = (key: string, label: string, flags: string[], uncachedOnly = false) => {
      const { backing, mnt } = dirs(key);
      if (uncachedOnly) fill(backing);
      cli(['mount', '--node', node, ...flags, backing, mnt]);
      systems.push({ key, label, root: mnt, uncachedOnly, stop() { cli(['umount', mnt]); } });
    };
    const long = ['--attr-timeout', '86400', '--entry-timeout', '86400'];
    mountOurs('dmapifs', 'dmapifs --passthrough', [...long, '--passthrough']);
    mountOurs('dmapifs_daemon', 'dmapifs', long);
    mountOurs('dmapifs_dmapi', 'dmapifs --dmapi', [...long, '--dmapi', '--mount-event-optional']);
    mountOurs('dmapifs_nocache', 'dmapifs, timeouts 0', ['--attr-timeout', '0', '--entry-timeout', '0'], true);

    const canDrop = dropCaches();
    const samples = new Map<string, Map<Metric, number[]>>();
    const add = (key: string, m: Metric, v: number) => {
      if (!samples.has(key)) samples.set(key, new Map());
      const s = samples.get(key)!;
      if (!s.has(m)) s.set(m, []);
      s.get(m)!.push(v);
    };
    const perRound: Record<string, Partial<Record<Metric, number>>>[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const order = systems.slice(r % systems.length).concat(systems.slice(0, r % systems.length));
      const got: Record<string, Partial<Record<Metric, number>>> = {};
      for (const s of order) {
        const res: Partial<Record<Metric, number>> = s.uncachedOnly ? { uncached_stat: statPasses(s.root, names) } : side(s.root, canDrop);
        // The uncached figures belong to the system they are the uncached variant of.
        const key = s.key.replace(/_nocache$/, '');
        got[key] = { ...got[key], ...res };
        for (const [m, v] of Object.entries(res)) add(key, m as Metric, v as number);
      }
      perRound.push(got);
      if (!json) process.stderr.write(`bench:fs: round ${r + 1}/${ROUNDS} done\n`);
    }

    const shown = [
      { key: 'native', label: 'native' },
      ...(hp.prog ? [{ key: 'passthrough_hp', label: 'passthrough_hp' }, { key: 'passthrough_hp_nopassthrough', label: 'hp --nopassthrough' }] : []),
      { key: 'dmapifs', label: 'dmapifs --passthrough' },
      { key: 'dmapifs_daemon', label: 'dmapifs' },
      { key: 'dmapifs_dmapi', label: 'dmapifs --dmapi' },
    ];
    const spec: [Metric, MatrixRow['suffix'], string][] = [
      ['seqwrite', 'mb_per_s', 'MB/s'], ['seqread', 'mb_per_s', 'MB/s'],
      ['randread_4k', 'per_s', 'reads/s'], ['randread_4k_direct', 'per_s', 'reads/s'],
      ['create', 'per_s', 'files/s'], ['stat', 'per_s', 'stats/s'], ['readdir', 'per_s', 'entries/s'],
      ['unlink', 'per_s', 'files/s'], ['uncached_stat', 'per_s', 'stats/s'],
    ];
    const rows: MatrixRow[] = spec.map(([name, suffix, unit]) => ({
      name, suffix, unit,
      samples: Object.fromEntries(shown.map((s) => [s.key, samples.get(s.key)?.get(name) ?? null])),
    }));
    const ratio = (name: string, row: Metric, ours: string, peer: string, target?: MatrixRatio['target']): MatrixRatio => ({
      name, row, ours, peer, target,
      rounds: perRound.map((g) => (g[ours]?.[row] !== undefined && g[peer]?.[row] ? (g[ours]![row] as number) / (g[peer]![row] as number) : NaN)).filter((x) => !Number.isNaN(x)),
    });
    const ratios: MatrixRatio[] = [];
    if (hp.prog) {
      ratios.push(
        ratio('randread_4k_direct_vs_passthrough_hp_ratio', 'randread_4k_direct', 'dmapifs', 'passthrough_hp', { op: '>=', value: 0.9 }),
        ratio('randread_4k_vs_passthrough_hp_ratio', 'randread_4k', 'dmapifs', 'passthrough_hp', { op: '>=', value: 0.9 }),
        ratio('seqread_vs_passthrough_hp_ratio', 'seqread', 'dmapifs', 'passthrough_hp', { op: '>=', value: 0.9 }),
        ratio('seqwrite_vs_passthrough_hp_ratio', 'seqwrite', 'dmapifs', 'passthrough_hp', { op: '>=', value: 1.0 }),
        ratio('create_vs_passthrough_hp_ratio', 'create', 'dmapifs', 'passthrough_hp', { op: '>=', value: 1.0 }),
        ratio('unlink_vs_passthrough_hp_ratio', 'unlink', 'dmapifs', 'passthrough_hp', { op: '>=', value: 1.0 }),
        ratio('readdir_vs_passthrough_hp_ratio', 'readdir', 'dmapifs', 'passthrough_hp', { op: '>=', value: 1.0 }),
        ratio('uncached_stat_vs_passthrough_hp_ratio', 'uncached_stat', 'dmapifs', 'passthrough_hp', { op: '>=', value: 1.0 }),
        // Without kernel passthrough on both sides: every read and write through the daemon.
        ratio('daemon_randread_4k_direct_vs_passthrough_hp_nopassthrough_ratio', 'randread_4k_direct', 'dmapifs_daemon', 'passthrough_hp_nopassthrough'),
        ratio('daemon_seqwrite_vs_passthrough_hp_nopassthrough_ratio', 'seqwrite', 'dmapifs_daemon', 'passthrough_hp_nopassthrough'),
        ratio('daemon_seqread_vs_passthrough_hp_nopassthrough_ratio', 'seqread', 'dmapifs_daemon', 'passthrough_hp_nopassthrough'),
      );
    }
    ratios.push(
      ratio('randread_4k_direct_vs_native_ratio', 'randread_4k_direct', 'dmapifs', 'native', { op: '>=', value: 0.8 }),
      ratio('randread_4k_vs_native_ratio', 'randread_4k', 'dmapifs', 'native', { op: '>=', value: 0.8 }),
      ratio('seqread_vs_native_ratio', 'seqread', 'dmapifs', 'native', { op: '>=', value: 0.8 }),
      // What a --dmapi mount costs when nothing is managed, on the path most sensitive to it: every
      // O_DIRECT read reaches the daemon (so the plain mount compared is the one without passthrough).
      ratio('dmapi_mount_vs_plain_ratio', 'randread_4k_direct', 'dmapifs_dmapi', 'dmapifs_daemon', { op: '>=', value: 0.95 }),
    );
    notes.push(`${ROUNDS} interleaved round(s); ${FILE_BYTES >> 20} MiB file in 128 KiB blocks; page cache dropped before the reads${canDrop ? '' : ' (NOT possible here: reads may be cached)'}; ` +
      `${FILES.toLocaleString('en-US')} files for create/stat/readdir/unlink; every system on the same private tmpfs.`);
    notes.push('timeouts: passthrough_hp and the dmapifs rows cache attributes and entries for 86400 s; uncached_stat is passthrough_hp --nocache beside dmapifs --attr-timeout 0 --entry-timeout 0 (and plain tmpfs).');
    notes.push('ratios: median of the per-round ratios (the two systems of one round ran minutes apart at most), range over the rounds; targets are the performance goals for dmapifs.');
    reportMatrix(`dmapifs filesystem benchmark beside libfuse's passthrough_hp and native tmpfs (node ${process.version}, ${os.cpus().length} CPUs, ${os.cpus()[0]?.model ?? ''}, kernel ${os.release()})`,
      shown, rows, ratios, { json, notes });
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
