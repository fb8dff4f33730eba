import { InvalidArgTypeError, InvalidArgValueError, describe } from "../errors.ts";
import { ownOptions } from "../util/options.ts";

/**
 * Options of `ngx.pipe.spawn`. Timeouts are in milliseconds; 0 means never; default 10000.
 * @example
 * ngx.pipe.spawn(["make"], { mergeStderr: true, stdoutReadTimeout: 60_000, environ: ["PATH=/usr/bin"] });
 */
export interface SpawnOptions {
  /** Send the child's stderr to its stdout (2>&1). */
  readonly mergeStderr?: boolean;
  /** Read-ahead bound in bytes (default 4096, at least 1); the bound used is at least 64 KiB. */
  readonly bufferSize?: number;
  /** `["NAME=value", …]`: replaces the environment; an empty array inherits it. */
  readonly environ?: readonly string[];
  readonly writeTimeout?: number;
  readonly stdoutReadTimeout?: number;
  readonly stderrReadTimeout?: number;
  readonly waitTimeout?: number;
}

export interface Timeouts {
  write: number;
  stdoutRead: number;
  stderrRead: number;
  wait: number;
}

export interface ResolvedSpawn {
  readonly file: string;
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly mergeStderr: boolean;
  readonly bufferSize: number;
  readonly timeouts: Timeouts;
}

const WHERE = "ngx.pipe.spawn";
const KEYS = [
  "mergeStderr",
  "bufferSize",
  "environ",
  "writeTimeout",
  "stdoutReadTimeout",
  "stderrReadTimeout",
  "waitTimeout",
] as const;
const MAX_TIMEOUT = 2 ** 32 - 1;
export const DEFAULT_TIMEOUT_MS = 10_000;

/** A timeout in ms, 0..2^32-1 (OpenResty's range); `name` is the option's name. */
export function checkTimeout(where: string, name: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > MAX_TIMEOUT) {
    throw new InvalidArgValueError(
      where,
      name,
      `an integer of milliseconds from 0 to ${MAX_TIMEOUT} (bad ${name} option)`,
      value,
    );
  }
  return value;
}

const NO_NUL = "a string without NUL characters";

/**
 * A command: an argv array of strings (numbers are converted), run directly, or a string, run by
 * `sh -c`. `where` and `name` name the API and the argument in the error.
 */
export function checkCommand(where: string, name: string, value: unknown): { file: string; args: string[] } {
  if (typeof value === "string") {
    if (value === "") throw new InvalidArgValueError(where, name, "a non-empty command string", value);
    if (value.includes("\0")) throw new InvalidArgValueError(where, name, NO_NUL, value);
    return { file: "/bin/sh", args: ["-c", value] };
  }
  if (!Array.isArray(value)) {
    throw new InvalidArgTypeError(
      where,
      name,
      "an array of strings or a command string (bad args arg: table expected)",
      value,
    );
  }
  if (value.length === 0)
    throw new InvalidArgValueError(
      where,
      name,
      "a non-empty array (bad args arg: non-empty table expected)",
      value,
    );
  // Array.from visits holes (`[a, , b]`) as undefined, which is refused like an explicit one.
  const argv = Array.from(value as unknown[], (item: unknown, index) => {
    if (typeof item === "string") {
      // exec takes C strings: a NUL would cut the argument short.
      if (item.includes("\0")) throw new InvalidArgValueError(where, `${name}[${index}]`, NO_NUL, item);
      return item;
    }
    if (typeof item === "number" && Number.isFinite(item)) return String(item);
    throw new InvalidArgTypeError(where, `${name}[${index}]`, "a string or a number", item);
  });
  if (argv[0] === "") throw new InvalidArgValueError(where, `${name}[0]`, "a non-empty program name", "");
  return { file: argv[0] as string, args: argv.slice(1) };
}

function checkEnviron(value: unknown): NodeJS.ProcessEnv {
  if (value === undefined) return process.env;
  if (!Array.isArray(value)) {
    throw new InvalidArgTypeError(
      WHERE,
      "environ",
      `an array of "NAME=value" strings (bad environ option: table expected, got ${describe(value)})`,
      value,
    );
  }
  if (value.length === 0) return process.env;
  // No prototype: in a plain object, `env["__proto__"] = value` sets nothing, and a variable of
  // that name would be dropped without a word.
  const env: NodeJS.ProcessEnv = Object.create(null) as NodeJS.ProcessEnv;
  // Holes too (as undefined, refused), as in args: forEach skipped them, and `[, ,]` gave the child
  // an empty environment where `[]` inherits it.
  Array.from(value as unknown[]).forEach((item: unknown, index) => {
    if (typeof item !== "string") {
      throw new InvalidArgTypeError(
        WHERE,
        `environ[${index}]`,
        "a string (bad value at index of environ option: string expected)",
        item,
      );
    }
    const eq = item.indexOf("=");
    if (eq <= 0) {
      throw new InvalidArgValueError(WHERE, `environ[${index}]`, "'name=[value]' format", item);
    }
    if (item.includes("\0")) throw new InvalidArgValueError(WHERE, `environ[${index}]`, NO_NUL, item);
    env[item.slice(0, eq)] = item.slice(eq + 1);
  });
  return env;
}

/** Validates `spawn`'s arguments once; the process object then trusts the result. */
export function resolveSpawn(args: unknown, options: unknown): ResolvedSpawn {
  const command = checkCommand(WHERE, "args", args);
  const opts = options === undefined ? {} : ownOptions(WHERE, options, KEYS);
  const merge = opts["mergeStderr"] ?? false;
  if (typeof merge !== "boolean") throw new InvalidArgTypeError(WHERE, "mergeStderr", "a boolean", merge);
  const bufferSize = opts["bufferSize"] ?? 4096;
  if (typeof bufferSize !== "number" || !Number.isInteger(bufferSize) || bufferSize < 1) {
    throw new InvalidArgValueError(
      WHERE,
      "bufferSize",
      "an integer of at least 1 (bad buffer_size option)",
      bufferSize,
    );
  }
  const timeout = (name: string): number =>
    opts[name] === undefined ? DEFAULT_TIMEOUT_MS : checkTimeout(WHERE, name, opts[name]);
  return {
    ...command,
    env: checkEnviron(opts["environ"]),
    mergeStderr: merge,
    bufferSize,
    timeouts: {
      write: timeout("writeTimeout"),
      stdoutRead: timeout("stdoutReadTimeout"),
      stderrRead: timeout("stderrReadTimeout"),
      wait: timeout("waitTimeout"),
    },
  };
}
