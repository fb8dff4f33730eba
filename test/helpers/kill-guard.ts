import { after, mock } from "node:test";
import { groupMembers, readProcStat, type ProcStat } from "../../src/util/proc.ts";

export interface KillCall {
  readonly pid: number;
  readonly signal: NodeJS.Signals | number | undefined;
  /** Whether the call reached the real kill(2). */
  readonly passed: boolean;
}

/**
 * Replaces process.kill for the rest of the test file: every call is recorded, and only a call
 * aimed at processes that started after this test file did reaches kill(2) (for a group: every
 * member did). Init (1), every process (-1), the caller's group (0), kernel threads, the test
 * runner and its family never get a signal: the call fails as EPERM instead. So a test that hands
 * hostile numbers to code that signals stays harmless even against a buggy version of that code
 * (which is how a regression test is checked to fail before its fix).
 */
export function guardKill(): { readonly calls: KillCall[] } {
  const self = readProcStat(process.pid);
  if (self === null) throw new Error("guardKill: cannot read /proc/self/stat");
  const since = self.startTime;
  const youngerThanMe = (stat: ProcStat): boolean => stat.startTime >= since && stat.pid !== process.pid;
  const allowed = (pid: number): boolean => {
    if (!Number.isSafeInteger(pid) || Math.abs(pid) <= 1 || Math.abs(pid) === process.pid) return false;
    if (pid < 0) return groupMembers(-pid).every(youngerThanMe);
    const target = readProcStat(pid);
    return target === null || youngerThanMe(target);
  };
  const real = process.kill.bind(process);
  const calls: KillCall[] = [];
  mock.method(process, "kill", (pid: number, signal?: NodeJS.Signals | number): true => {
    const passed = allowed(pid);
    calls.push({ pid, signal, passed });
    if (!passed) throw Object.assign(new Error(`kill(${pid}) refused by the test guard`), { code: "EPERM" });
    return real(pid, signal);
  });
  after(() => {
    mock.restoreAll();
  });
  return { calls };
}
