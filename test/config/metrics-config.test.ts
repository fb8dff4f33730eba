import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { resolveConfig } from "../../src/config/index.ts";
import { ConfigError } from "../../src/errors.ts";

describe("config metrics and accessLog", () => {
  it("are off by default and with metrics: false", () => {
    assert.equal(resolveConfig({}).metrics, null);
    assert.equal(resolveConfig({ metrics: false }).metrics, null);
    assert.equal(resolveConfig({}).accessLog, null);
  });

  it("read a metrics HOST:PORT (or a port alone) and an access log path or { path, format }", () => {
    assert.deepEqual(resolveConfig({ metrics: "127.0.0.1:9145" }).metrics, { host: "127.0.0.1", port: 9145 });
    assert.deepEqual(resolveConfig({ metrics: 9145 }).metrics, { host: null, port: 9145 });
    assert.deepEqual(resolveConfig({ accessLog: "a.log" }).accessLog, { path: "a.log", format: "combined" });
    assert.deepEqual(resolveConfig({ accessLog: { path: "a.log", format: "json" } }).accessLog, {
      path: "a.log",
      format: "json",
    });
  });

  const bad: [string, unknown, RegExp][] = [
    [
      "a metrics port out of range",
      { metrics: "127.0.0.1:70000" },
      /^config: metrics must be false or \[HOST:\]PORT with a port from 0 to 65535, received a string \("127\.0\.0\.1:70000"\)$/,
    ],
    ["metrics: true", { metrics: true }, /^config: metrics must be false or \[HOST:\]PORT/],
    ["a metrics URL", { metrics: "http://x:1/metrics" }, /^config: metrics must be false or \[HOST:\]PORT/],
    [
      "an unknown accessLog format",
      { accessLog: { path: "a.log", format: "xml" } },
      /^config: accessLog\.format must be one of "common", "combined", "json", received a string \("xml"\)$/,
    ],
    [
      "an accessLog without a path",
      { accessLog: { format: "json" } },
      /^config: accessLog\.path must be a non-empty path/,
    ],
    ["an empty accessLog path", { accessLog: "" }, /^config: accessLog must be a non-empty path/],
    [
      "an unknown accessLog key",
      { accessLog: { path: "a", fmt: "json" } },
      /^config: accessLog\.fmt is not a known key/,
    ],
    ["an accessLog number", { accessLog: 3 }, /^config: accessLog must be an object, received the number 3$/],
  ];
  for (const [what, input, message] of bad) {
    it(`refuses ${what} with a ConfigError naming the key`, () => {
      assert.throws(
        () => resolveConfig(input),
        (error: unknown) => error instanceof ConfigError && message.test(error.message),
      );
    });
  }
});
