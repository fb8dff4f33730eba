import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { sleep, testZone } from "./zones.ts";

describe("incr (T-SHD-04, T-SHD-05)", () => {
  it("T-SHD-04: incr needs init on a missing key, takes floats and numeric strings, refuses strings and lists", () => {
    const dogs = testZone().dict;
    assert.deepEqual(dogs.incr("c", 1), { ok: false, reason: "not found", forcible: false });
    assert.deepEqual(dogs.incr("c", 1, 10), { ok: true, value: 11, forcible: false });
    assert.deepEqual(dogs.incr("c", 2.5, 10), { ok: true, value: 13.5, forcible: false });
    assert.deepEqual(dogs.incr("c", "2"), { ok: true, value: 15.5, forcible: false });
    dogs.set("s", "text");
    assert.deepEqual(dogs.incr("s", 1), { ok: false, reason: "not a number", forcible: false });
    dogs.lpush("l", 1);
    assert.deepEqual(dogs.incr("l", 1, 0), { ok: false, reason: "not a number", forcible: false });
    assert.throws(() => dogs.incr("foo", "bar"), { code: "ERR_TSRESTY_INVALID_ARG_TYPE" });
    assert.deepEqual(dogs.incr("f", 0.5, 1.25), { ok: true, value: 1.75, forcible: false });
  });

  it("T-SHD-05: initTtl applies only when incr creates the key; bad init and initTtl throw", async () => {
    const dogs = testZone().dict;
    assert.throws(() => dogs.incr("k", 1, 0, -1), { code: "ERR_TSRESTY_INVALID_ARG_VALUE" });
    assert.throws(() => dogs.incr("k", 1, 0, "bar"), { code: "ERR_TSRESTY_INVALID_ARG_TYPE" });
    assert.throws(() => dogs.incr("k", 1, "bar"), { code: "ERR_TSRESTY_INVALID_ARG_TYPE" });
    assert.throws(() => dogs.incr("k", 1, undefined, 0.01), { code: "ERR_TSRESTY_INVALID_ARG_VALUE" });
    dogs.set("persistent", 0);
    dogs.set("foo", 32);
    assert.deepEqual(dogs.incr("foo", 10502, 0, 0.01), { ok: true, value: 10534, forcible: false });
    assert.deepEqual(dogs.incr("bar", 10502, 1, 0.01), { ok: true, value: 10503, forcible: false });
    // initTtl as a numeric string, as lua-resty-core's t/shdict.t TEST 44 (its tonumber).
    assert.deepEqual(dogs.incr("text", 10502, 1, "0.01"), { ok: true, value: 10503, forcible: false });
    dogs.set("gone", 7, 0.01);
    await sleep(40);
    assert.equal(dogs.get("foo"), 10534);
    assert.equal(dogs.get("bar"), undefined);
    assert.equal(dogs.get("text"), undefined);
    assert.deepEqual(dogs.incr("gone", 10502, 0, 0.01), { ok: true, value: 10502, forcible: false });
  });

  it("incr refuses NaN and infinities as value or init, and reads strings as Lua's tonumber does (it took NaN, and the counter stayed NaN for every later incr)", () => {
    const dogs = testZone().dict;
    dogs.set("hits", 10);
    for (const bad of [NaN, Infinity, -Infinity, "1e400", "-1e400", `0x${"f".repeat(300)}`]) {
      assert.throws(() => dogs.incr("hits", bad), {
        code: "ERR_TSRESTY_INVALID_ARG_VALUE",
        message: /"value".*finite/,
      });
      assert.throws(() => dogs.incr("new", 1, bad), {
        code: "ERR_TSRESTY_INVALID_ARG_VALUE",
        message: /"init".*finite/,
      });
    }
    for (const bad of ["Infinity", "NaN", "0b11", "0o7", "1_000", "", " ", "1 2", "--1", "0x", "1e"])
      assert.throws(
        () => dogs.incr("hits", bad),
        { code: "ERR_TSRESTY_INVALID_ARG_TYPE" },
        JSON.stringify(bad),
      );
    assert.equal(dogs.get("hits"), 10, "nothing was added by a refused incr");
    assert.equal(dogs.get("new"), undefined, "nor made");
    const sums: [string, number][] = [
      [" 2 ", 12],
      ["-1.5e1", -3],
      ["+.5", -2.5],
      ["0x1F", 28.5],
      ["-0X10", 12.5],
      ["1.", 13.5],
    ];
    for (const [text, total] of sums)
      assert.deepEqual(dogs.incr("hits", text), { ok: true, value: total, forcible: false }, text);
  });

  it("an increment past the largest double makes the counter ±Infinity, and incr of a stored NaN or infinity gives it back, as LuaJIT's doubles do (docs/shdict.md)", () => {
    const dogs = testZone().dict;
    dogs.set("big", Number.MAX_VALUE);
    assert.deepEqual(dogs.incr("big", Number.MAX_VALUE), { ok: true, value: Infinity, forcible: false });
    assert.deepEqual(dogs.incr("big", -1), { ok: true, value: Infinity, forcible: false });
    dogs.set("low", -Number.MAX_VALUE);
    assert.deepEqual(dogs.incr("low", -Number.MAX_VALUE), { ok: true, value: -Infinity, forcible: false });
    dogs.set("nan", NaN);
    assert.deepEqual(dogs.incr("nan", 1), { ok: true, value: NaN, forcible: false });
  });
});
