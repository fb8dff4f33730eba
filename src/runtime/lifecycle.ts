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
 *   draining   stop fast / TERM           the drain is cut short: as stop fast; once exitWorker runs,
 *                                         that run gets FAST_EXIT_WORKER_BOUND from then (not a second run)
 *   any        master gone ("disconnect") exit 0 at once
 *
 * Each bound that fires is logged with the step it cut short. The master SIGKILLs a child still
 * alive STOP_MARGIN seconds after the whole budget (config/defaults.ts), so its kill never races
 * the child's own bounds. HUP, INT and USR1 change nothing here: the master reloads, stops and
 * owns the log files (children write their log lines to stderr, which the master reads).
 */
import {
  EXIT_WORKER_BOUND,
  FAST_EXIT_WORKER_BOUND,
  START_SHUTDOWN_TIMEOUT,
  type ResolvedConfig,
} from "../config/index.ts";
import { ContextError } from "../errors.ts";
import type { ChildSpec } from "../ipc/index.ts";
import type { LogSink } from "../util/log.ts";
import { withTimeout } from "../util/timeout.ts";
import { errorMessage } from "../util/error-message.ts";
import { loadApp, type App } from "./app.ts";
import { installRuntime, type RuntimeContext } from "./context.ts";
import { drainCutMessage } from "./drain-cut.ts";
import { boundExitWorker, closeService, leave, runExitWorker } from "./exit-steps.ts";
import { runInitWorker } from "./init-worker.ts";
import { describeLoadError } from "../util/load-error.ts";
import { Listening } from "./listening.ts";
import type { ServiceCounts } from "./metrics.ts";
import type { ChildRole, Service } from "./service.ts";
import { send, sendAndWait } from "./to-master.ts";
import { attachMasterZones } from "./zones.ts";
import { exitWithMaster, unwatchedMessage } from "./master-gone.ts";

export type ChildState = "starting" | "running" | "draining" | "exited";
export type StopMode = "graceful" | "fast";

export class ChildLifecycle {
  readonly context: RuntimeContext;
  readonly #spec: ChildSpec;
  readonly #log: LogSink;
  readonly #shutdownTimeout: number;
  #state: ChildState = "starting";
  /** A stop that arrived while starting: applied the moment starting ends. */
  #queued: { mode: StopMode; own: boolean } | null = null;
  /** Resolves when the master retires this child while it starts: initWorker is not waited for then. */
  #retiredWhileStarting: () => void = () => undefined;
  readonly #retired = new Promise<void>((resolve) => {
    this.#retiredWhileStarting = resolve;
  });
  #pids: readonly number[] = [];
  #inInitWorker = false;
  #service: Service | null = null;
  /** exitWorker's run, once a graceful exit began it: a fast stop then bounds it, never runs it again. */
  #exitWorker: Promise<void> | null = null;
  #app: App | undefined;
  readonly #listening = new Listening();

  constructor(spec: ChildSpec, config: ResolvedConfig, log: LogSink) {
    this.#spec = spec;
    this.#log = log;
    this.#shutdownTimeout = config.shutdownTimeout ?? START_SHUTDOWN_TIMEOUT;
    this.context = installRuntime({
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
        if (this.#inInitWorker) throw new ContextError("ngx.worker.pids", "initWorker");
        return this.#pids;
      },
      // As OpenResty: exiting() turns true once the calling code yields.
      requestGracefulExit: () => setImmediate(() => void this.stop("graceful", true)),
    });
  }

  /** The live workers, as the master last listed them. */
  set pids(pids: readonly number[]) {
    this.#pids = pids;
  }

  /** What the service counted (a worker's HTTP requests), null when it counts nothing. */
  serviceCounts(): ServiceCounts | null {
    return this.#service?.counts?.() ?? null;
  }

  /** Opens the service's own files again by name (USR1 reached the master). */
  reopen(): void {
    try {
      this.#service?.reopen?.();
    } catch (error) {
      this.#log("alert", `cannot reopen the access log: ${errorMessage(error)}`);
    }
  }

  /** One of the listening sockets the master sent: the worker accepts once it has all. */
  addListening(index: number, count: number, handle: object): void {
    this.#listening.add(index, count, handle);
    this.#startListening();
  }

  #startListening(): void {
    if (this.#service === null || this.#state !== "running") return;
    this.#listening.start(this.#service, (reason) => void this.#fail(reason));
  }

  /**
   * Boots the app: zones, privileges, load, initWorker, serve; then tells the master it is ready
   * and applies a stop that came meanwhile.
   */
  async start(role: ChildRole): Promise<void> {
    // The zones are mapped before a worker drops its privileges (the master's descriptors).
    try {
      attachMasterZones(this.#spec.zones, this.#spec.masterPid);
    } catch (error) {
      return this.#fail(errorMessage(error));
    }
    role.prepare?.(this.#spec);
    // After the drop to config.user (which clears a parent-death signal), before the app's code
    // runs: a master that dies while this process is busy or stopped still ends it.
    const unwatched = exitWithMaster(this.#spec.masterPid);
    if (unwatched !== null) this.#log("warn", unwatchedMessage(unwatched));
    let app: App;
    try {
      app = this.#app = await loadApp(this.#spec.appPath);
    } catch (error) {
      return this.#fail(describeLoadError("app", error));
    }
    await this.#runInitWorker(app);
    if (this.#queued?.own === false) {
      // Retired while starting (a reload or a stop overtook it): never serve, just leave.
      this.#state = "running";
      return this.stop(this.#queued.mode, false);
    }
    try {
      this.#service = await role.serve(app, this.context);
    } catch (error) {
      return this.#fail(errorMessage(error));
    }
    this.#state = "running";
    send({ type: "ready" });
    if (this.#queued !== null) return this.stop(this.#queued.mode, this.#queued.own);
    this.#startListening();
  }

  /** The one entrance for every way out; see the table at the top of this file. */
  stop(mode: StopMode, own: boolean): Promise<void> | undefined {
    switch (this.#state) {
      case "starting":
        if (mode === "fast") return own ? this.#announceThenExit() : process.exit(0);
        this.#queued ??= { mode, own };
        if (!own) this.#retiredWhileStarting();
        return undefined;
      case "running":
        return mode === "graceful" ? this.#gracefulExit(own) : this.#fastExit(own);
      case "draining":
        return mode === "fast" ? this.#fastExit(own) : undefined;
      case "exited":
        return undefined;
    }
  }

  /** Tells the master why this child cannot start (once the message is out), then exits 1. */
  async #fail(reason: string): Promise<void> {
    this.#log("emerg", reason);
    await sendAndWait({ type: "failed", kind: "start", reason });
    process.exit(1);
  }

  /** initWorker (init-worker.ts), where ngx.worker.pids() throws; retired while the app loaded, it is not begun. */
  async #runInitWorker(started: App): Promise<void> {
    if (this.#queued?.own === false) return;
    this.#inInitWorker = true;
    try {
      await runInitWorker(started, this.#log, this.#retired);
    } finally {
      this.#inInitWorker = false;
    }
  }

  /** A fast exit of its own while starting: the master is told first (once the message is out). */
  async #announceThenExit(): Promise<void> {
    await sendAndWait({ type: "exiting", mode: "fast" });
    process.exit(0);
  }

  async #gracefulExit(own: boolean): Promise<void> {
    this.#state = "draining";
    if (own) send({ type: "exiting" });
    const timers = this.context.timers;
    timers.beginExit();
    const outcome = await withTimeout(this.#drained(), this.#shutdownTimeout * 1000);
    // A fast stop may have taken over while this awaited (read through #now()).
    if (this.#now() !== "draining") return;
    if (!outcome.done) {
      const http = this.serviceCounts();
      this.#log("warn", drainCutMessage(this.#shutdownTimeout, timers, "going on to exitWorker", http));
      await closeService(this.#service);
    }
    this.#exitWorker = runExitWorker(this.context, this.#app, this.#log, EXIT_WORKER_BOUND * 1000);
    await this.#exitWorker;
    if (this.#now() !== "draining") return;
    this.#state = "exited";
    await leave();
  }

  /**
   * The service's drain, then the timers: a request in flight may still create a zero-delay timer
   * (its data pushed after the response, SPEC scenario 8), which runs before exitWorker, as
   * OpenResty runs the zero-delay timers made while a worker exits (T-PRE-02). Waited for beside
   * the drain, the timers were idle as it began, and such a timer's run was cut by the exit
   * without a word.
   */
  async #drained(): Promise<void> {
    await this.#service?.drain();
    await this.context.timers.whenIdle();
  }

  async #fastExit(own: boolean): Promise<void> {
    this.#state = "exited";
    if (own) send({ type: "exiting", mode: "fast" });
    this.context.timers.destroy();
    await closeService(this.#service);
    const boundMs = FAST_EXIT_WORKER_BOUND * 1000;
    // A graceful exit's exitWorker already running (an INT that escalated the stop came then) was
    // run a second time beside it.
    if (this.#exitWorker === null) await runExitWorker(this.context, this.#app, this.#log, boundMs);
    else await boundExitWorker(this.#exitWorker, this.#log, boundMs);
    await leave();
  }

  #now(): ChildState {
    return this.#state;
  }
}
