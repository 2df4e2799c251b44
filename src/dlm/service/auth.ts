// Mutual authentication of two nodes with the shared cluster key: each side sends a fresh random
// nonce, the connector answers with an HMAC-SHA256 over both nonces and both names, the acceptor
// answers with its own (different label, so one cannot be replayed as the other). The key never
// crosses the wire; a recorded handshake is useless later (fresh nonces). The configurations (the
// cluster's name and digest) are compared only after both sides proved the key, so that the port
// tells an unauthenticated peer nothing; they are not in the MAC, so that a different
// configuration is reported as such rather than as a bad key.
import * as crypto from 'crypto';
import { MAC_BYTES, NONCE_BYTES } from './peer-protocol';

export function nonce(): Buffer {
  return crypto.randomBytes(NONCE_BYTES);
}

export interface HandshakeParams {
  acceptor: string;
  connector: string;
  acceptorNonce: Uint8Array;
  connectorNonce: Uint8Array;
}

function mac(key: Buffer, role: string, p: HandshakeParams): Buffer {
  const h = crypto.createHmac('sha256', key);
  h.update(`dmapifs-dlm/2 ${role}\0${p.acceptor}\0${p.connector}\0`);
  h.update(p.acceptorNonce);
  h.update(p.connectorNonce);
  return h.digest();
}

export function connectorMac(key: Buffer, p: HandshakeParams): Buffer {
  return mac(key, 'connector', p);
}

export function acceptorMac(key: Buffer, p: HandshakeParams): Buffer {
  return mac(key, 'acceptor', p);
}

/** Constant-time comparison. */
export function macEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === MAC_BYTES && b.length === MAC_BYTES && crypto.timingSafeEqual(a, b);
}
