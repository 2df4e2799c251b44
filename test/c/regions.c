/* Managed regions: set/get (exact flag, E2BIG with the count, limits, handle kinds) and a WRITE
 * event with its range from a real pwrite, answered ABORT. */
#include <sys/wait.h>
#include "check.h"

int main(int argc, char **argv)
{
	if (argc < 2) FAILX("usage: regions MNT");
	const char *mnt = argv[1];
	dm_sessid_t sid = new_session("libdm regions");
	char *f = mnt_path(mnt, "rg");
	char data[8192];
	memset(data, 'a', sizeof data);
	write_file(f, data, sizeof data);
	void *fsh, *h, *dh;
	size_t fshl, hl, dhl;
	OK(dm_path_to_fshandle((char *)mnt, &fsh, &fshl));
	OK(dm_path_to_handle(f, &h, &hl));
	OK(dm_path_to_handle((char *)mnt, &dh, &dhl));

	dm_region_t rg[40], out[40];
	memset(rg, 0, sizeof rg);
	rg[0] = (dm_region_t){ 0, 100, DM_REGION_READ, 7 };
	rg[1] = (dm_region_t){ 4096, 4096, DM_REGION_WRITE | DM_REGION_TRUNCATE, 9 };
	dm_boolean_t exact = 5;
	OK(dm_set_region(sid, h, hl, DM_NO_TOKEN, 2, rg, &exact));
	EQ(exact, DM_TRUE);
	unsigned int n = 0;
	OK(dm_get_region(sid, h, hl, DM_NO_TOKEN, 40, out, &n));
	EQ(n, 2);
	for (int i = 0; i < 2; i++) {
		EQ(out[i].rg_offset, rg[i].rg_offset);
		EQ(out[i].rg_size, rg[i].rg_size);
		EQ(out[i].rg_flags, rg[i].rg_flags);
	}
	n = 0;
	ERR(dm_get_region(sid, h, hl, DM_NO_TOKEN, 1, out, &n), E2BIG);
	EQ(n, 2);
	for (int i = 0; i < 33; i++) rg[i] = (dm_region_t){ i * 8192, 4096, DM_REGION_READ, 0 };
	ERR(dm_set_region(sid, h, hl, DM_NO_TOKEN, 33, rg, &exact), E2BIG);
	ERR(dm_set_region(sid, fsh, fshl, DM_NO_TOKEN, 1, rg, &exact), EINVAL);
	ERR(dm_set_region(sid, dh, dhl, DM_NO_TOKEN, 1, rg, &exact), EINVAL);
	ERR(dm_get_region(sid, h, hl, 99999999, 40, out, &n), EINVAL);
	OK(dm_get_region(sid, h, hl, DM_NO_TOKEN, 40, out, &n));
	EQ(n, 2);   /* unchanged by the failed calls */

	/* a file with regions reports the data events in its event list */
	dm_eventset_t evl = 0;
	OK(dm_get_eventlist(sid, h, hl, DM_NO_TOKEN, DM_EVENT_MAX, &evl, &n));
	CHECK(DMEV_ISSET(DM_EVENT_READ, evl) && DMEV_ISSET(DM_EVENT_WRITE, evl) && DMEV_ISSET(DM_EVENT_TRUNCATE, evl),
		"event list 0x%llx", (unsigned long long)evl);

	/* WRITE inside the region: event with the range; ABORT → the writer gets the errno */
	dm_eventset_t ev = 0;
	DMEV_SET(DM_EVENT_WRITE, ev);
	DMEV_SET(DM_EVENT_READ, ev);
	OK(dm_set_disp(sid, fsh, fshl, DM_NO_TOKEN, &ev, DM_EVENT_MAX));
	int fd = open(f, O_RDWR);
	EQ(pwrite(fd, "x", 1, 200), 1);         /* outside every region: no event */
	static char buf[4096] __attribute__((aligned(8)));
	size_t rlen;
	ERR(dm_get_events(sid, 0, 0, sizeof buf, buf, &rlen), EAGAIN);
	pid_t pid = fork();
	if (pid == 0) {
		ssize_t k = pwrite(fd, "zz", 2, 5000);
		_exit(k < 0 ? (errno == ENOSPC ? 7 : 2) : 0);
	}
	OK(dm_get_events(sid, 1, DM_EV_WAIT, sizeof buf, buf, &rlen));
	dm_eventmsg_t *m = (dm_eventmsg_t *)buf;
	EQ(m->ev_type, DM_EVENT_WRITE);
	dm_data_event_t *de = DM_GET_VALUE(m, ev_data, dm_data_event_t *);
	EQ(de->de_offset, 5000);
	EQ(de->de_length, 2);
	EQ(dm_handle_cmp(DM_GET_VALUE(de, de_handle, void *), DM_GET_LEN(de, de_handle), h, hl), 0);
	OK(dm_respond_event(sid, m->ev_token, DM_RESP_ABORT, ENOSPC, 0, NULL));
	int status;
	EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 7, "writer failed with ENOSPC (status %d)", status);
	char b[2];
	ERR(dm_read_invis(sid, h, hl, DM_NO_TOKEN, 100000, 2, b), EINVAL);
	EQ(dm_read_invis(sid, h, hl, DM_NO_TOKEN, 5000, 2, b), 2);
	CHECK(!memcmp(b, "aa", 2), "the write did not happen");

	/* nelem 0 clears */
	OK(dm_set_region(sid, h, hl, DM_NO_TOKEN, 0, NULL, &exact));
	OK(dm_get_region(sid, h, hl, DM_NO_TOKEN, 40, out, &n));
	EQ(n, 0);
	EQ(pwrite(fd, "zz", 2, 5000), 2);
	ERR(dm_get_events(sid, 0, 0, sizeof buf, buf, &rlen), EAGAIN);
	close(fd);
	ev = 0;
	OK(dm_set_disp(sid, fsh, fshl, DM_NO_TOKEN, &ev, DM_EVENT_MAX));
	OK(dm_destroy_session(sid));
	DONE_OK();
}
