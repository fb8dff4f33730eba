import type { TimerEntry } from "./entry.ts";

/** The name of the frame that calls user code, which error locations are found relative to. */
export const INVOKER = "invokeTimerCallback";

/** How a run ended: `failed` with `error` when the callback threw or its result rejected. */
export type RunEnd = (entry: TimerEntry, failed: boolean, error: unknown) => void;

/**
 * Calls a timer's callback and reports the end of the run to `end`, exactly once, whatever the
 * callback returns. A primitive result ends the run at once, so synchronous callbacks cost no
 * promise. Anything else is adopted by `Promise.resolve`, which turns a `then` that throws (or a
 * `then` getter that throws) into a rejection; a guard holds a thenable that calls back twice,
 * or throws after calling back, to one end.
 */
export function invokeTimerCallback(entry: TimerEntry, premature: boolean, end: RunEnd): void {
  let result: unknown;
  try {
    const args = entry.args;
    result = args === undefined ? entry.callback(premature) : entry.callback(premature, ...args);
  } catch (error) {
    end(entry, true, error);
    return;
  }
  if (result === null || (typeof result !== "object" && typeof result !== "function")) {
    end(entry, false, undefined);
    return;
  }
  let open = true;
  const once = (failed: boolean, error: unknown): void => {
    if (!open) return;
    open = false;
    end(entry, failed, error);
  };
  try {
    // Promise.resolve returns a native promise as is, and reads its `constructor`: either may
    // run user code that throws, hence the try.
    Promise.resolve(result).then(
      () => {
        once(false, undefined);
      },
      (error: unknown) => {
        once(true, error);
      },
    );
  } catch (error) {
    once(true, error);
  }
}
