/**
 * The time sources of the timer core. Production uses {@link systemClock}; tests inject a
 * manual clock so that the whole timer subsystem runs without sleeping.
 */
export interface Clock {
  /** Monotonic milliseconds (fractions allowed): due times and waits are measured on it. */
  now(): number;
  /**
   * Wall-clock milliseconds since the Unix epoch. Epoch-aligned and cron ticks are computed on
   * it; it may step (NTP), so the core converts it to `now()` time when it arms a tick.
   */
  wallNow(): number;
  /**
   * Calls `fn` once, after `ms` milliseconds; 0 means "as soon as the current code has finished".
   * `ms` is at most {@link MAX_WAIT_MS}: longer waits are the caller's to split.
   */
  schedule(ms: number, fn: () => void): Cancel;
}

export type Cancel = () => void;

/** The longest wait `setTimeout` honours (2^31-1 ms, about 24.8 days); past it, Node fires after 1 ms. */
export const MAX_WAIT_MS = 2 ** 31 - 1;

/** The real clock: `performance.now()`, `Date.now()`, `setImmediate` for "now", `setTimeout` otherwise. */
export const systemClock: Clock = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
  schedule(ms, fn) {
    if (ms <= 0) {
      const immediate = setImmediate(fn);
      return () => {
        clearImmediate(immediate);
      };
    }
    const timeout = setTimeout(fn, ms);
    return () => {
      clearTimeout(timeout);
    };
  },
};
