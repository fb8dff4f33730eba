/**
 * The error catalogue. Every error tsresty throws is one of these classes, carries a
 * stable `code`, and says which argument was wrong, what was expected and what was
 * received. Outcomes that a caller checks in normal flow are returned, not thrown
 * (see STYLE.md, "two channels").
 */

/**
 * The `code` of every error tsresty throws.
 * @example
 * try { ngx.timer.at(-1, job); } catch (error) { (error as { code: ErrorCode }).code; } // "ERR_TSRESTY_INVALID_ARG_VALUE"
 */
export type ErrorCode =
  | "ERR_TSRESTY_INVALID_ARG_TYPE"
  | "ERR_TSRESTY_INVALID_ARG_VALUE"
  | "ERR_TSRESTY_UNKNOWN_OPTION"
  | "ERR_TSRESTY_TIMER"
  | "ERR_TSRESTY_CONTEXT"
  | "ERR_TSRESTY_CONFIG"
  | "ERR_TSRESTY_USAGE"
  | "ERR_TSRESTY_START"
  | "ERR_TSRESTY_PATH"
  | "ERR_TSRESTY_SHDICT";

/** Describes a received value for an error message: `a string ("abc")`, `NaN`, `undefined`. */
export function describe(value: unknown): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "undefined":
      return "undefined";
    case "number":
      return Number.isNaN(value) ? "NaN" : `the number ${String(value)}`;
    case "bigint":
      return `the bigint ${String(value)}n`;
    case "boolean":
      return `the boolean ${String(value)}`;
    case "string": {
      const shown = value.length > 40 ? `${value.slice(0, 40)}…` : value;
      return `a string (${JSON.stringify(shown)})`;
    }
    case "symbol":
      return `a symbol (${String(value.description)})`;
    case "function":
      return value.name ? `a function (${value.name})` : "an anonymous function";
    default:
      return describeObject(value);
  }
}

/** An object's kind, read without letting its code (a Proxy's traps, getters) throw through. */
function describeObject(value: object): string {
  try {
    if (Array.isArray(value)) return "an array";
    const ctor = (value as { constructor?: { name?: string } }).constructor;
    return `an object (${typeof ctor?.name === "string" && ctor.name !== "" ? ctor.name : "null prototype"})`;
  } catch {
    return "an object (unreadable)";
  }
}

/**
 * A misuse with the wrong type of value: a string where a number belongs, a non-function callback.
 * @example
 * ngx.timer.at("5" as never, job); // throws: "delay" must be a number of seconds, received a string ("5")
 */
export class InvalidArgTypeError extends TypeError {
  readonly code = "ERR_TSRESTY_INVALID_ARG_TYPE" satisfies ErrorCode;
  override name = "TypeError";
  /** `shown` says what was received when `describe(received)` would not (an options object without the key). */
  constructor(
    where: string,
    argument: string,
    expected: string,
    received: unknown,
    shown = describe(received),
  ) {
    super(`${where}: "${argument}" must be ${expected}, received ${shown}`);
  }
}

/**
 * A misuse with a value of the right type but out of range: a negative or infinite delay.
 * @example
 * ngx.timer.at(-1, job); // throws InvalidArgValueError (ERR_TSRESTY_INVALID_ARG_VALUE)
 */
export class InvalidArgValueError extends RangeError {
  readonly code = "ERR_TSRESTY_INVALID_ARG_VALUE" satisfies ErrorCode;
  override name = "RangeError";
  constructor(where: string, argument: string, expected: string, received: unknown) {
    super(`${where}: "${argument}" must be ${expected}, received ${describe(received)}`);
  }
}

/**
 * An options object with a key the API does not know (a typo would otherwise be ignored).
 * @example
 * ngx.timer.every({ interval: 5, nmae: "x" } as never, job); // throws: unknown option "nmae"
 */
export class UnknownOptionError extends TypeError {
  readonly code = "ERR_TSRESTY_UNKNOWN_OPTION" satisfies ErrorCode;
  override name = "TypeError";
  constructor(where: string, key: string, known: readonly string[]) {
    super(`${where}: unknown option "${key}"; known options are ${known.map((k) => `"${k}"`).join(", ")}`);
  }
}

/**
 * OpenResty's reasons for refusing to create a timer.
 * @example
 * try { ngx.timer.at(1, job); } catch (e) { if (e instanceof TimerError && e.reason === "process exiting") return; }
 */
export type TimerRefusal = "too many pending timers" | "process exiting";

/**
 * Thrown when a timer cannot be created; `reason` is OpenResty's own string.
 * @example
 * try {
 *   ngx.timer.at(1, job);
 * } catch (error) {
 *   if (error instanceof TimerError) ngx.log(ngx.WARN, "no timer: ", error.reason); // "too many pending timers"
 * }
 */
export class TimerError extends Error {
  readonly code = "ERR_TSRESTY_TIMER" satisfies ErrorCode;
  override name = "TimerError";
  readonly reason: TimerRefusal;
  constructor(where: string, reason: TimerRefusal, detail: string) {
    super(`${where}: ${reason} (${detail})`);
    this.reason = reason;
  }
}

/**
 * An API called in a process or phase where it is not available.
 * @example
 * ngx.process.enablePrivilegedAgent(); // outside init: throws "API disabled in the current context"
 */
export class ContextError extends Error {
  readonly code = "ERR_TSRESTY_CONTEXT" satisfies ErrorCode;
  override name = "ContextError";
  constructor(where: string, context = "the current context") {
    super(`${where}: API disabled in ${context}`);
  }
}

/**
 * A configuration that cannot be used. `origin` is the file (or "config"), `key` the dotted
 * path of the offending key, when there is one.
 * @example
 * // tsresty.config.ts: export default { timers: { maxPendng: 10 } }
 * // tsresty start exits 2: "tsresty.config.ts: timers.maxPendng is not a known key; …"
 */
export class ConfigError extends Error {
  readonly code = "ERR_TSRESTY_CONFIG" satisfies ErrorCode;
  override name = "ConfigError";
  readonly key: string | null;
  constructor(origin: string, key: string | null, problem: string, options?: ErrorOptions) {
    super(key === null ? `${origin}: ${problem}` : `${origin}: ${key} ${problem}`, options);
    this.key = key;
  }

  /** A config error reported by another process (the init process), with its message as it was. */
  static reported(message: string): ConfigError {
    const error = new ConfigError("", null, "");
    error.message = message;
    return error;
  }
}

/**
 * A bad command line. The CLI prints it with the usage text and exits 2.
 * @example
 * // tsresty start --workers many  → exits 2 with the usage text
 */
export class UsageError extends Error {
  readonly code = "ERR_TSRESTY_USAGE" satisfies ErrorCode;
  override name = "UsageError";
}

/**
 * `tsresty start` (or a reload) cannot proceed: init failed, a port is busy, a worker died first.
 * @example
 * // an init hook that throws fails `tsresty start` with a StartError naming it
 */
export class StartError extends Error {
  readonly code = "ERR_TSRESTY_START" satisfies ErrorCode;
  override name = "StartError";
}

/**
 * A directory or file tsresty cannot use (a `--prefix` under a regular file, a read-only
 * filesystem, /proc). The CLI prints it and exits 2.
 */
export class PathError extends Error {
  readonly code = "ERR_TSRESTY_PATH" satisfies ErrorCode;
  override name = "PathError";
  constructor(what: string, path: string, reason: string) {
    super(`cannot use ${what} ${path}: ${reason}`);
  }
}

/**
 * A shared-memory zone that cannot be created, mapped or used: the memfd cannot be made, an
 * inherited descriptor is not the zone it should be, the zone was closed.
 * @example
 * // ngx.shared["dogs"] after the zone was closed → throws ShdictError (ERR_TSRESTY_SHDICT)
 */
export class ShdictError extends Error {
  readonly code = "ERR_TSRESTY_SHDICT" satisfies ErrorCode;
  override name = "ShdictError";
}
