import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseChildMessage, type TimerCountsReport } from "../../src/ipc/index.ts";

/** A child's answer to a scrape, with `counts` as given. */
function scrapeAnswer(counts: unknown): unknown {
  return {
    type: "status",
    seq: 1,
    status: { pending: 0, running: 0, rss: 1, cpu: 0, timers: [], stats: [], counts, probe: null },
  };
}

function parsedCounts(counts: unknown): TimerCountsReport | null {
  const message = parseChildMessage(scrapeAnswer(counts));
  assert.ok(message !== null && message.type === "status", "the answer itself parses");
  return message.status.counts;
}

describe("a child's timer counters, as a scrape receives them", () => {
  it("keeps well-formed rows, the bounds once for all", () => {
    const report = {
      bounds: [1, 5],
      rows: [
        {
          name: "flush",
          runs: 3,
          errors: 1,
          skipped: 0,
          dropped: 0,
          lateness: { counts: [2, 1, 0], sum: 2.5 },
        },
        { name: null, runs: 7, errors: 0, skipped: 0, dropped: 2, lateness: null },
      ],
    };
    assert.deepEqual(parsedCounts(report), report);
  });

  it("leaves out malformed rows, and a histogram that does not fit the bounds", () => {
    const good = { name: "a", runs: 1, errors: 0, skipped: 0, dropped: 0 };
    const report = parsedCounts({
      bounds: [1, 5],
      rows: [
        { ...good, runs: -1 },
        { ...good, name: 5 },
        { ...good, errors: "0" },
        "row",
        null,
        { ...good, lateness: { counts: [1, 0], sum: 1 } }, // one bucket short
        { ...good, lateness: { counts: [1, 0, -1], sum: 1 } },
        { ...good, lateness: { counts: [1, 0, 0], sum: "1" } },
        { ...good, name: "kept", lateness: { counts: [1, 0, 0], sum: 0.5 } },
      ],
    });
    assert.ok(report !== null);
    assert.deepEqual(
      report.rows.map((row) => [row.name, row.lateness]),
      [
        ["a", null],
        ["a", null],
        ["a", null],
        ["kept", { counts: [1, 0, 0], sum: 0.5 }],
      ],
    );
  });

  it("is null when missing (an answer to `tsresty status`) or not a report", () => {
    for (const counts of [
      undefined,
      null,
      5,
      { bounds: [1], rows: "x" },
      { bounds: [-1], rows: [] },
      { rows: [] },
    ]) {
      assert.equal(parsedCounts(counts), null, JSON.stringify(counts));
    }
  });
});
