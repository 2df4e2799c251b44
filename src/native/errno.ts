// Errno-coded errors for the native syscall layer (src/native/sys.ts).
//
// The addon reports a failed syscall by returning -errno. Code that wants an exception instead
// turns that number into an ErrnoError (sys.check does it). This module needs no native code.
//
// Unlike Node's own SystemError, whose `errno` is negative (libuv style), ErrnoError.errno is the
// positive Linux errno, the value FUSE replies and DMAPI return codes use. `code` is the Linux
// name ('ENOENT'); for aliased numbers the canonical Linux name is used: EAGAIN (not EWOULDBLOCK),
// EDEADLK (not EDEADLOCK), EOPNOTSUPP (not ENOTSUP, which Node's libuv errors call it).

import * as os from 'os';
import * as util from 'util';

const PREFERRED: Record<string, true> = { EAGAIN: true, EDEADLK: true, EOPNOTSUPP: true };

const NAMES: Map<number, string> = (() => {
  const m = new Map<number, string>();
  for (const [name, num] of Object.entries(os.constants.errno as Record<string, number>)) {
    if (!m.has(num) || PREFERRED[name]) m.set(num, name);
  }
  return m;
})();

const NUMBERS: Map<string, number> = new Map(
  Object.entries(os.constants.errno as Record<string, number>),
);

let uvMessages: Map<number, [string, string]> | undefined;

/** 'ENOENT' for 2 or -2; undefined for a number without a name. */
export function errnoCode(errno: number): string | undefined {
  return NAMES.get(Math.abs(errno));
}

/** The errno number of a name ('ENOENT' → 2), or undefined. */
export function errnoNumber(code: string): number | undefined {
  return NUMBERS.get(code);
}

/** A human-readable message for errno n (positive or negative), in Node's wording. */
export function errnoMessage(errno: number): string {
  const n = Math.abs(errno);
  if (!uvMessages) {
    // util.getSystemErrorMap: Node >= 16; libuv's (Node's) wording, keyed by negative errno.
    const getMap = (util as unknown as { getSystemErrorMap?: () => Map<number, [string, string]> })
      .getSystemErrorMap;
    uvMessages = getMap ? getMap() : new Map();
  }
  const hit = uvMessages.get(-n);
  return hit ? hit[1] : `unknown error ${n}`;
}

/** An Error carrying the errno of a failed syscall, shaped like Node's fs errors. */
export class ErrnoError extends Error {
  /** The positive errno (ENOENT = 2). */
  readonly errno: number;
  /** The errno name, 'ENOENT'; 'UNKNOWN' for a number without a name. */
  readonly code: string;
  /** The syscall that failed ('lgetxattr'). */
  readonly syscall: string;
  readonly path?: string;
  readonly dest?: string;

  /** `errno` may be given negative, as the addon returns it. */
  constructor(errno: number, syscall: string, path?: string, dest?: string) {
    const n = Math.abs(errno);
    const code = errnoCode(n) ?? 'UNKNOWN';
    let message = `${code}: ${errnoMessage(n)}, ${syscall}`;
    if (path !== undefined) message += ` '${path}'`;
    if (dest !== undefined) message += ` -> '${dest}'`;
    super(message);
    this.name = 'ErrnoError';
    this.errno = n;
    this.code = code;
    this.syscall = syscall;
    if (path !== undefined) this.path = path;
    if (dest !== undefined) this.dest = dest;
  }
}

/**
 * True when `err` is an errno-coded error (ours or Node's own fs errors), optionally with one of
 * the given codes. For Node's errors the positive errno is `-err.errno`.
 */
export function isErrnoError(err: unknown, ...codes: string[]): err is Error & { code: string; errno: number } {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code !== 'string' || typeof (err as { errno?: unknown }).errno !== 'number') return false;
  return codes.length === 0 || codes.includes(code);
}

/** The positive errno of an errno-coded error (ours: `errno`; Node's: `-errno`), else undefined. */
export function errnoOf(err: unknown): number | undefined {
  if (!(err instanceof Error)) return undefined;
  const e = (err as { errno?: unknown }).errno;
  if (typeof e !== 'number') return undefined;
  return Math.abs(e);
}
