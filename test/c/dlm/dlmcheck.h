/* Assertions of the libdlm C tests (test/libdlm.test.ts): every check counts; the first failure
 * prints "FAIL file:line: ..." and exits 1; the end prints "ok N checks".  The node is the one of
 * $DMAPIFS_RUN_DIR / $DMAPIFS_NODE, set by the test. */
#ifndef DLMCHECK_H
#define DLMCHECK_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <sys/dlm.h>

static int checks;

#define FAILX(...) do { printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); \
	fflush(stdout); _exit(1); } while (0)
#define CHECK(cond, ...) do { checks++; if (!(cond)) FAILX(__VA_ARGS__); } while (0)
/* a DLM call returns the expected status */
#define ST(call, want) do { dlm_status_t _s = (call); checks++; if (_s != (want)) \
	FAILX("%s -> %d (%s), expected %s (%d)", #call, (int)_s, dlm_sperrno(_s), #want, (int)(want)); } while (0)
#define EQ(a, b) do { long long _a = (long long)(a), _b = (long long)(b); checks++; \
	if (_a != _b) FAILX("%s = %lld, expected %s = %lld", #a, _a, #b, _b); } while (0)
#define DONE_OK() do { printf("ok %d checks\n", checks); fflush(stdout); return 0; } while (0)

#define RES(s) (uchar_t *)(s), (ushort_t)strlen(s)

static inline dlm_nsp_t join(void)
{
	dlm_nsp_t nsp = 0;
	dlm_status_t s = dlm_nsjoin(geteuid(), &nsp, DLM_USER);
	if (s != DLM_SUCCESS) FAILX("dlm_nsjoin: %s", dlm_sperrno(s));
	return nsp;
}

static inline void msleep(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {}
}

/* Waits (up to 10 s) for *flag to become nonzero, polling dlm_notify when poll != 0. */
static inline int wait_flag(volatile int *flag, int poll)
{
	for (int i = 0; i < 1000 && !*flag; i++) {
		if (poll) dlm_notify();
		msleep(10);
	}
	return *flag;
}

/* A child process running fn(arg) and exiting with its result; the parent syncs through pipes. */
struct kid {
	pid_t pid;
	int to[2], from[2];
};
static inline void kid_say(int fd, char c) { if (write(fd, &c, 1) != 1) _exit(3); }
static inline char kid_hear(int fd)
{
	char c = 0;
	if (read(fd, &c, 1) != 1) return 0;
	return c;
}
static inline struct kid spawn(int (*fn)(struct kid *k, void *arg), void *arg)
{
	struct kid k;
	if (pipe(k.to) < 0 || pipe(k.from) < 0) FAILX("pipe: %s", strerror(errno));
	fflush(stdout);
	pid_t parent = getpid();
	k.pid = fork();
	if (k.pid < 0) FAILX("fork: %s", strerror(errno));
	if (k.pid == 0) {
		/* a test that fails exits at once: its children must not outlive it */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent) _exit(1);
		close(k.to[1]);
		close(k.from[0]);
		int r = fn(&k, arg);
		fflush(stdout);
		_exit(r);
	}
	close(k.to[0]);
	close(k.from[1]);
	return k;
}
/* in the child: tell the parent / wait for the parent */
#define KID_SAY(k, c) kid_say((k)->from[1], c)
#define KID_HEAR(k) kid_hear((k)->to[0])
/* in the parent */
#define TELL(k, c) kid_say((k).to[1], c)
#define HEAR(k) kid_hear((k).from[0])
static inline int reap(struct kid k)
{
	int st = 0;
	close(k.to[1]);
	close(k.from[0]);
	if (waitpid(k.pid, &st, 0) < 0) return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
static inline void valb_fill(dlm_valb_t *v, unsigned x)
{
	for (int i = 0; i < DLM_VALBLKSIZE; i++) v->valblk[i] = x + (unsigned)i;
}
/* A completion routine that counts its calls and keeps the last status. */
static volatile int ncpl, cst;
static inline void cpl(callback_arg_t notprm, dlm_lkid_t *lkid, dlm_status_t status)
{
	(void)notprm; (void)lkid;
	cst = status;
	ncpl++;
}
#endif
