import { closeSync } from "node:fs";
import { after } from "node:test";
import { closeZone, createZone, type SharedDict, type Zone } from "../../src/shdict/index.ts";

const made: Zone[] = [];
let registered = false;

/** A new zone for one test, unmapped and its memfd closed when the file's tests end. */
export function testZone(size = 1024 * 1024, name = "dogs"): Zone {
  if (!registered) {
    registered = true;
    after(() => {
      for (const zone of made.splice(0)) {
        closeZone(zone);
        closeSync(zone.fd);
      }
    });
  }
  const zone = createZone({ name, size });
  made.push(zone);
  return zone;
}

/** Pops the list at `key` to its end; the values popped. */
export function drain(dict: SharedDict, key: string): unknown[] {
  const values: unknown[] = [];
  for (let popped = dict.lpop(key); popped.ok && popped.value !== undefined; popped = dict.lpop(key))
    values.push(popped.value);
  return values;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** What the addon's readCounts() or writeCounts() gave: operations without the lock, tries made again, under the lock. */
export interface OpCounts {
  unlocked: number;
  retried: number;
  locked: number;
}

/** The operations of this process between two readings of readCounts() or writeCounts(). */
export function countsSince(now: readonly number[], since: readonly number[]): OpCounts {
  return {
    unlocked: (now[0] ?? 0) - (since[0] ?? 0),
    retried: (now[1] ?? 0) - (since[1] ?? 0),
    locked: (now[2] ?? 0) - (since[2] ?? 0),
  };
}

/**
 * Waits until early in a second of CLOCK_MONOTONIC (the clock the addon's once-a-second rule
 * reads, coarsely: it lags by at most a few ms), so that what follows runs within one second.
 */
export async function earlyInASecond(): Promise<void> {
  for (;;) {
    const ns = Number(process.hrtime.bigint() % 1_000_000_000n);
    if (ns >= 20e6 && ns < 300e6) return;
    await sleep(Math.ceil((1_020e6 - ns) / 1e6));
  }
}
