// What the node knows about a local client process beyond SO_PEERCRED: its start time (to tell a
// live process from a later one that reuses its pid) and its supplementary groups (DLM_GROUP
// namespaces). Read from /proc; nothing here trusts what the client sends.
import * as fs from 'fs';

/** Field 22 of /proc/<pid>/stat (clock ticks since boot), or null when the process is gone. */
export function startTime(pid: number): string | null {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return null;
  }
  // The command name (field 2) may hold spaces and parentheses: fields resume after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); field 22 is rest[19].
  if (rest[0] === 'Z' || rest[0] === 'X') return null;
  return rest[19] ?? null;
}

/** Whether the process that had `start` as start time still runs. */
export function sameProcessAlive(pid: number, start: string | null): boolean {
  const now = startTime(pid);
  return now !== null && (start === null || now === start);
}

/** Supplementary groups of a process (/proc/<pid>/status "Groups:"); [] when unreadable. */
export function supplementaryGroups(pid: number): number[] {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/status`, 'latin1');
  } catch {
    return [];
  }
  const m = /^Groups:[ \t]*(.*)$/m.exec(text);
  if (!m) return [];
  const out: number[] = [];
  for (const f of m[1].trim().split(/\s+/)) {
    if (!f) continue;
    const n = Number(f);
    if (Number.isInteger(n) && n >= 0 && n <= 0xffffffff) out.push(n);
  }
  return out;
}
