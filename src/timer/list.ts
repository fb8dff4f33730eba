import { isEarlier, type TimerEntry } from "./entry.ts";

/**
 * The timers that share one delay, sorted by due time. For `at` timers, creation order is
 * due order, because the clock only moves forward: appending keeps the list sorted, so creating a timer is O(1) and the heap only
 * has to order the lists, not the timers (the same idea as Node's lib/internal/timers.js).
 */
export class TimerList {
  /** The map key: the delay of `at` timers, minus the interval for `every` timers. */
  readonly key: number;
  head: TimerEntry | null = null;
  tail: TimerEntry | null = null;
  /** Position in the heap, kept by the heap. */
  heapIndex = -1;

  constructor(key: number) {
    this.key = key;
  }

  /**
   * Inserts by due time, walking back from the tail. `every` ticks use this: a tick that
   * skipped ahead can land before a later-created timer of the same interval.
   */
  insertSorted(entry: TimerEntry): void {
    let after = this.tail;
    while (after !== null && isEarlier(entry, after)) after = after.prev;
    if (after === this.tail) {
      this.append(entry);
      return;
    }
    const before = after === null ? (this.head as TimerEntry) : (after.next as TimerEntry);
    entry.prev = after;
    entry.next = before;
    before.prev = entry;
    if (after === null) this.head = entry;
    else after.next = entry;
  }

  append(entry: TimerEntry): void {
    entry.prev = this.tail;
    entry.next = null;
    if (this.tail === null) this.head = entry;
    else this.tail.next = entry;
    this.tail = entry;
  }

  /** Takes the head out (the list is not empty): what firing does, in fewer steps than `remove`. */
  removeHead(): void {
    const entry = this.head as TimerEntry;
    const next = entry.next;
    this.head = next;
    if (next === null) this.tail = null;
    else next.prev = null;
    entry.next = null;
  }

  remove(entry: TimerEntry): void {
    if (entry.prev === null) this.head = entry.next;
    else entry.prev.next = entry.next;
    if (entry.next === null) this.tail = entry.prev;
    else entry.next.prev = entry.prev;
    entry.prev = null;
    entry.next = null;
  }
}
