import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { makeTimers, flushPromises } from "../helpers/timer-system.ts";

describe("errors inside timer callbacks", () => {
  it("T-ERR-01: a throwing callback and a failing one are logged at error level; other timers carry on", async () => {
    const { timers, clock, lines } = makeTimers();
    let third = false;
    timers.at(0, function boomInTimer() {
      throw new Error("boom in timer");
    });
    timers.at(0, () => {
      const t = null as unknown as { x: number };
      return t.x;
    });
    timers.at(0.05, () => (third = true));
    clock.advance(50);
    await flushPromises();
    assert.equal(third, true);
    const errors = lines.filter((l) => l.level === "error");
    assert.equal(errors.length, 2);
    assert.match(
      errors[0]?.message ?? "",
      /^timer with function boomInTimer at \/.*errors\.test\.ts:\d+ failed: Error: boom in timer/,
    );
    assert.match(
      errors[1]?.message ?? "",
      /^timer with anonymous function at \/.*errors\.test\.ts:\d+ failed: TypeError: Cannot read properties of null/,
    );
  });

  it("a rejected async callback is logged with the timer's name and does not stop the timer system", async () => {
    const { timers, clock, lines } = makeTimers();
    timers.at({ delay: 0, name: "sync orders" }, async () => {
      await Promise.resolve();
      throw new Error("upstream down");
    });
    clock.turn();
    await flushPromises();
    assert.equal(timers.runningCount, 0);
    assert.equal(lines.length, 1);
    assert.match(lines[0]?.message ?? "", /^timer "sync orders" failed: Error: upstream down/);
    let later = false;
    timers.at(0, () => (later = true));
    clock.turn();
    assert.equal(later, true);
  });

  it("a thrown non-Error value is logged too", () => {
    const { timers, clock, lines } = makeTimers();
    timers.at(0, () => {
      // eslint-disable-next-line @typescript-eslint/only-throw-error -- the point of the test
      throw "plain string";
    });
    clock.turn();
    assert.match(lines[0]?.message ?? "", /failed: non-error value thrown: plain string$/);
  });

  it("a failing every keeps ticking", () => {
    const { timers, clock, lines } = makeTimers();
    let runs = 0;
    timers.every(0.01, () => {
      runs++;
      throw new Error("tick failed");
    });
    clock.advance(30);
    assert.equal(runs, 3);
    assert.equal(lines.length, 3);
  });

  it("a thenable whose then throws is logged as a failure and frees its running slot", async () => {
    const { timers, clock, lines } = makeTimers();
    timers.at({ delay: 0, name: "bad thenable" }, () => ({
      then(): never {
        throw new Error("then exploded");
      },
    }));
    clock.turn();
    await flushPromises();
    assert.equal(timers.runningCount, 0);
    assert.equal(lines.length, 1);
    assert.match(lines[0]?.message ?? "", /^timer "bad thenable" failed: Error: then exploded/);
  });

  it("a thenable whose then getter throws is logged as a failure and frees its running slot", async () => {
    const { timers, clock, lines } = makeTimers();
    timers.at(0, () => ({
      get then(): never {
        throw new Error("getter exploded");
      },
    }));
    clock.turn();
    await flushPromises();
    assert.equal(timers.runningCount, 0);
    assert.match(lines[0]?.message ?? "", /failed: Error: getter exploded/);
  });

  it("a thenable that settles twice frees its running slot exactly once", async () => {
    const { timers, clock, lines } = makeTimers();
    for (const settle of ["fulfil twice", "fulfil then reject", "reject twice"]) {
      timers.at(0, () => ({
        then(onFulfilled: (value: unknown) => void, onRejected: (reason: unknown) => void): void {
          if (settle === "reject twice") onRejected(new Error("first"));
          else onFulfilled(1);
          if (settle === "fulfil twice") onFulfilled(2);
          else onRejected(new Error("second"));
        },
      }));
    }
    clock.turn();
    await flushPromises();
    assert.equal(timers.runningCount, 0);
    assert.equal(lines.length, 1, "only the reject-twice run failed, and it is logged once");
  });

  it("a callback whose prototype cannot be read (a Proxy's trap throws, a revoked Proxy) fails as its own run, logged; other timers carry on", async () => {
    const { timers, clock, lines } = makeTimers();
    const trapped = new Proxy(function job() {}, {
      getPrototypeOf() {
        throw new Error("trap");
      },
    });
    const revoked = Proxy.revocable(() => undefined, {});
    revoked.revoke();
    let survivor = 0;
    timers.every(0.05, () => survivor++);
    timers.at(0.1, trapped);
    timers.at(0.1, revoked.proxy);
    // Before: the core's own Object.getPrototypeOf threw out of the dispatch: the process died.
    clock.advance(200);
    await flushPromises();
    assert.equal(survivor, 4);
    assert.equal(timers.runningCount, 0);
    const failed = lines.filter((l) => l.level === "error").map((l) => l.message);
    assert.equal(failed.length, 1, failed.join("\n"));
    assert.match(
      failed[0] ?? "",
      /failed: TypeError: Cannot perform 'apply' on a proxy that has been revoked/,
    );
  });

  it("values that cannot be printed (null prototype, symbol, throwing stack, message or toString, a revoked proxy; a bigint, a function) are logged, objects with their fields, and free the slot", async () => {
    const { timers, clock, lines } = makeTimers();
    const badStack = new Error("hidden");
    Object.defineProperty(badStack, "stack", {
      get(): never {
        throw new Error("no stack for you");
      },
    });
    const badString = {
      toString(): never {
        throw new Error("no string for you");
      },
    };
    const revoked = Proxy.revocable({}, {});
    revoked.revoke();
    class BadMessage extends Error {
      override get message(): never {
        throw new Error("no message for you");
      }
    }
    const thrown: unknown[] = [
      Object.create(null),
      Symbol("sym"),
      badStack,
      new BadMessage(),
      10n,
      function named(): void {},
      badString,
      { code: "E_SYNC", message: "boom" },
      revoked.proxy,
    ];
    for (const value of thrown) {
      timers.at(0, () => {
        throw value;
      });
    }
    timers.at(0, () => Promise.reject(Object.create(null) as Error));
    clock.turn();
    await flushPromises();
    assert.equal(timers.runningCount, 0);
    assert.deepEqual(
      lines.map((l) => l.message.replace(/^.* failed: /, "")),
      [
        "non-error value thrown: [Object: null prototype] {}",
        "non-error value thrown: Symbol(sym)",
        "Error: hidden",
        // Was a non-error value (its stack throws), and 10n was 10, the function its source.
        "Error (its message cannot be read)",
        "non-error value thrown: 10n",
        "non-error value thrown: [Function: named]",
        "non-error value thrown: { toString: [Function: toString] }",
        // Was "[object Object]", for this too: the object's fields are what tells it apart.
        "non-error value thrown: { code: 'E_SYNC', message: 'boom' }",
        "non-error value thrown: <Revoked Proxy>",
        "non-error value thrown: [Object: null prototype] {}",
      ],
    );
  });

  it("a class callback fails when it fires, logged without a location in tsresty's own code (stop 26)", () => {
    const { timers, clock, lines } = makeTimers();
    class Job {
      readonly kind = "job";
    }
    timers.at(0, Job as unknown as () => void);
    clock.advance(0);
    const errors = lines.filter((l) => l.level === "error").map((l) => l.message);
    assert.equal(errors.length, 1);
    assert.match(
      errors[0] ?? "",
      /^timer with function Job failed: TypeError: Class constructor Job cannot be invoked/,
    );
  });
});
