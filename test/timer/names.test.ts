import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { makeTimers, statsOf } from "../helpers/timer-system.ts";

const gates = { host: { claim: () => true }, cluster: { claim: () => true } };

describe("timer names", () => {
  it("a singleton timer without a name is a TypeError naming 'name'", () => {
    const { timers } = makeTimers({ gates });
    const every = timers.every.bind(timers) as (...args: unknown[]) => unknown;
    const cron = timers.cron.bind(timers) as (...args: unknown[]) => unknown;
    assert.throws(() => every({ interval: 1, singleton: "host" }, () => 0), {
      name: "TypeError",
      code: "ERR_TSRESTY_INVALID_ARG_TYPE",
      message:
        'ngx.timer.every: "name" must be a non-empty string when "singleton" is set, received undefined',
    });
    assert.throws(() => cron({ cron: "* * * * *", singleton: "cluster" }, () => 0), {
      message: /^ngx\.timer\.cron: "name" must be a non-empty string when "singleton" is set/,
    });
    assert.throws(() => every({ interval: 1, name: "x", singleton: "everywhere" }, () => 0), {
      message: /"singleton" must be "host" or "cluster", received a string \("everywhere"\)/,
    });
  });

  it("a second live repeating timer of the same name in one process throws, whatever its schedule", () => {
    const { timers } = makeTimers();
    timers.every({ interval: 60, name: "sync" }, () => 0);
    const expected = {
      name: "RangeError",
      message:
        /"name" must be unique among this process's live timers: name "sync" is already used by a live timer in this process/,
    };
    assert.throws(() => timers.every({ interval: 60, name: "sync" }, () => 0), expected);
    assert.throws(() => timers.every({ interval: 30, name: "sync" }, () => 0), expected);
    assert.throws(() => timers.cron({ cron: "* * * * *", name: "sync" }, () => 0), expected);
    assert.throws(() => timers.at({ delay: 1, name: "sync" }, () => 0), expected);
    assert.equal(timers.pendingCount, 1);
  });

  it("a repeating timer cannot take a name that live at timers use", () => {
    const { timers } = makeTimers();
    timers.at({ delay: 5, name: "push" }, () => 0);
    assert.throws(() => timers.every({ interval: 1, name: "push" }, () => 0), /name "push" is already used/);
  });

  it("at timers may share a name (a job queued per request)", () => {
    const { timers, clock } = makeTimers();
    let runs = 0;
    for (let i = 0; i < 3; i++) timers.at({ delay: 0, name: "push" }, () => runs++);
    clock.advance(0);
    assert.equal(runs, 3);
    assert.equal(statsOf(timers, "push").runs, 3);
  });

  it("a name is free again once its timer is cancelled, or done", () => {
    const { timers, clock } = makeTimers();
    const first = timers.every({ interval: 1, name: "job" }, () => 0);
    first.cancel();
    timers.every({ interval: 2, name: "job" }, () => 0).cancel();
    timers.at({ delay: 1, name: "once" }, () => 0);
    clock.advance(1000);
    timers.every({ interval: 1, name: "once" }, () => 0);
    assert.equal(statsOf(timers, "job").interval, 2000);
  });

  it("the name of a running at is held until its run settles", async () => {
    const { timers, clock } = makeTimers();
    let finish = (): void => undefined;
    timers.at({ delay: 0, name: "slow" }, () => new Promise<void>((resolve) => (finish = resolve)));
    clock.advance(0);
    assert.throws(() => timers.every({ interval: 1, name: "slow" }, () => 0), /already used/);
    finish();
    await new Promise((resolve) => setImmediate(resolve));
    timers.every({ interval: 1, name: "slow" }, () => 0);
  });

  it("namedTimers() lists the live named timers only", () => {
    const { timers, clock } = makeTimers();
    timers.every({ interval: 1, name: "a" }, () => 0);
    timers.at({ delay: 1, name: "b" }, () => 0);
    timers.at(1, () => 0);
    assert.deepEqual(
      timers.namedTimers().map((t) => t.name),
      ["a", "b"],
    );
    clock.advance(1000);
    assert.deepEqual(
      timers.namedTimers().map((t) => t.name),
      ["a"],
    );
  });
});
