import { readFileSync, unlinkSync, writeFileSync } from "node:fs";

/** Whether a process with this pid exists (EPERM means it exists under another user). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The words of `pid`'s command line, or null when it cannot be read. */
function commandLine(pid: number): string[] | null {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
  } catch {
    return null;
  }
}

/**
 * Whether `pid`, a live process (the caller has seen it with isAlive), runs tsresty rather than
 * an unrelated program that reused a stale pid; true when its command line cannot be read.
 */
export function isTsresty(pid: number): boolean {
  return commandLine(pid)?.some((word) => word.includes("tsresty")) ?? true;
}

/** Whether `pid` runs `tsresty start`, a master (from its command line; false when it cannot be read). */
export function isMasterCommand(pid: number): boolean {
  return commandLine(pid)?.includes("start") ?? false;
}

export function readPid(path: string): number | null {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return null;
  }
  // Digits only, as the master writes it: Number() also read "0x36ff", "1e3" and "4314.0" as pids.
  const digits = text.trim();
  if (!/^\d{1,10}$/.test(digits)) return null;
  const pid = Number(digits);
  return pid > 0 && pid <= 2 ** 31 - 1 ? pid : null;
}

/**
 * Writes the master's pid into a new file: whatever was at `path` (a stale file, or a symlink
 * planted to make a root master overwrite its target) is removed first, and the file is created
 * exclusively, which never follows a symlink. The prefix's lock keeps other masters away.
 */
export function writePid(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // none there
  }
  writeFileSync(path, `${process.pid}\n`, { mode: 0o644, flag: "wx" });
}

export function removePid(path: string): void {
  try {
    if (readPid(path) === process.pid) unlinkSync(path);
  } catch {
    // already gone
  }
}
