/**
 * The control protocol: `tsresty reload | stop | status` talk to the running master over a
 * unix socket under the prefix, one JSON line each way.
 */
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

export function parseControlRequest(value: unknown): ControlRequest | null {
  if (typeof value !== "object" || value === null) return null;
  const { command, fast, progress } = value as Record<string, unknown>;
  switch (command) {
    case "reload":
      return { command, progress: progress === true };
    case "status":
      return { command };
    case "stop":
      return { command, fast: fast === true };
    case "logs": {
      const { follow, worker, lines } = value as Record<string, unknown>;
      const count =
        typeof lines === "number" && Number.isInteger(lines) && lines >= 0 ? Math.min(lines, 1_000) : 50;
      const id = typeof worker === "number" && Number.isInteger(worker) && worker >= 0 ? worker : null;
      return { command, follow: follow === true, worker: id, lines: count };
    }

    default:
      return null;
  }
}
