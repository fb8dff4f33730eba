/**
 * Who a process is, read from `/proc`, and the only doors through which tsresty signals a pid or a
 * process group. A pid is a number that the kernel hands out again once its process is reaped, so
 * a number alone never identifies a process: the identity is (pid, start time). And some numbers
 * must never reach kill(2) at all: 0 is the caller's own group, -1 is every process the caller may
 * signal, 1 is init (the whole container when tsresty or tini is pid 1). The doors refuse them
 * and return false; they never throw, because a refused number is a bug that must not become a
 * kill, nor a crash in an exit path.
 */
import { readdirSync, readFileSync } from "node:fs";

/** The fields of `/proc/<pid>/stat` tsresty needs; `startTime` is in clock ticks since boot. */
export interface ProcStat {
  readonly pid: number;
  readonly ppid: number;
  readonly pgrp: number;
  readonly startTime: number;
}

/** Whether `value` may name a process or a group in kill(2): an integer above 1. */
function isSignallable(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value > 1;
}

/**
 * Parses one `/proc/<pid>/stat` line. The second field is the command name in parentheses, which
 * may itself hold spaces and parentheses (`(a) b)`), so the fixed fields are read after the LAST
 * `)`: state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime cutime
 * cstime priority nice num_threads itrealvalue starttime …
 */
export function parseProcStat(text: string): ProcStat | null {
  const parsed = statFields(text);
  if (parsed === null) return null;
  const { pid, fields } = parsed;
  const ppid = Number(fields[1]);
  const pgrp = Number(fields[2]);
  const startTime = Number(fields[19]);
  if (![pid, ppid, pgrp, startTime].every(Number.isSafeInteger)) return null;
  return { pid, ppid, pgrp, startTime };
}

/** A `/proc/<pid>/stat` line's pid and its fixed fields from the state on (see parseProcStat). */
function statFields(text: string): { pid: number; fields: string[] } | null {
  const close = text.lastIndexOf(")");
  const open = text.indexOf(" (");
  if (close === -1 || open === -1 || open > close) return null;
  const fields = text
    .slice(close + 1)
    .trim()
    .split(" ");
  return { pid: Number(text.slice(0, open)), fields };
}

/** The stat line of `pid`, or null when there is no such process. */
function readStatLine(pid: number): string | null {
  if (!Number.isSafeInteger(pid) || pid < 1) return null;
  try {
    return readFileSync(`/proc/${pid}/stat`, "latin1");
  } catch {
    return null; // ENOENT: gone (ESRCH while reading: gone meanwhile)
  }
}

/**
 * The identity of a live (or zombie) process; null when there is no such process.
 * @example
 * const me = readProcStat(process.pid); // { pid, ppid, pgrp, startTime }
 */
export function readProcStat(pid: number): ProcStat | null {
  const line = readStatLine(pid);
  return line === null ? null : parseProcStat(line);
}

/** The state letter of `pid` (R, S, D, T, t, Z …), or null when there is no such process. */
function processState(pid: number): string | null {
  const line = readStatLine(pid);
  return (line === null ? undefined : statFields(line)?.fields[0]) ?? null;
}

/**
 * Whether a live process is stopped: state T (SIGSTOP, or a job-control stop) or t (held by a
 * debugger). False when there is no such process.
 */
export function isStopped(pid: number): boolean {
  const state = processState(pid);
  return state === "T" || state === "t";
}

/**
 * Whether `pid` is a process that has exited but is not reaped yet: state Z (a zombie, its parent
 * has not waited for it) or X (being reaped). kill(pid, 0) still succeeds on one.
 */
export function isZombie(pid: number): boolean {
  const state = processState(pid);
  return state === "Z" || state === "X";
}

/**
 * The CPU time a live process has used so far, user + system, every thread, in clock ticks
 * (`utime` + `stime`); null when there is no such process.
 */
export function readCpuTicks(pid: number): number | null {
  const line = readStatLine(pid);
  const fields = line === null ? null : statFields(line)?.fields;
  if (fields === undefined || fields === null) return null;
  const ticks = Number(fields[11]) + Number(fields[12]);
  return Number.isSafeInteger(ticks) ? ticks : null;
}

/**
 * The real and saved user ids of a live (or zombie) process, from the `Uid:` line of
 * `/proc/<pid>/status` (real, effective, saved, filesystem): the ids kill(2) matches a sender's
 * against. Null when there is no such process.
 */
export function readProcUids(pid: number): { readonly real: number; readonly saved: number } | null {
  if (!Number.isSafeInteger(pid) || pid < 1) return null;
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, "latin1");
  } catch {
    return null; // gone
  }
  const ids = /^Uid:\s+(\d+)\s+\d+\s+(\d+)/m.exec(text);
  return ids === null ? null : { real: Number(ids[1]), saved: Number(ids[2]) };
}

/** The pid of every process now (the numbered entries of /proc). */
export function processIds(): number[] {
  return readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .map(Number);
}

/**
 * Why this process cannot open `needed` more descriptors now (its soft limit, read from
 * `/proc/self/limits`, against those `/proc/self/fd` lists), as `EMFILE: …`, or null when it can
 * (or cannot tell). Reading the two takes a descriptor itself: when none is free, that is the answer.
 */
export function descriptorShortage(needed: number): string | null {
  let limit: number;
  let open: number;
  try {
    const line = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync("/proc/self/limits", "latin1"))?.[1];
    if (line === undefined || line === "unlimited") return null;
    limit = Number(line);
    // (the listing counts the descriptor that reads it, closed since)
    open = readdirSync("/proc/self/fd").length - 1;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    return code === "EMFILE" || code === "ENFILE" ? `${code}: no descriptor free` : null;
  }
  return limit - open >= needed
    ? null
    : `EMFILE: ${open} of the ${limit} descriptors this process may open are in use`;
}

/** Every process now (a scan of /proc). */
export function allProcesses(): ProcStat[] {
  const all: ProcStat[] = [];
  for (const pid of processIds()) {
    const stat = readProcStat(pid);
    if (stat !== null) all.push(stat);
  }
  return all;
}

/** Every process now in group `pgid` (a scan of /proc: for the rare group that outlived its leader). */
export function groupMembers(pgid: number): ProcStat[] {
  return isSignallable(pgid) ? allProcesses().filter((stat) => stat.pgrp === pgid) : [];
}

/** Whether `stat` still describes the same process: the pid holds the same start time. */
export function sameProcess(stat: ProcStat): boolean {
  return readProcStat(stat.pid)?.startTime === stat.startTime;
}

/**
 * kill(pid, signal), but only for an integer pid above 1; false when refused or when the process
 * is gone (ESRCH) or not ours (EPERM).
 * @example
 * safeKill(child.pid, "SIGTERM");
 */
export function safeKill(pid: number, signal: NodeJS.Signals | number): boolean {
  if (!isSignallable(pid)) return false;
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * kill(-pgid, signal): every process in group `pgid`. Refuses anything but an integer above 1, and
 * the caller's own pid (its own group, if it leads one). False when refused or nobody is left.
 * @example
 * safeKillGroup(leaderPid, "SIGKILL");
 */
export function safeKillGroup(pgid: number, signal: NodeJS.Signals | number): boolean {
  if (!isSignallable(pgid) || pgid === process.pid) return false;
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}
