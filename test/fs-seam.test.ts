// The passthrough over the backing layer (src/backing): writes at an offset through an O_APPEND
// open, paths deeper than one openat2 can take, --capacity for every way of allocating space
// (write, fallocate in each mode, copy_file_range) and in statfs, and the space a non-root caller
// writes charged to that caller on the backing filesystem.
import test, { ExecutionContext } from 'ava';
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { useMounts } from './helpers/fs';

const { cluster, mount: fsMount } = useMounts();
const PY = '/usr/bin/python3';

/** A mount with --capacity on the test file's node (unmounted at teardown). */
async function capMount(t: ExecutionContext, capacity: string, backing?: string): Promise<{ mnt: string; backing: string; m: (p: string) => string }> {
  const b = backing ?? cluster.tmpDir(t, 'dmfs-back-');
  const mnt = cluster.tmpDir(t, 'dmfs-mnt-');
  const node = cluster.uniqueNode('cap');
  t.teardown(() => cluster.stopNode(node));
  t.teardown(() => cluster.unmount(mnt));
  const r = await cluster.cli(['mount', '--node', node, '--capacity', capacity, b, mnt]);
  if (r.code !== 0) throw new Error(`mount failed: ${r.stderr}`);
  fs.chmodSync(b, 0o777);
  return { mnt, backing: b, m: (p) => path.join(mnt, p) };
}

function py(script: string, args: string[], opts: { uid?: number; gid?: number } = {}): { code: number | null; out: string; err: string } {
  const r = spawnSync(PY, ['-c', script, ...args], { encoding: 'utf8', uid: opts.uid, gid: opts.gid });
  return { code: r.status, out: r.stdout.trim(), err: r.stderr.trim() };
}

test('O_APPEND: pwritev2(RWF_NOAPPEND) at 0 and an mmap store written back overwrite, as natively', async (t) => {
  const x = await fsMount(t);
  const script = `
import mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
os.write(fd, b'.' * 8192)
m = mmap.mmap(fd, 8192, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
m[0:8] = b'MMAPSTOR'
m.flush()
m.close()
os.pwritev(fd, [b'NOAPPEND'], 4096, 0x20)  # RWF_NOAPPEND
os.close(fd)
print(os.stat(sys.argv[1]).st_size)
`;
  const native = py(script, [x.b('native')]);
  const ours = py(script, [x.m('f')]);
  t.is(native.code, 0, native.err);
  t.is(ours.code, 0, ours.err);
  t.is(native.out, '8192');
  t.is(ours.out, native.out, 'the size through the mount equals the native one');
  t.deepEqual(fs.readFileSync(x.b('f')), fs.readFileSync(x.b('native')), 'the same bytes as natively');
  t.is(fs.readFileSync(x.b('f')).subarray(0, 8).toString(), 'MMAPSTOR');
  // A plain append still appends.
  fs.appendFileSync(x.m('f'), 'END');
  t.is(fs.statSync(x.b('f')).size, 8195);
});

test('paths deeper than 4096 bytes: mkdir, stat, truncate, ls ., rm and rmdir work as on the backing', async (t) => {
  const x = await fsMount(t);
  // 20 levels of 251 bytes: the deepest path is over 5000 bytes below the mount root. Each step is
  // relative to the directory reached (chdir), as a shell's commands would be.
  const script = `
import os, sys
os.chdir(sys.argv[1])
C = 'd' * 250
out = []
for i in range(20):
    os.mkdir(C)
    os.chdir(C)
with open('f', 'w') as f: f.write('hello')
os.truncate('f', 3)
out.append(os.stat('f').st_size)
os.mkdir('sub')
out.append(sorted(os.listdir('.')))
os.rmdir('sub')
os.unlink('f')
out.append(os.listdir('.'))
for i in range(20):
    os.chdir('..')
    os.rmdir(C)
out.append(os.listdir('.'))
print(repr(out))
`;
  fs.mkdirSync(x.m('m'));
  fs.mkdirSync(x.b('native'));
  const run = (root: string) => spawnSync(PY, ['-c', script, root], { encoding: 'utf8', timeout: 60_000 });
  const native = run(x.b('native'));
  const ours = run(x.m('m'));
  t.is(native.status, 0, native.stderr);
  t.is(ours.status, 0, ours.stderr);
  t.is(ours.stdout, native.stdout, 'the same results as on the backing directory');
  t.is(ours.stdout.trim(), "[3, ['f', 'sub'], [], []]");
  t.deepEqual(fs.readdirSync(x.b('m')), []);
});

test('--capacity: fallocate in every mode is held to it, copy_file_range too, and statfs reports it', async (t) => {
  const c = await capMount(t, '4M');
  // Plain allocation (and KEEP_SIZE) past the capacity: ENOSPC, nothing allocated.
  const big = spawnSync('fallocate', ['-l', '100M', c.m('big')], { encoding: 'utf8' });
  t.not(big.status, 0, 'fallocate -l 100M on a 4M mount fails');
  t.regex(big.stderr, /No space left/);
  t.true(fs.statSync(path.join(c.backing, 'big')).blocks * 512 < 1024 * 1024, 'nothing allocated');
  fs.writeFileSync(c.m('keep'), '');
  const keep = spawnSync('fallocate', ['-n', '-l', '100M', c.m('keep')], { encoding: 'utf8' });
  t.regex(keep.stderr, /No space left/);
  // Within the capacity: allowed, and counted.
  t.is(spawnSync('fallocate', ['-l', '3M', c.m('a')]).status, 0);
  t.regex(spawnSync('fallocate', ['-l', '2M', c.m('b')], { encoding: 'utf8' }).stderr, /No space left/, '3M + 2M > 4M');
  // PUNCH_HOLE frees space: then 2M fits.
  t.is(spawnSync('fallocate', ['-p', '-o', '0', '-l', '2M', c.m('a')]).status, 0);
  t.is(spawnSync('fallocate', ['-l', '2M', c.m('b')]).status, 0);
  // ZERO_RANGE allocates: held to the capacity.
  const z = spawnSync('fallocate', ['-z', '-o', '0', '-l', '8M', c.m('a')], { encoding: 'utf8' });
  t.regex(z.stderr, /No space left/);
  // statfs: total = the capacity, used = what the files take.
  const st = py('import os,sys\ns=os.statvfs(sys.argv[1])\nprint(s.f_blocks*s.f_frsize, (s.f_blocks-s.f_bfree)*s.f_frsize, s.f_bavail*s.f_frsize)', [c.mnt]);
  t.is(st.code, 0, st.err);
  const [total, used, avail] = st.out.split(' ').map(Number);
  t.is(total, 4 * 1024 * 1024);
  t.true(used >= 3 * 1024 * 1024 && used <= 4 * 1024 * 1024, `used ${used}`);
  t.is(avail, total - used);
  // copy_file_range of 3M into a new file: over the capacity → ENOSPC.
  fs.writeFileSync(path.join(c.backing, 'src'), Buffer.alloc(0));
  const cfr = py(`
import os, sys
s = os.open(sys.argv[1], os.O_RDONLY)
d = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT, 0o644)
try:
    n = 0
    while n < 3 * 1024 * 1024:
        k = os.copy_file_range(s, d, 3 * 1024 * 1024 - n)
        if k == 0: break
        n += k
    print('copied', n)
except OSError as e:
    print('errno', e.errno)
`, [c.m('a'), c.m('copy')]);
  t.is(cfr.code, 0, cfr.err);
  t.is(cfr.out, 'errno 28', 'copy_file_range past the capacity fails ENOSPC');
});

test('space written through the mount by a non-root caller is charged to it (root-reserved blocks)', async (t) => {
  // A small ext4 with 20% reserved for root: uid 65534 may write less than root may.
  const dir = fs.mkdtempSync('/tmp/i11a-ext4-');
  fs.chmodSync(dir, 0o755);
  const img = path.join(dir, 'img');
  const top = path.join(dir, 'fs');
  fs.mkdirSync(top);
  t.teardown(() => {
    spawnSync('umount', ['-l', top]);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  execFileSync('truncate', ['-s', '48M', img]);
  execFileSync('mkfs.ext4', ['-q', '-m', '20', img]);
  execFileSync('mount', ['-o', 'loop', img, top]);
  fs.chmodSync(top, 0o755);
  const backing = path.join(top, 'b');
  fs.mkdirSync(backing, { mode: 0o777 });
  fs.chmodSync(backing, 0o777);
  const fill = `
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
buf = b'x' * 65536
n = 0
try:
    while True:
        n += os.write(fd, buf)
except OSError as e:
    pass
os.close(fd)
print(n)
`;
  const direct = py(fill, [path.join(backing, 'direct')], { uid: 65534, gid: 65534 });
  t.is(direct.code, 0, direct.err);
  fs.rmSync(path.join(backing, 'direct'));
  execFileSync('sync');
  const c = await capMount(t, '1G', backing);
  const through = py(fill, [c.m('through')], { uid: 65534, gid: 65534 });
  t.is(through.code, 0, through.err);
  const d = Number(direct.out);
  const m = Number(through.out);
  t.true(d > 8 * 1024 * 1024, `the direct fill wrote ${d}`);
  t.true(m <= d + 1024 * 1024, `uid 65534 wrote ${m} through the mount, ${d} directly`);
  t.is(fs.statSync(path.join(backing, 'through')).uid, 65534);
});
