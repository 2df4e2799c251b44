// The local backend of a node that masters its clients' resources (a cluster of its own, or the
// cluster's master): each connection on dlm.sock is a Session of the dispatcher.
import type { Dispatcher, SessionTransport } from './dispatcher';
import { Session } from './dispatcher';
import type { LocalBackend, LocalConn } from './local-server';

export class LocalSessions implements LocalBackend, SessionTransport {
  private nextId = 1;

  constructor(private readonly dispatcher: Dispatcher, private readonly node: number, private readonly drop: (c: LocalConn, reason: string) => void) {}

  inputBegin(): void {
    this.dispatcher.beginInput();
  }

  inputEnd(): void {
    this.dispatcher.endInput();
  }

  open(conn: LocalConn): void {
    const s = new Session(this.nextId++, { ...conn.cred, node: this.node }, this, conn.label);
    s.ctx = conn;
    conn.state = s;
    this.dispatcher.open(s);
  }

  frame(conn: LocalConn, buf: Buffer, start: number, end: number): void {
    this.dispatcher.handleFrame(conn.state as Session, buf, start, end);
  }

  close(conn: LocalConn): void {
    const s = conn.state as Session | null;
    if (s) this.dispatcher.close(s);
  }

  flush(s: Session): void {
    (s.ctx as LocalConn).write(s.out.take());
  }

  kick(s: Session, reason: string): void {
    this.drop(s.ctx as LocalConn, reason);
  }
}
