import assert from "node:assert/strict";
import { availableParallelism } from "node:os";
import { describe, it } from "node:test";
import { ConfigError } from "../../src/errors.ts";
import { DEFAULT_CONFIG, resolveConfig } from "../../src/config/index.ts";

describe("config resolution", () => {
  it("defaults follow OpenResty: 1024 pending, 256 running; 'wait' is tsresty's default policy", () => {
    assert.deepEqual(resolveConfig(undefined), {
      timers: { maxPending: 1024, maxRunning: 256, runningLimit: "wait" },
      shutdownTimeout: null,
      workers: availableParallelism(),
      listen: [{ host: null, port: 8080 }],
      prefix: ".tsresty",
      user: null,
      errorLog: null,
      privilegedAgent: null,
      initTimeout: 60,
      http: {
        headersTimeout: 60,
        requestTimeout: 300,
        keepAliveTimeout: 5,
        sendTimeout: 60,
        maxHeaderSize: 16384,
        lightResponse: true,
      },
      logLevel: "notice",
      log: null,
      shdict: [],
      coordinator: null,
      standby: true,
      metrics: null,
      accessLog: null,
      signals: { term: "graceful" },
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
      /^config: workerz is not a known key; known keys here: timers, shutdownTimeout, workers, listen, prefix, user, errorLog, privilegedAgent, initTimeout, http, logLevel, log, shdict, coordinator, standby, metrics, accessLog, signals$/,
    ],
    ["an unknown timers key", { timers: { maxPendng: 1 } }, /^config: timers\.maxPendng is not a known key/],
    ["timers not an object", { timers: 3 }, /^config: timers must be an object, received the number 3$/],
    // Left behind by the spread that puts the flags over the file: refused as an unknown key is.
    [
      "a non-enumerable key",
      Object.defineProperty({}, "workers", { value: 2, enumerable: false }),
      /^config: workers is not enumerable \(defined by Object\.defineProperty\)/,
    ],
    [
      "a non-enumerable http key",
      { http: Object.defineProperty({}, "requestTimeout", { value: 5 }) },
      /^config: http\.requestTimeout is not enumerable/,
    ],
    [
      "a non-enumerable zone",
      { shdict: Object.defineProperty({}, "dogs", { value: "1m" }) },
      /^config: shdict\.dogs is not enumerable/,
    ],
    // Not plain objects: each was read as one without keys (a Map's entries are not its keys).
    ["a Map", new Map([["workers", 3]]), /^config: must export an object, received an object \(Map\)$/],
    [
      "timers as a Map",
      { timers: new Map() },
      /^config: timers must be an object, received an object \(Map\)$/,
    ],
    ["a Date", new Date(0), /^config: must export an object, received an object \(Date\)$/],
    [
      "workers as a string",
      { workers: "4" },
      /^config: workers must be "auto" or an integer from 1 to \d+, received a string \("4"\)$/,
    ],
    [
      "a standby that is not a boolean",
      { standby: "no" },
      /^config: standby must be true or false, received a string \("no"\)$/,
    ],
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
    [
      "zero workers",
      { workers: 0 },
      /^config: workers must be "auto" or an integer from 1 to 1024, received the number 0$/,
    ],
    [
      "a port out of range",
      { listen: 70000 },
      /^config: listen must be \[HOST:\]PORT with a port from 0 to 65535, received the number 70000$/,
    ],
    [
      "a bad address in a list",
      { listen: [8080, "host:port"] },
      /^config: listen\[1\] must be \[HOST:\]PORT/,
    ],
    ["an empty listen list", { listen: [] }, /^config: listen must name at least one address$/],
    [
      "a host with a newline (it was taken, and binding failed with a message of two lines)",
      { listen: "127.0.0.1\n:80" },
      /^config: listen must be \[HOST:\]PORT with a port from 0 to 65535, received a string \("127\.0\.0\.1\\n:80"\)$/,
    ],
    [
      "a metrics host with a space or a control character",
      { metrics: "local host:9145" },
      /^config: metrics must be false or \[HOST:\]PORT/,
    ],
    ["a host with a NUL", { listen: "a\u0000b:80" }, /^config: listen must be \[HOST:\]PORT/],
    [
      "an address listed twice (it could only fail to bind the second time)",
      { listen: ["127.0.0.1:8080", 9000, "127.0.0.1:8080"] },
      /^config: listen\[2\] repeats 127\.0\.0\.1:8080 \(listen\[0\]\): name each address once$/,
    ],
    ["a bad user", { user: "a:b:c" }, /^config: user must be "user" or "user:group"/],
    ["an empty prefix", { prefix: "" }, /^config: prefix must be a non-empty path/],
    [
      "a zero initTimeout",
      { initTimeout: 0 },
      /^config: initTimeout must be a number of seconds from 0\.001/,
    ],
    ["a string initTimeout", { initTimeout: "5" }, /^config: initTimeout must be a number of seconds/],
    [
      "a coordinator that is not a Redis URL",
      { coordinator: "http://127.0.0.1:6379" },
      /^config: coordinator must be a Redis URL \(redis:\/\/host:6379\/0 or rediss:\/\/…\), received a string \("http:/,
    ],
    [
      "a coordinator URL with a path that is not a database number",
      { coordinator: "redis://127.0.0.1:6379/jobs" },
      /^config: coordinator must name a database number after the host/,
    ],
    [
      "a coordinator object without a url",
      { coordinator: { keyPrefix: "a" } },
      /^config: coordinator\.url must be a Redis URL/,
    ],
    [
      "a coordinator keyPrefix with a space",
      { coordinator: { url: "redis://127.0.0.1", keyPrefix: "a b" } },
      /^config: coordinator\.keyPrefix must be 1 to 64 letters/,
    ],
    [
      // ioredis reads a URL's query as its own options, over tsresty's: a string commandTimeout
      // turned the 5 s bound off (a claim to a hung Redis waited for ever), enableOfflineQueue
      // queued claims, keyPrefix moved the keys away from the other hosts'.
      "a coordinator URL with a query (ioredis options)",
      { coordinator: "redis://127.0.0.1:6379/0?commandTimeout=5000" },
      /^config: coordinator must be a Redis URL without a query \(\?…\): ioredis would read it as options over tsresty's, received a string/,
    ],
    [
      // The check's URL parser trims it, ioredis's does not: every claim failed with "Invalid URL".
      "a coordinator URL with spaces around it",
      { coordinator: { url: " redis://127.0.0.1:6379" } },
      /^config: coordinator\.url must be a Redis URL \(redis:\/\/host:6379\/0 or rediss:\/\/…\), received a string \(" redis/,
    ],
    [
      // Port 0 is no server's: every claim would fail with a connection error.
      "a coordinator URL with port 0",
      { coordinator: "redis://127.0.0.1:0" },
      /^config: coordinator must name a port from 1 to 65535 \(redis:\/\/host:6379\), received a string/,
    ],
    [
      // ioredis percent-decodes the user and password: every claim failed with "URI malformed".
      "a coordinator URL whose password has a bare %",
      { coordinator: "redis://:pa%ss@127.0.0.1:6391/0" },
      /^config: coordinator must be a Redis URL whose password percent-decodes: a "%" must start an escape such as %25 \(which stands for "%"\), received a string \("redis:\/\/:pa%ss@127\.0\.0\.1:6391\/0"\)$/,
    ],
    [
      "a coordinator URL whose user has a bare %",
      { coordinator: { url: "redis://jobs%@127.0.0.1:6379" } },
      /^config: coordinator\.url must be a Redis URL whose user percent-decodes/,
    ],
    [
      "an unknown coordinator key",
      { coordinator: { url: "redis://127.0.0.1", db: 1 } },
      /^config: coordinator\.db is not a known key/,
    ],
    [
      "a signals.term that is neither graceful nor fast",
      { signals: { term: "nice" } },
      /^config: signals\.term must be "graceful" \(as QUIT\) or "fast" \(as INT\), received a string \("nice"\)$/,
    ],
    [
      "an unknown signals key",
      { signals: { quit: "fast" } },
      /^config: signals\.quit is not a known key; known keys here: term$/,
    ],
    [
      "signals not an object",
      { signals: "fast" },
      /^config: signals must be an object, received a string \("fast"\)$/,
    ],
  ];
  for (const [what, input, message] of bad) {
    it(`refuses ${what} with a ConfigError naming the key`, () => {
      assert.throws(
        () => resolveConfig(input),
        (error: unknown) => error instanceof ConfigError && message.test(error.message),
      );
    });
  }

  it("reads workers, listen addresses, user and paths", () => {
    const resolved = resolveConfig({
      workers: 3,
      listen: ["127.0.0.1:0", "[::1]:8081", 9000, "127.0.0.1:0"],
      user: "nobody:nogroup",
      prefix: "/run/app",
      errorLog: "/var/log/app.log",
      shutdownTimeout: 2.5,
    });
    assert.equal(resolved.workers, 3);
    assert.deepEqual(resolved.listen, [
      { host: "127.0.0.1", port: 0 },
      { host: "::1", port: 8081 },
      { host: null, port: 9000 },
      { host: "127.0.0.1", port: 0 },
    ]);
    assert.deepEqual(resolved.user, { user: "nobody", group: "nogroup" });
    assert.deepEqual(
      [resolved.prefix, resolved.errorLog, resolved.shutdownTimeout],
      ["/run/app", "/var/log/app.log", 2.5],
    );
    assert.equal(resolveConfig({ workers: "auto" }).workers, availableParallelism());
  });

  it("reads privilegedAgent as true or { connections }, and refuses bad connections", () => {
    assert.deepEqual(resolveConfig({ privilegedAgent: true }).privilegedAgent, { connections: 512 });
    assert.deepEqual(resolveConfig({ privilegedAgent: { connections: 10 } }).privilegedAgent, {
      connections: 10,
    });
    assert.equal(resolveConfig({ privilegedAgent: false }).privilegedAgent, null);
    assert.throws(() => resolveConfig({ privilegedAgent: { connections: 0 } }), {
      message:
        /^config: privilegedAgent\.connections must be an integer from 1 to 2147483647, received the number 0$/,
    });
    assert.throws(
      () => resolveConfig({ privilegedAgent: { conections: 1 } }),
      /privilegedAgent\.conections is not a known key/,
    );
  });

  it("reads coordinator as a Redis URL or { url, keyPrefix }, keyPrefix 'tsresty' by default", () => {
    assert.deepEqual(resolveConfig({ coordinator: "redis://127.0.0.1:6379/2" }).coordinator, {
      url: "redis://127.0.0.1:6379/2",
      keyPrefix: "tsresty",
    });
    assert.deepEqual(
      resolveConfig({ coordinator: { url: "rediss://cache.internal", keyPrefix: "shop:jobs" } }).coordinator,
      { url: "rediss://cache.internal", keyPrefix: "shop:jobs" },
    );
    // A "%" in a password is written %25, as ioredis decodes it.
    assert.equal(
      resolveConfig({ coordinator: "redis://jobs:pa%25ss@127.0.0.1:6379/0" }).coordinator?.url,
      "redis://jobs:pa%25ss@127.0.0.1:6379/0",
    );
  });

  it("reads http.lightResponse as true or false, on by default, and refuses anything else", () => {
    assert.equal(resolveConfig({ http: {} }).http.lightResponse, true);
    assert.equal(resolveConfig({ http: { lightResponse: false } }).http.lightResponse, false);
    assert.equal(
      resolveConfig({ http: { lightResponse: true, keepAliveTimeout: 1 } }).http.lightResponse,
      true,
    );
    assert.throws(() => resolveConfig({ http: { lightResponse: "no" } }), {
      message: /^config: http\.lightResponse must be true or false, received a string \("no"\)$/,
      code: "ERR_TSRESTY_CONFIG",
    });
  });

  it("reads http.sendTimeout in seconds, nginx's 60 by default, 0 for none, and refuses anything else, naming it", () => {
    assert.equal(resolveConfig({ http: {} }).http.sendTimeout, 60);
    assert.equal(resolveConfig({ http: { sendTimeout: 2.5 } }).http.sendTimeout, 2.5);
    assert.equal(resolveConfig({ http: { sendTimeout: 0 } }).http.sendTimeout, 0);
    for (const bad of [-1, "60", null, Number.NaN, Infinity]) {
      assert.throws(() => resolveConfig({ http: { sendTimeout: bad } }), {
        message: /^config: http\.sendTimeout must be/,
        code: "ERR_TSRESTY_CONFIG",
      });
    }
  });

  it("reads signals.term: graceful by default, fast when asked", () => {
    assert.equal(resolveConfig({}).signals.term, "graceful");
    assert.equal(resolveConfig({ signals: {} }).signals.term, "graceful");
    assert.equal(resolveConfig({ signals: { term: "fast" } }).signals.term, "fast");
  });

  it("refuses null for every key, naming it: null is no key's default (timers: null, shutdownTimeout: null and six others were taken as the defaults, while workers: null was refused)", () => {
    const inputs: [string, Record<string, unknown>][] = [
      ["timers", { timers: null }],
      ["timers.runningLimit", { timers: { runningLimit: null } }],
      ["timers.maxPending", { timers: { maxPending: null } }],
      ["shutdownTimeout", { shutdownTimeout: null }],
      ["initTimeout", { initTimeout: null }],
      ["standby", { standby: null }],
      ["signals.term", { signals: { term: null } }],
      ["accessLog.format", { accessLog: { path: "/tmp/a.log", format: null } }],
      ["coordinator", { coordinator: null }],
      ["coordinator.keyPrefix", { coordinator: { url: "redis://127.0.0.1:6379", keyPrefix: null } }],
      ["http.headersTimeout", { http: { headersTimeout: null } }],
      ["http.lightResponse", { http: { lightResponse: null } }],
      ["workers", { workers: null }],
      ["metrics", { metrics: null }],
      ["accessLog", { accessLog: null }],
    ];
    for (const [key, input] of inputs) {
      assert.throws(
        () => resolveConfig(input),
        (error: unknown) =>
          error instanceof ConfigError &&
          error.message.startsWith(`config: ${key} `) &&
          error.message.includes("null"),
        key,
      );
    }
  });

  it("names the file it came from", () => {
    assert.throws(() => resolveConfig({ timers: { maxPending: -1 } }, "tsresty.config.ts"), {
      message: /^tsresty\.config\.ts: timers\.maxPending must be/,
      code: "ERR_TSRESTY_CONFIG",
    });
  });
});
