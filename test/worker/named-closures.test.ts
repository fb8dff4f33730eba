// The paths run per request and per timer run make no closure bound to a name. tsresty's build
// bundles with esbuild's keepNames, and tsx (which runs these tests) compiles with it too: each
// such closure is given its name with Object.defineProperty as it is made, ~0.4 µs on Node 20
// (scripts/build.mjs). Counted here by watching that call: the helper esbuild adds to a module
// takes Object.defineProperty when the module is evaluated, so the watch is set before the
// modules are imported, and the client is node:http's (not compiled by tsx).
import assert from "node:assert/strict";
import { Agent, request } from "node:http";
import { after, describe, it } from "node:test";

const named: string[] = [];
const define = Object.defineProperty;
Object.defineProperty = function watched<T>(target: T, key: PropertyKey, attributes: PropertyDescriptor): T {
  if (key === "name" && typeof target === "function") named.push(String(attributes.value));
  return define(target, key, attributes);
};
after(() => {
  Object.defineProperty = define;
});

const { installLightResponse } = await import("../../src/worker/fetch/index.ts");
const { serve } = await import("./serve.ts");
const { TimerSystem } = await import("../../src/timer/index.ts");
const { systemClock } = await import("../../src/util/clock.ts");

/** `count` GETs one after another on one keep-alive connection; resolves with their statuses. */
async function getMany(port: number, count: number): Promise<number[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const statuses: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      statuses.push(
        await new Promise<number>((resolve, reject) => {
          request({ port, host: "127.0.0.1", path: `/?i=${i}`, agent }, (res) => {
            res.resume();
            res.on("end", () => resolve(res.statusCode ?? 0));
          })
            .on("error", reject)
            .end();
        }),
      );
    }
  } finally {
    agent.destroy();
  }
  return statuses;
}

describe("no closure named per call on the hot paths", () => {
  it("a fetch app's requests, answered at once or through a promise with headers, name no function", async () => {
    installLightResponse();
    const light = await serve(() => new Response("hello\n"));
    const viaPromise = await serve(() =>
      Promise.resolve(Response.json({ ok: true }, { headers: { "x-a": "1" } })),
    );
    for (const { port } of [light, viaPromise]) {
      await getMany(port, 3); // the first requests wire the classes (once per process)
      const before = named.length;
      const statuses = await getMany(port, 20);
      assert.deepEqual(statuses, Array<number>(20).fill(200));
      assert.deepEqual(named.slice(before), []);
    }
  });

  it("async timer runs name no function", async () => {
    const timers = new TimerSystem({
      clock: systemClock,
      log: () => undefined,
      maxPending: 1024,
      maxRunning: 256,
      runningLimit: "wait",
    });
    const runs = (count: number): Promise<void> =>
      new Promise((resolve) => {
        let left = count;
        for (let i = 0; i < count; i++) {
          timers.at(0, async () => {
            await Promise.resolve();
            if (--left === 0) resolve();
          });
        }
      });
    await runs(3);
    const before = named.length;
    await runs(20);
    assert.deepEqual(named.slice(before), []);
  });
});
