/**
 * The life of a child of the master (a worker or the privileged agent), shared by both roles:
 * boot (identity, runtime, app, initWorker), the IPC conversation with the master, and the two
 * ways out.
 *
 * Graceful exit (master's "stop graceful", or `ngx.process.signalGracefulExit()`): the role's
 * servers stop accepting and finish in-flight requests while every pending timer fires
 * premature; once both are done (or `shutdownTimeout` passes) `exitWorker` runs and the process
 * exits 0. Fast exit: pending timers are forgotten, servers are closed at once, `exitWorker`
 * runs (bounded), exit 0. The master's disappearance ends the process at once (its IPC channel
 * closes: "disconnect").
 */
import type { Socket } from "node:net";
import { subscribe } from "node:diagnostics_channel";
import { endGroup, EXIT_CHANNEL, liveGroups, SPAWN_CHANNEL } from "../pipe/index.ts";
import { resolveConfig, START_SHUTDOWN_TIMEOUT, type ResolvedConfig } from "../config/index.ts";
import { parseMasterMessage, type ChildMessage, type ChildSpec } from "../ipc/index.ts";
import { formatThrown, lineLogger, type LogSink } from "../util/log.ts";
import { openLogWriter } from "../util/log-file.ts";
import { loadApp, type App } from "./app.ts";
import { installRuntime, type RuntimeContext } from "./context.ts";
import { installGlobalNgx } from "./global.ts";

export type ChildState = "starting" | "running" | "draining" | "exited";

/** What a role serves (a worker's HTTP; nothing for the agent). */
export interface Service {
  /** Serves a connection the master handed over. */
  accept(socket: Socket): void;
  /** Resolves when in-flight work is done (the master sends no more connections by then). */
  drain(): Promise<void>;
  /** Closes everything now. */
  destroy(): void;
}

export interface ChildRole {
  /** Starts serving once initWorker has run; null when the role serves nothing. */
  serve(app: App, context: RuntimeContext): Promise<Service | null>;
  /** Runs before the app is loaded (a worker drops privileges here). */
  prepare?(config: ResolvedConfig): void;
}

const EXIT_HOOK_BOUND_MS = 5_000;

/** Subprocesses left running are ended with their groups (SIGTERM, a grace, SIGKILL) before exit. */
function endPipeGroups(): Promise<unknown> {
  return Promise.all(liveGroups().map((pgid) => endGroup(pgid)));
}
/** How long a child that decided to exit waits for the master to take it out of rotation. */
const ROTATION_WAIT_MS = 2_000;

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

function send(message: ChildMessage): void {
  process.send?.(message);
}

/** Runs a hook, logging a throw or a rejection instead of failing, within `boundMs`. */
async function runHook(
  name: string,
  hook: (() => unknown) | undefined,
  log: LogSink,
  boundMs: number,
): Promise<void> {
  if (hook === undefined) return;
  let timer: NodeJS.Timeout | undefined;
  try {
    const bounded = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => {
        resolve("timeout");
      }, boundMs);
      timer.unref();
    });
    const outcome = await Promise.race([Promise.resolve().then(hook), bounded]);
    if (outcome === "timeout") log("error", `${name} did not finish within ${boundMs / 1000} s`);
  } catch (error) {
    log("error", `${name} failed: ${formatThrown(error)}`);
  } finally {
    clearTimeout(timer);
  }
}

/** In the agent, `connections` bounds the running timer callbacks (OpenResty: its connection slots). */
function capRunning(config: ResolvedConfig, connections: number | null): ResolvedConfig {
  if (connections === null || connections >= config.timers.maxRunning) return config;
  return Object.freeze({ ...config, timers: Object.freeze({ ...config.timers, maxRunning: connections }) });
}

export async function runChild(spec: ChildSpec, role: ChildRole): Promise<void> {
  const config = capRunning(resolveConfig(spec.config), spec.connections);
  const writer = openLogWriter(config.errorLog);
  const log = lineLogger({
    write: (line) => {
      writer.write(line);
    },
    pid: process.pid,
    workerId: () => spec.workerId,
  });
  const shutdownTimeout = config.shutdownTimeout ?? START_SHUTDOWN_TIMEOUT;
  let state: ChildState = "starting";
  let pids: readonly number[] = [];
  let service: Service | null = null;
  // Connections and messages arrive in order on the IPC channel: once the master's "stop" is
  // here, no connection for this process is still on its way.
  let leaveRotation = (): void => undefined;
  const outOfRotation = new Promise<void>((resolve) => {
    leaveRotation = resolve;
  });
  let app: App | undefined;

  const runtime = {
    identity: Object.freeze({
      type: spec.role,
      workerId: spec.workerId,
      workerCount: spec.workerCount,
      masterPid: spec.masterPid,
    }),
    config,
    log,
    workerPids: () => pids,
    requestGracefulExit: () => {
      // As OpenResty: exiting() turns true once the calling code yields.
      setImmediate(() => void gracefulExit(true));
    },
  };
  const context = installRuntime(runtime);
  installGlobalNgx();
  // The master ends these groups if this process dies without ending them itself (SIGKILL).
  subscribe(SPAWN_CHANNEL, (message) => {
    send({ type: "pipe-group", pgid: (message as { pid: number }).pid, alive: true });
  });
  subscribe(EXIT_CHANNEL, (message) => {
    send({ type: "pipe-group", pgid: (message as { pid: number }).pid, alive: false });
  });

  /** exitWorker runs where no timer can be created (OpenResty: "API disabled in the context of exit_worker_by_lua*"). */
  const runExitWorker = (): Promise<void> => {
    installRuntime({ ...runtime, timersDisabledIn: "the context of exitWorker" }).timers.beginExit();
    return runHook("exitWorker", app?.exitWorker, log, EXIT_HOOK_BOUND_MS);
  };

  /** Tells the master why this child cannot start (once the message is out), then exits 1. */
  const fail = async (reason: string): Promise<void> => {
    log("emerg", reason);
    await new Promise<void>((resolve) => {
      if (process.send === undefined) resolve();
      else {
        process.send({ type: "failed", reason } satisfies ChildMessage, () => {
          resolve();
        });
      }
      setTimeout(resolve, 1_000).unref();
    });
    process.exit(1);
  };

  async function gracefulExit(ownDecision: boolean): Promise<void> {
    if (state !== "running") return;
    state = "draining";
    if (ownDecision) send({ type: "exiting" });
    context.timers.beginExit();
    const rotationClosed = Promise.race([outOfRotation, delay(ROTATION_WAIT_MS)]);
    const drained = Promise.all([rotationClosed.then(() => service?.drain()), context.timers.whenIdle()]);
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => {
        resolve("timeout");
      }, shutdownTimeout * 1000);
    });
    if ((await Promise.race([drained, expired])) === "timeout") {
      log(
        "warn",
        `shutdownTimeout of ${shutdownTimeout} s reached with ${context.timers.runningCount} timers running; exiting`,
      );
      service?.destroy();
    }
    clearTimeout(timer);
    await runExitWorker();
    state = "exited";
    await endPipeGroups();
    process.exit(0);
  }

  async function fastExit(): Promise<void> {
    if (state === "exited") return;
    state = "exited";
    context.timers.destroy();
    service?.destroy();
    await runExitWorker();
    process.exit(0);
  }

  process.on("message", (raw, handle) => {
    const message = parseMasterMessage(raw);
    if (message === null) return;
    switch (message.type) {
      case "connection":
        if (service !== null && handle !== undefined) service.accept(handle as Socket);
        else (handle as Socket | undefined)?.destroy();
        return;
      case "stop":
        leaveRotation();
        void (message.mode === "graceful" ? gracefulExit(false) : fastExit());
        return;
      case "pids":
        pids = message.pids;
        return;
      case "reopen-logs":
        try {
          writer.reopen();
        } catch (error) {
          log("alert", `cannot reopen the error log: ${formatThrown(error)}`);
        }
        return;
      case "status":
        send({
          type: "status",
          seq: message.seq,
          status: {
            pending: context.timers.pendingCount,
            running: context.timers.runningCount,
            rss: process.memoryUsage.rss(),
            timers: context.timers
              .namedTimers()
              .map((t) => ({ name: t.name ?? "", state: t.state, repeating: t.repeating })),
          },
        });
        return;
    }
  });
  // The master stops children with IPC messages; signals sent to a child by hand mean the same.
  process.on("SIGQUIT", () => void gracefulExit(false));
  process.on("SIGTERM", () => void fastExit());
  process.on("SIGINT", () => undefined);
  // The master is gone (even SIGKILLed): nothing supervises this process any more.
  process.on("disconnect", () => {
    process.exit(0);
  });

  role.prepare?.(config);
  try {
    app = await loadApp(spec.appPath);
  } catch (error) {
    return fail(`failed to load app ${spec.appPath}: ${formatThrown(error)}`);
  }
  await runHook("initWorker", app.initWorker, log, 60_000);
  try {
    service = await role.serve(app, context);
  } catch (error) {
    return fail(error instanceof Error ? error.message : String(error));
  }
  state = "running";
  send({ type: "ready" });
}
