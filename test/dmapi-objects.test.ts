// DMAPI functions on objects through a real mount: dispositions, event lists and config; rights
// (DLM locks); DM attributes; managed regions; file attributes and scans; invisible I/O, holes,
// allocation and sync — success and every errno the reference names.
import test, { ExecutionContext } from 'ava';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { useCluster, waitFor } from './helpers/cluster';
import { connect, DmapiError, GLOBAL_HANDLE } from '../src/dmapi';
import * as C from '../src/dmapi/constants';
import * as H from '../src/dmapi/handles';

const cluster = useCluster();
let dm: Awaited<ReturnType<typeof connect>>;
let mnt = '';
let backing = '';
let node = '';
let fsh: Buffer;
const NT = C.DM_NO_TOKEN;

test.before(async () => {
  backing = cluster.tmpDir(null, 'dmfs-back-');
  cluster.writeFiles(backing, { 'f': 'hello', 'd/a': '1', 'd/b': '22', 'd/c': '333' });
  mnt = cluster.tmpDir(null, 'dmfs-mnt-');
  node = cluster.uniqueNode('dm');
  const r = await cluster.cli(['mount', '--node', node, '--dmapi', '--mount-event-optional', backing, mnt]);
  if (r.code !== 0) throw new Error(r.stderr);
  dm = await connect({ node, runDir: cluster.runDir });
  fsh = await dm.pathToFshandle(mnt);
});
test.after.always(() => dm?.close());

async function errno(t: ExecutionContext, p: Promise<unknown>, code: string): Promise<DmapiError> {
  const e = await t.throwsAsync(p, { instanceOf: DmapiError });
  t.is(e?.code, code);
  return e as DmapiError;
}
async function session(t: ExecutionContext): Promise<number> {
  const sid = await dm.createSession(0, 'obj');
  t.teardown(async () => {
    for (const tok of await dm.getallTokens(sid).catch(() => [])) await dm.respondEvent(sid, tok, C.DM_RESP_CONTINUE, 0).catch(() => undefined);
    await dm.setDisp(sid, fsh, NT, []).catch(() => undefined);
    await dm.setDisp(sid, GLOBAL_HANDLE, NT, []).catch(() => undefined);
    await dm.destroySession(sid).catch(() => undefined);
  });
  return sid;
}
let fileNo = 0;
function newFile(content: string | Buffer = 'content'): { p: string; b: string } {
  const name = `file${++fileNo}`;
  fs.writeFileSync(path.join(backing, name), content);
  return { p: path.join(mnt, name), b: path.join(backing, name) };
}
const h = (p: string) => dm.pathToHandle(p);

// ---------------------------------------------------------------- dispositions, event lists, config

test.serial('set_disp: global handle with MOUNT → 0; with CREATE → EINVAL', async (t) => {
  const sid = await session(t);
  await dm.setDisp(sid, GLOBAL_HANDLE, NT, [C.DM_EVENT_MOUNT]);
  await errno(t, dm.setDisp(sid, GLOBAL_HANDLE, NT, [C.DM_EVENT_CREATE]), 'EINVAL');
});

test.serial('set_disp: fs handle with MOUNT → EINVAL, with RENAME → 0 and getall_disp shows it', async (t) => {
  const sid = await session(t);
  await errno(t, dm.setDisp(sid, fsh, NT, [C.DM_EVENT_MOUNT]), 'EINVAL');
  await dm.setDisp(sid, fsh, NT, [C.DM_EVENT_RENAME]);
  const d = await dm.getallDisp(sid);
  t.is(d.length, 1);
  t.deepEqual(d[0].events, [C.DM_EVENT_RENAME]);
  t.is(H.handleCmp(d[0].fsHandle, fsh), 0);
});

test.serial('set_disp: file or directory handle → EINVAL', async (t) => {
  const sid = await session(t);
  await errno(t, dm.setDisp(sid, await h(path.join(mnt, 'f')), NT, [C.DM_EVENT_RENAME]), 'EINVAL');
  await errno(t, dm.setDisp(sid, await h(path.join(mnt, 'd')), NT, [C.DM_EVENT_RENAME]), 'EINVAL');
});

test.serial('set_disp: maxevent > DM_EVENT_MAX → EINVAL; bad sid → EINVAL', async (t) => {
  const sid = await session(t);
  await errno(t, dm.setDisp(sid, fsh, NT, [C.DM_EVENT_RENAME], C.DM_EVENT_MAX + 1), 'EINVAL');
  await errno(t, dm.setDisp(808080, fsh, NT, [C.DM_EVENT_RENAME]), 'EINVAL');
});

test.serial('GPFS: a token with a filesystem handle → EINVAL (set_disp, set/get_eventlist, get_mountinfo, set_return_on_destroy, bulkattr, bulkall)', async (t) => {
  const sid = await session(t);
  const tok = await dm.createUserevent(sid, Buffer.from('t'));
  await errno(t, dm.setDisp(sid, fsh, tok, [C.DM_EVENT_RENAME]), 'EINVAL');
  await errno(t, dm.setEventlist(sid, fsh, tok, [C.DM_EVENT_RENAME]), 'EINVAL');
  await errno(t, dm.getEventlist(sid, fsh, tok), 'EINVAL');
  await errno(t, dm.getMountinfo(sid, fsh, tok), 'EINVAL');
  await errno(t, dm.setReturnOnDestroy(sid, fsh, tok, 'HSM', true), 'EINVAL');
  await errno(t, dm.getBulkattr(sid, fsh, tok, C.DM_AT_STAT, 0n), 'EINVAL');
  await errno(t, dm.getBulkall(sid, fsh, tok, C.DM_AT_STAT, 'HSM', 0n), 'EINVAL');
});

test.serial('set_disp moves an event from another session (one session per event and filesystem)', async (t) => {
  const a = await session(t);
  const b = await session(t);
  await dm.setDisp(a, fsh, NT, [C.DM_EVENT_RENAME, C.DM_EVENT_REMOVE]);
  await dm.setDisp(b, fsh, NT, [C.DM_EVENT_RENAME]);
  t.deepEqual((await dm.getallDisp(a))[0].events, [C.DM_EVENT_REMOVE]);
  t.deepEqual((await dm.getallDisp(b))[0].events, [C.DM_EVENT_RENAME]);
});

test.serial('getall_disp: buflen 0 with a disposition → E2BIG with the size (32 bytes: 24 + 8-byte fs handle)', async (t) => {
  const sid = await session(t);
  await dm.setDisp(sid, fsh, NT, [C.DM_EVENT_RENAME]);
  const e = await errno(t, dm.getallDisp(sid, 0), 'E2BIG');
  t.is(Number(e.fields.rlen), 32);
});

test.serial('set/get_eventlist on the fs handle: RENAME → nelem RENAME+1; persistent across remount', async (t) => {
  const sid = await session(t);
  await dm.setEventlist(sid, fsh, NT, [C.DM_EVENT_RENAME]);
  const r = await dm.getEventlist(sid, fsh, NT);
  t.deepEqual(r.events, [C.DM_EVENT_RENAME]);
  t.is(r.nelem, C.DM_EVENT_RENAME + 1);
  await dm.setEventlist(sid, fsh, NT, []);
});

test('set_eventlist: global handle → EINVAL; get_eventlist: global → EBADF', async (t) => {
  const sid = await session(t);
  await errno(t, dm.setEventlist(sid, GLOBAL_HANDLE, NT, [C.DM_EVENT_RENAME]), 'EINVAL');
  await errno(t, dm.getEventlist(sid, GLOBAL_HANDLE, NT), 'EBADF');
});

test.serial('set_eventlist on a file: READ → EINVAL (regions only), DESTROY → 0; on a dir: UNMOUNT → EINVAL', async (t) => {
  const sid = await session(t);
  const fh = await h(newFile().p);
  await errno(t, dm.setEventlist(sid, fh, NT, [C.DM_EVENT_READ]), 'EINVAL');
  await dm.setEventlist(sid, fh, NT, [C.DM_EVENT_DESTROY]);
  t.deepEqual((await dm.getEventlist(sid, fh, NT)).events, [C.DM_EVENT_DESTROY]);
  await errno(t, dm.setEventlist(sid, await h(path.join(mnt, 'd')), NT, [C.DM_EVENT_UNMOUNT]), 'EINVAL');
  await dm.setEventlist(sid, fsh, NT, [C.DM_EVENT_UNMOUNT]);
  await dm.setEventlist(sid, fsh, NT, []);
});

test('get_eventlist: nelem too small → E2BIG with the count; a READ region shows READ', async (t) => {
  const sid = await session(t);
  const fh = await h(newFile().p);
  await dm.setEventlist(sid, fh, NT, [C.DM_EVENT_DESTROY]);
  const e = await errno(t, dm.getEventlist(sid, fh, NT, 0), 'E2BIG');
  t.is(Number(e.fields.nelem), C.DM_EVENT_DESTROY + 1);
  const fh2 = await h(newFile().p);
  await dm.setRegion(sid, fh2, NT, [{ offset: 0n, size: 0n, flags: C.DM_REGION_READ, opaque: 0 }]);
  const r = await dm.getEventlist(sid, fh2, NT);
  t.deepEqual(r.events, [C.DM_EVENT_READ]);
  t.is(r.nelem, C.DM_EVENT_READ + 1);
});

test('get_config: values as documented; unknown flag → EINVAL', async (t) => {
  const fh = await h(path.join(mnt, 'f'));
  t.is(await dm.getConfig(fh, C.DM_CONFIG_MAX_HANDLE_SIZE), BigInt(H.FILE_HANDLE_LEN));
  t.is(await dm.getConfig(fh, C.DM_CONFIG_MAX_MANAGED_REGIONS), 32n);
  t.is(await dm.getConfig(fh, C.DM_CONFIG_MAX_ATTRIBUTE_SIZE), 1022n);
  t.is(await dm.getConfig(fh, C.DM_CONFIG_MAX_MESSAGE_DATA), 4096n);
  t.is(await dm.getConfig(fh, C.DM_CONFIG_CREATE_BY_HANDLE), 0n);
  await errno(t, dm.getConfig(fh, 9999), 'EINVAL');
});

test('get_config_events: implemented events (no CANCEL, DEBUT); nelem too small → E2BIG', async (t) => {
  const fh = await h(path.join(mnt, 'f'));
  const r = await dm.getConfigEvents(fh);
  t.false(r.events.includes(C.DM_EVENT_CANCEL));
  t.false(r.events.includes(C.DM_EVENT_DEBUT));
  t.true(r.events.includes(C.DM_EVENT_READ));
  t.is(r.nelem, C.DM_EVENT_USER + 1);
  await errno(t, dm.getConfigEvents(fh, 5), 'E2BIG');
});

test('get_mountinfo: fs handle → mount message; file handle → EINVAL; small buffer → E2BIG', async (t) => {
  const sid = await session(t);
  const m = await dm.getMountinfo(sid, fsh, NT);
  t.is(H.handleCmp(m.fsHandle, fsh), 0);
  t.is(m.mountPoint, mnt);
  t.is(H.handleCmp(m.rootHandle, await h(mnt)), 0);
  await errno(t, dm.getMountinfo(sid, await h(path.join(mnt, 'f')), NT), 'EINVAL');
  await errno(t, dm.getMountinfo(sid, fsh, NT, 10), 'E2BIG');
});

// ---------------------------------------------------------------- rights

test('request_right SHARED with DM_RR_WAIT → 0, query → SHARED; upgrade → EXCL; downgrade → SHARED; release', async (t) => {
  const sid = await session(t);
  const fh = await h(newFile().p);
  const tok = await dm.createUserevent(sid, Buffer.from('r'));
  t.is(await dm.queryRight(sid, fh, tok), C.DM_RIGHT_NULL);
  await dm.requestRight(sid, fh, tok, C.DM_RR_WAIT, C.DM_RIGHT_SHARED);
  t.is(await dm.queryRight(sid, fh, tok), C.DM_RIGHT_SHARED);
  await errno(t, dm.requestRight(sid, fh, tok, C.DM_RR_WAIT, C.DM_RIGHT_EXCL), 'EACCES');
  await dm.upgradeRight(sid, fh, tok);
  t.is(await dm.queryRight(sid, fh, tok), C.DM_RIGHT_EXCL);
  await dm.downgradeRight(sid, fh, tok);
  t.is(await dm.queryRight(sid, fh, tok), C.DM_RIGHT_SHARED);
  await errno(t, dm.downgradeRight(sid, fh, tok), 'EPERM');
  await dm.releaseRight(sid, fh, tok);
  t.is(await dm.queryRight(sid, fh, tok), C.DM_RIGHT_NULL);
  await errno(t, dm.releaseRight(sid, fh, tok), 'EACCES');
  await errno(t, dm.upgradeRight(sid, fh, tok), 'EPERM');
  await errno(t, dm.downgradeRight(sid, fh, tok), 'EPERM');
});

test('request_right without DM_RR_WAIT → EAGAIN (GPFS)', async (t) => {
  const sid = await session(t);
  const fh = await h(newFile().p);
  const tok = await dm.createUserevent(sid, Buffer.from('r'));
  await errno(t, dm.requestRight(sid, fh, tok, 0, C.DM_RIGHT_SHARED), 'EAGAIN');
});

test('rights: DM_NO_TOKEN → EINVAL, global → EBADF, fs handle → EINVAL, answered token → ESRCH', async (t) => {
  const sid = await session(t);
  const fh = await h(newFile().p);
  await errno(t, dm.requestRight(sid, fh, NT, C.DM_RR_WAIT, C.DM_RIGHT_SHARED), 'EINVAL');
  const tok = await dm.createUserevent(sid, Buffer.from('r'));
  await errno(t, dm.requestRight(sid, GLOBAL_HANDLE, tok, C.DM_RR_WAIT, C.DM_RIGHT_SHARED), 'EBADF');
  await errno(t, dm.requestRight(sid, fsh, tok, C.DM_RR_WAIT, C.DM_RIGHT_SHARED), 'EINVAL');
  await errno(t, dm.queryRight(sid, fsh, tok), 'EINVAL');
  await errno(t, dm.releaseRight(sid, fsh, tok), 'EINVAL');
  await errno(t, dm.upgradeRight(sid, fsh, tok), 'EINVAL');
  await errno(t, dm.downgradeRight(sid, fsh, tok), 'EINVAL');
  await dm.respondEvent(sid, tok, C.DM_RESP_CONTINUE, 0);
  await errno(t, dm.queryRight(sid, fh, tok), 'ESRCH');
});

test('rights exclude each other: EXCL held by A; B waits with DM_RR_WAIT until A is answered', async (t) => {
  const sid = await session(t);
  const fh = await h(newFile().p);
  const a = await dm.createUserevent(sid, Buffer.from('a'));
  const b = await dm.createUserevent(sid, Buffer.from('b'));
  await dm.requestRight(sid, fh, a, C.DM_RR_WAIT, C.DM_RIGHT_EXCL);
  let got = false;
  const pb = dm.requestRight(sid, fh, b, C.DM_RR_WAIT, C.DM_RIGHT_SHARED).then(() => { got = true; });
  await new Promise((r) => setTimeout(r, 150));
  t.false(got);
  // DM_NO_TOKEN calls take the right for their duration: a read waits too.
  let read = false;
  const pr = dm.readInvis(sid, fh, NT, 0, 3).then(() => { read = true; });
  await new Promise((r) => setTimeout(r, 100));
  t.false(read);
  await dm.respondEvent(sid, a, C.DM_RESP_CONTINUE, 0); // all rights of A go
  await pb;
  await pr;
  t.is(await dm.queryRight(sid, fh, b), C.DM_RIGHT_SHARED);
});

test('a token without the needed right → EACCES (set_dmattr needs EXCL)', async (t) => {
  const sid = await session(t);
  const fh = await h(newFile().p);
  const tok = await dm.createUserevent(sid, Buffer.from('t'));
  await errno(t, dm.setDmattr(sid, fh, tok, 'HSM', Buffer.from('x')), 'EACCES');
  await dm.requestRight(sid, fh, tok, C.DM_RR_WAIT, C.DM_RIGHT_SHARED);
  await errno(t, dm.setDmattr(sid, fh, tok, 'HSM', Buffer.from('x')), 'EACCES');
  await dm.upgradeRight(sid, fh, tok);
  await dm.setDmattr(sid, fh, tok, 'HSM', Buffer.from('x'));
  t.deepEqual(await dm.getDmattr(sid, fh, tok, 'HSM'), Buffer.from('x'));
});

test('obj_ref_hold twice → EBUSY; query 1 then 0 after rele; rele without hold → EACCES', async (t) => {
  const sid = await session(t);
  const fh = await h(newFile().p);
  const tok = await dm.createUserevent(sid, Buffer.from('o'));
  await dm.objRefHold(sid, fh, tok);
  await errno(t, dm.objRefHold(sid, fh, tok), 'EBUSY');
  t.true(await dm.objRefQuery(sid, fh, tok));
  await dm.objRefRele(sid, fh, tok);
  t.false(await dm.objRefQuery(sid, fh, tok));
  await errno(t, dm.objRefRele(sid, fh, tok), 'EACCES');
  await errno(t, dm.objRefHold(sid, fh, NT), 'EINVAL');
});

// ---------------------------------------------------------------- DM attributes

test('set/get_dmattr: same bytes back; small buffer → E2BIG with the size', async (t) => {
  const sid = await session(t);
  const fh = await h(newFile().p);
  const v = Buffer.from('0123456789abcdef');
  await dm.setDmattr(sid, fh, NT, 'HSM', v);
  t.deepEqual(await dm.getDmattr(sid, fh, NT, 'HSM', 16), v);
  const e = await errno(t, dm.getDmattr(sid, fh, NT, 'HSM', 8), 'E2BIG');
  t.is(Number(e.fields.rlen), 16);
  await dm.setDmattr(sid, fh, NT, 'EMPTY', Buffer.alloc(0));
  t.is((await dm.getDmattr(sid, fh, NT, 'EMPTY', 0)).length, 0);
});

test('get_dmattr / remove_dmattr of a missing name → ENOENT', async (t) => {
  const sid = await session(t);
  const fh = await h(newFile().p);
  await errno(t, dm.getDmattr(sid, fh, NT, 'NOPE'), 'ENOENT');
  await errno(t, dm.removeDmattr(sid, fh, NT, 'NOPE'), 'ENOENT');
  await dm.setDmattr(sid, fh, NT, 'X', Buffer.from('1'));
  await dm.removeDmattr(sid, fh, NT, 'X');
  await errno(t, dm.getDmattr(sid, fh, NT, 'X'), 'ENOENT');
});

test('set_dmattr: all-zero name → EINVAL; value over 1022 → E2BIG; fs handle → EINVAL; total over 7168 → ENOSPC', async (t) => {
  const sid = await session(t);
  const fh = await h(newFile().p);
  await errno(t, dm.setDmattr(sid, fh, NT, Buffer.alloc(8), Buffer.from('x')), 'EINVAL');
  await errno(t, dm.setDmattr(sid, fh, NT, 'BIG', Buffer.alloc(1023)), 'E2BIG');
  await errno(t, dm.setDmattr(sid, fsh, NT, 'FS', Buffer.from('x')), 'EINVAL');
  // DM_CONFIG_TOTAL_ATTRIBUTE_SPACE (7168) or the backing filesystem's own xattr space per inode
  // (ext4: one block), whichever is reached first: ENOSPC either way.
  let err: unknown = null;
  for (let i = 0; i < 8 && !err; i++) err = await dm.setDmattr(sid, fh, NT, `A${i}`, Buffer.alloc(1022)).then(() => null, (e) => e);
  t.is((err as DmapiError)?.code, 'ENOSPC');
});

test('getall_dmattr lists DM attributes only (not user xattrs); E2BIG with the size', async (t) => {
  const sid = await session(t);
  const f = newFile();
  const fh = await h(f.p);
  await dm.setDmattr(sid, fh, NT, 'ONE', Buffer.from('1'));
  await dm.setDmattr(sid, fh, NT, 'TWO', Buffer.from('22'));
  fs.writeFileSync(f.b + '.x', '');
  const { execFileSync } = await import('child_process');
  try { execFileSync('setfattr', ['-n', 'user.other', '-v', 'x', f.b]); } catch { /* no setfattr: still checks the DM set */ }
  const all = await dm.getallDmattr(sid, fh, NT);
  t.deepEqual(all.map((x) => x.name.toString().replace(/\0+$/, '')).sort(), ['ONE', 'TWO']);
  const e = await errno(t, dm.getallDmattr(sid, fh, NT, 4), 'E2BIG');
  t.true(Number(e.fields.rlen) > 4);
});

test('set_dmattr with setdtime updates dt_dtime; DM attributes persist in the backing file', async (t) => {
  const sid = await session(t);
  const fh = await h(newFile().p);
  await dm.setDmattr(sid, fh, NT, 'D', Buffer.from('x'), true);
  const st = await dm.getFileattr(sid, fh, NT, C.DM_AT_STAT | C.DM_AT_DTIME | C.DM_AT_PATTR);
  t.true(Math.abs(Number(st.dtime) - Date.now() / 1000) < 5);
  t.is(st.pers, 1);
});

test('set_return_on_destroy: fs handle → 0; file handle → EINVAL; global → EBADF', async (t) => {
  const sid = await session(t);
  await dm.setReturnOnDestroy(sid, fsh, NT, 'HSM', true);
  await errno(t, dm.setReturnOnDestroy(sid, await h(path.join(mnt, 'f')), NT, 'HSM', true), 'EINVAL');
  await errno(t, dm.setReturnOnDestroy(sid, GLOBAL_HANDLE, NT, 'HSM', true), 'EBADF');
  await dm.setReturnOnDestroy(sid, fsh, NT, 'HSM', false);
  // SGI: enabling took the DESTROY disposition; another session cannot disable it
  const other = await session(t);
  await errno(t, dm.setReturnOnDestroy(other, fsh, NT, 'HSM', false), 'EINVAL');
});

test('inheritance functions → ENOSYS (DM_CONFIG_PERS_INHERIT_ATTRIBS = 0); *_by_handle → ENOSYS', async (t) => {
  const sid = await session(t);
  await errno(t, dm.setInherit(sid, fsh, NT, 'HSM', 0o100000), 'ENOSYS');
  await errno(t, dm.clearInherit(sid, fsh, NT, 'HSM'), 'ENOSYS');
  await errno(t, dm.getallInherit(sid, fsh, NT), 'ENOSYS');
  await errno(t, dm.createByHandle(sid, fsh, NT, fsh, 'x'), 'ENOSYS');
  await errno(t, dm.mkdirByHandle(sid, fsh, NT, fsh, 'x'), 'ENOSYS');
  await errno(t, dm.symlinkByHandle(sid, fsh, NT, fsh, 'x', 'y'), 'ENOSYS');
});

// ---------------------------------------------------------------- regions

test('set_region: two regions, get_region with nelem 1 → E2BIG (2), with 2 → identical; exact', async (t) => {
  const sid = await session(t);
  const fh = await h(newFile().p);
  const regs = [
    { offset: 0n, size: 100n, flags: C.DM_REGION_READ, opaque: 7 },
    { offset: 4096n, size: 0n, flags: C.DM_REGION_WRITE | C.DM_REGION_TRUNCATE, opaque: 0 },
  ];
  t.true(await dm.setRegion(sid, fh, NT, regs));
  const e = await errno(t, dm.getRegion(sid, fh, NT, 1), 'E2BIG');
  t.is(Number(e.fields.nelem), 2);
  t.deepEqual(await dm.getRegion(sid, fh, NT, 2), regs);
  t.true(await dm.setRegion(sid, fh, NT, []));
  t.deepEqual(await dm.getRegion(sid, fh, NT), []);
});

test('set_region: 33 regions → E2BIG; dir or fs handle → EINVAL; bad flags → EINVAL', async (t) => {
  const sid = await session(t);
  const fh = await h(newFile().p);
  const many = Array.from({ length: 33 }, (_, i) => ({ offset: BigInt(i * 10), size: 10n, flags: 1, opaque: 0 }));
  await errno(t, dm.setRegion(sid, fh, NT, many), 'E2BIG');
  await errno(t, dm.setRegion(sid, await h(path.join(mnt, 'd')), NT, []), 'EINVAL');
  await errno(t, dm.setRegion(sid, fsh, NT, []), 'EINVAL');
  await errno(t, dm.setRegion(sid, fh, NT, [{ offset: 0n, size: 1n, flags: 0x100, opaque: 0 }]), 'EINVAL');
});

test.serial('regions persist across unmount and remount', async (t) => {
  const sid = await session(t);
  const f = newFile();
  const fh = await h(f.p);
  await dm.setRegion(sid, fh, NT, [{ offset: 5n, size: 6n, flags: C.DM_REGION_READ, opaque: 1 }]);
  await dm.setEventlist(sid, fh, NT, [C.DM_EVENT_DESTROY]);
  await cluster.cli(['umount', mnt]);
  t.is((await cluster.cli(['mount', '--node', node, '--mount-event-optional', backing, mnt])).code, 0);
  t.deepEqual(await dm.getRegion(sid, fh, NT), [{ offset: 5n, size: 6n, flags: C.DM_REGION_READ, opaque: 1 }]);
  t.deepEqual((await dm.getEventlist(sid, fh, NT)).events, [C.DM_EVENT_READ, C.DM_EVENT_DESTROY]);
});

// ---------------------------------------------------------------- file attributes and scans

test('get_fileattr: stat fields match stat(2); emask, pmanreg, pers; bad mask → EINVAL; fs handle → EINVAL', async (t) => {
  const sid = await session(t);
  const f = newFile('12345');
  const fh = await h(f.p);
  const st = fs.statSync(f.b, { bigint: true });
  const a = await dm.getFileattr(sid, fh, NT, C.DM_AT_STAT | C.DM_AT_EMASK | C.DM_AT_PMANR | C.DM_AT_PATTR | C.DM_AT_HANDLE);
  t.is(a.size, 5n);
  t.is(a.ino, st.ino);
  t.is(a.mode, Number(st.mode));
  t.is(a.pmanreg, 0);
  t.is(a.pers, 0);
  t.is(H.handleCmp(a.handle!, fh), 0);
  await dm.setRegion(sid, fh, NT, [{ offset: 0n, size: 0n, flags: C.DM_REGION_READ, opaque: 0 }]);
  t.is((await dm.getFileattr(sid, fh, NT, C.DM_AT_PMANR)).pmanreg, 1);
  await errno(t, dm.getFileattr(sid, fh, NT, 0x100000), 'EINVAL');
  await errno(t, dm.getFileattr(sid, fsh, NT, C.DM_AT_STAT), 'EINVAL');
});

test('set_fileattr: mode, uid/gid, atime/mtime; SIZE → EINVAL (GPFS); DTIME is the ctime shown, with or without DM attrs (GPFS)', async (t) => {
  const sid = await session(t);
  const f = newFile();
  const fh = await h(f.p);
  await dm.setFileattr(sid, fh, NT, C.DM_AT_MODE | C.DM_AT_UID | C.DM_AT_GID | C.DM_AT_ATIME | C.DM_AT_MTIME,
    { mode: 0o600, uid: 1234, gid: 5678, atime: 1000000, mtime: 2000000 });
  const st = fs.statSync(f.b);
  t.is(st.mode & 0o7777, 0o600);
  t.is(st.uid, 1234);
  t.is(st.gid, 5678);
  t.is(Math.floor(st.atimeMs / 1000), 1000000);
  t.is(Math.floor(st.mtimeMs / 1000), 2000000);
  await errno(t, dm.setFileattr(sid, fh, NT, C.DM_AT_SIZE, { size: 0 }), 'EINVAL');
  // DTIME_OVERLOAD (GPFS): the dtime is the ctime; accepted without DM attributes (GPFS)
  await dm.setFileattr(sid, fh, NT, C.DM_AT_DTIME, { dtime: 5 });
  t.is((await dm.getFileattr(sid, fh, NT, C.DM_AT_DTIME)).dtime, 5n);
  await dm.setDmattr(sid, fh, NT, 'HSM', Buffer.from('x'));
  await dm.setFileattr(sid, fh, NT, C.DM_AT_DTIME, { dtime: 77 });
  const st2 = await dm.getFileattr(sid, fh, NT, C.DM_AT_DTIME | C.DM_AT_STAT);
  t.is(st2.dtime, 77n);
  t.is(st2.ctime, 77n);
  t.is(Math.floor(fs.statSync(f.p).ctimeMs / 1000), 77, 'the mount shows it as the ctime');
});

test('init_attrloc: dir → 0; file → EINVAL', async (t) => {
  const sid = await session(t);
  t.is(await dm.initAttrloc(sid, await h(path.join(mnt, 'd')), NT), 0n);
  t.is(await dm.initAttrloc(sid, fsh, NT), 0n);
  await errno(t, dm.initAttrloc(sid, await h(path.join(mnt, 'f')), NT), 'EINVAL');
});

test('get_dirattrs: a small buffer → 1 then 0; entries cover the directory exactly once, with names', async (t) => {
  const sid = await session(t);
  const dh = await h(path.join(mnt, 'd'));
  let loc = await dm.initAttrloc(sid, dh, NT);
  const names: string[] = [];
  let calls = 0;
  for (;;) {
    const r = await dm.getDirattrs(sid, dh, NT, C.DM_AT_STAT | C.DM_AT_HANDLE, loc, 400);
    calls++;
    names.push(...r.entries.map((e) => e.compname!));
    loc = r.loc;
    if (!r.more) break;
  }
  t.deepEqual(names.sort(), ['.', '..', 'a', 'b', 'c']);     // "." and ".." as XFS lists them
  t.true(calls >= 2);
  await errno(t, dm.getDirattrs(sid, dh, NT, C.DM_AT_SIZE, 0n), 'EINVAL');     // not a scan mask (SGI)
  await errno(t, dm.getDirattrs(sid, dh, NT, C.DM_AT_STAT, 0n, 10), 'E2BIG');
  await errno(t, dm.getDirattrs(sid, await h(path.join(mnt, 'f')), NT, C.DM_AT_STAT, 0n), 'EINVAL');
});

test('get_bulkattr / get_bulkall: every object once, resumable; bulkall carries the DM attribute', async (t) => {
  const sid = await session(t);
  const f = newFile('bulk');
  const fh = await h(f.p);
  await dm.setDmattr(sid, fh, NT, 'BULK', Buffer.from('payload'));
  const inos = new Set<bigint>();
  let loc = 0n;
  let found: Buffer | undefined;
  for (;;) {
    const r = await dm.getBulkall(sid, fsh, NT, C.DM_AT_STAT, 'BULK', loc, 1000);
    for (const e of r.entries) {
      t.false(inos.has(e.ino));
      inos.add(e.ino);
      if (e.ino === H.handleToIno(fh)) found = e.attr;
    }
    loc = r.loc;
    if (!r.more) break;
  }
  t.deepEqual(found, Buffer.from('payload'));
  const all = await dm.getBulkattr(sid, fsh, NT, C.DM_AT_STAT, 0n, 1 << 20);
  t.false(all.more);
  for (const ino of inos) if (!all.entries.some((e) => e.ino === ino)) t.fail(`inode ${ino} missing from one-shot scan`);
  t.false(all.entries.some((e) => e.ino === fs.statSync(path.join(backing, '.dmapifs')).ino as unknown as bigint));
  await errno(t, dm.getBulkattr(sid, fh, NT, C.DM_AT_STAT, 0n), 'EINVAL');
});

// ---------------------------------------------------------------- data

test('write_invis / read_invis: data round trip, DM_WRITE_SYNC, visible atime/mtime unchanged, short read at EOF', async (t) => {
  const sid = await session(t);
  const f = newFile('0123456789');
  const fh = await h(f.p);
  fs.utimesSync(f.b, 1000, 2000);
  t.is(await dm.writeInvis(sid, fh, NT, 2, Buffer.from('AB'), C.DM_WRITE_SYNC), 2);
  let st = fs.statSync(f.b);
  t.is(st.mtimeMs, 2000000);
  t.is(st.atimeMs, 1000000);
  t.is((await dm.readInvis(sid, fh, NT, 5, 100)).toString(), '56789');
  t.is((await dm.readInvis(sid, fh, NT, 0, 10)).toString(), '01AB456789');
  st = fs.statSync(f.b);
  t.is(st.atimeMs, 1000000);
  t.is(st.mtimeMs, 2000000);
});

test('read_invis / write_invis: dir or fs handle → EINVAL; global → EBADF; offset past EOF → EINVAL; bad flags → EINVAL', async (t) => {
  const sid = await session(t);
  const fh = await h(newFile('abc').p);
  const dh = await h(path.join(mnt, 'd'));
  await errno(t, dm.readInvis(sid, dh, NT, 0, 1), 'EINVAL');
  await errno(t, dm.writeInvis(sid, dh, NT, 0, Buffer.from('x')), 'EINVAL');
  await errno(t, dm.readInvis(sid, fsh, NT, 0, 1), 'EINVAL');
  await errno(t, dm.readInvis(sid, GLOBAL_HANDLE, NT, 0, 1), 'EBADF');
  await errno(t, dm.readInvis(sid, fh, NT, 10, 1), 'EINVAL');
  await errno(t, dm.writeInvis(sid, fh, NT, 0, Buffer.from('x'), 0x10), 'EINVAL');
});

test('write_invis beyond the largest file size → EFBIG', async (t) => {
  const sid = await session(t);
  const fh = await h(newFile('x').p);
  await errno(t, dm.writeInvis(sid, fh, NT, 1n << 50n, Buffer.from('xy')), 'EFBIG');
});

test('punch_hole 1 MiB..EOF of a 3 MiB file: size kept, allocinfo shows RES then HOLE; probe_hole agrees', async (t) => {
  const sid = await session(t);
  const f = newFile(Buffer.alloc(3 << 20, 0x61));
  const fh = await h(f.p);
  t.deepEqual(await dm.probeHole(sid, fh, NT, 1 << 20, 0), { roff: BigInt(1 << 20), rlen: 0n });     // len 0: to EOF (SGI)
  await dm.punchHole(sid, fh, NT, 1 << 20, 0);
  t.is(fs.statSync(f.b).size, 3 << 20);
  const r = await dm.getAllocinfo(sid, fh, NT, 0, 10);
  t.false(r.more);
  t.deepEqual(r.extents, [
    { type: C.DM_EXTENT_RES, offset: 0n, length: BigInt(1 << 20) },
    { type: C.DM_EXTENT_HOLE, offset: BigInt(1 << 20), length: BigInt(2 << 20) },
  ]);
  t.is((await dm.readInvis(sid, fh, NT, (1 << 20) + 5, 3)).toString('hex'), '000000');
});

test('punch_hole unaligned → EAGAIN; probe_hole gives the aligned part; nothing punchable → EINVAL; past EOF → E2BIG', async (t) => {
  const sid = await session(t);
  const fh = await h(newFile(Buffer.alloc(64 << 10, 1)).p);
  await errno(t, dm.punchHole(sid, fh, NT, 100, 8192), 'EAGAIN');
  await errno(t, dm.punchHole(sid, fh, NT, 4096, 100), 'EAGAIN');
  t.deepEqual(await dm.probeHole(sid, fh, NT, 100, 10000), { roff: 4096n, rlen: 4096n });
  await errno(t, dm.probeHole(sid, fh, NT, 100, 200), 'EINVAL');
  await errno(t, dm.probeHole(sid, fh, NT, 1 << 20, 0), 'E2BIG');
  await errno(t, dm.punchHole(sid, fh, NT, 1 << 20, 0), 'E2BIG');
  await dm.punchHole(sid, fh, NT, 4096, 4096);
});

test('punch_hole on a file another process has mmapped → EBUSY; after munmap → 0', async (t) => {
  const sid = await session(t);
  const f = newFile(Buffer.alloc(16 << 10, 2));
  const fh = await h(f.p);
  const py = spawn('python3', ['-c', `
import mmap, sys
f = open(${JSON.stringify(f.p)}, 'r+b')
m = mmap.mmap(f.fileno(), 0)
f.close()
print('mapped', flush=True)
sys.stdin.readline()
m.close()
print('unmapped', flush=True)
sys.stdin.readline()
`], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.teardown(() => { py.kill('SIGKILL'); });
  let out = '';
  py.stdout!.on('data', (d) => { out += String(d); });
  await waitFor(() => out.includes('mapped'), 10000, 'mmap');
  const e = await errno(t, dm.punchHole(sid, fh, NT, 0, 0), 'EBUSY');
  t.regex(e.message, /EBUSY/);
  py.stdin!.write('\n');
  await waitFor(() => out.includes('unmapped'), 10000, 'munmap');
  await dm.punchHole(sid, fh, NT, 0, 0);
  t.is(fs.statSync(f.b).size, 16 << 10);
  py.stdin!.write('\n');
});

test('get_allocinfo: more extents than nelem → 1 and the offset advances; nelem 0, unaligned or past EOF → EINVAL; empty → 0 extents', async (t) => {
  const sid = await session(t);
  const f = newFile(Buffer.alloc(64 << 10, 3));
  const fh = await h(f.p);
  await dm.punchHole(sid, fh, NT, 8192, 8192);
  await dm.punchHole(sid, fh, NT, 32768, 8192);
  const r1 = await dm.getAllocinfo(sid, fh, NT, 0, 2);
  t.true(r1.more);
  t.is(r1.extents.length, 2);
  t.is(r1.off, 16384n);
  const r2 = await dm.getAllocinfo(sid, fh, NT, r1.off, 10);
  t.false(r2.more);
  t.deepEqual(r2.extents.map((e) => e.type), [C.DM_EXTENT_RES, C.DM_EXTENT_HOLE, C.DM_EXTENT_RES]);
  await errno(t, dm.getAllocinfo(sid, fh, NT, 0, 0), 'EINVAL');
  await errno(t, dm.getAllocinfo(sid, fh, NT, 100, 1), 'EINVAL');
  await errno(t, dm.getAllocinfo(sid, fh, NT, 1 << 20, 1), 'EINVAL');
  const empty = await h(newFile('').p);
  t.deepEqual((await dm.getAllocinfo(sid, empty, NT, 0, 4)).extents, []);
});

test('sync_by_handle: file → 0; dir or fs handle → EINVAL', async (t) => {
  const sid = await session(t);
  await dm.syncByHandle(sid, await h(path.join(mnt, 'f')), NT);
  await errno(t, dm.syncByHandle(sid, await h(path.join(mnt, 'd')), NT), 'EINVAL');
  await errno(t, dm.syncByHandle(sid, fsh, NT), 'EINVAL');
});
