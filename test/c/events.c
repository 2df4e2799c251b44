/* Events: user messages (async and sync), get_events (EAGAIN, E2BIG with the size, DM_EV_WAIT
 * blocking), create_userevent, getall_tokens (E2BIG), find_eventmsg, move_event, pending,
 * respond_event errors, and a READ event from a real read of a file with a managed region. */
#include <pthread.h>
#include <signal.h>
#include <sys/time.h>
#include <sys/wait.h>
#include "check.h"

static dm_sessid_t sid;
static int sync_rc, sync_errno;

static void *send_sync(void *arg)
{
	(void)arg;
	errno = 0;
	sync_rc = dm_send_msg(sid, DM_MSGTYPE_SYNC, 4, "sync");
	sync_errno = errno;
	return NULL;
}
static void *send_later(void *arg)
{
	(void)arg;
	sigset_t ss;
	sigemptyset(&ss);
	sigaddset(&ss, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &ss, NULL);     /* the signal goes to the thread in dm_get_events */
	usleep(300000);
	dm_send_msg(sid, DM_MSGTYPE_ASYNC, 5, "later");
	return NULL;
}
static volatile sig_atomic_t alarms;
static void on_alarm(int sig) { (void)sig; alarms++; }
static double now(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return tv.tv_sec + tv.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
	if (argc < 2) FAILX("usage: events MNT");
	const char *mnt = argv[1];
	sid = new_session("libdm events");
	dm_sessid_t sid2;
	OK(dm_create_session(DM_NO_SESSION, "libdm events 2", &sid2));
	static char buf[65536] __attribute__((aligned(8)));
	size_t rlen = 0;
	ERR(dm_get_events(sid, 0, 0, sizeof buf, buf, &rlen), EAGAIN);
	ERR(dm_get_events(DM_NO_SESSION, 0, 0, sizeof buf, buf, &rlen), EINVAL);

	/* async user message */
	OK(dm_send_msg(sid, DM_MSGTYPE_ASYNC, 5, "hello"));
	ERR(dm_send_msg(sid, DM_MSGTYPE_INVALID, 5, "hello"), EINVAL);
	ERR(dm_get_events(sid, 0, 0, 8, buf, &rlen), E2BIG);
	CHECK(rlen >= sizeof(dm_eventmsg_t) + 5, "E2BIG rlen %zu", rlen);
	OK(dm_get_events(sid, 0, 0, sizeof buf, buf, &rlen));
	dm_eventmsg_t *m = (dm_eventmsg_t *)buf;
	EQ(m->ev_type, DM_EVENT_USER);
	EQ(m->ev_token, DM_INVALID_TOKEN);
	EQ(DM_GET_LEN(m, ev_data), 5);
	CHECK(!memcmp(DM_GET_VALUE(m, ev_data, char *), "hello", 5), "user data");
	CHECK(DM_STEP_TO_NEXT(m, dm_eventmsg_t *) == NULL, "one message");
	CHECK(rlen >= sizeof(dm_eventmsg_t) + 5, "rlen %zu", rlen);

	/* two messages, chained; maxmsgs 1 takes one */
	OK(dm_send_msg(sid, DM_MSGTYPE_ASYNC, 3, "one"));
	OK(dm_send_msg(sid, DM_MSGTYPE_ASYNC, 3, "two"));
	OK(dm_get_events(sid, 1, 0, sizeof buf, buf, &rlen));
	CHECK(DM_STEP_TO_NEXT(m, dm_eventmsg_t *) == NULL, "maxmsgs 1");
	CHECK(!memcmp(DM_GET_VALUE(m, ev_data, char *), "one", 3), "first message first");
	OK(dm_send_msg(sid, DM_MSGTYPE_ASYNC, 5, "three"));
	OK(dm_get_events(sid, 0, 0, sizeof buf, buf, &rlen));
	dm_eventmsg_t *m2 = DM_STEP_TO_NEXT(m, dm_eventmsg_t *);
	CHECK(m2 != NULL, "two chained messages");
	CHECK(m->_link % 8 == 0, "_link 8-aligned");
	CHECK(!memcmp(DM_GET_VALUE(m2, ev_data, char *), "three", 5), "second message");
	CHECK(m2->ev_sequence > m->ev_sequence, "sequence increases");

	/* DM_EV_WAIT blocks until a message comes */
	pthread_t th;
	double t0 = now();
	pthread_create(&th, NULL, send_later, NULL);
	OK(dm_get_events(sid, 0, DM_EV_WAIT, sizeof buf, buf, &rlen));
	double dt = now() - t0;
	pthread_join(th, NULL);
	CHECK(dt > 0.2, "DM_EV_WAIT returned after %.3f s", dt);
	CHECK(!memcmp(DM_GET_VALUE(m, ev_data, char *), "later", 5), "the late message");

	/* a signal (handler without SA_RESTART) does not interrupt DM_EV_WAIT (GPFS: uninterruptible) */
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	pthread_create(&th, NULL, send_later, NULL);
	t0 = now();
	ualarm(100000, 0);
	OK(dm_get_events(sid, 0, DM_EV_WAIT, sizeof buf, buf, &rlen));
	dt = now() - t0;
	pthread_join(th, NULL);
	EQ(alarms, 1);
	CHECK(dt > 0.2, "returned after %.3f s, not at the signal", dt);
	CHECK(!memcmp(DM_GET_VALUE(m, ev_data, char *), "later", 5), "the message after the signal");

	/* sync user message: the sender gets the answer's errno */
	pthread_create(&th, NULL, send_sync, NULL);
	OK(dm_get_events(sid, 0, DM_EV_WAIT, sizeof buf, buf, &rlen));
	EQ(m->ev_type, DM_EVENT_USER);
	CHECK(m->ev_token > 0, "sync message has a token");
	dm_token_t st = m->ev_token;
	dm_token_t toks[16];
	unsigned int nt = 0;
	OK(dm_getall_tokens(sid, 16, toks, &nt));
	EQ(nt, 1);
	EQ(toks[0], st);
	ERR(dm_respond_event(sid, st, DM_RESP_CONTINUE, 5, 0, NULL), EINVAL);
	OK(dm_respond_event(sid, st, DM_RESP_ABORT, EIO, 0, NULL));
	pthread_join(th, NULL);
	EQ(sync_rc, -1);
	EQ(sync_errno, EIO);
	ERR(dm_respond_event(sid, st, DM_RESP_CONTINUE, 0, 0, NULL), ESRCH);
	ERR(dm_respond_event(sid, 99999999, DM_RESP_CONTINUE, 0, 0, NULL), EINVAL);
	ERR(dm_respond_event(sid, DM_NO_TOKEN, DM_RESP_CONTINUE, 0, 0, NULL), EINVAL);

	/* userevent tokens: getall (E2BIG), find_eventmsg, pending, move, respond */
	dm_token_t u1, u2;
	OK(dm_create_userevent(sid, 4, "usr1", &u1));
	OK(dm_create_userevent(sid, 4, "usr2", &u2));
	CHECK(u2 > u1 && u1 > st, "tokens increase %d %d %d", st, u1, u2);
	nt = 0;
	ERR(dm_getall_tokens(sid, 1, toks, &nt), E2BIG);
	EQ(nt, 2);
	OK(dm_getall_tokens(sid, 16, toks, &nt));
	EQ(nt, 2);
	CHECK((toks[0] == u1 && toks[1] == u2) || (toks[0] == u2 && toks[1] == u1), "both tokens");
	OK(dm_find_eventmsg(sid, u1, sizeof buf, buf, &rlen));
	EQ(m->ev_type, DM_EVENT_USER);
	EQ(m->ev_token, u1);
	EQ(DM_GET_LEN(m, ev_data), 4);
	CHECK(!memcmp(DM_GET_VALUE(m, ev_data, char *), "usr1", 4), "userevent data");
	size_t need = rlen;
	ERR(dm_find_eventmsg(sid, u1, 4, buf, &rlen), E2BIG);
	EQ(rlen, need);
	ERR(dm_find_eventmsg(sid, 99999999, sizeof buf, buf, &rlen), EINVAL);
	dm_timestruct_t delay = { 1, 0 };
	OK(dm_pending(sid, u1, &delay));
	dm_token_t moved;
	OK(dm_move_event(sid, u2, sid2, &moved));
	OK(dm_getall_tokens(sid, 16, toks, &nt));
	EQ(nt, 1);
	EQ(toks[0], u1);
	OK(dm_getall_tokens(sid2, 16, toks, &nt));
	EQ(nt, 1);
	EQ(toks[0], moved);
	ERR(dm_destroy_session(sid2), EBUSY);
	OK(dm_respond_event(sid2, moved, DM_RESP_CONTINUE, 0, 0, NULL));
	OK(dm_respond_event(sid, u1, DM_RESP_CONTINUE, 0, 0, NULL));
	OK(dm_destroy_session(sid2));

	/* a READ event from a real read: the reader waits for the answer */
	char *f = mnt_path(mnt, "evf");
	write_file(f, "0123456789", 10);
	void *fsh, *h;
	size_t fshl, hl;
	OK(dm_path_to_fshandle((char *)mnt, &fsh, &fshl));
	OK(dm_path_to_handle(f, &h, &hl));
	dm_eventset_t ev = 0;
	DMEV_SET(DM_EVENT_READ, ev);
	OK(dm_set_disp(sid, fsh, fshl, DM_NO_TOKEN, &ev, DM_EVENT_MAX));
	dm_region_t rg = { 0, 0, DM_REGION_READ, 0 };
	dm_boolean_t exact;
	OK(dm_set_region(sid, h, hl, DM_NO_TOKEN, 1, &rg, &exact));
	int pfd[2];
	if (pipe(pfd) < 0) FAILX("pipe");
	pid_t pid = fork();
	if (pid == 0) {
		char b[16];
		int fd = open(f, O_RDONLY);
		ssize_t n = read(fd, b, sizeof b);
		if (n > 0 && write(pfd[1], b, n) != n) _exit(3);
		_exit(n == 10 ? 0 : 2);
	}
	close(pfd[1]);
	OK(dm_get_events(sid, 1, DM_EV_WAIT, sizeof buf, buf, &rlen));
	EQ(m->ev_type, DM_EVENT_READ);
	CHECK(m->ev_token > 0, "READ has a token");
	dm_data_event_t *de = DM_GET_VALUE(m, ev_data, dm_data_event_t *);
	EQ(DM_GET_LEN(de, de_handle), hl);
	EQ(dm_handle_cmp(DM_GET_VALUE(de, de_handle, void *), DM_GET_LEN(de, de_handle), h, hl), 0);
	EQ(de->de_offset, 0);
	CHECK(de->de_length > 0, "length %llu", (unsigned long long)de->de_length);
	int status;
	usleep(200000);
	EQ(waitpid(pid, &status, WNOHANG), 0);      /* still waiting */
	ERR(dm_set_region(sid, h, hl, m->ev_token, 0, &rg, &exact), EACCES);   /* the token has no right yet */
	OK(dm_request_right(sid, h, hl, m->ev_token, DM_RR_WAIT, DM_RIGHT_EXCL));
	OK(dm_set_region(sid, h, hl, m->ev_token, 0, &rg, &exact));
	OK(dm_respond_event(sid, m->ev_token, DM_RESP_CONTINUE, 0, 0, NULL));
	EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "reader status %d", status);
	char got[16] = "";
	EQ(read(pfd[0], got, sizeof got), 10);
	CHECK(!memcmp(got, "0123456789", 10), "reader got the data");
	ev = 0;
	OK(dm_set_disp(sid, fsh, fshl, DM_NO_TOKEN, &ev, DM_EVENT_MAX));
	OK(dm_destroy_session(sid));
	DONE_OK();
}
