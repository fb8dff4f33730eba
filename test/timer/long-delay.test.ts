import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { makeTimers } from "../helpers/timer-system.ts";

const DAY = 86_400_000;

describe("delays beyond setTimeout's 24.8 days", () => {
  it("an at of 30 days fires after 30 days, the host timer armed in steps Node honours", () => {
    const { timers, clock } = makeTimers();
    const start = clock.now();
    const fired: number[] = [];
    timers.at(30 * 86_400, () => fired.push(clock.now() - start));
    clock.advance(25 * DAY);
    assert.deepEqual(fired, [], "a first step of at most 2^31-1 ms woke the core without firing");
    assert.equal(timers.pendingCount, 1);
    clock.advance(5 * DAY);
    assert.deepEqual(fired, [30 * DAY]);
  });

  it("an every of 40 days ticks at 40 and 80 days", () => {
    const { timers, clock } = makeTimers();
    const start = clock.now();
    const ticks: number[] = [];
    timers.every(40 * 86_400, () => ticks.push((clock.now() - start) / DAY));
    clock.advance(81 * DAY);
    assert.deepEqual(ticks, [40, 80]);
  });

  it("a long timer does not hold back a shorter one created later", () => {
    const { timers, clock } = makeTimers();
    const trace: string[] = [];
    timers.at(365 * 86_400, () => trace.push("year"));
    timers.at(1, () => trace.push("second"));
    clock.advance(1000);
    assert.deepEqual(trace, ["second"]);
    clock.advance(365 * DAY);
    assert.deepEqual(trace, ["second", "year"]);
  });

  it("graceful exit fires a timer due in ten years at once, premature", () => {
    const { timers } = makeTimers();
    const calls: boolean[] = [];
    timers.at(10 * 365 * 86_400, (premature) => calls.push(premature));
    timers.beginExit();
    assert.deepEqual(calls, [true]);
  });
});
