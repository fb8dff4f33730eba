import type { CronSchedule } from "./cron.ts";
import type { RepeatSpec } from "./options.ts";
import type { RecordShape, TimerRecord } from "./stats.ts";

/**
 * Which processes share a singleton timer's ticks: those of one host, or every host.
 * @example
 * ngx.timer.every({ interval: 60, name: "cleanup", singleton: "host" }, cleanup);
 */
export type Singleton = "host" | "cluster";

/**
 * What created a timer.
 * @example
 * ngx.timer.cron("0 * * * *", hourly).kind; // "cron"
 */
export type TimerKind = "at" | "every" | "cron";

/**
 * What a repeating timer (`every`, `cron`) carries beyond an `at` timer. One object per
 * repeating timer, so that `at` entries stay small.
 */
export interface Repeat {
  readonly kind: "every" | "cron";
  /** The interval of an `every`, in ms; 0 for cron. */
  readonly intervalMs: number;
  /** Ticks on the wall clock: epoch-aligned `every`, singleton, cron. */
  readonly wall: boolean;
  readonly cron: CronSchedule | null;
  readonly singleton: Singleton | null;
  /** Whether a tick may start while an earlier run is still going. */
  readonly overlap: boolean;
  readonly catchUp: boolean;
  /** The key of the core's list that holds the timer. */
  readonly listKey: number;
  /** The statistics of the timer's name (or of the unnamed ones). */
  readonly record: TimerRecord;
  /** The armed tick's time in epoch ms, for wall-clock timers; NaN for the others. */
  tick: number;
}

/**
 * The first tick of a wall-clock timer strictly after `after` (epoch ms): the next multiple of
 * the interval since the epoch, or croner's next occurrence. Null when a cron has none left.
 */
export function nextWallTick(repeat: Repeat, after: number): number | null {
  if (repeat.cron !== null) return repeat.cron.next(after);
  const interval = repeat.intervalMs;
  return (Math.floor(after / interval) + 1) * interval;
}

/** The last tick of a wall-clock timer at or before `at` (epoch ms), or null. */
export function lastWallTick(repeat: Repeat, at: number): number | null {
  if (repeat.cron !== null) return repeat.cron.previous(at);
  return Math.floor(at / repeat.intervalMs) * repeat.intervalMs;
}

/**
 * How long a cron's last occurrence (no tick after it) stays runnable: a claim answered later is
 * not run, as a claim answered after the next tick would not be.
 */
const LAST_TICK_SPAN_MS = 60_000;

/**
 * The gap to the tick after `tick`, for the gate (a cron's occurrences need not be evenly spaced);
 * `LAST_TICK_SPAN_MS` for a cron's last occurrence. Never 0: a claim of a tick is late once the
 * span has passed, and a span of 0 made the last occurrence always late (claimed, never run).
 */
export function tickSpan(repeat: Repeat, tick: number): number {
  if (repeat.cron === null) return repeat.intervalMs;
  const next = repeat.cron.next(tick);
  return next === null ? LAST_TICK_SPAN_MS : next - tick;
}

/** The plan of a new repeating timer, its first tick not yet computed. */
export function makeRepeat(spec: RepeatSpec, record: TimerRecord): Repeat {
  return {
    kind: spec.kind,
    intervalMs: spec.intervalMs,
    wall: spec.wall,
    cron: spec.cron,
    singleton: spec.singleton,
    overlap: spec.overlap,
    catchUp: spec.catchUp,
    listKey: spec.cron === null ? -spec.intervalMs : -Infinity,
    record,
    tick: NaN,
  };
}

/** What a timer of `spec` (null: an `at` of `delayMs`) shows in its name's statistics. */
export function recordShape(delayMs: number, spec: RepeatSpec | null): RecordShape {
  if (spec === null)
    return { kind: "at", interval: delayMs, cron: null, tz: null, align: "start", singleton: null };
  return {
    kind: spec.kind,
    interval: spec.cron === null ? spec.intervalMs : null,
    cron: spec.cron?.expression ?? null,
    tz: spec.cron?.tz ?? null,
    align: spec.wall ? "epoch" : "start",
    singleton: spec.singleton,
  };
}
