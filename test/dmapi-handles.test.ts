// DMAPI handles through a real mount: path/fd/fs handles, the library-side functions, persistence
// across rename, remount and daemon restart, EBADF for deleted/reused/reserved objects, EINVAL for
// malformed handles, ENXIO off dmapifs, EPERM with the DMAPI disabled, handle_to_path.
import test, { ExecutionContext } from 'ava';
import * as fs from 'fs';
import * as path from 'path';
import { useCluster } from './helpers/cluster';
import { connect, DmapiError, GLOBAL_HANDLE } from '../src/dmapi';
import * as C from '../src/dmapi/constants';
import * as H from '../src/dmapi/handles';

const cluster = useCluster();

async function mountEnv(files: Record<string, string> = {}, dmapi = true) {
  const backing = cluster.tmpDir(null, 'dmfs-back-');
  cluster.writeFiles(backing, files);
  const mnt = cluster.tmpDir(null, 'dmfs-mnt-');
  const node = cluster.uniqueNode('dm');
  const r = await cluster.cli(['mount', '--node', node, ...(dmapi ? ['--dmapi', '--mount-event-optional'] : []), backing, mnt]);
  if (r.code !== 0) throw new Error(r.stderr);
  const dm = await connect({ node, runDir: cluster.runDir });
  return { node, backing, mnt, dm };
}
async function errno(t: ExecutionContext, p: Promise<unknown> | (() => unknown), code: string): Promise<void> {
  if (typeof p === 'function') {
    const e = t.throws(p as () => unknown) as unknown as { errno: number };
    t.is(C.errnoName(e.errno), code);
    return;
  }
  const e = await t.throwsAsync(p, { instanceOf: DmapiError });
  t.is(e?.code, code);
}

let env: Awaited<ReturnType<typeof mountEnv>>;
let sid = 0;
test.before(async () => {
  env = await mountEnv({ 'f': 'data', 'd/g': 'x', 'd/e/h': 'y' });
  fs.symlinkSync('f', path.join(env.backing, 'ln'));
  sid = await env.dm.createSession(0, 'handles');
});
test.after.always(async () => { await env?.dm.destroySession(sid).catch(() => undefined); env?.dm.close(); });

test('path_to_handle and fd_to_handle give equal handles; layout fsid·ino·igen', async (t) => {
  const p = path.join(env.mnt, 'f');
  const h1 = await env.dm.pathToHandle(p);
  const fd = fs.openSync(p, 'r');
  const h2 = await env.dm.fdToHandle(fd);
  fs.closeSync(fd);
  t.is(H.handleCmp(h1, h2), 0);
  t.is(h1.length, H.FILE_HANDLE_LEN);
  t.is(H.handleToIno(h1), fs.statSync(path.join(env.backing, 'f'), { bigint: true }).ino);
  t.is(H.handleToFsid(h1), H.handleToFsid(await env.dm.pathToFshandle(p)));
  t.true(H.handleIsValid(h1));
});

test('path_to_handle does not follow the last symlink; "" and "." work', async (t) => {
  const hl = await env.dm.pathToHandle(path.join(env.mnt, 'ln'));
  const hf = await env.dm.pathToHandle(path.join(env.mnt, 'f'));
  t.not(H.handleCmp(hl, hf), 0);
  const cwd = process.cwd();
  process.chdir(path.join(env.mnt, 'd'));
  try {
    const a = await env.dm.pathToHandle('.');
    const b = await env.dm.pathToHandle('');
    t.is(H.handleCmp(a, b), 0);
  } finally {
    process.chdir(cwd);
  }
});

test('path_to_handle: missing → ENOENT, through a file → ENOTDIR, too long → ENAMETOOLONG', async (t) => {
  await errno(t, env.dm.pathToHandle(path.join(env.mnt, 'missing')), 'ENOENT');
  await errno(t, env.dm.pathToHandle(path.join(env.mnt, 'f', 'x')), 'ENOTDIR');
  await errno(t, env.dm.pathToHandle(path.join(env.mnt, 'a'.repeat(300))), 'ENAMETOOLONG');
});

test('path_to_handle outside dmapifs → ENXIO; fd_to_handle(0) → ENXIO; closed fd → EBADF', async (t) => {
  await errno(t, env.dm.pathToHandle('/tmp'), 'ENXIO');
  await errno(t, env.dm.pathToFshandle('/tmp'), 'ENXIO');
  const fd = fs.openSync(path.join(env.mnt, 'f'), 'r');
  fs.closeSync(fd);
  await errno(t, env.dm.fdToHandle(fd), 'EBADF');
  const nullFd = fs.openSync('/dev/null', 'r');
  await errno(t, env.dm.fdToHandle(nullFd), 'ENXIO');
  fs.closeSync(nullFd);
});

test('handle_to_fshandle equals path_to_fshandle; global handle → EBADF', (t) => {
  return (async () => {
    const h = await env.dm.pathToHandle(path.join(env.mnt, 'd/g'));
    t.is(H.handleCmp(H.handleToFshandle(h), await env.dm.pathToFshandle(env.mnt)), 0);
    await errno(t, () => H.handleToFshandle(GLOBAL_HANDLE), 'EBADF');
  })();
});

test('handle_to_ino / igen on fs or global handle → EBADF; malformed → EINVAL', async (t) => {
  const fsh = await env.dm.pathToFshandle(env.mnt);
  await errno(t, () => H.handleToIno(fsh), 'EBADF');
  await errno(t, () => H.handleToIgen(fsh), 'EBADF');
  await errno(t, () => H.handleToIno(GLOBAL_HANDLE), 'EBADF');
  await errno(t, () => H.handleToIno(Buffer.alloc(5)), 'EINVAL');
});

test('make_handle / make_fshandle from the parts give equal handles; hash is the byte sum', async (t) => {
  const h = await env.dm.pathToHandle(path.join(env.mnt, 'f'));
  const m = H.makeHandle(H.handleToFsid(h), H.handleToIno(h), H.handleToIgen(h));
  t.is(H.handleCmp(h, m), 0);
  t.is(H.handleCmp(H.makeFsHandle(H.handleToFsid(h)), await env.dm.pathToFshandle(env.mnt)), 0);
  t.is(H.handleHash(h), [...h].reduce((a, b) => a + b, 0));
});

test('handle_is_valid: global true; wrong length or a changed byte → false', async (t) => {
  const h = await env.dm.pathToHandle(path.join(env.mnt, 'f'));
  t.true(H.handleIsValid(GLOBAL_HANDLE));
  t.false(H.handleIsValid(h.subarray(0, 23)));
  t.false(H.handleIsValid(Buffer.concat([h, Buffer.from([0])])));
  const bad = Buffer.from(h);
  bad[21] ^= 0xff;
  t.false(H.handleIsValid(bad));
  const bad2 = Buffer.from(h);
  bad2[9] ^= 1;
  t.false(H.handleIsValid(bad2));
});

test('a malformed handle → EINVAL on use, without lookup', async (t) => {
  await errno(t, env.dm.getFileattr(sid, Buffer.alloc(13, 1), C.DM_NO_TOKEN, C.DM_AT_STAT), 'EINVAL');
});

test('handles survive a rename', async (t) => {
  fs.writeFileSync(path.join(env.backing, 'r1'), 'rename me');
  const h = await env.dm.pathToHandle(path.join(env.mnt, 'r1'));
  fs.renameSync(path.join(env.mnt, 'r1'), path.join(env.mnt, 'd', 'r2'));
  t.is((await env.dm.readInvis(sid, h, C.DM_NO_TOKEN, 0, 100)).toString(), 'rename me');
});

test('a deleted file\'s handle → EBADF; a reused inode number has another generation → EBADF', async (t) => {
  const p = path.join(env.mnt, 'del');
  fs.writeFileSync(p, 'x');
  const h = await env.dm.pathToHandle(p);
  fs.unlinkSync(p);
  await errno(t, env.dm.readInvis(sid, h, C.DM_NO_TOKEN, 0, 1), 'EBADF');
  // Same inode number, another generation (a forged handle stands for the old file).
  const h2 = await env.dm.pathToHandle(path.join(env.mnt, 'f'));
  const forged = H.makeHandle(H.handleToFsid(h2), H.handleToIno(h2), (H.handleToIgen(h2) + 1) >>> 0);
  await errno(t, env.dm.readInvis(sid, forged, C.DM_NO_TOKEN, 0, 1), 'EBADF');
});

test('reserved files (quota reports, the reserved area) → EBADF', async (t) => {
  await errno(t, env.dm.pathToHandle(path.join(env.mnt, 'user.quota')), 'EBADF');
  const cfgIno = fs.statSync(path.join(env.backing, '.dmapifs', 'config.json'), { bigint: true }).ino;
  const fsid = H.handleToFsid(await env.dm.pathToFshandle(env.mnt));
  await errno(t, env.dm.readInvis(sid, H.makeHandle(fsid, cfgIno, 0), C.DM_NO_TOKEN, 0, 1), 'EBADF');
});

test('handle_to_path: path of the target in the directory; errors EINVAL, EBADF, E2BIG', async (t) => {
  const dh = await env.dm.pathToHandle(path.join(env.mnt, 'd'));
  const gh = await env.dm.pathToHandle(path.join(env.mnt, 'd', 'g'));
  const fh = await env.dm.pathToHandle(path.join(env.mnt, 'f'));
  t.is(await env.dm.handleToPath(dh, gh), path.join(env.mnt, 'd', 'g'));
  await errno(t, env.dm.handleToPath(dh, fh), 'EINVAL');
  await errno(t, env.dm.handleToPath(fh, gh), 'EBADF');
  await errno(t, env.dm.handleToPath(await env.dm.pathToFshandle(env.mnt), gh), 'EBADF');
  await errno(t, env.dm.handleToPath(GLOBAL_HANDLE, gh), 'EBADF');
  await errno(t, env.dm.handleToPath(dh, gh, 4), 'E2BIG');
});

test('handles are unchanged across unmount/remount and a daemon restart; fsid persistent', async (t) => {
  const e = await mountEnv({ 'keep': 'k' });
  const h = await e.dm.pathToHandle(path.join(e.mnt, 'keep'));
  e.dm.close();
  await cluster.cli(['umount', e.mnt]);
  await cluster.cli(['node', 'stop', '--node', e.node]);
  const r = await cluster.cli(['mount', '--node', e.node, '--mount-event-optional', e.backing, e.mnt]);
  t.is(r.code, 0, r.stderr);
  const dm = await connect({ node: e.node, runDir: cluster.runDir });
  t.teardown(() => dm.close());
  t.is(H.handleCmp(await dm.pathToHandle(path.join(e.mnt, 'keep')), h), 0);
  const s = await dm.createSession(0, 'x');
  t.is((await dm.readInvis(s, h, C.DM_NO_TOKEN, 0, 10)).toString(), 'k');
  await dm.destroySession(s);
});

test('DMAPI disabled: handle functions → EPERM; chfs enables it while unmounted', async (t) => {
  const e = await mountEnv({ 'q': 'q' }, false);
  await errno(t, e.dm.pathToHandle(path.join(e.mnt, 'q')), 'EPERM');
  const busy = await cluster.cli(['chfs', '--dmapi', 'yes', e.mnt]);
  t.not(busy.code, 0);
  t.regex(busy.stderr, /unmount/);
  await cluster.cli(['umount', e.mnt]);
  const r = await cluster.cli(['chfs', '--dmapi', 'yes', e.mnt]);
  t.is(r.code, 0, r.stderr);
  await cluster.cli(['mount', '--node', e.node, '--mount-event-optional', e.backing, e.mnt]);
  const h = await e.dm.pathToHandle(path.join(e.mnt, 'q')).catch(async () => {
    e.dm.close();
    e.dm = await connect({ node: e.node, runDir: cluster.runDir });
    return e.dm.pathToHandle(path.join(e.mnt, 'q'));
  });
  t.true(H.handleIsValid(h));
  // Disable again: the old handle now fails EPERM.
  await cluster.cli(['umount', e.mnt]);
  t.is((await cluster.cli(['chfs', '--dmapi', 'no', e.backing])).code, 0);
  await cluster.cli(['mount', '--node', e.node, '--mount-event-optional', e.backing, e.mnt]);
  const s = await e.dm.createSession(0, 'x');
  await errno(t, e.dm.readInvis(s, h, C.DM_NO_TOKEN, 0, 1), 'EPERM');
  await e.dm.destroySession(s);
  e.dm.close();
});

test('a handle of a filesystem not mounted here → EBADF', async (t) => {
  await errno(t, env.dm.readInvis(sid, H.makeHandle(0x1234n, 5n, 1), C.DM_NO_TOKEN, 0, 1), 'EBADF');
});
