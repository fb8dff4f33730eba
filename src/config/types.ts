import type { LogLevel } from "../util/log.ts";

/**
 * A `[HOST:]PORT` to listen on; `host` null means every interface.
 * @example
 * ngx.config.get().listen; // [{ host: "127.0.0.1", port: 8080 }]
 */
export interface ListenAddress {
  readonly host: string | null;
  readonly port: number;
}

/**
 * What a user writes in `tsresty.config.ts` (every key optional). Unknown keys and bad values are
 * refused with the file, the dotted key and what was received.
 * @example
 * // tsresty.config.ts
 * import { defineConfig } from "tsresty";
 * export default defineConfig({ workers: 4, listen: "127.0.0.1:8080", shdict: { cache: "64m" } });
 */
export interface UserConfig {
  /**
   * The timer limits of each process, as `lua_max_pending_timers` and `lua_max_running_timers`.
   * @example
   * timers: { maxPending: 4096, maxRunning: 512, runningLimit: "wait" }
   */
  readonly timers?: {
    /**
     * Most timers pending at once per process (default 1024, as `lua_max_pending_timers`).
     * @example
     * timers: { maxPending: 4096 }
     */
    readonly maxPending?: number;
    /**
     * Most callbacks running at once per process (default 256, as `lua_max_running_timers`).
     * @example
     * timers: { maxRunning: 64 }
     */
    readonly maxRunning?: number;
    /**
     * What a due timer does when `maxRunning` callbacks already run: "wait" for a free slot
     * (default), or "drop" it with an alert, as OpenResty does.
     * @example
     * timers: { runningLimit: "drop" } // OpenResty's behaviour
     */
    readonly runningLimit?: "wait" | "drop";
  };
  /**
   * Seconds a graceful exit waits for in-flight requests and running timer callbacks before the
   * process exits anyway. Default: 10 in `tsresty start`; none in single mode (as `resty`).
   * @example
   * shutdownTimeout: 25 // a platform grace period of 30 s or more (docs/deploy.md)
   */
  readonly shutdownTimeout?: number;
  /**
   * Worker processes: a count, or "auto" for one per CPU (default "auto").
   * @example
   * workers: 4
   */
  readonly workers?: number | "auto";
  /**
   * Addresses to listen on: `8080`, `"127.0.0.1:8080"`, `"[::1]:8080"`, or a list (default 8080).
   * @example
   * listen: ["127.0.0.1:8080", "[::1]:8080"]
   */
  readonly listen?: number | string | readonly (number | string)[];
  /**
   * Directory for the pid file and the control socket (default "./.tsresty").
   * @example
   * prefix: "/run/myapp"
   */
  readonly prefix?: string;
  /**
   * When the master runs as root, workers drop to this user (`"user"` or `"user:group"`).
   * @example
   * user: "www-data:www-data"
   */
  readonly user?: string;
  /**
   * Error log file; default stderr. USR1 reopens it.
   * @example
   * errorLog: "/var/log/myapp/error.log"
   */
  readonly errorLog?: string;
  /**
   * Starts the privileged agent (as `ngx.process.enablePrivilegedAgent()` in `init` does).
   * @example
   * privilegedAgent: true
   */
  readonly privilegedAgent?:
    | boolean
    | {
        /**
         * How many timer callbacks the agent runs at once (default 512, as OpenResty's).
         * @example
         * privilegedAgent: { connections: 64 }
         */
        readonly connections?: number;
      };
  /**
   * Seconds the app's `init` may take, at start and on every reload, before the start or the
   * reload fails (default 60).
   * @example
   * initTimeout: 120
   */
  readonly initTimeout?: number;
  /**
   * The workers' HTTP servers, with Node's defaults (and nginx's `send_timeout`, which Node lacks).
   * Times in seconds; 0 turns a timeout off.
   * @example
   * http: { headersTimeout: 10, requestTimeout: 60, keepAliveTimeout: 5, maxHeaderSize: 16384 }
   */
  readonly http?: {
    /**
     * How long a client may take to send the request headers (default 60).
     * @example
     * http: { headersTimeout: 10 }
     */
    readonly headersTimeout?: number;
    /**
     * How long a client may take to send the whole request (default 300).
     * @example
     * http: { requestTimeout: 60 }
     */
    readonly requestTimeout?: number;
    /**
     * How long an idle keep-alive connection stays open (default 5; 0: no limit), advertised as
     * `Keep-Alive: timeout=N`; it is closed 1 s past it at the soonest, as Node does (docs/http.md).
     * @example
     * http: { keepAliveTimeout: 65 } // above a load balancer's idle timeout of 60 s
     */
    readonly keepAliveTimeout?: number;
    /**
     * How long a client may go without taking any of a response the worker has to send (default
     * 60, nginx's `send_timeout`; 0: no limit): the connection is then closed (docs/http.md). Not
     * the time to send a whole response: a client that keeps reading, however slowly, keeps it.
     * @example
     * http: { sendTimeout: 30 }
     */
    readonly sendTimeout?: number;
    /**
     * The largest request header block, in bytes (default 16384).
     * @example
     * http: { maxHeaderSize: 32768 }
     */
    readonly maxHeaderSize?: number;
    /**
     * In a worker whose app has `fetch`, replace the global `Response` with a lightweight one
     * that makes no web stream for a string or bytes body (default true; see docs/http.md).
     * @example
     * http: { lightResponse: false } // keep undici's Response class everywhere
     */
    readonly lightResponse?: boolean;
  };
  /**
   * The lowest level written to the error log: "debug", "info", "notice" (default; "warn" in
   * single mode, as resty's), "warn", "error", "crit", "alert" or "emerg" (as nginx's
   * `error_log FILE LEVEL`). `ngx.log` honours it.
   * @example
   * logLevel: "info"
   */
  readonly logLevel?: LogLevel;
  /**
   * Where the workers' and the agent's stdout goes, line by line with time, pid and worker id;
   * default the master's stdout.
   * @example
   * log: "/var/log/myapp/output.log"
   */
  readonly log?: string;
  /**
   * Shared dictionaries (`ngx.shared.NAME`), as `lua_shared_dict`: name → size, a number of
   * bytes or a string with a k/m/g suffix (`{ dogs: "10m", cats: 16384 }`); from 8k to 2g.
   * @example
   * shdict: { cache: "64m", locks: "1m" }
   */
  readonly shdict?: Readonly<Record<string, number | string>>;
  /**
   * The Redis that `singleton: "cluster"` timers claim their ticks in, shared by every master that
   * runs the app: `"redis://host:6379/0"`, or `{ url, keyPrefix }`.
   * @example
   * coordinator: "redis://redis.internal:6379/0"
   */
  readonly coordinator?:
    | string
    | {
        /**
         * The Redis URL: `redis://[user:pass@]host[:port][/db]` or `rediss://…`.
         * @example
         * coordinator: { url: "rediss://redis.internal:6380/1" }
         */
        readonly url: string;
        /**
         * Keys go under `keyPrefix:` (default "tsresty"); give each deployment that shares one
         * Redis its own.
         * @example
         * coordinator: { url: "redis://redis:6379/0", keyPrefix: "shop-staging" }
         */
        readonly keyPrefix?: string;
      };
  /**
   * What a signal to the master means (QUIT is always graceful, INT always fast; see
   * docs/deploy.md).
   * @example
   * signals: { term: "fast" } // nginx's meaning of TERM
   */
  readonly signals?: {
    /**
     * What SIGTERM does: "graceful" (default: as QUIT, in-flight requests and running timers
     * finish within `shutdownTimeout`) or "fast" (nginx's TERM: connections are cut). systemd,
     * `docker stop` and Kubernetes stop a service with TERM and KILL it after a grace period, so
     * the default lets them stop tsresty without losing requests.
     * @example
     * signals: { term: "graceful" }
     */
    readonly term?: TermMode;
  };
  /**
   * Keeps one booted spare process that a respawn or a reload turns into a worker in
   * milliseconds (default true). false saves its memory; every respawn then boots a fresh process.
   * @example
   * standby: false // no spare process: about 50 MB less, respawns boot from scratch
   */
  readonly standby?: boolean;
  /**
   * Where the master serves Prometheus `GET /metrics` for the whole tree: `"127.0.0.1:9145"`
   * (`HOST:PORT`; a port alone listens on every interface). Off when absent or `false`.
   * See docs/metrics.md.
   * @example
   * metrics: "127.0.0.1:9145" // scrape http://127.0.0.1:9145/metrics
   */
  readonly metrics?: string | number | false;
  /**
   * The access log, written by the workers: a file (format "combined"), or
   * `{ path, format: "common" | "combined" | "json" }`. USR1 reopens it. Off when absent.
   * @example
   * accessLog: { path: "/var/log/app/access.log", format: "json" }
   */
  readonly accessLog?:
    | string
    | {
        /**
         * The file the workers append to (its directory is made at start).
         * @example
         * accessLog: { path: "logs/access.log" }
         */
        readonly path: string;
        /**
         * "combined" (default, nginx's), "common", or "json" (one object per line).
         * @example
         * accessLog: { path: "logs/access.log", format: "json" }
         */
        readonly format?: "common" | "combined" | "json";
      };
}

/**
 * What SIGTERM to the master does: a graceful stop (as QUIT) or a fast one (as INT).
 * @example
 * const mode: TermMode = ngx.config.get().signals.term; // "graceful"
 */
export type TermMode = "graceful" | "fast";

/**
 * One shared-dictionary zone: its name and its size in bytes (shdict's ZoneSpec).
 * @example
 * const zones: readonly ShdictSpec[] = ngx.config.get().shdict; // [{ name: "dogs", size: 10485760 }]
 */
export interface ShdictSpec {
  readonly name: string;
  readonly size: number;
}

/**
 * The validated, complete, frozen configuration the runtime trusts: every key of UserConfig with
 * its default filled in (`ngx.config.get()`).
 * @example
 * const { workers, shutdownTimeout, signals } = ngx.config.get();
 */
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
    readonly sendTimeout: number;
    readonly maxHeaderSize: number;
    readonly lightResponse: boolean;
  };
  readonly logLevel: LogLevel;
  /** The output log (children's stdout); null: the master's stdout. */
  readonly log: string | null;
  /** The Redis of cluster singletons; null when none is configured. */
  readonly coordinator: { readonly url: string; readonly keyPrefix: string } | null;
  /** Whether the master keeps a booted spare process. */
  readonly standby: boolean;
  /** Where the master serves `/metrics`; null: off. */
  readonly metrics: ListenAddress | null;
  readonly accessLog: { readonly path: string; readonly format: "common" | "combined" | "json" } | null;
  /** What signals to the master mean. */
  readonly signals: { readonly term: TermMode };

  /** The zones, in declaration order. */
  readonly shdict: readonly ShdictSpec[];
}
