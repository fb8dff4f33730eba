import type { Cancel, Clock } from "../../src/util/clock.ts";

interface Task {
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
}

/**
 * A clock that moves only when told. `advance(ms)` runs every scheduled wake-up due within
 * `ms`, in time order, with `now()` set to each one's time, as a real event loop would.
 */
export class ManualClock implements Clock {
  #now: number;
  #seq = 0;
  #tasks: Task[] = [];

  constructor(start = 1000) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  schedule(ms: number, fn: () => void): Cancel {
    const task: Task = { at: this.#now + Math.max(0, ms), seq: this.#seq++, fn };
    this.#tasks.push(task);
    return () => {
      this.#tasks = this.#tasks.filter((t) => t !== task);
    };
  }

  /** Number of wake-ups scheduled and not yet run. */
  get scheduled(): number {
    return this.#tasks.length;
  }

  /**
   * Moves time forward by `ms`, running wake-ups as they come due, in time order; wake-ups
   * scheduled while running run too when they are due by then. Throws after 100,000 wake-ups
   * (a livelock in the code under test, such as a timer that re-arms itself forever).
   */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (let ran = 0; ; ran++) {
      if (ran === 100_000)
        throw new Error("ManualClock.advance: 100,000 wake-ups without reaching the target");
      const next = this.#earliest(target);
      if (next === undefined) break;
      this.#run(next);
    }
    this.#now = target;
  }

  /** Runs only the wake-ups due now that were scheduled before this call: one event-loop turn. */
  turn(): number {
    const due = this.#tasks
      .filter((task) => task.at <= this.#now)
      .sort((a, b) => a.at - b.at || a.seq - b.seq);
    for (const task of due) this.#run(task);
    return due.length;
  }

  #earliest(target: number): Task | undefined {
    let next: Task | undefined;
    for (const task of this.#tasks) {
      if (
        task.at <= target &&
        (next === undefined || task.at < next.at || (task.at === next.at && task.seq < next.seq))
      ) {
        next = task;
      }
    }
    return next;
  }

  #run(task: Task): void {
    this.#tasks = this.#tasks.filter((t) => t !== task);
    if (task.at > this.#now) this.#now = task.at;
    task.fn();
  }

  /** Moves time without running anything: a blocked event loop. */
  jump(ms: number): void {
    this.#now += ms;
  }
}
