/* Value blocks: written by PW/EX holders (down-conversion, unlock with DLM_VALB), read by grants with
 * DLM_VALB (sync, queued, after a wait), not written from PR, invalidated by DLM_INVVALBLK and by the
 * kill -9 of a holder (DLM_SUCCVALNOTVALID / DLM_SYNCVALNOTVALID), valid again once rewritten. */
#include "dlmcheck.h"

static int same(const dlm_valb_t *a, const dlm_valb_t *b) { return memcmp(a, b, sizeof *a) == 0; }

/* takes EX with DLM_VALB, writes 500.., then waits to be killed */
static int doomed(struct kid *k, void *arg)
{
	(void)arg;
	dlm_nsp_t nsp = join();
	dlm_lkid_t lk;
	dlm_valb_t v;
	ST(dlm_lock(nsp, RES("V2"), NULL, &lk, DLM_EXMODE, &v, DLM_VALB, 0, 0, NULL, 0), DLM_SUCCESS);
	valb_fill(&v, 500);
	ST(dlm_cvt(&lk, DLM_EXMODE, &v, DLM_VALB, 0, 0, NULL, 0), DLM_SUCCESS);
	KID_SAY(k, 'h');
	for (;;) pause();
}

int main(void)
{
	dlm_nsp_t nsp = join();
	dlm_lkid_t a, b;
	dlm_valb_t v, w, zero;
	memset(&zero, 0, sizeof zero);
	valb_fill(&w, 0xAA);
	/* a new resource's block is zeros */
	ST(dlm_lock(nsp, RES("V"), NULL, &a, DLM_EXMODE, &w, DLM_VALB, 0, 0, NULL, 0), DLM_SUCCESS);
	CHECK(same(&w, &zero), "new value block not zero");
	valb_fill(&v, 100);
	ST(dlm_cvt(&a, DLM_NLMODE, &v, DLM_VALB, 0, 0, NULL, 0), DLM_SUCCESS); /* EX -> NL writes */
	ST(dlm_lock(nsp, RES("V"), NULL, &b, DLM_PRMODE, &w, DLM_VALB | DLM_SYNCSTS, 0, 0, NULL, 0), DLM_SYNCH);
	CHECK(same(&w, &v), "PR did not read what EX wrote");
	/* PR -> NL with a changed buffer writes nothing */
	valb_fill(&w, 200);
	ST(dlm_cvt(&b, DLM_NLMODE, &w, DLM_VALB, 0, 0, NULL, 0), DLM_SUCCESS);
	ST(dlm_cvt(&b, DLM_PRMODE, &w, DLM_VALB, 0, 0, NULL, 0), DLM_SUCCESS);
	CHECK(same(&w, &v), "PR wrote the value block");
	ST(dlm_unlock(&b, NULL, 0), DLM_SUCCESS);
	/* unlock from EX with DLM_VALB writes; a queued request reads it in its completion */
	ST(dlm_cvt(&a, DLM_EXMODE, NULL, 0, 0, 0, NULL, 0), DLM_SUCCESS);
	valb_fill(&v, 300);
	ST(dlm_quelock(nsp, RES("V"), NULL, &b, DLM_PRMODE, &w, DLM_VALB, 0, 0, NULL, 0, cpl), DLM_SUCCESS);
	ST(dlm_unlock(&a, &v, DLM_VALB), DLM_SUCCESS);
	CHECK(wait_flag(&ncpl, 0), "no completion");
	EQ(cst, DLM_SUCCESS);
	CHECK(same(&w, &v), "the queued grant did not read the block written at unlock");
	/* DLM_INVVALBLK on unlock marks it invalid */
	ST(dlm_cvt(&b, DLM_EXMODE, NULL, 0, 0, 0, NULL, 0), DLM_SUCCESS);
	ST(dlm_lock(nsp, RES("V"), NULL, &a, DLM_NLMODE, NULL, 0, 0, 0, NULL, 0), DLM_SUCCESS); /* keeps the resource */
	ST(dlm_unlock(&b, NULL, DLM_INVVALBLK), DLM_SUCCESS);
	ST(dlm_lock(nsp, RES("V"), NULL, &b, DLM_EXMODE, &w, DLM_VALB, 0, 0, NULL, 0), DLM_SUCCVALNOTVALID);
	/* rewritten by EX: valid again */
	valb_fill(&v, 400);
	ST(dlm_cvt(&b, DLM_NLMODE, &v, DLM_VALB, 0, 0, NULL, 0), DLM_SUCCESS);
	ST(dlm_cvt(&b, DLM_PRMODE, &w, DLM_VALB, 0, 0, NULL, 0), DLM_SUCCESS);
	CHECK(same(&w, &v), "the rewritten block");
	ST(dlm_unlock(&b, NULL, 0), DLM_SUCCESS);
	ST(dlm_unlock(&a, NULL, 0), DLM_SUCCESS);
	/* the last lock gone: a new lock sees zeros again */
	ST(dlm_lock(nsp, RES("V"), NULL, &a, DLM_PRMODE, &w, DLM_VALB, 0, 0, NULL, 0), DLM_SUCCESS);
	CHECK(same(&w, &zero), "a freed resource kept its block");
	ST(dlm_unlock(&a, NULL, 0), DLM_SUCCESS);

	/* kill -9 of a C lock holder: the waiter is granted, the block it held EX is invalid */
	struct kid k = spawn(doomed, NULL);
	CHECK(HEAR(k) == 'h', "holder");
	ncpl = 0;
	ST(dlm_quelock(nsp, RES("V2"), NULL, &b, DLM_PRMODE, &w, DLM_VALB, 0, 0, NULL, 0, cpl), DLM_SUCCESS);
	msleep(100);
	EQ(ncpl, 0);
	kill(k.pid, SIGKILL);
	EQ(reap(k), 128 + SIGKILL);
	CHECK(wait_flag(&ncpl, 0), "the waiter was not granted after the holder's death");
	EQ(cst, DLM_SUCCVALNOTVALID);
	valb_fill(&v, 500);
	CHECK(same(&w, &v), "the block as the dead holder left it");
	ST(dlm_lock(nsp, RES("V2"), NULL, &a, DLM_NLMODE, &w, DLM_VALB | DLM_SYNCSTS, 0, 0, NULL, 0), DLM_SYNCVALNOTVALID);
	ST(dlm_unlock(&a, NULL, 0), DLM_SUCCESS);
	ST(dlm_unlock(&b, NULL, 0), DLM_SUCCESS);
	DONE_OK();
}
