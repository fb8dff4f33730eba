import { availableParallelism } from "node:os";
import type { ResolvedConfig } from "./types.ts";

/** Defaults, as OpenResty's where it has one: 1024 pending and 256 running timers. */
export const DEFAULT_CONFIG: ResolvedConfig = Object.freeze({
  timers: Object.freeze({ maxPending: 1024, maxRunning: 256, runningLimit: "wait" as const }),
  shutdownTimeout: null,
  workers: availableParallelism(),
  listen: Object.freeze([Object.freeze({ host: null, port: 8080 })]),
  prefix: ".tsresty",
  user: null,
  errorLog: null,
  privilegedAgent: null,
  initTimeout: 60,
  // Node's own defaults (seconds here; maxHeaderSize in bytes).
  http: Object.freeze({
    headersTimeout: 60,
    requestTimeout: 300,
    keepAliveTimeout: 5,
    // nginx's send_timeout (Node has none).
    sendTimeout: 60,
    maxHeaderSize: 16384,
    lightResponse: true,
  }),
  logLevel: "notice",
  log: null,
  shdict: Object.freeze([]),
  coordinator: null,
  standby: true,
  metrics: null,
  accessLog: null,
  // Platforms stop services with TERM and KILL after a grace period (docs/deploy.md): a graceful
  // TERM lets in-flight requests finish within it.
  signals: Object.freeze({ term: "graceful" as const }),
});

/** OpenResty's default `connections` of the privileged agent. */
export const AGENT_CONNECTIONS = 512;

/** The graceful-exit bound of `tsresty start` when the config sets none. */
export const START_SHUTDOWN_TIMEOUT = 10;

/**
 * The stop budget. A graceful stop of a child takes at most `shutdownTimeout` (drain and timers)
 * + `EXIT_WORKER_BOUND` (exitWorker) seconds; a fast one `FAST_EXIT_WORKER_BOUND`. The master
 * SIGKILLs a child still alive `STOP_MARGIN` seconds after its budget, so the two never race:
 * the child's own bound always fires first and is logged with the step it cut short.
 */
export const EXIT_WORKER_BOUND = 5;
export const FAST_EXIT_WORKER_BOUND = 2;
export const STOP_MARGIN = 2;

/** Seconds the master gives a child to stop before it SIGKILLs it. */
export function stopBudget(mode: "graceful" | "fast", shutdownTimeout: number | null): number {
  return mode === "fast"
    ? FAST_EXIT_WORKER_BOUND + STOP_MARGIN
    : (shutdownTimeout ?? START_SHUTDOWN_TIMEOUT) + EXIT_WORKER_BOUND + STOP_MARGIN;
}
