/* Recovery domains and persistent resources for C programs, and the dead-man lock with a single
 * process: a process alone in its domain takes EX on a persistent resource, writes its value block
 * and dies (kill -9); the next process that attaches to the domain (none was attached meanwhile)
 * collects the resource, repairs, validates, and works under the same lock; a clean exit leaves
 * nothing to recover. Also the statuses of dlm_rd_* and of persistent locking. */
#include "dlmcheck.h"

static const char *DOMAIN = "deadman";

/* one incarnation: recover what a dead predecessor left, then hold "alive" EX until killed or told */
static int incarnation(struct kid *k, void *arg)
{
	unsigned gen = (unsigned)(long)arg;
	dlm_nsp_t nsp = join();
	dlm_rd_id_t rd;
	ST(dlm_rd_attach((char *)DOMAIN, &rd, DLM_RD_PROCESS), DLM_SUCCESS);
	dlm_rd_collection_hndl_t col = NULL;
	ST(dlm_rd_collect(rd, &col, 0), DLM_SUCCESS);
	char found = (char)('0' + col->count);
	if (col->count == 1) {
		/* what the dead one left: its name and its last value block */
		dlm_valb_t want;
		valb_fill(&want, gen - 1);
		CHECK(col->resources[0].resnlen == 5 && memcmp(col->resources[0].resnam, "alive", 5) == 0, "collected name");
		CHECK(memcmp(&col->resources[0].valb, &want, sizeof want) == 0, "collected value block");
		EQ(col->resources[0].depth, 0);
	}
	dlm_rd_collection_hndl_t again;
	ST(dlm_rd_collect(rd, &again, 0), DLM_EALREADY);
	ST(dlm_rd_validate(rd, &col, 0), DLM_SUCCESS);
	CHECK(col == NULL, "validate frees the collection");
	dlm_lkid_t lk;
	dlm_valb_t v;
	ST(dlm_locktp(nsp, RES("alive"), NULL, &lk, DLM_EXMODE, &v, DLM_VALB | DLM_PERSIST | DLM_NOQUEUE, 0, 0, NULL, 0, 0, rd),
	   DLM_SUCCESS);
	dlm_valb_t zero;
	memset(&zero, 0, sizeof zero);
	CHECK(memcmp(&v, &zero, sizeof v) == 0, "validated blocks read zero");
	valb_fill(&v, gen);
	ST(dlm_cvt(&lk, DLM_EXMODE, &v, DLM_VALB, 0, 0, NULL, 0), DLM_SUCCESS);
	KID_SAY(k, found);
	if (KID_HEAR(k) == 'q') {
		/* a clean shutdown */
		ST(dlm_unlock(&lk, NULL, 0), DLM_SUCCESS);
		ST(dlm_rd_detach(rd, 0), DLM_SUCCESS);
		KID_SAY(k, 'd');
		return 0;
	}
	for (;;) pause();
}

int main(void)
{
	/* three incarnations, never two at once: the first finds nothing, the second what the first
	 * left when it was killed, the third (after the second was killed too) the same; then a clean exit */
	for (unsigned gen = 1; gen <= 3; gen++) {
		struct kid k = spawn(incarnation, (void *)(long)gen);
		char found = HEAR(k);
		EQ(found, gen == 1 ? '0' : '1');
		kill(k.pid, SIGKILL);
		EQ(reap(k), 128 + SIGKILL);
		msleep(50);
	}
	struct kid k = spawn(incarnation, (void *)4L);
	EQ(HEAR(k), '1');
	TELL(k, 'q');
	EQ(HEAR(k), 'd');
	EQ(reap(k), 0);
	/* after the clean exit, nothing is left to recover and the resource is gone */
	dlm_nsp_t nsp = join();
	dlm_rsbinfo_t ri;
	ST(dlm_get_rsbinfo(nsp, RES("alive"), &ri, NULL), DLM_ENOENT);
	dlm_rd_id_t rd;
	dlm_rd_collection_hndl_t col = NULL;
	ST(dlm_rd_attach((char *)DOMAIN, &rd, DLM_RD_PROCESS), DLM_SUCCESS);
	ST(dlm_rd_collect(rd, &col, 0), DLM_SUCCESS);
	EQ(col->count, 0);
	ST(dlm_rd_validate(rd, &col, 0), DLM_SUCCESS);

	/* statuses */
	dlm_rd_id_t r2;
	ST(dlm_rd_attach((char *)DOMAIN, &r2, DLM_RD_PROCESS), DLM_ATTACHED);
	ST(dlm_rd_attach((char *)"x", &r2, DLM_RD_PROCESS | DLM_RD_GROUP), DLM_BADPARAM);
	ST(dlm_rd_attach((char *)"a-name-longer-than-thirty-two-bytes", &r2, DLM_RD_PROCESS), DLM_ENAMETOOLONG);
	ST(dlm_rd_attach((char *)"g", &r2, DLM_RD_GROUP), DLM_NO_GROUP);
	ST(dlm_rd_validate(rd, &col, 0), DLM_IVHNDL);
	ST(dlm_rd_collect(rd + 7, &col, 0), DLM_IVRDID);
	dlm_lkid_t lk, l2;
	ST(dlm_locktp(nsp, RES("P"), NULL, &lk, DLM_NLMODE, NULL, DLM_PERSIST, 0, 0, NULL, 0, 0, rd + 7), DLM_IVRDID);
	ST(dlm_locktp(nsp, RES("P"), NULL, &lk, DLM_NLMODE, NULL, DLM_PERSIST, 0, 0, NULL, 0, 0, rd), DLM_SUCCESS);
	ST(dlm_lock(nsp, RES("P"), NULL, &l2, DLM_NLMODE, NULL, 0, 0, 0, NULL, 0), DLM_IS_PR);
	ST(dlm_lock(nsp, RES("NP"), NULL, &l2, DLM_NLMODE, NULL, 0, 0, 0, NULL, 0), DLM_SUCCESS);
	dlm_lkid_t l3;
	ST(dlm_locktp(nsp, RES("NP"), NULL, &l3, DLM_NLMODE, NULL, DLM_PERSIST, 0, 0, NULL, 0, 0, rd), DLM_NOT_PR);
	dlm_rd_id_t other;
	ST(dlm_rd_attach((char *)"other", &other, DLM_RD_PROCESS), DLM_SUCCESS);
	ST(dlm_locktp(nsp, RES("P"), NULL, &l3, DLM_NLMODE, NULL, DLM_PERSIST, 0, 0, NULL, 0, 0, other), DLM_PR_RD_MISMATCH);
	ST(dlm_rd_detach(rd, 0), DLM_HASLOCKS);
	ST(dlm_rd_detach(rd, 1), DLM_BADPARAM);
	ST(dlm_unlock(&lk, NULL, 0), DLM_SUCCESS);
	ST(dlm_unlock(&l2, NULL, 0), DLM_SUCCESS);
	ST(dlm_rd_detach(rd, 0), DLM_SUCCESS);
	ST(dlm_rd_detach(rd, 0), DLM_IVRDID);
	ST(dlm_rd_detach(other, 0), DLM_SUCCESS);
	DONE_OK();
}
