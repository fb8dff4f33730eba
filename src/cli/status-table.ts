import type { ProcessRow, StatusReport, TimerRow } from "../master/index.ts";
import { escapeForLog } from "../util/log.ts";

const MB = 1024 * 1024;

function uptime(seconds: number): string {
  if (seconds < 60) return `${Math.floor(seconds)}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${Math.floor(seconds % 60)}s`;
  return `${Math.floor(seconds / 3600)}h${Math.floor((seconds % 3600) / 60)}m`;
}

function bytes(n: number): string {
  if (n >= MB) return `${(n / MB).toFixed(1)} MB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${n} B`;
}

const dash = (value: number | null): string => (value === null ? "-" : String(value));

/** The widest a cell of user text (a timer's name, an error message) gets; `--json` has it whole. */
const TEXT_CELL = 60;

/** User text as a table shows it: escaped (one row stays one row) and cut to TEXT_CELL characters. */
function shown(text: string): string {
  const safe = escapeForLog(text);
  return safe.length <= TEXT_CELL ? safe : `${safe.slice(0, TEXT_CELL - 1)}…`;
}

/** Columns padded to their widest cell, two spaces apart. */
function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? "").length)));
  return all
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

/** The STATE cell: a backoff's next try, and a process that did not answer why its figures are dashes. */
function stateText(row: ProcessRow): string {
  if (row.state === "backoff") return `backoff, next try in ${row.nextTryMs ?? 0} ms`;
  if (row.answered === false) return `${row.state}, no answer in 1 s (busy or stopped)`;
  return row.state;
}

function processCells(row: ProcessRow): string[] {
  return [
    row.type,
    dash(row.id),
    dash(row.pid),
    stateText(row),
    String(row.generation),
    uptime(row.uptime),
    String(row.restarts),
    row.rss === null ? "-" : bytes(row.rss),
    row.cpu === null ? "-" : `${row.cpu.toFixed(1)}s`,
    dash(row.pending),
    dash(row.running),
    namedTimers(row.timers),
  ];
}

/** The names a process's row lists; the rest are counted (the TIMER table has each name). */
const NAMED_IN_ROW = 5;

/** A process's named timers in its row: a few of them, then how many more (a job per request). */
function namedTimers(timers: ProcessRow["timers"]): string {
  const listed = timers
    .slice(0, NAMED_IN_ROW)
    .map((t) => `${shown(t.name)} (${t.state}${t.count > 1 ? ` ×${t.count}` : ""})`);
  if (timers.length > NAMED_IN_ROW) listed.push(`+${timers.length - NAMED_IN_ROW} more`);
  return listed.join(", ");
}

/** The listen line: while the master starts, what it will listen on is not known yet. */
function listenText(report: StatusReport): string {
  if (report.listen.length > 0) return report.listen.join(", ");
  const starting = report.processes.some((p) => p.type === "master" && p.state === "starting");
  return starting ? "not known yet (the master is starting)" : "nothing (no HTTP handler)";
}

/** `tsresty status` as text: the processes, the listen addresses, the shared-dictionary zones. */
export function formatStatus(report: StatusReport): string {
  const sections = [
    table(
      [
        "TYPE",
        "ID",
        "PID",
        "STATE",
        "GEN",
        "UPTIME",
        "RESTARTS",
        "MEMORY",
        "CPU",
        "PENDING",
        "RUNNING",
        "NAMED TIMERS",
      ],
      report.processes.map(processCells),
    ),
    `listening on: ${listenText(report)}`,
  ];
  if (report.zones.length > 0) {
    sections.push(
      table(
        ["ZONE", "CAPACITY", "FREE", "ITEMS"],
        report.zones.map((z) => [z.name, bytes(z.capacity), bytes(z.freeSpace), String(z.items)]),
      ),
    );
  }
  const timers = report.timers.filter((t) => t.name !== null || t.runs > 0 || t.errors > 0);
  if (timers.length > 0) {
    const now = Date.now();
    sections.push(
      table(
        [
          "TIMER",
          "KIND",
          "SCHEDULE",
          "RUNS",
          "ERRORS",
          "SKIPPED",
          "LAST RUN",
          "TOOK",
          "LATE p50/p99/max",
          "NEXT",
          "OWNER",
          "LAST ERROR",
        ],
        timers.map((t) => timerCells(t, now)),
      ),
    );
  }
  return sections.join("\n\n");
}

/** "3s ago", "now", "in 12s": a time relative to now, to the second. */

function relative(at: number | null, now: number): string {
  if (at === null) return "-";
  const seconds = Math.round((at - now) / 1000);
  if (seconds === 0) return "now";
  return seconds < 0 ? `${uptime(-seconds)} ago` : `in ${uptime(seconds)}`;
}

function schedule(t: TimerRow): string {
  if (t.cron !== null) return t.tz === null ? t.cron : `${t.cron} ${t.tz}`;
  const interval = t.interval === null ? "-" : `${t.interval / 1000}s`;
  return t.singleton === null ? interval : `${interval} (${t.singleton})`;
}

function timerCells(t: TimerRow, now: number): string[] {
  const ms = (n: number): string => (n < 10 ? n.toFixed(1) : n.toFixed(0));
  return [
    t.name === null ? "(unnamed)" : shown(t.name),
    t.kind ?? "-",
    t.name === null ? "-" : schedule(t),
    String(t.runs),
    String(t.errors),
    // Ticks a failing coordinator skipped are counted apart (`claimErrors`): shown here, or a
    // singleton whose Redis is down would show no run, nothing skipped and no error.
    t.claimErrors === 0 ? String(t.skipped) : `${t.skipped} (+${t.claimErrors} claims failed)`,
    relative(t.lastStart, now),
    t.lastDuration === null ? "-" : `${ms(t.lastDuration)}ms`,
    t.lateness === null ? "-" : `${ms(t.lateness.p50)}/${ms(t.lateness.p99)}/${ms(t.lateness.max)}ms`,
    relative(t.nextDue, now),
    t.owner === null ? "-" : `${t.owner.type} ${t.owner.id ?? "-"} (${t.owner.pid})`,
    t.lastError === null
      ? ""
      : `${relative(t.lastError.at, now)}: ${shown(t.lastError.message.split("\n")[0] ?? "")}`,
  ];
}
