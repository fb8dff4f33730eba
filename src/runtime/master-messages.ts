/** What a child does with each message from the master; unknown ones are ignored. */
import {
  encodeCounts,
  namedTimerRows,
  parseMasterMessage,
  type SentChildMessage,
  type StatusScope,
} from "../ipc/index.ts";
import { LATENESS_BOUNDS } from "../timer/index.ts";
import { cpuSeconds } from "../util/cpu.ts";
import type { ChildLifecycle } from "./lifecycle.ts";
import type { ChildProbes } from "./metrics.ts";
import { send } from "./to-master.ts";

export function onMasterMessage(
  child: ChildLifecycle,
  probes: ChildProbes | null,
  raw: unknown,
  handle: object | undefined,
): void {
  const message = parseMasterMessage(raw);
  if (message === null) return;
  switch (message.type) {
    case "listen":
      if (handle === undefined) return;
      child.addListening(message.index, message.count, handle);
      return;
    case "stop":
      void child.stop(message.mode, false);
      return;
    case "pids":
      child.pids = message.pids;
      return;
    case "cluster-claims":
      child.context.gates.claimCluster(message.on);
      return;
    case "reopen":
      child.reopen();
      return;
    case "status":
      send({ type: "status", seq: message.seq, status: statusOf(child, probes, message.scope) });
      return;
    default:
      return;
  }
}

type SentStatus = Extract<SentChildMessage, { readonly type: "status" }>["status"];

/** The answer to "status": the full rows for `status`, the counts and probes for a scrape. */
function statusOf(child: ChildLifecycle, probes: ChildProbes | null, scope: StatusScope): SentStatus {
  const timers = child.context.timers;
  const full = scope === "status";
  return {
    pending: timers.pendingCount,
    running: timers.runningCount,
    rss: process.memoryUsage.rss(),
    cpu: cpuSeconds(),
    timers: full ? namedTimerRows(timers.namedTimers()) : [],
    stats: full ? timers.stats() : [],
    counts: full ? null : encodeCounts(LATENESS_BOUNDS, timers.counts()),
    // Only scrapes read the probes (a read may start a new lag window).
    probe: full ? null : (probes?.read(child.serviceCounts()) ?? null),
  };
}
