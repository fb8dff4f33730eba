/**
 * The steps of a cycle (a start or a reload) that need nothing of the master's own state. The
 * master (master.ts) runs a cycle in this order:
 *
 * - start: the init process (the config, the site, `prepareAccount`, the zones, then `init`), the
 *   listening sockets, the `/metrics` server, the staging of every slot, then the ready line
 *   (`readyLine`);
 * - reload: the init process (as at start; the site is the one taken then, `checkKeptSite`), then
 *   `checkReload` against the running cycle, the staging of every slot, then the switch; a failure is answered by
 *   `reloadFailure`.
 */
import type { ResolvedConfig } from "../config/index.ts";
import { StartError } from "../errors.ts";
import type { Account, ControlResponse } from "../ipc/index.ts";
import { errorMessage } from "../util/error-message.ts";
import type { LogSink } from "../util/log.ts";
import { resolveAccount } from "./account.ts";
import { checkLogFile, checkPrefix, prepareLogFile, prepareTimersDirectory } from "./prefix.ts";

/** How a child's message says that the app's files did not load (util/load-error.ts). */
const APP_LOAD_FAILED = "app failed to load: ";
/** How children.ts says a fork failed (EMFILE, EAGAIN). */
const FORK_FAILED = "fork failed: ";
/**
 * Said after a failed reload: the running generation keeps serving, but a process of it that dies
 * is respawned by importing the app's files as they are now, as the reload did (no process keeps a
 * copy of the code it runs, as an nginx worker's lazy `require` reads Lua files from disk).
 */
const RESPAWN_FROM_DISK =
  "until the app's files load again, a running process that dies is respawned from them as they are now, and may fail as this reload did";

/** "1 worker", "2 workers": as the ready line, a reload's answer and systemd's status say it. */
export const workerCount = (n: number): string => (n === 1 ? "1 worker" : `${n} workers`);

/**
 * The account the workers run as (config `user`, when the master runs as root), and the files
 * they write made ready for it.
 */
export function prepareAccount(config: ResolvedConfig, prefix: string, log: LogSink): Account | null {
  const account =
    config.user !== null && process.getuid?.() === 0
      ? resolveAccountOrFail(config.user.user, config.user.group)
      : null;
  // The workers append to the access log: its directory is made and the file checked (and
  // given to the workers' account) here, so that a bad path fails the start or the reload
  // with the path's error.
  if (config.accessLog !== null) prepareLogFile("access log", config.accessLog.path, account);
  if (account !== null) {
    const failed = prepareTimersDirectory(prefix, account);
    if (failed !== null) log("warn", `catchUp cannot keep the last runs across a stop: ${failed}`);
  }
  return account;
}

function resolveAccountOrFail(user: string, group: string | null): Account {
  try {
    return resolveAccount(user, group);
  } catch (error) {
    throw new StartError(`config user: ${errorMessage(error)}`);
  }
}

/**
 * What a reload cannot change of the running cycle (`running`, whose app serves HTTP or not as
 * `serves` says): an app that starts or stops serving HTTP fails it; other addresses and paths
 * are kept, and it says so.
 */
export function checkReload(
  running: ResolvedConfig | undefined,
  next: ResolvedConfig,
  serves: boolean,
  nextServes: boolean,
  log: LogSink,
): void {
  if (nextServes !== serves) {
    throw new StartError(
      nextServes
        ? "the new app serves HTTP but the running one does not: restart to add listeners"
        : "the new app has no HTTP handler but the running one does: restart to remove listeners",
    );
  }
  if (JSON.stringify(next.listen) !== JSON.stringify(running?.listen)) {
    log("warn", "reload keeps the listening addresses; restart to change them");
  }
  if (JSON.stringify(next.metrics) !== JSON.stringify(running?.metrics)) {
    log("warn", "reload keeps the metrics address; restart to change it");
  }
}

/**
 * The prefix and the logs are the master's, taken at the first start (site.ts): a reload that
 * names others keeps them, and says so (the new workers' ngx.config.get() shows the new values).
 * Another prefix and other logs are checked as the start checks them (a path under a file, a
 * directory for a log, one that cannot be written fails the reload): accepted, they failed the
 * next start.
 */
export function checkKeptSite(running: ResolvedConfig, config: ResolvedConfig, log: LogSink): void {
  const kept = [
    ["prefix", running.prefix, config.prefix, ""],
    ["error log", running.errorLog, config.errorLog, "stderr"],
    ["output log", running.log, config.log, "stdout"],
  ] as const;
  const changed = kept.filter(([, was, now]) => was !== now);
  for (const [what, , now] of changed) {
    if (now === null) continue;
    if (what === "prefix") checkPrefix(now);
    else checkLogFile(what, now);
  }
  for (const [what, was, now, none] of changed) {
    log("warn", `reload keeps the ${what} ${was ?? none}: ${now ?? none} takes effect at the next start`);
  }
}

/** How a failed reload is logged and answered; `staged`: it had launched new processes. */
export function reloadFailure(error: unknown, staged: boolean, log: LogSink): ControlResponse {
  const message = errorMessage(error);
  log("error", `reload failed, the running workers keep serving: ${message}`);
  // A process keeps no copy of the code it runs: a respawn imports the app again, so files
  // that failed to load or run (in the init process, or in a new worker) fail it too. A
  // config or init failure does not: a respawn runs its cycle's config, and init runs only
  // at start and reload.
  // Nor does a fork the system refused (out of descriptors or processes).
  const appAtRisk = (staged || message.includes(APP_LOAD_FAILED)) && !message.includes(FORK_FAILED);
  if (!appAtRisk) return { ok: false, message: `reload failed: ${message}` };
  log("warn", RESPAWN_FROM_DISK);
  return { ok: false, message: `reload failed: ${message}\n${RESPAWN_FROM_DISK}` };
}

/** What a start that succeeded says on stdout: its processes, and where it listens. */
export function readyLine(
  config: ResolvedConfig,
  agent: boolean,
  listening: readonly string[] | null,
  metrics: string | null,
): string {
  const where = listening === null ? "no HTTP handler" : `listening on ${listening.join(", ")}`;
  const and = agent ? " and the privileged agent" : "";
  const on = metrics === null ? "" : `, metrics on http://${metrics}/metrics`;
  return `tsresty ready: master pid ${process.pid}, ${workerCount(config.workers)}${and}, ${where}${on}`;
}
