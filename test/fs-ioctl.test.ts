// Inode flags and fsxattr through the mount (lsattr/chattr: FS_IOC_GETFLAGS/SETFLAGS,
// FS_IOC_FSGETXATTR/FSSETXATTR): they reach the backing file, what they mean holds through the
// mount (append-only, immutable), and who may change them is decided as on the backing filesystem.
import test from 'ava';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { code, rc, sys, tmpDir, useMounts, USER } from './helpers/fs';

const { mount: fsMount } = useMounts();

/** Runs a command (optionally as another uid): its exit status and output. */
function run(cmd: string, args: string[], who?: { uid: number; gid: number }): { status: number | null; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...(who ?? {}) });
  return { status: r.status, out: (r.stdout + r.stderr).trim() };
}

/** The flags column of lsattr (with -d for a directory itself, -p for the project id too). */
function lsattr(p: string, ...opts: string[]): string {
  const r = run('lsattr', [...opts, '-d', p]);
  if (r.status !== 0) throw new Error(`lsattr ${p}: ${r.out}`);
  return r.out.split(/\s+/).slice(0, opts.includes('-p') ? 2 : 1).join(' ');
}

test('lsattr through the mount shows the backing file\'s flags; chattr through the mount sets them on it', async (t) => {
  const x = await fsMount(t);
  fs.writeFileSync(x.m('f'), 'data');
  fs.mkdirSync(x.m('d'));
  for (const n of ['f', 'd']) t.is(lsattr(x.m(n)), lsattr(x.b(n)), `lsattr ${n}`);
  t.is(lsattr(x.m('f'), '-p'), lsattr(x.b('f'), '-p'), 'project id (FS_IOC_FSGETXATTR)');
  t.is(run('chattr', ['+d', x.m('f')]).status, 0);
  t.true(lsattr(x.b('f')).includes('d'), `nodump on the backing file: ${lsattr(x.b('f'))}`);
  t.is(lsattr(x.m('f')), lsattr(x.b('f')));
  t.is(run('chattr', ['+d', x.m('d')]).status, 0, 'a directory\'s flags too');
  t.true(lsattr(x.b('d')).includes('d'));
  t.is(run('chattr', ['-d', x.m('f')]).status, 0);
  t.false(lsattr(x.b('f')).includes('d'));
  // The project id (FS_IOC_FSSETXATTR): the same outcome as on the backing filesystem itself.
  const native = tmpDir(t);
  fs.writeFileSync(path.join(native, 'g'), '');
  const viaMount = run('chattr', ['-p', '42', x.m('f')]).status;
  const direct = run('chattr', ['-p', '42', path.join(native, 'g')]).status;
  t.is(viaMount, direct, 'chattr -p: same exit status as on the backing filesystem');
  if (direct === 0) t.is(lsattr(x.b('f'), '-p').split(' ')[0], '42');
});

test('append-only and immutable set through the mount hold through the mount', async (t) => {
  const x = await fsMount(t);
  fs.writeFileSync(x.m('a'), 'data');
  fs.writeFileSync(x.m('i'), 'data');
  t.teardown(() => { run('chattr', ['-a', '-i', x.b('a')]); run('chattr', ['-a', '-i', x.b('i')]); });
  t.is(run('chattr', ['+a', x.m('a')]).status, 0);
  t.is(run('chattr', ['+i', x.m('i')]).status, 0);
  t.true(lsattr(x.b('a')).includes('a'));
  t.true(lsattr(x.b('i')).includes('i'));
  fs.appendFileSync(x.m('a'), '+more');
  t.is(fs.readFileSync(x.b('a'), 'utf8'), 'data+more', 'append-only: appending works');
  t.is(code(() => fs.writeFileSync(x.m('a'), 'over')), 'EPERM', 'append-only: no overwrite');
  t.is(code(() => fs.unlinkSync(x.m('a'))), 'EPERM', 'append-only: no unlink');
  t.is(code(() => fs.appendFileSync(x.m('i'), 'x')), 'EPERM', 'immutable: no write');
  t.is(code(() => fs.renameSync(x.m('i'), x.m('j'))), 'EPERM', 'immutable: no rename');
  t.is(code(() => fs.chmodSync(x.m('i'), 0o600)), 'EPERM', 'immutable: no chmod');
  t.is(run('chattr', ['-a', x.m('a')]).status, 0);
  t.is(run('chattr', ['-i', x.m('i')]).status, 0);
  fs.unlinkSync(x.m('a'));
  fs.renameSync(x.m('i'), x.m('j'));
  t.pass();
});

test('who may change flags through the mount: as on the backing filesystem (owner; CAP_LINUX_IMMUTABLE for +a/+i)', async (t) => {
  const x = await fsMount(t);
  const native = tmpDir(t);
  for (const root of [x.mnt, native]) {
    fs.mkdirSync(path.join(root, 'd'));
    fs.chmodSync(path.join(root, 'd'), 0o777);
    fs.writeFileSync(path.join(root, 'd', 'roots'), '');
    fs.chmodSync(path.join(root, 'd', 'roots'), 0o666);
  }
  const outcome = (root: string) => {
    const mine = path.join(root, 'd', 'mine');
    const r = spawnSync('sh', ['-c', `: > ${mine}`], USER);
    if (r.status !== 0) throw new Error('cannot create as USER');
    return {
      ownNodump: run('chattr', ['+d', mine], USER).status,
      ownImmutable: run('chattr', ['+i', mine], USER).status,
      ownAppend: run('chattr', ['+a', mine], USER).status,
      othersNodump: run('chattr', ['+d', path.join(root, 'd', 'roots')], USER).status,
      readOthers: lsattr(path.join(root, 'd', 'roots')),
    };
  };
  const viaMount = outcome(x.mnt);
  const direct = outcome(native);
  t.deepEqual(viaMount, direct);
  t.is(direct.ownNodump, 0);
  t.not(direct.ownImmutable, 0);
  t.not(direct.othersNodump, 0);
  t.false(lsattr(x.b('d', 'mine')).includes('i'));
  t.false(lsattr(x.b('d', 'roots')).includes('d'));
});

test('only the known ioctls pass: another one (FS_IOC_GETVERSION) is ENOTTY through the mount though the backing file answers it', async (t) => {
  const x = await fsMount(t);
  fs.writeFileSync(x.m('f'), 'data');
  const FS_IOC_GETVERSION = 0x80087601;
  const FS_IOC_GETFLAGS = 0x80086601;
  const at = (p: string, cmd: number, size: number) => {
    const fd = fs.openSync(p, 'r');
    try { return sys.ioctlBuf(fd, cmd, Buffer.alloc(size)); } finally { fs.closeSync(fd); }
  };
  t.is(at(x.b('f'), FS_IOC_GETVERSION, 8), 0, 'the backing file answers it');
  t.is(rc(at(x.m('f'), FS_IOC_GETVERSION, 8)), 'ENOTTY', 'the mount does not pass it on');
  t.is(at(x.m('f'), FS_IOC_GETFLAGS, 8), 0, 'a known one passes');
  t.is(rc(at(x.m('f'), FS_IOC_GETFLAGS, 4)), 'EINVAL', 'a buffer smaller than the command says is refused before the call');
});
