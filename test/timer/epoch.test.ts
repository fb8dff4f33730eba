import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ManualClock, WALL_START } from "../helpers/manual-clock.ts";
import { makeTimers } from "../helpers/timer-system.ts";

describe("every with align: 'epoch'", () => {
  it("puts tick n at n·interval since the epoch, the first at the next grid point after creation", () => {
    const { timers, clock } = makeTimers({ wallStart: WALL_START + 7_300 });
    const ticks: number[] = [];
    timers.every({ interval: 5, align: "epoch" }, () => ticks.push(clock.wallNow() - WALL_START));
    clock.advance(20_000);
    assert.deepEqual(ticks, [10_000, 15_000, 20_000, 25_000]);
  });

  it("plain every keeps its creation grid (t0 + n·interval)", () => {
    const { timers, clock } = makeTimers({ wallStart: WALL_START + 7_300 });
    const ticks: number[] = [];
    timers.every(5, () => ticks.push(clock.wallNow() - WALL_START));
    clock.advance(10_000);
    assert.deepEqual(ticks, [12_300, 17_300]);
  });

  /** Runs as [tick (s after WALL_START), wall clock at the run (s after WALL_START)]. */
  function recordRuns(timers: ReturnType<typeof makeTimers>["timers"], clock: ManualClock): number[][] {
    const runs: number[][] = [];
    timers.every({ interval: 10, align: "epoch" }, () => {
      const due = timers.current()?.due ?? NaN;
      runs.push([(due * 1000 - WALL_START) / 1000, (clock.wallNow() - WALL_START) / 1000]);
    });
    return runs;
  }

  it("a wall-clock step forward moves the grid and skips the ticks it jumped over, no burst", () => {
    const { timers, clock } = makeTimers();
    const runs = recordRuns(timers, clock);
    clock.advance(10_000); // tick 10 s
    clock.stepWall(35_000); // NTP: the wall clock jumps from 10 s to 45 s
    clock.advance(10_000); // tick 20, armed on the monotonic clock, fires at wall 55 s
    clock.advance(10_000); // the grid moved: tick 60 s, not 30, 40 and 50
    assert.deepEqual(runs, [
      [10, 10],
      [20, 55],
      [60, 60],
    ]);
  });

  it("a wall-clock step back never repeats a tick: the next one follows the last", () => {
    const { timers, clock } = makeTimers();
    const runs = recordRuns(timers, clock);
    clock.advance(20_000); // ticks 10 s and 20 s
    clock.stepWall(-15_000); // back from 20 s to 5 s
    clock.advance(10_000); // tick 30, armed before the step, fires at wall 15 s
    clock.advance(20_000); // wall 35 s: tick 40 is not due yet, and 10 and 20 are never run again
    assert.deepEqual(runs, [
      [10, 10],
      [20, 20],
      [30, 15],
    ]);
    clock.advance(5_000);
    assert.deepEqual(runs.at(-1), [40, 40]);
  });

  it("a tick is never run before its grid time when a callback earlier in the same turn took time (it was re-armed that much early)", () => {
    const { timers, clock } = makeTimers();
    const late: number[] = [];
    // Both due at every second; the first one's callback holds the event loop for 30 ms.
    timers.every({ interval: 1, align: "epoch" }, () => clock.jump(30));
    timers.every({ interval: 1, align: "epoch" }, () => {
      late.push(clock.wallNow() - (timers.current()?.due ?? NaN) * 1000);
    });
    clock.advance(5_000);
    assert.ok(late.length >= 4, `${late.length} runs`);
    assert.ok(
      late.every((ms) => ms >= 0),
      `runs before their tick: ${late.join(", ")} ms late`,
    );
  });

  it("refuses an align other than 'start' or 'epoch', and 'start' with singleton", () => {
    const { timers } = makeTimers({ gates: { host: { claim: () => true } } });
    const every = timers.every.bind(timers) as (...args: unknown[]) => unknown;
    assert.throws(() => every({ interval: 1, align: "wall" }, () => 0), {
      name: "RangeError",
      message: /"align" must be "start" or "epoch", received a string \("wall"\)/,
    });
    assert.throws(() => every({ interval: 1, align: "start", name: "x", singleton: "host" }, () => 0), {
      message: /"align" must be "epoch" \(singleton ticks sit on the epoch grid\)/,
    });
  });
});
