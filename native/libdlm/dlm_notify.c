/*
 * Notifications: blocking and completion routines, delivered as TruCluster does (dlm_set_signal,
 * dlm_notify).  "The DLM uses this signal to invoke an internal library routine that delivers the
 * notifications"; with signal 0 "the DLM will not deliver event notifications and you must use
 * dlm_notify() to poll for them"; "If the signal is blocked, the DLM will not deliver blocking and
 * completion notifications."
 *
 * The library's reader thread (dlm_conn.c) queues each notification and raises the process'
 * notification signal (SIGIO until dlm_set_signal says otherwise); the library's handler for that
 * signal runs the queued routines, in whichever thread the kernel picks among those that do not
 * block it.  With signal 0 the node itself holds the notifications until dlm_notify asks for them;
 * dlm_notify then runs them in its caller's thread.
 *
 * The queue is lock-free (a stack pushed by the reader thread, taken whole by the handler, and a
 * free list the other way), so the handler takes no lock and allocates nothing; the library blocks
 * the signal in its own short critical sections, so a routine may call any dlm_* function.
 */
#include "dlm_private.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct note *_Atomic inbox;
static struct note *_Atomic freelist;
static struct note *cache; /* reader thread only: taken from freelist */
static volatile sig_atomic_t cur_sig;
static int installed_sig;
static struct sigaction saved;

struct note *dlm__note_alloc(void)
{
	if (!cache) cache = __atomic_exchange_n(&freelist, NULL, __ATOMIC_ACQUIRE);
	struct note *n = cache;
	if (n) cache = n->next;
	else n = malloc(sizeof *n);
	if (n) memset(n, 0, sizeof *n);
	return n;
}

static void push(struct note *_Atomic *head, struct note *n)
{
	struct note *old = __atomic_load_n(head, __ATOMIC_RELAXED);
	do {
		n->next = old;
	} while (!__atomic_compare_exchange_n(head, &old, n, 1, __ATOMIC_RELEASE, __ATOMIC_RELAXED));
}

void dlm__note_post(struct note *n)
{
	push(&inbox, n);
	int sig = cur_sig;
	if (sig > 0) kill(getpid(), sig);
}

int dlm__deliver(void)
{
	int count = 0;
	for (;;) {
		struct note *list = __atomic_exchange_n(&inbox, NULL, __ATOMIC_ACQUIRE);
		if (!list) return count;
		/* the stack holds the newest first: deliver in arrival order */
		struct note *fifo = NULL;
		while (list) {
			struct note *nx = list->next;
			list->next = fifo;
			fifo = list;
			list = nx;
		}
		while (fifo) {
			struct note *n = fifo;
			fifo = n->next;
			dlm_lkid_t lkid = n->lkid;
			if (n->blocking)
				n->blkrtn(n->notprm, n->hint, &lkid, (dlm_lkmode_t)n->mode_or_status);
			else
				n->cplrtn(n->notprm, &lkid, (dlm_status_t)n->mode_or_status);
			count++;
			push(&freelist, n);
		}
	}
}

static void handler(int sig)
{
	(void)sig;
	int e = errno;
	dlm__deliver();
	errno = e;
}

int dlm__signal(void) { return cur_sig; }

void dlm__signal_set(int sig)
{
	if (sig == installed_sig) {
		cur_sig = sig;
		return;
	}
	if (installed_sig > 0) sigaction(installed_sig, &saved, NULL);
	installed_sig = 0;
	if (sig > 0) {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = handler;
		sigemptyset(&sa.sa_mask);
		sa.sa_flags = SA_RESTART;
		if (sigaction(sig, &sa, &saved) == 0) installed_sig = sig;
	}
	cur_sig = sig;
}

void dlm__notify_reset(void)
{
	struct note *n = __atomic_exchange_n(&inbox, NULL, __ATOMIC_ACQUIRE);
	while (n) {
		struct note *nx = n->next;
		free(n);
		n = nx;
	}
	n = __atomic_exchange_n(&freelist, NULL, __ATOMIC_ACQUIRE);
	while (n) {
		struct note *nx = n->next;
		free(n);
		n = nx;
	}
	while (cache) {
		n = cache->next;
		free(cache);
		cache = n;
	}
}

/* dlm_notify: has the node deliver what it holds (signal 0), then runs every queued routine here. */
int dlm_notify(void)
{
	struct wbuf w;
	struct call c;
	w_begin(&w, OP_NOTIFY);
	dlm__call(&w, &c);
	dlm__done(&c);
	sigset_t old;
	dlm__block(&old); /* the handler would race us for the same notes: one deliverer is enough */
	int n = dlm__deliver();
	dlm__unblock(&old);
	return n;
}

dlm_status_t dlm_set_signal(int newsig, int *oldsig)
{
	struct wbuf w;
	struct call c;
	struct rbuf r;
	w_begin(&w, OP_SETSIGNAL);
	w_i32(&w, newsig);
	int st = dlm__call(&w, &c);
	dlm__fields(&c, &r);
	int prev = r_i32(&r);
	dlm__done(&c);
	if (st != DLM_SUCCESS) return (dlm_status_t)st;
	if (oldsig) *oldsig = prev;
	sigset_t old;
	dlm__block(&old);
	dlm__signal_set(newsig);
	dlm__unblock(&old);
	/* what arrived before the change is delivered now rather than left behind */
	if (newsig > 0) kill(getpid(), newsig);
	return DLM_SUCCESS;
}
