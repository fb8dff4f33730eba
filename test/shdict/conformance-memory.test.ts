import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { zoneHealth } from "../../src/shdict/index.ts";
import { testZone } from "./zones.ts";

const VALUE = "x".repeat(60);

describe("eviction and no memory (T-SHD-12, T-SHD-13)", () => {
  it("T-SHD-12: a full zone evicts the least recently used item (forcible), and a read protects an item", () => {
    for (const readFirst of [false, true]) {
      const zone = testZone(100 * 1024);
      const dogs = zone.dict;
      let i = 1;
      for (; i < 100_000; i++) {
        if (readFirst && i === 10) assert.equal(dogs.get("key_1"), VALUE);
        const result = dogs.set(`key_${i}`, VALUE);
        assert.equal(result.ok, true);
        if (result.forcible) break;
      }
      assert.ok(i > 100 && i < 100_000, `forcible after ${i} items`);
      if (readFirst) {
        assert.equal(dogs.get("key_1"), VALUE);
        assert.equal(dogs.get("key_2"), undefined);
      } else {
        assert.equal(dogs.get("key_1"), undefined);
        assert.equal(dogs.get("key_2"), VALUE);
      }
      assert.deepEqual(zoneHealth(zone).problems, []);
    }
  });

  it("forcible is OpenResty's flag: true when a store freed the LRU tail for room, even when every item freed had expired (stop 26)", async () => {
    const zone = testZone(16 * 1024);
    const dogs = zone.dict;
    let n = 0;
    while (dogs.safeSet(`e${n}`, "v".repeat(400), 0.01).ok) n++;
    assert.ok(n > 10, `${n} items fill the zone`);
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.deepEqual(dogs.set("big", "x".repeat(6000)), { ok: true, forcible: true });
    assert.deepEqual(dogs.getKeys(0), ["big"]);
    assert.deepEqual(zoneHealth(zone).problems, []);
  });

  it("T-SHD-13: safeSet and safeAdd never evict; a value larger than the zone is no memory, forcible if it evicted", () => {
    const dogs = testZone(64 * 1024).dict;
    assert.deepEqual(dogs.set("huge", "x".repeat(100 * 1024)), {
      ok: false,
      reason: "no memory",
      forcible: false,
    });
    let i = 0;
    while (dogs.safeSet(`k${i}`, VALUE).ok) i++;
    assert.deepEqual(dogs.safeSet(`k${i}`, VALUE), { ok: false, reason: "no memory", forcible: false });
    assert.deepEqual(dogs.safeAdd(`k${i}`, VALUE), { ok: false, reason: "no memory", forcible: false });
    assert.equal(dogs.get("k0"), VALUE);
    assert.equal(dogs.get(`k${i - 1}`), VALUE);
    assert.deepEqual(dogs.set("huge", "x".repeat(100 * 1024)), {
      ok: false,
      reason: "no memory",
      forcible: true,
    });
    assert.equal(dogs.get("k1"), undefined, "the least recently used item was evicted");
  });
});
