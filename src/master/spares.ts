/**
 * Spare workers: processes forked blank ahead of need, so that a slot takes one already booted
 * (milliseconds) rather than waiting for a fork. Two kinds:
 *
 * - The standby: one booted worker kept while the master runs or reloads (config `standby`),
 *   forked again when a slot takes it or when it dies (slower each time it keeps dying).
 * - Early workers: forked at start beside the init process, so that their boot overlaps its run.
 *   The start's workers take them; a start that fails lets go of those it did not take.
 */
import { parseWorkers } from "../config/index.ts";
import type { LogSink } from "../util/log.ts";
import { standbyRetryDelay } from "./backoff.ts";
import type { Child, Children } from "./children.ts";
import { pidText } from "./slots.ts";

/** How long a standby has to boot (Node and tsresty's runtime, tsx for a TypeScript app; not the app). */
const STANDBY_BOOT_MS = 10_000;

/** A child forked blank that has no spec yet: booting, or booted and waiting for one. */
const isBlank = (child: Child): boolean => child.phase === "booting" || child.phase === "standing-by";

export class Spares {
  readonly #children: Children;
  readonly #log: LogSink;
  /** Whether the master wants a standby now: it runs or reloads, and the config does not turn it off. */
  readonly #wanted: () => boolean;
  #standby: Child | null = null;
  /** A standby fork is due at the next turn of the event loop (#replenish). */
  #standbyQueued = false;
  #standbyFailures = 0;
  /** The early workers not taken yet (see `forkEarly` for how many). */
  #early: Child[] = [];
  /** Early workers let go after a failed start: their exit is expected, and not logged. */
  readonly #letGo = new Set<Child>();

  constructor(children: Children, log: LogSink, wanted: () => boolean) {
    this.#children = children;
    this.#log = log;
    this.#wanted = wanted;
  }

  /** The early workers not taken yet: status shows them as starting workers, not as standbys. */
  get early(): readonly Child[] {
    return this.#early;
  }

  /** A child stood by: the standby booted. */
  standingBy(child: Child): void {
    if (child === this.#standby) this.#standbyFailures = 0;
  }

  /**
   * `--workers N` (`workersFlag`) overrides the config file, so the start will need exactly N;
   * without it the count is the config's, not known yet but at least one, and one is forked. So a
   * start that succeeds takes every early worker.
   */
  forkEarly(workersFlag: unknown): void {
    const workers = workersFlag === undefined ? null : parseWorkers(workersFlag);
    const count = workers === null ? 1 : workers.ok ? workers.value : 0;
    for (let i = 0; i < count; i++) this.#early.push(this.#children.fork("worker"));
  }

  /** A blank worker for a worker slot: an early one, else the booted standby, else null. */
  take(): Child | null {
    return this.#takeEarly() ?? this.#takeStandby();
  }

  /** The start is over: early workers it did not take (it failed) are let go. */
  releaseEarly(): void {
    for (const child of this.#early.filter(isBlank)) {
      this.#letGo.add(child);
      this.#children.kill(child, "SIGKILL");
    }
    this.#early = [];
  }

  /**
   * Forks a new standby once this turn of the event loop is over: a fork holds the master for
   * 10–20 ms, and what asked for it (the ready line, the spec for the standby just taken) goes first.
   */
  replenish(): void {
    if (this.#standbyQueued) return;
    this.#standbyQueued = true;
    setImmediate(() => {
      this.#standbyQueued = false;
      if (this.#standby !== null || !this.#wanted()) return;
      this.#standby = this.#children.fork("worker");
      this.#boundStandbyBoot(this.#standby);
    });
  }

  /**
   * A child exited (`how`, as the master says it): whether it was a spare, an early worker let go
   * or the standby. A standby that dies is replaced.
   */
  exited(child: Child, how: string, stopping: boolean): boolean {
    if (this.#letGo.delete(child)) return true;
    if (child !== this.#standby) return false;
    this.#standby = null;
    // A stop kills the blank standby (master.ts #retire): that is no news worth a notice at every stop.
    if (child.retired) this.#log("info", `standby process${pidText(child.pid)} stopped`);
    else this.#log(stopping ? "notice" : "alert", `standby process${pidText(child.pid)} ${how}`);
    // A standby that keeps dying is replaced slowly, and slower each time (backoff.ts).
    this.#standbyFailures++;
    const delay = standbyRetryDelay(this.#standbyFailures);
    setTimeout(() => {
      this.replenish();
    }, delay).unref();
    return true;
  }

  #takeStandby(): Child | null {
    const standby = this.#standby;
    if (standby === null || standby.phase !== "standing-by") return null;
    this.#standby = null;
    this.replenish();
    return standby;
  }

  /** An early worker not yet given a slot, booted or still booting. */
  #takeEarly(): Child | null {
    for (let child = this.#early.shift(); child !== undefined; child = this.#early.shift()) {
      if (isBlank(child)) return child;
    }
    return null;
  }

  /**
   * A standby not standing by within STANDBY_BOOT_MS of its fork (stopped, or starved) is killed,
   * and replaced as a standby that dies is. It stayed "starting" for good, and every respawn and
   * reload after it booted a fresh process.
   */
  #boundStandbyBoot(standby: Child): void {
    setTimeout(() => {
      if (standby !== this.#standby || standby.phase !== "booting") return;
      this.#log(
        "alert",
        `standby process${pidText(standby.pid)} not booted within ${STANDBY_BOOT_MS / 1000} s of its fork (stopped, or starved of CPU); killing it`,
      );
      this.#children.kill(standby, "SIGKILL");
    }, STANDBY_BOOT_MS).unref();
  }
}
