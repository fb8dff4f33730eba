import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { after, describe, it } from "node:test";
import { closeZone, createZone, zoneHealth } from "../../src/shdict/index.ts";
import { verifyEntries, verifyLists } from "../fixtures/shdict/entries.ts";
import { startWithZone, within, type ZoneChild } from "./processes.ts";

interface Report {
  readonly recoveries: number;
  readonly resets: number;
  readonly problems: readonly string[];
  readonly roundTrip: boolean;
}

describe("a writer killed at a random moment", () => {
  const zone = createZone({ name: "crash", size: 256 * 1024 });
  after(() => closeZone(zone));

  it(
    "100 rounds of SIGKILL leave the zone usable and consistent: no deadlock, no corrupted entry",
    { timeout: 600_000 },
    async () => {
      const ROUNDS = 100;
      const pool: ZoneChild[] = [];
      const boot = (): void => {
        pool.push(startWithZone("writer.mjs", zone, [], 300_000));
      };
      boot();
      boot();
      let checked = 0;
      for (let round = 0; round < ROUNDS; round++) {
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
      assert.ok(checked > ROUNDS, "the writers left entries to check");
      assert.deepEqual(verifyEntries(zone.dict).bad, []);
      assert.deepEqual(verifyLists(zone.dict), []);
      console.log(
        `# ${ROUNDS} kills, ${health.recoveries} inside the lock (recovered), ${checked} entries checked`,
      );
    },
  );
});
