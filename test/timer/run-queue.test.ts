import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { TimerEntry } from "../../src/timer/entry.ts";
import { RunQueue, type WaitingRun } from "../../src/timer/run-queue.ts";
import { seededRandom } from "../helpers/random.ts";

/** Stand-ins for timer entries: the queue only stores them. */
const entry = (id: number): TimerEntry => ({ id }) as unknown as TimerEntry;
const idOf = (run: WaitingRun | undefined): number | undefined =>
  (run?.entry as unknown as { id: number } | undefined)?.id;

describe("the wait queue's ring", () => {
  it("keeps first-in, first-out order across wrap-around, growth and removals", () => {
    const queue = new RunQueue();
    const runs = new Map<number, WaitingRun>();
    for (let i = 0; i < 12; i++) runs.set(i, queue.push(entry(i), false, 0, 0));
    for (let i = 0; i < 10; i++) assert.equal(idOf(queue.shift()), i);
    for (let i = 12; i < 40; i++) runs.set(i, queue.push(entry(i), false, 0, 0)); // wraps, then grows
    for (const id of [11, 13, 20, 39]) assert.equal(queue.remove(runs.get(id)!), true);
    assert.equal(queue.remove(runs.get(13)!), false, "a removed run is not removed twice");
    const rest: number[] = [];
    for (let run = queue.shift(); run !== undefined; run = queue.shift()) rest.push(idOf(run)!);
    const expected = [10, 12, ...Array.from({ length: 25 }, (_, i) => i + 14)].filter((id) => id !== 20);
    assert.deepEqual(rest, expected);
    assert.equal(queue.size, 0);
  });

  it("matches a plain array under 200,000 random pushes, shifts and removals, in amortised O(1) moves", () => {
    for (const seed of [1, 2, 3]) {
      const next = seededRandom(seed);
      const queue = new RunQueue();
      const model: WaitingRun[] = [];
      let id = 0;
      for (let op = 0; op < 200_000; op++) {
        // Bursts: the push rate swings between growing and shrinking the queue.
        const pushBias = Math.sin(op / 5000) > 0 ? 0.65 : 0.3;
        const roll = next();
        if (roll < pushBias) {
          model.push(queue.push(entry(id++), false, 0, 0));
        } else if (roll < pushBias + (1 - pushBias) / 2) {
          assert.equal(queue.shift(), model.shift());
        } else if (model.length > 0) {
          const [run] = model.splice(Math.floor(next() * model.length), 1);
          assert.equal(queue.remove(run!), true);
        }
        assert.equal(queue.size, model.length);
      }
      assert.ok(queue.moves <= 3 * 200_000, `seed ${seed}: ${queue.moves} moves`);
      for (const run of model) assert.equal(queue.shift(), run);
      assert.equal(queue.shift(), undefined);
      assert.equal(queue.capacity, 16, "an empty queue returns to its smallest ring");
    }
  });

  it("shrinks with its length: capacity stays within four times the runs waiting", () => {
    const queue = new RunQueue();
    const runs = Array.from({ length: 5000 }, (_, i) => queue.push(entry(i), false, 0, 0));
    assert.ok(queue.capacity >= 5000);
    for (let i = runs.length - 1; i >= 0; i -= 2) queue.remove(runs[i]!); // holes everywhere
    for (let i = 0; i < 2400; i++) {
      queue.shift();
      assert.ok(queue.capacity <= Math.max(16, 4 * queue.size + 4), `${queue.capacity} for ${queue.size}`);
    }
    queue.clear();
    assert.deepEqual([queue.size, queue.capacity], [0, 16]);
    assert.equal(queue.remove(runs[0]!), false, "clear() takes every run out");
  });

  it("forEach visits the runs still queued, oldest first", () => {
    const queue = new RunQueue();
    const runs = Array.from({ length: 6 }, (_, i) => queue.push(entry(i), false, 0, 0));
    queue.remove(runs[2]!);
    queue.shift();
    const seen: number[] = [];
    queue.forEach((run) => seen.push(idOf(run)!));
    assert.deepEqual(seen, [1, 3, 4, 5]);
  });
});
