/* Access rights on a token (request with/without DM_RR_WAIT, query, upgrade, downgrade, release)
 * and object references (hold, query, rele). */
#include "check.h"

int main(int argc, char **argv)
{
	if (argc < 2) FAILX("usage: rights MNT");
	const char *mnt = argv[1];
	dm_sessid_t sid = new_session("libdm rights");
	char *f = mnt_path(mnt, "rf");
	write_file(f, "x", 1);
	void *fsh, *h;
	size_t fshl, hl;
	OK(dm_path_to_fshandle((char *)mnt, &fsh, &fshl));
	OK(dm_path_to_handle(f, &h, &hl));
	dm_token_t tok;
	OK(dm_create_userevent(sid, 0, NULL, &tok));
	dm_right_t r = 99;
	OK(dm_query_right(sid, h, hl, tok, &r));
	EQ(r, DM_RIGHT_NULL);
	ERR(dm_request_right(sid, h, hl, tok, 0, DM_RIGHT_SHARED), EAGAIN);
	OK(dm_request_right(sid, h, hl, tok, DM_RR_WAIT, DM_RIGHT_SHARED));
	OK(dm_query_right(sid, h, hl, tok, &r));
	EQ(r, DM_RIGHT_SHARED);
	ERR(dm_request_right(sid, h, hl, tok, DM_RR_WAIT, DM_RIGHT_EXCL), EACCES);
	OK(dm_upgrade_right(sid, h, hl, tok));
	OK(dm_query_right(sid, h, hl, tok, &r));
	EQ(r, DM_RIGHT_EXCL);
	OK(dm_downgrade_right(sid, h, hl, tok));
	OK(dm_query_right(sid, h, hl, tok, &r));
	EQ(r, DM_RIGHT_SHARED);
	ERR(dm_downgrade_right(sid, h, hl, tok), EPERM);
	OK(dm_release_right(sid, h, hl, tok));
	OK(dm_query_right(sid, h, hl, tok, &r));
	EQ(r, DM_RIGHT_NULL);
	ERR(dm_release_right(sid, h, hl, tok), EACCES);
	ERR(dm_upgrade_right(sid, h, hl, tok), EPERM);
	ERR(dm_downgrade_right(sid, h, hl, tok), EPERM);
	ERR(dm_request_right(sid, h, hl, DM_NO_TOKEN, DM_RR_WAIT, DM_RIGHT_SHARED), EINVAL);
	ERR(dm_request_right(sid, fsh, fshl, tok, DM_RR_WAIT, DM_RIGHT_SHARED), EINVAL);
	ERR(dm_request_right(sid, DM_GLOBAL_HANP, DM_GLOBAL_HLEN, tok, DM_RR_WAIT, DM_RIGHT_SHARED), EBADF);
	ERR(dm_query_right(sid, h, hl, 99999999, &r), EINVAL);

	/* with EXCL held by the token, a DM_NO_TOKEN call of the same session still answers once released */
	OK(dm_request_right(sid, h, hl, tok, DM_RR_WAIT, DM_RIGHT_EXCL));
	dm_attrname_t an;
	attrname(&an, "rt");
	OK(dm_set_dmattr(sid, h, hl, tok, &an, 0, 2, "ok"));
	OK(dm_respond_event(sid, tok, DM_RESP_CONTINUE, 0, 0, NULL));     /* drops the rights */
	ERR(dm_query_right(sid, h, hl, tok, &r), ESRCH);
	OK(dm_set_dmattr(sid, h, hl, DM_NO_TOKEN, &an, 0, 3, "yes"));

	/* object references */
	OK(dm_create_userevent(sid, 0, NULL, &tok));
	EQ(dm_obj_ref_query(sid, tok, h, hl), 0);
	OK(dm_obj_ref_hold(sid, tok, h, hl));
	EQ(dm_obj_ref_query(sid, tok, h, hl), 1);
	ERR(dm_obj_ref_hold(sid, tok, h, hl), EBUSY);
	OK(dm_obj_ref_rele(sid, tok, h, hl));
	EQ(dm_obj_ref_query(sid, tok, h, hl), 0);
	ERR(dm_obj_ref_rele(sid, tok, h, hl), EACCES);
	OK(dm_respond_event(sid, tok, DM_RESP_CONTINUE, 0, 0, NULL));
	OK(dm_destroy_session(sid));
	DONE_OK();
}
