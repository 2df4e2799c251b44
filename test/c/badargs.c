/* libdm never crashes on a bad argument: every pointer argument of every function given an unmapped
 * address (0xDEADBEEF, in ASan's shadow gap when built with -fsanitize=address), NULL, or, for an
 * output, a read-only page, fails -1/EFAULT; every length given a wild value is refused (E2BIG
 * over its limit, EBADF for a handle length) or stops at the caller's memory (EFAULT) instead of
 * reading or writing past it.  Buffers sit against an unmapped page ("edge"), so a library that
 * read or wrote one byte too many would crash here.  Calls before dm_init_service are ENOSYS.
 * With argv[3] = "pipe" the program first forbids process_vm_readv/writev (seccomp, ENOSYS) so
 * that the library's pipe fallback does the checks. */
#include "check.h"
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#define BAD ((void *)0xDEADBEEFUL)
#define WILD ((size_t)0xDEADBEEFUL)
static void *ro;        /* a read-only page */
static char *edge;      /* one past the end of a read-write page followed by an unmapped page */

/* the last n bytes of the page before the unmapped one */
#define AT_EDGE(type) ((type *)(edge - sizeof(type)))

static void no_process_vm(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_process_vm_readv, 2, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_process_vm_writev, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
	};
	struct sock_fprog prog = { .len = sizeof f / sizeof f[0], .filter = f };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
		FAILX("seccomp: %s", strerror(errno));
	struct iovec a = { &prog, 1 }, b = { &prog, 1 };
	CHECK(syscall(SYS_process_vm_readv, getpid(), &a, 1, &b, 1, 0) == -1 && errno == ENOSYS, "filter installed");
}

int main(int argc, char **argv)
{
	if (argc < 3) FAILX("usage: badargs MNT BACKING [pipe]");
	const char *mnt = argv[1];
	if (argc > 3 && !strcmp(argv[3], "pipe")) no_process_vm();
	long ps = sysconf(_SC_PAGESIZE);
	/* [read-only][read-write | edge][unmapped][read-write | unterminated string][unmapped]
	 * [read-write | handles][unmapped] */
	char *m = mmap(NULL, 7 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) FAILX("mmap");
	munmap(m + 2 * ps, ps);
	munmap(m + 4 * ps, ps);
	munmap(m + 6 * ps, ps);
	char *hedge = m + 6 * ps;
	char *unterminated = m + 4 * ps - 8;
	memset(unterminated, 'a', 8);
	edge = m + 2 * ps;
	ro = m;
	memset(m, 0, 2 * ps);
	mprotect(ro, ps, PROT_READ);

	/* ---- before dm_init_service: ENOSYS for the calls that need the service (SGI libdm) */
	dm_sessid_t sid;
	void *h, *fsh, *dh;
	size_t hl, fshl, dhl;
	ERR(dm_create_session(DM_NO_SESSION, "x", &sid), ENOSYS);
	ERR(dm_path_to_handle((char *)mnt, &h, &hl), ENOSYS);
	ERR(dm_getall_sessions(0, NULL, (unsigned int *)edge - 1), ENOSYS);
	dm_fsid_t fsid0 = 7;
	OK(dm_make_fshandle(&fsid0, &fsh, &fshl));      /* library-side: no service needed */
	dm_handle_free(fsh, fshl);

	char *v;
	ERR(dm_init_service(BAD), EFAULT);
	ERR(dm_init_service(ro), EFAULT);
	OK(dm_init_service(&v));

	/* ---- sessions */
	ERR(dm_create_session(DM_NO_SESSION, NULL, &sid), EFAULT);
	ERR(dm_create_session(DM_NO_SESSION, BAD, &sid), EFAULT);
	ERR(dm_create_session(DM_NO_SESSION, "x", BAD), EFAULT);
	ERR(dm_create_session(DM_NO_SESSION, "x", ro), EFAULT);
	/* a string running into the unmapped page without its NUL: EFAULT, not a crash */
	ERR(dm_create_session(DM_NO_SESSION, unterminated, &sid), EFAULT);
	strcpy(edge - 4, "abc");
	OK(dm_create_session(DM_NO_SESSION, edge - 4, AT_EDGE(dm_sessid_t) - 1));
	sid = *(AT_EDGE(dm_sessid_t) - 1);
	ERR(dm_query_session(sid, 100, BAD, AT_EDGE(size_t)), EFAULT);
	ERR(dm_query_session(sid, 1, BAD, AT_EDGE(size_t)), EFAULT);    /* EFAULT before E2BIG */
	ERR(dm_query_session(sid, 100, ro, AT_EDGE(size_t)), EFAULT);
	ERR(dm_query_session(sid, 100, edge - 100, BAD), EFAULT);
	ERR(dm_query_session(sid, 100, edge - 100, ro), EFAULT);
	/* wild buflen, a 4-byte buffer at the edge: the 4 bytes "abc" fit, nothing past them is touched */
	OK(dm_query_session(sid, WILD, edge - 4, AT_EDGE(size_t) - 1));
	EQ(*(AT_EDGE(size_t) - 1), 4);
	ERR(dm_query_session(sid, 0, BAD, AT_EDGE(size_t)), E2BIG);     /* a 0-byte buffer is not touched */
	ERR(dm_getall_sessions(4, BAD, AT_EDGE(unsigned int)), EFAULT);
	ERR(dm_getall_sessions(4, ro, AT_EDGE(unsigned int)), EFAULT);
	ERR(dm_getall_sessions(4, (void *)(edge - 16), BAD), EFAULT);
	ERR(dm_getall_sessions(4, (void *)(edge - 16), ro), EFAULT);
	/* wild nelem, room for 1 id at the edge: more sessions than fit → EFAULT where the room ends */
	dm_sessid_t extra;
	OK(dm_create_session(DM_NO_SESSION, "second", &extra));
	ERR(dm_getall_sessions((unsigned int)WILD, (dm_sessid_t *)edge - 1, AT_EDGE(unsigned int) - 4), EFAULT);
	OK(dm_destroy_session(extra));

	/* ---- objects */
	char *f = mnt_path(mnt, "badargs-file");
	char *d = mnt_path(mnt, "badargs-dir");
	static char data[8192];
	memset(data, 'x', sizeof data);
	write_file(f, data, sizeof data);
	mkdir(d, 0755);
	char *de = mnt_path(d, "entry");
	write_file(de, "e", 1);
	ERR(dm_path_to_handle(BAD, &h, &hl), EFAULT);
	ERR(dm_path_to_handle(NULL, &h, &hl), EFAULT);
	ERR(dm_path_to_handle(f, BAD, &hl), EFAULT);
	ERR(dm_path_to_handle(f, ro, &hl), EFAULT);
	ERR(dm_path_to_handle(f, &h, BAD), EFAULT);
	ERR(dm_path_to_fshandle(BAD, &h, &hl), EFAULT);
	ERR(dm_path_to_fshandle((char *)mnt, &h, ro), EFAULT);
	ERR(dm_path_to_handle(unterminated, &h, &hl), EFAULT);
	int fd = open(f, O_RDONLY);
	ERR(dm_fd_to_handle(fd, BAD, &hl), EFAULT);
	ERR(dm_fd_to_handle(fd, &h, BAD), EFAULT);
	ERR(dm_fd_to_handle(fd, &h, ro), EFAULT);
	close(fd);
	OK(dm_path_to_handle(f, &h, &hl));
	OK(dm_path_to_handle(d, &dh, &dhl));
	OK(dm_path_to_fshandle((char *)mnt, &fsh, &fshl));
	/* the handles copied against the edge: one byte more read would crash */
	void *he = hedge - hl, *fshe = hedge - ps + 64, *dhe;
	memcpy(he, h, hl);
	memcpy(fshe, fsh, fshl);
	dhe = (char *)fshe + 64;
	memcpy(dhe, dh, dhl);

	/* ---- library-side handle functions */
	CHECK(dm_handle_is_valid(BAD, 24) == DM_FALSE, "is_valid(BAD)");
	CHECK(dm_handle_is_valid(he, WILD) == DM_FALSE, "is_valid(wild hlen)");
	CHECK(dm_handle_is_valid(he, hl) == DM_TRUE, "is_valid(edge handle)");
	CHECK(dm_handle_cmp(BAD, 24, he, hl) != 0, "cmp(BAD)");
	CHECK(dm_handle_cmp(he, hl, BAD, 24) != 0, "cmp(, BAD)");
	CHECK(dm_handle_cmp(he, hl, h, hl) == 0, "cmp(edge, copy)");
	EQ(dm_handle_hash(BAD, 24), 0);
	EQ(dm_handle_hash(he, WILD), 0);
	dm_handle_free(BAD, 24);        /* left alone, no abort */
	dm_fsid_t fsid;
	dm_ino_t ino;
	dm_igen_t igen;
	ERR(dm_handle_to_fsid(BAD, 24, &fsid), EFAULT);
	ERR(dm_handle_to_fsid(he, WILD, &fsid), EBADF);
	ERR(dm_handle_to_fsid(he, hl, BAD), EFAULT);
	ERR(dm_handle_to_fsid(he, hl, ro), EFAULT);
	ERR(dm_handle_to_ino(BAD, 24, &ino), EFAULT);
	ERR(dm_handle_to_ino(he, hl, BAD), EFAULT);
	ERR(dm_handle_to_ino(he, WILD, &ino), EBADF);
	ERR(dm_handle_to_igen(BAD, 24, &igen), EFAULT);
	ERR(dm_handle_to_igen(he, hl, ro), EFAULT);
	ERR(dm_handle_to_igen(he, WILD, &igen), EBADF);
	void *x;
	size_t xl;
	ERR(dm_handle_to_fshandle(BAD, 24, &x, &xl), EFAULT);
	ERR(dm_handle_to_fshandle(he, hl, BAD, &xl), EFAULT);
	ERR(dm_handle_to_fshandle(he, hl, &x, ro), EFAULT);
	ERR(dm_handle_to_fshandle(he, WILD, &x, &xl), EBADF);
	OK(dm_handle_to_fsid(he, hl, &fsid));
	OK(dm_handle_to_ino(he, hl, &ino));
	OK(dm_handle_to_igen(he, hl, &igen));
	ERR(dm_make_fshandle(BAD, &x, &xl), EFAULT);
	ERR(dm_make_fshandle(&fsid, BAD, &xl), EFAULT);
	ERR(dm_make_fshandle(&fsid, &x, ro), EFAULT);
	ERR(dm_make_handle(BAD, &ino, &igen, &x, &xl), EFAULT);
	ERR(dm_make_handle(&fsid, BAD, &igen, &x, &xl), EFAULT);
	ERR(dm_make_handle(&fsid, &ino, BAD, &x, &xl), EFAULT);
	ERR(dm_make_handle(&fsid, &ino, &igen, ro, &xl), EFAULT);
	ERR(dm_make_handle(&fsid, &ino, &igen, &x, BAD), EFAULT);
	ERR(dm_open_by_handle(BAD, 24, O_RDONLY), EFAULT);
	ERR(dm_open_by_handle(he, WILD, O_RDONLY), EBADF);

	/* ---- every handle-taking call: bad handle bytes → EFAULT, wild handle length → EBADF */
	dm_token_t tok;
	OK(dm_create_userevent(sid, 0, NULL, &tok));
	dm_eventset_t es;
	DMEV_ZERO(es);
	unsigned int n;
	size_t rlen;
	dm_size_t val;
	dm_right_t right;
	dm_boolean_t exact;
	dm_region_t reg = { 0, 0, DM_REGION_READ, 0 };
	dm_attrname_t an;
	attrname(&an, "bad");
	dm_stat_t st;
	dm_fileattr_t fa;
	memset(&fa, 0, sizeof fa);
	dm_attrloc_t loc = 0;
	dm_off_t off = 0, roff;
	dm_size_t rsz;
	dm_extent_t ext[2];
	dm_inherit_t inh;
	dm_dioinfo_t dio;
	char buf[256];
#define HANDLE_CASES(H, L, E) do { \
	ERR(dm_set_disp(sid, H, L, DM_NO_TOKEN, &es, DM_EVENT_MAX), E); \
	ERR(dm_set_eventlist(sid, H, L, DM_NO_TOKEN, &es, DM_EVENT_MAX), E); \
	ERR(dm_get_eventlist(sid, H, L, DM_NO_TOKEN, DM_EVENT_MAX, &es, &n), E); \
	ERR(dm_get_config_events(H, L, DM_EVENT_MAX, &es, &n), E); \
	ERR(dm_get_config(H, L, DM_CONFIG_BULKALL, &val), E); \
	ERR(dm_get_mountinfo(sid, H, L, DM_NO_TOKEN, sizeof buf, buf, &rlen), E); \
	ERR(dm_handle_to_path(H, L, he, hl, sizeof buf, buf, &rlen), E); \
	ERR(dm_handle_to_path(dhe, dhl, H, L, sizeof buf, buf, &rlen), E); \
	ERR(dm_request_right(sid, H, L, tok, 0, DM_RIGHT_SHARED), E); \
	ERR(dm_release_right(sid, H, L, tok), E); \
	ERR(dm_upgrade_right(sid, H, L, tok), E); \
	ERR(dm_downgrade_right(sid, H, L, tok), E); \
	ERR(dm_query_right(sid, H, L, tok, &right), E); \
	ERR(dm_obj_ref_hold(sid, tok, H, L), E); \
	ERR(dm_obj_ref_rele(sid, tok, H, L), E); \
	ERR(dm_obj_ref_query(sid, tok, H, L), E); \
	ERR(dm_sync_by_handle(sid, H, L, DM_NO_TOKEN), E); \
	ERR(dm_set_region(sid, H, L, DM_NO_TOKEN, 1, &reg, &exact), E); \
	ERR(dm_get_region(sid, H, L, DM_NO_TOKEN, 1, &reg, &n), E); \
	ERR(dm_set_dmattr(sid, H, L, DM_NO_TOKEN, &an, 0, 4, buf), E); \
	ERR(dm_get_dmattr(sid, H, L, DM_NO_TOKEN, &an, sizeof buf, buf, &rlen), E); \
	ERR(dm_remove_dmattr(sid, H, L, DM_NO_TOKEN, 0, &an), E); \
	ERR(dm_getall_dmattr(sid, H, L, DM_NO_TOKEN, sizeof buf, buf, &rlen), E); \
	ERR(dm_set_return_on_destroy(sid, H, L, DM_NO_TOKEN, &an, DM_TRUE), E); \
	ERR(dm_set_inherit(sid, H, L, DM_NO_TOKEN, &an, S_IFREG), E); \
	ERR(dm_clear_inherit(sid, H, L, DM_NO_TOKEN, &an), E); \
	ERR(dm_getall_inherit(sid, H, L, DM_NO_TOKEN, 1, &inh, &n), E); \
	ERR(dm_get_fileattr(sid, H, L, DM_NO_TOKEN, DM_AT_STAT, &st), E); \
	ERR(dm_set_fileattr(sid, H, L, DM_NO_TOKEN, DM_AT_MODE, &fa), E); \
	ERR(dm_init_attrloc(sid, H, L, DM_NO_TOKEN, &loc), E); \
	ERR(dm_get_dirattrs(sid, H, L, DM_NO_TOKEN, DM_AT_STAT, &loc, sizeof buf, buf, &rlen), E); \
	ERR(dm_get_bulkattr(sid, H, L, DM_NO_TOKEN, DM_AT_STAT, &loc, sizeof buf, buf, &rlen), E); \
	ERR(dm_get_bulkall(sid, H, L, DM_NO_TOKEN, DM_AT_STAT, &an, &loc, sizeof buf, buf, &rlen), E); \
	ERR(dm_read_invis(sid, H, L, DM_NO_TOKEN, 0, 4, buf), E); \
	ERR(dm_write_invis(sid, H, L, DM_NO_TOKEN, 0, 0, 4, buf), E); \
	ERR(dm_probe_hole(sid, H, L, DM_NO_TOKEN, 0, 0, &roff, &rsz), E); \
	ERR(dm_punch_hole(sid, H, L, DM_NO_TOKEN, 0, 0), E); \
	ERR(dm_get_allocinfo(sid, H, L, DM_NO_TOKEN, &off, 2, ext, &n), E); \
	ERR(dm_create_by_handle(sid, H, L, DM_NO_TOKEN, he, hl, "c"), E); \
	ERR(dm_create_by_handle(sid, dhe, dhl, DM_NO_TOKEN, H, L, "c"), E); \
	ERR(dm_mkdir_by_handle(sid, H, L, DM_NO_TOKEN, he, hl, "c"), E); \
	ERR(dm_symlink_by_handle(sid, H, L, DM_NO_TOKEN, he, hl, "c", "p"), E); \
	ERR(dm_get_dioinfo(sid, H, L, DM_NO_TOKEN, &dio), E); \
	} while (0)
	HANDLE_CASES(BAD, 24, EFAULT);
	HANDLE_CASES(NULL, 24, EFAULT);
	HANDLE_CASES(he + 8, hl, EFAULT);         /* runs 8 bytes into the unmapped page */
	HANDLE_CASES(he, WILD, EBADF);
	HANDLE_CASES(he, DM_MAX_HANDLE_SIZE + 1, EBADF);

	/* ---- every other pointer argument, one at a time (valid handles otherwise) */
	/* events */
	ERR(dm_get_events(sid, 0, 0, sizeof buf, BAD, &rlen), EFAULT);
	ERR(dm_get_events(sid, 0, 0, 1, BAD, &rlen), EFAULT);           /* EFAULT, not E2BIG */
	ERR(dm_get_events(sid, 0, 0, sizeof buf, ro, &rlen), EFAULT);
	ERR(dm_get_events(sid, 0, 0, sizeof buf, buf, BAD), EFAULT);
	ERR(dm_get_events(sid, 0, 0, sizeof buf, buf, ro), EFAULT);
	ERR(dm_get_events(sid, 0, 0, WILD, edge - 8, AT_EDGE(size_t) - 2), EAGAIN);   /* wild buflen: nothing to give */
	ERR(dm_respond_event(sid, tok, DM_RESP_CONTINUE, 0, 4, BAD), EFAULT);
	ERR(dm_respond_event(sid, tok, DM_RESP_CONTINUE, 0, WILD, edge - 8), E2BIG);
	ERR(dm_respond_event(sid, tok, DM_RESP_CONTINUE, 0, 16, edge - 8), EFAULT);
	ERR(dm_find_eventmsg(sid, tok, sizeof buf, BAD, &rlen), EFAULT);
	ERR(dm_find_eventmsg(sid, tok, 1, BAD, &rlen), EFAULT);
	ERR(dm_find_eventmsg(sid, tok, sizeof buf, ro, &rlen), EFAULT);
	ERR(dm_find_eventmsg(sid, tok, sizeof buf, buf, BAD), EFAULT);
	ERR(dm_find_eventmsg(sid, tok, sizeof buf, buf, ro), EFAULT);
	/* wild buflen, 8 bytes of room at the edge: the message is longer → EFAULT where the room ends */
	ERR(dm_find_eventmsg(sid, tok, WILD, edge - 8, AT_EDGE(size_t) - 2), EFAULT);
	dm_token_t toks[4];
	ERR(dm_getall_tokens(sid, 4, BAD, &n), EFAULT);
	ERR(dm_getall_tokens(sid, 4, ro, &n), EFAULT);
	ERR(dm_getall_tokens(sid, 4, toks, BAD), EFAULT);
	ERR(dm_getall_tokens(sid, 4, toks, ro), EFAULT);
	ERR(dm_move_event(sid, tok, sid, BAD), EFAULT);
	ERR(dm_move_event(sid, tok, sid, ro), EFAULT);
	ERR(dm_pending(sid, tok, BAD), EFAULT);
	ERR(dm_pending(sid, tok, NULL), EFAULT);
	dm_token_t t2;
	ERR(dm_create_userevent(sid, 4, BAD, &t2), EFAULT);
	ERR(dm_create_userevent(sid, 4, buf, BAD), EFAULT);
	ERR(dm_create_userevent(sid, 4, buf, ro), EFAULT);
	/* 4097 bytes from 16 bytes before the unmapped page: E2BIG, and not one byte read */
	ERR(dm_create_userevent(sid, 4097, edge - 16, &t2), E2BIG);
	ERR(dm_create_userevent(sid, WILD, edge - 16, &t2), E2BIG);
	ERR(dm_create_userevent(sid, 32, edge - 16, &t2), EFAULT);
	ERR(dm_send_msg(sid, DM_MSGTYPE_ASYNC, 4, BAD), EFAULT);
	ERR(dm_send_msg(sid, DM_MSGTYPE_ASYNC, WILD, edge - 16), E2BIG);
	ERR(dm_send_msg(sid, DM_MSGTYPE_ASYNC, 32, edge - 16), EFAULT);

	/* dispositions, event lists, config */
	ERR(dm_set_disp(sid, fshe, fshl, DM_NO_TOKEN, BAD, DM_EVENT_MAX), EFAULT);
	ERR(dm_set_disp(sid, DM_GLOBAL_HANP, DM_GLOBAL_HLEN, DM_NO_TOKEN, NULL, DM_EVENT_MAX), EFAULT);
	ERR(dm_set_eventlist(sid, he, hl, DM_NO_TOKEN, BAD, DM_EVENT_MAX), EFAULT);
	ERR(dm_get_eventlist(sid, he, hl, DM_NO_TOKEN, DM_EVENT_MAX, BAD, &n), EFAULT);
	ERR(dm_get_eventlist(sid, he, hl, DM_NO_TOKEN, DM_EVENT_MAX, ro, &n), EFAULT);
	ERR(dm_get_eventlist(sid, he, hl, DM_NO_TOKEN, DM_EVENT_MAX, &es, BAD), EFAULT);
	ERR(dm_get_eventlist(sid, he, hl, DM_NO_TOKEN, DM_EVENT_MAX, &es, ro), EFAULT);
	ERR(dm_getall_disp(sid, sizeof buf, BAD, &rlen), EFAULT);
	ERR(dm_getall_disp(sid, 1, BAD, &rlen), EFAULT);
	ERR(dm_getall_disp(sid, sizeof buf, buf, BAD), EFAULT);
	ERR(dm_getall_disp(sid, sizeof buf, buf, ro), EFAULT);
	ERR(dm_get_config_events(he, hl, DM_EVENT_MAX, BAD, &n), EFAULT);
	ERR(dm_get_config_events(he, hl, DM_EVENT_MAX, &es, BAD), EFAULT);
	ERR(dm_get_config_events(he, hl, DM_EVENT_MAX, &es, ro), EFAULT);
	ERR(dm_get_config(he, hl, DM_CONFIG_BULKALL, BAD), EFAULT);
	ERR(dm_get_config(he, hl, DM_CONFIG_BULKALL, ro), EFAULT);
	ERR(dm_get_config(he, hl, DM_CONFIG_BULKALL, (dm_size_t *)(edge - 4)), EFAULT);   /* half of it mapped */
	OK(dm_get_config(he, hl, DM_CONFIG_BULKALL, AT_EDGE(dm_size_t)));
	ERR(dm_get_mountinfo(sid, fshe, fshl, DM_NO_TOKEN, sizeof buf, BAD, &rlen), EFAULT);
	ERR(dm_get_mountinfo(sid, fshe, fshl, DM_NO_TOKEN, 1, BAD, &rlen), EFAULT);
	ERR(dm_get_mountinfo(sid, fshe, fshl, DM_NO_TOKEN, sizeof buf, buf, BAD), EFAULT);
	ERR(dm_get_mountinfo(sid, fshe, fshl, DM_NO_TOKEN, WILD, edge - 8, &rlen), EFAULT);

	/* handle_to_path */
	ERR(dm_handle_to_path(dhe, dhl, he, hl, sizeof buf, BAD, &rlen), EFAULT);
	ERR(dm_handle_to_path(dhe, dhl, he, hl, 1, BAD, &rlen), EFAULT);
	ERR(dm_handle_to_path(dhe, dhl, he, hl, sizeof buf, ro, &rlen), EFAULT);
	ERR(dm_handle_to_path(dhe, dhl, he, hl, sizeof buf, buf, BAD), EFAULT);
	ERR(dm_handle_to_path(dhe, dhl, he, hl, sizeof buf, buf, ro), EFAULT);

	/* rights (on the userevent token) */
	ERR(dm_query_right(sid, he, hl, tok, BAD), EFAULT);
	ERR(dm_query_right(sid, he, hl, tok, ro), EFAULT);

	/* regions */
	ERR(dm_set_region(sid, he, hl, DM_NO_TOKEN, 1, BAD, &exact), EFAULT);
	ERR(dm_set_region(sid, he, hl, DM_NO_TOKEN, 1, &reg, BAD), EFAULT);
	ERR(dm_set_region(sid, he, hl, DM_NO_TOKEN, 1, &reg, ro), EFAULT);
	ERR(dm_set_region(sid, he, hl, DM_NO_TOKEN, (unsigned int)WILD, AT_EDGE(dm_region_t), &exact), E2BIG);
	ERR(dm_set_region(sid, he, hl, DM_NO_TOKEN, 2, AT_EDGE(dm_region_t), &exact), EFAULT);
	ERR(dm_get_region(sid, he, hl, DM_NO_TOKEN, 1, BAD, &n), EFAULT);
	ERR(dm_get_region(sid, he, hl, DM_NO_TOKEN, 1, ro, &n), EFAULT);
	ERR(dm_get_region(sid, he, hl, DM_NO_TOKEN, 1, &reg, BAD), EFAULT);
	ERR(dm_get_region(sid, he, hl, DM_NO_TOKEN, 1, &reg, ro), EFAULT);
	dm_region_t two[2] = { { 0, 100, DM_REGION_READ, 0 }, { 200, 100, DM_REGION_WRITE, 0 } };
	OK(dm_set_region(sid, he, hl, DM_NO_TOKEN, 2, two, &exact));
	/* wild nelem, room for one region at the edge: two to give → EFAULT where the room ends */
	ERR(dm_get_region(sid, he, hl, DM_NO_TOKEN, (unsigned int)WILD, AT_EDGE(dm_region_t), &n), EFAULT);
	OK(dm_set_region(sid, he, hl, DM_NO_TOKEN, 0, NULL, &exact));

	/* DM attributes */
	ERR(dm_set_dmattr(sid, he, hl, DM_NO_TOKEN, BAD, 0, 4, buf), EFAULT);
	ERR(dm_set_dmattr(sid, he, hl, DM_NO_TOKEN, &an, 0, 4, BAD), EFAULT);
	ERR(dm_set_dmattr(sid, he, hl, DM_NO_TOKEN, &an, 0, WILD, edge - 8), E2BIG);
	ERR(dm_set_dmattr(sid, he, hl, DM_NO_TOKEN, &an, 0, 16, edge - 8), EFAULT);
	ERR(dm_set_dmattr(sid, he, hl, DM_NO_TOKEN, (dm_attrname_t *)(edge - 4), 0, 4, buf), EFAULT);
	OK(dm_set_dmattr(sid, he, hl, DM_NO_TOKEN, &an, 0, 8, edge - 8));
	ERR(dm_get_dmattr(sid, he, hl, DM_NO_TOKEN, BAD, sizeof buf, buf, &rlen), EFAULT);
	ERR(dm_get_dmattr(sid, he, hl, DM_NO_TOKEN, &an, sizeof buf, BAD, &rlen), EFAULT);
	ERR(dm_get_dmattr(sid, he, hl, DM_NO_TOKEN, &an, 1, BAD, &rlen), EFAULT);
	ERR(dm_get_dmattr(sid, he, hl, DM_NO_TOKEN, &an, sizeof buf, ro, &rlen), EFAULT);
	ERR(dm_get_dmattr(sid, he, hl, DM_NO_TOKEN, &an, sizeof buf, buf, BAD), EFAULT);
	ERR(dm_get_dmattr(sid, he, hl, DM_NO_TOKEN, &an, sizeof buf, buf, ro), EFAULT);
	/* wild buflen with an 8-byte value and 8 bytes of room: fits, nothing else touched */
	OK(dm_get_dmattr(sid, he, hl, DM_NO_TOKEN, &an, WILD, edge - 8, &rlen));
	EQ(rlen, 8);
	ERR(dm_get_dmattr(sid, he, hl, DM_NO_TOKEN, &an, WILD, edge - 4, &rlen), EFAULT);
	ERR(dm_getall_dmattr(sid, he, hl, DM_NO_TOKEN, sizeof buf, BAD, &rlen), EFAULT);
	ERR(dm_getall_dmattr(sid, he, hl, DM_NO_TOKEN, 1, BAD, &rlen), EFAULT);
	ERR(dm_getall_dmattr(sid, he, hl, DM_NO_TOKEN, sizeof buf, buf, BAD), EFAULT);
	ERR(dm_getall_dmattr(sid, he, hl, DM_NO_TOKEN, WILD, edge - 8, &rlen), EFAULT);
	ERR(dm_remove_dmattr(sid, he, hl, DM_NO_TOKEN, 0, BAD), EFAULT);
	OK(dm_remove_dmattr(sid, he, hl, DM_NO_TOKEN, 0, &an));
	ERR(dm_set_return_on_destroy(sid, fshe, fshl, DM_NO_TOKEN, BAD, DM_TRUE), EFAULT);
	ERR(dm_set_inherit(sid, fshe, fshl, DM_NO_TOKEN, BAD, S_IFREG), EFAULT);
	ERR(dm_clear_inherit(sid, fshe, fshl, DM_NO_TOKEN, BAD), EFAULT);
	ERR(dm_getall_inherit(sid, fshe, fshl, DM_NO_TOKEN, 1, BAD, &n), EFAULT);
	ERR(dm_getall_inherit(sid, fshe, fshl, DM_NO_TOKEN, 1, &inh, BAD), EFAULT);

	/* file attributes and scans */
	ERR(dm_get_fileattr(sid, he, hl, DM_NO_TOKEN, DM_AT_STAT, BAD), EFAULT);
	ERR(dm_get_fileattr(sid, he, hl, DM_NO_TOKEN, DM_AT_STAT, ro), EFAULT);
	ERR(dm_get_fileattr(sid, he, hl, DM_NO_TOKEN, DM_AT_STAT, (dm_stat_t *)(edge - 8)), EFAULT);
	OK(dm_get_fileattr(sid, he, hl, DM_NO_TOKEN, DM_AT_STAT, AT_EDGE(dm_stat_t)));
	EQ(AT_EDGE(dm_stat_t)->dt_size, sizeof data);
	ERR(dm_set_fileattr(sid, he, hl, DM_NO_TOKEN, DM_AT_MODE, BAD), EFAULT);
	ERR(dm_set_fileattr(sid, he, hl, DM_NO_TOKEN, DM_AT_MODE, (dm_fileattr_t *)(edge - 8)), EFAULT);
	ERR(dm_init_attrloc(sid, dhe, dhl, DM_NO_TOKEN, BAD), EFAULT);
	ERR(dm_init_attrloc(sid, dhe, dhl, DM_NO_TOKEN, ro), EFAULT);
	OK(dm_init_attrloc(sid, dhe, dhl, DM_NO_TOKEN, &loc));
	ERR(dm_get_dirattrs(sid, dhe, dhl, DM_NO_TOKEN, DM_AT_STAT, BAD, sizeof buf, buf, &rlen), EFAULT);
	ERR(dm_get_dirattrs(sid, dhe, dhl, DM_NO_TOKEN, DM_AT_STAT, ro, sizeof buf, buf, &rlen), EFAULT);
	ERR(dm_get_dirattrs(sid, dhe, dhl, DM_NO_TOKEN, DM_AT_STAT, &loc, sizeof buf, BAD, &rlen), EFAULT);
	ERR(dm_get_dirattrs(sid, dhe, dhl, DM_NO_TOKEN, DM_AT_STAT, &loc, 1, BAD, &rlen), EFAULT);
	ERR(dm_get_dirattrs(sid, dhe, dhl, DM_NO_TOKEN, DM_AT_STAT, &loc, sizeof buf, ro, &rlen), EFAULT);
	ERR(dm_get_dirattrs(sid, dhe, dhl, DM_NO_TOKEN, DM_AT_STAT, &loc, sizeof buf, buf, BAD), EFAULT);
	ERR(dm_get_dirattrs(sid, dhe, dhl, DM_NO_TOKEN, DM_AT_STAT, &loc, WILD, edge - 8, &rlen), EFAULT);
	ERR(dm_init_attrloc(sid, fshe, fshl, DM_NO_TOKEN, BAD), EFAULT);
	OK(dm_init_attrloc(sid, fshe, fshl, DM_NO_TOKEN, &loc));
	ERR(dm_get_bulkattr(sid, fshe, fshl, DM_NO_TOKEN, DM_AT_STAT, BAD, sizeof buf, buf, &rlen), EFAULT);
	ERR(dm_get_bulkattr(sid, fshe, fshl, DM_NO_TOKEN, DM_AT_STAT, &loc, sizeof buf, BAD, &rlen), EFAULT);
	ERR(dm_get_bulkattr(sid, fshe, fshl, DM_NO_TOKEN, DM_AT_STAT, &loc, sizeof buf, buf, BAD), EFAULT);
	ERR(dm_get_bulkattr(sid, fshe, fshl, DM_NO_TOKEN, DM_AT_STAT, &loc, WILD, edge - 8, &rlen), EFAULT);
	ERR(dm_get_bulkall(sid, fshe, fshl, DM_NO_TOKEN, DM_AT_STAT, BAD, &loc, sizeof buf, buf, &rlen), EFAULT);
	ERR(dm_get_bulkall(sid, fshe, fshl, DM_NO_TOKEN, DM_AT_STAT, &an, BAD, sizeof buf, buf, &rlen), EFAULT);
	ERR(dm_get_bulkall(sid, fshe, fshl, DM_NO_TOKEN, DM_AT_STAT, &an, &loc, sizeof buf, BAD, &rlen), EFAULT);
	ERR(dm_get_bulkall(sid, fshe, fshl, DM_NO_TOKEN, DM_AT_STAT, &an, &loc, sizeof buf, buf, BAD), EFAULT);
	ERR(dm_get_dioinfo(sid, he, hl, DM_NO_TOKEN, BAD), EFAULT);
	ERR(dm_get_dioinfo(sid, he, hl, DM_NO_TOKEN, ro), EFAULT);

	/* data */
	ERR(dm_read_invis(sid, he, hl, DM_NO_TOKEN, 0, 16, BAD), EFAULT);
	ERR(dm_read_invis(sid, he, hl, DM_NO_TOKEN, 0, 16, ro), EFAULT);
	ERR(dm_read_invis(sid, he, hl, DM_NO_TOKEN, 0, 16, edge - 8), EFAULT);
	/* wild len: the file's 8192 bytes do not fit in 16 bytes of room → EFAULT, not a crash */
	ERR(dm_read_invis(sid, he, hl, DM_NO_TOKEN, 0, WILD, edge - 16), EFAULT);
	/* wild len, 8 bytes left in the file, 8 bytes of room: reads the 8 */
	EQ(dm_read_invis(sid, he, hl, DM_NO_TOKEN, sizeof data - 8, WILD, edge - 8), 8);
	ERR(dm_write_invis(sid, he, hl, DM_NO_TOKEN, 0, 0, 16, BAD), EFAULT);
	ERR(dm_write_invis(sid, he, hl, DM_NO_TOKEN, 0, 0, 16, edge - 8), EFAULT);
	ERR(dm_write_invis(sid, he, hl, DM_NO_TOKEN, 0, 0, WILD, edge - 8), EFAULT);
	struct stat sb;
	OK(stat(f, &sb));
	EQ(sb.st_size, sizeof data);        /* nothing was written by the refused calls */
	ERR(dm_probe_hole(sid, he, hl, DM_NO_TOKEN, 0, 0, BAD, &rsz), EFAULT);
	ERR(dm_probe_hole(sid, he, hl, DM_NO_TOKEN, 0, 0, &roff, BAD), EFAULT);
	ERR(dm_probe_hole(sid, he, hl, DM_NO_TOKEN, 0, 0, &roff, ro), EFAULT);
	ERR(dm_get_allocinfo(sid, he, hl, DM_NO_TOKEN, BAD, 2, ext, &n), EFAULT);
	ERR(dm_get_allocinfo(sid, he, hl, DM_NO_TOKEN, ro, 2, ext, &n), EFAULT);
	ERR(dm_get_allocinfo(sid, he, hl, DM_NO_TOKEN, &off, 2, BAD, &n), EFAULT);
	ERR(dm_get_allocinfo(sid, he, hl, DM_NO_TOKEN, &off, 2, ext, BAD), EFAULT);
	ERR(dm_get_allocinfo(sid, he, hl, DM_NO_TOKEN, &off, 2, ext, ro), EFAULT);

	/* namespace by handle: the names */
	ERR(dm_create_by_handle(sid, dhe, dhl, DM_NO_TOKEN, he, hl, BAD), EFAULT);
	ERR(dm_create_by_handle(sid, dhe, dhl, DM_NO_TOKEN, he, hl, unterminated), EFAULT);
	ERR(dm_mkdir_by_handle(sid, dhe, dhl, DM_NO_TOKEN, he, hl, NULL), EFAULT);
	ERR(dm_symlink_by_handle(sid, dhe, dhl, DM_NO_TOKEN, he, hl, "c", BAD), EFAULT);
	ERR(dm_symlink_by_handle(sid, dhe, dhl, DM_NO_TOKEN, he, hl, BAD, "p"), EFAULT);
	ERR(dm_create_by_handle(sid, dhe, dhl, DM_NO_TOKEN, he, hl, "c"), ENOSYS);   /* valid arguments: honest ENOSYS */

	/* the read-only page was never written, the program is alive, the session still works */
	for (long i = 0; i < ps; i++) if (((char *)ro)[i]) FAILX("read-only page changed at %ld", i);
	OK(dm_respond_event(sid, tok, DM_RESP_CONTINUE, 0, 0, NULL));
	OK(dm_destroy_session(sid));
	DONE_OK();
}
