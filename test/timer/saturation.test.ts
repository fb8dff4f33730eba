import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { makeTimers, flushPromises } from "../helpers/timer-system.ts";

/** A timer system whose single running slot is held until `release()`, with `count` timers waiting. */
function saturated(count: number): {
  timers: ReturnType<typeof makeTimers>["timers"];
  clock: ReturnType<typeof makeTimers>["clock"];
  release: () => void;
  order: number[];
} {
  const { timers, clock } = makeTimers({ maxRunning: 1, maxPending: count + 16 });
  let release = (): void => undefined;
  timers.at(0, () => new Promise<void>((resolve) => (release = resolve)));
  const order: number[] = [];
  for (let i = 0; i < count; i++) {
    timers.at(0, () => {
      order.push(i);
    });
  }
  clock.turn();
  return { timers, clock, release: () => release(), order };
}

describe("the wait queue under saturation", () => {
  it("20,000 synchronous timers waiting behind maxRunning 1 all run, in order, once the slot frees", async () => {
    const { timers, release, order } = saturated(20_000);
    assert.equal(timers.pendingCount, 20_000);
    assert.equal(timers.waitQueue.size, 20_000);
    release();
    await flushPromises();
    assert.equal(order.length, 20_000);
    assert.ok(
      order.every((value, index) => value === index),
      "creation order",
    );
    assert.deepEqual([timers.pendingCount, timers.runningCount], [0, 0]);
  });

  it("with 40,000 timers waiting for a slot, cancelling 40,000 pending and then the waiting ones costs O(1) each", async () => {
    const baseline = makeTimers().timers.waitQueue.capacity;
    const { timers, clock } = makeTimers({ maxRunning: 1, maxPending: 90_000 });
    let release = (): void => undefined;
    timers.at(0, () => new Promise<void>((resolve) => (release = resolve)));
    let ran = 0;
    const waiting = Array.from({ length: 40_000 }, () =>
      timers.at(0, () => {
        ran++;
      }),
    );
    clock.turn();
    const delayed = Array.from({ length: 40_000 }, () =>
      timers.at(60, () => {
        ran++;
      }),
    );
    assert.equal(timers.waitQueue.size, 40_000);
    const movesBefore = timers.waitQueue.moves;
    const started = performance.now();
    let stopped = 0;
    for (const timer of [...delayed, ...waiting]) if (timer.cancel()) stopped++;
    const elapsed = performance.now() - started;
    assert.equal(stopped, 80_000);
    assert.equal(timers.pendingCount, 0);
    assert.equal(timers.waitQueue.size, 0);
    assert.equal(timers.waitQueue.capacity, baseline, "memory back to the baseline");
    const moved = timers.waitQueue.moves - movesBefore;
    assert.ok(
      moved <= 2 * 40_000,
      `amortised O(1): ${moved} records moved for 40,000 cancels of waiting runs`,
    );
    assert.ok(elapsed < 2000, `sanity bound: took ${elapsed.toFixed(0)} ms`);
    release();
    await flushPromises();
    clock.advance(60_000);
    assert.equal(ran, 0);
  });

  it("the queue's capacity follows its length down while a burst drains, back to the baseline", async () => {
    const { timers, clock } = makeTimers({ maxRunning: 1, maxPending: 20_000 });
    const baseline = timers.waitQueue.capacity;
    const releases: (() => void)[] = [];
    const hold = (): Promise<void> => new Promise<void>((resolve) => releases.push(resolve));
    for (let i = 0; i < 10_001; i++) timers.at(0, hold);
    clock.turn();
    const peak = timers.waitQueue.capacity;
    assert.ok(peak >= 10_000);
    for (let run = 0; run < 10_001; run++) {
      releases.shift()?.();
      await Promise.resolve();
      await Promise.resolve();
      const { size, capacity } = timers.waitQueue;
      assert.ok(capacity <= Math.max(baseline, 4 * size + 4), `capacity ${capacity} for ${size} waiting`);
    }
    await flushPromises();
    assert.deepEqual([timers.pendingCount, timers.runningCount], [0, 0]);
    assert.equal(timers.waitQueue.capacity, baseline);
  });

  it("under sustained saturation the queue's capacity stays bounded by its length", async () => {
    const { timers, clock } = makeTimers({ maxRunning: 1, maxPending: 1000 });
    const releases: (() => void)[] = [];
    const hold = (): Promise<void> => new Promise<void>((resolve) => releases.push(resolve));
    for (let i = 0; i < 101; i++) timers.at(0, hold);
    clock.turn();
    let most = 0;
    for (let round = 0; round < 5000; round++) {
      timers.at(0, hold);
      clock.turn();
      releases.shift()?.();
      await Promise.resolve();
      await Promise.resolve();
      most = Math.max(most, timers.waitQueue.capacity);
    }
    assert.equal(timers.waitQueue.size, 100, "the queue never emptied");
    assert.ok(most <= 256, `capacity peaked at ${most} for 100 waiting runs over 5,000 runs`);
    for (const release of releases.splice(0)) release();
    timers.destroy();
  });
});
