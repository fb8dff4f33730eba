import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { WALL_START } from "../helpers/manual-clock.ts";
import { flushPromises, makeTimers, statsOf } from "../helpers/timer-system.ts";

describe("per-timer statistics", () => {
  it("counts runs, errors, the last error, start and duration of a named every", async () => {
    const { timers, clock } = makeTimers();
    let n = 0;
    timers.every({ interval: 1, name: "sync" }, async () => {
      n++;
      clock.jump(30); // the run takes 30 ms
      if (n === 2) throw new Error("upstream down");
      await Promise.resolve();
    });
    for (let i = 0; i < 2; i++) {
      clock.advance(1000);
      await flushPromises();
    }
    const stats = statsOf(timers, "sync");
    assert.deepEqual(stats, {
      name: "sync",
      kind: "every",
      interval: 1000,
      cron: null,
      tz: null,
      align: "start",
      singleton: null,
      live: 1,
      runs: 2,
      errors: 1,
      skipped: 0,
      dropped: 0,
      claimErrors: 0,
      lastError: { message: "upstream down", at: WALL_START + 2030 },
      lastStart: WALL_START + 2000,
      lastDuration: 30,
      lateness: { p50: 0, p99: 0, max: 0, count: 2 },
      histogram: {
        bounds: [1, 5, 10, 25, 50, 100, 500, 1000, 5000],
        counts: [2, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        sum: 0,
      },
      nextDue: WALL_START + 3000,
    });
    assert.deepEqual(JSON.parse(JSON.stringify(timers.stats())), timers.stats(), "plain, JSON-ready data");
  });

  it("measures lateness (due → start) over a sliding window", () => {
    const { timers, clock } = makeTimers();
    timers.every({ interval: 0.1, name: "tick" }, () => undefined);
    let late = 0;
    for (let i = 0; i < 200; i++) {
      clock.advance(99 - late); // 1 ms before the tick
      late = i % 10 === 0 ? 6 : 0;
      clock.jump(1 + late); // the event loop is busy until `late` ms after it
      clock.advance(0);
    }
    const lateness = statsOf(timers, "tick").lateness;
    assert.ok(lateness !== null);
    assert.equal(lateness.count, 128);
    assert.equal(lateness.p50, 0);
    assert.equal(lateness.max, 6);
    assert.equal(lateness.p99, 6);
  });

  it("counts every lateness in histogram buckets, and the counts scope skips the percentiles", () => {
    const { timers, clock } = makeTimers();
    const lates = [0, 3, 7, 30, 700, 6000, 0.5];
    for (const late of lates) {
      timers.at({ delay: 0.01, name: "once" }, () => undefined);
      clock.jump(10 + late); // the event loop is busy until `late` ms after the due time
      clock.advance(0);
    }
    const { histogram, runs } = statsOf(timers, "once");
    assert.equal(runs, lates.length);
    assert.ok(histogram !== null);
    const counts = Object.fromEntries(
      histogram.counts.map((count, i) => [histogram.bounds[i] ?? "+Inf", count]),
    );
    assert.deepEqual(counts, {
      1: 2,
      5: 1,
      10: 1,
      25: 0,
      50: 1,
      100: 0,
      500: 0,
      1000: 1,
      5000: 0,
      "+Inf": 1,
    });
    assert.equal(histogram.sum, 6740.5);
    // What a scrape reads: the counters and the same histogram, without the bounds (sent once).
    const counted = timers.counts().find((s) => s.name === "once");
    assert.ok(counted !== undefined);
    assert.deepEqual(Array.from(counted.lateness?.counts ?? []), histogram.counts);
    assert.equal(counted.lateness?.sum, histogram.sum);
    assert.equal(counted.runs, statsOf(timers, "once").runs);
    assert.equal(timers.counts().at(-1)?.lateness, null, "the unnamed aggregate has no histogram");
  });

  it("counts ticks skipped when a repeating timer fell behind, and runs dropped for want of a slot", async () => {
    const { timers, clock } = makeTimers({ maxRunning: 1, runningLimit: "drop" });
    timers.every({ interval: 0.1, name: "poll" }, () => undefined);
    clock.advance(100);
    clock.jump(350);
    clock.advance(0);
    let finish = (): void => undefined;
    timers.at(0, () => new Promise<void>((resolve) => (finish = resolve)));
    clock.advance(0);
    timers.at({ delay: 0, name: "lost" }, () => undefined);
    clock.advance(0);
    finish();
    await flushPromises();
    assert.equal(statsOf(timers, "poll").skipped, 2, "the ticks due at 300 and 400 ms");
    assert.equal(statsOf(timers, "lost").dropped, 1);
    assert.equal(statsOf(timers, "lost").runs, 0);
  });

  it("keeps one aggregate for unnamed timers, with counts exact and timing sampled", () => {
    const { timers, clock } = makeTimers();
    for (let i = 0; i < 100; i++) timers.at(0, () => undefined);
    timers.at(0, () => {
      throw new Error("x");
    });
    clock.advance(0);
    const aggregate = statsOf(timers, null);
    assert.equal(aggregate.name, null);
    assert.equal(aggregate.kind, null);
    assert.equal(aggregate.live, null);
    assert.equal(aggregate.runs, 101);
    assert.equal(aggregate.errors, 1);
    assert.equal(aggregate.lastError?.message, "x");
    assert.equal(aggregate.lateness?.count, 2, "runs 1 and 65 of 101 were timed");
    assert.equal(aggregate.lastStart, WALL_START);
  });

  it("has the unnamed aggregate's runs and last start right whenever they are read, between samples too", () => {
    // Unnamed runs are added to the aggregate in batches (at its next sample, or when read).
    const { timers, clock } = makeTimers();
    for (let ms = 1; ms <= 70; ms++) timers.at(ms / 1000, () => undefined);
    clock.advance(10);
    assert.equal(timers.counts().at(-1)?.runs, 10, "a scrape's counts");
    let aggregate = statsOf(timers, null);
    assert.equal(aggregate.runs, 10);
    assert.equal(aggregate.lastStart, WALL_START + 10);
    clock.advance(60);
    aggregate = statsOf(timers, null);
    assert.equal(aggregate.runs, 70);
    assert.equal(aggregate.lastStart, WALL_START + 70);
    assert.equal(aggregate.lateness?.count, 2, "runs 1 and 65 were timed");
    assert.equal(timers.counts().at(-1)?.runs, 70);
  });

  it("samples an unnamed run's lateness from its dispatch's clock reading; unnamed runs have no duration", () => {
    const { timers, clock } = makeTimers();
    for (let ms = 1; ms <= 70; ms++) timers.at(ms / 1000, () => undefined);
    clock.jump(100); // the event loop was blocked: one dispatch at 100 ms fires all 70
    clock.advance(0);
    const aggregate = statsOf(timers, null);
    assert.equal(aggregate.runs, 70);
    assert.equal(aggregate.lateness?.count, 2, "runs 1 and 65");
    assert.equal(aggregate.lateness.max, 99, "run 1 was due at 1 ms, its dispatch read 100");
    assert.equal(aggregate.lastStart, WALL_START + 100);
    assert.equal(aggregate.lastDuration, null);
  });

  it("counts the duration of a sampled unnamed run that returns a promise, from its dispatch to its settling", async () => {
    const { timers, clock } = makeTimers();
    timers.at(0, async () => {
      clock.jump(30); // the run's work takes 30 ms
      await Promise.resolve();
    });
    clock.advance(0);
    await flushPromises();
    const aggregate = statsOf(timers, null);
    assert.equal(aggregate.runs, 1);
    assert.equal(aggregate.lastDuration, 30);
  });

  it("shows a cron's expression and zone, and its next due", () => {
    const { timers } = makeTimers();
    timers.cron({ cron: "0 0 12 * * *", tz: "Asia/Tokyo", name: "noon" }, () => undefined);
    const stats = statsOf(timers, "noon");
    assert.equal(stats.kind, "cron");
    assert.equal(stats.cron, "0 0 12 * * *");
    assert.equal(stats.tz, "Asia/Tokyo");
    assert.equal(stats.align, "epoch");
    assert.equal(stats.interval, null);
    assert.equal(stats.nextDue, Date.parse("2025-01-01T03:00:00Z"));
  });

  it("reports a name with no live timer left, without a next due", () => {
    const { timers, clock } = makeTimers();
    timers.at({ delay: 1, name: "once" }, () => undefined);
    clock.advance(1000);
    const stats = statsOf(timers, "once");
    assert.equal(stats.live, 0);
    assert.equal(stats.runs, 1);
    assert.equal(stats.nextDue, null);
  });

  it("forgets the oldest idle names beyond 256, never a live one", () => {
    const { timers, clock } = makeTimers({ maxPending: 2000 });
    timers.every({ interval: 1000, name: "keeper" }, () => undefined);
    for (let i = 0; i < 300; i++) timers.at({ delay: 0, name: `job-${i}` }, () => undefined);
    clock.advance(0);
    const names = timers.stats().map((s) => s.name);
    assert.ok(names.includes("keeper"));
    assert.ok(!names.includes("job-0"));
    assert.ok(names.includes("job-299"));
    assert.equal(names.length, 1 + 256 + 1);
  });
});
