import type { TimerEntry } from "./entry.ts";
import { ListHeap } from "./heap.ts";
import { TimerList } from "./list.ts";

/** The key of the list that holds `entry`: its delay, or one per repeating schedule. */
const listKey = (entry: TimerEntry): number => (entry.repeat === null ? entry.delay : entry.repeat.listKey);

/**
 * Where pending timers wait: lists, one per delay of `at` timers (key ≥ 0), one per interval of
 * `every` timers (minus the interval), one for all cron timers (-Infinity), each sorted by due
 * time; and a binary heap that orders the lists by their heads. Appending an `at` keeps its list
 * sorted (creation order is due order), so creating one is O(1) plus a heap update at most.
 */
export class TimerStore {
  readonly #lists = new Map<number, TimerList>();
  readonly #heap = new ListHeap();

  /** The earliest pending timer, or undefined. */
  peek(): TimerEntry | undefined {
    return this.#heap.peek()?.head ?? undefined;
  }

  /** The earliest pending timer other than the zero-delay ones (which exit leaves due as usual). */
  peekDelayed(): TimerEntry | undefined {
    return this.#heap.peekExcept(this.#lists.get(0))?.head ?? undefined;
  }

  insert(entry: TimerEntry): void {
    const key = listKey(entry);
    let list = this.#lists.get(key);
    if (list === undefined) {
      list = new TimerList(key);
      this.#lists.set(key, list);
    }
    const wasEmpty = list.head === null;
    if (entry.repeat !== null) list.insertSorted(entry);
    else list.append(entry);
    if (wasEmpty) this.#heap.push(list);
    else if (list.head === entry) this.#heap.update(list);
  }

  /** Whether `entry` waits here. O(1). */
  holds(entry: TimerEntry): boolean {
    return entry.prev !== null || this.#lists.get(listKey(entry))?.head === entry;
  }

  remove(entry: TimerEntry): void {
    const list = this.#lists.get(listKey(entry)) as TimerList;
    const wasHead = list.head === entry;
    list.remove(entry);
    if (wasHead) this.#emptiedOrMoved(list);
  }

  /** `list` lost its head: it leaves the heap when empty, or takes its new head's place. */
  #emptiedOrMoved(list: TimerList): void {
    if (list.head === null) {
      this.#heap.remove(list);
      this.#lists.delete(list.key);
    } else {
      this.#heap.update(list);
    }
  }

  /** Takes out the earliest pending timer (what `peek` returns), without looking its list up. */
  removeFirst(): void {
    const list = this.#heap.peek() as TimerList;
    list.removeHead();
    this.#emptiedOrMoved(list);
  }

  /** Forgets every timer, calling `visit` with each. */
  clear(visit: (entry: TimerEntry) => void): void {
    for (const list of this.#lists.values()) {
      for (let entry = list.head; entry !== null; entry = entry.next) visit(entry);
    }
    this.#lists.clear();
    while (this.#heap.size > 0) this.#heap.remove(this.#heap.peek() as TimerList);
  }
}
