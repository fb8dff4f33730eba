import type { LogLevel } from "../util/log.ts";

/** A `[HOST:]PORT` to listen on; `host` null means every interface. */

export interface ListenAddress {
  readonly host: string | null;
  readonly port: number;
}

/** What a user writes in `tsresty.config.ts` (every key optional). */
export interface UserConfig {
  readonly timers?: {
    /** Most timers pending at once per process (default 1024, as `lua_max_pending_timers`). */
    readonly maxPending?: number;
    /** Most callbacks running at once per process (default 256, as `lua_max_running_timers`). */
    readonly maxRunning?: number;
    /**
     * What a due timer does when `maxRunning` callbacks already run: "wait" for a free slot
     * (default), or "drop" it with an alert, as OpenResty does.
     */
    readonly runningLimit?: "wait" | "drop";
  };
  /**
   * Seconds a graceful exit waits for in-flight requests and running timer callbacks before the
   * process exits anyway. Default: 10 in `tsresty start`; none in single mode (as `resty`).
   */
  readonly shutdownTimeout?: number;
  /** Worker processes: a count, or "auto" for one per CPU (default "auto"). */
  readonly workers?: number | "auto";
  /** Addresses to listen on: `8080`, `"127.0.0.1:8080"`, `"[::1]:8080"`, or a list (default 8080). */
  readonly listen?: number | string | readonly (number | string)[];
  /** Directory for the pid file and the control socket (default "./.tsresty"). */
  readonly prefix?: string;
  /** When the master runs as root, workers drop to this user (`"user"` or `"user:group"`). */
  readonly user?: string;
  /** Error log file; default stderr. USR1 reopens it. */
  readonly errorLog?: string;
  /**
   * Starts the privileged agent (as `ngx.process.enablePrivilegedAgent()` in `init` does).
   * `connections` caps how many timer callbacks the agent runs at once (default 512).
   */
  readonly privilegedAgent?: boolean | { readonly connections?: number };
  /**
   * Seconds the app's `init` may take, at start and on every reload, before the start or the
   * reload fails (default 60).
   */
  readonly initTimeout?: number;
  /**
   * The workers' HTTP servers, with Node's defaults. Times in seconds; 0 turns a timeout off.
   * @example
   * http: { headersTimeout: 10, requestTimeout: 60, keepAliveTimeout: 5, maxHeaderSize: 16384 }
   */
  readonly http?: {
    /** How long a client may take to send the request headers (default 60). */
    readonly headersTimeout?: number;
    /** How long a client may take to send the whole request (default 300). */
    readonly requestTimeout?: number;
    /** How long an idle keep-alive connection stays open (default 5). */
    readonly keepAliveTimeout?: number;
    /** The largest request header block, in bytes (default 16384). */
    readonly maxHeaderSize?: number;
  };
  /**
   * The lowest level written to the error log: "debug", "info", "notice" (default), "warn",
   * "error", "crit", "alert" or "emerg" (as nginx's `error_log FILE LEVEL`). `ngx.log` honours it.
   */
  readonly logLevel?: LogLevel;
  /** Where the workers' and the agent's stdout goes, line by line with time, pid and worker id; default the master's stdout. */
  readonly log?: string;
  /**
   * Shared dictionaries (`ngx.shared.NAME`), as `lua_shared_dict`: name → size, a number of
   * bytes or a string with a k/m/g suffix (`{ dogs: "10m", cats: 16384 }`); from 8k to 2g.
   */
  readonly shdict?: Readonly<Record<string, number | string>>;
  /**
   * The Redis that `singleton: "cluster"` timers claim their ticks in, shared by every master that
   * runs the app: `"redis://host:6379/0"`, or `{ url, keyPrefix }` (keys under `keyPrefix:`, default
   * "tsresty"; give each deployment that shares one Redis its own).
   */
  readonly coordinator?: string | { readonly url: string; readonly keyPrefix?: string };
  /**
   * What a signal to the master means. `term`: what SIGTERM does, "graceful" (default: as QUIT,
   * in-flight requests and running timers finish within `shutdownTimeout`) or "fast" (nginx's
   * TERM: connections are cut). systemd, `docker stop` and Kubernetes stop a service with TERM
   * and KILL it after a grace period, so the default lets them stop tsresty without losing
   * requests. QUIT is always graceful; INT always fast (see docs/deploy.md).
   * @example
   * signals: { term: "fast" } // nginx's meaning of TERM
   */
  readonly signals?: { readonly term?: TermMode };
}

/** What SIGTERM to the master does: a graceful stop (as QUIT) or a fast one (as INT). */
export type TermMode = "graceful" | "fast";

/** One shared-dictionary zone: its name and its size in bytes (shdict's ZoneSpec). */
export interface ShdictSpec {
  readonly name: string;
  readonly size: number;
}

/** The validated, complete, frozen configuration the runtime trusts. */
export interface ResolvedConfig {
  readonly timers: {
    readonly maxPending: number;
    readonly maxRunning: number;
    readonly runningLimit: "wait" | "drop";
  };
  /** Seconds; null when not set (each mode has its default). */
  readonly shutdownTimeout: number | null;
  readonly workers: number;
  readonly listen: readonly ListenAddress[];
  readonly prefix: string;
  readonly user: { readonly user: string; readonly group: string | null } | null;
  readonly errorLog: string | null;
  /** The agent's settings, or null when the config does not enable it. */
  readonly privilegedAgent: { readonly connections: number } | null;
  /** Seconds `init` may take. */
  readonly initTimeout: number;
  readonly http: {
    readonly headersTimeout: number;
    readonly requestTimeout: number;
    readonly keepAliveTimeout: number;
    readonly maxHeaderSize: number;
  };
  readonly logLevel: LogLevel;
  /** The output log (children's stdout); null: the master's stdout. */
  readonly log: string | null;
  /** The Redis of cluster singletons; null when none is configured. */
  readonly coordinator: { readonly url: string; readonly keyPrefix: string } | null;
  /** What signals to the master mean. */
  readonly signals: { readonly term: TermMode };

  /** The zones, in declaration order. */
  readonly shdict: readonly ShdictSpec[];
}
