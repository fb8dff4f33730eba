import { closeSync, openSync, writeSync } from "node:fs";

/** Where log lines go: stderr, or a file opened for appending that USR1 can reopen (after rotation). */
export interface LogWriter {
  write(line: string): void;
  /** Opens the file again by name (a rotated file keeps its old descriptor until then). */
  reopen(): void;
}

export function openLogWriter(path: string | null): LogWriter {
  if (path === null) {
    return {
      write: (line) => {
        process.stderr.write(line);
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
