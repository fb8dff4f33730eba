/**
 * The timer core: OpenResty's `ngx.timer` semantics over one host timer.
 *
 * Storage. Timers live in lists, one per delay (and one per `every` interval), each sorted by
 * due time; a binary heap orders the lists by their heads. Creating an `at` timer is an append
 * plus a comparison with the armed wake-up, so a million pending timers cost about what Node's
 * own `setTimeout` costs. Due times are whole milliseconds of the injected clock; ties between
 * equal due times go to the timer created first (`seq`).
 *
 * Firing. One host timer (or an immediate, for timers already due) calls `#dispatch`, which
 * fires every timer due at that moment in (due, seq) order. Timers created during a dispatch
 * wait for the next one, so a callback that re-arms `at(0)` cannot starve I/O, and the creating
 * code always finishes before a zero-delay timer runs.
 *
 * Counting. A timer is pending from creation until it starts (a timer queued for a running
 * slot is still pending), and running from the call of its callback until the returned promise
 * settles. `every` re-arms before its callback runs, as OpenResty does, but on a fixed grid
 * (`t0 + n·interval`): a tick that fell wholly behind is skipped, never burst.
 *
 * Two clocks. Due times are monotonic milliseconds. Wall-clock timers (`every` with
 * `align: "epoch"`, singleton and cron timers) have ticks in epoch ms (`repeat.tick`: tick n of
 * an interval at n·interval, or croner's occurrences), converted to a monotonic due time when
 * armed and recomputed from the wall clock at each tick: a wall-clock step moves the grid and
 * never bursts it, and a step back never repeats a tick (the next tick follows the last one).
 * Waits longer than `setTimeout` allows are armed in steps of at most 2^31-1 ms.
 *
 * Singletons. At a singleton tick the core asks the gate of its kind (`gate.ts`) whether the
 * tick runs here; the next tick is armed first, so a slow gate never delays the grid. Premature
 * calls are not gated: every process holding the timer gets its one premature call.
 *
 * Names and statistics. A repeating timer owns its name in the process; figures are kept per
 * name, and together for unnamed timers (`names.ts`, `stats.ts`), never per `at` entry.
 *
 * Limits. Past `maxPending`, creation throws "too many pending timers". Past `maxRunning`, a
 * due timer waits for a free slot ("wait") or is dropped with an alert and ends in state
 * "dropped" ("drop", OpenResty's way). That half lives in `runner.ts`: waiting runs sit in a
 * ring (`run-queue.ts`) whose memory follows its length, a waiting entry points at its record
 * so `cancel()` is O(1), and freed slots are refilled by a loop, never by recursion.
 *
 * Settling. Whatever a callback returns goes through one path (`invoke.ts`) that ends the run
 * exactly once: a primitive at once, anything else through `Promise.resolve`, so a thenable
 * that throws or calls back twice cannot crash the process or skew the counts.
 *
 * Exit. `beginExit()` fires every pending timer with a delay once, at once, with
 * premature = true, in due order; repeating timers stop; new timers with a delay throw "process
 * exiting", while zero-delay ones still run normally (later, not inside `beginExit`). It never
 * walks a snapshot while user code runs: it takes the earliest timer from the live heap, starts
 * it, and looks again, as `#dispatch` does, so a premature callback may cancel a sibling. Runs
 * still waiting for a slot when exit begins become premature and keep their place. An
 * `overlap: false` timer that is running when exit begins is owed its premature call, which is
 * queued when the current run settles (it stays pending until then). A singleton tick whose claim
 * is out when exit begins was due before it: when the claim is won it runs normally, and
 * `whenIdle()` waits for the answer, since no other process will run that tick. `whenIdle()`
 * resolves when nothing is pending, running or being claimed, which is when a process may run
 * its exit hooks.
 */
import { debuglog } from "node:util";
import { InvalidArgTypeError, TimerError } from "../errors.ts";
import { MAX_WAIT_MS, type Cancel, type Clock } from "../util/clock.ts";
import type { LogSink } from "../util/log.ts";
import { callbackKind, currentRun, scheduleOutsideRuns, TICK_BASE, type TimerRun } from "./current.ts";
import { TimerEntry, type Timer, type TimerCallback, type TimerOwner } from "./entry.ts";
import { GateKeeper, type TimerGates } from "./gate.ts";
import { creationSite, timerLabel } from "./label.ts";
import { TimerRegistry } from "./names.ts";
import { atSchedule, cronSchedule, everySchedule, toTimerDelayMs, type RepeatSpec } from "./options.ts";
import { makeRepeat, nextWallTick, recordShape, type Repeat } from "./repeat.ts";
import { Runner, type RunningLimitPolicy, type WaitQueueFigures } from "./runner.ts";
import { SingletonTicks } from "./singleton.ts";
import { TimerStore } from "./store.ts";
import type { TimerCounts, TimerRecord, TimerStats } from "./stats.ts";

const debug = debuglog("tsresty:timer");

export interface TimerLimits {
  readonly maxPending: number;
  readonly maxRunning: number;
  readonly runningLimit: RunningLimitPolicy;
}

export interface TimerSystemOptions extends TimerLimits {
  readonly clock: Clock;
  readonly log: LogSink;
  /** The gates of singleton timers; a singleton kind without one cannot be created. */
  readonly gates?: TimerGates;
}

/**
 * A run's due time in epoch ms − TICK_BASE: its tick for wall-clock timers, its due time (`due`,
 * monotonic) moved by `offset` (wall − monotonic − TICK_BASE) otherwise.
 */
const tickOf = (repeat: Repeat | null, due: number, offset: number): number =>
  repeat !== null && repeat.wall ? repeat.tick - TICK_BASE : Math.round(due + offset);

const isOver = (entry: TimerEntry): boolean =>
  entry.status === "cancelled" ||
  (entry.runs === 0 && (entry.status === "done" || entry.status === "dropped"));

export class TimerSystem implements TimerOwner {
  readonly #clock: Clock;
  readonly #limits: TimerLimits;
  readonly #store = new TimerStore();
  readonly #runner: Runner;
  readonly #names = new TimerRegistry();
  readonly #gates: GateKeeper;
  readonly #singletons: SingletonTicks;
  /** Creation sites, kept only under the "drop" policy, for the alert that names a dropped timer. */
  readonly #sites: WeakMap<TimerEntry, string> | null;
  /** Timers in the lists; the runner counts the other pending ones. */
  #scheduled = 0;
  #seq = 0;
  #exiting = false;
  #destroyed = false;
  #wakeAt = Infinity;
  #cancelWake: Cancel | null = null;
  #idleWaiters: (() => void)[] = [];

  constructor(options: TimerSystemOptions) {
    this.#clock = options.clock;
    this.#limits = {
      maxPending: options.maxPending,
      maxRunning: options.maxRunning,
      runningLimit: options.runningLimit,
    };
    this.#gates = new GateKeeper(options.gates ?? {}, options.log);
    this.#singletons = new SingletonTicks(this.#gates, {
      canRun: (entry) => !this.#destroyed && entry.status !== "cancelled",
      canStart: (entry) => this.#runner.canStart(entry),
      claimEnded: () => {
        this.#checkIdle();
      },
      run: (entry, due, tick) => {
        this.#runner.start(entry, false, due, tick - TICK_BASE, Math.floor(this.#clock.now()));
        this.#checkIdle();
      },
      wallNow: () => this.#clock.wallNow(),
    });
    const sites = options.runningLimit === "drop" ? new WeakMap<TimerEntry, string>() : null;
    this.#sites = sites;
    const names = this.#names;
    this.#runner = new Runner({
      maxRunning: options.maxRunning,
      runningLimit: options.runningLimit,
      log: options.log,
      clock: options.clock,
      dropLabel: (entry) => timerLabel(entry, sites?.get(entry)),
      names,
      settled: (entry, premature, tick, failed) => {
        const name = entry.name;
        if (name !== undefined) {
          // Only named timers are singletons, or have a name to let go of.
          const singleton = entry.repeat?.singleton;
          if (singleton != null && !premature)
            this.#gates.settled(singleton, name, tick + TICK_BASE, !failed);
          this.#retire(entry);
        }
        // #checkIdle's own first test, made here: this runs after every run, and until V8 has
        // compiled the run path each call is a real one.
        if (this.#idleWaiters.length !== 0) this.#checkIdle();
      },
      // A claimed singleton tick that will not run (dropped for want of a slot, or waiting for
      // one when its timer was cancelled or the process began to exit): the gate hears of it.
      notRun: (entry, tick) => {
        const singleton = entry.repeat?.singleton;
        if (singleton != null) this.#gates.settled(singleton, entry.name as string, tick + TICK_BASE, false);
      },
    });
  }

  /** Timers created and not yet started, including those waiting for a running slot. */
  get pendingCount(): number {
    return this.#scheduled + this.#runner.waiting;
  }

  /** Callbacks started and not yet settled. */
  get runningCount(): number {
    return this.#runner.running;
  }

  /** Runs due that wait for a running slot (premature ones and owed ones included). */
  get waitingCount(): number {
    return this.#runner.waiting;
  }

  /** Premature calls that have not started: they wait for a running slot (what a cut drain never runs). */
  get prematureWaiting(): number {
    return this.#runner.prematureWaiting;
  }

  /** Premature calls of `overlap: false` timers owed until their run settles (what a cut drain never runs). */
  get prematureOwed(): number {
    return this.#runner.prematureOwed;
  }

  /** Singleton claims asked for and not answered (a graceful exit waits for them). */
  get claimsOut(): number {
    return this.#destroyed ? 0 : this.#singletons.claimsOut;
  }

  get exiting(): boolean {
    return this.#exiting;
  }

  get limits(): TimerLimits {
    return this.#limits;
  }

  /** The wait queue's figures, for tests and diagnostics. */
  get waitQueue(): WaitQueueFigures {
    return this.#runner.queue;
  }

  /** `ngx.timer.at`: runs `callback(premature, ...args)` once, after `delay` seconds. */
  at<A extends unknown[]>(delay: number | object, callback: TimerCallback<A>, ...args: A): Timer {
    const where = "ngx.timer.at";
    if (typeof delay === "number") {
      return this.#create(
        where,
        toTimerDelayMs(where, "delay", delay),
        undefined,
        null,
        callback as TimerCallback,
        args,
      );
    }
    const { delayMs, name } = atSchedule(where, delay);
    return this.#create(where, delayMs, name, null, callback as TimerCallback, args);
  }

  /** `ngx.timer.every`: runs `callback(premature, ...args)` every `interval` seconds until cancelled. */
  every<A extends unknown[]>(interval: number | object, callback: TimerCallback<A>, ...args: A): Timer {
    const where = "ngx.timer.every";
    const spec = everySchedule(where, interval);
    return this.#create(where, spec.intervalMs, spec.name, spec, callback as TimerCallback, args);
  }

  /** `ngx.timer.cron`: runs `callback(premature, ...args)` at each occurrence of a cron expression. */
  cron<A extends unknown[]>(expression: string | object, callback: TimerCallback<A>, ...args: A): Timer {
    const where = "ngx.timer.cron";
    const spec = cronSchedule(where, expression, this.#clock.wallNow());
    return this.#create(where, 0, spec.name, spec, callback as TimerCallback, args);
  }

  /** `ngx.timer.current()`: the timer run the calling code belongs to, or undefined. */
  current(): TimerRun | undefined {
    return currentRun();
  }

  #create(
    where: string,
    delayMs: number,
    name: string | undefined,
    spec: RepeatSpec | null,
    callback: TimerCallback,
    args: unknown[],
  ): Timer {
    if (typeof callback !== "function") {
      throw new InvalidArgTypeError(where, "callback", "a function", callback);
    }
    const kind = callbackKind(callback);
    if (kind === "generator") {
      throw new InvalidArgTypeError(
        where,
        "callback",
        "a function that is not a generator (calling a generator function does not run its body)",
        callback,
      );
    }
    // After a fast stop (destroy) nothing runs a timer, a zero-delay one included: it was kept
    // pending for ever, in silence.
    if (this.#exiting && (spec !== null || delayMs > 0 || this.#destroyed)) {
      throw new TimerError(
        where,
        "process exiting",
        this.#destroyed
          ? "the process stops fast: no timer runs any more"
          : "only zero-delay timers can be created while the process exits",
      );
    }
    if (this.pendingCount >= this.#limits.maxPending) {
      throw new TimerError(
        where,
        "too many pending timers",
        `timers.maxPending is ${this.#limits.maxPending}`,
      );
    }
    if (spec?.singleton != null) this.#gates.require(where, spec.singleton);
    const record = name === undefined ? null : this.#names.reserve(where, name, recordShape(delayMs, spec));
    const now = Math.floor(this.#clock.now());
    const repeat = spec === null ? null : makeRepeat(spec, record ?? this.#names.unnamed);
    let due = now + delayMs;
    if (repeat?.wall === true) {
      const wall = this.#clock.wallNow();
      repeat.tick = nextWallTick(repeat, wall) as number;
      due = now + Math.max(0, Math.ceil(repeat.tick - wall));
    }
    const entry = new TimerEntry(
      this,
      due,
      this.#seq++,
      delayMs,
      callback,
      kind === "async",
      args.length === 0 ? undefined : args,
      name,
      repeat,
    );
    if (this.#sites !== null) {
      const site = creationSite();
      if (site !== undefined) this.#sites.set(entry, site);
    }
    this.#scheduled++;
    this.#insert(entry);
    if (record !== null) this.#names.add(entry, record);
    if (repeat?.catchUp === true) this.#singletons.catchUp(entry, repeat);
    return entry;
  }

  /** The named timers still pending, waiting or running (for `tsresty status`). */
  namedTimers(): Timer[] {
    return this.#names.liveTimers();
  }

  /**
   * The callbacks running now, for a diagnostic: the named timers with a run in progress, as log
   * lines name them, and how many runs are of unnamed timers (not tracked one by one).
   */
  runningTimers(): { named: string[]; unnamed: number } {
    const named: string[] = [];
    let runs = 0;
    for (const entry of this.#names.liveTimers()) {
      if (entry.runs === 0) continue;
      named.push(timerLabel(entry, undefined));
      runs += entry.runs;
    }
    return { named, unnamed: Math.max(0, this.runningCount - runs) };
  }

  /** Figures per timer name, then for all unnamed timers together (plain, JSON-ready objects). */
  stats(): TimerStats[] {
    this.#runner.countUnnamed();
    const offset = this.#clock.wallNow() - this.#clock.now();
    return this.#names.snapshot(
      (entry) => this.nextDue(entry),
      (monotonic) => monotonic + offset,
    );
  }

  /** The counters and lateness histogram per timer name, then of the unnamed ones (what a scrape reads). */
  counts(): TimerCounts[] {
    this.#runner.countUnnamed();
    return this.#names.counts();
  }

  /** When `entry` is next due, in epoch ms; null once it is not pending. */
  nextDue(entry: TimerEntry): number | null {
    if (entry.status !== "pending" && entry.status !== "waiting") return null;
    if (entry.repeat?.wall === true) return entry.repeat.tick;
    return Math.round(entry.due + this.#clock.wallNow() - this.#clock.now());
  }

  /**
   * Takes the timer out of wherever it waits: its list, the wait queue (a repeating timer can be
   * in both: its next tick, and a tick waiting for a slot), or the owed premature calls. O(1).
   */
  cancel(entry: TimerEntry): boolean {
    switch (entry.status) {
      case "pending":
      case "waiting":
        break;
      case "running":
      case "done":
      case "dropped":
      case "cancelled":
        return false;
    }
    if (this.#store.holds(entry)) {
      this.#store.remove(entry);
      this.#scheduled--;
      // The host timer would keep a plain process alive for a timer that no longer exists.
      if (this.#scheduled === 0) this.#disarm();
    }
    this.#runner.withdraw(entry);
    entry.status = "cancelled";
    this.#names.release(entry);
    this.#checkIdle();
    return true;
  }

  /**
   * Starts graceful exit: each pending timer with a delay fires once now, premature, in due
   * order, and runs waiting for a slot become premature. Zero-delay timers are due anyway and
   * run as usual. Idempotent.
   */
  beginExit(): void {
    if (this.#exiting || this.#destroyed) return;
    this.#exiting = true;
    this.#runner.exit();
    const now = Math.floor(this.#clock.now());
    const offset = this.#clock.wallNow() - now - TICK_BASE;
    let fired = 0;
    for (;;) {
      const entry = this.#store.peekDelayed();
      if (entry === undefined) break;
      this.#store.remove(entry);
      this.#scheduled--;
      this.#runner.start(entry, true, entry.due, tickOf(entry.repeat, entry.due, offset), now);
      if (entry.name !== undefined) this.#retire(entry);
      fired++;
    }
    debug("exiting: %d pending timers fired prematurely", fired);
    // The host timer would keep a plain process alive for the delay of a timer that already ran.
    if (this.#scheduled === 0) this.#disarm();
    this.#checkIdle();
  }

  /** Resolves once no timer is pending or running, and no singleton tick's claim is out. */
  whenIdle(): Promise<void> {
    if (this.#idle()) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #idle(): boolean {
    return (
      this.pendingCount === 0 &&
      this.runningCount === 0 &&
      (this.#destroyed || this.#singletons.claimsOut === 0)
    );
  }

  /**
   * Fast stop: forgets every pending timer without running it, and refuses new ones. Running
   * callbacks are not touched.
   */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#exiting = true;
    this.#disarm();
    this.#store.clear((entry) => (entry.status = "cancelled"));
    this.#runner.clear();
    this.#names.clear();
    this.#scheduled = 0;
    this.#checkIdle();
  }

  /** Lets go of the name of a named timer that is over. */
  #retire(entry: TimerEntry): void {
    if (isOver(entry)) this.#names.release(entry);
  }

  #insert(entry: TimerEntry): void {
    this.#store.insert(entry);
    entry.status = "pending";
    if (entry.due < this.#wakeAt) this.#armWake(entry.due);
  }

  #disarm(): void {
    this.#cancelWake?.();
    this.#cancelWake = null;
    this.#wakeAt = Infinity;
  }

  /** Arms the host timer for `due`, or for a step towards it when it is beyond what setTimeout waits. */
  #armWake(due: number): void {
    if (this.#destroyed) return;
    this.#cancelWake?.();
    const now = this.#clock.now();
    const wait = due <= now ? 0 : Math.min(Math.ceil(due - now), MAX_WAIT_MS);
    this.#wakeAt = wait === MAX_WAIT_MS ? now + wait : due;
    this.#cancelWake = scheduleOutsideRuns(this.#clock, wait, this.#dispatch);
  }

  readonly #dispatch = (): void => {
    this.#cancelWake = null;
    this.#wakeAt = Infinity;
    const now = Math.floor(this.#clock.now());
    const offset = this.#clock.wallNow() - now - TICK_BASE;
    const createdBefore = this.#seq;
    const store = this.#store;
    for (;;) {
      const entry = store.peek();
      if (entry === undefined) break;
      // Each field read once, and the common tick written out: until V8 compiles this loop, every
      // read of an accessor and every function is a call.
      const due = entry.due;
      if (due > now || entry.seq >= createdBefore) {
        if (due < this.#wakeAt) this.#armWake(due);
        break;
      }
      store.removeFirst();
      this.#scheduled--;
      const repeat = entry.repeat;
      const tick = repeat === null ? Math.round(due + offset) : tickOf(repeat, due, offset);
      if (repeat === null) {
        this.#runner.start(entry, false, due, tick, now);
      } else {
        this.#rearm(entry, now, now + offset + TICK_BASE);
        if (repeat.singleton === null) this.#runner.start(entry, false, due, tick, now);
        else this.#singletons.tick(entry, repeat, due, tick + TICK_BASE);
      }
      if (entry.name !== undefined) this.#retire(entry);
    }
    this.#checkIdle();
  };

  /**
   * Puts a repeating timer back on its grid, before its callback runs (as OpenResty does). No
   * repeating timer is due once exit began: `beginExit` took them all out of the lists. `now` is
   * the turn's monotonic time and `wall` the wall clock's at that same moment: a fresh reading of
   * the wall clock, taken after callbacks earlier in the turn ran, put the next tick that much
   * early on the monotonic clock (a timer re-armed after a 30 ms callback fired 30 ms early).
   */
  #rearm(entry: TimerEntry, now: number, wall: number): void {
    const repeat = entry.repeat as Repeat;
    let due: number;
    if (repeat.wall) {
      const next = nextWallTick(repeat, Math.max(wall, repeat.tick));
      if (next === null) {
        entry.status = "done"; // a cron with no occurrence left
        return;
      }
      if (repeat.cron === null) this.#skipped(repeat.record, (next - repeat.tick) / repeat.intervalMs - 1);
      repeat.tick = next;
      due = now + Math.max(0, Math.ceil(next - wall));
    } else {
      const interval = entry.delay;
      due = entry.due + interval;
      if (due <= now) {
        const skipped = Math.floor((now - due) / interval) + 1;
        this.#skipped(repeat.record, skipped);
        due += skipped * interval;
      }
    }
    entry.due = due;
    entry.seq = this.#seq++;
    this.#scheduled++;
    this.#insert(entry);
  }

  #skipped(record: TimerRecord, ticks: number): void {
    if (ticks <= 0) return;
    debug("repeating timer fell %d ticks behind; skipping them", ticks);
    record.skipped += ticks;
  }

  #checkIdle(): void {
    if (this.#idleWaiters.length === 0 || !this.#idle()) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
