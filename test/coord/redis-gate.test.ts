import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { claimTtl, type CoordinatorLog } from "../../src/coord/index.ts";
import { RedisGate } from "../../src/coord/redis-gate.ts";
import { startRedis } from "../helpers/redis.ts";
import { until } from "../helpers/tree.ts";

function recorder(): { log: CoordinatorLog; lines: string[] } {
  const lines: string[] = [];
  return { log: (level, message) => lines.push(`[${level}] ${message}`), lines };
}

describe("the Redis coordinator (singleton: cluster)", () => {
  it("exactly one of several processes claims each tick; the fencing token grows with every claimed tick", async () => {
    const redis = await startRedis();
    const gates = [0, 1, 2].map(
      (i) => new RedisGate({ url: redis.url, log: recorder().log, owner: `host${i}` }),
    );
    try {
      const base = Math.floor(Date.now() / 1000) * 1000;
      const tokens: number[] = [];
      for (let tick = 0; tick < 20; tick++) {
        const due = base + tick * 1000;
        const wins = await Promise.all(gates.map((gate) => gate.claim("job", due, 1000)));
        assert.equal(wins.filter(Boolean).length, 1, `tick ${tick}: one winner`);
        const winner = gates[wins.indexOf(true)];
        tokens.push(winner?.fence("job", due) ?? -1);
        winner?.settled("job", due, true);
      }
      assert.deepEqual(
        tokens,
        Array.from({ length: 20 }, (_, i) => i + 1),
      );
      assert.equal(await gates[0]?.lastRun("job"), base + 19_000);
      // A tick already claimed is not claimed again, however late the claim comes.
      assert.equal(await gates[1]?.claim("job", base, 1000), false);
    } finally {
      await Promise.all(gates.map((gate) => gate.close()));
    }
  });

  it("claims asked for while the first connection is still being made wait for it instead of failing", async () => {
    const redis = await startRedis();
    const { log, lines } = recorder();
    const gate = new RedisGate({ url: redis.url, log });
    try {
      const base = Math.floor(Date.now() / 1000) * 1000;
      // One claim per turn of the event loop, through every state of the connection (wait,
      // connecting, connect, ready).
      const claims: Promise<boolean>[] = [];
      for (let tick = 0; tick < 100; tick++) {
        claims.push(gate.claim(`early${tick}`, base, 1000));

        await new Promise((resolve) => setImmediate(resolve));
      }
      assert.deepEqual(await Promise.all(claims), Array<boolean>(100).fill(true));
      assert.deepEqual(lines, []);
    } finally {
      await gate.close();
    }
  });

  it("refuses a tick whose due time is further from Redis's clock than half a claim's lifetime, and says so once", async () => {
    const redis = await startRedis();
    const { log, lines } = recorder();
    const gate = new RedisGate({ url: redis.url, log });
    try {
      const skewed = Date.now() - claimTtl(1000); // this host's clock a minute behind
      assert.equal(await gate.claim("job", skewed, 1000), false);
      assert.equal(await gate.claim("job", skewed + 1000, 1000), false);
      assert.equal(lines.filter((l) => l.includes("clock is more than 30 s away")).length, 1);
      assert.equal(await gate.claim("job", Date.now(), 1000), true);
    } finally {
      await gate.close();
    }
  });

  it("Redis stopped: claims fail at once (no queue) and the loss is logged once; Redis back: claims work and that is logged", async () => {
    let redis = await startRedis();
    const { log, lines } = recorder();
    const gate = new RedisGate({ url: redis.url, log });
    try {
      assert.equal(await gate.claim("job", Date.now(), 200), true);
      await redis.stop();
      const started = Date.now();
      for (let i = 0; i < 5; i++) await assert.rejects(gate.claim("job", Date.now() + i, 200));
      assert.ok(Date.now() - started < 2_000, "failed claims do not wait");
      assert.ok(await until(() => lines.some((l) => l.includes("unreachable")), 5_000), lines.join("\n"));
      for (let i = 0; i < 5; i++) await assert.rejects(gate.claim("job", Date.now() + 10 + i, 200));
      assert.equal(
        lines.filter((l) => l.includes("unreachable")).length,
        1,
        "said once, however many ticks fail",
      );
      redis = await redis.restart();
      const back = Date.now() + 100_000;
      let claimed = false;
      while (!claimed && Date.now() < back) {
        claimed = await gate.claim("job", Date.now(), 200).catch(() => false);
        if (!claimed) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.ok(claimed, "claims work again");
      assert.ok(
        lines.some((l) => l.includes("is back")),
        lines.join("\n"),
      );
    } finally {
      await gate.close();
    }
  });
});
