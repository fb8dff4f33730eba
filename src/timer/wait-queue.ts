import type { TimerEntry } from "./entry.ts";

/** A due run queued for a running slot. */
export interface WaitingRun {
  readonly entry: TimerEntry;
  readonly premature: boolean;
}

interface Queued extends WaitingRun {
  cancelled: boolean;
}

/**
 * Due runs waiting for a running slot (the "wait" policy), first in, first out; which is due
 * order, since the core starts runs in due order. An `every` timer has at most one tick here: a
 * later tick that finds one waiting is skipped. Cancelling marks a run; `shift` skips marked runs.
 */
export class WaitQueue {
  #runs: Queued[] = [];
  #head = 0;
  readonly #ticks = new Map<TimerEntry, Queued>();

  /** Queues a run; false when an `every` timer already has a tick waiting (this one is skipped). */
  push(entry: TimerEntry, premature: boolean): boolean {
    if (entry.repeating && this.#ticks.has(entry)) return false;
    const run: Queued = { entry, premature, cancelled: false };
    this.#runs.push(run);
    if (entry.repeating) this.#ticks.set(entry, run);
    return true;
  }

  /** The next run that was not cancelled, or undefined. */
  shift(): WaitingRun | undefined {
    while (this.#head < this.#runs.length) {
      const run = this.#runs[this.#head++] as Queued;
      if (run.cancelled) continue;
      if (run.entry.repeating) this.#ticks.delete(run.entry);
      if (this.#head === this.#runs.length) this.clear();
      return run;
    }
    this.clear();
    return undefined;
  }

  /** Whether `entry` has a run waiting. */
  has(entry: TimerEntry): boolean {
    return entry.repeating ? this.#ticks.has(entry) : this.#find(entry) !== undefined;
  }

  /** Drops `entry`'s waiting run; false when it had none. */
  cancel(entry: TimerEntry): boolean {
    const run = entry.repeating ? this.#ticks.get(entry) : this.#find(entry);
    if (run === undefined) return false;
    run.cancelled = true;
    this.#ticks.delete(entry);
    return true;
  }

  clear(): void {
    this.#runs = [];
    this.#head = 0;
    this.#ticks.clear();
  }

  #find(entry: TimerEntry): Queued | undefined {
    for (let i = this.#head; i < this.#runs.length; i++) {
      const run = this.#runs[i] as Queued;
      if (run.entry === entry && !run.cancelled) return run;
    }
    return undefined;
  }
}
