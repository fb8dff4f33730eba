import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { makeTimers } from "../helpers/timer-system.ts";

describe("timer ordering", () => {
  it("T-AT-06: timers fire by due time, then creation order (a negative delay is a RangeError here)", () => {
    const { timers, clock } = makeTimers();
    const trace: string[] = [];
    const add = (delay: number, name: string): void => {
      timers.at(delay, () => {
        trace.push(name);
      });
    };
    add(0.01, "A");
    add(0, "B");
    add(0.005, "C");
    add(0, "D");
    add(0.01, "E");
    assert.throws(() => add(-1, "F"), RangeError);
    add(0.0005, "G");
    add(0, "H");
    clock.advance(20);
    assert.deepEqual(trace, ["B", "D", "G", "H", "C", "A", "E"]);
  });

  it("T-AT-07: two timers with the same delay run after the creating code, in creation order", () => {
    const { timers, clock } = makeTimers();
    let s = "";
    timers.at(0.01, () => (s += "[f]"));
    timers.at(0.01, () => (s += "[g]"));
    s = "[m]";
    clock.advance(9);
    assert.equal(s, "[m]");
    clock.advance(1);
    assert.equal(s, "[m][f][g]");
  });

  for (const delay of [0, 0.01]) {
    it(`T-AT-08: a timer created inside a timer (delay ${delay}) runs after its creator`, () => {
      const { timers, clock } = makeTimers();
      let s = "";
      timers.at(delay, () => {
        s += "[f]";
        timers.at(delay, () => (s += "[g]"));
      });
      s = "[m]";
      if (delay === 0) {
        clock.turn();
        assert.equal(s, "[m][f]", "the inner zero-delay timer waits for the next event-loop turn");
      }
      clock.advance(30);
      assert.equal(s, "[m][f][g]");
    });
  }

  it("a zero-delay timer never runs inside at(): the creating code finishes first", () => {
    const { timers, clock } = makeTimers();
    const trace: string[] = [];
    timers.at(0, () => trace.push("timer"));
    trace.push("after at()");
    clock.advance(0);
    assert.deepEqual(trace, ["after at()", "timer"]);
  });

  it("equal due times from different delays fire in creation order", () => {
    const { timers, clock } = makeTimers();
    const trace: string[] = [];
    timers.at(0.01, () => trace.push("first, 10 ms at t0"));
    clock.jump(5);
    timers.at(0.005, () => trace.push("second, 5 ms at t0+5"));
    clock.advance(10);
    assert.deepEqual(trace, ["first, 10 ms at t0", "second, 5 ms at t0+5"]);
  });

  it("an overdue timer fires before a zero-delay timer created later", () => {
    const { timers, clock } = makeTimers();
    const trace: string[] = [];
    timers.at(0.002, () => trace.push("overdue"));
    clock.jump(10);
    timers.at(0, () => trace.push("zero"));
    clock.advance(0);
    assert.deepEqual(trace, ["overdue", "zero"]);
  });

  it("a self-re-arming zero-delay timer runs once per event-loop turn instead of spinning", () => {
    const { timers, clock } = makeTimers();
    let runs = 0;
    const again = (): void => {
      runs++;
      timers.at(0, again);
    };
    timers.at(0, again);
    for (let turn = 1; turn <= 3; turn++) {
      clock.turn();
      assert.equal(runs, turn);
      assert.equal(clock.scheduled, 1, "exactly one wake-up is pending");
      assert.equal(timers.pendingCount, 1);
    }
  });

  it("timers far apart in time fire at their own due time, not earlier", () => {
    const { timers, clock } = makeTimers();
    const fired: number[] = [];
    const start = clock.now();
    for (const seconds of [3, 1, 2, 0.5]) timers.at(seconds, () => fired.push(clock.now() - start));
    clock.advance(5000);
    assert.deepEqual(fired, [500, 1000, 2000, 3000]);
  });
});
