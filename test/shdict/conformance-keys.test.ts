import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { zoneStats } from "../../src/shdict/index.ts";
import { sleep, testZone } from "./zones.ts";

describe("keys and flushing (T-SHD-09…11)", () => {
  it("T-SHD-09: getKeys is least recently used first, limited to 1024 by default, 0 for all, without expired keys", async () => {
    const dogs = testZone().dict;
    dogs.set("k1", 1);
    dogs.set("k2", 2);
    dogs.set("k3", 3);
    dogs.get("k1");
    assert.deepEqual(dogs.getKeys(), ["k2", "k3", "k1"]);
    assert.deepEqual(dogs.getKeys(2), ["k2", "k3"]);
    dogs.set("short", 1, 0.01);
    await sleep(30);
    assert.deepEqual(dogs.getKeys(0), ["k2", "k3", "k1"]);
    const many = testZone(4 * 1024 * 1024).dict;
    for (let i = 0; i < 2048; i++) many.set(`key${i}`, i);
    assert.equal(many.getKeys().length, 1024);
    assert.equal(many.getKeys(0).length, 2048);
  });

  it("T-SHD-09: in a zone split into shards the order is still least recently used first", () => {
    const dogs = testZone(16 * 1024 * 1024).dict;
    const keys = Array.from({ length: 200 }, (_, i) => `key${i}`);
    for (const key of keys) dogs.set(key, 1);
    dogs.get("key0");
    dogs.incr("key5", 1);
    dogs.set("key7", 2);
    assert.deepEqual(dogs.getKeys(0), [
      ...keys.filter((k) => !["key0", "key5", "key7"].includes(k)),
      "key0",
      "key5",
      "key7",
    ]);
    assert.deepEqual(dogs.getKeys(3), ["key1", "key2", "key3"]);
  });

  it("ttl and expire leave the LRU order as it is, as OpenResty's peek: a key read only by them is still the first evicted (stop 26)", () => {
    const dogs = testZone().dict;
    dogs.set("k1", 1);
    dogs.set("k2", 2);
    dogs.set("k3", 3);
    assert.deepEqual(dogs.ttl("k1"), { ok: true, ttl: 0 });
    assert.deepEqual(dogs.getKeys(), ["k1", "k2", "k3"]);
    assert.deepEqual(dogs.expire("k1", 100), { ok: true });
    assert.deepEqual(dogs.getKeys(), ["k1", "k2", "k3"]);
    assert.ok(dogs.ttl("k1").ok);
    const sharded = testZone(16 * 1024 * 1024).dict;
    for (const key of ["a", "b", "c"]) sharded.set(key, 1);
    sharded.ttl("a");
    sharded.expire("b", 10);
    assert.deepEqual(sharded.getKeys(), ["a", "b", "c"]);
  });

  it("getKeys(max) and flushExpired(max) take any safe integer, 2^32 and above included (stop 26)", async () => {
    const dogs = testZone().dict;
    dogs.set("a", 1);
    dogs.set("b", 1, 0.01);
    assert.deepEqual(dogs.getKeys(2 ** 32), ["a", "b"]);
    assert.deepEqual(dogs.getKeys(Number.MAX_SAFE_INTEGER), ["a", "b"]);
    await sleep(30);
    assert.equal(dogs.flushExpired(2 ** 32), 1);
    assert.equal(dogs.flushExpired(Number.MAX_SAFE_INTEGER), 0);
    assert.throws(() => dogs.getKeys(2 ** 53), {
      code: "ERR_TSRESTY_INVALID_ARG_VALUE",
      message: /"max" must be a safe integer >= 0 \(0 = all\)/,
    });
    assert.throws(() => dogs.flushExpired(-1), { code: "ERR_TSRESTY_INVALID_ARG_VALUE" });
  });

  it("T-SHD-10: flushExpired frees the expired items, at most max of them, and says how many", async () => {
    const dogs = testZone().dict;
    dogs.set("a", 1);
    dogs.set("b", 1, 0.01);
    dogs.set("c", 1);
    await sleep(30);
    assert.equal(dogs.flushExpired(), 1);
    for (let i = 0; i < 100; i++) dogs.set(`e${i}`, i, 0.01);
    await sleep(30);
    assert.equal(dogs.flushExpired(42), 42);
    assert.equal(dogs.flushExpired(), 58);
    assert.equal(dogs.flushExpired(), 0);
  });

  it("T-SHD-11: flushAll empties the dictionary for readers and frees three items; flushExpired frees the rest", () => {
    const zone = testZone();
    const dogs = zone.dict;
    for (let i = 0; i < 10; i++) dogs.set(`k${i}`, i);
    dogs.flushAll();
    assert.deepEqual(dogs.getKeys(0), []);
    assert.equal(dogs.flushExpired(), 7);
    for (let i = 0; i < 10; i++) dogs.set(`k${i}`, i);
    dogs.flushAll();
    for (let i = 0; i < 10; i++) assert.equal(dogs.get(`k${i}`), undefined);
    // Each get also frees up to two expired items at the LRU tail, as nginx's does.
    assert.ok(dogs.flushExpired() >= 0);
    assert.equal(zoneStats(zone).items, 0);
  });
});
