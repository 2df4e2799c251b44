/* Assertions of the libdm C tests: every check prints "ok"/"FAIL" with its line; the first failure
 * exits 1 (the ava test shows the output).  Arguments: argv[1] = the mount point. */
#ifndef LIBDM_CHECK_H
#define LIBDM_CHECK_H
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "dmapi.h"

static int checks;

#define FAILX(...) do { printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); \
	fflush(stdout); exit(1); } while (0)
#define CHECK(cond, ...) do { checks++; if (!(cond)) FAILX(__VA_ARGS__); } while (0)
/* call returns 0 (or the given value) */
#define OK(call) do { errno = 0; long _r = (long)(call); checks++; \
	if (_r < 0) FAILX("%s -> %ld errno %d (%s)", #call, _r, errno, strerror(errno)); } while (0)
/* call fails with errno e */
#define ERR(call, e) do { errno = 0; long _r = (long)(call); int _e = errno; checks++; \
	if (_r != -1 || _e != (e)) FAILX("%s -> %ld errno %d (%s), expected -1 errno %d (%s)", #call, _r, _e, \
		strerror(_e), (int)(e), strerror(e)); } while (0)
#define EQ(a, b) do { long long _a = (long long)(a), _b = (long long)(b); checks++; \
	if (_a != _b) FAILX("%s = %lld, expected %s = %lld", #a, _a, #b, _b); } while (0)
#define DONE_OK() do { printf("ok %d checks\n", checks); return 0; } while (0)

static inline void attrname(dm_attrname_t *a, const char *s)
{
	memset(a, 0, sizeof *a);
	strncpy((char *)a->an_chars, s, DM_ATTR_NAME_SIZE);
}

static inline char *mnt_path(const char *mnt, const char *name)
{
	char *p = malloc(strlen(mnt) + strlen(name) + 2);
	sprintf(p, "%s/%s", mnt, name);
	return p;
}

static inline void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) FAILX("open %s: %s", path, strerror(errno));
	if (write(fd, data, len) != (ssize_t)len) FAILX("write %s: %s", path, strerror(errno));
	close(fd);
}

static inline dm_sessid_t new_session(const char *info)
{
	char *v;
	dm_sessid_t sid;
	if (dm_init_service(&v) < 0) FAILX("dm_init_service: %s", strerror(errno));
	if (dm_create_session(DM_NO_SESSION, (char *)info, &sid) < 0) FAILX("dm_create_session: %s", strerror(errno));
	return sid;
}
#endif
