/**
 * The master's place on disk. The prefix (checked and locked, see prefix.ts), the pid file and
 * the control socket are taken as the master starts, before the config is read (as nginx writes
 * its pid file before the rest of its work): `tsresty stop`, `status` and `reload` reach a master
 * whose config is still loading. The error log and the output log are the first config's.
 * Releasing the site (at stop, or when the master leaves the prefix for the one its config
 * names) removes the pid file, then closes the control socket (its file goes) and the lock: a
 * control command that finds neither socket nor lock and no longer its pid file knows the master
 * stopped, not that the pid file is stale.
 */
import { existsSync, realpathSync, rmdirSync } from "node:fs";
import type { Server } from "node:net";
import { join, resolve } from "node:path";
import { PathError } from "../errors.ts";
import type { ResolvedConfig } from "../config/index.ts";
import { CONTROL_SOCKET, PID_FILE, type ControlResponse } from "../ipc/index.ts";
import { openLogWriter, type LogWriter } from "../util/log-file.ts";
import { serveControl, type ControlHandler, type ControlServer } from "./control.ts";
import type { LogSink } from "../util/log.ts";
import { readPid, removePid, writePid } from "./pidfile.ts";

import { lockPrefix, prepareLogFile, preparePrefix, reasonOf } from "./prefix.ts";

export interface Site {
  /** The prefix, absolute. */
  readonly prefix: string;
  /** Removes the pid file, closes the control socket (followers told `farewell`) and the lock. */
  release(farewell?: ControlResponse): void;
  /**
   * Leaves the prefix for another: removes the pid file, stops taking control connections (those
   * open are served until `release()`: a `logs -f` follows on, a queued reload gets its answer),
   * lets go of the lock, and removes the prefix directory when the site made it and it is empty.
   */
  leave(): void;
}

/** The logs a config names: its error log (stderr when none) and its output log (stdout when none). */
export interface SiteLogs {
  readonly errorLog: LogWriter;
  readonly outputLog: LogWriter;
}

/** Takes the prefix `given`: checks (and creates) it, locks it, writes the pid file, serves the control socket. */
export async function takeSite(given: string, onControl: ControlHandler, log: LogSink): Promise<Site> {
  const made = !existsSync(resolve(given));
  const prefix = preparePrefix(given);
  const lock: Server = await lockPrefix(prefix);
  const pidFile = join(prefix, PID_FILE);
  // With the lock held, a pid file already there was left by a master that is gone.
  const stale = readPid(pidFile);
  if (stale !== null) log("notice", `removing stale pid file ${pidFile} (pid ${stale})`);
  const socketPath = join(prefix, CONTROL_SOCKET);
  // Something in the way (a directory named tsresty.pid or tsresty.sock): the start fails naming
  // it, as for any unusable prefix (it was taken for a bug of the master's).
  const unusable = (what: string, error: unknown): PathError =>
    new PathError("prefix", prefix, `${what} cannot be made: ${reasonOf(error)}`);
  let control: ControlServer;
  try {
    control = await serveControl(socketPath, onControl);
  } catch (error) {
    lock.close();
    throw unusable(socketPath, error);
  }
  const release = (farewell?: ControlResponse): void => {
    removePid(pidFile);
    control.close(farewell);
    lock.close();
  };
  // The socket serves first: a pid file found names a master that can be asked.
  try {
    writePid(pidFile);
  } catch (error) {
    release();
    throw unusable(pidFile, error);
  }
  process.on("exit", () => {
    removePid(pidFile);
  });
  return {
    prefix,
    release,
    leave: () => {
      removePid(pidFile);
      control.stopListening();
      lock.close();
      if (!made) return;
      try {
        rmdirSync(prefix);
      } catch {
        // something else was put there: it stays
      }
    },
  };
}

/** Whether `site` is the prefix `given` (the same directory, however spelled). */
export function isSitePrefix(site: Site, given: string): boolean {
  try {
    return realpathSync(resolve(given)) === realpathSync(site.prefix);
  } catch {
    return false;
  }
}

/** `site`, its prefix spelled as `given` names it (the same directory: see isSitePrefix). */
export function spelledAs(site: Site, given: string): Site {
  return { ...site, prefix: resolve(given) };
}

/** Opens the logs the first config names (each checked: a bad one fails the start naming it). */
export function openSiteLogs(config: ResolvedConfig): SiteLogs {
  return {
    errorLog: openLogWriter(
      config.errorLog === null ? null : prepareLogFile("error log", config.errorLog),
      "stderr",
      "error log",
    ),
    outputLog: openLogWriter(
      config.log === null ? null : prepareLogFile("output log", config.log),
      "stdout",
      "output log",
    ),
  };
}
