import { ConfigError } from "../errors.ts";
import type { LogSink } from "../util/log.ts";
import { quotedName } from "./label.ts";
import type { Singleton } from "./repeat.ts";
import type { TimerRecord } from "./stats.ts";
import { errorMessage } from "../util/error-message.ts";

/**
 * How singleton timers agree on who runs a tick. The core asks the gate of the timer's kind at
 * each tick; the runtime supplies the gates (a shared dictionary for "host", Redis for
 * "cluster"). Ticks are named by their due time on the epoch grid, so every process asks about
 * the same tick.
 * @example
 * const gate: TickGate = { claim: (name, due) => dict.add(`${name}@${due}`, true, 60) };
 */
export interface TickGate {
  /** Tick `due` (epoch ms) of timer `name` is due here: resolve true to run it in this process. */
  claim(name: string, due: number, intervalMs: number): boolean | Promise<boolean>;
  /** The claimed run of tick `due` settled (ok: no throw/rejection). */
  settled?(name: string, due: number, ok: boolean): void;
  /** When catchUp is set: the due (epoch ms) of the last tick this timer ran anywhere, or null. */
  lastRun?(name: string): number | null | Promise<number | null>;
  /** A catchUp timer `name` was made: its runs must be remembered across a full stop. */
  keep?(name: string): void;
  /** A timer of this kind was created: get ready (connect) before its first tick is due. */
  prepare?(): void;
}

export interface TimerGates {
  readonly host?: TickGate;
  readonly cluster?: TickGate;
}

const MISSING: Record<Singleton, string> = {
  host: 'singleton "host" needs the host coordinator, which this process does not have',
  cluster: 'singleton "cluster" needs the config key coordinator ("redis://…")',
};

/** Calls `answer` once with the gate's verdict: synchronously when the gate answers so. */
function settle<T>(ask: () => T | Promise<T>, answer: (value: T | undefined, error: unknown) => void): void {
  let result: T | Promise<T>;
  try {
    result = ask();
  } catch (error) {
    answer(undefined, error ?? new Error("the gate threw"));
    return;
  }
  if (result === null || (typeof result !== "object" && typeof result !== "function")) {
    answer(result, undefined);
    return;
  }
  try {
    Promise.resolve(result).then(
      (value) => {
        answer(value, undefined);
      },
      (error: unknown) => {
        answer(undefined, error ?? new Error("the gate rejected"));
      },
    );
  } catch (error) {
    answer(undefined, error);
  }
}

/**
 * The core's side of the gates: asking, counting what they answer, and logging a failing gate
 * once per streak of failures (it is down for every timer at once, typically).
 */
export class GateKeeper {
  readonly #gates: TimerGates;
  readonly #log: LogSink;
  readonly #failing = { host: false, cluster: false };
  /** Kinds whose gate failed to record the end of a run, until a run's end is recorded again. */
  readonly #notRecording = { host: false, cluster: false };
  /** Kinds whose gate answered a won claim too late to run it, until one is answered in time. */
  readonly #late = { host: false, cluster: false };

  constructor(gates: TimerGates, log: LogSink) {
    this.#gates = gates;
    this.#log = log;
  }

  /** Throws when no gate serves `singleton` in this process; else lets the gate get ready. */
  require(where: string, singleton: Singleton): void {
    const gate = this.#gates[singleton];
    if (gate === undefined) throw new ConfigError(where, null, MISSING[singleton]);
    try {
      gate.prepare?.();
    } catch (error) {
      // Its first claim will fail the same way, and be counted and logged there.
      this.#log("warn", `singleton "${singleton}" gate could not get ready: ${errorMessage(error)}`);
    }
  }

  /** Asks whether tick `due` of `name` runs here; calls `run` when it does. */
  claim(
    singleton: Singleton,
    name: string,
    due: number,
    span: number,
    record: TimerRecord,
    run: () => void,
    answered: () => void,
  ): void {
    const gate = this.#gates[singleton] as TickGate;
    settle(
      () => gate.claim(name, due, span),
      (claimed, error) => {
        answered();
        if (error !== undefined) {
          record.claimErrors++;
          this.#failed(singleton, name, error);
          return;
        }
        this.#recovered(singleton);
        if (claimed === true) run();
        else record.skipped++;
      },
    );
  }

  /**
   * Tells the gate how a claimed run ended. A gate that cannot record it (the host gate's file
   * for catchUp, on a directory it cannot write) fails at every run: it is said once, like a
   * failing claim, and once more when a run's end is recorded again. (Only a run that ended
   * well is recorded, so only such a run can say that recording works.)
   */
  settled(singleton: Singleton, name: string, due: number, ok: boolean): void {
    try {
      this.#gates[singleton]?.settled?.(name, due, ok);
    } catch (error) {
      if (this.#notRecording[singleton]) return;
      this.#notRecording[singleton] = true;
      this.#log(
        "warn",
        `singleton "${singleton}" gate failed to record the end of timer ${quotedName(name)} (said once until it works again): ${errorMessage(error)}`,
      );
      return;
    }
    if (ok && this.#notRecording[singleton]) {
      this.#notRecording[singleton] = false;
      this.#log("notice", `singleton "${singleton}" gate records the end of runs again`);
    }
  }

  /** The catchUp timer `name` was made: from now on the gate remembers its runs across a full stop. */
  keep(singleton: Singleton, name: string): void {
    (this.#gates[singleton] as TickGate).keep?.(name);
  }

  /** Calls `then` with the last tick of `name` run anywhere (null when unknown, or on failure). */
  lastRun(singleton: Singleton, name: string, then: (last: number | null) => void): void {
    const gate = this.#gates[singleton] as TickGate;
    settle(
      () => (gate.lastRun === undefined ? null : gate.lastRun(name)),
      (last, error) => {
        if (error !== undefined) {
          this.#log(
            "warn",
            `timer ${quotedName(name)} cannot catch up: the singleton "${singleton}" gate failed: ${errorMessage(error)}`,
          );
        }
        then(typeof last === "number" ? last : null);
      },
    );
  }

  /**
   * Tick `tick` (epoch ms) of `name` was won here, but the answer came after the timer's next tick
   * was due, so it is not run (no late bursts), here or anywhere: a tick lost, said once per streak
   * (a stalled coordinator delays every claim at once), and once more when a won claim is in time.
   */
  late(singleton: Singleton, name: string, tick: number): void {
    if (this.#late[singleton]) return;
    this.#late[singleton] = true;
    this.#log(
      "warn",
      `singleton "${singleton}" claim of timer ${quotedName(name)}'s tick due at ${new Date(tick).toISOString()} was answered after its next tick came due: that tick runs nowhere (counted as skipped; said once until a claim is answered in time again)`,
    );
  }

  /** A won claim came in time to run its tick. */
  inTime(singleton: Singleton): void {
    if (!this.#late[singleton]) return;
    this.#late[singleton] = false;
    this.#log("notice", `singleton "${singleton}" claims are answered in time again`);
  }

  #failed(singleton: Singleton, name: string, error: unknown): void {
    if (this.#failing[singleton]) return;
    this.#failing[singleton] = true;
    this.#log(
      "warn",
      `singleton "${singleton}" claim failed (timer ${quotedName(name)}); singleton ticks are skipped until claims work again: ${errorMessage(error)}`,
    );
  }

  #recovered(singleton: Singleton): void {
    if (!this.#failing[singleton]) return;
    this.#failing[singleton] = false;
    this.#log("notice", `singleton "${singleton}" claims work again`);
  }
}
