import { closeSync, openSync, writeSync } from "node:fs";

/** Where log lines go: stderr, or a file opened for appending that USR1 can reopen (after rotation). */
export interface LogWriter {
  write(line: string): void;
  /** Opens the file again by name (a rotated file keeps its old descriptor until then). */
  reopen(): void;
  /**
   * While more than BACKLOG_BYTES wait to be written: a promise settled once they are out (or
   * the stream is gone), so that a writer of many lines can stop reading meanwhile. Null for a
   * file, which is written synchronously.
   */
  congested(): Promise<void> | null;
}

/**
 * What a stream writer (stderr, stdout: a pipe, a terminal) may hold unwritten. Node queues a
 * pipe's writes without bound: beyond this, a reader that stalls (a pager, a log shipper) must
 * hold up the lines' sources instead of the writer's memory.
 */
export const BACKLOG_BYTES = 1024 * 1024;

/** One promise per congestion of `stream`, however many sources wait on it. */
function congestion(stream: NodeJS.WriteStream): () => Promise<void> | null {
  let drained: Promise<void> | null = null;
  return () => {
    // A stream gone (its reader left: EPIPE) never drains: nothing waits on it.
    if (drained !== null || stream.destroyed || stream.writableLength <= BACKLOG_BYTES) return drained;
    drained = new Promise<void>((resolve) => {
      const done = (): void => {
        for (const event of ["drain", "close", "error"]) stream.off(event, done);
        drained = null;
        resolve();
      };
      for (const event of ["drain", "close", "error"]) stream.on(event, done);
    });
    return drained;
  };
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
      congested: congestion(stream),
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
    congested: () => null,
  };
}
