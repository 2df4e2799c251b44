/* Deadlock: two processes each hold one resource and ask for the other's: exactly one request
 * ends with DLM_DEADLOCK, the other is granted once the victim lets go; DLM_NODLCKWT takes a
 * request out of detection; a conversion deadlock (both PR -> EX). */
#include "dlmcheck.h"

/* holds S, then asks for R (after the parent holds R) */
static int other(struct kid *k, void *arg)
{
	dlm_flags_t fl = (dlm_flags_t)(long)arg;
	dlm_nsp_t nsp = join();
	dlm_lkid_t s, r;
	ST(dlm_lock(nsp, RES("S"), NULL, &s, DLM_EXMODE, NULL, 0, 0, 0, NULL, 0), DLM_SUCCESS);
	KID_SAY(k, 'h');
	KID_HEAR(k);
	dlm_status_t st = dlm_lock(nsp, RES("R"), NULL, &r, DLM_EXMODE, NULL, fl, 0, 0, NULL, 0);
	KID_SAY(k, (char)('0' + st));
	if (st != DLM_SUCCESS) ST(dlm_unlock(&s, NULL, 0), DLM_SUCCESS);
	KID_HEAR(k);
	return 0;
}

static int cvt_other(struct kid *k, void *arg)
{
	(void)arg;
	dlm_nsp_t nsp = join();
	dlm_lkid_t r;
	ST(dlm_lock(nsp, RES("CD"), NULL, &r, DLM_PRMODE, NULL, 0, 0, 0, NULL, 0), DLM_SUCCESS);
	KID_SAY(k, 'h');
	KID_HEAR(k);
	dlm_status_t st = dlm_cvt(&r, DLM_EXMODE, NULL, 0, 0, 0, NULL, 0);
	KID_SAY(k, (char)('0' + st));
	KID_HEAR(k);
	ST(dlm_unlock(&r, NULL, 0), DLM_SUCCESS);
	return 0;
}

int main(void)
{
	dlm_nsp_t nsp = join();
	dlm_lkid_t r, s;
	ST(dlm_lock(nsp, RES("R"), NULL, &r, DLM_EXMODE, NULL, 0, 0, 0, NULL, 0), DLM_SUCCESS);
	struct kid k = spawn(other, (void *)0L);
	CHECK(HEAR(k) == 'h', "other");
	TELL(k, 'g');
	msleep(200); /* the other waits for R */
	/* our request closes the cycle: the newest waiter is the victim */
	ST(dlm_lock(nsp, RES("S"), NULL, &s, DLM_EXMODE, NULL, 0, 0, 0, NULL, 0), DLM_DEADLOCK);
	ST(dlm_unlock(&r, NULL, 0), DLM_SUCCESS);
	EQ(HEAR(k), '0' + DLM_SUCCESS);
	TELL(k, 'x');
	EQ(reap(k), 0);

	/* DLM_NODLCKWT: the other's wait is not a wait for detection, no victim; a queued request of ours waits */
	ST(dlm_lock(nsp, RES("R"), NULL, &r, DLM_EXMODE, NULL, 0, 0, 0, NULL, 0), DLM_SUCCESS);
	k = spawn(other, (void *)(long)DLM_NODLCKWT);
	CHECK(HEAR(k) == 'h', "other");
	TELL(k, 'g');
	msleep(200);
	ncpl = 0;
	ST(dlm_quelock(nsp, RES("S"), NULL, &s, DLM_EXMODE, NULL, 0, 0, 0, NULL, 0, cpl), DLM_SUCCESS);
	msleep(300);
	EQ(ncpl, 0);
	ST(dlm_unlock(&s, NULL, 0), DLM_SUCCESS); /* we give up ours instead */
	CHECK(wait_flag(&ncpl, 0), "no completion");
	EQ(cst, DLM_ABORT);
	ST(dlm_unlock(&r, NULL, 0), DLM_SUCCESS);
	EQ(HEAR(k), '0' + DLM_SUCCESS);
	TELL(k, 'x');
	EQ(reap(k), 0);

	/* conversion deadlock: both hold PR and convert to EX */
	ST(dlm_lock(nsp, RES("CD"), NULL, &r, DLM_PRMODE, NULL, 0, 0, 0, NULL, 0), DLM_SUCCESS);
	k = spawn(cvt_other, NULL);
	CHECK(HEAR(k) == 'h', "other");
	TELL(k, 'g');
	msleep(200);
	ST(dlm_cvt(&r, DLM_EXMODE, NULL, 0, 0, 0, NULL, 0), DLM_DEADLOCK);
	dlm_lkinfo_t li;
	ST(dlm_get_lkinfo(&r, &li), DLM_SUCCESS);
	EQ(li.grmode, DLM_PRMODE); /* the victim reverts */
	ST(dlm_unlock(&r, NULL, 0), DLM_SUCCESS);
	EQ(HEAR(k), '0' + DLM_SUCCESS);
	TELL(k, 'x');
	EQ(reap(k), 0);
	DONE_OK();
}
