/**
 * Every line of the tree goes through here: the master's own log lines, and what its children
 * print, read line by line from their stdout and stderr. Output lines (stdout) are attributed
 * (`time pid#id: text`) and go to the output log (config `log`, default the master's stdout);
 * stderr lines that are already log lines pass as they are, other stderr lines are attributed at
 * [warn]; both go to the error log. The last lines are kept in a ring for `tsresty logs`, which may
 * also follow new ones as they come.
 */
import { attributeLine, logLinePid } from "../util/log.ts";
import type { LogWriter } from "../util/log-file.ts";

export interface LogEntry {
  readonly stream: "error" | "output";
  readonly pid: number;
  readonly workerId: number | null;
  /** The line as written, without its newline. */
  readonly text: string;
}

export interface LogFilter {
  /** Only lines of this worker id (the master's own lines have none). */
  readonly worker: number | null;
}

const RING = 1_000;

export class Logs {
  #error: LogWriter;
  #output: LogWriter;
  readonly #ring: LogEntry[] = [];
  readonly #followers = new Set<(entry: LogEntry) => void>();
  /** Children whose last stderr line was a log line: their indented lines that follow continue it. */
  readonly #inLogLine = new Set<number>();

  constructor(error: LogWriter, output: LogWriter) {
    this.#error = error;
    this.#output = output;
  }

  /** Switches to the files the config names (at first start). */
  use(error: LogWriter, output: LogWriter): void {
    this.#error = error;
    this.#output = output;
  }

  /**
   * While the error or the output log holds too much unwritten (its reader stalls): a promise
   * settled once it drains. Children's pipes are not read meanwhile (output.ts), so a stalled
   * reader holds the children's writes rather than the master's memory.
   */
  congested(): Promise<void> | null {
    return this.#error.congested() ?? this.#output.congested();
  }

  /** A log line of the master itself (already formatted, newline included). */
  own(line: string): void {
    this.#emit({ stream: "error", pid: process.pid, workerId: null, text: line.replace(/\n$/, "") });
  }

  /**
   * A log line of the master itself for the error log alone, and only when that is not the
   * master's stderr: why its start failed, which `tsresty start` says on stderr and `logs -f`
   * followers are told as the master stops (the error log must hold it too, as nginx's holds
   * its `[emerg]` line).
   */
  ownToErrorLog(line: string): void {
    if (this.#error.stream !== "stderr") this.#error.write(line);
  }

  /**
   * A line a child printed. Every line written starts with a time the master vouches for, or
   * with whitespace (a continuation): a child's own log line is kept as it is only when it
   * carries the child's own pid; the rest of an over-long line (`continued`) and the lines of a
   * log line's stack are indented under it; anything else is attributed.
   */
  fromChild(
    pid: number,
    workerId: number | null,
    stream: "stdout" | "stderr",
    line: string,
    continued = false,
  ): void {
    if (continued) {
      this.#emit({ stream: stream === "stdout" ? "output" : "error", pid, workerId, text: `\t${line}` });
      return;
    }
    if (stream === "stdout") {
      this.#emit({ stream: "output", pid, workerId, text: attributeLine(pid, workerId, line) });
      return;
    }
    // A log line's stack (indented lines after it) stays as it is, under its line.
    const continues = this.#inLogLine.has(pid) && /^\s/.test(line);
    const own = continues || logLinePid(line) === pid;
    if (own) this.#inLogLine.add(pid);
    else this.#inLogLine.delete(pid);
    this.#emit({
      stream: "error",
      pid,
      workerId,
      text: own ? line : attributeLine(pid, workerId, line, "warn"),
    });
  }

  /** A child is gone: forget what was said about its lines. */
  forget(pid: number): void {
    this.#inLogLine.delete(pid);
  }

  recent(filter: LogFilter, count: number): LogEntry[] {
    if (count <= 0) return [];
    return this.#ring.filter((entry) => matches(entry, filter)).slice(-count);
  }

  /** Calls `fn` with every new line that matches; returns the unsubscribe. */
  follow(filter: LogFilter, fn: (entry: LogEntry) => void): () => void {
    const follower = (entry: LogEntry): void => {
      if (matches(entry, filter)) fn(entry);
    };
    this.#followers.add(follower);
    return () => this.#followers.delete(follower);
  }

  /**
   * Opens the log files again by name (USR1, after a rotation); each that cannot be reopened
   * (and keeps its old file) is named in the failures returned.
   */
  reopen(): string[] {
    const failures: string[] = [];
    for (const [what, writer] of [
      ["error log", this.#error],
      ["output log", this.#output],
    ] as const) {
      try {
        writer.reopen();
      } catch (error) {
        failures.push(`cannot reopen the ${what}: ${(error as Error).message}`);
      }
    }
    return failures;
  }

  #emit(entry: LogEntry): void {
    (entry.stream === "error" ? this.#error : this.#output).write(`${entry.text}\n`);
    this.#ring.push(entry);
    if (this.#ring.length > RING) this.#ring.splice(0, this.#ring.length - RING);
    for (const follower of this.#followers) follower(entry);
  }
}

function matches(entry: LogEntry, filter: LogFilter): boolean {
  return filter.worker === null || entry.workerId === filter.worker;
}
