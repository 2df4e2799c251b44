/*
 * <sys/dlm.h> - the TruCluster Server distributed lock manager API, for dmapifs' DLM.
 *
 * Calls, types, flags and status names as TruCluster's libdlm (dlm_lock(3) ... dlm_glc_destroy(3));
 * status numbers as Tru64's (Ingres' cx_translate_status).  Flag bit values, lock states and limits
 * that no Tru64 source gives are dmapifs' own (src/dlm/constants.ts; docs/dlm-c-api.md).
 * Library: libdlm-dmapifs (link with -ldlm from `pkg-config --libs dlm`, or -ldlm-dmapifs), which
 * talks to the node daemon over <run>/<node>/dlm.sock (docs/dlm-protocol.md).
 *
 * C99 and C++ clean.
 */
#ifndef _SYS_DLM_H_
#define _SYS_DLM_H_

#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Tru64's short type names, which the TruCluster prototypes use. */
#ifndef _DLM_TRU64_TYPES
#define _DLM_TRU64_TYPES
typedef unsigned char uchar_t;
typedef unsigned short ushort_t;
typedef unsigned int uint_t;
#endif

/* ---- limits -------------------------------------------------------------------------------- */
#define DLM_RESNAMELEN 64 /* largest resource name, bytes */
#define DLM_VALBLKSIZE 8  /* value block size in longwords (32 bytes) */
#define DLM_NSPROCMAX 64  /* namespaces one process may join */
#define DLM_RDNAMELEN 32  /* largest recovery domain name, bytes */
#define DLM_RDPROCMAX 64  /* recovery domain handles one process may hold */

/* ---- status (dlm_status_t) ----------------------------------------------------------------- */
typedef enum dlm_status {
	DLM_SUCCESS = 0,
	DLM_SYNCH = 1,
	DLM_SUCCVALNOTVALID = 2,
	DLM_SYNCVALNOTVALID = 3,
	DLM_MORE_TO_RECOVER = 4,
	DLM_MORE_TO_TRAVERSE = 5,
	DLM_ABORT = 16,
	DLM_ATTACHED = 17,
	DLM_BADPARAM = 18,
	DLM_CANCEL = 19,
	DLM_CANCELGRANT = 20,
	DLM_CANCELWAIT = 21,
	DLM_CVTUNGRANT = 22,
	DLM_DEADLOCK = 23,
	DLM_EFAULT = 24,
	DLM_ENOENT = 25,
	DLM_ENOSYS = 26,
	DLM_HASLOCKS = 27,
	DLM_INSFMEM = 28,
	DLM_INTR = 29,
	DLM_IVBUFLEN = 30,
	DLM_IVLOCKID = 31,
	DLM_LKBUSY = 32,
	DLM_NOACCESS = 33,
	DLM_NOLOCKID = 34,
	DLM_NOTATTACHED = 35,
	DLM_NOTQUEUED = 36,
	DLM_PARNOTGRANT = 37,
	DLM_RETRY = 38,
	DLM_SUBLOCKS = 39,
	DLM_TIMEOUT = 40,
	DLM_TOOMANYNS = 41,
	DLM_UNEXPERR = 42,
	DLM_HASPROCS = 43,
	DLM_KILLFAIL = 44,
	DLM_ATTACHEDGROUP = 45,
	DLM_NO_GROUP = 46,
	DLM_ENAMETOOLONG = 47,
	DLM_TOOMANYRD = 48,
	DLM_IS_PR = 49,
	DLM_NOT_PR = 50,
	DLM_IVRDID = 51,
	DLM_PR_RD_MISMATCH = 52,
	DLM_IVHNDL = 53,
	DLM_EALREADY = 54,
	DLM_EINPROGRESS = 55,
	DLM_PUBNS_DISALLOW = 56
} dlm_status_t;

/* ---- lock modes (dlm_lkmode_t) ------------------------------------------------------------- */
typedef enum dlm_lkmode {
	DLM_NOMODE = 0, /* a request never granted has this granted mode */
	DLM_NLMODE = 1, /* null */
	DLM_CRMODE = 2, /* concurrent read */
	DLM_CWMODE = 3, /* concurrent write */
	DLM_PRMODE = 4, /* protected read */
	DLM_PWMODE = 5, /* protected write */
	DLM_EXMODE = 6  /* exclusive */
} dlm_lkmode_t;

/* ---- request flags (dlm_flags_t) ----------------------------------------------------------- */
typedef unsigned int dlm_flags_t;
#define DLM_VALB 0x0001         /* read the value block; write it down from PW/EX */
#define DLM_SYNCSTS 0x0002      /* immediate grant returns DLM_SYNCH, no completion routine */
#define DLM_NOQUEUE 0x0004      /* fail with DLM_NOTQUEUED instead of waiting */
#define DLM_QUECVT 0x0008       /* conversion queues behind other conversions */
#define DLM_EXPEDITE 0x0010     /* new NL request granted regardless of the queues */
#define DLM_PERSIST 0x0020      /* persistent resource in a recovery domain (rd_id) */
#define DLM_NODLCKWT 0x0040     /* not a waiter for deadlock detection */
#define DLM_NODLCKBLK 0x0080    /* not a blocker for deadlock detection */
#define DLM_GROUP_LOCK 0x0100   /* the lock belongs to the caller's group lock container */
#define DLM_TXID_LOCAL 0x0200   /* tranid is meaningful */
#define DLM_INVVALBLK 0x0400    /* dlm_unlock/dlm_cvt: mark the value block invalid */
#define DLM_CANCELWAITOK 0x0800 /* dlm_cancel: also dequeue a waiting new request */
/* dlm_nsjoin */
#define DLM_USER 0x1000         /* nsid is a UID (0: the systemwide namespace, root only) */
#define DLM_GROUP 0x2000        /* nsid is a GID */
#define DLM_JOIN_SAME_OK 0x4000 /* joining again returns the handle and DLM_SUCCESS */

/* ---- group lock containers ----------------------------------------------------------------- */
typedef unsigned int dlm_glc_id_t;
typedef unsigned int dlm_glc_flags_t;
#define DLM_GLC_OWNED 0x1 /* creator's exit destroys the container, its locks and processes */
#define DLM_GLC_PERM 0x2  /* container outlives its last process */
#define DLM_GLC_LOCKS 0x4 /* dlm_glc_destroy: even with locks (no process attached) */
#define DLM_GLC_FORCE 0x8 /* dlm_glc_destroy: even with processes attached (they are killed) */

/* ---- recovery domains ---------------------------------------------------------------------- */
typedef unsigned int dlm_rd_id_t;
typedef unsigned int dlm_rd_flags_t;
#define DLM_RD_PROCESS 0x1 /* attach the calling process */
#define DLM_RD_GROUP 0x2   /* attach the caller's process lock group */

/* ---- lock states (usr_lk_states_t) --------------------------------------------------------- */
typedef enum usr_lk_states {
	DLM_LK_GRANTED = 1,
	DLM_LK_CONVERTING = 2,
	DLM_LK_WAITING = 3
} usr_lk_states_t;

/* ---- ids, value blocks, routines ----------------------------------------------------------- */
typedef int dlm_nsp_t;          /* namespace handle, 1..DLM_NSPROCMAX */
typedef unsigned int dlm_nsid_t; /* 0, a UID or a GID */

typedef struct dlm_lkid {
	unsigned long long seqn; /* sequence number (a slot's reuse count) */
	unsigned int hndl;       /* slot; 0 with seqn 0 = no lock */
	unsigned int reserved;
} dlm_lkid_t;

typedef struct dlm_valb {
	unsigned int valblk[DLM_VALBLKSIZE];
} dlm_valb_t;

typedef long callback_arg_t;          /* notprm, hint */
typedef unsigned long dlm_trans_id_t; /* with DLM_TXID_LOCAL */

/* Blocking notification: the holder's lock `lkid` blocks a request for `blocked_mode` whose hint is `hint`. */
typedef void (*blk_callback_t)(callback_arg_t notprm, callback_arg_t hint, dlm_lkid_t *lkid, dlm_lkmode_t blocked_mode);
/* Completion of a queued request (dlm_quelock, dlm_quecvt). */
typedef void (*cpl_callback_t)(callback_arg_t notprm, dlm_lkid_t *lkid, dlm_status_t status);

/* ---- info ---------------------------------------------------------------------------------- */
typedef struct dlm_lkinfo {
	char resnam[DLM_RESNAMELEN];
	ushort_t resnlen;
	dlm_lkid_t parlkid;
	dlm_lkmode_t rqmode;
	dlm_valb_t *valb;  /* the value block buffer of the caller's pending request, else NULL */
	dlm_flags_t flags;
	callback_arg_t notprm;
	callback_arg_t hint;
	blk_callback_t blkrtn;
	uint_t timeout;
	cpl_callback_t cplrtn;
	int sig;
	dlm_lkmode_t grmode;
	usr_lk_states_t lkstate;
	pid_t lk_pid;
} dlm_lkinfo_t;

typedef struct dlm_rsbinfo {
	short vbstatus;    /* DLM_SUCCESS, or DLM_SUCCVALNOTVALID when the value block is invalid */
	uint_t vbseqnum;   /* value block writes */
	uint_t subrescnt;  /* child resources */
	uint_t lckcnt;     /* locks: granted, converting, waiting */
	uint_t blkastcnt;  /* granted locks with a blocking routine */
	uint_t ggcnt;      /* granted locks */
	dlm_lkmode_t ggmode;  /* greatest granted mode */
	dlm_lkmode_t cvtqmode; /* mode at the head of the conversion queue */
	dlm_lkmode_t wtqmode;  /* mode at the head of the wait queue */
	dlm_valb_t valb;
} dlm_rsbinfo_t;

/* A resource of a recovery domain collection (dlm_rd_collect). */
typedef struct dlm_rd_resource {
	uchar_t resnam[DLM_RESNAMELEN]; /* the resource's own name (the last of its path) */
	ushort_t resnlen;
	ushort_t depth;    /* 0: a root resource; n: a sublock resource n levels down */
	uint_t vbseqnum;
	dlm_valb_t valb;   /* the value block as the failed holder left it */
} dlm_rd_resource_t;

typedef struct dlm_rd_collection {
	uint_t hndl;       /* the DLM's collection handle */
	uint_t count;      /* resources collected */
	dlm_rd_resource_t *resources;
} *dlm_rd_collection_hndl_t;

/* ---- calls --------------------------------------------------------------------------------- */
dlm_status_t dlm_nsjoin(dlm_nsid_t nsid, dlm_nsp_t *nsp, dlm_flags_t flags);
dlm_status_t dlm_nsleave(dlm_nsp_t *nsp, dlm_flags_t flags);
dlm_status_t dlm_detach(void);

dlm_status_t dlm_lock(dlm_nsp_t nsp, uchar_t *resnam, ushort_t resnlen, dlm_lkid_t *parlkid, dlm_lkid_t *lkid,
		      dlm_lkmode_t mode, dlm_valb_t *valb, dlm_flags_t flags, callback_arg_t notprm, callback_arg_t hint,
		      blk_callback_t blkrtn, uint_t timeout);
dlm_status_t dlm_locktp(dlm_nsp_t nsp, uchar_t *resnam, ushort_t resnlen, dlm_lkid_t *parlkid, dlm_lkid_t *lkid,
			dlm_lkmode_t mode, dlm_valb_t *valb, dlm_flags_t flags, callback_arg_t notprm, callback_arg_t hint,
			blk_callback_t blkrtn, uint_t timeout, dlm_trans_id_t tranid, dlm_rd_id_t rd_id);
dlm_status_t dlm_quelock(dlm_nsp_t nsp, uchar_t *resnam, ushort_t resnlen, dlm_lkid_t *parlkid, dlm_lkid_t *lkid,
			 dlm_lkmode_t mode, dlm_valb_t *valb, dlm_flags_t flags, callback_arg_t notprm, callback_arg_t hint,
			 blk_callback_t blkrtn, uint_t timeout, cpl_callback_t cplrtn);
dlm_status_t dlm_quelocktp(dlm_nsp_t nsp, uchar_t *resnam, ushort_t resnlen, dlm_lkid_t *parlkid, dlm_lkid_t *lkid,
			   dlm_lkmode_t mode, dlm_valb_t *valb, dlm_flags_t flags, callback_arg_t notprm, callback_arg_t hint,
			   blk_callback_t blkrtn, uint_t timeout, cpl_callback_t cplrtn, dlm_trans_id_t tranid,
			   dlm_rd_id_t rd_id);
dlm_status_t dlm_cvt(dlm_lkid_t *lkid, dlm_lkmode_t mode, dlm_valb_t *valb, dlm_flags_t flags, callback_arg_t notprm,
		     callback_arg_t hint, blk_callback_t blkrtn, uint_t timeout);
dlm_status_t dlm_quecvt(dlm_lkid_t *lkid, dlm_lkmode_t mode, dlm_valb_t *valb, dlm_flags_t flags, callback_arg_t notprm,
			callback_arg_t hint, blk_callback_t blkrtn, uint_t timeout, cpl_callback_t cplrtn);
dlm_status_t dlm_unlock(dlm_lkid_t *lkid, dlm_valb_t *valb, dlm_flags_t flags);
dlm_status_t dlm_cancel(dlm_lkid_t *lkid, dlm_flags_t flags);

int dlm_notify(void);
dlm_status_t dlm_set_signal(int newsig, int *oldsig);

dlm_status_t dlm_get_lkinfo(dlm_lkid_t *lkid, dlm_lkinfo_t *lkinfo);
dlm_status_t dlm_get_rsbinfo(dlm_nsp_t nsp, uchar_t *resnam, ushort_t resnlen, dlm_rsbinfo_t *rsbinfo,
			     dlm_lkid_t *par_lkid);

dlm_status_t dlm_glc_create(dlm_glc_id_t *id, dlm_glc_flags_t flags, dlm_nsp_t *ns_list, int ns_num);
dlm_status_t dlm_glc_attach(dlm_glc_id_t id, dlm_glc_flags_t flags);
dlm_status_t dlm_glc_detach(void);
dlm_status_t dlm_glc_destroy(dlm_glc_id_t id, dlm_glc_flags_t flags);

dlm_status_t dlm_rd_attach(char *name, dlm_rd_id_t *rd_id, dlm_rd_flags_t flags);
dlm_status_t dlm_rd_detach(dlm_rd_id_t rd_id, dlm_rd_flags_t flags);
dlm_status_t dlm_rd_collect(dlm_rd_id_t rd_id, dlm_rd_collection_hndl_t *hndl, dlm_rd_flags_t flags);
dlm_status_t dlm_rd_validate(dlm_rd_id_t rd_id, dlm_rd_collection_hndl_t *hndl, dlm_rd_flags_t flags);

void dlm_perrno(dlm_status_t stat);
void dlm_perror(char *s, dlm_status_t stat);
char *dlm_sperrno(dlm_status_t stat);

#ifdef __cplusplus
}
#endif
#endif /* _SYS_DLM_H_ */
