/* Behaviours where SGI's XFS DMAPI and GPFS agree and a port expects them, each against the real
 * mount: CLOSE for a directory (its last closedir), RENAME/POSTRENAME raised by the target
 * directory's event list alone (SGI's xfs_rename asks both directories), TRUNCATE on
 * open(O_TRUNC) of a file shorter than its TRUNCATE region; set/remove_dmattr with setdtime 0 and
 * write_invis leave the ctime users see alone (SGI), setdtime 1 and visible changes do not; a file
 * opened before its region was set raises READ with the application's own offset and length. */
#define _GNU_SOURCE
#include "check.h"
#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>

static char buf[65536] __attribute__((aligned(8)));

/* The next message (waits at most 10 s: a missing event fails, it does not hang). */
static dm_eventmsg_t *next_event(dm_sessid_t sid)
{
	size_t rlen;
	for (int i = 0; i < 1000; i++) {
		if (dm_get_events(sid, 1, 0, sizeof buf, buf, &rlen) == 0) return (dm_eventmsg_t *)buf;
		if (errno != EAGAIN) FAILX("dm_get_events: %s", strerror(errno));
		usleep(10000);
	}
	FAILX("no event within 10 s");
}

static void no_event(dm_sessid_t sid)
{
	size_t rlen;
	usleep(300000);
	ERR(dm_get_events(sid, 1, 0, sizeof buf, buf, &rlen), EAGAIN);
}

static dm_namesp_event_t *ns(dm_eventmsg_t *m) { return DM_GET_VALUE(m, ev_data, dm_namesp_event_t *); }
/* the ctime through the mount, asked of the daemon (AT_STATX_FORCE_SYNC: not the kernel's cache) */
static long long ctime_ns(const char *p)
{
	struct statx sx;
	if (statx(AT_FDCWD, p, AT_STATX_FORCE_SYNC, STATX_CTIME | STATX_MTIME, &sx) < 0) FAILX("statx %s: %s", p, strerror(errno));
	return sx.stx_ctime.tv_sec * 1000000000LL + sx.stx_ctime.tv_nsec;
}

static int same(void *a, size_t al, void *b, size_t bl) { return dm_handle_cmp(a, al, b, bl) == 0; }
#define NE_H1(m) DM_GET_VALUE(ns(m), ne_handle1, void *), DM_GET_LEN(ns(m), ne_handle1)
#define NE_H2(m) DM_GET_VALUE(ns(m), ne_handle2, void *), DM_GET_LEN(ns(m), ne_handle2)

static void close_dir(dm_sessid_t sid, const char *mnt, const char *backing)
{
	dm_eventmsg_t *m;
	dm_eventset_t ev;
	(void)backing;
	/* ---- CLOSE for a directory: opendir + closedir → one CLOSE naming the directory */
	char *cd = mnt_path(mnt, "closedir");
	OK(mkdir(cd, 0755));
	void *cdh;
	size_t cdhl;
	OK(dm_path_to_handle(cd, &cdh, &cdhl));
	ev = 0;
	DMEV_SET(DM_EVENT_CLOSE, ev);
	OK(dm_set_eventlist(sid, cdh, cdhl, DM_NO_TOKEN, &ev, DM_EVENT_MAX));
	DIR *d1 = opendir(cd), *d2 = opendir(cd);
	CHECK(d1 && d2, "opendir");
	closedir(d1);
	no_event(sid);                  /* not the last close yet */
	closedir(d2);
	m = next_event(sid);
	EQ(m->ev_type, DM_EVENT_CLOSE);
	EQ(m->ev_token, DM_INVALID_TOKEN);
	CHECK(same(NE_H1(m), cdh, cdhl), "CLOSE names the directory");
	CHECK(S_ISDIR(ns(m)->ne_mode), "ne_mode is a directory's: 0%o", ns(m)->ne_mode);
	ev = 0;
	OK(dm_set_eventlist(sid, cdh, cdhl, DM_NO_TOKEN, &ev, DM_EVENT_MAX));
	d1 = opendir(cd);
	closedir(d1);
	no_event(sid);
}

static void rename_target(dm_sessid_t sid, const char *mnt, const char *backing)
{
	dm_eventmsg_t *m;
	pid_t pid;
	int status;
	dm_eventset_t ev;
	(void)backing;
	/* ---- RENAME / POSTRENAME enabled on the target directory only */
	char *src = mnt_path(mnt, "rsrc"), *dst = mnt_path(mnt, "rdst");
	OK(mkdir(src, 0755));
	OK(mkdir(dst, 0755));
	void *sh, *dh;
	size_t shl, dhl;
	OK(dm_path_to_handle(src, &sh, &shl));
	OK(dm_path_to_handle(dst, &dh, &dhl));
	ev = 0;
	DMEV_SET(DM_EVENT_RENAME, ev);
	DMEV_SET(DM_EVENT_POSTRENAME, ev);
	OK(dm_set_eventlist(sid, dh, dhl, DM_NO_TOKEN, &ev, DM_EVENT_MAX));
	char *a = mnt_path(src, "a"), *b = mnt_path(dst, "b"), *c = mnt_path(src, "c");
	write_file(a, "x", 1);
	pid = fork();
	if (pid == 0) _exit(rename(a, b) == 0 ? 0 : 2);
	m = next_event(sid);
	EQ(m->ev_type, DM_EVENT_RENAME);
	CHECK(m->ev_token != DM_INVALID_TOKEN, "RENAME is synchronous");
	CHECK(same(NE_H1(m), sh, shl), "ne_handle1 = the old parent");
	CHECK(same(NE_H2(m), dh, dhl), "ne_handle2 = the new parent");
	CHECK(!strcmp(DM_GET_VALUE(ns(m), ne_name1, char *), "a"), "old name");
	CHECK(!strcmp(DM_GET_VALUE(ns(m), ne_name2, char *), "b"), "new name");
	OK(dm_respond_event(sid, m->ev_token, DM_RESP_CONTINUE, 0, 0, NULL));
	EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "rename done (status %d)", status);
	m = next_event(sid);
	EQ(m->ev_type, DM_EVENT_POSTRENAME);
	EQ(ns(m)->ne_retcode, 0);
	CHECK(same(NE_H2(m), dh, dhl), "POSTRENAME ne_handle2 = the new parent");
	/* and back out of it: the source directory's list enables it now */
	pid = fork();
	if (pid == 0) _exit(rename(b, c) == 0 ? 0 : 2);
	m = next_event(sid);
	EQ(m->ev_type, DM_EVENT_RENAME);
	CHECK(same(NE_H1(m), dh, dhl), "ne_handle1 = the old parent (enabled)");
	OK(dm_respond_event(sid, m->ev_token, DM_RESP_CONTINUE, 0, 0, NULL));
	EQ(waitpid(pid, &status, 0), pid);
	m = next_event(sid);
	EQ(m->ev_type, DM_EVENT_POSTRENAME);
	/* neither directory enables it: nothing */
	char *c2 = mnt_path(src, "c2");
	OK(rename(c, c2));
	no_event(sid);
}

static void otrunc_region_past_eof(dm_sessid_t sid, const char *mnt, const char *backing)
{
	dm_eventmsg_t *m;
	pid_t pid;
	int status;
	dm_boolean_t exact;
	dm_data_event_t *de;
	/* ---- TRUNCATE on open(O_TRUNC) of a 10-byte file whose TRUNCATE region starts at 100 */
	char *tf = mnt_path(mnt, "otrunc");
	write_file(tf, "0123456789", 10);
	void *th;
	size_t thl;
	OK(dm_path_to_handle(tf, &th, &thl));
	dm_region_t rg = { 100, 0, DM_REGION_TRUNCATE, 0 };
	OK(dm_set_region(sid, th, thl, DM_NO_TOKEN, 1, &rg, &exact));
	pid = fork();
	if (pid == 0) {
		int fd = open(tf, O_WRONLY | O_TRUNC);
		_exit(fd < 0 ? (errno == EPERM ? 7 : 2) : 0);
	}
	m = next_event(sid);
	EQ(m->ev_type, DM_EVENT_TRUNCATE);
	de = DM_GET_VALUE(m, ev_data, dm_data_event_t *);
	CHECK(same(DM_GET_VALUE(de, de_handle, void *), DM_GET_LEN(de, de_handle), th, thl), "TRUNCATE names the file");
	EQ(de->de_offset, 0);
	OK(dm_respond_event(sid, m->ev_token, DM_RESP_ABORT, EPERM, 0, NULL));
	EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 7, "open(O_TRUNC) aborted with EPERM (status %d)", status);
	struct stat st;
	OK(stat(mnt_path(backing, "otrunc"), &st));
	EQ(st.st_size, 10);             /* the ABORT left the file as it was */
	/* a truncation to a size at or beyond the end of every TRUNCATE region: none */
	rg = (dm_region_t){ 2, 3, DM_REGION_TRUNCATE, 0 };
	OK(dm_set_region(sid, th, thl, DM_NO_TOKEN, 1, &rg, &exact));
	OK(truncate(tf, 8));            /* new size 8 ≥ the region's end 5: no event */
	no_event(sid);
}

static void region_after_open(dm_sessid_t sid, const char *mnt, const char *backing)
{
	dm_eventmsg_t *m;
	pid_t pid;
	int status;
	dm_boolean_t exact;
	dm_data_event_t *de;
	(void)backing;
	/* ---- a region set while the file is open (the session holds the READ disposition): the
	 * read's own offset and length, no cache */
	char *rf = mnt_path(mnt, "regionlate");
	static char rdata[65536];
	memset(rdata, 'r', sizeof rdata);
	write_file(rf, rdata, sizeof rdata);
	void *rh;
	size_t rhl;
	OK(dm_path_to_handle(rf, &rh, &rhl));
	int rfd = open(rf, O_RDONLY);
	char one[4];
	EQ(pread(rfd, one, 1, 0), 1);              /* read before the region: would fill a page cache */
	dm_region_t late = { 0, 100, DM_REGION_READ, 0 };
	OK(dm_set_region(sid, rh, rhl, DM_NO_TOKEN, 1, &late, &exact));
	pid = fork();
	if (pid == 0) _exit(pread(rfd, one, 1, 99) == 1 ? 0 : 2);
	m = next_event(sid);
	EQ(m->ev_type, DM_EVENT_READ);
	de = DM_GET_VALUE(m, ev_data, dm_data_event_t *);
	EQ(de->de_offset, 99);
	EQ(de->de_length, 1);
	OK(dm_respond_event(sid, m->ev_token, DM_RESP_CONTINUE, 0, 0, NULL));
	EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the read went on (status %d)", status);
	EQ(pread(rfd, one, 4, 100), 4);            /* just past the region: no event */
	EQ(pread(rfd, one, 4, 4096), 4);
	no_event(sid);
	close(rfd);
	OK(dm_set_region(sid, rh, rhl, DM_NO_TOKEN, 0, NULL, &exact));
}

static void times_kept(dm_sessid_t sid, const char *mnt, const char *backing)
{
	/* ---- times: invisible DM changes keep the ctime shown; the backing file's moved */
	char *xf = mnt_path(mnt, "ctime"), *xb = mnt_path(backing, "ctime");
	write_file(xf, "0123456789", 10);
	void *xh;
	size_t xhl;
	OK(dm_path_to_handle(xf, &xh, &xhl));
	long long c0 = ctime_ns(xf), b0 = ctime_ns(xb);
	dm_attrname_t an;
	attrname(&an, "mig");
	usleep(20000);
	OK(dm_set_dmattr(sid, xh, xhl, DM_NO_TOKEN, &an, 0, 4, "tape"));
	EQ(ctime_ns(xf), c0);
	CHECK(ctime_ns(xb) != b0, "the backing ctime moved (the test means something)");
	dm_stat_t ds;
	OK(dm_get_fileattr(sid, xh, xhl, DM_NO_TOKEN, DM_AT_STAT | DM_AT_DTIME, &ds));
	EQ(ds.dt_ctime, c0 / 1000000000LL);
	EQ(ds.dt_dtime, ds.dt_ctime);               /* DTIME_OVERLOAD */
	usleep(20000);
	EQ(dm_write_invis(sid, xh, xhl, DM_NO_TOKEN, 0, 2, 3, "abc"), 3);
	EQ(ctime_ns(xf), c0);
	usleep(20000);
	OK(dm_remove_dmattr(sid, xh, xhl, DM_NO_TOKEN, 0, &an));
	EQ(ctime_ns(xf), c0);
	char back[10];
	int xfd = open(xf, O_RDONLY);
	EQ(read(xfd, back, 10), 10);
	close(xfd);
	CHECK(!memcmp(back, "01abc56789", 10), "write_invis wrote");
	/* setdtime != 0: the change shows (the dtime is the ctime) */
	usleep(20000);
	OK(dm_set_dmattr(sid, xh, xhl, DM_NO_TOKEN, &an, 1, 4, "disk"));
	long long c1 = ctime_ns(xf);
	CHECK(c1 > c0, "setdtime 1 moves the ctime (%lld > %lld)", c1, c0);
	/* a visible change after an invisible one shows too */
	usleep(20000);
	OK(dm_set_dmattr(sid, xh, xhl, DM_NO_TOKEN, &an, 0, 4, "tape"));
	EQ(ctime_ns(xf), c1);
	usleep(20000);
	OK(chmod(xf, 0600));
	CHECK(ctime_ns(xf) > c1, "chmod moves the ctime");
}

/* argv[3], if given, runs that case only (one ava test each) */
static const struct { const char *name; void (*run)(dm_sessid_t, const char *, const char *); } CASES[] = {
	{ "close_dir", close_dir }, { "rename_target", rename_target }, { "otrunc_region_past_eof", otrunc_region_past_eof },
	{ "region_after_open", region_after_open }, { "times_kept", times_kept },
};

int main(int argc, char **argv)
{
	if (argc < 3) FAILX("usage: conform MNT BACKING [CASE]");
	const char *mnt = argv[1];
	dm_sessid_t sid = new_session("libdm conform");
	void *fsh;
	size_t fshl;
	OK(dm_path_to_fshandle((char *)mnt, &fsh, &fshl));
	dm_eventset_t disp = 0;
	DMEV_SET(DM_EVENT_READ, disp);
	DMEV_SET(DM_EVENT_CLOSE, disp);
	DMEV_SET(DM_EVENT_RENAME, disp);
	DMEV_SET(DM_EVENT_POSTRENAME, disp);
	DMEV_SET(DM_EVENT_TRUNCATE, disp);
	OK(dm_set_disp(sid, fsh, fshl, DM_NO_TOKEN, &disp, DM_EVENT_MAX));

	int ran = 0;
	for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
		if (argc > 3 && strcmp(argv[3], CASES[i].name)) continue;
		CASES[i].run(sid, mnt, argv[2]);
		ran++;
	}
	CHECK(ran > 0, "no case named %s", argv[3]);
	disp = 0;
	OK(dm_set_disp(sid, fsh, fshl, DM_NO_TOKEN, &disp, DM_EVENT_MAX));
	OK(dm_destroy_session(sid));
	DONE_OK();
}
