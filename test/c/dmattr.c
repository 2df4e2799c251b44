/* DM attributes: set/get (E2BIG with the size), remove, getall (chained dm_attrlist_t), limits,
 * set_return_on_destroy; inheritance is ENOSYS. */
#include "check.h"

int main(int argc, char **argv)
{
	if (argc < 2) FAILX("usage: dmattr MNT");
	const char *mnt = argv[1];
	dm_sessid_t sid = new_session("libdm dmattr");
	char *f = mnt_path(mnt, "af");
	write_file(f, "x", 1);
	void *fsh, *h;
	size_t fshl, hl;
	OK(dm_path_to_fshandle((char *)mnt, &fsh, &fshl));
	OK(dm_path_to_handle(f, &h, &hl));
	dm_attrname_t a1, a2, zero, miss;
	attrname(&a1, "hsm");
	attrname(&a2, "location");   /* exactly 8 bytes, no NUL */
	attrname(&miss, "nothere");
	memset(&zero, 0, sizeof zero);

	char buf[2048];
	size_t rlen = 0;
	ERR(dm_get_dmattr(sid, h, hl, DM_NO_TOKEN, &a1, sizeof buf, buf, &rlen), ENOENT);
	OK(dm_set_dmattr(sid, h, hl, DM_NO_TOKEN, &a1, 0, 3, "abc"));
	OK(dm_get_dmattr(sid, h, hl, DM_NO_TOKEN, &a1, sizeof buf, buf, &rlen));
	EQ(rlen, 3);
	CHECK(!memcmp(buf, "abc", 3), "value");
	rlen = 0;
	ERR(dm_get_dmattr(sid, h, hl, DM_NO_TOKEN, &a1, 1, buf, &rlen), E2BIG);
	EQ(rlen, 3);
	OK(dm_set_dmattr(sid, h, hl, DM_NO_TOKEN, &a1, 0, 6, "abcdef"));      /* replace */
	OK(dm_get_dmattr(sid, h, hl, DM_NO_TOKEN, &a1, sizeof buf, buf, &rlen));
	EQ(rlen, 6);
	char big[1023];
	memset(big, 'v', sizeof big);
	ERR(dm_set_dmattr(sid, h, hl, DM_NO_TOKEN, &a2, 0, 1023, big), E2BIG);
	OK(dm_set_dmattr(sid, h, hl, DM_NO_TOKEN, &a2, 1, 1022, big));
	ERR(dm_set_dmattr(sid, h, hl, DM_NO_TOKEN, &zero, 0, 1, "x"), EINVAL);
	ERR(dm_set_dmattr(sid, fsh, fshl, DM_NO_TOKEN, &a1, 0, 1, "x"), EINVAL);
	OK(dm_set_dmattr(sid, h, hl, DM_NO_TOKEN, &miss, 0, 0, NULL));         /* empty value */
	OK(dm_get_dmattr(sid, h, hl, DM_NO_TOKEN, &miss, 0, NULL, &rlen));
	EQ(rlen, 0);
	OK(dm_remove_dmattr(sid, h, hl, DM_NO_TOKEN, 0, &miss));

	/* getall: both attributes, names and values */
	static char all[8192] __attribute__((aligned(8)));
	ERR(dm_getall_dmattr(sid, h, hl, DM_NO_TOKEN, 8, all, &rlen), E2BIG);
	size_t need = rlen;
	CHECK(need >= 2 * sizeof(dm_attrlist_t) + 6 + 1022, "getall needs %zu", need);
	OK(dm_getall_dmattr(sid, h, hl, DM_NO_TOKEN, sizeof all, all, &rlen));
	EQ(rlen, need);
	int seen = 0;
	for (dm_attrlist_t *al = (dm_attrlist_t *)all; al; al = DM_STEP_TO_NEXT(al, dm_attrlist_t *)) {
		if (!memcmp(al->al_name.an_chars, a1.an_chars, 8)) {
			EQ(DM_GET_LEN(al, al_data), 6);
			CHECK(!memcmp(DM_GET_VALUE(al, al_data, char *), "abcdef", 6), "hsm value");
			seen |= 1;
		} else if (!memcmp(al->al_name.an_chars, a2.an_chars, 8)) {
			EQ(DM_GET_LEN(al, al_data), 1022);
			CHECK(!memcmp(DM_GET_VALUE(al, al_data, char *), big, 1022), "location value");
			seen |= 2;
		} else FAILX("unexpected attribute %.8s", al->al_name.an_chars);
	}
	EQ(seen, 3);

	/* SGI's layout: every entry (the last one too) padded to 4 bytes.  One 30-byte value → 20 + 30
	 * → rlen 52; 15 values of 81 bytes → 15 * 104 = 1560 bytes and a buffer of exactly that is enough. */
	{
		char *g = mnt_path(argv[1], "dmattr-layout");
		write_file(g, "", 0);
		void *gh;
		size_t ghl;
		OK(dm_path_to_handle(g, &gh, &ghl));
		dm_attrname_t n30;
		attrname(&n30, "thirty");
		OK(dm_set_dmattr(sid, gh, ghl, DM_NO_TOKEN, &n30, 0, 30, big));
		OK(dm_getall_dmattr(sid, gh, ghl, DM_NO_TOKEN, sizeof all, all, &rlen));
		EQ(rlen, 52);
		EQ(((dm_attrlist_t *)all)->_link, 0);
		OK(dm_remove_dmattr(sid, gh, ghl, DM_NO_TOKEN, 0, &n30));
		for (int i = 0; i < 15; i++) {
			dm_attrname_t ni;
			char nm[9];
			snprintf(nm, sizeof nm, "a%02d", i);
			attrname(&ni, nm);
			OK(dm_set_dmattr(sid, gh, ghl, DM_NO_TOKEN, &ni, 0, 81, big));
		}
		ERR(dm_getall_dmattr(sid, gh, ghl, DM_NO_TOKEN, 1559, all, &rlen), E2BIG);
		EQ(rlen, 1560);
		OK(dm_getall_dmattr(sid, gh, ghl, DM_NO_TOKEN, 1560, all, &rlen));
		EQ(rlen, 1560);
		int k = 0;
		for (dm_attrlist_t *al = (dm_attrlist_t *)all; al; al = DM_STEP_TO_NEXT(al, dm_attrlist_t *), k++) {
			EQ(DM_GET_LEN(al, al_data), 81);
			if (al->_link) EQ(al->_link, 104);
		}
		EQ(k, 15);
	}

	/* remove */
	OK(dm_remove_dmattr(sid, h, hl, DM_NO_TOKEN, 0, &a2));
	ERR(dm_get_dmattr(sid, h, hl, DM_NO_TOKEN, &a2, sizeof buf, buf, &rlen), ENOENT);
	ERR(dm_remove_dmattr(sid, h, hl, DM_NO_TOKEN, 0, &a2), ENOENT);
	OK(dm_getall_dmattr(sid, h, hl, DM_NO_TOKEN, sizeof all, all, &rlen));
	CHECK(DM_STEP_TO_NEXT((dm_attrlist_t *)all, dm_attrlist_t *) == NULL, "one attribute left");

	/* survives the handle being re-derived after a rename */
	char *g = mnt_path(mnt, "af2");
	OK(rename(f, g));
	void *h2;
	size_t hl2;
	OK(dm_path_to_handle(g, &h2, &hl2));
	EQ(dm_handle_cmp(h, hl, h2, hl2), 0);
	OK(dm_get_dmattr(sid, h2, hl2, DM_NO_TOKEN, &a1, sizeof buf, buf, &rlen));
	EQ(rlen, 6);

	/* return-on-destroy: filesystem handle only */
	/* set_return_on_destroy as SGI's kernel: enabling takes the DESTROY disposition for the caller;
	 * disabling from a session without it → EINVAL; a dm_set_disp moving DESTROY clears the name */
	dm_sessid_t s2;
	OK(dm_create_session(DM_NO_SESSION, "libdm dmattr two", &s2));
	ERR(dm_set_return_on_destroy(s2, fsh, fshl, DM_NO_TOKEN, &a1, DM_FALSE), EINVAL);
	OK(dm_set_return_on_destroy(sid, fsh, fshl, DM_NO_TOKEN, &a1, DM_TRUE));
	ERR(dm_set_return_on_destroy(sid, h, hl, DM_NO_TOKEN, &a1, DM_TRUE), EINVAL);
	static char dbuf[1024] __attribute__((aligned(8)));
	size_t dlen;
	OK(dm_getall_disp(sid, sizeof dbuf, dbuf, &dlen));
	CHECK(dlen > 0 && DMEV_ISSET(DM_EVENT_DESTROY, ((dm_dispinfo_t *)dbuf)->di_eventset), "DESTROY disposition taken");
	ERR(dm_set_return_on_destroy(s2, fsh, fshl, DM_NO_TOKEN, &a1, DM_FALSE), EINVAL);
	OK(dm_set_return_on_destroy(s2, fsh, fshl, DM_NO_TOKEN, &a1, DM_TRUE));      /* moves DESTROY to s2 */
	OK(dm_getall_disp(sid, sizeof dbuf, dbuf, &dlen));
	EQ(dlen, 0);
	ERR(dm_set_return_on_destroy(sid, fsh, fshl, DM_NO_TOKEN, &a1, DM_FALSE), EINVAL);
	OK(dm_set_return_on_destroy(s2, fsh, fshl, DM_NO_TOKEN, NULL, DM_FALSE));    /* the name is not read */
	OK(dm_destroy_session(s2));

	/* inheritance is not implemented (DM_CONFIG_PERS_INHERIT_ATTRIBS 0) */
	dm_inherit_t ih[4];
	unsigned int n;
	ERR(dm_set_inherit(sid, fsh, fshl, DM_NO_TOKEN, &a1, S_IFREG), ENOSYS);
	ERR(dm_clear_inherit(sid, fsh, fshl, DM_NO_TOKEN, &a1), ENOSYS);
	ERR(dm_getall_inherit(sid, fsh, fshl, DM_NO_TOKEN, 4, ih, &n), ENOSYS);
	OK(dm_destroy_session(sid));
	DONE_OK();
}
