import { closeSync, openSync, writeSync } from "node:fs";

/** Where log lines go: stderr, or a file opened for appending that USR1 can reopen (after rotation). */
export interface LogWriter {
  write(line: string): void;
  /** Opens the file again by name (a rotated file keeps its old descriptor until then). */
  reopen(): void;
}

/** A writer to `path`, or to the process's `fallback` stream when there is no path. */
export function openLogWriter(path: string | null, fallback: "stderr" | "stdout" = "stderr"): LogWriter {
  if (path === null) {
    const stream = fallback === "stderr" ? process.stderr : process.stdout;
    return {
      write: (line) => {
        stream.write(line);
      },
      reopen: () => undefined,
    };
  }

  let fd = openSync(path, "a");
  return {
    write: (line) => {
      writeSync(fd, line);
    },
    reopen: () => {
      const next = openSync(path, "a");
      closeSync(fd);
      fd = next;
    },
  };
}
