import { AsyncLocalStorage } from "node:async_hooks";
import { types } from "node:util";
import type { Cancel, Clock } from "../util/clock.ts";
import type { TimerCallback, TimerEntry } from "./entry.ts";

/**
 * `ngx.timer.current()`: which run of which timer the calling code belongs to.
 *
 * The synchronous part of every callback is marked by three variables, set around the call and
 * restored after it (a premature callback may run inside another callback: `beginExit`). Only an
 * `async` callback also runs inside an AsyncLocalStorage store, which follows it across
 * `await`. On Node 20 an enabled store installs promise hooks for the whole process (an `await`
 * costs about twice as much), so the store is enabled only while an async timer callback is
 * running, and disabled when the last one settles. Node 24 carries stores in async context
 * frames at no such cost, and the store stays enabled.
 *
 * Limit: a callback that is not an `async` function but returns a promise (`() => fetch(u).then(…)`)
 * sees `current()` only in its synchronous part.
 */

/**
 * A timer's run: its name, due time and premature flag (`ngx.timer.current()` returns it as a
 * `CurrentRun`, with `fence` in a run of a `singleton: "cluster"` timer).
 * @example
 * ngx.timer.at({ delay: 1, name: "once" }, () => {
 *   const { name, due, premature } = ngx.timer.current()!; // "once", 1767225601.5, false
 * });
 */
export interface TimerRun {
  readonly name: string | undefined;
  /**
   * When the run was due, in seconds since the epoch: the tick's grid time for epoch-aligned and
   * cron timers (the same in every process), the scheduled time for the others.
   */
  readonly due: number;
  readonly premature: boolean;
}

/**
 * Runs carry their due time as epoch ms minus this base: a small integer that V8 keeps as a
 * Smi, where an epoch time (about 1.7e12) would be a heap number allocated at each call that
 * passes it. A run of an empty callback must not allocate.
 */
export const TICK_BASE = Date.now();

/** A run in progress: its entry, and when it was due (epoch ms − TICK_BASE). */
interface RunMark {
  readonly entry: TimerEntry;
  readonly premature: boolean;
  readonly tick: number;
}

/**
 * The store of an async run. It stays in whatever the run left behind (a `setTimeout`, a socket's
 * events), so it says when the run settled: `current()` then reports no run. (It used to report
 * the run that had ended, but only while another async run kept the store enabled on Node 20.)
 */
export interface AsyncRun extends RunMark {
  ended: boolean;
}

const AsyncFunctionPrototype = Object.getPrototypeOf(async function () {
  /* a sample async function */
}) as object;
const GeneratorFunctionPrototype = Object.getPrototypeOf(function* () {
  /* a sample generator function */
}) as object;
const AsyncGeneratorFunctionPrototype = Object.getPrototypeOf(async function* () {
  /* a sample async generator function */
}) as object;
const HOOKS_COST = Number(process.versions.node.split(".")[0]) < 24;
const store = new AsyncLocalStorage<AsyncRun>();
let asyncRuns = 0;

/**
 * The run whose synchronous part is on the stack. The caller saves the previous mark and puts
 * it back (no try/finally here: it keeps V8 from inlining the call of the callback).
 */
export const mark: { entry: TimerEntry | null; premature: boolean; tick: number } = {
  entry: null,
  premature: false,
  tick: 0,
};

/** What a timer callback is: a generator function (sync or async), an async function, or any other. */
export type CallbackKind = "generator" | "async" | "plain";

/**
 * What `callback` is, once, at creation: a generator function's call only makes an iterator (its
 * body would never run); an async function's run is followed by the store across `await`. Read
 * per run, it was a call into the runtime costing a quarter of an empty callback's run.
 *
 * First by the function's own kind (util.types, which asks V8): its prototype alone can be
 * changed, and a generator or async function set to Function.prototype passed as a plain one.
 * A bound function or a Proxy has no kind of its own there, and is judged by its prototype (which
 * is its target's unless changed).
 */
export function callbackKind(callback: TimerCallback): CallbackKind {
  if (types.isGeneratorFunction(callback)) return "generator";
  if (types.isAsyncFunction(callback)) return "async";
  let proto: unknown;
  try {
    proto = Object.getPrototypeOf(callback);
  } catch {
    // A Proxy whose getPrototypeOf trap throws, or a revoked one: accepted as a plain function,
    // and its call fails when it fires, as its own run's failure.
    return "plain";
  }
  if (proto === AsyncFunctionPrototype) return "async";
  if (proto === GeneratorFunctionPrototype || proto === AsyncGeneratorFunctionPrototype) return "generator";
  return "plain";
}

/** The store of an async run of `entry`, for {@link callInStore} and {@link asyncRunEnded}. */
export const asyncRun = (entry: TimerEntry, premature: boolean, tick: number): AsyncRun => ({
  entry,
  premature,
  tick,
  ended: false,
});

/**
 * Calls an async callback inside the store, so that its run is known after `await`. The caller
 * must call {@link asyncRunEnded} once the returned promise settles.
 */
export function callInStore(run: AsyncRun): unknown {
  asyncRuns++;
  const { entry, premature } = run;
  const args = entry.args;
  return args === undefined
    ? store.run(run, entry.callback, premature)
    : store.run(run, entry.callback, premature, ...args);
}

/** An async run settled; the last one disables the store where an enabled store costs. */
export function asyncRunEnded(run: AsyncRun): void {
  run.ended = true;
  if (--asyncRuns === 0 && HOOKS_COST) store.disable();
}

/**
 * Arms the core's host timer outside any run's store. Armed from inside an async run (a callback
 * creating a timer), the host timer would carry that run's store, and so would every callback it
 * dispatches: a synchronous callback's continuations would see the other run in `current()`.
 * Only a compare or two unless the caller is inside an async run.
 */
export function scheduleOutsideRuns(clock: Clock, ms: number, fn: () => void): Cancel {
  if ((asyncRuns > 0 || !HOOKS_COST) && store.getStore() !== undefined) {
    return store.exit(() => clock.schedule(ms, fn));
  }
  return clock.schedule(ms, fn);
}

/**
 * The run in progress, or undefined outside timer callbacks.
 * @example
 * ngx.timer.every({ interval: 60, name: "bill", singleton: "cluster" }, async () => {
 *   const { name, due } = ngx.timer.current()!;
 *   await charge({ idempotencyKey: `${name}@${due}` });
 * });
 */
export function currentRun(): TimerRun | undefined {
  let run: RunMark | undefined;
  if (mark.entry !== null) run = { entry: mark.entry, premature: mark.premature, tick: mark.tick };
  else if (asyncRuns > 0 || !HOOKS_COST) {
    const stored = store.getStore();
    if (stored !== undefined && !stored.ended) run = stored;
  }
  if (run === undefined) return undefined;
  return { name: run.entry.name, due: (TICK_BASE + run.tick) / 1000, premature: run.premature };
}
