// Time and deferred work for the engine. The engine itself never touches a timer: request timeouts
// and the asynchronous delivery of notifications go through a Scheduler given to it, so tests drive
// time by hand (ManualScheduler) and a service runs on the event loop (SystemScheduler).

export type TimerHandle = unknown;

export interface Scheduler {
  /** Monotonic time in milliseconds. */
  now(): number;
  /** Runs `fn` once, at or after time `at` (milliseconds on the now() scale). */
  setTimer(at: number, fn: () => void): TimerHandle;
  clearTimer(handle: TimerHandle): void;
  /** Runs `fn` soon, after the current call stack (the "signal" of dlm_set_signal). */
  defer(fn: () => void): void;
}

/** The event loop: performance.now(), setTimeout, setImmediate. */
export class SystemScheduler implements Scheduler {
  private readonly timers = new Set<NodeJS.Timeout>();

  now(): number {
    return performance.now();
  }

  setTimer(at: number, fn: () => void): TimerHandle {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, Math.max(0, at - this.now()));
    this.timers.add(t);
    return t;
  }

  clearTimer(handle: TimerHandle): void {
    clearTimeout(handle as NodeJS.Timeout);
    this.timers.delete(handle as NodeJS.Timeout);
  }

  defer(fn: () => void): void {
    setImmediate(fn);
  }

  /** Clears every pending timer (for shutting a service down). */
  dispose(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}

interface ManualTimer {
  at: number;
  order: number;
  fn: (() => void) | null;
}

/**
 * A clock that only moves when told to. Timers fire in deadline order (ties in the order they were
 * set); deferred work runs on flush() and after every timer.
 */
export class ManualScheduler implements Scheduler {
  private time: number;
  private order = 0;
  private timers: ManualTimer[] = [];
  private deferred: (() => void)[] = [];

  constructor(start = 0) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  setTimer(at: number, fn: () => void): TimerHandle {
    const t: ManualTimer = { at, order: this.order++, fn };
    // Keep the list sorted by (at, order); insertion from the back is cheap for increasing deadlines.
    let i = this.timers.length;
    while (i > 0 && this.timers[i - 1].at > at) i--;
    this.timers.splice(i, 0, t);
    return t;
  }

  clearTimer(handle: TimerHandle): void {
    const t = handle as ManualTimer;
    t.fn = null;
    const i = this.timers.indexOf(t);
    if (i >= 0) this.timers.splice(i, 1);
  }

  defer(fn: () => void): void {
    this.deferred.push(fn);
  }

  /** Number of timers still to fire. */
  get pendingTimers(): number {
    return this.timers.length;
  }

  /** Runs deferred work (including work it defers in turn) until none is left. */
  flush(): void {
    while (this.deferred.length) {
      const fn = this.deferred.shift()!;
      fn();
    }
  }

  /** Moves time forward by `ms`, firing the timers that fall due, in order. */
  advance(ms: number): void {
    this.advanceTo(this.time + ms);
  }

  advanceTo(target: number): void {
    this.flush();
    while (this.timers.length && this.timers[0].at <= target) {
      const t = this.timers.shift()!;
      if (t.at > this.time) this.time = t.at;
      const fn = t.fn;
      t.fn = null;
      if (fn) fn();
      this.flush();
    }
    if (target > this.time) this.time = target;
  }
}
