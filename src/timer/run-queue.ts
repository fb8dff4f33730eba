import type { TimerEntry } from "./entry.ts";

/**
 * A due run queued for a running slot. The record knows its slot in the ring, so the core can
 * take it out in O(1) (a cancelled timer, or destroy); `slot` is -1 once it left the queue.
 */
export interface WaitingRun {
  readonly entry: TimerEntry;
  /** Set when the run was queued by graceful exit, or was still waiting when exit began. */
  premature: boolean;
  /** When the run was due: monotonic ms (NaN for a catch-up run), and epoch ms − TICK_BASE. */
  readonly due: number;
  readonly tick: number;
  slot: number;
}

/** The smallest ring, and the one an empty queue returns to. A power of two. */
const MIN_CAPACITY = 16;

/**
 * Due runs waiting for a running slot (the "wait" policy), first in, first out, which is due
 * order since the core queues runs in due order. The same idea as Node's `FixedQueue` (a ring
 * indexed with a mask), plus O(1) removal from the middle: removing a record leaves a hole,
 * which the head steps over when it gets there.
 *
 * Memory follows the length both ways, so a burst does not pin its peak for good. The ring
 * doubles when full; it is rebuilt without holes when holes outnumber live runs, halved when a
 * quarter or less is in use, and reset to its smallest size when it empties. Each rebuild moves
 * at most the live runs, and takes a number of pushes or removals at least proportional to
 * them to trigger again, so every operation is amortised O(1); `moves` counts the records
 * rebuilt, for the tests that hold the queue to that.
 */
export class RunQueue {
  #ring: (WaitingRun | undefined)[] = new Array<WaitingRun | undefined>(MIN_CAPACITY);
  #mask = MIN_CAPACITY - 1;
  /** Slot of the oldest run; never a hole while the queue is not empty. */
  #head = 0;
  /** Slots in use from the head on, holes included. */
  #span = 0;
  #holes = 0;
  #moves = 0;

  /** Runs queued and not removed. */
  get size(): number {
    return this.#span - this.#holes;
  }

  /** Slots allocated. */
  get capacity(): number {
    return this.#ring.length;
  }

  /** Records moved by rebuilds since the queue was made. */
  get moves(): number {
    return this.#moves;
  }

  push(entry: TimerEntry, premature: boolean, due: number, tick: number): WaitingRun {
    if (this.#span === this.#ring.length) this.#rebuild(this.#ring.length * 2);
    const slot = (this.#head + this.#span) & this.#mask;
    const run: WaitingRun = { entry, premature, due, tick, slot };
    this.#ring[slot] = run;
    this.#span++;
    return run;
  }

  /** The oldest run, taken out of the queue, or undefined when none waits. */
  shift(): WaitingRun | undefined {
    const run = this.#ring[this.#head];
    if (run === undefined) return undefined;
    this.#ring[this.#head] = undefined;
    run.slot = -1;
    this.#advance();
    return run;
  }

  /** Takes `run` out of the queue; false when it already left. */
  remove(run: WaitingRun): boolean {
    if (run.slot < 0) return false;
    this.#ring[run.slot] = undefined;
    const atHead = run.slot === this.#head;
    run.slot = -1;
    if (atHead) {
      this.#advance();
    } else {
      this.#holes++;
      this.#fit();
    }
    return true;
  }

  /** Calls `visit` with each queued run, oldest first. `visit` must not change the queue. */
  forEach(visit: (run: WaitingRun) => void): void {
    for (let i = 0; i < this.#span; i++) {
      const run = this.#ring[(this.#head + i) & this.#mask];
      if (run !== undefined) visit(run);
    }
  }

  /** Removes every run. */
  clear(): void {
    this.forEach((run) => (run.slot = -1));
    this.#reset();
  }

  /**
   * Moves the head past the slot just emptied, and past the holes behind it (each hole is
   * stepped over once), so that the head slot holds a run whenever the queue is not empty.
   */
  #advance(): void {
    this.#head = (this.#head + 1) & this.#mask;
    this.#span--;
    while (this.#span > 0 && this.#ring[this.#head] === undefined) {
      this.#head = (this.#head + 1) & this.#mask;
      this.#span--;
      this.#holes--;
    }
    this.#fit();
  }

  /** Shrinks after a removal: to nothing, without holes, or to half. */
  #fit(): void {
    const size = this.#span - this.#holes;
    const capacity = this.#ring.length;
    if (size === 0) this.#reset();
    else if (capacity > MIN_CAPACITY && size <= capacity / 4) this.#rebuild(capacity / 2);
    else if (this.#holes > size) this.#rebuild(capacity);
  }

  #reset(): void {
    if (this.#ring.length !== MIN_CAPACITY) {
      this.#ring = new Array<WaitingRun | undefined>(MIN_CAPACITY);
      this.#mask = MIN_CAPACITY - 1;
    } else if (this.#span > 0) {
      this.#ring.fill(undefined);
    }
    this.#head = 0;
    this.#span = 0;
    this.#holes = 0;
  }

  /** Copies the live runs, in order, to the start of a new ring of `capacity` slots. */
  #rebuild(capacity: number): void {
    const ring = new Array<WaitingRun | undefined>(capacity);
    let size = 0;
    this.forEach((run) => {
      run.slot = size;
      ring[size++] = run;
    });
    this.#moves += size;
    this.#ring = ring;
    this.#mask = capacity - 1;
    this.#head = 0;
    this.#span = size;
    this.#holes = 0;
  }
}
