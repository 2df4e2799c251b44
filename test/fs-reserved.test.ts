// Reserved files through a real mount: the reserved area (.dmapifs in the backing root) is
// invisible and cannot be created, renamed onto or changed; the quota reports user.quota,
// group.quota and fileset.quota are readable by anyone, current as files change, and refuse
// every change with EPERM.
import test from 'ava';
import * as fs from 'fs';
import * as path from 'path';
import { code, inChild, lstatBig, rc, sys, useMounts, USER, USER2 } from './helpers/fs';

const { mount: fsMount } = useMounts();

const QUOTAS = ['user.quota', 'group.quota', 'fileset.quota'];

interface Row { name: string; fileset: string; type: string; kb: number; files: number }

/** Parses an mmrepquota-style report: header lines, then one row per id. */
function parseReport(text: string): { title: string; rows: Map<string, Row> } {
  const lines = text.split('\n');
  const rows = new Map<string, Row>();
  for (const l of lines.slice(3)) {
    if (!l.trim()) continue;
    const f = l.trim().split(/\s+/);
    const bar = f.indexOf('|');
    rows.set(f[0], { name: f[0], fileset: f[1], type: f[2], kb: Number(f[3]), files: Number(f[bar + 1]) });
  }
  return { title: lines[0], rows };
}

/** Reads a report the way an application does (fstat for the size, then read). */
function report(file: string): { title: string; rows: Map<string, Row>; text: string } {
  const text = fs.readFileSync(file, 'utf8');
  return { ...parseReport(text), text };
}

test('.dmapifs is invisible: not listed, not found, not openable; lookups inside fail', async (t) => {
  const x = await fsMount(t);
  t.true(fs.statSync(x.b('.dmapifs')).isDirectory(), 'the area exists in the backing root');
  t.false(fs.readdirSync(x.mnt).includes('.dmapifs'));
  t.is(code(() => fs.statSync(x.m('.dmapifs'))), 'ENOENT');
  t.is(code(() => fs.lstatSync(x.m('.dmapifs', 'quota'))), 'ENOENT');
  t.is(code(() => fs.readFileSync(x.m('.dmapifs', 'quota', 'user.quota'))), 'ENOENT');
  t.is(code(() => fs.openSync(x.m('.dmapifs'), 'r')), 'ENOENT');
  t.is(code(() => fs.readdirSync(x.m('.dmapifs'))), 'ENOENT');
  t.is(code(() => fs.accessSync(x.m('.dmapifs'))), 'ENOENT');
  t.is(rc(sys.lgetxattr(x.m('.dmapifs'), 'user.x')), 'ENOENT');
  // The root's link count may include the hidden area: but nothing else about it leaks.
  const names = fs.readdirSync(x.mnt);
  t.deepEqual(names.sort(), [...QUOTAS].sort());
});

test('.dmapifs cannot be created, linked, symlinked, renamed onto or out of; changes inside the backing area stay hidden', async (t) => {
  const x = await fsMount(t);
  fs.writeFileSync(x.m('f'), 'data');
  fs.mkdirSync(x.m('d'));
  const before = fs.readdirSync(x.b('.dmapifs')).sort();
  t.is(code(() => fs.writeFileSync(x.m('.dmapifs'), 'x')), 'EPERM');
  t.is(code(() => fs.openSync(x.m('.dmapifs'), fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY)), 'EPERM');
  t.is(code(() => fs.mkdirSync(x.m('.dmapifs'))), 'EPERM');
  t.is(code(() => fs.symlinkSync('f', x.m('.dmapifs'))), 'EPERM');
  t.is(code(() => fs.linkSync(x.m('f'), x.m('.dmapifs'))), 'EPERM');
  t.is(rc(sys.mknod(x.m('.dmapifs'), sys.S_IFIFO | 0o600)), 'EPERM');
  t.is(code(() => fs.renameSync(x.m('f'), x.m('.dmapifs'))), 'EPERM');
  t.is(code(() => fs.renameSync(x.m('d'), x.m('.dmapifs'))), 'EPERM');
  t.is(rc(sys.renameat2(sys.AT_FDCWD, x.m('d'), sys.AT_FDCWD, x.m('.dmapifs'), sys.RENAME_EXCHANGE)), 'ENOENT');
  t.is(code(() => fs.renameSync(x.m('.dmapifs'), x.m('stolen'))), 'ENOENT');
  t.is(code(() => fs.rmdirSync(x.m('.dmapifs'))), 'ENOENT');
  t.is(code(() => fs.unlinkSync(x.m('.dmapifs'))), 'ENOENT');
  t.is(code(() => fs.writeFileSync(x.m('.dmapifs', 'x'), 'x')), 'ENOENT');
  // Nothing moved in the backing area; f and d are where they were.
  t.true(fs.statSync(x.b('.dmapifs')).isDirectory());
  t.deepEqual(fs.readdirSync(x.b('.dmapifs')).sort(), before);
  t.is(fs.readFileSync(x.b('f'), 'utf8'), 'data');
  t.true(fs.statSync(x.b('d')).isDirectory());
  // As another uid: the same answers.
  fs.chmodSync(x.mnt, 0o777);
  const r = await inChild<Record<string, string>>(t, `
    out({ stat: code(() => fs.statSync(args.m + '/.dmapifs')), create: code(() => fs.writeFileSync(args.m + '/.dmapifs', 'x')),
          mkdir: code(() => fs.mkdirSync(args.m + '/.dmapifs')) });
  `, { ...USER, args: { m: x.mnt } });
  t.deepEqual(r, { stat: 'ENOENT', create: 'EPERM', mkdir: 'EPERM' });
  // Only the root is reserved: .dmapifs in a subdirectory is an ordinary name.
  fs.writeFileSync(x.m('d', '.dmapifs'), 'ordinary');
  t.is(fs.readFileSync(x.b('d', '.dmapifs'), 'utf8'), 'ordinary');
  t.true(fs.readdirSync(x.m('d')).includes('.dmapifs'));
  fs.renameSync(x.m('d', '.dmapifs'), x.m('d', 'renamed'));
  t.is(fs.readFileSync(x.m('d', 'renamed'), 'utf8'), 'ordinary');
});

test('quota files: listed in the root, 0444 root-owned regular files, stable inode numbers of the reserved area', async (t) => {
  const x = await fsMount(t);
  for (const q of QUOTAS) {
    const st = lstatBig(x.m(q));
    t.true(st.isFile(), q);
    t.is(Number(st.mode) & 0o7777, 0o444);
    t.is(st.uid, 0n);
    t.is(st.gid, 0n);
    t.is(st.nlink, 1n);
    t.is(st.ino, lstatBig(x.b('.dmapifs', 'quota', q)).ino, `${q} has the inode of its reserved file`);
    const text = fs.readFileSync(x.m(q), 'utf8');
    t.is(Number(st.size), Buffer.byteLength(text), `${q}: st_size is the report's length`);
  }
  const inos = QUOTAS.map((q) => lstatBig(x.m(q)).ino);
  await x.remount();
  t.deepEqual(QUOTAS.map((q) => lstatBig(x.m(q)).ino), inos, 'same inode numbers after remount');
  // A real file of the same name in the backing root is shadowed by the report.
  fs.writeFileSync(x.b('user.quota'), 'not a report');
  await new Promise((r) => setTimeout(r, 1100));
  t.true(fs.readFileSync(x.m('user.quota'), 'utf8').startsWith('*** Report for USR quotas'));
  t.is(fs.readdirSync(x.mnt).filter((n) => n === 'user.quota').length, 1);
});

test('quota reports: per-uid, per-gid and fileset rows whose counts follow files created by different uids', async (t) => {
  const x = await fsMount(t);
  fs.chmodSync(x.mnt, 0o777);
  let u = report(x.m('user.quota'));
  let g = report(x.m('group.quota'));
  let f = report(x.m('fileset.quota'));
  t.regex(u.title, /Report for USR quotas/);
  t.regex(g.title, /Report for GRP quotas/);
  t.regex(f.title, /Report for FILESET quotas/);
  t.false(u.rows.has(String(USER.uid)));
  t.is(u.rows.get('root')?.files, 1, 'root owns the root directory only (the reserved area is not counted)');
  t.is(f.rows.get('root')?.files, 1);
  // USER creates two files (one of 40 KiB) and a directory.
  await inChild(t, `
    fs.mkdirSync(args.m + '/udir');
    fs.writeFileSync(args.m + '/udir/a', Buffer.alloc(40 * 1024, 1));
    fs.writeFileSync(args.m + '/b', '');
  `, { ...USER, args: { m: x.mnt } });
  u = report(x.m('user.quota'));
  g = report(x.m('group.quota'));
  f = report(x.m('fileset.quota'));
  const ur = u.rows.get(String(USER.uid));
  t.truthy(ur, `a row for uid ${USER.uid}:\n${u.text}`);
  t.is(ur!.files, 3);
  t.true(ur!.kb >= 40, `KB ${ur!.kb}`);
  t.is(ur!.fileset, 'root');
  t.is(ur!.type, 'USR');
  t.is(g.rows.get(String(USER.gid))?.files, 3);
  t.is(g.rows.get(String(USER.gid))?.type, 'GRP');
  t.is(f.rows.get('root')?.files, 4);
  t.is(f.rows.get('root')?.type, 'FILESET');
  t.true(u.text.endsWith('\n'));
  // USER2 adds one; root adds one, and a hard link is not counted twice.
  await inChild(t, `fs.writeFileSync(args.m + '/c', 'x');`, { ...USER2, args: { m: x.mnt } });
  fs.writeFileSync(x.m('rootfile'), 'x');
  fs.linkSync(x.m('rootfile'), x.m('rootlink'));
  u = report(x.m('user.quota'));
  t.is(u.rows.get(String(USER2.uid))?.files, 1);
  t.is(u.rows.get(String(USER.uid))?.files, 3);
  t.is(u.rows.get('root')?.files, 2);
  t.is(report(x.m('group.quota')).rows.get(String(USER2.gid))?.files, 1);
  t.is(report(x.m('fileset.quota')).rows.get('root')?.files, 6);
  // chown moves a file between rows; unlink drops it.
  fs.chownSync(x.m('b'), USER2.uid, USER2.gid);
  fs.unlinkSync(x.m('udir', 'a'));
  u = report(x.m('user.quota'));
  t.is(u.rows.get(String(USER.uid))?.files, 1);
  t.is(u.rows.get(String(USER2.uid))?.files, 2);
  t.true((u.rows.get(String(USER.uid))?.kb ?? 99) < 40);
  // Right after a change that adds a row (the report grows while its size may still be cached
  // by the kernel), a reader that trusts st_size gets the whole new report.
  for (let i = 0; i < 5; i++) {
    const before = fs.readFileSync(x.m('user.quota'), 'utf8');
    fs.writeFileSync(x.m(`new${i}`), '');
    fs.chownSync(x.m(`new${i}`), 5550 + i, 5550 + i);
    const after = report(x.m('user.quota'));
    t.is(after.rows.get(String(5550 + i))?.files, 1, `row of uid ${5550 + i}`);
    t.is(after.text.length, before.length + after.text.split('\n').find((l) => l.startsWith(String(5550 + i)))!.length + 1);
    t.true(after.text.endsWith('default on\n'));
  }
  // Any uid may read them.
  const r = await inChild<string>(t, `out(fs.readFileSync(args.m + '/user.quota', 'utf8'));`, { ...USER2, args: { m: x.mnt } });
  t.is(r, fs.readFileSync(x.m('user.quota'), 'utf8'));
});

test('quota reports are current after changes made in the backing directory, within the attribute timeout', async (t) => {
  const x = await fsMount(t);
  fs.writeFileSync(x.b('behind'), '');
  fs.chownSync(x.b('behind'), 777, 888);
  await new Promise((r) => setTimeout(r, 1500));
  t.is(report(x.m('user.quota')).rows.get('777')?.files, 1);
  t.is(report(x.m('group.quota')).rows.get('888')?.files, 1);
});

test('quota files refuse every change with EPERM (root) or EACCES (other uids, by mode)', async (t) => {
  const x = await fsMount(t);
  const q = x.m('user.quota');
  fs.writeFileSync(x.m('other'), 'x');
  const text = fs.readFileSync(q, 'utf8');
  t.is(code(() => fs.openSync(q, 'w')), 'EPERM');
  t.is(code(() => fs.openSync(q, 'r+')), 'EPERM');
  t.is(code(() => fs.openSync(q, 'a')), 'EPERM');
  t.is(code(() => fs.openSync(q, fs.constants.O_RDONLY | fs.constants.O_TRUNC)), 'EPERM');
  t.is(code(() => fs.openSync(q, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL)), 'EEXIST');
  t.is(code(() => fs.truncateSync(q, 0)), 'EPERM');
  t.is(code(() => fs.unlinkSync(q)), 'EPERM');
  t.is(code(() => fs.renameSync(q, x.m('moved'))), 'EPERM');
  t.is(code(() => fs.renameSync(x.m('other'), q)), 'EPERM');
  t.is(rc(sys.renameat2(sys.AT_FDCWD, x.m('other'), sys.AT_FDCWD, q, sys.RENAME_EXCHANGE)), 'EPERM');
  t.is(code(() => fs.linkSync(q, x.m('qlink'))), 'EPERM');
  t.is(code(() => fs.linkSync(x.m('other'), q)), 'EEXIST');
  t.is(code(() => fs.chmodSync(q, 0o666)), 'EPERM');
  t.is(code(() => fs.chownSync(q, 1, 1)), 'EPERM');
  t.is(code(() => fs.utimesSync(q, 1, 1)), 'EPERM');
  t.is(rc(sys.lsetxattr(q, 'user.x', 'x', 0)), 'EPERM');
  t.is(rc(sys.lremovexattr(q, 'user.x')), 'EPERM');
  t.is(code(() => fs.mkdirSync(q)), 'EEXIST');
  // A read-only descriptor cannot be used to change it either.
  const fd = fs.openSync(q, 'r');
  t.is(code(() => fs.writeSync(fd, 'x')), 'EBADF');
  t.is(code(() => fs.ftruncateSync(fd, 0)), 'EINVAL');
  t.is(code(() => fs.fchmodSync(fd, 0o777)), 'EPERM');
  t.is(rc(sys.fallocate(fd, 0, 0, 10)), 'EBADF');
  fs.closeSync(fd);
  for (const name of QUOTAS) t.is(code(() => fs.unlinkSync(x.m(name))), 'EPERM', name);
  // Nothing changed.
  t.is(fs.readFileSync(q, 'utf8'), text.replace(/\n$/, '') + '\n');
  t.is(fs.statSync(q).mode & 0o7777, 0o444);
  t.true(fs.existsSync(x.b('.dmapifs', 'quota', 'user.quota')));
  t.false(fs.existsSync(x.m('moved')) || fs.existsSync(x.m('qlink')));
  t.is(fs.readFileSync(x.m('other'), 'utf8'), 'x');
  // Another uid: the mode refuses writes first (EACCES); owner-only changes are EPERM.
  const r = await inChild<Record<string, string>>(t, `
    const q = args.q;
    out({ read: code(() => fs.readFileSync(q)), write: code(() => fs.openSync(q, 'w')), trunc: code(() => fs.truncateSync(q, 0)),
          chmod: code(() => fs.chmodSync(q, 0o777)), utimes: code(() => fs.utimesSync(q, 1, 1)) });
  `, { ...USER, args: { q } });
  t.deepEqual(r, { read: '', write: 'EACCES', trunc: 'EACCES', chmod: 'EPERM', utimes: 'EPERM' });
  // The reports do not count in themselves: reading them changes nothing.
  const p = path.join(x.mnt, 'fileset.quota');
  t.is(fs.readFileSync(p, 'utf8'), fs.readFileSync(p, 'utf8'));
});

test('a reserved file hard-linked elsewhere in the backing stays invisible; quota files answer xattr questions', async (t) => {
  const x = await fsMount(t);
  // Only root working on the backing directly can make such a link; the mount must not show it.
  fs.linkSync(x.b('.dmapifs', 'quota', 'user.quota'), x.b('leak'));
  t.false(fs.readdirSync(x.mnt).includes('leak'));
  t.is(code(() => fs.statSync(x.m('leak'))), 'ENOENT');
  t.is(code(() => fs.readFileSync(x.m('leak'))), 'ENOENT');
  for (const q of QUOTAS) {
    t.is(rc(sys.lgetxattr(x.m(q), 'user.x')), 'ENODATA');
    t.deepEqual(sys.llistxattr(x.m(q)), []);
    t.is(code(() => fs.accessSync(x.m(q), fs.constants.R_OK)), '');
  }
});

test('the reserved predicate follows the area as it changes: a file linked into it hides, unlinked from it shows again', async (t) => {
  const x = await fsMount(t);
  fs.writeFileSync(x.b('f'), 'data');
  t.is(fs.readFileSync(x.m('f'), 'utf8'), 'data');
  fs.linkSync(x.b('f'), x.b('.dmapifs', 'quota', 'zz'));
  // The set of reserved inode numbers is re-read at most once a second.
  await new Promise((r) => setTimeout(r, 1100));
  t.is(code(() => fs.statSync(x.m('f'))), 'ENOENT');
  fs.unlinkSync(x.b('.dmapifs', 'quota', 'zz'));
  // An inode number that left the area (or was reused) is not hidden: no waiting needed.
  t.is(fs.readFileSync(x.m('f'), 'utf8'), 'data');
});
