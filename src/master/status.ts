import type { ChildProbe, ProcessRow, StatusScope, TimerCountsReport, TimerOwner } from "../ipc/index.ts";
import { cpuSeconds } from "../util/cpu.ts";
import type { Child, Children } from "./children.ts";
import type { MasterState } from "./machine.ts";
import type { Slot } from "./slots.ts";
import type { ReportedStats } from "./timer-rows.ts";

const STATUS_TIMEOUT_MS = 1_000;

/** One process's timer counters, for a scrape. */
export interface ReportedCounts {
  readonly owner: TimerOwner;
  readonly counts: TimerCountsReport;
}

function rowState(child: Child): ProcessRow["state"] {
  // Told to stop (reload, stop): draining from then on, also when it cannot say so itself (a
  // frozen or busy child keeps its phase until it answers, or is killed at its budget).
  if (child.retired && (child.phase === "starting" || child.phase === "running")) return "draining";
  switch (child.phase) {
    case "booting":
    case "starting":
      return "starting";
    case "standing-by":
      return child.spec === null ? "running" : "starting";
    case "running":
      return "running";
    case "draining":
    case "exited":
      return "draining";
  }
}

/**
 * One row per live child, asked over IPC (`early`: the blank workers a start forked beside its
 * init process, shown as starting workers, not as standbys) (a child that does not answer in time shows dashes; one
 * that exits meanwhile answers at once and is left out), and one row per slot waiting out a
 * respawn backoff; and the timer statistics (status), or the timer counters and the probes
 * (/metrics), each child reported.
 */
export async function statusRows(
  children: Children,
  slots: readonly Slot[],
  scope: StatusScope = "status",
  early: readonly Child[] = [],
): Promise<{
  rows: ProcessRow[];
  stats: ReportedStats[];
  counts: ReportedCounts[];
  probes: Map<number, ChildProbe>;
}> {
  const stats: ReportedStats[] = [];
  const counts: ReportedCounts[] = [];
  const probes = new Map<number, ChildProbe>();
  const now = Date.now();
  const live = children.live.filter((c) => c.kind !== "init");
  const rows = await Promise.all(
    live.map(async (child): Promise<ProcessRow | null> => {
      // A child still booting has no IPC handler yet: it would only make status wait.
      const asked = child.phase === "running" || child.phase === "draining";
      const status = asked ? await children.status(child, STATUS_TIMEOUT_MS, scope) : null;
      if (child.phase === "exited") return null;
      if (status !== null) {
        const owner = {
          type: child.spec?.role ?? "standby",
          id: child.spec?.workerId ?? null,
          pid: child.pid,
        };
        stats.push({ owner, generation: child.spec?.generation ?? 0, stats: status.stats });
        if (status.counts !== null) counts.push({ owner, counts: status.counts });
        if (status.probe !== null) probes.set(child.pid, status.probe);
      }
      const isEarly = early.includes(child);
      return {
        type: child.spec?.role ?? (isEarly ? "worker" : "standby"),
        id: child.spec?.workerId ?? null,
        pid: child.pid,
        state: isEarly ? "starting" : rowState(child),
        nextTryMs: null,
        answered: asked ? status !== null : null,
        generation: child.spec?.generation ?? 0,
        uptime: (now - child.startedAt) / 1000,
        restarts: slots.find((s) => s.child === child)?.restarts ?? 0,
        rss: status?.rss ?? null,
        cpu: status?.cpu ?? null,
        pending: status?.pending ?? null,
        running: status?.running ?? null,
        timers: status?.timers ?? [],
      };
    }),
  );
  for (const slot of slots) {
    if (slot.child !== null || slot.respawnAt === null) continue;
    rows.push({
      type: slot.role,
      id: slot.id,
      pid: null,
      state: "backoff",
      nextTryMs: Math.max(0, slot.respawnAt - now),
      answered: null,
      generation: slot.generation,
      uptime: 0,
      restarts: slot.restarts,
      rss: null,
      cpu: null,
      pending: null,
      running: null,
      timers: [],
    });
  }
  const sorted = rows
    .filter((row): row is ProcessRow => row !== null)
    .sort((a, b) => (a.id ?? Infinity) - (b.id ?? Infinity) || a.generation - b.generation);
  return { rows: sorted, stats, counts, probes };
}

/** The master's own row of `status` and `/metrics`: `generation` is its running cycle's number. */
export function masterRow(
  state: MasterState,
  generation: number,
  startedAt: number,
  now: number,
): ProcessRow {
  return {
    type: "master",
    id: null,
    pid: process.pid,
    state: state === "stopping" ? "draining" : state === "starting" ? "starting" : "running",
    nextTryMs: null,
    answered: null,
    generation,
    uptime: (now - startedAt) / 1000,
    restarts: 0,
    rss: residentBytes(),
    cpu: cpuSeconds(),
    pending: null,
    running: null,
    timers: [],
  };
}

/**
 * The master's resident set size, or null when it cannot be read: Node reads it from
 * /proc/self/stat, which needs a file descriptor, and status must still answer when the master
 * has none left (EMFILE) — that is when an operator needs it.
 */
function residentBytes(): number | null {
  try {
    return process.memoryUsage.rss();
  } catch {
    return null;
  }
}
