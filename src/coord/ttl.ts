/** A claim lives this long at least; longer for long intervals (3 intervals). */
const MIN_CLAIM_MS = 60_000;

/**
 * How long a claim of a tick of `intervalMs` lives (in Redis, or in the host's shared dictionary).
 * @example
 * claimTtl(1000); // 60000: a minute at least
 */
export const claimTtl = (intervalMs: number): number => Math.max(MIN_CLAIM_MS, 3 * intervalMs);
