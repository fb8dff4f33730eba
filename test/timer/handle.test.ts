import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { inspect } from "node:util";
import { WALL_START } from "../helpers/manual-clock.ts";
import { makeTimers } from "../helpers/timer-system.ts";

describe("a timer handle's public shape", () => {
  it("JSON.stringify shows name, state, repeating, kind and nextDue, none of the internals", () => {
    const { timers } = makeTimers();
    const handle = timers.at({ delay: 2, name: "job" }, (_premature, _arg: unknown) => undefined, {
      secret: 1,
    });
    assert.deepEqual(JSON.parse(JSON.stringify(handle)), {
      name: "job",
      state: "pending",
      repeating: false,
      kind: "at",
      nextDue: WALL_START + 2000,
    });
  });

  it("has no enumerable own properties: due, seq, prev, next, waiting and the counters stay inside", () => {
    const { timers } = makeTimers();
    const handles = [
      timers.at(1, () => undefined),
      timers.every(1, () => undefined),
      timers.cron("* * * * *", () => undefined),
    ];
    for (const handle of handles) {
      assert.deepEqual(Object.keys(handle), []);
      assert.deepEqual({ ...handle }, {});
      for (const internal of [
        "due",
        "seq",
        "prev",
        "next",
        "waiting",
        "runs",
        "status",
        "callback",
        "args",
      ]) {
        assert.equal(Object.prototype.propertyIsEnumerable.call(handle, internal), false, internal);
      }
    }
  });

  it("cancel() called without its handle throws a coded error, not V8's", () => {
    const { timers } = makeTimers();
    const t = timers.at(1, () => undefined);
    // eslint-disable-next-line @typescript-eslint/unbound-method -- detached on purpose: the misuse under test
    const { cancel } = t;
    // Before: "Cannot read properties of undefined (reading '#owner')".
    assert.throws(() => cancel(), {
      code: "ERR_TSRESTY_INVALID_ARG_TYPE",
      message: /^timer\.cancel: "this" must be a timer handle/,
    });
    assert.throws(() => cancel.call({}), { code: "ERR_TSRESTY_INVALID_ARG_TYPE" });
    assert.equal(cancel.call(t), true);
  });

  it("console.log shows the public shape", () => {
    const { timers } = makeTimers();
    const handle = timers.every({ interval: 5, name: "tick" }, () => undefined);
    assert.equal(
      inspect(handle, { breakLength: Infinity }),
      `Timer { name: 'tick', state: 'pending', repeating: true, kind: 'every', nextDue: ${WALL_START + 5000} }`,
    );
  });

  it("nextDue follows the timer: the next tick of an every, null once an at ran or was cancelled", () => {
    const { timers, clock } = makeTimers();
    const once = timers.at(1, () => undefined);
    const each = timers.every(1, () => undefined);
    const stopped = timers.at(1, () => undefined);
    stopped.cancel();
    assert.equal(stopped.nextDue, null);
    clock.advance(1000);
    assert.equal(once.nextDue, null);
    assert.equal(once.state, "done");
    assert.equal(each.nextDue, WALL_START + 2000);
    assert.equal(each.kind, "every");
  });
});
