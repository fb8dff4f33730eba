import { checkChildSpec, checkZoneRefs, type ChildSpec, type ZoneRef } from "./spec.ts";

/**
 * The message protocol between the master and its children, over Node's IPC channel (advanced
 * serialization, so `init`'s data travels as a structured clone). Every message is a plain object
 * with a `type`; requests that want an answer carry a `seq` that the answer repeats. The parse
 * functions are the only way in: anything they do not recognise is ignored by the receiver, never
 * a crash.
 */

/** The live named timers of a process that share a name, a state and a kind: one row for them all. */
export interface NamedTimer {
  readonly name: string;
  readonly state: string;
  readonly repeating: boolean;
  /** How many (a queue of `at` timers of one name is one row). */
  readonly count: number;
}

/**
 * The rows of `timers` (live named timers): one per name, state and kind, counted. One per timer
 * sent each name once per timer: 5,600 pending `at` timers of a 100 KB name took the master's
 * memory to 2 GB at each `tsresty status`, and their worker's row came back all dashes.
 */
export function namedTimerRows(
  timers: readonly {
    readonly name?: string | undefined;
    readonly state: string;
    readonly repeating: boolean;
  }[],
): NamedTimer[] {
  type Row = { state: string; repeating: boolean; count: number };
  const byName = new Map<string, Map<string, Row>>();
  for (const timer of timers) {
    const name = timer.name ?? "";
    let kinds = byName.get(name);
    if (kinds === undefined) byName.set(name, (kinds = new Map<string, Row>()));
    const key = `${timer.repeating ? "r" : "a"} ${timer.state}`;
    const row = kinds.get(key);
    if (row === undefined) kinds.set(key, { state: timer.state, repeating: timer.repeating, count: 1 });
    else row.count++;
  }
  return [...byName].flatMap(([name, kinds]) => [...kinds.values()].map((row) => ({ name, ...row })));
}

/**
 * One timer name's statistics in one process (the timer core's TimerStats, as plain data). The
 * master merges the rows of every process by name for `tsresty status`.
 */
export interface TimerStatsRow {
  readonly name: string | null;
  readonly kind: string | null;
  readonly interval: number | null;
  readonly cron: string | null;
  readonly tz: string | null;
  readonly singleton: string | null;
  readonly live: number | null;
  readonly runs: number;
  readonly errors: number;
  readonly skipped: number;
  readonly dropped: number;
  readonly claimErrors: number;
  readonly lastError: { readonly message: string; readonly at: number } | null;
  readonly lastStart: number | null;
  readonly lastDuration: number | null;
  readonly lateness: {
    readonly p50: number;
    readonly p99: number;
    readonly max: number;
    readonly count: number;
  } | null;
  readonly nextDue: number | null;
  /** Every lateness measured, in buckets (the timer core's LatenessHistogram); null for the aggregate. */
  readonly histogram: LatenessBuckets | null;
}

/**
 * One timer name's counters and lateness in one process, as a scrape reads them (the timer core's
 * TimerCounts): a scrape carries every name of every process, so only these few fields.
 */
export type TimerCountsRow = Pick<
  TimerStatsRow,
  "name" | "runs" | "errors" | "skipped" | "dropped" | "claimErrors"
> & {
  /** Runs per bucket of the report's `bounds` (+Inf last, not cumulative) and their sum in ms. */
  readonly lateness: { readonly counts: ArrayLike<number>; readonly sum: number } | null;
};

/** The counters of every timer name of a process, for a scrape. */
export interface TimerCountsReport {
  /** The lateness buckets' upper bounds in ms, once for every row. */
  readonly bounds: readonly number[];
  readonly rows: readonly TimerCountsRow[];
}

/**
 * A TimerCountsReport as a child sends it: the names, and every figure in one Float64Array, which
 * is cloned as one block (rows of objects cost the master's deserializer about 0.4 ms per process
 * and scrape, the Float64Array a few µs). Row `i` is `figures[i * stride …]` with
 * `stride = 7 + bounds.length`: runs, errors, skipped, dropped, claim errors, the lateness sum in
 * ms (NaN: no histogram), then the count of each bucket, +Inf last.
 */
export interface TimerCountsWire {
  readonly bounds: readonly number[];
  readonly names: readonly (string | null)[];
  readonly figures: Float64Array;
}

const FIXED_FIGURES = 6;
/** A row's length in the figures: the fixed ones, then a count per bound and one for +Inf. */
const strideOf = (bounds: readonly unknown[]): number => FIXED_FIGURES + bounds.length + 1;

/** The report in its wire form (a child's side of a scrape). */
export function encodeCounts(bounds: readonly number[], rows: readonly TimerCountsRow[]): TimerCountsWire {
  const stride = strideOf(bounds);
  const figures = new Float64Array(rows.length * stride);
  rows.forEach((row, i) => {
    const at = i * stride;
    figures[at] = row.runs;
    figures[at + 1] = row.errors;
    figures[at + 2] = row.skipped;
    figures[at + 3] = row.dropped;
    figures[at + 4] = row.claimErrors;
    figures[at + 5] = row.lateness?.sum ?? NaN;
    const counts = row.lateness?.counts ?? [];
    for (let k = 0; k < counts.length && k <= bounds.length; k++)
      figures[at + FIXED_FIGURES + k] = counts[k] as number;
  });
  return { bounds: [...bounds], names: rows.map((row) => row.name), figures };
}

/** Lateness counts per bucket: `counts[i]` at most `bounds[i]` ms (not cumulative), +Inf last. */
export interface LatenessBuckets {
  readonly bounds: readonly number[];
  readonly counts: readonly number[];
  /** ms */
  readonly sum: number;
}

/** What a child measures of itself for `/metrics`, beside its status. */
export interface ChildProbe {
  /** Event-loop delay over the current window, in seconds; null before the first sample. */
  readonly lag: { readonly p50: number; readonly p99: number; readonly max: number } | null;
  /** Process groups spawned by ngx.pipe and not yet ended. */
  readonly pipes: number;
  /** A worker's HTTP requests (all so far, and those not yet answered); null in the agent. */
  readonly http: { readonly requests: number; readonly inFlight: number } | null;
}

/** What a child reports about itself for `tsresty status`. */
export interface ChildStatus {
  readonly pending: number;
  readonly running: number;
  readonly rss: number;
  /** CPU time used so far (user + system), in seconds. */
  readonly cpu: number;
  readonly timers: readonly NamedTimer[];
  /** Every timer name's figures, for `tsresty status` ([] for a scrape). */
  readonly stats: readonly TimerStatsRow[];
  /** Every timer name's counters, for a scrape (null for `tsresty status`). */
  readonly counts: TimerCountsReport | null;
  /** null from a child that does not measure (an older one). */
  readonly probe: ChildProbe | null;
}

/** What the init process is asked to load (config file and app), once per start and reload. */
export interface LoadRequest {
  readonly appPath: string;
  /** The config file (absolute), or null. */
  readonly configFile: string | null;
  /** How to name the config in messages (the path as given, or "config"). */
  readonly configName: string;
  /** Values from command-line flags; they override the file's. */
  readonly overrides: Readonly<Record<string, unknown>>;
  readonly cycle: number;
  /**
   * The master's addon file: the init process loads it to watch the master before the config's
   * code runs (the zones it maps later name the same file).
   */
  readonly addon: string;
}

/** What `init` produced. */
export interface InitOutcome {
  /** Connections of the privileged agent when `init` enabled it, else null. */
  readonly privilegedAgent: number | null;
  /** Whether the app has an HTTP handler. */
  readonly servesHttp: boolean;
  /** What `init` returned, for ngx.process.initData() in this cycle's children. */
  readonly initData: unknown;
}

/** What a status request asks for: all of it (`tsresty status`), or what /metrics uses. */
export type StatusScope = "status" | "metrics";

/** Why a child could not do what it was started for. */
export type FailureKind = "config" | "app" | "init" | "start";

export type MasterMessage =
  /** To a blank child: become this child. */
  | { readonly type: "assume"; readonly spec: ChildSpec }
  /** Graceful: drain, premature timers, exitWorker, exit 0. Fast: exitWorker (bounded), exit. */
  | { readonly type: "stop"; readonly mode: "graceful" | "fast" }
  /** `scope` "metrics": only what /metrics uses (no named-timer list, no percentiles). */
  | { readonly type: "status"; readonly seq: number; readonly scope: StatusScope }
  /** USR1 reached the master: open the files this child writes (the access log) again by name. */
  | { readonly type: "reopen" }
  | { readonly type: "pids"; readonly pids: readonly number[] }
  /**
   * Whether this child claims the ticks of its cluster singletons: false while a reload that
   * moves the coordinator (another Redis, another keyPrefix) brings up the next generation, which
   * claims elsewhere (both would win each tick); true again when that reload fails.
   */
  | { readonly type: "cluster-claims"; readonly on: boolean }
  /**
   * Sent with a listening socket as the handle, once per address (`index` of `count`): accept on
   * it. A worker starts accepting when it has all of them.
   */
  | { readonly type: "listen"; readonly index: number; readonly count: number }
  /** To the init process: load the config and report it. */
  | { readonly type: "load"; readonly request: LoadRequest }
  /** To the init process: the master is ready for init (the zones exist); load the app and run it. */
  | { readonly type: "run-init"; readonly zones: readonly ZoneRef[] };

/** What a child sends: a ChildMessage, with a status's timer counters in their wire form. */
export type SentChildMessage =
  | Exclude<ChildMessage, { readonly type: "status" }>
  | {
      readonly type: "status";
      readonly seq: number;
      readonly status: Omit<ChildStatus, "counts"> & { readonly counts: TimerCountsWire | null };
    };

/** A child's message as the master reads it (parseChildMessage). */
export type ChildMessage =
  /** The child runs: initWorker is done and it takes connections. */
  | { readonly type: "ready" }
  | { readonly type: "status"; readonly seq: number; readonly status: ChildStatus }
  /**
   * The child begins an exit of its own (signalGracefulExit, or a QUIT or TERM sent to it from
   * outside the master): not a crash, respawn it at once. `mode` "fast" for a TERM.
   */
  | { readonly type: "exiting"; readonly mode?: "fast" }
  /** The child cannot do its job; it exits after sending this. */
  | { readonly type: "failed"; readonly kind: FailureKind; readonly reason: string }
  /** A blank child has booted and waits for "assume". */
  | { readonly type: "standing-by" }
  /** The child took its "assume" and starts to load what it was given. */
  | { readonly type: "assumed" }
  /** A process group this child spawned (ngx.pipe) began or ended: the master ends it if the child dies. */
  | { readonly type: "pipe-group"; readonly pgid: number; readonly alive: boolean }
  /** From the init process: the config as loaded (file merged with flags), not yet trusted. */
  | { readonly type: "config"; readonly config: unknown }
  /** From the init process: init has run. */
  | { readonly type: "init-done"; readonly outcome: InitOutcome };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}

const isInteger = (value: unknown): value is number => typeof value === "number" && Number.isInteger(value);
const FAILURE_KINDS: readonly string[] = ["config", "app", "init", "start"];

function parseLoadRequest(value: unknown): LoadRequest | null {
  if (!isRecord(value)) return null;
  const { appPath, configFile, configName, overrides, cycle, addon } = value;
  if (typeof appPath !== "string" || typeof configName !== "string" || !isInteger(cycle)) return null;
  if (configFile !== null && typeof configFile !== "string") return null;
  if (!isRecord(overrides) || typeof addon !== "string") return null;
  return { appPath, configFile, configName, overrides, cycle, addon };
}

function parseOutcome(value: unknown): InitOutcome | null {
  if (!isRecord(value)) return null;
  const { privilegedAgent, servesHttp, initData } = value;
  if (privilegedAgent !== null && !isInteger(privilegedAgent)) return null;
  if (typeof servesHttp !== "boolean") return null;
  return { privilegedAgent, servesHttp, initData };
}

export function parseMasterMessage(value: unknown): MasterMessage | null {
  if (!isRecord(value)) return null;
  switch (value["type"]) {
    case "assume":
      try {
        return { type: "assume", spec: checkChildSpec(value["spec"]) };
      } catch {
        return null;
      }
    case "stop":
      return value["mode"] === "graceful" || value["mode"] === "fast"
        ? { type: "stop", mode: value["mode"] }
        : null;
    case "status":
      return isInteger(value["seq"])
        ? { type: "status", seq: value["seq"], scope: value["scope"] === "metrics" ? "metrics" : "status" }
        : null;
    case "reopen":
      return { type: "reopen" };
    case "cluster-claims":
      return typeof value["on"] === "boolean" ? { type: "cluster-claims", on: value["on"] } : null;
    case "pids": {
      const pids = value["pids"];
      return Array.isArray(pids) && pids.every(isInteger) ? { type: "pids", pids } : null;
    }
    case "listen": {
      const { index, count } = value;
      return isInteger(index) && isInteger(count) && index >= 0 && index < count
        ? { type: "listen", index, count }
        : null;
    }

    case "load": {
      const request = parseLoadRequest(value["request"]);
      return request === null ? null : { type: "load", request };
    }
    case "run-init":
      try {
        return { type: "run-init", zones: checkZoneRefs(value["zones"]) };
      } catch {
        return null;
      }
    default:
      return null;
  }
}

export function parseChildMessage(value: unknown): ChildMessage | null {
  if (!isRecord(value)) return null;
  switch (value["type"]) {
    case "ready":
      return { type: "ready" };
    case "status": {
      const status = value["status"];
      if (!isInteger(value["seq"]) || !isRecord(status)) return null;
      const { pending, running, rss, cpu, timers, stats, counts, probe } = status;
      if (!isInteger(pending) || !isInteger(running) || !isInteger(rss) || !Array.isArray(timers))
        return null;
      return {
        type: "status",
        seq: value["seq"],
        status: {
          pending,
          running,
          rss,
          cpu: typeof cpu === "number" ? cpu : 0,
          timers: timers.filter(isNamedTimer).map((t) => ({ ...t, count: countOf(t) })),
          stats: Array.isArray(stats) ? stats.filter(isStatsRow).map(withHistogram) : [],
          counts: parseCounts(counts),
          probe: parseProbe(probe),
        },
      };
    }
    case "exiting":
      return value["mode"] === "fast" ? { type: "exiting", mode: "fast" } : { type: "exiting" };
    case "failed": {
      const { kind, reason } = value;
      if (typeof reason !== "string" || typeof kind !== "string" || !FAILURE_KINDS.includes(kind))
        return null;
      return { type: "failed", kind: kind as FailureKind, reason };
    }
    case "standing-by":
      return { type: "standing-by" };
    case "assumed":
      return { type: "assumed" };
    case "pipe-group":
      return isInteger(value["pgid"]) && typeof value["alive"] === "boolean"
        ? { type: "pipe-group", pgid: value["pgid"], alive: value["alive"] }
        : null;
    case "config":
      return { type: "config", config: value["config"] };
    case "init-done": {
      const outcome = parseOutcome(value["outcome"]);
      return outcome === null ? null : { type: "init-done", outcome };
    }
    default:
      return null;
  }
}

function isStatsRow(value: unknown): value is TimerStatsRow {
  return (
    isRecord(value) &&
    (value["name"] === null || typeof value["name"] === "string") &&
    isInteger(value["runs"]) &&
    isInteger(value["errors"])
  );
}

const isCount = (value: unknown): value is number =>
  typeof value === "number" && Number.isFinite(value) && value >= 0;

/** A row's histogram if it is well formed (bounds and counts agree), else null. */
function withHistogram(row: TimerStatsRow): TimerStatsRow {
  const histogram: unknown = row.histogram;
  const valid =
    isRecord(histogram) &&
    Array.isArray(histogram["bounds"]) &&
    Array.isArray(histogram["counts"]) &&
    histogram["counts"].length === histogram["bounds"].length + 1 &&
    histogram["bounds"].every(isCount) &&
    histogram["counts"].every(isCount) &&
    isCount(histogram["sum"]);
  return valid ? row : { ...row, histogram: null };
}

/**
 * A scrape's counters from their wire form (TimerCountsWire): null unless the bounds, names and
 * figures fit together; a row with a figure that is not a count is left out, as is a histogram
 * with a bucket that is not (its row is kept).
 */
function parseCounts(value: unknown): TimerCountsReport | null {
  if (!isRecord(value)) return null;
  const { bounds, names, figures } = value;
  if (!Array.isArray(bounds) || !bounds.every(isCount) || !Array.isArray(names)) return null;
  const stride = strideOf(bounds);
  if (!(figures instanceof Float64Array) || figures.length !== names.length * stride) return null;
  // One loop with no closure or copy per row: a scrape reads every name of every process.
  const rows: TimerCountsRow[] = [];
  for (let i = 0, at = 0; i < names.length; i++, at += stride) {
    const name: unknown = names[i];
    if (name !== null && typeof name !== "string") continue;
    if (!countsIn(figures, at, at + 5)) continue;
    const sum = figures[at + 5] as number;
    const counts = figures.subarray(at + FIXED_FIGURES, at + stride);
    rows.push({
      name,
      runs: figures[at] as number,
      errors: figures[at + 1] as number,
      skipped: figures[at + 2] as number,
      dropped: figures[at + 3] as number,
      claimErrors: figures[at + 4] as number,
      lateness: isCount(sum) && countsIn(figures, at + FIXED_FIGURES, at + stride) ? { counts, sum } : null,
    });
  }
  return { bounds, rows };
}

/** Whether `figures[from…to)` are all counts (finite, ≥ 0). */
function countsIn(figures: Float64Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (!isCount(figures[i])) return false;
  return true;
}

/** Each key of `value` a non-negative number, as a record of them; else null. */
function countsOf<K extends string>(value: unknown, keys: readonly K[]): Record<K, number> | null {
  if (!isRecord(value)) return null;
  const out = {} as Record<K, number>;
  for (const key of keys) {
    const count = value[key];
    if (!isCount(count)) return null;
    out[key] = count;
  }
  return out;
}

function parseProbe(value: unknown): ChildProbe | null {
  if (!isRecord(value) || !isCount(value["pipes"])) return null;
  return {
    lag: countsOf(value["lag"], ["p50", "p99", "max"]),
    pipes: value["pipes"],
    http: countsOf(value["http"], ["requests", "inFlight"]),
  };
}

function isNamedTimer(value: unknown): value is Omit<NamedTimer, "count"> & { count?: unknown } {
  return (
    isRecord(value) &&
    typeof value["name"] === "string" &&
    typeof value["state"] === "string" &&
    typeof value["repeating"] === "boolean"
  );
}

/** A row's count: 1 from a child that sent one row per timer (an older one). */
function countOf(row: { count?: unknown }): number {
  return typeof row.count === "number" && Number.isInteger(row.count) && row.count > 0 ? row.count : 1;
}

/**
 * Sends `message` to the parent (the master) over the IPC channel; resolves once it is out, at
 * once when the process has no channel. A caller that exits right after must await it: Node
 * drops a message still queued when the process exits.
 * @example
 * await sendToParent({ type: "failed", kind: "start", reason });
 * process.exit(1);
 */
export function sendToParent(message: SentChildMessage): Promise<void> {
  return new Promise((resolve) => {
    if (process.send === undefined) resolve();
    else
      process.send(message, () => {
        resolve();
      });
  });
}
