// Conformance under load: fio jobs with data verification (crc32c) and stress-ng's filesystem
// stressors against a dmapifs mount served by the real daemon (mounted through the CLI).
//
// fio: sequential and random writes in 4 KiB and 128 KiB blocks, several jobs at once, O_DIRECT
// with libaio, mmap, mixed random read/write; every job verifies what it wrote, and the files
// are then verified again directly in the backing directory (fio --verify_only), so the data
// really reached the backing files. stress-ng: ~40 filesystem stressors in groups, each must
// exit 0, report no failure, and do work (bogo ops > 0); the stressors' scratch directories must
// be gone afterwards.
//
// A tool that is not installed makes its test a skipped test (named as such); scripts/setup.sh
// installs both.
import test from 'ava';
import { execFile, execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { useCluster } from './helpers/cluster';

const cluster = useCluster();

function have(tool: string): boolean {
  try {
    execFileSync(tool, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const FIO = have('fio');
const STRESS_NG = have('stress-ng');

interface Run { code: number | null; stdout: string; stderr: string }

function run(cmd: string, args: string[], timeoutMs: number): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 64 << 20, encoding: 'utf8' }, (err, stdout, stderr) => {
      const e = err as (Error & { code?: number | string }) | null;
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : null) : 0, stdout, stderr });
    });
  });
}

// ------------------------------------------------------------------------------------- fio

interface FioJob { name: string; args: string[]; size: number; numjobs: number }

const MiB = 1 << 20;
const FIO_JOBS: FioJob[] = [
  { name: 'seq-write-128k', args: ['--rw=write', '--bs=128k', '--ioengine=psync', '--end_fsync=1'], size: 128 * MiB, numjobs: 1 },
  { name: 'seq-write-4k', args: ['--rw=write', '--bs=4k', '--ioengine=psync'], size: 32 * MiB, numjobs: 1 },
  { name: 'rand-write-4k', args: ['--rw=randwrite', '--bs=4k', '--ioengine=psync'], size: 32 * MiB, numjobs: 4 },
  { name: 'rand-write-128k', args: ['--rw=randwrite', '--bs=128k', '--ioengine=psync'], size: 64 * MiB, numjobs: 3 },
  { name: 'rand-write-4k-direct', args: ['--rw=randwrite', '--bs=4k', '--ioengine=libaio', '--iodepth=16', '--direct=1'], size: 32 * MiB, numjobs: 2 },
  { name: 'rand-write-4k-mmap', args: ['--rw=randwrite', '--bs=4k', '--ioengine=mmap'], size: 32 * MiB, numjobs: 1 },
  { name: 'rand-rw-16k', args: ['--rw=randrw', '--bs=16k', '--ioengine=psync'], size: 32 * MiB, numjobs: 2 },
];

function fioArgs(dir: string, verifyOnly: boolean): string[] {
  // No verify state files: fio would write them into the current directory (the repository).
  const a = ['--output-format=json', `--directory=${dir}`, '--randrepeat=1', '--randseed=20251121', '--verify_state_save=0'];
  FIO_JOBS.forEach((j, i) => {
    a.push(`--name=${j.name}`);
    if (i > 0) a.push('--stonewall');
    a.push(...j.args, `--size=${j.size}`, `--numjobs=${j.numjobs}`, '--verify=crc32c', '--do_verify=1', '--verify_fatal=1');
    if (verifyOnly) a.push('--verify_only');
  });
  return a;
}

interface FioResult { jobname: string; error: number; read: { io_bytes: number; bw: number }; write: { io_bytes: number; bw: number } }

(FIO ? test.serial : test.skip)(`fio --verify=crc32c: sequential and random writes (4k, 128k, several jobs, O_DIRECT, mmap) read back intact through the mount and in the backing files${FIO ? '' : ' [skipped: fio is not installed]'}`, async (t) => {
  t.timeout(10 * 60 * 1000);
  const { mnt, backing } = await cluster.withMount(t);
  const dir = path.join(mnt, 'fio');
  fs.mkdirSync(dir);
  const total = FIO_JOBS.reduce((s, j) => s + j.size * j.numjobs, 0);

  const r = await run('fio', fioArgs(dir, false), 8 * 60 * 1000);
  t.is(r.code, 0, `fio exited ${r.code}: ${r.stderr.trim().slice(0, 2000)}`);
  const jobs = (JSON.parse(r.stdout) as { jobs: FioResult[] }).jobs;
  t.is(jobs.length, FIO_JOBS.reduce((s, j) => s + j.numjobs, 0));
  const bw = new Map<string, number>();
  for (const j of jobs) {
    const spec = FIO_JOBS.find((x) => x.name === j.jobname)!;
    t.is(j.error, 0, `${j.jobname}: error ${j.error}`);
    if (spec.args.includes('--rw=randrw')) t.true(j.write.io_bytes > 0, `${j.jobname}: wrote`);
    else t.is(j.write.io_bytes, spec.size, `${j.jobname}: wrote its whole file`);
    t.true(j.read.io_bytes >= spec.size, `${j.jobname}: verified its whole file (read ${j.read.io_bytes} bytes)`);
    bw.set(j.jobname, (bw.get(j.jobname) ?? 0) + j.write.bw / 1024);
  }
  t.log(`fio: ${(total / MiB).toFixed(0)} MiB written and verified through the mount; write MiB/s (all jobs of a kind): ` +
    [...bw].map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', '));

  // The same files, verified again straight from the backing directory.
  const v = await run('fio', fioArgs(path.join(backing, 'fio'), true), 8 * 60 * 1000);
  t.is(v.code, 0, `fio --verify_only on the backing directory exited ${v.code}: ${v.stderr.trim().slice(0, 2000)}`);
  for (const j of (JSON.parse(v.stdout) as { jobs: FioResult[] }).jobs) {
    const spec = FIO_JOBS.find((x) => x.name === j.jobname)!;
    t.is(j.error, 0, `backing ${j.jobname}: error ${j.error}`);
    t.true(j.read.io_bytes >= spec.size, `backing ${j.jobname}: verified ${j.read.io_bytes} bytes`);
  }
  t.log('fio --verify_only: every file verified again in the backing directory');
});

// ------------------------------------------------------------------------------------- stress-ng

// Filesystem stressors that work in --temp-path, in groups run one after another (the daemon
// serves requests on one thread: 40 stressors at once would mostly measure queueing). Not here:
// fiemap (FUSE has no FS_IOC_FIEMAP: stress-ng skips it), inode-flags (no FS_IOC_SETFLAGS on
// FUSE), and stressors that do not use the temp path or need special privileges/devices.
// link and symlink make 8192 names per bogo op, and one mmap bogo op maps, touches, msyncs and
// unmaps a file page by page: they get a group and more time of their own.
const STRESSOR_GROUPS: Array<{ stressors: string[]; seconds: number }> = [
  { stressors: ['hdd', 'seek', 'readahead', 'sync-file', 'fallocate', 'fpunch'], seconds: 4 },
  { stressors: ['dentry', 'dir', 'dirdeep', 'dirmany', 'getdent', 'filename'], seconds: 4 },
  { stressors: ['rename', 'mknod', 'open', 'touch', 'dnotify', 'inotify'], seconds: 4 },
  { stressors: ['chmod', 'chown', 'utime', 'access', 'xattr', 'chdir'], seconds: 4 },
  { stressors: ['lockf', 'flock', 'locka', 'lockofd', 'fcntl', 'lease'], seconds: 4 },
  { stressors: ['msync', 'copy-file', 'iomix', 'sendfile', 'fsize'], seconds: 4 },
  { stressors: ['file-ioctl', 'chattr'], seconds: 3 },
  { stressors: ['link', 'symlink', 'mmap'], seconds: 10 },
];
/** Smaller per-op work for stressors whose one bogo op is large by default. */
const STRESSOR_OPTS: Record<string, string[]> = {
  mmap: ['--mmap-file', '--mmap-bytes', '4m'],
  chdir: ['--chdir-dirs', '256'],
};

const METRIC = /metrc: \[\d+\] (\S+)\s+(\d+)\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+[\d.]+\s*$/;

(STRESS_NG ? test.serial : test.skip)(`stress-ng filesystem stressors (${STRESSOR_GROUPS.flatMap((g) => g.stressors).length}) run against the mount without failures${STRESS_NG ? '' : ' [skipped: stress-ng is not installed]'}`, async (t) => {
  t.timeout(10 * 60 * 1000);
  const { mnt } = await cluster.withMount(t);
  const dir = path.join(mnt, 'stress');
  fs.mkdirSync(dir);
  const summary: string[] = [];
  /** Runs stressors together; checks exit status, failure lines, completion; returns bogo ops. */
  const stress = async (group: string[], seconds: number, where = dir): Promise<Map<string, number>> => {
    const args = ['--temp-path', where, '--timeout', `${seconds}s`, '--metrics-brief', '--verify'];
    for (const s of group) args.push(`--${s}`, '1', ...(STRESSOR_OPTS[s] ?? []));
    const r = await run('stress-ng', args, 5 * 60 * 1000);
    const out = `${r.stdout}\n${r.stderr}`;
    const title = group.join(', ');
    t.is(r.code, 0, `stress-ng ${title} exited ${r.code}:\n${out.slice(-3000)}`);
    const fails = out.split('\n').filter((l) => /\bfail\b/i.test(l) && !/\bfailed: 0\b/.test(l));
    t.deepEqual(fails, [], `stress-ng ${title}: failure lines`);
    t.regex(out, /successful run completed/, `stress-ng ${title}: completed`);
    const ops = new Map<string, number>();
    for (const line of out.split('\n')) {
      const m = METRIC.exec(line);
      if (m) ops.set(m[1], Number(m[2]));
    }
    return ops;
  };
  for (const { stressors: group, seconds } of STRESSOR_GROUPS) {
    const ops = await stress(group, seconds);
    for (const s of group) {
      let n = ops.get(s) ?? 0;
      let secs = seconds;
      // A stressor starved of CPU in its group (other tests run meanwhile) gets a run of its own.
      if (n === 0) {
        secs = 15;
        n = (await stress([s], secs)).get(s) ?? 0;
      }
      if (n === 0) {
        // Nothing done through the mount: the backing filesystem itself may refuse what the
        // stressor needs (e.g. chattr's flags where it lacks them: stress-ng then skips it). Same
        // result as native is what the mount owes; anything less is a failure.
        const native = cluster.tmpDir(t, 'dmfs-stress-native-');
        const nn = (await stress([s], 3, native)).get(s) ?? 0;
        t.is(nn, 0, `stressor ${s} did work natively (bogo ops ${nn}) but not through the mount`);
        summary.push(`${s} skipped (also natively)`);
        continue;
      }
      t.true(n > 0, `stressor ${s} did work (bogo ops ${n})`);
      summary.push(`${s} ${n}/${secs}s`);
    }
  }
  t.log(`stress-ng bogo ops: ${summary.join(', ')}`);
  // Every stressor removed its scratch directory again: rmdir and unlink worked to the end.
  t.deepEqual(fs.readdirSync(dir), [], 'stressors left nothing behind');
});
