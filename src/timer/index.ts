export { TimerSystem, type TimerLimits, type TimerSystemOptions } from "./system.ts";
export type { RunningLimitPolicy } from "./runner.ts";
export type { Timer, TimerCallback, TimerState } from "./entry.ts";
export { MAX_DELAY_MS, toDelayMs, type AtOptions, type CronOptions, type EveryOptions } from "./options.ts";
export type { TimerRun } from "./current.ts";
export type { TickGate, TimerGates } from "./gate.ts";
export type { Singleton, TimerKind } from "./repeat.ts";
export {
  LATENESS_BOUNDS,
  type Lateness,
  type LatenessHistogram,
  type TimerCounts,
  type TimerStats,
} from "./stats.ts";
