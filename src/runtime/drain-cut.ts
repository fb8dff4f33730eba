import type { TimerSystem } from "../timer/index.ts";

/**
 * The warning when `shutdownTimeout` ends a drain, in every role's words alike: how many
 * callbacks were still running, and how many premature calls never ran (they waited for a
 * running slot), then what the process does next.
 * @example
 * drainCutMessage(1, timers, "going on to exitWorker");
 * // "shutdownTimeout (1 s) reached while draining, with 1 timers running; 2 premature calls never ran
 * //  (they waited for a running slot); going on to exitWorker"
 */
export function drainCutMessage(timeout: number, timers: TimerSystem, next: string): string {
  const lost = timers.prematureWaiting;
  const premature = lost === 0 ? "" : `; ${lost} premature calls never ran (they waited for a running slot)`;
  return `shutdownTimeout (${timeout} s) reached while draining, with ${timers.runningCount} timers running${premature}; ${next}`;
}
