import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { zoneHealth } from "../../src/shdict/index.ts";
import { act, startWithZone, within } from "./processes.ts";
import { testZone } from "./zones.ts";

describe("two processes at once", () => {
  it(
    "two processes incrementing one key 500,000 times each end at exactly 1,000,000",
    { timeout: 300_000 },
    async () => {
      const zone = testZone();
      const script = JSON.stringify([["waitLine"], ["incrMany", "counter", 500_000], ["health"]]);
      const children = [0, 1].map(() => startWithZone("actor", zone, [script], 240_000));
      // Both are started before either counts, so the counting overlaps.
      await new Promise((resolve) => setTimeout(resolve, 100));
      for (const child of children) child.child.stdin?.write("go\n");
      const ends = await within(
        Promise.all(children.map((c) => c.done)),
        240_000,
        "the incrementing children",
      );
      for (const end of ends) assert.equal(end.code, 0, end.stderr);
      assert.equal(zone.dict.get("counter"), 1_000_000);
      assert.deepEqual(zoneHealth(zone), { recoveries: 0, resets: 0, problems: [] });
    },
  );

  it("a write in one process is read in another at once, both ways", async () => {
    const zone = testZone();
    zone.dict.set("from parent", "hello", 0, 3);
    const results = await act(zone, [
      ["getWithFlags", "from parent"],
      ["set", "from child", 42],
    ]);
    assert.deepEqual(results[0], { value: "hello", flags: 3 });
    assert.equal(zone.dict.get("from child"), 42);
  });
});
