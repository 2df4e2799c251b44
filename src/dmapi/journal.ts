// The session journal: what must survive a kill -9 of the node daemon (GPFS keeps sessions and their events across a daemon failure).
//
// Decision: sessions are node objects (they exist with no filesystem mounted), so their journal is
// the node's, in its run directory: <run>/<node>/dmapi.journal (the filesystem-side DMAPI state —
// event lists, regions, DM attributes, fsid, enablement — lives in each filesystem's reserved area).
// One JSON record per line, appended before the call is answered; written with write(2) but not
// fsynced: it survives the death of the daemon (the page cache keeps it), not a crash of the node,
// like GPFS, whose session state does not survive the failure of every node. Compacted into a
// snapshot (temporary file + rename) when it grows.
//
// Records: {t:'n', sid, tok, seq}  high-water marks (snapshot header)
//          {t:'s', sid, info}      session created or assumed (info base64)
//          {t:'S', sid}            session destroyed
//          {t:'d', sid, fs, set}   disposition set of a session for 'global' or an fsid (hex)
//          {t:'e', tok, sid, type, seq, data, fs}  synchronous event queued (data base64)
//          {t:'m', tok, sid}       event moved to another session
//          {t:'r', tok}            event answered (or otherwise gone)
// Asynchronous events are not journaled: GPFS loses them too when the session node fails.
import * as fs from 'fs';

export type JournalRecord =
  | { t: 'n'; sid: number; tok: number; seq: number }
  | { t: 's'; sid: number; info: string }
  | { t: 'S'; sid: number }
  | { t: 'd'; sid: number; fs: string; set: string }
  // data: base64 on disk; a Buffer when appended (encoded when written, off the event's round trip)
  | { t: 'e'; tok: number; sid: number; type: number; seq: number; data: string | Buffer; fs: string | null }
  | { t: 'm'; tok: number; sid: number }
  | { t: 'r'; tok: number };

/** One record as a line of JSON. */
function encode(r: JournalRecord): string {
  if (r.t === 'e' && typeof r.data !== 'string') return JSON.stringify({ ...r, data: r.data.toString('base64') }) + '\n';
  return JSON.stringify(r) + '\n';
}

export class Journal {
  private fd: number;
  private records = 0;

  constructor(readonly file: string) {
    this.fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT, 0o600);
  }

  static read(file: string): { records: JournalRecord[]; mtimeMs: number } {
    let text: string;
    let mtimeMs = Date.now();
    try {
      text = fs.readFileSync(file, 'utf8');
      mtimeMs = fs.statSync(file).mtimeMs;
    } catch {
      return { records: [], mtimeMs };
    }
    const records: JournalRecord[] = [];
    for (const line of text.split('\n')) {
      if (!line) continue;
      try { records.push(JSON.parse(line) as JournalRecord); } catch { /* a torn last line */ }
    }
    return { records, mtimeMs };
  }

  /** Records of the current event-loop turn, written together at its end. */
  private pending: JournalRecord[] = [];
  private readonly flushNow = () => this.flush();

  /**
   * Appends a record. The records of one turn of the event loop are encoded and go out in one write
   * after it (setImmediate: after the replies that turn produced, which nextTick would precede):
   * a synchronous event costs two records (raised, answered) and encoding and writing them was a
   * measurable part of its round trip. A kill -9 can lose at most the records of the turn it
   * interrupts, the same as if it had come a few microseconds earlier (the FUSE request dies with
   * the daemon). A session's creation and destruction and its dispositions are written at once,
   * before their answers: a session that the daemon said exists must outlive a kill -9 of the daemon
   * that comes right after the answer (rare calls; the write costs them little).
   */
  append(r: JournalRecord): void {
    this.records++;
    if (this.pending.push(r) === 1 && r.t !== 's' && r.t !== 'S' && r.t !== 'd') setImmediate(this.flushNow);
    if (r.t === 's' || r.t === 'S' || r.t === 'd') this.flush();
  }

  /** Writes the pending records now. */
  flush(): void {
    if (!this.pending.length) return;
    const text = this.pending.map(encode).join('');
    this.pending = [];
    fs.writeSync(this.fd, text);
  }

  get size(): number {
    return this.records;
  }

  /** Replaces the journal with a snapshot. */
  rewrite(records: JournalRecord[]): void {
    // The snapshot is the whole state, pending records included.
    this.pending = [];
    const tmp = `${this.file}.tmp`;
    fs.writeFileSync(tmp, records.map(encode).join(''), { mode: 0o600 });
    fs.renameSync(tmp, this.file);
    fs.closeSync(this.fd);
    this.fd = fs.openSync(this.file, fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT, 0o600);
    this.records = records.length;
  }

  close(): void {
    try { this.flush(); } catch { /* closed */ }
    try { fs.closeSync(this.fd); } catch { /* closed */ }
  }
}
