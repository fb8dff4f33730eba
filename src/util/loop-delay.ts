/**
 * Event-loop delay over a window, from `perf_hooks.monitorEventLoopDelay` (it samples on a libuv
 * timer of its own: no JavaScript runs between reads). A read that finds the window older than
 * {@link LAG_WINDOW_MS} starts a new one after reading, so that every scrape sees recent figures
 * whatever its interval, and a stall stays visible for at least one window.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";

/** How long a window lasts at least before a read starts the next one. */
const LAG_WINDOW_MS = 10_000;
/** Sampling resolution (ms): fine enough for lag that matters, and a timer this slow costs nothing. */
const RESOLUTION_MS = 20;

/** Delay figures in seconds. */
export interface LoopDelayFigures {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

export class LoopDelay {
  readonly #delay: IntervalHistogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  #windowStart = Date.now();

  constructor() {
    this.#delay.enable();
  }

  /** The current window's figures (null before its first sample). */
  read(): LoopDelayFigures | null {
    const delay = this.#delay;
    // Each sample is the time between two ticks of the sampling timer (ns): the delay is what
    // exceeds the resolution.
    const seconds = (ns: number): number => Math.max(0, Math.round(ns / 1e3 - RESOLUTION_MS * 1e3) / 1e6);
    const figures =
      delay.count === 0
        ? null
        : {
            p50: seconds(delay.percentile(50)),
            p99: seconds(delay.percentile(99)),
            max: seconds(delay.max),
          };
    if (Date.now() - this.#windowStart >= LAG_WINDOW_MS) {
      delay.reset();
      this.#windowStart = Date.now();
    }
    return figures;
  }

  close(): void {
    this.#delay.disable();
  }
}
