/** Process helpers of the benchmarks that run tsresty trees. */
import type { ChildProcess } from "node:child_process";
import { sendControl, type ProcessRow } from "../src/master/index.ts";

/** SIGTERM, then SIGKILL after 10 s; resolves once the process has exited. */
export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The process rows of `tsresty status` for the tree under `prefix`. */
export async function statusOf(prefix: string): Promise<ProcessRow[]> {
  const answer = await sendControl(prefix, { command: "status" });
  if (!answer.ok || answer.status === undefined) throw new Error(answer.message);
  return [...answer.status.processes];
}
