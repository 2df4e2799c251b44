/*
 * The peer figure of `npm run bench:events`: the Linux kernel's own permission-event round trip.
 * A child process preads 4 KiB of argv[1] (warm-up argv[3] times, then argv[2] measured times);
 * every read raises FAN_ACCESS_PERM, which this process reads and answers FAN_ALLOW (the C loop a
 * fanotify-based HSM runs). Prints "p50_us p99_us events_per_s" of the measured reads.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/fanotify.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: fanotify-rtt FILE N WARMUP\n");
    return 2;
  }
  const char *file = argv[1];
  int n = atoi(argv[2]), warm = atoi(argv[3]);
  if (n <= 0 || warm < 0) return 2;
  int fan = fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC, O_RDONLY | O_LARGEFILE);
  if (fan < 0) { perror("fanotify-rtt: fanotify_init"); return 1; }
  if (fanotify_mark(fan, FAN_MARK_ADD, FAN_ACCESS_PERM, AT_FDCWD, file) < 0) { perror("fanotify-rtt: fanotify_mark"); return 1; }
  int p[2];
  if (pipe(p) < 0) return 1;
  pid_t child = fork();
  if (child == 0) {
    int fd = open(file, O_RDONLY);
    char b[4096];
    double *t = malloc(sizeof(double) * (size_t)(n + 1));
    for (int i = 0; i < warm + n; i++) {
      double a = now_us();
      if (pread(fd, b, sizeof b, 0) < 0) _exit(1);
      if (i >= warm) t[i - warm] = now_us() - a;
    }
    double total = 0;
    for (int i = 0; i < n; i++) total += t[i];
    t[n] = total;
    if (write(p[1], t, sizeof(double) * (size_t)(n + 1)) < 0) _exit(1);
    _exit(0);
  }
  close(p[1]);
  char buf[8192];
  for (int done = 0; done < warm + n;) {
    ssize_t r = read(fan, buf, sizeof buf);
    if (r <= 0) { perror("fanotify-rtt: read"); return 1; }
    struct fanotify_event_metadata *m = (struct fanotify_event_metadata *)buf;
    for (; FAN_EVENT_OK(m, r); m = FAN_EVENT_NEXT(m, r)) {
      struct fanotify_response resp = {.fd = m->fd, .response = FAN_ALLOW};
      if (write(fan, &resp, sizeof resp) < 0) { perror("fanotify-rtt: write"); return 1; }
      close(m->fd);
      done++;
    }
  }
  double *t = malloc(sizeof(double) * (size_t)(n + 1));
  size_t want = sizeof(double) * (size_t)(n + 1), got = 0;
  while (got < want) {
    ssize_t r = read(p[0], (char *)t + got, want - got);
    if (r <= 0) return 1;
    got += (size_t)r;
  }
  int st;
  waitpid(child, &st, 0);
  double total = t[n];
  qsort(t, (size_t)n, sizeof(double), cmp);
  printf("%.1f %.1f %.0f\n", t[n / 2], t[(int)(n * 0.99)], n / (total / 1e6));
  return 0;
}
