/* Threads and fork: 8 threads lock, convert and unlock at once on shared and private resources of
 * one process (a group of calls in flight on one connection); a forked child has a DLM identity of
 * its own (its locks conflict with the parent's) and the parent's connection keeps working. */
#include "dlmcheck.h"
#include <pthread.h>

#define THREADS 8
#define ITER 200
static dlm_nsp_t nsp;
static volatile int inside, violations;

static void *worker(void *p)
{
	long me = (long)p;
	char priv[16];
	snprintf(priv, sizeof priv, "T%ld", me);
	for (int i = 0; i < ITER; i++) {
		dlm_lkid_t a, b;
		if (dlm_lock(nsp, RES(priv), NULL, &a, DLM_PRMODE, NULL, 0, 0, 0, NULL, 0) != DLM_SUCCESS) violations += 1000;
		/* shared: EX among threads of one process conflicts like any two locks */
		if (dlm_lock(nsp, RES("shared"), NULL, &b, DLM_EXMODE, NULL, DLM_NODLCKWT, 0, 0, NULL, 0) != DLM_SUCCESS) violations += 1000;
		if (__atomic_add_fetch(&inside, 1, __ATOMIC_SEQ_CST) != 1) violations++;
		__atomic_sub_fetch(&inside, 1, __ATOMIC_SEQ_CST);
		if (dlm_cvt(&b, DLM_NLMODE, NULL, 0, 0, 0, NULL, 0) != DLM_SUCCESS) violations += 1000;
		if (dlm_unlock(&b, NULL, 0) != DLM_SUCCESS) violations += 1000;
		if (dlm_unlock(&a, NULL, 0) != DLM_SUCCESS) violations += 1000;
	}
	return NULL;
}

static int child(struct kid *k, void *arg)
{
	(void)arg;
	/* the parent's namespace handle means nothing here: this is another process */
	dlm_lkid_t lk;
	ST(dlm_lock(nsp, RES("F"), NULL, &lk, DLM_EXMODE, NULL, 0, 0, 0, NULL, 0), DLM_NOTATTACHED);
	dlm_nsp_t mine = join();
	ST(dlm_lock(mine, RES("F"), NULL, &lk, DLM_EXMODE, NULL, DLM_NOQUEUE, 0, 0, NULL, 0), DLM_NOTQUEUED);
	KID_SAY(k, 'n');
	ST(dlm_lock(mine, RES("F"), NULL, &lk, DLM_EXMODE, NULL, 0, 0, 0, NULL, 0), DLM_SUCCESS);
	KID_SAY(k, 'g');
	return 0;
}

int main(void)
{
	nsp = join();
	pthread_t t[THREADS];
	for (long i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, worker, (void *)i);
	for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
	EQ(violations, 0);
	dlm_rsbinfo_t ri;
	ST(dlm_get_rsbinfo(nsp, RES("shared"), &ri, NULL), DLM_ENOENT);

	dlm_lkid_t lk;
	ST(dlm_lock(nsp, RES("F"), NULL, &lk, DLM_EXMODE, NULL, 0, 0, 0, NULL, 0), DLM_SUCCESS);
	struct kid k = spawn(child, NULL);
	CHECK(HEAR(k) == 'n', "child");
	msleep(100);
	ST(dlm_unlock(&lk, NULL, 0), DLM_SUCCESS);
	CHECK(HEAR(k) == 'g', "child granted");
	EQ(reap(k), 0);
	/* it exited holding F: the node frees it when it sees the connection close */
	ST(dlm_lock(nsp, RES("F"), NULL, &lk, DLM_EXMODE, NULL, 0, 0, 0, NULL, 500), DLM_SUCCESS);
	ST(dlm_unlock(&lk, NULL, 0), DLM_SUCCESS);
	DONE_OK();
}
