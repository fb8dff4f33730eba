import { debuglog } from "node:util";
import type { TimerEntry } from "./entry.ts";
import type { GateKeeper } from "./gate.ts";
import { lastWallTick, tickSpan, type Repeat, type Singleton } from "./repeat.ts";

const debug = debuglog("tsresty:timer");

/** What singleton ticks need from the timer system. */
export interface SingletonHost {
  /**
   * Whether `entry` may still run a claimed tick: not cancelled, and no fast stop. A graceful
   * exit does not stop it: the tick was due before exit began, like a zero-delay timer.
   */
  canRun(entry: TimerEntry): boolean;
  /**
   * Whether a tick of `entry` due now would start at once: a running slot is free, no run waits
   * for one, and no earlier tick of `entry` waits.
   */
  canStart(entry: TimerEntry): boolean;
  /** A claim came back (won, lost or failed): an exit waiting for claims may go on. */
  claimEnded(): void;
  /** Starts a claimed run of `entry`, due at `due` (monotonic ms, NaN for a catch-up) and `tick` (epoch ms). */
  run(entry: TimerEntry, due: number, tick: number): void;
  wallNow(): number;
}

/**
 * The ticks of singleton timers: each is claimed through the gate of the timer's kind and runs
 * here only when the claim is won. The caller has armed the next tick already, so a slow gate
 * never delays the grid.
 */
export class SingletonTicks {
  readonly #gates: GateKeeper;
  readonly #host: SingletonHost;
  #out = 0;

  constructor(gates: GateKeeper, host: SingletonHost) {
    this.#gates = gates;
    this.#host = host;
  }

  /** Tick `tick` (epoch ms) of `entry` is due: claims it, and runs it when the claim is won. */
  tick(entry: TimerEntry, repeat: Repeat, due: number, tick: number): void {
    // A tick this process could not start now is not claimed, so that another process of the
    // host or cluster can win it and run it: one that `overlap: false` would skip, and one that
    // would wait for a running slot, or be dropped for want of one (its slots are all held, or
    // its previous tick still waits). Winning it here would only hold it back, or lose it.
    const going = !repeat.overlap && entry.runs > 0;
    if (going || !this.#host.canStart(entry)) {
      debug(
        "timer %s: tick %d not claimed (%s)",
        entry.name,
        tick,
        going ? "a run is going" : "no running slot",
      );
      repeat.record.skipped++;
      return;
    }
    const singleton = repeat.singleton as Singleton;
    const name = entry.name as string;
    const span = tickSpan(repeat, tick);
    // The tick armed now (a regular tick armed the next one before it claims; a catch-up claims
    // before the first regular tick): once it came due, this claim's answer is late.
    const armed = repeat.tick;
    this.#out++;
    this.#gates.claim(
      singleton,
      name,
      tick,
      span,
      repeat.record,
      () => {
        if (!this.#host.canRun(entry)) {
          this.#gates.settled(singleton, name, tick, false);
          return;
        }
        // A claim answered after the next tick came due (a gate that stalled, then answered a
        // backlog at once) is not run: ticks are never run late in a burst. A catch-up too: its
        // next tick is the timer's first regular one (`tick + span`), and once that came, the
        // catch-up would run after it, in a burst with it. Nor is a tick run that was won while
        // an `overlap: false` run is still going. Counted as skipped; the gate forgets it.
        const late = repeat.tick !== armed || this.#host.wallNow() >= tick + span;
        if (late || (!repeat.overlap && entry.runs > 0)) {
          debug(
            "timer %s: tick %d won but not run (%s)",
            name,
            tick,
            late ? "answered late" : "a run is going",
          );
          repeat.record.skipped++;
          this.#gates.settled(singleton, name, tick, false);
          return;
        }
        this.#host.run(entry, due, tick);
      },
      () => {
        this.#out--;
        this.#host.claimEnded();
      },
    );
  }

  /**
   * Claims asked for and not yet answered. A graceful exit waits for them: a tick this process
   * won must run here, since every other process was told it is taken.
   */
  get claimsOut(): number {
    return this.#out;
  }

  /**
   * `catchUp`: when the gate says this timer last ran before its latest tick, that tick was
   * missed while no process ran it, and runs now, once, claimed like any tick. Not when a tick
   * of this timer came first, nor when it never ran anywhere.
   */
  catchUp(entry: TimerEntry, repeat: Repeat): void {
    const singleton = repeat.singleton as Singleton;
    const name = entry.name as string;
    const firstTick = repeat.tick;
    const missed = lastWallTick(repeat, this.#host.wallNow());
    if (missed === null) return;
    this.#gates.lastRun(singleton, name, (last) => {
      if (last === null || last >= missed || repeat.tick !== firstTick || entry.status !== "pending") return;
      debug("timer %s catches up on the tick due at %d", name, missed);
      this.tick(entry, repeat, NaN, missed);
    });
  }
}
