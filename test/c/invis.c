/* Invisible I/O: read_invis/write_invis of 3 MiB (split by the library into 1 MiB requests), short
 * read at EOF, EINVAL past EOF, no event and mtime unchanged, DM_WRITE_SYNC, dir/fs handles. */
#include "check.h"

int main(int argc, char **argv)
{
	if (argc < 2) FAILX("usage: invis MNT");
	const char *mnt = argv[1];
	dm_sessid_t sid = new_session("libdm invis");
	char *f = mnt_path(mnt, "inv");
	write_file(f, "", 0);
	void *h, *fsh, *dh;
	size_t hl, fshl, dhl;
	OK(dm_path_to_handle(f, &h, &hl));
	OK(dm_path_to_fshandle((char *)mnt, &fsh, &fshl));
	OK(dm_path_to_handle((char *)mnt, &dh, &dhl));
	struct stat st0, st;
	struct timespec ts[2] = { { 1000, 0 }, { 2000, 0 } };
	OK(utimensat(AT_FDCWD, f, ts, 0));
	OK(stat(f, &st0));

	/* a WRITE region and the disposition: invisible I/O raises no event */
	dm_eventset_t ev = 0;
	DMEV_SET(DM_EVENT_WRITE, ev);
	DMEV_SET(DM_EVENT_READ, ev);
	OK(dm_set_disp(sid, fsh, fshl, DM_NO_TOKEN, &ev, DM_EVENT_MAX));
	dm_region_t rg = { 0, 0, DM_REGION_READ | DM_REGION_WRITE, 0 };
	dm_boolean_t exact;
	OK(dm_set_region(sid, h, hl, DM_NO_TOKEN, 1, &rg, &exact));

	size_t len = 3 * 1024 * 1024 + 123;
	char *data = malloc(len), *back = malloc(len + 100);
	for (size_t i = 0; i < len; i++) data[i] = (char)(i * 7 + i / 4096);
	EQ(dm_write_invis(sid, h, hl, DM_NO_TOKEN, 0, 0, len, data), len);
	EQ(dm_write_invis(sid, h, hl, DM_NO_TOKEN, DM_WRITE_SYNC, 10, 5, "SYNC!"), 5);
	memcpy(data + 10, "SYNC!", 5);
	EQ(dm_read_invis(sid, h, hl, DM_NO_TOKEN, 0, len + 100, back), len);   /* short at EOF */
	CHECK(!memcmp(data, back, len), "the bytes read back");
	EQ(dm_read_invis(sid, h, hl, DM_NO_TOKEN, len - 3, 100, back), 3);
	ERR(dm_read_invis(sid, h, hl, DM_NO_TOKEN, len + 4096, 10, back), EINVAL);
	ERR(dm_read_invis(sid, dh, dhl, DM_NO_TOKEN, 0, 10, back), EINVAL);
	ERR(dm_write_invis(sid, fsh, fshl, DM_NO_TOKEN, 0, 0, 1, "x"), EINVAL);
	static char evbuf[4096] __attribute__((aligned(8)));
	size_t rlen;
	ERR(dm_get_events(sid, 0, 0, sizeof evbuf, evbuf, &rlen), EAGAIN);
	OK(stat(f, &st));
	EQ(st.st_size, len);
	EQ(st.st_mtime, st0.st_mtime);
	EQ(st.st_atime, st0.st_atime);

	/* the same bytes through the mount once the region is gone */
	OK(dm_set_region(sid, h, hl, DM_NO_TOKEN, 0, NULL, &exact));
	int fd = open(f, O_RDONLY);
	size_t got = 0;
	ssize_t k;
	while ((k = read(fd, back + got, len - got)) > 0) got += k;
	close(fd);
	EQ(got, len);
	CHECK(!memcmp(data, back, len), "the mount reads what write_invis wrote");
	ev = 0;
	OK(dm_set_disp(sid, fsh, fshl, DM_NO_TOKEN, &ev, DM_EVENT_MAX));
	OK(dm_destroy_session(sid));
	DONE_OK();
}
