/* Dispositions and event lists: set_disp (global/fs handle rules), getall_disp (E2BIG), set/get
 * eventlist (E2BIG with the count), get_mountinfo, and a CREATE event from a real creat(). */
#include <sys/wait.h>
#include "check.h"

int main(int argc, char **argv)
{
	if (argc < 2) FAILX("usage: dispositions MNT");
	const char *mnt = argv[1];
	dm_sessid_t sid = new_session("libdm disp");
	char *f = mnt_path(mnt, "df");
	write_file(f, "x", 1);
	void *fsh, *h, *root;
	size_t fshl, hl, rootl;
	OK(dm_path_to_fshandle((char *)mnt, &fsh, &fshl));
	OK(dm_path_to_handle(f, &h, &hl));
	OK(dm_path_to_handle((char *)mnt, &root, &rootl));

	dm_eventset_t ev = 0;
	DMEV_SET(DM_EVENT_MOUNT, ev);
	OK(dm_set_disp(sid, DM_GLOBAL_HANP, DM_GLOBAL_HLEN, DM_NO_TOKEN, &ev, DM_EVENT_MAX));
	ERR(dm_set_disp(sid, fsh, fshl, DM_NO_TOKEN, &ev, DM_EVENT_MAX), EINVAL);   /* MOUNT: global only */
	DMEV_ZERO(ev);
	DMEV_SET(DM_EVENT_CREATE, ev);
	DMEV_SET(DM_EVENT_REMOVE, ev);
	ERR(dm_set_disp(sid, h, hl, DM_NO_TOKEN, &ev, DM_EVENT_MAX), EINVAL);        /* file handle */
	ERR(dm_set_disp(sid, fsh, fshl, DM_NO_TOKEN, &ev, DM_EVENT_MAX + 1), EINVAL);
	ERR(dm_set_disp(DM_NO_SESSION, fsh, fshl, DM_NO_TOKEN, &ev, DM_EVENT_MAX), EINVAL);
	OK(dm_set_disp(sid, fsh, fshl, DM_NO_TOKEN, &ev, DM_EVENT_MAX));

	static char buf[8192] __attribute__((aligned(8)));
	size_t rlen = 0;
	ERR(dm_getall_disp(sid, 0, buf, &rlen), E2BIG);
	CHECK(rlen >= sizeof(dm_dispinfo_t) + fshl, "getall_disp needs %zu", rlen);
	OK(dm_getall_disp(sid, sizeof buf, buf, &rlen));
	dm_dispinfo_t *di = (dm_dispinfo_t *)buf;
	EQ(DM_GET_LEN(di, di_fshandle), fshl);
	EQ(dm_handle_cmp(DM_GET_VALUE(di, di_fshandle, void *), DM_GET_LEN(di, di_fshandle), fsh, fshl), 0);
	EQ(di->di_eventset, ev);
	CHECK(DM_STEP_TO_NEXT(di, dm_dispinfo_t *) == NULL, "one filesystem");

	/* event lists */
	dm_eventset_t fl = 0, got = 0;
	unsigned int n = 0;
	DMEV_SET(DM_EVENT_ATTRIBUTE, fl);
	DMEV_SET(DM_EVENT_DESTROY, fl);
	OK(dm_set_eventlist(sid, h, hl, DM_NO_TOKEN, &fl, DM_EVENT_MAX));
	OK(dm_get_eventlist(sid, h, hl, DM_NO_TOKEN, DM_EVENT_MAX, &got, &n));
	EQ(got, fl);
	EQ(n, DM_EVENT_DESTROY + 1);
	n = 0;
	ERR(dm_get_eventlist(sid, h, hl, DM_NO_TOKEN, 5, &got, &n), E2BIG);
	EQ(n, DM_EVENT_DESTROY + 1);
	ERR(dm_get_eventlist(sid, DM_GLOBAL_HANP, DM_GLOBAL_HLEN, DM_NO_TOKEN, DM_EVENT_MAX, &got, &n), EBADF);
	dm_eventset_t bad = 0;
	DMEV_SET(DM_EVENT_CREATE, bad);
	ERR(dm_set_eventlist(sid, h, hl, DM_NO_TOKEN, &bad, DM_EVENT_MAX), EINVAL);  /* CREATE on a file */
	OK(dm_set_eventlist(sid, fsh, fshl, DM_NO_TOKEN, &ev, DM_EVENT_MAX));
	OK(dm_get_eventlist(sid, fsh, fshl, DM_NO_TOKEN, DM_EVENT_MAX, &got, &n));
	CHECK(DMEV_ISSET(DM_EVENT_CREATE, got) && DMEV_ISSET(DM_EVENT_REMOVE, got), "fs event list 0x%llx",
		(unsigned long long)got);

	/* mount information */
	ERR(dm_get_mountinfo(sid, fsh, fshl, DM_NO_TOKEN, 4, buf, &rlen), E2BIG);
	size_t need = rlen;
	OK(dm_get_mountinfo(sid, fsh, fshl, DM_NO_TOKEN, sizeof buf, buf, &rlen));
	EQ(rlen, need);
	dm_mount_event_t *me = (dm_mount_event_t *)buf;
	EQ(dm_handle_cmp(DM_GET_VALUE(me, me_handle1, void *), DM_GET_LEN(me, me_handle1), fsh, fshl), 0);
	CHECK(!strcmp(DM_GET_VALUE(me, me_name1, char *), mnt), "mount point '%s'", DM_GET_VALUE(me, me_name1, char *));
	CHECK(argc < 3 || !strcmp(DM_GET_VALUE(me, me_name2, char *), argv[2]), "device '%s'",
		DM_GET_VALUE(me, me_name2, char *));
	EQ(dm_handle_cmp(DM_GET_VALUE(me, me_roothandle, void *), DM_GET_LEN(me, me_roothandle), root, rootl), 0);
	ERR(dm_get_mountinfo(sid, h, hl, DM_NO_TOKEN, sizeof buf, buf, &rlen), EINVAL);

	/* CREATE from a real creat(): parent handle and entry name; ABORT makes it fail */
	char *nf = mnt_path(mnt, "newfile");
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open(nf, O_CREAT | O_WRONLY, 0600);
		_exit(fd < 0 ? (errno == EPERM ? 7 : 2) : 0);
	}
	OK(dm_get_events(sid, 1, DM_EV_WAIT, sizeof buf, buf, &rlen));
	dm_eventmsg_t *m = (dm_eventmsg_t *)buf;
	EQ(m->ev_type, DM_EVENT_CREATE);
	dm_namesp_event_t *ne = DM_GET_VALUE(m, ev_data, dm_namesp_event_t *);
	EQ(dm_handle_cmp(DM_GET_VALUE(ne, ne_handle1, void *), DM_GET_LEN(ne, ne_handle1), root, rootl), 0);
	CHECK(!strcmp(DM_GET_VALUE(ne, ne_name1, char *), "newfile"), "name '%s'", DM_GET_VALUE(ne, ne_name1, char *));
	EQ(DM_GET_LEN(ne, ne_name1), strlen("newfile") + 1);
	OK(dm_respond_event(sid, m->ev_token, DM_RESP_ABORT, EPERM, 0, NULL));
	int status;
	EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 7, "creat failed with EPERM (status %d)", status);
	struct stat st;
	ERR(stat(nf, &st), ENOENT);

	/* clearing the event list and the disposition: no more events */
	DMEV_ZERO(ev);
	OK(dm_set_eventlist(sid, fsh, fshl, DM_NO_TOKEN, &ev, DM_EVENT_MAX));
	OK(dm_get_eventlist(sid, fsh, fshl, DM_NO_TOKEN, DM_EVENT_MAX, &got, &n));
	EQ(got, 0);
	EQ(n, 0);
	OK(dm_set_disp(sid, fsh, fshl, DM_NO_TOKEN, &ev, DM_EVENT_MAX));
	OK(dm_set_disp(sid, DM_GLOBAL_HANP, DM_GLOBAL_HLEN, DM_NO_TOKEN, &ev, DM_EVENT_MAX));
	write_file(nf, "y", 1);
	ERR(dm_get_events(sid, 0, 0, sizeof buf, buf, &rlen), EAGAIN);
	OK(dm_getall_disp(sid, sizeof buf, buf, &rlen));
	EQ(rlen, 0);
	OK(dm_destroy_session(sid));
	DONE_OK();
}
