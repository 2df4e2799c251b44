// TruCluster Server DLM status codes (dlm_status_t) with their numbers, and the message texts behind
// dlm_sperrno / dlm_perrno / dlm_perror.
//
// Numbers: taken from Ingres' comments in cx_translate_status (real calls against
// Tru64's libdlm). DLM_SUCCESS = 0 is confirmed ("Zero in is always success"); DLM_SYNCH is not
// commented there but sits between 0 and DLM_SUCCVALNOTVALID = 2.
// GAP decision: DLM_SYNCH = 1. Values 6..15 were never observed and stay unassigned.

export type DlmStatus = number;

export const DLM_SUCCESS = 0;
export const DLM_SYNCH = 1;
export const DLM_SUCCVALNOTVALID = 2;
export const DLM_SYNCVALNOTVALID = 3;
export const DLM_MORE_TO_RECOVER = 4;
export const DLM_MORE_TO_TRAVERSE = 5;
export const DLM_ABORT = 16;
export const DLM_ATTACHED = 17;
export const DLM_BADPARAM = 18;
export const DLM_CANCEL = 19;
export const DLM_CANCELGRANT = 20;
export const DLM_CANCELWAIT = 21;
export const DLM_CVTUNGRANT = 22;
export const DLM_DEADLOCK = 23;
export const DLM_EFAULT = 24;
export const DLM_ENOENT = 25;
export const DLM_ENOSYS = 26;
export const DLM_HASLOCKS = 27;
export const DLM_INSFMEM = 28;
export const DLM_INTR = 29;
export const DLM_IVBUFLEN = 30;
export const DLM_IVLOCKID = 31;
export const DLM_LKBUSY = 32;
export const DLM_NOACCESS = 33;
export const DLM_NOLOCKID = 34;
export const DLM_NOTATTACHED = 35;
export const DLM_NOTQUEUED = 36;
export const DLM_PARNOTGRANT = 37;
export const DLM_RETRY = 38;
export const DLM_SUBLOCKS = 39;
export const DLM_TIMEOUT = 40;
export const DLM_TOOMANYNS = 41;
export const DLM_UNEXPERR = 42;
export const DLM_HASPROCS = 43;
export const DLM_KILLFAIL = 44;
export const DLM_ATTACHEDGROUP = 45;
export const DLM_NO_GROUP = 46;
export const DLM_ENAMETOOLONG = 47;
export const DLM_TOOMANYRD = 48;
export const DLM_IS_PR = 49;
export const DLM_NOT_PR = 50;
export const DLM_IVRDID = 51;
export const DLM_PR_RD_MISMATCH = 52;
export const DLM_IVHNDL = 53;
export const DLM_EALREADY = 54;
export const DLM_EINPROGRESS = 55;
export const DLM_PUBNS_DISALLOW = 56;

/** dlm_sperrno's answer for a number that is no status ("DLM_ILLEGAL_EEROR" [sic], as Tru64 spells it). */
export const DLM_ILLEGAL_ERROR_TEXT = 'DLM_ILLEGAL_EEROR: illegal DLM error status';

const table: ReadonlyArray<readonly [number, string, string]> = [
  [DLM_SUCCESS, 'DLM_SUCCESS', 'normal successful completion'],
  [DLM_SYNCH, 'DLM_SYNCH', 'lock granted synchronously, no completion notification will follow'],
  [DLM_SUCCVALNOTVALID, 'DLM_SUCCVALNOTVALID', 'lock granted, but the value block is marked invalid'],
  [DLM_SYNCVALNOTVALID, 'DLM_SYNCVALNOTVALID', 'lock granted synchronously, but the value block is marked invalid'],
  [DLM_MORE_TO_RECOVER, 'DLM_MORE_TO_RECOVER', 'recovery domain has more resources to recover'],
  [DLM_MORE_TO_TRAVERSE, 'DLM_MORE_TO_TRAVERSE', 'recovery domain traversal is not complete'],
  [DLM_ABORT, 'DLM_ABORT', 'lock request was dequeued before it could be granted'],
  [DLM_ATTACHED, 'DLM_ATTACHED', 'already attached'],
  [DLM_BADPARAM, 'DLM_BADPARAM', 'bad parameter or illegal flags'],
  [DLM_CANCEL, 'DLM_CANCEL', 'conversion request was canceled'],
  [DLM_CANCELGRANT, 'DLM_CANCELGRANT', 'request was granted before it could be canceled'],
  [DLM_CANCELWAIT, 'DLM_CANCELWAIT', 'lock was never granted; cancel it with DLM_CANCELWAITOK'],
  [DLM_CVTUNGRANT, 'DLM_CVTUNGRANT', 'attempted to convert a lock that is not granted'],
  [DLM_DEADLOCK, 'DLM_DEADLOCK', 'request chosen as deadlock victim'],
  [DLM_EFAULT, 'DLM_EFAULT', 'bad address in a parameter'],
  [DLM_ENOENT, 'DLM_ENOENT', 'no such object'],
  [DLM_ENOSYS, 'DLM_ENOSYS', 'the DLM is not enabled'],
  [DLM_HASLOCKS, 'DLM_HASLOCKS', 'locks are still held'],
  [DLM_INSFMEM, 'DLM_INSFMEM', 'the DLM is out of memory'],
  [DLM_INTR, 'DLM_INTR', 'call interrupted'],
  [DLM_IVBUFLEN, 'DLM_IVBUFLEN', 'resource name length is illegal'],
  [DLM_IVLOCKID, 'DLM_IVLOCKID', 'bad lock id'],
  [DLM_LKBUSY, 'DLM_LKBUSY', 'lock has a request in progress'],
  [DLM_NOACCESS, 'DLM_NOACCESS', 'access denied'],
  [DLM_NOLOCKID, 'DLM_NOLOCKID', 'no lock id available'],
  [DLM_NOTATTACHED, 'DLM_NOTATTACHED', 'not attached'],
  [DLM_NOTQUEUED, 'DLM_NOTQUEUED', 'request not queued: it could not be granted at once and DLM_NOQUEUE was given'],
  [DLM_PARNOTGRANT, 'DLM_PARNOTGRANT', 'parent lock is not granted'],
  [DLM_RETRY, 'DLM_RETRY', 'retry the request'],
  [DLM_SUBLOCKS, 'DLM_SUBLOCKS', 'lock has sublocks'],
  [DLM_TIMEOUT, 'DLM_TIMEOUT', 'request timed out'],
  [DLM_TOOMANYNS, 'DLM_TOOMANYNS', 'too many namespaces'],
  [DLM_UNEXPERR, 'DLM_UNEXPERR', 'unexpected error'],
  [DLM_HASPROCS, 'DLM_HASPROCS', 'processes are still attached'],
  [DLM_KILLFAIL, 'DLM_KILLFAIL', 'an attached process could not be killed'],
  [DLM_ATTACHEDGROUP, 'DLM_ATTACHEDGROUP', 'attached to a group lock container of this namespace'],
  [DLM_NO_GROUP, 'DLM_NO_GROUP', 'not attached to a group lock container'],
  [DLM_ENAMETOOLONG, 'DLM_ENAMETOOLONG', 'name too long'],
  [DLM_TOOMANYRD, 'DLM_TOOMANYRD', 'too many recovery domains'],
  [DLM_IS_PR, 'DLM_IS_PR', 'locking a persistent resource as non-persistent'],
  [DLM_NOT_PR, 'DLM_NOT_PR', 'locking a non-persistent resource as persistent'],
  [DLM_IVRDID, 'DLM_IVRDID', 'invalid recovery domain id'],
  [DLM_PR_RD_MISMATCH, 'DLM_PR_RD_MISMATCH', 'persistent resource belongs to another recovery domain'],
  [DLM_IVHNDL, 'DLM_IVHNDL', 'invalid collection handle'],
  [DLM_EALREADY, 'DLM_EALREADY', 'a collection is already in progress for this handle'],
  [DLM_EINPROGRESS, 'DLM_EINPROGRESS', 'recovery of this domain is in progress elsewhere'],
  [DLM_PUBNS_DISALLOW, 'DLM_PUBNS_DISALLOW', 'public namespace disallowed'],
];

const names = new Map<number, string>();
const texts = new Map<number, string>();
for (const [n, name, text] of table) {
  names.set(n, name);
  texts.set(n, `${name}: ${text}`);
}

/** The symbolic name of a status ("DLM_NOTQUEUED"), or undefined for a number that is no status. */
export function statusName(stat: DlmStatus): string | undefined {
  return names.get(stat);
}

/** dlm_sperrno: the message text of a status. */
export function sperrno(stat: DlmStatus): string {
  return texts.get(stat) ?? DLM_ILLEGAL_ERROR_TEXT;
}

/** Where dlm_perrno / dlm_perror write; stderr unless a caller passes its own sink. */
export type TextSink = (line: string) => void;
const stderrSink: TextSink = (line) => {
  process.stderr.write(line);
};

/** dlm_perrno: prints the message text of a status on stderr. */
export function perrno(stat: DlmStatus, sink: TextSink = stderrSink): void {
  sink(`${sperrno(stat)}\n`);
}

/** dlm_perror: prints `s`, a colon and the message text of a status on stderr. */
export function perror(s: string, stat: DlmStatus, sink: TextSink = stderrSink): void {
  sink(s ? `${s}: ${sperrno(stat)}\n` : `${sperrno(stat)}\n`);
}
