import { InvalidArgTypeError, InvalidArgValueError, UnknownOptionError } from "../errors.ts";

/** The longest delay a timer accepts: 2^31-1 ms, the same bound as `setTimeout`. */
export const MAX_DELAY_MS = 2 ** 31 - 1;

/** Options form of `ngx.timer.at`. */
export interface AtOptions {
  /** Seconds, fractions allowed (millisecond resolution). */
  readonly delay: number;
  /** Shown in logs and status. */
  readonly name?: string;
}

/** Options form of `ngx.timer.every`. */
export interface EveryOptions {
  /** Seconds between ticks, at least 0.001. */
  readonly interval: number;
  readonly name?: string;
  /** Whether a tick may start while the previous run is still going (default true, as OpenResty). */
  readonly overlap?: boolean;
}

/** What the core needs from either form, validated. */
export interface Schedule {
  readonly delayMs: number;
  readonly name: string | undefined;
  readonly overlap: boolean;
}

const AT_KEYS = ["delay", "name"] as const;
const EVERY_KEYS = ["interval", "name", "overlap"] as const;

/**
 * Converts seconds to whole milliseconds, truncating as OpenResty does (`0.0005` is 0 ms).
 * Rejects what OpenResty would silently accept: negative, NaN, infinite and huge values.
 */
export function toDelayMs(where: string, argument: string, seconds: unknown): number {
  if (typeof seconds !== "number") {
    throw new InvalidArgTypeError(where, argument, "a number of seconds", seconds);
  }
  const ms = Math.floor(seconds * 1000);
  if (!(ms >= 0 && ms <= MAX_DELAY_MS)) {
    throw new InvalidArgValueError(
      where,
      argument,
      `a number of seconds from 0 to ${MAX_DELAY_MS / 1000}`,
      seconds,
    );
  }
  return ms;
}

function checkName(where: string, name: unknown): string | undefined {
  if (name === undefined) return undefined;
  if (typeof name !== "string" || name === "") {
    throw new InvalidArgTypeError(where, "name", "a non-empty string", name);
  }
  return name;
}

function checkKeys(where: string, options: object, known: readonly string[]): void {
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) throw new UnknownOptionError(where, key, known);
  }
}

function isOptionsObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Reads the first argument of `at`: a delay in seconds or `{ delay, name }`. */
export function atSchedule(where: string, first: unknown): Schedule {
  if (!isOptionsObject(first)) {
    return { delayMs: toDelayMs(where, "delay", first), name: undefined, overlap: true };
  }
  checkKeys(where, first, AT_KEYS);
  return {
    delayMs: toDelayMs(where, "delay", first["delay"]),
    name: checkName(where, first["name"]),
    overlap: true,
  };
}

/** Reads the first argument of `every`: an interval in seconds or `{ interval, name, overlap }`. */
export function everySchedule(where: string, first: unknown): Schedule {
  let seconds: unknown = first;
  let name: string | undefined;
  let overlap = true;
  let argument = "delay";
  if (isOptionsObject(first)) {
    if ("singleton" in first) {
      throw new UnknownOptionError(
        `${where} (singleton timers are not available in this version)`,
        "singleton",
        EVERY_KEYS,
      );
    }
    checkKeys(where, first, EVERY_KEYS);
    seconds = first["interval"];
    argument = "interval";
    name = checkName(where, first["name"]);
    const given = first["overlap"];
    if (given !== undefined && typeof given !== "boolean") {
      throw new InvalidArgTypeError(where, "overlap", "a boolean", given);
    }
    overlap = given ?? true;
  }
  const delayMs = toDelayMs(where, argument, seconds);
  if (delayMs === 0) {
    throw new InvalidArgValueError(where, argument, "at least 0.001 seconds (delay cannot be zero)", seconds);
  }
  return { delayMs, name, overlap };
}
