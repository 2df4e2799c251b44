/*
 * api_ex_master - lock conversion and value block usage, the master side (in the spirit of
 * TruCluster's /usr/examples/cluster/api_ex_master.c; run api_ex_client against it, on this node
 * or another node of the cluster).
 *
 * The master holds resource "api_ex" in EX with a blocking routine.  Each time a client asks for
 * the resource, the routine runs; the master then writes the round number and a message into the
 * value block and down-converts to NL (which writes the block), letting the client read it under
 * PR, and converts back up to EX, which waits until the client has released its PR lock.
 *
 *   api_ex_master [rounds]      (default 5)
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/dlm.h>

static volatile sig_atomic_t blocked;

/* blocking routine: a client wants the resource (run by the library on the notification signal) */
static void blkrtn(callback_arg_t notprm, callback_arg_t hint, dlm_lkid_t *lkid, dlm_lkmode_t mode)
{
	(void)notprm; (void)hint; (void)lkid; (void)mode;
	blocked = 1;
}

static int check(dlm_status_t st, const char *what)
{
	if (st == DLM_SUCCESS || st == DLM_SYNCH || st == DLM_SUCCVALNOTVALID) return 0;
	dlm_perror((char *)what, st);
	exit(1);
}

struct block { unsigned round; char text[28]; }; /* the 32-byte value block */

int main(int argc, char **argv)
{
	unsigned rounds = argc > 1 ? (unsigned)atoi(argv[1]) : 5;
	dlm_nsp_t nsp;
	dlm_lkid_t lkid;
	dlm_valb_t valb;
	struct block *b = (struct block *)&valb;
	_Static_assert(sizeof(struct block) == sizeof(dlm_valb_t), "block layout");

	check(dlm_nsjoin(geteuid(), &nsp, DLM_USER), "dlm_nsjoin");
	memset(&valb, 0, sizeof valb);
	check(dlm_lock(nsp, (uchar_t *)"api_ex", 6, NULL, &lkid, DLM_EXMODE, &valb, DLM_VALB, 0, 0, blkrtn, 0), "dlm_lock EX");
	printf("master: holding api_ex in EX (pid %d)\n", (int)getpid());
	fflush(stdout);
	for (unsigned r = 1; r <= rounds; r++) {
		while (!blocked) {
			struct timespec ts = { 0, 10 * 1000000L };
			nanosleep(&ts, NULL);
		}
		blocked = 0;
		b->round = r;
		snprintf(b->text, sizeof b->text, "round %u from %d", r, (int)getpid());
		/* EX -> NL with DLM_VALB writes the block and lets the client in */
		check(dlm_cvt(&lkid, DLM_NLMODE, &valb, DLM_VALB, 0, 0, blkrtn, 0), "dlm_cvt NL");
		printf("master: round %u written\n", r);
		fflush(stdout);
		/* NL -> EX waits for the client's PR to go; the routine is armed again */
		check(dlm_cvt(&lkid, DLM_EXMODE, &valb, DLM_VALB, 0, 0, blkrtn, 0), "dlm_cvt EX");
	}
	check(dlm_unlock(&lkid, NULL, 0), "dlm_unlock");
	check(dlm_nsleave(&nsp, 0), "dlm_nsleave");
	printf("master: done\n");
	return 0;
}
