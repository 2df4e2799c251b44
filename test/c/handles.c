/* Handles: path/fd/fshandle from the daemon, the library-side functions computed locally, handle_to_path. */
#include "check.h"

int main(int argc, char **argv)
{
	if (argc < 2) FAILX("usage: handles MNT");
	const char *mnt = argv[1];
	char *f = mnt_path(mnt, "hf"), *d = mnt_path(mnt, "hd"), *df = mnt_path(mnt, "hd/inner");
	write_file(f, "abc", 3);
	mkdir(d, 0755);
	write_file(df, "x", 1);
	char *v;
	OK(dm_init_service(&v));

	void *h, *h2, *fsh, *fsh2, *dh, *ih;
	size_t hl, hl2, fshl, fshl2, dhl, ihl;
	OK(dm_path_to_handle(f, &h, &hl));
	EQ(hl, 24);
	CHECK(dm_handle_is_valid(h, hl) == DM_TRUE, "valid file handle");
	int fd = open(f, O_RDONLY);
	OK(dm_fd_to_handle(fd, &h2, &hl2));
	close(fd);
	EQ(dm_handle_cmp(h, hl, h2, hl2), 0);
	EQ(dm_handle_hash(h, hl), dm_handle_hash(h2, hl2));
	OK(dm_path_to_fshandle(f, &fsh, &fshl));
	EQ(fshl, 8);
	OK(dm_path_to_fshandle((char *)mnt, &fsh2, &fshl2));
	EQ(dm_handle_cmp(fsh, fshl, fsh2, fshl2), 0);
	CHECK(dm_handle_cmp(h, hl, fsh, fshl) != 0, "file and fs handle differ");

	struct stat st;
	OK(stat(f, &st));
	dm_fsid_t fsid;
	dm_ino_t ino;
	dm_igen_t igen;
	OK(dm_handle_to_fsid(h, hl, &fsid));
	OK(dm_handle_to_ino(h, hl, &ino));
	OK(dm_handle_to_igen(h, hl, &igen));
	EQ(ino, st.st_ino);
	void *mh;
	size_t mhl;
	OK(dm_make_handle(&fsid, &ino, &igen, &mh, &mhl));
	EQ(dm_handle_cmp(h, hl, mh, mhl), 0);
	void *tfs;
	size_t tfsl;
	OK(dm_handle_to_fshandle(h, hl, &tfs, &tfsl));
	EQ(dm_handle_cmp(tfs, tfsl, fsh, fshl), 0);
	void *mfs;
	size_t mfsl;
	OK(dm_make_fshandle(&fsid, &mfs, &mfsl));
	EQ(dm_handle_cmp(mfs, mfsl, fsh, fshl), 0);
	dm_fsid_t fsid2;
	OK(dm_handle_to_fsid(fsh, fshl, &fsid2));
	EQ(fsid2, fsid);

	/* ino/igen of an fs handle or the global handle: EBADF; malformed: EINVAL */
	ERR(dm_handle_to_ino(fsh, fshl, &ino), EBADF);
	ERR(dm_handle_to_igen(DM_GLOBAL_HANP, DM_GLOBAL_HLEN, &igen), EBADF);
	ERR(dm_handle_to_fsid(DM_GLOBAL_HANP, DM_GLOBAL_HLEN, &fsid2), EBADF);
	CHECK(dm_handle_is_valid(DM_GLOBAL_HANP, DM_GLOBAL_HLEN) == DM_TRUE, "global handle valid");
	unsigned char bad[24];
	memcpy(bad, h, 24);
	bad[9] ^= 0x55;
	CHECK(dm_handle_is_valid(bad, 24) == DM_FALSE, "damaged handle invalid");
	CHECK(dm_handle_is_valid(h, 23) == DM_FALSE, "short handle invalid");
	ERR(dm_handle_to_ino(bad, 24, &ino), EINVAL);
	CHECK(dm_handle_cmp(h, hl, fsh, fshl) > 0, "longer handle orders after");

	/* errors of the name resolution */
	ERR(dm_path_to_handle(mnt_path(mnt, "missing"), &ih, &ihl), ENOENT);
	ERR(dm_path_to_handle(mnt_path(mnt, "hf/x"), &ih, &ihl), ENOTDIR);
	ERR(dm_path_to_handle("/proc/self", &ih, &ihl), ENXIO);
	ERR(dm_fd_to_handle(0, &ih, &ihl), ENXIO);
	ERR(dm_fd_to_handle(9999, &ih, &ihl), EBADF);

	/* handle_to_path: the path of a file within a directory, E2BIG with the size */
	OK(dm_path_to_handle(d, &dh, &dhl));
	OK(dm_path_to_handle(df, &ih, &ihl));
	char pbuf[4096];
	size_t rlen = 0;
	OK(dm_handle_to_path(dh, dhl, ih, ihl, sizeof pbuf, pbuf, &rlen));
	CHECK(strstr(pbuf, "inner") != NULL, "path '%s'", pbuf);
	EQ(rlen, strlen(pbuf) + 1);
	size_t want = rlen;
	rlen = 0;
	ERR(dm_handle_to_path(dh, dhl, ih, ihl, 3, pbuf, &rlen), E2BIG);
	CHECK(rlen >= want, "E2BIG rlen %zu >= %zu", rlen, want);
	ERR(dm_handle_to_path(h, hl, ih, ihl, sizeof pbuf, pbuf, &rlen), EBADF);
	/* a filesystem or the global handle as the target: EBADF too (SGI) */
	ERR(dm_handle_to_path(dh, dhl, fsh2, fshl2, sizeof pbuf, pbuf, &rlen), EBADF);
	ERR(dm_handle_to_path(dh, dhl, DM_GLOBAL_HANP, DM_GLOBAL_HLEN, sizeof pbuf, pbuf, &rlen), EBADF);
	ERR(dm_handle_to_path(fsh2, fshl2, ih, ihl, sizeof pbuf, pbuf, &rlen), EBADF);

	/* a deleted file's handle is stale */
	void *gone;
	size_t gonel;
	char *g = mnt_path(mnt, "gone");
	write_file(g, "z", 1);
	OK(dm_path_to_handle(g, &gone, &gonel));
	unlink(g);
	dm_sessid_t sid = new_session("handles");
	dm_stat_t sb;
	ERR(dm_get_fileattr(sid, gone, gonel, DM_NO_TOKEN, DM_AT_STAT, &sb), EBADF);
	/* SGI's dm_open_by_handle: the file, the mount point for the fs handle; stale → EBADF */
	int ofd = dm_open_by_handle(ih, ihl, O_RDONLY);
	CHECK(ofd >= 0, "dm_open_by_handle: %s", strerror(errno));
	char ob[4] = "";
	EQ(read(ofd, ob, sizeof ob), 1);
	EQ(ob[0], 'x');
	struct stat ost;
	OK(fstat(ofd, &ost));
	OK(stat(df, &st));
	EQ(ost.st_ino, st.st_ino);
	close(ofd);
	ofd = dm_open_by_handle(fsh, fshl, O_RDONLY | O_DIRECTORY);
	CHECK(ofd >= 0, "dm_open_by_handle(fs): %s", strerror(errno));
	OK(fstat(ofd, &ost));
	OK(stat(mnt, &st));
	EQ(ost.st_ino, st.st_ino);
	close(ofd);
	ERR(dm_open_by_handle(gone, gonel, O_RDONLY), EBADF);
	ERR(dm_open_by_handle(DM_GLOBAL_HANP, DM_GLOBAL_HLEN, O_RDONLY), EBADF);
	ERR(dm_open_by_handle(bad, 24, O_RDONLY), EINVAL);

	/* namespace by handle is not implemented (DM_CONFIG_CREATE_BY_HANDLE 0) */
	ERR(dm_create_by_handle(sid, dh, dhl, DM_NO_TOKEN, h, hl, "c"), ENOSYS);
	ERR(dm_mkdir_by_handle(sid, dh, dhl, DM_NO_TOKEN, h, hl, "m"), ENOSYS);
	ERR(dm_symlink_by_handle(sid, dh, dhl, DM_NO_TOKEN, h, hl, "s", "target"), ENOSYS);
	OK(dm_destroy_session(sid));

	dm_handle_free(h, hl);
	dm_handle_free(h2, hl2);
	dm_handle_free(fsh, fshl);
	dm_handle_free(mh, mhl);
	DONE_OK();
}
