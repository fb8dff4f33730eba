/**
 * How long the master waits before respawning a slot whose process died. A process that lived
 * at least `STABLE_MS` (counted from when it took its slot: a standby's idle wait does not count)
 * resets the count; after that, the first quick death respawns at once and each further one waits
 * twice as long, from 100 ms: up to `MAX_DELAY_MS` for a process that died
 * before it was ever ready (an app that cannot start: no point hurrying), and up to
 * `MAX_READY_DELAY_MS` for one that was serving (killed, or crashing at run time: the slot's
 * capacity comes back quickly, and a connection waiting in the kernel's backlog meanwhile waits
 * about a second at most). The master never spins.
 */
export const STABLE_MS = 10_000;
export const MAX_DELAY_MS = 10_000;
export const MAX_READY_DELAY_MS = 1_000;
const FIRST_DELAY_MS = 100;
/** A standby that died waits 1 s, then twice as long at each death in a row, up to 30 s. */
const STANDBY_FIRST_DELAY_MS = 1_000;
const STANDBY_MAX_DELAY_MS = 30_000;

/** `firstMs` doubled `times` times, at most `maxMs`. */
const doubled = (firstMs: number, times: number, maxMs: number): number =>
  Math.min(maxMs, firstMs * 2 ** times);

export function respawnDelay(quickDeaths: number, wasReady = false): number {
  if (quickDeaths <= 1) return 0;
  return doubled(FIRST_DELAY_MS, quickDeaths - 2, wasReady ? MAX_READY_DELAY_MS : MAX_DELAY_MS);
}

/**
 * How long the master waits before forking a standby again after its `failures`-th death in a
 * row. Slowly, and slower each time: a standby is a spare, nothing waits for it.
 * @example
 * standbyRetryDelay(1); // 1000
 * standbyRetryDelay(3); // 4000
 */
export function standbyRetryDelay(failures: number): number {
  return doubled(STANDBY_FIRST_DELAY_MS, failures - 1, STANDBY_MAX_DELAY_MS);
}

/** The quick-death count after a process that lived `livedMs` died. */
export function nextQuickDeaths(previous: number, livedMs: number): number {
  return livedMs >= STABLE_MS ? 1 : previous + 1;
}
