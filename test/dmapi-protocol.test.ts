// The DMAPI wire codec (unit) and protocol fuzzing against a live daemon: random, truncated and
// oversized frames never crash it; bad bodies get EPROTO, unknown opcodes ENOSYS, bad lengths a
// closed connection; the daemon answers normally afterwards.
import test from 'ava';
import * as crypto from 'crypto';
import * as net from 'net';
import * as path from 'path';
import { useCluster, pidAlive } from './helpers/cluster';
import { connect } from '../src/dmapi';
import * as C from '../src/dmapi/constants';
import {
  decodeFields, encodeFrame, FLAG_REPLY, FrameDecoder, HEADER_SIZE, MAX_FRAME, OPS, ProtocolError,
} from '../src/dmapi/protocol/codec';

const cluster = useCluster();

test('codec: encode/decode round trip of every field type', (t) => {
  const spec = [['a', 'i32'], ['b', 'u32'], ['c', 'i64'], ['d', 'u64'], ['e', 'bytes']] as const;
  const f = encodeFrame(7, 2, 0, spec, { a: -5, b: 0xfffffffe, c: -(1n << 40n), d: 1n << 63n, e: Buffer.from('xyz') });
  t.is(f.readUInt32LE(0), f.length - 4);
  const frames = new FrameDecoder().push(f);
  t.is(frames.length, 1);
  t.is(frames[0].id, 7);
  t.is(frames[0].opcode, 2);
  t.deepEqual(decodeFields(frames[0].raw, HEADER_SIZE, spec), { a: -5, b: 0xfffffffe, c: -(1n << 40n), d: 1n << 63n, e: Buffer.from('xyz') });
});

test('codec: frames split at every byte boundary are reassembled', (t) => {
  const a = encodeFrame(1, OPS.CREATE_SESSION.code, 0, OPS.CREATE_SESSION.req, { oldsid: 0, info: Buffer.from('hello') });
  const b = encodeFrame(2, OPS.DESTROY_SESSION.code, 0, OPS.DESTROY_SESSION.req, { sid: 9 });
  const all = Buffer.concat([a, b]);
  for (let cut = 1; cut < all.length; cut++) {
    const d = new FrameDecoder();
    const got = [...d.push(all.subarray(0, cut)), ...d.push(all.subarray(cut))];
    t.deepEqual(got.map((f) => f.id), [1, 2]);
  }
});

test('codec: truncated body and trailing bytes → ProtocolError; bad lengths → ProtocolError', (t) => {
  const f = encodeFrame(1, 2, 0, OPS.CREATE_SESSION.req, { oldsid: 0, info: Buffer.from('hello') });
  t.throws(() => decodeFields(f.subarray(0, f.length - 2), HEADER_SIZE, OPS.CREATE_SESSION.req), { instanceOf: ProtocolError });
  t.throws(() => decodeFields(Buffer.concat([f, Buffer.from([0])]), HEADER_SIZE, OPS.CREATE_SESSION.req), { instanceOf: ProtocolError });
  const big = Buffer.alloc(8);
  big.writeUInt32LE(MAX_FRAME, 0);
  t.throws(() => new FrameDecoder().push(big), { instanceOf: ProtocolError });
  const small = Buffer.alloc(8);
  small.writeUInt32LE(3, 0);
  t.throws(() => new FrameDecoder().push(small), { instanceOf: ProtocolError });
});

function raw(sockPath: string) {
  const sock = net.createConnection(sockPath);
  const dec = new FrameDecoder();
  const replies: Array<{ id: number; opcode: number; flags: number; errno: number }> = [];
  let closed = false;
  sock.on('data', (d) => {
    try {
      for (const f of dec.push(d)) replies.push({ id: f.id, opcode: f.opcode, flags: f.flags, errno: f.raw.readInt32LE(HEADER_SIZE) });
    } catch { /* ignore */ }
  });
  sock.on('close', () => { closed = true; });
  sock.on('error', () => undefined);
  return { sock, replies, isClosed: () => closed, ready: new Promise<void>((r) => sock.once('connect', () => r())) };
}
const settle = (ms = 200) => new Promise((r) => setTimeout(r, ms));

test('fuzz: random, truncated and oversized frames never crash the daemon', async (t) => {
  const { node, pid } = await cluster.startNode(t);
  const sockPath = path.join(cluster.runDir, node, 'dmapi.sock');

  // Unknown opcode → ENOSYS; flags set → EPROTO; truncated body → EPROTO.
  const c1 = raw(sockPath);
  await c1.ready;
  c1.sock.write(encodeFrame(11, 999, 0, [], {}));
  c1.sock.write(encodeFrame(12, OPS.GETALL_SESSIONS.code, 5, OPS.GETALL_SESSIONS.req, { nelem: 1 }));
  const trunc = encodeFrame(13, OPS.CREATE_SESSION.code, 0, [['oldsid', 'i32']], { oldsid: 0 });
  c1.sock.write(trunc);
  const lying = encodeFrame(14, OPS.CREATE_SESSION.code, 0, [['oldsid', 'i32'], ['n', 'u32']], { oldsid: 0, n: 1 << 30 });
  c1.sock.write(lying);
  await settle();
  t.deepEqual(c1.replies.map((r) => [r.id, r.errno, r.flags]), [[11, C.E.ENOSYS, FLAG_REPLY], [12, C.E.EPROTO, FLAG_REPLY], [13, C.E.EPROTO, FLAG_REPLY], [14, C.E.EPROTO, FLAG_REPLY]]);
  t.false(c1.isClosed());

  // Oversized length → connection closed.
  const huge = Buffer.alloc(12);
  huge.writeUInt32LE(0xffffffff, 0);
  c1.sock.write(huge);
  await settle();
  t.true(c1.isClosed());

  // Random frames with valid lengths and random opcodes/bodies, and raw garbage, on many connections.
  const opcodes = Object.values(OPS).map((o) => o.code);
  for (let round = 0; round < 40; round++) {
    const c = raw(sockPath);
    await c.ready;
    for (let i = 0; i < 25; i++) {
      const body = crypto.randomBytes(Math.floor(Math.random() * 64));
      const op = Math.random() < 0.8 ? opcodes[Math.floor(Math.random() * opcodes.length)] : Math.floor(Math.random() * 65536);
      const hdr = Buffer.alloc(HEADER_SIZE);
      hdr.writeUInt32LE(HEADER_SIZE - 4 + body.length, 0);
      hdr.writeUInt32LE(i, 4);
      hdr.writeUInt16LE(op, 8);
      c.sock.write(Buffer.concat([hdr, body]));
    }
    if (round % 5 === 0) c.sock.write(crypto.randomBytes(200));
    if (round % 7 === 0) c.sock.write(encodeFrame(1, OPS.GET_EVENTS.code, 0, OPS.GET_EVENTS.req, { sid: 1, maxmsgs: 0, flags: 1, buflen: 10n }).subarray(0, 9));
    await settle(20);
    c.sock.destroy();
  }
  await settle();
  t.true(pidAlive(pid));
  const dm = await connect({ node, runDir: cluster.runDir });
  const sid = await dm.createSession(0, 'after fuzz');
  t.is(await dm.querySession(sid), 'after fuzz');
  // Fuzzed bodies may have created sessions (random but well-formed requests): all still sane.
  for (const s of await dm.getallSessions()) {
    await dm.getEvents(s, 0, 0).catch(() => undefined);
    for (const tok of await dm.getallTokens(s)) await dm.respondEvent(s, tok, C.DM_RESP_CONTINUE, 0);
    await dm.destroySession(s).catch(() => undefined);
  }
  dm.close();
});
