import { describe, InvalidArgTypeError, InvalidArgValueError, UnknownOptionError } from "../errors.ts";
import { MAX_WAIT_MS } from "../util/clock.ts";
import { isPlainObject } from "../util/options.ts";
import { parseCron, type CronSchedule } from "./cron.ts";
import type { Singleton } from "./repeat.ts";

/** The longest wait `ngx.sleep` accepts: 2^31-1 ms, the same bound as `setTimeout`. */
export const MAX_DELAY_MS = MAX_WAIT_MS;

/**
 * The longest delay or interval of a timer: 10^9 s (about 31.7 years). The core waits longer
 * than `setTimeout` can in steps; the bound only keeps due times exact.
 */
const MAX_TIMER_DELAY_MS = 1e12;

/**
 * Options form of `ngx.timer.at`.
 * @example
 * ngx.timer.at({ delay: 0.5, name: "flush" }, flush);
 */
export interface AtOptions {
  /** Seconds, fractions allowed (millisecond resolution). */
  readonly delay: number;
  /** Shown in logs, status and metrics. Several `at` timers may share a name. */
  readonly name?: string;
}

/**
 * Options form of `ngx.timer.every`.
 * @example
 * ngx.timer.every({ interval: 30, name: "poll", overlap: false, align: "epoch" }, poll);
 */
export interface EveryOptions {
  /** Seconds between ticks, at least 0.001. */
  readonly interval: number;
  /** Shown in logs, status and metrics; one live repeating timer per name in a process. */
  readonly name?: string;
  /** Whether a tick may start while the previous run is still going (default true, as OpenResty). */
  readonly overlap?: boolean;
  /**
   * "start" (default): ticks at creation + n·interval. "epoch": tick n at n·interval since the
   * Unix epoch on the wall clock, the same in every process; singleton timers always are.
   */
  readonly align?: "start" | "epoch";
  /** Run each tick in one process of the host, or of the cluster (needs `name`). */
  readonly singleton?: Singleton;
  /** Singleton only: at creation, run the last tick missed while no process ran the timer, once. */
  readonly catchUp?: boolean;
}

/**
 * Options form of `ngx.timer.cron`.
 * @example
 * ngx.timer.cron({ cron: "0 0 3 * * *", tz: "UTC", name: "backup", singleton: "cluster" }, backup);
 */
export interface CronOptions {
  /** 5 fields (minute first), 6 (second first) or 7 (a year last); `@daily` and the like. */
  readonly cron: string;
  /** The IANA time zone the expression is read in; the process's own zone by default. */
  readonly tz?: string;
  readonly name?: string;
  readonly singleton?: Singleton;
  readonly overlap?: boolean;
  readonly catchUp?: boolean;
}

/** What the core needs to make a repeating timer, validated. */
export interface RepeatSpec {
  readonly kind: "every" | "cron";
  readonly intervalMs: number;
  readonly wall: boolean;
  readonly cron: CronSchedule | null;
  readonly name: string | undefined;
  readonly singleton: Singleton | null;
  readonly overlap: boolean;
  readonly catchUp: boolean;
}

const AT_KEYS = ["delay", "name"] as const;
const EVERY_KEYS = ["interval", "name", "overlap", "align", "singleton", "catchUp"] as const;
const CRON_KEYS = ["cron", "tz", "name", "singleton", "overlap", "catchUp"] as const;

/**
 * Converts seconds to whole milliseconds, truncating as OpenResty does (`0.0005` is 0 ms).
 * Rejects what OpenResty would silently accept: negative, NaN, infinite and huge values.
 */
export function toDelayMs(where: string, argument: string, seconds: unknown, maxMs = MAX_DELAY_MS): number {
  if (typeof seconds !== "number") {
    throw new InvalidArgTypeError(where, argument, "a number of seconds", seconds);
  }
  // Truncated to the millisecond once rounded to the microsecond: in binary floating point,
  // 1.001 × 1000 is 1000.9999999999999, and 741 of the delays with 3 decimals up to 100 s (2.01,
  // 32.3 among them) lost a millisecond, and shifted the wall-clock grids of epoch-aligned timers.
  const ms = seconds >= 0 ? Math.floor(Math.round(seconds * 1e6) / 1000) : NaN;
  if (!(ms >= 0 && ms <= maxMs)) {
    throw new InvalidArgValueError(where, argument, `a number of seconds from 0 to ${maxMs / 1000}`, seconds);
  }
  return ms;
}

/** A timer's delay: {@link toDelayMs} up to {@link MAX_TIMER_DELAY_MS}. */
export const toTimerDelayMs = (where: string, argument: string, seconds: unknown): number =>
  toDelayMs(where, argument, seconds, MAX_TIMER_DELAY_MS);

function checkName(where: string, name: unknown): string | undefined {
  if (name === undefined) return undefined;
  if (typeof name !== "string" || name === "") {
    throw new InvalidArgTypeError(where, "name", "a non-empty string", name);
  }
  // Names go to metrics and status as UTF-8, where lone surrogates become U+FFFD: "a\ud800"
  // and "a\udc00" would be one series twice in a scrape.
  if (!name.isWellFormed()) {
    throw new InvalidArgValueError(where, "name", "a string without lone surrogates", name);
  }
  return name;
}

function checkKeys(where: string, options: object, known: readonly string[]): void {
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) throw new UnknownOptionError(where, key, known);
  }
}

function checkBoolean(
  where: string,
  options: Record<string, unknown>,
  key: string,
  fallback: boolean,
): boolean {
  const given = options[key];
  if (given !== undefined && typeof given !== "boolean") {
    throw new InvalidArgTypeError(where, key, "a boolean", given);
  }
  return given ?? fallback;
}

function isOptionsObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * The longest name of a singleton timer, in UTF-8 bytes. The host gate claims a tick under the
 * key `singleton:NAME` of a shared dictionary, whose keys hold 65,535 bytes: a longer name
 * was accepted, and then every claim of every tick failed. Refused at creation instead, for both
 * kinds (a timer moved from "cluster" to "host" keeps its name).
 */
const MAX_SINGLETON_NAME_BYTES = 65_000;

/** `singleton`, `name` and `catchUp` together: a singleton needs a name, catching up a singleton. */
function checkSingleton(
  where: string,
  options: Record<string, unknown>,
  name: string | undefined,
): { singleton: Singleton | null; catchUp: boolean } {
  const singleton = options["singleton"];
  if (singleton !== undefined && singleton !== "host" && singleton !== "cluster") {
    throw new InvalidArgValueError(where, "singleton", '"host" or "cluster"', singleton);
  }
  if (singleton !== undefined && name === undefined) {
    throw new InvalidArgTypeError(where, "name", 'a non-empty string when "singleton" is set', undefined);
  }
  if (singleton !== undefined && Buffer.byteLength(name as string) > MAX_SINGLETON_NAME_BYTES) {
    throw new InvalidArgValueError(
      where,
      "name",
      `at most ${MAX_SINGLETON_NAME_BYTES} UTF-8 bytes for a singleton timer (it is part of each tick's claim key)`,
      name,
    );
  }
  const catchUp = checkBoolean(where, options, "catchUp", false);
  if (catchUp && singleton === undefined) {
    throw new InvalidArgValueError(
      where,
      "catchUp",
      'false unless "singleton" is set (only a singleton gate knows which ticks ran)',
      catchUp,
    );
  }
  return { singleton: singleton ?? null, catchUp };
}

/**
 * The options' required `key`, which must be present: a missing one is reported as what the first
 * argument was (`{}`: an options object without it; `new Number(1)`, a Date, a Map: that object),
 * where "received undefined" would hide it.
 */
function required(where: string, options: Record<string, unknown>, key: string, expected: string): unknown {
  const value = options[key];
  if (value !== undefined) return value;
  const shown = isPlainObject(options) ? `an options object without "${key}"` : describe(options);
  throw new InvalidArgTypeError(where, key, expected, options, shown);
}

/** Reads the first argument of `at`: a delay in seconds or `{ delay, name }`. */
export function atSchedule(where: string, first: unknown): { delayMs: number; name: string | undefined } {
  if (!isOptionsObject(first)) return { delayMs: toTimerDelayMs(where, "delay", first), name: undefined };
  checkKeys(where, first, AT_KEYS);
  const delay = required(where, first, "delay", "a number of seconds");
  return { delayMs: toTimerDelayMs(where, "delay", delay), name: checkName(where, first["name"]) };
}

/** Reads the first argument of `every`: an interval in seconds or the options. */
export function everySchedule(where: string, first: unknown): RepeatSpec {
  if (!isOptionsObject(first)) {
    const intervalMs = checkInterval(where, "interval", first);
    return {
      kind: "every",
      intervalMs,
      wall: false,
      cron: null,
      name: undefined,
      singleton: null,
      overlap: true,
      catchUp: false,
    };
  }
  checkKeys(where, first, EVERY_KEYS);
  const intervalMs = checkInterval(
    where,
    "interval",
    required(where, first, "interval", "a number of seconds"),
  );
  const name = checkName(where, first["name"]);
  const { singleton, catchUp } = checkSingleton(where, first, name);
  const align = first["align"];
  if (align !== undefined && align !== "start" && align !== "epoch") {
    throw new InvalidArgValueError(where, "align", '"start" or "epoch"', align);
  }
  if (align === "start" && singleton !== null) {
    throw new InvalidArgValueError(where, "align", '"epoch" (singleton ticks sit on the epoch grid)', align);
  }
  const overlap = checkBoolean(where, first, "overlap", true);
  const wall = align === "epoch" || singleton !== null;
  return { kind: "every", intervalMs, wall, cron: null, name, singleton, overlap, catchUp };
}

function checkInterval(where: string, argument: string, seconds: unknown): number {
  const ms = toTimerDelayMs(where, argument, seconds);
  if (ms === 0) {
    throw new InvalidArgValueError(where, argument, "at least 0.001 seconds (delay cannot be zero)", seconds);
  }
  return ms;
}

/** Reads the first argument of `cron`: an expression or the options; `now` is the wall clock. */
export function cronSchedule(where: string, first: unknown, now: number): RepeatSpec {
  if (!isOptionsObject(first)) {
    const cron = parseCron(where, first, undefined, now);
    return {
      kind: "cron",
      intervalMs: 0,
      wall: true,
      cron,
      name: undefined,
      singleton: null,
      overlap: true,
      catchUp: false,
    };
  }
  checkKeys(where, first, CRON_KEYS);
  const name = checkName(where, first["name"]);
  const { singleton, catchUp } = checkSingleton(where, first, name);
  const overlap = checkBoolean(where, first, "overlap", true);
  const cron = parseCron(where, required(where, first, "cron", "a cron expression string"), first["tz"], now);
  return { kind: "cron", intervalMs: 0, wall: true, cron, name, singleton, overlap, catchUp };
}
