// Node-to-node messaging between the members of a lock space with membership from etcd: every member
// masters some resources, so any member sends to any other; a node's own master side is reached the
// same way (a frame queued to itself), so the router and the master side never call each other
// directly and keep the order the wire gives.
import { MAX_PEER_FRAME, Reader, Writer } from './codec';
import type { ClusterTransport } from './transport';

export type FrameHandler = (from: string, type: number, r: Reader, buf: Buffer, start: number, end: number) => void;

export class Mesh {
  private readonly loop = new Writer(256);
  private readonly reader = new Reader();
  private handler: FrameHandler = () => undefined;

  constructor(
    readonly self: string,
    private readonly transport: ClusterTransport,
  ) {}

  onFrame(h: FrameHandler): void {
    this.handler = h;
  }

  /** Whether a frame to `node` can go now. */
  reachable(node: string): boolean {
    return node === this.self || this.transport.link(node) !== null;
  }

  /** Sends a frame to a member (itself included); false when there is no link to it. */
  send(node: string, type: number, encode: (w: Writer) => void): boolean {
    if (node === this.self) {
      const w = this.loop.begin(type);
      encode(w);
      this.loop.end(MAX_PEER_FRAME);
      const buf = this.loop.take();
      process.nextTick(() => this.deliver(buf));
      return true;
    }
    const link = this.transport.link(node);
    if (link === null) return false;
    encode(link.begin(type));
    link.end();
    return true;
  }

  /** A frame from another member's link. */
  receive(from: string, type: number, r: Reader, buf: Buffer, start: number, end: number): void {
    this.handler(from, type, r, buf, start, end);
  }

  private deliver(buf: Buffer): void {
    // buf holds one frame: u32 length | type | fields.
    const r = this.reader.reset(buf, 4, buf.length);
    const type = r.u8();
    this.handler(this.self, type, r, buf, 4, buf.length);
  }
}
