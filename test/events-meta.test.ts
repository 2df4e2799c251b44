// Namespace, metadata, mount and NOSPACE events through real mounts, and the GPFS rules (EIO without
// a disposition, object lists override, no events while DMAPI is disabled, invisible I/O is silent).
import test from 'ava';
import * as fs from 'fs';
import * as path from 'path';
import { useCluster } from './helpers/cluster';
import { C, evMount, expectEvent, holdRight, noEvent, run } from './helpers/events';

const cluster = useCluster();
const node = cluster.uniqueNode('em');
const NS = [C.DM_EVENT_CREATE, C.DM_EVENT_POSTCREATE, C.DM_EVENT_REMOVE, C.DM_EVENT_POSTREMOVE, C.DM_EVENT_RENAME,
  C.DM_EVENT_POSTRENAME, C.DM_EVENT_LINK, C.DM_EVENT_POSTLINK, C.DM_EVENT_SYMLINK, C.DM_EVENT_POSTSYMLINK];

test.serial('namespace events: sync pre-events before, async post-events after, with their fields', async (t) => {
  const e = await evMount(t, cluster, node, NS);
  await e.dm.setEventlist(e.sid, e.fsh, C.DM_NO_TOKEN, NS);
  const root = await e.dm.pathToHandle(e.mnt);
  const touch = run(t, 'touch', [e.m('new')]);
  const pre = await expectEvent(e.dm, e.sid, C.DM_EVENT_CREATE, 'touch new');
  t.true(pre.token > 0);
  t.deepEqual(pre.handle1, root);
  t.is(pre.name1, 'new');
  t.is(pre.mode! & 0o170000, 0o100000);
  t.false(fs.existsSync(path.join(e.backing, 'new')), 'CREATE comes before the file exists');
  await e.dm.respondEvent(e.sid, pre.token, C.DM_RESP_CONTINUE, 0);
  const post = await expectEvent(e.dm, e.sid, C.DM_EVENT_POSTCREATE);
  t.is(post.token, 0);
  t.is(post.retcode, 0);
  t.deepEqual(post.handle2, await e.dm.pathToHandle(e.m('new')));
  t.is((await touch.finish()).code, 0);

  // ABORT: the operation fails with the errno and changes nothing.
  const mv = run(t, 'mv', [e.m('new'), e.m('renamed')]);
  const ren = await expectEvent(e.dm, e.sid, C.DM_EVENT_RENAME);
  t.is(ren.name1, 'new');
  t.is(ren.name2, 'renamed');
  t.deepEqual(ren.handle1, root);
  t.deepEqual(ren.handle2, root);
  await e.dm.respondEvent(e.sid, ren.token, C.DM_RESP_ABORT, 1);
  const r = await mv.finish();
  t.not(r.code, 0);
  t.regex(r.stderr, /Operation not permitted/);
  t.true(fs.existsSync(path.join(e.backing, 'new')));
  t.false(fs.existsSync(path.join(e.backing, 'renamed')));
  t.true(await noEvent(e.dm, e.sid, 100), 'no post event for an aborted operation');

  const ln = run(t, 'ln', [e.m('new'), e.m('hard')]);
  const lk = await expectEvent(e.dm, e.sid, C.DM_EVENT_LINK);
  t.deepEqual(lk.handle1, root);
  t.deepEqual(lk.handle2, await e.dm.pathToHandle(e.m('new')));
  t.is(lk.name1, 'hard');
  await e.dm.respondEvent(e.sid, lk.token, C.DM_RESP_CONTINUE, 0);
  await expectEvent(e.dm, e.sid, C.DM_EVENT_POSTLINK);
  t.is((await ln.finish()).code, 0);

  const sl = run(t, 'ln', ['-s', 'some/target', e.m('sym')]);
  const sy = await expectEvent(e.dm, e.sid, C.DM_EVENT_SYMLINK);
  t.is(sy.name1, 'sym');
  t.is(sy.name2, 'some/target');
  await e.dm.respondEvent(e.sid, sy.token, C.DM_RESP_CONTINUE, 0);
  const psy = await expectEvent(e.dm, e.sid, C.DM_EVENT_POSTSYMLINK);
  t.is(psy.retcode, 0);
  t.is((await sl.finish()).code, 0);

  const rm = run(t, 'rm', [e.m('hard')]);
  const re = await expectEvent(e.dm, e.sid, C.DM_EVENT_REMOVE);
  t.is(re.name1, 'hard');
  t.is(re.mode! & 0o170000, 0o100000);
  await e.dm.respondEvent(e.sid, re.token, C.DM_RESP_CONTINUE, 0);
  const pre2 = await expectEvent(e.dm, e.sid, C.DM_EVENT_POSTREMOVE);
  t.is(pre2.retcode, 0);
  t.is((await rm.finish()).code, 0);

  // A failing operation: the post event carries its errno. (It must reach the filesystem: mkdir over
  // a name the kernel already knows fails with EEXIST in the VFS, before any filesystem call, as on
  // GPFS. rmdir of a non-empty directory is refused by the filesystem itself.)
  fs.mkdirSync(path.join(e.backing, 'full'));
  fs.writeFileSync(path.join(e.backing, 'full', 'f'), 'f');
  const rd = run(t, 'rmdir', [e.m('full')]);
  const r2 = await expectEvent(e.dm, e.sid, C.DM_EVENT_REMOVE, 'rmdir of a non-empty directory');
  t.is(r2.name1, 'full');
  t.is(r2.mode! & 0o170000, 0o040000);
  await e.dm.respondEvent(e.sid, r2.token, C.DM_RESP_CONTINUE, 0);
  const pr2 = await expectEvent(e.dm, e.sid, C.DM_EVENT_POSTREMOVE, 'rmdir of a non-empty directory');
  t.is(pr2.retcode, 39, 'POSTREMOVE carries ENOTEMPTY');
  t.not((await rd.finish()).code, 0);
  t.true(fs.existsSync(path.join(e.backing, 'full', 'f')));
});

test.serial('GPFS rules: enabled without a disposition → EIO; object list overrides; disabled → no events', async (t) => {
  const e = await evMount(t, cluster, node, []);
  await e.dm.setEventlist(e.sid, e.fsh, C.DM_NO_TOKEN, [C.DM_EVENT_CREATE]);
  t.throws(() => fs.writeFileSync(e.m('x'), 'x'), { code: 'EIO' });
  fs.mkdirSync(path.join(e.backing, 'd'));
  const dh = await e.dm.pathToHandle(e.m('d'));
  // The directory's own list (without CREATE) overrides the filesystem's.
  await e.dm.setEventlist(e.sid, dh, C.DM_NO_TOKEN, [C.DM_EVENT_POSTCREATE]);
  fs.writeFileSync(e.m('d', 'y'), 'y');
  t.true(await noEvent(e.dm, e.sid, 50));
  await e.dm.setEventlist(e.sid, e.fsh, C.DM_NO_TOKEN, []);
  fs.writeFileSync(e.m('x'), 'x');
  // Invisible I/O raises nothing even with a READ region.
  await e.dm.setDisp(e.sid, e.fsh, C.DM_NO_TOKEN, [C.DM_EVENT_READ]);
  const h = await e.dm.pathToHandle(e.m('x'));
  await e.dm.setRegion(e.sid, h, C.DM_NO_TOKEN, [{ offset: 0n, size: 0n, flags: C.DM_REGION_READ, opaque: 0 }]);
  t.is((await e.dm.readInvis(e.sid, h, C.DM_NO_TOKEN, 0, 10)).toString(), 'x');
  t.true(await noEvent(e.dm, e.sid, 50));
  // A READ region without a disposition: EIO.
  await e.dm.setDisp(e.sid, e.fsh, C.DM_NO_TOKEN, []);
  t.throws(() => fs.readFileSync(e.m('x')), { code: 'EIO' });
});

test.serial('DMAPI disabled: regions and lists stay, but no operation raises anything', async (t) => {
  const backing = cluster.tmpDir(t, 'dmfs-back-');
  const mnt = cluster.tmpDir(t, 'dmfs-mnt-');
  t.is((await cluster.cli(['mount', '--node', node, backing, mnt])).code, 0);
  t.teardown(() => cluster.unmount(mnt));
  fs.writeFileSync(path.join(mnt, 'f'), 'data');
  fs.renameSync(path.join(mnt, 'f'), path.join(mnt, 'g'));
  t.is(fs.readFileSync(path.join(mnt, 'g'), 'utf8'), 'data');
});

test.serial('metadata events: ATTRIBUTE, CLOSE, DESTROY with the return-on-destroy attribute', async (t) => {
  const e = await evMount(t, cluster, node, [C.DM_EVENT_ATTRIBUTE, C.DM_EVENT_CLOSE, C.DM_EVENT_DESTROY]);
  fs.writeFileSync(e.m('f'), 'abc');
  const h = await e.dm.pathToHandle(e.m('f'));
  await e.dm.setEventlist(e.sid, h, C.DM_NO_TOKEN, [C.DM_EVENT_ATTRIBUTE, C.DM_EVENT_CLOSE, C.DM_EVENT_DESTROY]);
  await e.dm.setDmattr(e.sid, h, C.DM_NO_TOKEN, 'archid', Buffer.from('tape-42'));
  await e.dm.setReturnOnDestroy(e.sid, e.fsh, C.DM_NO_TOKEN, 'archid', true);
  fs.chmodSync(e.m('f'), 0o600);
  const a = await expectEvent(e.dm, e.sid, C.DM_EVENT_ATTRIBUTE);
  t.is(a.token, 0);
  t.deepEqual(a.handle1, h);
  t.is(a.mode! & 0o7777, 0o600);
  const fd = fs.openSync(e.m('f'), 'r');
  fs.unlinkSync(e.m('f'));
  t.true(await noEvent(e.dm, e.sid, 100), 'no DESTROY while the file is open');
  fs.closeSync(fd);
  const c = await expectEvent(e.dm, e.sid, C.DM_EVENT_CLOSE);
  t.deepEqual(c.handle1, h);
  const d = await expectEvent(e.dm, e.sid, C.DM_EVENT_DESTROY);
  t.deepEqual(d.handle, h);
  t.is(d.attrName, 'archid');
  t.is(d.attrCopy!.toString(), 'tape-42');
});

test.serial('mount events: MOUNT waits for its answer and ABORT fails the mount; PREUNMOUNT ABORT refuses the unmount; UNMOUNT after', async (t) => {
  const { connect } = await import('../src/dmapi/client');
  const backing = cluster.tmpDir(t, 'dmfs-back-');
  const mnt = cluster.tmpDir(t, 'dmfs-mnt-');
  // The node must run for the session: mount something else first.
  const first = await evMount(t, cluster, node, []);
  void first;
  const dm = await connect({ node, runDir: cluster.runDir });
  t.teardown(() => dm.close());
  const sid = await dm.createSession(0, 'mount-watcher');
  t.teardown(async () => {
    for (const tok of await dm.getallTokens(sid).catch(() => [] as number[])) await dm.respondEvent(sid, tok, C.DM_RESP_CONTINUE, 0).catch(() => undefined);
    await dm.setDisp(sid, Buffer.from([1]), C.DM_NO_TOKEN, []).catch(() => undefined);
    await dm.destroySession(sid).catch(() => undefined);
  });
  await dm.setDisp(sid, Buffer.from([1]), C.DM_NO_TOKEN, [C.DM_EVENT_MOUNT]);
  const m1 = cluster.cli(['mount', '--node', node, '--dmapi', backing, mnt], { timeoutMs: 20000 });
  const ev = await expectEvent(dm, sid, C.DM_EVENT_MOUNT);
  t.is(ev.mountPoint, mnt);
  t.is(ev.device, backing);
  t.is(ev.fsHandle!.length, 8);
  await dm.respondEvent(sid, ev.token, C.DM_RESP_ABORT, 13);
  const r1 = await m1;
  t.not(r1.code, 0);
  t.regex(r1.stderr, /EACCES|refused/);
  t.false(fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${mnt} `));
  const m2 = cluster.cli(['mount', '--node', node, '--dmapi', backing, mnt], { timeoutMs: 20000 });
  const ev2 = await expectEvent(dm, sid, C.DM_EVENT_MOUNT, 'second mount');
  await dm.respondEvent(sid, ev2.token, C.DM_RESP_CONTINUE, 0);
  t.is((await m2).code, 0);
  t.teardown(() => cluster.unmount(mnt));
  const fsh = await dm.pathToFshandle(mnt);
  t.deepEqual(fsh, ev2.fsHandle);
  await dm.setDisp(sid, fsh, C.DM_NO_TOKEN, [C.DM_EVENT_PREUNMOUNT, C.DM_EVENT_UNMOUNT]);
  await dm.setEventlist(sid, fsh, C.DM_NO_TOKEN, [C.DM_EVENT_PREUNMOUNT, C.DM_EVENT_UNMOUNT]);
  const u1 = cluster.cli(['umount', '--node', node, mnt], { timeoutMs: 20000 });
  const pu = await expectEvent(dm, sid, C.DM_EVENT_PREUNMOUNT);
  t.deepEqual(pu.handle1, fsh);
  await dm.respondEvent(sid, pu.token, C.DM_RESP_ABORT, 16);
  const ru1 = await u1;
  t.not(ru1.code, 0);
  // Reported as the DM application's refusal with its errno, not as open files.
  t.regex(ru1.stderr, /PREUNMOUNT answered ABORT with errno 16 \(EBUSY\)/);
  t.notRegex(ru1.stderr, /files are open/);
  t.true(fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${mnt} `), 'still mounted');
  const u2 = cluster.cli(['umount', '--node', node, mnt], { timeoutMs: 20000 });
  const pu2 = await expectEvent(dm, sid, C.DM_EVENT_PREUNMOUNT, 'second umount');
  await dm.respondEvent(sid, pu2.token, C.DM_RESP_CONTINUE, 0);
  t.is((await u2).code, 0);
  const um = await expectEvent(dm, sid, C.DM_EVENT_UNMOUNT);
  t.is(um.token, 0);
  t.is(um.retcode, 0);
  t.deepEqual(um.handle1, fsh);
});

test.serial('NOSPACE: a write past --capacity raises it; punch_hole + CONTINUE retries and succeeds; ABORT → ENOSPC', async (t) => {
  const e = await evMount(t, cluster, node, [C.DM_EVENT_NOSPACE], ['--capacity', '1M']);
  await e.dm.setEventlist(e.sid, e.fsh, C.DM_NO_TOKEN, [C.DM_EVENT_NOSPACE]);
  fs.writeFileSync(e.m('old'), Buffer.alloc(900 * 1024, 1));
  const h = await e.dm.pathToHandle(e.m('old'));
  const w = run(t, 'dd', ['if=/dev/zero', `of=${e.m('new')}`, 'bs=300K', 'count=1', 'status=none']);
  const ev = await expectEvent(e.dm, e.sid, C.DM_EVENT_NOSPACE, 'dd of 300K past the 1M capacity');
  t.deepEqual(ev.handle1, e.fsh);
  await e.dm.punchHole(e.sid, h, C.DM_NO_TOKEN, 0, 0);
  await e.dm.respondEvent(e.sid, ev.token, C.DM_RESP_CONTINUE, 0);
  const r = await w.finish();
  t.is(r.code, 0, r.stderr);
  t.is(fs.statSync(e.m('new')).size, 300 * 1024);
  // ABORT. The write must be one FUSE request (128 KiB at most) that does not fit: a larger write()
  // is split by the kernel, the chunks that fit are written, and the caller (dd) retries the rest
  // with a new write() that raises NOSPACE again. Fill through the mount to 900 KiB of 1 MiB.
  t.is((await run(t, 'dd', ['if=/dev/zero', `of=${e.m('filler')}`, 'bs=600K', 'count=1', 'status=none']).finish()).code, 0);
  t.true(await noEvent(e.dm, e.sid, 50), 'the filler fits');
  const w2 = run(t, 'dd', ['if=/dev/zero', `of=${e.m('new2')}`, 'bs=128K', 'count=1', 'status=none']);
  const ev2 = await expectEvent(e.dm, e.sid, C.DM_EVENT_NOSPACE, 'dd of 128K with less than 128K left');
  await e.dm.respondEvent(e.sid, ev2.token, C.DM_RESP_ABORT, 28);
  const r2 = await w2.finish();
  t.not(r2.code, 0);
  t.regex(r2.stderr, /No space left/);
  t.is(fs.statSync(path.join(e.backing, 'new2')).size, 0, 'the aborted write changed nothing');
  t.true(await noEvent(e.dm, e.sid, 100), 'one NOSPACE per failing write');
});

test.serial('NOSPACE: the write retried after CONTINUE still waits for a DM right held on its file', async (t) => {
  const e = await evMount(t, cluster, node, [C.DM_EVENT_NOSPACE], ['--capacity', '1M']);
  await e.dm.setEventlist(e.sid, e.fsh, C.DM_NO_TOKEN, [C.DM_EVENT_NOSPACE]);
  t.is((await run(t, 'dd', ['if=/dev/zero', `of=${e.m('old')}`, 'bs=900K', 'count=1', 'status=none']).finish()).code, 0);
  fs.writeFileSync(path.join(e.backing, 'target'), '');
  const hOld = await e.dm.pathToHandle(e.m('old'));
  const hTarget = await e.dm.pathToHandle(e.m('target'));
  const w = run(t, 'dd', ['if=/dev/zero', `of=${e.m('target')}`, 'bs=128K', 'count=1', 'conv=notrunc', 'status=none']);
  const ev = await expectEvent(e.dm, e.sid, C.DM_EVENT_NOSPACE, 'dd of 128K with 124K left');
  // The DM application takes the exclusive right on the file being written (with a token of its
  // own), frees space, and answers CONTINUE while it still holds the right.
  const release = await holdRight(e.dm, e.sid, hTarget);
  await e.dm.punchHole(e.sid, hOld, C.DM_NO_TOKEN, 0, 0);
  await e.dm.respondEvent(e.sid, ev.token, C.DM_RESP_CONTINUE, 0);
  await new Promise((r) => setTimeout(r, 500));
  t.false(w.exited(), 'the retried write waits for the DM right');
  t.is(fs.statSync(path.join(e.backing, 'target')).size, 0, 'nothing written under the DM right');
  await release();
  const r = await w.finish();
  t.is(r.code, 0, r.stderr);
  t.is(fs.statSync(path.join(e.backing, 'target')).size, 128 * 1024);
});
