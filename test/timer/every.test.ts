import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { makeTimers, flushPromises, statsOf } from "../helpers/timer-system.ts";

describe("ngx.timer.every", () => {
  it("T-EV-01: every(0.05) observed for 0.11 s runs at 50 and 100 ms, not premature", () => {
    const { timers, clock } = makeTimers();
    const start = clock.now();
    const runs: [number, boolean][] = [];
    timers.every(0.05, (premature) => runs.push([clock.now() - start, premature]));
    clock.advance(110);
    assert.deepEqual(runs, [
      [50, false],
      [100, false],
    ]);
  });

  it("T-EV-02: every(0) and every(0.0001) throw 'delay cannot be zero'", () => {
    const { timers } = makeTimers();
    for (const interval of [0, 0.0001]) {
      assert.throws(() => timers.every(interval, () => undefined), {
        name: "RangeError",
        // OpenResty's words, and the argument by its documented name (it read "delay").
        message: /^ngx\.timer\.every: "interval" must be at least 0.001 seconds \(delay cannot be zero\)/,
      });
    }
    assert.throws(() => timers.every(-1, () => undefined), {
      message: /^ngx\.timer\.every: "interval" must be/,
    });
  });

  it("T-EV-03: each tick receives the original arguments", () => {
    const { timers, clock } = makeTimers();
    const log: string[] = [];
    let n = 0;
    timers.every(
      0.05,
      (_premature, a: number, b: number, c?: number) => {
        log.push(`the ${++n} time, args: ${a}, ${b}, ${String(c)}`);
        a = 0;
        b = 0;
        return [a, b];
      },
      1,
      2,
    );
    clock.advance(100);
    assert.deepEqual(log, ["the 1 time, args: 1, 2, undefined", "the 2 time, args: 1, 2, undefined"]);
  });

  it("T-EV-04: runs overlap by default when the callback outlasts the interval", async () => {
    const { timers, clock } = makeTimers();
    const finishers: (() => void)[] = [];
    let started = 0;
    timers.every(0.05, () => {
      started++;
      return new Promise<void>((resolve) => finishers.push(resolve));
    });
    clock.advance(110);
    assert.equal(started, 2);
    assert.equal(timers.runningCount, 2);
    for (const finish of finishers) finish();
    await flushPromises();
    assert.equal(timers.runningCount, 0);
  });

  it("overlap: false skips a tick while the previous run is still going", async () => {
    const { timers, clock } = makeTimers();
    const finishers: (() => void)[] = [];
    let started = 0;
    timers.every({ interval: 0.05, overlap: false }, () => {
      started++;
      return new Promise<void>((resolve) => finishers.push(resolve));
    });
    clock.advance(160);
    assert.equal(started, 1, "ticks at 100 and 150 ms were skipped");
    finishers.shift()?.();
    await flushPromises();
    clock.advance(50);
    assert.equal(started, 2, "the tick at 200 ms ran");
  });

  it("T-EV-05: with runningLimit 'drop' and maxRunning 2, ticks that find no slot are dropped with an alert", async () => {
    const { timers, clock, lines } = makeTimers({ maxRunning: 2, runningLimit: "drop" });
    const started: number[] = [];
    const start = clock.now();
    const finishers: { at: number; done: () => void }[] = [];
    timers.every(0.1, function poll() {
      started.push(clock.now() - start);
      return new Promise<void>((resolve) => finishers.push({ at: clock.now() + 250, done: resolve }));
    });
    for (let t = 0; t < 1000; t += 10) {
      clock.advance(10);
      for (const f of finishers.filter((x) => x.at <= clock.now())) {
        finishers.splice(finishers.indexOf(f), 1);
        f.done();
        await flushPromises();
      }
    }
    assert.deepEqual(started, [100, 200, 400, 500, 700, 800, 1000]);
    const alerts = lines.filter((l) => l.level === "alert");
    assert.equal(alerts.length, 3);
    assert.match(
      alerts[0]?.message ?? "",
      /^failed to run timer with function poll at .*every\.test\.ts:\d+: 2 timers\.maxRunning are not enough$/,
    );
  });

  it("with the default 'wait' policy the same ticks wait for a slot (deliberate difference), one per timer", async () => {
    const { timers, clock } = makeTimers({ maxRunning: 2 });
    const started: number[] = [];
    const start = clock.now();
    const finishers: { at: number; done: () => void }[] = [];
    let mostRunning = 0;
    timers.every(0.1, () => {
      started.push(clock.now() - start);
      mostRunning = Math.max(mostRunning, timers.runningCount);
      return new Promise<void>((resolve) => finishers.push({ at: clock.now() + 250, done: resolve }));
    });
    for (let t = 0; t < 1000; t += 10) {
      clock.advance(10);
      for (const f of finishers.filter((x) => x.at <= clock.now())) {
        finishers.splice(finishers.indexOf(f), 1);
        f.done();
        await flushPromises();
      }
    }
    // the tick due at 300 waits for the run that ends at 350; the one due at 400 waits for the run that ends at 450
    assert.deepEqual(started.slice(0, 4), [100, 200, 350, 450]);
    assert.ok(mostRunning <= 2, `at most 2 ran at once, saw ${mostRunning}`);
    assert.ok(timers.pendingCount <= 2, "the next tick, and at most one tick waiting for a slot");
  });

  it("T-EV-06: the pending limit applies to every(); limits never log an [error]", () => {
    const { timers, lines } = makeTimers({ maxPending: 10 });
    for (let i = 0; i < 10; i++) timers.every(0.1, () => undefined);
    assert.throws(() => timers.every(0.1, () => undefined), { reason: "too many pending timers" });
    assert.equal(lines.filter((l) => l.level === "error").length, 0);
  });

  it("T-EV-07: inside a lone every callback, pending is 1 (the re-armed tick) and running is 1", () => {
    const { timers, clock } = makeTimers();
    const seen: [number, number][] = [];
    timers.every(0.05, () => seen.push([timers.pendingCount, timers.runningCount]));
    clock.advance(50);
    assert.deepEqual(seen, [[1, 1]]);
  });

  it("T-EV-08: graceful exit gives an active every exactly one premature call", () => {
    const { timers, clock } = makeTimers();
    const calls: [boolean, boolean][] = [];
    timers.every(0.2, (premature) => calls.push([premature, timers.exiting]));
    clock.advance(250);
    timers.beginExit();
    clock.advance(1000);
    assert.deepEqual(calls, [
      [false, false],
      [true, true],
    ]);
  });

  it("T-EV-09: a negative interval is a RangeError (deliberate difference); 0.0015 s runs every 1 ms", () => {
    const { timers, clock } = makeTimers();
    assert.throws(() => timers.every(-0.05, () => undefined), RangeError);
    let runs = 0;
    timers.every(0.0015, () => runs++);
    clock.advance(300);
    assert.equal(runs, 300);
  });

  it("ticks stay on the creation grid however long callbacks take (deliberate difference 4)", () => {
    const { timers, clock } = makeTimers();
    const start = clock.now();
    const at: number[] = [];
    timers.every(0.1, () => {
      at.push(clock.now() - start);
      clock.jump(30); // a slow synchronous callback
    });
    clock.advance(450);
    assert.deepEqual(at, [100, 200, 300, 400]);
  });

  it("ticks that fall wholly behind are skipped, not burst: the tick due runs once, late, then the grid goes on (README)", () => {
    const { timers, clock } = makeTimers();
    const start = clock.now();
    const at: number[] = [];
    const dues: number[] = [];
    timers.every({ interval: 0.1, name: "grid" }, () => {
      at.push(clock.now() - start);
      dues.push(timers.current()?.due ?? NaN); // epoch seconds
    });
    clock.advance(100);
    clock.jump(350); // the event loop is blocked from 100 to 450 ms
    clock.advance(200);
    assert.deepEqual(at, [100, 450, 500, 600]);
    assert.deepEqual(
      dues.map((due) => Math.round((due - (dues[0] ?? NaN)) * 1000)),
      [0, 100, 400, 500],
      "the late run is the tick due at 200 ms",
    );
    assert.equal(statsOf(timers, "grid").skipped, 2, "the ticks due at 300 and 400");
  });

  it("keeps due order between every timers of one interval after one of them skips ahead", () => {
    const { timers, clock } = makeTimers();
    const start = clock.now();
    const trace: string[] = [];
    timers.every(0.01, () => trace.push(`A${clock.now() - start}`));
    clock.jump(9);
    timers.every(0.01, () => trace.push(`B${clock.now() - start}`));
    clock.advance(10); // A at 10, B at 19
    clock.jump(15); // blocked until 34: A (due 20) and B (due 29) are both behind
    clock.advance(10);
    // A skips ahead to 40 and B to 39: B's tick is inserted before A's although it was re-armed later
    assert.deepEqual(trace, ["A10", "B19", "A34", "B34", "B39", "A40"]);
  });
});
