// Cache-stampede protection, OpenResty's lua-resty-lock pattern: on a miss, one process
// takes a lock on the key and refreshes the value; the others wait for the lock (without
// blocking their event loop), then find the fresh value in the shared zone.
import { ngx } from "tsresty";

export interface CachedOptions {
  /** Seconds the value stays fresh. */
  readonly ttl: number;
  /** Seconds a waiter waits for the refreshing process before it serves a stale value. */
  readonly wait: number;
}

/**
 * The value of `key` from the zone "cache", refreshed by `refresh()` in one process at a time.
 * `refreshed` tells whether this call ran `refresh`.
 */
export async function cached(
  key: string,
  options: CachedOptions,
  refresh: () => Promise<string>,
): Promise<{ value: string; refreshed: boolean }> {
  const cache = ngx.shared["cache"];
  if (cache === undefined) throw new Error('declare the zone: shdict: { cache: "10m", locks: "1m" }');
  const hit = cache.get(key);
  if (typeof hit === "string") return { value: hit, refreshed: false };

  // exptime bounds how long a refresher that died can keep the others waiting.
  const lock = ngx.lock("locks", { timeout: options.wait, exptime: options.wait * 2 });
  const got = await lock.lock(`refresh:${key}`);
  if (!got.ok) {
    const stale = cache.getStale(key).value;
    if (typeof stale === "string") return { value: stale, refreshed: false };
    throw new Error(`no value for ${key}: the refresh did not finish in ${options.wait} s`);
  }
  try {
    // Whoever held the lock before us may have refreshed the value while we waited.
    const again = cache.get(key);
    if (typeof again === "string") return { value: again, refreshed: false };
    const value = await refresh();
    cache.set(key, value, options.ttl);
    return { value, refreshed: true };
  } finally {
    lock.unlock();
  }
}
