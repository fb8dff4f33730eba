import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { zoneHealth, zoneStats, type Zone } from "../../src/shdict/index.ts";
import { binding } from "../../src/shdict/native.ts";
import { binaryValue, stringValue, verifyEntries } from "../fixtures/shdict/entries.ts";
import { testZone } from "./zones.ts";

/** Sets `count` entries of random sizes, reading one key now and then, and checks the zone. */
function fill(zone: Zone, count: number): void {
  const dogs = zone.dict;
  let forcible = 0;
  const kept = "s:kept";
  dogs.set(kept, stringValue(kept, 100));
  for (let i = 0; i < count; i++) {
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
  assert.ok(forcible > count / 10, `${forcible} of ${count} sets evicted`);
  assert.deepEqual(zoneHealth(zone).problems, []);
  const { bad, checked } = verifyEntries(dogs);
  assert.deepEqual(bad, []);
  assert.equal(checked, zoneStats(zone).items);
  const keys = dogs.getKeys(0);
  const latest = [count - 1, count - 2, count - 3].filter((i) => i % 3 !== 0).map((i) => `s:${i}`);
  assert.ok(
    latest.every((key) => keys.includes(key)),
    "the latest items are there",
  );
  assert.ok(!keys.includes("s:1"), "the oldest are evicted");
  assert.ok(keys.includes(kept));
  const order = keys.filter((k) => k !== kept).map((k) => Number(k.slice(2)));
  assert.deepEqual(
    order,
    [...order].sort((a, b) => a - b),
    "LRU order is insertion order for untouched keys",
  );
}

describe("a zone filled past its capacity", () => {
  // These fills take milliseconds and read the kept key every 50 sets: every read must move it,
  // as nginx does. By default a read moves an item at most once a second (reads.test.ts).
  before(() => binding().readBumpSeconds(0));
  after(() => binding().readBumpSeconds(1));

  it("evicts least recently used items, keeps the recent and the touched ones, and never corrupts", () => {
    fill(testZone(256 * 1024), 20_000);
  });

  it("evicts per shard in a zone split into shards, and never corrupts", () => {
    fill(testZone(4 * 1024 * 1024), 60_000);
  });
});
