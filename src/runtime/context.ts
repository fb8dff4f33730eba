import { resolve } from "node:path";
import { createGates, type Gates } from "./gates.ts";

import { DEFAULT_CONFIG, type ResolvedConfig } from "../config/index.ts";
import { singleIdentity, type Identity } from "../process/index.ts";
import { TimerSystem } from "../timer/index.ts";
import { systemClock, type Clock } from "../util/clock.ts";
import { lineLogger, type LogSink } from "../util/log.ts";

/** timersDisabledIn in the init process: there, unlike in exitWorker, the counts are disabled too. */
export const INIT_CONTEXT = "the context of init";

/** Everything the `ngx` object needs from the process it runs in. */
export interface RuntimeContext {
  readonly identity: Identity;
  readonly config: ResolvedConfig;
  readonly timers: TimerSystem;
  readonly log: LogSink;
  /** Pids of the live workers, as the role knows them. */
  readonly workerPids: () => readonly number[];
  /** Starts this process's graceful exit (ngx.process.signalGracefulExit). */
  readonly requestGracefulExit: () => void;
  /**
   * When timers may not be created here (the init process, exitWorker), the context to name in
   * the error. Changes in place when a child enters exitWorker: the counts stay those of the
   * process's one timer system.
   */
  timersDisabledIn: string | null;
  /** What this cycle's `init` returned (undefined where there is none). */
  readonly initData: unknown;
  /** The absolute prefix directory (ngx.config.prefix()). */
  readonly prefix: string;
  /** Where singleton timers claim their ticks. */
  readonly gates: Gates;
  /** Present only while the master runs `init`: enables the privileged agent. */
  readonly enablePrivilegedAgent: ((connections: number) => void) | null;
}

export interface RuntimeOptions {
  readonly identity: Identity;
  readonly config: ResolvedConfig;
  readonly log: LogSink;
  readonly clock?: Clock;
  readonly workerPids?: () => readonly number[];
  readonly requestGracefulExit?: () => void;
  readonly timersDisabledIn?: string;
  readonly enablePrivilegedAgent?: (connections: number) => void;
  readonly initData?: unknown;
  readonly prefix?: string;
}

/** Shared through globalThis so that a second copy of tsresty in node_modules sees the same process. */
const SHARED = Symbol.for("tsresty.runtime");
const shared = globalThis as { [SHARED]?: RuntimeContext };
let current: RuntimeContext | undefined;

/** Builds a context for a role and makes it the one `ngx` talks to. */
export function installRuntime(options: RuntimeOptions): RuntimeContext {
  const prefix = options.prefix ?? resolve(options.config.prefix);
  const gates = createGates(options.config, options.identity, prefix, options.log);
  const timers = new TimerSystem({
    clock: options.clock ?? systemClock,
    log: options.log,
    gates,
    ...options.config.timers,
  });
  const context: RuntimeContext = {
    identity: options.identity,
    config: options.config,
    timers,
    log: options.log,
    workerPids: options.workerPids ?? (() => [process.pid]),
    requestGracefulExit:
      options.requestGracefulExit ??
      // As in OpenResty (and single mode), it takes effect once the calling code yields.
      (() => {
        setImmediate(() => {
          timers.beginExit();
        });
      }),
    timersDisabledIn: options.timersDisabledIn ?? null,
    enablePrivilegedAgent: options.enablePrivilegedAgent ?? null,
    initData: options.initData,
    prefix,
    gates,
  };
  current = context;
  shared[SHARED] = context;
  return context;
}

/** The process's context; outside a tsresty role (plain Node importing tsresty) a single-mode one. */
export function currentRuntime(): RuntimeContext {
  if (current !== undefined) return current;
  if (shared[SHARED] !== undefined) return (current = shared[SHARED]);
  const identity = singleIdentity();
  return installRuntime({
    identity,
    config: DEFAULT_CONFIG,
    log: lineLogger({ write: (line) => process.stderr.write(line), pid: process.pid, workerId: () => 0 }),
  });
}
