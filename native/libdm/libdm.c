/*
 * libdm - the XDSM DMAPI for dmapifs.  Every dm_* call is one request over the node daemon's
 * Unix socket <run>/<node>/dmapi.sock (run = $DMAPIFS_RUN_DIR or /run/dmapifs, node =
 * $DMAPIFS_NODE or the host name); the protocol is docs/dmapi-protocol.md.  The handle
 * functions the XDSM makes library-side (cmp, hash, is_valid, to_fsid/ino/igen/fshandle,
 * make_handle/fshandle, free) are computed here without the daemon.
 *
 * Threads: the library keeps a pool of connections.  A call takes an idle connection (or opens
 * a new one), sends its request, reads its reply and puts the connection back, so any number
 * of threads may call at once, on one session or several; a dm_get_events(DM_EV_WAIT) blocks
 * only its own connection.  After fork() the child starts with an empty pool.  An idle
 * connection the daemon closed (it died or restarted) is dropped before use, so a program keeps
 * working across daemon restarts: the calls in flight when the daemon died fail ENOTREADY, the
 * next ones reach the new daemon.
 *
 * Errors: -1 and errno as the daemon answers; no daemon / connection lost -> ENOTREADY (198);
 * E2BIG stores the size (or count) needed in *rlenp (*nelemp).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stddef.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "dmapi.h"
#include "dmapifs-run.h"

_Static_assert(sizeof(dm_stat_t) == 168, "dm_stat_t layout");
_Static_assert(sizeof(dm_xstat_t) == 176, "dm_xstat_t layout");
_Static_assert(sizeof(dm_dioinfo_t) == 16, "dm_dioinfo_t layout");
_Static_assert(sizeof(dm_eventmsg_t) == 24, "dm_eventmsg_t layout");
_Static_assert(sizeof(dm_region_t) == 24, "dm_region_t layout");
_Static_assert(sizeof(dm_extent_t) == 24, "dm_extent_t layout");
_Static_assert(sizeof(dm_data_event_t) == 24, "dm_data_event_t layout");
_Static_assert(sizeof(dm_namesp_event_t) == 40, "dm_namesp_event_t layout");
_Static_assert(sizeof(dm_mount_event_t) == 44, "dm_mount_event_t layout");
_Static_assert(sizeof(dm_destroy_event_t) == 24, "dm_destroy_event_t layout");
_Static_assert(sizeof(dm_dispinfo_t) == 24, "dm_dispinfo_t layout");
_Static_assert(sizeof(dm_attrlist_t) == 20, "dm_attrlist_t layout");
/* the offsets of docs/dmapi-protocol.md (the daemon builds these structures byte for byte) */
_Static_assert(offsetof(dm_eventmsg_t, ev_data) == 16, "ev_data");
_Static_assert(offsetof(dm_data_event_t, de_offset) == 8, "de_offset");
_Static_assert(offsetof(dm_namesp_event_t, ne_retcode) == 36, "ne_retcode");
_Static_assert(offsetof(dm_mount_event_t, me_roothandle) == 36, "me_roothandle");
_Static_assert(offsetof(dm_destroy_event_t, ds_attrcopy) == 16, "ds_attrcopy");
_Static_assert(offsetof(dm_dispinfo_t, di_eventset) == 16, "di_eventset");
_Static_assert(offsetof(dm_attrlist_t, al_data) == 12, "al_data");
_Static_assert(offsetof(dm_stat_t, dt_emask) == 24, "dt_emask");
_Static_assert(offsetof(dm_stat_t, dt_dtime) == 40, "dt_dtime");
_Static_assert(offsetof(dm_stat_t, dt_change) == 48, "dt_change");
_Static_assert(offsetof(dm_stat_t, dt_dev) == 56, "dt_dev");
_Static_assert(offsetof(dm_stat_t, dt_mode) == 72, "dt_mode");
_Static_assert(offsetof(dm_stat_t, dt_rdev) == 88, "dt_rdev");
_Static_assert(offsetof(dm_stat_t, dt_size) == 96, "dt_size");
_Static_assert(offsetof(dm_stat_t, dt_blksize) == 128, "dt_blksize");
_Static_assert(offsetof(dm_stat_t, dt_blocks) == 136, "dt_blocks");
_Static_assert(offsetof(dm_stat_t, dt_fstype) == 144, "dt_fstype");
_Static_assert(offsetof(dm_stat_t, dt_xfs_igen) == 148, "dt_xfs_igen");
_Static_assert(offsetof(dm_stat_t, dt_xfs_xflags) == 152, "dt_xfs_xflags");
_Static_assert(offsetof(dm_stat_t, dt_xfs_extsize) == 156, "dt_xfs_extsize");
_Static_assert(offsetof(dm_stat_t, dt_xfs_extents) == 160, "dt_xfs_extents");
_Static_assert(offsetof(dm_stat_t, dt_xfs_aextents) == 164, "dt_xfs_aextents");
_Static_assert(offsetof(dm_stat_t, dt_xfs_dmstate) == 166, "dt_xfs_dmstate");
_Static_assert(offsetof(dm_xstat_t, dx_attrdata) == 168, "dx_attrdata");
_Static_assert(offsetof(dm_region_t, rg_flags) == 16, "rg_flags");
_Static_assert(offsetof(dm_extent_t, ex_offset) == 8, "ex_offset");

#define OP_INIT_SERVICE 1
#define OP_CREATE_SESSION 2
#define OP_DESTROY_SESSION 3
#define OP_QUERY_SESSION 4
#define OP_GETALL_SESSIONS 5
#define OP_GET_EVENTS 10
#define OP_RESPOND_EVENT 11
#define OP_FIND_EVENTMSG 12
#define OP_GETALL_TOKENS 13
#define OP_MOVE_EVENT 14
#define OP_PENDING 15
#define OP_CREATE_USEREVENT 16
#define OP_SEND_MSG 17
#define OP_SET_DISP 20
#define OP_GETALL_DISP 21
#define OP_SET_EVENTLIST 22
#define OP_GET_EVENTLIST 23
#define OP_GET_CONFIG_EVENTS 24
#define OP_GET_CONFIG 25
#define OP_GET_MOUNTINFO 26
#define OP_PATH_TO_HANDLE 30
#define OP_PATH_TO_FSHANDLE 31
#define OP_FD_TO_HANDLE 32
#define OP_HANDLE_TO_PATH 33
#define OP_REQUEST_RIGHT 40
#define OP_RELEASE_RIGHT 41
#define OP_UPGRADE_RIGHT 42
#define OP_DOWNGRADE_RIGHT 43
#define OP_QUERY_RIGHT 44
#define OP_OBJ_REF_HOLD 45
#define OP_OBJ_REF_RELE 46
#define OP_OBJ_REF_QUERY 47
#define OP_SET_REGION 50
#define OP_GET_REGION 51
#define OP_SET_DMATTR 60
#define OP_GET_DMATTR 61
#define OP_REMOVE_DMATTR 62
#define OP_GETALL_DMATTR 63
#define OP_SET_RETURN_ON_DESTROY 64
#define OP_SET_INHERIT 65
#define OP_CLEAR_INHERIT 66
#define OP_GETALL_INHERIT 67
#define OP_GET_FILEATTR 70
#define OP_SET_FILEATTR 71
#define OP_INIT_ATTRLOC 72
#define OP_GET_DIRATTRS 73
#define OP_GET_BULKATTR 74
#define OP_GET_BULKALL 75
#define OP_READ_INVIS 80
#define OP_WRITE_INVIS 81
#define OP_PROBE_HOLE 82
#define OP_PUNCH_HOLE 83
#define OP_GET_ALLOCINFO 84
#define OP_SYNC_BY_HANDLE 85
#define OP_CREATE_BY_HANDLE 90
#define OP_MKDIR_BY_HANDLE 91
#define OP_SYMLINK_BY_HANDLE 92

#define MAX_FRAME (4u * 1024 * 1024)
#define MAX_IO (1024u * 1024)
#define FS_HLEN 8
#define OBJ_HLEN 24

/* ------------------------------------------------------------------ request encoding */

struct wbuf {
	unsigned char *p;
	size_t len, cap;
	int oom;
};

static void w_put(struct wbuf *w, const void *d, size_t n)
{
	if (w->oom) return;
	if (w->len + n > w->cap) {
		size_t c = w->cap ? w->cap : 256;
		while (c < w->len + n) c *= 2;
		unsigned char *q = realloc(w->p, c);
		if (!q) { w->oom = 1; return; }
		w->p = q;
		w->cap = c;
	}
	if (n) memcpy(w->p + w->len, d, n);
	w->len += n;
}
static void w_u16(struct wbuf *w, uint16_t v) { unsigned char b[2] = { v, v >> 8 }; w_put(w, b, 2); }
static void w_u32(struct wbuf *w, uint32_t v)
{
	unsigned char b[4];
	for (int i = 0; i < 4; i++) b[i] = v >> (8 * i);
	w_put(w, b, 4);
}
static void w_i32(struct wbuf *w, int32_t v) { w_u32(w, (uint32_t)v); }
static void w_u64(struct wbuf *w, uint64_t v)
{
	unsigned char b[8];
	for (int i = 0; i < 8; i++) b[i] = v >> (8 * i);
	w_put(w, b, 8);
}
static void w_i64(struct wbuf *w, int64_t v) { w_u64(w, (uint64_t)v); }
static void w_bytes(struct wbuf *w, const void *d, size_t n) { w_u32(w, (uint32_t)n); w_put(w, d, n); }
/* A handle argument: DM_GLOBAL_HANP/HLEN travels as the 1-byte global handle. */
static void w_handle(struct wbuf *w, const void *hanp, size_t hlen)
{
	static const unsigned char global = 0x01;
	if (hanp == DM_GLOBAL_HANP && hlen == DM_GLOBAL_HLEN) w_bytes(w, &global, 1);
	else w_bytes(w, hanp, hanp ? hlen : 0);
}

/* The (session, object handle, token) triple that opens most requests. */
static void w_object(struct wbuf *w, dm_sessid_t sid, const void *hanp, size_t hlen, dm_token_t token)
{
	w_i32(w, sid);
	w_handle(w, hanp, hlen);
	w_i32(w, token);
}

static int fail(int e) { errno = e; return -1; }

/* ------------------------------------------------------------------ argument checks */

/*
 * The kernel implementations (SGI's XFS DMAPI, GPFS, JFS) copy every argument in and out with
 * copy_from_user/copy_to_user, so a bad pointer is -1/EFAULT, never a crash.  This library runs
 * in the caller's process, so before it touches the caller's memory it asks the kernel whether
 * the memory is there: process_vm_readv() on its own pid copies one byte of every page of the
 * range (a short count: not readable), process_vm_writev() writes the same bytes back (not
 * writable).  Both are issued with syscall(2): AddressSanitizer's interceptors, which would check
 * the range themselves and report instead of returning, do not see them.  Where process_vm_* is
 * refused (a seccomp filter: ENOSYS or EPERM), a pipe round trip does the same work: write(2)
 * from the byte (EFAULT if unreadable), read(2) back into it (EFAULT if unwritable).  A store by
 * another thread into a probed byte of an output buffer, between the read and the write back,
 * can be lost: output buffers are the library's to fill during the call.
 *
 * Order (docs/dmapi-decisions.md): handles (a length over DM_MAX_HANDLE_SIZE is EBADF as in
 * SGI's dm_copyin_handle, then the bytes: EFAULT), the fixed-size pointer arguments (EFAULT),
 * each input buffer's length against its limit (E2BIG, before a byte is read) then its bytes
 * (EFAULT); an output buffer of non-zero length must be writable at its first byte before the
 * request (so a bad pointer is EFAULT, not the daemon's E2BIG) and over the exact range the
 * reply fills before it is written.
 */
#define PROBE_BATCH 128
static int vm_refused;  /* process_vm_* refused once: use the pipe from then on */

static size_t page_size(void)
{
	static size_t ps;
	if (!ps) {
		long v = sysconf(_SC_PAGESIZE);
		ps = v > 0 ? (size_t)v : 4096;
	}
	return ps;
}

/* 1: every address of addr[0..k) readable (wr: and writable); 0: not; -1: process_vm_* refused. */
static int probe_vm(const uintptr_t *addr, size_t k, int wr)
{
	unsigned char tmp[PROBE_BATCH];
	struct iovec loc[PROBE_BATCH], rem[PROBE_BATCH];
	for (size_t i = 0; i < k; i++) {
		loc[i].iov_base = tmp + i;
		loc[i].iov_len = 1;
		rem[i].iov_base = (void *)addr[i];
		rem[i].iov_len = 1;
	}
	pid_t me = getpid();
	long r = syscall(SYS_process_vm_readv, me, loc, k, rem, k, 0);
	if (r < 0 && (errno == ENOSYS || errno == EPERM)) return -1;
	if (r != (long)k) return 0;
	if (!wr) return 1;
	r = syscall(SYS_process_vm_writev, me, loc, k, rem, k, 0);
	if (r < 0 && (errno == ENOSYS || errno == EPERM)) return -1;
	return r == (long)k;
}

static int probe_pipe(const uintptr_t *addr, size_t k, int wr)
{
	int p[2];
	if (syscall(SYS_pipe2, p, O_CLOEXEC) < 0) return 0;
	int ok = 1;
	for (size_t i = 0; i < k && ok; i++) {
		unsigned char b;
		ok = syscall(SYS_write, p[1], (void *)addr[i], 1) == 1 &&
		     syscall(SYS_read, p[0], wr ? (void *)addr[i] : (void *)&b, 1) == 1;
	}
	close(p[0]);
	close(p[1]);
	return ok;
}

static int probe(const uintptr_t *addr, size_t k, int wr)
{
	if (!vm_refused) {
		int r = probe_vm(addr, k, wr);
		if (r >= 0) return r;
		vm_refused = 1;
	}
	return probe_pipe(addr, k, wr);
}

/* Whether [p, p+n) is readable (wr: and writable); n == 0 is always fine (nothing is touched). */
static int mem_ok(const void *p, size_t n, int wr)
{
	if (!n) return 1;
	int saved = errno;
	uintptr_t a = (uintptr_t)p, last = a + (n - 1);
	if (!a || last < a) return 0;
	size_t ps = page_size();
	uintptr_t addr[PROBE_BATCH];
	size_t k = 0;
	int ok = 1;
	for (uintptr_t q = a;;) {
		addr[k++] = q;
		uintptr_t next = (q & ~(uintptr_t)(ps - 1)) + ps;
		int end = next == 0 || next > last;
		if (k == PROBE_BATCH || end) {
			if (!probe(addr, k, wr)) { ok = 0; break; }
			k = 0;
		}
		if (end) break;
		q = next;
	}
	errno = saved;
	return ok;
}

#define NEED_R(p, n) do { if (!mem_ok((p), (n), 0)) return fail(EFAULT); } while (0)
#define NEED_W(p, n) do { if (!mem_ok((p), (n), 1)) return fail(EFAULT); } while (0)
/* a fixed-size output (or in/out) argument */
#define NEED_OUT(p) NEED_W((p), sizeof *(p))
/* an output buffer: its first byte now; the range the reply fills is checked before it is written */
#define NEED_BUF(p, len) NEED_W((p), (len) ? 1 : 0)

/* A handle argument, as SGI's dm_copyin_handle checks it: the length (no handle is longer than
 * DM_MAX_HANDLE_SIZE: EBADF), then the bytes (EFAULT).  The global handle is not memory. */
static int handle_arg(const void *hanp, size_t hlen)
{
	if (hanp == DM_GLOBAL_HANP && hlen == DM_GLOBAL_HLEN) return 0;
	if (hlen > DM_MAX_HANDLE_SIZE) return EBADF;
	if (!mem_ok(hanp, hlen, 0)) return EFAULT;
	return 0;
}
#define NEED_HANDLE(h, l) do { int _he = handle_arg((h), (l)); if (_he) return fail(_he); } while (0)

/*
 * Copies the NUL-terminated string s (at most cap bytes with its NUL) into out without reading a
 * byte past its NUL or an unreadable page: 0, EFAULT, or toolong when there is no NUL in cap bytes.
 */
static int string_arg(const char *s, char *out, size_t cap, int toolong)
{
	size_t ps = page_size(), got = 0;
	if (!s) return EFAULT;
	while (got < cap) {
		const char *q = s + got;
		if (!mem_ok(q, 1, 0)) return EFAULT;
		size_t chunk = ps - ((uintptr_t)q & (ps - 1));      /* the rest of this page */
		if (chunk > cap - got) chunk = cap - got;
		for (size_t i = 0; i < chunk; i++) {
			out[got++] = q[i];
			if (!q[i]) return 0;
		}
	}
	return toolong;
}

/* The limits the daemon reports with dm_get_config (src/dmapi/constants.ts; a test compares them):
 * input data over them is refused before it is read. */
#define LIM_MESSAGE_DATA 4096u
#define LIM_ATTRIBUTE_SIZE 1022u
#define LIM_MANAGED_REGIONS 32u

/* dm_init_service has been called: before it every call that needs the daemon is -1/ENOSYS, as
 * in SGI's libdm ("the spec says the behavior is undefined"); after a failed one (no daemon),
 * calls try the daemon again and fail ENOTREADY until it answers. */
static volatile int service_called;
#define NEED_SERVICE() do { if (!service_called) return fail(ENOSYS); } while (0)

/* ------------------------------------------------------------------ reply decoding */

struct rbuf {
	unsigned char *p;   /* frame body after the errno */
	size_t len, pos;
};

static uint32_t g_u32(const unsigned char *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}
static uint64_t g_u64(const unsigned char *b) { return (uint64_t)g_u32(b) | (uint64_t)g_u32(b + 4) << 32; }

/* Readers yield zero / empty once the reply has no more fields (error replies carry none). */
static uint32_t r_u32(struct rbuf *r)
{
	if (r->pos + 4 > r->len) { r->pos = r->len; return 0; }
	uint32_t v = g_u32(r->p + r->pos);
	r->pos += 4;
	return v;
}
static int32_t r_i32(struct rbuf *r) { return (int32_t)r_u32(r); }
static uint64_t r_u64(struct rbuf *r)
{
	if (r->pos + 8 > r->len) { r->pos = r->len; return 0; }
	uint64_t v = g_u64(r->p + r->pos);
	r->pos += 8;
	return v;
}
static int64_t r_i64(struct rbuf *r) { return (int64_t)r_u64(r); }
static const unsigned char *r_bytes(struct rbuf *r, size_t *n)
{
	uint32_t l = r_u32(r);
	if (r->pos + l > r->len) { r->pos = r->len; *n = 0; return (const unsigned char *)""; }
	const unsigned char *d = r->p + r->pos;
	r->pos += l;
	*n = l;
	return d;
}

/* Copies a variable-length reply (rlen, buf) into the caller's buffer; E2BIG sets *rlenp. */
static int copy_var(int e, struct rbuf *r, size_t buflen, void *bufp, size_t *rlenp)
{
	uint64_t rlen = r_u64(r);
	size_t n;
	const unsigned char *d = r_bytes(r, &n);
	if (e == E2BIG) { *rlenp = rlen; return e; }
	if (e) return e;
	*rlenp = n;
	if (n > buflen) { *rlenp = rlen > n ? rlen : n; return E2BIG; }
	if (!mem_ok(bufp, n, 1)) return EFAULT;
	if (n) memcpy(bufp, d, n);
	return 0;
}

/* Decodes the wire entry q into element i of the caller's array (array_reply). */
typedef void put_entry(void *bufp, size_t i, const unsigned char *q);

/*
 * Decodes a count + array reply (count:u32, entries:bytes, `size` bytes an entry) into the
 * caller's array of nelem elements of esize bytes; *nelemp gets the count on success and with
 * E2BIG (the count needed), *nputp (if not NULL) the number of entries decoded.
 */
static int array_reply(int e, struct rbuf *r, size_t size, size_t esize, put_entry *put, unsigned int nelem,
	void *bufp, unsigned int *nelemp, size_t *nputp)
{
	unsigned int cnt = r_u32(r);
	size_t n;
	const unsigned char *d = r_bytes(r, &n);
	size_t k = n / size;
	if (!e || e == E2BIG) *nelemp = cnt;
	if (e) return e;
	if (k > nelem) return E2BIG;
	if (!mem_ok(bufp, k * esize, 1)) return EFAULT;
	for (size_t i = 0; i < k; i++) put(bufp, i, d + size * i);
	if (nputp) *nputp = k;
	return 0;
}

/* ------------------------------------------------------------------ connections */

struct conn {
	int fd;
	struct conn *next;
};

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct conn *pool;
static int pool_idle;
#define MAX_IDLE 16     /* idle connections kept open; more threads at once open more, closed after use */
static uint32_t next_id = 1;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void atfork_child(void)
{
	/* The child must not share the parent's connections: close its copies, start afresh. */
	struct conn *c = pool;
	pool = NULL;
	pool_idle = 0;
	while (c) {
		struct conn *n = c->next;
		close(c->fd);
		free(c);
		c = n;
	}
	pthread_mutex_init(&pool_lock, NULL);
}
static void atfork_prepare(void) { pthread_mutex_lock(&pool_lock); }
static void atfork_parent(void) { pthread_mutex_unlock(&pool_lock); }
static void install_atfork(void) { pthread_atfork(atfork_prepare, atfork_parent, atfork_child); }

static int conn_open(int *fdp)
{
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	if (dmapifs_socket_path(sa.sun_path, sizeof sa.sun_path, "dmapi.sock") < 0) return ENOTREADY;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) return errno == EMFILE || errno == ENFILE ? errno : ENOTREADY;
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		int e = errno;
		close(fd);
		return e == EACCES ? EPERM : ENOTREADY;
	}
	*fdp = fd;
	return 0;
}

static int write_all(int fd, const unsigned char *p, size_t n)
{
	while (n) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
		if (k < 0) {
			if (errno == EINTR) continue;
			return -1;
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}
static int read_all(int fd, unsigned char *p, size_t n)
{
	while (n) {
		ssize_t k = read(fd, p, n);
		if (k < 0) {
			if (errno == EINTR) continue;
			return -1;
		}
		if (k == 0) return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/*
 * One request: the frame header is prepended to the body in w.  Returns the daemon's errno
 * (0 on success) with the reply fields in *r (free r->p), or ENOTREADY/ENOMEM/EINVAL for
 * library-side failures.
 */
static int call(uint16_t op, struct wbuf *w, struct rbuf *r)
{
	memset(r, 0, sizeof *r);
	pthread_once(&atfork_once, install_atfork);
	if (w->oom) { free(w->p); return ENOMEM; }
	if (w->len + 12 > MAX_FRAME) { free(w->p); return E2BIG; }

	pthread_mutex_lock(&pool_lock);
	uint32_t id = next_id++;
	if (!next_id) next_id = 1;
	struct conn *c;
	for (;;) {
		c = pool;
		if (!c) break;
		pool = c->next;
		pool_idle--;
		/* An idle connection has nothing to read: readable or hung up means the daemon closed it
		 * (it died or was restarted), so it is dropped and the call opens a fresh one. */
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		if (poll(&pfd, 1, 0) == 0) break;
		close(c->fd);
		free(c);
	}
	pthread_mutex_unlock(&pool_lock);
	if (!c) {
		int fd, e = conn_open(&fd);
		if (e) { free(w->p); return e; }
		c = malloc(sizeof *c);
		if (!c) { close(fd); free(w->p); return ENOMEM; }
		c->fd = fd;
	}

	unsigned char *body = NULL;
	uint32_t len = 0;
	struct wbuf f = { 0 };
	w_u32(&f, (uint32_t)(w->len + 8));
	w_u32(&f, id);
	w_u16(&f, op);
	w_u16(&f, 0);
	w_put(&f, w->p, w->len);
	free(w->p);
	if (f.oom) { free(f.p); goto back; }
	int bad = write_all(c->fd, f.p, f.len);
	free(f.p);
	while (!bad) {
		unsigned char hdr[12];
		if (read_all(c->fd, hdr, 4) < 0) { bad = 1; break; }
		len = g_u32(hdr);
		if (len < 8 || len > MAX_FRAME - 4) { bad = 1; break; }
		if (read_all(c->fd, hdr + 4, 8) < 0) { bad = 1; break; }
		body = malloc(len - 8 + 1);
		if (!body || read_all(c->fd, body, len - 8) < 0) { bad = 1; break; }
		if (g_u32(hdr + 4) == id) break;     /* one request in flight per connection */
		free(body);
		body = NULL;
	}
	if (bad) {
		free(body);
		close(c->fd);
		free(c);
		return ENOTREADY;
	}
back:
	pthread_mutex_lock(&pool_lock);
	if (pool_idle < MAX_IDLE) {
		c->next = pool;
		pool = c;
		pool_idle++;
		c = NULL;
	}
	pthread_mutex_unlock(&pool_lock);
	if (c) {        /* enough idle connections kept already */
		close(c->fd);
		free(c);
	}
	if (!body) return ENOMEM;
	if (len - 8 < 4) { free(body); return EPROTO; }
	int err = (int32_t)g_u32(body);
	r->p = body;
	r->len = len - 8;
	r->pos = 4;
	return err;
}

#define DONE(e) do { free(r.p); if (e) return fail(e); return 0; } while (0)

/* A call on an object (sid, handle, token, buflen) whose reply is a variable-length buffer. */
static int obj_buffer_call(uint16_t op, dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, size_t buflen,
	void *bufp, size_t *rlenp)
{
	struct wbuf w = { 0 };
	struct rbuf r;
	NEED_SERVICE();
	NEED_HANDLE(hanp, hlen);
	NEED_OUT(rlenp);
	NEED_BUF(bufp, buflen);
	w_object(&w, sid, hanp, hlen, token);
	w_u64(&w, buflen);
	int e = call(op, &w, &r);
	e = copy_var(e, &r, buflen, bufp, rlenp);
	DONE(e);
}

/* A call on an object (sid, handle, token, nelem) whose reply is a count + array. */
static int obj_array_call(uint16_t op, dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, unsigned int nelem,
	size_t size, size_t esize, put_entry *put, void *bufp, unsigned int *nelemp)
{
	struct wbuf w = { 0 };
	struct rbuf r;
	NEED_SERVICE();
	NEED_HANDLE(hanp, hlen);
	NEED_OUT(nelemp);
	NEED_BUF(bufp, nelem);
	w_object(&w, sid, hanp, hlen, token);
	w_u32(&w, nelem);
	int e = call(op, &w, &r);
	e = array_reply(e, &r, size, esize, put, nelem, bufp, nelemp, NULL);
	DONE(e);
}

/* ------------------------------------------------------------------ service and sessions */

static char version_buf[256];

int dm_init_service(char **versionstrpp)
{
	struct wbuf w = { 0 };
	struct rbuf r;
	NEED_OUT(versionstrpp);
	service_called = 1;
	int e = call(OP_INIT_SERVICE, &w, &r);
	if (!e) {
		size_t n;
		const unsigned char *v = r_bytes(&r, &n);
		pthread_mutex_lock(&pool_lock);
		if (n >= sizeof version_buf) n = sizeof version_buf - 1;
		memcpy(version_buf, v, n);
		version_buf[n] = 0;
		pthread_mutex_unlock(&pool_lock);
		*versionstrpp = version_buf;
	}
	DONE(e);
}

int dm_create_session(dm_sessid_t oldsid, char *sessinfop, dm_sessid_t *newsidp)
{
	struct wbuf w = { 0 };
	struct rbuf r;
	char info[DM_SESSION_INFO_LEN];
	NEED_SERVICE();
	/* NULL sessinfop: EFAULT, as the kernels copy it in (JFS accepted it; SGI and GPFS do not) */
	int se = string_arg(sessinfop, info, sizeof info, E2BIG);
	if (se) return fail(se);
	NEED_OUT(newsidp);
	w_i32(&w, oldsid);
	w_bytes(&w, info, strlen(info));
	int e = call(OP_CREATE_SESSION, &w, &r);
	if (!e) *newsidp = r_i32(&r);
	DONE(e);
}

int dm_destroy_session(dm_sessid_t sid)
{
	struct wbuf w = { 0 };
	struct rbuf r;
	NEED_SERVICE();
	w_i32(&w, sid);
	int e = call(OP_DESTROY_SESSION, &w, &r);
	DONE(e);
}

int dm_query_session(dm_sessid_t sid, size_t buflen, void *bufp, size_t *rlenp)
{
	struct wbuf w = { 0 };
	struct rbuf r;
	NEED_SERVICE();
	NEED_OUT(rlenp);
	NEED_BUF(bufp, buflen);
	w_i32(&w, sid);
	w_u64(&w, buflen);
	int e = call(OP_QUERY_SESSION, &w, &r);
	/* not copy_var: *rlenp is the daemon's rlen on success too (copy_var stores the bytes received) */
	uint64_t rlen = r_u64(&r);
	size_t n;
	const unsigned char *d = r_bytes(&r, &n);
	if (!e || e == E2BIG) *rlenp = rlen ? rlen : n;
	if (!e) {
		if (n > buflen) e = E2BIG;
		else if (!mem_ok(bufp, n, 1)) e = EFAULT;
		else if (n) memcpy(bufp, d, n);
	}
	DONE(e);
}

/* A dm_sessid_t or dm_token_t (both int). */
static void put_i32(void *bufp, size_t i, const unsigned char *q) { ((int *)bufp)[i] = (int32_t)g_u32(q); }

int dm_getall_sessions(unsigned int nelem, dm_sessid_t *sidbufp, unsigned int *nelemp)
{
	struct wbuf w = { 0 };
	struct rbuf r;
	NEED_SERVICE();
	NEED_OUT(nelemp);
	NEED_BUF(sidbufp, nelem);
	w_u32(&w, nelem);
	int e = call(OP_GETALL_SESSIONS, &w, &r);
	e = array_reply(e, &r, 4, sizeof *sidbufp, put_i32, nelem, sidbufp, nelemp, NULL);
	DONE(e);
}

/* ------------------------------------------------------------------ events */

int dm_get_events(dm_sessid_t sid, unsigned int maxmsgs, unsigned int flags, size_t buflen, void *bufp,
	size_t *rlenp)
{
	struct wbuf w = { 0 };
	struct rbuf r;
	NEED_SERVICE();
	NEED_OUT(rlenp);
	NEED_BUF(bufp, buflen);
	w_i32(&w, sid);
	w_u32(&w, maxmsgs);
	w_u32(&w, flags);
	w_u64(&w, buflen);
	int e = call(OP_GET_EVENTS, &w, &r);
	e = copy_var(e, &r, buflen, bufp, rlenp);
	DONE(e);
}

int dm_respond_event(dm_sessid_t sid, dm_token_t token, dm_response_t response, int reterror, size_t buflen,
	void *respbufp)
{
	struct wbuf w = { 0 };
	struct rbuf r;
	NEED_SERVICE();
	if (buflen > LIM_MESSAGE_DATA) return fail(E2BIG);
	NEED_R(respbufp, buflen);
	w_i32(&w, sid);
	w_i32(&w, token);
	w_i32(&w, response);
	w_i32(&w, reterror);
	w_bytes(&w, respbufp, buflen);
	int e = call(OP_RESPOND_EVENT, &w, &r);
	DONE(e);
}

int dm_find_eventmsg(dm_sessid_t sid, dm_token_t token, size_t buflen, void *bufp, size_t *rlenp)
{
	struct wbuf w = { 0 };
	struct rbuf r;
	NEED_SERVICE();
	NEED_OUT(rlenp);
	NEED_BUF(bufp, buflen);
	w_i32(&w, sid);
	w_i32(&w, token);
	w_u64(&w, buflen);
	int e = call(OP_FIND_EVENTMSG, &w, &r);
	e = copy_var(e, &r, buflen, bufp, rlenp);
	DONE(e);
}

int dm_getall_tokens(dm_sessid_t sid, unsigned int nelem, dm_token_t *tokenbufp, unsigned int *nelemp)
{
	struct wbuf w = { 0 };
	struct rbuf r;
	NEED_SERVICE();
	NEED_OUT(nelemp);
	NEED_BUF(tokenbufp, nelem);
	w_i32(&w, sid);
	w_u32(&w, nelem);
	int e = call(OP_GETALL_TOKENS, &w, &r);
	e = array_reply(e, &r, 4, sizeof *tokenbufp, put_i32, nelem, tokenbufp, nelemp, NULL);
	DONE(e);
}

int dm_move_event(dm_sessid_t srcsid, dm_token_t token, dm_sessid_t targetsid, dm_token_t *rtokenp)
{
	struct wbuf w = { 0 };
	struct rbuf r;
	NEED_SERVICE();
	NEED_OUT(rtokenp);
	w_i32(&w, srcsid);
	w_i32(&w, token);
	w_i32(&w, targetsid);
	int e = call(OP_MOVE_EVENT, &w, &r);
	if (!e) *rtokenp = r_i32(&r);
	DONE(e);
}

int dm_pending(dm_sessid_t sid, dm_token_t token, dm_timestruct_t *delay)
{
	struct wbuf w = { 0 };
	struct rbuf r;
	NEED_SERVICE();
	NEED_R(delay, sizeof *delay);
	w_i32(&w, sid);
	w_i32(&w, token);
	w_i64(&w, (int64_t)delay->dm_tv_sec);
	w_i32(&w, delay->dm_tv_nsec);
	int e = call(OP_PENDING, &w, &r);
	DONE(e);
}

int dm_create_userevent(dm_sessid_t sid, size_t msglen, void *msgdatap, dm_token_t *tokenp)
{
	struct wbuf w = { 0 };
	struct rbuf r;
	NEED_SERVICE();
	NEED_OUT(tokenp);
	if (msglen > LIM_MESSAGE_DATA) return fail(E2BIG);
	NEED_R(msgdatap, msglen);
	w_i32(&w, sid);
	w_bytes(&w, msgdatap, msglen);
	int e = call(OP_CREATE_USEREVENT, &w, &r);
	if (!e) *tokenp = r_i32(&r);
	DONE(e);
}

int dm_send_msg(dm_sessid_t targetsid, dm_msgtype_t msgtype, size_t buflen, void *bufp)
{
	struct wbuf w = { 0 };
	struct rbuf r;
	NEED_SERVICE();
	if (buflen > LIM_MESSAGE_DATA) return fail(E2BIG);
	NEED_R(bufp, buflen);
	w_i32(&w, targetsid);
	w_i32(&w, msgtype);
	w_bytes(&w, bufp, buflen);
	int e = call(OP_SEND_MSG, &w, &r);
	DONE(e);
}

/* ------------------------------------------------------------------ dispositions, config */

static int set_events(uint16_t op, dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token,
	dm_eventset_t *eventsetp, unsigned int maxevent)
{
	struct wbuf w = { 0 };
	struct rbuf r;
	NEED_SERVICE();
	NEED_HANDLE(hanp, hlen);
	NEED_R(eventsetp, sizeof *eventsetp);
	w_object(&w, sid, hanp, hlen, token);
	w_u64(&w, *eventsetp);
	w_u32(&w, maxevent);
	int e = call(op, &w, &r);
	DONE(e);
}

int dm_set_disp(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, dm_eventset_t *eventsetp,
	unsigned int maxevent)
{
	return set_events(OP_SET_DISP, sid, hanp, hlen, token, eventsetp, maxevent);
}

int dm_set_eventlist(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, dm_eventset_t *eventsetp,
	unsigned int maxevent)
{
	return set_events(OP_SET_EVENTLIST, sid, hanp, hlen, token, eventsetp, maxevent);
}

int dm_getall_disp(dm_sessid_t sid, size_t buflen, void *bufp, size_t *rlenp)
{
	struct wbuf w = { 0 };
	struct rbuf r;
	NEED_SERVICE();
	NEED_OUT(rlenp);
	NEED_BUF(bufp, buflen);
	w_i32(&w, sid);
	w_u64(&w, buflen);
	int e = call(OP_GETALL_DISP, &w, &r);
	e = copy_var(e, &r, buflen, bufp, rlenp);
	DONE(e);
}

static int eventset_reply(int e, struct rbuf *r, unsigned int nelem, dm_eventset_t *eventsetp,
	unsigned int *nelemp)
{
	unsigned int cnt = r_u32(r);
	uint64_t set = r_u64(r);
	if (!e || e == E2BIG) *nelemp = cnt;
	if (!e) *eventsetp = nelem >= 64 ? set : (set & (((dm_eventset_t)1 << nelem) - 1));   /* events < nelem */
	return e;
}

int dm_get_eventlist(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, unsigned int nelem,
	dm_eventset_t *eventsetp, unsigned int *nelemp)
{
	struct wbuf w = { 0 };
	struct rbuf r;
	NEED_SERVICE();
	NEED_HANDLE(hanp, hlen);
	NEED_OUT(eventsetp);
	NEED_OUT(nelemp);
	w_object(&w, sid, hanp, hlen, token);
	w_u32(&w, nelem);
	int e = call(OP_GET_EVENTLIST, &w, &r);
	e = eventset_reply(e, &r, nelem, eventsetp, nelemp);
	DONE(e);
}

int dm_get_config_events(void *hanp, size_t hlen, unsigned int nelem, dm_eventset_t *eventsetp,
	unsigned int *nelemp)
{
	struct wbuf w = { 0 };
	struct rbuf r;
	NEED_SERVICE();
	NEED_HANDLE(hanp, hlen);
	NEED_OUT(eventsetp);
	NEED_OUT(nelemp);
	w_handle(&w, hanp, hlen);
	w_u32(&w, nelem);
	int e = call(OP_GET_CONFIG_EVENTS, &w, &r);
	e = eventset_reply(e, &r, nelem, eventsetp, nelemp);
	DONE(e);
}

int dm_get_config(void *hanp, size_t hlen, dm_config_t flagname, dm_size_t *retvalp)
{
	struct wbuf w = { 0 };
	struct rbuf r;
	NEED_SERVICE();
	NEED_HANDLE(hanp, hlen);
	NEED_OUT(retvalp);
	w_handle(&w, hanp, hlen);
	w_u32(&w, (uint32_t)flagname);
	int e = call(OP_GET_CONFIG, &w, &r);
	if (!e) *retvalp = r_u64(&r);
	DONE(e);
}

int dm_get_mountinfo(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, size_t buflen, void *bufp,
	size_t *rlenp)
{
	return obj_buffer_call(OP_GET_MOUNTINFO, sid, hanp, hlen, token, buflen, bufp, rlenp);
}

/* ------------------------------------------------------------------ handles */

static int handle_reply(int e, struct rbuf *r, void **hanpp, size_t *hlenp)
{
	size_t n;
	const unsigned char *d = r_bytes(r, &n);
	if (e) return e;
	void *h = malloc(n ? n : 1);
	if (!h) return ENOMEM;
	memcpy(h, d, n);
	*hanpp = h;
	*hlenp = n;
	return 0;
}

/* The handle of the object st (its dev and inode) at path: the request of PATH_TO_HANDLE,
 * PATH_TO_FSHANDLE and FD_TO_HANDLE. */
static int handle_call(uint16_t op, const struct stat *st, const char *path, size_t len, void **hanpp,
	size_t *hlenp)
{
	struct wbuf w = { 0 };
	struct rbuf r;
	w_u64(&w, (uint64_t)st->st_dev);
	w_u64(&w, (uint64_t)st->st_ino);
	w_bytes(&w, path, len);
	int e = call(op, &w, &r);
	e = handle_reply(e, &r, hanpp, hlenp);
	DONE(e);
}

/* path.resolve: absolute, '.' and '..' removed textually. */
static int resolve_path(const char *p, char *out, size_t cap)
{
	char tmp[PATH_MAX * 2];
	if (p[0] == '/') snprintf(tmp, sizeof tmp, "%s", p);
	else {
		char cwd[PATH_MAX];
		if (!getcwd(cwd, sizeof cwd)) return errno;
		snprintf(tmp, sizeof tmp, "%s/%s", cwd, p);
	}
	size_t o = 0;
	out[0] = 0;
	char *save, *tok = strtok_r(tmp, "/", &save);
	for (; tok; tok = strtok_r(NULL, "/", &save)) {
		if (!strcmp(tok, ".")) continue;
		if (!strcmp(tok, "..")) {
			while (o > 0 && out[o - 1] != '/') o--;
			if (o > 0) o--;
			out[o] = 0;
			continue;
		}
		size_t l = strlen(tok);
		if (o + 1 + l + 1 > cap) return ENAMETOOLONG;
		out[o++] = '/';
		memcpy(out + o, tok, l);
		o += l;
		out[o] = 0;
	}
	if (!o) { out[0] = '/'; out[1] = 0; }
	return 0;
}

static int path_handle(uint16_t op, char *upath, void **hanpp, size_t *hlenp)
{
	char path[PATH_MAX];
	NEED_SERVICE();
	int se = string_arg(upath, path, sizeof path, ENAMETOOLONG);
	if (se) return fail(se);
	NEED_OUT(hanpp);
	NEED_OUT(hlenp);
	const char *p = *path ? path : ".";
	struct stat st;
	if (lstat(p, &st) < 0) return -1;
	char abs[PATH_MAX], full[PATH_MAX * 2];
	int e = resolve_path(p, abs, sizeof abs);
	if (e) return fail(e);
	if (!strcmp(abs, "/")) strcpy(full, "/");
	else {
		char *slash = strrchr(abs, '/');
		char dir[PATH_MAX], real[PATH_MAX];
		size_t dl = (size_t)(slash - abs);
		if (dl == 0) strcpy(dir, "/");
		else { memcpy(dir, abs, dl); dir[dl] = 0; }
		if (!realpath(dir, real)) return -1;
		snprintf(full, sizeof full, "%s/%s", strcmp(real, "/") ? real : "", slash + 1);
	}
	return handle_call(op, &st, full, strlen(full), hanpp, hlenp);
}

int dm_path_to_handle(char *path, void **hanpp, size_t *hlenp)
{
	return path_handle(OP_PATH_TO_HANDLE, path, hanpp, hlenp);
}

int dm_path_to_fshandle(char *path, void **hanpp, size_t *hlenp)
{
	return path_handle(OP_PATH_TO_FSHANDLE, path, hanpp, hlenp);
}

int dm_fd_to_handle(int fd, void **hanpp, size_t *hlenp)
{
	NEED_SERVICE();
	NEED_OUT(hanpp);
	NEED_OUT(hlenp);
	struct stat st;
	if (fstat(fd, &st) < 0) return -1;
	char link[64], target[PATH_MAX];
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, target, sizeof target - 1);
	if (n < 0) return -1;
	target[n] = 0;
	if (target[0] != '/') return fail(ENXIO);
	return handle_call(OP_FD_TO_HANDLE, &st, target, (size_t)n, hanpp, hlenp);
}

int dm_handle_to_path(void *dirhanp, size_t dirhlen, void *targhanp, size_t targhlen, size_t buflen,
	char *pathbufp, size_t *rlenp)
{
	struct wbuf w = { 0 };
	struct rbuf r;
	NEED_SERVICE();
	NEED_HANDLE(dirhanp, dirhlen);
	NEED_HANDLE(targhanp, targhlen);
	NEED_OUT(rlenp);
	NEED_BUF(pathbufp, buflen);
	w_handle(&w, dirhanp, dirhlen);
	w_handle(&w, targhanp, targhlen);
	w_u64(&w, buflen);
	int e = call(OP_HANDLE_TO_PATH, &w, &r);
	e = copy_var(e, &r, buflen, pathbufp, rlenp);
	DONE(e);
}

enum hkind { H_BAD, H_GLOBAL, H_FS, H_OBJ };

/* The kind of a handle whose bytes were found readable (handle_arg). */
static enum hkind handle_kind(const void *hanp, size_t hlen)
{
	if (hanp == DM_GLOBAL_HANP && hlen == DM_GLOBAL_HLEN) return H_GLOBAL;
	if (!hanp) return H_BAD;
	const unsigned char *b = hanp;
	if (hlen == 1) return b[0] == 0x01 ? H_GLOBAL : H_BAD;
	if (hlen == FS_HLEN) return g_u64(b) ? H_FS : H_BAD;
	if (hlen == OBJ_HLEN) {
		unsigned s = 0;
		for (int i = 0; i < 22; i++) s += b[i];
		if (!g_u64(b) || b[20] != 1 || b[21] != 1 || (unsigned)(b[22] | b[23] << 8) != (s & 0xffff)) return H_BAD;
		return H_OBJ;
	}
	return H_BAD;
}

/* handle_arg, then the kind: the library-side handle functions' first step. */
static int checked_kind(const void *hanp, size_t hlen, enum hkind *k)
{
	int e = handle_arg(hanp, hlen);
	if (e) return e;
	*k = handle_kind(hanp, hlen);
	return 0;
}

dm_boolean_t dm_handle_is_valid(void *hanp, size_t hlen)
{
	enum hkind k;
	if (checked_kind(hanp, hlen, &k)) return DM_FALSE;
	return k != H_BAD ? DM_TRUE : DM_FALSE;
}

/* An unreadable handle compares unequal to every other handle (ordered by address), never crashes. */
int dm_handle_cmp(void *hanp1, size_t hlen1, void *hanp2, size_t hlen2)
{
	static const unsigned char global = 0x01;
	if (hanp1 == DM_GLOBAL_HANP && hlen1 == DM_GLOBAL_HLEN) hanp1 = (void *)&global;
	if (hanp2 == DM_GLOBAL_HANP && hlen2 == DM_GLOBAL_HLEN) hanp2 = (void *)&global;
	if (hlen1 != hlen2) return hlen1 < hlen2 ? -1 : 1;
	if (!hlen1) return 0;
	if (!mem_ok(hanp1, hlen1, 0) || !mem_ok(hanp2, hlen2, 0))
		return hanp1 == hanp2 ? 0 : ((uintptr_t)hanp1 < (uintptr_t)hanp2 ? -1 : 1);
	int c = memcmp(hanp1, hanp2, hlen1);
	return c < 0 ? -1 : c > 0;
}

/* An unreadable handle hashes to 0. */
unsigned int dm_handle_hash(void *hanp, size_t hlen)
{
	if (hanp == DM_GLOBAL_HANP && hlen == DM_GLOBAL_HLEN) return 1;
	if (hlen > DM_MAX_HANDLE_SIZE || !mem_ok(hanp, hlen, 0)) return 0;
	unsigned int s = 0;
	const unsigned char *b = hanp;
	for (size_t i = 0; b && i < hlen; i++) s += b[i];
	return s;
}

int dm_handle_to_fsid(void *hanp, size_t hlen, dm_fsid_t *fsidp)
{
	enum hkind k;
	int e = checked_kind(hanp, hlen, &k);
	if (e) return fail(e);
	if (k == H_BAD) return fail(EINVAL);
	if (k == H_GLOBAL) return fail(EBADF);
	NEED_OUT(fsidp);
	*fsidp = g_u64(hanp);
	return 0;
}

int dm_handle_to_ino(void *hanp, size_t hlen, dm_ino_t *inop)
{
	enum hkind k;
	int e = checked_kind(hanp, hlen, &k);
	if (e) return fail(e);
	if (k == H_BAD) return fail(EINVAL);
	if (k != H_OBJ) return fail(EBADF);
	NEED_OUT(inop);
	*inop = g_u64((unsigned char *)hanp + 8);
	return 0;
}

int dm_handle_to_igen(void *hanp, size_t hlen, dm_igen_t *igenp)
{
	enum hkind k;
	int e = checked_kind(hanp, hlen, &k);
	if (e) return fail(e);
	if (k == H_BAD) return fail(EINVAL);
	if (k != H_OBJ) return fail(EBADF);
	NEED_OUT(igenp);
	*igenp = g_u32((unsigned char *)hanp + 16);
	return 0;
}

int dm_make_fshandle(dm_fsid_t *fsidp, void **hanpp, size_t *hlenp)
{
	NEED_R(fsidp, sizeof *fsidp);
	NEED_OUT(hanpp);
	NEED_OUT(hlenp);
	if (!*fsidp) return fail(EINVAL);
	struct wbuf w = { 0 };
	w_u64(&w, *fsidp);
	if (w.oom) return fail(ENOMEM);
	*hanpp = w.p;
	*hlenp = FS_HLEN;
	return 0;
}

int dm_handle_to_fshandle(void *hanp, size_t hlen, void **fshanpp, size_t *fshlenp)
{
	dm_fsid_t fsid;
	if (dm_handle_to_fsid(hanp, hlen, &fsid) < 0) return -1;
	return dm_make_fshandle(&fsid, fshanpp, fshlenp);
}

int dm_make_handle(dm_fsid_t *fsidp, dm_ino_t *inop, dm_igen_t *igenp, void **hanpp, size_t *hlenp)
{
	NEED_R(fsidp, sizeof *fsidp);
	NEED_R(inop, sizeof *inop);
	NEED_R(igenp, sizeof *igenp);
	NEED_OUT(hanpp);
	NEED_OUT(hlenp);
	if (!*fsidp) return fail(EINVAL);
	struct wbuf w = { 0 };
	w_u64(&w, *fsidp);
	w_u64(&w, *inop);
	w_u32(&w, *igenp);
	unsigned char vk[2] = { 1, 1 };
	w_put(&w, vk, 2);
	if (w.oom) return fail(ENOMEM);
	unsigned s = 0;
	for (int i = 0; i < 22; i++) s += w.p[i];
	w_u16(&w, (uint16_t)s);
	if (w.oom) return fail(ENOMEM);
	*hanpp = w.p;
	*hlenp = OBJ_HLEN;
	return 0;
}

/* free() of what libdm returned; a pointer that is not even readable is left alone (free() of it
 * would abort the program). */
void dm_handle_free(void *hanp, size_t hlen)
{
	(void)hlen;
	if (hanp == DM_GLOBAL_HANP || !mem_ok(hanp, 1, 0)) return;
	free(hanp);
}

/* ------------------------------------------------------------------ rights and references */

static int obj_call(uint16_t op, dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, int32_t *out)
{
	struct wbuf w = { 0 };
	struct rbuf r;
	NEED_SERVICE();
	NEED_HANDLE(hanp, hlen);
	w_object(&w, sid, hanp, hlen, token);
	int e = call(op, &w, &r);
	if (!e && out) *out = r_i32(&r);
	DONE(e);
}

int dm_request_right(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, unsigned int flags,
	dm_right_t right)
{
	struct wbuf w = { 0 };
	struct rbuf r;
	NEED_SERVICE();
	NEED_HANDLE(hanp, hlen);
	w_object(&w, sid, hanp, hlen, token);
	w_u32(&w, flags);
	w_i32(&w, right);
	int e = call(OP_REQUEST_RIGHT, &w, &r);
	DONE(e);
}

int dm_release_right(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token)
{
	return obj_call(OP_RELEASE_RIGHT, sid, hanp, hlen, token, NULL);
}
int dm_upgrade_right(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token)
{
	return obj_call(OP_UPGRADE_RIGHT, sid, hanp, hlen, token, NULL);
}
int dm_downgrade_right(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token)
{
	return obj_call(OP_DOWNGRADE_RIGHT, sid, hanp, hlen, token, NULL);
}
int dm_query_right(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, dm_right_t *rightp)
{
	int32_t v = 0;
	NEED_SERVICE();
	NEED_HANDLE(hanp, hlen);
	NEED_OUT(rightp);
	if (obj_call(OP_QUERY_RIGHT, sid, hanp, hlen, token, &v) < 0) return -1;
	*rightp = (dm_right_t)v;
	return 0;
}
int dm_obj_ref_hold(dm_sessid_t sid, dm_token_t token, void *hanp, size_t hlen)
{
	return obj_call(OP_OBJ_REF_HOLD, sid, hanp, hlen, token, NULL);
}
int dm_obj_ref_rele(dm_sessid_t sid, dm_token_t token, void *hanp, size_t hlen)
{
	return obj_call(OP_OBJ_REF_RELE, sid, hanp, hlen, token, NULL);
}
int dm_obj_ref_query(dm_sessid_t sid, dm_token_t token, void *hanp, size_t hlen)
{
	int32_t v = 0;
	if (obj_call(OP_OBJ_REF_QUERY, sid, hanp, hlen, token, &v) < 0) return -1;
	return v ? 1 : 0;
}
int dm_sync_by_handle(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token)
{
	return obj_call(OP_SYNC_BY_HANDLE, sid, hanp, hlen, token, NULL);
}

/* ------------------------------------------------------------------ regions */

int dm_set_region(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, unsigned int nelem,
	dm_region_t *regbufp, dm_boolean_t *exactflagp)
{
	struct wbuf w = { 0 };
	struct rbuf r;
	NEED_SERVICE();
	NEED_HANDLE(hanp, hlen);
	NEED_OUT(exactflagp);
	if (nelem > LIM_MANAGED_REGIONS) return fail(E2BIG);
	NEED_R(regbufp, (size_t)nelem * sizeof *regbufp);
	w_object(&w, sid, hanp, hlen, token);
	w_u32(&w, nelem * (uint32_t)sizeof(dm_region_t));
	for (unsigned i = 0; i < nelem; i++) {
		w_i64(&w, regbufp[i].rg_offset);
		w_u64(&w, regbufp[i].rg_size);
		w_u32(&w, regbufp[i].rg_flags);
		w_u32(&w, regbufp[i].rg_opaque);
	}
	int e = call(OP_SET_REGION, &w, &r);
	if (!e) *exactflagp = r_i32(&r) ? DM_TRUE : DM_FALSE;
	DONE(e);
}

/* wire entry: offset:i64, size:u64, flags:u32, opaque:u32 */
static void put_region(void *bufp, size_t i, const unsigned char *q)
{
	dm_region_t *rg = (dm_region_t *)bufp + i;
	rg->rg_offset = (dm_off_t)g_u64(q);
	rg->rg_size = g_u64(q + 8);
	rg->rg_flags = g_u32(q + 16);
	rg->rg_opaque = g_u32(q + 20);
}

int dm_get_region(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, unsigned int nelem,
	dm_region_t *regbufp, unsigned int *nelemp)
{
	return obj_array_call(OP_GET_REGION, sid, hanp, hlen, token, nelem, 24, sizeof *regbufp, put_region, regbufp,
		nelemp);
}

/* ------------------------------------------------------------------ DM attributes */

int dm_set_dmattr(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, dm_attrname_t *attrnamep,
	int setdtime, size_t buflen, void *bufp)
{
	struct wbuf w = { 0 };
	struct rbuf r;
	NEED_SERVICE();
	NEED_HANDLE(hanp, hlen);
	NEED_R(attrnamep, sizeof *attrnamep);
	if (buflen > LIM_ATTRIBUTE_SIZE) return fail(E2BIG);
	NEED_R(bufp, buflen);
	w_object(&w, sid, hanp, hlen, token);
	w_bytes(&w, attrnamep->an_chars, DM_ATTR_NAME_SIZE);
	w_i32(&w, setdtime ? 1 : 0);
	w_bytes(&w, bufp, buflen);
	int e = call(OP_SET_DMATTR, &w, &r);
	DONE(e);
}

int dm_get_dmattr(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, dm_attrname_t *attrnamep,
	size_t buflen, void *bufp, size_t *rlenp)
{
	struct wbuf w = { 0 };
	struct rbuf r;
	NEED_SERVICE();
	NEED_HANDLE(hanp, hlen);
	NEED_R(attrnamep, sizeof *attrnamep);
	NEED_OUT(rlenp);
	NEED_BUF(bufp, buflen);
	w_object(&w, sid, hanp, hlen, token);
	w_bytes(&w, attrnamep->an_chars, DM_ATTR_NAME_SIZE);
	w_u64(&w, buflen);
	int e = call(OP_GET_DMATTR, &w, &r);
	e = copy_var(e, &r, buflen, bufp, rlenp);
	DONE(e);
}

int dm_remove_dmattr(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, int setdtime,
	dm_attrname_t *attrnamep)
{
	struct wbuf w = { 0 };
	struct rbuf r;
	NEED_SERVICE();
	NEED_HANDLE(hanp, hlen);
	NEED_R(attrnamep, sizeof *attrnamep);
	w_object(&w, sid, hanp, hlen, token);
	w_i32(&w, setdtime ? 1 : 0);
	w_bytes(&w, attrnamep->an_chars, DM_ATTR_NAME_SIZE);
	int e = call(OP_REMOVE_DMATTR, &w, &r);
	DONE(e);
}

int dm_getall_dmattr(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, size_t buflen, void *bufp,
	size_t *rlenp)
{
	return obj_buffer_call(OP_GETALL_DMATTR, sid, hanp, hlen, token, buflen, bufp, rlenp);
}

/* The attribute name is read only when enabling (SGI: disabling ignores it). */
int dm_set_return_on_destroy(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token,
	dm_attrname_t *attrnamep, dm_boolean_t enable)
{
	struct wbuf w = { 0 };
	struct rbuf r;
	static const dm_attrname_t zero;
	NEED_SERVICE();
	NEED_HANDLE(hanp, hlen);
	if (enable) NEED_R(attrnamep, sizeof *attrnamep);
	w_object(&w, sid, hanp, hlen, token);
	w_bytes(&w, (enable ? attrnamep : &zero)->an_chars, DM_ATTR_NAME_SIZE);
	w_i32(&w, enable ? 1 : 0);
	int e = call(OP_SET_RETURN_ON_DESTROY, &w, &r);
	DONE(e);
}

int dm_set_inherit(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, dm_attrname_t *attrnamep,
	mode_t mode)
{
	struct wbuf w = { 0 };
	struct rbuf r;
	NEED_SERVICE();
	NEED_HANDLE(hanp, hlen);
	NEED_R(attrnamep, sizeof *attrnamep);
	w_object(&w, sid, hanp, hlen, token);
	w_bytes(&w, attrnamep->an_chars, DM_ATTR_NAME_SIZE);
	w_u32(&w, mode);
	int e = call(OP_SET_INHERIT, &w, &r);
	DONE(e);
}

int dm_clear_inherit(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, dm_attrname_t *attrnamep)
{
	struct wbuf w = { 0 };
	struct rbuf r;
	NEED_SERVICE();
	NEED_HANDLE(hanp, hlen);
	NEED_R(attrnamep, sizeof *attrnamep);
	w_object(&w, sid, hanp, hlen, token);
	w_bytes(&w, attrnamep->an_chars, DM_ATTR_NAME_SIZE);
	int e = call(OP_CLEAR_INHERIT, &w, &r);
	DONE(e);
}

/* wire entry: 8-byte name + u32 mode */
static void put_inherit(void *bufp, size_t i, const unsigned char *q)
{
	dm_inherit_t *ih = (dm_inherit_t *)bufp + i;
	memcpy(ih->ih_name.an_chars, q, DM_ATTR_NAME_SIZE);
	ih->ih_filetype = g_u32(q + 8);
}

int dm_getall_inherit(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, unsigned int nelem,
	dm_inherit_t *inheritbufp, unsigned int *nelemp)
{
	return obj_array_call(OP_GETALL_INHERIT, sid, hanp, hlen, token, nelem, 12, sizeof *inheritbufp, put_inherit,
		inheritbufp, nelemp);
}

/* ------------------------------------------------------------------ file attributes and scans */

int dm_get_fileattr(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, unsigned int mask,
	dm_stat_t *statp)
{
	struct wbuf w = { 0 };
	struct rbuf r;
	NEED_SERVICE();
	NEED_HANDLE(hanp, hlen);
	NEED_OUT(statp);
	w_object(&w, sid, hanp, hlen, token);
	w_u32(&w, mask);
	int e = call(OP_GET_FILEATTR, &w, &r);
	if (!e) {
		size_t n;
		const unsigned char *d = r_bytes(&r, &n);
		memset(statp, 0, sizeof *statp);
		/* the handle and name parts of the chain entry are not the caller's: only dm_stat_t */
		memcpy(statp, d, n < sizeof *statp ? n : sizeof *statp);
		statp->_link = 0;
		if (statp->dt_handle.vd_offset + (size_t)statp->dt_handle.vd_length > sizeof *statp)
			statp->dt_handle.vd_offset = 0, statp->dt_handle.vd_length = 0;
		if (statp->dt_compname.vd_offset + (size_t)statp->dt_compname.vd_length > sizeof *statp)
			statp->dt_compname.vd_offset = 0, statp->dt_compname.vd_length = 0;
	}
	DONE(e);
}

int dm_set_fileattr(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, unsigned int mask,
	dm_fileattr_t *attrp)
{
	struct wbuf w = { 0 };
	struct rbuf r;
	NEED_SERVICE();
	NEED_HANDLE(hanp, hlen);
	NEED_R(attrp, sizeof *attrp);
	w_object(&w, sid, hanp, hlen, token);
	w_u32(&w, mask);
	w_u32(&w, attrp->fa_mode);
	w_u32(&w, attrp->fa_uid);
	w_u32(&w, attrp->fa_gid);
	w_i64(&w, attrp->fa_atime);
	w_i64(&w, attrp->fa_mtime);
	w_i64(&w, attrp->fa_ctime);
	w_i64(&w, attrp->fa_dtime);
	w_i64(&w, attrp->fa_size);
	int e = call(OP_SET_FILEATTR, &w, &r);
	DONE(e);
}

int dm_init_attrloc(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, dm_attrloc_t *locp)
{
	struct wbuf w = { 0 };
	struct rbuf r;
	NEED_SERVICE();
	NEED_HANDLE(hanp, hlen);
	NEED_OUT(locp);
	w_object(&w, sid, hanp, hlen, token);
	int e = call(OP_INIT_ATTRLOC, &w, &r);
	if (!e) *locp = r_i64(&r);
	DONE(e);
}

static int scan_reply(int e, struct rbuf *r, dm_attrloc_t *locp, size_t buflen, void *bufp, size_t *rlenp)
{
	int more = r_i32(r);
	int64_t loc = r_i64(r);
	e = copy_var(e, r, buflen, bufp, rlenp);
	if (e) return -e;
	*locp = loc;
	return more ? 1 : 0;
}

static int scan(uint16_t op, dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, unsigned int mask,
	dm_attrname_t *attrnamep, dm_attrloc_t *locp, size_t buflen, void *bufp, size_t *rlenp)
{
	struct wbuf w = { 0 };
	struct rbuf r;
	NEED_SERVICE();
	NEED_HANDLE(hanp, hlen);
	if (op == OP_GET_BULKALL) NEED_R(attrnamep, sizeof *attrnamep);
	NEED_OUT(locp);
	NEED_OUT(rlenp);
	NEED_BUF(bufp, buflen);
	w_object(&w, sid, hanp, hlen, token);
	w_u32(&w, mask);
	if (op == OP_GET_BULKALL) w_bytes(&w, attrnamep->an_chars, DM_ATTR_NAME_SIZE);
	w_i64(&w, *locp);
	w_u64(&w, buflen);
	int e = call(op, &w, &r);
	int v = scan_reply(e, &r, locp, buflen, bufp, rlenp);
	free(r.p);
	if (v < 0) return fail(-v);
	return v;
}

int dm_get_dirattrs(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, unsigned int mask,
	dm_attrloc_t *locp, size_t buflen, void *bufp, size_t *rlenp)
{
	return scan(OP_GET_DIRATTRS, sid, hanp, hlen, token, mask, NULL, locp, buflen, bufp, rlenp);
}

int dm_get_bulkattr(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, unsigned int mask,
	dm_attrloc_t *locp, size_t buflen, void *bufp, size_t *rlenp)
{
	return scan(OP_GET_BULKATTR, sid, hanp, hlen, token, mask, NULL, locp, buflen, bufp, rlenp);
}

int dm_get_bulkall(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, unsigned int mask,
	dm_attrname_t *attrnamep, dm_attrloc_t *locp, size_t buflen, void *bufp, size_t *rlenp)
{
	return scan(OP_GET_BULKALL, sid, hanp, hlen, token, mask, attrnamep, locp, buflen, bufp, rlenp);
}

/* ------------------------------------------------------------------ data */

/* The buffer is checked chunk by chunk, over what each reply fills: a wild len with a short file
 * reads what the file has, as the kernels' copy_to_user of the bytes read does. */
dm_ssize_t dm_read_invis(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, dm_off_t off, dm_size_t len,
	void *bufp)
{
	NEED_SERVICE();
	NEED_HANDLE(hanp, hlen);
	NEED_BUF(bufp, len);
	dm_size_t done = 0;
	do {
		dm_size_t want = len - done > MAX_IO ? MAX_IO : len - done;
		struct wbuf w = { 0 };
		struct rbuf r;
		w_object(&w, sid, hanp, hlen, token);
		w_i64(&w, off + (dm_off_t)done);
		w_u64(&w, want);
		int e = call(OP_READ_INVIS, &w, &r);
		size_t n = 0;
		const unsigned char *d = e ? NULL : r_bytes(&r, &n);
		if (n > want) n = want;
		if (!e && !mem_ok((char *)bufp + done, n, 1)) e = EFAULT;
		if (e) {
			free(r.p);
			if (done) break;       /* what was read stands */
			return fail(e);
		}
		if (n) memcpy((char *)bufp + done, d, n);
		free(r.p);
		done += n;
		if (n < want) break;
	} while (done < len);
	return (dm_ssize_t)done;
}

/* The whole buffer is checked before the first byte is written: no partial write of a range
 * that turns out to be unreadable. */
dm_ssize_t dm_write_invis(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, int flags, dm_off_t off,
	dm_size_t len, void *bufp)
{
	NEED_SERVICE();
	NEED_HANDLE(hanp, hlen);
	NEED_R(bufp, len);
	dm_size_t done = 0;
	do {
		dm_size_t chunk = len - done > MAX_IO ? MAX_IO : len - done;
		struct wbuf w = { 0 };
		struct rbuf r;
		w_object(&w, sid, hanp, hlen, token);
		w_u32(&w, (uint32_t)flags);
		w_i64(&w, off + (dm_off_t)done);
		w_bytes(&w, (char *)bufp + done, chunk);
		int e = call(OP_WRITE_INVIS, &w, &r);
		if (e) {
			free(r.p);
			if (done) break;
			return fail(e);
		}
		int64_t n = r_i64(&r);
		free(r.p);
		if (n < 0) n = 0;
		done += (dm_size_t)n;
		if ((dm_size_t)n < chunk) break;
	} while (done < len);
	return (dm_ssize_t)done;
}

int dm_probe_hole(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, dm_off_t off, dm_size_t len,
	dm_off_t *roffp, dm_size_t *rlenp)
{
	struct wbuf w = { 0 };
	struct rbuf r;
	NEED_SERVICE();
	NEED_HANDLE(hanp, hlen);
	NEED_OUT(roffp);
	NEED_OUT(rlenp);
	w_object(&w, sid, hanp, hlen, token);
	w_i64(&w, off);
	w_u64(&w, len);
	int e = call(OP_PROBE_HOLE, &w, &r);
	if (!e) {
		*roffp = r_i64(&r);
		*rlenp = r_u64(&r);
	}
	DONE(e);
}

int dm_punch_hole(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, dm_off_t off, dm_size_t len)
{
	struct wbuf w = { 0 };
	struct rbuf r;
	NEED_SERVICE();
	NEED_HANDLE(hanp, hlen);
	w_object(&w, sid, hanp, hlen, token);
	w_i64(&w, off);
	w_u64(&w, len);
	int e = call(OP_PUNCH_HOLE, &w, &r);
	DONE(e);
}

/* wire entry: type:u32, pad:u32, offset:i64, length:u64 */
static void put_extent(void *bufp, size_t i, const unsigned char *q)
{
	dm_extent_t *ex = (dm_extent_t *)bufp + i;
	ex->ex_type = (dm_extenttype_t)g_u32(q);
	ex->ex_pad1 = 0;
	ex->ex_offset = (dm_off_t)g_u64(q + 8);
	ex->ex_length = g_u64(q + 16);
}

int dm_get_allocinfo(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, dm_off_t *offp,
	unsigned int nelem, dm_extent_t *extentp, unsigned int *nelemp)
{
	struct wbuf w = { 0 };
	struct rbuf r;
	NEED_SERVICE();
	NEED_HANDLE(hanp, hlen);
	NEED_OUT(offp);
	NEED_OUT(nelemp);
	NEED_BUF(extentp, nelem);
	w_object(&w, sid, hanp, hlen, token);
	w_i64(&w, *offp);
	w_u32(&w, nelem);
	int e = call(OP_GET_ALLOCINFO, &w, &r);
	int more = r_i32(&r);
	int64_t noff = r_i64(&r);
	size_t k = 0;
	e = array_reply(e, &r, 24, sizeof *extentp, put_extent, nelem, extentp, nelemp, &k);
	if (!e) {
		*nelemp = (unsigned int)k;      /* the extents decoded into extentp */
		*offp = noff;
	}
	free(r.p);
	if (e) return fail(e);
	return more ? 1 : 0;
}

/* ------------------------------------------------------------------ namespace by handle */

static int by_handle(uint16_t op, dm_sessid_t sid, void *dirhanp, size_t dirhlen, dm_token_t token, void *hanp,
	size_t hlen, char *ucname, char *upath)
{
	struct wbuf w = { 0 };
	struct rbuf r;
	char cname[NAME_MAX + 1], path[PATH_MAX];
	NEED_SERVICE();
	NEED_HANDLE(dirhanp, dirhlen);
	NEED_HANDLE(hanp, hlen);
	int se = string_arg(ucname, cname, sizeof cname, ENAMETOOLONG);
	if (!se && op == OP_SYMLINK_BY_HANDLE) se = string_arg(upath, path, sizeof path, ENAMETOOLONG);
	if (se) return fail(se);
	w_object(&w, sid, dirhanp, dirhlen, token);
	w_handle(&w, hanp, hlen);
	w_bytes(&w, cname, strlen(cname));
	if (op == OP_SYMLINK_BY_HANDLE) w_bytes(&w, path, strlen(path));
	int e = call(op, &w, &r);
	DONE(e);
}

int dm_create_by_handle(dm_sessid_t sid, void *dirhanp, size_t dirhlen, dm_token_t token, void *hanp,
	size_t hlen, char *cname)
{
	return by_handle(OP_CREATE_BY_HANDLE, sid, dirhanp, dirhlen, token, hanp, hlen, cname, NULL);
}

int dm_mkdir_by_handle(dm_sessid_t sid, void *dirhanp, size_t dirhlen, dm_token_t token, void *hanp,
	size_t hlen, char *cname)
{
	return by_handle(OP_MKDIR_BY_HANDLE, sid, dirhanp, dirhlen, token, hanp, hlen, cname, NULL);
}

int dm_symlink_by_handle(dm_sessid_t sid, void *dirhanp, size_t dirhlen, dm_token_t token, void *hanp,
	size_t hlen, char *cname, char *path)
{
	return by_handle(OP_SYMLINK_BY_HANDLE, sid, dirhanp, dirhlen, token, hanp, hlen, cname, path);
}

/* ------------------------------------------------------------------ SGI extension: open by handle */

/* Mount points of the node's dmapifs filesystems (source "dmapifs:<node>"), from
 * /proc/self/mountinfo; other nodes' mounts are not touched. */
static int next_dmapifs_mount(FILE *mi, char *mp, size_t cap)
{
	char line[8192], node[128], src[160];
	dmapifs_node_name(node, sizeof node);
	snprintf(src, sizeof src, "fuse.dmapifs dmapifs:%s ", node);
	while (fgets(line, sizeof line, mi)) {
		char *sep = strstr(line, " - ");
		if (!sep || strncmp(sep + 3, src, strlen(src))) continue;
		/* field 5 is the mount point, octal escapes (\040) for odd characters */
		char *f = line;
		for (int i = 0; i < 4 && f; i++) {
			f = strchr(f, ' ');
			if (f) f++;
		}
		if (!f) continue;
		size_t o = 0;
		for (; *f && *f != ' ' && o + 1 < cap; f++) {
			if (f[0] == '\\' && f[1] >= '0' && f[1] <= '7' && f[2] >= '0' && f[2] <= '7' && f[3] >= '0' && f[3] <= '7') {
				mp[o++] = (char)((f[1] - '0') * 64 + (f[2] - '0') * 8 + (f[3] - '0'));
				f += 3;
			} else mp[o++] = *f;
		}
		mp[o] = 0;
		return 1;
	}
	return 0;
}

static __thread struct { const void *hanp; size_t hlen; dm_ino_t ino; char *found; } obh;

static int obh_visit(const char *fpath, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)type; (void)ftw;
	if ((dm_ino_t)sb->st_ino != obh.ino) return 0;
	void *h;
	size_t hl;
	if (dm_path_to_handle((char *)fpath, &h, &hl) < 0) return 0;
	int same = !dm_handle_cmp(h, hl, (void *)obh.hanp, obh.hlen);
	dm_handle_free(h, hl);
	if (!same) return 0;
	obh.found = strdup(fpath);
	return 1;
}

/* SGI extension, computed here from dm_get_fileattr (which checks the session, token, right and
 * handle, and rejects a filesystem handle with EINVAL): the backing file's st_blksize is the
 * buffer alignment and the transfer granule, the mount's max_write (128 KiB) the largest transfer;
 * dmapifs never requires direct I/O.  Non-regular objects -> EINVAL, as on XFS. */
#define DMAPIFS_MAX_IO 131072u
int dm_get_dioinfo(dm_sessid_t sid, void *hanp, size_t hlen, dm_token_t token, dm_dioinfo_t *diop)
{
	dm_stat_t st;
	NEED_SERVICE();
	NEED_HANDLE(hanp, hlen);
	NEED_OUT(diop);
	if (dm_get_fileattr(sid, hanp, hlen, token, DM_AT_STAT, &st) < 0) return -1;
	if (!S_ISREG(st.dt_mode)) return fail(EINVAL);
	unsigned int bs = st.dt_blksize ? st.dt_blksize : 4096u;
	diop->d_mem = bs;
	diop->d_miniosz = bs;
	diop->d_maxiosz = DMAPIFS_MAX_IO > bs ? DMAPIFS_MAX_IO - DMAPIFS_MAX_IO % bs : bs;
	diop->d_dio_only = DM_FALSE;
	return 0;
}

int dm_open_by_handle(void *hanp, size_t hlen, int mode)
{
	enum hkind k;
	NEED_SERVICE();
	int he = checked_kind(hanp, hlen, &k);
	if (he) return fail(he);
	if (k == H_BAD) return fail(EINVAL);
	if (k == H_GLOBAL) return fail(EBADF);
	dm_fsid_t fsid = g_u64(hanp);
	FILE *mi = fopen("/proc/self/mountinfo", "re");
	if (!mi) return -1;
	char mp[PATH_MAX];
	int fd = -1, err = EBADF;
	while (next_dmapifs_mount(mi, mp, sizeof mp)) {
		void *fsh;
		size_t fshl;
		if (dm_path_to_fshandle(mp, &fsh, &fshl) < 0) continue;
		int mine = fshl == FS_HLEN && g_u64(fsh) == fsid;
		dm_handle_free(fsh, fshl);
		if (!mine) continue;
		if (k == H_FS) {
			fd = open(mp, mode);
			err = errno;
			break;
		}
		/* the object: the mount point itself, or the entry with its inode number and handle */
		obh.hanp = hanp;
		obh.hlen = hlen;
		obh.ino = g_u64((unsigned char *)hanp + 8);
		obh.found = NULL;
		void *rh;
		size_t rhl;
		if (dm_path_to_handle(mp, &rh, &rhl) == 0) {
			if (!dm_handle_cmp(rh, rhl, hanp, hlen)) obh.found = strdup(mp);
			dm_handle_free(rh, rhl);
		}
		if (!obh.found) nftw(mp, obh_visit, 16, FTW_PHYS | FTW_MOUNT);
		if (obh.found) {
			fd = open(obh.found, mode);
			err = errno;
			free(obh.found);
			obh.found = NULL;
		}
		break;
	}
	fclose(mi);
	if (fd < 0) return fail(err);
	return fd;
}

/* strerror() has no text for ENOTREADY (198, no Linux errno): a DMAPI program that prints
 * strerror(errno) after a failed call would say "Unknown error 198". */
const char *dm_strerror(int errnum)
{
	if (errnum == ENOTREADY)
		return "DMAPI not ready: the node daemon is not running or is initializing (ENOTREADY)";
	return strerror(errnum);
}
