import { formatThrown, type LogSink } from "../util/log.ts";
import { withTimeout } from "../util/timeout.ts";

/**
 * Runs an app hook (initWorker, exitWorker), logging a throw or a rejection instead of failing,
 * and giving up after `boundMs` with a line that names the hook and the bound.
 */
export async function runHook(
  name: string,
  hook: (() => unknown) | undefined,
  log: LogSink,
  boundMs: number,
): Promise<void> {
  if (hook === undefined) return;
  try {
    const outcome = await withTimeout(Promise.resolve().then(hook), boundMs);
    if (!outcome.done) log("error", `${name} did not finish within ${boundMs / 1000} s; going on without it`);
  } catch (error) {
    log("error", `${name} failed: ${formatThrown(error)}`);
  }
}
