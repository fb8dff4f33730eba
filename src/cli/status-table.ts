import type { ProcessRow, StatusReport } from "../master/index.ts";

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

function processCells(row: ProcessRow): string[] {
  return [
    row.type,
    dash(row.id),
    dash(row.pid),
    row.state === "backoff" ? `backoff, next try in ${row.nextTryMs ?? 0} ms` : row.state,
    String(row.generation),
    uptime(row.uptime),
    String(row.restarts),
    row.rss === null ? "-" : bytes(row.rss),
    dash(row.pending),
    dash(row.running),
    row.timers.map((t) => `${t.name} (${t.state})`).join(", "),
  ];
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
        "PENDING",
        "RUNNING",
        "NAMED TIMERS",
      ],
      report.processes.map(processCells),
    ),
    `listening on: ${report.listen.length === 0 ? "nothing (no HTTP handler)" : report.listen.join(", ")}`,
  ];
  if (report.zones.length > 0) {
    sections.push(
      table(
        ["ZONE", "CAPACITY", "FREE", "ITEMS"],
        report.zones.map((z) => [z.name, bytes(z.capacity), bytes(z.freeSpace), String(z.items)]),
      ),
    );
  }
  return sections.join("\n\n");
}
