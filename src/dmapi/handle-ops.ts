// The handle functions that need the daemon: dm_path_to_handle, dm_path_to_fshandle,
// dm_fd_to_handle and dm_handle_to_path. (dm_handle_cmp/hash/is_valid/to_*, dm_make_*handle are
// library-side: handles.ts.)
//
// Decision: the caller resolves its path itself (lstat without following the last symlink, or
// fstat of its descriptor) and sends (st_dev, st_ino, absolute path): the daemon never looks up a
// path inside its own mounts (it serves them on this very thread); st_dev picks the mount (none of
// ours → ENXIO), and the path, taken relative to the mount point, finds the backing file, checked
// by inode number (and found by inode number when it moved).
import * as path from 'path';
import { child, fromBytes } from '../backing';
import { E, fail } from './constants';
import { Args, Dmapi, Handlers } from './core';
import { FsTable } from './fstable';
import { parseHandle } from './handles';

export function handleOpsHandlers(dm: Dmapi): Handlers {
  const lookup = (a: Args) => {
    // The path as the bytes the caller named it by (a name need not be UTF-8).
    const p = fromBytes(a.path as Buffer);
    if (!path.isAbsolute(p)) fail(E.EINVAL, 'the path must be absolute');
    return dm.fsTable.lookupPath(a.dev as bigint, a.ino as bigint, path.posix.normalize(p));
  };
  return {
    PATH_TO_HANDLE: (a: Args) => ({ handle: lookup(a).handle }),
    FD_TO_HANDLE: (a: Args) => ({ handle: lookup(a).handle }),
    PATH_TO_FSHANDLE: (a: Args) => ({ handle: lookup(a).fs.fsHandle }),

    HANDLE_TO_PATH: (a: Args) => {
      const dp = parseHandle(a.dirhandle as Buffer);
      const tp = parseHandle(a.targhandle as Buffer);
      if (!dp || !tp) fail(E.EINVAL, 'malformed handle');
      if (dp.kind !== 'file') fail(E.EBADF, 'the directory handle must be an object handle');
      const dir = dm.fsTable.resolve(a.dirhandle as Buffer);
      if (dir.type !== 'dir') fail(E.EBADF, 'not a directory');
      // SGI's dm_handle_to_path: a filesystem or the global handle as the target is EBADF, as for the directory
      if (tp.kind !== 'file') fail(E.EBADF, 'the target must be an object handle');
      const targ = dm.fsTable.resolve(a.targhandle as Buffer);
      if (targ.fs !== dir.fs) fail(E.EINVAL, 'target in another filesystem');
      const entry = dm.fsTable.readdir(dir.fs, dir.rel).find((e) => e.ino === targ.ino);
      if (!entry) fail(E.EINVAL, 'the target is not in the directory');
      const b = Buffer.concat([FsTable.mountPath(dir.fs, child(dir.rel, entry.name)), Buffer.from([0])]);
      if (BigInt(b.length) > (a.buflen as bigint)) fail(E.E2BIG, 'buffer too small', { rlen: b.length });
      return { rlen: b.length, path: b };
    },
  };
}
