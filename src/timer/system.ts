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
 * premature = true, in due order; `every` timers stop; new timers with a delay throw "process
 * exiting", while zero-delay ones still run normally (later, not inside `beginExit`). It never
 * walks a snapshot while user code runs: it takes the earliest timer from the live heap, starts
 * it, and looks again, as `#dispatch` does, so a premature callback may cancel a sibling. Runs
 * still waiting for a slot when exit begins become premature and keep their place. An
 * `overlap: false` timer that is running when exit begins is owed its premature call, which is
 * queued when the current run settles (it stays pending until then). `whenIdle()` resolves when
 * nothing is pending or running, which is when a process may run its exit hooks.
 */
import { debuglog } from "node:util";
import { InvalidArgTypeError, TimerError } from "../errors.ts";
import type { Cancel, Clock } from "../util/clock.ts";
import type { LogSink } from "../util/log.ts";
import { TimerEntry, type Timer, type TimerCallback, type TimerOwner } from "./entry.ts";
import { ListHeap } from "./heap.ts";
import { creationSite, timerLabel } from "./label.ts";
import { TimerList } from "./list.ts";
import { Runner, type RunningLimitPolicy, type WaitQueueFigures } from "./runner.ts";
import { atSchedule, everySchedule, toDelayMs, type Schedule } from "./options.ts";

const debug = debuglog("tsresty:timer");

export interface TimerLimits {
  readonly maxPending: number;
  readonly maxRunning: number;
  readonly runningLimit: RunningLimitPolicy;
}

export interface TimerSystemOptions extends TimerLimits {
  readonly clock: Clock;
  readonly log: LogSink;
}

/** The key of the list that holds `entry`: its delay, or minus its interval for `every`. */
const listKey = (entry: TimerEntry): number => (entry.repeating ? -entry.delay : entry.delay);

export class TimerSystem implements TimerOwner {
  readonly #clock: Clock;
  readonly #limits: TimerLimits;
  readonly #lists = new Map<number, TimerList>();
  readonly #heap = new ListHeap();
  readonly #runner: Runner;
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
  /** Named timers, for status; finished ones are pruned when listed or when the set doubles. */
  readonly #named = new Set<TimerEntry>();
  #namedPruneAt = 64;

  constructor(options: TimerSystemOptions) {
    this.#clock = options.clock;
    this.#limits = {
      maxPending: options.maxPending,
      maxRunning: options.maxRunning,
      runningLimit: options.runningLimit,
    };
    const sites = options.runningLimit === "drop" ? new WeakMap<TimerEntry, string>() : null;
    this.#sites = sites;
    this.#runner = new Runner({
      maxRunning: options.maxRunning,
      runningLimit: options.runningLimit,
      log: options.log,
      dropLabel: (entry) => timerLabel(entry, sites?.get(entry)),
      settled: () => {
        this.#checkIdle();
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
    if (this.pendingCount >= this.#limits.maxPending) {
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
    this.#scheduled++;
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
      const over = entry.status === "done" || entry.status === "dropped" || entry.status === "cancelled";
      if (over && entry.runs === 0) this.#named.delete(entry);
      else live.push(entry);
    }
    return live;
  }

  /**
   * Takes the timer out of wherever it waits: its list, the wait queue (an `every` can be in
   * both: its next tick, and a tick waiting for a slot), or the owed premature calls. O(1).
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
    if (this.#isLinked(entry)) {
      this.#unlink(entry);
      this.#scheduled--;
    }
    this.#runner.withdraw(entry);
    entry.status = "cancelled";
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
    let fired = 0;
    for (;;) {
      const list = this.#heap.peekExcept(this.#lists.get(0));
      if (list === undefined) break;
      const entry = list.head as TimerEntry;
      this.#unlink(entry);
      this.#scheduled--;
      this.#runner.start(entry, true);
      fired++;
    }
    debug("exiting: %d pending timers fired prematurely", fired);
    this.#checkIdle();
  }

  /** Resolves once no timer is pending or running. */
  whenIdle(): Promise<void> {
    if (this.pendingCount === 0 && this.runningCount === 0) return Promise.resolve();
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
    this.#runner.clear();
    this.#scheduled = 0;
    this.#checkIdle();
  }

  #insert(entry: TimerEntry): void {
    const key = listKey(entry);
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

  #isLinked(entry: TimerEntry): boolean {
    return entry.prev !== null || this.#lists.get(listKey(entry))?.head === entry;
  }

  #unlink(entry: TimerEntry): void {
    const list = this.#lists.get(listKey(entry)) as TimerList;
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
      this.#scheduled--;
      if (entry.repeating) this.#rearm(entry, now);
      this.#runner.start(entry, false);
    }
    this.#checkIdle();
  };

  /**
   * Puts an `every` timer back on its grid, before its callback runs (as OpenResty does). No
   * `every` is due once exit began: `beginExit` took them all out of the lists.
   */
  #rearm(entry: TimerEntry, now: number): void {
    const interval = entry.delay;
    let due = entry.due + interval;
    if (due <= now) {
      const skipped = Math.floor((now - due) / interval) + 1;
      debug("every timer fell %d ticks behind; skipping them", skipped);
      due += skipped * interval;
    }
    entry.due = due;
    entry.seq = this.#seq++;
    this.#scheduled++;
    this.#insert(entry);
  }

  #checkIdle(): void {
    if (this.#idleWaiters.length === 0 || this.pendingCount !== 0 || this.runningCount !== 0) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
