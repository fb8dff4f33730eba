// The Redis client is heavy to load: the gate itself is imported on first use (runtime/gates.ts),
// so a process with no cluster timer never loads it.
export { claimTtl } from "./ttl.ts";
export { redactedUrl } from "./url.ts";
export type { CoordinatorLog, RedisGate, RedisGateOptions } from "./redis-gate.ts";
