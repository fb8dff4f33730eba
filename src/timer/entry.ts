import { inspect } from "node:util";
import { InvalidArgTypeError } from "../errors.ts";
import type { Repeat, TimerKind } from "./repeat.ts";
import type { WaitingRun } from "./run-queue.ts";

/**
 * A timer as the core stores it. The entry is also the handle that `at`/`every`/`cron` return,
 * typed as the narrow public {@link Timer}, so creating a timer allocates one object. Its
 * fields are kept few and small (a million pending timers must fit in 250 MB), and private:
 * the core reads them through accessors, which V8 inlines, so that a handle shows users its
 * public shape only (`JSON.stringify`, `Object.keys`, `console.log`).
 */

/**
 * - `pending`: scheduled, not yet due (an `every` or `cron` timer stays pending between ticks);
 * - `waiting`: due, queued for a free running slot (still counted as pending);
 * - `running`: an `at` callback that started and has not settled;
 * - `done`: an `at` that ran, a repeating timer whose premature call started, or a cron with no
 *   occurrence left;
 * - `dropped`: an `at` (or a repeating timer's premature call) that found every running slot
 *   taken under the "drop" policy, and never ran;
 * - `cancelled`: stopped by `cancel()` before it was done.
 * @example
 * const t = ngx.timer.at(5, job);
 * t.state; // "pending"
 * t.cancel();
 * t.state; // "cancelled"
 */
export type TimerState = "pending" | "waiting" | "running" | "done" | "dropped" | "cancelled";

/**
 * What a callback receives: `premature` first, then the arguments given at creation.
 * @example
 * const callback: TimerCallback<[string]> = (premature, table) => {
 *   if (!premature) vacuum(table);
 * };
 * ngx.timer.at(60, callback, "events");
 */
export type TimerCallback<A extends unknown[] = unknown[]> = (premature: boolean, ...args: A) => unknown;

/**
 * The handle returned by `ngx.timer.at`, `ngx.timer.every` and `ngx.timer.cron`: these members
 * are all it shows (`JSON.stringify`, `console.log`); the core's bookkeeping is private.
 * @example
 * const t = ngx.timer.every({ interval: 60, name: "sync" }, sync);
 * t.nextDue; // epoch ms of the next tick
 * t.cancel();
 */
export interface Timer {
  /** The name given in the options form, shown in logs, status and metrics. */
  readonly name: string | undefined;
  readonly state: TimerState;
  /** Whether this is an `every` or `cron` timer. */
  readonly repeating: boolean;
  readonly kind: TimerKind;
  /** When the timer is next due, in epoch ms; null once it is no longer pending. */
  readonly nextDue: number | null;
  /**
   * Stops the timer: a pending `at` never runs, a repeating timer runs no further tick. A
   * callback already running is not interrupted. Returns true when something was stopped,
   * false when the timer had already run, been dropped or cancelled, or started its premature call.
   */
  cancel(): boolean;
}

/** The system side of a timer, as seen from the entry. */
export interface TimerOwner {
  cancel(entry: TimerEntry): boolean;
  /** The entry's next due time in epoch ms, or null. */
  nextDue(entry: TimerEntry): number | null;
}

export class TimerEntry implements Timer {
  #due: number;
  #seq: number;
  readonly #delay: number;
  readonly #callback: TimerCallback;
  /** An async function: its runs go through the store that follows them across `await`. */
  readonly #async: boolean;
  readonly #args: unknown[] | undefined;
  readonly #name: string | undefined;
  readonly #repeat: Repeat | null;
  #status: TimerState = "pending";
  #runs = 0;
  #prev: TimerEntry | null = null;
  #next: TimerEntry | null = null;
  #waiting: WaitingRun | null = null;
  readonly #owner: TimerOwner;

  constructor(
    owner: TimerOwner,
    due: number,
    seq: number,
    delay: number,
    callback: TimerCallback,
    async: boolean,
    args: unknown[] | undefined,
    name: string | undefined,
    repeat: Repeat | null,
  ) {
    this.#owner = owner;
    this.#due = due;
    this.#seq = seq;
    this.#delay = delay;
    this.#callback = callback;
    this.#async = async;
    this.#args = args;
    this.#name = name;
    this.#repeat = repeat;
  }

  /** Due time in whole milliseconds of the system's monotonic clock. */
  get due(): number {
    return this.#due;
  }
  set due(value: number) {
    this.#due = value;
  }
  /** Creation order, the tie-break between equal due times. */
  get seq(): number {
    return this.#seq;
  }
  set seq(value: number) {
    this.#seq = value;
  }
  /** Delay of an `at`, interval of a plain `every`, in whole milliseconds. */
  get delay(): number {
    return this.#delay;
  }
  get callback(): TimerCallback {
    return this.#callback;
  }
  get async(): boolean {
    return this.#async;
  }
  get args(): unknown[] | undefined {
    return this.#args;
  }
  get name(): string | undefined {
    return this.#name;
  }
  /** The repeating timer's plan; null for `at`. */
  get repeat(): Repeat | null {
    return this.#repeat;
  }
  get repeating(): boolean {
    return this.#repeat !== null;
  }
  get kind(): TimerKind {
    return this.#repeat === null ? "at" : this.#repeat.kind;
  }
  get status(): TimerState {
    return this.#status;
  }
  set status(value: TimerState) {
    this.#status = value;
  }
  get state(): TimerState {
    return this.#status;
  }
  /** Runs started and not yet settled (several for an overlapping repeating timer). */
  get runs(): number {
    return this.#runs;
  }
  set runs(value: number) {
    this.#runs = value;
  }
  get prev(): TimerEntry | null {
    return this.#prev;
  }
  set prev(value: TimerEntry | null) {
    this.#prev = value;
  }
  get next(): TimerEntry | null {
    return this.#next;
  }
  set next(value: TimerEntry | null) {
    this.#next = value;
  }
  /** The run queued for a running slot, so that `cancel()` takes it out in O(1). */
  get waiting(): WaitingRun | null {
    return this.#waiting;
  }
  set waiting(value: WaitingRun | null) {
    this.#waiting = value;
  }

  /** A run starts: counted, and a one-shot timer is running (a premature run ends a repeating one). */
  runStarted(premature: boolean): void {
    this.#runs++;
    if (this.#repeat === null) this.#status = "running";
    else if (premature) this.#status = "done";
  }

  /** A run settled; true when none is left (a one-shot timer is then done). */
  runSettled(): boolean {
    if (--this.#runs !== 0) return false;
    if (this.#status === "running") this.#status = "done";
    return true;
  }

  get nextDue(): number | null {
    return this.#owner.nextDue(this);
  }

  cancel(): boolean {
    if (!TimerEntry.#isHandle(this)) {
      throw new InvalidArgTypeError(
        "timer.cancel",
        "this",
        "a timer handle: call it on the handle (t.cancel()), not detached from it",
        this,
      );
    }
    return this.#owner.cancel(this);
  }

  /** Whether `value` is a timer handle (a method called detached gets another `this`). */
  static #isHandle(value: unknown): boolean {
    return typeof value === "object" && value !== null && #owner in value;
  }

  /** The public shape, for `JSON.stringify`. */
  toJSON(): Pick<Timer, "name" | "state" | "repeating" | "kind" | "nextDue"> {
    return {
      name: this.name,
      state: this.state,
      repeating: this.repeating,
      kind: this.kind,
      nextDue: this.nextDue,
    };
  }

  [inspect.custom](_depth: number, options: object): string {
    return `Timer ${inspect(this.toJSON(), options)}`;
  }
}

/** Orders entries by due time, then creation. */
export function isEarlier(a: TimerEntry, b: TimerEntry): boolean {
  return a.due < b.due || (a.due === b.due && a.seq < b.seq);
}
