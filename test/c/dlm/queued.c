/* Queued calls and their routines: dlm_quelock / dlm_quecvt return at once, the completion
 * routine reports the outcome (signal delivery by default, dlm_notify after dlm_set_signal(0));
 * DLM_SYNCSTS; dlm_cancel (DLM_CANCEL, DLM_CANCELGRANT, DLM_CANCELWAIT); dlm_unlock of a waiting
 * request (DLM_ABORT); a completion delivered while another thread waits in dlm_lock. */
#include "dlmcheck.h"
#include <pthread.h>

static volatile int nq;
static volatile int last_status = -1;
static volatile long last_notprm;
static dlm_lkid_t last_lkid;

static void qcpl(callback_arg_t notprm, dlm_lkid_t *lkid, dlm_status_t status)
{
	last_notprm = notprm;
	last_status = status;
	last_lkid = *lkid;
	nq++;
}

static int holder(struct kid *k, void *arg)
{
	const char *res = arg;
	dlm_nsp_t nsp = join();
	dlm_lkid_t lk;
	ST(dlm_lock(nsp, RES(res), NULL, &lk, DLM_EXMODE, NULL, 0, 0, 0, NULL, 0), DLM_SUCCESS);
	KID_SAY(k, 'h');
	while (KID_HEAR(k) == 'w') {}
	ST(dlm_unlock(&lk, NULL, 0), DLM_SUCCESS);
	KID_SAY(k, 'u');
	KID_HEAR(k);
	return 0;
}

struct waiter_arg {
	dlm_nsp_t nsp;
	dlm_status_t st;
};
static void *sync_waiter(void *p)
{
	struct waiter_arg *w = p;
	dlm_lkid_t lk;
	w->st = dlm_lock(w->nsp, RES("Q2"), NULL, &lk, DLM_EXMODE, NULL, 0, 0, 0, NULL, 0);
	if (w->st == DLM_SUCCESS) dlm_unlock(&lk, NULL, 0);
	return NULL;
}

int main(void)
{
	dlm_nsp_t nsp = join();
	dlm_lkid_t a, b;
	dlm_lkinfo_t li;

	/* granted at once without SYNCSTS: DLM_SUCCESS, then the routine runs once (signal delivery) */
	ST(dlm_quelock(nsp, RES("Q"), NULL, &a, DLM_EXMODE, NULL, 0, 41, 0, NULL, 0, qcpl), DLM_SUCCESS);
	CHECK(wait_flag(&nq, 0), "no completion through the signal");
	msleep(50);
	EQ(nq, 1);
	EQ(last_status, DLM_SUCCESS);
	EQ(last_notprm, 41);
	CHECK(last_lkid.hndl == a.hndl && last_lkid.seqn == a.seqn, "lkid");
	/* with SYNCSTS: DLM_SYNCH and no routine */
	ST(dlm_quelock(nsp, RES("Q1"), NULL, &b, DLM_EXMODE, NULL, DLM_SYNCSTS, 42, 0, NULL, 0, qcpl), DLM_SYNCH);
	msleep(100);
	EQ(nq, 1);
	ST(dlm_unlock(&b, NULL, 0), DLM_SUCCESS);

	/* a queued request that waits: lkinfo shows it waiting, the holder's release completes it */
	struct kid k = spawn(holder, "Q3");
	CHECK(HEAR(k) == 'h', "holder");
	nq = 0;
	ST(dlm_quelock(nsp, RES("Q3"), NULL, &b, DLM_PRMODE, NULL, 0, 43, 0, NULL, 0, qcpl), DLM_SUCCESS);
	ST(dlm_get_lkinfo(&b, &li), DLM_SUCCESS);
	EQ(li.lkstate, DLM_LK_WAITING);
	EQ(li.grmode, DLM_NOMODE);
	CHECK(li.cplrtn == qcpl, "lkinfo.cplrtn is the routine given");
	EQ(li.notprm, 43);
	EQ(nq, 0);
	/* dlm_cancel of a waiting new request needs DLM_CANCELWAITOK */
	ST(dlm_cancel(&b, 0), DLM_CANCELWAIT);
	ST(dlm_cancel(&b, 0x80000000u), DLM_BADPARAM);
	TELL(k, 'g');
	CHECK(HEAR(k) == 'u', "holder unlocked");
	CHECK(wait_flag(&nq, 0), "no completion after the release");
	EQ(last_status, DLM_SUCCESS);
	EQ(last_notprm, 43);
	ST(dlm_cancel(&b, DLM_CANCELWAITOK), DLM_CANCELGRANT);
	TELL(k, 'x');
	EQ(reap(k), 0);

	/* dlm_quecvt and dlm_cancel of the conversion: DLM_CANCEL, back at the old mode */
	k = spawn(holder, "Q4");
	CHECK(HEAR(k) == 'h', "holder");
	dlm_lkid_t c;
	ST(dlm_lock(nsp, RES("Q4"), NULL, &c, DLM_NLMODE, NULL, 0, 0, 0, NULL, 0), DLM_SUCCESS);
	nq = 0;
	ST(dlm_quecvt(&c, DLM_EXMODE, NULL, 0, 44, 0, NULL, 0, qcpl), DLM_SUCCESS);
	ST(dlm_get_lkinfo(&c, &li), DLM_SUCCESS);
	EQ(li.lkstate, DLM_LK_CONVERTING);
	ST(dlm_cvt(&c, DLM_PRMODE, NULL, 0, 0, 0, NULL, 0), DLM_LKBUSY);
	ST(dlm_cancel(&c, 0), DLM_SUCCESS);
	CHECK(wait_flag(&nq, 0), "no completion for the canceled conversion");
	EQ(last_status, DLM_CANCEL);
	EQ(last_notprm, 44);
	ST(dlm_get_lkinfo(&c, &li), DLM_SUCCESS);
	EQ(li.grmode, DLM_NLMODE);
	/* dlm_unlock of a waiting request: DLM_SUCCESS, its routine hears DLM_ABORT */
	dlm_lkid_t d;
	nq = 0;
	ST(dlm_quelock(nsp, RES("Q4"), NULL, &d, DLM_EXMODE, NULL, 0, 45, 0, NULL, 0, qcpl), DLM_SUCCESS);
	ST(dlm_unlock(&d, NULL, 0), DLM_SUCCESS);
	CHECK(wait_flag(&nq, 0), "no completion for the unlocked request");
	EQ(last_status, DLM_ABORT);
	EQ(last_notprm, 45);
	ST(dlm_unlock(&c, NULL, 0), DLM_SUCCESS);
	TELL(k, 'g');
	HEAR(k);
	TELL(k, 'x');
	EQ(reap(k), 0);

	/* polling: after dlm_set_signal(0) nothing runs until dlm_notify, which runs it and counts it */
	int old;
	ST(dlm_set_signal(0, &old), DLM_SUCCESS);
	k = spawn(holder, "Q5");
	CHECK(HEAR(k) == 'h', "holder");
	nq = 0;
	ST(dlm_quelock(nsp, RES("Q5"), NULL, &b, DLM_EXMODE, NULL, 0, 46, 0, NULL, 0, qcpl), DLM_SUCCESS);
	TELL(k, 'g');
	CHECK(HEAR(k) == 'u', "holder unlocked");
	msleep(200);
	EQ(nq, 0);
	EQ(dlm_notify(), 1);
	EQ(nq, 1);
	EQ(last_status, DLM_SUCCESS);
	EQ(dlm_notify(), 0);
	ST(dlm_unlock(&b, NULL, 0), DLM_SUCCESS);
	TELL(k, 'x');
	EQ(reap(k), 0);
	ST(dlm_set_signal(SIGUSR1, &old), DLM_SUCCESS);
	EQ(old, 0);

	/* a thread waits in dlm_lock while the completion of another request runs (signal delivery) */
	k = spawn(holder, "Q2");
	CHECK(HEAR(k) == 'h', "holder");
	struct waiter_arg w = { nsp, (dlm_status_t)-1 };
	pthread_t t;
	pthread_create(&t, NULL, sync_waiter, &w);
	msleep(100);
	nq = 0;
	ST(dlm_quelock(nsp, RES("Q6"), NULL, &b, DLM_EXMODE, NULL, 0, 47, 0, NULL, 0, qcpl), DLM_SUCCESS);
	CHECK(wait_flag(&nq, 0), "no completion while a thread waits in dlm_lock");
	EQ((int)w.st, -1); /* still waiting */
	TELL(k, 'g');
	pthread_join(t, NULL);
	EQ(w.st, DLM_SUCCESS);
	ST(dlm_unlock(&b, NULL, 0), DLM_SUCCESS);
	HEAR(k);
	TELL(k, 'x');
	EQ(reap(k), 0);
	DONE_OK();
}
