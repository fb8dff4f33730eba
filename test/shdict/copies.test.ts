import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { attachNative } from "../../src/shdict/native.ts";
import { Lock } from "../../src/shdict/lock.ts";
import { testZone } from "./zones.ts";

describe("two copies of the facade in one process", () => {
  it("a second copy loading the same addon leaves the first's results right (incr's value, flags, ttl, lengths)", async () => {
    const dict = testZone(64 * 1024, "first").dict;
    // Another copy of src/shdict (a bundle that inlined it, the same file under another URL)
    // shares the addon, which require() caches by file: loading it, that copy's setScratch
    // took the first copy's secondary results away (incr gave 0, flags 0).
    const url = new URL("../../src/shdict/native.ts?copy=2", import.meta.url).href;
    const copy = (await import(url)) as typeof import("../../src/shdict/native.ts");
    copy.binding();
    assert.deepEqual(dict.incr("n", 5, 10), { ok: true, value: 15, forcible: false });
    dict.set("f", "x", 0, 7);
    assert.deepEqual(dict.getWithFlags("f"), { value: "x", flags: 7 });
    dict.set("t", 1, 50);
    // The ttl a millisecond later may read 49.999 (CI saw it): the bug gave 0.
    const ttl = dict.ttl("t");
    assert.ok(ttl.ok && ttl.ttl > 49 && ttl.ttl <= 50, JSON.stringify(ttl));
    assert.deepEqual(dict.rpush("l", "a"), { ok: true, length: 1 });
    assert.deepEqual(dict.rpush("l", "b"), { ok: true, length: 2 });
    assert.equal(dict.freeSpace() > 0, true);
  });

  it("a Lock works on a dictionary another copy made: it locks, extends and releases the key", async () => {
    // The runtime's copy installs the zones; an app bundle that inlined tsresty has its own
    // ngx.lock. The Lock's unlock and expire reached into its own copy's SharedDict and refused
    // the other's ("this" must be a shared dictionary), so the lock was never released.
    const zone = testZone(64 * 1024, "locks");
    const url = new URL("../../src/shdict/dict.ts?copy=2", import.meta.url).href;
    const copy = (await import(url)) as typeof import("../../src/shdict/dict.ts");
    const other = new copy.SharedDict(zone.name, zone.size, attachNative(zone.fd, zone.name, zone.size));
    const lock = new Lock(other, { exptime: 30 });
    assert.equal((await lock.lock("k")).ok, true);
    assert.deepEqual(lock.expire(10), { ok: true });
    const ttl = zone.dict.ttl("k");
    assert.ok(ttl.ok && ttl.ttl > 9 && ttl.ttl <= 10, JSON.stringify(ttl));
    assert.deepEqual(lock.unlock(), { ok: true });
    assert.equal(zone.dict.get("k"), undefined, "released");
  });
});
