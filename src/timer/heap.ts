import { isEarlier } from "./entry.ts";
import type { TimerList } from "./list.ts";

/**
 * A binary min-heap of non-empty timer lists, keyed by each list's head. A list's key only
 * grows after it is in the heap (its head leaves, or is cancelled), so `update` sifts down.
 */
export class ListHeap {
  readonly #items: TimerList[] = [];

  get size(): number {
    return this.#items.length;
  }

  peek(): TimerList | undefined {
    return this.#items[0];
  }

  /**
   * The earliest list other than `skip`: the root, or, when the root is `skip`, the earlier of
   * its children (the second-earliest list of a binary heap is always one of them).
   */
  peekExcept(skip: TimerList | undefined): TimerList | undefined {
    const items = this.#items;
    const root = items[0];
    if (root === undefined || root !== skip) return root;
    const left = items[1];
    const right = items[2];
    if (left === undefined || right === undefined) return left;
    return this.#less(right, left) ? right : left;
  }

  push(list: TimerList): void {
    const items = this.#items;
    items.push(list);
    this.#up(items.length - 1, list);
  }

  /** Restores order after `list`'s head moved later. */
  update(list: TimerList): void {
    this.#down(list.heapIndex, list);
  }

  remove(list: TimerList): void {
    const items = this.#items;
    const index = list.heapIndex;
    const last = items.pop() as TimerList;
    list.heapIndex = -1;
    if (last === list) return;
    items[index] = last;
    last.heapIndex = index;
    if (index > 0 && this.#less(last, items[(index - 1) >> 1] as TimerList)) this.#up(index, last);
    else this.#down(index, last);
  }

  #less(a: TimerList, b: TimerList): boolean {
    return isEarlier(a.head as NonNullable<TimerList["head"]>, b.head as NonNullable<TimerList["head"]>);
  }

  #up(index: number, list: TimerList): void {
    const items = this.#items;
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = items[parentIndex] as TimerList;
      if (!this.#less(list, parent)) break;
      items[index] = parent;
      parent.heapIndex = index;
      index = parentIndex;
    }
    items[index] = list;
    list.heapIndex = index;
  }

  #down(index: number, list: TimerList): void {
    const items = this.#items;
    const length = items.length;
    for (;;) {
      let child = 2 * index + 1;
      if (child >= length) break;
      const right = child + 1;
      if (right < length && this.#less(items[right] as TimerList, items[child] as TimerList)) child = right;
      const smallest = items[child] as TimerList;
      if (!this.#less(smallest, list)) break;
      items[index] = smallest;
      smallest.heapIndex = index;
      index = child;
    }
    items[index] = list;
    list.heapIndex = index;
  }
}
