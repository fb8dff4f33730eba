import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { zoneHealth, type Zone } from "../../src/shdict/index.ts";
import { binding } from "../../src/shdict/native.ts";
import { entryProblem } from "../fixtures/shdict/entries.ts";
import { startWithZone, within } from "./processes.ts";
import { countsSince, earlyInASecond, sleep, testZone, type OpCounts } from "./zones.ts";

/** This process's gets since `since` (native readCounts). */
function readsSince(since: readonly number[]): OpCounts {
  return countsSince(binding().readCounts(), since);
}

/** Gets every key once, adding what is wrong with a value to `bad`; returns the values found. */
function readAndCheck(zone: Zone, keys: readonly string[], bad: string[]): number {
  let found = 0;
  for (const key of keys) {
    const value = zone.dict.get(key);
    if (value === undefined) continue;
    found++;
    const problem = entryProblem(key, value);
    if (problem !== null) bad.push(problem);
  }
  return found;
}

describe("gets without the lock", () => {
  it("a read moves an item to the LRU head once a second: the first read at once, a second read in the same second leaves it", async () => {
    const dogs = testZone().dict;
    await earlyInASecond();
    for (const key of ["a", "b", "c"]) dogs.set(key, key);
    dogs.get("a");
    assert.deepEqual(dogs.getKeys(0), ["b", "c", "a"], "the first read moves the item");
    dogs.set("d", "d");
    dogs.get("a");
    assert.deepEqual(dogs.getKeys(0), ["b", "c", "a", "d"], "a second read in the same second does not");
    dogs.set("a", "a2");
    dogs.set("e", "e");
    dogs.get("a");
    assert.deepEqual(dogs.getKeys(0), ["b", "c", "d", "e", "a"], "a stored value is read as new");
    await sleep(1000);
    dogs.get("d");
    dogs.get("a");
    assert.deepEqual(dogs.getKeys(0), ["b", "c", "e", "d", "a"], "in a later second a read moves it again");
  });

  it("a read 255 s after the item's last move moves it again (its second was kept mod 255, and such a read moved nothing)", async () => {
    const dogs = testZone().dict;
    await earlyInASecond();
    for (const key of ["a", "b"]) dogs.set(key, key);
    dogs.get("a");
    dogs.set("c", "c");
    assert.deepEqual(dogs.getKeys(0), ["b", "a", "c"]);
    for (const later of [255, 510, 100_000]) {
      binding().readClockSkew(later);
      try {
        dogs.get("a");
        assert.deepEqual(dogs.getKeys(0).at(-1), "a", `a read ${later} s later moves the item`);
        dogs.set("c", `c${later}`);
      } finally {
        binding().readClockSkew(0);
      }
    }
  });

  it("incr and a set of a number in place move the item as a read does: the first use at once, another in the same second leaves it", async () => {
    const dogs = testZone().dict;
    await earlyInASecond();
    for (const key of ["a", "b", "c"]) dogs.set(key, 1);
    dogs.set("a", 2);
    assert.deepEqual(dogs.getKeys(0), ["b", "c", "a"], "the first set since the store moves the item");
    dogs.set("d", 1);
    dogs.set("a", 3);
    dogs.incr("a", 1);
    assert.deepEqual(dogs.getKeys(0), ["b", "c", "a", "d"], "a set and an incr in the same second do not");
    assert.equal(dogs.get("a"), 4);
    dogs.incr("b", 1);
    assert.deepEqual(dogs.getKeys(0), ["c", "a", "d", "b"], "the first incr since the store moves the item");
    await sleep(1000);
    dogs.set("a", 5);
    assert.deepEqual(dogs.getKeys(0), ["c", "d", "b", "a"], "a set in a later second moves it again");
  });

  it("a set that changes more than a number or boolean is not made in place: flags, expiry and type are those of the new value", () => {
    const dogs = testZone().dict;
    dogs.set("n", 1);
    dogs.set("n", 2, 0, 7);
    assert.deepEqual(dogs.getWithFlags("n"), { value: 2, flags: 7 });
    dogs.set("n", 3);
    assert.deepEqual(dogs.getWithFlags("n"), { value: 3, flags: 0 });
    dogs.set("n", 4, 60);
    const left = dogs.ttl("n");
    assert.ok(left.ok && left.ttl > 59 && left.ttl <= 60, `ttl ${JSON.stringify(left)}`);
    dogs.set("n", 5);
    assert.deepEqual(
      dogs.ttl("n"),
      { ok: true, ttl: 0 },
      "a set without exptime stores a value that never expires",
    );
    dogs.set("n", true);
    assert.equal(dogs.get("n"), true);
    dogs.set("n", false);
    assert.equal(dogs.get("n"), false);
    dogs.set("n", 0);
    assert.equal(dogs.get("n"), 0);
    dogs.set("n", "6");
    assert.equal(dogs.get("n"), "6");
    assert.deepEqual(dogs.add("n", 7), { ok: false, reason: "exists", forcible: false });
    assert.deepEqual(dogs.replace("n", 8), { ok: true, forcible: false });
    dogs.set("n", 9);
    assert.equal(dogs.get("n"), 9);
  });

  it("a read that moves nothing takes no lock; an expired item, getStale and a read that moves the item take it", async () => {
    const dogs = testZone(4 * 1024 * 1024).dict; // a zone of 4 shards
    const keys = Array.from({ length: 100 }, (_, i) => `k${i}`);
    await earlyInASecond();
    for (const key of keys) dogs.set(key, key.repeat(3));
    let since = binding().readCounts();
    for (const key of keys) assert.equal(dogs.get(key), key.repeat(3));
    assert.deepEqual(
      readsSince(since),
      { unlocked: 0, retried: 0, locked: 100 },
      "first reads move the items",
    );
    since = binding().readCounts();
    for (const key of keys) assert.equal(dogs.get(key), key.repeat(3));
    assert.equal(dogs.get("missing"), undefined);
    assert.deepEqual(readsSince(since), { unlocked: 101, retried: 0, locked: 0 });

    dogs.set("short", 1, 0.001);
    dogs.lpush("list", "x");
    await sleep(5);
    since = binding().readCounts();
    assert.equal(dogs.get("short"), undefined);
    assert.deepEqual(dogs.getStale("k1"), { value: "k1k1k1", flags: 0, stale: false });
    for (let i = 0; i < 2; i++)
      assert.deepEqual(dogs.getWithFlags("list"), { value: undefined, flags: 0, reason: "value is a list" });
    assert.deepEqual(
      readsSince(since),
      { unlocked: 1, retried: 0, locked: 3 },
      "the expired item, getStale and the list's first read take the lock; its second read does not",
    );
  });

  it("a get after a writer died holding the lock waits for no one: it takes the lock, which recovers the shard", async () => {
    const zone = testZone();
    zone.dict.set("k", "old value");
    zone.dict.get("k");
    const writer = startWithZone("actor", zone, [
      JSON.stringify([
        ["crashAt", 3], // the new value linked in place of the old, the old not freed yet
        ["set", "k", "new value"],
      ]),
    ]);
    const end = await within(writer.done, 20_000, "the writer");
    assert.equal(end.signal, "SIGKILL", end.stderr);
    const since = binding().readCounts();
    assert.equal(zone.dict.get("k"), "new value");
    const counts = readsSince(since);
    assert.equal(counts.locked, 1);
    assert.ok(counts.retried >= 1, "the dead writer left the sequence number odd");
    assert.deepEqual(zoneHealth(zone), { recoveries: 1, resets: 0, problems: [] });
  });

  it(
    "reads of values rewritten by another process, their blocks reused at once, are never torn",
    { timeout: 60_000 },
    async () => {
      const zone = testZone(64 * 1024);
      const writer = startWithZone(
        "actor",
        zone,
        [JSON.stringify([["waitLine"], ["churn", 4, 1500]])],
        30_000,
      );
      await sleep(300); // the actor boots (tsx) and waits for the line
      writer.child.stdin?.write("go\n");
      const keys = ["s:0", "s:1", "s:2", "s:3"];
      // Each value is new when read (a read would take the lock to move it): here reads never move.
      binding().readBumpSeconds(-1);
      after(() => binding().readBumpSeconds(1));
      const since = binding().readCounts();
      const bad: string[] = [];
      let found = 0;
      const done = within(writer.done, 30_000, "the writer");
      while (writer.child.exitCode === null && writer.child.signalCode === null) {
        found += readAndCheck(zone, keys, bad);
        await new Promise(setImmediate);
      }
      const end = await done;
      assert.equal(end.code, 0, end.stderr);
      const counts = readsSince(since);
      assert.deepEqual(bad.slice(0, 3), [], `${bad.length} torn of ${found}`);
      assert.ok(found > 1000, `${found} values read`);
      assert.ok(counts.unlocked > 1000, `${counts.unlocked} gets answered without the lock`);
      assert.deepEqual(zoneHealth(zone).problems, []);
    },
  );

  it(
    "reads while another process writes, evicts and frees never return a torn value, and retry when a writer came in",
    { timeout: 60_000 },
    async () => {
      const zone = testZone(256 * 1024); // small: the writer evicts, so blocks are reused under the reader
      const writer = startWithZone("writer.mjs", zone, [], 30_000);
      await within(
        writer.line((l) => l === "booted"),
        20_000,
        "the writer booting",
      );
      writer.child.stdin?.write("go\n");
      await within(
        writer.line((l) => typeof l === "object" && l !== null),
        20_000,
        "the writer's first report",
      );
      const keys = Array.from({ length: 400 }, (_, i) => [`s:${i}`, `b:${i}`, `c:${i % 50}`]).flat();
      const since = binding().readCounts();
      const bad: string[] = [];
      let found = 0;
      const end = Date.now() + 1500;
      while (Date.now() < end) found += readAndCheck(zone, keys, bad);
      const counts = readsSince(since);
      writer.child.kill("SIGKILL");
      await within(writer.done, 10_000, "the writer's end");
      assert.deepEqual(bad.slice(0, 5), []);
      assert.ok(found > 10_000, `${found} values read`);
      assert.ok(counts.unlocked > 10_000, `${counts.unlocked} gets answered without the lock`);
      assert.ok(counts.retried > 0, `${counts.retried} reads retried because the writer came in`);
      assert.deepEqual(zoneHealth(zone).problems, []);
    },
  );
});
