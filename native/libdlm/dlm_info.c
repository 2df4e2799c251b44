/* Information: dlm_get_lkinfo, dlm_get_rsbinfo. */
#include "dlm_private.h"
#include <string.h>

dlm_status_t dlm_get_lkinfo(dlm_lkid_t *lkid, dlm_lkinfo_t *info)
{
	if (!lkid || !info) return DLM_EFAULT;
	struct wbuf w;
	struct call c;
	struct rbuf r;
	w_begin(&w, OP_LKINFO);
	w_lkid(&w, lkid);
	int st = dlm__call(&w, &c);
	dlm__fields(&c, &r);
	if (st != DLM_SUCCESS || r.bad) {
		dlm__done(&c);
		return (dlm_status_t)st;
	}
	dlm_lkinfo_t i;
	memset(&i, 0, sizeof i);
	i.resnlen = (ushort_t)r_short(&r, i.resnam, sizeof i.resnam);
	r_lkid(&r, &i.parlkid);
	i.rqmode = (dlm_lkmode_t)r_u8(&r);
	r_valb_opt(&r, NULL);
	i.flags = r_u32(&r);
	uint32_t np = r_u32(&r);
	i.hint = (callback_arg_t)r_value(&r);
	uint32_t blk = r_u32(&r);
	i.timeout = r_u32(&r);
	uint32_t cpl = r_u32(&r);
	i.sig = r_i32(&r);
	i.grmode = (dlm_lkmode_t)r_u8(&r);
	i.lkstate = (usr_lk_states_t)r_u8(&r);
	i.lk_pid = (pid_t)r_u32(&r);
	int ok = r_done(&r);
	dlm__done(&c);
	if (!ok) return DLM_UNEXPERR;
	/* notprm, routines and the pending request's value block buffer are this process' own */
	struct rid e;
	if (dlm__rid_get(np, &e)) i.notprm = e.notprm;
	if (dlm__rid_get(blk, &e)) i.blkrtn = e.blkrtn;
	if (dlm__rid_get(cpl, &e)) {
		i.cplrtn = e.cplrtn;
		if (e.pending_cpl > 0) i.valb = e.valb;
	}
	*info = i;
	return DLM_SUCCESS;
}

dlm_status_t dlm_get_rsbinfo(dlm_nsp_t nsp, uchar_t *resnam, ushort_t resnlen, dlm_rsbinfo_t *info, dlm_lkid_t *par_lkid)
{
	if (!info || (resnlen && !resnam)) return DLM_EFAULT;
	if (resnlen > 255) return DLM_IVBUFLEN;
	struct wbuf w;
	struct call c;
	struct rbuf r;
	w_begin(&w, OP_RSBINFO);
	w_u32(&w, (uint32_t)nsp);
	w_short(&w, resnam, (uint8_t)resnlen);
	w_lkid(&w, par_lkid);
	int st = dlm__call(&w, &c);
	dlm__fields(&c, &r);
	if (r.bad) {
		dlm__done(&c);
		return (dlm_status_t)st;
	}
	dlm_rsbinfo_t i;
	memset(&i, 0, sizeof i);
	i.vbstatus = (short)r_i32(&r);
	i.vbseqnum = (uint_t)r_f64(&r);
	i.subrescnt = r_u32(&r);
	i.lckcnt = r_u32(&r);
	i.blkastcnt = r_u32(&r);
	i.ggcnt = r_u32(&r);
	i.ggmode = (dlm_lkmode_t)r_u8(&r);
	i.cvtqmode = (dlm_lkmode_t)r_u8(&r);
	i.wtqmode = (dlm_lkmode_t)r_u8(&r);
	r_valb(&r, &i.valb);
	int ok = r_done(&r);
	dlm__done(&c);
	if (!ok) return DLM_UNEXPERR;
	*info = i;
	return (dlm_status_t)st;
}
