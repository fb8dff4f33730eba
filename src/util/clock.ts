/**
 * The time source of the timer core. Production uses {@link systemClock}; tests inject a
 * manual clock so that the whole timer subsystem runs without sleeping.
 */
export interface Clock {
  /** Monotonic milliseconds (fractions allowed). */
  now(): number;
  /** Calls `fn` once, after `ms` milliseconds; 0 means "as soon as the current code has finished". */
  schedule(ms: number, fn: () => void): Cancel;
}

export type Cancel = () => void;

/** The real clock: `performance.now()`, `setImmediate` for "now", `setTimeout` otherwise. */
export const systemClock: Clock = {
  now: () => performance.now(),
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
