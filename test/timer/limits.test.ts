import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TimerError } from "../../src/errors.ts";
import { makeTimers, flushPromises } from "../helpers/timer-system.ts";

/** A callback that runs until `release()` is called, like a timer inside ngx.sleep. */
function sleeper(): { callback: () => Promise<void>; release: () => void } {
  const pending: (() => void)[] = [];
  return {
    callback: () => new Promise<void>((resolve) => pending.push(resolve)),
    release: () => {
      for (const resolve of pending.splice(0)) resolve();
    },
  };
}

describe("timer counts and limits", () => {
  it("T-CNT-01: counts start at 0; pending grows with each created timer", () => {
    const { timers } = makeTimers();
    assert.equal(timers.runningCount, 0);
    assert.equal(timers.pendingCount, 0);
    timers.at(3, () => undefined);
    assert.equal(timers.pendingCount, 1);
    timers.at(4, () => undefined);
    timers.at(2, () => undefined);
    timers.at(1, () => undefined);
    assert.equal(timers.pendingCount, 4);
  });

  it("T-CNT-02: one (or three) sleeping callbacks count as running", async () => {
    for (const count of [1, 3]) {
      const { timers, clock } = makeTimers();
      const s = sleeper();
      for (let i = 0; i < count; i++) timers.at(0.1, s.callback);
      clock.advance(200);
      assert.equal(timers.runningCount, count);
      s.release();
      await flushPromises();
      assert.equal(timers.runningCount, 0);
    }
  });

  it("T-CNT-03: a running timer is not pending", async () => {
    const { timers, clock } = makeTimers();
    const s = sleeper();
    let inside: [number, number] = [-1, -1];
    timers.at(0, () => {
      inside = [timers.runningCount, timers.pendingCount];
      return s.callback();
    });
    timers.at(5, () => undefined);
    assert.deepEqual([timers.pendingCount, timers.runningCount], [2, 0]);
    clock.advance(50);
    assert.deepEqual([timers.pendingCount, timers.runningCount], [1, 1]);
    assert.deepEqual(inside, [1, 1]);
    s.release();
    await flushPromises();
    assert.deepEqual([timers.pendingCount, timers.runningCount], [1, 0]);
  });

  it("T-CNT-04: an async callback counts as running until its promise settles, not until it returns", async () => {
    const { timers, clock } = makeTimers();
    const s = sleeper();
    timers.at(0, () => {
      void s.callback(); // work left running, like a light thread; the callback itself returns
      return s.callback();
    });
    clock.turn();
    assert.equal(timers.runningCount, 1);
    s.release();
    await flushPromises();
    assert.equal(timers.runningCount, 0);
  });

  it("T-LIM-01: with maxPending 1 the second timer is refused with 'too many pending timers'; the first still runs", () => {
    const { timers, clock } = makeTimers({ maxPending: 1 });
    let s = "";
    timers.at(0.01, () => (s += "[f]"));
    assert.throws(
      () => timers.at(0.01, () => (s += "[g]")),
      (error: unknown) =>
        error instanceof TimerError &&
        error.reason === "too many pending timers" &&
        /timers\.maxPending is 1/.test(error.message),
    );
    s = "[m]";
    clock.advance(20);
    assert.equal(s, "[m][f]");

    const two = makeTimers({ maxPending: 2 });
    let t = "";
    two.timers.at(0.01, () => (t += "[f]"));
    two.timers.at(0.01, () => (t += "[g]"));
    t = "[m]";
    two.clock.advance(20);
    assert.equal(t, "[m][f][g]");
  });

  for (const delay of [0.01, 0]) {
    it(`T-LIM-02: with maxPending 1 a timer (delay ${delay}) can create its successor`, () => {
      const { timers, clock } = makeTimers({ maxPending: 1 });
      let s = "";
      timers.at(delay, () => {
        s += "[f]";
        timers.at(delay, () => (s += "[g]"));
      });
      s = "[m]";
      clock.advance(50);
      assert.equal(s, "[m][f][g]");
    });
  }

  it("T-LIM-03: maxRunning 1 with the 'drop' policy drops the second sleeper with an alert and no [error]", async () => {
    const { timers, clock, lines } = makeTimers({ maxRunning: 1, runningLimit: "drop" });
    const s = sleeper();
    let ran = 0;
    timers.at(0, () => {
      ran++;
      return s.callback();
    });
    timers.at(0, function second() {
      ran++;
      return s.callback();
    });
    clock.turn();
    assert.equal(ran, 1);
    assert.equal(timers.pendingCount, 0, "a dropped timer is gone");
    assert.equal(lines.length, 1);
    assert.equal(lines[0]?.level, "alert");
    assert.match(
      lines[0].message,
      /failed to run timer with function second at .*: 1 timers\.maxRunning are not enough$/,
    );
    s.release();
    await flushPromises();

    const two = makeTimers({ maxRunning: 2, runningLimit: "drop" });
    const s2 = sleeper();
    two.timers.at(0, s2.callback);
    two.timers.at(0, s2.callback);
    two.timers.at(0.02, s2.callback);
    two.clock.turn();
    s2.release();
    await flushPromises();
    two.clock.advance(20);
    assert.deepEqual(two.lines, []);
    s2.release();
    await flushPromises();
  });

  it("T-LIM-03 (deliberate difference): under the default 'wait' policy the second sleeper runs once a slot frees", async () => {
    const { timers, clock, lines } = makeTimers({ maxRunning: 1 });
    const s = sleeper();
    const order: string[] = [];
    timers.at(0, () => {
      order.push("first");
      return s.callback();
    });
    timers.at(0, () => {
      order.push("second");
    });
    clock.turn();
    assert.deepEqual(order, ["first"]);
    assert.equal(timers.pendingCount, 1, "a timer waiting for a slot is still pending");
    s.release();
    await flushPromises();
    assert.deepEqual(order, ["first", "second"]);
    assert.equal(timers.pendingCount, 0);
    assert.deepEqual(lines, []);
  });

  it("the 'drop' policy creates timers whatever the app's Error.prepareStackTrace makes of stacks (V8's structured frames, or a throw)", () => {
    const original = Object.getOwnPropertyDescriptor(Error, "prepareStackTrace");
    try {
      for (const prepare of [
        (_error: Error, frames: NodeJS.CallSite[]): unknown => frames,
        (): never => {
          throw new Error("prepareStackTrace of the app's");
        },
      ]) {
        Error.prepareStackTrace = prepare;
        const { timers, clock, lines } = makeTimers({ maxRunning: 1, runningLimit: "drop" });
        // Before: TypeError "holder.stack?.split is not a function", or the app's error, at each creation.
        let ran = 0;
        timers.at(0, () => new Promise(() => undefined));
        timers.at(0, () => {
          ran++;
        });
        timers.every(1, () => undefined);
        clock.turn();
        assert.equal(ran, 0, "the second was dropped (one running slot)");
        assert.match(lines.map((l) => l.message).join("\n"), /timers.maxRunning are not enough/);
        timers.destroy();
      }
    } finally {
      if (original === undefined) Reflect.deleteProperty(Error, "prepareStackTrace");
      else Object.defineProperty(Error, "prepareStackTrace", original);
    }
  });

  it("the 'drop' policy creates timers when Error.stackTraceLimit is read-only (node --frozen-intrinsics, a frozen Error), and names where they were created", () => {
    const original = Object.getOwnPropertyDescriptor(Error, "stackTraceLimit");
    try {
      // What --frozen-intrinsics leaves: a value that assigning to throws in strict code.
      Object.defineProperty(Error, "stackTraceLimit", { value: 10, writable: false, configurable: true });
      const { timers, clock, lines } = makeTimers({ maxRunning: 1, runningLimit: "drop" });
      // Before: each creation threw "Cannot assign to read only property 'stackTraceLimit'".
      timers.at(0, () => new Promise(() => undefined));
      timers.at(0, function dropped() {
        return undefined;
      });
      clock.turn();
      assert.equal(lines.length, 1);
      assert.match(
        lines[0]?.message ?? "",
        /^failed to run timer with function dropped at \/\S+\/limits\.test\.ts:\d+: 1 timers\.maxRunning are not enough$/,
      );
      assert.equal(Error.stackTraceLimit, 10);
      timers.destroy();
    } finally {
      if (original !== undefined) Object.defineProperty(Error, "stackTraceLimit", original);
    }
  });

  it("a timer dropped by the 'drop' policy (or an every's dropped premature call) ends in state 'dropped'; cancel() returns false", () => {
    const { timers, clock } = makeTimers({ maxRunning: 1, runningLimit: "drop" });
    const first = timers.at(0, () => new Promise(() => undefined));
    const dropped = timers.at(0, () => undefined);
    clock.turn();
    assert.equal(first.state, "running");
    assert.equal(dropped.state, "dropped");
    assert.equal(dropped.cancel(), false);
    assert.equal(dropped.state, "dropped");
    const poll = timers.every(5, () => undefined);
    timers.beginExit();
    assert.equal(poll.state, "dropped", "an every whose premature call was dropped");
    assert.equal(poll.cancel(), false);
    assert.equal(timers.pendingCount, 0);
  });

  it("T-LIM-04: the alert for a dropped timer names its name, or its function and where it was created", () => {
    const { timers, clock, lines } = makeTimers({ maxRunning: 1, runningLimit: "drop" });
    timers.at(0, () => new Promise(() => undefined));
    timers.at({ delay: 0, name: "named job" }, () => undefined);
    timers.at(0, (_premature, _a: string, _b: string) => undefined, "with", "args");
    clock.turn();
    assert.equal(lines.length, 2);
    assert.match(lines[0]?.message ?? "", /^failed to run timer "named job": /);
    assert.match(
      lines[1]?.message ?? "",
      /^failed to run timer with anonymous function at \/.*limits\.test\.ts:\d+: /,
    );
  });

  it("T-LIM-05: defaults are 1024 pending and 256 running; the 1025th timer is refused", () => {
    const { timers } = makeTimers();
    assert.deepEqual(timers.limits, { maxPending: 1024, maxRunning: 256, runningLimit: "wait" });
    for (let i = 0; i < 1024; i++) timers.at(1, () => undefined);
    assert.throws(() => timers.at(1, () => undefined), { reason: "too many pending timers" });
  });

  it("waiting timers run in due order as slots free up, and never exceed maxRunning", async () => {
    const { timers, clock } = makeTimers({ maxRunning: 2 });
    const s = sleeper();
    const order: number[] = [];
    let most = 0;
    for (let i = 0; i < 6; i++) {
      timers.at(i * 0.001, () => {
        order.push(i);
        most = Math.max(most, timers.runningCount);
        return s.callback();
      });
    }
    clock.advance(10);
    assert.deepEqual(order, [0, 1]);
    for (let round = 0; round < 3; round++) {
      s.release();
      await flushPromises();
    }
    assert.deepEqual(order, [0, 1, 2, 3, 4, 5]);
    assert.equal(most, 2);
    s.release();
    await flushPromises();
    assert.equal(timers.runningCount, 0);
  });
});
