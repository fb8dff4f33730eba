/**
 * CPU time of a process tree, for the benchmarks that set a server's cost beside its throughput.
 *
 * On this project's 2-core machines wrk and the servers share the cores, and the VM's own state
 * moves req/s by more than the servers differ (bench:http's turns spread by ±15%). The CPU time
 * a server's processes spend per request is what the server itself decides: it does not depend
 * on how much of the machine wrk or a neighbour takes at that moment. Linux only (`/proc`).
 */
import { execFileSync } from "node:child_process";
import { allProcesses, readCpuTicks } from "../src/util/proc.ts";

/** Clock ticks per second of /proc's times (USER_HZ). */
export const TICKS_PER_SECOND = ((): number => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

/** `pid` and every process descended from it now. */
function tree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const { pid: child, ppid } of allProcesses())
    children.set(ppid, [...(children.get(ppid) ?? []), child]);
  const members = [pid];
  for (let i = 0; i < members.length; i++) members.push(...(children.get(members[i] ?? 0) ?? []));
  return members;
}

/**
 * CPU milliseconds used so far by `pid` and all its descendants alive now; null where `/proc` has
 * no such figures (not Linux). A process that exits between two readings takes its time with it:
 * read around a run in which the tree's processes stay up.
 */
export function treeCpuMs(pid: number): number | null {
  if (process.platform !== "linux") return null;
  let ticks = 0;
  for (const member of tree(pid)) ticks += readCpuTicks(member) ?? 0;
  return (ticks * 1000) / TICKS_PER_SECOND;
}
