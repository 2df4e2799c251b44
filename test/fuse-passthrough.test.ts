// Kernel FUSE passthrough in our binding: an open answered with OpenOptions.passthrough has its
// reads and writes done by the kernel on the backing file (the handlers never see them), every
// passthrough open of an inode shares one backing file, and opens of one inode never mix the page
// cache with passthrough (the kernel would fail such an open with EIO): the binding serves the
// odd one out as direct I/O or cached instead. The filesystem here is a tiny passthrough over a
// scratch directory, served by this very process (all accesses go through fs.promises).
import test, { ExecutionContext } from 'ava';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tmp from 'tmp';
import { Fuse, FuseOps } from '../src/fuse/fuse';

const E = os.constants.errno;

/** Kernel ≥ 6.9 has FUSE passthrough (FUSE_PASSTHROUGH, FUSE_DEV_IOC_BACKING_OPEN). */
function kernelHasPassthrough(): boolean {
  const [maj, min] = os.release().split('.').map(Number);
  return maj > 6 || (maj === 6 && min >= 9);
}

interface Served {
  mnt: string;
  dir: string;
  fuse: Fuse;
  /** Handler calls by op. */
  calls: Record<string, number>;
  /** Which opens ask for passthrough (by path). */
  want: Set<string>;
}

async function serve(t: ExecutionContext, passthrough: boolean): Promise<Served> {
  const dir = tmp.dirSync({ unsafeCleanup: true, prefix: 'dmfs-pt-b-' }).name;
  const mnt = tmp.dirSync({ prefix: 'dmfs-pt-m-' }).name;
  const calls: Record<string, number> = {};
  const count = (op: string) => { calls[op] = (calls[op] ?? 0) + 1; };
  const want = new Set<string>();
  const real = (p: string) => path.join(dir, p);
  // The handlers call the backing directory synchronously, on this thread: the test's own accesses
  // to the mount wait in libuv's thread pool, so handlers that needed it too could run out of
  // threads while those accesses wait for them.
  const sync = <T>(f: () => T, cb: (err: number, v?: T) => void, errno = -E.EIO) => {
    let v: T;
    try { v = f(); } catch (e) { return cb((e as NodeJS.ErrnoException).errno ?? errno); }
    cb(0, v);
  };
  const ops: FuseOps = {
    getattr(p, cb) { sync(() => fs.lstatSync(real(p)), cb); },
    fgetattr(p, fd, cb) { sync(() => fs.fstatSync(fd), cb); },
    readdir(p, cb) { sync(() => fs.readdirSync(real(p)), cb); },
    open(p, flags, cb) {
      sync(() => fs.openSync(real(p), flags & 3), (e, fd) => cb(e, fd, want.has(p) ? { passthrough: true } : undefined), -E.ENOENT);
    },
    read(p, fd, buf, len, pos, cb) {
      count('read');
      sync(() => fs.readSync(fd, buf, 0, len, pos), (e, n) => cb(e || (n as number)));
    },
    write(p, fd, buf, len, pos, cb) {
      count('write');
      sync(() => fs.writeSync(fd, buf, 0, len, pos), (e, n) => cb(e || (n as number)));
    },
    release(p, fd, cb) { sync(() => fs.closeSync(fd), () => cb(0)); },
  };
  const fuse = new Fuse(mnt, ops, { passthrough, attrTimeout: 0, entryTimeout: 0, fsname: 'dmfs-pt-test' });
  await new Promise<void>((res, rej) => fuse.mount((e) => (e ? rej(e) : res())));
  t.teardown(async () => {
    await new Promise<void>((res) => fuse.unmount(() => res(), true));
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(mnt, { recursive: true, force: true });
  });
  return { mnt, dir, fuse, calls, want };
}

/** Reads a file through the mount (a fresh inode: nothing of it is in the page cache yet). */
async function readAll(file: string): Promise<Buffer> {
  return fs.promises.readFile(file);
}

test.serial('passthrough: the kernel accepts it, and a passthrough open reads and writes the backing file without the handlers', async (t) => {
  if (!kernelHasPassthrough()) return t.pass(`kernel ${os.release()} has no FUSE passthrough (6.9+)`);
  const s = await serve(t, true);
  t.true(s.fuse.passthrough, 'FUSE_PASSTHROUGH negotiated at INIT');
  const data = Buffer.alloc(8192, 'p');
  fs.writeFileSync(path.join(s.dir, 'f'), data);
  s.want.add('/f');
  t.deepEqual(await readAll(path.join(s.mnt, 'f')), data);
  const fh = await fs.promises.open(path.join(s.mnt, 'f'), 'r+');
  await fh.write(Buffer.from('WRITTEN'), 0, 7, 100);
  await fh.close();
  t.is(fs.readFileSync(path.join(s.dir, 'f')).subarray(100, 107).toString(), 'WRITTEN', 'the write reached the backing file');
  t.is(s.calls.read ?? 0, 0, 'no READ request reached the handlers');
  t.is(s.calls.write ?? 0, 0, 'no WRITE request reached the handlers');
  // A write made on the backing file directly is what the next read through the mount returns.
  fs.writeFileSync(path.join(s.dir, 'f'), Buffer.from('direct'));
  t.is((await readAll(path.join(s.mnt, 'f'))).toString(), 'direct');
});

test.serial('passthrough: without the session option, an open asking for passthrough is served by the handlers', async (t) => {
  const s = await serve(t, false);
  t.false(s.fuse.passthrough);
  fs.writeFileSync(path.join(s.dir, 'f'), Buffer.alloc(4096, 'q'));
  s.want.add('/f');
  t.deepEqual(await readAll(path.join(s.mnt, 'f')), Buffer.alloc(4096, 'q'));
  t.true((s.calls.read ?? 0) > 0);
});

test.serial('passthrough: while an inode has a passthrough open, an open the handler wants to serve itself fails EBUSY (never bypasses it)', async (t) => {
  if (!kernelHasPassthrough()) return t.pass(`kernel ${os.release()} has no FUSE passthrough (6.9+)`);
  const s = await serve(t, true);
  fs.writeFileSync(path.join(s.dir, 'f'), Buffer.alloc(4096, 'a'));
  s.want.add('/f');
  const pt = await fs.promises.open(path.join(s.mnt, 'f'), 'r');
  s.want.delete('/f');
  const err = await t.throwsAsync(fs.promises.open(path.join(s.mnt, 'f'), 'r'));
  t.is((err as NodeJS.ErrnoException).code, 'EBUSY');
  const buf = Buffer.alloc(4096);
  t.is((await pt.read(buf, 0, 4096, 0)).bytesRead, 4096);
  t.deepEqual(buf, Buffer.alloc(4096, 'a'));
  t.is(s.calls.read ?? 0, 0);
  await pt.close();
  // Once the passthrough open is gone, the handler's own kind of open works again.
  t.deepEqual(await readAll(path.join(s.mnt, 'f')), Buffer.alloc(4096, 'a'));
});

test.serial('passthrough: asked for while a cached open exists, the open is served cached; after the last close passthrough works again', async (t) => {
  if (!kernelHasPassthrough()) return t.pass(`kernel ${os.release()} has no FUSE passthrough (6.9+)`);
  const s = await serve(t, true);
  fs.writeFileSync(path.join(s.dir, 'f'), Buffer.alloc(4096, 'b'));
  const cached = await fs.promises.open(path.join(s.mnt, 'f'), 'r');
  s.want.add('/f');
  t.deepEqual(await readAll(path.join(s.mnt, 'f')), Buffer.alloc(4096, 'b'));
  t.true((s.calls.read ?? 0) > 0, 'served by the handlers while the cached open exists');
  await cached.close();
  // Several passthrough opens of one inode at once share one backing file.
  fs.writeFileSync(path.join(s.dir, 'f'), Buffer.alloc(4096, 'c'));
  const a = await fs.promises.open(path.join(s.mnt, 'f'), 'r');
  const b = await fs.promises.open(path.join(s.mnt, 'f'), 'r');
  const before = s.calls.read;
  const buf = Buffer.alloc(4096);
  t.is((await a.read(buf, 0, 4096, 0)).bytesRead, 4096);
  t.deepEqual(buf, Buffer.alloc(4096, 'c'));
  t.is((await b.read(buf, 0, 4096, 0)).bytesRead, 4096);
  t.is(s.calls.read, before, 'neither reached the handlers');
  await a.close();
  await b.close();
  // And once all are closed, a new passthrough open registers the backing file again.
  t.deepEqual(await readAll(path.join(s.mnt, 'f')), Buffer.alloc(4096, 'c'));
  t.is(s.calls.read, before);
});
