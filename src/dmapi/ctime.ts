// The ctime users see, kept still across invisible DM changes. SGI's XFS DMAPI changes DM attributes
// (dm_set_dmattr / dm_remove_dmattr with setdtime = 0) and data (dm_write_invis) without touching
// the inode's ctime, on purpose: an HSM's migration and recall must not make files look changed to
// users, backups and age policies. Linux gives no user-space way to set a ctime, and these calls
// change the backing file (an xattr, its data), so the backing ctime moves: the filesystem shows
// the ctime from before the change for as long as the backing ctime is the one the DM call left.
// Any later visible change moves the backing ctime again, and from then on the real one shows.
//
// With DM_CONFIG_DTIME_OVERLOAD = 1 (GPFS: "dt_dtime overloaded on dt_ctime"), dm_set_fileattr of
// DM_AT_DTIME sets the ctime shown the same way.
//
// Kept in the daemon's memory: after a daemon restart the backing ctime shows (later, never lost).
import * as sys from '../native/sys';
import { atObj, FsEntry, Obj } from './fstable';

/** Per filesystem: ino → the backing ctime a DM call left (ns) and the ctime to show for it (ns). */
const shown = new WeakMap<FsEntry, Map<bigint, { backing: bigint; show: bigint }>>();

const ctimeNs = (st: BigUint64Array) => st[sys.STAT_CTIME_SEC] * 1000000000n + st[sys.STAT_CTIME_NSEC];

function table(fsE: FsEntry): Map<bigint, { backing: bigint; show: bigint }> {
  let t = shown.get(fsE);
  if (!t) { t = new Map(); shown.set(fsE, t); }
  return t;
}

/** The ctime (ns) to show for a backing stat of ino. */
export function shownCtimeNs(fsE: FsEntry, st: BigUint64Array): bigint {
  const t = shown.get(fsE);
  const ino = st[sys.STAT_INO];
  const e = t?.get(ino);
  if (!e) return ctimeNs(st);
  if (e.backing === ctimeNs(st)) return e.show;
  t!.delete(ino);      // changed visibly since: the real ctime from now on
  return ctimeNs(st);
}

/** Rewrites st's ctime to the one to show (the filesystem's getattr, dm_get_fileattr). */
export function showCtime(fsE: FsEntry, st: BigUint64Array): void {
  const ns = shownCtimeNs(fsE, st);
  st[sys.STAT_CTIME_SEC] = ns / 1000000000n;
  st[sys.STAT_CTIME_NSEC] = ns % 1000000000n;
}

function backingStat(o: Obj): BigUint64Array | null {
  const st = new BigUint64Array(sys.STAT_FIELDS);
  return atObj(o.fs, o.rel, (d, n) => sys.fstatat(d, n, sys.AT_SYMLINK_NOFOLLOW, st)) === 0 ? st : null;
}

/** Runs an invisible change of o: the ctime shown before it is still shown after it. */
export function keepingCtime<T>(o: Obj, change: () => T): T {
  const before = backingStat(o);
  const show = before ? shownCtimeNs(o.fs, before) : null;
  const r = change();
  const after = backingStat(o);
  if (show !== null && after) table(o.fs).set(after[sys.STAT_INO], { backing: ctimeNs(after), show });
  return r;
}

/** dm_set_fileattr(DM_AT_DTIME) with the dtime overloaded on the ctime: show `sec` as the ctime. */
export function setShownCtime(o: Obj, sec: bigint): void {
  const st = backingStat(o);
  if (st) table(o.fs).set(st[sys.STAT_INO], { backing: ctimeNs(st), show: sec * 1000000000n });
}

/** A visible change (setdtime != 0): the real ctime shows from now on. */
export function forgetShownCtime(o: Obj): void {
  shown.get(o.fs)?.delete(o.ino);
}
