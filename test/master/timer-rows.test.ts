import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { TimerStatsRow } from "../../src/ipc/index.ts";
import { timerRows, type ReportedStats } from "../../src/master/timer-rows.ts";

function stats(name: string, interval: number, runs: number): TimerStatsRow {
  return {
    name,
    kind: "every",
    interval,
    cron: null,
    tz: null,
    singleton: null,
    live: 1,
    runs,
    errors: 0,
    skipped: 0,
    dropped: 0,
    claimErrors: 0,
    lastError: null,
    lastStart: null,
    lastDuration: null,
    lateness: null,
    nextDue: null,
    histogram: null,
  };
}

function report(pid: number, generation: number, row: TimerStatsRow): ReportedStats {
  return { owner: { type: "worker", id: 0, pid }, generation, stats: [row] };
}

describe("status's timer rows", () => {
  it("show the newest generation's schedule while a reload that changed it drains the old processes, whichever answered first; counts still summed", () => {
    const draining = report(100, 0, stats("sync", 5_000, 7));
    const reloaded = report(200, 1, stats("sync", 1_000, 2));
    for (const reports of [
      [draining, reloaded],
      [reloaded, draining],
    ]) {
      const rows = timerRows(reports);
      assert.deepEqual(
        rows.map((r) => [r.interval, r.runs, r.processes]),
        [[1_000, 9, 2]],
      );
    }
  });
});
