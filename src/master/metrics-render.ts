/**
 * The `/metrics` page: what one status round of the tree says (status.ts), as Prometheus text.
 *
 * Series are per process (`type`, `worker`, `pid`), per slot (`type`, `worker`: restarts) or per
 * zone. A process that died takes its series with it, and its slot's `tsresty_restarts_total`
 * goes up (the dead-worker rule of docs/metrics.md): Prometheus sees a series end and another
 * begin, which `rate()` and `increase()` handle, and no counter of a series ever goes backwards.
 *
 * The families are built as prom-client's JSON form (what `Registry.getMetricsAsJSON()` gives,
 * histogram samples included) and written by `AggregatorRegistry.aggregate`, prom-client's own
 * path for metrics gathered from many processes: it escapes labels and help texts, writes HELP
 * and TYPE once per family, and merges samples with equal labels (so a series is never listed
 * twice).
 */
import { AggregatorRegistry } from "prom-client";
import type { ChildProbe, ProcessRow, ZoneRow } from "../ipc/index.ts";
import type { ReportedStats } from "./timer-rows.ts";

type Labels = Readonly<Record<string, string>>;
type FamilyType = "counter" | "gauge" | "histogram";

interface Sample {
  readonly value: number;
  readonly labels: Labels;
  /** For a histogram's `_bucket`, `_sum` and `_count` lines. */
  readonly metricName?: string;
}

interface Family {
  readonly name: string;
  readonly help: string;
  readonly type: FamilyType;
  readonly aggregator: "sum";
  readonly values: Sample[];
}

/** Every family `/metrics` has, with its type and help (docs/metrics.md lists the same). */
export const METRICS = {
  tsresty_process_up: ["gauge", "1 for each process that answered this scrape."],
  tsresty_process_start_time_seconds: ["gauge", "When the process started, in seconds since the epoch."],
  tsresty_process_resident_memory_bytes: ["gauge", "Resident memory of the process."],
  tsresty_process_cpu_seconds_total: ["counter", "CPU time (user + system) the process used."],
  tsresty_event_loop_lag_seconds: [
    "gauge",
    "Event-loop delay of the process over the current window (10 to 20 s), by quantile (1 = max).",
  ],
  tsresty_timers_pending: ["gauge", "Timers waiting to run in the process (ngx.timer.pendingCount())."],
  tsresty_timers_running: ["gauge", "Timer callbacks running in the process (ngx.timer.runningCount())."],
  tsresty_pipes_alive: ["gauge", "Subprocess groups spawned by ngx.pipe and still alive."],
  tsresty_http_requests_total: ["counter", "HTTP requests the worker received."],
  tsresty_http_requests_in_flight: ["gauge", "HTTP requests the worker has not answered yet."],
  tsresty_timer_runs_total: ["counter", 'Runs of the named timer in the process (name="": unnamed timers).'],
  tsresty_timer_errors_total: ["counter", "Runs of the named timer that threw or rejected."],
  tsresty_timer_skipped_total: [
    "counter",
    "Ticks not run in the process: claimed elsewhere, overlap: false, or fallen behind.",
  ],
  tsresty_timer_dropped_total: ["counter", "Runs dropped for want of a running slot (runningLimit: drop)."],
  tsresty_timer_lateness_seconds: ["histogram", "How late the named timer's runs started (due to start)."],
  tsresty_restarts_total: ["counter", "Unintended deaths of the slot's processes (each was respawned)."],
  tsresty_cycle: ["gauge", "The configuration cycle the tree serves (1 at start, +1 per successful reload)."],
  tsresty_shdict_capacity_bytes: ["gauge", "Capacity of the shared dictionary zone."],
  tsresty_shdict_free_bytes: ["gauge", "Free space of the shared dictionary zone."],
  tsresty_shdict_items: ["gauge", "Items stored in the shared dictionary zone."],
  tsresty_scrape_unanswered: ["gauge", "Processes left out of this scrape: they did not answer within 1 s."],
} as const satisfies Record<string, readonly [FamilyType, string]>;

export type MetricName = keyof typeof METRICS;

/** What one scrape is made of. */
export interface MetricsInput {
  /** Every process row of the status round, the master's first. */
  readonly processes: readonly ProcessRow[];
  /** What each process measured of itself, by pid (the master's included). */
  readonly probes: ReadonlyMap<number, ChildProbe>;
  readonly timers: readonly ReportedStats[];
  readonly slots: readonly {
    readonly type: string;
    readonly worker: number | null;
    readonly restarts: number;
  }[];
  readonly zones: readonly ZoneRow[];
  readonly cycle: number;
  /** Now, in epoch ms. */
  readonly now: number;
}

const label = (id: number | null): string => (id === null ? "" : String(id));

class Families {
  readonly #families = new Map<MetricName, Family>();

  constructor() {
    for (const [name, [type, help]] of Object.entries(METRICS) as [
      MetricName,
      readonly [FamilyType, string],
    ][])
      this.#families.set(name, { name, help, type, aggregator: "sum", values: [] });
  }

  add(name: MetricName, labels: Labels, value: number | null | undefined, metricName?: string): void {
    if (value === null || value === undefined || !Number.isFinite(value)) return;
    const sample = metricName === undefined ? { value, labels } : { value, labels, metricName };
    this.#families.get(name)?.values.push(sample);
  }

  /** A histogram from per-bucket counts (ms bounds, not cumulative), as Prometheus wants it (s, cumulative). */
  histogram(
    name: MetricName,
    labels: Labels,
    bounds: readonly number[],
    counts: readonly number[],
    sumMs: number,
  ): void {
    let cumulative = 0;
    counts.forEach((count, i) => {
      cumulative += count;
      const le = i < bounds.length ? String((bounds[i] ?? 0) / 1000) : "+Inf";
      this.add(name, { ...labels, le }, cumulative, `${name}_bucket`);
    });
    this.add(name, labels, sumMs / 1000, `${name}_sum`);
    this.add(name, labels, cumulative, `${name}_count`);
  }

  list(): Family[] {
    return [...this.#families.values()];
  }
}

function processFamilies(f: Families, input: MetricsInput): number {
  let unanswered = 0;
  for (const row of input.processes) {
    if (row.pid === null) continue;
    if (row.rss === null) {
      // A standby is never asked; any other process without figures did not answer in time.
      if (row.type !== "standby") unanswered++;
      continue;
    }
    const labels = { type: row.type, worker: label(row.id), pid: String(row.pid) };
    f.add("tsresty_process_up", labels, 1);
    f.add("tsresty_process_start_time_seconds", labels, Math.round(input.now / 1000 - row.uptime));
    f.add("tsresty_process_resident_memory_bytes", labels, row.rss);
    f.add("tsresty_process_cpu_seconds_total", labels, row.cpu);
    f.add("tsresty_timers_pending", labels, row.pending);
    f.add("tsresty_timers_running", labels, row.running);
    const probe = input.probes.get(row.pid);
    if (probe === undefined) continue;
    const { lag, http } = probe;
    if (lag !== null) {
      f.add("tsresty_event_loop_lag_seconds", { ...labels, quantile: "0.5" }, lag.p50);
      f.add("tsresty_event_loop_lag_seconds", { ...labels, quantile: "0.99" }, lag.p99);
      f.add("tsresty_event_loop_lag_seconds", { ...labels, quantile: "1" }, lag.max);
    }
    f.add("tsresty_pipes_alive", labels, row.type === "master" ? null : probe.pipes);
    if (http !== null) {
      f.add("tsresty_http_requests_total", labels, http.requests);
      f.add("tsresty_http_requests_in_flight", labels, http.inFlight);
    }
  }
  return unanswered;
}

function timerFamilies(f: Families, timers: readonly ReportedStats[]): void {
  for (const { owner, stats } of timers) {
    for (const row of stats) {
      const labels = {
        type: owner.type,
        worker: label(owner.id),
        pid: String(owner.pid),
        name: row.name ?? "",
      };
      f.add("tsresty_timer_runs_total", labels, row.runs);
      f.add("tsresty_timer_errors_total", labels, row.errors);
      f.add("tsresty_timer_skipped_total", labels, row.skipped);
      f.add("tsresty_timer_dropped_total", labels, row.dropped);
      const h = row.histogram;
      if (h !== null) f.histogram("tsresty_timer_lateness_seconds", labels, h.bounds, h.counts, h.sum);
    }
  }
}

/** The families of one scrape, in prom-client's JSON form. */
export function metricFamilies(input: MetricsInput): Family[] {
  const f = new Families();
  const unanswered = processFamilies(f, input);
  timerFamilies(f, input.timers);
  for (const slot of input.slots)
    f.add("tsresty_restarts_total", { type: slot.type, worker: label(slot.worker) }, slot.restarts);
  f.add("tsresty_cycle", {}, input.cycle);
  for (const zone of input.zones) {
    f.add("tsresty_shdict_capacity_bytes", { zone: zone.name }, zone.capacity);
    f.add("tsresty_shdict_free_bytes", { zone: zone.name }, zone.freeSpace);
    f.add("tsresty_shdict_items", { zone: zone.name }, zone.items);
  }
  f.add("tsresty_scrape_unanswered", {}, unanswered);
  return f.list();
}

/** The Prometheus text (exposition format 0.0.4) of one scrape. */
export function renderMetrics(input: MetricsInput): Promise<string> {
  return AggregatorRegistry.aggregate([metricFamilies(input)]).metrics();
}

/** The content type of {@link renderMetrics}'s text. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
