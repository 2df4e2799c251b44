// Lock modes, request flags, limits and lock states of the TruCluster DLM API.
//
// Mode numbers are Tru64's (Ingres' mode tables index them 1..6 with 0 unused).
// Flag bit values were not recovered from any source: GAP decision (docs/decisions.md), the bits below
// are ours; only their names are Tru64's. A service layer must carry the names' values as defined here.

export type LockMode = number;

/** No mode: a request that was never granted has this as its granted mode (dlm_get_lkinfo.grmode). */
export const DLM_NOMODE = 0;
/** Null: grants no access; keeps the resource and its value block alive. */
export const DLM_NLMODE = 1;
/** Concurrent read. */
export const DLM_CRMODE = 2;
/** Concurrent write. */
export const DLM_CWMODE = 3;
/** Protected read (traditional share). */
export const DLM_PRMODE = 4;
/** Protected write (update; allows CR readers). */
export const DLM_PWMODE = 5;
/** Exclusive. */
export const DLM_EXMODE = 6;

export const MODE_NAMES: readonly string[] = ['--', 'NL', 'CR', 'CW', 'PR', 'PW', 'EX'];

// ---- request flags (dlm_flags_t) ----------------------------------------------------------------
/** Read the value block on grant; write it on down-conversion or unlock from PW/EX. Needs `valb`. */
export const DLM_VALB = 0x0001;
/** Report an immediate grant as DLM_SYNCH (no completion routine will run). */
export const DLM_SYNCSTS = 0x0002;
/** Fail with DLM_NOTQUEUED instead of waiting. */
export const DLM_NOQUEUE = 0x0004;
/** Conversions: queue behind other conversions even when compatible (VMS 6-7). */
export const DLM_QUECVT = 0x0008;
/** New NL requests: grant at once without regard to the conversion and wait queues (VMS 6-10). */
export const DLM_EXPEDITE = 0x0010;
/** Lock a persistent resource of a recovery domain (needs `rdId`). */
export const DLM_PERSIST = 0x0020;
/** Deadlock detection ignores this request as a waiter. */
export const DLM_NODLCKWT = 0x0040;
/** Deadlock detection ignores this lock as a blocker (its holder releases on blocking notification). */
export const DLM_NODLCKBLK = 0x0080;
/** Create the lock in the caller's group lock container. */
export const DLM_GROUP_LOCK = 0x0100;
/** `tranid` is meaningful: deadlock detection works on the transaction, not the process. */
export const DLM_TXID_LOCAL = 0x0200;
/** dlm_unlock / dlm_cvt down from PW or EX: mark the value block invalid. */
export const DLM_INVVALBLK = 0x0400;
/** dlm_cancel: also dequeue a waiting new request. */
export const DLM_CANCELWAITOK = 0x0800;

// ---- dlm_nsjoin flags ---------------------------------------------------------------------------
/** nsid is a UID (0 = the systemwide namespace, root only). */
export const DLM_USER = 0x1000;
/** nsid is a GID; the caller must be a member of the group. */
export const DLM_GROUP = 0x2000;
/** Joining a namespace already joined returns its handle and DLM_SUCCESS instead of DLM_ATTACHED. */
export const DLM_JOIN_SAME_OK = 0x4000;

// ---- group lock container flags (dlm_glc_flags_t) -----------------------------------------------
/** Destroy the container, its locks and its processes when the creator exits. */
export const DLM_GLC_OWNED = 0x1;
/** Keep the container after its last process detaches. */
export const DLM_GLC_PERM = 0x2;
/** dlm_glc_destroy: destroy even though the container holds locks (no process may be attached). */
export const DLM_GLC_LOCKS = 0x4;
/** dlm_glc_destroy: destroy even though processes are attached; they are killed. */
export const DLM_GLC_FORCE = 0x8;

// ---- recovery domain flags (dlm_rd_flags_t) -----------------------------------------------------
/** Attach the calling process to the recovery domain. */
export const DLM_RD_PROCESS = 0x1;
/** Attach the caller's process lock group (its group lock container) to the recovery domain. */
export const DLM_RD_GROUP = 0x2;

// ---- lock states (usr_lk_states_t; values are a GAP, ours) --------------------------------------
export const DLM_LK_GRANTED = 1;
export const DLM_LK_CONVERTING = 2;
export const DLM_LK_WAITING = 3;
export const LKSTATE_NAMES: readonly string[] = ['', 'granted', 'converting', 'waiting'];

// ---- limits (GAP decisions where Tru64's numbers were not recovered) -----------------------------
/** Maximum resource name length in bytes. Tru64's value was not recovered; VMS has 31, Linux 64. We take 64. */
export const DLM_RESNAMELEN = 64;
/** Value block size in bytes (Tru64: DLM_VALBLKSIZE longwords; Ingres sized its buffer at 32 bytes). */
export const DLM_VALBLKSIZE = 32;
/** Maximum namespaces one process may join at once; handles run 1..DLM_NSPROCMAX. */
export const DLM_NSPROCMAX = 64;
/** Maximum recovery domain name length. */
export const DLM_RDNAMELEN = 32;
/** Maximum recovery domain handles one process may hold (beyond: DLM_TOOMANYRD). */
export const DLM_RDPROCMAX = 64;

// ---- signals (Linux numbering: the engine runs on Linux) ----------------------------------------
export const SIGKILL = 9;
export const SIGSTOP = 19;
export const SIGIO = 29;
/** Highest signal number dlm_set_signal accepts (Linux _NSIG - 1). */
export const SIGMAX = 64;
/**
 * GAP decision: the signal a process has before it calls dlm_set_signal. The man page asks for
 * dlm_set_signal before the first lock request but does not say what happens otherwise; Ingres used
 * SIGIO. We default to SIGIO, so notifications are delivered without polling unless the process calls
 * setSignal(0).
 */
export const DLM_DEFAULT_SIGNAL = SIGIO;
