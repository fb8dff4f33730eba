import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { makeTimers } from "../helpers/timer-system.ts";

describe("timer ordering", () => {
  it("T-AT-06: timers fire by due time, then creation order (negative delays are a RangeError here)", () => {
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
});
