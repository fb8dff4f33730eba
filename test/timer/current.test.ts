import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TimerSystem, type TimerRun } from "../../src/timer/index.ts";
import { systemClock } from "../../src/util/clock.ts";
import { WALL_START } from "../helpers/manual-clock.ts";
import { flushPromises, makeTimers } from "../helpers/timer-system.ts";

describe("ngx.timer.current()", () => {
  it("is undefined outside timer callbacks", () => {
    const { timers } = makeTimers();
    assert.equal(timers.current(), undefined);
  });

  it("gives name, due (s since the epoch, the scheduled time) and premature in a synchronous callback", () => {
    const { timers, clock } = makeTimers();
    const seen: (TimerRun | undefined)[] = [];
    timers.at({ delay: 1.5, name: "once" }, () => {
      clock.jump(40); // the callback takes a while: due stays the scheduled time
      seen.push(timers.current());
    });
    clock.advance(1500);
    assert.deepEqual(seen, [{ name: "once", due: (WALL_START + 1500) / 1000, premature: false }]);
    assert.equal(timers.current(), undefined, "nothing is left marked after the run");
  });

  it("survives await in an async callback, with two runs interleaved", async () => {
    const { timers, clock } = makeTimers();
    const seen: string[] = [];
    const job = async (_premature: boolean, label: string): Promise<void> => {
      seen.push(`${label} before ${timers.current()?.name ?? "none"}`);
      await flushPromises();
      const run = timers.current();
      seen.push(`${label} after ${run?.name ?? "none"} ${((run?.due ?? 0) * 1000 - WALL_START) / 1000}`);
    };
    timers.at({ delay: 1, name: "a" }, job, "A");
    timers.at({ delay: 2, name: "b" }, job, "B");
    clock.advance(2000);
    assert.equal(timers.current(), undefined);
    await flushPromises();
    await flushPromises();
    assert.deepEqual(seen.sort(), ["A after a 1", "A before a", "B after b 2", "B before b"]);
  });

  it("survives await in an async callback whose prototype was changed (it was taken for a plain function, and lost its run at the first await)", async () => {
    const { timers, clock } = makeTimers();
    const seen: string[] = [];
    const job = Object.setPrototypeOf(async (): Promise<void> => {
      await flushPromises();
      seen.push(timers.current()?.name ?? "none");
    }, Function.prototype) as () => Promise<void>;
    timers.at({ delay: 1, name: "disguised" }, job);
    clock.advance(1000);
    await flushPromises();
    await flushPromises();
    assert.deepEqual(seen, ["disguised"]);
  });

  it("gives an epoch-aligned timer's grid time as due, the same in any process", () => {
    const { timers, clock } = makeTimers({ wallStart: WALL_START + 1234 });
    const dues: number[] = [];
    timers.every({ interval: 10, align: "epoch" }, () => dues.push(timers.current()?.due ?? NaN));
    clock.advance(25_000);
    assert.deepEqual(dues, [(WALL_START + 10_000) / 1000, (WALL_START + 20_000) / 1000]);
  });

  it("marks a premature call, also one run inside another callback (graceful exit from a callback)", () => {
    const { timers, clock } = makeTimers();
    const seen: (string | undefined)[] = [];
    timers.at({ delay: 100, name: "late" }, (premature) =>
      seen.push(`late ${String(premature)} ${String(timers.current()?.premature)}`),
    );
    timers.at({ delay: 0, name: "exit" }, () => {
      const before = timers.current();
      timers.beginExit();
      const after = timers.current();
      seen.push(`${String(after?.name)} ${String(after?.premature)} ${String(after?.due === before?.due)}`);
    });
    clock.advance(0);
    // The outer run's mark is whole again after the premature call inside it.
    assert.deepEqual(seen, ["late true true", "exit false true"]);
  });

  it("a throwing callback leaves nothing marked", () => {
    const { timers, clock } = makeTimers();
    timers.at({ delay: 0, name: "boom" }, () => {
      throw new Error("boom");
    });
    clock.advance(0);
    assert.equal(timers.current(), undefined);
  });
});

/** A timer system on the real clock, logging nothing. */
const realTimers = (): TimerSystem =>
  new TimerSystem({
    clock: systemClock,
    log: () => {},
    maxPending: 16,
    maxRunning: 16,
    runningLimit: "wait",
  });

describe("ngx.timer.current() on the real clock", () => {
  it("a synchronous callback's continuations see no run, not the async run that created it (stop 26)", async () => {
    const timers = realTimers();
    const seen: string[] = [];
    const show = (run: TimerRun | undefined): string => run?.name ?? "none";
    let done!: () => void;
    const finished = new Promise<void>((resolve) => (done = resolve));
    timers.at({ delay: 0, name: "A" }, async () => {
      timers.at({ delay: 0.01, name: "B" }, () => {
        seen.push(`B sync ${show(timers.current())}`);
        setTimeout(() => seen.push(`B setTimeout ${show(timers.current())}`), 1);
        return new Promise((resolve) => setTimeout(resolve, 5)).then(() => {
          seen.push(`B then ${show(timers.current())}`);
        });
      });
      await new Promise((resolve) => setTimeout(resolve, 50));
      seen.push(`A after await ${show(timers.current())}`);
      done();
    });
    await finished;
    assert.deepEqual(seen, ["B sync B", "B setTimeout none", "B then none", "A after await A"]);
    await timers.whenIdle();
  });

  it("work an async run left behind (a setTimeout) sees no run once the run settled, whether or not another async run is going", async () => {
    const timers = realTimers();
    const seen: string[] = [];
    const show = (label: string): void => {
      seen.push(`${label}: ${timers.current()?.name ?? "none"}`);
    };
    const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
    timers.at({ delay: 0, name: "A" }, async () => {
      setTimeout(() => show("A's leftover while B runs"), 60);
      setTimeout(() => show("A's leftover with no run going"), 250);
      await sleep(10);
      show("A after await");
    });
    timers.at({ delay: 0.02, name: "B" }, async () => {
      await sleep(100);
      show("B after await");
    });
    await sleep(400);
    // Before (Node 20): "A's leftover while B runs: A" — a run that had ended, seen only because
    // another async run kept the store enabled; with none going, the same leftover saw none.
    assert.deepEqual(seen, [
      "A after await: A",
      "A's leftover while B runs: none",
      "B after await: B",
      "A's leftover with no run going: none",
    ]);
    await timers.whenIdle();
  });
});
