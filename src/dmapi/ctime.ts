// The ctime users see, kept still across invisible DM changes. SGI's XFS DMAPI changes DM attributes
// (dm_set_dmattr / dm_remove_dmattr with setdtime = 0) and data (dm_write_invis, dm_punch_hole)
// without touching the inode's ctime, on purpose: an HSM's migration and recall must not make files
// look changed to users, backups and age policies. Linux gives no user-space way to set a ctime, and
// these calls change the backing file (an xattr, its data), so the backing ctime moves: the
// filesystem shows the ctime from before the change for as long as the backing ctime is the one the
// DM call left. Any later visible change moves the backing ctime again, and from then on the real
// one shows.
//
// With DM_CONFIG_DTIME_OVERLOAD = 1 (GPFS: "dt_dtime overloaded on dt_ctime"), dm_set_fileattr of
// DM_AT_DTIME sets the ctime shown the same way.
//
// Kept in the inode's record of the backing view (src/backing/inodes.ts), which the mount reads for
// its getattr: after a daemon restart the backing ctime shows (later, never lost).
import * as sys from '../native/sys';
import { FsEntry, Obj } from './fstable';

const ctimeNs = (st: BigUint64Array) => st[sys.STAT_CTIME_SEC] * 1000000000n + st[sys.STAT_CTIME_NSEC];

/** The ctime (ns) to show for a backing stat. */
export function shownCtimeNs(fsE: FsEntry, st: BigUint64Array): bigint {
  const rec = fsE.dir.inodes.get(st[sys.STAT_INO]);
  return rec ? ctimeNs(rec.shownTimes(BigUint64Array.from(st))) : ctimeNs(st);
}

function backingStat(o: Obj): BigUint64Array | null {
  return o.fs.dir.stat(o.rel);
}

/** Runs an invisible change of o: the ctime shown before it is still shown after it. */
export function keepingCtime<T>(o: Obj, change: () => T): T {
  const before = backingStat(o);
  const r = change();
  const after = backingStat(o);
  if (before && after) o.fs.dir.inodes.record(o.ino).hideChange(before, after);
  return r;
}

/** dm_set_fileattr(DM_AT_DTIME) with the dtime overloaded on the ctime: show `sec` as the ctime. */
export function setShownCtime(o: Obj, sec: bigint): void {
  const st = backingStat(o);
  if (st) o.fs.dir.inodes.record(o.ino).showCtime(sec, 0n, st);
}

/** A visible change (setdtime != 0): the real ctime shows from now on. */
export function forgetShownCtime(o: Obj): void {
  o.fs.dir.inodes.get(o.ino)?.unhide();
}
