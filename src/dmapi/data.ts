// Data: dm_read_invis, dm_write_invis, dm_probe_hole, dm_punch_hole, dm_get_allocinfo,
// dm_sync_by_handle. Invisible I/O goes straight to the backing file (no events) with O_NOATIME,
// and write_invis and punch_hole put atime and mtime back afterwards and keep the ctime users see
// (ctime.ts), so the visible timestamps do not change (SGI's XFS DMAPI avoids them on purpose).
//
// Hole rules (decisions, from LTP hole.c and GPFS): the block size is the backing file's st_blksize.
// dm_punch_hole: off must be block-aligned and off+len too unless it reaches EOF (len 0 = to EOF),
// else EAGAIN (use dm_probe_hole first); a range past EOF (off + len > size) → E2BIG (SGI, JFS);
// the file keeps its size; EBUSY while any process maps the file (GPFS), found in /proc/*/maps by
// both the mount's and the backing filesystem's (dev, ino). dm_probe_hole answers the block-aligned
// part of [off, off+len) that punch_hole would free (none → EINVAL); with len 0 it answers
// (roundup(off), 0): "from roff to the end of the file", as SGI's xfs_dm_probe_hole does. dm_get_allocinfo lists RES/HOLE extents from SEEK_DATA /
// SEEK_HOLE; *offp must be block-aligned and within the file.
import * as sys from '../native/sys';
import {
  DM_EXTENT_HOLE, DM_EXTENT_RES, DM_RIGHT_EXCL, DM_RIGHT_SHARED, DM_WRITE_SYNC, E, fail,
} from './constants';
import { Args, Dmapi, Handlers } from './core';
import { keepingCtime } from './ctime';
import { Obj, openObj } from './fstable';
import { parseHandle } from './handles';
import { Extent, packExtents } from './layouts';
import { MAX_IO } from './protocol/codec';

function regular(o: Obj): void {
  if (o.type !== 'reg') fail(E.EINVAL, 'not a regular file');
}

function blockSize(o: Obj): bigint {
  const b = o.st[sys.STAT_BLKSIZE];
  return b > 0n ? b : 4096n;
}

const roundUp = (x: bigint, b: bigint) => ((x + b - 1n) / b) * b;
const roundDown = (x: bigint, b: bigint) => (x / b) * b;

/**
 * The range punch_hole frees for (off, len) — the same computation answers probe_hole. As SGI's
 * xfs_dm_probe_hole/xfs_dm_punch_hole: a range reaching past the end of the file (off + len > size)
 * is E2BIG; len 0 means "to the end of the file".
 */
function punchRange(o: Obj, off: bigint, len: bigint): { start: bigint; end: bigint } {
  const size = BigInt.asIntN(64, o.st[sys.STAT_SIZE]);
  const bs = blockSize(o);
  if (off < 0n) fail(E.EINVAL, 'negative offset');
  if (off > size || off + len > size) fail(E.E2BIG, 'the range reaches past the end of the file');
  const start = roundUp(off, bs);
  const toEof = len === 0n || off + len === size;
  const end = toEof ? roundUp(size, bs) : roundDown(off + len, bs);
  return { start, end };
}

/** Pids mapping the file, through the mount or directly in the backing filesystem. */
export function mappers(o: Obj): number[] {
  const keys: sys.MapKey[] = [sys.mapKey(o.fs.backingDev, o.ino)];
  if (o.fs.dev !== null) keys.push(sys.mapKey(o.fs.dev, o.ino));
  const r = sys.scanMapsFor(keys);
  if (typeof r === 'number') fail(E.EIO, `cannot scan /proc: ${sys.strerror(-r)}`);
  return r;
}

export function dataHandlers(dm: Dmapi): Handlers {
  const fsGuard = (a: Args) => {
    const p = parseHandle(a.handle as Buffer);
    if (p && p.kind === 'fs') { dm.fsTable.fsOf(p.fsid); fail(E.EINVAL, 'not a regular file'); }
  };
  return {
    READ_INVIS: (a: Args) => {
      fsGuard(a);
      const off = a.off as bigint;
      const len = a.len as bigint;
      return dm.withObject(a.sid, a.handle, a.token, DM_RIGHT_SHARED, (o) => {
        regular(o);
        const size = BigInt.asIntN(64, o.st[sys.STAT_SIZE]);
        if (off < 0n || off > size) fail(E.EINVAL, 'offset outside the file');
        const n = Number(len > BigInt(MAX_IO) ? BigInt(MAX_IO) : len);
        const fd = openObj(o, sys.O_RDONLY | sys.O_NOATIME);
        try {
          const buf = Buffer.allocUnsafe(n);
          let got = 0;
          while (got < n) {
            const r = sys.pread(fd, buf, got, n - got, off + BigInt(got));
            if (r < 0) fail(-r, 'read');
            if (r === 0) break;
            got += r;
          }
          return { data: buf.subarray(0, got) };
        } finally {
          sys.close(fd);
        }
      });
    },

    WRITE_INVIS: (a: Args) => {
      fsGuard(a);
      const flags = Number(a.flags);
      const off = a.off as bigint;
      const data = a.data as Buffer;
      if (flags & ~DM_WRITE_SYNC) fail(E.EINVAL, 'unknown flags');
      if (off < 0n) fail(E.EINVAL, 'negative offset');
      return dm.withObject(a.sid, a.handle, a.token, DM_RIGHT_EXCL, (o) => keepingCtime(o, () => {
        regular(o);
        const fd = openObj(o, sys.O_WRONLY | sys.O_NOATIME);
        try {
          const st = o.st;
          let done = 0;
          while (done < data.length) {
            const r = sys.pwrite(fd, data, done, data.length - done, off + BigInt(done));
            if (r < 0) {
              if (done) break;
              fail(-r, 'write');
            }
            done += r;
          }
          if (flags & DM_WRITE_SYNC) {
            const r = sys.fdatasync(fd);
            if (r < 0) fail(-r, 'fdatasync');
          }
          sys.futimens(fd, st[sys.STAT_ATIME_SEC], Number(st[sys.STAT_ATIME_NSEC]), st[sys.STAT_MTIME_SEC], Number(st[sys.STAT_MTIME_NSEC]));
          dm.objectChanged(o);
          return { written: BigInt(done) };
        } finally {
          sys.close(fd);
        }
      }));
    },

    PROBE_HOLE: (a: Args) => {
      fsGuard(a);
      return dm.withObject(a.sid, a.handle, a.token, DM_RIGHT_SHARED, (o) => {
        regular(o);
        const len = a.len as bigint;
        const { start, end } = punchRange(o, a.off as bigint, len);
        if (len === 0n) return { roff: start, rlen: 0n };
        if (end <= start) fail(E.EINVAL, 'no whole block to free in the range');
        return { roff: start, rlen: end - start };
      });
    },

    PUNCH_HOLE: (a: Args) => {
      fsGuard(a);
      const off = a.off as bigint;
      const len = a.len as bigint;
      return dm.withObject(a.sid, a.handle, a.token, DM_RIGHT_EXCL, (o) => {
        regular(o);
        const size = BigInt.asIntN(64, o.st[sys.STAT_SIZE]);
        const bs = blockSize(o);
        const { end } = punchRange(o, off, len);
        if (off % bs !== 0n) fail(E.EAGAIN, 'offset not block-aligned (see dm_probe_hole)');
        if (len !== 0n && off + len < size && (off + len) % bs !== 0n) fail(E.EAGAIN, 'length not block-aligned (see dm_probe_hole)');
        const pids = mappers(o);
        if (pids.length) fail(E.EBUSY, `the file is memory-mapped (pid ${pids.join(', ')})`);
        if (end <= off) return {};
        // Like write_invis, the visible times stay (an HSM's migration must not make files look new
        // to users, backups and age policies): atime and mtime are put back, the ctime kept (ctime.ts).
        keepingCtime(o, () => {
          const fd = openObj(o, sys.O_WRONLY | sys.O_NOATIME);
          try {
            const before = new BigUint64Array(sys.STAT_FIELDS);
            if (sys.fstat(fd, before) < 0) fail(E.EIO, 'fstat');
            const r = sys.punchHole(fd, off, end - off);
            if (r < 0) fail(-r, 'punch hole');
            sys.futimens(fd, before[sys.STAT_ATIME_SEC], Number(before[sys.STAT_ATIME_NSEC]), before[sys.STAT_MTIME_SEC], Number(before[sys.STAT_MTIME_NSEC]));
          } finally {
            sys.close(fd);
          }
        });
        dm.objectChanged(o);
        return {};
      });
    },

    GET_ALLOCINFO: (a: Args) => {
      fsGuard(a);
      const nelem = Number(a.nelem);
      const off0 = a.off as bigint;
      return dm.withObject(a.sid, a.handle, a.token, DM_RIGHT_SHARED, (o) => {
        regular(o);
        if (nelem === 0) fail(E.EINVAL, 'nelem 0');
        const size = BigInt.asIntN(64, o.st[sys.STAT_SIZE]);
        if (off0 < 0n || off0 % blockSize(o) !== 0n || off0 > size) fail(E.EINVAL, 'offset not block-aligned or past the end');
        const fd = openObj(o, sys.O_RDONLY | sys.O_NOATIME);
        try {
          const ext: Extent[] = [];
          let off = off0;
          while (off < size && ext.length < nelem) {
            let data = sys.lseek(fd, off, sys.SEEK_DATA);
            if (data === -sys.ENXIO) data = Number(size);
            if (data < 0) fail(-data, 'lseek');
            if (BigInt(data) > off) {
              ext.push({ type: DM_EXTENT_HOLE, offset: off, length: BigInt(data) - off });
              off = BigInt(data);
              continue;
            }
            let hole = sys.lseek(fd, off, sys.SEEK_HOLE);
            if (hole < 0) fail(-hole, 'lseek');
            if (BigInt(hole) > size) hole = Number(size);
            ext.push({ type: DM_EXTENT_RES, offset: off, length: BigInt(hole) - off });
            off = BigInt(hole);
          }
          return { more: off < size ? 1 : 0, off, nelem: ext.length, extents: packExtents(ext) };
        } finally {
          sys.close(fd);
        }
      });
    },

    SYNC_BY_HANDLE: (a: Args) => {
      fsGuard(a);
      return dm.withObject(a.sid, a.handle, a.token, DM_RIGHT_SHARED, (o) => {
        regular(o);
        const fd = openObj(o, sys.O_RDONLY | sys.O_NOATIME);
        try {
          const r = sys.fsync(fd);
          if (r < 0) fail(-r, 'fsync');
        } finally {
          sys.close(fd);
        }
        return {};
      });
    },
  };
}
