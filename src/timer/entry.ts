import type { WaitingRun } from "./run-queue.ts";

/**
 * A timer as the core stores it. The entry is also the handle that `at`/`every` return,
 * typed as the narrow public {@link Timer}, so creating a timer allocates one object.
 * Its fields are kept few and small: a million pending timers must fit in 250 MB.
 */

/**
 * - `pending`: scheduled, not yet due (an `every` timer stays pending between ticks);
 * - `waiting`: due, queued for a free running slot (still counted as pending);
 * - `running`: an `at` callback that started and has not settled;
 * - `done`: an `at` that ran, or an `every` whose premature call started;
 * - `dropped`: an `at` (or an `every`'s premature call) that found every running slot taken
 *   under the "drop" policy, and never ran;
 * - `cancelled`: stopped by `cancel()` before it was done.
 */
export type TimerState = "pending" | "waiting" | "running" | "done" | "dropped" | "cancelled";

/** What a callback receives: `premature` first, then the arguments given at creation. */
export type TimerCallback<A extends unknown[] = unknown[]> = (premature: boolean, ...args: A) => unknown;

/** The handle returned by `ngx.timer.at` and `ngx.timer.every`. */
export interface Timer {
  /** The name given in the options form, shown in logs and status. */
  readonly name: string | undefined;
  readonly state: TimerState;
  /** Whether this is an `every` timer. */
  readonly repeating: boolean;
  /**
   * Stops the timer: a pending `at` never runs, an `every` runs no further tick. A callback
   * already running is not interrupted. Returns true when something was stopped, false when
   * the timer had already run, been dropped or cancelled, or started its premature call.
   */
  cancel(): boolean;
}

/** The system side of a timer, as seen from the entry. */
export interface TimerOwner {
  cancel(entry: TimerEntry): boolean;
}

export class TimerEntry implements Timer {
  /** Due time in whole milliseconds of the system's clock. */
  due: number;
  /** Creation order, the tie-break between equal due times. */
  seq: number;
  /** Delay of an `at`, interval of an `every`, in whole milliseconds. */
  readonly delay: number;
  readonly callback: TimerCallback;
  readonly args: unknown[] | undefined;
  readonly name: string | undefined;
  readonly repeating: boolean;
  /** For `every`: whether a tick may start while an earlier run is still going. */
  readonly overlap: boolean;
  status: TimerState = "pending";
  /** Runs started and not yet settled (several for an overlapping `every`). */
  runs = 0;
  prev: TimerEntry | null = null;
  next: TimerEntry | null = null;
  /** The run queued for a running slot, so that `cancel()` takes it out in O(1). */
  waiting: WaitingRun | null = null;
  readonly #owner: TimerOwner;

  constructor(
    owner: TimerOwner,
    due: number,
    seq: number,
    delay: number,
    callback: TimerCallback,
    args: unknown[] | undefined,
    name: string | undefined,
    repeating: boolean,
    overlap: boolean,
  ) {
    this.#owner = owner;
    this.due = due;
    this.seq = seq;
    this.delay = delay;
    this.callback = callback;
    this.args = args;
    this.name = name;
    this.repeating = repeating;
    this.overlap = overlap;
  }

  get state(): TimerState {
    return this.status;
  }

  cancel(): boolean {
    return this.#owner.cancel(this);
  }
}

/** Orders entries by due time, then creation. */
export function isEarlier(a: TimerEntry, b: TimerEntry): boolean {
  return a.due < b.due || (a.due === b.due && a.seq < b.seq);
}
