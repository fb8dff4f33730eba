import type { ProcessRow } from "../ipc/index.ts";
import type { Child, Children } from "./children.ts";
import type { Slot } from "./slots.ts";

const STATUS_TIMEOUT_MS = 1_000;

/** One row per live child, asked over IPC (a child that does not answer in time shows dashes). */
export async function childRows(
  children: Children,
  slots: readonly Slot[],
  standby: { readonly child: Child | null; readonly booted: boolean },
): Promise<ProcessRow[]> {
  const now = Date.now();
  const live = children.live.filter((c) => c.phase !== "exited");
  const rows = await Promise.all(
    live.map(async (child): Promise<ProcessRow> => {
      // A child still booting has no IPC handler yet: it would only make status wait.
      const status = child.phase === "starting" ? null : await children.status(child, STATUS_TIMEOUT_MS);
      const isStandby = child === standby.child;
      return {
        type: child.spec?.role ?? "standby",
        id: child.spec?.workerId ?? null,
        pid: child.pid,
        state: isStandby
          ? standby.booted
            ? "running"
            : "starting"
          : child.phase === "exited"
            ? "draining"
            : child.phase,
        generation: child.spec?.generation ?? 0,
        uptime: (now - child.startedAt) / 1000,
        restarts: slots.find((s) => s.child === child)?.restarts ?? 0,
        rss: status?.rss ?? null,
        pending: status?.pending ?? null,
        running: status?.running ?? null,
        timers: status?.timers ?? [],
      };
    }),
  );
  return rows.sort((a, b) => (a.id ?? Infinity) - (b.id ?? Infinity) || a.generation - b.generation);
}
