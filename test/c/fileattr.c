/* File attributes and scans: get/set_fileattr (masks, settable fields, errnos), init_attrloc,
 * get_dirattrs over several calls (1 = more, 0 = done; E2BIG), get_bulkattr, get_bulkall; SGI's
 * dm_stat_t tail (dt_fstype, dt_xfs_*) and dm_get_dioinfo. */
#include "check.h"
#include <sys/syscall.h>

/* The sysfs(2) GETFSIND index of "fuse"; /proc/filesystems when the syscall is compiled out. */
static int fuse_fs_index(void)
{
	long r = syscall(SYS_sysfs, 1, "fuse");
	if (r >= 0 || errno != ENOSYS) return (int)r;
	FILE *f = fopen("/proc/filesystems", "r");
	if (!f) return -1;
	char line[256];
	int i = 0, found = -1;
	while (fgets(line, sizeof line, f)) {
		char *nm = strrchr(line, '\t');
		nm = nm ? nm + 1 : line;
		nm[strcspn(nm, "\n")] = 0;
		if (!strcmp(nm, "fuse")) { found = i; break; }
		i++;
	}
	fclose(f);
	return found;
}

static char buf[65536] __attribute__((aligned(8)));

int main(int argc, char **argv)
{
	if (argc < 3) FAILX("usage: fileattr MNT BACKING");
	const char *mnt = argv[1];
	dm_sessid_t sid = new_session("libdm fileattr");
	char *d = mnt_path(mnt, "dir");
	mkdir(d, 0755);
	const char *names[3] = { "d1", "d2", "d3" };
	void *hs[3];
	size_t hls[3];
	for (int i = 0; i < 3; i++) {
		char *p = mnt_path(d, names[i]);
		write_file(p, "0123456789", 3 + i);
		OK(dm_path_to_handle(p, &hs[i], &hls[i]));
	}
	char *f = mnt_path(d, "d1");
	void *fsh, *dh;
	size_t fshl, dhl;
	OK(dm_path_to_fshandle((char *)mnt, &fsh, &fshl));
	OK(dm_path_to_handle(d, &dh, &dhl));

	struct stat st;
	OK(stat(f, &st));
	dm_stat_t ds;
	OK(dm_get_fileattr(sid, hs[0], hls[0], DM_NO_TOKEN, DM_AT_STAT, &ds));
	EQ(ds.dt_size, 3);
	EQ(ds.dt_ino, st.st_ino);
	EQ(ds.dt_mode, st.st_mode);
	EQ(ds.dt_nlink, 1);
	EQ(ds.dt_uid, st.st_uid);
	EQ(ds.dt_mtime, st.st_mtime);
	EQ(ds.dt_blksize, st.st_blksize);
	ERR(dm_get_fileattr(sid, fsh, fshl, DM_NO_TOKEN, DM_AT_STAT, &ds), EINVAL);
	ERR(dm_get_fileattr(sid, hs[0], hls[0], DM_NO_TOKEN, 0x80000000u, &ds), EINVAL);

	/* SGI's tail: layout, fstype, igen = the handle's, no DM attributes yet, one data extent */
	EQ(sizeof(dm_stat_t), 168);
	EQ(sizeof(dm_xstat_t), 176);
	EQ(offsetof(dm_stat_t, dt_fstype), 144);
	EQ(offsetof(dm_stat_t, dt_xfs_igen), 148);
	EQ(offsetof(dm_stat_t, dt_xfs_dmstate), 166);
	dm_igen_t igen;
	OK(dm_get_fileattr(sid, hs[0], hls[0], DM_NO_TOKEN, DM_AT_STAT, &ds));
	OK(dm_handle_to_igen(hs[0], hls[0], &igen));
	EQ(ds.dt_xfs_igen, igen);
	EQ(ds.dt_fstype, fuse_fs_index());
	CHECK(ds.dt_fstype >= 0, "dt_fstype %d", ds.dt_fstype);
	EQ(ds.dt_xfs_xflags, 0);
	EQ(ds.dt_xfs_extsize, 0);
	EQ(ds.dt_xfs_extents, 1);
	EQ(ds.dt_xfs_aextents, 0);
	EQ(ds.dt_xfs_dmstate, 0);
	/* a sparse file: data at 0, a hole, data at 1 MiB, a hole to 3 MiB; extents = the RES extents
	 * dm_get_allocinfo lists */
	{
		char *sp = mnt_path(d, "sparse");
		int fd = open(sp, O_RDWR | O_CREAT | O_TRUNC, 0644);
		CHECK(fd >= 0, "open sparse: %s", strerror(errno));
		static char blk[8192];
		memset(blk, 'x', sizeof blk);
		EQ(pwrite(fd, blk, sizeof blk, 0), sizeof blk);
		EQ(pwrite(fd, blk, sizeof blk, 1 << 20), sizeof blk);
		OK(ftruncate(fd, 3 << 20));
		OK(fsync(fd));
		OK(close(fd));
		void *sh;
		size_t shl;
		OK(dm_path_to_handle(sp, &sh, &shl));
		OK(dm_get_fileattr(sid, sh, shl, DM_NO_TOKEN, DM_AT_STAT, &ds));
		EQ(ds.dt_size, 3 << 20);
		EQ(ds.dt_xfs_extents, 2);
		dm_extent_t ext[16];
		unsigned int nel = 0;
		dm_off_t off = 0;
		int res = 0;
		EQ(dm_get_allocinfo(sid, sh, shl, DM_NO_TOKEN, &off, 16, ext, &nel), 0);
		for (unsigned int k = 0; k < nel; k++) res += ext[k].ex_type == DM_EXTENT_RES;
		EQ(ds.dt_xfs_extents, res);
		OK(dm_handle_to_igen(sh, shl, &igen));
		EQ(ds.dt_xfs_igen, igen);
		/* an empty file and a directory have no data extents */
		OK(truncate(sp, 0));
		OK(dm_get_fileattr(sid, sh, shl, DM_NO_TOKEN, DM_AT_STAT, &ds));
		EQ(ds.dt_size, 0);
		EQ(ds.dt_xfs_extents, 0);
		OK(dm_get_fileattr(sid, dh, dhl, DM_NO_TOKEN, DM_AT_STAT, &ds));
		EQ(ds.dt_xfs_extents, 0);
		OK(dm_handle_to_igen(dh, dhl, &igen));
		EQ(ds.dt_xfs_igen, igen);
		OK(unlink(sp));
		dm_handle_free(sh, shl);
	}

	/* dm_get_dioinfo: the backing file's block size, 128 KiB at most, never direct-I/O only */
	{
		struct stat bst;
		OK(stat(mnt_path(argv[2], "dir/d1"), &bst));
		dm_dioinfo_t dio;
		memset(&dio, 0xff, sizeof dio);
		OK(dm_get_dioinfo(sid, hs[0], hls[0], DM_NO_TOKEN, &dio));
		EQ(dio.d_mem, bst.st_blksize);
		EQ(dio.d_miniosz, bst.st_blksize);
		EQ(dio.d_maxiosz, 131072 - 131072 % bst.st_blksize);
		EQ(dio.d_maxiosz % dio.d_miniosz, 0);
		EQ(dio.d_dio_only, DM_FALSE);
		ERR(dm_get_dioinfo(DM_NO_SESSION, hs[0], hls[0], DM_NO_TOKEN, &dio), EINVAL);
		ERR(dm_get_dioinfo(987654321, hs[0], hls[0], DM_NO_TOKEN, &dio), EINVAL);
		ERR(dm_get_dioinfo(sid, fsh, fshl, DM_NO_TOKEN, &dio), EINVAL);
		ERR(dm_get_dioinfo(sid, dh, dhl, DM_NO_TOKEN, &dio), EINVAL);
		ERR(dm_get_dioinfo(sid, hs[0], hls[0], DM_NO_TOKEN, NULL), EFAULT);
		/* with a token holding DM_RIGHT_SHARED */
		dm_token_t dtok;
		OK(dm_create_userevent(sid, 0, NULL, &dtok));
		OK(dm_request_right(sid, hs[0], hls[0], dtok, DM_RR_WAIT, DM_RIGHT_SHARED));
		OK(dm_get_dioinfo(sid, hs[0], hls[0], dtok, &dio));
		EQ(dio.d_miniosz, bst.st_blksize);
		OK(dm_respond_event(sid, dtok, DM_RESP_CONTINUE, 0, 0, NULL));
	}

	/* settable fields; no SIZE, no CTIME; DTIME only with DM attributes */
	dm_fileattr_t fa;
	memset(&fa, 0, sizeof fa);
	fa.fa_mode = 0640;
	fa.fa_uid = 1234;
	fa.fa_gid = 4321;
	fa.fa_atime = 1000000;
	fa.fa_mtime = 2000000;
	OK(dm_set_fileattr(sid, hs[0], hls[0], DM_NO_TOKEN, DM_AT_MODE | DM_AT_UID | DM_AT_GID | DM_AT_ATIME | DM_AT_MTIME, &fa));
	/* the backing file (the mount's attribute cache may still answer the old values for a moment) */
	OK(stat(mnt_path(argv[2], "dir/d1"), &st));
	EQ(st.st_mode & 07777, 0640);
	EQ(st.st_uid, 1234);
	EQ(st.st_gid, 4321);
	EQ(st.st_atime, 1000000);
	EQ(st.st_mtime, 2000000);
	OK(dm_get_fileattr(sid, hs[0], hls[0], DM_NO_TOKEN, DM_AT_STAT, &ds));
	EQ(ds.dt_mode & 07777, 0640);
	EQ(ds.dt_uid, 1234);
	EQ(ds.dt_gid, 4321);
	EQ(ds.dt_atime, 1000000);
	EQ(ds.dt_mtime, 2000000);
	fa.fa_size = 1;
	ERR(dm_set_fileattr(sid, hs[0], hls[0], DM_NO_TOKEN, DM_AT_SIZE, &fa), EINVAL);
	ERR(dm_set_fileattr(sid, hs[0], hls[0], DM_NO_TOKEN, DM_AT_CTIME, &fa), EINVAL);
	fa.fa_dtime = 3000000;
	/* DTIME_OVERLOAD as GPFS: the dtime is the ctime, settable without DM attributes */
	OK(dm_set_fileattr(sid, hs[0], hls[0], DM_NO_TOKEN, DM_AT_DTIME, &fa));
	OK(dm_get_fileattr(sid, hs[0], hls[0], DM_NO_TOKEN, DM_AT_STAT | DM_AT_DTIME, &ds));
	EQ(ds.dt_dtime, 3000000);
	EQ(ds.dt_ctime, 3000000);
	dm_attrname_t an;
	attrname(&an, "bulk");
	OK(dm_set_dmattr(sid, hs[1], hls[1], DM_NO_TOKEN, &an, 0, 5, "value"));
	OK(dm_set_fileattr(sid, hs[1], hls[1], DM_NO_TOKEN, DM_AT_DTIME, &fa));
	OK(dm_get_fileattr(sid, hs[1], hls[1], DM_NO_TOKEN, DM_AT_DTIME | DM_AT_PATTR, &ds));
	EQ(ds.dt_dtime, 3000000);
	CHECK(ds.dt_pers != 0, "dt_pers set with DM attributes");
	CHECK(ds.dt_xfs_xflags & DM_XFLAG_HASATTR, "DM_XFLAG_HASATTR with DM attributes: 0x%x", ds.dt_xfs_xflags);

	/* EMASK and PMANR */
	dm_eventset_t ev = 0;
	DMEV_SET(DM_EVENT_ATTRIBUTE, ev);
	OK(dm_set_eventlist(sid, hs[2], hls[2], DM_NO_TOKEN, &ev, DM_EVENT_MAX));
	dm_region_t rg = { 0, 0, DM_REGION_READ, 0 };
	dm_boolean_t exact;
	OK(dm_set_region(sid, hs[2], hls[2], DM_NO_TOKEN, 1, &rg, &exact));
	OK(dm_get_fileattr(sid, hs[2], hls[2], DM_NO_TOKEN, DM_AT_EMASK | DM_AT_PMANR, &ds));
	CHECK(DMEV_ISSET(DM_EVENT_ATTRIBUTE, ds.dt_emask), "emask 0x%llx", (unsigned long long)ds.dt_emask);
	CHECK(ds.dt_pmanreg != 0, "pmanreg");
	OK(dm_set_region(sid, hs[2], hls[2], DM_NO_TOKEN, 0, NULL, &exact));
	ev = 0;
	OK(dm_set_eventlist(sid, hs[2], hls[2], DM_NO_TOKEN, &ev, DM_EVENT_MAX));

	/* get_dirattrs: ".", ".." and the three entries with names and handles, one per call with a
	 * small buffer; dt_dev = the mount's st_dev; set_fileattr masks refused (SGI) */
	dm_attrloc_t loc;
	ERR(dm_init_attrloc(sid, hs[0], hls[0], DM_NO_TOKEN, &loc), EINVAL);
	OK(dm_init_attrloc(sid, dh, dhl, DM_NO_TOKEN, &loc));
	size_t rlen = 0;
	ERR(dm_get_dirattrs(sid, dh, dhl, DM_NO_TOKEN, DM_AT_SIZE, &loc, sizeof buf, buf, &rlen), EINVAL);
	ERR(dm_get_dirattrs(sid, dh, dhl, DM_NO_TOKEN, DM_AT_STAT | DM_AT_MODE, &loc, sizeof buf, buf, &rlen), EINVAL);
	ERR(dm_get_bulkattr(sid, fsh, fshl, DM_NO_TOKEN, DM_AT_STAT | DM_AT_SIZE, &loc, sizeof buf, buf, &rlen), EINVAL);
	ERR(dm_get_dirattrs(sid, dh, dhl, DM_NO_TOKEN, DM_AT_STAT | DM_AT_HANDLE, &loc, 16, buf, &rlen), E2BIG);
	CHECK(rlen > sizeof(dm_stat_t), "E2BIG rlen %zu", rlen);
	size_t one = rlen + 8;
	struct stat dst, pst;
	OK(stat(mnt_path(mnt, "dir"), &dst));
	OK(stat(mnt, &pst));
	int seen = 0, calls = 0, rc;
	do {
		rc = dm_get_dirattrs(sid, dh, dhl, DM_NO_TOKEN, DM_AT_STAT | DM_AT_HANDLE, &loc, one, buf, &rlen);
		CHECK(rc == 0 || rc == 1, "get_dirattrs -> %d errno %d", rc, errno);
		calls++;
		for (dm_stat_t *p = rlen ? (dm_stat_t *)buf : NULL; p; p = DM_STEP_TO_NEXT(p, dm_stat_t *)) {
			char *nm = DM_GET_VALUE(p, dt_compname, char *);
			EQ(p->dt_dev, dst.st_dev);
			if (!strcmp(nm, ".") || !strcmp(nm, "..")) {
				int bit = nm[1] ? 16 : 8;
				CHECK(!(seen & bit), "entry '%s' twice", nm);
				seen |= bit;
				EQ(p->dt_ino, nm[1] ? pst.st_ino : dst.st_ino);
				CHECK(S_ISDIR(p->dt_mode), "'%s' is a directory", nm);
				continue;
			}
			int i = nm[1] - '1';
			CHECK(nm[0] == 'd' && i >= 0 && i < 3 && !nm[2], "entry '%s'", nm);
			CHECK(!(seen & (1 << i)), "entry '%s' twice", nm);
			seen |= 1 << i;
			EQ(dm_handle_cmp(DM_GET_VALUE(p, dt_handle, void *), DM_GET_LEN(p, dt_handle), hs[i], hls[i]), 0);
			EQ(p->dt_size, 3 + i);
			dm_igen_t g;
			OK(dm_handle_to_igen(hs[i], hls[i], &g));
			EQ(p->dt_xfs_igen, g);
			EQ(p->dt_xfs_extents, 1);
			EQ(p->dt_fstype, fuse_fs_index());
		}
	} while (rc == 1 && calls < 20);
	EQ(rc, 0);
	EQ(seen, 31);
	CHECK(calls >= 5, "one entry per call: %d calls", calls);
	/* dm_get_fileattr's dt_dev is the mount's too */
	OK(dm_get_fileattr(sid, hs[0], hls[0], DM_NO_TOKEN, DM_AT_STAT, &ds));
	EQ(ds.dt_dev, dst.st_dev);

	/* the mount root: its ".." is itself; both come in one call (the cursor is the inode number) */
	void *rh;
	size_t rhl;
	OK(dm_path_to_handle((char *)mnt, &rh, &rhl));
	OK(dm_init_attrloc(sid, rh, rhl, DM_NO_TOKEN, &loc));
	int dots = 0;
	calls = 0;
	size_t two = 2 * one + 8;
	rc = dm_get_dirattrs(sid, rh, rhl, DM_NO_TOKEN, DM_AT_STAT, &loc, one, buf, &rlen);
	if (rc < 0) {   /* "." and ".." of the root do not fit in one entry's room: E2BIG with the size of both */
		EQ(errno, E2BIG);
		CHECK(rlen > one && rlen <= two, "E2BIG rlen %zu for the root's dots", rlen);
	}
	OK(dm_init_attrloc(sid, rh, rhl, DM_NO_TOKEN, &loc));
	do {
		rc = dm_get_dirattrs(sid, rh, rhl, DM_NO_TOKEN, DM_AT_STAT, &loc, two, buf, &rlen);
		CHECK(rc == 0 || rc == 1, "root get_dirattrs -> %d errno %d", rc, errno);
		calls++;
		for (dm_stat_t *p = rlen ? (dm_stat_t *)buf : NULL; p; p = DM_STEP_TO_NEXT(p, dm_stat_t *)) {
			char *nm = DM_GET_VALUE(p, dt_compname, char *);
			if (!strcmp(nm, ".") || !strcmp(nm, "..")) { dots++; EQ(p->dt_ino, pst.st_ino); }
		}
	} while (rc == 1 && calls < 100);
	EQ(dots, 2);

	/* bulkattr over the filesystem; bulkall with the DM attribute */
	OK(dm_init_attrloc(sid, fsh, fshl, DM_NO_TOKEN, &loc));
	dm_token_t tok;
	OK(dm_create_userevent(sid, 0, NULL, &tok));
	ERR(dm_get_bulkattr(sid, fsh, fshl, tok, DM_AT_STAT, &loc, sizeof buf, buf, &rlen), EINVAL);   /* GPFS: no token */
	OK(dm_respond_event(sid, tok, DM_RESP_CONTINUE, 0, 0, NULL));
	seen = 0;
	calls = 0;
	do {
		rc = dm_get_bulkattr(sid, fsh, fshl, DM_NO_TOKEN, DM_AT_STAT | DM_AT_HANDLE, &loc, sizeof buf, buf, &rlen);
		CHECK(rc == 0 || rc == 1, "get_bulkattr -> %d errno %d", rc, errno);
		for (dm_stat_t *p = rlen ? (dm_stat_t *)buf : NULL; p; p = DM_STEP_TO_NEXT(p, dm_stat_t *))
			for (int i = 0; i < 3; i++)
				if (!dm_handle_cmp(DM_GET_VALUE(p, dt_handle, void *), DM_GET_LEN(p, dt_handle), hs[i], hls[i]))
					seen |= 1 << i;
	} while (rc == 1 && ++calls < 1000);
	EQ(seen, 7);
	OK(dm_init_attrloc(sid, fsh, fshl, DM_NO_TOKEN, &loc));
	dm_attrloc_t loc0 = loc;
	rlen = 0;
	ERR(dm_get_bulkattr(sid, fsh, fshl, DM_NO_TOKEN, DM_AT_STAT | DM_AT_HANDLE, &loc, 8, buf, &rlen), E2BIG);
	CHECK(rlen > sizeof(dm_stat_t), "bulkattr E2BIG rlen %zu", rlen);
	EQ(loc, loc0);
	rlen = 0;
	ERR(dm_get_bulkall(sid, fsh, fshl, DM_NO_TOKEN, DM_AT_STAT | DM_AT_HANDLE, &an, &loc, 8, buf, &rlen), E2BIG);
	CHECK(rlen > sizeof(dm_xstat_t), "bulkall E2BIG rlen %zu", rlen);
	EQ(loc, loc0);
	int withattr = 0;
	do {
		rc = dm_get_bulkall(sid, fsh, fshl, DM_NO_TOKEN, DM_AT_STAT | DM_AT_HANDLE, &an, &loc, sizeof buf, buf, &rlen);
		CHECK(rc == 0 || rc == 1, "get_bulkall -> %d errno %d", rc, errno);
		for (dm_xstat_t *x = rlen ? (dm_xstat_t *)buf : NULL; x;
		     x = x->dx_statinfo._link ? (dm_xstat_t *)((char *)x + x->dx_statinfo._link) : NULL) {
			dm_stat_t *p = &x->dx_statinfo;
			int mine = !dm_handle_cmp(DM_GET_VALUE(p, dt_handle, void *), DM_GET_LEN(p, dt_handle), hs[1], hls[1]);
			if (mine) {
				dm_igen_t g;
				OK(dm_handle_to_igen(hs[1], hls[1], &g));
				EQ(p->dt_xfs_igen, g);
				CHECK(p->dt_xfs_xflags & DM_XFLAG_HASATTR, "bulkall HASATTR");
				EQ(p->dt_xfs_extents, 1);
				EQ(DM_GET_LEN(x, dx_attrdata), 5);
				CHECK(!memcmp(DM_GET_VALUE(x, dx_attrdata, char *), "value", 5), "bulkall value");
				withattr++;
			} else {
				EQ(DM_GET_LEN(x, dx_attrdata), 0);
			}
		}
	} while (rc == 1);
	EQ(withattr, 1);
	OK(dm_destroy_session(sid));
	DONE_OK();
}
