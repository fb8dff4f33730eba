import { TimerSystem, type TimerLimits } from "../../src/timer/index.ts";
import type { LogLevel } from "../../src/util/log.ts";
import { ManualClock } from "./manual-clock.ts";

export interface LoggedLine {
  readonly level: LogLevel;
  readonly message: string;
}

/** A timer system on a manual clock, with its log lines collected. */
export function makeTimers(limits: Partial<TimerLimits> = {}): {
  timers: TimerSystem;
  clock: ManualClock;
  lines: LoggedLine[];
} {
  const clock = new ManualClock();
  const lines: LoggedLine[] = [];
  const timers = new TimerSystem({
    clock,
    log: (level, message) => lines.push({ level, message }),
    maxPending: limits.maxPending ?? 1024,
    maxRunning: limits.maxRunning ?? 256,
    runningLimit: limits.runningLimit ?? "wait",
  });
  return { timers, clock, lines };
}

/** Lets promise callbacks (async timer callbacks settling) run. */
export function flushPromises(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
