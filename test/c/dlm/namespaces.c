/* Namespaces: dlm_nsjoin (DLM_USER, DLM_GROUP, DLM_JOIN_SAME_OK), dlm_nsleave, dlm_detach, and
 * what needs a namespace first (dlm_set_signal, dlm_lock). */
#include "dlmcheck.h"

int main(void)
{
	dlm_nsp_t nsp = -7, again = -7;
	dlm_lkid_t lk;
	int old = -1;
	/* before any join */
	ST(dlm_set_signal(SIGUSR1, &old), DLM_NOTATTACHED);
	ST(dlm_lock(1, RES("R"), NULL, &lk, DLM_EXMODE, NULL, 0, 0, 0, NULL, 0), DLM_NOTATTACHED);
	ST(dlm_detach(), DLM_NOTATTACHED);
	ST(dlm_nsjoin(geteuid(), NULL, DLM_USER), DLM_EFAULT);
	ST(dlm_nsjoin(geteuid(), &nsp, DLM_USER | DLM_GROUP), DLM_BADPARAM);

	ST(dlm_nsjoin(geteuid(), &nsp, DLM_USER), DLM_SUCCESS);
	CHECK(nsp >= 1 && nsp <= DLM_NSPROCMAX, "nsp %d", nsp);
	ST(dlm_nsjoin(geteuid(), &again, DLM_USER), DLM_ATTACHED);
	EQ(again, -7); /* "does not return a namespace handle" */
	ST(dlm_nsjoin(geteuid(), &again, DLM_USER | DLM_JOIN_SAME_OK), DLM_SUCCESS);
	EQ(again, nsp);
	if (geteuid() == 0) {
		dlm_nsp_t sys;
		/* root: uid 0 is the systemwide namespace, the one joined above */
		ST(dlm_nsjoin(0, &sys, DLM_USER | DLM_JOIN_SAME_OK), DLM_SUCCESS);
		EQ(sys, nsp);
		dlm_nsp_t g;
		ST(dlm_nsjoin(getegid(), &g, DLM_GROUP), DLM_SUCCESS);
		ST(dlm_nsleave(&g, 0), DLM_SUCCESS);
	}

	/* signals: SIGKILL/SIGSTOP and out-of-range numbers are refused */
	ST(dlm_set_signal(SIGKILL, &old), DLM_BADPARAM);
	ST(dlm_set_signal(SIGSTOP, &old), DLM_BADPARAM);
	ST(dlm_set_signal(-1, &old), DLM_BADPARAM);
	ST(dlm_set_signal(65, &old), DLM_BADPARAM);
	ST(dlm_set_signal(SIGUSR2, &old), DLM_SUCCESS);
	EQ(old, SIGIO); /* the default notification signal */
	ST(dlm_set_signal(0, &old), DLM_SUCCESS);
	EQ(old, SIGUSR2);
	EQ(dlm_notify(), 0);

	/* leaving with locks held, flags, bad handles */
	ST(dlm_lock(nsp, RES("R"), NULL, &lk, DLM_EXMODE, NULL, 0, 0, 0, NULL, 0), DLM_SUCCESS);
	ST(dlm_nsleave(&nsp, 0), DLM_HASLOCKS);
	ST(dlm_detach(), DLM_HASLOCKS);
	ST(dlm_nsleave(&nsp, 1), DLM_BADPARAM);
	dlm_nsp_t bad = DLM_NSPROCMAX + 1;
	ST(dlm_nsleave(&bad, 0), DLM_NOTATTACHED);
	bad = -1;
	ST(dlm_nsleave(&bad, 0), DLM_NOTATTACHED);
	ST(dlm_unlock(&lk, NULL, 0), DLM_SUCCESS);
	/* one dlm_nsleave leaves, whatever the number of joins */
	ST(dlm_nsleave(&nsp, 0), DLM_SUCCESS);
	ST(dlm_nsleave(&nsp, 0), DLM_NOTATTACHED);
	ST(dlm_lock(nsp, RES("R"), NULL, &lk, DLM_EXMODE, NULL, 0, 0, 0, NULL, 0), DLM_NOTATTACHED);

	/* dlm_detach leaves every namespace */
	nsp = join();
	ST(dlm_detach(), DLM_SUCCESS);
	ST(dlm_detach(), DLM_NOTATTACHED);
	ST(dlm_nsleave(&nsp, 0), DLM_NOTATTACHED);
	DONE_OK();
}
