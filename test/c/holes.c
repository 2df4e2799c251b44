/* Holes and allocation: probe_hole (aligned range; EINVAL), punch_hole (EAGAIN unaligned, E2BIG past
 * EOF, the data becomes zeros and the blocks go), get_allocinfo (RES/HOLE extents, 1 = more). */
#include "check.h"

int main(int argc, char **argv)
{
	if (argc < 3) FAILX("usage: holes MNT BACKING");
	const char *mnt = argv[1];
	dm_sessid_t sid = new_session("libdm holes");
	char *f = mnt_path(mnt, "hole");
	static char data[256 * 1024];
	memset(data, 'q', sizeof data);
	write_file(f, data, sizeof data);
	void *h, *fsh;
	size_t hl, fshl;
	OK(dm_path_to_handle(f, &h, &hl));
	OK(dm_path_to_fshandle((char *)mnt, &fsh, &fshl));
	struct stat st;
	OK(stat(f, &st));
	dm_off_t bs = st.st_blksize;

	dm_off_t roff;
	dm_size_t rlen;
	OK(dm_probe_hole(sid, h, hl, DM_NO_TOKEN, 1, 3 * bs, &roff, &rlen));
	EQ(roff, bs);
	EQ(rlen, bs * 2);
	ERR(dm_probe_hole(sid, h, hl, DM_NO_TOKEN, 1, 10, &roff, &rlen), EINVAL);
	OK(dm_probe_hole(sid, h, hl, DM_NO_TOKEN, 0, 0, &roff, &rlen));
	EQ(roff, 0);
	CHECK(rlen >= sizeof data, "to EOF: %llu", (unsigned long long)rlen);

	ERR(dm_punch_hole(sid, h, hl, DM_NO_TOKEN, 1, bs), EAGAIN);
	ERR(dm_punch_hole(sid, h, hl, DM_NO_TOKEN, 1024 * 1024, bs), E2BIG);
	ERR(dm_punch_hole(sid, fsh, fshl, DM_NO_TOKEN, 0, bs), EINVAL);
	OK(dm_punch_hole(sid, h, hl, DM_NO_TOKEN, bs, bs));
	char b[16];
	EQ(dm_read_invis(sid, h, hl, DM_NO_TOKEN, bs, 16, b), 16);
	for (int i = 0; i < 16; i++) EQ(b[i], 0);
	EQ(dm_read_invis(sid, h, hl, DM_NO_TOKEN, bs - 1, 2, b), 2);
	EQ(b[0], 'q');
	EQ(b[1], 0);
	OK(stat(f, &st));
	EQ(st.st_size, sizeof data);

	/* allocation: RES [0,bs) HOLE [bs,2bs) RES [2bs,...) ; one extent per call → 1 while more */
	dm_extent_t ex[8];
	unsigned int n = 0;
	dm_off_t off = 0;
	ERR(dm_get_allocinfo(sid, h, hl, DM_NO_TOKEN, &off, 0, ex, &n), EINVAL);
	off = 1;
	ERR(dm_get_allocinfo(sid, h, hl, DM_NO_TOKEN, &off, 8, ex, &n), EINVAL);
	off = 0;
	int rc = dm_get_allocinfo(sid, h, hl, DM_NO_TOKEN, &off, 8, ex, &n);
	EQ(rc, 0);
	CHECK(n >= 3, "%u extents", n);
	EQ(ex[0].ex_type, DM_EXTENT_RES);
	EQ(ex[0].ex_offset, 0);
	EQ(ex[0].ex_length, bs);
	EQ(ex[1].ex_type, DM_EXTENT_HOLE);
	EQ(ex[1].ex_offset, bs);
	EQ(ex[1].ex_length, bs);
	EQ(ex[2].ex_type, DM_EXTENT_RES);
	EQ(ex[2].ex_offset, 2 * bs);
	off = 0;
	rc = dm_get_allocinfo(sid, h, hl, DM_NO_TOKEN, &off, 1, ex, &n);
	EQ(rc, 1);
	EQ(n, 1);
	EQ(off, bs);
	rc = dm_get_allocinfo(sid, h, hl, DM_NO_TOKEN, &off, 1, ex, &n);
	EQ(rc, 1);
	EQ(ex[0].ex_type, DM_EXTENT_HOLE);

	/* punch to EOF (len 0): the whole file a hole, the backing blocks gone */
	OK(dm_punch_hole(sid, h, hl, DM_NO_TOKEN, 0, 0));
	char *bf = mnt_path(argv[2], "hole");
	OK(stat(bf, &st));
	EQ(st.st_size, sizeof data);
	CHECK(st.st_blocks * 512 < 64 * 1024, "backing blocks %lld", (long long)st.st_blocks);
	off = 0;
	rc = dm_get_allocinfo(sid, h, hl, DM_NO_TOKEN, &off, 8, ex, &n);
	EQ(rc, 0);
	EQ(n, 1);
	EQ(ex[0].ex_type, DM_EXTENT_HOLE);
	OK(dm_sync_by_handle(sid, h, hl, DM_NO_TOKEN));
	ERR(dm_sync_by_handle(sid, fsh, fshl, DM_NO_TOKEN), EINVAL);
	OK(dm_destroy_session(sid));
	DONE_OK();
}
