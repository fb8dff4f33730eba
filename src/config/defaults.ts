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
  shdict: Object.freeze([]),
});

/** OpenResty's default `connections` of the privileged agent. */
export const AGENT_CONNECTIONS = 512;

/** The graceful-exit bound of `tsresty start` when the config sets none. */
export const START_SHUTDOWN_TIMEOUT = 10;
