/*
 * The connection to the node's lock manager, <run>/<node>/dlm.sock (run = $DMAPIFS_RUN_DIR or
 * /run/dmapifs, node = $DMAPIFS_NODE or the host name, as the daemon derives it).
 *
 * One connection per process: the lock manager knows a process by its connection (SO_PEERCRED),
 * and its locks, namespaces and notifications belong to the process, not to a thread.  Any thread
 * may call: a request is written under a mutex and its caller waits on its own semaphore; a library
 * thread reads everything the node sends, hands answers to their callers and queues blocking and
 * completion notifications (dlm_notify.c).  Waiting holds no lock and leaves the notification
 * signal open, so routines run while a thread waits in dlm_lock, as TruCluster delivers them.
 *
 * The node gone (it died or restarted) or its lock space lost (RESET): calls in flight and waits
 * end with DLM_ENOSYS, queued requests get their completion routine with DLM_ENOSYS, and the next
 * call connects afresh: the process starts over (DLM_NOTATTACHED until it joins again).  No node:
 * DLM_ENOSYS ("the DLM is not enabled").
 *
 * fork(): the child starts unconnected with empty tables; its first call makes its own connection
 * (the parent's stays the parent's).
 */
#include "dlm_private.h"
#include "dmapifs-run.h"
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static pthread_mutex_t state = PTHREAD_MUTEX_INITIALIZER; /* fd, calls, rids */
static pthread_mutex_t wlock = PTHREAD_MUTEX_INITIALIZER; /* writes */
static int fd = -1;
static unsigned gen; /* connection generation: a reader thread serves one */
static uint32_t next_req = 1;
static struct call *calls;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* ---- rids: open addressing on the rid (rids are never reused before 2^32 requests) ---- */
static struct rid *rtab;
static size_t rcap, rcount;
static uint32_t next_rid = 1;

static size_t rslot(uint32_t rid) { return (rid * 2654435761u) & (rcap - 1); }

static struct rid *rfind(uint32_t rid)
{
	if (!rcap || !rid) return NULL;
	for (size_t i = rslot(rid);; i = (i + 1) & (rcap - 1)) {
		if (rtab[i].rid == rid) return &rtab[i];
		if (rtab[i].rid == 0) return NULL;
	}
}

static int rinsert(const struct rid *r)
{
	if ((rcount + 1) * 2 > rcap) {
		size_t ncap = rcap ? rcap * 2 : 64;
		struct rid *nt = calloc(ncap, sizeof *nt);
		if (!nt) return -1;
		struct rid *old = rtab;
		size_t ocap = rcap;
		rtab = nt;
		rcap = ncap;
		for (size_t i = 0; i < ocap; i++) {
			if (!old[i].rid) continue;
			size_t j = rslot(old[i].rid);
			while (rtab[j].rid) j = (j + 1) & (rcap - 1);
			rtab[j] = old[i];
		}
		free(old);
	}
	size_t j = rslot(r->rid);
	while (rtab[j].rid) j = (j + 1) & (rcap - 1);
	rtab[j] = *r;
	rcount++;
	return 0;
}

/* Linear probing deletion: shift the entries that follow back into the hole. */
static void rdelete(struct rid *e)
{
	size_t i = (size_t)(e - rtab);
	rtab[i].rid = 0;
	rcount--;
	for (size_t j = (i + 1) & (rcap - 1); rtab[j].rid; j = (j + 1) & (rcap - 1)) {
		size_t k = rslot(rtab[j].rid);
		/* move j to i when its home k is not in (i, j] cyclically */
		if ((j > i && (k <= i || k > j)) || (j < i && (k <= i && k > j))) {
			rtab[i] = rtab[j];
			rtab[j].rid = 0;
			i = j;
		}
	}
}

void dlm__block(sigset_t *old)
{
	sigset_t s;
	sigemptyset(&s);
	int sig = dlm__signal();
	if (sig > 0) sigaddset(&s, sig);
	pthread_sigmask(SIG_BLOCK, &s, old);
}
void dlm__unblock(const sigset_t *old) { pthread_sigmask(SIG_SETMASK, old, NULL); }

static void lock_state(sigset_t *old)
{
	dlm__block(old);
	pthread_mutex_lock(&state);
}
static void unlock_state(const sigset_t *old)
{
	pthread_mutex_unlock(&state);
	dlm__unblock(old);
}

int dlm__lkid_null(const dlm_lkid_t *id) { return !id || (id->hndl == 0 && id->seqn == 0); }
static int same(const dlm_lkid_t *a, const dlm_lkid_t *b) { return a->hndl == b->hndl && a->seqn == b->seqn; }

uint32_t dlm__rid_new(callback_arg_t notprm, blk_callback_t blk, cpl_callback_t cpl, dlm_valb_t *valb)
{
	sigset_t old;
	lock_state(&old);
	struct rid r = { 0 };
	r.rid = next_rid++;
	if (next_rid > 0xfffffff0u) next_rid = 1;
	r.notprm = notprm;
	r.blkrtn = blk;
	r.cplrtn = cpl;
	r.valb = valb;
	uint32_t id = rinsert(&r) == 0 ? r.rid : 0;
	unlock_state(&old);
	return id;
}

void dlm__rid_set_lock(uint32_t rid, const dlm_lkid_t *lkid, int granted, int pending)
{
	sigset_t old;
	lock_state(&old);
	struct rid *e = rfind(rid);
	if (e) {
		e->lkid = *lkid;
		if (granted) e->granted = 1;
		e->pending_cpl += pending;
	}
	unlock_state(&old);
}

void dlm__rid_drop(uint32_t rid)
{
	sigset_t old;
	lock_state(&old);
	struct rid *e = rfind(rid);
	if (e) rdelete(e);
	unlock_state(&old);
}

static void lock_gone_locked(const dlm_lkid_t *lkid)
{
	for (size_t i = 0; i < rcap;) {
		if (rtab[i].rid && same(&rtab[i].lkid, lkid)) {
			if (rtab[i].pending_cpl > 0) {
				/* its completion (DLM_ABORT, DLM_CANCEL) is still to come and must run */
				rtab[i].dead = 1;
				i++;
				continue;
			}
			rdelete(&rtab[i]); /* an entry may have shifted into i: look at it again */
			continue;
		}
		i++;
	}
}

void dlm__lock_gone(const dlm_lkid_t *lkid)
{
	sigset_t old;
	lock_state(&old);
	lock_gone_locked(lkid);
	unlock_state(&old);
}

void dlm__lock_granted(const dlm_lkid_t *lkid)
{
	sigset_t old;
	lock_state(&old);
	for (size_t i = 0; i < rcap; i++)
		if (rtab[i].rid && same(&rtab[i].lkid, lkid)) rtab[i].granted = 1;
	unlock_state(&old);
}

int dlm__rid_get(uint32_t rid, struct rid *out)
{
	sigset_t old;
	lock_state(&old);
	struct rid *e = rfind(rid);
	if (e) *out = *e;
	unlock_state(&old);
	return e != NULL;
}

/* ---- the connection ---- */

static int open_socket(void)
{
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	if (dmapifs_socket_path(sa.sun_path, sizeof sa.sun_path, "dlm.sock") < 0) return -1;
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0) return -1;
	if (connect(s, (struct sockaddr *)&sa, sizeof sa) < 0) {
		close(s);
		return -1;
	}
	return s;
}

static int read_all(int s, unsigned char *p, size_t n)
{
	while (n) {
		ssize_t k = read(s, p, n);
		if (k < 0 && errno == EINTR) continue;
		if (k <= 0) return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static struct call *find_call(uint32_t id)
{
	for (struct call *c = calls; c; c = c->next)
		if (c->id == id) return c;
	return NULL;
}

/* Ends calls up to `last` (0: all) and waits with DLM_ENOSYS; with `all`, every queued request
 * hears DLM_ENOSYS through its completion routine and the rids go (the lock space forgot us). */
static void fail_locked(uint32_t last)
{
	for (struct call *c = calls; c; c = c->next) {
		if (!c->replied && (!last || c->id <= last)) {
			c->replied = 1;
			c->status = DLM_ENOSYS;
			c->waitdone = 1;
			c->wstatus = DLM_ENOSYS;
			sem_post(&c->sem);
		} else if (c->replied && !c->waitdone) {
			c->waitdone = 1;
			c->wstatus = DLM_ENOSYS;
			sem_post(&c->sem);
		}
	}
	for (size_t i = 0; i < rcap; i++) {
		struct rid *e = &rtab[i];
		if (!e->rid) continue;
		if (e->pending_cpl > 0 && e->cplrtn) {
			struct note *n = dlm__note_alloc();
			if (n) {
				n->blocking = 0;
				n->cplrtn = e->cplrtn;
				n->notprm = e->notprm;
				n->lkid = e->lkid;
				n->mode_or_status = DLM_ENOSYS;
				dlm__note_post(n);
			}
		}
	}
	free(rtab);
	rtab = NULL;
	rcap = rcount = 0;
}

static void on_completion(struct rbuf *r)
{
	uint32_t cpl = r_u32(r), np = r_u32(r);
	dlm_lkid_t lkid;
	r_lkid(r, &lkid);
	int status = r_i32(r);
	/* the value block goes straight into the request's buffer, before anyone is told */
	struct rid *e = rfind(cpl);
	dlm_valb_t vb;
	int has = r_valb_opt(r, &vb);
	if (!r_done(r) || dlm__lkid_null(&lkid)) return;
	if (!e) return;
	if (has && e->valb) memcpy(e->valb, &vb, sizeof vb);
	e->lkid = lkid;
	e->pending_cpl--;
	int granted = status == DLM_SUCCESS || status == DLM_SUCCVALNOTVALID || status == DLM_SYNCH || status == DLM_SYNCVALNOTVALID;
	cpl_callback_t fn = e->cplrtn;
	struct rid *npr = np == cpl ? e : rfind(np);
	callback_arg_t notprm = npr ? npr->notprm : 0;
	int dead = e->dead && e->pending_cpl <= 0;
	int never = !e->granted;
	/* from here on e may move (deletions shift entries) */
	if (granted) {
		for (size_t i = 0; i < rcap; i++)
			if (rtab[i].rid && same(&rtab[i].lkid, &lkid)) rtab[i].granted = 1;
	} else if (never) {
		lock_gone_locked(&lkid); /* a new request that failed: the lock is no more */
	}
	if (dead) {
		struct rid *d = rfind(cpl);
		if (d) rdelete(d);
	}
	if (!fn) return;
	struct note *n = dlm__note_alloc();
	if (!n) return;
	n->blocking = 0;
	n->cplrtn = fn;
	n->notprm = notprm;
	n->lkid = lkid;
	n->mode_or_status = status;
	dlm__note_post(n);
}

static void on_blocking(struct rbuf *r)
{
	uint32_t blk = r_u32(r), np = r_u32(r);
	struct note tmp = { 0 };
	r_lkid(r, &tmp.lkid);
	tmp.mode_or_status = r_u8(r);
	tmp.hint = (callback_arg_t)r_value(r);
	if (!r_done(r)) return;
	struct rid *e = rfind(blk);
	if (!e || !e->blkrtn) return;
	struct rid *npr = np == blk ? e : rfind(np);
	struct note *n = dlm__note_alloc();
	if (!n) return;
	*n = tmp;
	n->blocking = 1;
	n->blkrtn = e->blkrtn;
	n->notprm = npr ? npr->notprm : 0;
	dlm__note_post(n);
}

/* One message from the node; called with `state` held. */
static void on_message(unsigned char *body, size_t len)
{
	struct rbuf r = { body, len, 0, 0 };
	uint8_t type = r_u8(&r);
	switch (type) {
	case MSG_REPLY: {
		uint32_t id = r_u32(&r);
		int st = r_i32(&r);
		struct call *c = find_call(id);
		if (!c || c->replied || r.bad) return;
		size_t n = len - r.pos;
		c->body = n ? malloc(n) : NULL;
		if (n && c->body) memcpy(c->body, body + r.pos, n);
		c->blen = c->body ? n : 0;
		c->status = st;
		c->replied = 1;
		sem_post(&c->sem);
		return;
	}
	case MSG_WAITDONE: {
		uint32_t id = r_u32(&r);
		int st = r_i32(&r);
		dlm_valb_t vb;
		int has = r_valb_opt(&r, &vb);
		struct call *c = find_call(id);
		if (!c || c->waitdone || !r_done(&r)) return;
		c->wstatus = st;
		c->wvalb = has;
		if (has) c->wvalbuf = vb;
		c->waitdone = 1;
		sem_post(&c->sem);
		return;
	}
	case MSG_COMPLETION:
		on_completion(&r);
		return;
	case MSG_BLOCKING:
		on_blocking(&r);
		return;
	case MSG_ERROR: {
		/* The node could not read a request of ours: that call fails with DLM_BADPARAM. */
		uint32_t id = r_u32(&r);
		struct call *c = find_call(id);
		if (c && !c->replied) {
			c->status = DLM_BADPARAM;
			c->replied = 1;
			sem_post(&c->sem);
		}
		if (c && !c->waitdone) {
			c->waitdone = 1;
			c->wstatus = DLM_BADPARAM;
			sem_post(&c->sem);
		}
		return;
	}
	case MSG_RESET: {
		r_skip_str(&r);
		uint32_t last = r_u32(&r);
		fail_locked(r.bad ? 0 : last);
		return;
	}
	default:
		return;
	}
}

struct reader_arg {
	int fd;
	unsigned gen;
};

static void *reader(void *arg)
{
	struct reader_arg a = *(struct reader_arg *)arg;
	free(arg);
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL); /* notifications reach the program's threads */
	unsigned char *buf = malloc(MAX_CLIENT_FRAME);
	for (;;) {
		unsigned char hdr[4];
		if (!buf || read_all(a.fd, hdr, 4) < 0) break;
		uint32_t n = (uint32_t)hdr[0] | (uint32_t)hdr[1] << 8 | (uint32_t)hdr[2] << 16 | (uint32_t)hdr[3] << 24;
		if (n == 0 || n > MAX_CLIENT_FRAME) break;
		if (read_all(a.fd, buf, n) < 0) break;
		pthread_mutex_lock(&state);
		if (a.gen == gen) on_message(buf, n);
		pthread_mutex_unlock(&state);
	}
	free(buf);
	pthread_mutex_lock(&wlock); /* no request is being written on the descriptor closed here */
	pthread_mutex_lock(&state);
	if (a.gen == gen) {
		/* the node is gone: everything in flight fails, the next call connects again */
		fail_locked(0);
		close(fd);
		fd = -1;
		gen++;
	} else {
		close(a.fd);
	}
	pthread_mutex_unlock(&state);
	pthread_mutex_unlock(&wlock);
	return NULL;
}

static void atfork_prepare(void)
{
	pthread_mutex_lock(&wlock);
	pthread_mutex_lock(&state);
}
static void atfork_parent(void)
{
	pthread_mutex_unlock(&state);
	pthread_mutex_unlock(&wlock);
}
static void atfork_child(void)
{
	/* No reader thread here, and the connection is the parent's: start over. */
	if (fd >= 0) close(fd);
	fd = -1;
	gen++;
	calls = NULL; /* they belong to the parent's threads */
	free(rtab);
	rtab = NULL;
	rcap = rcount = 0;
	dlm__notify_reset();
	pthread_mutex_init(&state, NULL);
	pthread_mutex_init(&wlock, NULL);
}
static void init_once(void) { pthread_atfork(atfork_prepare, atfork_parent, atfork_child); }

/* Called with `state` held: a connection and its reader, or -1. */
static int connect_locked(void)
{
	if (fd >= 0) return 0;
	int s = open_socket();
	if (s < 0) return -1;
	struct reader_arg *a = malloc(sizeof *a);
	if (!a) {
		close(s);
		return -1;
	}
	fd = s;
	a->fd = s;
	a->gen = ++gen;
	pthread_t t;
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &at, reader, a) != 0) {
		pthread_attr_destroy(&at);
		free(a);
		close(s);
		fd = -1;
		return -1;
	}
	pthread_attr_destroy(&at);
	/* a new connection starts with the node's default signal */
	dlm__signal_set(DLM_DEFAULT_SIGNAL);
	return 0;
}

static int send_all(int s, const unsigned char *p, size_t n)
{
	while (n) {
		ssize_t k = send(s, p, n, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR) continue;
		if (k <= 0) return -1;
		p += (size_t)k;
		n -= (size_t)k;
	}
	return 0;
}

static int sem_wait_all(sem_t *s)
{
	while (sem_wait(s) < 0)
		if (errno != EINTR) return -1;
	return 0;
}

int dlm__call(struct wbuf *w, struct call *c)
{
	memset(c, 0, sizeof *c);
	c->waitdone = 1; /* until a lock answer says it waits */
	pthread_once(&once, init_once);
	if (w->oom) {
		w_free(w);
		return DLM_INSFMEM;
	}
	if (w->len - 4 > MAX_CLIENT_FRAME) {
		w_free(w);
		return DLM_BADPARAM;
	}
	sem_init(&c->sem, 0, 0);
	c->op = w->p[4];
	sigset_t old;
	lock_state(&old);
	if (connect_locked() < 0) {
		unlock_state(&old);
		w_free(w);
		c->replied = 1;
		c->status = DLM_ENOSYS;
		return DLM_ENOSYS;
	}
	uint32_t id = next_req++;
	if (next_req > 0xfffffff0u) next_req = 1;
	c->id = id;
	c->waitdone = 0;
	c->next = calls;
	calls = c;
	int s = fd;
	unsigned mygen = gen;
	uint32_t n = (uint32_t)(w->len - 4);
	unsigned char *p = w->p;
	p[0] = (unsigned char)n; p[1] = (unsigned char)(n >> 8); p[2] = (unsigned char)(n >> 16); p[3] = (unsigned char)(n >> 24);
	p[5] = (unsigned char)id; p[6] = (unsigned char)(id >> 8); p[7] = (unsigned char)(id >> 16); p[8] = (unsigned char)(id >> 24);
	pthread_mutex_unlock(&state);
	pthread_mutex_lock(&wlock);
	/* gen changes only with wlock held: a connection that ended since failed this call already */
	int wr = gen == mygen ? send_all(s, w->p, w->len) : 0;
	pthread_mutex_unlock(&wlock);
	dlm__unblock(&old);
	w_free(w);
	if (wr < 0) {
		/* the reader sees the same end and fails the call; nothing more to do here */
		shutdown(s, SHUT_RDWR);
	}
	sem_wait_all(&c->sem);
	return c->status;
}

int dlm__wait(struct call *c)
{
	if (!c->waitdone) sem_wait_all(&c->sem);
	return c->wstatus;
}

void dlm__done(struct call *c)
{
	sigset_t old;
	lock_state(&old);
	for (struct call **pp = &calls; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	unlock_state(&old);
	sem_destroy(&c->sem);
	free(c->body);
	c->body = NULL;
}

void dlm__fields(struct call *c, struct rbuf *r)
{
	r->p = c->body;
	r->len = c->blen;
	r->pos = 0;
	r->bad = c->blen == 0;
}
