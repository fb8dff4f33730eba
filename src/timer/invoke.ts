import { asyncRun, asyncRunEnded, callInStore, mark, type AsyncRun } from "./current.ts";
import type { TimerEntry } from "./entry.ts";

/** The name of the frame that calls user code, which error locations are found relative to. */
export const INVOKER = "invokeTimerCallback";

/**
 * How a run ended: `failed` with `error` when the callback threw or its result rejected. The
 * run's own figures come back with it, so that a run costs no object of its own.
 */
export type RunEnd = (
  entry: TimerEntry,
  failed: boolean,
  error: unknown,
  premature: boolean,
  tick: number,
  timedFrom: number,
) => void;

/**
 * Calls a timer's callback. A callback that returns a primitive ended its run when this returns
 * true, and `end` is not called: the caller settles the run itself (the common case, kept small
 * so that V8 inlines it into the dispatch loop). Otherwise `end` is called exactly once: at once
 * for a throw, or when the result settles. Anything but a primitive is adopted by
 * `Promise.resolve`, which turns a `then` that throws (or a `then` getter that throws) into a
 * rejection; a guard holds a thenable that calls back twice, or throws after calling back, to
 * one end. `tick` (epoch ms − TICK_BASE) is what `ngx.timer.current()` reports as the run's due
 * time; `timedFrom` is the clock reading the run is timed from, or NaN.
 */
export function invokeTimerCallback(
  entry: TimerEntry,
  premature: boolean,
  tick: number,
  timedFrom: number,
  end: RunEnd,
): boolean {
  // A run inside another one's synchronous part (a premature call from `beginExit` in a
  // callback) must put the outer mark back: the rare case, out of line.
  if (mark.entry !== null) return invokeNested(entry, premature, tick, timedFrom, end);
  const callback = entry.callback;
  const run = entry.async ? asyncRun(entry, premature, tick) : null;
  mark.entry = entry;
  mark.premature = premature;
  mark.tick = tick;
  let result: unknown;
  try {
    const args = entry.args;
    if (run !== null) result = callInStore(run);
    else result = args === undefined ? callback(premature) : callback(premature, ...args);
  } catch (error) {
    mark.entry = null;
    if (run !== null) asyncRunEnded(run);
    end(entry, true, error, premature, tick, timedFrom);
    return false;
  }
  mark.entry = null;
  if (result === null || (typeof result !== "object" && typeof result !== "function")) {
    if (run !== null) asyncRunEnded(run);
    return true;
  }
  follow(entry, result, run, premature, tick, timedFrom, end);
  return false;
}

/** {@link invokeTimerCallback} inside another run's synchronous part: the outer mark is put back after. */
function invokeNested(
  entry: TimerEntry,
  premature: boolean,
  tick: number,
  timedFrom: number,
  end: RunEnd,
): boolean {
  const outer = mark.entry;
  const outerPremature = mark.premature;
  const outerTick = mark.tick;
  mark.entry = null;
  try {
    return invokeTimerCallback(entry, premature, tick, timedFrom, end);
  } finally {
    mark.entry = outer;
    mark.premature = outerPremature;
    mark.tick = outerTick;
  }
}

/**
 * Ends the run when `result` (not a primitive) settles; `run`: an async run's store, or null.
 * The run's one end is passed to `whenSettled`, not bound to a name, which the build would name
 * anew at each run (see keepNames in scripts/build.mjs).
 */
function follow(
  entry: TimerEntry,
  result: unknown,
  run: AsyncRun | null,
  premature: boolean,
  tick: number,
  timedFrom: number,
  end: RunEnd,
): void {
  let open = true;
  whenSettled(result, (failed, error) => {
    if (!open) return;
    open = false;
    if (run !== null) asyncRunEnded(run);
    end(entry, failed, error, premature, tick, timedFrom);
  });
}

/** Calls `done` when `result` settles, or at once when adopting it throws. */
function whenSettled(result: unknown, done: (failed: boolean, error: unknown) => void): void {
  try {
    // Promise.resolve returns a native promise as is, and reads its `constructor`: either may
    // run user code that throws, hence the try.
    Promise.resolve(result).then(
      () => {
        done(false, undefined);
      },
      (error: unknown) => {
        done(true, error);
      },
    );
  } catch (error) {
    done(true, error);
  }
}
