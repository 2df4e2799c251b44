/* Lock, convert, unlock: dlm_lock / dlm_locktp / dlm_cvt / dlm_unlock between two processes,
 * DLM_SYNCSTS, DLM_NOQUEUE, timeouts, DLM_QUECVT, sublocks, lkinfo/rsbinfo, bad arguments. */
#include "dlmcheck.h"

/* The other process: holds R in PR until told, then unlocks. */
static int holder(struct kid *k, void *arg)
{
	(void)arg;
	dlm_nsp_t nsp = join();
	dlm_lkid_t lk;
	ST(dlm_lock(nsp, RES("R"), NULL, &lk, DLM_PRMODE, NULL, 0, 0, 0, NULL, 0), DLM_SUCCESS);
	KID_SAY(k, 'h');
	KID_HEAR(k);
	msleep(300); /* the parent's conversion is queued by then */
	ST(dlm_unlock(&lk, NULL, 0), DLM_SUCCESS);
	KID_HEAR(k);
	return 0;
}

int main(void)
{
	dlm_nsp_t nsp = join();
	dlm_lkid_t a, b, c, sub;
	dlm_lkinfo_t li;
	dlm_rsbinfo_t ri;

	/* immediate grants: DLM_SYNCH with DLM_SYNCSTS, DLM_SUCCESS without */
	ST(dlm_lock(nsp, RES("N"), NULL, &a, DLM_NLMODE, NULL, DLM_SYNCSTS, 0, 0, NULL, 0), DLM_SYNCH);
	ST(dlm_lock(nsp, RES("N"), NULL, &b, DLM_EXMODE, NULL, 0, 0, 0, NULL, 0), DLM_SUCCESS);
	ST(dlm_get_lkinfo(&b, &li), DLM_SUCCESS);
	EQ(li.grmode, DLM_EXMODE);
	EQ(li.lkstate, DLM_LK_GRANTED);
	EQ(li.lk_pid, getpid());
	EQ(li.resnlen, 1);
	CHECK(li.resnam[0] == 'N', "resnam");
	ST(dlm_get_rsbinfo(nsp, RES("N"), &ri, NULL), DLM_SUCCESS);
	EQ(ri.lckcnt, 2);
	EQ(ri.ggmode, DLM_EXMODE);
	/* down and up conversions of one's own lock */
	ST(dlm_cvt(&b, DLM_PRMODE, NULL, 0, 0, 0, NULL, 0), DLM_SUCCESS);
	ST(dlm_cvt(&b, DLM_EXMODE, NULL, DLM_SYNCSTS, 0, 0, NULL, 0), DLM_SYNCH);
	ST(dlm_unlock(&b, NULL, 0), DLM_SUCCESS);
	ST(dlm_unlock(&b, NULL, 0), DLM_IVLOCKID);
	ST(dlm_unlock(&a, NULL, 0), DLM_SUCCESS);
	ST(dlm_get_rsbinfo(nsp, RES("N"), &ri, NULL), DLM_ENOENT);

	/* another process holds PR */
	struct kid k = spawn(holder, NULL);
	CHECK(HEAR(k) == 'h', "holder");
	ST(dlm_lock(nsp, RES("R"), NULL, &a, DLM_EXMODE, NULL, DLM_NOQUEUE, 0, 0, NULL, 0), DLM_NOTQUEUED);
	ST(dlm_get_rsbinfo(nsp, RES("R"), &ri, NULL), DLM_SUCCESS);
	EQ(ri.lckcnt, 1); /* no lock left behind */
	ST(dlm_lock(nsp, RES("R"), NULL, &a, DLM_CRMODE, NULL, 0, 0, 0, NULL, 0), DLM_SUCCESS);
	/* timeout in hundredths of a second */
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ST(dlm_lock(nsp, RES("R"), NULL, &b, DLM_EXMODE, NULL, 0, 0, 0, NULL, 30), DLM_TIMEOUT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	CHECK(ms >= 250, "timed out after %ld ms", ms);
	ST(dlm_cvt(&a, DLM_EXMODE, NULL, DLM_NOQUEUE, 0, 0, NULL, 0), DLM_NOTQUEUED);
	ST(dlm_get_lkinfo(&a, &li), DLM_SUCCESS);
	EQ(li.grmode, DLM_CRMODE); /* keeps its mode */
	/* QUECVT is for up-conversions only */
	ST(dlm_cvt(&a, DLM_NLMODE, NULL, DLM_QUECVT, 0, 0, NULL, 0), DLM_BADPARAM);
	/* a conversion that waits: the holder lets go 300 ms later, the synchronous dlm_cvt returns
	 * granted, with DLM_SUCCESS (DLM_SYNCH is for immediate grants only) */
	TELL(k, 'u');
	ST(dlm_cvt(&a, DLM_EXMODE, NULL, DLM_SYNCSTS, 0, 0, NULL, 0), DLM_SUCCESS);
	TELL(k, 'x');
	EQ(reap(k), 0);
	ST(dlm_get_lkinfo(&a, &li), DLM_SUCCESS);
	EQ(li.grmode, DLM_EXMODE);

	/* sublocks */
	ST(dlm_lock(nsp, RES("child"), &a, &sub, DLM_EXMODE, NULL, 0, 0, 0, NULL, 0), DLM_SUCCESS);
	ST(dlm_lock(nsp, RES("child"), NULL, &c, DLM_EXMODE, NULL, DLM_NOQUEUE, 0, 0, NULL, 0), DLM_SUCCESS); /* another resource */
	ST(dlm_get_rsbinfo(nsp, RES("R"), &ri, NULL), DLM_SUCCESS);
	EQ(ri.subrescnt, 1);
	ST(dlm_get_rsbinfo(nsp, RES("child"), &ri, &a), DLM_SUCCESS);
	EQ(ri.lckcnt, 1);
	ST(dlm_unlock(&a, NULL, 0), DLM_SUBLOCKS);
	ST(dlm_unlock(&sub, NULL, 0), DLM_SUCCESS);
	ST(dlm_unlock(&c, NULL, 0), DLM_SUCCESS);
	ST(dlm_unlock(&a, NULL, 0), DLM_SUCCESS);

	/* bad arguments */
	char big[DLM_RESNAMELEN + 1];
	memset(big, 'x', sizeof big);
	ST(dlm_lock(nsp, (uchar_t *)big, DLM_RESNAMELEN + 1, NULL, &a, DLM_EXMODE, NULL, 0, 0, 0, NULL, 0), DLM_IVBUFLEN);
	ST(dlm_lock(nsp, (uchar_t *)big, 0, NULL, &a, DLM_EXMODE, NULL, 0, 0, 0, NULL, 0), DLM_IVBUFLEN);
	ST(dlm_lock(nsp, (uchar_t *)big, 300, NULL, &a, DLM_EXMODE, NULL, 0, 0, 0, NULL, 0), DLM_IVBUFLEN);
	ST(dlm_lock(nsp, (uchar_t *)big, DLM_RESNAMELEN, NULL, &a, DLM_EXMODE, NULL, 0, 0, 0, NULL, 0), DLM_SUCCESS); /* the longest name */
	ST(dlm_unlock(&a, NULL, 0), DLM_SUCCESS);
	ST(dlm_lock(nsp, RES("R"), NULL, &a, (dlm_lkmode_t)0, NULL, 0, 0, 0, NULL, 0), DLM_BADPARAM);
	ST(dlm_lock(nsp, RES("R"), NULL, &a, (dlm_lkmode_t)7, NULL, 0, 0, 0, NULL, 0), DLM_BADPARAM);
	ST(dlm_lock(nsp, RES("R"), NULL, &a, DLM_EXMODE, NULL, DLM_VALB, 0, 0, NULL, 0), DLM_BADPARAM);
	ST(dlm_lock(nsp, RES("R"), NULL, NULL, DLM_EXMODE, NULL, 0, 0, 0, NULL, 0), DLM_EFAULT);
	dlm_lkid_t nolock = { 12345, 999, 0 };
	ST(dlm_cvt(&nolock, DLM_EXMODE, NULL, 0, 0, 0, NULL, 0), DLM_IVLOCKID);
	ST(dlm_get_lkinfo(&nolock, &li), DLM_IVLOCKID);
	/* binary names are names */
	uchar_t bin[4] = { 0, 0xff, 0x80, 7 };
	ST(dlm_lock(nsp, bin, 4, NULL, &a, DLM_EXMODE, NULL, 0, 0, 0, NULL, 0), DLM_SUCCESS);
	ST(dlm_get_lkinfo(&a, &li), DLM_SUCCESS);
	EQ(li.resnlen, 4);
	CHECK(memcmp(li.resnam, bin, 4) == 0, "binary name");
	ST(dlm_unlock(&a, NULL, 0), DLM_SUCCESS);
	/* dlm_locktp with a transaction id */
	ST(dlm_locktp(nsp, RES("T"), NULL, &a, DLM_EXMODE, NULL, DLM_TXID_LOCAL, 0, 0, NULL, 0, 77, 0), DLM_SUCCESS);
	ST(dlm_unlock(&a, NULL, 0), DLM_SUCCESS);
	DONE_OK();
}
