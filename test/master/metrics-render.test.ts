/**
 * The `/metrics` page as the master writes it from one status round (src/master/metrics-render.ts),
 * checked by the test helpers' Prometheus text checker — which is itself checked here against what
 * `promtool check metrics` refuses.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import type { ChildProbe, ProcessRow, TimerCountsRow } from "../../src/ipc/index.ts";
import { METRICS, MetricsPage, renderMetrics, type MetricsInput } from "../../src/master/metrics-render.ts";
import { FamilyText } from "../../src/master/metrics-text.ts";
import { parsePromText, samples, total } from "../helpers/prom-text.ts";

const NOW = Date.UTC(2026, 10, 29, 12);

function row(type: ProcessRow["type"], id: number | null, pid: number | null, answered = true): ProcessRow {
  return {
    type,
    id,
    pid,
    state: pid === null ? "backoff" : "running",
    nextTryMs: null,
    answered: true,
    generation: 1,
    uptime: 10,
    restarts: 0,
    rss: answered ? 50_000_000 : null,
    cpu: answered ? 1.5 : null,
    pending: answered && type !== "master" ? 3 : null,
    running: answered && type !== "master" ? 1 : null,
    timers: [],
  };
}

function counts(name: string | null, runs: number, errors: number, claimErrors = 0): TimerCountsRow {
  return {
    name,
    runs,
    errors,
    skipped: 0,
    dropped: 0,
    claimErrors,
    lateness: name === null ? null : { counts: [runs - 2, 1, 0, 1], sum: runs * 2 },
  };
}

const BOUNDS = [1, 5, 10];

const probe = (http: boolean): ChildProbe => ({
  lag: { p50: 0.001, p99: 0.004, max: 0.02 },
  pipes: 2,
  http: http ? { requests: 40, inFlight: 2 } : null,
});

/** A tree with every kind of process and figure: a scrape of it has a sample in every family. */
export function fullInput(): MetricsInput {
  return {
    processes: [
      row("master", null, 100),
      row("worker", 0, 101),
      row("worker", 1, 102),
      row("privileged agent", null, 103),
      row("standby", null, 104, false),
      row("worker", 2, 105, false),
      row("worker", 3, null, false),
      { ...row("worker", 1, 106, false), state: "starting" }, // a reload's new worker, still booting: not asked
    ],
    probes: new Map([
      [100, { lag: probe(false).lag, pipes: 0, http: null }],
      [101, probe(true)],
      [102, probe(true)],
      [103, probe(false)],
    ]),
    timers: [
      {
        owner: { type: "worker", id: 0, pid: 101 },
        counts: { bounds: BOUNDS, rows: [counts("flush", 9, 3), counts(null, 4, 0)] },
      },
      {
        owner: { type: "worker", id: 1, pid: 102 },
        counts: { bounds: BOUNDS, rows: [counts("flush", 6, 2, 5)] },
      },
      {
        owner: { type: "privileged agent", id: null, pid: 103 },
        counts: { bounds: BOUNDS, rows: [counts('rotate "logs"', 2, 0)] },
      },
    ],
    slots: [
      { type: "worker", worker: 0, restarts: 0 },
      { type: "worker", worker: 1, restarts: 2 },
      { type: "privileged agent", worker: null, restarts: 1 },
    ],
    zones: [{ name: "dogs", capacity: 1_048_576, freeSpace: 1_000_000, items: 7 }],
    cycle: 3,
    now: NOW,
  };
}

describe("the /metrics page", () => {
  it("parses as Prometheus text with a sample in every family it declares", () => {
    const families = parsePromText(renderMetrics(fullInput()).toString());
    for (const [name, [type]] of Object.entries(METRICS)) {
      const family = families.get(name);
      assert.ok(family !== undefined, name);
      assert.equal(family.type, type, name);
      assert.ok(family.samples.length > 0, `${name} has samples`);
    }
    assert.deepEqual([...families.keys()].sort(), Object.keys(METRICS).sort());
  });

  it("has one series per process that answered, labelled with type, worker and pid; the others are counted as left out", () => {
    const families = parsePromText(renderMetrics(fullInput()).toString());
    const up = samples(families, "tsresty_process_up").map((s) => s.labels);
    assert.deepEqual(up, [
      { type: "master", worker: "", pid: "100" },
      { type: "worker", worker: "0", pid: "101" },
      { type: "worker", worker: "1", pid: "102" },
      { type: "privileged agent", worker: "", pid: "103" },
    ]);
    assert.equal(
      total(families, "tsresty_scrape_unanswered"),
      1,
      "the silent worker 2, not the standby nor the worker still starting (counted at every reload and respawn before)",
    );
    assert.equal(total(families, "tsresty_http_requests_total"), 80);
    assert.equal(samples(families, "tsresty_http_requests_total", { type: "privileged agent" }).length, 0);
    assert.equal(total(families, "tsresty_process_start_time_seconds", { pid: "101" }), NOW / 1000 - 10);
    assert.equal(total(families, "tsresty_event_loop_lag_seconds", { pid: "102", quantile: "0.99" }), 0.004);
    assert.equal(total(families, "tsresty_restarts_total", { type: "worker", worker: "1" }), 2);
    assert.equal(total(families, "tsresty_shdict_items", { zone: "dogs" }), 7);
    assert.equal(total(families, "tsresty_cycle"), 3);
  });

  it("has the timers' counters per process and name, and their lateness as a cumulative histogram in seconds", () => {
    const families = parsePromText(renderMetrics(fullInput()).toString());
    assert.equal(total(families, "tsresty_timer_runs_total", { name: "flush" }), 15);
    assert.equal(total(families, "tsresty_timer_errors_total", { name: "flush", pid: "101" }), 3);
    assert.equal(total(families, "tsresty_timer_claim_errors_total", { name: "flush", pid: "101" }), 0);
    assert.equal(
      total(families, "tsresty_timer_claim_errors_total", { name: "flush" }),
      5,
      "ticks whose claim failed",
    );
    assert.equal(total(families, "tsresty_timer_runs_total", { name: "" }), 4, "the unnamed aggregate");
    assert.equal(
      total(families, "tsresty_timer_runs_total", { name: 'rotate "logs"' }),
      2,
      "escaped and back",
    );
    const buckets = samples(families, "tsresty_timer_lateness_seconds_bucket", { pid: "101" });
    assert.deepEqual(
      buckets.map((s) => [s.labels["le"], s.value]),
      [
        ["0.001", 7],
        ["0.005", 8],
        ["0.01", 8],
        ["+Inf", 9],
      ],
    );
    assert.equal(total(families, "tsresty_timer_lateness_seconds_sum", { pid: "101" }), 0.018);
    assert.equal(samples(families, "tsresty_timer_lateness_seconds_count", { name: "" }).length, 0);
  });
});

describe("a /metrics page kept for the master's life", () => {
  const lateness = (counts: number[]): TimerCountsRow["lateness"] => ({ counts, sum: 1.5 });
  /** A scrape after `fullInput()`: a worker gone, a timer new, other bounds, other values. */
  function laterInput(): MetricsInput {
    const first = fullInput();
    return {
      ...first,
      processes: first.processes.filter((p) => p.pid !== 102),
      probes: new Map([...first.probes].filter(([pid]) => pid !== 102)),
      timers: [
        {
          owner: { type: "worker", id: 0, pid: 101 },
          counts: {
            bounds: [2, 20],
            rows: [
              {
                name: "flush",
                runs: 10,
                errors: 4,
                skipped: 1,
                dropped: 0,
                claimErrors: 1,
                lateness: lateness([5, 3, 2]),
              },
              {
                name: "new one",
                runs: 1,
                errors: 0,
                skipped: 0,
                dropped: 0,
                claimErrors: 0,
                lateness: lateness([1, 0, 0]),
              },
            ],
          },
        },
      ],
      zones: [],
      cycle: 4,
    };
  }

  it("writes each scrape as a new page would: new values, series that come and go, other bounds", () => {
    const page = new MetricsPage();
    const text = (input: MetricsInput): string => Buffer.concat(page.render(input)).toString();
    for (const input of [fullInput(), laterInput(), fullInput(), laterInput()])
      assert.equal(text(input), renderMetrics(input).toString());
    const later = text(laterInput());
    assert.doesNotMatch(later, /pid="102"/);
    assert.match(
      later,
      /^tsresty_timer_lateness_seconds_bucket\{type="worker",worker="0",pid="101",name="flush",le="0\.02"\} 8$/m,
    );
    assert.match(later, /^tsresty_timer_runs_total\{type="worker",worker="0",pid="101",name="new one"\} 1$/m);
  });

  it("keeps the line starts of the series the last scrape wrote, and no others", () => {
    const family = new FamilyText("t_total", "counter", "A test family.");
    const scrape = (labels: string[]): string => {
      family.begin();
      for (const l of labels) family.sample(l, 1);
      return family.bytes().toString();
    };
    scrape(['a="1"', 'a="2"', 'a="3"']);
    assert.equal(family.kept, 3);
    scrape(['a="1"', 'a="3"']);
    assert.equal(family.kept, 3, "a series is let go at the scrape after the one that left it out");
    assert.equal(
      scrape(['a="3"', 'a="4"']),
      '# HELP t_total A test family.\n# TYPE t_total counter\nt_total{a="3"} 1\nt_total{a="4"} 1\n',
    );
    assert.equal(family.kept, 3, "a=2 was let go; a=1 (written by the scrape before) is kept until the next");
    scrape(['a="3"', 'a="4"']);
    assert.equal(family.kept, 2, "a=1 was let go");
    scrape(['a="3"', 'a="4"']);
    assert.equal(family.kept, 2);
  });

  it("writes whole numbers digit by digit and others as JavaScript prints them", () => {
    const values = [0, 7, 10, 99, 100, 1234567890123, 2 ** 53 + 2, 1.5, 0.001, 1e21];
    const input: MetricsInput = {
      ...fullInput(),
      slots: values.map((restarts, worker) => ({ type: "worker", worker, restarts })),
    };
    const lines = renderMetrics(input)
      .toString()
      .split("\n")
      .filter((line) => line.startsWith("tsresty_restarts_total{"))
      .map((line) => line.slice(line.indexOf("} ") + 2));
    assert.deepEqual(lines, [
      "0",
      "7",
      "10",
      "99",
      "100",
      "1234567890123",
      "9007199254740994",
      "1.5",
      "0.001",
      "1e+21",
    ]);
  });
});

describe("the test helpers' Prometheus text checker", () => {
  const good = '# HELP a_total A.\n# TYPE a_total counter\na_total{x="1"} 2\n';
  it("accepts a well-formed page", () => {
    assert.equal(parsePromText(good).get("a_total")?.samples[0]?.value, 2);
  });
  const bad: [string, string][] = [
    ["a sample without TYPE", "a 1\n"],
    ["TYPE without HELP", "# TYPE a gauge\na 1\n"],
    ["an unknown TYPE", "# HELP a A.\n# TYPE a meter\na 1\n"],
    ["a series twice", `${good}a_total{x="1"} 3\n`],
    ["TYPE after the family's samples", `${good}# TYPE a_total counter\n`],
    ["a bad value", "# HELP a A.\n# TYPE a gauge\na one\n"],
    ["bad labels", "# HELP a A.\n# TYPE a gauge\na{x=1} 1\n"],
    ["no final newline", good.trimEnd()],
    [
      "decreasing buckets",
      '# HELP h H.\n# TYPE h histogram\nh_bucket{le="1"} 3\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 2\n',
    ],
    ["no +Inf bucket", '# HELP h H.\n# TYPE h histogram\nh_bucket{le="1"} 2\nh_sum 1\nh_count 2\n'],
    ["+Inf ≠ _count", '# HELP h H.\n# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 3\n'],
  ];
  for (const [what, text] of bad) {
    it(`refuses ${what}`, () => {
      assert.throws(() => parsePromText(text));
    });
  }
});

describe("docs/grafana-dashboard.json", () => {
  it("is valid JSON whose queries use only metric names a scrape has", () => {
    const dashboard = JSON.parse(
      readFileSync(new URL("../../docs/grafana-dashboard.json", import.meta.url), "utf8"),
    ) as {
      panels: { targets?: { expr: string }[] }[];
    };
    const exprs = dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((target) => target.expr));
    assert.ok(exprs.length >= 8, "a dashboard with queries");
    const families = parsePromText(renderMetrics(fullInput()).toString());
    const sampleNames = new Set([...families.values()].flatMap((f) => f.samples.map((s) => s.name)));
    for (const expr of exprs) {
      const names = expr.match(/\btsresty_[a-z_]+/g) ?? [];
      assert.ok(names.length > 0, `a tsresty metric in ${expr}`);
      for (const name of names) assert.ok(sampleNames.has(name), `${name} (in ${expr}) is in a scrape`);
    }
  });
});
