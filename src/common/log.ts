// The daemon's log: lines appended to <run dir>/daemon.log (and echoed to stderr when that is a
// terminal, i.e. a daemon run in the foreground by hand).
import * as fs from 'fs';

export type Level = 'info' | 'warn' | 'error';

export class Logger {
  private fd: number | null = null;
  private readonly echo: boolean;

  constructor(private readonly prefix: string, file?: string) {
    if (file) {
      // 0600: the run directory is 0711 (other users reach dlm.sock and dmapi.sock), the log
      // stays root's.
      try { this.fd = fs.openSync(file, 'a', 0o600); fs.fchmodSync(this.fd, 0o600); } catch { this.fd = null; }
    }
    // Without a log file everything goes to stderr; with one, stderr only when a person watches it.
    this.echo = this.fd === null || process.stderr.isTTY === true;
  }

  info(msg: string): void { this.write('info', msg); }
  warn(msg: string): void { this.write('warn', msg); }
  error(msg: string): void { this.write('error', msg); }

  write(level: Level, msg: string): void {
    const line = `${new Date().toISOString()} ${this.prefix} ${level}: ${msg}\n`;
    if (this.fd !== null) {
      try { fs.writeSync(this.fd, line); } catch { /* disk full: nothing better to do */ }
    }
    if (this.echo) process.stderr.write(line);
  }

  close(): void {
    if (this.fd !== null) { try { fs.closeSync(this.fd); } catch { /* ignore */ } this.fd = null; }
  }
}
