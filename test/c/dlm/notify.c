/* Blocking notifications: the holder's routine gets (its notprm, the waiter's hint, its lkid, the
 * blocked mode); once per level; dlm_cvt replaces notprm and routine; a blocked signal holds
 * delivery back until it is unblocked; the blocking routine may release the lock itself. */
#include "dlmcheck.h"

static volatile int nblk;
static volatile long b_notprm, b_hint;
static volatile int b_mode;
static dlm_lkid_t b_lkid;

static void blk(callback_arg_t notprm, callback_arg_t hint, dlm_lkid_t *lkid, dlm_lkmode_t mode)
{
	b_notprm = notprm;
	b_hint = hint;
	b_mode = mode;
	b_lkid = *lkid;
	nblk++;
}

static volatile int nblk2;
static void blk2(callback_arg_t notprm, callback_arg_t hint, dlm_lkid_t *lkid, dlm_lkmode_t mode)
{
	(void)hint; (void)lkid; (void)mode;
	b_notprm = notprm;
	nblk2++;
}

/* a routine that gives the lock up: the waiter is granted without anyone polling */
static dlm_lkid_t polite;
static volatile int released;
static void give_up(callback_arg_t notprm, callback_arg_t hint, dlm_lkid_t *lkid, dlm_lkmode_t mode)
{
	(void)notprm; (void)hint; (void)mode;
	if (dlm_unlock(lkid, NULL, 0) == DLM_SUCCESS) released = 1;
}

/* the waiter: asks for `mode` on R with a hint, and reports its status */
struct ask { const char *res; dlm_lkmode_t mode; long hint; };
static int asker(struct kid *k, void *arg)
{
	struct ask *a = arg;
	dlm_nsp_t nsp = join();
	dlm_lkid_t lk;
	KID_SAY(k, 'j');
	dlm_status_t st = dlm_lock(nsp, RES(a->res), NULL, &lk, a->mode, NULL, 0, 0, a->hint, NULL, 0);
	KID_SAY(k, st == DLM_SUCCESS ? 'g' : 'f');
	KID_HEAR(k);
	return 0;
}

int main(void)
{
	dlm_nsp_t nsp = join();
	dlm_lkid_t a;
	ST(dlm_lock(nsp, RES("B"), NULL, &a, DLM_PRMODE, NULL, 0, 1001, 0, blk, 0), DLM_SUCCESS);
	struct ask q = { "B", DLM_EXMODE, 77 };
	struct kid k = spawn(asker, &q);
	HEAR(k);
	CHECK(wait_flag(&nblk, 0), "no blocking notification");
	EQ(b_notprm, 1001);
	EQ(b_hint, 77);
	EQ(b_mode, DLM_EXMODE);
	CHECK(b_lkid.hndl == a.hndl && b_lkid.seqn == a.seqn, "blocking lkid");
	/* a second waiter at the same level: no second notification */
	struct ask q2 = { "B", DLM_EXMODE, 78 };
	struct kid k2 = spawn(asker, &q2);
	HEAR(k2);
	msleep(200);
	EQ(nblk, 1);
	/* dlm_cvt replaces notprm and routine: a new higher demand reaches blk2 */
	ST(dlm_cvt(&a, DLM_PRMODE, NULL, 0, 2002, 0, blk2, 0), DLM_SUCCESS);
	CHECK(wait_flag(&nblk2, 0), "no notification through the new routine");
	EQ(b_notprm, 2002);
	ST(dlm_unlock(&a, NULL, 0), DLM_SUCCESS);
	CHECK(HEAR(k) == 'g', "first waiter granted");
	TELL(k, 'x');
	EQ(reap(k), 0);
	CHECK(HEAR(k2) == 'g', "second waiter granted");
	TELL(k2, 'x');
	EQ(reap(k2), 0);

	/* a blocked signal holds notifications back */
	int old;
	ST(dlm_set_signal(SIGUSR1, &old), DLM_SUCCESS);
	sigset_t s, prev;
	sigemptyset(&s);
	sigaddset(&s, SIGUSR1);
	sigprocmask(SIG_BLOCK, &s, &prev);
	nblk = 0;
	ST(dlm_lock(nsp, RES("C"), NULL, &a, DLM_EXMODE, NULL, 0, 3003, 0, blk, 0), DLM_SUCCESS);
	struct ask q3 = { "C", DLM_CRMODE, 79 };
	k = spawn(asker, &q3);
	HEAR(k);
	msleep(300);
	EQ(nblk, 0);
	sigprocmask(SIG_SETMASK, &prev, NULL);
	CHECK(wait_flag(&nblk, 0), "nothing delivered after unblocking");
	EQ(b_mode, DLM_CRMODE);
	EQ(b_hint, 79);
	ST(dlm_unlock(&a, NULL, 0), DLM_SUCCESS);
	CHECK(HEAR(k) == 'g', "waiter granted");
	TELL(k, 'x');
	EQ(reap(k), 0);

	/* the blocking routine releases the lock (a DLM call from the routine) */
	ST(dlm_lock(nsp, RES("D"), NULL, &polite, DLM_EXMODE, NULL, DLM_NODLCKBLK, 0, 0, give_up, 0), DLM_SUCCESS);
	struct ask q4 = { "D", DLM_EXMODE, 0 };
	k = spawn(asker, &q4);
	HEAR(k);
	CHECK(HEAR(k) == 'g', "the waiter was not granted");
	EQ(released, 1);
	TELL(k, 'x');
	EQ(reap(k), 0);
	DONE_OK();
}
