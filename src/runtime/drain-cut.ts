import type { TimerSystem } from "../timer/index.ts";
import type { ServiceCounts } from "./metrics.ts";

/**
 * The warning when `shutdownTimeout` ends a drain, in every role's words alike: how many
 * callbacks were still running, naming the named ones (and, in a worker, HTTP requests in flight
 * and upgraded connections open: they are cut next), how many premature calls never ran (they
 * waited for a running slot, or for the run of their `overlap: false` timer to end), how many
 * singleton claims went unanswered (a hung coordinator holds a drain too), then what the process
 * does next.
 * @example
 * drainCutMessage(1, timers, "going on to exitWorker", { requests: 9, inFlight: 3, upgraded: 0 });
 * // "shutdownTimeout (1 s) reached while draining, with 1 timers running, 3 HTTP requests in
 * //  flight and 0 upgraded connections open (cut); 2 premature calls never ran (they waited for a
 * //  running slot); going on to exitWorker"
 */
export function drainCutMessage(
  timeout: number,
  timers: TimerSystem,
  next: string,
  http: ServiceCounts | null = null,
): string {
  const cut =
    http === null
      ? ""
      : `, ${http.inFlight} HTTP requests in flight and ${http.upgraded} upgraded connections open (cut)`;
  return `shutdownTimeout (${timeout} s) reached while draining, with ${timers.runningCount} timers running${namesOf(timers)}${cut}${neverRan(timers)}; ${next}`;
}

/** How many running named timers the warning names; the rest are counted. */
const NAMED_AT_MOST = 5;

/** ` (timer "sync", timer "report")`: the named timers still running, "" when none is. */
function namesOf(timers: TimerSystem): string {
  const names = describeRunning({ named: timers.runningTimers().named, unnamed: 0 }, NAMED_AT_MOST);
  return names === "" ? "" : ` (${names})`;
}

/**
 * The running timers (TimerSystem.runningTimers()) as a diagnostic names them; "" when none runs.
 * Past `atMost` named ones, the rest are counted.
 * @example
 * describeRunning({ named: ['timer "a"', 'timer "b"'], unnamed: 2 }); // 'timer "a", timer "b", 2 unnamed timers'
 * describeRunning({ named: ['timer "a"', 'timer "b"'], unnamed: 0 }, 1); // 'timer "a" and 1 more'
 */
export function describeRunning(
  running: { readonly named: readonly string[]; readonly unnamed: number },
  atMost = Infinity,
): string {
  const { named, unnamed } = running;
  const more = named.length > atMost ? ` and ${named.length - atMost} more` : "";
  const parts = named.length === 0 ? [] : [`${named.slice(0, atMost).join(", ")}${more}`];
  if (unnamed > 0) parts.push(`${unnamed} unnamed timer${unnamed === 1 ? "" : "s"}`);
  return parts.join(", ");
}

/**
 * What an exit that ends now leaves undone, each part after "; ": premature calls waiting for a
 * running slot or for their `overlap: false` run, unanswered singleton claims, and (outside an
 * exit) due runs waiting for a slot. "" when nothing.
 * @example
 * neverRan(timers); // "; 2 premature calls never ran (they waited for a running slot)"
 */
export function neverRan(timers: TimerSystem): string {
  const lost = timers.prematureWaiting;
  const owed = timers.prematureOwed;
  const claims = timers.claimsOut;
  const due = timers.exiting ? 0 : timers.waitingCount;
  const premature = lost === 0 ? "" : `; ${lost} premature calls never ran (they waited for a running slot)`;
  const overlap =
    owed === 0 ? "" : `; ${owed} premature calls never ran (their overlap: false timer's run never ended)`;
  const unanswered = claims === 0 ? "" : `; ${claims} singleton claims unanswered`;
  const waiting = due === 0 ? "" : `; ${due} due timer runs never ran (they waited for a running slot)`;
  return `${premature}${overlap}${unanswered}${waiting}`;
}
