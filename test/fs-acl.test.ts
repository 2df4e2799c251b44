// POSIX ACLs through a real mount: the kernel judges access by the file's ACL (not only its mode
// bits), exactly as on the backing filesystem; setfacl/getfacl work through the mount; default
// ACLs are inherited by what is created through the mount, with the caller's umask applied only
// where the backing filesystem would apply it (no default ACL on the parent).
import test, { ExecutionContext } from 'ava';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { FsMount, inChild, tmpDir, useMounts } from './helpers/fs';

const { mount: fsMount } = useMounts();
const NOBODY = { uid: 65534, gid: 65534 };

function setfacl(...args: string[]): void {
  execFileSync('setfacl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}
/** The ACL of a path in numeric form, without the header (which names the path). */
function getfacl(p: string): string {
  return execFileSync('getfacl', ['--omit-header', '--numeric', '--absolute-names', p], { encoding: 'utf8' });
}

/** What uid 65534 gets opening each path for reading and for writing ('' = allowed, else the errno). */
async function accessAs(t: ExecutionContext, who: { uid: number; gid: number }, paths: string[]): Promise<Array<{ r: string; w: string }>> {
  return inChild<Array<{ r: string; w: string }>>(t, `
    out(args.map((p) => ({
      r: code(() => fs.closeSync(fs.openSync(p, 'r'))),
      w: code(() => fs.closeSync(fs.openSync(p, 'r+'))),
    })));
  `, { ...who, args: paths });
}

/** Creates the test files through the mount (mode set, then the ACL set with setfacl through the mount). */
function aclFiles(x: FsMount): Array<{ name: string; expect: { r: string; w: string } }> {
  const files: Array<{ name: string; mode: number; acl: string; expect: { r: string; w: string } }> = [
    // The mode bits alone would let "other" read it: the named-user entry refuses uid 65534.
    { name: 'deny', mode: 0o644, acl: 'u:65534:---', expect: { r: 'EACCES', w: 'EACCES' } },
    // The mode bits alone would refuse: the named-user entry lets uid 65534 read (not write).
    { name: 'grant', mode: 0o600, acl: 'u:65534:r', expect: { r: '', w: 'EACCES' } },
    { name: 'grant-rw', mode: 0o600, acl: 'u:65534:rw', expect: { r: '', w: '' } },
    // A named-group entry, limited by the mask.
    { name: 'group-masked', mode: 0o600, acl: 'g:65534:rw,m::r', expect: { r: '', w: 'EACCES' } },
  ];
  for (const f of files) {
    fs.writeFileSync(x.m(f.name), 'data');
    fs.chmodSync(x.m(f.name), f.mode);
    setfacl('-m', f.acl, x.m(f.name));
  }
  return files;
}

test('ACLs decide access through the mount as on the backing filesystem (named user and group entries, mask)', async (t) => {
  const x = await fsMount(t);
  const files = aclFiles(x);
  for (const f of files) t.is(getfacl(x.m(f.name)), getfacl(x.b(f.name)), `getfacl of ${f.name} through the mount = on the backing file`);
  const viaMount = await accessAs(t, NOBODY, files.map((f) => x.m(f.name)));
  const onBacking = await accessAs(t, NOBODY, files.map((f) => x.b(f.name)));
  files.forEach((f, i) => {
    t.deepEqual(onBacking[i], f.expect, `${f.name} on the backing filesystem`);
    t.deepEqual(viaMount[i], onBacking[i], `${f.name} through the mount = on the backing filesystem`);
  });
});

test('an ACL changed through the mount (or by chmod, which sets its mask) is in force at once', async (t) => {
  const x = await fsMount(t);
  fs.writeFileSync(x.m('f'), 'data');
  fs.chmodSync(x.m('f'), 0o600);
  t.deepEqual(await accessAs(t, NOBODY, [x.m('f')]), [{ r: 'EACCES', w: 'EACCES' }]);
  setfacl('-m', 'u:65534:rw', x.m('f'));
  t.deepEqual(await accessAs(t, NOBODY, [x.m('f')]), [{ r: '', w: '' }]);
  // chmod g-w lowers the mask: the named entry keeps rw but only r is effective.
  fs.chmodSync(x.m('f'), 0o640);
  t.is(getfacl(x.m('f')), getfacl(x.b('f')));
  t.deepEqual(await accessAs(t, NOBODY, [x.m('f')]), [{ r: '', w: 'EACCES' }]);
  setfacl('-b', x.m('f'));
  t.is(getfacl(x.b('f')).includes('user:65534'), false, 'setfacl -b through the mount removed the entry on the backing file');
  // Back to the mode bits alone: 0640 gives "other" nothing.
  t.deepEqual(await accessAs(t, NOBODY, [x.m('f')]), [{ r: 'EACCES', w: 'EACCES' }]);
});

/** Creates, as uid 41001 with umask 022, files and directories under each of `dirs`. */
async function createUnder(t: ExecutionContext, dirs: string[]): Promise<void> {
  await inChild(t, `
    process.umask(0o022);
    for (const d of args) {
      fs.writeFileSync(d + '/file', '', { mode: 0o666 });
      fs.mkdirSync(d + '/sub', 0o777);
      fs.mkdirSync(d + '/sub/deeper', 0o777);
      fs.writeFileSync(d + '/exe', '', { mode: 0o777 });
    }
    out(true);
  `, { uid: 41001, gid: 41001, args: dirs });
}

test('default ACLs are inherited by files and directories created through the mount, umask applied only without one', async (t) => {
  const x = await fsMount(t);
  const ref = tmpDir(t, 'dmfs-aclref-');
  const setups: Array<[string, string[]]> = [
    ['with-default', ['-d', '-m', 'u::rwx,g::r-x,o::---,u:65534:rwx,m::rwx']],
    ['restrictive-default', ['-d', '-m', 'u::rwx,g::-,o::-,u:65534:r,m::r']],
    ['no-default', []],
  ];
  for (const [name, acl] of setups) {
    for (const root of [x.mnt, ref]) {
      fs.mkdirSync(path.join(root, name));
      fs.chmodSync(path.join(root, name), 0o777);
      if (acl.length) setfacl(...acl, path.join(root, name));
    }
  }
  await createUnder(t, setups.map(([n]) => x.m(n)));
  await createUnder(t, setups.map(([n]) => path.join(ref, n)));
  for (const [name] of setups) {
    for (const sub of ['', 'file', 'sub', 'sub/deeper', 'exe']) {
      const m = fs.lstatSync(x.m(name, sub));
      const r = fs.lstatSync(path.join(ref, name, sub));
      t.is((m.mode & 0o7777).toString(8), (r.mode & 0o7777).toString(8), `mode of ${name}/${sub}: through the mount = native`);
      t.is(getfacl(x.m(name, sub)), getfacl(path.join(ref, name, sub)), `ACL of ${name}/${sub}: through the mount = native`);
      t.is(getfacl(x.b(name, sub)), getfacl(path.join(ref, name, sub)), `ACL of ${name}/${sub} on the backing file = native`);
    }
  }
  // And what the inherited entries grant holds through the mount.
  const paths = ['with-default/file', 'restrictive-default/file', 'no-default/file'];
  const viaMount = await accessAs(t, NOBODY, paths.map((p) => x.m(p)));
  const native = await accessAs(t, NOBODY, paths.map((p) => path.join(ref, p)));
  t.deepEqual(viaMount, native);
  t.deepEqual(native, [{ r: '', w: '' }, { r: '', w: 'EACCES' }, { r: '', w: 'EACCES' }]);
});
