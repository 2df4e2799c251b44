/* Four threads on one session block in dm_get_events(DM_EV_WAIT) and answer READ events of eight
 * concurrent readers; each event goes to exactly one thread, the threads hold events at the same
 * time, every reader gets its data.  A USER message per thread stops it. */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/time.h>
#include <sys/wait.h>
#include "check.h"

#define THREADS 4
#define READERS 8

static dm_sessid_t sid;
static atomic_int holding, max_holding, answered, failures;
static int per_thread[THREADS];
static dm_token_t seen_tokens[READERS * 2];
static atomic_int nseen;

static void *worker(void *arg)
{
	int me = (int)(long)arg;
	char buf[4096] __attribute__((aligned(8)));
	for (;;) {
		size_t rlen;
		if (dm_get_events(sid, 1, DM_EV_WAIT, sizeof buf, buf, &rlen) < 0) {
			printf("thread %d: dm_get_events: %s\n", me, strerror(errno));
			failures++;
			return NULL;
		}
		dm_eventmsg_t *m = (dm_eventmsg_t *)buf;
		if (m->ev_type == DM_EVENT_USER) return NULL;
		if (m->ev_type != DM_EVENT_READ) {
			printf("thread %d: unexpected event %d\n", me, m->ev_type);
			failures++;
			continue;
		}
		seen_tokens[atomic_fetch_add(&nseen, 1)] = m->ev_token;
		int h = atomic_fetch_add(&holding, 1) + 1;
		int mx = max_holding;
		while (h > mx && !atomic_compare_exchange_weak(&max_holding, &mx, h)) {}
		usleep(300000);
		atomic_fetch_sub(&holding, 1);
		if (dm_respond_event(sid, m->ev_token, DM_RESP_CONTINUE, 0, 0, NULL) < 0) {
			printf("thread %d: dm_respond_event: %s\n", me, strerror(errno));
			failures++;
		}
		per_thread[me]++;
		answered++;
	}
}

int main(int argc, char **argv)
{
	if (argc < 2) FAILX("usage: threads MNT");
	const char *mnt = argv[1];
	sid = new_session("libdm threads");
	void *fsh;
	size_t fshl;
	OK(dm_path_to_fshandle((char *)mnt, &fsh, &fshl));
	char *files[READERS];
	for (int i = 0; i < READERS; i++) {
		char name[16], content[16];
		sprintf(name, "t%d", i);
		sprintf(content, "reader %d", i);
		files[i] = mnt_path(mnt, name);
		write_file(files[i], content, strlen(content));
		void *h;
		size_t hl;
		OK(dm_path_to_handle(files[i], &h, &hl));
		dm_region_t rg = { 0, 0, DM_REGION_READ, 0 };
		dm_boolean_t exact;
		OK(dm_set_region(sid, h, hl, DM_NO_TOKEN, 1, &rg, &exact));
		dm_handle_free(h, hl);
	}
	dm_eventset_t ev = 0;
	DMEV_SET(DM_EVENT_READ, ev);
	OK(dm_set_disp(sid, fsh, fshl, DM_NO_TOKEN, &ev, DM_EVENT_MAX));

	pthread_t th[THREADS];
	for (long i = 0; i < THREADS; i++) pthread_create(&th[i], NULL, worker, (void *)i);
	struct timeval t0, t1;
	gettimeofday(&t0, NULL);
	pid_t pids[READERS];
	int pipes[READERS][2];
	for (int i = 0; i < READERS; i++) {
		if (pipe(pipes[i]) < 0) FAILX("pipe");
		pids[i] = fork();
		if (pids[i] == 0) {
			char b[64];
			int fd = open(files[i], O_RDONLY);
			ssize_t n = fd < 0 ? -1 : read(fd, b, sizeof b);
			if (n > 0 && write(pipes[i][1], b, n) != n) _exit(3);
			_exit(n > 0 ? 0 : 2);
		}
		close(pipes[i][1]);
	}
	for (int i = 0; i < READERS; i++) {
		int status;
		EQ(waitpid(pids[i], &status, 0), pids[i]);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "reader %d status %d", i, status);
		char b[64] = "", want[16];
		sprintf(want, "reader %d", i);
		EQ(read(pipes[i][0], b, sizeof b), strlen(want));
		CHECK(!strcmp(b, want), "reader %d got '%s'", i, b);
	}
	gettimeofday(&t1, NULL);
	double dt = (t1.tv_sec - t0.tv_sec) + (t1.tv_usec - t0.tv_usec) / 1e6;
	for (int i = 0; i < THREADS; i++) OK(dm_send_msg(sid, DM_MSGTYPE_ASYNC, 4, "stop"));
	for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);

	EQ(failures, 0);
	CHECK(answered >= READERS, "answered %d", (int)answered);
	for (int i = 0; i < nseen; i++)
		for (int j = i + 1; j < nseen; j++) CHECK(seen_tokens[i] != seen_tokens[j], "token %d delivered twice", seen_tokens[i]);
	int busy = 0;
	for (int i = 0; i < THREADS; i++) busy += per_thread[i] > 0;
	CHECK(busy >= 2, "%d threads answered", busy);
	CHECK(max_holding >= 2, "at most %d events held at once", (int)max_holding);
	CHECK(dt < 0.3 * answered, "%.2f s for %d events of 0.3 s each: answered concurrently", dt, (int)answered);
	printf("threads: %d events, %.2f s, max %d held at once, per thread %d %d %d %d\n", (int)answered, dt,
		(int)max_holding, per_thread[0], per_thread[1], per_thread[2], per_thread[3]);
	ev = 0;
	OK(dm_set_disp(sid, fsh, fshl, DM_NO_TOKEN, &ev, DM_EVENT_MAX));
	OK(dm_destroy_session(sid));
	DONE_OK();
}
