// dmapifs' build of the fuse-native binding, moved onto the libfuse 3 low-level API.
//
// Why low-level and why on the Node thread: fuse-native ran libfuse 2's high-level loop on worker
// threads and woke the JS thread for every request (two extra thread hops per operation, ~4x a C
// passthrough). Here the /dev/fuse descriptor is non-blocking and watched by libuv (uv_poll) on the
// JS thread itself: a request is read, decoded by libfuse, and handed to JavaScript synchronously,
// with no thread hop. JavaScript answers at once or later (the low-level API lets a reply wait, so
// an operation may block for minutes on a DMAPI event without holding any thread).
//
// This file is only the raw protocol (go-fuse's split): requests in, replies out, by inode number.
// The path-based fuse-native API is built on top of it in src/fuse/fuse.ts.
#define FUSE_USE_VERSION 312
#define _GNU_SOURCE
#include <fuse_lowlevel.h>
#include <node_api.h>
#include <uv.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHECK(call)                                                                                \
  do {                                                                                             \
    if ((call) != napi_ok) {                                                                       \
      napi_throw_error(env, NULL, "fuse binding: " #call " failed");                               \
      return NULL;                                                                                 \
    }                                                                                              \
  } while (0)

#define ARGS(n)                                                                                    \
  size_t argc = n;                                                                                 \
  napi_value argv[n];                                                                              \
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));

// The receive buffer: libfuse reads at most FUSE_MAX_MAX_PAGES pages plus a header page
// (1 MiB + 4 KiB in 3.14). We allocate more than that and check every read against it.
#define RECV_BUF_SIZE (2 * 1024 * 1024)

// Stat arrays are BigUint64Array(16) in this order (same as src/native/sys.ts).
enum { F_DEV, F_INO, F_MODE, F_NLINK, F_UID, F_GID, F_RDEV, F_SIZE, F_BLKSIZE, F_BLOCKS,
       F_ATIME, F_ATIME_NS, F_MTIME, F_MTIME_NS, F_CTIME, F_CTIME_NS, F_FIELDS };

// The JavaScript side of each low-level operation, looked up once by name.
enum op_id {
  OP_INIT, OP_LOOKUP, OP_FORGET, OP_GETATTR, OP_SETATTR, OP_READLINK, OP_MKNOD, OP_MKDIR,
  OP_UNLINK, OP_RMDIR, OP_SYMLINK, OP_RENAME, OP_LINK, OP_OPEN, OP_READ, OP_WRITE, OP_FLUSH,
  OP_RELEASE, OP_FSYNC, OP_OPENDIR, OP_READDIR, OP_RELEASEDIR, OP_FSYNCDIR, OP_STATFS,
  OP_SETXATTR, OP_GETXATTR, OP_LISTXATTR, OP_REMOVEXATTR, OP_ACCESS, OP_CREATE, OP_GETLK,
  OP_SETLK, OP_FLOCK, OP_FALLOCATE, OP_LSEEK, OP_IOCTL, OP_CLOSED, OP_COUNT
};
static const char *op_names[OP_COUNT] = {
  "init", "lookup", "forget", "getattr", "setattr", "readlink", "mknod", "mkdir",
  "unlink", "rmdir", "symlink", "rename", "link", "open", "read", "write", "flush",
  "release", "fsync", "opendir", "readdir", "releasedir", "fsyncdir", "statfs",
  "setxattr", "getxattr", "listxattr", "removexattr", "access", "create", "getlk",
  "setlk", "flock", "fallocate", "lseek", "ioctl", "closed"
};

// Kernel cache invalidations are sent from their own thread: a notification about an inode
// that a request being served holds locked would otherwise block the JS thread, which is the
// only one that can answer that request.
enum notify_kind { NOTIFY_INVAL_INODE, NOTIFY_INVAL_ENTRY, NOTIFY_DELETE };
typedef struct notify {
  struct notify *next;
  enum notify_kind kind;
  uint64_t ino, child;
  int64_t off, len;
  char *name;
} notify_t;

typedef struct session {
  napi_env env;
  struct fuse_session *se;
  uv_poll_t poll;
  int polling;
  int closed;        // kernel connection gone or session destroyed
  int closing_sent;  // OP_CLOSED delivered
  napi_ref ops[OP_COUNT];
  napi_ref recv_ref;  // Buffer that backs libfuse's receive buffer
  char *recv_mem;
  napi_async_context async_ctx;
  // negotiated at init
  unsigned want_set, want_clear, max_write, max_read, max_readahead, max_background, congestion;
  char *mountpoint;
  // notification thread
  pthread_t notify_thread;
  pthread_mutex_t notify_mu;
  pthread_cond_t notify_cv;
  notify_t *notify_head, *notify_tail;
  int notify_stop;
  int notify_started;
  // Notifications queued and sent so far; notifyFlush waits for sent to reach queued.
  uint64_t notify_pushed, notify_done;
  pthread_cond_t notify_done_cv;
  uint64_t in_flight;
  // INIT as the kernel sent it (see io_read), and kernel passthrough: asked for / negotiated.
  uint64_t init_unique;
  uint32_t init_flags, init_flags2;
  int want_passthrough, passthrough;
} session_t;

// ---------------------------------------------------------------------------------------------
// Calling into JavaScript

static napi_value num(napi_env env, double v) {
  napi_value r;
  napi_create_double(env, v, &r);
  return r;
}
// Names and link targets cross to JavaScript as latin1 strings, one char per byte: a name that
// is not valid UTF-8 survives the trip (the passthrough turns it back into the same bytes).
static napi_value str(napi_env env, const char *s) {
  napi_value r;
  napi_create_string_latin1(env, s, NAPI_AUTO_LENGTH, &r);
  return r;
}
static napi_value req_value(napi_env env, fuse_req_t req) {
  return num(env, (double)(uintptr_t)req);
}

static void call_js(session_t *s, enum op_id op, size_t argc, napi_value *argv) {
  napi_env env = s->env;
  napi_value fn, global, result;
  if (!s->ops[op]) return;
  napi_get_reference_value(env, s->ops[op], &fn);
  napi_get_global(env, &global);
  napi_status st = napi_call_function(env, global, fn, argc, argv, &result);
  if (st == napi_pending_exception) {
    napi_value exc;
    napi_get_and_clear_last_exception(env, &exc);
    // The TS layer catches handler errors itself; reaching here is a bug in that layer.
    napi_fatal_exception(env, exc);
  }
}

static session_t *S(fuse_req_t req) { return (session_t *)fuse_req_userdata(req); }

// A request without a JS handler (or with none installed) is answered ENOSYS.
static int has(session_t *s, enum op_id op) { return s->ops[op] != NULL; }

#define ENV napi_env env = s->env
#define FH(fi) num(env, (fi) ? (double)(fi)->fh : -1)

// Requests that hand JavaScript the same arguments (a file and a directory form, or the same
// shape) share one of these; op names the handler.

// (req, ino): readlink, statfs
static void call_ino(fuse_req_t req, enum op_id op, fuse_ino_t ino) {
  session_t *s = S(req); ENV;
  napi_value argv[2] = {req_value(env, req), num(env, ino)};
  call_js(s, op, 2, argv);
}

// (req, ino, name): lookup, unlink, rmdir (ino is the parent), removexattr
static void call_ino_name(fuse_req_t req, enum op_id op, fuse_ino_t ino, const char *name) {
  session_t *s = S(req); ENV;
  napi_value argv[3] = {req_value(env, req), num(env, ino), str(env, name)};
  call_js(s, op, 3, argv);
}

// (req, ino, flags): open, opendir
static void call_open(fuse_req_t req, enum op_id op, fuse_ino_t ino, struct fuse_file_info *fi) {
  session_t *s = S(req); ENV;
  napi_value argv[3] = {req_value(env, req), num(env, ino), num(env, fi->flags)};
  call_js(s, op, 3, argv);
}

// (req, ino, fh, size, off): read, readdir
static void call_read(fuse_req_t req, enum op_id op, fuse_ino_t ino, size_t size, off_t off,
                      struct fuse_file_info *fi) {
  session_t *s = S(req); ENV;
  napi_value argv[5] = {req_value(env, req), num(env, ino), FH(fi), num(env, size),
                        num(env, (double)off)};
  call_js(s, op, 5, argv);
}

// (req, ino, fh, datasync): fsync, fsyncdir
static void call_fsync(fuse_req_t req, enum op_id op, fuse_ino_t ino, int datasync,
                       struct fuse_file_info *fi) {
  session_t *s = S(req); ENV;
  napi_value argv[4] = {req_value(env, req), num(env, ino), FH(fi), num(env, datasync)};
  call_js(s, op, 4, argv);
}

// (req, ino, fh, owner, type, start, len, pid): getlk; setlk adds sleep
static void call_lock(fuse_req_t req, enum op_id op, fuse_ino_t ino, struct fuse_file_info *fi,
                      struct flock *lock, int sleep) {
  session_t *s = S(req); ENV;
  napi_value argv[9] = {req_value(env, req), num(env, ino), FH(fi),
                        num(env, (double)fi->lock_owner), num(env, lock->l_type),
                        num(env, (double)lock->l_start), num(env, (double)lock->l_len),
                        num(env, lock->l_pid), num(env, sleep)};
  call_js(s, op, op == OP_SETLK ? 9 : 8, argv);
}

static void ll_init(void *userdata, struct fuse_conn_info *conn) {
  session_t *s = userdata;
  conn->want &= ~(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE |
                  FUSE_CAP_WRITEBACK_CACHE | FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO);
  conn->want &= ~s->want_clear;
  conn->want |= (s->want_set & conn->capable);
  if (!has(s, OP_GETLK) || !has(s, OP_SETLK)) conn->want &= ~FUSE_CAP_POSIX_LOCKS;
  if (!has(s, OP_FLOCK)) conn->want &= ~FUSE_CAP_FLOCK_LOCKS;
  if (s->max_write) conn->max_write = s->max_write;
  // Must equal the max_read mount option, or libfuse refuses the connection.
  if (s->max_read) conn->max_read = s->max_read;
  if (s->max_readahead) conn->max_readahead = s->max_readahead;
  if (s->max_background) conn->max_background = s->max_background;
  if (s->congestion) conn->congestion_threshold = s->congestion;
  ENV;
  napi_value argv[4] = {num(env, conn->proto_major), num(env, conn->proto_minor),
                        num(env, conn->want), num(env, conn->max_write)};
  call_js(s, OP_INIT, 4, argv);
}

static void ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name) {
  call_ino_name(req, OP_LOOKUP, parent, name);
}

static void ll_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  session_t *s = S(req); ENV;
  fuse_reply_none(req);
  napi_value argv[2] = {num(env, ino), num(env, (double)nlookup)};
  call_js(s, OP_FORGET, 2, argv);
}

static void ll_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets) {
  session_t *s = S(req); ENV;
  fuse_reply_none(req);
  for (size_t i = 0; i < count; i++) {
    napi_value argv[2] = {num(env, forgets[i].ino), num(env, (double)forgets[i].nlookup)};
    call_js(s, OP_FORGET, 2, argv);
  }
}

static void ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  session_t *s = S(req); ENV;
  napi_value argv[3] = {req_value(env, req), num(env, ino), FH(fi)};
  call_js(s, OP_GETATTR, 3, argv);
}

static void ll_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *a, int to_set,
                       struct fuse_file_info *fi) {
  session_t *s = S(req); ENV;
  napi_value argv[13] = {req_value(env, req), num(env, ino), num(env, to_set), FH(fi),
                         num(env, a->st_mode), num(env, a->st_uid), num(env, a->st_gid),
                         num(env, (double)a->st_size),
                         num(env, (double)a->st_atim.tv_sec), num(env, a->st_atim.tv_nsec),
                         num(env, (double)a->st_mtim.tv_sec), num(env, a->st_mtim.tv_nsec),
                         num(env, (double)a->st_ctim.tv_sec)};
  call_js(s, OP_SETATTR, 13, argv);
}

static void ll_readlink(fuse_req_t req, fuse_ino_t ino) { call_ino(req, OP_READLINK, ino); }

static void ll_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                     dev_t rdev) {
  session_t *s = S(req); ENV;
  napi_value argv[5] = {req_value(env, req), num(env, parent), str(env, name), num(env, mode),
                        num(env, (double)rdev)};
  call_js(s, OP_MKNOD, 5, argv);
}

static void ll_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode) {
  session_t *s = S(req); ENV;
  napi_value argv[4] = {req_value(env, req), num(env, parent), str(env, name), num(env, mode)};
  call_js(s, OP_MKDIR, 4, argv);
}

static void ll_unlink(fuse_req_t req, fuse_ino_t parent, const char *name) {
  call_ino_name(req, OP_UNLINK, parent, name);
}

static void ll_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name) {
  call_ino_name(req, OP_RMDIR, parent, name);
}

static void ll_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name) {
  session_t *s = S(req); ENV;
  napi_value argv[4] = {req_value(env, req), str(env, link), num(env, parent), str(env, name)};
  call_js(s, OP_SYMLINK, 4, argv);
}

static void ll_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                      const char *newname, unsigned int flags) {
  session_t *s = S(req); ENV;
  napi_value argv[6] = {req_value(env, req), num(env, parent), str(env, name),
                        num(env, newparent), str(env, newname), num(env, flags)};
  call_js(s, OP_RENAME, 6, argv);
}

static void ll_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname) {
  session_t *s = S(req); ENV;
  napi_value argv[4] = {req_value(env, req), num(env, ino), num(env, newparent),
                        str(env, newname)};
  call_js(s, OP_LINK, 4, argv);
}

static void ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  call_open(req, OP_OPEN, ino, fi);
}

static void ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi) {
  call_read(req, OP_READ, ino, size, off, fi);
}

static void ll_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi) {
  session_t *s = S(req); ENV;
  // The data stays in the receive buffer: JS gets its offset there (zero copy).
  napi_value argv[6] = {req_value(env, req), num(env, ino), FH(fi),
                        num(env, (double)(buf - s->recv_mem)), num(env, size),
                        num(env, (double)off)};
  call_js(s, OP_WRITE, 6, argv);
}

static void ll_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  session_t *s = S(req); ENV;
  napi_value argv[4] = {req_value(env, req), num(env, ino), FH(fi),
                        num(env, (double)fi->lock_owner)};
  call_js(s, OP_FLUSH, 4, argv);
}

static void ll_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  session_t *s = S(req); ENV;
  napi_value argv[4] = {req_value(env, req), num(env, ino), FH(fi), num(env, fi->flags)};
  call_js(s, OP_RELEASE, 4, argv);
}

static void ll_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi) {
  call_fsync(req, OP_FSYNC, ino, datasync, fi);
}

static void ll_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  call_open(req, OP_OPENDIR, ino, fi);
}

static void ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi) {
  call_read(req, OP_READDIR, ino, size, off, fi);
}

static void ll_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  session_t *s = S(req); ENV;
  napi_value argv[3] = {req_value(env, req), num(env, ino), FH(fi)};
  call_js(s, OP_RELEASEDIR, 3, argv);
}

static void ll_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi) {
  call_fsync(req, OP_FSYNCDIR, ino, datasync, fi);
}

static void ll_statfs(fuse_req_t req, fuse_ino_t ino) { call_ino(req, OP_STATFS, ino); }

static void ll_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
                        size_t size, int flags) {
  session_t *s = S(req); ENV;
  napi_value buf;
  void *data;
  napi_create_buffer_copy(env, size, value, &data, &buf);
  napi_value argv[5] = {req_value(env, req), num(env, ino), str(env, name), buf,
                        num(env, flags)};
  call_js(s, OP_SETXATTR, 5, argv);
}

static void ll_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size) {
  session_t *s = S(req); ENV;
  napi_value argv[4] = {req_value(env, req), num(env, ino), str(env, name), num(env, size)};
  call_js(s, OP_GETXATTR, 4, argv);
}

static void ll_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  session_t *s = S(req); ENV;
  napi_value argv[3] = {req_value(env, req), num(env, ino), num(env, size)};
  call_js(s, OP_LISTXATTR, 3, argv);
}

static void ll_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name) {
  call_ino_name(req, OP_REMOVEXATTR, ino, name);
}

static void ll_access(fuse_req_t req, fuse_ino_t ino, int mask) {
  session_t *s = S(req); ENV;
  napi_value argv[3] = {req_value(env, req), num(env, ino), num(env, mask)};
  call_js(s, OP_ACCESS, 3, argv);
}

static void ll_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                      struct fuse_file_info *fi) {
  session_t *s = S(req); ENV;
  napi_value argv[5] = {req_value(env, req), num(env, parent), str(env, name), num(env, mode),
                        num(env, fi->flags)};
  call_js(s, OP_CREATE, 5, argv);
}

static void ll_getlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
                     struct flock *lock) {
  call_lock(req, OP_GETLK, ino, fi, lock, 0);
}

static void ll_setlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
                     struct flock *lock, int sleep) {
  call_lock(req, OP_SETLK, ino, fi, lock, sleep);
}

static void ll_flock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, int op) {
  session_t *s = S(req); ENV;
  napi_value argv[5] = {req_value(env, req), num(env, ino), FH(fi),
                        num(env, (double)fi->lock_owner), num(env, op)};
  call_js(s, OP_FLOCK, 5, argv);
}

static void ll_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
                         struct fuse_file_info *fi) {
  session_t *s = S(req); ENV;
  napi_value argv[6] = {req_value(env, req), num(env, ino), FH(fi), num(env, mode),
                        num(env, (double)offset), num(env, (double)length)};
  call_js(s, OP_FALLOCATE, 6, argv);
}

static void ll_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
                     struct fuse_file_info *fi) {
  session_t *s = S(req); ENV;
  napi_value argv[5] = {req_value(env, req), num(env, ino), FH(fi), num(env, (double)off),
                        num(env, whence)};
  call_js(s, OP_LSEEK, 5, argv);
}

// (req, ino, fh, cmd, flags, in: Buffer, outSize): the kernel has already copied the argument in
// (in_bufsz bytes) and takes out_bufsz bytes back; the handler decides which commands it serves.
static void ll_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg, struct fuse_file_info *fi,
                     unsigned flags, const void *in_buf, size_t in_bufsz, size_t out_bufsz) {
  session_t *s = S(req); ENV;
  (void)arg;
  napi_value buf;
  void *data;
  napi_create_buffer_copy(env, in_bufsz, in_bufsz ? in_buf : "", &data, &buf);
  napi_value argv[7] = {req_value(env, req), num(env, ino), FH(fi), num(env, cmd),
                        num(env, flags), buf, num(env, (double)out_bufsz)};
  call_js(s, OP_IOCTL, 7, argv);
}

// ---------------------------------------------------------------------------------------------
// The receive loop on the JS thread

static void deliver_closed(session_t *s) {
  if (s->closing_sent) return;
  s->closing_sent = 1;
  napi_env env = s->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value resource, result, fn;
  napi_get_global(env, &resource);
  if (s->ops[OP_CLOSED]) {
    napi_get_reference_value(env, s->ops[OP_CLOSED], &fn);
    napi_make_callback(env, s->async_ctx, resource, fn, 0, NULL, &result);
  }
  napi_close_handle_scope(env, scope);
}

static void stop_polling(session_t *s) {
  if (s->polling) {
    uv_poll_stop(&s->poll);
    s->polling = 0;
  }
}

static void on_readable(uv_poll_t *handle, int status, int events) {
  session_t *s = handle->data;
  (void)events;
  if (s->closed) return;
  napi_env env = s->env;
  napi_handle_scope hscope;
  napi_callback_scope cscope;
  napi_value resource;
  napi_open_handle_scope(env, &hscope);
  napi_get_global(env, &resource);
  // One callback scope per batch: promise jobs and nextTicks queued by the handlers run when it
  // closes, as they would after any libuv callback.
  napi_open_callback_scope(env, resource, s->async_ctx, &cscope);
  struct fuse_buf fbuf = {.mem = s->recv_mem, .size = RECV_BUF_SIZE};
  int gone = status < 0;
  // Bound the batch so that timers and sockets of the daemon get their turn under load.
  for (int n = 0; !gone && n < 64; n++) {
    fbuf.mem = s->recv_mem;
    fbuf.size = RECV_BUF_SIZE;
    fbuf.flags = 0;
    int res = fuse_session_receive_buf(s->se, &fbuf);
    if (res == -EAGAIN || res == -EINTR) break;
    if (res <= 0 || fuse_session_exited(s->se)) { gone = 1; break; }
    if (fbuf.mem != s->recv_mem || fbuf.size > RECV_BUF_SIZE) {
      fprintf(stderr, "fuse binding: receive buffer mismatch\n");
      gone = 1;
      break;
    }
    napi_handle_scope rscope;
    napi_open_handle_scope(env, &rscope);
    fuse_session_process_buf(s->se, &fbuf);
    napi_close_handle_scope(env, rscope);
  }
  napi_close_callback_scope(env, cscope);
  if (gone) {
    s->closed = 1;
    stop_polling(s);
    deliver_closed(s);
  }
  napi_close_handle_scope(env, hscope);
}

// ---------------------------------------------------------------------------------------------
// The INIT reply and the open replies, amended (FUSE_DIRECT_IO_ALLOW_MMAP, kernel passthrough)
//
// libfuse 3.14 (Debian 12) predates two kernel features we need, so the session's I/O goes through
// the two functions below (fuse_session_custom_io): read notes the INIT request and what the
// kernel offers in it; writev amends our replies before they reach /dev/fuse. Everything else
// passes through unchanged.
//
// - FUSE_DIRECT_IO_ALLOW_MMAP (Linux 6.6+, flags2 bit 36): files with DMAPI data events are opened
//   with FOPEN_DIRECT_IO so that every read reaches the daemon (and raises its event); the kernel
//   refuses shared mmap of such files unless the server negotiated this flag.
// - FUSE_PASSTHROUGH (Linux 6.9+, flags2 bit 37, with max_stack_depth in fuse_init_out): an open
//   answered with FOPEN_PASSTHROUGH and a backing id (registered with FUSE_DEV_IOC_BACKING_OPEN)
//   has its reads, writes and mmaps done by the kernel on the backing file, never reaching the
//   daemon. The kernel refuses it together with the writeback cache, which we never ask for.
#define DMFS_FUSE_INIT 26
#define DMFS_INIT_EXT (1u << 30)
#define DMFS_WRITEBACK_CACHE (1u << 16)
#define DMFS_ALLOW_MMAP_HI (1u << (36 - 32))
#define DMFS_PASSTHROUGH_HI (1u << (37 - 32))
#define DMFS_FOPEN_DIRECT_IO (1u << 0)
#define DMFS_FOPEN_KEEP_CACHE (1u << 1)
#define DMFS_FOPEN_PASSTHROUGH (1u << 7)
// The backing file sits on a filesystem that is not stacked (depth 0): one level above it.
#define DMFS_MAX_STACK_DEPTH 1
struct dmfs_backing_map { int32_t fd; uint32_t flags; uint64_t padding; };
#define DMFS_DEV_IOC_BACKING_OPEN _IOW(229, 1, struct dmfs_backing_map)
#define DMFS_DEV_IOC_BACKING_CLOSE _IOW(229, 2, uint32_t)

// The backing id of the open or create reply being sent right now. fuse_reply_open/create write
// their reply synchronously on the calling (JavaScript) thread; the notification thread, which
// also writes to /dev/fuse, has its own copy of this variable and never patches anything.
static __thread int32_t reply_backing_id = 0;

static ssize_t io_read(int fd, void *buf, size_t len, void *userdata) {
  session_t *s = userdata;
  ssize_t n = read(fd, buf, len);
  if (n >= 40 + 20) {
    const unsigned char *b = buf;
    uint32_t opcode;
    memcpy(&opcode, b + 4, 4);
    if (opcode == DMFS_FUSE_INIT) {
      memcpy(&s->init_unique, b + 8, 8);
      memcpy(&s->init_flags, b + 40 + 12, 4);
      memcpy(&s->init_flags2, b + 40 + 16, 4);
      if (!(s->init_flags & DMFS_INIT_EXT)) s->init_flags2 = 0;
    }
  }
  return n;
}

static void amend_init_reply(session_t *s, struct iovec *iov) {
  char *o = iov[1].iov_base;  // struct fuse_init_out (libfuse's own copy, writable)
  uint32_t flags, flags2, add = 0;
  memcpy(&flags, o + 12, 4);
  memcpy(&flags2, o + 32, 4);
  if (s->init_flags2 & DMFS_ALLOW_MMAP_HI) add |= DMFS_ALLOW_MMAP_HI;
  if (s->want_passthrough && (s->init_flags2 & DMFS_PASSTHROUGH_HI) && !(flags & DMFS_WRITEBACK_CACHE) &&
      iov[1].iov_len >= 40) {
    uint32_t depth = DMFS_MAX_STACK_DEPTH;
    memcpy(o + 36, &depth, 4);
    add |= DMFS_PASSTHROUGH_HI;
    s->passthrough = 1;
  }
  if (!add) return;
  flags |= DMFS_INIT_EXT;
  flags2 |= add;
  memcpy(o + 12, &flags, 4);
  memcpy(o + 32, &flags2, 4);
}

static ssize_t io_writev(int fd, struct iovec *iov, int count, void *userdata) {
  session_t *s = userdata;
  if (count >= 2 && iov[0].iov_len >= 16) {
    uint64_t unique;
    int32_t error;
    memcpy(&unique, (char *)iov[0].iov_base + 8, 8);
    memcpy(&error, (char *)iov[0].iov_base + 4, 4);
    if (s->init_unique && unique == s->init_unique) {
      s->init_unique = 0;
      if (error == 0 && iov[1].iov_len >= 36) amend_init_reply(s, iov);
    } else if (reply_backing_id > 0 && error == 0 && unique != 0 && iov[1].iov_len >= 16) {
      // struct fuse_open_out {fh, open_flags, backing_id} ends the reply (alone for OPEN, after
      // struct fuse_entry_out for CREATE). A passthrough open is neither direct nor cached I/O.
      char *oo = (char *)iov[1].iov_base + iov[1].iov_len - 16;
      uint32_t of;
      memcpy(&of, oo + 8, 4);
      of = (of & ~(DMFS_FOPEN_DIRECT_IO | DMFS_FOPEN_KEEP_CACHE)) | DMFS_FOPEN_PASSTHROUGH;
      memcpy(oo + 8, &of, 4);
      memcpy(oo + 12, &reply_backing_id, 4);
      reply_backing_id = 0;
    }
  }
  return writev(fd, iov, count);
}

static const struct fuse_custom_io dmfs_io = { .writev = io_writev, .read = io_read, .splice_receive = NULL, .splice_send = NULL };

// ---------------------------------------------------------------------------------------------
// Notification thread

static void *notify_main(void *arg) {
  session_t *s = arg;
  pthread_mutex_lock(&s->notify_mu);
  for (;;) {
    while (!s->notify_head && !s->notify_stop) pthread_cond_wait(&s->notify_cv, &s->notify_mu);
    if (!s->notify_head && s->notify_stop) break;
    notify_t *n = s->notify_head;
    s->notify_head = n->next;
    if (!s->notify_head) s->notify_tail = NULL;
    pthread_mutex_unlock(&s->notify_mu);
    if (n->kind == NOTIFY_INVAL_INODE)
      fuse_lowlevel_notify_inval_inode(s->se, n->ino, n->off, n->len);
    else if (n->kind == NOTIFY_INVAL_ENTRY)
      fuse_lowlevel_notify_inval_entry(s->se, n->ino, n->name, strlen(n->name));
    else
      fuse_lowlevel_notify_delete(s->se, n->ino, n->child, n->name, strlen(n->name));
    free(n->name);
    free(n);
    pthread_mutex_lock(&s->notify_mu);
    s->notify_done++;
    pthread_cond_broadcast(&s->notify_done_cv);
  }
  pthread_mutex_unlock(&s->notify_mu);
  return NULL;
}

// Queues a copy of *req for the notification thread (started on first use), which frees it.
static void notify_push(session_t *s, const notify_t *req) {
  notify_t *n = calloc(1, sizeof(*n));
  *n = *req;
  pthread_mutex_lock(&s->notify_mu);
  if (!s->notify_started) {
    pthread_create(&s->notify_thread, NULL, notify_main, s);
    s->notify_started = 1;
  }
  n->next = NULL;
  if (s->notify_tail) s->notify_tail->next = n; else s->notify_head = n;
  s->notify_tail = n;
  s->notify_pushed++;
  pthread_cond_signal(&s->notify_cv);
  pthread_mutex_unlock(&s->notify_mu);
}

static void notify_shutdown(session_t *s) {
  pthread_mutex_lock(&s->notify_mu);
  s->notify_stop = 1;
  pthread_cond_signal(&s->notify_cv);
  pthread_cond_broadcast(&s->notify_done_cv);
  int started = s->notify_started;
  pthread_mutex_unlock(&s->notify_mu);
  if (started) pthread_join(s->notify_thread, NULL);
}

// ---------------------------------------------------------------------------------------------
// Exported functions

static const struct fuse_lowlevel_ops ll_ops = {
  .init = ll_init, .lookup = ll_lookup, .forget = ll_forget, .forget_multi = ll_forget_multi,
  .getattr = ll_getattr, .setattr = ll_setattr, .readlink = ll_readlink, .mknod = ll_mknod,
  .mkdir = ll_mkdir, .unlink = ll_unlink, .rmdir = ll_rmdir, .symlink = ll_symlink,
  .rename = ll_rename, .link = ll_link, .open = ll_open, .read = ll_read, .write = ll_write,
  .flush = ll_flush, .release = ll_release, .fsync = ll_fsync, .opendir = ll_opendir,
  .readdir = ll_readdir, .releasedir = ll_releasedir, .fsyncdir = ll_fsyncdir,
  .statfs = ll_statfs, .setxattr = ll_setxattr, .getxattr = ll_getxattr,
  .listxattr = ll_listxattr, .removexattr = ll_removexattr, .access = ll_access,
  .create = ll_create, .getlk = ll_getlk, .setlk = ll_setlk, .flock = ll_flock,
  .fallocate = ll_fallocate, .lseek = ll_lseek, .ioctl = ll_ioctl,
};

static uint32_t get_u32(napi_env env, napi_value obj, const char *key, uint32_t dflt) {
  napi_value v;
  bool has_it = false;
  napi_has_named_property(env, obj, key, &has_it);
  if (!has_it) return dflt;
  napi_get_named_property(env, obj, key, &v);
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t != napi_number) return dflt;
  uint32_t r;
  napi_get_value_uint32(env, v, &r);
  return r;
}

typedef napi_status (*get_string_fn)(napi_env, napi_value, char *, size_t, size_t *);

// A malloc'ed, NUL-terminated copy of the string v read with get; NULL if v is not a string.
static char *dup_string(napi_env env, napi_value v, get_string_fn get) {
  size_t len;
  if (get(env, v, NULL, 0, &len) != napi_ok) return NULL;
  char *s = malloc(len + 1);
  get(env, v, s, len + 1, &len);
  return s;
}

// Mount points, options and umount targets are UTF-8.
static char *get_string(napi_env env, napi_value v) {
  return dup_string(env, v, napi_get_value_string_utf8);
}

static void session_finalize(napi_env env, void *data, void *hint) {
  (void)env; (void)hint;
  session_t *s = data;
  // Only reached once JS dropped the handle; destroy() has normally run already.
  if (s->se) {
    notify_shutdown(s);
    fuse_session_destroy(s->se);
    s->se = NULL;
  }
  free(s->mountpoint);
  free(s);
}

// Names and link targets are latin1 (one char per byte, see str()).
static char *get_bytes(napi_env env, napi_value v) {
  return dup_string(env, v, napi_get_value_string_latin1);
}

static session_t *get_session(napi_env env, napi_value v) {
  session_t *s = NULL;
  napi_get_value_external(env, v, (void **)&s);
  return s;
}

// mount(mountpoint, options: string[], conf: {wantSet, wantClear, maxWrite, maxReadahead,
//       maxBackground, congestionThreshold}, ops: {name: fn}) -> { handle, recv: Buffer }
static napi_value js_mount(napi_env env, napi_callback_info info) {
  ARGS(4);
  if (argc < 4) {
    napi_throw_type_error(env, NULL, "mount(mountpoint, options, conf, ops)");
    return NULL;
  }
  session_t *s = calloc(1, sizeof(*s));
  s->env = env;
  s->mountpoint = get_string(env, argv[0]);
  pthread_mutex_init(&s->notify_mu, NULL);
  pthread_cond_init(&s->notify_cv, NULL);
  pthread_cond_init(&s->notify_done_cv, NULL);
  s->want_set = get_u32(env, argv[2], "wantSet", 0);
  s->want_clear = get_u32(env, argv[2], "wantClear", 0);
  s->max_write = get_u32(env, argv[2], "maxWrite", 0);
  s->max_read = get_u32(env, argv[2], "maxRead", 0);
  s->max_readahead = get_u32(env, argv[2], "maxReadahead", 0);
  s->max_background = get_u32(env, argv[2], "maxBackground", 0);
  s->congestion = get_u32(env, argv[2], "congestionThreshold", 0);
  s->want_passthrough = get_u32(env, argv[2], "passthrough", 0) != 0;

  for (int i = 0; i < OP_COUNT; i++) {
    napi_value fn;
    napi_valuetype t;
    if (napi_get_named_property(env, argv[3], op_names[i], &fn) != napi_ok) continue;
    napi_typeof(env, fn, &t);
    if (t == napi_function) napi_create_reference(env, fn, 1, &s->ops[i]);
  }

  uint32_t nopts = 0;
  napi_get_array_length(env, argv[1], &nopts);
  char **cargv = calloc(nopts + 2, sizeof(char *));
  cargv[0] = strdup("dmapifs");
  for (uint32_t i = 0; i < nopts; i++) {
    napi_value e;
    napi_get_element(env, argv[1], i, &e);
    cargv[i + 1] = get_string(env, e);
  }
  struct fuse_args args = FUSE_ARGS_INIT((int)nopts + 1, cargv);

  // Operations without a JS handler are left out so that libfuse answers ENOSYS for them
  // and the kernel stops asking (e.g. no lock ops = locks handled locally by the kernel).
  struct fuse_lowlevel_ops ops = ll_ops;
  if (!s->ops[OP_GETLK]) ops.getlk = NULL;
  if (!s->ops[OP_SETLK]) ops.setlk = NULL;
  if (!s->ops[OP_FLOCK]) ops.flock = NULL;
  if (!s->ops[OP_FALLOCATE]) ops.fallocate = NULL;
  if (!s->ops[OP_LSEEK]) ops.lseek = NULL;
  if (!s->ops[OP_IOCTL]) ops.ioctl = NULL;
  if (!s->ops[OP_ACCESS]) ops.access = NULL;
  if (!s->ops[OP_SETXATTR]) ops.setxattr = NULL;
  if (!s->ops[OP_GETXATTR]) ops.getxattr = NULL;
  if (!s->ops[OP_LISTXATTR]) ops.listxattr = NULL;
  if (!s->ops[OP_REMOVEXATTR]) ops.removexattr = NULL;

  s->se = fuse_session_new(&args, &ops, sizeof(ops), s);
  for (int i = 0; i < args.argc; i++) {
    if (args.argv != cargv) break;
  }
  fuse_opt_free_args(&args);
  for (uint32_t i = 0; i < nopts + 1; i++) free(cargv[i]);
  free(cargv);
  if (!s->se) {
    session_finalize(env, s, NULL);
    napi_throw_error(env, "EINVAL", "fuse: invalid mount options");
    return NULL;
  }
  if (fuse_session_mount(s->se, s->mountpoint) != 0) {
    session_finalize(env, s, NULL);
    napi_throw_error(env, "EIO", "fuse: mount failed (see the message above)");
    return NULL;
  }
  int fd = fuse_session_fd(s->se);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  // Our own read/writev on the same descriptor (see "The INIT reply and the open replies" above).
  fuse_session_custom_io(s->se, &dmfs_io, fd);

  napi_value recv, resname;
  CHECK(napi_create_buffer(env, RECV_BUF_SIZE, (void **)&s->recv_mem, &recv));
  CHECK(napi_create_reference(env, recv, 1, &s->recv_ref));
  napi_create_string_utf8(env, "dmapifs:fuse", NAPI_AUTO_LENGTH, &resname);
  napi_value resource;
  napi_create_object(env, &resource);
  CHECK(napi_async_init(env, resource, resname, &s->async_ctx));

  uv_loop_t *loop;
  napi_get_uv_event_loop(env, &loop);
  uv_poll_init(loop, &s->poll, fd);
  s->poll.data = s;
  uv_poll_start(&s->poll, UV_READABLE, on_readable);
  s->polling = 1;

  napi_value handle, out;
  CHECK(napi_create_external(env, s, session_finalize, NULL, &handle));
  napi_create_object(env, &out);
  napi_set_named_property(env, out, "handle", handle);
  napi_set_named_property(env, out, "recv", recv);
  return out;
}

// Keeps the event loop alive while mounted (ref) or not (unref).
static napi_value js_ref(napi_env env, napi_callback_info info) {
  ARGS(2);
  session_t *s = get_session(env, argv[0]);
  bool on;
  napi_get_value_bool(env, argv[1], &on);
  if (s && s->polling) {
    if (on) uv_ref((uv_handle_t *)&s->poll); else uv_unref((uv_handle_t *)&s->poll);
  }
  return NULL;
}

static void poll_closed(uv_handle_t *h) { (void)h; }

// destroy(handle): stop serving, detach the kernel mount if still there, free the session.
static napi_value js_destroy(napi_env env, napi_callback_info info) {
  ARGS(1);
  session_t *s = get_session(env, argv[0]);
  if (!s || !s->se) return NULL;
  s->closed = 1;
  if (s->polling) {
    uv_poll_stop(&s->poll);
    s->polling = 0;
  }
  uv_close((uv_handle_t *)&s->poll, poll_closed);
  notify_shutdown(s);
  fuse_session_unmount(s->se);
  fuse_session_destroy(s->se);
  s->se = NULL;
  for (int i = 0; i < OP_COUNT; i++)
    if (s->ops[i]) { napi_delete_reference(env, s->ops[i]); s->ops[i] = NULL; }
  if (s->recv_ref) { napi_delete_reference(env, s->recv_ref); s->recv_ref = NULL; }
  napi_async_destroy(env, s->async_ctx);
  return NULL;
}

// umount2 on a worker thread: the JS thread must stay free to answer the kernel meanwhile.
typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  char *target;
  int flags;
  int err;
} umount_job_t;

static void umount_exec(napi_env env, void *data) {
  (void)env;
  umount_job_t *j = data;
  j->err = umount2(j->target, j->flags) == 0 ? 0 : errno;
}

static void umount_done(napi_env env, napi_status status, void *data) {
  (void)status;
  umount_job_t *j = data;
  napi_value v;
  if (j->err == 0) {
    napi_get_undefined(env, &v);
    napi_resolve_deferred(env, j->deferred, v);
  } else {
    napi_value msg, code;
    char buf[512];
    snprintf(buf, sizeof buf, "umount %s: %s", j->target, strerror(j->err));
    napi_create_string_utf8(env, buf, NAPI_AUTO_LENGTH, &msg);
    napi_create_string_utf8(env, "", 0, &code);
    napi_create_error(env, NULL, msg, &v);
    napi_set_named_property(env, v, "errno", num(env, j->err));
    napi_reject_deferred(env, j->deferred, v);
  }
  napi_delete_async_work(env, j->work);
  free(j->target);
  free(j);
}

// umount(target, flags) -> Promise<void>, rejected with .errno
static napi_value js_umount(napi_env env, napi_callback_info info) {
  ARGS(2);
  napi_value promise, name;
  umount_job_t *j = calloc(1, sizeof(*j));
  j->target = get_string(env, argv[0]);
  int32_t flags = 0;
  if (argc > 1) napi_get_value_int32(env, argv[1], &flags);
  j->flags = flags;
  CHECK(napi_create_promise(env, &j->deferred, &promise));
  napi_create_string_utf8(env, "dmapifs:umount", NAPI_AUTO_LENGTH, &name);
  CHECK(napi_create_async_work(env, NULL, name, umount_exec, umount_done, j, &j->work));
  CHECK(napi_queue_async_work(env, j->work));
  return promise;
}

// ---------------------------------------------------------------------------------------------
// Replies. A request is named by its pointer passed as a number; the TS layer replies once.

static fuse_req_t get_req(napi_env env, napi_value v) {
  double d;
  napi_get_value_double(env, v, &d);
  return (fuse_req_t)(uintptr_t)d;
}
static double get_num(napi_env env, napi_value v) {
  double d = 0;
  napi_get_value_double(env, v, &d);
  return d;
}
static int64_t get_i64(napi_env env, napi_value v) {
  int64_t d = 0;
  napi_get_value_int64(env, v, &d);
  return d;
}

// Whether v is a TypedArray of the given type with at least min elements; *data gets them.
static bool is_typed_array(napi_env env, napi_value v, napi_typedarray_type type, size_t min,
                           void **data) {
  napi_typedarray_type t;
  size_t length, off;
  napi_value ab;
  return napi_get_typedarray_info(env, v, &t, &length, data, &ab, &off) == napi_ok && t == type &&
         length >= min;
}

// The same check for an argument: false after throwing a TypeError with msg.
static bool arg_typed_array(napi_env env, napi_value v, napi_typedarray_type type, size_t min,
                            const char *msg, void **data) {
  if (is_typed_array(env, v, type, min, data)) return true;
  napi_throw_type_error(env, NULL, msg);
  return false;
}

static int fill_stat(napi_env env, napi_value arr, struct stat *st) {
  void *data;
  if (!arg_typed_array(env, arr, napi_biguint64_array, F_FIELDS,
                       "stat must be a BigUint64Array(16)", &data))
    return -1;
  uint64_t *v = data;
  memset(st, 0, sizeof(*st));
  st->st_dev = v[F_DEV];
  st->st_ino = v[F_INO];
  st->st_mode = (mode_t)v[F_MODE];
  st->st_nlink = (nlink_t)v[F_NLINK];
  st->st_uid = (uid_t)v[F_UID];
  st->st_gid = (gid_t)v[F_GID];
  st->st_rdev = v[F_RDEV];
  st->st_size = (off_t)v[F_SIZE];
  st->st_blksize = (blksize_t)v[F_BLKSIZE];
  st->st_blocks = (blkcnt_t)v[F_BLOCKS];
  st->st_atim.tv_sec = (time_t)(int64_t)v[F_ATIME];
  st->st_atim.tv_nsec = (long)v[F_ATIME_NS];
  st->st_mtim.tv_sec = (time_t)(int64_t)v[F_MTIME];
  st->st_mtim.tv_nsec = (long)v[F_MTIME_NS];
  st->st_ctim.tv_sec = (time_t)(int64_t)v[F_CTIME];
  st->st_ctim.tv_nsec = (long)v[F_CTIME_NS];
  return 0;
}

static napi_value ret_int(napi_env env, int r) { return num(env, r); }

// replyErr(req, errno)
static napi_value js_reply_err(napi_env env, napi_callback_info info) {
  ARGS(2);
  return ret_int(env, fuse_reply_err(get_req(env, argv[0]), (int)get_num(env, argv[1])));
}

// replyNone(req)
static napi_value js_reply_none(napi_env env, napi_callback_info info) {
  ARGS(1);
  fuse_reply_none(get_req(env, argv[0]));
  return NULL;
}

static int fill_entry(napi_env env, napi_value *a, struct fuse_entry_param *e) {
  memset(e, 0, sizeof(*e));
  e->ino = (fuse_ino_t)get_num(env, a[0]);
  e->generation = (uint64_t)get_num(env, a[1]);
  if (fill_stat(env, a[2], &e->attr) < 0) return -1;
  e->attr_timeout = get_num(env, a[3]);
  e->entry_timeout = get_num(env, a[4]);
  return 0;
}

// replyEntry(req, nodeid, generation, stat, attrTimeout, entryTimeout)
// nodeid 0 = negative entry, cached for entryTimeout.
static napi_value js_reply_entry(napi_env env, napi_callback_info info) {
  ARGS(6);
  struct fuse_entry_param e;
  if (fill_entry(env, argv + 1, &e) < 0) return NULL;
  return ret_int(env, fuse_reply_entry(get_req(env, argv[0]), &e));
}

static void fill_open(napi_env env, napi_value fh, napi_value flags, struct fuse_file_info *fi) {
  memset(fi, 0, sizeof(*fi));
  fi->fh = (uint64_t)get_num(env, fh);
  uint32_t f = (uint32_t)get_num(env, flags);
  fi->direct_io = (f & 1) != 0;
  fi->keep_cache = (f & 2) != 0;
  fi->nonseekable = (f & 4) != 0;
  fi->cache_readdir = (f & 8) != 0;
  fi->noflush = (f & 16) != 0;
}

// The backing id argument of replyOpen/replyCreate (0 or absent: no passthrough).
static int32_t get_backing_id(napi_env env, napi_value v) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  return t == napi_number ? (int32_t)get_num(env, v) : 0;
}

// replyCreate(req, nodeid, generation, stat, attrTimeout, entryTimeout, fh, openFlags, backingId?)
static napi_value js_reply_create(napi_env env, napi_callback_info info) {
  ARGS(9);
  struct fuse_entry_param e;
  struct fuse_file_info fi;
  if (fill_entry(env, argv + 1, &e) < 0) return NULL;
  fill_open(env, argv[6], argv[7], &fi);
  reply_backing_id = get_backing_id(env, argv[8]);
  int r = fuse_reply_create(get_req(env, argv[0]), &e, &fi);
  reply_backing_id = 0;
  return ret_int(env, r);
}

// replyAttr(req, stat, attrTimeout)
static napi_value js_reply_attr(napi_env env, napi_callback_info info) {
  ARGS(3);
  struct stat st;
  if (fill_stat(env, argv[1], &st) < 0) return NULL;
  return ret_int(env, fuse_reply_attr(get_req(env, argv[0]), &st, get_num(env, argv[2])));
}

// replyReadlink(req, target)
static napi_value js_reply_readlink(napi_env env, napi_callback_info info) {
  ARGS(2);
  char *t = get_bytes(env, argv[1]);
  int r = fuse_reply_readlink(get_req(env, argv[0]), t ? t : "");
  free(t);
  return ret_int(env, r);
}

// replyOpen(req, fh, openFlags, backingId?)  openFlags bits: 1 direct_io, 2 keep_cache,
// 4 nonseekable, 8 cache_readdir, 16 noflush; a backing id > 0 makes it a passthrough open.
static napi_value js_reply_open(napi_env env, napi_callback_info info) {
  ARGS(4);
  struct fuse_file_info fi;
  fill_open(env, argv[1], argv[2], &fi);
  reply_backing_id = get_backing_id(env, argv[3]);
  int r = fuse_reply_open(get_req(env, argv[0]), &fi);
  reply_backing_id = 0;
  return ret_int(env, r);
}

// passthrough(handle): whether the kernel accepted FUSE_PASSTHROUGH at INIT.
static napi_value js_passthrough(napi_env env, napi_callback_info info) {
  ARGS(1);
  session_t *s = get_session(env, argv[0]);
  napi_value v;
  napi_get_boolean(env, s && s->passthrough && !s->closed, &v);
  return v;
}

// backingOpen(handle, fd) -> backing id (> 0) or -errno: registers the backing file for
// passthrough opens. The kernel reopens the file's path for each passthrough open with that
// open's flags and with the credentials of this call (so the caller's fsuid, if set, is what the
// backing filesystem charges for the space written).
static napi_value js_backing_open(napi_env env, napi_callback_info info) {
  ARGS(2);
  session_t *s = get_session(env, argv[0]);
  if (!s || !s->passthrough || s->closed) return ret_int(env, -EOPNOTSUPP);
  struct dmfs_backing_map map = { .fd = (int32_t)get_num(env, argv[1]), .flags = 0, .padding = 0 };
  int id = ioctl(fuse_session_fd(s->se), DMFS_DEV_IOC_BACKING_OPEN, &map);
  return ret_int(env, id < 0 ? -errno : id);
}

// backingClose(handle, id) -> 0 or -errno. Opens made with the id keep their backing file.
static napi_value js_backing_close(napi_env env, napi_callback_info info) {
  ARGS(2);
  session_t *s = get_session(env, argv[0]);
  if (!s || s->closed) return ret_int(env, -EBADF);
  uint32_t id = (uint32_t)get_num(env, argv[1]);
  int r = ioctl(fuse_session_fd(s->se), DMFS_DEV_IOC_BACKING_CLOSE, &id);
  return ret_int(env, r < 0 ? -errno : 0);
}

// replyWrite(req, count) / replyXattr(req, size): the replies that are one byte count.
static napi_value reply_count(napi_env env, napi_callback_info info,
                              int (*reply)(fuse_req_t, size_t)) {
  ARGS(2);
  return ret_int(env, reply(get_req(env, argv[0]), (size_t)get_num(env, argv[1])));
}
static napi_value js_reply_write(napi_env env, napi_callback_info info) {
  return reply_count(env, info, fuse_reply_write);
}
static napi_value js_reply_xattr(napi_env env, napi_callback_info info) {
  return reply_count(env, info, fuse_reply_xattr);
}

// The first `length` bytes of a Buffer argument (at most its size); false (and a TypeError
// thrown) when it is not a Buffer.
static bool buffer_prefix(napi_env env, napi_value buf, napi_value length, const char *what,
                          void **data, size_t *n) {
  size_t len = 0;
  *data = NULL;
  if (napi_get_buffer_info(env, buf, data, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, what);
    return false;
  }
  *n = (size_t)get_num(env, length);
  if (*n > len) *n = len;
  return true;
}

// replyBuf(req, buffer, length)
static napi_value js_reply_buf(napi_env env, napi_callback_info info) {
  ARGS(3);
  void *data;
  size_t n;
  if (!buffer_prefix(env, argv[1], argv[2], "replyBuf: buffer expected", &data, &n)) return NULL;
  return ret_int(env, fuse_reply_buf(get_req(env, argv[0]), data, n));
}

// replyStatfs(req, BigUint64Array[bsize, frsize, blocks, bfree, bavail, files, ffree, favail,
//                                  fsid, flag, namemax])
static napi_value js_reply_statfs(napi_env env, napi_callback_info info) {
  ARGS(2);
  void *data;
  if (!arg_typed_array(env, argv[1], napi_biguint64_array, 11,
                       "statfs must be a BigUint64Array(11)", &data))
    return NULL;
  uint64_t *v = data;
  struct statvfs st;
  memset(&st, 0, sizeof st);
  st.f_bsize = v[0];
  st.f_frsize = v[1];
  st.f_blocks = v[2];
  st.f_bfree = v[3];
  st.f_bavail = v[4];
  st.f_files = v[5];
  st.f_ffree = v[6];
  st.f_favail = v[7];
  st.f_fsid = v[8];
  st.f_flag = v[9];
  st.f_namemax = v[10];
  return ret_int(env, fuse_reply_statfs(get_req(env, argv[0]), &st));
}

// replyLock(req, type, start, len, pid)
static napi_value js_reply_lock(napi_env env, napi_callback_info info) {
  ARGS(5);
  struct flock l;
  memset(&l, 0, sizeof l);
  l.l_type = (short)get_num(env, argv[1]);
  l.l_whence = SEEK_SET;
  l.l_start = get_i64(env, argv[2]);
  l.l_len = get_i64(env, argv[3]);
  l.l_pid = (pid_t)get_num(env, argv[4]);
  return ret_int(env, fuse_reply_lock(get_req(env, argv[0]), &l));
}

// replyIoctl(req, result, buffer, length): the ioctl's result and `length` bytes of output.
static napi_value js_reply_ioctl(napi_env env, napi_callback_info info) {
  ARGS(4);
  void *data;
  size_t n;
  if (!buffer_prefix(env, argv[2], argv[3], "replyIoctl: buffer expected", &data, &n)) return NULL;
  return ret_int(env, fuse_reply_ioctl(get_req(env, argv[0]), (int)get_num(env, argv[1]), n ? data : NULL, n));
}

// replyLseek(req, offset)
static napi_value js_reply_lseek(napi_env env, napi_callback_info info) {
  ARGS(2);
  return ret_int(env, fuse_reply_lseek(get_req(env, argv[0]), (off_t)get_i64(env, argv[1])));
}

// replyReaddir(req, size, names: string[], inos: BigUint64Array | Float64Array, types: Uint8Array, start)
// Packs entries start.. into one reply of at most `size` bytes; entry i has offset i + 1.
// Returns how many entries were packed. Inode numbers above 2^53 need the BigUint64Array.
static napi_value js_reply_readdir(napi_env env, napi_callback_info info) {
  ARGS(6);
  fuse_req_t req = get_req(env, argv[0]);
  size_t size = (size_t)get_num(env, argv[1]);
  uint32_t count = 0;
  napi_get_array_length(env, argv[2], &count);
  void *idata, *tdata;
  bool big = is_typed_array(env, argv[3], napi_biguint64_array, count, &idata);
  if (!(big || is_typed_array(env, argv[3], napi_float64_array, count, &idata)) ||
      !is_typed_array(env, argv[4], napi_uint8_array, count, &tdata)) {
    napi_throw_type_error(env, NULL, "replyReaddir: bad arrays");
    return NULL;
  }
  double *dinos = big ? NULL : idata;
  uint64_t *uinos = big ? idata : NULL;
  uint8_t *types = tdata;
  uint32_t start = (uint32_t)get_num(env, argv[5]);
  if (size > 1 << 20) size = 1 << 20;
  char *buf = malloc(size ? size : 1);
  size_t used = 0;
  uint32_t packed = 0;
  char name[4096];
  for (uint32_t i = start; i < count; i++) {
    napi_value e;
    size_t nlen;
    napi_get_element(env, argv[2], i, &e);
    if (napi_get_value_string_latin1(env, e, name, sizeof name, &nlen) != napi_ok) continue;
    struct stat st;
    memset(&st, 0, sizeof st);
    st.st_ino = uinos ? (ino_t)uinos[i] : (ino_t)dinos[i];
    st.st_mode = (mode_t)types[i] << 12;
    size_t need = fuse_add_direntry(req, buf + used, size - used, name, &st, (off_t)i + 1);
    if (need > size - used) break;
    used += need;
    packed++;
  }
  fuse_reply_buf(req, buf, used);
  free(buf);
  return num(env, packed);
}

// context(req, out: Float64Array(4)) -> fills uid, gid, pid, umask
static napi_value js_context(napi_env env, napi_callback_info info) {
  ARGS(2);
  const struct fuse_ctx *c = fuse_req_ctx(get_req(env, argv[0]));
  void *data;
  if (!arg_typed_array(env, argv[1], napi_float64_array, 4, "context: Float64Array(4) expected",
                       &data))
    return NULL;
  double *o = data;
  o[0] = c->uid;
  o[1] = c->gid;
  o[2] = c->pid;
  o[3] = c->umask;
  return NULL;
}

// groups(req) -> number[] of the caller's supplementary groups (from /proc)
static napi_value js_groups(napi_env env, napi_callback_info info) {
  ARGS(1);
  gid_t list[256];
  int n = fuse_req_getgroups(get_req(env, argv[0]), 256, list);
  napi_value arr;
  napi_create_array(env, &arr);
  for (int i = 0; i < n && i < 256; i++) napi_set_element(env, arr, i, num(env, list[i]));
  return arr;
}

// interrupted(req) -> boolean
static napi_value js_interrupted(napi_env env, napi_callback_info info) {
  ARGS(1);
  napi_value r;
  napi_get_boolean(env, fuse_req_interrupted(get_req(env, argv[0])), &r);
  return r;
}

// The session behind a handle while it can still take notifications; NULL once it is destroyed
// or the kernel connection is gone (the notification is then dropped).
static session_t *notify_session(napi_env env, napi_value handle) {
  session_t *s = get_session(env, handle);
  return s && s->se && !s->closed ? s : NULL;
}

// invalInode(handle, nodeid, off, len): drop the kernel's cached attributes and pages (len 0 =
// all pages, off -1 = attributes only)
static napi_value js_inval_inode(napi_env env, napi_callback_info info) {
  ARGS(4);
  session_t *s = notify_session(env, argv[0]);
  if (s)
    notify_push(s, &(notify_t){.kind = NOTIFY_INVAL_INODE, .ino = (uint64_t)get_num(env, argv[1]),
                               .off = get_i64(env, argv[2]), .len = get_i64(env, argv[3])});
  return NULL;
}

// invalEntry(handle, parent, name): drop the kernel's cached name lookup
static napi_value js_inval_entry(napi_env env, napi_callback_info info) {
  ARGS(3);
  session_t *s = notify_session(env, argv[0]);
  if (s)
    notify_push(s, &(notify_t){.kind = NOTIFY_INVAL_ENTRY, .ino = (uint64_t)get_num(env, argv[1]),
                               .name = get_bytes(env, argv[2])});
  return NULL;
}

// notifyDelete(handle, parent, child, name)
static napi_value js_notify_delete(napi_env env, napi_callback_info info) {
  ARGS(4);
  session_t *s = notify_session(env, argv[0]);
  if (s)
    notify_push(s, &(notify_t){.kind = NOTIFY_DELETE, .ino = (uint64_t)get_num(env, argv[1]),
                               .child = (uint64_t)get_num(env, argv[2]),
                               .name = get_bytes(env, argv[3])});
  return NULL;
}

// notifyFlush(handle) -> Promise: resolves once every notification queued before the call has been
// sent to the kernel (the caches it drops are gone), so that a caller can answer only then. The
// wait is on a worker thread: the JS thread must stay free to serve the requests a notification
// may wait for.
typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref handle_ref;  // keeps the session alive while we wait
  session_t *s;
  uint64_t target;
} flush_job_t;

static void flush_exec(napi_env env, void *data) {
  (void)env;
  flush_job_t *j = data;
  session_t *s = j->s;
  pthread_mutex_lock(&s->notify_mu);
  while (s->notify_done < j->target && !s->notify_stop) pthread_cond_wait(&s->notify_done_cv, &s->notify_mu);
  pthread_mutex_unlock(&s->notify_mu);
}

static void flush_done(napi_env env, napi_status status, void *data) {
  (void)status;
  flush_job_t *j = data;
  napi_value v;
  napi_get_undefined(env, &v);
  napi_resolve_deferred(env, j->deferred, v);
  napi_delete_reference(env, j->handle_ref);
  napi_delete_async_work(env, j->work);
  free(j);
}

static napi_value js_notify_flush(napi_env env, napi_callback_info info) {
  ARGS(1);
  napi_value promise, undef;
  napi_deferred deferred;
  CHECK(napi_create_promise(env, &deferred, &promise));
  session_t *s = notify_session(env, argv[0]);
  uint64_t target = 0, done = 0;
  if (s) {
    pthread_mutex_lock(&s->notify_mu);
    target = s->notify_pushed;
    done = s->notify_done;
    pthread_mutex_unlock(&s->notify_mu);
  }
  if (!s || done >= target) {
    napi_get_undefined(env, &undef);
    napi_resolve_deferred(env, deferred, undef);
    return promise;
  }
  flush_job_t *j = calloc(1, sizeof(*j));
  j->deferred = deferred;
  j->s = s;
  j->target = target;
  napi_value name;
  napi_create_string_utf8(env, "dmapifs:fuse-notify-flush", NAPI_AUTO_LENGTH, &name);
  CHECK(napi_create_reference(env, argv[0], 1, &j->handle_ref));
  CHECK(napi_create_async_work(env, NULL, name, flush_exec, flush_done, j, &j->work));
  CHECK(napi_queue_async_work(env, j->work));
  return promise;
}

static napi_value js_version(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value r;
  napi_create_int32(env, fuse_version(), &r);
  return r;
}

#define EXPORT(name, fn)                                                                           \
  do {                                                                                             \
    napi_value f;                                                                                  \
    napi_create_function(env, name, NAPI_AUTO_LENGTH, fn, NULL, &f);                               \
    napi_set_named_property(env, exports, name, f);                                                \
  } while (0)

static napi_value init_module(napi_env env, napi_value exports) {
  EXPORT("mount", js_mount);
  EXPORT("ref", js_ref);
  EXPORT("destroy", js_destroy);
  EXPORT("umount", js_umount);
  EXPORT("replyErr", js_reply_err);
  EXPORT("replyNone", js_reply_none);
  EXPORT("replyEntry", js_reply_entry);
  EXPORT("replyCreate", js_reply_create);
  EXPORT("replyAttr", js_reply_attr);
  EXPORT("replyReadlink", js_reply_readlink);
  EXPORT("replyOpen", js_reply_open);
  EXPORT("passthrough", js_passthrough);
  EXPORT("backingOpen", js_backing_open);
  EXPORT("backingClose", js_backing_close);
  EXPORT("replyWrite", js_reply_write);
  EXPORT("replyBuf", js_reply_buf);
  EXPORT("replyStatfs", js_reply_statfs);
  EXPORT("replyXattr", js_reply_xattr);
  EXPORT("replyLock", js_reply_lock);
  EXPORT("replyLseek", js_reply_lseek);
  EXPORT("replyIoctl", js_reply_ioctl);
  EXPORT("replyReaddir", js_reply_readdir);
  EXPORT("context", js_context);
  EXPORT("groups", js_groups);
  EXPORT("interrupted", js_interrupted);
  EXPORT("invalInode", js_inval_inode);
  EXPORT("notifyFlush", js_notify_flush);
  EXPORT("invalEntry", js_inval_entry);
  EXPORT("notifyDelete", js_notify_delete);
  EXPORT("version", js_version);
  napi_value caps;
  napi_create_object(env, &caps);
#define CAP(n) napi_set_named_property(env, caps, #n, num(env, FUSE_CAP_##n))
  CAP(ASYNC_READ); CAP(POSIX_LOCKS); CAP(ATOMIC_O_TRUNC); CAP(EXPORT_SUPPORT);
  CAP(DONT_MASK); CAP(FLOCK_LOCKS); CAP(AUTO_INVAL_DATA); CAP(ASYNC_DIO);
  CAP(PARALLEL_DIROPS); CAP(POSIX_ACL); CAP(HANDLE_KILLPRIV); CAP(CACHE_SYMLINKS);
  CAP(EXPLICIT_INVAL_DATA); CAP(WRITEBACK_CACHE); CAP(IOCTL_DIR);
  napi_set_named_property(env, exports, "CAP", caps);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init_module)
