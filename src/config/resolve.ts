import { ConfigError, describe } from "../errors.ts";
import { DEFAULT_CONFIG, type ResolvedConfig } from "./types.ts";

type Raw = Record<string, unknown>;

const TOP_KEYS = ["timers", "shutdownTimeout"] as const;
const TIMER_KEYS = ["maxPending", "maxRunning", "runningLimit"] as const;
/** Limits stay below 2^31 so that counters remain small integers. */
const MAX_LIMIT = 2 ** 31 - 1;

function isRecord(value: unknown): value is Raw {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Checks keys and values of one config object; errors name the origin and the dotted key. */
class Checker {
  readonly #origin: string;
  constructor(origin: string) {
    this.#origin = origin;
  }

  fail(key: string | null, problem: string): never {
    throw new ConfigError(this.#origin, key, problem);
  }

  record(key: string, value: unknown): Raw {
    if (!isRecord(value)) this.fail(key, `must be an object, received ${describe(value)}`);
    return value;
  }

  keys(prefix: string, value: Raw, known: readonly string[]): void {
    for (const key of Object.keys(value)) {
      if (!known.includes(key))
        this.fail(`${prefix}${key}`, `is not a known key; known keys here: ${known.join(", ")}`);
    }
  }

  positiveInteger(key: string, value: unknown, fallback: number): number {
    if (value === undefined) return fallback;
    if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > MAX_LIMIT) {
      this.fail(key, `must be an integer from 1 to ${MAX_LIMIT}, received ${describe(value)}`);
    }
    return value;
  }
}

/**
 * Validates a config object (from a file, already merged with CLI flags) and returns the
 * complete frozen configuration. Never mutates its input.
 */
export function resolveConfig(input: unknown, origin = "config"): ResolvedConfig {
  if (input === undefined) return DEFAULT_CONFIG;
  const check: Checker = new Checker(origin);
  if (!isRecord(input)) check.fail(null, `must export an object, received ${describe(input)}`);
  check.keys("", input, TOP_KEYS);

  const timersIn = check.record("timers", input["timers"] ?? {});
  check.keys("timers.", timersIn, TIMER_KEYS);
  const defaults = DEFAULT_CONFIG.timers;
  const runningLimit = timersIn["runningLimit"] ?? defaults.runningLimit;
  if (runningLimit !== "wait" && runningLimit !== "drop") {
    check.fail("timers.runningLimit", `must be "wait" or "drop", received ${describe(runningLimit)}`);
  }

  const shutdownTimeout = input["shutdownTimeout"] ?? DEFAULT_CONFIG.shutdownTimeout;
  if (typeof shutdownTimeout !== "number" || !(shutdownTimeout >= 0 && shutdownTimeout <= MAX_LIMIT / 1000)) {
    check.fail(
      "shutdownTimeout",
      `must be a number of seconds from 0 to ${MAX_LIMIT / 1000}, received ${describe(shutdownTimeout)}`,
    );
  }

  return Object.freeze({
    timers: Object.freeze({
      maxPending: check.positiveInteger("timers.maxPending", timersIn["maxPending"], defaults.maxPending),
      maxRunning: check.positiveInteger("timers.maxRunning", timersIn["maxRunning"], defaults.maxRunning),
      runningLimit,
    }),
    shutdownTimeout,
  });
}
