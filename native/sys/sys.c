/*
 * dmapifs_sys: synchronous Linux syscalls that Node's fs module lacks, for the dmapifs FUSE daemon.
 *
 * Conventions (the daemon calls these on its hot path, where exceptions are slow):
 *   - every function is synchronous and runs on the calling JS thread;
 *   - a failing syscall is reported by RETURNING a negative errno number (-ENOENT ...), never by
 *     throwing; JavaScript exceptions are thrown only for wrong arguments (a TypeError for a wrong
 *     type, a RangeError for an out-of-range or non-integral number, a buffer window out of bounds);
 *   - paths are strings (UTF-8) or Buffers/Uint8Arrays (raw bytes); a path of PATH_MAX bytes or
 *     more returns -ENAMETOOLONG, an embedded NUL byte throws (as Node's fs does);
 *   - 64-bit inputs (offsets, lengths, device numbers) are JS numbers (exact up to 2^53) or
 *     BigInts; 64-bit results are numbers;
 *   - stat/statvfs results are written into a caller-provided BigUint64Array (or BigInt64Array),
 *     so a stat call allocates nothing. Times are stored as raw 64-bit patterns: a negative
 *     tv_sec (before 1970) appears in a BigUint64Array as its two's complement, to be read back
 *     with BigInt.asIntN(64, v).
 *   - file descriptors opened here are always close-on-exec (O_CLOEXEC is added), like libuv does.
 *
 * Plain N-API C (node_api.h, NAPI_VERSION 8): builds for Node 18 and later without node-addon-api.
 */
#include <node_api.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/fsuid.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <linux/capability.h>
#include <unistd.h>

/* ---- ABI constants that older headers may lack (values are the kernel's, stable) ---- */

#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef SYS_renameat2
#define SYS_renameat2 316 /* x86_64; every other arch has it in its headers since 3.15 */
#endif

struct dm_open_how { /* struct open_how, linux/openat2.h */
  uint64_t flags;
  uint64_t mode;
  uint64_t resolve;
};
#define DM_RESOLVE_NO_XDEV 0x01
#define DM_RESOLVE_NO_MAGICLINKS 0x02
#define DM_RESOLVE_NO_SYMLINKS 0x04
#define DM_RESOLVE_BENEATH 0x08
#define DM_RESOLVE_IN_ROOT 0x10
#define DM_RESOLVE_CACHED 0x20

#ifndef FALLOC_FL_KEEP_SIZE
#define FALLOC_FL_KEEP_SIZE 0x01
#endif
#ifndef FALLOC_FL_PUNCH_HOLE
#define FALLOC_FL_PUNCH_HOLE 0x02
#endif
#ifndef FALLOC_FL_COLLAPSE_RANGE
#define FALLOC_FL_COLLAPSE_RANGE 0x08
#endif
#ifndef FALLOC_FL_ZERO_RANGE
#define FALLOC_FL_ZERO_RANGE 0x10
#endif
#ifndef FALLOC_FL_INSERT_RANGE
#define FALLOC_FL_INSERT_RANGE 0x20
#endif
#ifndef FALLOC_FL_UNSHARE_RANGE
#define FALLOC_FL_UNSHARE_RANGE 0x40
#endif

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif
#ifndef RENAME_WHITEOUT
#define RENAME_WHITEOUT (1 << 2)
#endif

#ifndef F_OFD_GETLK
#define F_OFD_GETLK 36
#define F_OFD_SETLK 37
#define F_OFD_SETLKW 38
#endif

#ifndef SEEK_DATA
#define SEEK_DATA 3
#define SEEK_HOLE 4
#endif

#ifndef O_PATH
#define O_PATH 010000000
#endif
#ifndef O_TMPFILE
#define O_TMPFILE (020000000 | O_DIRECTORY)
#endif

#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif
#ifndef AT_NO_AUTOMOUNT
#define AT_NO_AUTOMOUNT 0x800
#endif

#ifndef UMOUNT_NOFOLLOW
#define UMOUNT_NOFOLLOW 0x8
#endif

/* linux/fs.h: not included because it clashes with <sys/mount.h> on some glibc versions. */
#define DM_FS_IOC_GETVERSION _IOR('v', 1, long)

/*
 * Path buffers: a path of PATH_MAX (4096) bytes or more is ENAMETOOLONG. The slack past PATH_MAX
 * makes truncation by napi_get_value_string_utf8 (which stops at a character boundary) visible
 * as a length >= PATH_MAX, so one conversion call suffices.
 */
#define PATH_LIMIT 4096
#define PATH_BUF (PATH_LIMIT + 8)
#define STAT_FIELDS 16
#define STATVFS_FIELDS 11

/* ---- argument helpers ---- */

#define TRY(x)                                                                                     \
  do {                                                                                             \
    if (!(x)) return NULL;                                                                         \
  } while (0)

#define ARGS(n)                                                                                    \
  size_t argc = (n);                                                                               \
  napi_value argv[(n) > 0 ? (n) : 1];                                                              \
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL

static bool throw_type(napi_env env, const char *name, const char *what) {
  char msg[256];
  snprintf(msg, sizeof msg, "The \"%s\" argument must be %s", name, what);
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
  return false;
}

static bool throw_range(napi_env env, const char *name, const char *what) {
  char msg[256];
  snprintf(msg, sizeof msg, "The value of \"%s\" is out of range. It must be %s", name, what);
  napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
  return false;
}

static bool is_nullish(napi_env env, napi_value v) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return false;
  return t == napi_undefined || t == napi_null;
}

/* An integer argument: a number (integral, within [lo, hi]) or a BigInt (within [lo, hi]). */
static bool arg_i64(napi_env env, napi_value v, const char *name, int64_t lo, int64_t hi,
                    int64_t *out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return false;
  int64_t i;
  if (t == napi_number) {
    double d;
    if (napi_get_value_double(env, v, &d) != napi_ok) return false;
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
      return throw_range(env, name, "an integer within the 64-bit range");
    i = (int64_t)d;
    if ((double)i != d) return throw_range(env, name, "an integer");
  } else if (t == napi_bigint) {
    bool lossless;
    if (napi_get_value_bigint_int64(env, v, &i, &lossless) != napi_ok) return false;
    if (!lossless) return throw_range(env, name, "within the signed 64-bit range");
  } else {
    return throw_type(env, name, "of type number or bigint");
  }
  if (i < lo || i > hi) {
    char what[96];
    snprintf(what, sizeof what, ">= %lld and <= %lld", (long long)lo, (long long)hi);
    return throw_range(env, name, what);
  }
  *out = i;
  return true;
}

/* An unsigned 64-bit argument (inode numbers, resolve flags): number or BigInt. */
static bool arg_u64(napi_env env, napi_value v, const char *name, uint64_t *out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return false;
  if (t == napi_bigint) {
    bool lossless;
    if (napi_get_value_bigint_uint64(env, v, out, &lossless) != napi_ok) return false;
    if (!lossless) return throw_range(env, name, "within the unsigned 64-bit range");
    return true;
  }
  if (t != napi_number) return throw_type(env, name, "of type number or bigint");
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) return false;
  if (!(d >= 0 && d < 18446744073709551616.0))
    return throw_range(env, name, "a non-negative integer within the 64-bit range");
  uint64_t u = (uint64_t)d;
  if ((double)u != d) return throw_range(env, name, "an integer");
  *out = u;
  return true;
}

static bool arg_int(napi_env env, napi_value v, const char *name, int *out) {
  int64_t i;
  TRY(arg_i64(env, v, name, INT32_MIN, INT32_MAX, &i));
  *out = (int)i;
  return true;
}

/* Flags and modes: accepts the int32 and uint32 range, keeps the bit pattern. */
static bool arg_bits(napi_env env, napi_value v, const char *name, unsigned *out) {
  int64_t i;
  TRY(arg_i64(env, v, name, INT32_MIN, UINT32_MAX, &i));
  *out = (unsigned)(uint32_t)i;
  return true;
}

/* An optional flags/mode argument: null/undefined leaves *out (its default) as it is. */
static bool arg_opt_bits(napi_env env, napi_value v, const char *name, unsigned *out) {
  return is_nullish(env, v) || arg_bits(env, v, name, out);
}

/* uid/gid: 0 .. 2^32-1, and -1 meaning "unchanged". */
static bool arg_id(napi_env env, napi_value v, const char *name, uint32_t *out) {
  int64_t i;
  TRY(arg_i64(env, v, name, -1, UINT32_MAX, &i));
  *out = (uint32_t)i;
  return true;
}

static bool arg_fd(napi_env env, napi_value v, int *out) { return arg_int(env, v, "fd", out); }
static bool arg_dirfd(napi_env env, napi_value v, int *out) {
  return arg_int(env, v, "dirfd", out);
}

/* Byte view of a TypedArray / Buffer / DataView. */
static bool arg_bytes(napi_env env, napi_value v, const char *name, uint8_t **data, size_t *len) {
  bool is;
  if (napi_is_typedarray(env, v, &is) != napi_ok) return false;
  if (is) {
    napi_typedarray_type type;
    size_t length;
    void *p;
    if (napi_get_typedarray_info(env, v, &type, &length, &p, NULL, NULL) != napi_ok) return false;
    size_t el = 1;
    switch (type) {
      case napi_int8_array: case napi_uint8_array: case napi_uint8_clamped_array: el = 1; break;
      case napi_int16_array: case napi_uint16_array: el = 2; break;
      case napi_int32_array: case napi_uint32_array: case napi_float32_array: el = 4; break;
      default: el = 8; break;
    }
    *data = p;
    *len = length * el;
    return true;
  }
  if (napi_is_dataview(env, v, &is) != napi_ok) return false;
  if (is) {
    void *p;
    if (napi_get_dataview_info(env, v, len, &p, NULL, NULL) != napi_ok) return false;
    *data = p;
    return true;
  }
  return throw_type(env, name, "an instance of Buffer, TypedArray or DataView");
}

/* The caller-provided 64-bit result array (BigUint64Array or BigInt64Array) of >= n elements. */
static bool arg_u64_array(napi_env env, napi_value v, const char *name, size_t n, uint64_t **out) {
  bool is;
  if (napi_is_typedarray(env, v, &is) != napi_ok) return false;
  if (!is) return throw_type(env, name, "a BigUint64Array");
  napi_typedarray_type type;
  size_t length;
  void *p;
  if (napi_get_typedarray_info(env, v, &type, &length, &p, NULL, NULL) != napi_ok) return false;
  if (type != napi_biguint64_array && type != napi_bigint64_array)
    return throw_type(env, name, "a BigUint64Array");
  if (length < n) {
    char what[64];
    snprintf(what, sizeof what, "a BigUint64Array of at least %zu elements", n);
    return throw_range(env, name, what);
  }
  *out = p;
  return true;
}

/* A path with a NUL byte throws, as in Node's fs; what: "a string" or "a Buffer". */
static bool throw_nul_in_path(napi_env env, const char *name, const char *what) {
  char msg[160];
  snprintf(msg, sizeof msg, "The argument '%s' must be %s without null bytes", name, what);
  napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", msg);
  return false;
}

/* A path of PATH_LIMIT bytes or more: noted in *pending (the first such error wins), no throw. */
static bool path_too_long(char *buf, int *pending) {
  if (!*pending) *pending = -ENAMETOOLONG;
  buf[0] = 0;
  return true;
}

/*
 * A path (or xattr name) argument into buf[PATH_BUF]. Returns false when it threw. *pending is set
 * to -ENAMETOOLONG when the path is too long (the call then returns that without a syscall, after
 * every argument has been checked). With nullable, null/undefined yields *out = NULL.
 */
static bool arg_path_x(napi_env env, napi_value v, const char *name, char *buf, bool nullable,
                       const char **out, int *pending) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return false;
  if (nullable && (t == napi_undefined || t == napi_null)) {
    *out = NULL;
    return true;
  }
  *out = buf;
  if (t == napi_string) {
    size_t len;
    if (napi_get_value_string_utf8(env, v, buf, PATH_BUF, &len) != napi_ok) return false;
    if (len >= PATH_LIMIT) return path_too_long(buf, pending);
    if (strlen(buf) != len) return throw_nul_in_path(env, name, "a string");
    return true;
  }
  uint8_t *data;
  size_t len;
  bool is = false;
  if (napi_is_typedarray(env, v, &is) != napi_ok) return false;
  if (!is) return throw_type(env, name, nullable ? "a string, Buffer or null" : "a string or Buffer");
  TRY(arg_bytes(env, v, name, &data, &len));
  if (memchr(data, 0, len)) return throw_nul_in_path(env, name, "a Buffer");
  if (len >= PATH_LIMIT) return path_too_long(buf, pending);
  memcpy(buf, data, len);
  buf[len] = 0;
  return true;
}

#define PATH_ARG(var, idx, name)                                                                   \
  char var##_buf[PATH_BUF];                                                                        \
  const char *var;                                                                                 \
  TRY(arg_path_x(env, argv[idx], name, var##_buf, false, &var, &pending))

#define PATH_ARG_OPT(var, idx, name)                                                               \
  char var##_buf[PATH_BUF];                                                                        \
  const char *var;                                                                                 \
  TRY(arg_path_x(env, argv[idx], name, var##_buf, true, &var, &pending))

/*
 * The head of the arguments of a call with a plain and an *at form: (path) for the plain form,
 * (dirfd, path) for the *at form (at true). Declares dirfd (AT_FDCWD for the plain form), path,
 * and i, the index of the next argument.
 */
#define AT_PATH_ARGS(at)                                                                           \
  int dirfd = AT_FDCWD;                                                                            \
  size_t i = 0;                                                                                    \
  if (at) TRY(arg_dirfd(env, argv[i++], &dirfd));                                                  \
  PATH_ARG(path, i++, "path")

#define CHECK_PENDING()                                                                            \
  do {                                                                                             \
    if (pending) return ret_int(env, pending);                                                     \
  } while (0)

/* ---- result helpers ---- */

static napi_value ret_int(napi_env env, int64_t v) {
  napi_value r;
  if (v >= INT32_MIN && v <= INT32_MAX) napi_create_int32(env, (int32_t)v, &r);
  else napi_create_int64(env, v, &r);
  return r;
}

static napi_value ret_sys(napi_env env, long r) { return ret_int(env, r < 0 ? -errno : r); }

static napi_value ret_u32(napi_env env, uint32_t v) {
  napi_value r;
  napi_create_uint32(env, v, &r);
  return r;
}

/*
 * A JS entry point that is impl with its trailing arguments fixed: the forms of one call (by path
 * or by fd, plain or *at, read or write) share one impl that takes the difference as a flag.
 */
#define JS_FN(name, impl, ...)                                                                     \
  static napi_value name(napi_env env, napi_callback_info info) {                                  \
    return impl(env, info, __VA_ARGS__);                                                           \
  }

/* Retry a call that returns -1/errno on EINTR. */
#define RETRY(expr)                                                                                \
  ({                                                                                               \
    long _r;                                                                                       \
    do _r = (long)(expr);                                                                          \
    while (_r == -1 && errno == EINTR);                                                            \
    _r;                                                                                            \
  })

/* ---- stat ---- */

static void fill_stat(uint64_t *o, const struct stat *st) {
  o[0] = (uint64_t)st->st_dev;
  o[1] = (uint64_t)st->st_ino;
  o[2] = (uint64_t)st->st_mode;
  o[3] = (uint64_t)st->st_nlink;
  o[4] = (uint64_t)st->st_uid;
  o[5] = (uint64_t)st->st_gid;
  o[6] = (uint64_t)st->st_rdev;
  o[7] = (uint64_t)(int64_t)st->st_size;
  o[8] = (uint64_t)(int64_t)st->st_blksize;
  o[9] = (uint64_t)(int64_t)st->st_blocks;
  o[10] = (uint64_t)(int64_t)st->st_atim.tv_sec;
  o[11] = (uint64_t)(int64_t)st->st_atim.tv_nsec;
  o[12] = (uint64_t)(int64_t)st->st_mtim.tv_sec;
  o[13] = (uint64_t)(int64_t)st->st_mtim.tv_nsec;
  o[14] = (uint64_t)(int64_t)st->st_ctim.tv_sec;
  o[15] = (uint64_t)(int64_t)st->st_ctim.tv_nsec;
}

/* What a stat call that returned r reports: 0 with st written into out, or -errno. */
static napi_value ret_stat(napi_env env, int r, const struct stat *st, uint64_t *out) {
  if (r < 0) return ret_int(env, -errno);
  fill_stat(out, st);
  return ret_int(env, 0);
}

/* lstat(path, out) */
static napi_value js_lstat(napi_env env, napi_callback_info info) {
  ARGS(2);
  int pending = 0;
  PATH_ARG(path, 0, "path");
  uint64_t *out;
  TRY(arg_u64_array(env, argv[1], "out", STAT_FIELDS, &out));
  CHECK_PENDING();
  struct stat st;
  return ret_stat(env, lstat(path, &st), &st, out);
}

/* readdirat(dirfd, path, encoding?) -> { names: string[], inos: BigUint64Array, types: Uint8Array } | -errno
 * (encoding "latin1": names one char per byte, for names that are not UTF-8)
 * One directory listing with d_ino and d_type of every entry ("." and ".." left out), read with
 * getdents through opendir: the FUSE readdir needs the inode numbers without a stat per entry.
 * The directory is opened with O_NOFOLLOW: a symlink in its place is never followed. */
static bool want_latin1(napi_env env, size_t argc, napi_value *argv, size_t idx);

static napi_value js_readdirat(napi_env env, napi_callback_info info) {
  ARGS(3);
  bool latin1 = want_latin1(env, argc, argv, 2);
  int dirfd;
  TRY(arg_dirfd(env, argv[0], &dirfd));
  int pending = 0;
  PATH_ARG(path, 1, "path");
  CHECK_PENDING();
  int fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return ret_int(env, -errno);
  DIR *d = fdopendir(fd);
  if (!d) { int e = errno; close(fd); return ret_int(env, -e); }
  size_t cap = 64, n = 0;
  char **names = malloc(cap * sizeof(char *));
  uint64_t *inos = malloc(cap * sizeof(uint64_t));
  uint8_t *types = malloc(cap);
  int err = 0;
  for (;;) {
    errno = 0;
    struct dirent *e = readdir(d);
    if (!e) { err = errno; break; }
    if (e->d_name[0] == '.' && (e->d_name[1] == 0 || (e->d_name[1] == '.' && e->d_name[2] == 0))) continue;
    if (n == cap) {
      cap *= 2;
      names = realloc(names, cap * sizeof(char *));
      inos = realloc(inos, cap * sizeof(uint64_t));
      types = realloc(types, cap);
    }
    names[n] = strdup(e->d_name);
    inos[n] = (uint64_t)e->d_ino;
    types[n] = e->d_type;
    n++;
  }
  closedir(d);
  napi_value result = NULL;
  if (err) {
    result = ret_int(env, -err);
  } else {
    napi_value arr, ab_i, ab_t, ta_i, ta_t, obj;
    void *pi, *pt;
    napi_create_array_with_length(env, n, &arr);
    for (size_t i = 0; i < n; i++) {
      napi_value v;
      if (latin1) napi_create_string_latin1(env, names[i], NAPI_AUTO_LENGTH, &v);
      else napi_create_string_utf8(env, names[i], NAPI_AUTO_LENGTH, &v);
      napi_set_element(env, arr, (uint32_t)i, v);
    }
    napi_create_arraybuffer(env, n * sizeof(uint64_t), &pi, &ab_i);
    memcpy(pi, inos, n * sizeof(uint64_t));
    napi_create_typedarray(env, napi_biguint64_array, n, ab_i, 0, &ta_i);
    napi_create_arraybuffer(env, n, &pt, &ab_t);
    memcpy(pt, types, n);
    napi_create_typedarray(env, napi_uint8_array, n, ab_t, 0, &ta_t);
    napi_create_object(env, &obj);
    napi_set_named_property(env, obj, "names", arr);
    napi_set_named_property(env, obj, "inos", ta_i);
    napi_set_named_property(env, obj, "types", ta_t);
    result = obj;
  }
  for (size_t i = 0; i < n; i++) free(names[i]);
  free(names);
  free(inos);
  free(types);
  return result;
}

/* fstat(fd, out) */
static napi_value js_fstat(napi_env env, napi_callback_info info) {
  ARGS(2);
  int fd;
  TRY(arg_fd(env, argv[0], &fd));
  uint64_t *out;
  TRY(arg_u64_array(env, argv[1], "out", STAT_FIELDS, &out));
  struct stat st;
  return ret_stat(env, fstat(fd, &st), &st, out);
}

/* fstatat(dirfd, path, flags, out) */
static napi_value js_fstatat(napi_env env, napi_callback_info info) {
  ARGS(4);
  int pending = 0, dirfd;
  unsigned flags;
  TRY(arg_dirfd(env, argv[0], &dirfd));
  PATH_ARG(path, 1, "path");
  TRY(arg_bits(env, argv[2], "flags", &flags));
  uint64_t *out;
  TRY(arg_u64_array(env, argv[3], "out", STAT_FIELDS, &out));
  CHECK_PENDING();
  struct stat st;
  return ret_stat(env, fstatat(dirfd, path, &st, (int)flags), &st, out);
}

/* statvfs(path, out) */
static napi_value js_statvfs(napi_env env, napi_callback_info info) {
  ARGS(2);
  int pending = 0;
  PATH_ARG(path, 0, "path");
  uint64_t *o;
  TRY(arg_u64_array(env, argv[1], "out", STATVFS_FIELDS, &o));
  CHECK_PENDING();
  struct statvfs s;
  if (RETRY(statvfs(path, &s)) < 0) return ret_int(env, -errno);
  o[0] = s.f_bsize;
  o[1] = s.f_frsize;
  o[2] = s.f_blocks;
  o[3] = s.f_bfree;
  o[4] = s.f_bavail;
  o[5] = s.f_files;
  o[6] = s.f_ffree;
  o[7] = s.f_favail;
  o[8] = s.f_fsid;
  o[9] = s.f_flag;
  o[10] = s.f_namemax;
  return ret_int(env, 0);
}

/* ---- open / close ---- */

/* open(path, flags, mode) / openat(dirfd, path, flags, mode) -> fd | -errno */
static napi_value do_open(napi_env env, napi_callback_info info, bool at) {
  ARGS(4);
  int pending = 0;
  unsigned flags, mode = 0;
  AT_PATH_ARGS(at);
  TRY(arg_bits(env, argv[i], "flags", &flags));
  TRY(arg_opt_bits(env, argv[i + 1], "mode", &mode));
  CHECK_PENDING();
  if (!at) return ret_sys(env, RETRY(open(path, (int)flags | O_CLOEXEC, (mode_t)mode)));
  return ret_sys(env, RETRY(openat(dirfd, path, (int)flags | O_CLOEXEC, (mode_t)mode)));
}

JS_FN(js_open, do_open, false)
JS_FN(js_openat, do_open, true)

/*
 * openat2(dirfd, path, flags, mode, resolve) -> fd | -errno. The kernel rejects a non-zero mode
 * without O_CREAT/O_TMPFILE; the mode is dropped in that case so callers can pass one always.
 */
static napi_value js_openat2(napi_env env, napi_callback_info info) {
  ARGS(5);
  int pending = 0, dirfd;
  unsigned flags, mode = 0;
  uint64_t resolve = 0;
  TRY(arg_dirfd(env, argv[0], &dirfd));
  PATH_ARG(path, 1, "path");
  TRY(arg_bits(env, argv[2], "flags", &flags));
  TRY(arg_opt_bits(env, argv[3], "mode", &mode));
  if (!is_nullish(env, argv[4])) TRY(arg_u64(env, argv[4], "resolve", &resolve));
  CHECK_PENDING();
  struct dm_open_how how;
  memset(&how, 0, sizeof how);
  how.flags = (uint64_t)(flags | O_CLOEXEC);
  how.mode = ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) ? mode : 0;
  how.resolve = resolve;
  return ret_sys(env, RETRY(syscall(SYS_openat2, dirfd, path, &how, sizeof how)));
}

/* close(fd) -> 0 | -errno. EINTR is reported as 0: on Linux the fd is closed regardless. */
static napi_value js_close(napi_env env, napi_callback_info info) {
  ARGS(1);
  int fd;
  TRY(arg_fd(env, argv[0], &fd));
  if (close(fd) < 0 && errno != EINTR) return ret_int(env, -errno);
  return ret_int(env, 0);
}

/* ---- pread / pwrite ---- */

/* (fd, buffer, offset, length, position): position null/undefined/-1 = current file position. */
static napi_value do_rw(napi_env env, napi_callback_info info, bool is_write) {
  ARGS(5);
  int fd;
  uint8_t *data;
  size_t blen;
  int64_t off = 0, len, pos = -1;
  TRY(arg_fd(env, argv[0], &fd));
  TRY(arg_bytes(env, argv[1], "buffer", &data, &blen));
  if (!is_nullish(env, argv[2])) TRY(arg_i64(env, argv[2], "offset", 0, (int64_t)blen, &off));
  if (is_nullish(env, argv[3])) len = (int64_t)blen - off;
  else TRY(arg_i64(env, argv[3], "length", 0, (int64_t)blen - off, &len));
  if (!is_nullish(env, argv[4])) TRY(arg_i64(env, argv[4], "position", -1, INT64_MAX, &pos));
  long r;
  if (is_write) r = pos < 0 ? RETRY(write(fd, data + off, (size_t)len))
                         : RETRY(pwrite(fd, data + off, (size_t)len, (off_t)pos));
  else r = pos < 0 ? RETRY(read(fd, data + off, (size_t)len))
                   : RETRY(pread(fd, data + off, (size_t)len, (off_t)pos));
  return ret_sys(env, r);
}

JS_FN(js_pread, do_rw, false)
JS_FN(js_pwrite, do_rw, true)

/* ---- fallocate / lseek / truncate / sync ---- */

/* The (offset, length) of a byte range, from argv[0] and argv[1]. */
static bool arg_range(napi_env env, napi_value *argv, int64_t *off, int64_t *len) {
  return arg_i64(env, argv[0], "offset", INT64_MIN, INT64_MAX, off) &&
         arg_i64(env, argv[1], "length", INT64_MIN, INT64_MAX, len);
}

/* fallocate(fd, mode, offset, length) */
static napi_value js_fallocate(napi_env env, napi_callback_info info) {
  ARGS(4);
  int fd;
  unsigned mode;
  int64_t off, len;
  TRY(arg_fd(env, argv[0], &fd));
  TRY(arg_bits(env, argv[1], "mode", &mode));
  TRY(arg_range(env, argv + 2, &off, &len));
  return ret_sys(env, RETRY(fallocate(fd, (int)mode, (off_t)off, (off_t)len)));
}

/* punchHole(fd, offset, length): deallocate, keep the size; reads return zeros. */
static napi_value js_punch_hole(napi_env env, napi_callback_info info) {
  ARGS(3);
  int fd;
  int64_t off, len;
  TRY(arg_fd(env, argv[0], &fd));
  TRY(arg_range(env, argv + 1, &off, &len));
  return ret_sys(env, RETRY(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
                                      (off_t)len)));
}

/*
 * ioctlBuf(fd, cmd, buffer) -> the ioctl's result | -errno, for the ioctls whose argument is a
 * pointer to a buffer of _IOC_SIZE(cmd) bytes (read and/or written by the kernel). The buffer
 * must hold at least that many bytes (EINVAL otherwise): the kernel trusts the size in cmd.
 */
static napi_value js_ioctl_buf(napi_env env, napi_callback_info info) {
  ARGS(3);
  int fd;
  unsigned cmd;
  uint8_t *data;
  size_t blen;
  TRY(arg_fd(env, argv[0], &fd));
  TRY(arg_bits(env, argv[1], "cmd", &cmd));
  TRY(arg_bytes(env, argv[2], "buffer", &data, &blen));
  if (blen < _IOC_SIZE(cmd)) return ret_int(env, -EINVAL);
  return ret_sys(env, RETRY(ioctl(fd, cmd, data)));
}

/* copyFileRange(fdIn, offIn, fdOut, offOut, length, flags) -> bytes copied | -errno (offsets
 * explicit, so neither file position moves). */
static napi_value js_copy_file_range(napi_env env, napi_callback_info info) {
  ARGS(6);
  int fd_in, fd_out;
  int64_t off_in, off_out, len;
  unsigned flags;
  TRY(arg_fd(env, argv[0], &fd_in));
  TRY(arg_i64(env, argv[1], "offIn", INT64_MIN, INT64_MAX, &off_in));
  TRY(arg_fd(env, argv[2], &fd_out));
  TRY(arg_i64(env, argv[3], "offOut", INT64_MIN, INT64_MAX, &off_out));
  TRY(arg_i64(env, argv[4], "length", 0, INT64_MAX, &len));
  TRY(arg_bits(env, argv[5], "flags", &flags));
  loff_t a = (loff_t)off_in, b = (loff_t)off_out;
  return ret_sys(env, RETRY(copy_file_range(fd_in, &a, fd_out, &b, (size_t)len, flags)));
}

/* lseek(fd, offset, whence) -> offset | -errno (SEEK_DATA/SEEK_HOLE: -ENXIO at or past EOF) */
static napi_value js_lseek(napi_env env, napi_callback_info info) {
  ARGS(3);
  int fd, whence;
  int64_t off;
  TRY(arg_fd(env, argv[0], &fd));
  TRY(arg_i64(env, argv[1], "offset", INT64_MIN, INT64_MAX, &off));
  TRY(arg_int(env, argv[2], "whence", &whence));
  off_t r = lseek(fd, (off_t)off, whence);
  return ret_int(env, r < 0 ? -errno : (int64_t)r);
}

static napi_value js_ftruncate(napi_env env, napi_callback_info info) {
  ARGS(2);
  int fd;
  int64_t len;
  TRY(arg_fd(env, argv[0], &fd));
  TRY(arg_i64(env, argv[1], "length", INT64_MIN, INT64_MAX, &len));
  return ret_sys(env, RETRY(ftruncate(fd, (off_t)len)));
}

static napi_value js_truncate(napi_env env, napi_callback_info info) {
  ARGS(2);
  int pending = 0;
  int64_t len;
  PATH_ARG(path, 0, "path");
  TRY(arg_i64(env, argv[1], "length", INT64_MIN, INT64_MAX, &len));
  CHECK_PENDING();
  return ret_sys(env, RETRY(truncate(path, (off_t)len)));
}

/* fsync(fd) / fdatasync(fd) -> 0 | -errno */
static napi_value do_sync(napi_env env, napi_callback_info info, int (*sync_fd)(int)) {
  ARGS(1);
  int fd;
  TRY(arg_fd(env, argv[0], &fd));
  return ret_sys(env, RETRY(sync_fd(fd)));
}

JS_FN(js_fsync, do_sync, fsync)
JS_FN(js_fdatasync, do_sync, fdatasync)

/* ---- xattrs ---- */

/* What an xattr call acts on: a path (the l* calls, which do not follow a symlink) or an fd. */
typedef struct {
  const char *path; /* NULL: use fd */
  int fd;
} xtarget;

static ssize_t x_get(const xtarget *t, const char *name, void *buf, size_t size) {
  return t->path ? lgetxattr(t->path, name, buf, size) : fgetxattr(t->fd, name, buf, size);
}

static ssize_t x_list(const xtarget *t, char *buf, size_t size) {
  return t->path ? llistxattr(t->path, buf, size) : flistxattr(t->fd, buf, size);
}

static int x_set(const xtarget *t, const char *name, const void *value, size_t size, int flags) {
  return t->path ? lsetxattr(t->path, name, value, size, flags)
                 : fsetxattr(t->fd, name, value, size, flags);
}

static int x_remove(const xtarget *t, const char *name) {
  return t->path ? lremovexattr(t->path, name) : fremovexattr(t->fd, name);
}

/* The first argument of an xattr call: an fd (byfd, the f* calls) or a path (into buf). */
static bool arg_xtarget(napi_env env, napi_value v, bool byfd, char *buf, xtarget *t,
                        int *pending) {
  t->path = NULL;
  t->fd = -1;
  if (byfd) return arg_fd(env, v, &t->fd);
  return arg_path_x(env, v, "path", buf, false, &t->path, pending);
}

#define XTARGET_ARG(var, byfd)                                                                     \
  char var##_buf[PATH_BUF];                                                                        \
  xtarget var;                                                                                     \
  TRY(arg_xtarget(env, argv[0], byfd, var##_buf, &var, &pending))

#define XATTR_STACK 8192
#define XATTR_TRIES 16

/*
 * Reads a whole xattr value or name list, whatever its size: first into a stack buffer (one
 * syscall for the common small value), then probe the size and retry while a concurrent writer
 * makes it grow (ERANGE). On success returns the length, *out points to stack or *heap.
 */
static ssize_t x_read_all(const xtarget *t, const char *name, char *stack, char **heap) {
  *heap = NULL;
  ssize_t n = name ? x_get(t, name, stack, XATTR_STACK) : x_list(t, stack, XATTR_STACK);
  if (n >= 0) return n;
  if (errno != ERANGE) return -errno;
  for (int i = 0; i < XATTR_TRIES; i++) {
    ssize_t sz = name ? x_get(t, name, NULL, 0) : x_list(t, NULL, 0);
    if (sz < 0) return -errno;
    char *buf = malloc(sz > 0 ? (size_t)sz : 1);
    if (!buf) return -ENOMEM;
    n = name ? x_get(t, name, buf, (size_t)sz) : x_list(t, buf, (size_t)sz);
    if (n >= 0) {
      *heap = buf;
      return n;
    }
    int e = errno;
    free(buf);
    if (e != ERANGE) return -e;
  }
  return -ERANGE;
}

/* lgetxattr(path, name) / fgetxattr(fd, name) -> Buffer | -errno */
static napi_value do_getxattr(napi_env env, napi_callback_info info, bool byfd) {
  ARGS(2);
  int pending = 0;
  XTARGET_ARG(t, byfd);
  PATH_ARG(name, 1, "name");
  CHECK_PENDING();
  char stack[XATTR_STACK], *heap;
  ssize_t n = x_read_all(&t, name, stack, &heap);
  if (n < 0) return ret_int(env, n);
  napi_value r;
  napi_status s = napi_create_buffer_copy(env, (size_t)n, heap ? heap : stack, NULL, &r);
  free(heap);
  return s == napi_ok ? r : NULL;
}

/* llistxattr(path) / flistxattr(fd) -> string[] | -errno */
static napi_value do_listxattr(napi_env env, napi_callback_info info, bool byfd) {
  ARGS(1);
  int pending = 0;
  XTARGET_ARG(t, byfd);
  CHECK_PENDING();
  char stack[XATTR_STACK], *heap;
  ssize_t n = x_read_all(&t, NULL, stack, &heap);
  if (n < 0) return ret_int(env, n);
  const char *p = heap ? heap : stack, *end = p + n;
  napi_value arr = NULL;
  if (napi_create_array(env, &arr) != napi_ok) goto out;
  uint32_t i = 0;
  while (p < end) {
    const char *z = memchr(p, 0, (size_t)(end - p));
    size_t len = z ? (size_t)(z - p) : (size_t)(end - p);
    if (len) {
      napi_value s;
      if (napi_create_string_utf8(env, p, len, &s) != napi_ok ||
          napi_set_element(env, arr, i++, s) != napi_ok) {
        arr = NULL;
        goto out;
      }
    }
    p += len + 1;
  }
out:
  free(heap);
  return arr;
}

/*
 * fgetxattrInto(fd, name, buffer) -> length | -errno (-ERANGE: larger than the buffer). No
 * allocation: for the hot paths that read a small xattr on every call (creating a Buffer costs
 * twice the syscall).
 */
static napi_value js_fgetxattr_into(napi_env env, napi_callback_info info) {
  ARGS(3);
  int pending = 0, fd;
  uint8_t *data;
  size_t blen;
  TRY(arg_fd(env, argv[0], &fd));
  PATH_ARG(name, 1, "name");
  TRY(arg_bytes(env, argv[2], "buffer", &data, &blen));
  CHECK_PENDING();
  return ret_sys(env, fgetxattr(fd, name, data, blen));
}

/* The value of a set: Buffer/TypedArray/DataView or a string (UTF-8). */
static bool arg_value(napi_env env, napi_value v, uint8_t **data, size_t *len, char **heap) {
  napi_valuetype t;
  *heap = NULL;
  if (napi_typeof(env, v, &t) != napi_ok) return false;
  if (t == napi_string) {
    size_t n;
    if (napi_get_value_string_utf8(env, v, NULL, 0, &n) != napi_ok) return false;
    char *b = malloc(n + 1);
    if (!b) {
      napi_throw_error(env, "ENOMEM", "out of memory");
      return false;
    }
    if (napi_get_value_string_utf8(env, v, b, n + 1, &n) != napi_ok) {
      free(b);
      return false;
    }
    *heap = b;
    *data = (uint8_t *)b;
    *len = n;
    return true;
  }
  return arg_bytes(env, v, "value", data, len);
}

/* lsetxattr(path, name, value, flags) / fsetxattr(fd, name, value, flags) -> 0 | -errno */
static napi_value do_setxattr(napi_env env, napi_callback_info info, bool byfd) {
  ARGS(4);
  int pending = 0;
  unsigned flags = 0;
  XTARGET_ARG(t, byfd);
  PATH_ARG(name, 1, "name");
  uint8_t *data;
  size_t len;
  char *heap;
  TRY(arg_value(env, argv[2], &data, &len, &heap));
  if (!arg_opt_bits(env, argv[3], "flags", &flags)) {
    free(heap);
    return NULL;
  }
  int r = pending ? pending : x_set(&t, name, data, len, (int)flags) < 0 ? -errno : 0;
  free(heap);
  return ret_int(env, r);
}

/* lremovexattr(path, name) / fremovexattr(fd, name) -> 0 | -errno */
static napi_value do_removexattr(napi_env env, napi_callback_info info, bool byfd) {
  ARGS(2);
  int pending = 0;
  XTARGET_ARG(t, byfd);
  PATH_ARG(name, 1, "name");
  CHECK_PENDING();
  return ret_sys(env, x_remove(&t, name));
}

/* The l* calls take a path, the f* calls an fd; otherwise they are the same. */
JS_FN(js_lgetxattr, do_getxattr, false)
JS_FN(js_fgetxattr, do_getxattr, true)
JS_FN(js_llistxattr, do_listxattr, false)
JS_FN(js_flistxattr, do_listxattr, true)
JS_FN(js_lsetxattr, do_setxattr, false)
JS_FN(js_fsetxattr, do_setxattr, true)
JS_FN(js_lremovexattr, do_removexattr, false)
JS_FN(js_fremovexattr, do_removexattr, true)

/* ---- sockets, generation ---- */

static bool set_u32_prop(napi_env env, napi_value obj, const char *key, uint32_t v) {
  napi_value n;
  return napi_create_uint32(env, v, &n) == napi_ok &&
         napi_set_named_property(env, obj, key, n) == napi_ok;
}

static bool set_i64_prop(napi_env env, napi_value obj, const char *key, int64_t v) {
  napi_value n;
  return napi_create_int64(env, v, &n) == napi_ok &&
         napi_set_named_property(env, obj, key, n) == napi_ok;
}

/* peerCred(fd) -> {pid, uid, gid} | -errno (SO_PEERCRED: credentials at connect()/socketpair()) */
static napi_value js_peer_cred(napi_env env, napi_callback_info info) {
  ARGS(1);
  int fd;
  TRY(arg_fd(env, argv[0], &fd));
  struct ucred uc;
  socklen_t len = sizeof uc;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0) return ret_int(env, -errno);
  napi_value obj;
  TRY(napi_create_object(env, &obj) == napi_ok);
  TRY(set_i64_prop(env, obj, "pid", uc.pid));
  TRY(set_u32_prop(env, obj, "uid", uc.uid));
  TRY(set_u32_prop(env, obj, "gid", uc.gid));
  return obj;
}

/*
 * sdNotify(path, message) -> 0 | -errno: one datagram to a service manager's notification socket
 * (sd_notify(3)); a path starting with '@' is in the abstract namespace. Node's dgram module has no
 * Unix datagram sockets.
 */
static napi_value js_sd_notify(napi_env env, napi_callback_info info) {
  ARGS(2);
  uint8_t *p, *m;
  size_t pl, ml;
  TRY(arg_bytes(env, argv[0], "path", &p, &pl));
  TRY(arg_bytes(env, argv[1], "message", &m, &ml));
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  if (pl == 0 || pl >= sizeof sa.sun_path) return ret_int(env, -EINVAL);
  memcpy(sa.sun_path, p, pl);
  if (sa.sun_path[0] == '@') sa.sun_path[0] = 0;
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ret_int(env, -errno);
  ssize_t r = sendto(fd, m, ml, MSG_NOSIGNAL, (struct sockaddr *)&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + pl));
  int e = errno;
  close(fd);
  return ret_int(env, r < 0 ? -e : 0);
}

/*
 * getVersion(fd) -> generation (unsigned 32-bit, so never negative) | -errno.
 * FS_IOC_GETVERSION is declared with a long but every filesystem (ext2/3/4, xfs, btrfs, f2fs)
 * stores an int: read a zeroed long and keep the int the kernel wrote.
 */
static napi_value js_get_version(napi_env env, napi_callback_info info) {
  ARGS(1);
  int fd;
  TRY(arg_fd(env, argv[0], &fd));
  union {
    long l;
    unsigned int i;
  } v;
  v.l = 0;
  if (ioctl(fd, DM_FS_IOC_GETVERSION, &v) < 0) return ret_int(env, -errno);
  return ret_u32(env, v.i);
}

/* ---- times ---- */

static bool arg_timespec(napi_env env, napi_value sec, napi_value nsec, const char *nsec_name,
                         const char *sec_name, struct timespec *ts) {
  int64_t s = 0, ns;
  TRY(arg_i64(env, nsec, nsec_name, 0, UTIME_NOW > UTIME_OMIT ? UTIME_NOW : UTIME_OMIT, &ns));
  if (ns > 999999999 && ns != UTIME_NOW && ns != UTIME_OMIT)
    return throw_range(env, nsec_name, "0..999999999, UTIME_NOW or UTIME_OMIT");
  if (ns == UTIME_NOW || ns == UTIME_OMIT) {
    if (!is_nullish(env, sec)) TRY(arg_i64(env, sec, sec_name, INT64_MIN, INT64_MAX, &s));
  } else {
    TRY(arg_i64(env, sec, sec_name, INT64_MIN, INT64_MAX, &s));
  }
  ts->tv_sec = (time_t)s;
  ts->tv_nsec = (long)ns;
  return true;
}

/* The four time arguments (atimeSec, atimeNsec, mtimeSec, mtimeNsec) from argv[0]. */
static bool arg_times(napi_env env, napi_value *argv, struct timespec ts[2]) {
  return arg_timespec(env, argv[0], argv[1], "atimeNsec", "atimeSec", &ts[0]) &&
         arg_timespec(env, argv[2], argv[3], "mtimeNsec", "mtimeSec", &ts[1]);
}

/* utimensat(dirfd, path|null, atimeSec, atimeNsec, mtimeSec, mtimeNsec, flags) */
static napi_value js_utimensat(napi_env env, napi_callback_info info) {
  ARGS(7);
  int pending = 0, dirfd;
  unsigned flags = 0;
  struct timespec ts[2];
  TRY(arg_dirfd(env, argv[0], &dirfd));
  PATH_ARG_OPT(path, 1, "path");
  TRY(arg_times(env, argv + 2, ts));
  TRY(arg_opt_bits(env, argv[6], "flags", &flags));
  CHECK_PENDING();
  if (!path) return ret_sys(env, futimens(dirfd, ts)); /* glibc refuses a NULL path */
  return ret_sys(env, utimensat(dirfd, path, ts, (int)flags));
}

/* futimens(fd, atimeSec, atimeNsec, mtimeSec, mtimeNsec) */
static napi_value js_futimens(napi_env env, napi_callback_info info) {
  ARGS(5);
  int fd;
  struct timespec ts[2];
  TRY(arg_fd(env, argv[0], &fd));
  TRY(arg_times(env, argv + 1, ts));
  return ret_sys(env, futimens(fd, ts));
}

/* ---- namespace operations ---- */

static bool arg_dev(napi_env env, napi_value v, dev_t *out) {
  int64_t d;
  TRY(arg_i64(env, v, "dev", INT64_MIN, INT64_MAX, &d));
  *out = (dev_t)(uint64_t)d;
  return true;
}

/* mknod(path, mode, dev) / mknodat(dirfd, path, mode, dev) */
static napi_value do_mknod(napi_env env, napi_callback_info info, bool at) {
  ARGS(4);
  int pending = 0;
  unsigned mode;
  dev_t dev = 0;
  AT_PATH_ARGS(at);
  TRY(arg_bits(env, argv[i], "mode", &mode));
  if (!is_nullish(env, argv[i + 1])) TRY(arg_dev(env, argv[i + 1], &dev));
  CHECK_PENDING();
  if (!at) return ret_sys(env, mknod(path, (mode_t)mode, dev));
  return ret_sys(env, mknodat(dirfd, path, (mode_t)mode, dev));
}

JS_FN(js_mknod, do_mknod, false)
JS_FN(js_mknodat, do_mknod, true)

/* The (uid, gid) of a chown from argv[0] and argv[1]; -1 = unchanged. */
static bool arg_owner(napi_env env, napi_value *argv, uint32_t *uid, uint32_t *gid) {
  return arg_id(env, argv[0], "uid", uid) && arg_id(env, argv[1], "gid", gid);
}

/* fchownat(dirfd, path, uid, gid, flags); uid/gid -1 = unchanged */
static napi_value js_fchownat(napi_env env, napi_callback_info info) {
  ARGS(5);
  int pending = 0, dirfd;
  uint32_t uid, gid;
  unsigned flags = 0;
  TRY(arg_dirfd(env, argv[0], &dirfd));
  PATH_ARG(path, 1, "path");
  TRY(arg_owner(env, argv + 2, &uid, &gid));
  TRY(arg_opt_bits(env, argv[4], "flags", &flags));
  CHECK_PENDING();
  return ret_sys(env, fchownat(dirfd, path, (uid_t)uid, (gid_t)gid, (int)flags));
}

static napi_value js_fchown(napi_env env, napi_callback_info info) {
  ARGS(3);
  int fd;
  uint32_t uid, gid;
  TRY(arg_fd(env, argv[0], &fd));
  TRY(arg_owner(env, argv + 1, &uid, &gid));
  return ret_sys(env, fchown(fd, (uid_t)uid, (gid_t)gid));
}

static napi_value js_fchmod(napi_env env, napi_callback_info info) {
  ARGS(2);
  int fd;
  unsigned mode;
  TRY(arg_fd(env, argv[0], &fd));
  TRY(arg_bits(env, argv[1], "mode", &mode));
  return ret_sys(env, fchmod(fd, (mode_t)mode));
}

/* fchmodat(dirfd, path, mode, flags) */
static napi_value js_fchmodat(napi_env env, napi_callback_info info) {
  ARGS(4);
  int pending = 0, dirfd;
  unsigned mode, flags = 0;
  TRY(arg_dirfd(env, argv[0], &dirfd));
  PATH_ARG(path, 1, "path");
  TRY(arg_bits(env, argv[2], "mode", &mode));
  TRY(arg_opt_bits(env, argv[3], "flags", &flags));
  CHECK_PENDING();
  return ret_sys(env, fchmodat(dirfd, path, (mode_t)mode, (int)flags));
}

/* The arguments of renameat2 and linkat: (olddirfd, oldpath, newdirfd, newpath, flags). */
typedef struct {
  int olddirfd, newdirfd;
  const char *oldpath, *newpath;
  unsigned flags;
  char oldpath_buf[PATH_BUF], newpath_buf[PATH_BUF];
} old_new_args;

static bool arg_old_new(napi_env env, napi_value *argv, old_new_args *a, int *pending) {
  a->flags = 0;
  return arg_int(env, argv[0], "olddirfd", &a->olddirfd) &&
         arg_path_x(env, argv[1], "oldpath", a->oldpath_buf, false, &a->oldpath, pending) &&
         arg_int(env, argv[2], "newdirfd", &a->newdirfd) &&
         arg_path_x(env, argv[3], "newpath", a->newpath_buf, false, &a->newpath, pending) &&
         arg_opt_bits(env, argv[4], "flags", &a->flags);
}

/* renameat2(olddirfd, oldpath, newdirfd, newpath, flags) */
static napi_value js_renameat2(napi_env env, napi_callback_info info) {
  ARGS(5);
  int pending = 0;
  old_new_args a;
  TRY(arg_old_new(env, argv, &a, &pending));
  CHECK_PENDING();
  if (a.flags == 0) return ret_sys(env, renameat(a.olddirfd, a.oldpath, a.newdirfd, a.newpath));
  return ret_sys(env,
                 syscall(SYS_renameat2, a.olddirfd, a.oldpath, a.newdirfd, a.newpath, a.flags));
}

/* linkat(olddirfd, oldpath, newdirfd, newpath, flags) */
static napi_value js_linkat(napi_env env, napi_callback_info info) {
  ARGS(5);
  int pending = 0;
  old_new_args a;
  TRY(arg_old_new(env, argv, &a, &pending));
  CHECK_PENDING();
  return ret_sys(env, linkat(a.olddirfd, a.oldpath, a.newdirfd, a.newpath, (int)a.flags));
}

/* symlinkat(target, newdirfd, linkpath) */
static napi_value js_symlinkat(napi_env env, napi_callback_info info) {
  ARGS(3);
  int pending = 0, newdirfd;
  PATH_ARG(target, 0, "target");
  TRY(arg_int(env, argv[1], "newdirfd", &newdirfd));
  PATH_ARG(linkpath, 2, "linkpath");
  CHECK_PENDING();
  return ret_sys(env, symlinkat(target, newdirfd, linkpath));
}

/* readlinkat(dirfd, path) -> string | -errno */
static bool want_latin1(napi_env env, size_t argc, napi_value *argv, size_t idx) {
  if (argc <= idx) return false;
  char enc[16];
  size_t len = 0;
  if (napi_get_value_string_utf8(env, argv[idx], enc, sizeof enc, &len) != napi_ok) return false;
  return strcmp(enc, "latin1") == 0;
}

static napi_value js_readlinkat(napi_env env, napi_callback_info info) {
  ARGS(3);
  int pending = 0, dirfd;
  TRY(arg_dirfd(env, argv[0], &dirfd));
  PATH_ARG(path, 1, "path");
  CHECK_PENDING();
  char stack[PATH_BUF];
  char *buf = stack, *heap = NULL;
  size_t cap = sizeof stack;
  ssize_t n;
  for (;;) {
    n = readlinkat(dirfd, path, buf, cap);
    if (n < 0) {
      free(heap);
      return ret_int(env, -errno);
    }
    if ((size_t)n < cap || cap >= (1u << 24)) break;
    cap *= 4; /* possibly truncated (only on filesystems allowing targets >= PATH_MAX) */
    free(heap);
    heap = buf = malloc(cap);
    if (!heap) return ret_int(env, -ENOMEM);
  }
  napi_value s;
  /* encoding "latin1": one char per byte, so names that are not UTF-8 survive the round trip */
  napi_status st = want_latin1(env, argc, argv, 2) ? napi_create_string_latin1(env, buf, (size_t)n, &s)
                                                 : napi_create_string_utf8(env, buf, (size_t)n, &s);
  free(heap);
  return st == napi_ok ? s : NULL;
}

/* mkdirat(dirfd, path, mode) */
static napi_value js_mkdirat(napi_env env, napi_callback_info info) {
  ARGS(3);
  int pending = 0, dirfd;
  unsigned mode;
  TRY(arg_dirfd(env, argv[0], &dirfd));
  PATH_ARG(path, 1, "path");
  TRY(arg_bits(env, argv[2], "mode", &mode));
  CHECK_PENDING();
  return ret_sys(env, mkdirat(dirfd, path, (mode_t)mode));
}

/* unlinkat(dirfd, path, flags) */
static napi_value js_unlinkat(napi_env env, napi_callback_info info) {
  ARGS(3);
  int pending = 0, dirfd;
  unsigned flags = 0;
  TRY(arg_dirfd(env, argv[0], &dirfd));
  PATH_ARG(path, 1, "path");
  TRY(arg_opt_bits(env, argv[2], "flags", &flags));
  CHECK_PENDING();
  return ret_sys(env, unlinkat(dirfd, path, (int)flags));
}

/* access(path, mode) / faccessat(dirfd, path, mode, flags) */
static napi_value do_access(napi_env env, napi_callback_info info, bool at) {
  ARGS(4);
  int pending = 0;
  unsigned mode, flags = 0;
  AT_PATH_ARGS(at);
  TRY(arg_bits(env, argv[i], "mode", &mode));
  if (at) TRY(arg_opt_bits(env, argv[i + 1], "flags", &flags)); /* access has no flags */
  CHECK_PENDING();
  if (!at) return ret_sys(env, access(path, (int)mode));
  return ret_sys(env, faccessat(dirfd, path, (int)mode, (int)flags));
}

JS_FN(js_access, do_access, false)
JS_FN(js_faccessat, do_access, true)

/* ---- credentials ---- */

/*
 * setfsuid(uid) / setfsgid(gid) -> the previous value. Per THREAD on Linux (the raw syscall, not
 * propagated to other threads), which is what a daemon acting for a caller wants. Passing -1 only
 * queries. The kernel reports no error: check by calling again with -1.
 */
static napi_value do_setfsid(napi_env env, napi_callback_info info, const char *name, long nr) {
  ARGS(1);
  uint32_t id;
  TRY(arg_id(env, argv[0], name, &id));
  return ret_u32(env, (uint32_t)syscall(nr, (uid_t)id)); /* uid_t and gid_t are the same type */
}

JS_FN(js_setfsuid, do_setfsid, "uid", SYS_setfsuid)
JS_FN(js_setfsgid, do_setfsid, "gid", SYS_setfsgid)

/*
 * clearAppend(fd) -> 0 | -errno: drops O_APPEND from an open file's status flags (F_SETFL). The
 * kernel refuses it (-EPERM) for an append-only inode, whose writes must all append.
 */
static napi_value js_clear_append(napi_env env, napi_callback_info info) {
  ARGS(1);
  int fd;
  TRY(arg_fd(env, argv[0], &fd));
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0) return ret_int(env, -errno);
  if (!(fl & O_APPEND)) return ret_int(env, 0);
  return ret_sys(env, fcntl(fd, F_SETFL, fl & ~O_APPEND));
}

/*
 * capEffective(cap, on) -> 1 | 0 (whether `cap` was in the effective set before) | -errno. Raises
 * or drops one capability in the calling THREAD's effective set (capget/capset act per thread),
 * the permitted set unchanged, so it can be raised again. setfsuid drops only the file capabilities;
 * a daemon writing for a caller also drops CAP_SYS_RESOURCE, so that the caller's limits (root's
 * reserved blocks, quotas) apply to the write.
 */
static napi_value js_cap_effective(napi_env env, napi_callback_info info) {
  ARGS(2);
  int cap;
  bool on;
  TRY(arg_int(env, argv[0], "cap", &cap));
  if (napi_get_value_bool(env, argv[1], &on) != napi_ok) {
    napi_throw_type_error(env, NULL, "on must be a boolean");
    return NULL;
  }
  if (cap < 0 || cap >= 64) return ret_int(env, -EINVAL);
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
  if (syscall(SYS_capget, &hdr, data) < 0) return ret_int(env, -errno);
  uint32_t bit = 1u << (cap % 32);
  int was = (data[cap / 32].effective & bit) != 0;
  if (on) data[cap / 32].effective |= bit;
  else data[cap / 32].effective &= ~bit;
  if (syscall(SYS_capset, &hdr, data) < 0) return ret_int(env, -errno);
  return ret_int(env, was);
}

/* ---- locks ---- */

/* flock(fd, op) -> 0 | -errno. A blocking wait interrupted by a signal returns -EINTR. */
static napi_value js_flock(napi_env env, napi_callback_info info) {
  ARGS(2);
  int fd, op;
  TRY(arg_fd(env, argv[0], &fd));
  TRY(arg_int(env, argv[1], "op", &op));
  return ret_sys(env, flock(fd, op));
}

/*
 * fcntlLock(fd, cmd, type, whence, start, len)
 *   cmd F_SETLK/F_SETLKW/F_OFD_SETLK/F_OFD_SETLKW -> 0 | -errno (-EAGAIN/-EACCES on conflict,
 *   -EINTR when a blocking wait was interrupted, -EDEADLK for a detected deadlock);
 *   cmd F_GETLK/F_OFD_GETLK -> {type, whence, start, len, pid} | -errno, where type is F_UNLCK if
 *   nothing conflicts, and pid is -1 for an OFD lock holder.
 */
static napi_value js_fcntl_lock(napi_env env, napi_callback_info info) {
  ARGS(6);
  int fd, cmd, type, whence;
  int64_t start, len;
  TRY(arg_fd(env, argv[0], &fd));
  TRY(arg_int(env, argv[1], "cmd", &cmd));
  TRY(arg_int(env, argv[2], "type", &type));
  TRY(arg_int(env, argv[3], "whence", &whence));
  TRY(arg_i64(env, argv[4], "start", INT64_MIN, INT64_MAX, &start));
  TRY(arg_i64(env, argv[5], "len", INT64_MIN, INT64_MAX, &len));
  bool get = cmd == F_GETLK || cmd == F_OFD_GETLK;
  if (!get && cmd != F_SETLK && cmd != F_SETLKW && cmd != F_OFD_SETLK && cmd != F_OFD_SETLKW)
    return ret_int(env, -EINVAL);
  struct flock fl;
  memset(&fl, 0, sizeof fl); /* l_pid must be 0 for the OFD commands */
  fl.l_type = (short)type;
  fl.l_whence = (short)whence;
  fl.l_start = (off_t)start;
  fl.l_len = (off_t)len;
  if (fcntl(fd, cmd, &fl) < 0) return ret_int(env, -errno);
  if (!get) return ret_int(env, 0);
  napi_value obj;
  TRY(napi_create_object(env, &obj) == napi_ok);
  TRY(set_i64_prop(env, obj, "type", fl.l_type));
  TRY(set_i64_prop(env, obj, "whence", fl.l_whence));
  TRY(set_i64_prop(env, obj, "start", fl.l_start));
  TRY(set_i64_prop(env, obj, "len", fl.l_len));
  TRY(set_i64_prop(env, obj, "pid", fl.l_pid));
  return obj;
}

/* ---- mount ---- */

/* mount(source|null, target, fstype|null, flags, data|null) */
static napi_value js_mount(napi_env env, napi_callback_info info) {
  ARGS(5);
  int pending = 0;
  int64_t flags = 0;
  PATH_ARG_OPT(source, 0, "source");
  PATH_ARG(target, 1, "target");
  PATH_ARG_OPT(fstype, 2, "fstype");
  if (!is_nullish(env, argv[3])) TRY(arg_i64(env, argv[3], "flags", 0, INT64_MAX, &flags));
  PATH_ARG_OPT(data, 4, "data");
  CHECK_PENDING();
  return ret_sys(env, mount(source, target, fstype, (unsigned long)flags, data));
}

/* umount2(target, flags) */
static napi_value js_umount2(napi_env env, napi_callback_info info) {
  ARGS(2);
  int pending = 0;
  unsigned flags = 0;
  PATH_ARG(target, 0, "target");
  TRY(arg_opt_bits(env, argv[1], "flags", &flags));
  CHECK_PENDING();
  return ret_sys(env, umount2(target, (int)flags));
}

/* ---- errno ---- */

#define ERRNO_LIST(X)                                                                              \
  X(EPERM) X(ENOENT) X(ESRCH) X(EINTR) X(EIO) X(ENXIO) X(E2BIG) X(ENOEXEC) X(EBADF) X(ECHILD)      \
  X(EAGAIN) X(ENOMEM) X(EACCES) X(EFAULT) X(ENOTBLK) X(EBUSY) X(EEXIST) X(EXDEV) X(ENODEV)        \
  X(ENOTDIR) X(EISDIR) X(EINVAL) X(ENFILE) X(EMFILE) X(ENOTTY) X(ETXTBSY) X(EFBIG) X(ENOSPC)      \
  X(ESPIPE) X(EROFS) X(EMLINK) X(EPIPE) X(EDOM) X(ERANGE) X(EDEADLK) X(ENAMETOOLONG) X(ENOLCK)    \
  X(ENOSYS) X(ENOTEMPTY) X(ELOOP) X(ENOMSG) X(EIDRM) X(ENOSTR) X(ENODATA) X(ETIME) X(ENOSR)       \
  X(ENOLINK) X(EPROTO) X(EMULTIHOP) X(EBADMSG) X(EOVERFLOW) X(EBADFD) X(EILSEQ) X(ERESTART)       \
  X(EUSERS) X(ENOTSOCK) X(EDESTADDRREQ) X(EMSGSIZE) X(EPROTOTYPE) X(ENOPROTOOPT)                  \
  X(EPROTONOSUPPORT) X(ESOCKTNOSUPPORT) X(EOPNOTSUPP) X(EPFNOSUPPORT) X(EAFNOSUPPORT)             \
  X(EADDRINUSE) X(EADDRNOTAVAIL) X(ENETDOWN) X(ENETUNREACH) X(ENETRESET) X(ECONNABORTED)          \
  X(ECONNRESET) X(ENOBUFS) X(EISCONN) X(ENOTCONN) X(ESHUTDOWN) X(ETOOMANYREFS) X(ETIMEDOUT)      \
  X(ECONNREFUSED) X(EHOSTDOWN) X(EHOSTUNREACH) X(EALREADY) X(EINPROGRESS) X(ESTALE) X(EUCLEAN)    \
  X(EREMOTEIO) X(EDQUOT) X(ENOMEDIUM) X(EMEDIUMTYPE) X(ECANCELED) X(ENOKEY) X(EKEYEXPIRED)        \
  X(EKEYREVOKED) X(EKEYREJECTED) X(EOWNERDEAD) X(ENOTRECOVERABLE) X(ERFKILL) X(EHWPOISON)
/* Aliases exported as constants but never returned by errnoName. */
#define ERRNO_ALIASES(X) X(EWOULDBLOCK) X(EDEADLOCK) X(ENOTSUP)

static const struct {
  int num;
  const char *name;
} errno_table[] = {
#define X(e) {e, #e},
    ERRNO_LIST(X)
#undef X
};

static bool arg_errno(napi_env env, napi_value v, int *out) {
  int n;
  TRY(arg_int(env, v, "errno", &n));
  *out = n < 0 ? -n : n;
  return true;
}

/* errnoName(n) -> 'ENOENT' ... (n positive or negative) | undefined when unknown */
static napi_value js_errno_name(napi_env env, napi_callback_info info) {
  ARGS(1);
  int n;
  TRY(arg_errno(env, argv[0], &n));
  for (size_t i = 0; i < sizeof errno_table / sizeof errno_table[0]; i++) {
    if (errno_table[i].num == n) {
      napi_value s;
      TRY(napi_create_string_utf8(env, errno_table[i].name, NAPI_AUTO_LENGTH, &s) == napi_ok);
      return s;
    }
  }
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

/* strerror(n) -> the C library's message (n positive or negative) */
static napi_value js_strerror(napi_env env, napi_callback_info info) {
  ARGS(1);
  int n;
  TRY(arg_errno(env, argv[0], &n));
  char buf[256];
  const char *m = strerror_r(n, buf, sizeof buf);
  napi_value s;
  TRY(napi_create_string_utf8(env, m, NAPI_AUTO_LENGTH, &s) == napi_ok);
  return s;
}

/* ---- /proc/<pid>/maps scan ---- */

typedef struct {
  uint64_t ino;
  uint32_t maj, min;
} map_key;

static int key_cmp(const void *a, const void *b) {
  const map_key *x = a, *y = b;
  if (x->ino != y->ino) return x->ino < y->ino ? -1 : 1;
  if (x->maj != y->maj) return x->maj < y->maj ? -1 : 1;
  if (x->min != y->min) return x->min < y->min ? -1 : 1;
  return 0;
}

static bool keys_have(const map_key *keys, size_t n, uint32_t maj, uint32_t min, uint64_t ino) {
  size_t lo = 0, hi = n;
  while (lo < hi) { /* first key with key.ino >= ino */
    size_t mid = lo + (hi - lo) / 2;
    if (keys[mid].ino < ino) lo = mid + 1;
    else hi = mid;
  }
  for (; lo < n && keys[lo].ino == ino; lo++)
    if (keys[lo].maj == maj && keys[lo].min == min) return true;
  return false;
}

static inline int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* "start-end perms offset MAJ:MIN inode  path": does the line map one of the keys? */
static bool line_matches(const char *p, const char *e, const map_key *keys, size_t n) {
  for (int field = 0; field < 3; field++) { /* skip range, perms, offset */
    p = memchr(p, ' ', (size_t)(e - p));
    if (!p) return false;
    p++;
  }
  uint32_t maj = 0, min = 0;
  int h;
  while (p < e && (h = hexval(*p)) >= 0) maj = (maj << 4) | (uint32_t)h, p++;
  if (p >= e || *p != ':') return false;
  p++;
  while (p < e && (h = hexval(*p)) >= 0) min = (min << 4) | (uint32_t)h, p++;
  if (p >= e || *p != ' ') return false;
  p++;
  uint64_t ino = 0;
  while (p < e && *p >= '0' && *p <= '9') ino = ino * 10 + (uint64_t)(*p - '0'), p++;
  if (ino == 0) return false; /* anonymous mapping */
  return keys_have(keys, n, maj, min, ino);
}

#define MAPS_BUF 32768
#define SCAN_MAX_THREADS 8
#define SCAN_PROCS_PER_THREAD 48 /* below this many processes per thread, fewer threads */
#define SCAN_CHUNK 8             /* processes claimed at a time by a worker */

/*
 * PROCMAP_QUERY (Linux 6.11+, linux/fs.h): an ioctl on an open /proc/<pid>/maps that returns the
 * next file-backed VMA with its device and inode, without formatting text or resolving the path.
 * About a quarter cheaper than parsing the text; older kernels answer ENOTTY and the text is used.
 */
struct dm_procmap_query {
  uint64_t size;
  uint64_t query_flags;
  uint64_t query_addr;
  uint64_t vma_start;
  uint64_t vma_end;
  uint64_t vma_flags;
  uint64_t vma_page_size;
  uint64_t vma_offset;
  uint64_t inode;
  uint32_t dev_major;
  uint32_t dev_minor;
  uint32_t vma_name_size;
  uint32_t build_id_size;
  uint64_t vma_name_addr;
  uint64_t build_id_addr;
};
#define DM_PROCMAP_QUERY _IOWR('f', 17, struct dm_procmap_query)
#define DM_PROCMAP_QUERY_COVERING_OR_NEXT_VMA 0x10
#define DM_PROCMAP_QUERY_FILE_BACKED_VMA 0x20

static int procmap_query_unsupported; /* set (atomically) once the kernel said ENOTTY */

/* 1: a key is mapped; 0: not (or the process vanished / has no mm); -1: ioctl unsupported. */
static int scan_one_query(int fd, const map_key *keys, size_t nkeys) {
  struct dm_procmap_query q;
  uint64_t addr = 0;
  for (;;) {
    memset(&q, 0, sizeof q);
    q.size = sizeof q;
    q.query_flags = DM_PROCMAP_QUERY_COVERING_OR_NEXT_VMA | DM_PROCMAP_QUERY_FILE_BACKED_VMA;
    q.query_addr = addr;
    if (ioctl(fd, DM_PROCMAP_QUERY, &q) < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOTTY || errno == EOPNOTSUPP || errno == ENOSYS) return -1;
      return 0; /* ENOENT: no VMA past addr; ESRCH: exited or a kernel thread */
    }
    if (q.inode && keys_have(keys, nkeys, q.dev_major, q.dev_minor, q.inode)) return 1;
    if (q.vma_end <= addr) return 0;
    addr = q.vma_end;
  }
}

/* 1 when the process maps a key, 0 when not (or it vanished / is unreadable). */
static int scan_one(int procfd, int32_t pid, const map_key *keys, size_t nkeys, bool text,
                    char *buf) {
  char rel[32];
  snprintf(rel, sizeof rel, "%d/maps", (int)pid);
  int fd = openat(procfd, rel, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return 0;
  if (!text && !__atomic_load_n(&procmap_query_unsupported, __ATOMIC_RELAXED)) {
    int r = scan_one_query(fd, keys, nkeys);
    if (r >= 0) {
      close(fd);
      return r;
    }
    __atomic_store_n(&procmap_query_unsupported, 1, __ATOMIC_RELAXED);
  }
  size_t have = 0;
  bool skipping = false, hit = false;
  for (;;) {
    ssize_t n = read(fd, buf + have, MAPS_BUF - have);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0 && have && !skipping) hit = line_matches(buf, buf + have, keys, nkeys);
      break;
    }
    have += (size_t)n;
    char *p = buf, *end = buf + have;
    for (;;) {
      char *nl = memchr(p, '\n', (size_t)(end - p));
      if (!nl) break;
      if (skipping) skipping = false;
      else if (line_matches(p, nl, keys, nkeys)) {
        hit = true;
        goto done;
      }
      p = nl + 1;
    }
    size_t rest = (size_t)(end - p);
    if (rest == MAPS_BUF) { /* a line longer than the buffer: its head has the fields we need */
      if (!skipping && line_matches(p, end, keys, nkeys)) {
        hit = true;
        goto done;
      }
      skipping = true;
      have = 0;
    } else {
      memmove(buf, p, rest);
      have = rest;
    }
  }
done:
  close(fd);
  return hit;
}

/*
 * The work of one scan, shared by its threads: the kernel's cost of generating each maps file
 * (about 0.5 µs per line) dominates, so the processes are spread over a few threads, each
 * claiming SCAN_CHUNK of them at a time and marking hits in its own slots.
 */
typedef struct {
  int procfd;
  const map_key *keys;
  size_t nkeys;
  const int32_t *pids;
  uint8_t *hits;
  size_t npids;
  bool text; /* parse the text even where PROCMAP_QUERY works */
  size_t next; /* atomically advanced */
} scan_job;

static void scan_work(scan_job *job, char *buf) {
  for (;;) {
    size_t i = __atomic_fetch_add(&job->next, SCAN_CHUNK, __ATOMIC_RELAXED);
    if (i >= job->npids) return;
    size_t end = i + SCAN_CHUNK < job->npids ? i + SCAN_CHUNK : job->npids;
    for (; i < end; i++)
      job->hits[i] =
          (uint8_t)scan_one(job->procfd, job->pids[i], job->keys, job->nkeys, job->text, buf);
  }
}

static void *scan_thread(void *arg) {
  char *buf = malloc(MAPS_BUF);
  if (buf) { /* without memory this thread does nothing; the others (and the caller) do it all */
    scan_work(arg, buf);
    free(buf);
  }
  return NULL;
}

static long cpu_count(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? n : 1;
}

/* The pids (ascending) of processes mapping any key; -errno if /proc cannot be read. */
static napi_value scan_maps(napi_env env, map_key *keys, size_t nkeys, bool text) {
  qsort(keys, nkeys, sizeof *keys, key_cmp);
  napi_value arr;
  TRY(napi_create_array(env, &arr) == napi_ok);
  if (nkeys == 0) return arr;
  DIR *d = opendir("/proc");
  if (!d) return ret_int(env, -errno);
  int32_t *pids = NULL;
  size_t npids = 0, cap = 0;
  int err = 0;
  for (;;) {
    errno = 0;
    struct dirent *de = readdir(d);
    if (!de) {
      err = errno;
      break;
    }
    const char *s = de->d_name;
    if (*s < '1' || *s > '9') continue;
    long pid = 0;
    for (; *s >= '0' && *s <= '9' && pid <= INT32_MAX; s++) pid = pid * 10 + (*s - '0');
    if (*s || pid > INT32_MAX) continue;
    if (npids == cap) {
      size_t ncap = cap ? cap * 2 : 1024;
      int32_t *np = realloc(pids, ncap * sizeof *np);
      if (!np) {
        err = ENOMEM;
        break;
      }
      pids = np;
      cap = ncap;
    }
    pids[npids++] = (int32_t)pid;
  }
  uint8_t *hits = err ? NULL : calloc(npids ? npids : 1, 1);
  char *buf = err ? NULL : malloc(MAPS_BUF);
  if (!err && (!hits || !buf)) err = ENOMEM;
  if (err) {
    closedir(d);
    free(pids);
    free(hits);
    free(buf);
    return ret_int(env, -err);
  }

  scan_job job = {dirfd(d), keys, nkeys, pids, hits, npids, text, 0};
  long nthreads = cpu_count();
  if (nthreads > SCAN_MAX_THREADS) nthreads = SCAN_MAX_THREADS;
  if ((size_t)nthreads > npids / SCAN_PROCS_PER_THREAD) nthreads = (long)(npids / SCAN_PROCS_PER_THREAD);
  if (nthreads < 1) nthreads = 1;
  pthread_t threads[SCAN_MAX_THREADS];
  int started = 0;
  if (nthreads > 1) {
    /* Helpers run with every signal blocked: signals stay with Node's threads. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (long t = 1; t < nthreads; t++)
      if (pthread_create(&threads[started], NULL, scan_thread, &job) == 0) started++;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
  }
  scan_work(&job, buf); /* the calling thread works too, so the scan completes whatever started */
  for (int t = 0; t < started; t++) pthread_join(threads[t], NULL);
  closedir(d);
  free(buf);

  /* /proc lists pids in ascending order; keep the result sorted regardless. */
  size_t nhit = 0;
  for (size_t i = 0; i < npids; i++)
    if (hits[i]) pids[nhit++] = pids[i];
  for (size_t i = 1; i < nhit; i++)
    for (size_t j = i; j > 0 && pids[j - 1] > pids[j]; j--) {
      int32_t t = pids[j];
      pids[j] = pids[j - 1];
      pids[j - 1] = t;
    }
  free(hits);
  for (size_t i = 0; i < nhit; i++) {
    napi_value v;
    if (napi_create_int32(env, pids[i], &v) != napi_ok ||
        napi_set_element(env, arr, (uint32_t)i, v) != napi_ok) {
      free(pids);
      return NULL;
    }
  }
  free(pids);
  return arr;
}

static bool arg_key(napi_env env, napi_value maj, napi_value min, napi_value ino, map_key *k) {
  int64_t a, b;
  TRY(arg_i64(env, maj, "devMajor", 0, UINT32_MAX, &a));
  TRY(arg_i64(env, min, "devMinor", 0, UINT32_MAX, &b));
  TRY(arg_u64(env, ino, "ino", &k->ino));
  k->maj = (uint32_t)a;
  k->min = (uint32_t)b;
  return true;
}

/* Options {text: boolean}: parse the maps text even where PROCMAP_QUERY works (for tests). */
static bool arg_scan_opts(napi_env env, napi_value v, bool *text) {
  *text = false;
  if (is_nullish(env, v)) return true;
  napi_valuetype t;
  TRY(napi_typeof(env, v, &t) == napi_ok);
  if (t != napi_object) return throw_type(env, "options", "an object");
  napi_value f;
  TRY(napi_get_named_property(env, v, "text", &f) == napi_ok);
  if (is_nullish(env, f)) return true;
  if (napi_get_value_bool(env, f, text) != napi_ok) return throw_type(env, "options.text", "a boolean");
  return true;
}

/* scanMaps(devMajor, devMinor, ino, options?) -> pid[] | -errno */
static napi_value js_scan_maps(napi_env env, napi_callback_info info) {
  ARGS(4);
  map_key k;
  bool text;
  TRY(arg_key(env, argv[0], argv[1], argv[2], &k));
  TRY(arg_scan_opts(env, argv[3], &text));
  return scan_maps(env, &k, 1, text);
}

/* scanMapsFor([[major, minor, ino], ...], options?) -> pid[] | -errno */
static napi_value js_scan_maps_for(napi_env env, napi_callback_info info) {
  ARGS(2);
  bool is, text;
  TRY(arg_scan_opts(env, argv[1], &text));
  TRY(napi_is_array(env, argv[0], &is) == napi_ok);
  if (!is) return throw_type(env, "list", "an array of [major, minor, ino]"), NULL;
  uint32_t n;
  TRY(napi_get_array_length(env, argv[0], &n) == napi_ok);
  map_key *keys = malloc((n ? n : 1) * sizeof *keys);
  if (!keys) return ret_int(env, -ENOMEM);
  for (uint32_t i = 0; i < n; i++) {
    napi_value e, f[3];
    bool ok = napi_get_element(env, argv[0], i, &e) == napi_ok &&
              napi_is_array(env, e, &is) == napi_ok;
    uint32_t len = 0;
    if (ok && is) ok = napi_get_array_length(env, e, &len) == napi_ok;
    if (ok && (!is || len != 3)) {
      throw_type(env, "list", "an array of [major, minor, ino] triples");
      ok = false;
    }
    for (uint32_t j = 0; ok && j < 3; j++) ok = napi_get_element(env, e, j, &f[j]) == napi_ok;
    if (!ok || !arg_key(env, f[0], f[1], f[2], &keys[i])) {
      free(keys);
      return NULL;
    }
  }
  napi_value r = scan_maps(env, keys, n, text);
  free(keys);
  return r;
}

/* ---- module ---- */

NAPI_MODULE_INIT() {
  static const struct {
    const char *name;
    napi_callback cb;
  } fns[] = {
      {"lstat", js_lstat},
      {"readdirat", js_readdirat},
      {"fstat", js_fstat},
      {"fstatat", js_fstatat},
      {"statvfs", js_statvfs},
      {"open", js_open},
      {"openat", js_openat},
      {"openat2", js_openat2},
      {"close", js_close},
      {"pread", js_pread},
      {"pwrite", js_pwrite},
      {"fallocate", js_fallocate},
      {"punchHole", js_punch_hole},
      {"lseek", js_lseek},
      {"ioctlBuf", js_ioctl_buf},
      {"copyFileRange", js_copy_file_range},
      {"ftruncate", js_ftruncate},
      {"truncate", js_truncate},
      {"fsync", js_fsync},
      {"fdatasync", js_fdatasync},
      {"lgetxattr", js_lgetxattr},
      {"lsetxattr", js_lsetxattr},
      {"llistxattr", js_llistxattr},
      {"lremovexattr", js_lremovexattr},
      {"fgetxattr", js_fgetxattr},
      {"fgetxattrInto", js_fgetxattr_into},
      {"fsetxattr", js_fsetxattr},
      {"flistxattr", js_flistxattr},
      {"fremovexattr", js_fremovexattr},
      {"peerCred", js_peer_cred},
      {"sdNotify", js_sd_notify},
      {"getVersion", js_get_version},
      {"utimensat", js_utimensat},
      {"futimens", js_futimens},
      {"mknod", js_mknod},
      {"mknodat", js_mknodat},
      {"fchownat", js_fchownat},
      {"fchown", js_fchown},
      {"fchmod", js_fchmod},
      {"fchmodat", js_fchmodat},
      {"renameat2", js_renameat2},
      {"linkat", js_linkat},
      {"symlinkat", js_symlinkat},
      {"readlinkat", js_readlinkat},
      {"mkdirat", js_mkdirat},
      {"unlinkat", js_unlinkat},
      {"access", js_access},
      {"faccessat", js_faccessat},
      {"setfsuid", js_setfsuid},
      {"setfsgid", js_setfsgid},
      {"capEffective", js_cap_effective},
      {"clearAppend", js_clear_append},
      {"flock", js_flock},
      {"fcntlLock", js_fcntl_lock},
      {"mount", js_mount},
      {"umount2", js_umount2},
      {"errnoName", js_errno_name},
      {"strerror", js_strerror},
      {"scanMaps", js_scan_maps},
      {"scanMapsFor", js_scan_maps_for},
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value f;
    if (napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].cb, NULL, &f) != napi_ok ||
        napi_set_named_property(env, exports, fns[i].name, f) != napi_ok)
      return NULL;
  }

  static const struct {
    const char *name;
    int64_t value;
  } consts[] = {
#define C(x) {#x, (int64_t)(x)},
      C(STAT_FIELDS) C(STATVFS_FIELDS)
      /* open */
      C(O_RDONLY) C(O_WRONLY) C(O_RDWR) C(O_ACCMODE) C(O_CREAT) C(O_EXCL) C(O_NOCTTY) C(O_TRUNC)
      C(O_APPEND) C(O_NONBLOCK) C(O_DSYNC) C(O_SYNC) C(O_DIRECT) C(O_DIRECTORY) C(O_NOFOLLOW)
      C(O_NOATIME) C(O_CLOEXEC) C(O_PATH) C(O_TMPFILE)
      {"RESOLVE_NO_XDEV", DM_RESOLVE_NO_XDEV}, {"RESOLVE_NO_MAGICLINKS", DM_RESOLVE_NO_MAGICLINKS},
      {"RESOLVE_NO_SYMLINKS", DM_RESOLVE_NO_SYMLINKS}, {"RESOLVE_BENEATH", DM_RESOLVE_BENEATH},
      {"RESOLVE_IN_ROOT", DM_RESOLVE_IN_ROOT}, {"RESOLVE_CACHED", DM_RESOLVE_CACHED},
      /* *at */
      C(AT_FDCWD) C(AT_SYMLINK_NOFOLLOW) C(AT_SYMLINK_FOLLOW) C(AT_REMOVEDIR) C(AT_EACCESS)
      C(AT_EMPTY_PATH) C(AT_NO_AUTOMOUNT)
      /* access */
      C(F_OK) C(R_OK) C(W_OK) C(X_OK)
      /* mode */
      C(S_IFMT) C(S_IFSOCK) C(S_IFLNK) C(S_IFREG) C(S_IFBLK) C(S_IFDIR) C(S_IFCHR) C(S_IFIFO)
      C(S_ISUID) C(S_ISGID) C(S_ISVTX)
      /* seek, fallocate */
      C(SEEK_SET) C(SEEK_CUR) C(SEEK_END) C(SEEK_DATA) C(SEEK_HOLE)
      C(FALLOC_FL_KEEP_SIZE) C(FALLOC_FL_PUNCH_HOLE) C(FALLOC_FL_COLLAPSE_RANGE)
      C(FALLOC_FL_ZERO_RANGE) C(FALLOC_FL_INSERT_RANGE) C(FALLOC_FL_UNSHARE_RANGE)
      /* xattr */
      C(XATTR_CREATE) C(XATTR_REPLACE)
      /* times */
      C(UTIME_NOW) C(UTIME_OMIT)
      /* rename */
      C(RENAME_NOREPLACE) C(RENAME_EXCHANGE) C(RENAME_WHITEOUT)
      /* locks */
      C(LOCK_SH) C(LOCK_EX) C(LOCK_UN) C(LOCK_NB)
      C(F_GETLK) C(F_SETLK) C(F_SETLKW) C(F_OFD_GETLK) C(F_OFD_SETLK) C(F_OFD_SETLKW)
      C(F_RDLCK) C(F_WRLCK) C(F_UNLCK)
      /* mount */
      C(MS_RDONLY) C(MS_NOSUID) C(MS_NODEV) C(MS_NOEXEC) C(MS_SYNCHRONOUS) C(MS_REMOUNT)
      C(MS_MANDLOCK) C(MS_DIRSYNC) C(MS_NOATIME) C(MS_NODIRATIME) C(MS_BIND) C(MS_MOVE)
      C(MS_REC) C(MS_SILENT) C(MS_UNBINDABLE) C(MS_PRIVATE) C(MS_SLAVE) C(MS_SHARED)
      C(MS_RELATIME) C(MS_STRICTATIME) C(MS_LAZYTIME)
      C(MNT_FORCE) C(MNT_DETACH) C(MNT_EXPIRE) C(UMOUNT_NOFOLLOW)
#undef C
  };
  for (size_t i = 0; i < sizeof consts / sizeof consts[0]; i++)
    if (!set_i64_prop(env, exports, consts[i].name, consts[i].value)) return NULL;

  napi_value errnos;
  if (napi_create_object(env, &errnos) != napi_ok) return NULL;
#define X(e) if (!set_i64_prop(env, errnos, #e, e)) return NULL;
  ERRNO_LIST(X)
  ERRNO_ALIASES(X)
#undef X
  if (napi_set_named_property(env, exports, "errno", errnos) != napi_ok) return NULL;
  return exports;
}
