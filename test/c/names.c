/* Names that are not UTF-8 (the byte 0xE9, Latin-1 'é'): path_to_handle, handle_to_path,
 * read_invis and the names in event messages are byte-exact, in the root and below a directory
 * whose own name is not UTF-8 either; a READ on such a file is answered by a recall through the
 * handle the event carried (what an HSM does). */
#include <sys/wait.h>
#include "check.h"

static char buf[65536] __attribute__((aligned(8)));

int main(int argc, char **argv)
{
	if (argc < 2) FAILX("usage: names MNT");
	const char *mnt = argv[1];
	dm_sessid_t sid = new_session("libdm names");
	void *fsh, *root;
	size_t fshl, rootl, rlen;
	OK(dm_path_to_fshandle((char *)mnt, &fsh, &fshl));
	OK(dm_path_to_handle((char *)mnt, &root, &rootl));

	/* a file named "caf\xe9" in the root, and "d\xe9r/\xe9t\xe9" below it */
	char *f = mnt_path(mnt, "caf\xe9");
	write_file(f, "latin-1 bytes", 13);
	char *d = mnt_path(mnt, "d\xe9r");
	OK(mkdir(d, 0755));
	char *g = mnt_path(d, "\xe9t\xe9");
	write_file(g, "below", 5);
	void *h, *dh, *gh;
	size_t hl, dhl, ghl;
	OK(dm_path_to_handle(f, &h, &hl));
	OK(dm_path_to_handle(d, &dh, &dhl));
	OK(dm_path_to_handle(g, &gh, &ghl));
	/* the handle is the file's: its inode number */
	struct stat st;
	OK(stat(f, &st));
	dm_ino_t ino;
	OK(dm_handle_to_ino(h, hl, &ino));
	EQ(ino, st.st_ino);

	char path[4096];
	OK(dm_handle_to_path(root, rootl, h, hl, sizeof path, path, &rlen));
	CHECK(!strcmp(path, f), "handle_to_path '%s', expected '%s'", path, f);
	OK(dm_handle_to_path(dh, dhl, gh, ghl, sizeof path, path, &rlen));
	CHECK(!strcmp(path, g), "handle_to_path '%s', expected '%s'", path, g);

	EQ(dm_read_invis(sid, h, hl, DM_NO_TOKEN, 0, sizeof buf, buf), 13);
	CHECK(!memcmp(buf, "latin-1 bytes", 13), "read_invis bytes");
	EQ(dm_read_invis(sid, gh, ghl, DM_NO_TOKEN, 0, sizeof buf, buf), 5);

	/* CREATE and REMOVE name the entry byte for byte */
	dm_eventset_t ev;
	DMEV_ZERO(ev);
	DMEV_SET(DM_EVENT_CREATE, ev);
	DMEV_SET(DM_EVENT_REMOVE, ev);
	DMEV_SET(DM_EVENT_READ, ev);
	OK(dm_set_disp(sid, fsh, fshl, DM_NO_TOKEN, &ev, DM_EVENT_MAX));
	dm_eventset_t nsev;
	DMEV_ZERO(nsev);
	DMEV_SET(DM_EVENT_CREATE, nsev);
	DMEV_SET(DM_EVENT_REMOVE, nsev);
	OK(dm_set_eventlist(sid, dh, dhl, DM_NO_TOKEN, &nsev, DM_EVENT_MAX));
	char *n = mnt_path(d, "n\xe9w");
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open(n, O_CREAT | O_WRONLY, 0600);
		_exit(fd < 0 ? 2 : 0);
	}
	OK(dm_get_events(sid, 1, DM_EV_WAIT, sizeof buf, buf, &rlen));
	dm_eventmsg_t *m = (dm_eventmsg_t *)buf;
	EQ(m->ev_type, DM_EVENT_CREATE);
	dm_namesp_event_t *ne = DM_GET_VALUE(m, ev_data, dm_namesp_event_t *);
	EQ(dm_handle_cmp(DM_GET_VALUE(ne, ne_handle1, void *), DM_GET_LEN(ne, ne_handle1), dh, dhl), 0);
	CHECK(!strcmp(DM_GET_VALUE(ne, ne_name1, char *), "n\xe9w"), "CREATE name '%s'", DM_GET_VALUE(ne, ne_name1, char *));
	OK(dm_respond_event(sid, m->ev_token, DM_RESP_CONTINUE, 0, 0, NULL));
	int status;
	EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "creat (status %d)", status);

	/* a READ on the non-UTF-8 file: the event's handle resolves (the recall writes through it) */
	dm_region_t rg = { 0, 0, DM_REGION_READ, 0 };
	dm_boolean_t exact;
	OK(dm_set_region(sid, gh, ghl, DM_NO_TOKEN, 1, &rg, &exact));
	pid = fork();
	if (pid == 0) {
		char b[16];
		int fd = open(g, O_RDONLY);
		_exit(fd < 0 ? 2 : read(fd, b, sizeof b) == 5 && !memcmp(b, "BELOW", 5) ? 0 : 3);
	}
	OK(dm_get_events(sid, 1, DM_EV_WAIT, sizeof buf, buf, &rlen));
	m = (dm_eventmsg_t *)buf;
	EQ(m->ev_type, DM_EVENT_READ);
	dm_data_event_t *de = DM_GET_VALUE(m, ev_data, dm_data_event_t *);
	void *eh = DM_GET_VALUE(de, de_handle, void *);
	size_t ehl = DM_GET_LEN(de, de_handle);
	EQ(dm_handle_cmp(eh, ehl, gh, ghl), 0);
	/* the token comes with no rights (GPFS): the recall takes the exclusive one */
	OK(dm_request_right(sid, eh, ehl, m->ev_token, DM_RR_WAIT, DM_RIGHT_EXCL));
	EQ(dm_write_invis(sid, eh, ehl, m->ev_token, 0, 0, 5, "BELOW"), 5);
	OK(dm_set_region(sid, eh, ehl, m->ev_token, 0, NULL, &exact));
	OK(dm_respond_event(sid, m->ev_token, DM_RESP_CONTINUE, 0, 0, NULL));
	EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the reader got the recalled bytes (status %d)", status);

	/* REMOVE of the non-UTF-8 name */
	pid = fork();
	if (pid == 0) _exit(unlink(n) < 0 ? 2 : 0);
	OK(dm_get_events(sid, 1, DM_EV_WAIT, sizeof buf, buf, &rlen));
	m = (dm_eventmsg_t *)buf;
	EQ(m->ev_type, DM_EVENT_REMOVE);
	ne = DM_GET_VALUE(m, ev_data, dm_namesp_event_t *);
	CHECK(!strcmp(DM_GET_VALUE(ne, ne_name1, char *), "n\xe9w"), "REMOVE name '%s'", DM_GET_VALUE(ne, ne_name1, char *));
	OK(dm_respond_event(sid, m->ev_token, DM_RESP_CONTINUE, 0, 0, NULL));
	EQ(waitpid(pid, &status, 0), pid);

	DMEV_ZERO(ev);
	OK(dm_set_eventlist(sid, dh, dhl, DM_NO_TOKEN, &ev, DM_EVENT_MAX));
	OK(dm_set_disp(sid, fsh, fshl, DM_NO_TOKEN, &ev, DM_EVENT_MAX));
	OK(dm_destroy_session(sid));
	DONE_OK();
}
