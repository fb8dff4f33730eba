import assert from "node:assert/strict";
import { readSync } from "node:fs";
import { describe, it } from "node:test";
import { zoneHealth, type Zone } from "../../src/shdict/index.ts";
import { binding } from "../../src/shdict/native.ts";
import { verifyEntries } from "../fixtures/shdict/entries.ts";
import { resultsOf, startTogether, startWithZone, stoppedWithin, within } from "./processes.ts";
import { countsSince, earlyInASecond, testZone, type OpCounts } from "./zones.ts";

/** Writes without the lock use x86-64's cmpxchg16b; elsewhere every write takes the lock. */
const SKIP =
  process.arch === "x64" ? false : "writes without the lock are made on x86-64 only (native/README.md)";

/** Counts of the native writeCounts() (an actor's, all of its life) as an object. */
function counts(raw: readonly number[]): OpCounts {
  return countsSince(raw, []);
}

/** This process's incr and sets of numbers since `since`. */
function writesSince(since: readonly number[]): OpCounts {
  return countsSince(binding().writeCounts(), since);
}

describe("writes of numbers without the lock", () => {
  it(
    "an incr or a set of a number that moves nothing takes no lock; a missing key, the first use after a store, an expiry, other flags or another type take it",
    { skip: SKIP },
    async () => {
      const zone = testZone(4 * 1024 * 1024); // a zone of 4 shards
      const dogs = zone.dict;
      await earlyInASecond();
      dogs.set("n", 1); // a new item: under the lock
      let since = binding().writeCounts();
      dogs.incr("n", 1);
      assert.deepEqual(
        writesSince(since),
        { unlocked: 0, retried: 0, locked: 1 },
        "the first use moves the item",
      );
      since = binding().writeCounts();
      for (let i = 0; i < 100; i++) dogs.incr("n", 1);
      dogs.set("n", 1000);
      dogs.set("n", 1000.5);
      dogs.replace("n", 7);
      dogs.safeSet("n", 8);
      assert.deepEqual(writesSince(since), { unlocked: 104, retried: 0, locked: 0 });
      assert.equal(dogs.get("n"), 8);
      assert.deepEqual(dogs.incr("n", 0.5), { ok: true, value: 8.5, forcible: false });

      since = binding().writeCounts();
      dogs.set("n", 9, 0, 3); // other flags: a new item
      dogs.incr("n", 1); // its first use
      dogs.set("t", 1, 60);
      dogs.incr("t", 1); // first use of a new item
      dogs.incr("t", 1); // an item that expires: the locked path checks the clock
      assert.deepEqual(dogs.incr("missing", 1), { ok: false, reason: "not found", forcible: false });
      dogs.set("s", "text");
      assert.deepEqual(dogs.incr("s", 1), { ok: false, reason: "not a number", forcible: false });
      dogs.set("b", true);
      dogs.set("b", false); // first use
      dogs.set("b", true); // in place, no lock
      assert.equal(dogs.get("b"), true, "a boolean set without the lock reads back as a boolean");
      dogs.set("b", 1); // another type: a new item
      assert.deepEqual(writesSince(since), { unlocked: 1, retried: 0, locked: 9 });
      assert.deepEqual(dogs.getWithFlags("n"), { value: 10, flags: 3 });
      assert.equal(dogs.get("t"), 3);
      assert.equal(dogs.get("b"), 1);
      assert.deepEqual(zoneHealth(zone).problems, []);
    },
  );

  it("after expire(), flushAll() or a delete an incr sees what the lock holder did", () => {
    const dogs = testZone().dict;
    dogs.set("n", 1);
    dogs.incr("n", 1);
    dogs.incr("n", 1); // the item is now written without the lock
    dogs.expire("n", 0.001);
    const until = Date.now() + 5;
    while (Date.now() < until); // the item expires
    assert.deepEqual(dogs.incr("n", 1, 100), { ok: true, value: 101, forcible: false }, "expired: from init");
    dogs.expire("n", 0);
    dogs.incr("n", 1);
    assert.deepEqual(dogs.incr("n", 1), { ok: true, value: 103, forcible: false }, "no expiry again");
    dogs.flushAll();
    assert.deepEqual(dogs.incr("n", 1), { ok: false, reason: "not found", forcible: false });
    dogs.set("n", 5);
    dogs.incr("n", 1);
    dogs.delete("n");
    assert.deepEqual(dogs.incr("n", 1), { ok: false, reason: "not found", forcible: false });
  });

  it(
    "two processes incrementing one key while a third gives it an expiry and takes it away end at the exact sum",
    { timeout: 120_000, skip: SKIP },
    async () => {
      const zone = testZone();
      zone.dict.set("c:0", 0);
      const children = await startTogether(zone, [
        [["incrLoop", 1, 1500], ["writeCounts"]],
        [["incrLoop", 1, 1500], ["writeCounts"]],
        [["expireLoop", "c:0", 1500]],
      ]);
      const [a, b, toggler] = await resultsOf(children);
      const incrs = (a?.[1] as number) + (b?.[1] as number);
      assert.ok(incrs > 10_000, `${incrs} increments`);
      assert.ok((toggler?.[1] as number) > 100, `${String(toggler?.[1])} rounds of expire`);
      assert.equal(zone.dict.get("c:0"), incrs);
      assert.deepEqual(zone.dict.ttl("c:0"), { ok: true, ttl: 0 });
      const written = [a?.[2], b?.[2]].map((raw) => counts(raw as number[]));
      for (const w of written) {
        assert.ok(w.unlocked > 1000, `${JSON.stringify(w)}: increments made without the lock`);
        assert.ok(w.locked > 0, `${JSON.stringify(w)}: the expiry sent some to the lock`);
      }
      assert.deepEqual(zoneHealth(zone), { recoveries: 0, resets: 0, problems: [] });
    },
  );

  it(
    "a write stopped after finding its item changes nothing once that item is deleted and its memory holds another key's number",
    { skip: SKIP },
    async () => {
      const zone = testZone();
      zone.dict.set("c:0", 1);
      const writer = startWithZone("actor", zone, [
        JSON.stringify([["readBumpSeconds", -1], ["crashAt", -12], ["incr", "c:0", 1], ["writeCounts"]]),
      ]);
      await stoppedWithin(writer, 20_000, "the writer stops between finding c:0 and changing it");
      // The same length of key and the same value: the new item takes the freed block, and its
      // value is the one the stopped writer compares; only the tag tells the two items apart.
      zone.dict.delete("c:0");
      zone.dict.set("c:1", 1);
      writer.child.kill("SIGCONT");
      const end = await within(writer.done, 10_000, "the continued writer");
      assert.equal(end.code, 0, end.stderr);
      const [, , incr, written] = writer.lines.map((line) => (line as { result: unknown }).result);
      assert.deepEqual(incr, { ok: false, reason: "not found", forcible: false });
      assert.deepEqual(counts(written as number[]), { unlocked: 0, retried: 1, locked: 1 });
      assert.equal(zone.dict.get("c:1"), 1);
      assert.deepEqual(zoneHealth(zone), { recoveries: 0, resets: 0, problems: [] });
    },
  );

  it(
    "a write without the lock never lands in memory that another process freed and reused",
    { timeout: 120_000, skip: SKIP },
    async () => {
      // Small: the strings reuse the blocks of the counters deleted a moment before, while the
      // other process still increments what it found there.
      const zone = testZone(64 * 1024);
      const children = await startTogether(zone, [
        [["incrLoop", 16, 2000], ["writeCounts"]],
        [["deleteAndChurn", 16, 2000]],
      ]);
      const [incrs, churn] = await resultsOf(children);
      const written = counts(incrs?.[2] as number[]);
      assert.ok(written.unlocked > 1000, `${JSON.stringify(written)}: increments made without the lock`);
      assert.ok((churn?.[1] as number) > 100, `${String(churn?.[1])} rounds of deletes`);
      const { checked, bad } = verifyEntries(zone.dict);
      assert.ok(checked > 0);
      assert.deepEqual(bad.slice(0, 5), [], `${bad.length} bad entries of ${checked}`);
      assert.deepEqual(zoneHealth(zone), { recoveries: 0, resets: 0, problems: [] });
    },
  );
});

/**
 * The pages (4 KiB) of the zone's memory that hold each prefix's keys, read from the memfd: a key's
 * bytes lie in its item (native/README.md). A fresh zone holds no copy of a key elsewhere.
 */
function pagesOf(zone: Zone, prefixes: readonly string[]): { pages: Set<number>[]; found: number[] } {
  const memory = Buffer.alloc(zone.size);
  readSync(zone.fd, memory, 0, zone.size, 0);
  const pages = prefixes.map(() => new Set<number>());
  const found = prefixes.map((prefix, i) => {
    let count = 0;
    for (let at = memory.indexOf(prefix); at >= 0; at = memory.indexOf(prefix, at + 1), count++)
      pages[i]!.add(Math.floor(at / 4096));
    return count;
  });
  return { pages, found };
}

describe("where a process's items lie", () => {
  it("two processes making their own keys at the same moments get pages of their own: no page of the zone holds items of both (a process's new numbers come from its reserve, a page at a time)", async () => {
    const keys = 20_000;
    let overlapped = 0;
    // Tried up to three times, each in a new zone: the check means something only when the two
    // loops ran at the same moments, which a loaded machine may not give every time.
    for (let attempt = 0; attempt < 3 && overlapped === 0; attempt++) {
      const zone = testZone(16 * 1024 * 1024, `own${attempt}`);
      const children = await startTogether(zone, [
        [["setLoop", "own-a:", keys]],
        [["setLoop", "own-b:", keys]],
      ]);
      const spans = (await resultsOf(children)).map(
        (results) => results[1] as { first: number; last: number },
      );
      const [a, b] = spans as [{ first: number; last: number }, { first: number; last: number }];
      if (a.first < b.last && b.first < a.last) overlapped++;
      const { pages, found } = pagesOf(zone, ["own-a:", "own-b:"]);
      assert.deepEqual(found, [keys, keys], "every key's item, once");
      const both = [...pages[0]!].filter((page) => pages[1]!.has(page));
      assert.deepEqual(both, [], "pages holding items of both processes");
      // 32 items of 128 bytes a page: the 20,000 keys fill pages of their own
      assert.ok(
        pages[0]!.size >= keys / 32 && pages[1]!.size >= keys / 32,
        `${pages[0]!.size}, ${pages[1]!.size} pages`,
      );
      assert.deepEqual(zoneHealth(zone), { recoveries: 0, resets: 0, problems: [] });
    }
    assert.equal(overlapped, 1, "the two processes' loops ran at the same moments");
  });
});
