// Node settings of the DMAPI (GPFS's mmchconfig attributes of the same names), one set per node:
//
//   <state dir>/<node>/dmapi-settings.json   {"dmapiEventTimeout": 86400000, ...}
//
// (the state directory, /var/lib/dmapifs by default, survives reboots; a file left in the run
// directory by an older version is taken over once).
//
// Set with `dmapifs config --node NODE NAME=VALUE ...` (the daemon's `dmapi-config` control command,
// which validates and writes the file) or by editing the file: the daemon reads it again when its
// modification time changes (looked at no more than once a second). Missing names take the defaults.
//
//   dmapiEventTimeout (ms, default 86400000 = wait forever): how long a READ, WRITE or TRUNCATE
//     operation waits for the answer to its event; then it fails with ENOTREADY (198) and the event
//     stays pending. GPFS applies it to NFS server threads only; a FUSE daemon cannot tell them apart,
//     so here it applies to every data event. 0 = do not wait at all; ≥ 86400000 = forever.
//   dmapiSessionFailureTimeout (s, default 0): how long an event waits for its session to be assumed
//     when that session failed (its daemon restarted and no process has assumed it yet) before the
//     operation fails with EIO. 0 = at once.
//   dmapiMountTimeout (s, default 60, as GPFS): mounting a DMAPI-enabled filesystem raises MOUNT and
//     waits for the answer; with no session holding a MOUNT disposition the mount fails with EIO,
//     except in one window per node: if no MOUNT disposition was ever set since the daemon started,
//     the first DMAPI mount opens a window of this many seconds, and mounts during it wait for a
//     disposition (the DM application may start after the mount was asked for, e.g. at boot).
//     0 = no window; -1 = the window never closes. (`dmapifs mount --mount-event-optional`: with no
//     disposition, mount without a MOUNT event — a dmapifs extension for test rigs.)
//   dmapiDataEventRetry (default 2): when the DM application answered a data event but re-enabled it
//     meanwhile (the managed regions changed during the event and still cover the operation: a recall
//     raced with a re-migration), how many times the event is raised again: -1 always, 0 never.
import * as fs from 'fs';
import * as path from 'path';
import { writeAtomic } from './fsconfig';

export interface NodeSettingsValues {
  dmapiEventTimeout: number;
  dmapiSessionFailureTimeout: number;
  dmapiMountTimeout: number;
  dmapiDataEventRetry: number;
}

export const SETTINGS_FILE = 'dmapi-settings.json';
export const EVENT_TIMEOUT_INFINITE = 86400000;

export const DEFAULT_SETTINGS: NodeSettingsValues = {
  dmapiEventTimeout: EVENT_TIMEOUT_INFINITE,
  dmapiSessionFailureTimeout: 0,
  dmapiMountTimeout: 60,
  dmapiDataEventRetry: 2,
};

const LIMITS: Record<keyof NodeSettingsValues, [number, number]> = {
  dmapiEventTimeout: [0, 2 ** 31 - 1],
  dmapiSessionFailureTimeout: [0, 86400 * 365],
  dmapiMountTimeout: [-1, 86400 * 365],
  dmapiDataEventRetry: [-1, 1000000],
};

/** Checks one name=value; returns the number or throws an Error with a one-line message. */
export function checkSetting(name: string, value: unknown): number {
  if (!(name in LIMITS)) throw new Error(`unknown setting ${name} (known: ${Object.keys(LIMITS).join(', ')})`);
  const v = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  const [lo, hi] = LIMITS[name as keyof NodeSettingsValues];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) throw new Error(`${name} must be an integer from ${lo} to ${hi}`);
  return v;
}

export class NodeSettings {
  private values: NodeSettingsValues = { ...DEFAULT_SETTINGS };
  private mtimeMs = -1;
  private checkedAt = 0;
  readonly file: string;

  constructor(stateDir: string, legacyDir?: string) {
    this.file = path.join(stateDir, SETTINGS_FILE);
    if (legacyDir && !fs.existsSync(this.file)) {
      try { fs.copyFileSync(path.join(legacyDir, SETTINGS_FILE), this.file); } catch { /* none */ }
    }
    this.reload();
  }

  private reload(): void {
    let st: fs.Stats;
    try {
      st = fs.statSync(this.file);
    } catch {
      this.values = { ...DEFAULT_SETTINGS };
      this.mtimeMs = -1;
      return;
    }
    if (st.mtimeMs === this.mtimeMs) return;
    this.mtimeMs = st.mtimeMs;
    const next = { ...DEFAULT_SETTINGS };
    try {
      const j = JSON.parse(fs.readFileSync(this.file, 'utf8')) as Record<string, unknown>;
      for (const k of Object.keys(DEFAULT_SETTINGS) as Array<keyof NodeSettingsValues>) {
        if (j[k] === undefined) continue;
        try { next[k] = checkSetting(k, j[k]); } catch { /* a bad value keeps the default */ }
      }
    } catch { /* unreadable: defaults */ }
    this.values = next;
  }

  get(): NodeSettingsValues {
    const now = Date.now();
    if (now - this.checkedAt >= 1000) {
      this.checkedAt = now;
      this.reload();
    }
    return this.values;
  }

  /** Changes some settings (validated) and writes the file; returns all values. */
  set(changes: Record<string, unknown>): NodeSettingsValues {
    this.reload();
    const next = { ...this.values };
    for (const [k, v] of Object.entries(changes)) next[k as keyof NodeSettingsValues] = checkSetting(k, v);
    writeAtomic(this.file, JSON.stringify(next, null, 1) + '\n', 0o644);
    this.values = next;
    this.mtimeMs = fs.statSync(this.file).mtimeMs;
    this.checkedAt = Date.now();
    return next;
  }
}
