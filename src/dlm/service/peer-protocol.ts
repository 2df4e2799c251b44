// The node-to-node protocol over TCP (framing from codec.ts). After the handshake, client frames
// travel inside FWD / BACK unchanged: a member node does not decode its clients' requests.
//
// Handshake (the acceptor speaks first; nothing else is read before it ends). The acceptor tells
// nothing about itself (node, cluster, configuration) before the connector proved the key:
//   HELLO     acceptor → connector   u8 version | 32 nonce
//   AUTH      connector → acceptor   str node | 32 nonce | 32 mac   (mac: auth.ts, proves the key)
//   AUTH_OK   acceptor → connector   32 mac | str cluster | str digest  (proves the acceptor has it too)
//   CONFIRM   connector → acceptor   str cluster | str digest        (both sides compare configurations)
//   REFUSE    either way             str reason                      (then the connection closes;
//                                                                     unauthenticated: no details)
// Session:
//   PING      both ways              f64 sender's clock (heartbeat; any frame counts as alive)
//   OPEN      member → master        u32 conn | u32 pid | u32 uid | u32 gid | u16 n | u32 groups[n]
//   CLOSE     member → master        u32 conn                        (the client process is gone)
//   FWD       member → master        u32 conn | client frames
//   BACK      master → member        u32 conn | node-to-client frames
//   KILL      master → member        u32 conn                        (engine kill hook)
//   DUMP      member → master        u32 req
//   DUMP_REPLY master → member       u32 req | str32 JSON of the engine dump
export const PEER_VERSION = 2;

export const P = {
  HELLO: 0x40,
  AUTH: 0x41,
  AUTH_OK: 0x42,
  REFUSE: 0x43,
  PING: 0x44,
  OPEN: 0x45,
  CLOSE: 0x46,
  FWD: 0x47,
  BACK: 0x48,
  KILL: 0x49,
  DUMP: 0x4a,
  DUMP_REPLY: 0x4b,
  CONFIRM: 0x4c,
} as const;

/** Largest handshake frame (names, digests, nonces and macs only). */
export const MAX_HANDSHAKE_FRAME = 1024;
export const NONCE_BYTES = 32;
export const MAC_BYTES = 32;
