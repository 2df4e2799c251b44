/* Namespaces: dlm_nsjoin, dlm_nsleave, dlm_detach. */
#include "dlm_private.h"

/* Sends the request in w; the status, and the answer's one u32 field in *out (when given, and
 * when the answer is DLM_SUCCESS with that field). */
int dlm__call_u32(struct wbuf *w, uint32_t *out)
{
	struct call c;
	struct rbuf r;
	int st = dlm__call(w, &c);
	if (out) {
		dlm__fields(&c, &r);
		uint32_t v = r_u32(&r);
		if (st == DLM_SUCCESS && r_done(&r)) *out = v;
	}
	dlm__done(&c);
	return st;
}

/* A request of u32 fields only. */
int dlm__simple(uint8_t op, int nargs, const uint32_t *args, uint32_t *out)
{
	struct wbuf w;
	w_begin(&w, op);
	for (int i = 0; i < nargs; i++) w_u32(&w, args[i]);
	return dlm__call_u32(&w, out);
}

dlm_status_t dlm_nsjoin(dlm_nsid_t nsid, dlm_nsp_t *nsp, dlm_flags_t flags)
{
	if (!nsp) return DLM_EFAULT;
	uint32_t args[2] = { nsid, flags }, h = 0;
	/* DLM_ATTACHED "does not return a namespace handle": only DLM_SUCCESS writes it */
	int st = dlm__simple(OP_NSJOIN, 2, args, &h);
	if (st == DLM_SUCCESS) *nsp = (dlm_nsp_t)h;
	return (dlm_status_t)st;
}

dlm_status_t dlm_nsleave(dlm_nsp_t *nsp, dlm_flags_t flags)
{
	if (!nsp) return DLM_EFAULT;
	if (*nsp < 0 || *nsp > DLM_NSPROCMAX) return DLM_NOTATTACHED;
	uint32_t args[2] = { (uint32_t)*nsp, flags };
	return (dlm_status_t)dlm__simple(OP_NSLEAVE, 2, args, NULL);
}

dlm_status_t dlm_detach(void) { return (dlm_status_t)dlm__simple(OP_DETACH, 0, NULL, NULL); }
