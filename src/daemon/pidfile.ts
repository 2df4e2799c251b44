// daemon.pid: one daemon per node name. The file is created atomically (link(2) of a finished
// temporary file, which fails if the name exists); a file left by a dead daemon is recognised and
// replaced. The run directory never lies inside a mount of ours, so synchronous calls are safe here.
import * as fs from 'fs';
import { CodedError } from '../common/errors';

/** Whether `pid` is a live dmapifs daemon process (not a reused pid of something else). */
export function isDaemonProcess(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  let cmdline: string;
  try {
    cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return false;
  }
  // Zombies have an empty command line.
  if (!cmdline) return false;
  return cmdline.split('\0').some((a) => /daemon[/\\]main\.js$|[/\\]dmapifs$|^dmapifs$/.test(a));
}

export function readPid(file: string): number | null {
  let s: string;
  try { s = fs.readFileSync(file, 'utf8'); } catch { return null; }
  const pid = parseInt(s.trim().split(/\s+/)[0], 10);
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

/** Creates the pid file for this process; throws EALREADY when a live daemon holds it. */
export function acquirePidFile(file: string, node: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${process.pid}\n`, { mode: 0o644 });
  try {
    for (let attempt = 0; attempt < 10; attempt++) {
      try {
        fs.linkSync(tmp, file);
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const pid = readPid(file);
      if (pid === process.pid) return;
      if (pid !== null && isDaemonProcess(pid)) {
        throw new CodedError('EALREADY', `node ${node} is already running (pid ${pid})`);
      }
      if (pid === null) {
        // Being written by a racing daemon? Give it a moment before calling it stale.
        const st = fs.statSync(file, { throwIfNoEntry: false });
        if (st && Date.now() - st.mtimeMs < 1000) { sleepMs(100); continue; }
      }
      // Stale: move it aside atomically, and delete it only if it is still the stale one.
      const aside = `${file}.stale.${process.pid}`;
      try { fs.renameSync(file, aside); } catch { continue; }
      const again = readPid(aside);
      if (again !== null && again !== pid && isDaemonProcess(again)) {
        // A racing daemon took the name in between: put its file back and give up.
        try { fs.linkSync(aside, file); } catch { /* it has recreated it */ }
        fs.rmSync(aside, { force: true });
        throw new CodedError('EALREADY', `node ${node} is already running (pid ${again})`);
      }
      fs.rmSync(aside, { force: true });
    }
    throw new CodedError('EALREADY', `cannot take ${file}: another daemon keeps racing for node ${node}`);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/** Removes the pid file if it is ours. */
export function releasePidFile(file: string): void {
  if (readPid(file) === process.pid) fs.rmSync(file, { force: true });
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
