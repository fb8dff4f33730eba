/** The steps at the end of a child's exit, each bounded. */
import { endLiveGroups } from "../pipe/index.ts";
import { exitWhenWritten } from "../process/index.ts";
import type { LogSink } from "../util/log.ts";
import { withTimeout } from "../util/timeout.ts";
import type { App } from "./app.ts";
import type { RuntimeContext } from "./context.ts";
import { runHook } from "./hooks.ts";
import type { Service } from "./service.ts";

/** How long the sockets a stop destroys may take to report their close (one loop turn does it). */
const DESTROY_BOUND_MS = 250;

/**
 * Destroys the service and lets the sockets' "close" callbacks run (a cut request's access-log
 * line, its stream's cancel, its signal), which exiting at once would skip.
 */
export async function closeService(service: Service | null): Promise<void> {
  await withTimeout(Promise.resolve(service?.destroy()), DESTROY_BOUND_MS);
}

/** exitWorker runs where no timer can be created; the counts stay those of this process. */
export function runExitWorker(
  context: RuntimeContext,
  app: App | undefined,
  log: LogSink,
  boundMs: number,
): Promise<void> {
  context.timersDisabledIn = "the context of exitWorker";
  return runHook("exitWorker", app?.exitWorker, log, boundMs);
}

/**
 * A fast stop that came while a graceful exit's exitWorker ran: that run (`running`) has `boundMs`
 * from now, and is not begun again.
 */
export async function boundExitWorker(running: Promise<void>, log: LogSink, boundMs: number): Promise<void> {
  const outcome = await withTimeout(running, boundMs);
  if (!outcome.done)
    log(
      "error",
      `exitWorker did not finish within ${boundMs / 1000} s of the fast stop; going on without it`,
    );
}

/** The last step: the pipe groups ended, exit 0 once the log lines are out. */
export async function leave(): Promise<void> {
  await endLiveGroups();
  exitWhenWritten(0);
}
