/* Group lock containers: dlm_glc_create, dlm_glc_attach, dlm_glc_detach, dlm_glc_destroy. */
#include "dlm_private.h"

dlm_status_t dlm_glc_create(dlm_glc_id_t *id, dlm_glc_flags_t flags, dlm_nsp_t *ns_list, int ns_num)
{
	if (!id || (ns_num > 0 && !ns_list)) return DLM_EFAULT;
	if (ns_num < 0 || ns_num > 255) return DLM_BADPARAM;
	struct wbuf w;
	w_begin(&w, OP_GLC_CREATE);
	w_u32(&w, flags);
	w_u8(&w, (uint8_t)ns_num);
	for (int i = 0; i < ns_num; i++) w_u32(&w, (uint32_t)ns_list[i]);
	return (dlm_status_t)dlm__call_u32(&w, id);
}

dlm_status_t dlm_glc_attach(dlm_glc_id_t id, dlm_glc_flags_t flags)
{
	uint32_t args[2] = { id, flags };
	return (dlm_status_t)dlm__simple(OP_GLC_ATTACH, 2, args, NULL);
}

dlm_status_t dlm_glc_detach(void) { return (dlm_status_t)dlm__simple(OP_GLC_DETACH, 0, NULL, NULL); }

dlm_status_t dlm_glc_destroy(dlm_glc_id_t id, dlm_glc_flags_t flags)
{
	uint32_t args[2] = { id, flags };
	return (dlm_status_t)dlm__simple(OP_GLC_DESTROY, 2, args, NULL);
}
