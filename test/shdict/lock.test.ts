import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { installZones } from "../../src/shdict/index.ts";
import { ngx } from "../../src/runtime/ngx.ts";
import { startWithZone, within } from "./processes.ts";
import { sleep, testZone } from "./zones.ts";

type Line = { step: string; result: unknown };
const isStep =
  (step: string) =>
  (line: unknown): boolean =>
    typeof line === "object" && line !== null && (line as Line).step === step;

describe("ngx.lock across processes", () => {
  it("a second process waits for the lock until the first unlocks, then gets it", async () => {
    const zone = testZone(1024 * 1024, "locks");
    const holder = startWithZone("actor", zone, [
      JSON.stringify([["lock", "k", {}], ["waitLine"], ["unlock"]]),
    ]);
    assert.deepEqual(((await within(holder.line(isStep("lock")), 60_000, "holder")) as Line).result, {
      ok: true,
      elapsed: 0,
    });
    const waiter = startWithZone("actor", zone, [
      JSON.stringify([
        ["sleep", 0],
        ["lock", "k", { timeout: 20 }],
      ]),
    ]);
    await within(waiter.line(isStep("sleep")), 60_000, "waiter");
    await sleep(400);
    holder.child.stdin?.write("release\n");
    const got = ((await within(waiter.line(isStep("lock")), 30_000, "waiter's lock")) as Line).result as {
      ok: boolean;
      elapsed: number;
    };
    assert.equal(got.ok, true);
    assert.ok(got.elapsed >= 0.3 && got.elapsed < 20, `waited ${got.elapsed} s`);
  });

  it("a holder killed by SIGKILL leaves a lock that expires after exptime", async () => {
    const zone = testZone(1024 * 1024, "locks");
    const holder = startWithZone("actor", zone, [
      JSON.stringify([["lock", "k", { exptime: 3 }], ["waitLine"]]),
    ]);
    await within(holder.line(isStep("lock")), 60_000, "holder");
    const locked = Date.now();
    holder.child.kill("SIGKILL");
    await holder.done;
    const waiter = startWithZone("actor", zone, [JSON.stringify([["lock", "k", { timeout: 10 }]])]);
    const got = ((await within(waiter.line(isStep("lock")), 30_000, "waiter's lock")) as Line).result as {
      ok: boolean;
    };
    const after = (Date.now() - locked) / 1000;
    assert.equal(got.ok, true);
    assert.ok(after > 2.8 && after < 10, `the lock went away ${after} s after it was taken`);
  });

  it("a lock held elsewhere times out after timeout", async () => {
    const zone = testZone(1024 * 1024, "locks");
    const holder = startWithZone("actor", zone, [JSON.stringify([["lock", "k", {}], ["waitLine"]])]);
    await within(holder.line(isStep("lock")), 60_000, "holder");
    const waiter = startWithZone("actor", zone, [
      JSON.stringify([
        ["sleep", 0],
        ["lock", "k", { timeout: 0.3 }],
      ]),
    ]);
    await within(waiter.line(isStep("sleep")), 60_000, "waiter");
    const started = Date.now();
    const got = ((await within(waiter.line(isStep("lock")), 30_000, "waiter's lock")) as Line).result;
    assert.deepEqual(got, { ok: false, reason: "timeout" });
    assert.ok(Date.now() - started >= 250, `timed out after ${Date.now() - started} ms`);
    holder.child.kill("SIGKILL");
  });
});

describe("ngx.lock in one process", () => {
  const zone = testZone(1024 * 1024, "local");
  installZones([zone]);

  it("one Lock object holds at most one key; unlock and expire need a held key", async () => {
    const lock = ngx.lock("local");
    assert.deepEqual(await lock.lock("a"), { ok: true, elapsed: 0 });
    assert.deepEqual(await lock.lock("b"), { ok: false, reason: "locked" });
    assert.deepEqual(lock.expire(10), { ok: true });
    const ttl = zone.dict.ttl("a");
    assert.ok(ttl.ok && ttl.ttl > 9, JSON.stringify(ttl));
    assert.deepEqual(lock.unlock(), { ok: true });
    assert.deepEqual(lock.unlock(), { ok: false, reason: "unlocked" });
    assert.deepEqual(lock.expire(), { ok: false, reason: "unlocked" });
    assert.equal(zone.dict.get("a"), undefined);
    const [first, second] = await Promise.all([lock.lock("b"), lock.lock("c")]);
    assert.deepEqual(
      [first, second],
      [
        { ok: true, elapsed: 0 },
        { ok: false, reason: "locked" },
      ],
    );
    lock.unlock();
  });

  it("waiting polls on timers with backoff and never blocks the event loop", async () => {
    const holder = ngx.lock("local");
    const waiter = ngx.lock("local", { timeout: 2 });
    await holder.lock("k");
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 10);
    setTimeout(() => holder.unlock(), 300);
    const got = await waiter.lock("k");
    clearInterval(ticker);
    assert.equal(got.ok, true);
    assert.ok(got.elapsed >= 0.25 && got.elapsed < 2, JSON.stringify(got));
    assert.ok(ticks >= 5, `${ticks} ticks while waiting`);
    waiter.unlock();
  });

  it("an unknown zone or option, or a bad option value, throws", () => {
    assert.throws(() => ngx.lock("nope"), { code: "ERR_TSRESTY_INVALID_ARG_VALUE", message: /local/ });
    assert.throws(() => ngx.lock("local", { exptim: 1 } as never), { code: "ERR_TSRESTY_UNKNOWN_OPTION" });
    assert.throws(() => ngx.lock("local", { timeout: -1 }), { code: "ERR_TSRESTY_INVALID_ARG_VALUE" });
    assert.throws(() => ngx.lock("local", { step: "1" as never }), { code: "ERR_TSRESTY_INVALID_ARG_TYPE" });
  });
});
