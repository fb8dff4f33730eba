/** A claim lives this long at least; longer for long intervals (3 intervals). */
const MIN_CLAIM_MS = 60_000;

/** A timer's own keys in Redis (its fencing counter) outlive its last claim this long at least. */
const KEEP_MS = 30 * 86_400_000;

/**
 * How long a claim of a tick of `intervalMs` lives (in Redis, or in the host's shared dictionary).
 * @example
 * claimTtl(1000); // 60000: a minute at least
 */
export const claimTtl = (intervalMs: number): number => Math.max(MIN_CLAIM_MS, 3 * intervalMs);

/**
 * How long a timer's own keys in Redis outlive its latest claim: 30 days, or a claim's lifetime
 * when that is longer. A name no longer used (a renamed timer) leaves Redis then.
 * @example
 * keepTtl(1000); // 2592000000: 30 days
 */
export const keepTtl = (intervalMs: number): number => Math.max(KEEP_MS, claimTtl(intervalMs));
