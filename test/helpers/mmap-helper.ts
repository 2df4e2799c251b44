// A tiny C program, compiled at test time, that reads and writes files through mmap(2) on behalf
// of a test. Node has no mmap; the program runs as one long-lived child driven over two FIFOs, so
// the test talks to it with synchronous reads and writes (no event loop round trip per request).
//
// Requests (one line each, paths without spaces or newlines):
//   W <path> <offset> <sync 0|1> <hex data>   open O_RDWR, mmap MAP_SHARED, memcpy, [msync], munmap, close
//   R <path> <offset> <length> <private 0|1>  open O_RDONLY, mmap MAP_SHARED or MAP_PRIVATE, copy out
// Replies: "O" or "O <hex>" on success, "E <errno>" on a failed system call, and "R <size>" when
// the range is not inside the file (touching it would raise SIGBUS).
import { spawn, execFileSync, ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

const SOURCE = String.raw`
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static FILE *out;
static const char HEX[] = "0123456789abcdef";

static int hv(int c) { return c <= '9' ? c - '0' : c - 'a' + 10; }

static void fail(int e) { fprintf(out, "E %d\n", e); }

static int map_range(const char *p, int wr, long long off, size_t len, int priv,
                     int *fd, char **base, size_t *maplen, size_t *delta) {
  *fd = open(p, wr ? O_RDWR : O_RDONLY);
  if (*fd < 0) { fail(errno); return -1; }
  struct stat st;
  if (fstat(*fd, &st) < 0) { fail(errno); close(*fd); return -1; }
  if (off < 0 || (long long)(off + len) > (long long)st.st_size) {
    fprintf(out, "R %lld\n", (long long)st.st_size); close(*fd); return -1;
  }
  long pg = sysconf(_SC_PAGESIZE);
  long long start = off - off % pg;
  *delta = (size_t)(off - start);
  *maplen = *delta + len;
  if (*maplen == 0) { *base = NULL; return 0; }
  int prot = wr ? PROT_READ | PROT_WRITE : PROT_READ;
  void *m = mmap(NULL, *maplen, prot, priv ? MAP_PRIVATE : MAP_SHARED, *fd, (off_t)start);
  if (m == MAP_FAILED) { fail(errno); close(*fd); return -1; }
  *base = m;
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 3) return 2;
  FILE *in = fopen(argv[1], "r");
  out = fopen(argv[2], "w");
  if (!in || !out) return 3;
  char *line = NULL;
  size_t cap = 0;
  unsigned char *buf = NULL;
  size_t bufcap = 0;
  while (getline(&line, &cap, in) > 0) {
    char *save = NULL;
    char *op = strtok_r(line, " \n", &save);
    char *p = strtok_r(NULL, " \n", &save);
    char *offs = strtok_r(NULL, " \n", &save);
    char *a3 = strtok_r(NULL, " \n", &save);
    char *a4 = strtok_r(NULL, " \n", &save);
    if (!op || !p || !offs || !a3) { fprintf(out, "E %d\n", EINVAL); fflush(out); continue; }
    long long off = atoll(offs);
    int fd; char *base; size_t maplen, delta;
    if (op[0] == 'W') {
      int sync = atoi(a3);
      size_t hl = a4 ? strlen(a4) : 0, len = hl / 2;
      if (len > bufcap) { bufcap = len; buf = realloc(buf, bufcap); }
      for (size_t i = 0; i < len; i++) buf[i] = (unsigned char)(hv(a4[2 * i]) << 4 | hv(a4[2 * i + 1]));
      if (map_range(p, 1, off, len, 0, &fd, &base, &maplen, &delta) == 0) {
        int err = 0;
        if (maplen) {
          memcpy(base + delta, buf, len);
          if (sync && msync(base, maplen, MS_SYNC) < 0) err = errno;
          munmap(base, maplen);
        }
        if (close(fd) < 0 && !err) err = errno;
        if (err) fail(err); else fprintf(out, "O\n");
      }
    } else if (op[0] == 'R') {
      size_t len = (size_t)atoll(a3);
      int priv = a4 ? atoi(a4) : 0;
      if (map_range(p, 0, off, len, priv, &fd, &base, &maplen, &delta) == 0) {
        fputs("O ", out);
        for (size_t i = 0; i < len; i++) {
          unsigned char c = (unsigned char)base[delta + i];
          fputc(HEX[c >> 4], out);
          fputc(HEX[c & 15], out);
        }
        fputc('\n', out);
        if (maplen) munmap(base, maplen);
        close(fd);
      }
    } else {
      fail(EINVAL);
    }
    fflush(out);
  }
  return 0;
}
`;

export type MmapReply = { ok: true; data?: Buffer } | { ok: false; errno?: number; range?: number };

export class MmapHelper {
  private constructor(
    private readonly child: ChildProcess,
    private readonly wfd: number,
    private readonly rfd: number,
  ) {}

  private pending = '';
  private readonly chunk = Buffer.allocUnsafe(1 << 20);

  /** Compiles the helper into `dir` and starts it. Throws when no C compiler is available. */
  static start(dir: string): MmapHelper {
    const src = path.join(dir, 'mmap-helper.c');
    const bin = path.join(dir, 'mmap-helper');
    fs.writeFileSync(src, SOURCE);
    execFileSync('cc', ['-O2', '-Wall', '-o', bin, src], { stdio: ['ignore', 'ignore', 'inherit'] });
    const cmd = path.join(dir, 'mmap-cmd.fifo');
    const resp = path.join(dir, 'mmap-resp.fifo');
    execFileSync('mkfifo', [cmd, resp]);
    const child = spawn(bin, [cmd, resp], { stdio: ['ignore', 'inherit', 'inherit'] });
    // Both opens block until the child opens the other end, in the same order.
    const wfd = fs.openSync(cmd, 'w');
    const rfd = fs.openSync(resp, 'r');
    return new MmapHelper(child, wfd, rfd);
  }

  private request(line: string): string {
    const b = Buffer.from(line + '\n');
    let off = 0;
    while (off < b.length) off += fs.writeSync(this.wfd, b, off, b.length - off);
    for (;;) {
      const nl = this.pending.indexOf('\n');
      if (nl >= 0) {
        const reply = this.pending.slice(0, nl);
        this.pending = this.pending.slice(nl + 1);
        return reply;
      }
      const n = fs.readSync(this.rfd, this.chunk, 0, this.chunk.length, null);
      if (n === 0) throw new Error('mmap helper exited');
      this.pending += this.chunk.toString('latin1', 0, n);
    }
  }

  private parse(reply: string): MmapReply {
    if (reply === 'O') return { ok: true };
    if (reply.startsWith('O ')) return { ok: true, data: Buffer.from(reply.slice(2), 'hex') };
    if (reply.startsWith('E ')) return { ok: false, errno: Number(reply.slice(2)) };
    if (reply.startsWith('R ')) return { ok: false, range: Number(reply.slice(2)) };
    throw new Error(`mmap helper: bad reply ${reply.slice(0, 80)}`);
  }

  write(file: string, offset: number, data: Buffer, sync: boolean): MmapReply {
    return this.parse(this.request(`W ${file} ${offset} ${sync ? 1 : 0} ${data.toString('hex')}`));
  }

  read(file: string, offset: number, length: number, priv: boolean): MmapReply {
    return this.parse(this.request(`R ${file} ${offset} ${length} ${priv ? 1 : 0}`));
  }

  close(): void {
    try { fs.closeSync(this.wfd); } catch { /* already closed */ }
    try { fs.closeSync(this.rfd); } catch { /* already closed */ }
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}
