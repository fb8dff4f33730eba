import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  encodeCounts,
  namedTimerRows,
  parseChildMessage,
  parseMasterMessage,
  type TimerCountsReport,
  type TimerCountsRow,
} from "../../src/ipc/index.ts";

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

/** Rows with their bucket counts as plain arrays (a report's are views of the Float64Array). */
const plain = (rows: readonly TimerCountsRow[] | undefined): unknown[] | undefined =>
  rows?.map((row) =>
    row.lateness === null
      ? row
      : { ...row, lateness: { ...row.lateness, counts: Array.from(row.lateness.counts) } },
  );

describe("a child's timer counters, as a scrape receives them", () => {
  const flush = {
    name: "flush",
    runs: 3,
    errors: 1,
    skipped: 0,
    dropped: 0,
    claimErrors: 4,
    lateness: { counts: [2, 1, 0], sum: 2.5 },
  };
  const unnamed = { name: null, runs: 7, errors: 0, skipped: 0, dropped: 2, claimErrors: 0, lateness: null };

  it("travel as names and one Float64Array, and come back as the rows that were sent", () => {
    const wire = encodeCounts([1, 5], [flush, unnamed]);
    assert.deepEqual(wire.names, ["flush", null]);
    assert.ok(wire.figures instanceof Float64Array);
    assert.equal(wire.figures.length, 2 * (7 + 2));
    const report = parsedCounts(structuredClone(wire));
    assert.ok(report !== null);
    assert.deepEqual(report.bounds, [1, 5]);
    assert.deepEqual(plain(report.rows), [flush, unnamed]);
  });

  it("leave out a row whose figures are not counts, and a histogram that is not (its row kept)", () => {
    const wire = encodeCounts([1, 5], [flush, flush, flush, flush, { ...flush, name: "kept" }]);
    const stride = 9;
    wire.figures[0] = -1; // runs of row 0
    wire.figures[stride + 4] = NaN; // claim errors of row 1
    wire.figures[2 * stride + 6] = Infinity; // a bucket of row 2
    wire.figures[3 * stride + 5] = -0.5; // the sum of row 3
    const report = parsedCounts({ ...wire, names: [...wire.names.slice(0, 4), "kept"] });
    assert.ok(report !== null);
    assert.deepEqual(
      plain(report.rows)?.map((row) => [(row as TimerCountsRow).name, (row as TimerCountsRow).lateness]),
      [
        ["flush", null],
        ["flush", null],
        ["kept", flush.lateness],
      ],
    );
    const named = parsedCounts({ ...encodeCounts([1, 5], [flush, flush]), names: [5, "b"] });
    assert.deepEqual(
      named?.rows.map((row) => row.name),
      ["b"],
      "a name that is not a string or null",
    );
  });

  it("are null when missing (an answer to `tsresty status`) or not a report that fits together", () => {
    const good = encodeCounts([1, 5], [flush]);
    for (const counts of [
      undefined,
      null,
      5,
      { ...good, figures: Array.from(good.figures) }, // not a Float64Array
      { ...good, figures: good.figures.subarray(1) }, // one figure short
      { ...good, names: "flush" },
      { ...good, bounds: [-1, 5] },
      { names: good.names, figures: good.figures },
      { bounds: [1, 5], rows: [flush] }, // the rows form is not what children send
    ]) {
      assert.equal(parsedCounts(counts), null, String(counts && Object.keys(counts)));
    }
  });
});

describe("a child's live named timers, as `tsresty status` receives them", () => {
  it("are one row per name, state and kind, counted: a queue of at timers of one name is one row", () => {
    const timers = [
      ...Array.from({ length: 3 }, () => ({ name: "push", state: "pending", repeating: false })),
      { name: "push", state: "running", repeating: false },
      { name: "tick", state: "pending", repeating: true },
      { name: undefined, state: "pending", repeating: false },
    ];
    assert.deepEqual(namedTimerRows(timers), [
      { name: "push", state: "pending", repeating: false, count: 3 },
      { name: "push", state: "running", repeating: false, count: 1 },
      { name: "tick", state: "pending", repeating: true, count: 1 },
      { name: "", state: "pending", repeating: false, count: 1 },
    ]);
  });
});

describe("the master's zone references, as the init process receives them", () => {
  const ref = {
    name: "dogs",
    size: 65536,
    fd: 7,
    addon: "/opt/app/node_modules/tsresty/build/Release/x.node",
  };

  it("carry the addon file the master made the zone with", () => {
    assert.deepEqual(parseMasterMessage({ type: "run-init", zones: [ref] }), {
      type: "run-init",
      zones: [ref],
    });
  });

  it("are refused without an addon file, or with one that is not a path", () => {
    const withoutAddon: Record<string, unknown> = { ...ref };
    delete withoutAddon["addon"];
    assert.equal(parseMasterMessage({ type: "run-init", zones: [withoutAddon] }), null);
    assert.equal(parseMasterMessage({ type: "run-init", zones: [{ ...ref, addon: 7 }] }), null);
  });
});
