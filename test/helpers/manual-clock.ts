import { MAX_WAIT_MS, type Cancel, type Clock } from "../../src/util/clock.ts";

interface Task {
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
}

/** Where the wall clock of a manual clock starts by default: 2025-01-01T00:00:00Z. */
export const WALL_START = Date.UTC(2025, 0, 1);

/**
 * A clock that moves only when told. `advance(ms)` runs every scheduled wake-up due within
 * `ms`, in time order, with `now()` set to each one's time, as a real event loop would. The
 * wall clock moves with it, and `stepWall` moves it alone, as an NTP step does.
 */
export class ManualClock implements Clock {
  #now: number;
  /** wallNow() - now(). */
  #wallOffset: number;
  #seq = 0;
  #tasks: Task[] = [];

  constructor(start = 1000, wallStart = WALL_START) {
    this.#now = start;
    this.#wallOffset = wallStart - start;
  }

  now(): number {
    return this.#now;
  }

  wallNow(): number {
    return this.#now + this.#wallOffset;
  }

  /** Steps the wall clock by `ms` (negative: backwards) without moving monotonic time. */
  stepWall(ms: number): void {
    this.#wallOffset += ms;
  }

  /** Sets the wall clock to `epochMs` without moving monotonic time. */
  setWall(epochMs: number): void {
    this.#wallOffset = epochMs - this.#now;
  }

  /** Like Node's setTimeout, but a wait Node would turn into 1 ms is a bug in the code under test. */
  schedule(ms: number, fn: () => void): Cancel {
    if (ms > MAX_WAIT_MS) throw new Error(`ManualClock.schedule: ${ms} ms is more than setTimeout honours`);
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
    // A callback may have moved time past the target (jump): time never goes back.
    this.#now = Math.max(this.#now, target);
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
