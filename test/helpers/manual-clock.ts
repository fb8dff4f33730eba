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

  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      let next: Task | undefined;
      for (const task of this.#tasks) {
        if (task.at <= target && (next === undefined || task.at < next.at || (task.at === next.at && task.seq < next.seq))) {
          next = task;
        }
      }
      if (next === undefined) break;
      const task = next;
      this.#tasks = this.#tasks.filter((t) => t !== task);
      if (task.at > this.#now) this.#now = task.at;
      task.fn();
    }
    this.#now = target;
  }

  /** Moves time without running anything: a blocked event loop. */
  jump(ms: number): void {
    this.#now += ms;
  }
}
