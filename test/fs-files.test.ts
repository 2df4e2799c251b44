// Regular files through a real mount: open/create flags, read/write (large requests, past 4 GiB,
// sparse files and holes), truncate, flush/fsync, fstat of open files after unlink/rename,
// fallocate, concurrent writers.
import test from 'ava';
import { execFileSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import { code, inChild, lstatBig, rc, runNode, sys, useMounts } from './helpers/fs';

const { mount: fsMount } = useMounts();

const { O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_TRUNC, O_APPEND, O_DIRECTORY } = fs.constants;
const GiB = 1024 ** 3;

test('create, write and read back; the backing file holds the same bytes', async (t) => {
  const x = await fsMount(t);
  const data = crypto.randomBytes(10_000);
  fs.writeFileSync(x.m('f'), data);
  t.deepEqual(fs.readFileSync(x.m('f')), data);
  t.deepEqual(fs.readFileSync(x.b('f')), data);
  t.is(fs.statSync(x.m('f')).size, 10_000);
  // Empty file, and a file created with no write.
  fs.closeSync(fs.openSync(x.m('empty'), 'w'));
  t.is(fs.statSync(x.m('empty')).size, 0);
  t.true(fs.statSync(x.b('empty')).isFile());
});

test('large requests: one 1 MiB write and one 1 MiB read, at unaligned offsets', async (t) => {
  const x = await fsMount(t);
  const data = crypto.randomBytes(1024 * 1024 + 777);
  const fd = fs.openSync(x.m('big'), 'w+');
  t.is(fs.writeSync(fd, data, 0, data.length, 12345), data.length);
  const back = Buffer.alloc(data.length + 100);
  t.is(fs.readSync(fd, back, 0, back.length, 12345), data.length);
  t.deepEqual(back.subarray(0, data.length), data);
  // The gap before the write reads as zeros.
  const head = Buffer.alloc(12345, 1);
  t.is(fs.readSync(fd, head, 0, head.length, 0), head.length);
  t.true(head.every((v) => v === 0));
  fs.closeSync(fd);
  const onDisk = fs.readFileSync(x.b('big'));
  t.is(onDisk.length, 12345 + data.length);
  t.deepEqual(onDisk.subarray(12345), data);
});

test('O_APPEND appends, even for a positioned write', async (t) => {
  const x = await fsMount(t);
  fs.writeFileSync(x.m('log'), 'abc');
  const fd = fs.openSync(x.m('log'), O_WRONLY | O_APPEND);
  fs.writeSync(fd, 'def');
  fs.writeSync(fd, Buffer.from('ghi'), 0, 3, 0); // pwrite on O_APPEND appends on Linux
  fs.closeSync(fd);
  t.is(fs.readFileSync(x.m('log'), 'utf8'), 'abcdefghi');
  t.is(fs.readFileSync(x.b('log'), 'utf8'), 'abcdefghi');
  // O_APPEND | O_CREAT on a new file
  const fd2 = fs.openSync(x.m('log2'), O_WRONLY | O_APPEND | O_CREAT, 0o644);
  fs.writeSync(fd2, '1');
  fs.writeSync(fd2, '2');
  fs.closeSync(fd2);
  t.is(fs.readFileSync(x.b('log2'), 'utf8'), '12');
  // A change made behind the mount's back is appended after, not overwritten.
  fs.appendFileSync(x.b('log'), 'XYZ');
  const fd3 = fs.openSync(x.m('log'), O_RDWR | O_APPEND);
  fs.writeSync(fd3, '!');
  fs.closeSync(fd3);
  t.is(fs.readFileSync(x.b('log'), 'utf8'), 'abcdefghiXYZ!');
});

test('O_TRUNC, O_EXCL, O_CREAT on an existing file, O_RDONLY/O_WRONLY misuse, O_DIRECTORY', async (t) => {
  const x = await fsMount(t);
  fs.writeFileSync(x.m('f'), 'hello world');
  // O_CREAT without O_EXCL on an existing file opens it as it is.
  const a = fs.openSync(x.m('f'), O_RDWR | O_CREAT, 0o600);
  t.is(fs.fstatSync(a).size, 11);
  fs.closeSync(a);
  t.is(fs.statSync(x.m('f')).mode & 0o777, 0o644, 'mode of an existing file is not changed by O_CREAT');
  // O_EXCL
  t.is(code(() => fs.openSync(x.m('f'), O_WRONLY | O_CREAT | O_EXCL)), 'EEXIST');
  t.is(fs.readFileSync(x.m('f'), 'utf8'), 'hello world');
  // O_TRUNC
  const b = fs.openSync(x.m('f'), O_WRONLY | O_TRUNC);
  t.is(fs.fstatSync(b).size, 0);
  fs.closeSync(b);
  t.is(fs.statSync(x.b('f')).size, 0);
  t.is(fs.statSync(x.m('f')).size, 0);
  // O_CREAT | O_TRUNC on an existing file
  fs.writeFileSync(x.b('f'), 'again');
  const c = fs.openSync(x.m('f'), O_WRONLY | O_CREAT | O_TRUNC, 0o600);
  fs.writeSync(c, 'X');
  fs.closeSync(c);
  t.is(fs.readFileSync(x.b('f'), 'utf8'), 'X');
  // O_RDONLY then write → EBADF; O_WRONLY then read → EBADF
  const r = fs.openSync(x.m('f'), O_RDONLY);
  t.is(code(() => fs.writeSync(r, 'no')), 'EBADF');
  fs.closeSync(r);
  const w = fs.openSync(x.m('f'), O_WRONLY);
  t.is(code(() => fs.readSync(w, Buffer.alloc(4), 0, 4, 0)), 'EBADF');
  fs.closeSync(w);
  t.is(fs.readFileSync(x.b('f'), 'utf8'), 'X');
  // O_DIRECTORY on a file
  t.is(code(() => fs.openSync(x.m('f'), O_RDONLY | O_DIRECTORY)), 'ENOTDIR');
  // ENOENT: missing file, missing parent with O_CREAT
  t.is(code(() => fs.openSync(x.m('nope'), O_RDONLY)), 'ENOENT');
  t.is(code(() => fs.openSync(x.m('nodir', 'f'), O_WRONLY | O_CREAT, 0o644)), 'ENOENT');
  // A path through a file
  t.is(code(() => fs.openSync(x.m('f', 'g'), O_WRONLY | O_CREAT, 0o644)), 'ENOTDIR');
  // EISDIR: a directory opened for writing
  fs.mkdirSync(x.m('d'));
  t.is(code(() => fs.openSync(x.m('d'), O_WRONLY)), 'EISDIR');
  t.is(code(() => fs.openSync(x.m('d'), O_RDWR)), 'EISDIR');
  t.is(code(() => fs.openSync(x.m('d'), O_WRONLY | O_CREAT, 0o644)), 'EISDIR');
  const d = fs.openSync(x.m('d'), O_RDONLY | O_DIRECTORY);
  t.is(code(() => fs.readSync(d, Buffer.alloc(4), 0, 4, 0)), 'EISDIR');
  fs.closeSync(d);
});

test('create mode: the caller\'s umask applies once, O_EXCL create of a fresh name works', async (t) => {
  const x = await fsMount(t);
  const r = await inChild<Record<string, number>>(t, `
    process.umask(0o027);
    fs.closeSync(fs.openSync(args.m + '/a', fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o666));
    fs.mkdirSync(args.m + '/d', 0o777);
    process.umask(0);
    fs.closeSync(fs.openSync(args.m + '/b', 'w', 0o606));
    out({ a: fs.statSync(args.b + '/a').mode & 0o7777, d: fs.statSync(args.b + '/d').mode & 0o7777,
          b: fs.statSync(args.b + '/b').mode & 0o7777 });
  `, { args: { m: x.mnt, b: x.backing } });
  t.deepEqual(r, { a: 0o640, d: 0o750, b: 0o606 });
});

test('writes past 4 GiB and sparse files: size, st_blocks, holes read as zeros, SEEK_DATA/SEEK_HOLE', async (t) => {
  const x = await fsMount(t);
  const fd = fs.openSync(x.m('sparse'), 'w+');
  const off = 5 * GiB + 4096 * 3 + 17;
  t.is(fs.writeSync(fd, 'tail', 0, 'utf8'), 4);
  t.is(fs.writeSync(fd, Buffer.from('far away'), 0, 8, off), 8);
  const st = fs.fstatSync(fd, { bigint: true });
  t.is(st.size, BigInt(off + 8));
  t.true(st.blocks < 64n, `sparse file has few blocks (${st.blocks})`);
  const bst = lstatBig(x.b('sparse'));
  t.is(bst.size, BigInt(off + 8));
  t.is(st.blocks, bst.blocks);
  // Holes read as zeros, in the middle and right before the data.
  const buf = Buffer.alloc(64 * 1024, 0xaa);
  t.is(fs.readSync(fd, buf, 0, buf.length, 2 * GiB), buf.length);
  t.true(buf.every((v) => v === 0));
  const edge = Buffer.alloc(20, 0xaa);
  t.is(fs.readSync(fd, edge, 0, 20, off - 10), 18);
  t.deepEqual(edge.subarray(0, 18), Buffer.concat([Buffer.alloc(10), Buffer.from('far away')]));
  // Read past 4 GiB, and at EOF.
  const far = Buffer.alloc(8);
  t.is(fs.readSync(fd, far, 0, 8, off), 8);
  t.is(far.toString(), 'far away');
  t.is(fs.readSync(fd, far, 0, 8, off + 8), 0);
  // SEEK_DATA / SEEK_HOLE through the mount
  t.is(sys.lseek(fd, 0, sys.SEEK_DATA), 0);
  const hole = sys.lseek(fd, 0, sys.SEEK_HOLE);
  t.true(hole >= 4 && hole <= 1024 * 1024, `first hole at ${hole}`);
  const data = sys.lseek(fd, 100 * 4096, sys.SEEK_DATA);
  t.true(data <= off && data > 4 * GiB, `data found at ${data}`);
  t.is(sys.lseek(fd, off, sys.SEEK_HOLE), off + 8);
  t.is(rc(sys.lseek(fd, off + 8, sys.SEEK_DATA)), 'ENXIO');
  t.is(rc(sys.lseek(fd, off + 100, sys.SEEK_HOLE)), 'ENXIO');
  // Same answers as the backing file.
  const bfd = fs.openSync(x.b('sparse'), 'r');
  t.is(sys.lseek(bfd, 0, sys.SEEK_HOLE), hole);
  t.is(sys.lseek(bfd, 100 * 4096, sys.SEEK_DATA), data);
  fs.closeSync(bfd);
  fs.closeSync(fd);
  // A truncate to past 4 GiB creates a hole only.
  fs.truncateSync(x.m('sparse'), 6 * GiB);
  t.is(fs.statSync(x.m('sparse')).size, 6 * GiB);
  t.is(fs.statSync(x.b('sparse')).size, 6 * GiB);
});

test('truncate and ftruncate: grow reads zeros, shrink drops data, errors', async (t) => {
  const x = await fsMount(t);
  fs.writeFileSync(x.m('f'), 'abcdefgh');
  fs.truncateSync(x.m('f'), 3);
  t.is(fs.readFileSync(x.m('f'), 'utf8'), 'abc');
  t.is(fs.statSync(x.b('f')).size, 3);
  fs.truncateSync(x.m('f'), 6);
  t.deepEqual(fs.readFileSync(x.m('f')), Buffer.from('abc\0\0\0'));
  const fd = fs.openSync(x.m('f'), 'r+');
  fs.ftruncateSync(fd, 1);
  t.is(fs.fstatSync(fd).size, 1);
  t.is(fs.statSync(x.b('f')).size, 1);
  fs.ftruncateSync(fd, 100_000);
  t.is(fs.fstatSync(fd).size, 100_000);
  const buf = Buffer.alloc(10, 1);
  t.is(fs.readSync(fd, buf, 0, 10, 50_000), 10);
  t.true(buf.every((v) => v === 0));
  fs.ftruncateSync(fd, 0);
  t.is(fs.readFileSync(x.b('f')).length, 0);
  fs.closeSync(fd);
  // ftruncate of a read-only descriptor, truncate of a directory, of a missing file
  const ro = fs.openSync(x.m('f'), 'r');
  t.is(code(() => fs.ftruncateSync(ro, 5)), 'EINVAL');
  fs.closeSync(ro);
  fs.mkdirSync(x.m('d'));
  t.is(code(() => fs.truncateSync(x.m('d'), 0)), 'EISDIR');
  t.is(code(() => fs.truncateSync(x.m('missing'), 0)), 'ENOENT');
  t.is(fs.statSync(x.m('f')).size, 0);
});

test('flush, fsync, fdatasync on files; data reaches the backing file by close', async (t) => {
  const x = await fsMount(t);
  const fd = fs.openSync(x.m('f'), 'w');
  fs.writeSync(fd, 'durable');
  fs.fsyncSync(fd);
  t.is(fs.readFileSync(x.b('f'), 'utf8'), 'durable');
  fs.writeSync(fd, '!');
  fs.fdatasyncSync(fd);
  t.is(fs.readFileSync(x.b('f'), 'utf8'), 'durable!');
  t.is(rc(sys.fsync(fd)), 0);
  t.is(rc(sys.fdatasync(fd)), 0);
  fs.closeSync(fd);
  const ro = fs.openSync(x.m('f'), 'r');
  fs.fsyncSync(ro);
  fs.closeSync(ro);
  // Errors from a closed descriptor are the kernel's, the mount must not hang on them.
  t.is(code(() => fs.fsyncSync(ro)), 'EBADF');
});

test('fstat of an open file after unlink and after rename; I/O keeps working', async (t) => {
  const x = await fsMount(t);
  fs.writeFileSync(x.m('f'), 'content');
  const ino = lstatBig(x.b('f')).ino;
  const fd = fs.openSync(x.m('f'), 'r+');
  fs.renameSync(x.m('f'), x.m('g'));
  let st = fs.fstatSync(fd, { bigint: true });
  t.is(st.ino, ino);
  t.is(st.size, 7n);
  t.is(lstatBig(x.m('g')).ino, ino);
  t.is(code(() => fs.statSync(x.m('f'))), 'ENOENT');
  fs.writeSync(fd, 'C', 0);
  t.is(fs.readFileSync(x.m('g'), 'utf8'), 'Content');
  // Unlink while open: fstat still answers, nlink is 0, reads and writes still work.
  fs.unlinkSync(x.m('g'));
  st = fs.fstatSync(fd, { bigint: true });
  t.is(st.ino, ino);
  t.is(st.nlink, 0n);
  t.is(st.size, 7n);
  fs.writeSync(fd, 'more', 7);
  t.is(fs.fstatSync(fd).size, 11);
  const buf = Buffer.alloc(11);
  t.is(fs.readSync(fd, buf, 0, 11, 0), 11);
  t.is(buf.toString(), 'Contentmore');
  fs.ftruncateSync(fd, 2);
  t.is(fs.fstatSync(fd).size, 2);
  t.is(code(() => fs.statSync(x.m('g'))), 'ENOENT');
  t.deepEqual(fs.readdirSync(x.backing).filter((n) => n !== '.dmapifs'), []);
  fs.closeSync(fd);
  // A new file may reuse the inode number: it must be a fresh file through the mount.
  fs.writeFileSync(x.m('h'), 'new');
  t.is(fs.readFileSync(x.m('h'), 'utf8'), 'new');
  t.is(fs.statSync(x.m('h')).nlink, 1);
});

test('fallocate: default mode grows, KEEP_SIZE reserves, PUNCH_HOLE zeroes, ZERO_RANGE; bad modes', async (t) => {
  const x = await fsMount(t);
  const fd = fs.openSync(x.m('f'), 'w+');
  t.is(rc(sys.fallocate(fd, 0, 0, 1024 * 1024)), 0);
  t.is(fs.fstatSync(fd).size, 1024 * 1024);
  t.true(fs.fstatSync(fd).blocks >= 2048);
  t.is(fs.statSync(x.b('f')).size, 1024 * 1024);
  // KEEP_SIZE past EOF: blocks grow, size does not.
  const before = fs.fstatSync(fd).blocks;
  t.is(rc(sys.fallocate(fd, sys.FALLOC_FL_KEEP_SIZE, 1024 * 1024, 1024 * 1024)), 0);
  t.is(fs.fstatSync(fd).size, 1024 * 1024);
  t.true(fs.fstatSync(fd).blocks >= before + 2048);
  // Punch a hole in written data: reads zero, blocks drop, size stays, SEEK_HOLE finds it.
  fs.writeSync(fd, Buffer.alloc(1024 * 1024, 0x5a), 0, 1024 * 1024, 0);
  const full = fs.fstatSync(fd).blocks;
  t.is(rc(sys.fallocate(fd, sys.FALLOC_FL_PUNCH_HOLE | sys.FALLOC_FL_KEEP_SIZE, 256 * 1024, 256 * 1024)), 0);
  t.is(fs.fstatSync(fd).size, 1024 * 1024);
  t.true(fs.fstatSync(fd).blocks <= full - 512, `blocks ${full} → ${fs.fstatSync(fd).blocks}`);
  const buf = Buffer.alloc(256 * 1024 + 2);
  fs.readSync(fd, buf, 0, buf.length, 256 * 1024 - 1);
  t.is(buf[0], 0x5a);
  t.true(buf.subarray(1, 256 * 1024 + 1).every((v) => v === 0));
  t.is(buf[256 * 1024 + 1], 0x5a);
  t.is(sys.lseek(fd, 0, sys.SEEK_HOLE), 256 * 1024);
  t.is(sys.lseek(fd, 256 * 1024, sys.SEEK_DATA), 512 * 1024);
  t.deepEqual(fs.readFileSync(x.b('f')).subarray(256 * 1024, 512 * 1024), Buffer.alloc(256 * 1024));
  // ZERO_RANGE (when the kernel passes it on) zeroes without changing the size.
  const z = sys.fallocate(fd, sys.FALLOC_FL_ZERO_RANGE, 0, 4096);
  if (z === 0) {
    const b2 = Buffer.alloc(4097);
    fs.readSync(fd, b2, 0, 4097, 0);
    t.true(b2.subarray(0, 4096).every((v) => v === 0));
    t.is(b2[4096], 0x5a);
  } else t.is(rc(z), 'EOPNOTSUPP');
  // PUNCH_HOLE without KEEP_SIZE is invalid; unknown modes are refused; a read-only fd is EBADF.
  t.is(rc(sys.fallocate(fd, sys.FALLOC_FL_PUNCH_HOLE, 0, 4096)), 'EOPNOTSUPP');
  t.is(rc(sys.fallocate(fd, sys.FALLOC_FL_COLLAPSE_RANGE, 0, 4096)), 'EOPNOTSUPP');
  t.is(rc(sys.fallocate(fd, 0, 0, 0)), 'EINVAL');
  fs.closeSync(fd);
  const ro = fs.openSync(x.m('f'), 'r');
  t.is(rc(sys.fallocate(ro, 0, 0, 4096)), 'EBADF');
  fs.closeSync(ro);
  // Past 4 GiB
  const fd2 = fs.openSync(x.m('g'), 'w');
  t.is(rc(sys.fallocate(fd2, sys.FALLOC_FL_KEEP_SIZE, 5 * GiB, 4096)), 0);
  t.is(rc(sys.fallocate(fd2, 0, 5 * GiB, 4096)), 0);
  t.is(fs.fstatSync(fd2).size, 5 * GiB + 4096);
  fs.closeSync(fd2);
});

test('concurrent writers: four processes write disjoint regions of one file', async (t) => {
  const x = await fsMount(t);
  const region = 512 * 1024;
  const f = x.m('shared');
  fs.writeFileSync(f, '');
  const writers = [0, 1, 2, 3].map((i) => runNode(`
    const fd = fs.openSync(args.f, 'r+');
    const chunk = Buffer.alloc(16 * 1024 + 3, 65 + args.i);
    // Interleave small unaligned writes so the regions' requests really mix.
    for (let off = 0; off < args.region; off += chunk.length) {
      const n = Math.min(chunk.length, args.region - off);
      fs.writeSync(fd, chunk, 0, n, args.i * args.region + off);
    }
    fs.closeSync(fd);
  `, { args: { f, i, region } }));
  for (const r of await Promise.all(writers)) t.is(r.status, 0, r.stderr);
  const expected = Buffer.concat([0, 1, 2, 3].map((i) => Buffer.alloc(region, 65 + i)));
  t.true(fs.readFileSync(f).equals(expected));
  t.true(fs.readFileSync(x.b('shared')).equals(expected));
});

test('concurrent appenders: four processes append records with O_APPEND, none lost or torn', async (t) => {
  const x = await fsMount(t);
  const f = x.m('log');
  const per = 300;
  const writers = [0, 1, 2, 3].map((i) => runNode(`
    const fd = fs.openSync(args.f, fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT, 0o644);
    for (let k = 0; k < args.per; k++) {
      const rec = ('w' + args.i + ':' + k + ':').padEnd(99, String(args.i)) + '\\n';
      fs.writeSync(fd, rec);
    }
    fs.closeSync(fd);
  `, { args: { f, i, per } }));
  for (const r of await Promise.all(writers)) t.is(r.status, 0, r.stderr);
  const text = fs.readFileSync(x.b('log'), 'utf8');
  t.is(text.length, 4 * per * 100);
  const lines = text.split('\n').slice(0, -1);
  t.is(lines.length, 4 * per);
  const seen = new Map<number, number[]>();
  for (const l of lines) {
    const m = /^w(\d):(\d+):(\d+)$/.exec(l);
    t.truthy(m, `record intact: ${l.slice(0, 30)}`);
    if (!m) continue;
    t.is(l.length, 99);
    t.true(m[3].split('').every((c) => c === m[1]));
    (seen.get(Number(m[1])) ?? seen.set(Number(m[1]), []).get(Number(m[1]))!).push(Number(m[2]));
  }
  for (let i = 0; i < 4; i++) t.deepEqual(seen.get(i), [...Array(per).keys()], `writer ${i} records in order`);
});

test('offsets up to the backing\'s limit: a write at 15 TiB works, past the maximum file size is EFBIG', async (t) => {
  const x = await fsMount(t);
  const fd = fs.openSync(x.m('huge'), 'w+');
  const TiB = 1024 ** 4;
  const off = 15 * TiB + 12345;
  t.is(fs.writeSync(fd, Buffer.from('edge'), 0, 4, off), 4);
  t.is(fs.fstatSync(fd, { bigint: true }).size, BigInt(off + 4));
  t.is(lstatBig(x.b('huge')).size, BigInt(off + 4));
  const b = Buffer.alloc(4);
  t.is(fs.readSync(fd, b, 0, 4, off), 4);
  t.is(b.toString(), 'edge');
  // ext4's limit with 4 KiB blocks is 16 TiB - 4 KiB: compare with what the backing itself says.
  const bfd = fs.openSync(x.b('ref'), 'w');
  const want = code(() => fs.writeSync(bfd, Buffer.from('x'), 0, 1, 17 * TiB));
  fs.closeSync(bfd);
  t.is(code(() => fs.writeSync(fd, Buffer.from('x'), 0, 1, 17 * TiB)), want, 'the same answer as the backing filesystem');
  fs.closeSync(fd);
});

test('mmap: MAP_SHARED writes through the mount reach the backing file; O_DIRECT I/O works', async (t) => {
  const x = await fsMount(t);
  fs.writeFileSync(x.m('mapped'), Buffer.alloc(3 * 4096, 0x2e));
  execFileSync('/usr/bin/python3', ['-c', `
import mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
m = mmap.mmap(fd, 3 * 4096, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
m[4096:4101] = b'HELLO'
m[-3:] = b'END'
m.flush()
m.close()
os.close(fd)
`, x.m('mapped')]);
  const back = fs.readFileSync(x.b('mapped'));
  t.is(back.subarray(4096, 4101).toString(), 'HELLO');
  t.is(back.subarray(-3).toString(), 'END');
  t.is(back[0], 0x2e);
  // O_DIRECT: aligned reads and writes bypass the page cache and still land in the backing file.
  const out = execFileSync('/usr/bin/python3', ['-c', `
import mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT | os.O_DIRECT, 0o644)
buf = mmap.mmap(-1, 8192)
buf.write(b'D' * 8192)
print(os.pwrite(fd, buf, 4096))
rb = mmap.mmap(-1, 4096)
print(os.preadv(fd, [rb], 8192))
print(rb[:3].decode())
os.close(fd)
`, x.m('direct')], { encoding: 'utf8' });
  t.deepEqual(out.trim().split('\n'), ['8192', '4096', 'DDD']);
  const d = fs.readFileSync(x.b('direct'));
  t.is(d.length, 12288);
  t.true(d.subarray(0, 4096).every((v) => v === 0));
  t.true(d.subarray(4096).every((v) => v === 0x44));
});

test('an unlinked open file still takes fchmod, fchown, futimens and ftruncate; a removed open directory still fstats', async (t) => {
  const x = await fsMount(t);
  fs.writeFileSync(x.m('f'), 'content');
  const fd = fs.openSync(x.m('f'), 'r+');
  fs.unlinkSync(x.m('f'));
  fs.fchmodSync(fd, 0o600);
  fs.fchownSync(fd, 123, 456);
  fs.ftruncateSync(fd, 3);
  t.is(rc(sys.futimens(fd, 1_000_000_000, 5, 1_100_000_000, 7)), 0);
  const st = fs.fstatSync(fd, { bigint: true });
  t.is(Number(st.mode) & 0o7777, 0o600);
  t.deepEqual([st.uid, st.gid], [123n, 456n]);
  t.is(st.atimeNs, 1_000_000_000_000_000_005n);
  t.is(st.mtimeNs, 1_100_000_000_000_000_007n);
  t.is(st.size, 3n);
  t.is(st.nlink, 0n);
  fs.closeSync(fd);
  fs.mkdirSync(x.m('d'));
  const dfd = fs.openSync(x.m('d'), 'r');
  fs.rmdirSync(x.m('d'));
  const dst = fs.fstatSync(dfd);
  t.true(dst.isDirectory());
  t.is(code(() => fs.readdirSync(x.m('d'))), 'ENOENT');
  fs.closeSync(dfd);
});
