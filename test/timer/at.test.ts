import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  InvalidArgTypeError,
  InvalidArgValueError,
  TimerError,
  UnknownOptionError,
} from "../../src/errors.ts";
import { makeTimers } from "../helpers/timer-system.ts";

describe("ngx.timer.at", () => {
  it("T-AT-01: a 0.05 s timer fires after 50 ms with premature = false", () => {
    const { timers, clock } = makeTimers();
    const calls: { elapsed: number; premature: boolean }[] = [];
    const start = clock.now();
    timers.at(0.05, (premature) => calls.push({ elapsed: clock.now() - start, premature }));
    clock.advance(49);
    assert.deepEqual(calls, []);
    clock.advance(1);
    assert.deepEqual(calls, [{ elapsed: 50, premature: false }]);
  });

  it("T-AT-02: at() and every() return a handle (deliberate difference: OpenResty returns 1)", () => {
    const { timers } = makeTimers();
    const once = timers.at(10, () => undefined);
    const each = timers.every(10, () => undefined);
    assert.equal(typeof once.cancel, "function");
    assert.equal(once.state, "pending");
    assert.equal(once.repeating, false);
    assert.equal(each.repeating, true);
  });

  it("T-AT-03: a missing callback or a non-number delay throws a TypeError naming the argument", () => {
    const { timers } = makeTimers();
    const at = timers.at.bind(timers) as (...args: unknown[]) => unknown;
    assert.throws(() => at(1), {
      name: "TypeError",
      message: /"callback" must be a function, received undefined/,
    });
    assert.throws(() => at("abc", () => 0), {
      name: "TypeError",
      message: 'ngx.timer.at: "delay" must be a number of seconds, received a string ("abc")',
    });
    assert.throws(() => at(null, () => 0), InvalidArgTypeError);
    // Deliberate difference: OpenResty converts "0.5"; tsresty asks for a number.
    assert.throws(() => at("0.5", () => 0), /received a string \("0.5"\)/);
  });

  it("T-AT-04: a callback that is not a function throws and creates nothing", () => {
    const { timers } = makeTimers();
    const at = timers.at.bind(timers) as (...args: unknown[]) => unknown;
    for (const bad of ["x", 1, {}, null]) {
      assert.throws(() => at(1, bad), {
        code: "ERR_TSRESTY_INVALID_ARG_TYPE",
        message: /"callback" must be a function/,
      });
    }
    assert.equal(timers.pendingCount, 0);
  });

  it("T-AT-04: a generator or async generator callback throws at creation, whose body would never run (stop 26)", () => {
    const { timers } = makeTimers();
    const at = timers.at.bind(timers) as (...args: unknown[]) => unknown;
    const every = timers.every.bind(timers) as (...args: unknown[]) => unknown;
    const generators = [
      function* job() {
        /* never runs */
      },
      async function* job() {
        /* never runs */
      },
    ];
    for (const bad of generators) {
      for (const make of [at, every]) {
        assert.throws(() => make(1, bad), {
          name: "TypeError",
          code: "ERR_TSRESTY_INVALID_ARG_TYPE",
          message:
            /"callback" must be a function that is not a generator \(calling a generator function does not run its body\), received a function \(job\)$/,
        });
      }
    }
    // A Proxy whose getPrototypeOf trap throws is still accepted (it fails when it fires).
    const trap = new Proxy(() => undefined, {
      getPrototypeOf() {
        throw new Error("trap");
      },
    });
    timers.at(1, trap).cancel();
    assert.equal(timers.pendingCount, 0);
  });

  it("a generator callback is refused by what it is, not by its prototype: one set to Function.prototype or to an async function's, bound or in a Proxy, throws too (it passed, and its body never ran)", () => {
    const { timers } = makeTimers();
    const at = timers.at.bind(timers) as (...args: unknown[]) => unknown;
    const every = timers.every.bind(timers) as (...args: unknown[]) => unknown;
    const asyncPrototype = Object.getPrototypeOf(async function () {
      /* a sample async function */
    }) as object;
    const disguised = (prototype: object | null, generator: () => unknown): unknown =>
      Object.setPrototypeOf(generator, prototype);
    const generators = [
      disguised(Function.prototype, function* job() {
        /* never runs */
      }),
      disguised(Function.prototype, async function* job() {
        /* never runs */
      }),
      disguised(asyncPrototype, function* job() {
        /* never runs */
      }),
      disguised(null, function* job() {
        /* never runs */
      }),
      function* job() {
        /* never runs */
      }.bind(null),
      new Proxy(function* job() {
        /* never runs */
      }, {}),
    ];
    for (const [index, bad] of generators.entries()) {
      for (const make of [at, every]) {
        assert.throws(
          () => make(1, bad),
          {
            name: "TypeError",
            code: "ERR_TSRESTY_INVALID_ARG_TYPE",
            message: /"callback" must be a function that is not a generator/,
          },
          `generator ${index}`,
        );
      }
    }
    assert.equal(timers.pendingCount, 0);
  });

  it("an options object without its required key, or a boxed Number, a Date, a Map, is named as such (stop 26)", () => {
    const { timers } = makeTimers();
    const at = timers.at.bind(timers) as (...args: unknown[]) => unknown;
    const every = timers.every.bind(timers) as (...args: unknown[]) => unknown;
    const cron = timers.cron.bind(timers) as (...args: unknown[]) => unknown;
    const cases: [() => unknown, string][] = [
      [
        () => at(new Number(1), () => 0),
        'ngx.timer.at: "delay" must be a number of seconds, received an object (Number)',
      ],
      [
        () => at(new Date(), () => 0),
        'ngx.timer.at: "delay" must be a number of seconds, received an object (Date)',
      ],
      [
        () => at(new Map(), () => 0),
        'ngx.timer.at: "delay" must be a number of seconds, received an object (Map)',
      ],
      [
        () => at({}, () => 0),
        'ngx.timer.at: "delay" must be a number of seconds, received an options object without "delay"',
      ],
      [
        () => every({ name: "x" }, () => 0),
        'ngx.timer.every: "interval" must be a number of seconds, received an options object without "interval"',
      ],
      [
        () => cron({ tz: "UTC" }, () => 0),
        'ngx.timer.cron: "cron" must be a cron expression string, received an options object without "cron"',
      ],
    ];
    for (const [make, message] of cases) {
      assert.throws(make, { name: "TypeError", code: "ERR_TSRESTY_INVALID_ARG_TYPE", message });
    }
    assert.equal(timers.pendingCount, 0);
  });

  it("options are a plain object's own keys: an inherited option is refused, a polluted Object.prototype is never read", () => {
    const { timers } = makeTimers();
    const at = timers.at.bind(timers) as (...args: unknown[]) => unknown;
    const every = timers.every.bind(timers) as (...args: unknown[]) => unknown;
    const cron = timers.cron.bind(timers) as (...args: unknown[]) => unknown;
    const cases: [() => unknown, string][] = [
      [
        () => at(Object.create({ delay: 5 }), () => 0),
        'ngx.timer.at: "delay" must be a number of seconds, received an object (Object) whose "delay" is inherited: options are read from a plain object\'s own keys',
      ],
      [
        () => every(Object.create({ interval: 1, overlap: false }), () => 0),
        'ngx.timer.every: "interval" must be a number of seconds, received an object (Object) whose "interval" is inherited: options are read from a plain object\'s own keys',
      ],
      [
        () => cron(Object.create({ cron: "* * * * *" }), () => 0),
        'ngx.timer.cron: "cron" must be a cron expression string, received an object (Object) whose "cron" is inherited: options are read from a plain object\'s own keys',
      ],
      [
        () =>
          at(
            new (class Options {
              delay = 1;
            })(),
            () => 0,
          ),
        'ngx.timer.at: "delay" must be a number of seconds, received an object (Options), not a plain object: options are read from a plain object\'s own keys',
      ],
    ];
    for (const [make, message] of cases) {
      assert.throws(make, { name: "TypeError", code: "ERR_TSRESTY_INVALID_ARG_TYPE", message });
    }
    assert.equal(timers.pendingCount, 0);
    const polluted = Object.prototype as Record<string, unknown>;
    try {
      polluted["name"] = "polluted";
      polluted["singleton"] = "cluster";
      polluted["overlap"] = "no";
      // Before, the `at` was named "polluted", and the `every` threw: singleton "cluster" needs a coordinator.
      const once = timers.at({ delay: 1 }, () => 0);
      const each = timers.every({ interval: 1 }, () => 0);
      assert.deepEqual([once.name, each.name, timers.pendingCount], [undefined, undefined, 2]);
    } finally {
      delete polluted["name"];
      delete polluted["singleton"];
      delete polluted["overlap"];
    }
  });

  it("T-AT-05: a negative delay is a RangeError (deliberate difference); 0.0005 s is a zero-delay timer", () => {
    const { timers, clock } = makeTimers();
    assert.throws(() => timers.at(-1, () => undefined), {
      name: "RangeError",
      message:
        'ngx.timer.at: "delay" must be a number of seconds from 0 to 1000000000, received the number -1',
    });
    let ran = false;
    timers.at(0.0005, () => (ran = true));
    clock.turn();
    assert.equal(ran, true);
  });

  it("a delay is its whole milliseconds, exactly: 1.001 s is 1,001 ms, 2.01 s 2,010 ms (floating point took one off 741 delays with 3 decimals up to 100 s)", () => {
    const { timers } = makeTimers();
    const start = timers.at(0, () => undefined).nextDue ?? NaN; // the clock stands still
    for (let thousandths = 0; thousandths <= 100_000; thousandths++) {
      const seconds = thousandths / 1000;
      const timer = timers.at(seconds, () => undefined);
      assert.equal((timer.nextDue ?? NaN) - start, thousandths, `${seconds} s`);
      timer.cancel();
    }
    assert.equal((timers.every(32.3, () => undefined).nextDue ?? NaN) - start, 32_300);
    // Below a millisecond is still cut off (once rounded to the microsecond), not rounded up.
    assert.equal((timers.at(0.0019994, () => undefined).nextDue ?? NaN) - start, 1);
  });

  it("rejects NaN, infinite and huge delays with a RangeError; 10^9 s (about 31.7 years) is the longest", () => {
    const { timers } = makeTimers();
    for (const bad of [NaN, Infinity, -Infinity, 1e300, 1e9 + 0.001]) {
      assert.throws(() => timers.at(bad, () => undefined), InvalidArgValueError, String(bad));
      assert.throws(() => timers.every(bad, () => undefined), InvalidArgValueError, String(bad));
    }
    assert.equal(timers.at(1e9, () => undefined).state, "pending");
    assert.equal(timers.every(1e9, () => undefined).state, "pending");
  });

  it("T-AT-09: user arguments reach the callback after premature", () => {
    const { timers, clock } = makeTimers();
    let seen: unknown[] = [];
    timers.at(0.05, (...args: unknown[]) => (seen = args), 1, "hello", true);
    clock.advance(50);
    assert.deepEqual(seen, [false, 1, "hello", true]);
  });

  it("T-AT-10: a callback sees and changes the creator's variables", () => {
    const { timers, clock } = makeTimers();
    let foo = 0;
    timers.at(0.01, () => (foo = 3));
    clock.advance(60);
    assert.equal(foo, 3);
  });

  it("T-AT-12: an object argument is passed by reference", () => {
    const { timers, clock } = makeTimers();
    const table = { n: 1 };
    timers.at(0, (_premature, t: { n: number }) => (t.n = 2), table);
    clock.turn();
    assert.equal(table.n, 2);
  });

  it("T-AT-13: a zero-delay timer created at start runs once the creating code is done", () => {
    const { timers, clock } = makeTimers();
    let counter = 0;
    const log: string[] = [];
    timers.at(0, (premature) => {
      log.push(`timer expired (premature: ${premature}; counter: ${counter})`);
      counter++;
    });
    log.push("created timer: 1");
    clock.turn();
    assert.deepEqual(log, ["created timer: 1", "timer expired (premature: false; counter: 0)"]);
    assert.equal(counter, 1);
  });

  it("accepts the options form { delay, name } and rejects unknown keys and bad names", () => {
    const { timers, clock } = makeTimers();
    const t = timers.at({ delay: 0.01, name: "push logs" }, () => undefined);
    assert.equal(t.name, "push logs");
    clock.advance(10);
    assert.equal(t.state, "done");
    assert.throws(() => timers.at({ delay: 1, nmae: "x" }, () => undefined), UnknownOptionError);
    assert.throws(
      () => timers.at({ delay: 1, name: "" }, () => undefined),
      /"name" must be a non-empty string/,
    );
    assert.throws(() => timers.at({ name: "x" }, () => undefined), /"delay" must be a number/);
  });

  it("throws a TimerError whose reason is OpenResty's string", () => {
    const { timers } = makeTimers({ maxPending: 1 });
    timers.at(1, () => undefined);
    assert.throws(
      () => timers.at(1, () => undefined),
      (error: unknown) => error instanceof TimerError && error.reason === "too many pending timers",
    );
  });

  it("does not copy the caller's arguments array or options object", () => {
    const { timers } = makeTimers();
    const options = Object.freeze({ delay: 1, name: "frozen" });
    assert.equal(timers.at(options, () => undefined).name, "frozen");
  });
});
