// A rate limit for log lines that other users can cause (bad frames on the sockets every local user
// may reach): a user that reconnects in a loop must not be able to fill the disk through
// daemon.log. Lines are counted per key (the peer's uid: reconnecting does not reset it); past
// `burst` lines in a window the rest are counted, and the next line let through says how many
// were suppressed.
export class LogLimiter {
  private readonly keys = new Map<string, { windowStart: number; lines: number; suppressed: number }>();

  constructor(private readonly burst = 5, private readonly windowMs = 60_000, private readonly now: () => number = Date.now) {}

  /** Writes `msg` through `sink` unless `key` used up its lines for this window. */
  warn(key: string, msg: string, sink: (m: string) => void): void {
    const t = this.now();
    let k = this.keys.get(key);
    if (!k || t - k.windowStart >= this.windowMs) {
      const before = k?.suppressed ?? 0;
      k = { windowStart: t, lines: 0, suppressed: 0 };
      this.keys.set(key, k);
      if (before) sink(`${before} more message${before === 1 ? '' : 's'} like the next from ${key} suppressed in the last ${Math.round(this.windowMs / 1000)} s`);
      if (this.keys.size > 10_000) this.prune(t);
    }
    if (k.lines < this.burst) {
      k.lines++;
      sink(msg);
    } else {
      k.suppressed++;
    }
  }

  private prune(t: number): void {
    for (const [key, k] of this.keys) if (t - k.windowStart >= this.windowMs && !k.suppressed) this.keys.delete(key);
  }
}
