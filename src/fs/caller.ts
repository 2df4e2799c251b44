// What the daemon knows about the process behind a request beyond its uid and gid: its
// capabilities, read from /proc (the daemon works as root and must not lend its own).
import * as fs from 'fs';

/** Capability numbers (linux/capability.h). */
export const CAP = { FOWNER: 3, LINUX_IMMUTABLE: 9, SYS_ADMIN: 21 } as const;

/** Does the process `pid` hold capability `cap` in its effective set (uid 0 if /proc cannot tell)? */
export function callerHasCap(caller: { pid: number; uid: number }, cap: number): boolean {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(fs.readFileSync(`/proc/${caller.pid}/status`, 'utf8'));
    if (m) return ((BigInt('0x' + m[1]) >> BigInt(cap)) & 1n) === 1n;
  } catch { /* the caller is gone */ }
  return caller.uid === 0;
}
