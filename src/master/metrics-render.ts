/**
 * The `/metrics` page: what one status round of the tree says (status.ts), as Prometheus text.
 *
 * Series are per process (`type`, `worker`, `pid`), per slot (`type`, `worker`: restarts) or per
 * zone. A process that died takes its series with it, and its slot's `tsresty_restarts_total`
 * goes up (the dead-worker rule of docs/metrics.md): Prometheus sees a series end and another
 * begin, which `rate()` and `increase()` handle, and no counter of a series ever goes backwards.
 *
 * prom-client is not used: its metric classes are made to be updated where things happen, while
 * here every figure arrives as a snapshot once per scrape, and writing a 2-worker, 200-timer page
 * through its Registry cost about ten times what metrics-text.ts costs (measured for
 * `npm run bench:metrics`, whose bar is under 1 % of a core at a scrape per second).
 */
import type { ChildProbe, ProcessRow, ZoneRow } from "../ipc/index.ts";
import { FamilyText, formatLabels, joinLabels, type FamilyType } from "./metrics-text.ts";
import type { ReportedCounts } from "./status.ts";

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
  tsresty_timer_claim_errors_total: [
    "counter",
    "Ticks of the singleton timer not run because its claim failed (coordinator unreachable or erring).",
  ],
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
  readonly timers: readonly ReportedCounts[];
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

/**
 * Writes `/metrics` pages into buffers it keeps: each family's buffer and each series' encoded line
 * starts are reused from one scrape to the next (metrics-text.ts). A page's bytes stay valid until
 * its next render, so a page is reused only once what it wrote has been sent (metrics-server.ts).
 */
export class MetricsPage {
  readonly #families = new Map<MetricName, FamilyText>();
  readonly #timerLabels = new TimerLabels();

  constructor() {
    for (const [name, [type, help]] of Object.entries(METRICS) as [
      MetricName,
      readonly [FamilyType, string],
    ][])
      this.#families.set(name, new FamilyText(name, type, help));
  }

  /**
   * The Prometheus text (exposition format 0.0.4, UTF-8) of one scrape, one chunk per family in
   * order: views of this page's buffers, valid until its next render.
   */
  render(input: MetricsInput): Buffer[] {
    for (const family of this.#families.values()) family.begin();
    const unanswered = processFamilies(this, input);
    timerFamilies(this, this.#timerLabels, input.timers);
    for (const slot of input.slots) {
      const labels = formatLabels({ type: slot.type, worker: label(slot.worker) });
      this.add("tsresty_restarts_total", labels, slot.restarts);
    }
    this.add("tsresty_cycle", "", input.cycle);
    for (const zone of input.zones) {
      const labels = formatLabels({ zone: zone.name });
      this.add("tsresty_shdict_capacity_bytes", labels, zone.capacity);
      this.add("tsresty_shdict_free_bytes", labels, zone.freeSpace);
      this.add("tsresty_shdict_items", labels, zone.items);
    }
    this.add("tsresty_scrape_unanswered", "", unanswered);
    return [...this.#families.values()].map((family) => family.bytes());
  }

  /** A sample; `labels` formatted (metrics-text.ts). Null or non-finite values are left out. */
  add(name: MetricName, labels: string, value: number | null | undefined): void {
    if (value === null || value === undefined || !Number.isFinite(value)) return;
    this.#families.get(name)?.sample(labels, value);
  }

  /** A histogram from per-bucket counts (ms bounds, not cumulative), as Prometheus wants it (s, cumulative). */
  histogram(
    name: MetricName,
    labels: string,
    bounds: readonly number[],
    counts: ArrayLike<number>,
    sumMs: number,
  ): void {
    this.#families.get(name)?.histogram(labels, bounds, counts, sumMs);
  }
}

function processFamilies(f: MetricsPage, input: MetricsInput): number {
  let unanswered = 0;
  for (const row of input.processes) {
    if (row.pid === null) continue;
    if (row.rss === null) {
      // A standby is never asked, nor a process still starting (it has no IPC handler yet: a
      // reload's or a respawn's new workers); any other without figures did not answer in time.
      if (row.type !== "standby" && row.state !== "starting") unanswered++;
      continue;
    }
    const labels = formatLabels({ type: row.type, worker: label(row.id), pid: String(row.pid) });
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
      f.add("tsresty_event_loop_lag_seconds", joinLabels(labels, 'quantile="0.5"'), lag.p50);
      f.add("tsresty_event_loop_lag_seconds", joinLabels(labels, 'quantile="0.99"'), lag.p99);
      f.add("tsresty_event_loop_lag_seconds", joinLabels(labels, 'quantile="1"'), lag.max);
    }
    f.add("tsresty_pipes_alive", labels, row.type === "master" ? null : probe.pipes);
    if (http !== null) {
      f.add("tsresty_http_requests_total", labels, http.requests);
      f.add("tsresty_http_requests_in_flight", labels, http.inFlight);
    }
  }
  return unanswered;
}

/**
 * The label strings of one process's timer rows, kept from one scrape to the next while its names
 * stay the same: a kept string is found again in the families' maps without being hashed and
 * compared anew, and a scrape carries every name of every process.
 */
class TimerLabels {
  readonly #byProcess = new Map<string, { names: (string | null)[]; labels: string[]; used: number }>();
  #scrape = 0;

  /** Starts a scrape; processes not seen in the previous one are forgotten. */
  begin(): void {
    const last = this.#scrape++;
    this.#byProcess.forEach((kept, key, all) => {
      if (kept.used !== last) all.delete(key);
    });
  }

  /** The label strings of `rows`, in order. */
  of(owner: ReportedCounts["owner"], rows: ReportedCounts["counts"]["rows"]): readonly string[] {
    const process = formatLabels({ type: owner.type, worker: label(owner.id), pid: String(owner.pid) });
    let kept = this.#byProcess.get(process);
    if (kept === undefined) {
      kept = { names: [], labels: [], used: 0 };
      this.#byProcess.set(process, kept);
    }
    kept.used = this.#scrape;
    const { names, labels } = kept;
    rows.forEach((row, i) => {
      if (i < names.length && names[i] === row.name) return;
      names[i] = row.name;
      labels[i] = joinLabels(process, formatLabels({ name: row.name ?? "" }));
    });
    names.length = labels.length = rows.length;
    return labels;
  }
}

function timerFamilies(f: MetricsPage, known: TimerLabels, timers: readonly ReportedCounts[]): void {
  known.begin();
  for (const { owner, counts } of timers) {
    const labelsOf = known.of(owner, counts.rows);
    counts.rows.forEach((row, i) => {
      const labels = labelsOf[i] as string;
      f.add("tsresty_timer_runs_total", labels, row.runs);
      f.add("tsresty_timer_errors_total", labels, row.errors);
      f.add("tsresty_timer_skipped_total", labels, row.skipped);
      f.add("tsresty_timer_dropped_total", labels, row.dropped);
      f.add("tsresty_timer_claim_errors_total", labels, row.claimErrors);
      const late = row.lateness;
      if (late !== null)
        f.histogram("tsresty_timer_lateness_seconds", labels, counts.bounds, late.counts, late.sum);
    });
  }
}

/** The Prometheus text of one scrape, as one buffer of its own. */
export const renderMetrics = (input: MetricsInput): Buffer => Buffer.concat(new MetricsPage().render(input));

/** The content type of {@link renderMetrics}'s text. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
