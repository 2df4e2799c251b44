/* The mmap-busy check done the best plain way we know, as the peer of the daemon's scanMapsFor:
 * one thread, readdir(/proc), each /proc/<pid>/maps read whole with read(2) into one reused
 * buffer, each line's "dev inode" fields compared in place (no allocation, no copy per line).
 *
 *   maps-scan ROUNDS MAJ:MIN:INO [MAJ:MIN:INO...]
 *
 * prints "ns <median ns of ROUNDS scans>" and "pids <pid> <pid> ..." (sorted) of the last scan. */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct key { unsigned maj, min; unsigned long long ino; };
static struct key keys[16];
static int nkeys;
static char *buf;
static size_t cap = 1 << 20;
static int pids[65536];
static int npids;

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Does one maps text name a key? Lines: "start-end perms offset MAJ:MIN inode [path]". */
static int maps_match(const char *p, const char *end) {
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl) nl = end;
    const char *f = p;
    for (int field = 0; field < 3 && f < nl; field++) {  /* skip address, perms, offset */
      while (f < nl && *f != ' ') f++;
      while (f < nl && *f == ' ') f++;
    }
    char *q;
    unsigned long maj = strtoul(f, &q, 16);
    if (q < nl && *q == ':') {
      unsigned long min = strtoul(q + 1, &q, 16);
      unsigned long long ino = strtoull(q, &q, 10);
      if (ino) {
        for (int k = 0; k < nkeys; k++) {
          if (keys[k].ino == ino && keys[k].maj == maj && keys[k].min == min) return 1;
        }
      }
    }
    p = nl + 1;
  }
  return 0;
}

static int cmp(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

static void scan(void) {
  npids = 0;
  DIR *d = opendir("/proc");
  struct dirent *e;
  char path[64];
  while (d && (e = readdir(d))) {
    if (!isdigit((unsigned char)e->d_name[0])) continue;
    snprintf(path, sizeof path, "/proc/%s/maps", e->d_name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    size_t len = 0;
    for (;;) {
      if (len == cap) { cap *= 2; buf = realloc(buf, cap); }
      ssize_t n = read(fd, buf + len, cap - len);
      if (n <= 0) break;
      len += (size_t)n;
    }
    close(fd);
    if (maps_match(buf, buf + len) && npids < 65536) pids[npids++] = atoi(e->d_name);
  }
  if (d) closedir(d);
  qsort(pids, (size_t)npids, sizeof pids[0], cmp);
}

static int cmpll(const void *a, const void *b) {
  long long x = *(const long long *)a, y = *(const long long *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if (argc < 3) { fprintf(stderr, "usage: maps-scan ROUNDS MAJ:MIN:INO...\n"); return 2; }
  int rounds = atoi(argv[1]);
  for (int i = 2; i < argc && nkeys < 16; i++) {
    if (sscanf(argv[i], "%u:%u:%llu", &keys[nkeys].maj, &keys[nkeys].min, &keys[nkeys].ino) == 3) nkeys++;
  }
  if (rounds <= 0 || nkeys == 0) { fprintf(stderr, "maps-scan: bad arguments\n"); return 2; }
  buf = malloc(cap);
  long long *t = calloc((size_t)rounds, sizeof *t);
  for (int r = 0; r < rounds; r++) {
    long long a = now_ns();
    scan();
    t[r] = now_ns() - a;
  }
  qsort(t, (size_t)rounds, sizeof *t, cmpll);
  printf("ns %lld\npids", t[rounds / 2]);
  for (int i = 0; i < npids; i++) printf(" %d", pids[i]);
  printf("\n");
  return 0;
}
