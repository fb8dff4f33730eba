import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { makeTimers, flushPromises } from "../helpers/timer-system.ts";

describe("cancel() (deliberate difference: OpenResty has no cancel)", () => {
  it("a cancelled at() never runs and is no longer pending", () => {
    const { timers, clock } = makeTimers();
    let ran = false;
    const t = timers.at(1, () => (ran = true));
    assert.equal(timers.pendingCount, 1);
    assert.equal(t.cancel(), true);
    assert.equal(t.state, "cancelled");
    assert.equal(timers.pendingCount, 0);
    assert.equal(t.cancel(), false, "a second cancel reports nothing stopped");
    clock.advance(2000);
    assert.equal(ran, false);
  });

  it("cancelling the last pending timer lets go of the host timer, so a plain process can exit", () => {
    const { timers, clock } = makeTimers();
    const first = timers.at(60, () => undefined);
    const second = timers.every(3600, () => undefined);
    assert.equal(clock.scheduled, 1, "one host timer for both");
    first.cancel();
    assert.equal(clock.scheduled, 1, "still armed for the every()");
    second.cancel();
    assert.equal(clock.scheduled, 0, "nothing pending: no host timer left");
    let ran = false;
    timers.at(0.01, () => (ran = true));
    clock.advance(20);
    assert.equal(ran, true, "a timer created afterwards arms it again");
  });

  it("cancelling the earliest of several timers keeps the others in order", () => {
    const { timers, clock } = makeTimers();
    const trace: string[] = [];
    const a = timers.at(0.01, () => trace.push("a"));
    timers.at(0.01, () => trace.push("b"));
    timers.at(0.005, () => trace.push("c"));
    const d = timers.at(0.005, () => trace.push("d"));
    a.cancel();
    d.cancel();
    clock.advance(20);
    assert.deepEqual(trace, ["c", "b"]);
  });

  it("cancel() after the callback ran returns false; a running callback is not interrupted", async () => {
    const { timers, clock } = makeTimers();
    let finish = (): void => undefined;
    let finished = false;
    const t = timers.at(0, async () => {
      await new Promise<void>((resolve) => (finish = resolve));
      finished = true;
    });
    clock.turn();
    assert.equal(t.state, "running");
    assert.equal(t.cancel(), false);
    finish();
    await flushPromises();
    assert.equal(finished, true);
    assert.equal(t.state, "done");
    assert.equal(t.cancel(), false);
  });

  it("cancelling an every() stops further ticks, also from inside its own callback", () => {
    const { timers, clock } = makeTimers();
    let runs = 0;
    const t = timers.every(0.01, () => {
      if (++runs === 3) t.cancel();
    });
    clock.advance(100);
    assert.equal(runs, 3);
    assert.equal(timers.pendingCount, 0);
    assert.equal(t.state, "cancelled");
  });

  it("a timer waiting for a running slot can be cancelled", async () => {
    const { timers, clock } = makeTimers({ maxRunning: 1 });
    let release = (): void => undefined;
    timers.at(0, () => new Promise<void>((resolve) => (release = resolve)));
    let ran = false;
    const waiting = timers.at(0, () => (ran = true));
    clock.turn();
    assert.equal(waiting.state, "waiting");
    assert.equal(timers.pendingCount, 1);
    assert.equal(waiting.cancel(), true);
    assert.equal(timers.pendingCount, 0);
    release();
    await flushPromises();
    assert.equal(ran, false);
  });

  it("a cancelled timer is not fired prematurely on exit", () => {
    const { timers } = makeTimers();
    let ran = false;
    timers.at(5, () => (ran = true)).cancel();
    timers.beginExit();
    assert.equal(ran, false);
  });
});
