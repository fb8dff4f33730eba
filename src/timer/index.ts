export { TimerSystem, type TimerLimits, type TimerSystemOptions } from "./system.ts";
export type { RunningLimitPolicy } from "./runner.ts";
export type { Timer, TimerCallback, TimerState } from "./entry.ts";
export { MAX_DELAY_MS, toDelayMs, type AtOptions, type EveryOptions } from "./options.ts";
