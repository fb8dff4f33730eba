import { debuglog } from "node:util";
import type { Clock } from "../util/clock.ts";
import { formatThrown, type LogSink } from "../util/log.ts";
import type { TimerEntry } from "./entry.ts";
import { INVOKER, invokeTimerCallback, type RunEnd } from "./invoke.ts";
import { callbackLocation, timerLabel } from "./label.ts";
import { RunQueue } from "./run-queue.ts";
import type { TimerRegistry } from "./names.ts";
import type { Repeat } from "./repeat.ts";
import type { TimerRecord } from "./stats.ts";

const debug = debuglog("tsresty:timer");

/** One unnamed run in this many counts its lateness. */
const SAMPLE_EVERY = 64;

/** What to do with a due timer when `maxRunning` callbacks are already running. */
export type RunningLimitPolicy = "wait" | "drop";

export interface RunnerOptions {
  readonly maxRunning: number;
  readonly runningLimit: RunningLimitPolicy;
  readonly log: LogSink;
  readonly clock: Clock;
  /** How the alert for a dropped run names its timer. */
  readonly dropLabel: (entry: TimerEntry) => string;
  /** Where a run of `entry` is counted. */
  readonly names: TimerRegistry;
  /** Called after each run settled, once the runs it let start have started. */
  readonly settled: (entry: TimerEntry, premature: boolean, tick: number, failed: boolean) => void;
  /**
   * Called for a due run (not a premature call) of a repeating timer that will not start: dropped,
   * skipped behind a tick of its timer that waits, withdrawn by `cancel`, forgotten by a fast
   * stop, or made the timer's premature call by exit. A singleton's tick was claimed: its gate
   * must hear that it did not run.
   */
  readonly notRun: (entry: TimerEntry, tick: number) => void;
}

/** The wait queue's figures: runs waiting, slots allocated, records moved by its rebuilds. */
export interface WaitQueueFigures {
  readonly size: number;
  readonly capacity: number;
  readonly moves: number;
}

/**
 * The running half of the timer core: `maxRunning` slots, the runs that wait for one, and the
 * end of each run.
 *
 * A due run starts at once when a slot is free and nobody waits; otherwise it joins the wait
 * queue ("wait") or is dropped with an alert ("drop"). A freed slot starts waiting runs from
 * one loop, `#drain`, never by recursion: a callback that settles synchronously inside that
 * loop only updates the counts, and the loop carries on, so any number of synchronous
 * callbacks can wait behind one slot without growing the stack.
 *
 * Runs waiting here, and `overlap: false` timers owed a premature call (see `start`), are still
 * pending: `waiting` counts them for the system's `pendingCount`.
 *
 * Each run is counted in its name's statistics. Reading the clock costs more than a run of an
 * empty callback, so only runs of named timers read it, at start and end, for lateness and
 * duration. Unnamed runs start at the caller's `now`, are added to their aggregate in batches
 * (`countUnnamed`), and one in 64 counts its lateness from that `now` (`#sampleUnnamed`), and
 * its duration if it returns a promise.
 */
export class Runner {
  readonly #options: RunnerOptions;
  readonly #queue = new RunQueue();
  /** `overlap: false` timers running when exit began, owed a premature call (with its tick) when that run settles. */
  readonly #owed = new Map<TimerEntry, number>();
  readonly #wallNow: () => number;
  #running = 0;
  #draining = false;
  /**
   * The unnamed aggregate's runs are counted in batches. Between two sampled runs, an unnamed one
   * only counts `#unsampledLeft` down and notes its start; the next sample, or a reading of the
   * figures (`countUnnamed`), adds them to the record. So a run of an empty unnamed callback
   * touches no record (when it did, that was a fifth of its cost).
   */
  #unsampledLeft = 0;
  /** What `#unsampledLeft` was when the record was last brought up to date. */
  #countedLeft = 0;
  /** When the latest unsampled unnamed run started (monotonic ms). */
  #unsampledStart = NaN;

  constructor(options: RunnerOptions) {
    this.#options = options;
    this.#wallNow = () => options.clock.wallNow();
  }

  /** Callbacks started and not yet settled. */
  get running(): number {
    return this.#running;
  }

  /**
   * Whether a run of `entry` due now would start at once: a running slot is free, no run waits
   * for one, and no tick of `entry` waits (else it would wait, or be dropped, or be skipped).
   */
  canStart(entry: TimerEntry): boolean {
    return entry.waiting === null && this.#running < this.#options.maxRunning && this.#queue.size === 0;
  }

  /** Runs not started yet: queued for a slot, or owed. */
  get waiting(): number {
    return this.#queue.size + this.#owed.size;
  }

  /** Premature calls owed to `overlap: false` timers, queued once their run settles. */
  get prematureOwed(): number {
    return this.#owed.size;
  }

  /** Premature calls queued for a running slot (counted on demand, off the hot path); owed ones apart. */
  get prematureWaiting(): number {
    let count = 0;
    this.#queue.forEach((run) => {
      if (run.premature) count++;
    });
    return count;
  }

  get queue(): WaitQueueFigures {
    const queue = this.#queue;
    return { size: queue.size, capacity: queue.capacity, moves: queue.moves };
  }

  /**
   * Starts a due run now, or queues it for a slot, or drops it, as the limits say. `due` is the
   * monotonic time it was due (NaN: no lateness to count), `tick` the same in epoch ms minus
   * TICK_BASE, `now` the caller's reading of the monotonic clock.
   */
  start(entry: TimerEntry, premature: boolean, due: number, tick: number, now: number): void {
    if (entry.repeat !== null && entry.runs > 0 && !entry.repeat.overlap) {
      this.#overlapping(entry, premature, tick);
    } else if (this.#running < this.#options.maxRunning && this.#queue.size === 0) {
      this.#invoke(entry, premature, due, tick, now);
    } else {
      this.#full(entry, premature, due, tick);
    }
  }

  /** A tick of an `overlap: false` timer whose previous run is still going. */
  #overlapping(entry: TimerEntry, premature: boolean, tick: number): void {
    if (premature) this.#owed.set(entry, tick);
    else {
      (entry.repeat as Repeat).record.skipped++;
      debug("repeating timer tick skipped: the previous run is still going (overlap: false)");
    }
  }

  /** A due run that cannot start at once: it waits, or is dropped. */
  #full(entry: TimerEntry, premature: boolean, due: number, tick: number): void {
    if (this.#running >= this.#options.maxRunning && this.#options.runningLimit === "drop") {
      this.#drop(entry, premature, tick);
    } else {
      this.#enqueue(entry, premature, due, tick);
      this.#drain();
    }
  }

  /** Takes `entry`'s run out of the wait queue, or its owed premature call; O(1). */
  withdraw(entry: TimerEntry): void {
    const run = entry.waiting;
    if (run !== null) {
      this.#queue.remove(run);
      entry.waiting = null;
      if (!run.premature && entry.repeating) this.#options.notRun(entry, run.tick);
    }
    this.#owed.delete(entry);
  }

  /** Exit began: runs already waiting for a slot become premature, and keep their place. */
  exit(): void {
    this.#queue.forEach((run) => {
      if (run.premature) return;
      run.premature = true;
      if (run.entry.repeating) this.#options.notRun(run.entry, run.tick);
    });
  }

  /** Forgets every run not started yet; their timers end cancelled. */
  clear(): void {
    this.#queue.forEach((run) => {
      run.entry.waiting = null;
      run.entry.status = "cancelled";
      if (!run.premature && run.entry.repeating) this.#options.notRun(run.entry, run.tick);
    });
    this.#queue.clear();
    for (const entry of this.#owed.keys()) entry.status = "cancelled";
    this.#owed.clear();
  }

  #drop(entry: TimerEntry, premature: boolean, tick: number): void {
    const { log, maxRunning } = this.#options;
    this.#options.names.recordOf(entry).dropped++;
    log(
      "alert",
      `failed to run ${this.#options.dropLabel(entry)}: ${maxRunning} timers.maxRunning are not enough`,
    );
    // A repeating timer lives on to its next tick, unless this was its last (premature) call.
    if (!entry.repeating || premature) entry.status = "dropped";
    else this.#options.notRun(entry, tick);
  }

  #enqueue(entry: TimerEntry, premature: boolean, due: number, tick: number): void {
    if (entry.waiting !== null) {
      this.#options.names.recordOf(entry).skipped++;
      debug("repeating timer tick skipped: an earlier tick still waits for a running slot");
      if (!premature) this.#options.notRun(entry, tick);
      return;
    }
    entry.waiting = this.#queue.push(entry, premature, due, tick);
    if (!entry.repeating) entry.status = "waiting";
  }

  /**
   * Starts waiting runs while slots are free. Re-entrant calls (a run started here that
   * settles at once, or queues another) return at once: this loop picks their work up.
   */
  #drain(): void {
    if (this.#draining) return;
    this.#draining = true;
    try {
      let now = NaN;
      while (this.#running < this.#options.maxRunning) {
        const run = this.#queue.shift();
        if (run === undefined) break;
        run.entry.waiting = null;
        if (now !== now) now = this.#options.clock.now();
        this.#invoke(run.entry, run.premature, run.due, run.tick, now);
      }
    } finally {
      this.#draining = false;
    }
  }

  #invoke(entry: TimerEntry, premature: boolean, due: number, tick: number, now: number): void {
    this.#running++;
    entry.runStarted(premature);
    if (entry.name !== undefined) {
      this.#invokeTimed(entry, premature, due, tick);
      return;
    }
    let sampledFrom = NaN;
    if (this.#unsampledLeft === 0) sampledFrom = this.#sampleUnnamed(premature, due, now);
    else {
      this.#unsampledLeft--;
      this.#unsampledStart = now;
    }
    // A sample that returns a promise has its duration counted when it settles (`#ended`).
    if (invokeTimerCallback(entry, premature, tick, sampledFrom, this.#ended))
      this.#settled(entry, premature, tick, false);
  }

  /** A run of a named timer: the clock read at its start and end, its lateness and duration counted. */
  #invokeTimed(entry: TimerEntry, premature: boolean, due: number, tick: number): void {
    const record = this.#options.names.recordOf(entry);
    const start = this.#options.clock.now();
    record.started(start, premature ? NaN : start - due);
    if (invokeTimerCallback(entry, premature, tick, start, this.#ended)) {
      this.#recordEnd(record, false, undefined, start);
      this.#settled(entry, premature, tick, false);
    }
  }

  /**
   * One unnamed run in SAMPLE_EVERY: the runs before it are added to the aggregate, and its
   * lateness is counted from `now`, the clock reading of the dispatch (or drain) that starts it,
   * so that no unnamed run reads the clock as it starts or returns. Such a sample leaves out the
   * time the runs before it in the same dispatch took; only a sample that returns a promise gets a
   * duration (from `now` to its settling). With a clock read for one run in 64 (or 256) in the
   * run path, the bench's drain of empty callbacks was 10% slower.
   */
  #sampleUnnamed(premature: boolean, due: number, now: number): number {
    this.countUnnamed();
    this.#unsampledLeft = this.#countedLeft = SAMPLE_EVERY - 1;
    this.#options.names.unnamed.started(now, premature ? NaN : now - due);
    return now;
  }

  /** Adds the unsampled unnamed runs not counted yet to the aggregate record: before its figures are read. */
  countUnnamed(): void {
    const runs = this.#countedLeft - this.#unsampledLeft;
    if (runs === 0) return;
    const record = this.#options.names.unnamed;
    record.runs += runs;
    record.lastStart = this.#unsampledStart;
    this.#countedLeft = this.#unsampledLeft;
  }

  /** Counts the end of a timed or failed run in `record` (its duration when it was timed). */
  #recordEnd(record: TimerRecord, failed: boolean, error: unknown, timedFrom: number): void {
    const duration = timedFrom === timedFrom ? this.#options.clock.now() - timedFrom : NaN;
    record.ended(failed, error, duration, this.#wallNow);
  }

  readonly #ended: RunEnd = (entry, failed, error, premature, tick, timedFrom) => {
    try {
      if (failed) {
        const label = timerLabel(entry, callbackLocation(error, INVOKER));
        this.#options.log("error", `${label} failed: ${formatThrown(error)}`);
      }
      if (failed || timedFrom === timedFrom) {
        this.#recordEnd(this.#options.names.recordOf(entry), failed, error, timedFrom);
      }
    } finally {
      this.#settled(entry, premature, tick, failed);
    }
  };

  #settled(entry: TimerEntry, premature: boolean, tick: number, failed: boolean): void {
    this.#running--;
    // An owed premature call (only ever of a repeating timer) is queued once its last run settled.
    if (entry.runSettled() && this.#owed.size !== 0) this.#owe(entry);
    if (this.#queue.size !== 0) this.#drain();
    this.#options.settled(entry, premature, tick, failed);
  }

  /** Queues `entry`'s owed premature call, if it is owed one, now that its last run settled. */
  #owe(entry: TimerEntry): void {
    const owedTick = this.#owed.get(entry);
    if (owedTick === undefined) return;
    this.#owed.delete(entry);
    this.#enqueue(entry, true, entry.due, owedTick);
  }
}
