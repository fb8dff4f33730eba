/**
 * `tsresty status`'s timers: each process reports its own statistics per timer name (the timer
 * core's); the master merges them by name. Counts are summed (a singleton's runs are spread over
 * the processes that won its ticks); the latest run and its process make the owner; the latest
 * error is kept; the next tick is the earliest any process has armed; lateness is the worst seen.
 * The schedule (kind, interval, cron, singleton) is the newest generation's: during a reload that
 * changed it, the draining processes still report the old one.
 */
import type { TimerOwner, TimerRow, TimerStatsRow } from "../ipc/index.ts";

export interface ReportedStats {
  readonly owner: TimerOwner;
  /** The reporting process's generation (reloads so far when it started). */
  readonly generation: number;
  readonly stats: readonly TimerStatsRow[];
}

const later = <T extends { at: number } | null>(a: T, b: T): T =>
  a === null ? b : b === null || a.at >= b.at ? a : b;
const min = (a: number | null, b: number | null): number | null =>
  a === null ? b : b === null ? a : Math.min(a, b);
const max = (a: number | null, b: number | null): number | null =>
  a === null ? b : b === null ? a : Math.max(a, b);
const sum = (a: number | null, b: number | null): number | null =>
  a === null && b === null ? null : (a ?? 0) + (b ?? 0);

function merge(into: TimerRow, row: TimerStatsRow, owner: TimerOwner): TimerRow {
  const newer = row.lastStart !== null && (into.lastStart === null || row.lastStart > into.lastStart);
  const lateness =
    into.lateness === null
      ? row.lateness
      : row.lateness === null
        ? into.lateness
        : {
            p50: Math.max(into.lateness.p50, row.lateness.p50),
            p99: Math.max(into.lateness.p99, row.lateness.p99),
            max: Math.max(into.lateness.max, row.lateness.max),
            count: into.lateness.count + row.lateness.count,
          };
  return {
    ...into,
    live: sum(into.live, row.live),
    runs: into.runs + row.runs,
    errors: into.errors + row.errors,
    skipped: into.skipped + row.skipped,
    dropped: into.dropped + row.dropped,
    claimErrors: into.claimErrors + row.claimErrors,
    lastError: later(into.lastError, row.lastError),
    lastStart: max(into.lastStart, row.lastStart),
    lastDuration: newer ? row.lastDuration : into.lastDuration,
    owner: newer ? owner : into.owner,
    lateness,
    nextDue: min(into.nextDue, row.nextDue),
    processes: into.processes + 1,
  };
}

/** One row per timer name (named ones by name, then the unnamed aggregate). */
export function timerRows(reports: readonly ReportedStats[]): TimerRow[] {
  const rows = new Map<string | null, TimerRow>();
  // Newest generation first: a name's first report gives its row's schedule.
  const newestFirst = [...reports].sort((a, b) => b.generation - a.generation);
  for (const { owner, stats } of newestFirst) {
    for (const row of stats) {
      const seed: TimerRow = {
        ...row,
        runs: 0,
        errors: 0,
        skipped: 0,
        dropped: 0,
        claimErrors: 0,
        live: null,
        lastError: null,
        lastStart: null,
        lastDuration: null,
        lateness: null,
        nextDue: null,
        // Per-process buckets are for /metrics; status shows the percentiles.
        histogram: null,
        owner: null,
        processes: 0,
      };
      rows.set(row.name, merge(rows.get(row.name) ?? seed, row, owner));
    }
  }
  return [...rows.values()].sort((a, b) =>
    a.name === null ? 1 : b.name === null ? -1 : a.name.localeCompare(b.name),
  );
}
