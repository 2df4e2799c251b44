// What the CLI prints: written synchronously so that process.exit never truncates it; errors are
// one line on stderr ("dmapifs: ..."), or one JSON object on stdout when --json was given.
import * as fs from 'fs';
import { oneLine } from '../common/errors';

function writeAll(fd: number, s: string): void {
  const buf = Buffer.from(s);
  let off = 0;
  while (off < buf.length) {
    try {
      off += fs.writeSync(fd, buf, off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') continue;
      if ((e as NodeJS.ErrnoException).code === 'EPIPE') return;
      throw e;
    }
  }
}

/** A line (or lines) on stdout. */
export function out(s: string): void {
  writeAll(1, s.endsWith('\n') ? s : s + '\n');
}

/** A JSON answer on stdout (indented: people read these too). */
export function outJson(v: unknown): void {
  out(JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x), 2));
}

/** Raw text on stderr (the usage shown for a bare `dmapifs`). */
export function errRaw(s: string): void {
  writeAll(2, s.endsWith('\n') ? s : s + '\n');
}

/** An error: one line on stderr, or {"error": {...}} on stdout under --json. */
export function fail(json: boolean, code: string, message: string, exit: number): void {
  if (json) out(JSON.stringify({ error: { code, message: oneLine(message), exit } }));
  else writeAll(2, `dmapifs: ${oneLine(message)}\n`);
}
