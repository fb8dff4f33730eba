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

  for (const [label, delays] of [
    ["distinct delays", [1, 2, 3, 4]],
    ["one delay", [2, 2, 2, 2]],
  ] as const) {
    it(`a premature callback that cancels a later sibling (${label}): the sibling never runs, the others run premature exactly once`, () => {
      const { timers, clock, lines } = makeTimers();
      const calls: string[] = [];
      const [a, b, c, d] = delays;
      let cancelled: boolean | undefined;
      timers.at(a, (premature) => {
        calls.push(`a ${premature}`);
        cancelled = third.cancel();
      });
      timers.at(b, (premature) => calls.push(`b ${premature}`));
      const third = timers.at(c, (premature) => calls.push(`c ${premature}`));
      timers.at(d, (premature) => calls.push(`d ${premature}`));
      timers.beginExit();
      clock.advance(10_000);
      assert.deepEqual(calls, ["a true", "b true", "d true"]);
      assert.equal(cancelled, true);
      assert.equal(third.state, "cancelled");
      assert.deepEqual([timers.pendingCount, timers.runningCount], [0, 0]);
      assert.deepEqual(lines, []);
    });
  }

  it("a premature callback that cancels a pending every sibling stops it before its premature call", () => {
    const { timers } = makeTimers();
    const calls: string[] = [];
    const poll = timers.every(5, (premature) => calls.push(`poll ${premature}`));
    timers.at(1, () => {
      calls.push("first");
      poll.cancel();
    });
    timers.beginExit();
    assert.deepEqual(calls, ["first"]);
    assert.equal(poll.state, "cancelled");
    assert.equal(timers.pendingCount, 0);
  });

  it("an overlap: false every that is running when exit begins gets one premature call when its run settles", async () => {
    const { timers, clock } = makeTimers();
    const calls: boolean[] = [];
    let finish = (): void => undefined;
    const poll = timers.every({ interval: 0.1, overlap: false }, (premature) => {
      calls.push(premature);
      if (!premature) return new Promise<void>((resolve) => (finish = resolve));
      return undefined;
    });
    clock.advance(100);
    assert.deepEqual(calls, [false]);
    timers.beginExit();
    assert.deepEqual(calls, [false], "not while the run is still going");
    assert.deepEqual([timers.pendingCount, timers.runningCount], [1, 1], "the premature call is pending");
    let idle = false;
    void timers.whenIdle().then(() => (idle = true));
    finish();
    await flushPromises();
    assert.deepEqual(calls, [false, true]);
    assert.equal(poll.state, "done");
    assert.equal(idle, true);
    clock.advance(1000);
    await flushPromises();
    assert.deepEqual(calls, [false, true], "exactly one premature call");
  });

  it("runs already waiting for a slot when exit begins become premature and keep their place", async () => {
    const { timers, clock } = makeTimers({ maxRunning: 1 });
    let release = (): void => undefined;
    timers.at(0, () => new Promise<void>((resolve) => (release = resolve)));
    const seen: string[] = [];
    timers.at(0, (premature) => seen.push(`first ${premature}`));
    timers.at(0, (premature) => seen.push(`second ${premature}`));
    clock.turn();
    timers.at(5, (premature) => seen.push(`delayed ${premature}`));
    timers.beginExit();
    assert.deepEqual(seen, []);
    release();
    await flushPromises();
    assert.deepEqual(seen, ["first true", "second true", "delayed true"]);
  });

  it("an every whose tick waits for a slot when exit begins gets that tick as its one premature call", async () => {
    const { timers, clock } = makeTimers({ maxRunning: 1 });
    let release = (): void => undefined;
    timers.at(0, () => new Promise<void>((resolve) => (release = resolve)));
    const seen: boolean[] = [];
    const poll = timers.every(0.1, (premature) => seen.push(premature));
    clock.advance(100);
    assert.equal(timers.pendingCount, 2, "the waiting tick and the next one");
    timers.beginExit();
    assert.equal(timers.pendingCount, 1, "only the waiting tick is left");
    release();
    await flushPromises();
    clock.advance(1000);
    assert.deepEqual(seen, [true]);
    assert.equal(poll.state, "done");
    assert.deepEqual([timers.pendingCount, timers.runningCount], [0, 0]);
  });

  it("with zero-delay timers pending and created during exit, delayed timers still fire premature in due order", () => {
    const { timers, clock } = makeTimers();
    const seen: string[] = [];
    timers.at(0, (premature) => seen.push(`zero ${premature}`));
    for (const delay of [4, 1, 3, 2, 5]) {
      timers.at(delay, (premature) => {
        seen.push(`${delay} ${premature}`);
        timers.at(0, (p) => seen.push(`made by ${delay} ${p}`));
      });
    }
    timers.beginExit();
    assert.deepEqual(seen, ["1 true", "2 true", "3 true", "4 true", "5 true"]);
    clock.turn();
    clock.turn();
    assert.deepEqual(seen.slice(5), [
      "zero false",
      "made by 1 false",
      "made by 2 false",
      "made by 3 false",
      "made by 4 false",
      "made by 5 false",
    ]);
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

  it("after a fast stop (destroy) every creation throws 'process exiting', zero-delay ones too: nothing would run them", async () => {
    const { timers, clock } = makeTimers();
    timers.destroy();
    const ran: boolean[] = [];
    // Before: at(0) returned a timer left pending for ever (never run, counted by pendingCount,
    // whenIdle never resolved), and every() said that zero-delay timers could still be made.
    for (const create of [
      () => timers.at(0, (premature) => ran.push(premature)),
      () => timers.at(5, () => undefined),
      () => timers.every(1, () => undefined),
    ]) {
      assert.throws(create, (error: unknown) => {
        assert.ok(error instanceof TimerError);
        assert.equal(error.reason, "process exiting");
        assert.match(error.message, /the process stops fast: no timer runs any more/);
        return true;
      });
    }
    clock.advance(100);
    assert.deepEqual(ran, []);
    assert.equal(timers.pendingCount, 0);
    let idle = false;
    void timers.whenIdle().then(() => (idle = true));
    await flushPromises();
    assert.ok(idle);
  });

  it("beginExit lets go of the host timer once nothing is left in the lists (a plain Node process ends) (stop 26)", () => {
    const { timers, clock } = makeTimers();
    timers.at(100, () => {});
    timers.every(5, () => {});
    assert.equal(clock.scheduled, 1);
    timers.beginExit();
    assert.equal(clock.scheduled, 0, "no host timer left for the timers fired prematurely");
  });

  it("beginExit keeps the host timer while zero-delay timers are still to run (stop 26)", () => {
    const { timers, clock } = makeTimers();
    const ran: boolean[] = [];
    timers.at(100, () => {});
    timers.at(0, (premature) => ran.push(premature));
    timers.beginExit();
    clock.advance(0);
    assert.deepEqual(ran, [false]);
    assert.equal(clock.scheduled, 0);
  });
});
