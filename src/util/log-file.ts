import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  openSync,
  readlinkSync,
  statSync,
  writeSync,
} from "node:fs";
import { dirname, resolve } from "node:path";

/** Where log lines go: stderr, or a file opened for appending that USR1 can reopen (after rotation). */
export interface LogWriter {
  /** The process's stream it writes to (its stderr, its stdout), or null for a file. */
  readonly stream: "stdout" | "stderr" | null;
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
const BACKLOG_BYTES = 1024 * 1024;

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

/**
 * Opens `path` for appending, creating it. A FIFO that no process reads is refused (ENXIO, said
 * as such) instead of blocking the process until one does; a file that is not a regular one (a
 * pipe with a reader, a terminal, /dev/null) is then written as a stream is, blocking.
 */
export function openForAppend(path: string): number {
  const { O_WRONLY, O_APPEND, O_CREAT, O_NONBLOCK } = constants;
  let fd: number;
  try {
    fd = openOwnLinks(path, O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENXIO") throw error;
    if (isSocket(path))
      throw new Error(`${path} is a socket, which a log cannot open by name`, { cause: error });
    throw new Error(`${path} is a FIFO that no process reads (a log must not wait for one)`, {
      cause: error,
    });
  }
  if (fstatSync(fd).isFile()) return fd;
  closeSync(fd);
  return openOwnLinks(path, O_WRONLY | O_APPEND | O_CREAT);
}

/** How many symbolic links openOwnLinks follows from one path (the kernel's own bound is 40). */
const MAX_LINKS = 8;

/**
 * Opens `path` as openSync does, except that a process running as root follows a symbolic link
 * in the path's last step only when root owns the link (and so on for each link it leads to).
 * A log's directory is often the workers' user's to write (an access log they reopen after a
 * rotation): that user could otherwise replace the log with a link to any file and have the
 * master create it, append lines the worker chose to it, or give it to them (nginx's packaged
 * logs had this hole: CVE-2016-1247). `/dev/stdout` and the like are root's links, and followed.
 */
function openOwnLinks(path: string, flags: number, followed = 0): number {
  if (process.geteuid?.() !== 0) return openSync(path, flags, 0o666);
  try {
    return openSync(path, flags | constants.O_NOFOLLOW, 0o666);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ELOOP") throw error;
  }
  const link = lstatSync(path);
  if (!link.isSymbolicLink()) return openSync(path, flags, 0o666);
  if (link.uid !== 0)
    throw new Error(
      `${path} is a symbolic link owned by uid ${link.uid}: running as root, tsresty follows a log's link only when root owns it`,
    );
  if (followed >= MAX_LINKS) throw new Error(`${path}: more than ${MAX_LINKS} symbolic links in a row`);
  const target = resolve(dirname(path), readlinkSync(path));
  // /proc's links (`/dev/stdout` leads to /proc/self/fd/1) name a descriptor, not a path: the
  // kernel follows them.
  if (target.startsWith("/proc/")) return openSync(target, flags, 0o666);
  return openOwnLinks(target, flags, followed + 1);
}

function isSocket(path: string): boolean {
  try {
    return statSync(path).isSocket();
  } catch {
    return false;
  }
}

/**
 * The process's own stdout or stderr when `path` names it (`/dev/stdout`, `/proc/self/fd/2`, the
 * file they were redirected to): such a log is written through that stream. A socket (systemd's
 * journal; a worker's stdout, its pipe to the master) cannot be opened by name at all.
 */
export function ownStream(path: string): "stdout" | "stderr" | null {
  let target;
  try {
    target = statSync(path);
  } catch {
    return null;
  }
  for (const [fd, name] of [
    [1, "stdout"],
    [2, "stderr"],
  ] as const) {
    try {
      const own = fstatSync(fd);
      if (own.dev === target.dev && own.ino === target.ino) return name;
    } catch {
      // not open
    }
  }
  return null;
}

/** Tells stderr, which may be a file on the same full disk: a failure there is not the caller's. */
function say(text: string): void {
  try {
    process.stderr.write(text);
  } catch {
    // nowhere left to say it
  }
}

/** A writer to the process's stdout or stderr (a pipe, a terminal, a socket: written as a stream). */
function streamWriter(name: "stdout" | "stderr"): LogWriter {
  const stream = name === "stderr" ? process.stderr : process.stdout;
  return {
    stream: name,
    write: (line) => {
      stream.write(line);
    },
    reopen: () => undefined,
    congested: congestion(stream),
  };
}

/**
 * A writer to `path`, or to the process's `fallback` stream when there is no path. A write that
 * fails (a full disk, a file system gone read-only) never throws into its caller: the line is
 * dropped and counted, the failure said once on stderr, and the count of lines lost once the file
 * takes lines again. (A throwing write killed a worker at every logged response, and stopped the
 * master from respawning, reloading or stopping.)
 */
export function openLogWriter(
  path: string | null,
  fallback: "stderr" | "stdout" = "stderr",
  what = "log",
): LogWriter {
  if (path === null) return streamWriter(fallback);
  const own = ownStream(path);
  if (own !== null) return streamWriter(own);

  let fd = openForAppend(path);
  let dropped = 0;
  /** A line was cut short on disk (a full disk takes part of a write): the next starts on its own. */
  let torn = false;
  return {
    stream: null,
    write: (line) => {
      const text = torn ? `\n${line}` : line;
      let written = 0;
      try {
        written = writeSync(fd, text);
        // A short write (a disk that took part of the line): the rest, from its bytes. Only
        // then are they made: each access-log line passes here.
        if (written < Buffer.byteLength(text)) {
          const bytes = Buffer.from(text);
          while (written < bytes.length) written += writeSync(fd, bytes, written);
        }
        torn = false;
      } catch (error) {
        if (written > 0) torn = true;
        if (dropped++ === 0)
          say(
            `tsresty: cannot write the ${what} ${path}: ${(error as Error).message}; its lines are dropped until it takes them again\n`,
          );
        return;
      }
      if (dropped > 0) {
        say(`tsresty: the ${what} ${path} takes lines again; ${dropped} were dropped\n`);
        dropped = 0;
      }
    },
    reopen: () => {
      const next = openForAppend(path);
      closeSync(fd);
      fd = next;
    },
    congested: () => null,
  };
}
