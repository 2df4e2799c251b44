/*
 * api_ex_client - lock conversion and value block usage, the client side (see api_ex_master.c).
 * Takes "api_ex" in PR with DLM_VALB (waiting for the master to step down), reads the round number
 * and message the master wrote, releases, and asks again, until it has read every round.
 *
 *   api_ex_client [rounds]      (default 5)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/dlm.h>

struct block { unsigned round; char text[28]; };

int main(int argc, char **argv)
{
	unsigned rounds = argc > 1 ? (unsigned)atoi(argv[1]) : 5;
	dlm_nsp_t nsp;
	dlm_status_t st = dlm_nsjoin(geteuid(), &nsp, DLM_USER);
	if (st != DLM_SUCCESS) {
		dlm_perror((char *)"dlm_nsjoin", st);
		return 1;
	}
	unsigned seen = 0;
	while (seen < rounds) {
		dlm_lkid_t lkid;
		dlm_valb_t valb;
		const struct block *b = (const struct block *)&valb;
		/* the hint tells the master's blocking routine who asks */
		st = dlm_lock(nsp, (uchar_t *)"api_ex", 6, NULL, &lkid, DLM_PRMODE, &valb, DLM_VALB, 0, (callback_arg_t)getpid(), NULL, 0);
		if (st != DLM_SUCCESS && st != DLM_SUCCVALNOTVALID) {
			dlm_perror((char *)"dlm_lock PR", st);
			return 1;
		}
		if (b->round > seen) {
			if (b->round != seen + 1) {
				fprintf(stderr, "client: round %u after %u: a round was lost\n", b->round, seen);
				return 1;
			}
			seen = b->round;
			printf("client: round %u: %.28s\n", seen, b->text);
			fflush(stdout);
		}
		st = dlm_unlock(&lkid, NULL, 0);
		if (st != DLM_SUCCESS) {
			dlm_perror((char *)"dlm_unlock", st);
			return 1;
		}
	}
	printf("client: done\n");
	return 0;
}
