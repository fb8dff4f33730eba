import type { ProcessRow, StatusReport } from "../master/index.ts";

const MB = 1024 * 1024;

function uptime(seconds: number): string {
  if (seconds < 60) return `${Math.floor(seconds)}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${Math.floor(seconds % 60)}s`;
  return `${Math.floor(seconds / 3600)}h${Math.floor((seconds % 3600) / 60)}m`;
}

function cells(row: ProcessRow): string[] {
  const dash = (value: number | null): string => (value === null ? "-" : String(value));
  return [
    row.type,
    dash(row.id),
    dash(row.pid),
    row.state === "backoff" ? `backoff, next try in ${row.nextTryMs ?? 0} ms` : row.state,
    String(row.generation),
    uptime(row.uptime),
    String(row.restarts),
    row.rss === null ? "-" : `${(row.rss / MB).toFixed(1)} MB`,
    dash(row.pending),
    dash(row.running),
    row.timers.map((t) => `${t.name} (${t.state})`).join(", "),
  ];
}

/** `tsresty status` as a table, one process per row, named timers in the last column. */
export function formatStatus(report: StatusReport): string {
  const header = [
    "TYPE",
    "ID",
    "PID",
    "STATE",
    "GEN",
    "UPTIME",
    "RESTARTS",
    "MEMORY",
    "PENDING",
    "RUNNING",
    "NAMED TIMERS",
  ];
  const rows = [header, ...report.processes.map(cells)];
  const widths = header.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}
