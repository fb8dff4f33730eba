import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { startWithZone, within } from "./processes.ts";
import { testZone } from "./zones.ts";

describe("examples/cache-stampede", () => {
  it("four processes missing the same key at once: one computes, the others wait and read its value", async () => {
    const zones = [testZone(1024 * 1024, "cache"), testZone(64 * 1024, "locks")];
    const children = [0, 1, 2, 3].map(() => startWithZone("stampede", zones, [], 60_000));
    await within(
      Promise.all(children.map((c) => c.line((l) => l === "ready"))),
      60_000,
      "the processes starting",
    );
    for (const child of children) child.child.stdin?.write("go\n");
    const results = (await within(
      Promise.all(children.map((c) => c.line((l) => typeof l === "object" && l !== null))),
      30_000,
      "the cached() calls",
    )) as { value: string; refreshed: boolean }[];
    assert.equal(results.filter((r) => r.refreshed).length, 1);
    assert.equal(new Set(results.map((r) => r.value)).size, 1);
    assert.equal(zones[0]?.dict.get("computations"), 1);
    assert.deepEqual(zones[1]?.dict.getKeys(0), [], "the lock is released");
  });
});
