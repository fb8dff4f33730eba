/**
 * The reaper of orphans, for a master that runs as pid 1 (a container without tini). The
 * kernel makes pid 1 the parent of every orphan in its pid namespace: a process that a pipe
 * child started in the background and left behind is reparented to the master, and when it
 * exits it stays a zombie until the master waits for it. libuv waits only for the children it
 * spawned, each by its pid; a blanket waitpid(-1) would take their exit statuses from it (the
 * master would never hear that a worker died). So on SIGCHLD, and every few seconds in case a
 * signal was merged with another, the reaper scans /proc for zombies whose parent is the
 * master and that are not among its known children, and waits for each of those by pid.
 *
 * Not pid 1, the master does not make itself a subreaper (PR_SET_CHILD_SUBREAPER): the init of
 * the host or container (systemd, tini, docker's --init) already reaps orphans, and systemd
 * tracks a service's processes by cgroup, not by parenthood.
 */
import { readdirSync, readFileSync } from "node:fs";
import { debuglog } from "node:util";
import { systemCalls } from "../shdict/index.ts";
import type { LogSink } from "../util/log.ts";

const SCAN_INTERVAL_MS = 5_000;
const debug = debuglog("tsresty:reaper");

/**
 * Starts reaping when this process is pid 1; returns the function that stops it, or null.
 * `known` lists the pids of every child the master spawned and has not yet seen exit: libuv
 * waits for those, and a zombie among them must be left to it.
 */
export function startReaper(known: () => Iterable<number>, log: LogSink): (() => void) | null {
  if (process.pid !== 1) return null;
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
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, "latin1");
    } catch {
      continue; // gone meanwhile
    }
    // After the command name's last ")": state, then ppid (the name may hold spaces and ")").
    const [state, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (state === "Z" && Number(ppid) === parent) zombies.push(Number(name));
  }
  return zombies;
}
