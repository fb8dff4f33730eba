import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { zoneHealth } from "../../src/shdict/index.ts";
import { act, isStep, startWithZone, within } from "./processes.ts";
import { drain, testZone } from "./zones.ts";

/** The actor's listLoop: how many it pushed, and what it popped as runs [prefix, first index, length]. */
interface ListLoop {
  readonly pushed: number;
  readonly runs: readonly [string, number, number][];
}

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

  it(
    "two processes pushing onto and popping one list at once: every element comes out once, in each producer's order",
    { timeout: 120_000 },
    async () => {
      const zone = testZone();
      const children = ["a", "b"].map((prefix) =>
        startWithZone(
          "actor",
          zone,
          [JSON.stringify([["waitLine"], ["listLoop", "q", prefix, 100, 1e9, 1500], ["health"]])],
          90_000,
        ),
      );
      await new Promise((resolve) => setTimeout(resolve, 100));
      for (const child of children) child.child.stdin?.write("go\n");
      const ends = await within(Promise.all(children.map((c) => c.done)), 90_000, "the list children");
      for (const end of ends) assert.equal(end.code, 0, end.stderr);
      // Each consumer's pops, then what is left: the list is FIFO (rpush, lpop), so each sequence
      // holds each producer's elements in the order pushed, and together they hold each once.
      const pushed = new Map<string, number>();
      const sequences = children.map((c, i) => {
        const { result } = c.lines.find(isStep("listLoop")) as { result: ListLoop };
        pushed.set(i === 0 ? "a" : "b", result.pushed);
        assert.equal(
          result.runs.reduce((sum, run) => sum + run[2], 0),
          result.pushed - 100,
        );
        // The runs overlapped (each pushes and pops for 1.5 s): each popped some of the other's.
        assert.ok(new Set(result.runs.map((run) => run[0])).size === 2, "each popped both's");
        return result.runs;
      });
      sequences.push(
        drain(zone.dict, "q").map((value): [string, number, number] => {
          const [prefix = "", index = ""] = String(value).split(":");
          return [prefix, Number(index), 1];
        }),
      );
      const seen = new Map<string, number[]>([
        ["a", []],
        ["b", []],
      ]);
      for (const runs of sequences) {
        const next = new Map<string, number>();
        for (const [prefix, first, length] of runs) {
          assert.ok(
            (next.get(prefix) ?? 0) <= first,
            `${prefix}:${first} after ${prefix}:${next.get(prefix)}`,
          );
          next.set(prefix, first + length);
          for (let i = first; i < first + length; i++) seen.get(prefix)?.push(i);
        }
      }
      for (const [prefix, indexes] of seen) {
        assert.deepEqual(
          indexes.sort((x, y) => x - y),
          Array.from({ length: pushed.get(prefix) ?? 0 }, (_, i) => i),
          `${prefix}: each element once`,
        );
      }
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
