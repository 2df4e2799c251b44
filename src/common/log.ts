// The daemon's log: lines appended to <run dir>/daemon.log, and on stderr when the daemon runs in
// the foreground (a service manager: journald reads stderr) or stderr is a terminal.
//
// Formats: text ("<ISO time> dmapifs[node:pid] level: message"), or json (one object a line:
// {"time","level","node","pid","msg"}) for log shippers. Under journald (JOURNAL_STREAM set) the
// text lines on stderr carry the sd-daemon "<N>" priority prefix instead of a timestamp, which
// journald adds itself. Levels: debug < info < warn < error; lines below the level are dropped.
import * as fs from 'fs';

export type Level = 'debug' | 'info' | 'warn' | 'error';
export type LogFormat = 'text' | 'json';

const RANK: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3 };
/** syslog priorities (sd-daemon(3) prefixes). */
const PRIO: Record<Level, number> = { debug: 7, info: 6, warn: 4, error: 3 };

export const LOG_LEVELS: readonly Level[] = ['debug', 'info', 'warn', 'error'];
export const LOG_FORMATS: readonly LogFormat[] = ['text', 'json'];

export interface LogOptions {
  format?: LogFormat;
  level?: Level;
  /** Write to stderr too (the daemon runs in the foreground). */
  stderr?: boolean;
  /** Fields of every JSON line. */
  node?: string;
}

/** The log options the environment asks for (DMAPIFS_LOG_FORMAT, DMAPIFS_LOG_LEVEL). */
export function logOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): LogOptions {
  const o: LogOptions = {};
  if (env.DMAPIFS_LOG_FORMAT && (LOG_FORMATS as string[]).includes(env.DMAPIFS_LOG_FORMAT)) o.format = env.DMAPIFS_LOG_FORMAT as LogFormat;
  if (env.DMAPIFS_LOG_LEVEL && (LOG_LEVELS as string[]).includes(env.DMAPIFS_LOG_LEVEL)) o.level = env.DMAPIFS_LOG_LEVEL as Level;
  return o;
}

export class Logger {
  private fd: number | null = null;
  private readonly echo: boolean;
  private readonly format: LogFormat;
  private readonly min: number;
  private readonly journal: boolean;

  constructor(private readonly prefix: string, file?: string, private readonly opts: LogOptions = {}) {
    if (file) {
      // 0600: the run directory is 0711 (other users reach dlm.sock and dmapi.sock), the log
      // stays root's.
      try { this.fd = fs.openSync(file, 'a', 0o600); fs.fchmodSync(this.fd, 0o600); } catch { this.fd = null; }
    }
    // Without a log file everything goes to stderr; with one, stderr in the foreground or when a
    // person watches it.
    this.echo = this.fd === null || opts.stderr === true || process.stderr.isTTY === true;
    this.format = opts.format ?? 'text';
    this.min = RANK[opts.level ?? 'info'];
    this.journal = !!process.env.JOURNAL_STREAM && opts.stderr === true;
  }

  get debugEnabled(): boolean {
    return this.min <= RANK.debug;
  }

  debug(msg: string): void { if (this.min <= RANK.debug) this.write('debug', msg); }
  info(msg: string): void { this.write('info', msg); }
  warn(msg: string): void { this.write('warn', msg); }
  error(msg: string): void { this.write('error', msg); }

  write(level: Level, msg: string): void {
    if (RANK[level] < this.min) return;
    const time = new Date().toISOString();
    const line = this.format === 'json'
      ? JSON.stringify({ time, level, node: this.opts.node, pid: process.pid, msg }) + '\n'
      : `${time} ${this.prefix} ${level}: ${msg}\n`;
    if (this.fd !== null) {
      try { fs.writeSync(this.fd, line); } catch { /* disk full: nothing better to do */ }
    }
    if (this.echo) {
      const out = this.journal && this.format === 'text' ? `<${PRIO[level]}>${level}: ${msg}\n` : line;
      try { fs.writeSync(2, out); } catch { /* stderr closed */ }
    }
  }

  close(): void {
    if (this.fd !== null) { try { fs.closeSync(this.fd); } catch { /* ignore */ } this.fd = null; }
  }
}
