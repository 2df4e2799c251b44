/*
 * dlm - lock, convert and unlock named resources of the DLM from the shell.
 *
 *   dlm [-q] [-t CS] [-w TEXT] lock NAME MODE [COMMAND [ARG...]]
 *       Takes NAME in MODE (NL CR CW PR PW EX) in the caller's user namespace. With COMMAND, runs it
 *       while holding the lock and exits with its status; without, holds the lock until stdin ends.
 *       -q: fail at once if it cannot be granted (DLM_NOQUEUE); -t: give up after CS hundredths of
 *       a second; -w: write TEXT into the value block (PW/EX) when the lock is released.
 *   dlm info NAME
 *       Prints the resource: locks, greatest granted mode, heads of the queues, the value block.
 *   dlm shell
 *       Reads commands from stdin, one a line, every lock held by this one process:
 *         lock NAME MODE [noqueue]     convert NAME MODE     unlock NAME [TEXT]
 *         info NAME                    quit
 *       and answers each with "NAME: STATUS" (or the info).
 *
 * Exit status: 0 granted / done, 1 refused (the status is printed), 2 usage.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sys/dlm.h>

static const char *MODES[] = { "--", "NL", "CR", "CW", "PR", "PW", "EX" };

static int mode_of(const char *s)
{
	for (int m = 1; m <= 6; m++)
		if (strcasecmp(s, MODES[m]) == 0) return m;
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: dlm [-q] [-t CS] [-w TEXT] lock NAME MODE [COMMAND...] | dlm info NAME | dlm shell\n");
	return 2;
}

static int granted(dlm_status_t st)
{
	return st == DLM_SUCCESS || st == DLM_SYNCH || st == DLM_SUCCVALNOTVALID || st == DLM_SYNCVALNOTVALID;
}

static void text_valb(dlm_valb_t *v, const char *text)
{
	size_t n = strlen(text);
	memset(v, 0, sizeof *v);
	memcpy(v, text, n < sizeof *v ? n : sizeof *v); /* 32 bytes, not NUL-terminated when full */
}

static void print_valb(const dlm_valb_t *v)
{
	const unsigned char *p = (const unsigned char *)v;
	size_t n = sizeof *v;
	while (n && p[n - 1] == 0) n--;
	int text = 1;
	for (size_t i = 0; i < n; i++)
		if (!isprint(p[i])) text = 0;
	if (text) printf("valb \"%.*s\"\n", (int)n, (const char *)p);
	else {
		printf("valb");
		for (size_t i = 0; i < sizeof *v; i++) printf(" %02x", p[i]);
		printf("\n");
	}
}

static int info(dlm_nsp_t nsp, const char *name)
{
	dlm_rsbinfo_t ri;
	dlm_status_t st = dlm_get_rsbinfo(nsp, (uchar_t *)name, (ushort_t)strlen(name), &ri, NULL);
	if (st != DLM_SUCCESS) {
		printf("%s: %s\n", name, dlm_sperrno(st));
		return 1;
	}
	printf("%s: locks %u granted %u ggmode %s cvtq %s waitq %s vbstatus %s\n", name, ri.lckcnt, ri.ggcnt,
	       MODES[ri.ggmode <= 6 ? ri.ggmode : 0], MODES[ri.cvtqmode <= 6 ? ri.cvtqmode : 0],
	       MODES[ri.wtqmode <= 6 ? ri.wtqmode : 0], ri.vbstatus == DLM_SUCCESS ? "valid" : "invalid");
	print_valb(&ri.valb);
	return 0;
}

/* ---- dlm shell: named locks of this process ---- */
struct held { char name[DLM_RESNAMELEN + 1]; dlm_lkid_t lkid; dlm_valb_t valb; struct held *next; };
static struct held *locks;

static struct held *find(const char *name)
{
	for (struct held *h = locks; h; h = h->next)
		if (strcmp(h->name, name) == 0) return h;
	return NULL;
}

static int shell(dlm_nsp_t nsp)
{
	char line[512];
	while (fgets(line, sizeof line, stdin)) {
		char *argv[8];
		int argc = 0;
		for (char *t = strtok(line, " \t\r\n"); t && argc < 8; t = strtok(NULL, " \t\r\n")) argv[argc++] = t;
		if (argc == 0) continue;
		if (strcmp(argv[0], "quit") == 0) break;
		if (argc < 2) {
			printf("?: usage: lock NAME MODE [noqueue] | convert NAME MODE | unlock NAME [TEXT] | info NAME | quit\n");
			fflush(stdout);
			continue;
		}
		const char *name = argv[1];
		dlm_status_t st;
		if (strcmp(argv[0], "lock") == 0 && argc >= 3 && mode_of(argv[2]) && strlen(name) <= DLM_RESNAMELEN) {
			struct held *h = calloc(1, sizeof *h);
			if (!h) return 1;
			strcpy(h->name, name);
			dlm_flags_t fl = DLM_VALB | (argc > 3 && strcmp(argv[3], "noqueue") == 0 ? DLM_NOQUEUE : 0);
			st = dlm_lock(nsp, (uchar_t *)name, (ushort_t)strlen(name), NULL, &h->lkid, (dlm_lkmode_t)mode_of(argv[2]),
				      &h->valb, fl, 0, 0, NULL, 0);
			if (granted(st)) {
				h->next = locks;
				locks = h;
			} else {
				free(h);
			}
		} else if (strcmp(argv[0], "convert") == 0 && argc >= 3 && mode_of(argv[2]) && find(name)) {
			struct held *h = find(name);
			st = dlm_cvt(&h->lkid, (dlm_lkmode_t)mode_of(argv[2]), &h->valb, DLM_VALB, 0, 0, NULL, 0);
		} else if (strcmp(argv[0], "unlock") == 0 && find(name)) {
			struct held *h = find(name);
			if (argc > 2) text_valb(&h->valb, argv[2]);
			st = dlm_unlock(&h->lkid, argc > 2 ? &h->valb : NULL, argc > 2 ? DLM_VALB : 0);
			if (st == DLM_SUCCESS) {
				for (struct held **pp = &locks; *pp; pp = &(*pp)->next)
					if (*pp == h) {
						*pp = h->next;
						break;
					}
				free(h);
			}
		} else if (strcmp(argv[0], "info") == 0) {
			info(nsp, name);
			fflush(stdout);
			continue;
		} else {
			printf("%s: no such command or lock\n", name);
			fflush(stdout);
			continue;
		}
		printf("%s: %s\n", name, dlm_sperrno(st));
		fflush(stdout);
	}
	return 0;
}

int main(int argc, char **argv)
{
	dlm_flags_t flags = 0;
	uint_t timeout = 0;
	const char *write_text = NULL;
	int c;
	while ((c = getopt(argc, argv, "+qt:w:")) != -1) {
		if (c == 'q') flags |= DLM_NOQUEUE;
		else if (c == 't') timeout = (uint_t)atoi(optarg);
		else if (c == 'w') write_text = optarg;
		else return usage();
	}
	if (optind >= argc) return usage();
	const char *cmd = argv[optind];
	dlm_nsp_t nsp;
	dlm_status_t st = dlm_nsjoin(geteuid(), &nsp, DLM_USER);
	if (st != DLM_SUCCESS) {
		fprintf(stderr, "dlm: %s\n", dlm_sperrno(st));
		return 1;
	}
	if (strcmp(cmd, "shell") == 0) return shell(nsp);
	if (strcmp(cmd, "info") == 0 && optind + 1 < argc) return info(nsp, argv[optind + 1]);
	if (strcmp(cmd, "lock") != 0 || optind + 2 >= argc) return usage();
	const char *name = argv[optind + 1];
	int mode = mode_of(argv[optind + 2]);
	if (!mode) return usage();
	dlm_lkid_t lkid;
	dlm_valb_t valb;
	st = dlm_lock(nsp, (uchar_t *)name, (ushort_t)strlen(name), NULL, &lkid, (dlm_lkmode_t)mode, &valb, flags | DLM_VALB, 0, 0,
		      NULL, timeout);
	if (!granted(st)) {
		fprintf(stderr, "dlm: %s %s: %s\n", name, MODES[mode], dlm_sperrno(st));
		return 1;
	}
	printf("%s: %s granted (%s)\n", name, MODES[mode], dlm_sperrno(st));
	print_valb(&valb);
	fflush(stdout);
	int rc = 0;
	if (optind + 3 < argc) {
		pid_t p = fork();
		if (p == 0) {
			execvp(argv[optind + 3], &argv[optind + 3]);
			perror(argv[optind + 3]);
			_exit(127);
		}
		int ws = 0;
		waitpid(p, &ws, 0);
		rc = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
	} else {
		char buf[256];
		while (fgets(buf, sizeof buf, stdin)) {}
	}
	if (write_text) text_valb(&valb, write_text);
	st = dlm_unlock(&lkid, write_text ? &valb : NULL, write_text ? DLM_VALB : 0);
	if (st != DLM_SUCCESS) {
		fprintf(stderr, "dlm: unlock %s: %s\n", name, dlm_sperrno(st));
		return 1;
	}
	return rc;
}
