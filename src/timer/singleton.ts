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

  /**
   * Tick `tick` (epoch ms) of `entry` is due at `due` (monotonic ms; NaN for a catch-up): claims
   * it, or the tick due now when it fell wholly behind, and runs it when the claim is won.
   */
  tick(entry: TimerEntry, repeat: Repeat, due: number, tick: number): void {
    const now = Number.isNaN(due) ? tick : this.#tickOfNow(repeat, tick);
    if (now === tick) {
      this.#claim(entry, repeat, due, tick);
      return;
    }
    debug("timer %s: tick %d fell wholly behind; claiming tick %d, due now, instead", entry.name, tick, now);
    // The re-arm counted the ticks it passed over, `now` among them for an `every`: that count
    // stands for `tick` now. A cron's are not counted there.
    if (repeat.cron !== null) repeat.record.skipped++;
    this.#claim(entry, repeat, due + (now - tick), now);
  }

  /** Claims tick `tick` of `entry`, due at `due`, and runs it when the claim is won. */
  #claim(entry: TimerEntry, repeat: Repeat, due: number, tick: number): void {
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
          if (late) this.#gates.late(singleton, name, tick);
          this.#gates.settled(singleton, name, tick, false);
          return;
        }
        this.#gates.inTime(singleton);
        this.#host.run(entry, due, tick);
      },
      () => {
        this.#out--;
        this.#host.claimEnded();
      },
    );
  }

  /**
   * The tick to claim for regular tick `tick`: itself, or, once its span has passed (the event
   * loop was blocked, or the wall clock stepped forward), the tick whose span holds now. A tick
   * that fell wholly behind is skipped, as any repeating timer's is; the re-arm already passed
   * over the ticks after it, to the first one after now. Claiming the stale tick only to find its
   * answer late (below) lost the tick due now as well: a process whose loop was blocked for just
   * over an interval ran neither, where a plain `every` runs once, and when every process of the
   * host was held up alike (workers booting on a busy machine), no process did.
   */
  #tickOfNow(repeat: Repeat, tick: number): number {
    const wall = this.#host.wallNow();
    if (wall < tick + tickSpan(repeat, tick)) return tick;
    const now = lastWallTick(repeat, wall);
    // Between the stale tick and the one armed next (the first after now), or the stale one.
    return now !== null && now > tick && now < repeat.tick ? now : tick;
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
    // Even with no tick to catch up now (a cron whose first tick is still ahead): the runs it
    // makes from now on are what a start after a full stop catches up from.
    this.#gates.keep(singleton, name);
    const missed = lastWallTick(repeat, this.#host.wallNow());
    if (missed === null) return;
    this.#gates.lastRun(singleton, name, (last) => {
      if (last === null || last >= missed || repeat.tick !== firstTick || entry.status !== "pending") return;
      debug("timer %s catches up on the tick due at %d", name, missed);
      this.#claim(entry, repeat, NaN, missed);
    });
  }
}
