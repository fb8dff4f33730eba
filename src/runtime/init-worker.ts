/** The app's initWorker in a child of the master, bounded, and not waited for by a stop. */
import type { LogSink } from "../util/log.ts";
import type { App } from "./app.ts";
import { runHook } from "./hooks.ts";

/**
 * How long initWorker may take before the worker serves without it: well inside the master's
 * 60 s wait for a worker to be ready (READY_TIMEOUT_MS), which would otherwise fail the start.
 */
const INIT_WORKER_BOUND_MS = 30_000;

/**
 * Runs the app's initWorker (bounded). A stop from the master does not wait for it: its bound
 * (30 s) is past the master's budget for a graceful stop (shutdownTimeout + 7 s), so the worker
 * was SIGKILLed, its timers never called premature and exitWorker never run. The stop goes on
 * without it (`retired` resolves), as a bound that fires goes on without the hook.
 */
export async function runInitWorker(app: App, log: LogSink, retired: Promise<void>): Promise<void> {
  const hook = runHook("initWorker", app.initWorker, log, INIT_WORKER_BOUND_MS).then(() => "done");
  if ((await Promise.race([hook, retired.then(() => "retired")])) === "retired")
    log("warn", "initWorker had not finished when the stop came; going on to the stop without it");
}
