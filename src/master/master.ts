/**
 * The master: nginx's master process for Node. It runs no user code: each start and reload
 * loads the config and runs the app's `init` in a short-lived init process (init-process.ts),
 * then the master binds the listening sockets (listeners.ts), forks one worker per slot (ids
 * 0..N-1, slots.ts) and the privileged agent when enabled, and keeps the tree's invariants:
 *
 * - Slots, not counters. A worker that dies for any reason is replaced with the same id and a
 *   new generation; a slot that keeps dying waits longer each time (backoff.ts). While a start or
 *   a reload waits for its workers (a "staging"), a worker that dies before it was ever ready
 *   fails that start or reload with its reason; one that dies after it was ready is respawned.
 * - Reload starts a complete new cycle and only when every new worker accepts tells the old ones
 *   to drain. A reload whose config, `init` or workers fail changes nothing.
 * - Stop: graceful or fast, each child within its budget (config/defaults.ts `stopBudget`),
 *   SIGKILL past it. What each signal does in each state is the table in machine.ts; what TERM
 *   is (a graceful or a fast stop) is the config's `signals.term`.
 * - Under systemd (`Type=notify`) it reports ready, reloading and stopping (notify.ts); as pid 1
 *   it reaps the orphans reparented to it (reaper.ts).
 *
 * The steps of a start and a reload are in cycle.ts, the spare workers (the standby, the early
 * workers) in spares.ts, the children's deadlines in bounds.ts, and what the control socket's
 * requests do in control-requests.ts.
 */
import { constants } from "node:os";
import {
  DEFAULT_CONFIG,
  resolveConfig,
  stopBudget,
  type ResolvedConfig,
  type TermMode,
} from "../config/index.ts";
import { StartError } from "../errors.ts";
import {
  type ControlResponse,
  type InitOutcome,
  type MasterMessage,
  type ProcessRow,
  type StatusReport,
} from "../ipc/index.ts";
import { formatThrown, lineLogger, type LogLevel, type LogSink } from "../util/log.ts";
import { openLogWriter } from "../util/log-file.ts";
import { Logs } from "./logs.ts";
import { prepareLogFile } from "./prefix.ts";
import {
  checkKeptSite,
  checkReload,
  prepareAccount,
  readyLine,
  reloadFailure,
  workerCount,
} from "./cycle.ts";
import { MAX_GROUPS } from "./pipe-groups.ts";
import { nextQuickDeaths, respawnDelay } from "./backoff.ts";
import { describeFault } from "./channel-guard.ts";
import { Children, type Child, type ChildEvents } from "./children.ts";
import { InitProcess } from "./init-process.ts";
import { Listeners } from "./listeners.ts";
import { decide, type MasterInput, type MasterState, type StopMode } from "./machine.ts";
import { controlRequests } from "./control-requests.ts";
import { isSitePrefix, openSiteLogs, spelledAs, takeSite, type Site } from "./site.ts";
import { Notifier } from "./notify.ts";
import { startReaper } from "./reaper.ts";
import { Bounds } from "./bounds.ts";
import { Spares } from "./spares.ts";
import {
  makeSlots,
  pidText,
  childLabel,
  sameSlot,
  slotLabel,
  slotSpec,
  type CycleSpec,
  type Slot,
} from "./slots.ts";
import { Staging } from "./staging.ts";
import { masterRow, statusRows } from "./status.ts";
import { timerRows } from "./timer-rows.ts";
import { isTypeScript } from "../util/loader.ts";
import { Zones, type ZoneHeld, type ZoneSet } from "./zones.ts";
import type { MetricsInput } from "./metrics-render.ts";
import { serveMetrics, type MetricsServer } from "./metrics-server.ts";
import { LoopDelay } from "../util/loop-delay.ts";
import { addonFile, INTERNAL_ZONE, systemCalls } from "../shdict/index.ts";
import { errorMessage } from "../util/error-message.ts";

export interface MasterOptions {
  /** Absolute path of the app module. */
  readonly appPath: string;
  /** Config file (absolute), or null. Read again on every reload. */
  readonly configFile: string | null;
  /** How messages name the config (the path as given, or "config"). */
  readonly configName: string;
  /** Values from command-line flags; they override the file's. */
  readonly overrides: Readonly<Record<string, unknown>>;
}

/** Why an operation ended early: a stop arrived. */
export class Cancelled extends Error {
  override name = "Cancelled";
}

/** Time for the init process to boot and load the app, on top of config.initTimeout. */
const INIT_LOAD_MARGIN_MS = 60_000;
/**
 * At a stop, once every child has exited: how long the master waits for a line on pipes not yet
 * ended (a grandchild that inherited one may hold it open) before it goes without them.
 */
const OUTPUT_QUIET_MS = 500;
/**
 * A reload asked while the master starts or reloads (machine.ts: "queue reload"). Every request
 * queued before it runs is this one reload; each asker awaits `outcome`: how it ended, or that a
 * stop came before it ran.
 */
interface QueuedReload {
  readonly outcome: Promise<ControlResponse>;
  readonly settle: (response: ControlResponse) => void;
}

export class Master {
  readonly #options: MasterOptions;
  #state: MasterState = "starting";
  #stopMode: StopMode | null = null;
  /** The start or reload in progress; a stop aborts it. */
  #operation: AbortController | null = null;
  /** The reload asked while a start or another reload runs; it runs once that one ends. */
  #queued: QueuedReload | null = null;
  #cycles = 0;
  #current: CycleSpec | null = null;
  #slots: Slot[] = [];
  #staging: Staging | null = null;
  #init: InitProcess | null = null;
  /** The last generation given to each slot (by role and id), whichever cycle it was for. */
  readonly #generations = new Map<string, number>();

  #serves = false;
  readonly #logs = new Logs(openLogWriter(null), openLogWriter(null, "stdout"));
  /** What the control socket's requests do (control-requests.ts). */
  readonly #control = controlRequests({
    reload: () => this.reload(),
    input: (input) => {
      this.input(input);
    },
    stopMode: () => this.#stopMode,
    status: () => this.status(),
    logs: this.#logs,
    workers: () =>
      this.#current === null
        ? null
        : Math.max(this.#current.config.workers, this.#staging?.cycle.config.workers ?? 0),
  });
  /** The log level of the running config (notice until a config is read). */
  #logLevel: LogLevel = "notice";
  /** What SIGTERM means in the running config (the default until a config is read). */
  #termMode: TermMode = DEFAULT_CONFIG.signals.term;
  readonly #notifier: Notifier | null;
  readonly #stopReaper: (() => void) | null;
  readonly #log: LogSink;
  /** Why the start failed, for the error log alone (Logs.ownToErrorLog). */
  readonly #failureLog: LogSink;
  readonly #children: Children;
  /** The standby and the early workers (spares.ts). */
  readonly #spares: Spares;
  /** The deadlines of stops, respawns and standbys given a slot (bounds.ts). */
  readonly #bounds: Bounds;
  readonly #listeners: Listeners;
  readonly #zones = new Zones();
  /** Whether a live child was given `zone` (it may not have mapped it yet: zones.ts). */
  readonly #held: ZoneHeld = (zone) =>
    this.#children.live.some((child) => child.spec?.zones.some((ref) => ref.fd === zone.fd) === true);
  /** The `/metrics` server (config `metrics` at first start), kept for the master's life. */
  #metrics: MetricsServer | null = null;
  #lag: LoopDelay | null = null;

  readonly #startedAt = Date.now();
  #site: Site | null = null;
  /** The provisional site the first start left (#settleSite): its open connections are served to the end. */
  #left: Site | null = null;
  /** What followers of the logs are told at the stop (when the start failed: why), or the default. */
  #farewell: ControlResponse | undefined = undefined;
  #whenStopped: () => void = () => undefined;
  /** Every child has exited at a stop: what they wrote is being read to its end. */
  #ending = false;
  readonly #stopped: Promise<void>;

  constructor(options: MasterOptions) {
    this.#options = options;
    this.#log = lineLogger({
      write: (line) => {
        this.#logs.own(line);
      },
      pid: process.pid,
      workerId: () => null,
      minLevel: () => this.#logLevel,
    });
    this.#failureLog = lineLogger({
      write: (line) => {
        this.#logs.ownToErrorLog(line);
      },
      pid: process.pid,
      workerId: () => null,
    });
    this.#stopped = new Promise((resolve) => {
      this.#whenStopped = resolve;
    });
    this.#children = new Children(this.#childEvents());
    this.#bounds = new Bounds(this.#children, this.#log);
    this.#spares = new Spares(
      this.#children,
      this.#log,
      () =>
        (this.#state === "running" || this.#state === "reloading") && this.#current?.config.standby !== false,
    );
    if ([options.appPath, options.configFile ?? ""].some(isTypeScript)) this.#children.preloadTypeScript();
    this.#listeners = new Listeners();
    this.#notifier = Notifier.fromEnvironment(process.env, this.#log);
    this.#stopReaper = startReaper(() => this.#children.live.map((child) => child.pid), this.#log);
    // A descriptor `tsresty start` was given (a root-only file open in the shell, a pipe of the
    // service manager's) must not reach workers that drop to config.user, nor any other child:
    // what a child needs, the master hands it explicitly.
    const failed = systemCalls().closeOnExecFrom(3);
    if (failed !== 0)
      this.#log("warn", `cannot keep inherited descriptors from the children (errno ${failed})`);
  }

  /** What the master does when a child stands by, is ready, writes a line, exits (children.ts). */
  #childEvents(): ChildEvents {
    return {
      standingBy: (child) => {
        this.#spares.standingBy(child);
        if (child === this.#init?.child) this.#init.deliver({ type: "standing-by" });
        else if (child.spec !== null && !child.retired) this.#children.assume(child, child.spec);
      },
      ready: (child) => {
        this.#bounds.readied(child);
        if (this.#isServing(child)) this.#rotate(child);
        this.#broadcastPids();
        this.#staging?.check();
      },
      exiting: (child, mode) => {
        this.#log("notice", `${childLabel(child)} is exiting ${mode === "fast" ? "(fast)" : "gracefully"}`);
        this.#children.send(child, { type: "stop", mode });
        // An exit of its own has the budget of a stop the master asks for: a child whose exitWorker
        // or drain blocks its event loop (or that is stopped) held its slot for good, never
        // respawned. One the master retired keeps the bound of its stop.
        if (!child.retired)
          this.#bounds.stop(child, stopBudget(mode, child.shutdownTimeout), `its own ${mode} exit began`);
      },
      message: (child, message) => {
        if (child === this.#init?.child) this.#init.deliver(message);
      },
      output: (child, stream, line, continued) => {
        this.#logs.fromChild(child.pid, child.spec?.workerId ?? null, stream, line, continued);
      },
      congested: () => this.#logs.congested(),
      pipeGroupsFull: (child) => {
        this.#log(
          "warn",
          `${childLabel(child)} runs more than ${MAX_GROUPS} process groups through ngx.pipe: the master does not record the rest, and does not end them if the process is killed (SIGKILL)`,
        );
      },
      channelFault: (child, fault) => {
        this.#log("alert", `${childLabel(child)} ${describeFault(fault)}: killing it (SIGKILL)`);
      },
      exited: (child, code, signal) => {
        this.#onExit(child, code, signal);
      },
    };
  }

  get log(): LogSink {
    return this.#log;
  }

  /** Resolves once every child has exited after a stop. */
  stopped(): Promise<void> {
    return this.#stopped;
  }

  /** What a signal or a control request asks for, as machine.ts's table says. */
  input(input: MasterInput): void {
    switch (decide(this.#state, this.#stopMode, input)) {
      case "reload":
        void this.reload();
        return;
      case "queue reload":
        void this.#queueReload();
        return;
      case "stop":
        this.stop("graceful");
        return;
      case "fast":
        this.stop("fast");
        return;
      case "escalate":
        this.#escalate();
        return;
      case "reopen":
        this.#reopen();
        return;
      case "ignore":
        return;
    }
  }

  /** SIGTERM: a graceful or a fast stop, as the config's `signals.term` says. */
  term(): void {
    this.input(this.#termMode === "graceful" ? "stop" : "fast");
  }

  /** Starts the tree; resolves with the ready line. Throws when the start fails or is cancelled. */
  async start(): Promise<string> {
    const operation = this.#begin();
    try {
      await this.#takeFirstSite();
      if (operation.signal.aborted) throw operation.signal.reason as Error;
      // The init process first: the start waits on its path (config, app, init); the workers only boot.
      const { cycle, outcome } = await this.#loadCycle(operation.signal, () => {
        this.#spares.forkEarly(this.#options.overrides["workers"]);
      });
      this.#zones.commit(cycle.zones, this.#log, this.#held);
      if (outcome.servesHttp) await this.#listen(cycle.config.listen);
      this.#serves = outcome.servesHttp;
      if (cycle.config.metrics !== null) await this.#serveMetrics(cycle.config.metrics);
      const slots = makeSlots(cycle.config, outcome.privilegedAgent);
      this.#slots = slots;
      await this.#stage(slots, cycle, operation.signal);
      this.#staging = null;
      this.#current = cycle;
      this.#logLevel = cycle.config.logLevel;
      for (const slot of slots) if (slot.child !== null && slot.role === "worker") this.#rotate(slot.child);
      this.#state = "running";
      this.#notifier?.ready(workerCount(cycle.config.workers));
      this.#spares.replenish();
      this.#runQueued();
      return readyLine(
        cycle.config,
        slots.some((slot) => slot.role !== "worker"),
        this.#serves ? this.#listeners.addresses : null,
        this.#metrics?.address ?? null,
      );
    } finally {
      // (a queued reload begun above has its own operation now: a stop must still abort it)
      if (this.#operation === operation) this.#operation = null;
      this.#spares.releaseEarly();
    }
  }

  /** At start, for an app that serves HTTP: the listening sockets (a reload keeps them). */
  #listen(addresses: ResolvedConfig["listen"]): Promise<void> {
    return this.#listeners.listen(addresses).catch((error: unknown) => {
      throw new StartError(errorMessage(error));
    });
  }

  /** At start, when the config asks for it: the `/metrics` server (a reload keeps it). */
  async #serveMetrics(address: NonNullable<ResolvedConfig["metrics"]>): Promise<void> {
    this.#metrics = await serveMetrics(
      address,
      () => this.#scrape(),
      (error) => {
        this.#log("alert", `metrics scrape failed: ${formatThrown(error)}`);
      },
    );
    this.#lag = new LoopDelay();
  }

  /**
   * Reloads, and resolves with how it ended. Asked while the master starts or reloads, it is
   * queued and resolves with the outcome of the reload that then carries it out.
   */
  async reload(): Promise<ControlResponse> {
    const action = decide(this.#state, this.#stopMode, "reload");
    if (action === "queue reload") return this.#queueReload();
    if (action !== "reload") return { ok: false, message: `cannot reload while ${this.#state}` };
    this.#state = "reloading";
    this.#log("notice", "reconfiguring");
    this.#notifier?.reloading();
    const operation = this.#begin();
    let staged: Slot[] = [];
    let loaded: CycleSpec | null = null;
    let moved = false;
    try {
      const { cycle, outcome } = await this.#loadCycle(operation.signal);
      loaded = cycle;
      checkReload(this.#current?.config, cycle.config, this.#serves, outcome.servesHttp, this.#log);
      moved = this.#pauseClusterClaims(cycle.config);
      staged = makeSlots(cycle.config, outcome.privilegedAgent);
      await this.#stage(staged, cycle, operation.signal);
      this.#staging = null;
      this.#switchTo(staged, cycle);
      this.#log("notice", `reloaded: cycle ${cycle.cycle}, ${workerCount(cycle.config.workers)}`);
      return { ok: true, message: `reloaded (${workerCount(cycle.config.workers)})` };
    } catch (error) {
      this.#abandon(staged);
      if (loaded !== null) this.#zones.abandon(loaded.zones, this.#held);
      if (moved) this.#sendToRunning({ type: "cluster-claims", on: true });
      if (error instanceof Cancelled)
        return { ok: false, message: "reload cancelled: the master is stopping" };
      return reloadFailure(error, staged.length > 0, this.#log);
    } finally {
      if (this.#operation === operation) this.#operation = null;
      // (read through #now(): a stop may have changed the state while the reload awaited)
      if (this.#now() === "reloading") {
        this.#state = "running";
        // Done or failed, a generation serves again: systemd waits for READY=1 after RELOADING=1.
        this.#notifier?.ready(workerCount(this.#current?.config.workers ?? 0));
      }
      if (this.#now() === "running") this.#runQueued();
    }
  }

  /** Queues a reload (or joins the one queued); resolves with how it ended. */
  #queueReload(): Promise<ControlResponse> {
    if (this.#queued === null) {
      let settle: QueuedReload["settle"] = () => undefined;
      const outcome = new Promise<ControlResponse>((resolve) => {
        settle = resolve;
      });
      this.#queued = { outcome, settle };
    }
    return this.#queued.outcome;
  }

  /** The start or reload in progress has ended, and the master runs: the queued reload begins. */
  #runQueued(): void {
    const queued = this.#queued;
    if (queued === null) return;
    this.#queued = null;
    void this.reload().then(queued.settle);
  }

  /**
   * Stops the tree. `failure`: why the start failed, for the cleanup after it: its error says it
   * on stderr (no line is logged there), an error log that is a file gets it as an `[emerg]` line,
   * and a `tsresty logs -f` that follows the start is told it at the end.
   */
  stop(mode: StopMode, failure: string | null = null): void {
    if (this.#state === "stopping") return;
    this.#state = "stopping";
    if (failure !== null) {
      this.#farewell = { ok: false, message: `the master stopped: its ${failure}` };
      this.#failureLog("emerg", failure);
    }
    this.#stopMode = mode;
    // An operator's stop is no failure; a start that failed says why to those who waited on it.
    const why = failure === null ? "" : `: its ${failure}`;
    this.#queued?.settle({
      ok: false,
      message: `reload cancelled: the master stopped before the queued reload ran${why}`,
    });
    this.#queued = null;
    this.#notifier?.stopping();
    if (failure === null)
      this.#log("notice", mode === "graceful" ? "gracefully shutting down" : "shutting down");
    this.#operation?.abort(new Cancelled(`stopping (${mode})`));
    for (const slot of [...this.#slots, ...(this.#staging?.slots ?? [])]) this.#clearRespawn(slot);
    for (const child of this.#children.live) this.#retire(child, mode);
    this.#listeners.close();
    // The /metrics server stays until the last child is gone: a graceful stop's drain (up to
    // shutdownTimeout) is scraped like any other moment.
    this.#checkStopped();
  }

  async status(): Promise<StatusReport> {
    const master = this.#masterRow(Date.now());
    const slots = [...this.#slots, ...(this.#staging?.slots ?? [])];
    const { rows, stats } = await statusRows(this.#children, slots, "status", this.#spares.early);
    return {
      masterPid: process.pid,
      listen: this.#listeners.addresses,
      processes: [master, ...rows],
      zones: this.#zones.stats(),
      timers: timerRows(stats),
    };
  }

  /** The master's own row of `status` and `/metrics`. */
  #masterRow(now: number): ProcessRow {
    return masterRow(this.#state, this.#current?.cycle ?? 0, this.#startedAt, now);
  }

  /** What one `/metrics` page shows: a status round of every process (status.ts). */
  async #scrape(): Promise<MetricsInput> {
    const slots = [...this.#slots, ...(this.#staging?.slots ?? [])];
    const { rows, counts, probes } = await statusRows(this.#children, slots, "metrics", this.#spares.early);
    const now = Date.now();
    const master = this.#masterRow(now);
    probes.set(process.pid, { lag: this.#lag?.read() ?? null, pipes: 0, http: null });
    return {
      processes: [master, ...rows],
      probes,
      timers: counts,
      slots: this.#slots.map((slot) => ({ type: slot.role, worker: slot.id, restarts: slot.restarts })),
      zones: this.#zones.stats(),
      cycle: this.#current?.cycle ?? 0,
      now,
    };
  }

  #now(): MasterState {
    return this.#state;
  }

  #begin(): AbortController {
    const operation = new AbortController();
    this.#operation = operation;
    if (this.#state === "stopping") operation.abort(new Cancelled("stopping"));
    return operation;
  }

  /**
   * One init process: the config, what the master must do first, then `init`. `forked` runs once
   * the init process is forked.
   */
  async #loadCycle(
    signal: AbortSignal,
    forked?: () => void,
  ): Promise<{ cycle: CycleSpec; outcome: InitOutcome }> {
    const number = this.#cycles + 1;
    const request = { ...this.#options, cycle: number, addon: addonFile() };
    const init = new InitProcess(this.#children, request, signal);
    forked?.();
    this.#init = init;
    let zones: ZoneSet | null = null;
    try {
      const raw = await init.config();
      const config = resolveConfig(raw, this.#options.configName);
      const site = await this.#settleSite(config);
      const account = prepareAccount(config, site.prefix, this.#log);
      zones = this.#prepareZones(config);
      const outcome = await init.run(Zones.refs(zones.zones), config.initTimeout * 1000, INIT_LOAD_MARGIN_MS);
      this.#cycles = number;
      const cycle: CycleSpec = {
        cycle: number,
        config,
        rawConfig: raw,
        appPath: this.#options.appPath,
        prefix: site.prefix,
        initData: outcome.initData,
        account,
        zones,
      };
      return { cycle, outcome };
    } catch (error) {
      init.kill();
      if (zones !== null) this.#zones.abandon(zones, this.#held);
      throw signal.aborted ? (signal.reason as Error) : error;
    } finally {
      this.#init = null;
    }
  }

  /**
   * The site from the master's start, before the config is read (site.ts): at --prefix, which no
   * config overrides; without the flag at the default prefix, provisionally (the config may name
   * another: #settleSite moves the site there). A provisional site that cannot be taken (another
   * master's, or unusable here) waits for the config instead.
   */
  async #takeFirstSite(): Promise<void> {
    const given = this.#options.overrides["prefix"];
    const final = typeof given === "string";
    try {
      this.#site = await this.#takeSite(final ? given : DEFAULT_CONFIG.prefix);
    } catch (error) {
      if (final) throw error;
    }
  }

  /**
   * At the first start, the site at the prefix the config names (the one taken at the master's
   * start, or a new one, the provisional one left), and the config's logs, which take the
   * master's lines and the children's output; a reload keeps both. The site taken at the start
   * may be the config's prefix under another name (`run`, a link to `.tsresty`): its prefix is
   * then spelled as the config names it, as a --prefix flag's is.
   */
  async #settleSite(config: ResolvedConfig): Promise<Site> {
    let site = this.#site;
    if (site !== null && this.#current !== null) {
      checkKeptSite(this.#current.config, config, this.#log);
      return site;
    }
    if (site === null || !isSitePrefix(site, config.prefix)) {
      this.#site = null;
      site?.leave();
      this.#left = site;
      site = await this.#takeSite(config.prefix);
    } else {
      site = spelledAs(site, config.prefix);
    }
    this.#site = site;
    const logs = openSiteLogs(config);
    this.#logs.use(logs.errorLog, logs.outputLog);
    this.#logLevel = config.logLevel;
    this.#termMode = config.signals.term;
    return site;
  }

  /** Takes the site at `prefix`; one taken after a stop released the master's is released at once. */
  async #takeSite(prefix: string): Promise<Site> {
    const site = await takeSite(prefix, this.#control, this.#log);
    if (this.#ending) site.release();
    return site;
  }

  /** The zones a config declares (zones.ts), made before anything of the cycle runs. */
  #prepareZones(config: ResolvedConfig): ZoneSet {
    try {
      return this.#zones.prepare([...config.shdict, INTERNAL_ZONE]);
    } catch (error) {
      throw new StartError(errorMessage(error), { cause: error });
    }
  }

  /** Launches every slot and resolves once each has a ready process (staging.ts). */

  #stage(slots: readonly Slot[], cycle: CycleSpec, signal: AbortSignal): Promise<void> {
    const staging = new Staging(slots, cycle);
    this.#staging = staging;
    // On success the staging stays until the caller has switched to its slots (no gap in which a
    // dying process would belong to no cycle); on failure it goes at once.
    return staging
      .wait(signal, () => {
        for (const slot of slots) this.#launch(slot, cycle);
      })
      .catch((error: unknown) => {
        if (this.#staging === staging) this.#staging = null;
        throw error;
      });
  }

  /** A failed or cancelled start or reload: its processes stop (fast), its respawns are forgotten. */
  #abandon(slots: readonly Slot[]): void {
    for (const slot of slots) {
      this.#clearRespawn(slot);
      if (slot.child !== null) this.#retire(slot.child, "fast", "its start or reload failed");
    }
  }

  /**
   * When the reload moves the coordinator (another Redis, or another keyPrefix), the running
   * generation stops claiming cluster ticks before the next one starts: the two would claim the
   * same ticks in two places and both win (each ran twice while they overlapped). Ticks due until
   * the next generation is ready are then missed instead. Whether it did.
   */
  #pauseClusterClaims(next: ResolvedConfig): boolean {
    const running = this.#current?.config.coordinator ?? null;
    const coordinator = next.coordinator;
    if (running === null || coordinator === null) return false;
    if (running.url === coordinator.url && running.keyPrefix === coordinator.keyPrefix) return false;
    this.#log(
      "notice",
      "reload moves the coordinator: the running processes stop claiming cluster ticks now, and ticks due until the new ones are ready are missed (none runs twice)",
    );
    this.#sendToRunning({ type: "cluster-claims", on: false });
    return true;
  }

  /** Sends `message` to the processes of the running generation. */
  #sendToRunning(message: MasterMessage): void {
    for (const slot of this.#slots) if (slot.child !== null) this.#children.send(slot.child, message);
  }

  /** A reload's new cycle takes over: its workers enter rotation and the old ones drain. */
  #switchTo(slots: Slot[], cycle: CycleSpec): void {
    const old = this.#slots;
    this.#zones.commit(cycle.zones, this.#log, this.#held);

    // The counts carry over now, not when the reload began: the old processes may have died since.
    for (const slot of slots) slot.restarts += old.find((o) => sameSlot(o, slot))?.restarts ?? 0;
    this.#slots = slots;
    this.#current = cycle;
    this.#logLevel = cycle.config.logLevel;
    this.#termMode = cycle.config.signals.term;
    for (const slot of slots) if (slot.child !== null && slot.role === "worker") this.#rotate(slot.child);
    for (const slot of old) {
      this.#clearRespawn(slot);
      if (slot.child !== null) this.#retire(slot.child, "graceful", "the reload that replaced it");
    }
    this.#broadcastPids();
  }

  /** Starts the process of `slot`: the booted standby when there is one (milliseconds), else a fork. */
  #launch(slot: Slot, cycle: CycleSpec): Child {
    slot.generation = this.#nextGeneration(slot);
    slot.respawnAt = null;
    const spec = slotSpec(slot, cycle);
    const standby = slot.role === "worker" ? this.#spares.take() : null;
    const child = standby ?? this.#children.fork(slot.role);
    child.startedAt = Date.now();
    child.spec = spec;
    child.shutdownTimeout = cycle.config.shutdownTimeout;
    // A worker still booting is given its spec when it says "standing-by", as a fresh fork is.
    if (standby?.phase === "standing-by") {
      this.#children.assume(child, spec);
      this.#bounds.assume(child);
    }
    slot.child = child;
    const id = slot.id === null ? "" : `id ${slot.id}, `;
    this.#log(
      "notice",
      `start ${slot.role} process${pidText(child.pid)} (${id}generation ${slot.generation})`,
    );
    return child;
  }

  /** The slot's next generation: one more than any process of this slot had, in any cycle. */
  #nextGeneration(slot: Slot): number {
    const key = `${slot.role} ${slot.id ?? ""}`;
    const next = (this.#generations.get(key) ?? 0) + 1;
    this.#generations.set(key, next);
    return next;
  }

  #onExit(child: Child, code: number | null, signal: string | null): void {
    this.#bounds.exited(child);
    this.#zones.sweep(this.#held);
    const how = this.#howExited(child, code, signal);
    this.#logs.forget(child.pid);
    // An early worker let go, or the standby.
    if (this.#spares.exited(child, how, this.#state === "stopping")) {
      this.#checkStopped();
      return;
    }
    if (child.kind === "init") {
      // Only the current init process's exit is news: the previous one (a start's, whose answer
      // is in) may exit after a reload has forked the next.
      if (child === this.#init?.child) this.#init.deliver({ type: "exit", how });
      this.#checkStopped();
      return;
    }
    this.#broadcastPids();
    const found = this.#slotOf(child);
    const label = childLabel(child);
    if (found === null || child.retired || this.#state === "stopping") {
      this.#log("notice", `${label} ${how}`);
      if (found !== null) found.slot.child = null;
      this.#checkStopped();
      return;
    }
    const { slot, cycle, staged } = found;
    slot.child = null;
    if (staged && child.readyAt === null) {
      // Killed by its assume bound (bounds.ts), it failed the reload: its app never ran.
      if (this.#bounds.unanswered(child)) {
        this.#log("notice", `${label} ${how}; its slot starts again`);
        this.#launch(slot, cycle);
        return;
      }
      this.#log("alert", `${label} ${how} before it was ready`);
      this.#staging?.fail(child.failure?.reason ?? `${label} ${how} before it was ready`);
      return;
    }
    const intended = child.announcedExit !== null && code === 0;
    this.#log(intended ? "notice" : "alert", `${label} ${how}`);
    if (!intended) slot.restarts++;
    this.#respawn(slot, cycle, child, intended);
  }

  /** How a child's exit is said ("exited with code 1"); a fork that failed is an alert of its own. */
  #howExited(child: Child, code: number | null, signal: string | null): string {
    const forkFailed = child.pid === -1;
    if (forkFailed) {
      const article = child.kind === "init" ? "an" : "a";
      this.#log(
        "alert",
        `cannot fork ${article} ${child.kind} process: ${child.failure?.reason ?? "unknown error"}`,
      );
    }
    return forkFailed
      ? "could not be forked"
      : signal === null
        ? `exited with code ${code ?? "?"}`
        : `exited on signal ${signalNumber(signal)}`;
  }

  /**
   * The slot of `child`, which died (or exited on its own: `intended`) while it served, gets a new
   * process: at once, or after a backoff when the slot keeps dying (backoff.ts).
   */
  #respawn(slot: Slot, cycle: CycleSpec, child: Child, intended: boolean): void {
    // An exit the child announced is no crash, but one at every start (signalGracefulExit in
    // initWorker) backs off as a crash loop does: the master never spins.
    slot.quickDeaths = nextQuickDeaths(slot.quickDeaths, Date.now() - child.startedAt);
    const delay = respawnDelay(slot.quickDeaths, child.readyAt !== null);
    if (delay > 0)
      this.#log(
        "warn",
        `${slotLabel(slot)} keeps ${intended ? "exiting" : "dying"}; respawning it in ${delay} ms`,
      );
    slot.respawnAt = Date.now() + delay;
    const respawn = (): void => {
      slot.respawn = null;
      if (this.#state === "stopping" || slot.child !== null || this.#slotOwner(slot) === null) return;
      this.#bounds.ready(this.#launch(slot, cycle));
    };
    // Without backoff, at once: a timer would add a turn of the event loop (a millisecond or more).
    if (delay === 0) respawn();
    else slot.respawn = setTimeout(respawn, delay);
  }

  /** The slot a child fills, in the serving cycle or in the one being staged. */
  #slotOf(child: Child): { slot: Slot; cycle: CycleSpec; staged: boolean } | null {
    const staging = this.#staging;
    const stagedSlot = staging?.slots.find((s) => s.child === child);
    if (staging !== null && stagedSlot !== undefined)
      return { slot: stagedSlot, cycle: staging.cycle, staged: true };
    const slot = this.#slots.find((s) => s.child === child);
    return slot === undefined || this.#current === null
      ? null
      : { slot, cycle: this.#current, staged: false };
  }

  /** Whether `slot` still belongs to a cycle the master runs (a replaced cycle's slots do not). */
  #slotOwner(slot: Slot): readonly Slot[] | null {
    if (this.#slots.includes(slot)) return this.#slots;
    return this.#staging?.slots.includes(slot) === true ? this.#staging.slots : null;
  }

  /** A worker of the serving cycle enters rotation: it gets the listening sockets and accepts. */
  #rotate(child: Child): void {
    if (this.#serves && this.#listeners.take(child)) this.#children.listen(child, this.#listeners.handles);
  }

  #isServing(child: Child): boolean {
    return (
      child.spec?.role === "worker" && this.#current !== null && this.#slots.some((s) => s.child === child)
    );
  }

  #clearRespawn(slot: Slot): void {
    if (slot.respawn !== null) clearTimeout(slot.respawn);
    slot.respawn = null;
    slot.respawnAt = null;
  }

  /**
   * Tells a child to stop; SIGKILLs it if it is still there past its budget, saying `why` it was
   * told (a stop, or the reload that replaced it).
   */
  #retire(child: Child, mode: StopMode, why = `a ${mode} stop`): void {
    child.retired = true;
    // The init process and a blank standby hold nothing that a stop must finish.
    if (child.kind === "init" || child.spec === null) {
      this.#children.kill(child, "SIGKILL");
      return;
    }
    this.#children.send(child, { type: "stop", mode });
    this.#bounds.stop(child, stopBudget(mode, child.shutdownTimeout), why);
  }

  #escalate(): void {
    this.#stopMode = "fast";
    this.#log("notice", "shutting down (fast, escalated)");
    for (const child of this.#children.live) this.#retire(child, "fast");
  }

  #checkStopped(): void {
    if (this.#state !== "stopping" || this.#children.live.length > 0 || this.#ending) return;
    this.#ending = true;
    this.#stopReaper?.();
    this.#metrics?.close();
    this.#metrics = null;
    this.#lag?.close();
    this.#site?.release(this.#farewell);
    this.#left?.release(this.#farewell);
    void this.#children.outputEnded(OUTPUT_QUIET_MS).then(this.#whenStopped);
  }

  #reopen(): void {
    this.#log("notice", "reopening logs");
    // The access log is made anew here first, and given to the workers' account: a worker that
    // dropped root could not create it in a directory of root's after a rotation.
    const current = this.#current;
    if (current !== null && current.config.accessLog !== null) {
      try {
        prepareLogFile("access log", current.config.accessLog.path, current.account);
      } catch (error) {
        this.#log("alert", `cannot reopen the access log: ${(error as Error).message}`);
      }
    }
    // The workers' access logs too (they ignore USR1 themselves: the master hears it).
    this.#children.broadcast({ type: "reopen" });
    // One line each, as the workers say theirs: a file system's refusal, not a bug with a stack.
    for (const failure of this.#logs.reopen()) this.#log("alert", failure);
  }

  #broadcastPids(): void {
    const pids = this.#children.live
      .filter((c) => c.spec?.role === "worker" && !c.retired && c.phase !== "booting")
      .map((c) => c.pid);
    this.#children.broadcast({ type: "pids", pids });
  }
}

function signalNumber(signal: string): string {
  const signals: Partial<Record<string, number>> = constants.signals;
  return String(signals[signal] ?? signal);
}
