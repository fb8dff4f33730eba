import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, it } from "node:test";
import { closeZone, createZone, zoneHealth, type Zone } from "../../src/shdict/index.ts";
import { verifyEntries, verifyLists } from "../fixtures/shdict/entries.ts";
import { isStep, startWithZone, within, type ZoneChild } from "./processes.ts";
import { drain, testZone } from "./zones.ts";

interface Report {
  readonly recoveries: number;
  readonly resets: number;
  readonly problems: readonly string[];
  readonly roundTrip: boolean;
}

/** Kills `rounds` writers at random moments; each next one's first locked call proves the zone sound. */
async function killRounds(zone: Zone, rounds: number): Promise<void> {
  const pool: ZoneChild[] = [];
  const boot = (): void => {
    pool.push(startWithZone("writer.mjs", zone, [], 300_000));
  };
  boot();
  boot();
  let checked = 0;
  for (let round = 0; round < rounds; round++) {
    const writer = pool.shift()!;
    boot();
    await within(
      writer.line((l) => l === "booted"),
      60_000,
      `writer ${round} booting`,
    );
    writer.child.stdin?.write("go\n");
    // The writer takes the lock first: its report proves that the kill before left none behind.
    const report = (await within(
      writer.line((l) => typeof l === "object" && l !== null),
      20_000,
      `writer ${round}'s first locked call`,
    )) as Report;
    assert.deepEqual(report.problems, [], `round ${round}: structure`);
    assert.equal(report.roundTrip, true, `round ${round}: set/get round trip`);
    assert.equal(report.resets, 0, `round ${round}: recovery never had to empty the zone`);
    const entries = verifyEntries(zone.dict);
    assert.deepEqual(entries.bad, [], `round ${round}: entries`);
    checked += entries.checked;
    await sleep(30 + Math.random() * 120);
    writer.child.kill("SIGKILL");
    await writer.done;
  }
  for (const idle of pool) idle.child.kill("SIGKILL");
  const health = zoneHealth(zone);
  assert.deepEqual(health.problems, []);
  assert.ok(health.recoveries > 0, "some kills landed while the lock was held");
  assert.ok(checked > rounds, "the writers left entries to check");
  assert.deepEqual(verifyEntries(zone.dict).bad, []);
  assert.deepEqual(verifyLists(zone.dict), []);
  console.log(
    `# ${rounds} kills, ${health.recoveries} inside the lock (recovered), ${checked} entries checked`,
  );
}

describe("a writer killed at a random moment", () => {
  // 256 KiB: no lanes, every write under the lock, the zone full and evicting; 1 MiB: adds of
  // numbers without the lock (lanes), killed at any instant of one too.
  for (const [size, what] of [
    [256 * 1024, "under the lock, the zone full"],
    [1024 * 1024, "with adds without the lock"],
  ] as const) {
    it(
      `100 rounds of SIGKILL leave the zone usable and consistent: no deadlock, no corrupted entry (${what})`,
      { timeout: 600_000 },
      async (t) => {
        const zone = createZone({ name: "crash", size });
        t.after(() => closeZone(zone));
        await killRounds(zone, 100);
      },
    );
  }
  it(
    "processes killed amid pushes and pops of a list, beside one working on another list of the shard: neither list loses or repeats an element",
    { timeout: 180_000 },
    async () => {
      const zone = testZone(); // one shard: both lists share its lock
      // The first victims die at crash points of a push (8: linked, length and tail not updated),
      // a pop (9: unlinked, not freed), an allocation (1), a free (5) and an LRU move (7), all
      // inside the lock; the others are killed at a random moment.
      const POINTS = [8, 9, 1, 5, 7, 0, 0, 0];
      // Each pushes PREFIX:0, :1, … and pops one per push once 100 are in: the lists stay short
      // and the zone never fills, so nothing is evicted and any element missing is a bug.
      const start = (key: string, prefix: string, ms: number, point = 0): ZoneChild =>
        startWithZone(
          "actor",
          zone,
          [
            JSON.stringify([
              ["sleep", 0],
              ["waitLine"],
              ["crashAt", point],
              ["listLoop", key, prefix, 100, 1e9, ms],
            ]),
          ],
          150_000,
        );
      const survivor = start("q", "s", 5000);
      const victims = POINTS.map((point, round) => start("v", `v${round}`, 0, point));
      await within(
        Promise.all([survivor, ...victims].map((child) => child.line(isStep("sleep")))),
        120_000,
        "the processes booting",
      );
      survivor.child.stdin?.write("go\n");
      for (const [round, victim] of victims.entries()) {
        victim.child.stdin?.write("go\n");
        await within(victim.line(isStep("waitLine")), 10_000, `victim ${round} starting`);
        await sleep(30 + Math.random() * 120);
        victim.child.kill("SIGKILL");
        assert.equal((await victim.done).signal, "SIGKILL", `victim ${round} died by SIGKILL`);
      }
      assert.equal(survivor.lines.find(isStep("listLoop")), undefined, "the survivor was still at work");
      const end = await within(survivor.done, 30_000, "the survivor");
      assert.equal(end.code, 0, end.stderr);
      const { result } = survivor.lines.find(isStep("listLoop")) as {
        result: { pushed: number; runs: [string, number, number][] };
      };
      // The one consumer of "q" popped s:0, s:1, … in order; the last 100 are left.
      assert.deepEqual(result.runs, [["s", 0, result.pushed - 100]]);
      assert.deepEqual(
        drain(zone.dict, "q"),
        Array.from({ length: 100 }, (_, i) => `s:${result.pushed - 100 + i}`),
      );
      // "v" is what the victims pushed, in order, less what they popped from its head: the tail
      // of one victim's elements, then every later victim's from its :0 on, none missing.
      const groups: { prefix: string; indexes: number[] }[] = [];
      for (const element of drain(zone.dict, "v")) {
        const [prefix = "", index = ""] = String(element).split(":");
        if (groups.at(-1)?.prefix !== prefix) groups.push({ prefix, indexes: [] });
        groups.at(-1)?.indexes.push(Number(index));
      }
      assert.ok(groups.length > 0);
      for (const [g, { prefix, indexes }] of groups.entries()) {
        const first = g === 0 ? (indexes[0] ?? 0) : 0;
        assert.deepEqual(
          indexes,
          Array.from({ length: indexes.length }, (_, i) => first + i),
          `${prefix}: contiguous`,
        );
        if (g > 0) assert.ok(Number(prefix.slice(1)) > Number(groups[g - 1]?.prefix.slice(1)), "in order");
      }
      const health = zoneHealth(zone);
      assert.deepEqual(health.problems, []);
      assert.equal(health.resets, 0);
      assert.ok(health.recoveries >= 5, "the processes that died at crash points held the lock");
      console.log(
        `# ${result.pushed} pushes beside ${POINTS.length} kills, ${health.recoveries} inside the lock (recovered)`,
      );
    },
  );
});
