/* An "SGI program": written the way SGI's xfstests dmapi programs are (util.c's print_state /
 * struct_test.c), against the header found with -I<prefix>/include/xfs and #include <dmapi.h>,
 * no dmapifs header of its own.  It uses the dt_xfs_* accessors, DM_XFLAG_*, DM_VER_STR_CONTENTS,
 * dm_get_dioinfo and the vardata macros, and checks them against a file it writes on the mount.
 * Usage: sgi MNT.  Prints "ok N checks" or "FAIL line: ..." (exit 1). */
#include <dmapi.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int checks;
#define CHECK(c, ...) do { checks++; if (!(c)) { printf("FAIL %d: ", __LINE__); printf(__VA_ARGS__); \
	printf("\n"); exit(1); } } while (0)

/* util.c's way of showing an object: the SGI fields through the accessors */
static void print_state(dm_stat_t *dmstat)
{
	printf("dt_size %lld dt_blksize %u dt_fstype %d\n", (long long)dmstat->dt_size, dmstat->dt_blksize,
		dmstat->dt_fstype);
	printf("dt_xfs_igen %u dt_xfs_xflags 0x%x dt_xfs_extsize %u dt_xfs_extents %u dt_xfs_aextents %u "
		"dt_xfs_dmstate %u\n", (unsigned)dmstat->dt_xfs_igen, dmstat->dt_xfs_xflags, dmstat->dt_xfs_extsize,
		dmstat->dt_xfs_extents, (unsigned)dmstat->dt_xfs_aextents, (unsigned)dmstat->dt_xfs_dmstate);
}

int main(int argc, char **argv)
{
	char *vers, path[4096];
	dm_sessid_t sid;
	void *hanp;
	size_t hlen;
	dm_igen_t igen;
	dm_stat_t dmstat;
	dm_dioinfo_t dio;
	struct stat st;

	if (argc < 2) { fprintf(stderr, "usage: sgi MNT\n"); return 2; }
	CHECK(dm_init_service(&vers) == 0, "dm_init_service: %s", strerror(errno));
	CHECK(strcmp(vers, DM_VER_STR_CONTENTS) == 0, "version '%s' vs DM_VER_STR_CONTENTS '%s'", vers,
		DM_VER_STR_CONTENTS);
	CHECK(dm_create_session(DM_NO_SESSION, "sgi program", &sid) == 0, "dm_create_session: %s", strerror(errno));

	snprintf(path, sizeof path, "%s/sgi-file", argv[1]);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0, "open %s: %s", path, strerror(errno));
	static char blk[4096];
	memset(blk, 'a', sizeof blk);
	CHECK(write(fd, blk, sizeof blk) == (ssize_t)sizeof blk, "write");
	CHECK(fsync(fd) == 0 && close(fd) == 0, "fsync/close");
	CHECK(dm_path_to_handle(path, &hanp, &hlen) == 0, "dm_path_to_handle: %s", strerror(errno));

	memset(&dmstat, 0xa5, sizeof dmstat);
	CHECK(dm_get_fileattr(sid, hanp, hlen, DM_NO_TOKEN, DM_AT_STAT, &dmstat) == 0, "dm_get_fileattr: %s",
		strerror(errno));
	print_state(&dmstat);
	CHECK(dm_handle_to_igen(hanp, hlen, &igen) == 0, "dm_handle_to_igen");
	CHECK(dmstat.dt_xfs_igen == igen, "dt_xfs_igen %u, handle igen %u", (unsigned)dmstat.dt_xfs_igen, (unsigned)igen);
	CHECK(dmstat.dt_size == 4096, "dt_size");
	CHECK(dmstat.dt_xfs_extents == 1, "dt_xfs_extents %u", dmstat.dt_xfs_extents);
	CHECK(!(dmstat.dt_xfs_xflags & (DM_XFLAG_REALTIME | DM_XFLAG_PREALLOC | DM_XFLAG_IMMUTABLE | DM_XFLAG_APPEND |
		DM_XFLAG_SYNC | DM_XFLAG_NOATIME | DM_XFLAG_NODUMP | DM_XFLAG_HASATTR)), "xflags 0x%x", dmstat.dt_xfs_xflags);
	CHECK(dmstat.dt_xfs_extsize == 0 && dmstat.dt_xfs_aextents == 0 && dmstat.dt_xfs_dmstate == 0, "zero fields");
	CHECK(dmstat.dt_fstype >= 0, "dt_fstype %d", dmstat.dt_fstype);

	/* a DM attribute turns DM_XFLAG_HASATTR on */
	dm_attrname_t an;
	memset(&an, 0, sizeof an);
	memcpy(an.an_chars, "sgiattr", 7);
	CHECK(dm_set_dmattr(sid, hanp, hlen, DM_NO_TOKEN, &an, 0, 3, "abc") == 0, "dm_set_dmattr: %s", strerror(errno));
	CHECK(dm_get_fileattr(sid, hanp, hlen, DM_NO_TOKEN, DM_AT_STAT, &dmstat) == 0, "dm_get_fileattr");
	CHECK(dmstat.dt_xfs_xflags == DM_XFLAG_HASATTR, "xflags 0x%x", dmstat.dt_xfs_xflags);

	CHECK(stat(path, &st) == 0, "stat");
	CHECK(dm_get_dioinfo(sid, hanp, hlen, DM_NO_TOKEN, &dio) == 0, "dm_get_dioinfo: %s", strerror(errno));
	printf("d_mem %u d_miniosz %u d_maxiosz %u d_dio_only %u\n", dio.d_mem, dio.d_miniosz, dio.d_maxiosz,
		dio.d_dio_only);
	CHECK(dio.d_mem == dmstat.dt_blksize && dio.d_miniosz == dmstat.dt_blksize, "d_mem/d_miniosz");
	CHECK(dio.d_maxiosz > 0 && dio.d_maxiosz <= 131072 && dio.d_maxiosz % dio.d_miniosz == 0, "d_maxiosz");
	CHECK(dio.d_dio_only == DM_FALSE, "d_dio_only");
	CHECK(dm_get_dioinfo(DM_NO_SESSION, hanp, hlen, DM_NO_TOKEN, &dio) == -1 && errno == EINVAL, "bad session");

	CHECK(dm_remove_dmattr(sid, hanp, hlen, DM_NO_TOKEN, 0, &an) == 0, "dm_remove_dmattr");
	dm_handle_free(hanp, hlen);
	CHECK(unlink(path) == 0, "unlink");
	CHECK(dm_destroy_session(sid) == 0, "dm_destroy_session");
	printf("ok %d checks\n", checks);
	return 0;
}
