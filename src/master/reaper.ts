/**
 * The reaper of the orphans the master adopts. The master makes itself a child subreaper
 * (PR_SET_CHILD_SUBREAPER; as pid 1 of a container, without tini, the kernel makes it every
 * orphan's parent anyway): a process whose parent dies is reparented to the master rather than to
 * init — a pipe child whose worker was SIGKILLed, what a pipe child left running when it exited, a
 * daemon that setsid'd itself. That is what lets the master verify late what a dead worker
 * reported (src/master/pipe-groups.ts): a parent pid equal to the master's proves that the process
 * descends from it. Adopted processes are left to run (a daemon started on purpose outlives its
 * pipe child); the master only ends the pipe groups it verified.
 *
 * So the master must wait for them, or they stay zombies. libuv waits only for the children it
 * spawned, each by its pid; a blanket waitpid(-1) would take their exit statuses from it (the
 * master would never hear that a worker died). So on SIGCHLD, and once in a long while in case a
 * signal was lost, the reaper scans /proc for zombies whose parent is the master and that are
 * not among its known children, and waits for each of those by pid. A worker's exit costs one
 * scan; a tree that leaves no orphans has nothing else to reap.
 *
 * The subreaper stays within the tree: systemd still tracks a service's processes by cgroup, and
 * the init of the host or container still reaps what outlives the master.
 */
import { readFileSync } from "node:fs";
import { debuglog } from "node:util";
import { systemCalls } from "../shdict/index.ts";
import type { LogSink } from "../util/log.ts";
import { processIds } from "../util/proc.ts";

/** The fallback scan: SIGCHLD starts every other one. */
const SCAN_INTERVAL_MS = 30_000;
const debug = debuglog("tsresty:reaper");

/**
 * Makes this process the subreaper of its descendants (it is their reaper anyway as pid 1) and
 * starts reaping; returns the function that stops it, or null when the kernel refused (before
 * Linux 3.4: orphans then go to init, as before, and late pipe-group reports are refused).
 * `known` lists the pids of every child the master spawned and has not yet seen exit: libuv
 * waits for those, and a zombie among them must be left to it.
 */
export function startReaper(known: () => Iterable<number>, log: LogSink): (() => void) | null {
  if (process.pid !== 1) {
    const failed = systemCalls().subreaper();
    if (failed !== 0) {
      log("warn", `cannot become the subreaper of the process tree (errno ${failed}): orphans go to init`);
      return null;
    }
  }
  let scheduled = false;
  const scan = (): void => {
    scheduled = false;
    const mine = new Set(known());
    for (const pid of orphanZombies(process.pid)) {
      if (mine.has(pid)) continue;
      const reaped = systemCalls().reap(pid);
      debug("orphan %d: waitpid -> %d", pid, reaped);
      if (reaped === pid) log("info", `reaped orphan process ${pid}`);
    }
  };
  // Coalesced: a burst of exits is one scan.
  const onChild = (): void => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(scan);
  };
  process.on("SIGCHLD", onChild);
  const timer = setInterval(scan, SCAN_INTERVAL_MS).unref();
  scan();
  return () => {
    process.off("SIGCHLD", onChild);
    clearInterval(timer);
  };
}

/** Pids of the zombies whose parent is `parent`, read from /proc. */
function orphanZombies(parent: number): number[] {
  const zombies: number[] = [];
  let pids: number[];
  try {
    pids = processIds();
  } catch {
    return zombies; // out of descriptors (EMFILE): the next scan tries again
  }
  for (const pid of pids) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    } catch {
      continue; // gone meanwhile
    }
    // After the command name's last ")": state, then ppid (the name may hold spaces and ")").
    const [state, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (state === "Z" && Number(ppid) === parent) zombies.push(pid);
  }
  return zombies;
}
