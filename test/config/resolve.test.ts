import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError } from "../../src/errors.ts";
import { DEFAULT_CONFIG, resolveConfig } from "../../src/config/index.ts";

describe("config resolution", () => {
  it("defaults follow OpenResty: 1024 pending, 256 running; 'wait' is tsresty's default policy", () => {
    assert.deepEqual(resolveConfig(undefined), {
      timers: { maxPending: 1024, maxRunning: 256, runningLimit: "wait" },
      shutdownTimeout: 0,
    });
    assert.deepEqual(resolveConfig({}), DEFAULT_CONFIG);
  });

  it("fills what is missing and returns a frozen object without touching the input", () => {
    const input = { timers: { maxPending: 10 } };
    const resolved = resolveConfig(input);
    assert.deepEqual(resolved.timers, { maxPending: 10, maxRunning: 256, runningLimit: "wait" });
    assert.ok(Object.isFrozen(resolved) && Object.isFrozen(resolved.timers));
    assert.deepEqual(input, { timers: { maxPending: 10 } });
  });

  const bad: [string, unknown, RegExp][] = [
    ["a non-object", 5, /^config: must export an object, received the number 5$/],
    [
      "an unknown top-level key",
      { workerz: 2 },
      /^config: workerz is not a known key; known keys here: timers, shutdownTimeout$/,
    ],
    ["an unknown timers key", { timers: { maxPendng: 1 } }, /^config: timers\.maxPendng is not a known key/],
    ["timers not an object", { timers: 3 }, /^config: timers must be an object, received the number 3$/],
    [
      "a zero limit",
      { timers: { maxPending: 0 } },
      /timers\.maxPending must be an integer from 1 to 2147483647, received the number 0$/,
    ],
    ["a fractional limit", { timers: { maxRunning: 1.5 } }, /timers\.maxRunning must be an integer/],
    ["a string limit", { timers: { maxRunning: "5" } }, /received a string \("5"\)$/],
    [
      "a bad policy",
      { timers: { runningLimit: "queue" } },
      /timers\.runningLimit must be "wait" or "drop", received a string \("queue"\)$/,
    ],
    [
      "a negative shutdownTimeout",
      { shutdownTimeout: -1 },
      /shutdownTimeout must be a number of seconds from 0 to/,
    ],
    ["a NaN shutdownTimeout", { shutdownTimeout: NaN }, /received NaN$/],
  ];
  for (const [what, input, message] of bad) {
    it(`refuses ${what} with a ConfigError naming the key`, () => {
      assert.throws(
        () => resolveConfig(input),
        (error: unknown) => error instanceof ConfigError && message.test(error.message),
      );
    });
  }

  it("names the file it came from", () => {
    assert.throws(() => resolveConfig({ timers: { maxPending: -1 } }, "tsresty.config.ts"), {
      message: /^tsresty\.config\.ts: timers\.maxPending must be/,
      code: "ERR_TSRESTY_CONFIG",
    });
  });
});
