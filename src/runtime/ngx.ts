import { AGENT_CONNECTIONS, type ResolvedConfig } from "../config/index.ts";
import {
  run,
  spawn,
  type PipeProcess,
  type ShellOptions,
  type ShellResult,
  type SpawnOptions,
} from "../pipe/index.ts";
import { ContextError, InvalidArgTypeError, InvalidArgValueError } from "../errors.ts";
import type { ProcessType } from "../process/index.ts";
import { createLock, sharedDicts, type Lock, type LockOptions, type SharedDicts } from "../shdict/index.ts";
import {
  toDelayMs,
  type AtOptions,
  type CronOptions,
  type EveryOptions,
  type Timer,
  type TimerCallback,
  type TimerRun,
  type TimerSystem,
} from "../timer/index.ts";
import { inspect } from "node:util";
import { formatThrown, type LogLevel } from "../util/log.ts";
import { VERSION } from "../util/version.ts";
import { currentRuntime, INIT_CONTEXT } from "./context.ts";

/**
 * The run in progress, as `ngx.timer.current()` returns it. `fence`, in a run of a
 * `singleton: "cluster"` timer, is the tick's fencing token: it grows with every tick the cluster
 * claims, so a store the job writes to can refuse a write older than the newest it has seen (a
 * process that stalled past its tick cannot overwrite a later run's work).
 * @example
 * const run: CurrentRun | undefined = ngx.timer.current();
 * if (run?.fence !== undefined) await store.write({ fence: run.fence, data });
 */
export interface CurrentRun extends TimerRun {
  readonly fence?: number;
}

/** The core's run, with the fencing token of a cluster tick this process claimed. */
function currentRun(): CurrentRun | undefined {
  const context = currentRuntime();
  const run = context.timers.current();
  if (run?.name === undefined) return run;
  const fence = context.gates.fence(run.name, Math.round(run.due * 1000));
  return fence === null ? run : { ...run, fence };
}

/**
 * `ngx.timer`: OpenResty's timers, with handles. Delays are in seconds (see docs/timers.md).
 * @example
 * ngx.timer.at(0, () => warmCache());
 * const pending = ngx.timer.pendingCount();
 */
export interface NgxTimer {
  /**
   * Runs `callback(premature, ...args)` once after `delay` seconds (or `{ delay, name }`), up
   * to 10^9 s. Throws a TimerError with reason "too many pending timers" or "process exiting".
   * @example
   * ngx.timer.at(5, (premature) => { if (!premature) sync(); });
   */
  at<A extends unknown[]>(delay: number | AtOptions, callback: TimerCallback<A>, ...args: A): Timer;
  /**
   * Runs `callback(premature, ...args)` every `interval` seconds on a fixed grid, until
   * cancelled or the process exits (then once more with premature = true). `align: "epoch"`
   * puts the grid on the wall clock; `singleton` runs each tick in one process of the host or
   * cluster (it needs a `name`).
   * @example
   * const t = ngx.timer.every({ interval: 60, name: "sync", overlap: false }, async () => sync());
   * ngx.timer.every({ interval: 300, name: "report", singleton: "host" }, report);
   * t.cancel();
   */
  every<A extends unknown[]>(interval: number | EveryOptions, callback: TimerCallback<A>, ...args: A): Timer;
  /**
   * Runs `callback(premature, ...args)` at each occurrence of a cron expression (5 fields, or 6
   * with seconds first), read in `tz` (an IANA zone; the process's zone by default). Invalid
   * expressions and zones throw, naming the problem.
   * @example
   * ngx.timer.cron({ cron: "0 30 2 * * *", tz: "Europe/Berlin", name: "nightly", singleton: "cluster" }, nightly);
   * ngx.timer.cron("15 0 * * * *", hourly); // at 15 seconds past each hour
   */
  cron<A extends unknown[]>(expression: string | CronOptions, callback: TimerCallback<A>, ...args: A): Timer;
  /**
   * Inside a timer callback (also after `await` in an async one): the run in progress, with
   * `due` in seconds since the epoch (the tick's grid time for epoch-aligned and cron timers,
   * the same in every process). Undefined elsewhere.
   * @example
   * ngx.timer.every({ interval: 60, name: "bill", singleton: "cluster" }, async () => {
   *   const { name, due, fence } = ngx.timer.current()!;
   *   await charge({ idempotencyKey: `${name}@${due}`, fencingToken: fence });
   * });
   */
  current(): CurrentRun | undefined;
  /**
   * Timers created and not yet started in this process (a timer waiting for a running slot
   * included). Throws "API disabled" in `init`, as `ngx.timer.at` does there.
   * @example
   * ngx.timer.at(3, job);
   * ngx.timer.pendingCount(); // 1
   */
  pendingCount(): number;
  /**
   * Timer callbacks running in this process (an async callback runs until its promise
   * settles). Throws "API disabled" in `init`, as `ngx.timer.at` does there.
   * @example
   * ngx.timer.at(0, () => ngx.sleep(1));
   * await ngx.sleep(0.1);
   * ngx.timer.runningCount(); // 1
   */
  runningCount(): number;
}

/**
 * `ngx.worker`: who this worker is among its siblings.
 * @example
 * const shard = ngx.worker.id(); // this worker's share of the work: ids survive respawns
 */
export interface NgxWorker {
  /**
   * 0..count-1 in workers, 0 in single mode, null in the master and the privileged agent.
   * @example
   * // only in worker 0; during a reload the old and the new worker 0 overlap, and while worker 0
   * // respawns nobody runs it: `singleton: "host"` runs one per tick through both
   * if (ngx.worker.id() === 0) ngx.timer.every(60, report);
   */
  id(): number | null;
  /**
   * The number of workers (1 in single mode).
   * @example
   * const shard = key % ngx.worker.count();
   */
  count(): number;
  /**
   * This process's pid.
   * @example
   * ngx.log(ngx.INFO, "worker pid ", ngx.worker.pid());
   */
  pid(): number;
  /**
   * Pids of the live workers.
   * @example
   * for (const pid of ngx.worker.pids()) process.kill(pid, 0);
   */
  pids(): number[];
  /**
   * True once this process has begun its graceful exit.
   * @example
   * while (!ngx.worker.exiting()) await pollOnce();
   */
  exiting(): boolean;
}

/**
 * `ngx.process`: what kind of process this is, and its lifecycle.
 * @example
 * if (ngx.process.type() === "privileged agent") ngx.timer.every(3600, rotateLogs);
 */
export interface NgxProcess {
  /**
   * "single", "master" (in `init`), "worker" or "privileged agent".
   * @example
   * if (ngx.process.type() === "privileged agent") ngx.timer.every(3600, rotateLogs);
   */
  type(): ProcessType;
  /**
   * Only in the app's `init` hook of `tsresty start`; elsewhere throws "API disabled in the current context".
   * @example
   * export default defineApp({ init() { ngx.process.enablePrivilegedAgent(); } });
   */
  enablePrivilegedAgent(connections?: number): true;
  /**
   * Starts this process's graceful exit: premature timers, exit hooks, exit. In `init` (and the
   * app's top level as the init process runs it) there is no exit to begin: it throws
   * `API disabled in the context of init`.
   * @example
   * if (process.memoryUsage.rss() > 1e9) ngx.process.signalGracefulExit(); // replaced with the same id
   */
  signalGracefulExit(): void;
  /**
   * The master's pid (this process's own in single mode).
   * @example
   * process.kill(ngx.process.getMasterPid(), "SIGHUP"); // reload, from the privileged agent
   */
  getMasterPid(): number;
  /**
   * What this cycle's `init` returned (a structured clone), in workers and the privileged agent;
   * undefined in single mode and inside `init` itself. OpenResty's workers inherit what
   * `init_by_lua` loaded by fork; tsresty's are not forked from the init process, so data travels
   * this way (or through a shared dictionary).
   * @example
   * // app.ts
   * export default defineApp({
   *   init: () => ({ routes: loadRoutes(), workers: ngx.worker.count() }),
   *   initWorker() { const { routes } = ngx.process.initData() as { routes: Route[] }; },
   * });
   */
  initData(): unknown;
}

/** nginx's log levels, as `ngx.ERR` and its siblings (`ngx.STDERR` logs at emerg: never filtered). */
export const LOG_LEVEL_NUMBERS = {
  /**
   * Logs at emerg: never filtered out.
   * @example
   * ngx.log(ngx.STDERR, "always written");
   */
  STDERR: 0,
  /**
   * nginx's `emerg` level: the system is unusable.
   * @example
   * ngx.log(ngx.EMERG, "…");
   */
  EMERG: 1,
  /**
   * nginx's `alert` level: action must be taken at once.
   * @example
   * ngx.log(ngx.ALERT, "…");
   */
  ALERT: 2,
  /**
   * nginx's `crit` level: critical conditions.
   * @example
   * ngx.log(ngx.CRIT, "…");
   */
  CRIT: 3,
  /**
   * nginx's `error` level: error conditions.
   * @example
   * ngx.log(ngx.ERR, "…");
   */
  ERR: 4,
  /**
   * nginx's `warn` level: warning conditions.
   * @example
   * ngx.log(ngx.WARN, "…");
   */
  WARN: 5,
  /**
   * nginx's `notice` level: normal but significant.
   * @example
   * ngx.log(ngx.NOTICE, "…");
   */
  NOTICE: 6,
  /**
   * nginx's `info` level: informational.
   * @example
   * ngx.log(ngx.INFO, "…");
   */
  INFO: 7,
  /**
   * nginx's `debug` level: debug messages.
   * @example
   * ngx.log(ngx.DEBUG, "…");
   */
  DEBUG: 8,
} as const;
const LEVEL_NAMES: readonly LogLevel[] = [
  "emerg",
  "emerg",
  "alert",
  "crit",
  "error",
  "warn",
  "notice",
  "info",
  "debug",
];

/** The arguments of `ngx.log`, concatenated as OpenResty does (no separator); objects inspected. */
function logMessage(args: readonly unknown[]): string {
  let text = "";
  for (const arg of args) text += typeof arg === "string" ? arg : logArgument(arg);
  return text;
}

/** One argument that is not a string; its own code (a Proxy's traps, a throwing getter) cannot make ngx.log throw. */
function logArgument(arg: unknown): string {
  try {
    if (arg instanceof Error) return formatThrown(arg);
    if (typeof arg === "object" && arg !== null) return inspect(arg, { breakLength: Infinity, depth: 4 });
    return String(arg);
  } catch {
    return "(unprintable value)";
  }
}

/**
 * `ngx.log(level, ...args)`: writes one nginx-shaped line to the error log at `level`
 * (`ngx.ERR`, `ngx.WARN`, `ngx.NOTICE`, `ngx.INFO`, `ngx.DEBUG`, …), when config `logLevel` lets it
 * through. The arguments are concatenated without a separator, as OpenResty does.
 * @example
 * ngx.log(ngx.ERR, "sync failed: ", error);
 * ngx.log(ngx.INFO, "synced ", count, " rows");
 */
function log(level: number, ...args: unknown[]): void {
  if (typeof level !== "number") {
    throw new InvalidArgTypeError("ngx.log", "level", "one of ngx.STDERR … ngx.DEBUG (0 to 8)", level);
  }
  const name = LEVEL_NAMES[level];
  if (name === undefined || !Number.isInteger(level)) {
    throw new InvalidArgValueError("ngx.log", "level", "one of ngx.STDERR … ngx.DEBUG (0 to 8)", level);
  }
  currentRuntime().log(name, logMessage(args));
}

/**
 * `ngx.config`: where this process runs and with what settings.
 * @example
 * const prefix = ngx.config.prefix();
 */
export interface NgxConfig {
  /**
   * The prefix directory, absolute (pid file, control socket), as OpenResty's `ngx.config.prefix()`.
   * @example
   * const pid = Number(readFileSync(join(ngx.config.prefix(), "tsresty.pid"), "utf8"));
   */
  prefix(): string;
  /**
   * The resolved configuration of this process (frozen): the config file merged with the
   * command-line flags, with every default filled in.
   * @example
   * const errorLog = ngx.config.get().errorLog; // the --error-log path, or null for stderr
   */
  get(): ResolvedConfig;
  /**
   * tsresty's version, e.g. "0.2.0".
   * @example
   * ngx.log(ngx.NOTICE, "tsresty ", ngx.config.version);
   */
  readonly version: string;
  /**
   * True in single mode (`tsresty -e`, `tsresty FILE`), as `ngx.config.is_console` under `resty`.
   * @example
   * if (ngx.config.isConsole()) console.log(result); // a script run with tsresty FILE
   */
  isConsole(): boolean;
}

/**
 * `ngx.pipe`: non-blocking subprocesses (see docs/pipe.md).
 * @example
 * const proc = ngx.pipe.spawn(["ls", "-1"]);
 */
export interface NgxPipe {
  /**
   * Starts `args` (argv, no shell; a string runs through `/bin/sh -c`) with pipes to its stdin,
   * stdout and stderr; reads and writes never block the event loop (see docs/pipe.md).
   * @example
   * const proc = ngx.pipe.spawn(["echo", "hello world"]);
   * const line = await proc.stdoutReadLine(); // { ok: true, data: "hello world" }
   * await proc.wait(); // { ok: true, reason: "exit", status: 0 }
   */
  spawn(args: readonly string[] | string, options?: SpawnOptions): PipeProcess;
}

/**
 * `ngx.shell`: run a command and collect its output, as lua-resty-shell.
 * @example
 * const { ok, stdout } = await ngx.shell.run('echo "hello, world"');
 */
export interface NgxShell {
  /**
   * Runs `command` (a string through `/bin/sh -c`, or argv), feeds it `stdin`, collects stdout and
   * stderr up to `maxSize` each, and resolves when it has exited, as lua-resty-shell's `run`.
   * @example
   * const { ok, stdout, reason } = await ngx.shell.run("df -h /", { timeout: 2000 });
   * if (!ok) ngx.log(ngx.ERR, "df failed: ", reason);
   */
  run(command: string | readonly string[], options?: ShellOptions): Promise<ShellResult>;
}

/**
 * The type of `ngx`: OpenResty's `ngx` API for TypeScript.
 * @example
 * ngx.timer.at(0, async () => ngx.log(ngx.NOTICE, "worker ", ngx.worker.id(), " up"));
 */
export interface Ngx extends Readonly<typeof LOG_LEVEL_NUMBERS> {
  /**
   * Writes one nginx-shaped line to the error log at `level` (`ngx.ERR`, `ngx.WARN`, …) when
   * config `logLevel` lets it through; the arguments are concatenated without a separator.
   * @example
   * ngx.log(ngx.ERR, "sync failed: ", error);
   */
  log(level: number, ...args: unknown[]): void;
  /**
   * Timers: `at`, `every`, `cron`, and their counts (see docs/timers.md).
   * @example
   * ngx.timer.every(60, sync);
   */
  readonly timer: NgxTimer;
  /**
   * Non-blocking subprocesses (see docs/pipe.md).
   * @example
   * const proc = ngx.pipe.spawn(["uptime"]);
   */
  readonly pipe: NgxPipe;
  /**
   * Run a command and collect its output.
   * @example
   * await ngx.shell.run("sync");
   */
  readonly shell: NgxShell;
  /**
   * This worker's id and its siblings.
   * @example
   * ngx.worker.id();
   */
  readonly worker: NgxWorker;
  /**
   * This process's type and lifecycle.
   * @example
   * ngx.process.type();
   */
  readonly process: NgxProcess;
  /**
   * The prefix, the resolved config and the version.
   * @example
   * ngx.config.get().workers;
   */
  readonly config: NgxConfig;
  /**
   * The shared dictionaries declared in config (`shdict`) or with `--shdict`, by name; an
   * unknown name is undefined, as in Lua. See docs/shdict.md.
   * @example
   * const dogs = ngx.shared["dogs"];
   * dogs?.set("Jim", 8);
   */
  readonly shared: SharedDicts;
  /**
   * A lock on a zone (lua-resty-lock): `await lock.lock(key)` waits without blocking the
   * event loop. Throws for an unknown zone.
   * @example
   * const lock = ngx.lock("locks", { timeout: 5 });
   * if ((await lock.lock("refresh")).ok) { try { await refresh(); } finally { lock.unlock(); } }
   */
  lock(zone: string, options?: LockOptions): Lock;
  /**
   * Resolves after `seconds` (ms resolution); `ngx.sleep(0)` yields to the event loop.
   * @example
   * await ngx.sleep(0.5);
   */
  sleep(seconds: number): Promise<void>;
  /**
   * Seconds since the epoch, with millisecond resolution.
   * @example
   * const started = ngx.now(); // 1767225600.123
   */
  now(): number;
}

/**
 * The timer system of this process, for creating a timer, unless creation is disabled here (the
 * master's init, exitWorker).
 */
function timers(where: string): TimerSystem {
  const context = currentRuntime();
  if (context.timersDisabledIn !== null) throw new ContextError(where, context.timersDisabledIn);
  return context.timers;
}

/**
 * The timer system of this process, for its counts: readable where timers run or ran (0 in
 * exitWorker, as OpenResty's in exit_worker_by_lua), not in init (OpenResty's throw there).
 */
function counted(where: string): TimerSystem {
  const context = currentRuntime();
  if (context.timersDisabledIn === INIT_CONTEXT) throw new ContextError(where, INIT_CONTEXT);
  return context.timers;
}

const timer: NgxTimer = Object.freeze({
  at: <A extends unknown[]>(delay: number | AtOptions, callback: TimerCallback<A>, ...args: A): Timer =>
    timers("ngx.timer.at").at(delay, callback, ...args),
  every: <A extends unknown[]>(
    interval: number | EveryOptions,
    callback: TimerCallback<A>,
    ...args: A
  ): Timer => timers("ngx.timer.every").every(interval, callback, ...args),
  cron: <A extends unknown[]>(
    expression: string | CronOptions,
    callback: TimerCallback<A>,
    ...args: A
  ): Timer => timers("ngx.timer.cron").cron(expression, callback, ...args),
  current: currentRun,

  pendingCount: () => counted("ngx.timer.pendingCount").pendingCount,
  runningCount: () => counted("ngx.timer.runningCount").runningCount,
});

const worker: NgxWorker = Object.freeze({
  id: () => currentRuntime().identity.workerId,
  count: () => currentRuntime().identity.workerCount,
  pid: () => process.pid,
  pids: () => [...currentRuntime().workerPids()],
  exiting: () => currentRuntime().timers.exiting,
});

const ngxProcess: NgxProcess = Object.freeze({
  type: () => currentRuntime().identity.type,
  enablePrivilegedAgent: (connections?: number): true => {
    const enable = currentRuntime().enablePrivilegedAgent;
    if (enable === null) throw new ContextError("ngx.process.enablePrivilegedAgent");
    enable(checkConnections(connections));
    return true;
  },
  signalGracefulExit: () => {
    const context = currentRuntime();
    // The init process serves nothing and ends once init is done: there is no exit to begin there
    // (it began the exit of init's empty timer system, a silent no-op).
    if (context.timersDisabledIn === INIT_CONTEXT)
      throw new ContextError("ngx.process.signalGracefulExit", INIT_CONTEXT);
    context.requestGracefulExit();
  },
  getMasterPid: () => currentRuntime().identity.masterPid,
  initData: () => currentRuntime().initData,
});

const config: NgxConfig = Object.freeze({
  prefix: () => currentRuntime().prefix,
  get: () => currentRuntime().config,
  version: VERSION,
  isConsole: () => currentRuntime().identity.type === "single",
});

const MAX_AGENT_CONNECTIONS = 2 ** 31 - 1;

/** OpenResty's default agent connections, and its check: a number greater than 0. */
function checkConnections(connections: unknown): number {
  if (connections === undefined) return AGENT_CONNECTIONS;
  const where = "ngx.process.enablePrivilegedAgent";
  const expected =
    "an integer greater than 0 (bad 'connections' argument: number expected and greater than 0)";
  if (typeof connections !== "number")
    throw new InvalidArgTypeError(where, "connections", expected, connections);
  if (!Number.isInteger(connections) || connections < 1) {
    throw new InvalidArgValueError(where, "connections", expected, connections);
  }
  // The config key's bound (privilegedAgent.connections): the running limit is a small integer.
  if (connections > MAX_AGENT_CONNECTIONS) {
    throw new InvalidArgValueError(
      where,
      "connections",
      `an integer from 1 to ${MAX_AGENT_CONNECTIONS}, as config privilegedAgent.connections`,
      connections,
    );
  }
  return connections;
}

function sleep(seconds: number): Promise<void> {
  const ms = toDelayMs("ngx.sleep", "seconds", seconds);
  return new Promise((resolve) => {
    if (ms === 0) setImmediate(resolve);
    else setTimeout(resolve, ms);
  });
}

/**
 * The `ngx` object: the same object as the global `ngx` in every process tsresty runs.
 * @example
 * import { ngx } from "tsresty";
 * ngx.timer.at(0, async () => { await ngx.sleep(1); });
 */
export const ngx: Ngx = Object.freeze({
  timer,
  pipe: Object.freeze({ spawn }),
  shell: Object.freeze({ run }),
  worker,
  process: ngxProcess,
  config,
  log,
  ...LOG_LEVEL_NUMBERS,

  get shared(): SharedDicts {
    return sharedDicts();
  },
  lock: (zone: string, options?: LockOptions): Lock => createLock(zone, options),
  sleep,
  now: () => Date.now() / 1000,
});
