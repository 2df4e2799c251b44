/*
 * dmdump - prints every DMAPI event of a dmapifs filesystem, decoded, and answers the synchronous
 * ones CONTINUE.  Written in C against <dmapi.h> / libdm.
 *
 *   dmdump [--node NODE] [--count N] [--take] MOUNTPOINT
 *
 * Creates the session "dmapifs-dmdump" and takes the dispositions of the events the filesystem
 * offers (all but MOUNT and USER, which are not filesystem dispositions) that no other session
 * holds: XDSM gives each event to one session, so taking an HSM's READ disposition would take its
 * recalls away (an application would read the punched-out bytes).  --take takes them all anyway
 * and gives them back to their sessions at exit.  It enables the namespace and metadata events it
 * holds in the filesystem's event list and restores the list it found when it exits (after --count
 * N events, or on SIGINT / SIGTERM).  For watching without taking part at all, use
 * `dmapifs events watch MOUNTPOINT`, which takes no disposition and answers nothing.
 */
#define _GNU_SOURCE
#include <dmapi.h>
#include <errno.h>
#include <signal.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *names[] = { "CANCEL", "MOUNT", "PREUNMOUNT", "UNMOUNT", "DEBUT", "CREATE", "CLOSE",
	"POSTCREATE", "REMOVE", "POSTREMOVE", "RENAME", "POSTRENAME", "LINK", "POSTLINK", "SYMLINK",
	"POSTSYMLINK", "READ", "WRITE", "TRUNCATE", "ATTRIBUTE", "DESTROY", "NOSPACE", "USER" };

static void die(const char *what)
{
	fprintf(stderr, "dmdump: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void print_handle(const char *label, void *h, size_t hl)
{
	if (!hl) return;
	dm_ino_t ino;
	if (dm_handle_to_ino(h, hl, &ino) == 0) printf(" %s=ino:%llu", label, (unsigned long long)ino);
	else {
		dm_fsid_t fsid;
		if (dm_handle_to_fsid(h, hl, &fsid) == 0) printf(" %s=fs:%016llx", label, (unsigned long long)fsid);
		else printf(" %s=(%zu bytes)", label, hl);
	}
}

static void print_name(const char *label, char *s, size_t l)
{
	if (l) printf(" %s=\"%.*s\"", label, (int)(l && !s[l - 1] ? l - 1 : l), s);
}

static void dump(dm_eventmsg_t *m)
{
	int t = m->ev_type;
	printf("%s token=%d seq=%u", t >= 0 && t < DM_EVENT_MAX ? names[t] : "?", m->ev_token, m->ev_sequence);
	void *d = DM_GET_VALUE(m, ev_data, void *);
	size_t dl = DM_GET_LEN(m, ev_data);
	if (t == DM_EVENT_READ || t == DM_EVENT_WRITE || t == DM_EVENT_TRUNCATE) {
		dm_data_event_t *de = d;
		print_handle("handle", DM_GET_VALUE(de, de_handle, void *), DM_GET_LEN(de, de_handle));
		printf(" offset=%lld length=%llu", (long long)de->de_offset, (unsigned long long)de->de_length);
	} else if (t == DM_EVENT_MOUNT) {
		dm_mount_event_t *me = d;
		print_handle("fs", DM_GET_VALUE(me, me_handle1, void *), DM_GET_LEN(me, me_handle1));
		print_name("mountpoint", DM_GET_VALUE(me, me_name1, char *), DM_GET_LEN(me, me_name1));
		print_name("device", DM_GET_VALUE(me, me_name2, char *), DM_GET_LEN(me, me_name2));
		print_handle("root", DM_GET_VALUE(me, me_roothandle, void *), DM_GET_LEN(me, me_roothandle));
	} else if (t == DM_EVENT_DESTROY) {
		dm_destroy_event_t *ds = d;
		print_handle("handle", DM_GET_VALUE(ds, ds_handle, void *), DM_GET_LEN(ds, ds_handle));
		if (DM_GET_LEN(ds, ds_attrcopy))
			printf(" attr[%.8s]=\"%.*s\"", ds->ds_attrname.an_chars, (int)DM_GET_LEN(ds, ds_attrcopy),
				DM_GET_VALUE(ds, ds_attrcopy, char *));
	} else if (t == DM_EVENT_USER) {
		printf(" data=\"%.*s\"", (int)dl, (char *)d);
	} else if (dl >= sizeof(dm_namesp_event_t)) {
		dm_namesp_event_t *ne = d;
		printf(" mode=0%o", (unsigned)ne->ne_mode);
		print_handle("handle1", DM_GET_VALUE(ne, ne_handle1, void *), DM_GET_LEN(ne, ne_handle1));
		print_handle("handle2", DM_GET_VALUE(ne, ne_handle2, void *), DM_GET_LEN(ne, ne_handle2));
		print_name("name1", DM_GET_VALUE(ne, ne_name1, char *), DM_GET_LEN(ne, ne_name1));
		print_name("name2", DM_GET_VALUE(ne, ne_name2, char *), DM_GET_LEN(ne, ne_name2));
		printf(" retcode=%d", ne->ne_retcode);
	}
	printf("\n");
	fflush(stdout);
}

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

/* Every other session's dispositions on the filesystem (dm_getall_disp of each session). */
struct held { dm_sessid_t sid; dm_eventset_t set; };

static int others_on(dm_sessid_t self, void *fsh, size_t fshl, struct held *out, int max)
{
	dm_sessid_t sids[256];
	u_int n = 0;
	if (dm_getall_sessions(256, sids, &n) < 0) die("dm_getall_sessions");
	int k = 0;
	char buf[65536];
	for (u_int i = 0; i < n && k < max; i++) {
		if (sids[i] == self) continue;
		size_t rlen = 0;
		if (dm_getall_disp(sids[i], sizeof buf, buf, &rlen) < 0 || !rlen) continue;
		for (dm_dispinfo_t *d = (dm_dispinfo_t *)buf; d; d = DM_STEP_TO_NEXT(d, dm_dispinfo_t *)) {
			if (DM_GET_LEN(d, di_fshandle) == fshl && !memcmp(DM_GET_VALUE(d, di_fshandle, void *), fsh, fshl) && d->di_eventset) {
				out[k].sid = sids[i];
				out[k].set = d->di_eventset;
				k++;
				break;
			}
		}
	}
	return k;
}

int main(int argc, char **argv)
{
	const char *mnt = NULL;
	long count = -1;
	int take = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--node") && i + 1 < argc) setenv("DMAPIFS_NODE", argv[++i], 1);
		else if (!strcmp(argv[i], "--count") && i + 1 < argc) count = atol(argv[++i]);
		else if (!strcmp(argv[i], "--take")) take = 1;
		else mnt = argv[i];
	}
	if (!mnt) {
		fprintf(stderr, "usage: dmdump [--node NODE] [--count N] [--take] MOUNTPOINT\n");
		return 2;
	}
	char *ver;
	if (dm_init_service(&ver) < 0) die("dm_init_service");
	dm_sessid_t sid;
	if (dm_create_session(DM_NO_SESSION, "dmapifs-dmdump", &sid) < 0) die("dm_create_session");
	void *fsh;
	size_t fshl;
	if (dm_path_to_fshandle((char *)mnt, &fsh, &fshl) < 0) die(mnt);
	dm_eventset_t all = 0, disp, list, orig_list = 0, taken = 0;
	unsigned int n;
	if (dm_get_config_events(fsh, fshl, DM_EVENT_MAX, &all, &n) < 0) die("dm_get_config_events");
	if (dm_get_eventlist(sid, fsh, fshl, DM_NO_TOKEN, DM_EVENT_MAX, &orig_list, &n) < 0) die("dm_get_eventlist");
	struct held others[64];
	int nothers = others_on(sid, fsh, fshl, others, 64);
	disp = all;
	DMEV_CLR(DM_EVENT_MOUNT, disp);
	DMEV_CLR(DM_EVENT_USER, disp);
	for (int i = 0; i < nothers; i++) {
		if (take) taken |= others[i].set & disp;
		else disp &= ~others[i].set;
		if (!take && others[i].set)
			fprintf(stderr, "dmdump: leaving events 0x%llx to session %d (--take to take them)\n",
				(unsigned long long)others[i].set, others[i].sid);
	}
	if (dm_set_disp(sid, fsh, fshl, DM_NO_TOKEN, &disp, DM_EVENT_MAX) < 0) die("dm_set_disp");
	list = disp;
	DMEV_CLR(DM_EVENT_READ, list);        /* data events: through managed regions */
	DMEV_CLR(DM_EVENT_WRITE, list);
	DMEV_CLR(DM_EVENT_TRUNCATE, list);
	list |= orig_list;
	if (dm_set_eventlist(sid, fsh, fshl, DM_NO_TOKEN, &list, DM_EVENT_MAX) < 0) die("dm_set_eventlist");
	fprintf(stderr, "dmdump: %s, session %d, events 0x%llx on %s\n", ver, sid, (unsigned long long)disp, mnt);

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	size_t cap = 65536;
	void *buf = aligned_alloc(8, cap);
	long seen = 0;
	int rc = 0;
	while (!stop && (count < 0 || seen < count)) {
		size_t rlen = 0;
		/* Polled, not DM_EV_WAIT: a waiting dm_get_events is not interrupted by signals (GPFS). */
		if (dm_get_events(sid, 1, 0, cap, buf, &rlen) < 0) {
			if (errno == EAGAIN) {
				struct timespec ts = { 0, 20 * 1000 * 1000 };
				nanosleep(&ts, NULL);
				continue;
			}
			if (errno == E2BIG) {
				free(buf);
				cap = (rlen + 7) & ~(size_t)7;
				buf = aligned_alloc(8, cap);
				continue;
			}
			perror("dmdump: dm_get_events");
			rc = 1;
			break;
		}
		dm_eventmsg_t *m = buf;
		dump(m);
		if (m->ev_token != DM_INVALID_TOKEN && dm_respond_event(sid, m->ev_token, DM_RESP_CONTINUE, 0, 0, NULL) < 0) {
			perror("dmdump: dm_respond_event");
			rc = 1;
			break;
		}
		seen++;
	}
	/* Put back what was changed: the event list found, and the dispositions taken with --take. */
	dm_set_eventlist(sid, fsh, fshl, DM_NO_TOKEN, &orig_list, DM_EVENT_MAX);
	dm_eventset_t none = 0;
	dm_set_disp(sid, fsh, fshl, DM_NO_TOKEN, &none, DM_EVENT_MAX);
	for (int i = 0; i < nothers && taken; i++)
		if (dm_set_disp(others[i].sid, fsh, fshl, DM_NO_TOKEN, &others[i].set, DM_EVENT_MAX) < 0)
			fprintf(stderr, "dmdump: could not give events 0x%llx back to session %d: %s\n",
				(unsigned long long)others[i].set, others[i].sid, strerror(errno));
	/* Answer whatever arrived meanwhile, so that the session can go. */
	size_t rlen = 0;
	while (dm_get_events(sid, 1, 0, cap, buf, &rlen) == 0) {
		dm_eventmsg_t *m = buf;
		if (m->ev_token != DM_INVALID_TOKEN) dm_respond_event(sid, m->ev_token, DM_RESP_CONTINUE, 0, 0, NULL);
	}
	if (dm_destroy_session(sid) < 0) die("dm_destroy_session");
	return rc;
}
