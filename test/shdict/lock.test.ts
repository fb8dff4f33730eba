import assert from "node:assert/strict";
import { describe, it, mock } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { installZones, zoneHealth, type Lock, type LockResult, type Zone } from "../../src/shdict/index.ts";

import { ngx } from "../../src/runtime/ngx.ts";
import { isStep, startWithZone, within, type ZoneChild } from "./processes.ts";
import { earlyInASecond, sleep, testZone } from "./zones.ts";

type Line = { step: string; result: unknown };

/** The result of `child`'s step `step` (its first line of it), within 30 s. */
async function resultOf(child: ZoneChild, step: string, what: string): Promise<unknown> {
  return ((await within(child.line(isStep(step)), 30_000, what)) as Line).result;
}

/** An actor that takes the lock of `key` with `options`, holds it until a line comes, then unlocks. */
function holderOf(zone: Zone, key: string, options: object): ZoneChild {
  return startWithZone("actor", zone, [JSON.stringify([["lock", key, options], ["waitLine"], ["unlock"]])]);
}

/** Tells a holder (holderOf) to unlock: its unlock()'s result. */
async function release(holder: ZoneChild, what: string): Promise<unknown> {
  holder.child.stdin?.write("release\n");
  return resultOf(holder, "unlock", what);
}

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
    // Released 1 s after the waiter said it was about to lock: it must have waited ≥ 0.3 s of
    // that, with room for a loaded machine to delay its lock call.
    await sleep(1_000);
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

  it("a holder that exits while it holds its lock releases it, as nginx's close of the Lua VM runs lua-resty-lock's __gc (the key stayed for the whole exptime); a lock it lost to another stays that one's", async () => {
    const zone = testZone(1024 * 1024, "locks");
    // The Lock of "k" is the actor's last, still referenced when it exits (process.exit).
    const holder = startWithZone("actor", zone, [
      JSON.stringify([["lock", "lost", { exptime: 0.3 }], ["lock", "k", { exptime: 60 }], ["waitLine"]]),
    ]);
    await within(
      holder.line(() => holder.lines.length >= 2),
      60_000,
      "holder",
    );
    assert.deepEqual(
      holder.lines.map((line) => (line as Line).result),
      [
        { ok: true, elapsed: 0 },
        { ok: true, elapsed: 0 },
      ],
    );
    const taker = holderOf(zone, "lost", { exptime: 60, timeout: 20 });
    const took = await resultOf(taker, "lock", "taker");
    assert.equal((took as { ok: boolean }).ok, true, JSON.stringify(took));

    holder.child.stdin?.write("exit\n");
    const end = await within(holder.done, 30_000, "the holder's exit");
    assert.equal(end.code, 0, end.stderr);
    assert.deepEqual(zone.dict.ttl("k"), { ok: false, reason: "not found" });
    const lost = zone.dict.ttl("lost");
    assert.ok(lost.ok && lost.ttl > 50, `the taker's lock: ${JSON.stringify(lost)}`);
    assert.deepEqual(await release(taker, "taker's unlock"), { ok: true });
  });

  it("a waiter killed by SIGKILL while it waits takes nothing: the holder's unlock() releases the lock, and the next process gets it at once", async () => {
    const zone = testZone(1024 * 1024, "locks");
    const holder = holderOf(zone, "k", { exptime: 60 });
    await within(holder.line(isStep("lock")), 60_000, "holder");
    const waiter = startWithZone("actor", zone, [
      JSON.stringify([["lock", "k", { timeout: 20, maxStep: 0.01 }]]),
    ]);
    await sleep(1_000); // booting, then polling the key every 10 ms
    assert.deepEqual(waiter.lines, [], "still waiting");
    waiter.child.kill("SIGKILL");
    assert.equal((await within(waiter.done, 30_000, "the waiter's end")).signal, "SIGKILL");
    assert.deepEqual(await release(holder, "holder's unlock"), { ok: true });
    const next = startWithZone("actor", zone, [JSON.stringify([["lock", "k", { timeout: 0 }]])]);
    assert.deepEqual(await resultOf(next, "lock", "next"), { ok: true, elapsed: 0 });
    assert.deepEqual(zoneHealth(zone).problems, []);
  });

  it("a holder whose lock expired and was taken by another process: its unlock() leaves that process's lock alone", async () => {
    const zone = testZone(1024 * 1024, "locks");
    const first = startWithZone("actor", zone, [
      JSON.stringify([["lock", "k", { exptime: 0.3 }], ["waitLine"], ["unlock"]]),
    ]);
    await within(first.line(isStep("lock")), 60_000, "first holder");
    const second = startWithZone("actor", zone, [
      JSON.stringify([["lock", "k", { exptime: 30, timeout: 20 }], ["waitLine"], ["unlock"]]),
    ]);
    const got = ((await within(second.line(isStep("lock")), 30_000, "second holder")) as Line).result;
    assert.equal((got as { ok: boolean }).ok, true, JSON.stringify(got));
    first.child.stdin?.write("release\n");
    const released = ((await within(first.line(isStep("unlock")), 30_000, "first's unlock")) as Line).result;
    assert.deepEqual(released, { ok: false, reason: "not found" });
    const ttl = zone.dict.ttl("k");
    assert.ok(ttl.ok && ttl.ttl > 25, `the second holder's lock: ${JSON.stringify(ttl)}`);
    second.child.stdin?.write("release\n");
    const own = ((await within(second.line(isStep("unlock")), 30_000, "second's unlock")) as Line).result;
    assert.deepEqual(own, { ok: true });
    assert.deepEqual(zone.dict.ttl("k"), { ok: false, reason: "not found" });
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

  it("a Lock collected while it holds its key releases it, as lua-resty-lock's __gc does (the key stayed for the whole exptime); one that unlocked leaves the next holder's key alone", async () => {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const takeAndDrop = async (key: string): Promise<void> => {
      assert.deepEqual(await ngx.lock("local", { exptime: 60 }).lock(key), { ok: true, elapsed: 0 });
    };
    await takeAndDrop("dropped");
    assert.equal(typeof zone.dict.get("dropped"), "number", "held until its Lock is collected");
    assert.ok(
      await within(
        (async () => {
          while (zone.dict.get("dropped") !== undefined) {
            gc();
            await sleep(10);
          }
          return true;
        })(),
        10_000,
        "the key of the collected Lock",
      ),
    );
    const next = ngx.lock("local", { timeout: 0 });
    assert.deepEqual(await next.lock("dropped"), { ok: true, elapsed: 0 });
    // A Lock that unlocked, collected once another holds the key: that holder keeps it.
    let done: Lock | null = ngx.lock("local");
    assert.deepEqual(await done.lock("shared"), { ok: true, elapsed: 0 });
    done.unlock();
    done = null;
    const holder = ngx.lock("local", { timeout: 0 });
    assert.deepEqual(await holder.lock("shared"), { ok: true, elapsed: 0 });
    for (let i = 0; i < 5; i++) {
      gc();
      await sleep(10);
    }
    assert.deepEqual([next.unlock(), holder.unlock()], [{ ok: true }, { ok: true }]);
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

  /**
   * The times (ms since the first try) at which `lock()` tries `add` while the key is held, on
   * mocked timers, so the schedule is exact whatever the machine's load.
   */
  async function pollTimes(options: Parameters<typeof ngx.lock>[1], freeAt = Infinity, lateMs = 0) {
    const holder = ngx.lock("local");
    await holder.lock("k");
    const dict = zone.dict;
    let now = 0;
    const tries: number[] = [];
    // On the prototype: a dictionary is frozen.
    const prototype = Object.getPrototypeOf(dict) as typeof dict;
    const add = Reflect.get<typeof dict, "add">(prototype, "add");
    const watched = mock.method(
      prototype,
      "add",
      function (this: typeof dict, ...args: Parameters<typeof add>) {
        if (this === dict && args[0] === "k") tries.push(now);
        now += lateMs; // the event loop was busy for that long: the next timer fires late
        return add.apply(this, args);
      },
    );
    mock.timers.enable({ apis: ["setTimeout"] });
    // The lock's clock (its timeout and elapsed) moves with the mocked timers.
    const clock = mock.method(performance, "now", () => now);
    try {
      const state: { result?: LockResult } = {};
      const waiting = ngx
        .lock("local", options)
        .lock("k")
        .then((result) => (state.result = result));
      while (state.result === undefined && now < 10_000) {
        if (now === freeAt) holder.unlock();
        // setImmediate is not mocked: it lets the lock's promise chain arm its next timer.
        await new Promise((resolve) => setImmediate(resolve));
        await new Promise((resolve) => setImmediate(resolve));
        mock.timers.tick(1);
        now++;
      }
      return { tries, result: await waiting };
    } finally {
      clock.mock.restore();
      mock.timers.reset();
      watched.mock.restore();
      holder.unlock();
      zone.dict.delete("k");
    }
  }

  it("polls with lua-resty-lock's backoff: the wait starts at step, grows by ratio, is capped by maxStep and by what is left of the timeout, by the clock", async () => {
    // step 10 ms, ×2, capped at 80 ms; the last wait is what is left of the 250 ms timeout.
    assert.deepEqual(await pollTimes({ step: 0.01, ratio: 2, maxStep: 0.08, timeout: 0.25 }), {
      tries: [0, 10, 30, 70, 150, 230, 250],
      result: { ok: false, reason: "timeout" },
    });
    // ×3 from 10 ms, capped at 100 ms: 10, 30, 90→100, 100, 100, 100, then the 70 ms left.
    assert.deepEqual(await pollTimes({ step: 0.01, ratio: 3, maxStep: 0.1, timeout: 0.5 }), {
      tries: [0, 10, 40, 130, 230, 330, 430, 500],
      result: { ok: false, reason: "timeout" },
    });
    // Freed at 200 ms: the next try (at 230 ms) gets it, and elapsed is the time waited.
    const freed = await pollTimes({ step: 0.01, ratio: 2, maxStep: 0.08, timeout: 1 }, 200);
    assert.deepEqual(freed.tries, [0, 10, 30, 70, 150, 230]);
    assert.deepEqual(freed.result, { ok: true, elapsed: 0.23 });
    // Each wait ends 40 ms late (a busy event loop): the timeout is the clock's, so the tries
    // stop once 100 ms have passed (summed waits of 10 ms made ten tries, 500 ms in all).
    const late = await pollTimes({ step: 0.01, ratio: 1, maxStep: 0.01, timeout: 0.1 }, Infinity, 40);
    assert.deepEqual(late, { tries: [0, 50, 100], result: { ok: false, reason: "timeout" } });
    // The defaults: 1 ms, ×2, capped at 500 ms.
    const defaults = await pollTimes({ timeout: 2 });
    assert.deepEqual(defaults.tries, [0, 1, 3, 7, 15, 31, 63, 127, 255, 511, 1011, 1511, 2000]);
  });

  it("a holder whose lock expired and was taken by another: its unlock() and expire() leave the new holder's lock alone (not found)", async () => {
    const first = ngx.lock("local", { exptime: 0.05 });
    const second = ngx.lock("local", { exptime: 30, timeout: 0 });
    assert.deepEqual(await first.lock("taken"), { ok: true, elapsed: 0 });
    await sleep(120);
    assert.deepEqual(await second.lock("taken"), { ok: true, elapsed: 0 });
    assert.deepEqual(first.expire(0.05), { ok: false, reason: "not found" });
    const kept = zone.dict.ttl("taken");
    assert.ok(kept.ok && kept.ttl > 29, `the second holder's ttl became ${JSON.stringify(kept)}`);
    assert.deepEqual(first.unlock(), { ok: false, reason: "not found" });
    assert.deepEqual(first.unlock(), { ok: false, reason: "unlocked" });
    const third = ngx.lock("local", { timeout: 0 });
    assert.deepEqual(await third.lock("taken"), { ok: false, reason: "timeout" });
    assert.deepEqual(second.expire(), { ok: true });
    assert.deepEqual(second.unlock(), { ok: true });
    assert.deepEqual(await third.lock("taken"), { ok: true, elapsed: 0 });
    // An expired lock nobody took since: nothing to release, and the holder is told so.
    await first.lock("lapsed");
    await sleep(120);
    assert.deepEqual(first.expire(), { ok: false, reason: "not found" });
    assert.deepEqual(first.unlock(), { ok: false, reason: "not found" });
    assert.deepEqual(await first.lock("lapsed"), { ok: true, elapsed: 0 });
    first.unlock();
    // The key now holds another number that never expires: the case that sets of numbers make
    // without the shard's lock. expire(0) must still compare, under the lock.
    await first.lock("plain");
    await sleep(120);
    await earlyInASecond();
    zone.dict.set("plain", 7);
    zone.dict.get("plain"); // moved this second: the next set of a number may skip the lock
    assert.deepEqual(first.expire(0), { ok: false, reason: "not found" });
    assert.deepEqual(first.unlock(), { ok: false, reason: "not found" });
    assert.deepEqual([zone.dict.get("plain"), zone.dict.ttl("plain")], [7, { ok: true, ttl: 0 }]);
    third.unlock();
    assert.deepEqual(zoneHealth(zone).problems, []);
  });

  it("Lock methods called without their Lock throw a coded error naming the method, not V8's", async () => {
    const lock = ngx.lock("local");
    // eslint-disable-next-line @typescript-eslint/unbound-method -- detached on purpose: the misuse under test
    const { lock: take, unlock, expire } = lock;
    await assert.rejects(take("k"), {
      code: "ERR_TSRESTY_INVALID_ARG_TYPE",
      message: /^lock.lock: "this" must be a Lock/,
    });
    assert.throws(() => unlock(), { code: "ERR_TSRESTY_INVALID_ARG_TYPE", message: /^lock.unlock: "this"/ });
    assert.throws(() => expire.call({}, 1), {
      code: "ERR_TSRESTY_INVALID_ARG_TYPE",
      message: /^lock.expire: "this"/,
    });
    assert.deepEqual(await take.call(lock, "k"), { ok: true, elapsed: 0 });
    assert.deepEqual(unlock.call(lock), { ok: true });
  });

  it("a Lock made with its class (lock.constructor) takes options as ngx.lock does: {} means the defaults, garbage throws", async () => {
    const Made = ngx.lock("local").constructor as new (dict: unknown, options?: unknown) => Lock;
    // Its options were used unchecked: every setting left out was undefined, so the timeout
    // was NaN and lock() polled for ever, and the key got no ttl.
    const holder = ngx.lock("local");
    await holder.lock("made");
    const made = new Made(zone.dict, { timeout: 0.05 });
    // On mocked timers: a lock() that never ends leaves no real timer behind (its first wait
    // was NaN ms, which sleep() split into waits of 2^31-1 ms).
    mock.timers.enable({ apis: ["setTimeout"] });
    let now = 0;
    const clock = mock.method(performance, "now", () => now);
    const state: { result?: LockResult } = {};
    try {
      void made.lock("made").then((result) => (state.result = result));
      for (; now < 1_000 && state.result === undefined; now++) {
        await new Promise((resolve) => setImmediate(resolve));
        await new Promise((resolve) => setImmediate(resolve));
        mock.timers.tick(1);
      }
    } finally {
      clock.mock.restore();
      mock.timers.reset();
      holder.unlock();
    }
    assert.deepEqual(state.result, { ok: false, reason: "timeout" });
    const defaults = new Made(zone.dict, {});
    assert.deepEqual(await defaults.lock("free"), { ok: true, elapsed: 0 });
    const ttl = zone.dict.ttl("free");
    assert.ok(ttl.ok && ttl.ttl > 29 && ttl.ttl <= 30, JSON.stringify(ttl));
    defaults.unlock();
    assert.throws(() => new Made(zone.dict, { timeout: NaN }), {
      code: "ERR_TSRESTY_INVALID_ARG_VALUE",
      message: /"timeout"/,
    });
    assert.throws(() => new Made(zone.dict, 5), {
      code: "ERR_TSRESTY_INVALID_ARG_TYPE",
      message: /"options"/,
    });
  });

  it("a Lock made with its class refuses a dictionary that is not one, at once: its lock() threw V8's TypeError, or took a key its unlock() could never release", async () => {
    const Made = ngx.lock("local").constructor as new (dict: unknown, options?: unknown) => Lock;
    // An object with an add() that says yes: lock() took the "lock", then unlock() threw and the
    // Lock held that key for good (every later lock() said "locked").
    const lookalike = { add: () => ({ ok: true, forcible: false }) };
    for (const dict of [undefined, null, "local", {}, lookalike, ngx.lock("local")]) {
      assert.throws(() => new Made(dict), {
        code: "ERR_TSRESTY_INVALID_ARG_TYPE",
        message: /^ngx\.lock: "dictionary" must be a shared dictionary/,
      });
    }
    const made = new Made(zone.dict, { timeout: 0 });
    assert.deepEqual(await made.lock("made"), { ok: true, elapsed: 0 });
    assert.deepEqual(made.unlock(), { ok: true });
  });

  it("options are a plain object's own keys: a Map, a Date, an array, a class's instance or an inherited option throws (each was taken as no options)", () => {
    class Options {
      timeout = 1;
    }
    const odd = [new Map([["timeout", -1]]), new Date(), [], new Options(), Object.create({ timeot: 1 })];
    for (const options of odd)
      assert.throws(() => ngx.lock("local", options as never), {
        code: "ERR_TSRESTY_INVALID_ARG_TYPE",
        message: /^ngx\.lock: "options" must be a plain object, received /,
      });
    const bare = Object.assign(Object.create(null) as object, { timeout: 0 });
    assert.ok(
      ngx.lock("local", bare) instanceof ngx.lock("local").constructor,
      "no prototype at all is plain",
    );
  });

  it("a zone name that is not a string throws, even one whose toString names a declared zone", () => {
    const named = { toString: () => "local" };
    for (const zoneName of [named, ["local"], Symbol("local"), 5, undefined]) {
      assert.throws(() => ngx.lock(zoneName as never), {
        code: "ERR_TSRESTY_INVALID_ARG_TYPE",
        message: /^ngx.lock: "zone" must be the name of a declared zone/,
      });
    }
  });

  it("an unknown zone or option, or a bad option value, throws", () => {
    assert.throws(() => ngx.lock("nope"), { code: "ERR_TSRESTY_INVALID_ARG_VALUE", message: /local/ });
    assert.throws(() => ngx.lock("local", { exptim: 1 } as never), { code: "ERR_TSRESTY_UNKNOWN_OPTION" });
    assert.throws(() => ngx.lock("local", { timeout: -1 }), { code: "ERR_TSRESTY_INVALID_ARG_VALUE" });
    assert.throws(() => ngx.lock("local", { step: "1" as never }), { code: "ERR_TSRESTY_INVALID_ARG_TYPE" });
  });

  it("option errors state the real bound, and expire's name expire; an exptime too large to keep throws", async () => {
    const bad = (options: object, message: RegExp): void => {
      assert.throws(() => ngx.lock("local", options), { code: "ERR_TSRESTY_INVALID_ARG_VALUE", message });
    };
    bad({ ratio: 0.5 }, /"ratio" must be a finite number >= 1, received the number 0.5/);
    bad({ step: 0.0001 }, /"step" must be a number of seconds from 0.001 to 1000000000/);
    bad({ exptime: 0.0005 }, /"exptime" must be a number of seconds from 0.001/);
    bad({ maxStep: 1e10 }, /"maxStep" must be a number of seconds from 0.001 to 1000000000/);
    // This exptime wrapped the key's expiry to the past: two locks on one key both got it.
    bad({ exptime: 1.8446744073708e16 }, /"exptime"/);
    assert.throws(() => ngx.lock("local", { ratio: "2" as never }), {
      code: "ERR_TSRESTY_INVALID_ARG_TYPE",
      message: /"ratio" must be a number >= 1/,
    });
    const lock = ngx.lock("local");
    assert.deepEqual(await lock.lock("e"), { ok: true, elapsed: 0 });
    assert.throws(() => lock.expire(-1), {
      code: "ERR_TSRESTY_INVALID_ARG_VALUE",
      message: /^lock.expire: "time"/,
    });
    assert.throws(() => lock.expire("x" as never), {
      code: "ERR_TSRESTY_INVALID_ARG_TYPE",
      message: /^lock.expire: "time"/,
    });
    assert.throws(() => lock.expire(2e9), { code: "ERR_TSRESTY_INVALID_ARG_VALUE" });
    const other = ngx.lock("local", { exptime: 1e9, timeout: 0 });
    assert.deepEqual(await other.lock("e"), { ok: false, reason: "timeout" });
    lock.unlock();
    assert.deepEqual(await other.lock("e"), { ok: true, elapsed: 0 });
    const ttl = zone.dict.ttl("e");
    assert.ok(ttl.ok && ttl.ttl > 1e9 - 1, JSON.stringify(ttl));
    other.unlock();
  });

  it("lock(key, exptime) gives the key that ttl and caps the wait by it, as lua-resty-lock's lock(key, exptime), the default timeout by the call's exptime, not the option's; a bad exptime throws and takes nothing (stop 26)", async () => {
    const lock = ngx.lock("local");
    assert.deepEqual(await lock.lock("x", 100), { ok: true, elapsed: 0 });
    const ttl = zone.dict.ttl("x");
    assert.ok(ttl.ok && ttl.ttl > 99 && ttl.ttl <= 100, JSON.stringify(ttl));
    const other = ngx.lock("local", { timeout: 5 });
    const started = Date.now();
    assert.deepEqual(await other.lock("x", 0.05), { ok: false, reason: "timeout" });
    assert.ok(Date.now() - started < 2_000, `timed out after ${Date.now() - started} ms (exptime 0.05 s)`);
    assert.deepEqual(lock.unlock(), { ok: true });
    // The default timeout (5 s) is capped by the call's exptime, not the option's (it was: 1 s).
    const holder = ngx.lock("local");
    assert.deepEqual(await holder.lock("capped"), { ok: true, elapsed: 0 });
    setTimeout(() => holder.unlock(), 1_500);
    const waiter = ngx.lock("local", { exptime: 1 });
    const waited = await waiter.lock("capped", 10);
    assert.equal(waited.ok, true, JSON.stringify(waited));
    // A timeout given is capped by the option's exptime at once, as lua-resty-lock's new().
    assert.deepEqual(await ngx.lock("local", { exptime: 0.2, timeout: 5 }).lock("capped", 10), {
      ok: false,
      reason: "timeout",
    });
    assert.deepEqual(waiter.unlock(), { ok: true });
    await assert.rejects(lock.lock("y", "garbage" as never), {
      code: "ERR_TSRESTY_INVALID_ARG_TYPE",
      message: /^lock.lock: "exptime" must be a number of seconds/,
    });
    await assert.rejects(lock.lock("y", 0), {
      code: "ERR_TSRESTY_INVALID_ARG_VALUE",
      message: /^lock.lock: "exptime" must be a number of seconds from 0.001 to 1000000000/,
    });
    assert.equal(zone.dict.get("y"), undefined);
    assert.deepEqual(await lock.lock("y"), { ok: true, elapsed: 0 });
    const kept = zone.dict.ttl("y");
    assert.ok(kept.ok && kept.ttl > 29 && kept.ttl <= 30, JSON.stringify(kept));
    lock.unlock();
  });
});
