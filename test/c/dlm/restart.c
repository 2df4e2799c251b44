/* A daemon restart: a thread blocked in dlm_lock and a queued request's completion routine both get
 * DLM_ENOSYS when the node dies (no hang, no crash); calls while it is down answer DLM_ENOSYS at
 * once; after it is back the process joins again (its old namespace handle is gone) and locks.
 * The test kills the daemon after "waiting" and starts it again after "down". */
#include "dlmcheck.h"
#include <pthread.h>

static int holder(struct kid *k, void *arg)
{
	(void)arg;
	dlm_nsp_t nsp = join();
	dlm_lkid_t a, b;
	ST(dlm_lock(nsp, RES("R1"), NULL, &a, DLM_EXMODE, NULL, 0, 0, 0, NULL, 0), DLM_SUCCESS);
	ST(dlm_lock(nsp, RES("R2"), NULL, &b, DLM_EXMODE, NULL, 0, 0, 0, NULL, 0), DLM_SUCCESS);
	KID_SAY(k, 'h');
	KID_HEAR(k);
	return 0;
}

static dlm_nsp_t nsp;
static volatile int tdone;
static dlm_status_t tst;
static void *blocked(void *p)
{
	(void)p;
	dlm_lkid_t lk;
	tst = dlm_lock(nsp, RES("R2"), NULL, &lk, DLM_EXMODE, NULL, 0, 0, 0, NULL, 0);
	tdone = 1;
	return NULL;
}

int main(void)
{
	nsp = join();
	struct kid k = spawn(holder, NULL);
	CHECK(HEAR(k) == 'h', "holder");
	dlm_lkid_t q;
	ST(dlm_quelock(nsp, RES("R1"), NULL, &q, DLM_EXMODE, NULL, 0, 0, 0, NULL, 0, cpl), DLM_SUCCESS);
	pthread_t t;
	pthread_create(&t, NULL, blocked, NULL);
	msleep(200);
	EQ(tdone, 0);
	printf("waiting\n");
	fflush(stdout);
	/* the test kills the daemon now */
	CHECK(wait_flag(&tdone, 0), "dlm_lock still blocked after the daemon died");
	pthread_join(t, NULL);
	EQ(tst, DLM_ENOSYS);
	CHECK(wait_flag(&ncpl, 0), "no completion after the daemon died");
	EQ(cst, DLM_ENOSYS);
	dlm_nsp_t n2;
	ST(dlm_nsjoin(geteuid(), &n2, DLM_USER), DLM_ENOSYS); /* down: at once */
	printf("down\n");
	fflush(stdout);
	/* the test starts the daemon again */
	dlm_status_t st = DLM_ENOSYS;
	for (int i = 0; i < 300 && st == DLM_ENOSYS; i++) {
		msleep(100);
		st = dlm_nsjoin(geteuid(), &n2, DLM_USER);
	}
	ST(st, DLM_SUCCESS);
	dlm_lkid_t lk;
	ST(dlm_lock(n2, RES("R1"), NULL, &lk, DLM_EXMODE, NULL, DLM_NOQUEUE, 0, 0, NULL, 0), DLM_SUCCESS); /* a new lock space */
	ST(dlm_unlock(&lk, NULL, 0), DLM_SUCCESS);
	TELL(k, 'x');
	EQ(reap(k), 0);
	DONE_OK();
}
