// How both ends of dmapi.sock write frames: the frames written in one run of the event loop go out
// in one write, once the promise jobs queued so far have run. On the server, the operations a
// dm_respond_event released are answered (FUSE replies) before its acknowledgement goes out; on
// the client, a dm_respond_event and the next dm_get_events travel together.
import type * as net from 'net';

/** A frame writer for sock (frames written after it closed are dropped). */
export function frameWriter(sock: net.Socket): (frame: Buffer) => void {
  let corked = false;
  const uncork = () => {
    corked = false;
    sock.uncork();
  };
  return (frame) => {
    if (sock.destroyed) return;
    if (!corked) {
      corked = true;
      sock.cork();
      queueMicrotask(uncork);
    }
    sock.write(frame);
  };
}
