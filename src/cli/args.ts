// A small, strict command-line parser: known options only, values via "--opt V" or "--opt=V",
// "--" ends the options. Anything unknown is a UsageError (exit code 2).

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export type OptKind = 'flag' | 'value';

export interface OptSpec {
  /** Long name without dashes → kind. */
  [name: string]: OptKind;
}

export interface Parsed {
  opts: Record<string, string | true>;
  positional: string[];
}

/** Short aliases understood everywhere. */
const SHORT: Record<string, string> = { h: 'help', l: 'lazy', V: 'version' };

export function parseArgs(argv: string[], spec: OptSpec, command: string): Parsed {
  const opts: Record<string, string | true> = {};
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') { positional.push(...argv.slice(i + 1)); break; }
    let name: string;
    let value: string | undefined;
    if (a.startsWith('--') && a.length > 2) {
      const eq = a.indexOf('=');
      name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      value = eq < 0 ? undefined : a.slice(eq + 1);
    } else if (a.startsWith('-') && a.length === 2 && SHORT[a[1]]) {
      name = SHORT[a[1]];
    } else if (a.startsWith('-') && a.length > 1) {
      throw new UsageError(`unknown option ${a} for '${command}'`);
    } else {
      positional.push(a);
      continue;
    }
    const kind = spec[name];
    if (!kind) throw new UsageError(`unknown option --${name} for '${command}'`);
    if (kind === 'flag') {
      if (value !== undefined) throw new UsageError(`option --${name} takes no value`);
      opts[name] = true;
    } else {
      if (value === undefined) {
        if (i + 1 >= argv.length) throw new UsageError(`option --${name} needs a value`);
        value = argv[++i];
      }
      if (value === '') throw new UsageError(`option --${name} needs a non-empty value`);
      opts[name] = value;
    }
  }
  return { opts, positional };
}

/** Parses a non-negative number of seconds. */
export function parseSeconds(name: string, v: string): number {
  if (!/^\d+(\.\d+)?$/.test(v)) throw new UsageError(`--${name} must be a non-negative number of seconds, not '${v}'`);
  const n = Number(v);
  if (!Number.isFinite(n) || n > 86400) throw new UsageError(`--${name} must be at most 86400 seconds`);
  return n;
}
