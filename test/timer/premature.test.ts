import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TimerError } from "../../src/errors.ts";
import { makeTimers, flushPromises } from "../helpers/timer-system.ts";

describe("premature expiry on graceful exit", () => {
  it("T-PRE-01: each pending timer runs once, at once, with premature = true", () => {
    const { timers, clock } = makeTimers();
    const calls: string[] = [];
    for (let i = 1; i <= 10; i++) timers.at(3, (premature) => calls.push(`hello, ${i}! ${premature}`));
    clock.advance(100);
    timers.beginExit();
    assert.equal(calls.length, 10, "fired synchronously, without waiting for the due time");
    assert.deepEqual(
      calls,
      Array.from({ length: 10 }, (_, i) => `hello, ${i + 1}! true`),
    );
    clock.advance(5000);
    assert.equal(calls.length, 10, "no further run");
    assert.equal(timers.pendingCount, 0);
  });

  it("T-PRE-02: inside a premature callback, at(3) throws 'process exiting' while at(0) runs with premature = false", () => {
    const { timers, clock } = makeTimers();
    const log: string[] = [];
    timers.at(3, () => {
      try {
        timers.at(3, () => undefined);
      } catch (error) {
        assert.ok(error instanceof TimerError);
        log.push(`failed to register a new timer after reload: ${error.reason}`);
      }
      timers.at(0, (premature) => log.push(`g premature ${premature} exiting=${timers.exiting}`));
    });
    timers.beginExit();
    clock.turn();
    assert.deepEqual(log, [
      "failed to register a new timer after reload: process exiting",
      "g premature false exiting=true",
    ]);
  });

  it("T-PRE-03: all 100 pending timers are found and fired", () => {
    const { timers } = makeTimers({ maxPending: 8192 });
    let fired = 0;
    for (let i = 4; i < 104; i++) timers.at(i, () => fired++);
    timers.beginExit();
    assert.equal(fired, 100);
    const many = makeTimers({ maxPending: 8192 });
    let count = 0;
    for (let i = 0; i < 8191; i++) many.timers.at(1 + ((i * 7919) % 1000) / 10, () => count++);
    many.timers.beginExit();
    assert.equal(count, 8191);
  });

  it("T-PRE-04: every fires first (earlier due), then at; inside, delayed timers are refused and at(0) works", () => {
    const { timers, clock } = makeTimers();
    const log: string[] = [];
    timers.every(0.2, (premature) => log.push(`every premature=${premature}`));
    timers.at(100, (premature) => {
      log.push(`at premature=${premature}`);
      for (const make of [() => timers.at(1, () => undefined), () => timers.every(1, () => undefined)]) {
        assert.throws(make, { reason: "process exiting" });
      }
      timers.at(0, (p) => log.push(`zero premature=${p}`));
    });
    timers.beginExit();
    clock.turn();
    assert.deepEqual(log, ["every premature=true", "at premature=true", "zero premature=false"]);
  });

  it("T-PRE-05: a callback running when exit begins is not interrupted; whenIdle waits for it", async () => {
    const { timers, clock } = makeTimers();
    let finish = (): void => undefined;
    let exitingInside = false;
    timers.at(0, async () => {
      await new Promise<void>((resolve) => (finish = resolve));
      exitingInside = timers.exiting;
    });
    clock.turn();
    timers.beginExit();
    let idle = false;
    void timers.whenIdle().then(() => (idle = true));
    await flushPromises();
    assert.equal(idle, false);
    finish();
    await flushPromises();
    assert.equal(exitingInside, true);
    assert.equal(idle, true);
    assert.deepEqual([timers.pendingCount, timers.runningCount], [0, 0]);
  });

  it("T-PRE-07: with the 'drop' policy, premature runs that find no slot are dropped with the alert", () => {
    const { timers, clock, lines } = makeTimers({ maxRunning: 2, runningLimit: "drop" });
    timers.at(0, () => new Promise(() => undefined));
    timers.at(0, () => new Promise(() => undefined));
    let ran = 0;
    timers.at(100, () => ran++);
    timers.at(100, () => ran++);
    clock.turn();
    timers.beginExit();
    assert.equal(ran, 0);
    assert.equal(lines.filter((l) => /2 timers\.maxRunning are not enough/.test(l.message)).length, 2);
  });

  it("T-PRE-07 (deliberate difference): with the default 'wait' policy, premature runs wait for a slot and all run", async () => {
    const { timers, clock } = makeTimers({ maxRunning: 2 });
    const releases: (() => void)[] = [];
    const hold = (): Promise<void> => new Promise<void>((resolve) => releases.push(resolve));
    timers.at(0, hold);
    timers.at(0, hold);
    const ran: boolean[] = [];
    timers.at(100, (premature) => void ran.push(premature));
    timers.at(100, (premature) => void ran.push(premature));
    clock.turn();
    timers.beginExit();
    assert.deepEqual(ran, []);
    assert.equal(timers.pendingCount, 2, "waiting premature runs are still pending");
    for (const release of releases) release();
    await flushPromises();
    assert.deepEqual(ran, [true, true]);
  });

  it("zero-delay timers pending when exit begins run normally (premature = false)", () => {
    const { timers, clock } = makeTimers();
    const seen: boolean[] = [];
    timers.at(0, (premature) => seen.push(premature));
    timers.beginExit();
    assert.deepEqual(seen, []);
    clock.turn();
    assert.deepEqual(seen, [false]);
  });

  it("beginExit is idempotent, and destroy() forgets pending timers without running them", () => {
    const { timers, clock } = makeTimers();
    let runs = 0;
    timers.at(5, () => runs++);
    timers.beginExit();
    timers.beginExit();
    assert.equal(runs, 1);
    const fast = makeTimers();
    const t = fast.timers.at(5, () => runs++);
    fast.timers.destroy();
    fast.timers.destroy();
    fast.clock.advance(10_000);
    clock.advance(10_000);
    assert.equal(runs, 1);
    assert.equal(t.state, "cancelled");
    assert.equal(fast.timers.pendingCount, 0);
  });
});
