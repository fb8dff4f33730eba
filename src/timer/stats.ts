import type { TimerEntry } from "./entry.ts";
import type { Singleton, TimerKind } from "./repeat.ts";
import { errorMessage } from "../util/error-message.ts";

/** Lateness (due → start) over the last {@link LATENESS_WINDOW} runs, in ms. */
export interface Lateness {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  /** Runs in the window. */
  readonly count: number;
}

/**
 * Every lateness ever measured for a name, in buckets (for a Prometheus histogram): `counts[i]`
 * runs were at most `LATENESS_BOUNDS[i]` ms late and more than the bound before; the last count is
 * the rest (+Inf). Not cumulative; `sum` in ms.
 */
export interface LatenessHistogram {
  /** The buckets' upper bounds in ms (LATENESS_BOUNDS), so that readers need not know them. */
  readonly bounds: readonly number[];
  readonly counts: readonly number[];
  readonly sum: number;
}

/**
 * One timer name's statistics (or, with `name: null`, those of all unnamed timers), as
 * `TimerSystem.stats()` returns them: plain data, ready for `JSON.stringify`. Times are epoch
 * ms, durations ms.
 */
export interface TimerStats {
  readonly name: string | null;
  /** What created the name's latest timer; null for the unnamed aggregate. */
  readonly kind: TimerKind | null;
  /** The delay of an `at`, the interval of an `every` (ms); otherwise null. */
  readonly interval: number | null;
  readonly cron: string | null;
  readonly tz: string | null;
  /** "epoch" for ticks on the wall-clock grid (epoch-aligned `every`, singleton, cron). */
  readonly align: "start" | "epoch" | null;
  readonly singleton: Singleton | null;
  /** Timers of this name created and not yet over; null for the aggregate. */
  readonly live: number | null;
  readonly runs: number;
  /** Runs that threw or rejected. */
  readonly errors: number;
  /** Ticks not run here: another process claimed them, `overlap: false`, or they fell behind. */
  readonly skipped: number;
  /** Runs dropped for want of a running slot ("drop" policy). */
  readonly dropped: number;
  /** Ticks skipped because the singleton gate failed to answer. */
  readonly claimErrors: number;
  readonly lastError: { readonly message: string; readonly at: number } | null;
  readonly lastStart: number | null;
  readonly lastDuration: number | null;
  readonly lateness: Lateness | null;
  /** Lateness of every timed run so far; null for the aggregate (its runs are only sampled). */
  readonly histogram: LatenessHistogram | null;
  /** The earliest due time of the name's pending timers; null for the aggregate. */
  readonly nextDue: number | null;
}

/**
 * One timer name's counters and lateness histogram (or the unnamed aggregate's, without a
 * histogram): what a metrics scrape reads, in a few fields, since a scrape carries every name of
 * every process. The histogram's bounds are LATENESS_BOUNDS.
 */
export type TimerCounts = Pick<
  TimerStats,
  "name" | "runs" | "errors" | "skipped" | "dropped" | "claimErrors"
> & {
  /**
   * Runs per LATENESS_BOUNDS bucket, +Inf last (not cumulative), and the sum of lateness in ms. The
   * counts are a view of the record's own, current until its next run: read them at once.
   */
  readonly lateness: { readonly counts: ArrayLike<number>; readonly sum: number } | null;
};

/** What a name's timers are, as the latest creation said. */
export interface RecordShape {
  readonly kind: TimerKind;
  readonly interval: number | null;
  readonly cron: string | null;
  readonly tz: string | null;
  readonly align: "start" | "epoch";
  readonly singleton: Singleton | null;
}

const LATENESS_WINDOW = 128;
/**
 * Upper bounds (ms) of the lateness histogram's buckets: fine where timers usually are (a few ms
 * late), coarse beyond. Few, because every bucket is a line per timer name and process in every
 * scrape.
 */
export const LATENESS_BOUNDS: readonly number[] = Object.freeze([1, 5, 10, 25, 50, 100, 500, 1_000, 5_000]);
/** The same bounds, +Inf last, as the hot path scans them (a typed array: no holes, no checks). */
const SCAN_BOUNDS = Float64Array.from([...LATENESS_BOUNDS, Infinity]);

const percentile = (sorted: Float64Array, q: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;

/**
 * The counters of one name. Cheap on the hot path: counts, and a ring of the last lateness
 * figures; percentiles are computed when read. Times are kept on the monotonic clock and turned
 * into epoch ms when read.
 */
export class TimerRecord {
  readonly name: string | null;
  shape: RecordShape | null = null;
  /** Named records: the timers of this name not yet over. */
  readonly live = new Set<TimerEntry>();
  runs = 0;
  errors = 0;
  skipped = 0;
  dropped = 0;
  claimErrors = 0;
  #lastError: { message: string; at: number } | null = null;
  /** When the last run started, in monotonic ms; NaN before the first run. */
  lastStart = NaN;
  #lastDuration = NaN;
  readonly #late = new Float64Array(LATENESS_WINDOW);
  #lateCount = 0;
  /** Counts per LATENESS_BOUNDS bucket, +Inf last; a run costs one short scan. */
  readonly #buckets = new Float64Array(LATENESS_BOUNDS.length + 1);
  #lateSum = 0;

  constructor(name: string | null) {
    this.name = name;
  }

  /**
   * A run started at `start` (monotonic ms), `lateness` ms after its due time (NaN: not counted):
   * every run of a named timer, and the unnamed aggregate's samples (from their dispatch's reading).
   */
  started(start: number, lateness: number): void {
    this.runs++;
    this.lastStart = start;
    if (lateness >= 0) {
      this.#late[this.#lateCount++ & (LATENESS_WINDOW - 1)] = lateness;
      let i = 0;
      while (lateness > (SCAN_BOUNDS[i] as number)) i++;
      (this.#buckets[i] as number)++;
      this.#lateSum += lateness;
    }
  }

  /** A run ended; `duration` is NaN for a run that was not timed. */
  ended(failed: boolean, error: unknown, duration: number, wallNow: () => number): void {
    if (failed) {
      this.errors++;
      this.#lastError = { message: errorMessage(error), at: wallNow() };
    }
    if (duration === duration) this.#lastDuration = duration;
  }

  #lateness(): Lateness | null {
    const count = Math.min(this.#lateCount, LATENESS_WINDOW);
    if (count === 0) return null;
    const sorted = this.#late.slice(0, count).sort();
    return {
      p50: percentile(sorted, 0.5),
      p99: percentile(sorted, 0.99),
      max: sorted[count - 1] ?? NaN,
      count,
    };
  }

  /** The counters and the histogram only (a scrape's figures). */
  counts(): TimerCounts {
    return {
      name: this.name,
      runs: this.runs,
      errors: this.errors,
      skipped: this.skipped,
      dropped: this.dropped,
      claimErrors: this.claimErrors,
      lateness: this.name === null ? null : { counts: this.#buckets, sum: this.#lateSum },
    };
  }

  /** The plain figures; `toWall` turns a monotonic time into epoch ms. */
  snapshot(nextDue: number | null, toWall: (monotonic: number) => number): TimerStats {
    const shape = this.shape;
    return {
      name: this.name,
      kind: shape?.kind ?? null,
      interval: shape?.interval ?? null,
      cron: shape?.cron ?? null,
      tz: shape?.tz ?? null,
      align: shape?.align ?? null,
      singleton: shape?.singleton ?? null,
      live: this.name === null ? null : this.live.size,
      runs: this.runs,
      errors: this.errors,
      skipped: this.skipped,
      dropped: this.dropped,
      claimErrors: this.claimErrors,
      lastError: this.#lastError === null ? null : { ...this.#lastError },
      lastStart: Number.isNaN(this.lastStart) ? null : Math.round(toWall(this.lastStart)),
      lastDuration: Number.isNaN(this.#lastDuration) ? null : this.#lastDuration,
      lateness: this.#lateness(),
      histogram:
        this.name === null
          ? null
          : { bounds: LATENESS_BOUNDS, counts: Array.from(this.#buckets), sum: this.#lateSum },
      nextDue,
    };
  }
}
