import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { zoneHealth, zoneStats, type Zone } from "../../src/shdict/index.ts";
import { binding } from "../../src/shdict/native.ts";
import { binaryValue, stringValue, verifyEntries } from "../fixtures/shdict/entries.ts";
import { seededRandom } from "../helpers/random.ts";
import { testZone } from "./zones.ts";

/**
 * Sets `count` entries of random sizes (from `seed`, so that a failure replays), reading one key
 * now and then, and checks the zone.
 */
function fill(zone: Zone, count: number, seed: number): void {
  const random = seededRandom(seed);
  const dogs = zone.dict;
  let forcible = 0;
  const kept = "s:kept";
  dogs.set(kept, stringValue(kept, 100));
  for (let i = 0; i < count; i++) {
    if (i % 50 === 0)
      assert.equal(dogs.get(kept), stringValue(kept, 100), `the touched key survives (i = ${i})`);
    const size = Math.floor(random() * 3000);
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
    fill(testZone(256 * 1024), 20_000, 1);
  });

  it("evicts per shard in a zone split into shards, and never corrupts", () => {
    fill(testZone(4 * 1024 * 1024), 60_000, 2);
  });
});

// Numbers and booleans, which any process may write without the lock, are placed on whole pairs
// of cache lines of their own (native/src/alloc.c, blk_alloc_paired): the free part split off
// before such a block must stay usable, merge back, and survive a zone filled past its capacity.
describe("items of numbers on cache lines of their own", () => {
  it("take whole 128-byte pairs (a string of the same key does not), and give them all back", () => {
    const dogs = testZone(16 * 1024).dict;
    const empty = dogs.freeSpace();
    dogs.set("k", 1);
    assert.equal(empty - dogs.freeSpace(), 128, "72 bytes of header and a 1-byte key: one pair");
    dogs.set("s", "v");
    assert.equal(empty - dogs.freeSpace(), 128 + 80, "the string's item is 74 bytes, in 16-byte steps");
    dogs.set("b", true);
    dogs.set("x".repeat(60), 2);
    assert.equal(empty - dogs.freeSpace(), 128 + 80 + 128 + 256, "132 bytes: two pairs");
    assert.deepEqual(
      [dogs.get("k"), dogs.get("s"), dogs.get("b"), dogs.get("x".repeat(60))],
      [1, "v", true, 2],
    );
    for (const key of ["s", "k", "x".repeat(60), "b"]) dogs.delete(key);
    assert.equal(dogs.freeSpace(), empty);
  });

  // The deletes and incrs between make the LRU order unlike the memory order, so that evicting
  // the 30 least recently used items (OpenResty's bound) may free no block large enough: a set
  // may then fail as OpenResty's does, "no memory" after evicting (forcible). That is allowed;
  // any other failure is not. Sizes from a fixed seed, so a failure replays.
  it("mix with strings and binaries past capacity, with deletes between, and never corrupt", () => {
    const zone = testZone(256 * 1024);
    const dogs = zone.dict;
    const empty = dogs.freeSpace();
    const random = seededRandom(33);
    let forcible = 0;
    let refused = 0;
    for (let i = 0; i < 20_000; i++) {
      const size = Math.floor(random() * 400);
      const kind = i % 3;
      const key = `${"nsb"[kind]}:${i}`;
      const result = dogs.set(
        key,
        kind === 0 ? i : kind === 1 ? stringValue(key, size) : binaryValue(i, size),
      );
      if (!result.ok) {
        assert.deepEqual(result, { ok: false, reason: "no memory", forcible: true }, `set ${key}`);
        assert.equal(dogs.get(key), undefined);
        refused++;
      }
      if (result.forcible) forcible++;
      if (i % 5 === 0) dogs.delete(`n:${i - 9}`);
      if (i % 11 === 0) dogs.incr(`n:${i - 3}`, 1, 0);
    }
    assert.ok(forcible > 1000, `${forcible} of 20000 sets evicted`);
    assert.ok(refused < 20, `${refused} sets found no room after evicting`);
    assert.deepEqual(zoneHealth(zone).problems, []);
    let numbers = 0;
    for (const key of dogs.getKeys(0)) {
      if (!key.startsWith("n:")) continue;
      numbers++;
      const i = Number(key.slice(2));
      assert.ok([i, i + 1, 1].includes(dogs.get(key) as number), `${key} holds ${String(dogs.get(key))}`);
      dogs.delete(key);
    }
    assert.ok(numbers > 100, `${numbers} numbers kept`);
    const { bad } = verifyEntries(dogs); // the strings and binaries left
    assert.deepEqual(bad, []);
    dogs.flushAll();
    dogs.flushExpired();
    assert.equal(dogs.freeSpace(), empty);
    assert.deepEqual(zoneHealth(zone).problems, []);
  });
});
