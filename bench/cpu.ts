/**
 * CPU time of a process tree, for the benchmarks that set a server's cost beside its throughput.
 *
 * On this project's 2-core machines wrk and the servers share the cores, and the VM's own state
 * moves req/s by more than the servers differ (bench:http's turns spread by ±15%). The CPU time
 * a server's processes spend per request is what the server itself decides: it does not depend
 * on how much of the machine wrk or a neighbour takes at that moment. Linux only (`/proc`).
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

/** Clock ticks per second of /proc's times (USER_HZ). */
const TICKS_PER_SECOND = ((): number => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime + stime of `pid`, every thread included (ticks); 0 once it is gone. */
function ticksOf(pid: number): number {
  try {
    // The command name may hold spaces and parentheses: the fields start after the last ") ".
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(") ") + 2).split(" ");
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0;
  }
}

/** The children of `pid`, whichever of its threads forked them. */
function childrenOf(pid: number): number[] {
  const children: number[] = [];
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      const listed = readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").trim();
      if (listed !== "") for (const child of listed.split(" ")) children.push(Number(child));
    }
  } catch {
    // Gone meanwhile: no children to count.
  }
  return children;
}

/**
 * CPU milliseconds used so far by `pid` and all its descendants alive now; null where `/proc` has
 * no such figures (not Linux). A process that exits between two readings takes its time with it:
 * read around a run in which the tree's processes stay up.
 */
export function treeCpuMs(pid: number): number | null {
  if (process.platform !== "linux") return null;
  let ticks = 0;
  const pending = [pid];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    ticks += ticksOf(next);
    pending.push(...childrenOf(next));
  }
  return (ticks * 1000) / TICKS_PER_SECOND;
}
