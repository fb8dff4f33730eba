/**
 * The life of a child of the master (a worker or the privileged agent), shared by both roles.
 *
 * A child boots blank: it installs its signal handlers, says "standing-by", and waits for the
 * master's "assume" with its spec (a standby waits there until it is needed). Then:
 *
 *   state      event                      what happens
 *   ---------  -------------------------  -----------------------------------------------------
 *   starting   (boot done)                drop privileges, load the app, initWorker, serve → running
 *   starting   stop graceful / own exit   queued: applied the moment starting ends (a stop from the
 *                                         master does not wait for initWorker to finish)
 *   starting   stop fast                  exit 0 at once (nothing of the app runs any more)
 *   running    stop graceful / QUIT       → draining: leave rotation, drain and premature timers
 *                                         (≤ shutdownTimeout), exitWorker (≤ EXIT_WORKER_BOUND), exit 0
 *   running    own exit (signalGraceful…) tell the master ("exiting"), then as above
 *   running    stop fast / TERM           timers forgotten, connections closed, exitWorker
 *                                         (≤ FAST_EXIT_WORKER_BOUND), exit 0
 *
 * The master stops its children with messages only: QUIT and TERM reach a child from outside,
 * so the exit they begin is the child's own, told to the master as signalGracefulExit's is (and
 * not counted as a crash); a TERM while starting tells it before the exit at once.
 *   draining   stop fast / TERM           the drain is cut short: as stop fast
 *   any        master gone ("disconnect") exit 0 at once
 *
 * Each bound that fires is logged with the step it cut short. The master SIGKILLs a child still
 * alive STOP_MARGIN seconds after the whole budget (config/defaults.ts), so its kill never races
 * the child's own bounds. HUP, INT and USR1 change nothing here: the master reloads, stops and
 * owns the log files (children write their log lines to stderr, which the master reads).
 */
import { subscribe } from "node:diagnostics_channel";
import { endLiveGroups, EXIT_CHANNEL, SPAWN_CHANNEL } from "../pipe/index.ts";
import {
  EXIT_WORKER_BOUND,
  FAST_EXIT_WORKER_BOUND,
  resolveConfig,
  START_SHUTDOWN_TIMEOUT,
  type ResolvedConfig,
} from "../config/index.ts";
import { ContextError } from "../errors.ts";
import {
  encodeCounts,
  namedTimerRows,
  parseMasterMessage,
  sendToParent,
  type ChildSpec,
  type SentChildMessage,
} from "../ipc/index.ts";
import { LATENESS_BOUNDS } from "../timer/index.ts";
import { exitWhenWritten, handleSignals, ignore } from "../process/index.ts";
import { preloadTypeScriptIfAsked } from "../util/loader.ts";
import { lineLogger, type LogSink } from "../util/log.ts";
import { withTimeout } from "../util/timeout.ts";
import { cpuSeconds } from "../util/cpu.ts";
import { loadApp, type App } from "./app.ts";
import { installRuntime, type RuntimeContext } from "./context.ts";
import { drainCutMessage } from "./drain-cut.ts";
import { installGlobalNgx } from "./global.ts";
import { runHook } from "./hooks.ts";
import { describeLoadError, describeUncaught } from "./load-error.ts";
import { ChildProbes, type ServiceCounts } from "./metrics.ts";
import { attachMasterZones } from "./zones.ts";
import { errorMessage } from "../util/error-message.ts";

export type ChildState = "starting" | "running" | "draining" | "exited";
type StopMode = "graceful" | "fast";

/** What a role serves (a worker's HTTP; nothing for the agent). */
export interface Service {
  /**
   * Starts accepting on the listening sockets the master sent (once, when the worker enters
   * rotation); `fail` ends the worker when a socket cannot be listened on.
   */
  listen(handles: readonly object[], fail: (reason: string) => void): void;
  /** Stops accepting; resolves when in-flight work is done. */
  drain(): Promise<void>;
  /** Closes everything now; resolves when what it closed has reported it (its last log lines written). */
  destroy(): Promise<void> | void;
  /** What it counted, for the metrics (a worker's HTTP requests). */
  counts?(): ServiceCounts;
  /** Opens its own files again by name (USR1 reached the master). */
  reopen?(): void;
}

export interface ChildRole {
  /** Starts serving once initWorker has run; null when the role serves nothing. */
  serve(app: App, context: RuntimeContext): Promise<Service | null>;
  /** Runs before the app is loaded (a worker drops privileges here). */
  prepare?(spec: ChildSpec): void;
}

/**
 * How long initWorker may take before the worker serves without it: well inside the master's
 * 60 s wait for a worker to be ready (READY_TIMEOUT_MS), which would otherwise fail the start.
 */
const INIT_WORKER_BOUND_MS = 30_000;

/** How long the sockets a stop destroys may take to report their close (one loop turn does it). */
const DESTROY_BOUND_MS = 250;

function send(message: SentChildMessage): void {
  try {
    process.send?.(message);
  } catch {
    // the master is gone: "disconnect" ends this process
  }
}

/** Sends `message` and resolves once it is out, or after 1 s (the master may be gone). */
function sendAndWait(message: SentChildMessage): Promise<unknown> {
  return withTimeout(sendToParent(message), 1_000);
}

/** In the agent, `connections` bounds the running timer callbacks (OpenResty: its connection slots). */

function capRunning(config: ResolvedConfig, connections: number | null): ResolvedConfig {
  if (connections === null || connections >= config.timers.maxRunning) return config;
  return Object.freeze({ ...config, timers: Object.freeze({ ...config.timers, maxRunning: connections }) });
}

/**
 * The first step of every child: signal handlers that queue what arrives before the child can act,
 * tsx for a TypeScript app, then "standing-by" until the master says what this process is.
 */
export async function awaitSpec(): Promise<ChildSpec> {
  handleSignals({ SIGHUP: ignore, SIGINT: ignore, SIGUSR1: ignore, SIGUSR2: ignore });
  process.on("disconnect", () => process.exit(0));
  await preloadTypeScriptIfAsked();
  return new Promise((resolve) => {
    const onMessage = (raw: unknown): void => {
      const message = parseMasterMessage(raw);
      if (message?.type === "stop") process.exit(0);
      if (message?.type !== "assume") return;
      process.off("message", onMessage);
      send({ type: "assumed" });
      resolve(message.spec);
    };
    process.on("message", onMessage);
    send({ type: "standing-by" });
  });
}

export async function runChild(spec: ChildSpec, role: ChildRole): Promise<void> {
  const config = capRunning(resolveConfig(spec.config), spec.connections);
  const log: LogSink = lineLogger({
    write: (line) => process.stderr.write(line),
    pid: process.pid,
    workerId: () => spec.workerId,
    minLevel: config.logLevel,
  });
  const shutdownTimeout = config.shutdownTimeout ?? START_SHUTDOWN_TIMEOUT;
  let state: ChildState = "starting";
  /** A stop that arrived while starting (a holder: closures write it while `runChild` awaits). */
  const queued: { stop: { mode: StopMode; own: boolean } | null } = { stop: null };
  /** Resolves when the master retires this child while it starts: initWorker is not waited for then. */
  let retiredWhileStarting: () => void = () => undefined;
  const retired = new Promise<void>((resolve) => {
    retiredWhileStarting = resolve;
  });
  let pids: readonly number[] = [];
  let inInitWorker = false;
  let service: Service | null = null;
  let app: App | undefined;
  /** The listening sockets the master sent, by index; the worker accepts once it has all. */
  const listening = { handles: [] as object[], count: -1, started: false };
  const startListening = (): void => {
    const complete = listening.count >= 0 && listening.handles.filter(Boolean).length === listening.count;
    if (!complete || listening.started || service === null || state !== "running") return;
    listening.started = true;
    service.listen(listening.handles, (reason) => void fail(reason));
  };

  const context = installRuntime({
    identity: Object.freeze({
      type: spec.role,
      workerId: spec.workerId,
      workerCount: spec.workerCount,
      masterPid: spec.masterPid,
    }),
    config,
    log,
    prefix: spec.prefix,
    initData: spec.initData,
    // As OpenResty's init_worker (T-WRK-07): the live workers are not known to a process still
    // in its initWorker (the master has not listed them to it yet).
    workerPids: () => {
      if (inInitWorker) throw new ContextError("ngx.worker.pids", "initWorker");
      return pids;
    },
    // As OpenResty: exiting() turns true once the calling code yields.
    requestGracefulExit: () => setImmediate(() => void stop("graceful", true)),
  });
  installGlobalNgx();
  // The master ends these groups if this process dies without ending them itself (SIGKILL): each
  // is reported when it starts, and when it has ended (its leftovers too, after their grace).
  subscribe(SPAWN_CHANNEL, (message) => {
    send({ type: "pipe-group", pgid: (message as { pid: number }).pid, alive: true });
  });
  subscribe(EXIT_CHANNEL, (message) => {
    send({ type: "pipe-group", pgid: (message as { pid: number }).pid, alive: false });
  });

  /** A fast exit of its own while starting: the master is told first (once the message is out). */
  const announceThenExit = async (): Promise<void> => {
    await sendAndWait({ type: "exiting", mode: "fast" });
    process.exit(0);
  };

  /** exitWorker runs where no timer can be created; the counts stay those of this process. */
  const runExitWorker = (boundMs: number): Promise<void> => {
    context.timersDisabledIn = "the context of exitWorker";
    return runHook("exitWorker", app?.exitWorker, log, boundMs);
  };

  const now = (): ChildState => state;
  // Sampling the event loop costs a timer tick every 20 ms: only when something will read it.
  const probes = config.metrics === null ? null : new ChildProbes();

  /**
   * Destroys the service and lets the sockets' "close" callbacks run (a cut request's access-log
   * line, its stream's cancel, its signal), which exiting at once would skip.
   */
  async function closed(): Promise<void> {
    await withTimeout(Promise.resolve(service?.destroy()), DESTROY_BOUND_MS);
  }

  async function gracefulExit(own: boolean): Promise<void> {
    state = "draining";
    if (own) send({ type: "exiting" });
    context.timers.beginExit();
    const drained = Promise.all([service?.drain(), context.timers.whenIdle()]);
    const outcome = await withTimeout(drained, shutdownTimeout * 1000);
    // A fast stop may have taken over while this awaited (read through now()).
    if (now() !== "draining") return;
    if (!outcome.done) {
      const http = service?.counts?.() ?? null;
      log("warn", drainCutMessage(shutdownTimeout, context.timers, "going on to exitWorker", http));
      await closed();
    }
    await runExitWorker(EXIT_WORKER_BOUND * 1000);
    state = "exited";
    await endLiveGroups();
    exitWhenWritten(0);
  }

  async function fastExit(own: boolean): Promise<void> {
    state = "exited";
    if (own) send({ type: "exiting", mode: "fast" });
    context.timers.destroy();
    await closed();
    await runExitWorker(FAST_EXIT_WORKER_BOUND * 1000);
    await endLiveGroups();
    exitWhenWritten(0);
  }

  /**
   * Runs the app's initWorker (bounded). A stop from the master does not wait for it: its bound
   * (30 s) is past the master's budget for a graceful stop (shutdownTimeout + 7 s), so the worker
   * was SIGKILLed, its timers never called premature and exitWorker never run. The stop goes on
   * without it, as a bound that fires goes on without the hook; retired while the app loaded, it
   * is not begun.
   */
  async function runInitWorker(started: App): Promise<void> {
    if (queued.stop?.own === false) return;
    inInitWorker = true;
    try {
      const hook = runHook("initWorker", started.initWorker, log, INIT_WORKER_BOUND_MS).then(() => "done");
      if ((await Promise.race([hook, retired.then(() => "retired")])) === "retired")
        log("warn", "initWorker had not finished when the stop came; going on to the stop without it");
    } finally {
      inInitWorker = false;
    }
  }

  /** The one entrance for every way out; see the table at the top of this file. */
  function stop(mode: StopMode, own: boolean): Promise<void> | undefined {
    switch (state) {
      case "starting":
        if (mode === "fast") return own ? announceThenExit() : process.exit(0);
        queued.stop ??= { mode, own };
        if (!own) retiredWhileStarting();
        return undefined;
      case "running":
        return mode === "graceful" ? gracefulExit(own) : fastExit(own);
      case "draining":
        return mode === "fast" ? fastExit(own) : undefined;
      case "exited":
        return undefined;
    }
  }

  process.on("message", (raw, handle) => {
    const message = parseMasterMessage(raw);
    if (message === null) return;
    switch (message.type) {
      case "listen":
        if (handle === undefined) return;
        listening.count = message.count;
        listening.handles[message.index] = handle;
        startListening();
        return;
      case "stop":
        void stop(message.mode, false);
        return;
      case "pids":
        pids = message.pids;
        return;
      case "cluster-claims":
        context.gates.claimCluster(message.on);
        return;
      case "reopen":
        try {
          service?.reopen?.();
        } catch (error) {
          log("alert", `cannot reopen the access log: ${errorMessage(error)}`);
        }
        return;
      case "status": {
        const full = message.scope === "status";
        send({
          type: "status",
          seq: message.seq,
          status: {
            pending: context.timers.pendingCount,
            running: context.timers.runningCount,
            rss: process.memoryUsage.rss(),
            cpu: cpuSeconds(),
            timers: full ? namedTimerRows(context.timers.namedTimers()) : [],
            stats: full ? context.timers.stats() : [],
            counts: full ? null : encodeCounts(LATENESS_BOUNDS, context.timers.counts()),
            // Only scrapes read the probes (a read may start a new lag window).
            probe: full ? null : (probes?.read(service?.counts?.() ?? null) ?? null),
          },
        });
        return;
      }
      default:
        return;
    }
  });
  // Signals sent to a child by hand mean what the master's messages mean; the master stops its
  // children with messages, never with these, so an exit they begin is this child's own: the
  // master is told (as for signalGracefulExit) and does not count it as a crash.
  handleSignals({ SIGQUIT: () => void stop("graceful", true), SIGTERM: () => void stop("fast", true) });
  // A promise the app left rejected with no handler (a stray `fetch()` in a timer's work) is
  // logged and the process goes on serving, as a Lua error leaves an nginx worker serving: Node's
  // default ended the process, and every request and timer of it (none had its premature call),
  // for one stray promise, and the master respawned it with backoff. A rejection changes no
  // state, unlike an exception thrown through the code; uncaught exceptions still end it.
  process.on("unhandledRejection", (reason) => {
    log("error", `unhandled rejection, the process keeps running: ${describeUncaught(reason)}`);
  });

  /** Tells the master why this child cannot start (once the message is out), then exits 1. */
  const fail = async (reason: string): Promise<void> => {
    log("emerg", reason);
    await sendAndWait({ type: "failed", kind: "start", reason });
    process.exit(1);
  };

  // The zones are mapped before a worker drops its privileges (the master's descriptors).
  try {
    attachMasterZones(spec.zones, spec.masterPid);
  } catch (error) {
    return fail(errorMessage(error));
  }
  role.prepare?.(spec);
  try {
    app = await loadApp(spec.appPath);
  } catch (error) {
    return fail(describeLoadError("app", error));
  }
  await runInitWorker(app);
  if (queued.stop?.own === false) {
    // Retired while starting (a reload or a stop overtook it): never serve, just leave.
    state = "running";
    return stop(queued.stop.mode, false);
  }
  try {
    service = await role.serve(app, context);
  } catch (error) {
    return fail(errorMessage(error));
  }
  state = "running";
  send({ type: "ready" });
  if (queued.stop !== null) return stop(queued.stop.mode, queued.stop.own);
  startListening();
}
