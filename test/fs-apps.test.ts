// What applications do with a filesystem, through a real mount: cp -a and tar round trips
// (modes, ns times, owners, symlinks, hard links, xattrs, sparse files), odd and long names,
// deep trees, big directories, many open files, executing programs, and two mounts of one
// backing directory used at the same time.
import test from 'ava';
import { execFileSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { code, lstatBig, runNode, sys, tmpDir, useMounts } from './helpers/fs';

const { mount: fsMount } = useMounts();

/** A tree with every kind of file and attribute, made under `root`. */
function makeTree(root: string): void {
  fs.mkdirSync(path.join(root, 'dir', 'sub'), { recursive: true });
  fs.writeFileSync(path.join(root, 'dir', 'text'), 'some text\n');
  fs.writeFileSync(path.join(root, 'dir', 'sub', 'random'), crypto.randomBytes(200_000));
  const sparse = fs.openSync(path.join(root, 'sparse'), 'w');
  fs.writeSync(sparse, 'end', 0, 'utf8');
  fs.writeSync(sparse, 'end', 10 * 1024 * 1024);
  fs.closeSync(sparse);
  fs.linkSync(path.join(root, 'dir', 'text'), path.join(root, 'hardlink'));
  fs.symlinkSync('dir/text', path.join(root, 'symlink'));
  sys.mknod(path.join(root, 'fifo'), sys.S_IFIFO | 0o640);
  fs.chmodSync(path.join(root, 'dir', 'text'), 0o640);
  fs.chmodSync(path.join(root, 'dir', 'sub'), 0o2750);
  fs.chownSync(path.join(root, 'dir', 'sub', 'random'), 1234, 4321);
  fs.lchownSync(path.join(root, 'symlink'), 55, 66);
  sys.lsetxattr(path.join(root, 'dir', 'text'), 'user.color', 'blue', 0);
  sys.lsetxattr(path.join(root, 'dir'), 'trusted.tag', 'dirtag', 0);
  for (const [p, s] of [['dir/text', 1_111_111_111], ['dir/sub/random', 1_222_222_222], ['sparse', 1_333_333_333], ['dir/sub', 1_444_444_444], ['dir', 1_555_555_555]] as const) {
    sys.utimensat(sys.AT_FDCWD, path.join(root, p), s, 123_456_789, s + 1, 987_654_321, 0);
  }
  sys.utimensat(sys.AT_FDCWD, path.join(root, 'symlink'), 1_000_000_000, 1, 1_000_000_001, 2, sys.AT_SYMLINK_NOFOLLOW);
}

/** Everything cp -a / tar should keep, per relative path. */
function describe(root: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const inos = new Map<bigint, string>();
  const walk = (rel: string) => {
    for (const n of fs.readdirSync(path.join(root, rel)).sort()) {
      if (rel === '' && (n === '.dmapifs' || n.endsWith('.quota'))) continue;
      const r = rel ? `${rel}/${n}` : n;
      const p = path.join(root, r);
      const s = lstatBig(p);
      const xattrs = sys.llistxattr(p);
      const d: Record<string, unknown> = {
        mode: s.mode.toString(8), uid: s.uid, gid: s.gid, size: s.size, mtimeNs: s.mtimeNs,
        linkTo: inos.get(s.ino), // hard links: the first path seen with this inode
        xattrs: Array.isArray(xattrs) ? xattrs.sort().map((x) => `${x}=${sys.lgetxattr(p, x)}`) : xattrs,
      };
      if (s.isFile()) d.sha = crypto.createHash('sha1').update(fs.readFileSync(p)).digest('hex');
      if (s.isSymbolicLink()) d.target = fs.readlinkSync(p);
      // (atime is left out: reading the files to compare them moves it.)
      if (!inos.has(s.ino)) inos.set(s.ino, r);
      out[r] = d;
      if (s.isDirectory()) walk(r);
    }
  };
  walk('');
  return out;
}

test('cp -a into the mount and back keeps modes, owners, ns times, links, xattrs and holes', async (t) => {
  const x = await fsMount(t);
  const src = tmpDir(t, 'dmapifs-src-');
  makeTree(src);
  const want = describe(src);
  execFileSync('cp', ['-a', '--sparse=always', src + '/.', x.m('copy')]);
  const got = describe(x.m('copy'));
  t.deepEqual(got, want);
  t.deepEqual(describe(x.b('copy')), want, 'the backing copy too');
  t.true(lstatBig(x.m('copy', 'sparse')).blocks < 100n, 'holes kept');
  // And back out of the mount.
  const back = tmpDir(t, 'dmapifs-back-');
  execFileSync('cp', ['-a', '--sparse=always', x.m('copy') + '/.', back]);
  t.deepEqual(describe(back), want);
  // rm -rf through the mount removes everything.
  execFileSync('rm', ['-rf', x.m('copy')]);
  t.false(fs.existsSync(x.b('copy')));
});

test('tar: archive a tree from the mount and extract it into the mount with xattrs', async (t) => {
  const x = await fsMount(t);
  makeTree(x.m('tree'));
  const want = describe(x.m('tree'));
  const archive = path.join(tmpDir(t), 'a.tar');
  execFileSync('tar', ['--xattrs', '--xattrs-include=*', '-C', x.m('tree'), '-cf', archive, '.']);
  fs.mkdirSync(x.m('out'));
  execFileSync('tar', ['--xattrs', '--xattrs-include=*', '--same-owner', '-C', x.m('out'), '-xpf', archive]);
  const got = describe(x.m('out'));
  // tar keeps mtime only at ns precision it stores (GNU format: seconds), and sets atime to now.
  const norm = (d: Record<string, unknown>) => Object.fromEntries(Object.entries(d).map(([k, v]) => {
    const { mtimeNs, atimeNs, ...rest } = v as Record<string, unknown>;
    void atimeNs;
    return [k, { ...rest, mtimeSec: (mtimeNs as bigint) / 1_000_000_000n }];
  }));
  t.deepEqual(norm(got), norm(want));
});

test('odd names: spaces, newlines, UTF-8, 255 bytes; ENAMETOOLONG past that; deep trees', async (t) => {
  const x = await fsMount(t);
  const names = ['with space', 'new\nline', 'tab\there', 'ünïcödé-日本語-🙂', 'back\\slash', 'comma,colon:semi;', '-dash', '*star?', "quote'\"", 'a'.repeat(255), 'é'.repeat(127)];
  for (const n of names) {
    fs.writeFileSync(x.m(n), n);
    t.is(fs.readFileSync(x.b(n), 'utf8'), n, JSON.stringify(n));
  }
  t.deepEqual(fs.readdirSync(x.mnt).filter((n) => !n.endsWith('.quota')).sort(), [...names].sort());
  for (const n of names) {
    fs.renameSync(x.m(n), x.m(n + '2'.repeat(Buffer.byteLength(n) < 255 ? 1 : 0)));
  }
  t.is(code(() => fs.writeFileSync(x.m('b'.repeat(256)), '')), 'ENAMETOOLONG');
  t.is(code(() => fs.mkdirSync(x.m('é'.repeat(128)))), 'ENAMETOOLONG');
  // A deep tree: 60 levels of 60-byte names (a 3.6 KB path).
  let p = x.mnt;
  for (let i = 0; i < 60; i++) {
    p = path.join(p, `level-${String(i).padStart(2, '0')}-`.padEnd(60, 'x'));
    fs.mkdirSync(p);
  }
  fs.writeFileSync(path.join(p, 'leaf'), 'deep');
  t.is(fs.readFileSync(path.join(x.backing, path.relative(x.mnt, p), 'leaf'), 'utf8'), 'deep');
  fs.rmSync(x.m(fs.readdirSync(x.mnt).find((n) => n.startsWith('level-00'))!), { recursive: true });
});

test('a big directory: 5000 entries listed completely while it changes', async (t) => {
  const x = await fsMount(t);
  fs.mkdirSync(x.m('big'));
  const want: string[] = [];
  for (let i = 0; i < 5000; i++) want.push(`entry-${i}-${'z'.repeat(i % 40)}`);
  for (const n of want) fs.writeFileSync(x.b('big', n), '');
  t.deepEqual(fs.readdirSync(x.m('big')).sort(), [...want].sort());
  // Entries created and removed through the mount show up in the next listing.
  for (let i = 0; i < 100; i++) fs.unlinkSync(x.m('big', want[i]));
  fs.writeFileSync(x.m('big', 'added'), '');
  const now = fs.readdirSync(x.m('big'));
  t.is(now.length, 4901);
  t.true(now.includes('added'));
  t.false(now.includes(want[0]));
  execFileSync('rm', ['-rf', x.m('big')]);
  t.false(fs.existsSync(x.b('big')));
});

test('3000 files open at once through the mount', async (t) => {
  const x = await fsMount(t);
  fs.mkdirSync(x.m('many'));
  const fds: number[] = [];
  try {
    for (let i = 0; i < 3000; i++) {
      const fd = fs.openSync(x.m('many', `f${i}`), 'w+');
      fds.push(fd);
      fs.writeSync(fd, String(i));
    }
    for (let i = 0; i < 3000; i += 97) {
      const b = Buffer.alloc(8);
      const n = fs.readSync(fds[i], b, 0, 8, 0);
      t.is(b.subarray(0, n).toString(), String(i));
    }
  } finally {
    for (const fd of fds) fs.closeSync(fd);
  }
  t.is(fds.length, 3000);
  t.is(fs.readdirSync(x.b('many')).length, 3000);
});

test('programs run from the mount: a binary and a script; a running binary is ETXTBSY for writers', async (t) => {
  const x = await fsMount(t);
  fs.copyFileSync('/bin/echo', x.m('echo'));
  fs.chmodSync(x.m('echo'), 0o755);
  t.is(execFileSync(x.m('echo'), ['hello', 'mount'], { encoding: 'utf8' }), 'hello mount\n');
  fs.writeFileSync(x.m('script.sh'), '#!/bin/sh\necho "script $1"\n', { mode: 0o755 });
  t.is(execFileSync(x.m('script.sh'), ['ran'], { encoding: 'utf8' }), 'script ran\n');
  fs.chmodSync(x.m('script.sh'), 0o644);
  t.is(code(() => execFileSync(x.m('script.sh'), [], { stdio: 'ignore' })), 'EACCES');
  // A binary being executed cannot be opened for writing.
  fs.copyFileSync('/bin/sleep', x.m('sleep'));
  fs.chmodSync(x.m('sleep'), 0o755);
  const r = runNode(`
    const { spawn } = require('child_process');
    const c = spawn(args.bin, ['5']);
    await new Promise((res) => setTimeout(res, 500));
    const res = code(() => fs.openSync(args.bin, 'w'));
    c.kill();
    out(res);
  `, { args: { bin: x.m('sleep') } });
  t.is((await r).value, 'ETXTBSY');
});

test('two mounts of one backing directory: changes are seen by the other, concurrent creates never fail EEXIST', async (t) => {
  const x = await fsMount(t, { attrTimeout: 0.2, entryTimeout: 0.2 });
  const y = await fsMount(t, { backing: x.backing, attrTimeout: 0.2, entryTimeout: 0.2 });
  fs.writeFileSync(x.m('from-x'), 'x wrote');
  await new Promise((r) => setTimeout(r, 300));
  t.is(fs.readFileSync(y.m('from-x'), 'utf8'), 'x wrote');
  t.is(lstatBig(y.m('from-x')).ino, lstatBig(x.m('from-x')).ino);
  // Two processes, one per mount, open the same new names with O_CREAT (no O_EXCL): POSIX says
  // both succeed, whoever creates the file.
  const worker = (m: string) => runNode(`
    const errs = [];
    for (let i = 0; i < 300; i++) {
      try { fs.closeSync(fs.openSync(args.m + '/race-' + i, fs.constants.O_CREAT | fs.constants.O_WRONLY, 0o644)); }
      catch (e) { errs.push(i + ':' + e.code); }
    }
    out(errs);
  `, { args: { m } });
  const [a, b] = await Promise.all([worker(x.mnt), worker(y.mnt)]);
  t.is(a.status, 0, a.stderr);
  t.is(b.status, 0, b.stderr);
  t.deepEqual(a.value, [], 'no failures through the first mount');
  t.deepEqual(b.value, [], 'no failures through the second mount');
  t.is(fs.readdirSync(x.backing).filter((n) => n.startsWith('race-')).length, 300);
});
