import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import {
  isAlive,
  isMasterCommand,
  isTsresty,
  MasterSilent,
  PID_FILE,
  prefixLocked,
  readPid,
  sendControl,
  talkToMaster,
} from "../master/index.ts";
import { escapeControls, escapeControlsInJson } from "../util/log.ts";
import { isStopped, isZombie, readProcStat } from "../util/proc.ts";
import type { ControlCommand, LogsCommand } from "./args.ts";
import { formatStatus } from "./status-table.ts";

/** A failure of a control command: printed, exit 1. */
export class ControlError extends Error {
  override name = "ControlError";
}

const STOP_WAIT_MS = 120_000;
/** How long a master that has exited may wait for its parent to reap it before `stop` says it is unreaped. */
const REAP_GRACE_MS = 1_000;
/**
 * How long a control command waits on a silent master. It answers `status`, `logs` and `stop` at
 * once (a status asks each process for at most 1 s), sends `logs -f` its backlog at once, and says
 * at once and every 2 s that a `reload` goes on: a master silent for this long cannot answer (it
 * is stopped, or its event loop is blocked), and an operator should hear so within seconds.
 * `logs -f` then waits as long as it follows, `reload` as long as the reload takes (the master
 * bounds it: initTimeout, the new workers' ready bound).
 */
const ANSWER_WAIT_MS = 10_000;

/** The master a control command talks to: its prefix, its pid file and the pid in it. */
interface FoundMaster {
  readonly prefix: string;
  readonly pidFile: string;
  readonly pid: number;
}

/**
 * The master's answer, or a ControlError (one `tsresty:` line, exit 1) when it cannot be had:
 * the socket is gone, the master died before answering, or it stayed silent (said as `silent`
 * says, when given).
 */
async function ask<T>(
  master: FoundMaster,
  talk: Promise<T>,
  silent?: (error: MasterSilent) => string,
): Promise<T> {
  try {
    return await talk;
  } catch (error) {
    if (error instanceof ControlError) throw error;
    const unreachable = await noMasterThere(master, error);
    if (unreachable !== null) throw unreachable;
    const message =
      error instanceof MasterSilent && silent !== undefined
        ? silent(error)
        : error instanceof Error
          ? error.message
          : String(error);
    throw new ControlError(message, { cause: error });
  }
}

/**
 * When the control socket was not there to take the request (no file, or nobody listening on it)
 * and no master holds the prefix, why: the master stopped meanwhile (it removes its pid file
 * before it lets go of the socket and the lock), or the pid file is stale, its pid a live tsresty
 * process but another prefix's master, or one that took the pid of the master that wrote the
 * file. Null when a master holds the prefix, or the request failed otherwise.
 */
async function noMasterThere(master: FoundMaster, error: unknown): Promise<ControlError | null> {
  const code = ((error as Error).cause as NodeJS.ErrnoException | undefined)?.code;
  if ((code !== "ENOENT" && code !== "ECONNREFUSED") || (await prefixLocked(master.prefix))) return null;
  if (readPid(master.pidFile) !== master.pid)
    return new ControlError(`no master is running under ${master.prefix} (master ${master.pid} has stopped)`);
  return staleFile(
    master,
    isMasterCommand(master.pid)
      ? "is the master of another prefix"
      : "is another tsresty process, not a master",
  );
}

/** The error for a pid file left by a master that is gone: which pid and file, and what to do. */
function staleFile(master: FoundMaster, what: string): ControlError {
  return new ControlError(
    `no master is running under ${master.prefix} (stale pid file ${master.pidFile}: pid ${master.pid} ${what}); ` +
      `the master that wrote it is gone: tsresty start replaces the file, or remove it`,
  );
}

/**
 * That `pid` has exited but is not reaped (a zombie: its parent has not waited for it), naming the
 * parent, or null. kill(pid, 0) still finds such a process, and its command line reads empty.
 */
function unreaped(pid: number): string | null {
  if (!isZombie(pid)) return null;
  const parent = readProcStat(pid)?.ppid;
  return `has exited, but its parent${parent === undefined ? "" : ` (pid ${parent})`} has not reaped it`;
}

/** The running master under the command's prefix, or a ControlError. */
function findMaster(given: string | null): FoundMaster {
  const prefix = resolve(given ?? ".tsresty");
  const pidFile = join(prefix, PID_FILE);
  const pid = readPid(pidFile);
  if (pid === null) {
    const why = existsSync(pidFile) ? `${pidFile} holds no pid` : "no pid file";
    throw new ControlError(`no master is running under ${prefix} (${why})`);
  }
  const master = { prefix, pidFile, pid };
  if (!isAlive(pid)) throw staleFile(master, "is not running");
  const exited = unreaped(pid);
  if (exited !== null) throw staleFile(master, exited);
  if (!isTsresty(pid)) throw staleFile(master, "is another program");
  return master;
}

/** `tsresty logs`: the last lines, and with -f the new ones until the master stops (or ^C). */
export async function logs(command: LogsCommand): Promise<void> {
  const master = findMaster(command.prefix);
  const { prefix, pid } = master;
  const request = {
    command: "logs",
    follow: command.follow,
    worker: command.worker,
    lines: command.lines,
  } as const;
  // One wait for stdout to drain, shared by the answers that find it full (several come in a chunk).
  let draining: Promise<void> | null = null;
  const drained = (): Promise<void> =>
    (draining ??= new Promise((resolve) => {
      process.stdout.once("drain", () => {
        draining = null;
        resolve();
      });
    }));
  /** Whether the master said that it stops (set by the answers' callback). */
  const end = { said: false };
  await ask(
    master,
    talkToMaster(
      prefix,
      request,
      (answer) => {
        if (!answer.ok) throw new ControlError(answer.message);
        if (answer.ended === true) end.said = true;
        let full = false;
        for (const line of answer.lines ?? []) full = !process.stdout.write(`${escapeControls(line)}\n`);
        // A reader that does not keep up (a pager left open, `| sleep`): the socket waits for it,
        // and a follower that falls too far behind is dropped by the master, not kept in memory here.
        // (A reader that never comes back: the write fails with EPIPE, which ends the CLI.)
        return full ? drained() : undefined;
      },
      { quietMs: ANSWER_WAIT_MS, follow: command.follow },
    ),
    (silent) => unanswered(silent, pid),
  );
  // A master that stops says so; one SIGKILLed (or crashed) closes the connection without a word.
  if (command.follow && !end.said)
    throw new ControlError("the master went away without stopping (killed?): no more lines will come");
}

/**
 * Why master `pid` is silent, read from its state when the command gives up: stopped (SIGSTOP, a
 * debugger, a terminal's job control), which kill -CONT undoes, or running with its event loop
 * blocked. `resumes`: when it takes up a request left in its socket.
 */
function silence(pid: number): { why: string; resumes: string } {
  return isStopped(pid)
    ? {
        why: `master ${pid} is stopped (SIGSTOP, a debugger, or a terminal's job control); kill -CONT ${pid} continues it`,
        resumes: "once continued",
      }
    : {
        why: `master ${pid} is running but its event loop is blocked`,
        resumes: "once its event loop is free",
      };
}

/**
 * A stop or reload the master did not answer is not withdrawn: a unix socket takes the request
 * whether the master runs or not, and the master carries it out (or on) when it runs again. The
 * operator is told so, and why it is silent.
 */
function stillPending(silent: MasterSilent, pid: number, command: "stop" | "reload"): string {
  const { why, resumes } = silence(pid);
  const then =
    command === "stop"
      ? `, or kill -KILL ${pid} ends it and its children now`
      : "; tsresty status and tsresty logs show how it ended";
  return `${silent.message}: ${why}; the ${command} is still pending: master ${pid} carries it out ${resumes}${then}`;
}

/** A status or logs the master did not answer: why it is silent, as stillPending says. */
function unanswered(silent: MasterSilent, pid: number): string {
  return `${silent.message}: ${silence(pid).why}`;
}

/**
 * Waits until master `pid`, which answered a stop with `began`, has exited: null once it is gone,
 * or why it counts as stopped though it is there (a zombie its parent has not reaped). Every
 * master is a zombie for a moment, until its parent (a shell, systemd) reaps it: it is called
 * unreaped only once it has been one for REAP_GRACE_MS. A master stopped (SIGSTOP, a debugger)
 * for ANSWER_WAIT_MS cannot go on with its stop: the command says so rather than wait out
 * STOP_WAIT_MS, as it does for a stopped master that never answered.
 */
async function stopped(pid: number, began: string): Promise<string | null> {
  const deadline = Date.now() + STOP_WAIT_MS;
  let zombieSince: number | null = null;
  let stoppedSince: number | null = null;
  while (isAlive(pid)) {
    const now = Date.now();
    if (isZombie(pid)) {
      zombieSince ??= now;
      if (now - zombieSince >= REAP_GRACE_MS) return unreaped(pid);
    } else if (now > deadline) {
      throw new ControlError(`master ${pid} is still running after ${STOP_WAIT_MS / 1000} s`);
    }
    stoppedSince = isStopped(pid) ? (stoppedSince ?? now) : null;
    if (stoppedSince !== null && now - stoppedSince >= ANSWER_WAIT_MS)
      throw new ControlError(
        `the master began the stop (${began}), but ${silence(pid).why}; it finishes the stop once continued, or kill -KILL ${pid} ends it and its children now`,
      );
    await sleep(50);
  }
  return null;
}

/** `tsresty reload | stop | status`: finds the master through the pid file and asks it. */
export async function control(command: ControlCommand): Promise<void> {
  const master = findMaster(command.prefix);
  const { prefix, pid } = master;
  switch (command.kind) {
    case "reload": {
      const answer = await ask(
        master,
        sendControl(prefix, { command: "reload", progress: true }, ANSWER_WAIT_MS),
        (silent) => stillPending(silent, pid, "reload"),
      );
      if (!answer.ok) throw new ControlError(answer.message);
      process.stdout.write(`${escapeControls(answer.message)}\n`);
      return;
    }
    case "stop": {
      const answer = await ask(
        master,
        sendControl(prefix, { command: "stop", fast: command.fast }, ANSWER_WAIT_MS),
        (silent) => stillPending(silent, pid, "stop"),
      );
      if (!answer.ok) throw new ControlError(answer.message);
      const exited = await stopped(pid, escapeControls(answer.message));
      process.stdout.write(`stopped (master pid ${pid}${exited === null ? "" : `; it ${exited}`})\n`);
      return;
    }
    case "status": {
      const answer = await ask(master, sendControl(prefix, { command: "status" }, ANSWER_WAIT_MS), (silent) =>
        unanswered(silent, pid),
      );
      if (!answer.ok) throw new ControlError(answer.message);
      if (answer.status === undefined)
        throw new ControlError(
          `the master's answer to status held no status (it said ${JSON.stringify(answer.message)})`,
        );
      const text = command.json
        ? escapeControlsInJson(JSON.stringify(answer.status, null, 2))
        : escapeControls(formatStatus(answer.status));
      process.stdout.write(`${text}\n`);
      return;
    }
  }
}
