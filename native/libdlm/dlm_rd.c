/*
 * Recovery domains: dlm_rd_attach, dlm_rd_detach, dlm_rd_collect, dlm_rd_validate.
 * A collection is allocated by dlm_rd_collect and freed by the dlm_rd_validate that completes it
 * (DLM_SUCCESS or DLM_MORE_TO_RECOVER), which sets *hndl to NULL.
 */
#include "dlm_private.h"
#include <stdlib.h>
#include <string.h>

dlm_status_t dlm_rd_attach(char *name, dlm_rd_id_t *rd_id, dlm_rd_flags_t flags)
{
	if (!name || !rd_id) return DLM_EFAULT;
	size_t n = strlen(name);
	if (n > DLM_RDNAMELEN) return DLM_ENAMETOOLONG;
	struct wbuf w;
	w_begin(&w, OP_RD_ATTACH);
	w_str(&w, name, n);
	w_u32(&w, flags);
	return (dlm_status_t)dlm__call_u32(&w, rd_id);
}

dlm_status_t dlm_rd_detach(dlm_rd_id_t rd_id, dlm_rd_flags_t flags)
{
	uint32_t args[2] = { rd_id, flags };
	return (dlm_status_t)dlm__simple(OP_RD_DETACH, 2, args, NULL);
}

dlm_status_t dlm_rd_collect(dlm_rd_id_t rd_id, dlm_rd_collection_hndl_t *hndl, dlm_rd_flags_t flags)
{
	if (!hndl) return DLM_EFAULT;
	struct wbuf w;
	struct call c;
	struct rbuf r;
	w_begin(&w, OP_RD_COLLECT);
	w_u32(&w, rd_id);
	w_u32(&w, flags);
	int st = dlm__call(&w, &c);
	dlm__fields(&c, &r);
	if (st != DLM_SUCCESS || r.bad) {
		dlm__done(&c);
		return (dlm_status_t)st;
	}
	struct dlm_rd_collection *col = calloc(1, sizeof *col);
	if (!col) {
		dlm__done(&c);
		return DLM_INSFMEM;
	}
	col->hndl = r_u32(&r);
	col->count = r_u16(&r);
	col->resources = col->count ? calloc(col->count, sizeof *col->resources) : NULL;
	if (col->count && !col->resources) {
		free(col);
		dlm__done(&c);
		return DLM_INSFMEM;
	}
	for (uint_t i = 0; i < col->count && !r.bad; i++) {
		dlm_rd_resource_t *res = &col->resources[i];
		r_skip_str(&r); /* the namespace's key: the caller knows its namespace */
		uint8_t depth = r_u8(&r);
		for (uint8_t d = 0; d < depth; d++) res->resnlen = (ushort_t)r_short(&r, res->resnam, sizeof res->resnam);
		res->depth = depth ? (ushort_t)(depth - 1) : 0;
		r_valb(&r, &res->valb);
		res->vbseqnum = (uint_t)r_f64(&r);
	}
	int ok = r_done(&r);
	dlm__done(&c);
	if (!ok) {
		free(col->resources);
		free(col);
		return DLM_UNEXPERR;
	}
	*hndl = col;
	return DLM_SUCCESS;
}

dlm_status_t dlm_rd_validate(dlm_rd_id_t rd_id, dlm_rd_collection_hndl_t *hndl, dlm_rd_flags_t flags)
{
	if (!hndl || !*hndl) return DLM_IVHNDL;
	uint32_t args[3] = { rd_id, (*hndl)->hndl, flags };
	int st = dlm__simple(OP_RD_VALIDATE, 3, args, NULL);
	if (st == DLM_SUCCESS || st == DLM_MORE_TO_RECOVER) {
		free((*hndl)->resources);
		free(*hndl);
		*hndl = NULL;
	}
	return (dlm_status_t)st;
}
