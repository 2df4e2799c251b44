/*
 * The peer figure of `npm run bench:dmapi`: the Linux kernel's fanotify notification events
 * (FAN_ACCESS, one per 1-byte pread, over FILES files) read by a C consumer that keeps at most
 * WINDOW events unread, the same window the DMAPI sender uses.
 * Usage: fanotify-async DIR EVENTS WINDOW FILES; prints "consumed ns produced overflows".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long n_events, window_size, n_files;
static int *fds;
static unsigned produced, consumed, done;

static void die(const char *what) { fprintf(stderr, "%s: %s\n", what, strerror(errno)); exit(1); }
static long futex(unsigned *addr, int op, unsigned val) { return syscall(SYS_futex, addr, op, val, NULL, NULL, 0); }

/* The producer: one pread of 1 byte = one FAN_ACCESS event; waits while WINDOW events are unread. */
static void *producer(void *arg) {
  (void)arg;
  char b;
  for (long i = 0; i < n_events; i++) {
    for (;;) {
      unsigned c = __atomic_load_n(&consumed, __ATOMIC_ACQUIRE);
      if ((long)(i - c) < window_size) break;
      futex(&consumed, FUTEX_WAIT_PRIVATE, c);
    }
    if (pread(fds[i % n_files], &b, 1, 0) != 1) die("pread");
    __atomic_store_n(&produced, (unsigned)(i + 1), __ATOMIC_RELEASE);
  }
  __atomic_store_n(&done, 1, __ATOMIC_RELEASE);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 5) { fprintf(stderr, "usage: %s DIR EVENTS WINDOW FILES\n", argv[0]); return 2; }
  const char *dir = argv[1];
  n_events = atol(argv[2]); window_size = atol(argv[3]); n_files = atol(argv[4]);
  struct rlimit rl = { n_files + 64, n_files + 64 };
  if (setrlimit(RLIMIT_NOFILE, &rl) < 0) die("setrlimit");
  fds = malloc(sizeof(int) * n_files);
  char name[PATH_MAX];
  for (long i = 0; i < n_files; i++) {
    snprintf(name, sizeof name, "%s/f%ld", dir, i);
    fds[i] = open(name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fds[i] < 0 || write(fds[i], "x", 1) != 1) die(name);
  }
  int fan = fanotify_init(FAN_CLASS_NOTIF | FAN_REPORT_FID | FAN_CLOEXEC, O_RDONLY);
  if (fan < 0) die("fanotify_init");
  if (fanotify_mark(fan, FAN_MARK_ADD, FAN_ACCESS | FAN_EVENT_ON_CHILD, AT_FDCWD, dir) < 0) die("fanotify_mark");
  static char buf[1 << 20] __attribute__((aligned(8)));
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  pthread_t th;
  if (pthread_create(&th, NULL, producer, NULL)) die("pthread_create");
  long got = 0, overflow = 0;
  while (got < n_events) {
    struct pollfd p = { fan, POLLIN, 0 };
    int r = poll(&p, 1, 2000);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) die("poll");
    if (r == 0) {
      if (__atomic_load_n(&done, __ATOMIC_ACQUIRE)) break; /* events merged or lost: the count tells */
      continue;
    }
    ssize_t n = read(fan, buf, sizeof buf);
    if (n < 0) die("read");
    struct fanotify_event_metadata *m = (struct fanotify_event_metadata *)buf;
    for (; FAN_EVENT_OK(m, n); m = FAN_EVENT_NEXT(m, n)) {
      if (m->vers != FANOTIFY_METADATA_VERSION) { fprintf(stderr, "fanotify metadata version %d\n", m->vers); return 1; }
      if (m->mask & FAN_Q_OVERFLOW) overflow++;
      else got++;
    }
    __atomic_store_n(&consumed, (unsigned)got, __ATOMIC_RELEASE);
    futex(&consumed, FUTEX_WAKE_PRIVATE, 1);
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  pthread_join(th, NULL);
  long ns = (t1.tv_sec - t0.tv_sec) * 1000000000L + (t1.tv_nsec - t0.tv_nsec);
  printf("%ld %ld %u %ld\n", got, ns, __atomic_load_n(&produced, __ATOMIC_ACQUIRE), overflow);
  return 0;
}
