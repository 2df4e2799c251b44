/* Holes and allocation: probe_hole (aligned range; EINVAL; len 0 = to EOF with rlen 0), punch_hole
 * (EAGAIN unaligned, E2BIG for a range past EOF, the data becomes zeros and the blocks go),
 * get_allocinfo (RES/HOLE extents, 1 = more). */
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
	/* len 0 = "to the end of the file": SGI's xfs_dm_probe_hole answers rlen 0 */
	OK(dm_probe_hole(sid, h, hl, DM_NO_TOKEN, 0, 0, &roff, &rlen));
	EQ(roff, 0);
	EQ(rlen, 0);
	OK(dm_probe_hole(sid, h, hl, DM_NO_TOKEN, 1, 0, &roff, &rlen));
	EQ(roff, bs);
	EQ(rlen, 0);

	/* a range past the end of the file: E2BIG for both (500001 bytes of a 500000-byte file) */
	char *f5 = mnt_path(mnt, "hole500000");
	static char d5[500000];
	write_file(f5, d5, sizeof d5);
	void *h5;
	size_t h5l;
	OK(dm_path_to_handle(f5, &h5, &h5l));
	ERR(dm_probe_hole(sid, h5, h5l, DM_NO_TOKEN, 0, 500001, &roff, &rlen), E2BIG);
	ERR(dm_punch_hole(sid, h5, h5l, DM_NO_TOKEN, 0, 500001), E2BIG);
	ERR(dm_probe_hole(sid, h5, h5l, DM_NO_TOKEN, 500001, 0, &roff, &rlen), E2BIG);
	ERR(dm_punch_hole(sid, h5, h5l, DM_NO_TOKEN, 500001, 0), E2BIG);
	OK(dm_probe_hole(sid, h5, h5l, DM_NO_TOKEN, 0, 500000, &roff, &rlen));     /* exactly to EOF */
	EQ(roff, 0);
	EQ(rlen, (500000 + bs - 1) / bs * bs);
	OK(stat(f5, &st));
	EQ(st.st_size, 500000);

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
