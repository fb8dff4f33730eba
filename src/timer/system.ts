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
 * Limits. Past `maxPending`, creation throws "too many pending timers". Past `maxRunning`, a
 * due timer waits for a free slot ("wait") or is dropped with an alert ("drop", OpenResty's way).
 *
 * Exit. `beginExit()` fires every pending timer with a delay once, at once, with
 * premature = true, in due order; `every` timers stop; new timers with a delay throw "process
 * exiting", while zero-delay ones still run normally. `whenIdle()` resolves when nothing is
 * pending or running, which is when a process may run its exit hooks.
 */
import { debuglog } from "node:util";
import { InvalidArgTypeError, TimerError } from "../errors.ts";
import type { Cancel, Clock } from "../util/clock.ts";
import { formatThrown, type LogSink } from "../util/log.ts";
import { TimerEntry, type Timer, type TimerCallback, type TimerOwner } from "./entry.ts";
import { ListHeap } from "./heap.ts";
import { callbackLocation, creationSite, timerLabel } from "./label.ts";
import { TimerList } from "./list.ts";
import { WaitQueue } from "./wait-queue.ts";
import { atSchedule, everySchedule, toDelayMs, type Schedule } from "./options.ts";

const debug = debuglog("tsresty:timer");

/** What to do with a due timer when `maxRunning` callbacks are already running. */
export type RunningLimitPolicy = "wait" | "drop";

export interface TimerLimits {
  readonly maxPending: number;
  readonly maxRunning: number;
  readonly runningLimit: RunningLimitPolicy;
}

export interface TimerSystemOptions extends TimerLimits {
  readonly clock: Clock;
  readonly log: LogSink;
}

const INVOKER = "invokeTimerCallback";

export class TimerSystem implements TimerOwner {
  readonly #clock: Clock;
  readonly #log: LogSink;
  readonly #limits: TimerLimits;
  readonly #lists = new Map<number, TimerList>();
  readonly #heap = new ListHeap();
  readonly #waiting = new WaitQueue();
  /** Creation sites, kept only under the "drop" policy, for the alert that names a dropped timer. */
  readonly #sites: WeakMap<TimerEntry, string> | null;
  #pending = 0;
  #running = 0;
  #seq = 0;
  #exiting = false;
  #destroyed = false;
  #wakeAt = Infinity;
  #cancelWake: Cancel | null = null;
  #idleWaiters: (() => void)[] = [];
  /** Named timers, for status; finished ones are pruned when listed or when the set doubles. */
  readonly #named = new Set<TimerEntry>();
  #namedPruneAt = 64;

  constructor(options: TimerSystemOptions) {
    this.#clock = options.clock;
    this.#log = options.log;
    this.#limits = {
      maxPending: options.maxPending,
      maxRunning: options.maxRunning,
      runningLimit: options.runningLimit,
    };
    this.#sites = options.runningLimit === "drop" ? new WeakMap() : null;
  }

  /** Timers created and not yet started, including those waiting for a running slot. */
  get pendingCount(): number {
    return this.#pending;
  }

  /** Callbacks started and not yet settled. */
  get runningCount(): number {
    return this.#running;
  }

  get exiting(): boolean {
    return this.#exiting;
  }

  get limits(): TimerLimits {
    return this.#limits;
  }

  /** `ngx.timer.at`: runs `callback(premature, ...args)` once, after `delay` seconds. */
  at<A extends unknown[]>(delay: number | object, callback: TimerCallback<A>, ...args: A): Timer {
    const where = "ngx.timer.at";
    const schedule = typeof delay === "number" ? null : atSchedule(where, delay);
    const delayMs = schedule === null ? toDelayMs(where, "delay", delay) : schedule.delayMs;
    return this.#create(where, delayMs, schedule, false, callback as TimerCallback, args);
  }

  /** `ngx.timer.every`: runs `callback(premature, ...args)` every `interval` seconds until cancelled. */
  every<A extends unknown[]>(interval: number | object, callback: TimerCallback<A>, ...args: A): Timer {
    const where = "ngx.timer.every";
    const schedule = everySchedule(where, interval);
    return this.#create(where, schedule.delayMs, schedule, true, callback as TimerCallback, args);
  }

  #create(
    where: string,
    delayMs: number,
    schedule: Schedule | null,
    repeating: boolean,
    callback: TimerCallback,
    args: unknown[],
  ): Timer {
    if (typeof callback !== "function") {
      throw new InvalidArgTypeError(where, "callback", "a function", callback);
    }
    if (this.#exiting && (repeating || delayMs > 0)) {
      throw new TimerError(
        where,
        "process exiting",
        "only zero-delay timers can be created while the process exits",
      );
    }
    if (this.#pending >= this.#limits.maxPending) {
      throw new TimerError(
        where,
        "too many pending timers",
        `timers.maxPending is ${this.#limits.maxPending}`,
      );
    }
    const entry = new TimerEntry(
      this,
      Math.floor(this.#clock.now()) + delayMs,
      this.#seq++,
      delayMs,
      callback,
      args.length === 0 ? undefined : args,
      schedule?.name,
      repeating,
      schedule?.overlap ?? true,
    );
    if (this.#sites !== null) {
      const site = creationSite();
      if (site !== undefined) this.#sites.set(entry, site);
    }
    this.#pending++;
    this.#insert(entry);
    if (entry.name !== undefined) this.#track(entry);
    return entry;
  }

  #track(entry: TimerEntry): void {
    this.#named.add(entry);
    if (this.#named.size >= this.#namedPruneAt) {
      this.namedTimers();
      this.#namedPruneAt = Math.max(64, this.#named.size * 2);
    }
  }

  /** The named timers still pending, waiting or running (for `tsresty status`). */
  namedTimers(): Timer[] {
    const live: Timer[] = [];
    for (const entry of this.#named) {
      if ((entry.status === "done" || entry.status === "cancelled") && entry.runs === 0)
        this.#named.delete(entry);
      else live.push(entry);
    }
    return live;
  }

  cancel(entry: TimerEntry): boolean {
    switch (entry.status) {
      case "pending":
        this.#unlink(entry);
        this.#pending--;
        break;
      case "waiting":
        break;
      case "running":
      case "done":
      case "cancelled":
        return false;
    }
    if (this.#waiting.cancel(entry)) this.#pending--;
    entry.status = "cancelled";
    this.#checkIdle();
    return true;
  }

  /**
   * Starts graceful exit: each pending timer with a delay fires once now, premature, in due
   * order. Zero-delay timers are due anyway and run as usual. Idempotent.
   */
  beginExit(): void {
    if (this.#exiting || this.#destroyed) return;
    this.#exiting = true;
    const early: TimerEntry[] = [];
    for (const list of this.#lists.values()) {
      if (list.key === 0) continue;
      for (let entry = list.head; entry !== null; entry = entry.next) early.push(entry);
    }
    early.sort((a, b) => a.due - b.due || a.seq - b.seq);
    debug("exiting: %d pending timers fire prematurely", early.length);
    for (const entry of early) {
      this.#unlink(entry);
      this.#pending--;
      if (entry.repeating) entry.status = "done";
      this.#start(entry, true);
    }
    this.#checkIdle();
  }

  /** Resolves once no timer is pending or running. */
  whenIdle(): Promise<void> {
    if (this.#pending === 0 && this.#running === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Fast stop: forgets every pending timer without running it. Running callbacks are not touched. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#exiting = true;
    this.#cancelWake?.();
    this.#cancelWake = null;
    for (const list of this.#lists.values()) {
      for (let entry = list.head; entry !== null; entry = entry.next) entry.status = "cancelled";
    }
    this.#lists.clear();
    while (this.#heap.size > 0) this.#heap.remove(this.#heap.peek() as TimerList);
    this.#waiting.clear();
    this.#pending = 0;
    this.#checkIdle();
  }

  #insert(entry: TimerEntry): void {
    const key = entry.repeating ? -entry.delay : entry.delay;
    let list = this.#lists.get(key);
    if (list === undefined) {
      list = new TimerList(key);
      this.#lists.set(key, list);
    }
    const wasEmpty = list.head === null;
    if (entry.repeating) list.insertSorted(entry);
    else list.append(entry);
    if (wasEmpty) this.#heap.push(list);
    else if (list.head === entry) this.#heap.update(list);
    entry.status = "pending";
    if (entry.due < this.#wakeAt) this.#armWake(entry.due);
  }

  #unlink(entry: TimerEntry): void {
    const list = this.#lists.get(entry.repeating ? -entry.delay : entry.delay) as TimerList;
    const wasHead = list.head === entry;
    list.remove(entry);
    if (list.head === null) {
      this.#heap.remove(list);
      this.#lists.delete(list.key);
    } else if (wasHead) {
      this.#heap.update(list);
    }
  }

  #armWake(due: number): void {
    if (this.#destroyed) return;
    this.#cancelWake?.();
    const wait = due - this.#clock.now();
    this.#wakeAt = due;
    this.#cancelWake = this.#clock.schedule(wait <= 0 ? 0 : Math.ceil(wait), this.#dispatch);
  }

  readonly #dispatch = (): void => {
    this.#cancelWake = null;
    this.#wakeAt = Infinity;
    const now = Math.floor(this.#clock.now());
    const createdBefore = this.#seq;
    const heap = this.#heap;
    for (;;) {
      const list = heap.peek();
      if (list === undefined) break;
      const entry = list.head as TimerEntry;
      if (entry.due > now || entry.seq >= createdBefore) {
        if (entry.due < this.#wakeAt) this.#armWake(entry.due);
        break;
      }
      this.#unlink(entry);
      this.#pending--;
      if (entry.repeating) this.#rearm(entry, now);
      this.#start(entry, false);
    }
    this.#checkIdle();
  };

  /** Puts an `every` timer back on its grid, before its callback runs (as OpenResty does). */
  #rearm(entry: TimerEntry, now: number): void {
    if (this.#exiting) {
      entry.status = "done";
      return;
    }
    const interval = entry.delay;
    let due = entry.due + interval;
    if (due <= now) {
      const skipped = Math.floor((now - due) / interval) + 1;
      debug("every timer fell %d ticks behind; skipping them", skipped);
      due += skipped * interval;
    }
    entry.due = due;
    entry.seq = this.#seq++;
    this.#pending++;
    this.#insert(entry);
  }

  #start(entry: TimerEntry, premature: boolean): void {
    if (entry.repeating && !entry.overlap && entry.runs > 0) {
      debug("every timer tick skipped: the previous run is still going (overlap: false)");
      return;
    }
    if (this.#running < this.#limits.maxRunning) {
      this.#invokeTimerCallback(entry, premature);
      return;
    }
    if (this.#limits.runningLimit === "drop") {
      const label = timerLabel(entry, this.#sites?.get(entry));
      this.#log(
        "alert",
        `failed to run ${label}: ${this.#limits.maxRunning} timers.maxRunning are not enough`,
      );
      if (!entry.repeating) entry.status = "done";
      return;
    }
    if (!this.#waiting.push(entry, premature)) {
      debug("every timer tick skipped: an earlier tick still waits for a running slot");
      return;
    }
    this.#pending++;
    if (!entry.repeating) entry.status = "waiting";
  }

  #invokeTimerCallback(entry: TimerEntry, premature: boolean): void {
    this.#running++;
    entry.runs++;
    if (!entry.repeating) entry.status = "running";
    let result: unknown;
    try {
      const args = entry.args;
      result = args === undefined ? entry.callback(premature) : entry.callback(premature, ...args);
    } catch (error) {
      this.#failed(entry, error);
      this.#settled(entry);
      return;
    }
    if (isThenable(result)) {
      result.then(
        () => {
          this.#settled(entry);
        },
        (error: unknown) => {
          this.#failed(entry, error);
          this.#settled(entry);
        },
      );
    } else {
      this.#settled(entry);
    }
  }

  #failed(entry: TimerEntry, error: unknown): void {
    const label = timerLabel(entry, callbackLocation(error, INVOKER));
    this.#log("error", `${label} failed: ${formatThrown(error)}`);
  }

  #settled(entry: TimerEntry): void {
    this.#running--;
    entry.runs--;
    if (entry.status === "running" && entry.runs === 0) entry.status = "done";
    while (this.#running < this.#limits.maxRunning) {
      const run = this.#waiting.shift();
      if (run === undefined) break;
      this.#pending--;
      this.#invokeTimerCallback(run.entry, run.premature);
    }
    this.#checkIdle();
  }

  #checkIdle(): void {
    if (this.#idleWaiters.length === 0 || this.#pending !== 0 || this.#running !== 0) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === "object" || typeof value === "function") &&
    typeof (value as { then?: unknown }).then === "function"
  );
}
