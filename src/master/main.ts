/**
 * The master: nginx's master process for Node. It runs the app's `init`, binds the listening
 * sockets (listeners.ts), forks one worker per slot (ids 0..N-1, slots.ts) and the privileged
 * agent when enabled, and keeps the tree's invariants:
 *
 * - Slots, not counters. A worker that dies for any reason is replaced with the same id and a
 *   new generation; a slot that keeps dying waits longer each time (backoff.ts). At first start
 *   a worker that dies before it is ready fails the whole start, with its reason.
 * - Reload (HUP, `tsresty reload`) re-reads the config, runs `init` again with the app loaded
 *   anew, starts a complete new generation and only when every new worker accepts tells the old
 *   ones to drain. A reload whose config or `init` fails, or whose workers do not become ready,
 *   changes nothing: the old generation keeps serving.
 * - Stop: QUIT / `tsresty stop` is graceful (children drain, fire premature timers, run
 *   exitWorker); TERM / INT / `stop --fast` is fast. Children still alive past the bound are
 *   SIGKILLed. USR1 reopens the log files of the whole tree.
 *
 * States: starting → running ⇄ reloading → stopping. The master runs no user code except
 * `init`, which it loads by URL (src/init) so that it never imports the runtime itself.
 */
import { mkdirSync } from "node:fs";
import { constants } from "node:os";
import { join, resolve } from "node:path";
import {
  loadConfigInput,
  resolveConfig,
  START_SHUTDOWN_TIMEOUT,
  type ResolvedConfig,
} from "../config/index.ts";
import {
  CONTROL_SOCKET,
  PID_FILE,
  type ChildSpec,
  type ControlRequest,
  type ControlResponse,
  type ProcessRow,
  type StatusReport,
} from "../ipc/index.ts";
import { StartError } from "../errors.ts";
import { formatThrown, lineLogger, type LogSink } from "../util/log.ts";
import { openLogWriter, type LogWriter } from "../util/log-file.ts";
import { nextQuickDeaths, respawnDelay } from "./backoff.ts";
import { Children, type Child } from "./children.ts";
import { Listeners } from "./listeners.ts";
import { makeSlots, roleLabel, slotSpec, type Slot } from "./slots.ts";
import { childRows } from "./status.ts";
import { serveControl } from "./control.ts";
import { isTsresty, readPid, removePid, writePid } from "./pidfile.ts";

export interface MasterOptions {
  /** Absolute path of the app module. */
  readonly appPath: string;
  /** Config file (absolute), or null. Read again on every reload. */
  readonly configFile: string | null;
  /** Values from command-line flags; they override the file's. */
  readonly overrides: Readonly<Record<string, unknown>>;
}

type MasterState = "starting" | "running" | "reloading" | "stopping";

interface InitRole {
  runInit(request: {
    appPath: string;
    generation: number;
    config: unknown;
    workerCount: number;
    log: LogSink;
  }): Promise<InitOutcome>;
}

interface InitOutcome {
  readonly privilegedAgent: number | null;
  readonly servesHttp: boolean;
}

const INIT_ROLE = new URL("../init/main.ts", import.meta.url).href;
const READY_TIMEOUT_MS = 60_000;
const FAST_STOP_BOUND_MS = 5_000;

class Master {
  readonly #options: MasterOptions;
  #state: MasterState = "starting";
  #config: ResolvedConfig;
  #rawConfig: unknown;
  #cycle = 1;
  readonly #prefix: string;
  readonly #writer: LogWriter;
  readonly #log: LogSink;
  #slots: Slot[] = [];
  readonly #children: Children;
  readonly #listeners: Listeners;
  #serves = false;
  /** Children that must become ready, with what to do when they are or when they fail. */
  readonly #waiting = new Map<Child, { ready: () => void; fail: (reason: string) => void }>();
  readonly #failures = new Map<Child, string>();
  readonly #startedAt = Date.now();
  #whenStopped: (() => void) | null = null;
  /** A booted spare that the next respawn or reload turns into a worker (see worker/main.ts). */
  #standby: Child | null = null;
  #standbyBooted = false;

  constructor(options: MasterOptions, rawConfig: unknown, config: ResolvedConfig) {
    this.#options = options;
    this.#rawConfig = rawConfig;
    this.#config = config;
    this.#prefix = resolve(config.prefix);
    this.#writer = openLogWriter(config.errorLog);
    this.#log = lineLogger({
      write: (line) => {
        this.#writer.write(line);
      },
      pid: process.pid,
      workerId: () => null,
    });
    this.#children = new Children({
      ready: (child) => {
        this.#waiting.get(child)?.ready();
        // A new generation enters rotation only when the reload switches over.
        if (this.#slots.some((slot) => slot.child === child && slot.role === "worker"))
          this.#listeners.add(child);
        this.#broadcastPids();
      },
      failed: (child, reason) => this.#failures.set(child, reason),
      exiting: (child) => {
        this.#log(
          "notice",
          `worker process ${child.pid} (id ${child.spec?.workerId ?? "-"}) is exiting gracefully`,
        );
        this.#listeners.remove(child);
        this.#children.send(child, { type: "stop", mode: "graceful" });
      },
      standingBy: (child) => {
        if (child === this.#standby) this.#standbyBooted = true;
      },
      exited: (child, code, signal) => {
        this.#onExit(child, code, signal);
      },
    });
    this.#listeners = new Listeners((child, socket) => this.#children.sendConnection(child, socket));
  }

  get #pidFile(): string {
    return join(this.#prefix, PID_FILE);
  }

  async start(): Promise<string> {
    mkdirSync(this.#prefix, { recursive: true });
    const running = readPid(this.#pidFile);
    if (running !== null && running !== process.pid && isTsresty(running)) {
      throw new StartError(`already running with master pid ${running} (prefix ${this.#prefix})`);
    }
    if (running !== null) this.#log("notice", `removing stale pid file ${this.#pidFile} (pid ${running})`);
    const init = await this.#runInit(this.#rawConfig, this.#config);
    this.#serves = init.servesHttp;
    if (this.#serves) {
      await this.#listeners.listen(this.#config.listen).catch((error: unknown) => {
        throw new StartError(error instanceof Error ? error.message : String(error));
      });
    }
    writePid(this.#pidFile);
    process.on("exit", () => {
      removePid(this.#pidFile);
    });
    await serveControl(join(this.#prefix, CONTROL_SOCKET), (request) => this.#control(request));
    this.#slots = makeSlots(this.#config, init.privilegedAgent, []);
    const children = this.#slots.map((slot) => this.#spawn(slot));
    try {
      await Promise.all(children.map((child) => this.#ready(child)));
    } catch (error) {
      this.#children.killAll();
      throw error;
    }
    this.#state = "running";
    this.#installSignals();
    this.#replenishStandby();
    const addresses = this.#listeners.addresses;
    const where = this.#serves ? `listening on ${addresses.join(", ")}` : "no HTTP handler";
    const agent = this.#slots.some((slot) => slot.role !== "worker") ? " and the privileged agent" : "";
    return `tsresty ready: master pid ${process.pid}, ${this.#config.workers} workers${agent}, ${where}`;
  }

  /** Resolves when the master has stopped (then the process exits). */
  stopped(): Promise<void> {
    return new Promise((resolve) => {
      this.#whenStopped = resolve;
    });
  }

  /** Runs the app's init; resolves with whether the app serves HTTP and enabled the agent. */
  async #runInit(raw: unknown, config: ResolvedConfig): Promise<InitOutcome> {
    const role = (await import(INIT_ROLE)) as InitRole;
    try {
      const result = await role.runInit({
        appPath: this.#options.appPath,
        generation: this.#cycle,
        config: raw,
        workerCount: config.workers,
        log: this.#log,
      });
      return result;
    } catch (error) {
      throw new StartError(`init failed: ${formatThrown(error)}`, { cause: error });
    }
  }

  /** Starts a child for `spec`: the booted standby when there is one (milliseconds), else a fresh fork. */
  #start(spec: ChildSpec): Child {
    const standby = this.#standby;
    if (standby === null || !this.#standbyBooted) return this.#children.fork(spec);
    this.#standby = null;
    this.#standbyBooted = false;
    this.#children.assume(standby, spec);
    this.#replenishStandby();
    return standby;
  }

  #replenishStandby(): void {
    if (this.#standby !== null || (this.#state !== "running" && this.#state !== "reloading")) return;
    this.#standby = this.#children.fork(null);
  }

  #spawn(slot: Slot): Child {
    slot.generation++;
    const spec = slotSpec(slot, this.#config, this.#rawConfig, this.#options.appPath);
    const child = slot.role === "worker" ? this.#start(spec) : this.#children.fork(spec);
    slot.child = child;
    this.#logStart(slot, child);
    return child;
  }

  #logStart(slot: Slot, child: Child): void {
    const id = slot.id === null ? "" : `id ${slot.id}, `;
    this.#log(
      "notice",
      `start ${roleLabel(slot.role)} process ${child.pid} (${id}generation ${slot.generation})`,
    );
  }

  /** Resolves when `child` accepts; rejects with its reason when it dies or stays silent first. */
  #ready(child: Child): Promise<void> {
    if (child.phase === "running") return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        settle();
        reject(
          new StartError(
            `worker ${child.spec?.workerId ?? "-"} (pid ${child.pid}) was not ready within 60 s`,
          ),
        );
      }, READY_TIMEOUT_MS);
      const settle = (): void => {
        clearTimeout(timer);
        this.#waiting.delete(child);
      };
      this.#waiting.set(child, {
        ready: () => {
          settle();
          resolve();
        },
        fail: (reason) => {
          settle();
          reject(new StartError(reason));
        },
      });
    });
  }

  #onExit(child: Child, code: number | null, signal: string | null): void {
    const signo = signal === null ? undefined : constants.signals[signal as NodeJS.Signals];
    const how = signal === null ? `exited with code ${code ?? "?"}` : `exited on signal ${signo ?? signal}`;
    if (child === this.#standby) {
      this.#standby = null;
      this.#standbyBooted = false;
      this.#log(this.#state === "stopping" ? "notice" : "alert", `standby process ${child.pid} ${how}`);
      if (this.#state === "stopping" && this.#children.live.length === 0) this.#whenStopped?.();
      // A standby that keeps dying is replaced slowly: it is a spare, nothing waits for it.
      setTimeout(() => {
        this.#replenishStandby();
      }, 1_000).unref();
      return;
    }
    const role = child.spec?.role ?? "worker";
    const who =
      role === "worker"
        ? `worker process ${child.pid} (id ${child.spec?.workerId ?? "-"})`
        : `privileged agent process ${child.pid}`;
    const waiter = this.#waiting.get(child);
    if (waiter !== undefined) waiter.fail(this.#failures.get(child) ?? `${who} ${how} before it was ready`);
    this.#failures.delete(child);
    this.#listeners.remove(child);
    this.#broadcastPids();
    const slot = this.#slots.find((s) => s.child === child);
    if (child.retired || slot === undefined || this.#state === "stopping" || this.#state === "starting") {
      this.#log("notice", `${who} ${how}`);
      if (this.#state === "stopping" && this.#children.live.length === 0) this.#whenStopped?.();
      return;
    }
    const intended = child.announcedExit && code === 0;
    this.#log(intended ? "notice" : "alert", `${who} ${how}`);
    slot.child = null;
    if (!intended) {
      slot.restarts++;
      slot.quickDeaths = nextQuickDeaths(slot.quickDeaths, Date.now() - child.startedAt);
    }
    const delay = intended ? 0 : respawnDelay(slot.quickDeaths);
    if (delay > 0)
      this.#log("warn", `${roleLabel(slot.role)} ${slot.id ?? ""} keeps dying; respawning it in ${delay} ms`);
    slot.respawn = setTimeout(() => {
      slot.respawn = null;
      if (this.#state === "stopping" || slot.child !== null || !this.#slots.includes(slot)) return;
      this.#spawn(slot);
    }, delay);
  }

  #broadcastPids(): void {
    const pids = this.#children.live.filter((c) => c.spec?.role === "worker" && !c.retired).map((c) => c.pid);
    this.#children.broadcast({ type: "pids", pids });
  }

  async #control(request: ControlRequest): Promise<ControlResponse> {
    switch (request.command) {
      case "reload":
        return this.reload();
      case "stop":
        this.stop(request.fast ? "fast" : "graceful");
        return { ok: true, message: `stopping (${request.fast ? "fast" : "graceful"})` };
      case "status":
        return { ok: true, message: "status", status: await this.status() };
    }
  }

  async reload(): Promise<ControlResponse> {
    if (this.#state !== "running") return { ok: false, message: `cannot reload while ${this.#state}` };
    this.#state = "reloading";
    this.#log("notice", "reconfiguring");
    const started: Child[] = [];
    try {
      const cycle = this.#cycle + 1;
      const raw = await this.#readConfig(cycle);
      const config = resolveConfig(raw, this.#options.configFile ?? "config");
      this.#cycle = cycle;
      const init = await this.#runInit(raw, config);
      if (init.servesHttp && !this.#serves) {
        throw new StartError(
          "the new app serves HTTP but the running one does not: restart to add listeners",
        );
      }
      if (JSON.stringify(config.listen) !== JSON.stringify(this.#config.listen)) {
        this.#log("warn", "reload keeps the listening addresses; restart to change them");
      }
      const slots = makeSlots(config, init.privilegedAgent, this.#slots);
      for (const slot of slots) {
        slot.generation++;
        const spec = slotSpec(slot, config, raw, this.#options.appPath);
        const child = slot.role === "worker" ? this.#start(spec) : this.#children.fork(spec);
        slot.child = child;
        started.push(child);
        this.#logStart(slot, child);
      }
      await Promise.all(started.map((child) => this.#ready(child)));
      const old = this.#slots;
      this.#slots = slots;
      this.#config = config;
      this.#rawConfig = raw;
      for (const slot of slots)
        if (slot.role === "worker" && slot.child !== null) this.#listeners.add(slot.child);
      for (const slot of old) {
        if (slot.respawn !== null) clearTimeout(slot.respawn);
        if (slot.child !== null) this.#retire(slot.child, "graceful");
      }
      this.#broadcastPids();
      this.#log("notice", `reloaded: cycle ${this.#cycle}, ${config.workers} workers`);
      return { ok: true, message: `reloaded (${config.workers} workers)` };
    } catch (error) {
      for (const child of started) this.#retire(child, "fast");
      const message = error instanceof StartError ? error.message : formatThrown(error);
      this.#log("error", `reload failed, the running workers keep serving: ${message}`);
      return {
        ok: false,
        message: `reload failed: ${error instanceof Error ? error.message : String(error)}`,
      };
    } finally {
      this.#endReload();
    }
  }

  /** A stop may have begun while the reload ran; only a master still reloading goes back to running. */
  #endReload(): void {
    if (this.#state === "reloading") this.#state = "running";
  }

  async #readConfig(cycle: number): Promise<unknown> {
    const file = this.#options.configFile;
    const base = file === null ? {} : await loadConfigInput(file, process.cwd(), String(cycle));
    return { ...(base as object), ...this.#options.overrides };
  }

  #retire(child: Child, mode: "graceful" | "fast"): void {
    child.retired = true;
    this.#listeners.remove(child);
    this.#children.send(child, { type: "stop", mode });
  }

  stop(mode: "graceful" | "fast"): void {
    if (this.#state === "stopping") return;
    this.#state = "stopping";
    this.#log("notice", mode === "graceful" ? "gracefully shutting down" : "shutting down");
    for (const slot of this.#slots) if (slot.respawn !== null) clearTimeout(slot.respawn);
    for (const child of this.#children.live) this.#retire(child, mode);
    const bound =
      mode === "fast"
        ? FAST_STOP_BOUND_MS
        : ((this.#config.shutdownTimeout ?? START_SHUTDOWN_TIMEOUT) + 5) * 1000;
    setTimeout(() => {
      if (this.#children.live.length > 0) {
        this.#log("alert", `children still alive after ${bound / 1000} s; killing them`);
        this.#children.killAll();
      }
    }, bound).unref();
    this.#listeners.close();
    if (this.#children.live.length === 0) this.#whenStopped?.();
  }

  async status(): Promise<StatusReport> {
    const now = Date.now();
    const master: ProcessRow = {
      type: "master",
      id: null,
      pid: process.pid,
      state: this.#state === "stopping" ? "draining" : "running",
      generation: this.#cycle,
      uptime: (now - this.#startedAt) / 1000,
      restarts: 0,
      rss: process.memoryUsage.rss(),
      pending: null,
      running: null,
      timers: [],
    };
    const rows = await childRows(this.#children, this.#slots, {
      child: this.#standby,
      booted: this.#standbyBooted,
    });
    return { masterPid: process.pid, processes: [master, ...rows] };
  }

  #installSignals(): void {
    process.on("SIGHUP", () => void this.reload());
    process.on("SIGQUIT", () => {
      this.stop("graceful");
    });
    process.on("SIGTERM", () => {
      this.stop("fast");
    });
    process.on("SIGINT", () => {
      this.stop("fast");
    });
    process.on("SIGUSR1", () => {
      this.#log("notice", "reopening logs");
      try {
        this.#writer.reopen();
      } catch (error) {
        this.#log("alert", `cannot reopen the error log: ${formatThrown(error)}`);
      }
      this.#children.broadcast({ type: "reopen-logs" });
    });
  }
}

/**
 * Runs a master in the foreground until it stops. Prints one ready line on stdout; a start
 * that fails throws (StartError, ConfigError, or the error `init` threw).
 */
export async function runMaster(
  options: MasterOptions,
  rawConfig: unknown,
  config: ResolvedConfig,
): Promise<void> {
  const master = new Master(options, rawConfig, config);
  const stopped = master.stopped();
  // Signals that arrive while starting stop the start.
  const early = (): void => {
    process.exit(1);
  };
  process.once("SIGTERM", early).once("SIGINT", early);
  const ready = await master.start();
  process.off("SIGTERM", early).off("SIGINT", early);
  process.stdout.write(`${ready}\n`);
  await stopped;
}
