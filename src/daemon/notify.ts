// Readiness and status for a service manager (sd_notify(3)): systemd starts a Type=notify unit's
// dependants once READY=1 arrives on $NOTIFY_SOCKET. Without that variable nothing is sent.
import * as sys from '../native/sys';

export function sdNotify(state: Record<string, string | number>, env: NodeJS.ProcessEnv = process.env): boolean {
  const sock = env.NOTIFY_SOCKET;
  if (!sock) return false;
  const msg = Object.entries(state).map(([k, v]) => `${k}=${String(v).replace(/\n/g, ' ')}`).join('\n');
  return sys.sdNotify(Buffer.from(sock), Buffer.from(msg)) === 0;
}
