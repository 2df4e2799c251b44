/* The kernel's POSIX record locks (fs/locks.c) in a plain C loop: the in-process peer of the DLM
 * engine benchmark with nothing in the way (no N-API crossing, no JavaScript).
 *
 *   fcntl-pairs FILE N
 *
 * prints two lines, "pairs <ns>" for N fcntl(F_SETLK, F_WRLCK) + fcntl(F_SETLK, F_UNLCK) pairs
 * on the whole file, and "conversions <ns>" for N conversions of a held lock (F_RDLCK→F_WRLCK and
 * back, each fcntl one conversion). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int lk(int fd, short type) {
  struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0 };
  return fcntl(fd, F_SETLK, &fl);
}

int main(int argc, char **argv) {
  if (argc != 3) { fprintf(stderr, "usage: fcntl-pairs FILE N\n"); return 2; }
  long n = atol(argv[2]);
  int fd = open(argv[1], O_RDWR | O_CREAT, 0600);
  if (fd < 0 || n <= 0) { perror("fcntl-pairs"); return 1; }
  long long t0 = now_ns();
  for (long i = 0; i < n; i++) {
    if (lk(fd, F_WRLCK) || lk(fd, F_UNLCK)) { perror("fcntl pair"); return 1; }
  }
  printf("pairs %lld\n", now_ns() - t0);
  if (lk(fd, F_RDLCK)) { perror("fcntl"); return 1; }
  t0 = now_ns();
  for (long i = 0; i < n; i += 2) {
    if (lk(fd, F_WRLCK) || lk(fd, F_RDLCK)) { perror("fcntl conversion"); return 1; }
  }
  printf("conversions %lld\n", now_ns() - t0);
  lk(fd, F_UNLCK);
  close(fd);
  return 0;
}
