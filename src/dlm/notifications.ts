// Blocking and completion notifications, queued per process and delivered by dlm_notify (called by
// the process, or on the process' behalf when its signal is raised, see dlm_set_signal).

import type { Lock } from './lock';
import type { BlockingRoutine, CompletionRoutine } from './types';

export interface BlockingNotification {
  readonly blocking: true;
  readonly lock: Lock;
  /** lock.ntfEpoch when queued; a later epoch voids it. */
  readonly epoch: number;
  readonly routine: BlockingRoutine;
  readonly notprm: unknown;
  /** The blocked request's hint. */
  readonly hint: unknown;
  /** The blocked request's mode. */
  readonly mode: number;
}

export interface CompletionNotification {
  readonly blocking: false;
  readonly lock: Lock;
  readonly epoch: number;
  readonly routine: CompletionRoutine;
  readonly notprm: unknown;
  readonly status: number;
}

export type Notification = BlockingNotification | CompletionNotification;

/**
 * Whether a queued notification is still to be delivered. Completions always are (a request completes
 * exactly once, even if its lock is gone by delivery time), unless dlm_glc_detach canceled them. A
 * blocking notification is dropped once its lock is gone or no longer granted: it would name a lock
 * that cannot release anything.
 */
export function deliverable(n: Notification): boolean {
  if (n.epoch !== n.lock.ntfEpoch) return false;
  if (n.blocking) return n.lock.granted;
  return true;
}

/** Runs one notification's routine. */
export function run(n: Notification): void {
  if (n.blocking) n.routine(n.notprm, n.hint, n.lock.id, n.mode);
  else n.routine(n.notprm, n.lock.id, n.status);
}
