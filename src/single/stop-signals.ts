/**
 * A second INT or TERM ends the run at once (exit 130 or 143), also while its code keeps the main
 * thread from running the signal's listeners (`while (true) {}`: only SIGKILL ended it). Native
 * code (native/src/system.c), chained before libuv's handler; without the addon, as before.
 *
 * libuv puts its handler in place anew when a signal gets a listener after its last one was
 * removed (single mode's own handlers when they are replaced; an app's
 * `process.removeAllListeners("SIGINT")` and a listener of its own), and the chain was lost with
 * the handler it replaced: a busy run that had taken INT over could no longer be ended by INT. So
 * the chain is made again whenever INT or TERM gets a listener. And a second signal is one that
 * came before the main thread answered the first: a listener of this module, the first of each
 * signal's, says that it runs them, so that a run that took INT over, and is not busy, gets every
 * INT, as a Node program does.
 *
 * The same native code ends the run's pipe children before an abort (endPipeGroupsOnAbort), the
 * other exit that runs no JavaScript.
 */
import { systemCalls } from "../shdict/index.ts";
import type { LogSink } from "../util/log.ts";
import { errorMessage } from "../util/error-message.ts";

const STOP_SIGNALS: readonly string[] = ["SIGINT", "SIGTERM"];

let watching = false;
/** Where a failure to chain is said (the latest log given). */
let said: LogSink | null = null;

function answered(): void {
  systemCalls().stopSignalAnswered();
}

/** Chains the native handler before libuv's and puts `answered` first; whether it could. */
function chain(): boolean {
  try {
    const failed = systemCalls().exitOnSecondStopSignal();
    if (failed !== 0) {
      said?.("warn", `a second INT or TERM cannot end a busy run (errno ${failed})`);
      return false;
    }
  } catch (error) {
    // No addon (an install that skipped building it): a run that needs none is not warned at
    // every start; zones say it themselves.
    said?.("info", `a second INT or TERM cannot end a busy run: ${errorMessage(error)}`);
    return false;
  }
  for (const signal of STOP_SIGNALS)
    if (!process.listeners(signal as NodeJS.Signals).includes(answered))
      process.prependListener(signal as NodeJS.Signals, answered);
  return true;
}

/** From now on (once the addon is there), see above; `log` says why not, when it cannot. */
export function exitOnSecondStopSignal(log: LogSink | null): void {
  said = log;
  if (!chain() || watching) return;
  watching = true;
  // Node's own "newListener" listener, registered as it boots and so run before this one, has
  // started the signal: libuv's handler is in place when this runs.
  process.on("newListener", (event: string | symbol, listener: unknown) => {
    if (typeof event === "string" && STOP_SIGNALS.includes(event) && listener !== answered) chain();
  });
}

/**
 * An abort (a fatal error: the heap out of memory) runs no exit handler, and no master is left to
 * end the run's pipe children: the addon ends their groups first (docs/pipe.md, difference 3).
 */
export function endPipeGroupsOnAbort(): void {
  try {
    systemCalls().endPipeGroupsOnAbort();
  } catch {
    // No addon: no pipe child it started either.
  }
}
