/* Sessions: dm_init_service, create (new, assume), query (E2BIG with the size), getall (E2BIG with
 * the count), destroy (EINVAL afterwards). */
#include "check.h"

int main(int argc, char **argv)
{
	(void)argc; (void)argv;
	char *ver = NULL;
	OK(dm_init_service(&ver));
	CHECK(ver && strstr(ver, "dmapifs"), "version string '%s'", ver ? ver : "(null)");
	ERR(dm_init_service(NULL), EFAULT);

	dm_sessid_t s1, s2, s3;
	OK(dm_create_session(DM_NO_SESSION, "libdm sessions one", &s1));
	OK(dm_create_session(DM_NO_SESSION, "libdm sessions one", &s2));
	CHECK(s1 > 0 && s2 > s1, "increasing ids %d %d", s1, s2);
	ERR(dm_create_session(DM_NO_SESSION, "x", NULL), EFAULT);
	char longinfo[DM_SESSION_INFO_LEN + 10];
	memset(longinfo, 'a', sizeof longinfo - 1);
	longinfo[sizeof longinfo - 1] = 0;
	ERR(dm_create_session(DM_NO_SESSION, longinfo, &s3), E2BIG);
	ERR(dm_create_session(987654321, "x", &s3), EINVAL);

	char buf[DM_SESSION_INFO_LEN];
	size_t rlen = 0;
	OK(dm_query_session(s1, sizeof buf, buf, &rlen));
	EQ(rlen, strlen("libdm sessions one") + 1);
	CHECK(!strcmp(buf, "libdm sessions one"), "info '%s'", buf);
	rlen = 0;
	ERR(dm_query_session(s1, 4, buf, &rlen), E2BIG);
	EQ(rlen, strlen("libdm sessions one") + 1);
	rlen = 0;
	ERR(dm_query_session(s1, 0, NULL, &rlen), E2BIG);
	EQ(rlen, strlen("libdm sessions one") + 1);
	ERR(dm_query_session(DM_NO_SESSION, sizeof buf, buf, &rlen), EINVAL);

	unsigned int n = 0;
	dm_sessid_t sids[4096];
	OK(dm_getall_sessions(4096, sids, &n));
	int found = 0;
	for (unsigned i = 0; i < n; i++) found += sids[i] == s1 || sids[i] == s2;
	EQ(found, 2);
	unsigned int all = n;
	n = 0;
	ERR(dm_getall_sessions(1, sids, &n), E2BIG);
	EQ(n, all);

	/* assume: GPFS returns the same id */
	OK(dm_create_session(s2, "assumed", &s3));
	EQ(s3, s2);
	OK(dm_query_session(s2, sizeof buf, buf, &rlen));
	CHECK(!strcmp(buf, "assumed"), "info after assume '%s'", buf);

	OK(dm_destroy_session(s1));
	OK(dm_destroy_session(s2));
	ERR(dm_destroy_session(s1), EINVAL);
	ERR(dm_query_session(s1, sizeof buf, buf, &rlen), EINVAL);
	ERR(dm_destroy_session(DM_NO_SESSION), EINVAL);
	DONE_OK();
}
