/* No daemon for the node: every call that needs it fails ENOTREADY; library-side handle functions still work. */
#include "check.h"

int main(void)
{
	char *v;
	dm_sessid_t sid;
	ERR(dm_init_service(&v), ENOTREADY);
	ERR(dm_create_session(DM_NO_SESSION, "x", &sid), ENOTREADY);
	/* strerror(198) is "Unknown error 198": dm_strerror names it, and defers to strerror otherwise. */
	EQ(strstr(dm_strerror(ENOTREADY), "ENOTREADY") != NULL, 1);
	EQ(strstr(dm_strerror(ENOTREADY), "node daemon") != NULL, 1);
	EQ(strcmp(dm_strerror(EINVAL), strerror(EINVAL)), 0);
	dm_fsid_t fsid = 42;
	void *h;
	size_t hl;
	OK(dm_make_fshandle(&fsid, &h, &hl));
	EQ(hl, 8);
	dm_fsid_t back;
	OK(dm_handle_to_fsid(h, hl, &back));
	EQ(back, 42);
	dm_handle_free(h, hl);
	DONE_OK();
}
