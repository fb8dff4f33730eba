/**
 * The master's place on disk, taken once at first start from the first config: the prefix
 * (checked and locked, see prefix.ts), the error log, the pid file and the control socket.
 * Releasing it (at stop) closes the control socket (its file goes) and the lock; the pid file
 * goes when the process exits.
 */
import type { Server } from "node:net";
import { join } from "node:path";
import { PathError } from "../errors.ts";
import type { ResolvedConfig } from "../config/index.ts";
import { CONTROL_SOCKET, PID_FILE } from "../ipc/index.ts";
import { openLogWriter, type LogWriter } from "../util/log-file.ts";
import { serveControl, type ControlHandler, type ControlServer } from "./control.ts";
import type { LogSink } from "../util/log.ts";
import { readPid, removePid, writePid } from "./pidfile.ts";

import { lockPrefix, prepareLogFile, preparePrefix, reasonOf } from "./prefix.ts";

export interface Site {
  /** The prefix, absolute. */
  readonly prefix: string;
  /** The error log (stderr when the config names none). */
  readonly errorLog: LogWriter;
  /** The output log (stdout when the config names none). */
  readonly outputLog: LogWriter;
  release(): void;
}

export async function takeSite(
  config: ResolvedConfig,
  onControl: ControlHandler,
  log: LogSink,
): Promise<Site> {
  const prefix = preparePrefix(config.prefix);
  const lock: Server = await lockPrefix(prefix);
  const errorLog = openLogWriter(
    config.errorLog === null ? null : prepareLogFile("error log", config.errorLog),
    "stderr",
    "error log",
  );
  const outputLog = openLogWriter(
    config.log === null ? null : prepareLogFile("output log", config.log),
    "stdout",
    "output log",
  );
  const pidFile = join(prefix, PID_FILE);
  // With the lock held, a pid file already there was left by a master that is gone.
  const stale = readPid(pidFile);
  if (stale !== null) log("notice", `removing stale pid file ${pidFile} (pid ${stale})`);
  const socketPath = join(prefix, CONTROL_SOCKET);
  let control: ControlServer;
  try {
    writePid(pidFile);
    process.on("exit", () => {
      removePid(pidFile);
    });
    control = await serveControl(socketPath, onControl);
  } catch (error) {
    // Something in the way (a directory named tsresty.pid or tsresty.sock): the start fails
    // naming it, as for any unusable prefix (it was taken for a bug of the master's).
    lock.close();
    const what = (error as NodeJS.ErrnoException).syscall === "listen" ? socketPath : pidFile;
    throw new PathError("prefix", prefix, `${what} cannot be made: ${reasonOf(error)}`);
  }
  return {
    prefix,
    errorLog,
    outputLog,

    release: () => {
      control.close();
      lock.close();
    },
  };
}
