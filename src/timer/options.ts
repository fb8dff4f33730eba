import { describe, InvalidArgTypeError, InvalidArgValueError } from "../errors.ts";
import { MAX_WAIT_MS } from "../util/clock.ts";
import { isPlainObject, ownOptions } from "../util/options.ts";
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
/** What the required option of `at` and `every`, and of `cron`, must be (the error messages' words). */
const SECONDS = "a number of seconds";
const CRON_EXPRESSION = "a cron expression string";

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

/**
 * The options form of a first argument, or null when it is not an object (a delay, an interval,
 * an expression, or an array: reported as a bad one). Options are a plain object's own keys, all
 * known, copied into an object without a prototype, as `util/options.ts` reads those of spawn and
 * lock: an option inherited from a prototype (`Object.create({ delay: 5 })`) was read although
 * only own keys were checked, and so was a key someone set on Object.prototype (`name`,
 * `singleton`), in every timer's options. An object that is not plain (a class's instance, a Map,
 * a Date, a boxed Number) is refused as the required option `key` would be.
 */
function optionsOf(
  where: string,
  first: unknown,
  known: readonly string[],
  key: string,
  expected: string,
): Record<string, unknown> | null {
  if (typeof first !== "object" || first === null || Array.isArray(first)) return null;
  if (!isPlainObject(first)) throw new InvalidArgTypeError(where, key, expected, first, notPlain(first, key));
  return ownOptions(where, first, known);
}

/**
 * How an object that is not a plain options object is shown: its kind, and why its `key` was not
 * read when it has one (a class's instance with its own `delay`, an object that inherits one).
 */
function notPlain(value: object, key: string): string {
  const kind = describe(value);
  try {
    if (Object.hasOwn(value, key)) return `${kind}, not a plain object: ${OWN_KEYS}`;
    if (key in value) return `${kind} whose "${key}" is inherited: ${OWN_KEYS}`;
  } catch {
    // a Proxy whose trap throws: shown by its kind only
  }
  return kind;
}

const OWN_KEYS = "options are read from a plain object's own keys";

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
 * argument was (`{}`: an options object without it), where "received undefined" would hide it.
 */
function required(where: string, options: Record<string, unknown>, key: string, expected: string): unknown {
  const value = options[key];
  if (value !== undefined) return value;
  throw new InvalidArgTypeError(where, key, expected, undefined, `an options object without "${key}"`);
}

/** Reads the first argument of `at`: a delay in seconds or `{ delay, name }`. */
export function atSchedule(where: string, first: unknown): { delayMs: number; name: string | undefined } {
  const options = optionsOf(where, first, AT_KEYS, "delay", SECONDS);
  if (options === null) return { delayMs: toTimerDelayMs(where, "delay", first), name: undefined };
  const delay = required(where, options, "delay", SECONDS);
  return { delayMs: toTimerDelayMs(where, "delay", delay), name: checkName(where, options["name"]) };
}

/** Reads the first argument of `every`: an interval in seconds or the options. */
export function everySchedule(where: string, first: unknown): RepeatSpec {
  const options = optionsOf(where, first, EVERY_KEYS, "interval", SECONDS);
  if (options === null) {
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
  const intervalMs = checkInterval(where, "interval", required(where, options, "interval", SECONDS));
  const name = checkName(where, options["name"]);
  const { singleton, catchUp } = checkSingleton(where, options, name);
  const align = options["align"];
  if (align !== undefined && align !== "start" && align !== "epoch") {
    throw new InvalidArgValueError(where, "align", '"start" or "epoch"', align);
  }
  if (align === "start" && singleton !== null) {
    throw new InvalidArgValueError(where, "align", '"epoch" (singleton ticks sit on the epoch grid)', align);
  }
  const overlap = checkBoolean(where, options, "overlap", true);
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
  const options = optionsOf(where, first, CRON_KEYS, "cron", CRON_EXPRESSION);
  if (options === null) {
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
  const name = checkName(where, options["name"]);
  const { singleton, catchUp } = checkSingleton(where, options, name);
  const overlap = checkBoolean(where, options, "overlap", true);
  const expression = required(where, options, "cron", CRON_EXPRESSION);
  const cron = parseCron(where, expression, options["tz"], now);
  return { kind: "cron", intervalMs: 0, wall: true, cron, name, singleton, overlap, catchUp };
}
