import { ConfigError, describe } from "../errors.ts";
import { LOG_LEVELS, type LogLevel } from "../util/log.ts";
import { isPlainObject } from "../util/options.ts";

import { AGENT_CONNECTIONS, DEFAULT_CONFIG } from "./defaults.ts";
import type { ListenAddress, ResolvedConfig, ShdictSpec } from "./types.ts";
import {
  formatListen,
  parseListen,
  parseRedisUrl,
  parseSize,
  parseUser,
  parseWorkers,
  parseZoneName,
  type Parsed,
} from "./values.ts";

type Raw = Record<string, unknown>;

/** The config's top-level keys. */
export const CONFIG_KEYS = [
  "timers",
  "shutdownTimeout",
  "workers",
  "listen",
  "prefix",
  "user",
  "errorLog",
  "privilegedAgent",
  "initTimeout",
  "http",
  "logLevel",
  "log",
  "shdict",
  "coordinator",
  "standby",
  "metrics",
  "accessLog",
  "signals",
] as const;
const HTTP_KEYS = [
  "headersTimeout",
  "requestTimeout",
  "keepAliveTimeout",
  "sendTimeout",
  "maxHeaderSize",
  "lightResponse",
] as const;
const TIMER_KEYS = ["maxPending", "maxRunning", "runningLimit"] as const;
/** Limits stay below 2^31 so that counters remain small integers. */
const MAX_LIMIT = 2 ** 31 - 1;

/** A plain object: a Map, a Date or a class's instance would read as one without its keys. */
function isRecord(value: unknown): value is Raw {
  return isPlainObject(value);
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

  /**
   * Refuses a key that is not enumerable (`Object.defineProperty` without `enumerable: true`):
   * as an unknown key is, for it would not apply. The object spread that puts the flags over the
   * file, and the messages that carry the config to the master and the workers, leave it behind:
   * a non-enumerable `workers: 2` ran one worker without a word.
   */
  enumerable(prefix: string, value: Raw): void {
    for (const key of Object.getOwnPropertyNames(value)) {
      if (!Object.prototype.propertyIsEnumerable.call(value, key))
        this.fail(
          `${prefix}${key}`,
          "is not enumerable (defined by Object.defineProperty), and would be left behind: write it as a plain property",
        );
    }
  }

  keys(prefix: string, value: Raw, known: readonly string[]): void {
    this.enumerable(prefix, value);
    for (const key of Object.keys(value)) {
      if (!known.includes(key))
        this.fail(`${prefix}${key}`, `is not a known key; known keys here: ${known.join(", ")}`);
    }
  }

  parsed<T>(key: string, result: Parsed<T>): T {
    if (!result.ok) this.fail(key, result.problem);
    return result.value;
  }

  path(key: string, value: unknown, fallback: string | null): string | null {
    if (value === undefined) return fallback;
    if (typeof value !== "string" || value === "")
      this.fail(key, `must be a non-empty path, received ${describe(value)}`);
    return value;
  }

  /** A number of seconds from `min` up to what a timer can wait (2^31-1 ms). */
  seconds(key: string, value: unknown, min: number): asserts value is number {
    if (typeof value !== "number" || !(value >= min && value <= MAX_LIMIT / 1000)) {
      this.fail(
        key,
        `must be a number of seconds from ${min} to ${MAX_LIMIT / 1000}, received ${describe(value)}`,
      );
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
 * A key's value, or `fallback` when it is not set. Only `undefined` is "not set", for every key:
 * a `null` is a value like any other, refused by the key's check (`timers: null` and a few
 * others were taken as the defaults, while `workers: null` and most were refused).
 */
function orDefault(value: unknown, fallback: unknown): unknown {
  return value === undefined ? fallback : value;
}

/**
 * Validates a config object (from a file, already merged with CLI flags) and returns the
 * complete frozen configuration. Never mutates its input.
 */
export function resolveConfig(input: unknown, origin = "config"): ResolvedConfig {
  if (input === undefined) return DEFAULT_CONFIG;
  const check: Checker = new Checker(origin);
  if (!isRecord(input)) check.fail(null, `must export an object, received ${describe(input)}`);
  check.keys("", input, CONFIG_KEYS);

  const timersIn = check.record("timers", orDefault(input["timers"], {}));
  check.keys("timers.", timersIn, TIMER_KEYS);
  const defaults = DEFAULT_CONFIG.timers;
  const runningLimit = orDefault(timersIn["runningLimit"], defaults.runningLimit);
  if (runningLimit !== "wait" && runningLimit !== "drop") {
    check.fail("timers.runningLimit", `must be "wait" or "drop", received ${describe(runningLimit)}`);
  }

  const shutdownTimeout = input["shutdownTimeout"];
  if (shutdownTimeout !== undefined) check.seconds("shutdownTimeout", shutdownTimeout, 0);
  const initTimeout = orDefault(input["initTimeout"], DEFAULT_CONFIG.initTimeout);
  check.seconds("initTimeout", initTimeout, 0.001);
  const standby = orDefault(input["standby"], DEFAULT_CONFIG.standby);
  if (typeof standby !== "boolean")
    check.fail("standby", `must be true or false, received ${describe(standby)}`);

  return Object.freeze({
    timers: Object.freeze({
      maxPending: check.positiveInteger("timers.maxPending", timersIn["maxPending"], defaults.maxPending),
      maxRunning: check.positiveInteger("timers.maxRunning", timersIn["maxRunning"], defaults.maxRunning),
      runningLimit,
    }),
    shutdownTimeout: shutdownTimeout ?? null,
    workers:
      input["workers"] === undefined
        ? DEFAULT_CONFIG.workers
        : check.parsed("workers", parseWorkers(input["workers"], false)),
    listen: resolveListen(check, input["listen"]),
    prefix: check.path("prefix", input["prefix"], DEFAULT_CONFIG.prefix) ?? DEFAULT_CONFIG.prefix,
    user: input["user"] === undefined ? null : check.parsed("user", parseUser(input["user"])),
    errorLog: check.path("errorLog", input["errorLog"], null),
    privilegedAgent: resolveAgent(check, input["privilegedAgent"]),
    initTimeout: initTimeout,
    http: resolveHttp(check, input["http"]),
    logLevel: resolveLogLevel(check, input["logLevel"]),
    log: check.path("log", input["log"], null),
    shdict: resolveShdict(check, input["shdict"]),
    coordinator: resolveCoordinator(check, input["coordinator"]),
    standby,
    metrics: resolveMetrics(check, input["metrics"]),
    accessLog: resolveAccessLog(check, input["accessLog"]),
    signals: resolveSignals(check, input["signals"]),
  });
}

function resolveSignals(check: Checker, value: unknown): ResolvedConfig["signals"] {
  if (value === undefined) return DEFAULT_CONFIG.signals;
  const signals = check.record("signals", value);
  check.keys("signals.", signals, ["term"]);
  const term = orDefault(signals["term"], DEFAULT_CONFIG.signals.term);
  if (term !== "graceful" && term !== "fast") {
    check.fail("signals.term", `must be "graceful" (as QUIT) or "fast" (as INT), received ${describe(term)}`);
  }
  return Object.freeze({ term });
}

const ACCESS_LOG_FORMATS = ["common", "combined", "json"] as const;

function resolveMetrics(check: Checker, value: unknown): ResolvedConfig["metrics"] {
  if (value === undefined || value === false) return null;
  const address = parseListen(value);
  if (!address.ok) check.fail("metrics", `must be false or ${address.problem.replace(/^must be /, "")}`);
  return address.value;
}

function resolveAccessLog(check: Checker, value: unknown): ResolvedConfig["accessLog"] {
  if (value === undefined) return null;
  if (typeof value === "string")
    return Object.freeze({ path: check.path("accessLog", value, null) ?? "", format: "combined" });
  const given = check.record("accessLog", value);
  check.keys("accessLog.", given, ["path", "format"]);
  const path = check.path("accessLog.path", given["path"], null);
  if (path === null) check.fail("accessLog.path", "must be a non-empty path, received undefined");
  const format = orDefault(given["format"], "combined");
  if (!(ACCESS_LOG_FORMATS as readonly unknown[]).includes(format)) {
    check.fail(
      "accessLog.format",
      `must be one of ${ACCESS_LOG_FORMATS.map((f) => `"${f}"`).join(", ")}, received ${describe(format)}`,
    );
  }
  return Object.freeze({ path, format: format as (typeof ACCESS_LOG_FORMATS)[number] });
}

function resolveCoordinator(check: Checker, value: unknown): ResolvedConfig["coordinator"] {
  if (value === undefined) return null;
  if (typeof value !== "string" && !isRecord(value))
    check.fail("coordinator", `must be a Redis URL or { url, keyPrefix }, received ${describe(value)}`);
  const given = typeof value === "string" ? { url: value } : value;
  if (typeof value !== "string") check.keys("coordinator.", given, ["url", "keyPrefix"]);
  const url = check.parsed(
    typeof value === "string" ? "coordinator" : "coordinator.url",
    parseRedisUrl(given["url"]),
  );
  const keyPrefix = orDefault(given["keyPrefix"], "tsresty");
  if (typeof keyPrefix !== "string" || !/^[\w.:-]{1,64}$/.test(keyPrefix)) {
    check.fail(
      "coordinator.keyPrefix",
      `must be 1 to 64 letters, digits, _ . : or -, received ${describe(keyPrefix)}`,
    );
  }
  return Object.freeze({ url, keyPrefix });
}

function resolveLogLevel(check: Checker, value: unknown): LogLevel {
  if (value === undefined) return DEFAULT_CONFIG.logLevel;
  if (typeof value !== "string" || !(LOG_LEVELS as readonly string[]).includes(value)) {
    check.fail("logLevel", `must be one of ${LOG_LEVELS.join(", ")}, received ${describe(value)}`);
  }
  return value as LogLevel;
}

function resolveHttp(check: Checker, value: unknown): ResolvedConfig["http"] {
  if (value === undefined) return DEFAULT_CONFIG.http;
  const http = check.record("http", value);
  check.keys("http.", http, HTTP_KEYS);
  const defaults = DEFAULT_CONFIG.http;
  const seconds = (key: "headersTimeout" | "requestTimeout" | "keepAliveTimeout" | "sendTimeout"): number => {
    const given = orDefault(http[key], defaults[key]);
    check.seconds(`http.${key}`, given, 0);
    return given;
  };
  const requestTimeout = seconds("requestTimeout");
  const headersTimeout = seconds("headersTimeout");
  if (requestTimeout > 0 && headersTimeout > requestTimeout) {
    check.fail("http.headersTimeout", `must not be longer than http.requestTimeout (${requestTimeout} s)`);
  }
  const lightResponse = orDefault(http["lightResponse"], defaults.lightResponse);
  if (typeof lightResponse !== "boolean") {
    check.fail("http.lightResponse", `must be true or false, received ${describe(lightResponse)}`);
  }
  return Object.freeze({
    headersTimeout,
    requestTimeout,
    keepAliveTimeout: seconds("keepAliveTimeout"),
    sendTimeout: seconds("sendTimeout"),
    maxHeaderSize: check.positiveInteger("http.maxHeaderSize", http["maxHeaderSize"], defaults.maxHeaderSize),
    lightResponse,
  });
}

function resolveShdict(check: Checker, value: unknown): readonly ShdictSpec[] {
  if (value === undefined) return DEFAULT_CONFIG.shdict;
  const zones = check.record("shdict", value);
  check.enumerable("shdict.", zones);
  return Object.freeze(
    Object.entries(zones).map(([name, size]) => {
      check.parsed("shdict", parseZoneName(name));
      return Object.freeze({ name, size: check.parsed(`shdict.${name}`, parseSize(size)) });
    }),
  );
}

function resolveAgent(check: Checker, value: unknown): { readonly connections: number } | null {
  if (value === undefined || value === false) return null;
  if (value === true) return Object.freeze({ connections: AGENT_CONNECTIONS });
  const agent = check.record("privilegedAgent", value);
  check.keys("privilegedAgent.", agent, ["connections"]);
  const connections = check.positiveInteger(
    "privilegedAgent.connections",
    agent["connections"],
    AGENT_CONNECTIONS,
  );
  return Object.freeze({ connections });
}

function resolveListen(check: Checker, value: unknown): readonly ListenAddress[] {
  if (value === undefined) return DEFAULT_CONFIG.listen;
  const list: unknown[] = Array.isArray(value) ? value : [value];
  if (list.length === 0) check.fail("listen", "must name at least one address");
  const addresses = list.map((item, i) =>
    check.parsed(Array.isArray(value) ? `listen[${i}]` : "listen", parseListen(item)),
  );
  // The same address twice could only fail to bind (EADDRINUSE) the second time. Port 0 twice
  // is two ports.
  addresses.forEach((address, i) => {
    const first = addresses.findIndex((a) => a.host === address.host && a.port === address.port);
    if (address.port !== 0 && first !== i) {
      check.fail(
        `listen[${i}]`,
        `repeats ${formatListen(address)} (listen[${first}]): name each address once`,
      );
    }
  });
  return Object.freeze(addresses);
}
