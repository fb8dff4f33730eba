import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { sleep, testZone } from "./zones.ts";

const OK = { ok: true, forcible: false };

describe("ngx.shared.DICT basics (T-SHD-01…03, 06…08, 17)", () => {
  it("T-SHD-01: set/get round-trip strings, numbers with flags, false, number keys; a missing key is undefined", () => {
    const dogs = testZone().dict;
    assert.deepEqual(dogs.set("a", "x", 0, 0), OK);
    assert.equal(dogs.get("a"), "x");
    assert.deepEqual(dogs.set("f", 1.5, 0, 7), OK);
    assert.deepEqual(dogs.getWithFlags("f"), { value: 1.5, flags: 7 });
    assert.equal(dogs.get("f"), 1.5);
    dogs.set("b", false);
    assert.equal(dogs.get("b"), false);
    dogs.set(12, "twelve");
    assert.equal(dogs.get("12"), "twelve");
    // JavaScript's String(), not LuaJIT's tostring: -0 is "0" (as in a Map), fractions keep every digit.
    dogs.set(-0, "zero");
    assert.deepEqual([dogs.get(0), dogs.get("0"), dogs.get("-0")], ["zero", "zero", undefined]);
    dogs.set(0.1 + 0.2, "sum");
    assert.deepEqual([dogs.get("0.30000000000000004"), dogs.get("0.3")], ["sum", undefined]);
    assert.equal(dogs.get("nope"), undefined);
    assert.deepEqual(dogs.getWithFlags("nope"), { value: undefined, flags: 0 });
  });

  it("T-SHD-02: a bad value type, an empty, missing or too long key, a detached method: misuse throws", () => {
    const dogs = testZone().dict;
    const call = dogs as unknown as Record<string, (...args: unknown[]) => unknown>;
    assert.throws(() => call["set"]!.call(dogs, "t", {}), { code: "ERR_TSRESTY_INVALID_ARG_TYPE" });
    assert.throws(() => dogs.set("", 1), { code: "ERR_TSRESTY_INVALID_ARG_VALUE" });
    assert.throws(() => call["set"]!.call(dogs, undefined, "bar"), { code: "ERR_TSRESTY_INVALID_ARG_TYPE" });
    assert.throws(() => call["get"]!.call(dogs, null), { code: "ERR_TSRESTY_INVALID_ARG_TYPE" });
    assert.throws(() => dogs.get("k".repeat(65536)), { code: "ERR_TSRESTY_INVALID_ARG_VALUE" });
    // dogs.set used without its object (OpenResty: bad "zone" argument)
    const detached = call["set"]!;
    assert.throws(() => detached("k", 1), TypeError);
  });

  it("T-SHD-03: add on an existing key is exists, replace on a missing one not found, delete always ok, nil deletes", () => {
    const dogs = testZone().dict;
    dogs.set("k", 1);
    assert.deepEqual(dogs.add("k", 2), { ok: false, reason: "exists", forcible: false });
    assert.deepEqual(dogs.replace("missing", 2), { ok: false, reason: "not found", forcible: false });
    const call = dogs as unknown as Record<string, (...args: unknown[]) => unknown>;
    assert.throws(() => call["add"]!.call(dogs, "n", undefined), { code: "ERR_TSRESTY_INVALID_ARG_TYPE" });
    assert.throws(() => call["replace"]!.call(dogs, "k", null), { code: "ERR_TSRESTY_INVALID_ARG_TYPE" });
    assert.deepEqual(dogs.delete("missing"), OK);
    assert.deepEqual(dogs.set("k", undefined), OK);
    assert.equal(dogs.get("k"), undefined);
    dogs.set("k", 1);
    dogs.set("k", null);
    assert.equal(dogs.get("k"), undefined);
    assert.deepEqual(dogs.replace("gone", 1), { ok: false, reason: "not found", forcible: false });
  });

  it("T-SHD-06: a negative or missing exptime throws; ttl is 0, not found, or the seconds left; expire sets it", () => {
    const dogs = testZone().dict;
    assert.throws(() => dogs.set("k", "v", -1), { code: "ERR_TSRESTY_INVALID_ARG_VALUE" });
    dogs.set("k", "v");
    const call = dogs as unknown as Record<string, (...args: unknown[]) => unknown>;
    assert.throws(() => call["expire"]!.call(dogs, "k"), { code: "ERR_TSRESTY_INVALID_ARG_TYPE" });
    assert.deepEqual(dogs.ttl("k"), { ok: true, ttl: 0 });
    assert.deepEqual(dogs.ttl("missing"), { ok: false, reason: "not found" });
    dogs.set("t", "v", 0.1);
    const left = dogs.ttl("t");
    assert.ok(left.ok && left.ttl > 0.05 && left.ttl <= 0.1, `ttl ${JSON.stringify(left)}`);
    assert.deepEqual(dogs.expire("missing", 1), { ok: false, reason: "not found" });
    assert.deepEqual(dogs.expire("t", 0), { ok: true });
    assert.deepEqual(dogs.ttl("t"), { ok: true, ttl: 0 });
  });

  it("T-SHD-07: an expired item is missing for get, stale for getStale, has a negative ttl, and expire revives it", async () => {
    const dogs = testZone().dict;
    dogs.set("persistent", 1); // the LRU tail, so that the lazy expiry of a get does not free "e"
    dogs.set("e", "v", 0.1);
    await sleep(150);
    assert.equal(dogs.get("e"), undefined);
    assert.deepEqual(dogs.getStale("e"), { value: "v", flags: 0, stale: true });
    const left = dogs.ttl("e");
    assert.ok(left.ok && left.ttl < 0 && left.ttl > -1, `ttl ${JSON.stringify(left)}`);
    assert.deepEqual(dogs.expire("e", 10), { ok: true });
    assert.equal(dogs.get("e"), "v");
  });

  it("T-SHD-08: on expired keys replace is not found, add stores with no ttl, incr without init is not found", async () => {
    const dogs = testZone().dict;
    dogs.set("persistent", 1);
    dogs.set("r", 1, 0.01);
    dogs.set("a", 1, 0.01);
    dogs.set("i", 1, 0.01);
    await sleep(30);
    assert.deepEqual(dogs.replace("r", 2), { ok: false, reason: "not found", forcible: false });
    assert.deepEqual(dogs.add("a", 2), OK);
    assert.deepEqual(dogs.ttl("a"), { ok: true, ttl: 0 });
    assert.deepEqual(dogs.incr("i", 1), { ok: false, reason: "not found", forcible: false });
  });

  it("T-SHD-17: capacity() is the declared size; freeSpace() is the free part of the heap, less after a set", () => {
    assert.equal(testZone(1024 * 1024).dict.capacity(), 1048576);
    const small = testZone(16 * 1024).dict;
    assert.equal(small.capacity(), 16384);
    const empty = small.freeSpace();
    assert.ok(empty > 8 * 1024 && empty < 16384, `an empty 16k zone has ${empty} bytes free`);
    small.set("k", "v".repeat(1000));
    assert.ok(small.freeSpace() < empty - 1000);
    small.delete("k");
    assert.equal(small.freeSpace(), empty);
  });
});
