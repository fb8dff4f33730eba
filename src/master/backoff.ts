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

export function respawnDelay(quickDeaths: number, wasReady = false): number {
  if (quickDeaths <= 1) return 0;
  return Math.min(wasReady ? MAX_READY_DELAY_MS : MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** (quickDeaths - 2));
}

/** The quick-death count after a process that lived `livedMs` died. */
export function nextQuickDeaths(previous: number, livedMs: number): number {
  return livedMs >= STABLE_MS ? 1 : previous + 1;
}
