// Our fuse-native build, tested through its JavaScript API with an in-memory filesystem served by
// this very process: every access below goes through the kernel asynchronously (fs.promises or a
// child process), so the event loop stays free to answer it.
import test from 'ava';
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';
import { Fuse, FuseOps, RequestContext, StatObject, Timespec, UTIME_NOW, UTIME_OMIT } from '../src/fuse/fuse';

const run = promisify(execFile);
const E = os.constants.errno;

interface MemFile { ino: bigint; mode: number; data: Buffer; atime: Timespec; mtime: Timespec; uid: number; gid: number }

/** A tiny filesystem in fuse-native's style (stat objects, callbacks), recording what it is asked. */
function memfs() {
  const now = (): Timespec => ({ sec: Math.floor(Date.now() / 1000), nsec: 0 });
  const files = new Map<string, MemFile>();
  files.set('/', { ino: 1n, mode: 0o40755, data: Buffer.alloc(0), atime: now(), mtime: now(), uid: 0, gid: 0 });
  // A 64-bit inode number, above 2^53, must reach applications whole.
  files.set('/big', { ino: 0xfedcba9876543210n, mode: 0o100644, data: Buffer.from('big inode\n'), atime: now(), mtime: now(), uid: 0, gid: 0 });
  const calls: Array<{ op: string; args: unknown[]; ctx?: RequestContext }> = [];
  let nextIno = 100n;
  const handles: MemFile[] = [];
  const handle = (f: MemFile) => handles.push(f) + 9;
  let slowReadMs = 0;
  const st = (f: MemFile): StatObject => ({
    mode: f.mode, ino: f.ino, nlink: 1, uid: f.uid, gid: f.gid, size: f.data.length, dev: 1,
    atime: f.atime, mtime: f.mtime, ctime: f.mtime, blocks: Math.ceil(f.data.length / 512), blksize: 4096,
  });
  const ops: FuseOps = {
    getattr(p, cb) {
      const f = files.get(p);
      if (!f) return cb(-E.ENOENT);
      cb(0, st(f));
    },
    fgetattr(p, fd, cb) {
      calls.push({ op: 'fgetattr', args: [p, fd] });
      const f = handles[fd - 10];
      if (!f) return cb(-E.EBADF);
      cb(0, st(f));
    },
    readdir(p, cb) {
      const names = [...files.keys()].filter((k) => k !== '/' && path.dirname(k) === p).map((k) => path.basename(k));
      cb(0, names);
    },
    open(p, flags, cb) {
      const f = files.get(p);
      if (!f) return cb(-E.ENOENT);
      cb(0, handle(f));
    },
    create(p, mode, cb, ctx) {
      calls.push({ op: 'create', args: [p, mode], ctx: { ...ctx } });
      const f: MemFile = { ino: nextIno++, mode, data: Buffer.alloc(0), atime: now(), mtime: now(), uid: ctx.uid, gid: ctx.gid };
      files.set(p, f);
      cb(0, handle(f));
    },
    read(p, fd, buf, len, pos, cb) {
      const f = files.get(p);
      if (!f) return cb(-E.ENOENT);
      const answer = () => cb(f.data.copy(buf, 0, pos, Math.min(f.data.length, pos + len)));
      if (slowReadMs) setTimeout(answer, slowReadMs); else answer();
    },
    write(p, fd, buf, len, pos, cb) {
      const f = files.get(p)!;
      const end = pos + len;
      if (end > f.data.length) f.data = Buffer.concat([f.data, Buffer.alloc(end - f.data.length)]);
      buf.copy(f.data, pos, 0, len);
      cb(len);
    },
    truncate(p, size, cb) {
      const f = files.get(p)!;
      f.data = Buffer.concat([f.data, Buffer.alloc(Math.max(0, size - f.data.length))]).subarray(0, size);
      cb(0);
    },
    utimens(p, atime, mtime, cb) {
      calls.push({ op: 'utimens', args: [p, atime, mtime] });
      const f = files.get(p)!;
      if (atime.nsec === UTIME_NOW) f.atime = now(); else if (atime.nsec !== UTIME_OMIT) f.atime = atime;
      if (mtime.nsec === UTIME_NOW) f.mtime = now(); else if (mtime.nsec !== UTIME_OMIT) f.mtime = mtime;
      cb(0);
    },
    release(p, fd, cb) { cb(0); },
    unlink(p, cb) { files.delete(p) ? cb(0) : cb(-E.ENOENT); },
    rename(src, dest, cb, ctx) {
      calls.push({ op: 'rename', args: [src, dest], ctx: { ...ctx } });
      const f = files.get(src);
      if (!f) return cb(-E.ENOENT);
      files.delete(src);
      files.set(dest, f);
      cb(0);
    },
  };
  return { ops, files, calls, setSlowRead: (ms: number) => { slowReadMs = ms; } };
}

async function mounted(t: { teardown(fn: () => unknown): void }, m: ReturnType<typeof memfs>, opts = {}) {
  const mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'dmapifs-binding-'));
  const fuse = new Fuse(mnt, m.ops, { fsname: 'bindingtest', subtype: 'bindingtest', allowOther: true, attrTimeout: 0, entryTimeout: 0, ...opts });
  await new Promise<void>((resolve, reject) => fuse.mount((err) => (err ? reject(err) : resolve())));
  t.teardown(async () => {
    await new Promise<void>((resolve) => fuse.unmount(() => resolve(), true));
    fs.rmdirSync(mnt);
  });
  return { mnt, fuse };
}

test.serial('stat objects in fuse-native style; 64-bit inode numbers reach applications whole', async (t) => {
  const m = memfs();
  const { mnt } = await mounted(t, m);
  const st = await fs.promises.stat(path.join(mnt, 'big'), { bigint: true });
  // Node shows inode numbers of 2^63 and above as negative BigInts.
  t.is(BigInt.asUintN(64, st.ino), 0xfedcba9876543210n);
  t.is(st.size, 10n);
  const { stdout } = await run('stat', ['-c', '%i', path.join(mnt, 'big')]);
  t.is(stdout.trim(), 0xfedcba9876543210n.toString());
});

test.serial('create gets the open flags and the caller in its context; files belong to the caller', async (t) => {
  const m = memfs();
  const { mnt } = await mounted(t, m);
  const fh = await fs.promises.open(path.join(mnt, 'new'), fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY | fs.constants.O_APPEND, 0o640);
  await fh.close();
  const c = m.calls.find((x) => x.op === 'create')!;
  t.truthy(c.ctx);
  t.is(c.ctx!.flags & fs.constants.O_EXCL, fs.constants.O_EXCL);
  t.is(c.ctx!.flags & fs.constants.O_APPEND, fs.constants.O_APPEND);
  t.is(c.ctx!.uid, process.getuid!());
  t.true(c.ctx!.pid > 0);
  t.is((c.args[1] as number) & 0o777, 0o640 & ~process.umask());
});

test.serial('utimens gets both times with nanoseconds; touch -a and touch -m reach it with UTIME_OMIT', async (t) => {
  const m = memfs();
  const { mnt } = await mounted(t, m);
  const f = path.join(mnt, 'big');
  await run('touch', ['-d', '2001-02-03 04:05:06.123456789', f]);
  let u = m.calls.filter((x) => x.op === 'utimens').pop()!;
  t.deepEqual(u.args[1], { sec: 981173106, nsec: 123456789 });
  t.deepEqual(u.args[2], { sec: 981173106, nsec: 123456789 });
  await run('touch', ['-m', '-d', '2010-01-01 00:00:00.5', f]);
  u = m.calls.filter((x) => x.op === 'utimens').pop()!;
  t.is((u.args[1] as Timespec).nsec, UTIME_OMIT);
  t.deepEqual(u.args[2], { sec: 1262304000, nsec: 500000000 });
  await run('touch', ['-a', f]);
  u = m.calls.filter((x) => x.op === 'utimens').pop()!;
  t.is((u.args[2] as Timespec).nsec, UTIME_OMIT);
  t.not((u.args[1] as Timespec).nsec, UTIME_OMIT);
  const st = await fs.promises.stat(f, { bigint: true });
  t.is(st.mtimeNs, 1262304000500000000n);
});

test.serial('fstat of an open file is answered by fgetattr with its handle, even after the name is gone', async (t) => {
  const m = memfs();
  const { mnt } = await mounted(t, m);
  const fh = await fs.promises.open(path.join(mnt, 'big'), 'r');
  await fs.promises.unlink(path.join(mnt, 'big'));
  const st = await fh.stat({ bigint: true });
  await fh.close();
  t.is(st.size, 10n);
  t.true(m.calls.some((x) => x.op === 'fgetattr' && x.args[1] === 10));
});

test.serial('rename passes RENAME_NOREPLACE in the context', async (t) => {
  const m = memfs();
  const { mnt } = await mounted(t, m);
  // mv --no-clobber uses renameat2(RENAME_NOREPLACE) where the kernel supports it.
  await run('mv', ['--no-clobber', path.join(mnt, 'big'), path.join(mnt, 'moved')]);
  const r = m.calls.find((x) => x.op === 'rename');
  t.truthy(r);
  t.is(r!.ctx!.flags & 1, 1);
  t.true(m.files.has('/moved'));
});

test.serial('no operation is timed out by the binding: a read answered after 17 s still succeeds', async (t) => {
  t.timeout(60_000);
  const m = memfs();
  const { mnt } = await mounted(t, m);
  m.setSlowRead(17_000);
  const t0 = Date.now();
  const data = await fs.promises.readFile(path.join(mnt, 'big'), 'utf8');
  t.is(data, 'big inode\n');
  t.true(Date.now() - t0 >= 17_000);
});

test.serial('writes arrive in 128 KiB requests and a write from another process lands intact', async (t) => {
  const m = memfs();
  const sizes: number[] = [];
  const write = m.ops.write!;
  m.ops.write = (p, fd, buf, len, pos, cb, ctx) => { sizes.push(len); write.call(m.ops, p, fd, buf, len, pos, cb, ctx); };
  const { mnt } = await mounted(t, m);
  const payload = Buffer.alloc(1 << 20);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) & 0xff;
  const src = path.join(os.tmpdir(), `dmapifs-binding-src-${process.pid}`);
  fs.writeFileSync(src, payload);
  t.teardown(() => fs.rmSync(src, { force: true }));
  await run('dd', [`if=${src}`, `of=${path.join(mnt, 'big')}`, 'bs=1M', 'conv=notrunc', 'status=none']);
  t.is(Math.max(...sizes), 131072);
  t.true(m.files.get('/big')!.data.subarray(0, payload.length).equals(payload));
});

test.serial('invalidate(path) drops cached pages and attributes of one file', async (t) => {
  const m = memfs();
  const { mnt, fuse } = await mounted(t, m, { attrTimeout: 60, entryTimeout: 60 });
  const fh = await fs.promises.open(path.join(mnt, 'big'), 'r');
  t.teardown(() => fh.close().catch(() => undefined));
  const buf = Buffer.alloc(10);
  await fh.read(buf, 0, 10, 0);
  t.is(buf.toString(), 'big inode\n');
  // Changed behind the kernel's back: the page cache still holds the old bytes.
  m.files.get('/big')!.data = Buffer.from('NEW inode\n');
  await fh.read(buf, 0, 10, 0);
  t.is(buf.toString(), 'big inode\n');
  fuse.invalidate('/big');
  // The notification travels through its own thread; give it a moment.
  for (let i = 0; i < 50 && buf.toString() !== 'NEW inode\n'; i++) {
    await new Promise((r) => setTimeout(r, 20));
    await fh.read(buf, 0, 10, 0);
  }
  t.is(buf.toString(), 'NEW inode\n');
});

test('fuse-native error constants: Fuse.ENOENT and friends are negative errnos', (t) => {
  const F = Fuse as unknown as Record<string, number>;
  t.is(F.ENOENT, -E.ENOENT);
  t.is(F.EPERM, -1);
  t.is(F.EIO, -E.EIO);
});
