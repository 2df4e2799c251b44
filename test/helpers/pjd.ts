// A POSIX conformance suite in the manner of pjdfstest (its chmod, chown, link, mkdir, open, rename,
// rmdir, symlink, truncate and unlink cases, written from its documentation: each line is
// "expect RESULT syscall args", run as root or, with -u/-g, as another uid/gid). The cases run in
// a directory as the calling thread's filesystem uid/gid (setfsuid/setfsgid, which is what the
// kernel and FUSE judge access by); each step's result is recorded, so that two directories can be
// compared step by step and each against pjdfstest's expected result on Linux.
import * as fs from 'fs';
import * as path from 'path';
import * as sys from '../../src/native/sys';

const O = fs.constants;
const NAME_MAX = 255;
const PATH_MAX = 4096;

export interface Step { line: string; expected: string; got: string }

type Who = [number, number];
const ROOT: Who = [0, 0];
const U1: Who = [65534, 65534];
const U2: Who = [65533, 65533];

function errname(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? String(e);
}

/** One run of the suite in `dir` (empty, world-writable), returning every step. */
export function runSuite(dir: string): Step[] {
  const steps: Step[] = [];
  let n = 0;
  let who: Who = ROOT;
  // Not path.join: it would normalize a trailing '/.' away.
  const p = (name: string) => (name.startsWith('/') ? name : `${dir}/${name}`);
  const as = <T>(w: Who, fn: () => T): T => {
    sys.setfsgid(w[1]);
    sys.setfsuid(w[0]);
    try { return fn(); } finally { sys.setfsuid(0); sys.setfsgid(0); }
  };
  const call = (fn: () => unknown): string => {
    try {
      const r = as(who, fn);
      return r === undefined ? '0' : String(r);
    } catch (e) {
      return errname(e);
    }
  };
  const ops: Record<string, (...a: Array<string | number>) => unknown> = {
    mkdir: (f, m) => fs.mkdirSync(p(String(f)), Number(m)),
    rmdir: (f) => fs.rmdirSync(p(String(f))),
    create: (f, m) => fs.closeSync(fs.openSync(p(String(f)), O.O_CREAT | O.O_EXCL | O.O_WRONLY, Number(m))),
    open: (f, flags, m) => fs.closeSync(fs.openSync(p(String(f)), Number(flags), m === undefined ? 0o644 : Number(m))),
    unlink: (f) => fs.unlinkSync(p(String(f))),
    link: (a, b) => fs.linkSync(p(String(a)), p(String(b))),
    symlink: (t, f) => fs.symlinkSync(String(t), p(String(f))),
    rename: (a, b) => fs.renameSync(p(String(a)), p(String(b))),
    chmod: (f, m) => fs.chmodSync(p(String(f)), Number(m)),
    chown: (f, u, g) => fs.chownSync(p(String(f)), Number(u), Number(g)),
    lchown: (f, u, g) => fs.lchownSync(p(String(f)), Number(u), Number(g)),
    truncate: (f, l) => { const r = sys.truncate(p(String(f)), Number(l)); if (r < 0) throw Object.assign(new Error(), { code: sys.errnoName(-r) }); },
    // stat FIELD: mode (octal permission bits and type), nlink, uid, gid, size, type
    stat: (f, field) => statField(fs.statSync(p(String(f))), String(field)),
    lstat: (f, field) => statField(fs.lstatSync(p(String(f))), String(field)),
  };
  const expect = (expected: string | number, op: string, ...args: Array<string | number>) => {
    const line = `${who[0] ? `-u ${who[0]} -g ${who[1]} ` : ''}${op} ${args.map((a) => (typeof a === 'number' && a > 7 ? `0${a.toString(8)}` : String(a))).join(' ')}`;
    steps.push({ line, expected: String(expected), got: call(() => ops[op](...args)) });
  };
  /** The ctime (and mtime) of `f` move across `fn` (pjdfstest: "ctime1 < ctime2"). */
  const timesMove = (what: string, f: string, fn: () => void, fields: Array<'ctimeNs' | 'mtimeNs'>, fAfter = f) => {
    const before = fs.lstatSync(p(f), { bigint: true });
    sleepMs(15);
    fn();
    const after = fs.lstatSync(p(fAfter), { bigint: true });
    for (const k of fields) steps.push({ line: `${what}: ${k} of ${f} moves`, expected: 'true', got: String(after[k] > before[k]) });
  };
  const sub = () => `d${++n}`;
  const long = (len: number) => 'x'.repeat(len);
  const longPath = () => {
    // A path of more than PATH_MAX bytes made of existing directories of NAME_MAX bytes.
    let rel = sub();
    fs.mkdirSync(p(rel));
    while (rel.length < PATH_MAX + 10) { rel += '/' + long(NAME_MAX - 5); }
    return rel;
  };
  /** A new world-writable directory holding a file f (as most cases start). */
  const fresh = () => {
    const d = sub();
    expect(0, 'mkdir', d, 0o777);
    expect(0, 'chmod', d, 0o777);
    expect(0, 'create', `${d}/f`, 0o644);
    return d;
  };
  const user = (w: Who, fn: () => void) => { const prev = who; who = w; try { fn(); } finally { who = prev; } };

  // ------------------------------------------------------------------ mkdir
  {
    const d = sub();
    expect(0, 'mkdir', d, 0o755);
    expect('0040755', 'stat', d, 'mode');
    expect('EEXIST', 'mkdir', d, 0o755);
    expect(0, 'chmod', d, 0o777);
    user(U1, () => {
      expect(0, 'mkdir', `${d}/mine`, 0o700);
      expect('65534', 'stat', `${d}/mine`, 'uid');
      expect('65534', 'stat', `${d}/mine`, 'gid');
    });
    expect(0, 'create', `${d}/f`, 0o644);
    expect('ENOTDIR', 'mkdir', `${d}/f/x`, 0o755);
    expect('ENOENT', 'mkdir', `${d}/none/x`, 0o755);
    expect('ENAMETOOLONG', 'mkdir', `${d}/${long(NAME_MAX + 1)}`, 0o755);
    expect(0, 'mkdir', `${d}/${long(NAME_MAX)}`, 0o755);
    expect(0, 'mkdir', `${d}/closed`, 0o755);
    user(U1, () => {
      expect('EACCES', 'mkdir', `${d}/closed/x`, 0o755); // no write permission
    });
    expect(0, 'chmod', `${d}/closed`, 0o644);
    user(U1, () => expect('EACCES', 'mkdir', `${d}/closed/y`, 0o755)); // no search permission
    timesMove('mkdir', d, () => fs.mkdirSync(p(`${d}/t`)), ['ctimeNs', 'mtimeNs']);
  }
  // ------------------------------------------------------------------ rmdir
  {
    const d = sub();
    expect(0, 'mkdir', d, 0o777);
    expect(0, 'mkdir', `${d}/e`, 0o755);
    expect(0, 'mkdir', `${d}/full`, 0o755);
    expect(0, 'create', `${d}/full/f`, 0o644);
    expect(0, 'create', `${d}/f`, 0o644);
    expect('ENOTEMPTY', 'rmdir', `${d}/full`);
    expect('ENOTDIR', 'rmdir', `${d}/f`);
    expect('ENOENT', 'rmdir', `${d}/none`);
    expect('ENAMETOOLONG', 'rmdir', `${d}/${long(NAME_MAX + 1)}`);
    expect('EINVAL', 'rmdir', `${d}/e/.`);
    expect(0, 'chmod', `${d}/full`, 0o755);
    expect(0, 'mkdir', `${d}/full/sub`, 0o755);
    user(U1, () => expect('EACCES', 'rmdir', `${d}/full/sub`)); // no write permission on the parent
    // Sticky directory: only the owner of the entry (or of the directory) may remove it.
    expect(0, 'mkdir', `${d}/sticky`, 0o1777);
    expect(0, 'chmod', `${d}/sticky`, 0o1777);
    user(U1, () => expect(0, 'mkdir', `${d}/sticky/u1`, 0o755));
    user(U2, () => expect('EPERM', 'rmdir', `${d}/sticky/u1`));
    user(U1, () => expect(0, 'rmdir', `${d}/sticky/u1`));
    timesMove('rmdir', d, () => fs.rmdirSync(p(`${d}/e`)), ['ctimeNs', 'mtimeNs']);
  }
  // ------------------------------------------------------------------ open
  {
    const d = sub();
    expect(0, 'mkdir', d, 0o777);
    expect(0, 'chmod', d, 0o777);
    user(U1, () => {
      expect(0, 'open', `${d}/c`, O.O_CREAT | O.O_WRONLY, 0o640);
      expect('0100640', 'stat', `${d}/c`, 'mode');
      expect('65534', 'stat', `${d}/c`, 'uid');
      expect('EEXIST', 'open', `${d}/c`, O.O_CREAT | O.O_EXCL | O.O_WRONLY, 0o640);
      expect(0, 'open', `${d}/c`, O.O_RDWR);
    });
    expect(0, 'create', `${d}/f`, 0o600);
    user(U1, () => {
      expect('EACCES', 'open', `${d}/f`, O.O_RDONLY);
      expect('EACCES', 'open', `${d}/f`, O.O_WRONLY);
      expect('EACCES', 'open', `${d}/f`, O.O_RDONLY | O.O_TRUNC);
    });
    expect(0, 'chmod', `${d}/f`, 0o604);
    user(U1, () => {
      expect(0, 'open', `${d}/f`, O.O_RDONLY);
      expect('EACCES', 'open', `${d}/f`, O.O_RDWR);
    });
    expect(0, 'mkdir', `${d}/sub`, 0o755);
    expect('EISDIR', 'open', `${d}/sub`, O.O_WRONLY);
    expect('EISDIR', 'open', `${d}/sub`, O.O_RDWR);
    expect(0, 'open', `${d}/sub`, O.O_RDONLY | O.O_DIRECTORY);
    expect('ENOTDIR', 'open', `${d}/f`, O.O_RDONLY | O.O_DIRECTORY);
    expect('ENOTDIR', 'open', `${d}/f/x`, O.O_RDONLY);
    expect('ENOENT', 'open', `${d}/none`, O.O_RDONLY);
    expect('ENOENT', 'open', `${d}/none/x`, O.O_CREAT | O.O_WRONLY, 0o644);
    expect('ENAMETOOLONG', 'open', `${d}/${long(NAME_MAX + 1)}`, O.O_CREAT | O.O_WRONLY, 0o644);
    expect(0, 'symlink', 'f', `${d}/l`);
    expect('ELOOP', 'open', `${d}/l`, O.O_RDONLY | O.O_NOFOLLOW);
    expect(0, 'symlink', 'loop2', `${d}/loop1`);
    expect(0, 'symlink', 'loop1', `${d}/loop2`);
    expect('ELOOP', 'open', `${d}/loop1`, O.O_RDONLY);
    expect(0, 'chmod', `${d}/sub`, 0o755);
    user(U1, () => expect('EACCES', 'open', `${d}/sub/new`, O.O_CREAT | O.O_WRONLY, 0o644));
    expect(0, 'chmod', `${d}/sub`, 0o700);
    user(U1, () => expect('EACCES', 'open', `${d}/sub/x`, O.O_RDONLY));
    expect('ENAMETOOLONG', 'open', longPath(), O.O_RDONLY);
  }
  // ------------------------------------------------------------------ chmod
  {
    const d = fresh();
    for (const m of [0o111, 0o222, 0o640, 0o4755, 0o2755, 0o1755, 0o7777]) {
      expect(0, 'chmod', `${d}/f`, m);
      expect((0o100000 | m).toString(8).padStart(7, '0'), 'stat', `${d}/f`, 'mode');
    }
    expect(0, 'symlink', 'f', `${d}/l`);
    expect(0, 'chmod', `${d}/l`, 0o600);
    expect('0100600', 'stat', `${d}/f`, 'mode');
    expect('ENOTDIR', 'chmod', `${d}/f/x`, 0o644);
    expect('ENOENT', 'chmod', `${d}/none`, 0o644);
    expect('ENAMETOOLONG', 'chmod', `${d}/${long(NAME_MAX + 1)}`, 0o644);
    user(U1, () => {
      expect('EPERM', 'chmod', `${d}/f`, 0o644); // not the owner
      expect(0, 'create', `${d}/mine`, 0o644);
      expect(0, 'chmod', `${d}/mine`, 0o600);
      expect(0, 'chmod', `${d}/mine`, 0o2755);
      expect('0102755', 'stat', `${d}/mine`, 'mode');
    });
    expect(0, 'chown', `${d}/mine`, 65534, 65533);
    // Not a member of the file's group: set-group-ID is dropped silently.
    user(U1, () => {
      expect(0, 'chmod', `${d}/mine`, 0o2755);
      expect('0100755', 'stat', `${d}/mine`, 'mode');
    });
    timesMove('chmod', `${d}/f`, () => fs.chmodSync(p(`${d}/f`), 0o640), ['ctimeNs']);
  }
  // ------------------------------------------------------------------ chown
  {
    const d = fresh();
    expect(0, 'chown', `${d}/f`, 123, 456);
    expect('123', 'stat', `${d}/f`, 'uid');
    expect('456', 'stat', `${d}/f`, 'gid');
    expect(0, 'chown', `${d}/f`, -1, 789);
    expect('123', 'stat', `${d}/f`, 'uid');
    expect('789', 'stat', `${d}/f`, 'gid');
    expect(0, 'symlink', 'f', `${d}/l`);
    expect(0, 'lchown', `${d}/l`, 5, 6);
    expect('5', 'lstat', `${d}/l`, 'uid');
    expect('123', 'stat', `${d}/l`, 'uid');
    // Root's chown clears set-user-ID and set-group-ID of a regular file (Linux).
    expect(0, 'chmod', `${d}/f`, 0o6755);
    expect(0, 'chown', `${d}/f`, 65534, 65534);
    expect('0100755', 'stat', `${d}/f`, 'mode');
    user(U1, () => {
      expect('EPERM', 'chown', `${d}/f`, 65533, -1); // giving away
      expect('EPERM', 'chown', `${d}/f`, -1, 0); // a group it is not in
      expect(0, 'chown', `${d}/f`, 65534, 65534); // no change: allowed
    });
    user(U2, () => expect('EPERM', 'chown', `${d}/f`, -1, 65534)); // not the owner
    expect('ENOENT', 'chown', `${d}/none`, 1, 1);
    expect('ENOTDIR', 'chown', `${d}/f/x`, 1, 1);
    timesMove('chown', `${d}/f`, () => fs.chownSync(p(`${d}/f`), 1, 1), ['ctimeNs']);
    timesMove('chown -1 -1', `${d}/f`, () => fs.chownSync(p(`${d}/f`), -1, -1), ['ctimeNs']);
  }
  // ------------------------------------------------------------------ link
  {
    const d = fresh();
    expect(0, 'link', `${d}/f`, `${d}/g`);
    expect('2', 'stat', `${d}/f`, 'nlink');
    expect('EEXIST', 'link', `${d}/f`, `${d}/g`);
    expect(0, 'mkdir', `${d}/sub`, 0o755);
    expect('EPERM', 'link', `${d}/sub`, `${d}/subl`);
    expect('ENOENT', 'link', `${d}/none`, `${d}/x`);
    expect('ENOENT', 'link', `${d}/f`, `${d}/none/x`);
    expect('ENOTDIR', 'link', `${d}/f/x`, `${d}/y`);
    expect('ENAMETOOLONG', 'link', `${d}/f`, `${d}/${long(NAME_MAX + 1)}`);
    user(U1, () => {
      expect(0, 'create', `${d}/mine`, 0o644);
      expect('EACCES', 'link', `${d}/mine`, `${d}/sub/x`); // no write permission on the target's directory
      // Linux's protected_hardlinks: no link to a file of another user it may not write.
      expect('EPERM', 'link', `${d}/f`, `${d}/mylink`);
    });
    timesMove('link', `${d}/f`, () => fs.linkSync(p(`${d}/f`), p(`${d}/h`)), ['ctimeNs']);
    expect(0, 'unlink', `${d}/g`);
    expect('2', 'stat', `${d}/f`, 'nlink');
  }
  // ------------------------------------------------------------------ symlink
  {
    const d = sub();
    expect(0, 'mkdir', d, 0o777);
    expect(0, 'symlink', 'target/that/is/not/there', `${d}/s`);
    expect('symlink', 'lstat', `${d}/s`, 'type');
    expect('ENOENT', 'stat', `${d}/s`, 'type');
    expect('EEXIST', 'symlink', 'x', `${d}/s`);
    expect('ENAMETOOLONG', 'symlink', 'x', `${d}/${long(NAME_MAX + 1)}`);
    expect('ENAMETOOLONG', 'symlink', long(PATH_MAX), `${d}/toolong`);
    expect(0, 'symlink', long(PATH_MAX - 1), `${d}/longest`);
    expect('ENOENT', 'symlink', 'x', `${d}/none/s`);
    expect(0, 'chmod', d, 0o755);
    user(U1, () => expect('EACCES', 'symlink', 'x', `${d}/mine`));
  }
  // ------------------------------------------------------------------ rename
  {
    const d = fresh();
    expect(0, 'rename', `${d}/f`, `${d}/g`);
    expect('ENOENT', 'stat', `${d}/f`, 'type');
    expect(0, 'mkdir', `${d}/a`, 0o755);
    expect(0, 'mkdir', `${d}/a/b`, 0o755);
    expect('EINVAL', 'rename', `${d}/a`, `${d}/a/b/c`);
    expect(0, 'mkdir', `${d}/full`, 0o755);
    expect(0, 'create', `${d}/full/x`, 0o644);
    expect('ENOTEMPTY', 'rename', `${d}/a`, `${d}/full`);
    expect('EISDIR', 'rename', `${d}/g`, `${d}/a`);
    expect('ENOTDIR', 'rename', `${d}/a`, `${d}/g`);
    expect('ENOENT', 'rename', `${d}/none`, `${d}/x`);
    expect('ENAMETOOLONG', 'rename', `${d}/g`, `${d}/${long(NAME_MAX + 1)}`);
    expect(0, 'symlink', 'g', `${d}/l`);
    expect(0, 'rename', `${d}/l`, `${d}/l2`);
    expect('symlink', 'lstat', `${d}/l2`, 'type');
    expect(0, 'mkdir', `${d}/sticky`, 0o1777);
    expect(0, 'chmod', `${d}/sticky`, 0o1777);
    user(U1, () => expect(0, 'create', `${d}/sticky/u1`, 0o644));
    user(U2, () => {
      expect('EPERM', 'rename', `${d}/sticky/u1`, `${d}/sticky/u2`);
      expect(0, 'create', `${d}/sticky/own`, 0o644);
      expect('EPERM', 'rename', `${d}/sticky/own`, `${d}/sticky/u1`); // over another's entry
    });
    expect(0, 'chmod', `${d}/a`, 0o755);
    user(U1, () => expect('EACCES', 'rename', `${d}/a/b`, `${d}/b`)); // no write permission on the source's directory
    timesMove('rename', `${d}/g`, () => fs.renameSync(p(`${d}/g`), p(`${d}/h`)), ['ctimeNs'], `${d}/h`);
  }
  // ------------------------------------------------------------------ truncate
  {
    const d = sub();
    expect(0, 'mkdir', d, 0o777);
    expect(0, 'create', `${d}/f`, 0o644);
    expect(0, 'truncate', `${d}/f`, 1234567);
    expect('1234567', 'stat', `${d}/f`, 'size');
    expect(0, 'truncate', `${d}/f`, 567);
    expect('567', 'stat', `${d}/f`, 'size');
    expect('EINVAL', 'truncate', `${d}/f`, -1);
    expect('EFBIG', 'truncate', `${d}/f`, 2 ** 62);
    expect(0, 'mkdir', `${d}/sub`, 0o755);
    expect('EISDIR', 'truncate', `${d}/sub`, 0);
    expect('ENOENT', 'truncate', `${d}/none`, 0);
    expect('ENOTDIR', 'truncate', `${d}/f/x`, 0);
    expect('ENAMETOOLONG', 'truncate', `${d}/${long(NAME_MAX + 1)}`, 0);
    user(U1, () => expect('EACCES', 'truncate', `${d}/f`, 0));
    expect(0, 'symlink', 'loop2', `${d}/loop1`);
    expect(0, 'symlink', 'loop1', `${d}/loop2`);
    expect('ELOOP', 'truncate', `${d}/loop1`, 0);
    timesMove('truncate', `${d}/f`, () => { sys.truncate(p(`${d}/f`), 10); }, ['ctimeNs', 'mtimeNs']);
  }
  // ------------------------------------------------------------------ unlink
  {
    const d = fresh();
    expect(0, 'link', `${d}/f`, `${d}/g`);
    expect(0, 'unlink', `${d}/g`);
    expect('1', 'stat', `${d}/f`, 'nlink');
    expect(0, 'mkdir', `${d}/sub`, 0o755);
    expect('EISDIR', 'unlink', `${d}/sub`);
    expect('ENOENT', 'unlink', `${d}/none`);
    expect('ENOTDIR', 'unlink', `${d}/f/x`);
    expect('ENAMETOOLONG', 'unlink', `${d}/${long(NAME_MAX + 1)}`);
    expect(0, 'create', `${d}/sub/x`, 0o644);
    user(U1, () => expect('EACCES', 'unlink', `${d}/sub/x`));
    expect(0, 'chmod', `${d}/sub`, 0o700);
    user(U1, () => expect('EACCES', 'unlink', `${d}/sub/x`));
    expect(0, 'mkdir', `${d}/sticky`, 0o1777);
    expect(0, 'chmod', `${d}/sticky`, 0o1777);
    user(U1, () => expect(0, 'create', `${d}/sticky/u1`, 0o644));
    user(U2, () => expect('EPERM', 'unlink', `${d}/sticky/u1`));
    expect(0, 'unlink', `${d}/sticky/u1`); // root may
    timesMove('unlink', d, () => fs.unlinkSync(p(`${d}/f`)), ['ctimeNs', 'mtimeNs']);
  }
  return steps;
}

function statField(st: fs.Stats, field: string): string {
  switch (field) {
    case 'mode': return st.mode.toString(8).padStart(7, '0');
    case 'type': return st.isSymbolicLink() ? 'symlink' : st.isDirectory() ? 'dir' : st.isFile() ? 'regular' : 'other';
    default: return String((st as unknown as Record<string, number>)[field]);
  }
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
