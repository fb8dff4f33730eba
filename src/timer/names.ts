import { InvalidArgValueError } from "../errors.ts";
import type { TimerEntry } from "./entry.ts";
import { TimerRecord, type RecordShape, type TimerCounts, type TimerStats } from "./stats.ts";

/** Records of names with no live timer kept for status, beyond which the oldest are forgotten. */
const MAX_IDLE = 256;

/**
 * Timer names in one process: each name's statistics, and the timers that hold it.
 *
 * A repeating timer (`every`, `cron`) owns its name while it lives: a second live timer of that
 * name in the same process throws, as it is almost always a bug (OpenResty users create the
 * same timer in every worker, which is one per process). `at` timers may share a name with
 * each other (a job queued per request), never with a live repeating timer.
 */
export class TimerRegistry {
  readonly #records = new Map<string, TimerRecord>();
  /** All unnamed timers together. */
  readonly unnamed = new TimerRecord(null);
  #idle = 0;

  /** The record a new timer of `shape` named `name` joins; throws when the name is taken. */
  reserve(where: string, name: string, shape: RecordShape): TimerRecord {
    let record = this.#records.get(name);
    if (record === undefined) {
      record = new TimerRecord(name);
      this.#records.set(name, record);
      this.#idle++;
    } else if (record.live.size > 0 && (shape.kind !== "at" || record.shape?.kind !== "at")) {
      throw new InvalidArgValueError(
        where,
        "name",
        `unique among this process's live timers: name "${name}" is already used by a live timer in this process`,
        name,
      );
    }
    record.shape = shape;
    return record;
  }

  /** `entry` now holds its name. */
  add(entry: TimerEntry, record: TimerRecord): void {
    if (record.live.size === 0) this.#idle--;
    record.live.add(entry);
  }

  /** The statistics `entry` counts in. */
  recordOf(entry: TimerEntry): TimerRecord {
    const repeat = entry.repeat;
    if (repeat !== null) return repeat.record;
    const name = entry.name;
    return name === undefined ? this.unnamed : (this.#records.get(name) ?? this.unnamed);
  }

  /** `entry` is over: it no longer holds its name. */
  release(entry: TimerEntry): void {
    const name = entry.name;
    if (name === undefined) return;
    const record = this.#records.get(name);
    if (record === undefined || !record.live.delete(entry) || record.live.size > 0) return;
    // The newest idle record goes last, so the oldest are found first when some must go.
    this.#records.delete(name);
    this.#records.set(name, record);
    if (++this.#idle > MAX_IDLE) this.#forgetOldestIdle();
  }

  #forgetOldestIdle(): void {
    for (const [name, record] of this.#records) {
      if (record.live.size === 0) {
        this.#records.delete(name);
        this.#idle--;
        return;
      }
    }
  }

  /** The named timers not yet over. */
  liveTimers(): TimerEntry[] {
    const live: TimerEntry[] = [];
    for (const record of this.#records.values()) live.push(...record.live);
    return live;
  }

  /** Every name's figures, then the unnamed aggregate's (TimerRecord.snapshot). */
  snapshot(
    nextDue: (entry: TimerEntry) => number | null,
    toWall: (monotonic: number) => number,
  ): TimerStats[] {
    const stats: TimerStats[] = [];
    for (const record of this.#records.values()) {
      let earliest: number | null = null;
      for (const entry of record.live) {
        const due = nextDue(entry);
        if (due !== null && (earliest === null || due < earliest)) earliest = due;
      }
      stats.push(record.snapshot(earliest, toWall));
    }
    stats.push(this.unnamed.snapshot(null, toWall));
    return stats;
  }

  /** Every name's counters and histogram, then the unnamed aggregate's (TimerRecord.counts). */
  counts(): TimerCounts[] {
    const counts: TimerCounts[] = [];
    for (const record of this.#records.values()) counts.push(record.counts());
    counts.push(this.unnamed.counts());
    return counts;
  }

  /** Every timer is over (destroy). */
  clear(): void {
    for (const record of this.#records.values()) record.live.clear();
    this.#idle = this.#records.size;
    while (this.#idle > MAX_IDLE) this.#forgetOldestIdle();
  }
}
