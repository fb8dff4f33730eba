import {
  TimerSystem,
  type TickGate,
  type TimerGates,
  type TimerLimits,
  type TimerStats,
} from "../../src/timer/index.ts";
import type { LogLevel } from "../../src/util/log.ts";
import { ManualClock, WALL_START } from "./manual-clock.ts";

export interface LoggedLine {
  readonly level: LogLevel;
  readonly message: string;
}

export interface TestTimerOptions extends Partial<TimerLimits> {
  readonly gates?: TimerGates;
  /** Where the wall clock starts (epoch ms); 2025-01-01T00:00:00Z by default. */
  readonly wallStart?: number;
}

/** A timer system on a manual clock, with its log lines collected. */
export function makeTimers(options: TestTimerOptions = {}): {
  timers: TimerSystem;
  clock: ManualClock;
  lines: LoggedLine[];
} {
  const clock = new ManualClock(1000, options.wallStart ?? WALL_START);
  const lines: LoggedLine[] = [];
  const timers = new TimerSystem({
    clock,
    log: (level, message) => lines.push({ level, message }),
    maxPending: options.maxPending ?? 1024,
    maxRunning: options.maxRunning ?? 256,
    runningLimit: options.runningLimit ?? "wait",
    ...(options.gates === undefined ? {} : { gates: options.gates }),
  });
  return { timers, clock, lines };
}

/** Lets promise callbacks (async timer callbacks settling) run. */
export function flushPromises(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * A gate that records what it is asked and answers as told: `answer` decides each claim
 * (a boolean, a promise, or a throw), `last` is what `lastRun` reports.
 */
export class RecordingGate implements TickGate {
  readonly claims: { name: string; due: number; intervalMs: number }[] = [];
  readonly settles: { name: string; due: number; ok: boolean }[] = [];
  answer: (name: string, due: number) => boolean | Promise<boolean> = () => true;
  last: number | null | Promise<number | null> = null;
  /** The names whose runs the core asked to be kept across a full stop (catchUp). */
  readonly kept: string[] = [];

  claim(name: string, due: number, intervalMs: number): boolean | Promise<boolean> {
    this.claims.push({ name, due, intervalMs });
    return this.answer(name, due);
  }

  settled(name: string, due: number, ok: boolean): void {
    this.settles.push({ name, due, ok });
  }

  lastRun(): number | null | Promise<number | null> {
    return this.last;
  }

  keep(name: string): void {
    this.kept.push(name);
  }
}

/** The statistics of timer name `name` (null: the unnamed aggregate); fails the test when absent. */
export function statsOf(timers: TimerSystem, name: string | null): TimerStats {
  const found = timers.stats().find((s) => s.name === name);
  if (found === undefined) throw new Error(`no statistics for ${String(name)}`);
  return found;
}
