// Processes blocked in a FUSE request, found the way an operator would by hand (/proc/PID/wchan,
// /proc/PID/syscall, /proc/PID/fd): for `dmapifs dm waiters`, like `mmdiag --waiters`. The daemon
// answers FUSE requests asynchronously, so an operation waiting for a DMAPI event is a process
// sleeping in the kernel's FUSE request wait; the object it waits on is the file descriptor or the
// path its system call names, which is matched with the pending event of the same object.
import * as fs from 'fs';
import * as path from 'path';

export interface KernelWaiter {
  pid: number;
  comm: string;
  /** Process state letter (S, D). */
  state: string;
  wchan: string;
  syscall: string;
  /** The object (absolute path) the call is about, when it can be told. */
  object: string | null;
}

// x86-64 system call numbers → [name, how the object is named]: 'fd' = argument 1 is a file
// descriptor, 'path1'/'path2' = argument 1/2 is a path (2: relative to the dirfd in argument 1).
const X64: Record<number, [string, 'fd' | 'path1' | 'path2']> = {
  0: ['read', 'fd'], 1: ['write', 'fd'], 2: ['open', 'path1'], 3: ['close', 'fd'], 4: ['stat', 'path1'], 5: ['fstat', 'fd'],
  6: ['lstat', 'path1'], 17: ['pread64', 'fd'], 18: ['pwrite64', 'fd'], 19: ['readv', 'fd'], 20: ['writev', 'fd'],
  40: ['sendfile', 'fd'], 74: ['fsync', 'fd'], 75: ['fdatasync', 'fd'], 76: ['truncate', 'path1'], 77: ['ftruncate', 'fd'],
  82: ['rename', 'path1'], 83: ['mkdir', 'path1'], 84: ['rmdir', 'path1'], 85: ['creat', 'path1'], 86: ['link', 'path1'],
  87: ['unlink', 'path1'], 88: ['symlink', 'path1'], 257: ['openat', 'path2'], 258: ['mkdirat', 'path2'],
  259: ['mknodat', 'path2'], 262: ['newfstatat', 'path2'], 263: ['unlinkat', 'path2'], 264: ['renameat', 'path2'],
  265: ['linkat', 'path2'], 285: ['fallocate', 'fd'], 295: ['preadv', 'fd'], 296: ['pwritev', 'fd'], 316: ['renameat2', 'path2'],
  326: ['copy_file_range', 'fd'], 327: ['preadv2', 'fd'], 328: ['pwritev2', 'fd'], 332: ['statx', 'path2'], 437: ['openat2', 'path2'],
};
const AT_FDCWD = -100;

function readText(p: string): string | null {
  try { return fs.readFileSync(p, 'utf8'); } catch { return null; }
}

/** A NUL-terminated string of another process's memory (root may read it). */
function readString(pid: number, addr: bigint): string | null {
  let fd: number;
  try { fd = fs.openSync(`/proc/${pid}/mem`, 'r'); } catch { return null; }
  try {
    const buf = Buffer.alloc(4096);
    const n = fs.readSync(fd, buf, 0, buf.length, Number(addr));
    const z = buf.subarray(0, n).indexOf(0);
    return buf.subarray(0, z < 0 ? n : z).toString('latin1');
  } catch {
    return null;
  } finally {
    fs.closeSync(fd);
  }
}

function link(p: string): string | null {
  try { return fs.readlinkSync(p); } catch { return null; }
}

/** The object a blocked system call is about. */
function objectOf(pid: number, nr: number, args: bigint[]): { name: string; object: string | null } {
  const d = process.arch === 'x64' ? X64[nr] : undefined;
  if (!d) return { name: `syscall ${nr}`, object: null };
  const [name, how] = d;
  if (how === 'fd') return { name, object: link(`/proc/${pid}/fd/${Number(args[0])}`) };
  const p = readString(pid, how === 'path1' ? args[0] : args[1]);
  if (p === null) return { name, object: null };
  if (p.startsWith('/')) return { name, object: path.normalize(p) };
  const dirfd = how === 'path2' ? Number(BigInt.asIntN(32, args[0])) : AT_FDCWD;
  const base = link(dirfd === AT_FDCWD ? `/proc/${pid}/cwd` : `/proc/${pid}/fd/${dirfd}`);
  return { name, object: base ? path.join(base, p) : p };
}

/** Every process sleeping in a FUSE request wait. */
export function fuseWaiters(): KernelWaiter[] {
  const out: KernelWaiter[] = [];
  let pids: string[];
  try { pids = fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n)); } catch { return out; }
  for (const p of pids) {
    const pid = Number(p);
    if (pid === process.pid) continue;
    const wchan = readText(`/proc/${pid}/wchan`);
    if (!wchan || !/fuse|request_wait_answer/.test(wchan)) continue;
    const stat = readText(`/proc/${pid}/stat`) ?? '';
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const state = stat.slice(close + 2, close + 3);
    const sc = (readText(`/proc/${pid}/syscall`) ?? '').trim().split(/\s+/);
    const nr = Number(sc[0]);
    if (!Number.isInteger(nr) || nr < 0) {
      out.push({ pid, comm, state, wchan, syscall: sc[0] ?? '?', object: null });
      continue;
    }
    const args = sc.slice(1, 7).map((x) => { try { return BigInt(x); } catch { return 0n; } });
    const o = objectOf(pid, nr, args);
    out.push({ pid, comm, state, wchan, syscall: o.name, object: o.object });
  }
  return out.sort((a, b) => a.pid - b.pid);
}
