// The command-line specification: every command, its arguments, its options and their help are
// declared once (a Command or a Group) and everything else is derived from that declaration: the
// parser (known options only, "--opt V" or "--opt=V", "--" ends the options), `help X`, `X --help`,
// the top-level usage (every command with every option) and JSON errors under --json.
//
// Anything the parser refuses is a UsageError (exit code 2) whose message names the command.

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface Opt {
  /** Long name without dashes. */
  name: string;
  /** Placeholder of the value (e.g. 'NAME'); absent for a flag. */
  value?: string;
  /** One-letter alias (-l). */
  short?: string;
  /** May be given several times (the values are collected in order). */
  repeat?: boolean;
  /** Must be given (shown without brackets in the usage). */
  required?: boolean;
  /** What it does; may span lines ("\n"). */
  help: string;
}

export type OptValue = string | true | string[];

export interface Invocation {
  cmd: Command;
  opts: Record<string, OptValue>;
  args: string[];
  /** --json was given (the command declares it). */
  json: boolean;
}

export interface Command {
  kind?: 'command';
  /** Full name as typed: 'mount', 'node start', 'dm sessions'. */
  name: string;
  /** Synopsis of the positional arguments ('BACKING MOUNTPOINT', 'FILE...'). */
  args?: string;
  /** Positional arguments taken: [min, max] (max Infinity for any number); default [0, 0]. */
  nargs?: [number, number];
  /** Message when fewer than min are given (default: "<name> needs <args>"). */
  needs?: string;
  /** One line for the command list. */
  summary: string;
  /** More text shown under the usage (paragraphs, may be long). */
  help?: string;
  options: Opt[];
  /** The command takes --json (machine-readable answers and errors). */
  json?: boolean;
  run(inv: Invocation): Promise<number>;
}

export interface Group {
  kind: 'group';
  name: string;
  summary: string;
  help?: string;
  subcommands: Command[];
}

export type Entry = Command | Group;

export const HELP_OPT: Opt = { name: 'help', short: 'h', help: 'show this help' };
export const JSON_OPT: Opt = { name: 'json', help: 'answer in JSON (errors too: {"error":{"code","message"}} on stdout)' };

/** Every option a command understands, --help and --json included. */
export function optionsOf(c: Command): Opt[] {
  return [...c.options, ...(c.json ? [JSON_OPT] : []), HELP_OPT];
}

/** Whether an argument vector asks for JSON output (looked at before parsing, for usage errors). */
export function wantsJson(argv: string[]): boolean {
  for (const a of argv) {
    if (a === '--') return false;
    if (a === '--json') return true;
  }
  return false;
}

/** Parses the arguments of one command (after its name). */
export function parse(c: Command, argv: string[]): Invocation {
  const known = optionsOf(c);
  const byName = new Map(known.map((o) => [o.name, o]));
  const byShort = new Map(known.filter((o) => o.short).map((o) => [o.short!, o]));
  const opts: Record<string, OptValue> = {};
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') { args.push(...argv.slice(i + 1)); break; }
    let o: Opt | undefined;
    let value: string | undefined;
    if (a.startsWith('--') && a.length > 2) {
      const eq = a.indexOf('=');
      const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      value = eq < 0 ? undefined : a.slice(eq + 1);
      o = byName.get(name);
      if (!o) throw new UsageError(`unknown option --${name} for '${c.name}'`);
    } else if (a.startsWith('-') && a.length > 1 && !/^-\d/.test(a)) {
      o = a.length === 2 ? byShort.get(a[1]) : undefined;
      if (!o) throw new UsageError(`unknown option ${a} for '${c.name}'`);
    } else {
      args.push(a);
      continue;
    }
    if (!o.value) {
      if (value !== undefined) throw new UsageError(`option --${o.name} takes no value`);
      opts[o.name] = true;
      continue;
    }
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new UsageError(`option --${o.name} needs a value`);
      value = argv[++i];
    }
    if (value === '') throw new UsageError(`option --${o.name} needs a non-empty value`);
    if (o.repeat) opts[o.name] = [...((opts[o.name] as string[] | undefined) ?? []), value];
    else opts[o.name] = value;
  }
  if (opts.help) return { cmd: c, opts, args, json: false };
  for (const o of known) if (o.required && opts[o.name] === undefined) throw new UsageError(`${c.name} needs --${o.name}${o.value ? ` ${o.value}` : ''}`);
  const [min, max] = c.nargs ?? [0, 0];
  if (args.length < min) throw new UsageError(c.needs ?? `${c.name} needs ${c.args}`);
  if (args.length > max) throw new UsageError(`unexpected argument '${args[max]}' for '${c.name}'`);
  return { cmd: c, opts, args, json: opts.json === true };
}

// ---------------------------------------------------------------------------------------------
// Help, derived from the declarations

function optSynopsis(o: Opt): string {
  const s = `--${o.name}${o.value ? ` ${o.value}` : ''}`;
  return `${o.required ? s : `[${s}]`}${o.repeat ? '...' : ''}`;
}

/** "dmapifs mount [--node NAME] ... BACKING MOUNTPOINT" */
export function usageLine(c: Command): string {
  const parts = ['dmapifs', c.name, ...c.options.map(optSynopsis), ...(c.json ? ['[--json]'] : [])];
  if (c.args) parts.push(c.args);
  return parts.join(' ');
}

function optionTable(opts: Opt[]): string[] {
  const heads = opts.map((o) => `${o.short ? `-${o.short}, ` : ''}--${o.name}${o.value ? ` ${o.value}` : ''}`);
  const w = Math.min(28, Math.max(...heads.map((h) => h.length)) + 2);
  const lines: string[] = [];
  opts.forEach((o, i) => {
    const text = o.help.split('\n');
    const head = heads[i];
    if (head.length + 2 > w) {
      lines.push(`  ${head}`);
      for (const t of text) lines.push(`  ${' '.repeat(w)}${t}`);
    } else {
      lines.push(`  ${head.padEnd(w)}${text[0]}`);
      for (const t of text.slice(1)) lines.push(`  ${' '.repeat(w)}${t}`);
    }
  });
  return lines;
}

export function commandHelp(c: Command): string {
  const lines = [`usage: ${usageLine(c)}`, '', c.summary];
  if (c.help) lines.push('', c.help);
  lines.push('', 'options:', ...optionTable(optionsOf(c)));
  return lines.join('\n');
}

export function groupHelp(g: Group): string {
  const lines = ['usage:'];
  for (const c of g.subcommands) lines.push(`  ${usageLine(c)}`);
  lines.push('', g.summary);
  if (g.help) lines.push('', g.help);
  lines.push('', 'commands:');
  const w = Math.max(...g.subcommands.map((c) => c.name.length)) + 2;
  for (const c of g.subcommands) lines.push(`  ${c.name.padEnd(w)}${c.summary}`);
  lines.push('', `dmapifs help ${g.name} SUBCOMMAND (or dmapifs ${g.name} SUBCOMMAND --help) shows a subcommand's options.`);
  return lines.join('\n');
}

export function entryHelp(e: Entry): string {
  return e.kind === 'group' ? groupHelp(e) : commandHelp(e);
}

/** The top-level usage: every command's usage line, with every option. */
export function mainUsage(entries: Entry[], head: string, foot: string): string {
  const lines = [head, '', 'usage:'];
  for (const e of entries) {
    for (const c of e.kind === 'group' ? e.subcommands : [e]) lines.push(`  ${usageLine(c)}`);
  }
  lines.push('  dmapifs help [COMMAND [SUBCOMMAND]]', '  dmapifs --version', '', foot);
  return lines.join('\n');
}

/** The entry a word names, and for a group the subcommand the next word names. */
export function lookup(entries: Entry[], words: string[]): Entry | null {
  const top = entries.find((e) => e.name === words[0]);
  if (!top || words.length === 1) return top ?? null;
  if (top.kind !== 'group' || words.length > 2) return null;
  return top.subcommands.find((c) => c.name === `${top.name} ${words[1]}`) ?? null;
}

/** The subcommand of a group named by argv[0], or a UsageError naming the choices. */
export function subcommand(g: Group, argv: string[]): Command {
  const names = g.subcommands.map((c) => c.name.slice(g.name.length + 1));
  const list = names.length > 1 ? `${names.slice(0, -1).join(', ')} or ${names[names.length - 1]}` : names[0];
  if (argv[0] === undefined) throw new UsageError(`'${g.name}' needs a subcommand: ${list}`);
  const c = g.subcommands.find((s) => s.name === `${g.name} ${argv[0]}`);
  if (!c) throw new UsageError(`unknown ${g.name} subcommand '${argv[0]}' (${list})`);
  return c;
}

// ---------------------------------------------------------------------------------------------
// Value checks shared by the commands

/** A string option's value (undefined when absent). */
export function str(inv: Invocation, name: string): string | undefined {
  const v = inv.opts[name];
  return typeof v === 'string' ? v : undefined;
}

/** Parses a non-negative number of seconds. */
export function parseSeconds(name: string, v: string): number {
  if (!/^\d+(\.\d+)?$/.test(v)) throw new UsageError(`--${name} must be a non-negative number of seconds, not '${v}'`);
  const n = Number(v);
  if (!Number.isFinite(n) || n > 86400) throw new UsageError(`--${name} must be at most 86400 seconds`);
  return n;
}

/** A size in bytes: a number with an optional K, M, G or T suffix (powers of 1024). */
export function parseSize(name: string, v: string): number {
  const m = /^(\d+)([KMGT]?)i?B?$/i.exec(v.trim());
  if (!m) throw new UsageError(`--${name} must be a size such as 500M or 2G, not '${v}'`);
  const n = Number(m[1]) * 1024 ** ' KMGT'.indexOf((m[2] || ' ').toUpperCase());
  if (!Number.isSafeInteger(n) || n < 0) throw new UsageError(`--${name} must be a size such as 500M or 2G`);
  return n;
}

/** An integer option in [lo, hi] (undefined when absent). */
export function intOpt(inv: Invocation, name: string, lo: number, hi: number): number | undefined {
  const v = inv.opts[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !/^-?\d+$/.test(v) || Number(v) < lo || Number(v) > hi) throw new UsageError(`--${name} must be an integer from ${lo} to ${hi}`);
  return Number(v);
}
