/*
 * libdlm internals: the marshaller (dlm_wire.c), the connection with its reader thread
 * (dlm_conn.c) and the notification queue (dlm_notify.c) that the call groups (dlm_ns.c,
 * dlm_lock.c, dlm_info.c, dlm_glc.c, dlm_rd.c) are written on.  The wire is docs/dlm-protocol.md.
 */
#ifndef DLM_PRIVATE_H
#define DLM_PRIVATE_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include "sys/dlm.h"

#define DLM_VALB_BYTES 32
#define MAX_CLIENT_FRAME (64u * 1024)
#define DLM_DEFAULT_SIGNAL SIGIO

/* request types (docs/dlm-protocol.md, "Requests"; src/dlm/service/protocol.ts OP) */
#define OP_NSJOIN 1
#define OP_NSLEAVE 2
#define OP_DETACH 3
#define OP_SETSIGNAL 4
#define OP_NOTIFY 5
#define OP_LOCK 6
#define OP_QUELOCK 7
#define OP_CVT 8
#define OP_QUECVT 9
#define OP_UNLOCK 10
#define OP_CANCEL 11
#define OP_GLC_CREATE 12
#define OP_GLC_ATTACH 13
#define OP_GLC_DETACH 14
#define OP_GLC_DESTROY 15
#define OP_RD_ATTACH 16
#define OP_RD_DETACH 17
#define OP_RD_COLLECT 18
#define OP_RD_VALIDATE 19
#define OP_LKINFO 20
#define OP_RSBINFO 21
/* node -> client messages (MSG) */
#define MSG_REPLY 0x81
#define MSG_WAITDONE 0x82
#define MSG_BLOCKING 0x83
#define MSG_COMPLETION 0x84
#define MSG_ERROR 0x85
#define MSG_RESET 0x86
#define MSG_LEASE 0x87 /* etcd membership: locks stand until then; libdlm does not act on it yet (ignored) */
/* LOCK/QUELOCK bits (LK) */
#define LK_NOTPRM 0x01
#define LK_BLK 0x02
#define LK_CPL 0x04
#define LK_PARENT 0x08
#define LK_TRANID 0x10
#define LK_RDID 0x20
#define LK_HINT 0x40
#define LK_VALB 0x80
/* CVT/QUECVT bits (CV) */
#define CV_NOTPRM 0x01
#define CV_BLK_SET 0x02
#define CV_BLK_FN 0x04
#define CV_CPL_SET 0x08
#define CV_CPL_FN 0x10
#define CV_HINT 0x20
#define CV_VALB 0x40
/* value tags (codec.ts WireValue) */
#define V_UNDEFINED 0
#define V_NULL 1
#define V_FALSE 2
#define V_TRUE 3
#define V_NUMBER 4
#define V_STRING 5
#define V_BYTES 6
#define V_BIGINT 7

/* ---- the marshaller (dlm_wire.c) ---- */
struct wbuf {
	unsigned char *p;
	size_t len, cap;
	int oom;
};
struct rbuf {
	const unsigned char *p;
	size_t len, pos;
	int bad;
};
void w_begin(struct wbuf *w, uint8_t op); /* length, op, reqId (filled by dlm__call) */
void w_u8(struct wbuf *w, uint8_t v);
void w_u16(struct wbuf *w, uint16_t v);
void w_u32(struct wbuf *w, uint32_t v);
void w_i32(struct wbuf *w, int32_t v);
void w_f64(struct wbuf *w, double v);
void w_bytes(struct wbuf *w, const void *p, size_t n);
void w_lkid(struct wbuf *w, const dlm_lkid_t *id);
void w_valb(struct wbuf *w, const dlm_valb_t *v);     /* 32 bytes */
void w_valb_opt(struct wbuf *w, const dlm_valb_t *v); /* u8 present | 32 bytes */
void w_value(struct wbuf *w, long long v);            /* a number, or a bigint beyond 2^53 */
void w_short(struct wbuf *w, const void *p, uint8_t n);
void w_str(struct wbuf *w, const char *s, size_t n);
void w_free(struct wbuf *w);

uint8_t r_u8(struct rbuf *r);
uint16_t r_u16(struct rbuf *r);
uint32_t r_u32(struct rbuf *r);
int32_t r_i32(struct rbuf *r);
double r_f64(struct rbuf *r);
void r_lkid(struct rbuf *r, dlm_lkid_t *id);
void r_valb(struct rbuf *r, dlm_valb_t *dst);      /* 32 bytes; dst may be NULL */
int r_valb_opt(struct rbuf *r, dlm_valb_t *dst);   /* present?; dst may be NULL */
long long r_value(struct rbuf *r);                 /* numbers and bigints; anything else is 0 */
size_t r_short(struct rbuf *r, void *dst, size_t cap);
void r_skip_str(struct rbuf *r);
int r_done(struct rbuf *r);                        /* read exactly to the end, well formed */

/* ---- calls (dlm_conn.c) ---- */
struct call {
	uint32_t id;
	uint8_t op;
	sem_t sem;
	int replied;
	int status;
	unsigned char *body; /* the answer's fields (after status) */
	size_t blen;
	int waitdone; /* WAITDONE (dlm_lock / dlm_cvt that waited) */
	int wstatus;
	int wvalb;
	dlm_valb_t wvalbuf;
	struct call *next;
};
/* Sends the request in w (freed) and waits for its answer: the status; c->body holds the fields.
 * Release c with dlm__done (and, between, dlm__wait for a WAITDONE). */
int dlm__call(struct wbuf *w, struct call *c);
int dlm__wait(struct call *c);
void dlm__done(struct call *c);
/* the answer's fields, or r->bad when the answer has none */
void dlm__fields(struct call *c, struct rbuf *r);

/* ---- request ids: what the library keeps of notprm, routines and queued value blocks ---- */
struct rid {
	uint32_t rid;
	callback_arg_t notprm;
	blk_callback_t blkrtn;
	cpl_callback_t cplrtn;
	dlm_valb_t *valb; /* a queued request's value block, filled by its completion */
	dlm_lkid_t lkid;  /* the lock, once known */
	int granted;      /* the lock was granted at least once */
	int pending_cpl;  /* completions to come */
	int dead;         /* the lock is gone; kept until its last completion arrives */
};
uint32_t dlm__rid_new(callback_arg_t notprm, blk_callback_t blk, cpl_callback_t cpl, dlm_valb_t *valb);
void dlm__rid_set_lock(uint32_t rid, const dlm_lkid_t *lkid, int granted, int pending);
void dlm__rid_drop(uint32_t rid);
void dlm__lock_gone(const dlm_lkid_t *lkid); /* every rid of the lock */
int dlm__rid_get(uint32_t rid, struct rid *out);  /* copies; 0 when unknown */
void dlm__lock_granted(const dlm_lkid_t *lkid);
int dlm__lkid_null(const dlm_lkid_t *id);

/* ---- notifications (dlm_notify.c) ---- */
struct note {
	struct note *next;
	int blocking;
	blk_callback_t blkrtn;
	cpl_callback_t cplrtn;
	callback_arg_t notprm, hint;
	dlm_lkid_t lkid;
	int mode_or_status;
};
struct note *dlm__note_alloc(void); /* reader thread only */
void dlm__note_post(struct note *n); /* queues it and raises the signal */
int dlm__deliver(void);              /* runs what is queued; the number run */
int dlm__signal(void);               /* the notification signal (0: poll only) */
void dlm__signal_set(int sig);       /* installs the library's handler */
void dlm__notify_reset(void);        /* after fork */

/* signal blocking around library critical sections (a routine may call the library) */
void dlm__block(sigset_t *old);
void dlm__unblock(const sigset_t *old);

int dlm__simple(uint8_t op, int nargs, const uint32_t *args, uint32_t *out);
int dlm__call_u32(struct wbuf *w, uint32_t *out);
#endif
