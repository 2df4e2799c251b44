/*
 * Locks: dlm_lock, dlm_locktp, dlm_quelock, dlm_quelocktp (new requests), dlm_cvt, dlm_quecvt
 * (conversions), dlm_unlock, dlm_cancel.
 *
 * The synchronous calls block the calling thread until the request is granted or fails (the node
 * answers at once, then WAITDONE when the request had to wait); the queued calls return once the
 * node has queued the request, and the completion routine reports its outcome.  notprm and the
 * routines stay here (a request id, "rid", names them on the wire); value blocks of queued
 * requests are written into the caller's buffer when the completion arrives, before the routine runs.
 */
#include "dlm_private.h"
#include <string.h>

static int granted(int st)
{
	return st == DLM_SUCCESS || st == DLM_SYNCH || st == DLM_SUCCVALNOTVALID || st == DLM_SYNCVALNOTVALID;
}

/* The answer of LOCK, QUELOCK, CVT, QUECVT: lkid | u8 waits | valb?; 0 when it has none. */
static int lock_answer(struct call *c, dlm_lkid_t *id, int *waits, dlm_valb_t *vb, int *has)
{
	struct rbuf r;
	dlm__fields(c, &r);
	r_lkid(&r, id);
	*waits = r_u8(&r);
	*has = r_valb_opt(&r, vb);
	return r_done(&r);
}

static dlm_status_t request(int sync, dlm_nsp_t nsp, uchar_t *resnam, ushort_t resnlen, dlm_lkid_t *parlkid,
			    dlm_lkid_t *lkid, dlm_lkmode_t mode, dlm_valb_t *valb, dlm_flags_t flags,
			    callback_arg_t notprm, callback_arg_t hint, blk_callback_t blkrtn, uint_t timeout,
			    cpl_callback_t cplrtn, int tp, dlm_trans_id_t tranid, dlm_rd_id_t rd_id)
{
	if (!lkid || (resnlen && !resnam)) return DLM_EFAULT;
	if (resnlen > 255) return DLM_IVBUFLEN;
	if ((flags & DLM_VALB) && !valb) return DLM_BADPARAM;
	if ((unsigned)mode > 255) return DLM_BADPARAM;
	uint32_t rid = 0;
	uint8_t bits = 0;
	if (!sync || notprm || blkrtn) {
		rid = dlm__rid_new(notprm, blkrtn, sync ? NULL : cplrtn, !sync && (flags & DLM_VALB) ? valb : NULL);
		if (!rid) return DLM_INSFMEM;
		bits |= LK_NOTPRM;
		if (blkrtn) bits |= LK_BLK;
		if (!sync) bits |= LK_CPL;
	}
	if (!dlm__lkid_null(parlkid)) bits |= LK_PARENT;
	if (tp && (flags & DLM_TXID_LOCAL)) bits |= LK_TRANID;
	if (tp && (flags & DLM_PERSIST)) bits |= LK_RDID;
	if (hint) bits |= LK_HINT;
	if (flags & DLM_VALB) bits |= LK_VALB;

	struct wbuf w;
	w_begin(&w, sync ? OP_LOCK : OP_QUELOCK);
	w_u32(&w, (uint32_t)nsp);
	w_u8(&w, (uint8_t)mode);
	w_u32(&w, flags);
	w_u32(&w, timeout);
	w_u32(&w, rid);
	w_u8(&w, bits);
	w_short(&w, resnam, (uint8_t)resnlen);
	if (bits & LK_PARENT) w_lkid(&w, parlkid);
	if (bits & LK_TRANID) w_value(&w, (long long)tranid);
	if (bits & LK_RDID) w_u32(&w, rd_id);
	if (bits & LK_VALB) w_valb(&w, valb);
	if (bits & LK_HINT) w_value(&w, (long long)hint);

	struct call c;
	int st = dlm__call(&w, &c);
	dlm_lkid_t id;
	dlm_valb_t vb;
	int waits, has;
	if (!lock_answer(&c, &id, &waits, &vb, &has)) memset(&id, 0, sizeof id);
	if (!granted(st) || dlm__lkid_null(&id)) {
		/* refused: a new request leaves no lock behind */
		if (rid) dlm__rid_drop(rid);
		dlm__done(&c);
		return (dlm_status_t)st;
	}
	*lkid = id;
	if (has && valb) memcpy(valb, &vb, sizeof vb);
	int now = !waits && (sync || st != DLM_SUCCESS);
	if (rid) dlm__rid_set_lock(rid, &id, now, !sync && st == DLM_SUCCESS ? 1 : 0);
	if (waits) {
		st = dlm__wait(&c);
		if (c.wvalb && valb) memcpy(valb, &c.wvalbuf, sizeof c.wvalbuf);
		if (!granted(st)) dlm__lock_gone(&id);
		else dlm__lock_granted(&id);
	}
	dlm__done(&c);
	return (dlm_status_t)st;
}

dlm_status_t dlm_lock(dlm_nsp_t nsp, uchar_t *resnam, ushort_t resnlen, dlm_lkid_t *parlkid, dlm_lkid_t *lkid,
		      dlm_lkmode_t mode, dlm_valb_t *valb, dlm_flags_t flags, callback_arg_t notprm, callback_arg_t hint,
		      blk_callback_t blkrtn, uint_t timeout)
{
	return request(1, nsp, resnam, resnlen, parlkid, lkid, mode, valb, flags, notprm, hint, blkrtn, timeout, NULL, 0, 0, 0);
}

dlm_status_t dlm_locktp(dlm_nsp_t nsp, uchar_t *resnam, ushort_t resnlen, dlm_lkid_t *parlkid, dlm_lkid_t *lkid,
			dlm_lkmode_t mode, dlm_valb_t *valb, dlm_flags_t flags, callback_arg_t notprm, callback_arg_t hint,
			blk_callback_t blkrtn, uint_t timeout, dlm_trans_id_t tranid, dlm_rd_id_t rd_id)
{
	return request(1, nsp, resnam, resnlen, parlkid, lkid, mode, valb, flags, notprm, hint, blkrtn, timeout, NULL, 1,
		       tranid, rd_id);
}

dlm_status_t dlm_quelock(dlm_nsp_t nsp, uchar_t *resnam, ushort_t resnlen, dlm_lkid_t *parlkid, dlm_lkid_t *lkid,
			 dlm_lkmode_t mode, dlm_valb_t *valb, dlm_flags_t flags, callback_arg_t notprm, callback_arg_t hint,
			 blk_callback_t blkrtn, uint_t timeout, cpl_callback_t cplrtn)
{
	return request(0, nsp, resnam, resnlen, parlkid, lkid, mode, valb, flags, notprm, hint, blkrtn, timeout, cplrtn, 0,
		       0, 0);
}

dlm_status_t dlm_quelocktp(dlm_nsp_t nsp, uchar_t *resnam, ushort_t resnlen, dlm_lkid_t *parlkid, dlm_lkid_t *lkid,
			   dlm_lkmode_t mode, dlm_valb_t *valb, dlm_flags_t flags, callback_arg_t notprm, callback_arg_t hint,
			   blk_callback_t blkrtn, uint_t timeout, cpl_callback_t cplrtn, dlm_trans_id_t tranid,
			   dlm_rd_id_t rd_id)
{
	return request(0, nsp, resnam, resnlen, parlkid, lkid, mode, valb, flags, notprm, hint, blkrtn, timeout, cplrtn, 1,
		       tranid, rd_id);
}

/* A conversion replaces the lock's notprm, hint and blocking routine (TM dlm_cvt: notprm "replaces any
 * notprm parameter that may have been supplied on a prior request on this lock"). */
static dlm_status_t convert(int sync, dlm_lkid_t *lkid, dlm_lkmode_t mode, dlm_valb_t *valb, dlm_flags_t flags,
			    callback_arg_t notprm, callback_arg_t hint, blk_callback_t blkrtn, uint_t timeout,
			    cpl_callback_t cplrtn)
{
	if (!lkid) return DLM_EFAULT;
	if ((flags & DLM_VALB) && !valb) return DLM_BADPARAM;
	if ((unsigned)mode > 255) return DLM_BADPARAM;
	uint32_t rid = 0;
	uint8_t bits = CV_NOTPRM | CV_BLK_SET;
	if (!sync || notprm || blkrtn) {
		rid = dlm__rid_new(notprm, blkrtn, sync ? NULL : cplrtn, !sync && (flags & DLM_VALB) ? valb : NULL);
		if (!rid) return DLM_INSFMEM;
		dlm__rid_set_lock(rid, lkid, 1, 0);
	}
	if (blkrtn) bits |= CV_BLK_FN;
	if (!sync) bits |= CV_CPL_SET | CV_CPL_FN;
	if (hint) bits |= CV_HINT;
	if (flags & DLM_VALB) bits |= CV_VALB;

	struct wbuf w;
	w_begin(&w, sync ? OP_CVT : OP_QUECVT);
	w_lkid(&w, lkid);
	w_u8(&w, (uint8_t)mode);
	w_u32(&w, flags);
	w_u32(&w, timeout);
	w_u32(&w, rid);
	w_u8(&w, bits);
	if (bits & CV_VALB) w_valb(&w, valb);
	if (bits & CV_HINT) w_value(&w, (long long)hint);

	struct call c;
	int st = dlm__call(&w, &c);
	dlm_lkid_t id;
	dlm_valb_t vb;
	int waits, has;
	if (lock_answer(&c, &id, &waits, &vb, &has) && granted(st)) {
		if (has && valb) memcpy(valb, &vb, sizeof vb);
		if (rid && !sync && st == DLM_SUCCESS) dlm__rid_set_lock(rid, lkid, 1, 1);
		if (waits) {
			st = dlm__wait(&c);
			if (c.wvalb && valb) memcpy(valb, &c.wvalbuf, sizeof c.wvalbuf);
		}
	}
	dlm__done(&c);
	return (dlm_status_t)st;
}

dlm_status_t dlm_cvt(dlm_lkid_t *lkid, dlm_lkmode_t mode, dlm_valb_t *valb, dlm_flags_t flags, callback_arg_t notprm,
		     callback_arg_t hint, blk_callback_t blkrtn, uint_t timeout)
{
	return convert(1, lkid, mode, valb, flags, notprm, hint, blkrtn, timeout, NULL);
}

dlm_status_t dlm_quecvt(dlm_lkid_t *lkid, dlm_lkmode_t mode, dlm_valb_t *valb, dlm_flags_t flags, callback_arg_t notprm,
			callback_arg_t hint, blk_callback_t blkrtn, uint_t timeout, cpl_callback_t cplrtn)
{
	return convert(0, lkid, mode, valb, flags, notprm, hint, blkrtn, timeout, cplrtn);
}

dlm_status_t dlm_unlock(dlm_lkid_t *lkid, dlm_valb_t *valb, dlm_flags_t flags)
{
	if (!lkid) return DLM_EFAULT;
	if ((flags & DLM_VALB) && !valb) return DLM_BADPARAM;
	struct wbuf w;
	struct call c;
	w_begin(&w, OP_UNLOCK);
	w_lkid(&w, lkid);
	w_u32(&w, flags);
	w_valb_opt(&w, flags & DLM_VALB ? valb : NULL);
	w_u8(&w, 0); /* options: always answered */
	int st = dlm__call(&w, &c);
	dlm__done(&c);
	if (st == DLM_SUCCESS) dlm__lock_gone(lkid);
	return (dlm_status_t)st;
}

dlm_status_t dlm_cancel(dlm_lkid_t *lkid, dlm_flags_t flags)
{
	if (!lkid) return DLM_EFAULT;
	struct wbuf w;
	struct call c;
	w_begin(&w, OP_CANCEL);
	w_lkid(&w, lkid);
	w_u32(&w, flags);
	int st = dlm__call(&w, &c);
	dlm__done(&c);
	return (dlm_status_t)st;
}
