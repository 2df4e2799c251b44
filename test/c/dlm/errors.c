/* Errors and statuses: dlm_sperrno / dlm_perrno / dlm_perror texts, the unknown status, NULL
 * pointers (DLM_EFAULT), and what a program sees with no daemon (argv[1] = "nodaemon"). */
#include "dlmcheck.h"
#include <fcntl.h>

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "nodaemon") == 0) {
		dlm_nsp_t nsp;
		dlm_lkid_t lk;
		ST(dlm_nsjoin(geteuid(), &nsp, DLM_USER), DLM_ENOSYS);
		ST(dlm_lock(1, RES("R"), NULL, &lk, DLM_EXMODE, NULL, 0, 0, 0, NULL, 0), DLM_ENOSYS);
		EQ(dlm_notify(), 0);
		DONE_OK();
	}
	CHECK(strcmp(dlm_sperrno(DLM_NOTQUEUED),
		     "DLM_NOTQUEUED: request not queued: it could not be granted at once and DLM_NOQUEUE was given") == 0,
	      "%s", dlm_sperrno(DLM_NOTQUEUED));
	CHECK(strcmp(dlm_sperrno(DLM_SUCCESS), "DLM_SUCCESS: normal successful completion") == 0, "success text");
	CHECK(strcmp(dlm_sperrno((dlm_status_t)9999), "DLM_ILLEGAL_EEROR: illegal DLM error status") == 0, "illegal");
	CHECK(strcmp(dlm_sperrno((dlm_status_t)7), "DLM_ILLEGAL_EEROR: illegal DLM error status") == 0, "gap 6..15");
	for (int s = 0; s <= 56; s++) {
		const char *t = dlm_sperrno((dlm_status_t)s);
		CHECK(t && *t, "empty text for %d", s);
	}
	/* perror / perrno write to stderr */
	int p[2];
	if (pipe(p) < 0) FAILX("pipe");
	int saved = dup(2);
	dup2(p[1], 2);
	dlm_perror((char *)"x", DLM_TIMEOUT);
	dlm_perrno(DLM_ABORT);
	dlm_perror((char *)"", DLM_IVLOCKID);
	fflush(stderr);
	dup2(saved, 2);
	close(p[1]);
	char buf[512] = "";
	ssize_t n = read(p[0], buf, sizeof buf - 1);
	buf[n > 0 ? n : 0] = 0;
	CHECK(strcmp(buf, "x: DLM_TIMEOUT: request timed out\n"
			  "DLM_ABORT: lock request was dequeued before it could be granted\n"
			  "DLM_IVLOCKID: bad lock id\n") == 0, "stderr: [%s]", buf);
	/* NULL pointers */
	dlm_nsp_t nsp = join();
	dlm_lkid_t lk;
	ST(dlm_nsjoin(geteuid(), NULL, DLM_USER), DLM_EFAULT);
	ST(dlm_nsleave(NULL, 0), DLM_EFAULT);
	ST(dlm_lock(nsp, NULL, 3, NULL, &lk, DLM_EXMODE, NULL, 0, 0, 0, NULL, 0), DLM_EFAULT);
	ST(dlm_cvt(NULL, DLM_EXMODE, NULL, 0, 0, 0, NULL, 0), DLM_EFAULT);
	ST(dlm_unlock(NULL, NULL, 0), DLM_EFAULT);
	ST(dlm_cancel(NULL, 0), DLM_EFAULT);
	ST(dlm_get_lkinfo(NULL, NULL), DLM_EFAULT);
	ST(dlm_get_rsbinfo(nsp, RES("R"), NULL, NULL), DLM_EFAULT);
	ST(dlm_glc_create(NULL, 0, &nsp, 1), DLM_EFAULT);
	ST(dlm_rd_attach(NULL, NULL, DLM_RD_PROCESS), DLM_EFAULT);
	ST(dlm_rd_collect(1, NULL, 0), DLM_EFAULT);
	ST(dlm_rd_validate(1, NULL, 0), DLM_IVHNDL);
	ST(dlm_unlock(&lk, NULL, DLM_VALB), DLM_BADPARAM);
	/* rsbinfo before joining another user's namespace; lkinfo of nothing */
	dlm_rsbinfo_t ri;
	ST(dlm_get_rsbinfo(nsp + 1, RES("R"), &ri, NULL), DLM_NOTATTACHED);
	DONE_OK();
}
