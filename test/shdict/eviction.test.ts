import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { zoneHealth, zoneStats } from "../../src/shdict/index.ts";
import { binaryValue, stringValue, verifyEntries } from "../fixtures/shdict/entries.ts";
import { testZone } from "./zones.ts";

describe("a zone filled past its capacity", () => {
  it("evicts least recently used items, keeps the recent and the touched ones, and never corrupts", () => {
    const zone = testZone(256 * 1024);
    const dogs = zone.dict;
    let forcible = 0;
    const kept = "s:kept";
    dogs.set(kept, stringValue(kept, 100));
    for (let i = 0; i < 20_000; i++) {
      if (i % 50 === 0)
        assert.equal(dogs.get(kept), stringValue(kept, 100), `the touched key survives (i = ${i})`);
      const size = Math.floor(Math.random() * 3000);
      const result =
        i % 3 === 0
          ? dogs.set(`b:${i}`, binaryValue(i, size))
          : dogs.set(`s:${i}`, stringValue(`s:${i}`, size));
      assert.equal(result.ok, true);
      if (result.forcible) forcible++;
    }
    assert.ok(forcible > 1000, `${forcible} sets evicted`);
    assert.deepEqual(zoneHealth(zone).problems, []);
    const { bad, checked } = verifyEntries(dogs);
    assert.deepEqual(bad, []);
    assert.equal(checked, zoneStats(zone).items);
    const keys = dogs.getKeys(0);
    assert.ok(keys.includes("s:19999") && keys.includes("s:19997"), "the latest items are there");
    assert.ok(!keys.includes("s:1"), "the oldest are evicted");
    assert.ok(keys.includes(kept));
    const order = keys.filter((k) => k !== kept).map((k) => Number(k.slice(2)));
    assert.deepEqual(
      order,
      [...order].sort((a, b) => a - b),
      "LRU order is insertion order for untouched keys",
    );
  });
});
