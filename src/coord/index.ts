export { claimTtl, RedisGate, type CoordinatorLog, type RedisGateOptions } from "./redis-gate.ts";
