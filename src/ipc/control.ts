/**
 * The control protocol: `tsresty reload | stop | status` talk to the running master over a
 * unix socket under the prefix, one JSON line each way.
 */
import { describe } from "../errors.ts";
import type { NamedTimer, TimerStatsRow } from "./messages.ts";

export type ControlRequest =
  /**
   * With `progress`, the master says at once and then every few seconds that the reload goes on
   * (answers with `progress: true`), then how it ended: `tsresty reload` waits as long as the
   * reload takes, and gives up only on a master that falls silent.
   */
  | { readonly command: "reload"; readonly progress: boolean }
  | { readonly command: "stop"; readonly fast: boolean }
  | { readonly command: "status" }
  /** The last `lines` lines of the tree's logs (of one worker id, or all), then new ones with `follow`. */
  | {
      readonly command: "logs";
      readonly follow: boolean;
      readonly worker: number | null;
      readonly lines: number;
    };

/** One process of the tree, as `tsresty status` shows it. */
export interface ProcessRow {
  /** "standby": a booted spare that becomes the next respawned or reloaded worker. */
  readonly type: "master" | "worker" | "privileged agent" | "standby";
  readonly id: number | null;
  /** null for a slot waiting to respawn its process (state "backoff"). */
  readonly pid: number | null;
  /**
   * "starting" until the process is ready, "running", then "draining" once it leaves;
   * "backoff" for a slot whose process keeps dying and waits before the next try.
   */
  readonly state: "starting" | "running" | "draining" | "backoff";
  /** For a slot in backoff: milliseconds until the next try. */
  readonly nextTryMs: number | null;
  /**
   * false when the process was asked for its figures and did not answer within 1 s (its event
   * loop is busy or it is stopped): its figures are null then. true when it answered; null when
   * it was not asked (the master, a process still starting, a slot in backoff).
   */
  readonly answered: boolean | null;
  readonly generation: number;
  /** Seconds since the process started. */
  readonly uptime: number;
  readonly restarts: number;
  /** Resident memory in bytes, or null when the process did not answer in time. */
  readonly rss: number | null;
  /** CPU time used so far (user + system), in seconds; null when the process did not answer. */
  readonly cpu: number | null;
  readonly pending: number | null;
  readonly running: number | null;
  readonly timers: readonly NamedTimer[];
}

/** A shared-dictionary zone, as `tsresty status` shows it. */
export interface ZoneRow {
  readonly name: string;
  readonly capacity: number;
  readonly freeSpace: number;
  readonly items: number;
}

/** Which process ran a timer's last run. */
export interface TimerOwner {
  readonly type: string;
  readonly id: number | null;
  readonly pid: number;
}

/**
 * A timer name across the tree: the statistics of every process that has it, merged (counts
 * summed; the latest run, error and its process; the earliest next tick; the worst lateness).
 */
export interface TimerRow extends Omit<TimerStatsRow, "name"> {
  /** null: the aggregate of unnamed timers. */
  readonly name: string | null;
  /** The process of the latest run (for a singleton: the tick's claimer). */
  readonly owner: TimerOwner | null;
  /** How many processes have this timer. */
  readonly processes: number;
}

export interface StatusReport {
  readonly masterPid: number;
  /** The bound addresses (`host:port`, the real port for port 0). */
  readonly listen: readonly string[];
  readonly processes: readonly ProcessRow[];
  readonly zones: readonly ZoneRow[];
  readonly timers: readonly TimerRow[];
}

export type ControlResponse =
  | {
      readonly ok: true;
      readonly message: string;
      readonly status?: StatusReport;
      /** For "logs": lines as written; with follow, further answers carry one line each. */
      readonly lines?: readonly string[];
      /** Not the answer yet: the request goes on (a reload asked with `progress`). */
      readonly progress?: boolean;
      /**
       * "logs" with follow: the master stops, nothing follows. Said, so that a follower tells that
       * end from a master that died (SIGKILL closes the connection without a word).
       */
      readonly ended?: boolean;
    }
  | { readonly ok: false; readonly message: string };

export const CONTROL_SOCKET = "tsresty.sock";
export const PID_FILE = "tsresty.pid";
/** Under the prefix: the last run of each catchUp singleton timer (`NAME.last`), written by workers. */
export const TIMERS_DIR = "timers";

/** The log lines a logs request gets when it names no count, and the most it may get (the lines kept). */
const LOGS_DEFAULT_LINES = 50;
const LOGS_MAX_LINES = 1_000;

/** A control request as the master takes it, or why it is refused (naming the field and what came). */
export type ParsedRequest =
  { readonly ok: true; readonly request: ControlRequest } | { readonly ok: false; readonly problem: string };

/** Why a request is refused; parseControlRequest turns it into its answer. */
class Refused extends Error {}

/** A field a request may leave out (then `fallback`); given, it must be what `accepts` takes. */
function field<T>(
  fields: Record<string, unknown>,
  name: string,
  fallback: T,
  accepts: (value: unknown) => value is T,
  expected: string,
): T {
  const value = fields[name];
  if (value === undefined) return fallback;
  if (accepts(value)) return value;
  throw new Refused(`"${name}" must be ${expected}, received ${describe(value)}`);
}

const isBoolean = (value: unknown): value is boolean => typeof value === "boolean";
const isWorkerId = (value: unknown): value is number | null =>
  value === null || (Number.isSafeInteger(value) && (value as number) >= 0);
const isCount = (value: unknown): value is number => Number.isInteger(value) && (value as number) >= 0;

/**
 * A request read from the control socket (what JSON.parse made of its line). A field left out
 * takes its default (a hand-written `{"command":"logs"}` is the last 50 lines of every process);
 * a field given with the wrong type or range is refused by name, never read as its default (a
 * `"worker": "1"` asked for one worker's lines and got every process's). Other fields are ignored.
 */
export function parseControlRequest(value: unknown): ParsedRequest {
  try {
    return { ok: true, request: readRequest(value) };
  } catch (error) {
    if (error instanceof Refused) return { ok: false, problem: error.message };
    throw error;
  }
}

function readRequest(value: unknown): ControlRequest {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new Refused(`a control request must be a JSON object, received ${describe(value)}`);
  const fields = value as Record<string, unknown>;
  const flag = (name: string): boolean => field(fields, name, false, isBoolean, "true or false");
  const { command } = fields;
  switch (command) {
    case "reload":
      return { command, progress: flag("progress") };
    case "status":
      return { command };
    case "stop":
      return { command, fast: flag("fast") };
    case "logs":
      return {
        command,
        follow: flag("follow"),
        worker: field(fields, "worker", null, isWorkerId, "a worker id (an integer from 0) or null"),
        lines: Math.min(
          field(fields, "lines", LOGS_DEFAULT_LINES, isCount, "a count of lines (an integer from 0)"),
          LOGS_MAX_LINES,
        ),
      };
    default:
      throw new Refused(
        `"command" must be "reload", "stop", "status" or "logs", received ${describe(command)}`,
      );
  }
}

/** Checks that a value read from the master's answer has the shape the CLI reads; throws Refused. */
type Check = (value: unknown, path: string) => void;

function refuse(path: string, expected: string, value: unknown): never {
  throw new Refused(`${path} must be ${expected}, received ${describe(value)}`);
}

const string: Check = (value, path) => {
  if (typeof value !== "string") refuse(path, "a string", value);
};
const number: Check = (value, path) => {
  if (typeof value !== "number" || !Number.isFinite(value)) refuse(path, "a number", value);
};
const boolean: Check = (value, path) => {
  if (typeof value !== "boolean") refuse(path, "true or false", value);
};
const orNull =
  (check: Check): Check =>
  (value, path) => {
    if (value !== null) check(value, path);
  };
const optional =
  (check: Check): Check =>
  (value, path) => {
    if (value !== undefined) check(value, path);
  };
const arrayOf =
  (check: Check): Check =>
  (value, path) => {
    if (!Array.isArray(value)) refuse(path, "an array", value);
    value.forEach((item, i) => {
      check(item, `${path}[${i}]`);
    });
  };
const object =
  (fields: Readonly<Record<string, Check>>): Check =>
  (value, path) => {
    if (typeof value !== "object" || value === null || Array.isArray(value)) refuse(path, "an object", value);
    for (const [name, check] of Object.entries(fields))
      check((value as Record<string, unknown>)[name], `${path}.${name}`);
  };

/** The fields of a status report that `tsresty status` shows (`--json` prints the report as it is). */
const STATUS_REPORT = object({
  masterPid: number,
  listen: arrayOf(string),
  processes: arrayOf(
    object({
      type: string,
      id: orNull(number),
      pid: orNull(number),
      state: string,
      nextTryMs: orNull(number),
      answered: orNull(boolean),
      generation: number,
      uptime: number,
      restarts: number,
      rss: orNull(number),
      cpu: orNull(number),
      pending: orNull(number),
      running: orNull(number),
      timers: arrayOf(object({ name: string, state: string, count: number })),
    }),
  ),
  zones: arrayOf(object({ name: string, capacity: number, freeSpace: number, items: number })),
  timers: arrayOf(
    object({
      name: orNull(string),
      kind: orNull(string),
      interval: orNull(number),
      cron: orNull(string),
      tz: orNull(string),
      singleton: orNull(string),
      runs: number,
      errors: number,
      skipped: number,
      claimErrors: number,
      lastError: orNull(object({ message: string, at: number })),
      lastStart: orNull(number),
      lastDuration: orNull(number),
      lateness: orNull(object({ p50: number, p99: number, max: number })),
      nextDue: orNull(number),
      owner: orNull(object({ type: string, id: orNull(number), pid: number })),
    }),
  ),
});

const RESPONSE = object({
  ok: boolean,
  message: optional(string),
  status: optional(STATUS_REPORT),
  lines: optional(arrayOf(string)),
  progress: optional(boolean),
  ended: optional(boolean),
});

/**
 * One answer line of the master's (what JSON.parse made of it), checked before the CLI reads it:
 * a process posing as the master, or a master of another version, can send anything, and the
 * CLI said "tsresty: " and nothing, a JavaScript error's text, or crashed with a stack trace. A
 * refusal names the field that is wrong and what came. Fields the CLI does not read are not checked.
 */
export function parseControlResponse(
  value: unknown,
):
  | { readonly ok: true; readonly response: ControlResponse }
  | { readonly ok: false; readonly problem: string } {
  try {
    RESPONSE(value, "answer");
    const answer = value as { ok: boolean; message?: string };
    if (!answer.ok && answer.message === undefined)
      refuse("answer.message", "a string when answer.ok is false", undefined);
    return { ok: true, response: { ...answer, message: answer.message ?? "" } as ControlResponse };
  } catch (error) {
    if (error instanceof Refused) return { ok: false, problem: error.message };
    throw error;
  }
}
