/*
 * hsm - a small HSM on dmapifs written in C against <dmapi.h> / libdm: migrate files to an archive
 * directory and recall them when an application touches them.  The C twin of examples/hsm.ts.
 *
 *   hsm serve   --mnt MOUNTPOINT --archive DIR      (the daemon side; runs until killed)
 *   hsm migrate --archive DIR FILE...               (move data out)
 *
 * The node is $DMAPIFS_NODE (or the host name), as for every libdm program; --node NODE sets it.
 *
 * serve: creates (or, after a crash, assumes) the session "dmapifs-c-hsm", takes the READ, WRITE,
 * TRUNCATE and DESTROY dispositions of the filesystem, enables DESTROY with the "hsmid" attribute
 * returned on destroy, answers again what a previous run left outstanding, then handles events:
 * READ/WRITE/TRUNCATE on a migrated file: exclusive right -> write_invis the archived bytes back
 * -> clear the regions -> mark it resident -> CONTINUE (ABORT EIO when the recall fails).
 * DESTROY: the archive copy named by the returned attribute is deleted.  When the node daemon
 * dies (ENOTREADY), serve waits for it to come back and assumes its session again.
 *
 * migrate: read_invis the file into DIR/<id> -> DM attribute "hsmid" = <id> -> punch_hole (all)
 * -> one managed region over the whole file for READ|WRITE|TRUNCATE.
 */
#define _GNU_SOURCE
#include <dmapi.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define SESSION "dmapifs-c-hsm"
#define ATTR "hsmid"
#define CHUNK (1024 * 1024)

static const char *archive;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#include <stdarg.h>
static void say(const char *fmt, ...)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	struct tm tm;
	gmtime_r(&tv.tv_sec, &tm);
	printf("[hsm %02d:%02d:%02d.%03d] ", tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000));
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static void die(const char *what)
{
	fprintf(stderr, "hsm: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void attrname(dm_attrname_t *a)
{
	memset(a, 0, sizeof *a);
	memcpy(a->an_chars, ATTR, strlen(ATTR));
}

/* The session named SESSION: assumed when it exists (recovery), else created. */
static dm_sessid_t session(void)
{
	char *ver;
	if (dm_init_service(&ver) < 0) die("dm_init_service");
	unsigned int n = 0;
	dm_sessid_t *sids = NULL, sid;
	for (unsigned int cap = 64;; cap *= 2) {
		sids = realloc(sids, cap * sizeof *sids);
		if (dm_getall_sessions(cap, sids, &n) == 0) break;
		if (errno != E2BIG) die("dm_getall_sessions");
	}
	for (unsigned int i = 0; i < n; i++) {
		char info[DM_SESSION_INFO_LEN];
		size_t rlen;
		if (dm_query_session(sids[i], sizeof info, info, &rlen) == 0 && !strcmp(info, SESSION)) {
			if (dm_create_session(sids[i], SESSION, &sid) < 0) die("dm_create_session (assume)");
			free(sids);
			return sid;
		}
	}
	free(sids);
	if (dm_create_session(DM_NO_SESSION, SESSION, &sid) < 0) die("dm_create_session");
	return sid;
}

static int migrate(dm_sessid_t sid, const char *file)
{
	void *h;
	size_t hl;
	if (dm_path_to_handle((char *)file, &h, &hl) < 0) { perror(file); return -1; }
	char id[32], path[4096];
	snprintf(id, sizeof id, "%08lx%04x", (unsigned long)time(NULL), (unsigned)(getpid() ^ rand()) & 0xffff);
	snprintf(path, sizeof path, "%s/%s", archive, id);
	int out = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (out < 0) { perror(path); return -1; }
	char *buf = malloc(CHUNK);
	dm_off_t off = 0;
	for (;;) {
		dm_ssize_t n = dm_read_invis(sid, h, hl, DM_NO_TOKEN, off, CHUNK, buf);
		if (n < 0 && errno == EINVAL && off > 0) break;      /* offset at EOF */
		if (n < 0) { perror("dm_read_invis"); return -1; }
		if (n == 0) break;
		if (write(out, buf, n) != n) { perror(path); return -1; }
		off += n;
		if (n < CHUNK) break;
	}
	free(buf);
	if (fsync(out) < 0 || close(out) < 0) { perror(path); return -1; }
	dm_attrname_t an;
	attrname(&an);
	dm_region_t rg = { 0, 0, DM_REGION_READ | DM_REGION_WRITE | DM_REGION_TRUNCATE, 0 };
	dm_boolean_t exact;
	if (dm_set_dmattr(sid, h, hl, DM_NO_TOKEN, &an, 0, strlen(id), id) < 0) { perror("dm_set_dmattr"); return -1; }
	if (dm_punch_hole(sid, h, hl, DM_NO_TOKEN, 0, 0) < 0) { perror("dm_punch_hole"); return -1; }
	if (dm_set_region(sid, h, hl, DM_NO_TOKEN, 1, &rg, &exact) < 0) { perror("dm_set_region"); return -1; }
	say("migrated %s: %lld bytes -> %s, data punched out, region READ|WRITE|TRUNCATE set", file, (long long)off, path);
	dm_handle_free(h, hl);
	return 0;
}

static int recall(dm_sessid_t sid, dm_token_t token, void *h, size_t hl)
{
	if (dm_request_right(sid, h, hl, token, DM_RR_WAIT, DM_RIGHT_EXCL) < 0) return -1;
	dm_attrname_t an;
	attrname(&an);
	char id[64], path[4096];
	size_t rlen;
	if (dm_get_dmattr(sid, h, hl, token, &an, sizeof id - 1, id, &rlen) < 0) return -1;
	id[rlen] = 0;
	snprintf(path, sizeof path, "%s/%s", archive, id);
	int in = open(path, O_RDONLY);
	if (in < 0) return -1;
	char *buf = malloc(CHUNK);
	dm_off_t off = 0;
	ssize_t n;
	while ((n = read(in, buf, CHUNK)) > 0) {
		if (dm_write_invis(sid, h, hl, token, 0, off, n, buf) != n) { free(buf); close(in); return -1; }
		off += n;
	}
	free(buf);
	close(in);
	if (n < 0) return -1;
	dm_boolean_t exact;
	if (dm_set_region(sid, h, hl, token, 0, NULL, &exact) < 0) return -1;
	if (dm_set_dmattr(sid, h, hl, token, &an, 0, 8, "resident") < 0) return -1;
	say("  recalled %lld bytes from %s with write_invis, region cleared", (long long)off, path);
	return 0;
}

static const char *event_name(int t)
{
	static const char *names[] = { "CANCEL", "MOUNT", "PREUNMOUNT", "UNMOUNT", "DEBUT", "CREATE", "CLOSE",
		"POSTCREATE", "REMOVE", "POSTREMOVE", "RENAME", "POSTRENAME", "LINK", "POSTLINK", "SYMLINK",
		"POSTSYMLINK", "READ", "WRITE", "TRUNCATE", "ATTRIBUTE", "DESTROY", "NOSPACE", "USER" };
	return t >= 0 && t < DM_EVENT_MAX ? names[t] : "?";
}

static void handle(dm_sessid_t sid, dm_eventmsg_t *m)
{
	if (m->ev_type == DM_EVENT_READ || m->ev_type == DM_EVENT_WRITE || m->ev_type == DM_EVENT_TRUNCATE) {
		dm_data_event_t *de = DM_GET_VALUE(m, ev_data, dm_data_event_t *);
		void *h = DM_GET_VALUE(de, de_handle, void *);
		size_t hl = DM_GET_LEN(de, de_handle);
		dm_ino_t ino = 0;
		dm_handle_to_ino(h, hl, &ino);
		say("event %s token %d ino %llu offset %lld length %llu", event_name(m->ev_type), m->ev_token,
			(unsigned long long)ino, (long long)de->de_offset, (unsigned long long)de->de_length);
		if (recall(sid, m->ev_token, h, hl) == 0) {
			if (dm_respond_event(sid, m->ev_token, DM_RESP_CONTINUE, 0, 0, NULL) < 0) perror("dm_respond_event");
			else say("  answered CONTINUE: the application goes on");
		} else {
			say("  recall failed (%s): answering ABORT EIO", strerror(errno));
			dm_respond_event(sid, m->ev_token, DM_RESP_ABORT, EIO, 0, NULL);
		}
	} else if (m->ev_type == DM_EVENT_DESTROY) {
		dm_destroy_event_t *ds = DM_GET_VALUE(m, ev_data, dm_destroy_event_t *);
		char id[64] = "";
		size_t l = DM_GET_LEN(ds, ds_attrcopy);
		if (l && l < sizeof id) memcpy(id, DM_GET_VALUE(ds, ds_attrcopy, char *), l);
		int ok = l > 0 && strspn(id, "0123456789abcdef") == strlen(id);
		if (ok) {
			char path[4096];
			snprintf(path, sizeof path, "%s/%s", archive, id);
			unlink(path);
			say("event DESTROY: archive copy %s deleted", id);
		} else say("event DESTROY");
	} else {
		say("event %s%s", event_name(m->ev_type), m->ev_token ? " (answered CONTINUE)" : "");
		if (m->ev_token) dm_respond_event(sid, m->ev_token, DM_RESP_CONTINUE, 0, 0, NULL);
	}
}

static const char *opt(int argc, char **argv, const char *name, int required)
{
	for (int i = 1; i + 1 < argc; i++)
		if (argv[i][0] == '-' && argv[i][1] == '-' && !strcmp(argv[i] + 2, name)) return argv[i + 1];
	if (required) {
		fprintf(stderr, "hsm: --%s is required\n", name);
		exit(2);
	}
	return NULL;
}

static __attribute__((noreturn)) void serve(const char *mnt)
{
	dm_sessid_t sid = session();
	void *fsh;
	size_t fshl;
	if (dm_path_to_fshandle((char *)mnt, &fsh, &fshl) < 0) die(mnt);
	dm_eventset_t ev = 0;
	DMEV_SET(DM_EVENT_READ, ev);
	DMEV_SET(DM_EVENT_WRITE, ev);
	DMEV_SET(DM_EVENT_TRUNCATE, ev);
	DMEV_SET(DM_EVENT_DESTROY, ev);
	if (dm_set_disp(sid, fsh, fshl, DM_NO_TOKEN, &ev, DM_EVENT_MAX) < 0) die("dm_set_disp");
	dm_eventset_t el = 0;
	DMEV_SET(DM_EVENT_DESTROY, el);
	if (dm_set_eventlist(sid, fsh, fshl, DM_NO_TOKEN, &el, DM_EVENT_MAX) < 0) die("dm_set_eventlist");
	dm_attrname_t an;
	attrname(&an);
	if (dm_set_return_on_destroy(sid, fsh, fshl, DM_NO_TOKEN, &an, DM_TRUE) < 0) die("dm_set_return_on_destroy");
	say("session %d (%s) holds READ, WRITE, TRUNCATE, DESTROY for %s; waiting for events", sid, SESSION, mnt);

	size_t cap = 65536;
	void *buf = aligned_alloc(8, cap);
	/* events a previous run left outstanding: handle them again */
	dm_token_t toks[1024];
	unsigned int nt = 0;
	if (dm_getall_tokens(sid, 1024, toks, &nt) == 0)
		for (unsigned int i = 0; i < nt; i++) {
			size_t rlen;
			if (dm_find_eventmsg(sid, toks[i], cap, buf, &rlen) == 0) handle(sid, buf);
		}
	for (;;) {
		size_t rlen = 0;
		if (dm_get_events(sid, 0, DM_EV_WAIT, cap, buf, &rlen) < 0) {
			if (errno == E2BIG) {
				free(buf);
				cap = (rlen + 7) & ~(size_t)7;
				buf = aligned_alloc(8, cap);
				continue;
			}
			if (errno == EINTR) continue;
			if (errno != ENOTREADY) die("dm_get_events");
			/* The node daemon died: wait for it to come back, assume the session again (its
			 * pending events come back, to be received anew) and go on. */
			say("the node daemon is gone (ENOTREADY); waiting for it to come back");
			char *ver;
			while (dm_init_service(&ver) < 0) {
				if (errno != ENOTREADY) die("dm_init_service");
				usleep(200000);
			}
			dm_sessid_t again;
			if (dm_create_session(sid, SESSION, &again) < 0) die("dm_create_session (assume)");
			sid = again;
			say("the node daemon is back: session %d assumed", sid);
			continue;
		}
		for (dm_eventmsg_t *m = buf; m; m = DM_STEP_TO_NEXT(m, dm_eventmsg_t *)) handle(sid, m);
	}
}

int main(int argc, char **argv)
{
	if (argc < 2) goto usage;
	const char *node = opt(argc, argv, "node", 0);
	if (node) setenv("DMAPIFS_NODE", node, 1);
	srand(time(NULL) ^ getpid());
	if (!strcmp(argv[1], "serve")) {
		archive = opt(argc, argv, "archive", 1);
		serve(opt(argc, argv, "mnt", 1));
	}
	if (!strcmp(argv[1], "migrate")) {
		archive = opt(argc, argv, "archive", 1);
		dm_sessid_t sid = session();
		int rc = 0;
		for (int i = 2; i < argc; i++) {
			if (argv[i][0] == '-' && argv[i][1] == '-') { i++; continue; }
			char *abs = realpath(argv[i], NULL);
			if (!abs) { perror(argv[i]); rc = 1; continue; }
			if (migrate(sid, abs) < 0) rc = 1;
			free(abs);
		}
		return rc;
	}
usage:
	fprintf(stderr, "usage: hsm serve --mnt MOUNTPOINT --archive DIR [--node NODE]\n"
		"       hsm migrate --archive DIR [--node NODE] FILE...\n");
	return 2;
}
