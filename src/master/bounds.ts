/**
 * The master's bounds on its children, each a step with a deadline: a child told to stop has its
 * budget, a respawned process has READY_TIMEOUT_MS to be ready, and a standby given a slot has
 * ASSUME_TIMEOUT_MS to answer. Past its bound a child is killed (SIGKILL) with an alert that names
 * the step; its exit then goes as any other (the master respawns its slot, or not).
 */
import type { LogSink } from "../util/log.ts";
import { longTimeout } from "../util/long-timeout.ts";
import type { Child, Children } from "./children.ts";
import { childLabel } from "./slots.ts";
import { READY_TIMEOUT_MS } from "./staging.ts";

/** How long a standby given a slot has to answer "assume" (it answers before loading anything). */
const ASSUME_TIMEOUT_MS = 5_000;

export class Bounds {
  readonly #children: Children;
  readonly #log: LogSink;
  /** The kill bound (its cancel) of each retired child still running; cancelled when it exits. */
  readonly #stop = new Map<Child, () => void>();
  /** The ready bound of each respawned process not ready yet; cleared when it is ready or exits. */
  readonly #ready = new Map<Child, NodeJS.Timeout>();
  /** Standbys given a slot that `assume` killed: their slot is not their app's failure. */
  readonly #unanswered = new WeakSet<Child>();

  constructor(children: Children, log: LogSink) {
    this.#children = children;
    this.#log = log;
  }

  /**
   * A child told to stop is SIGKILLed if it is still there past its budget (seconds), saying `why`
   * it was told (a stop, or the reload that replaced it). A bound set before is replaced.
   */
  stop(child: Child, budget: number, why: string): void {
    this.#stop.get(child)?.();
    // A long timeout: a shutdownTimeout near its bound (2^31-1 ms) plus the margins is past what
    // one setTimeout waits (it was a SIGKILL at once), and the alert names the whole budget.
    const bound = longTimeout(
      () => {
        this.#stop.delete(child);
        if (child.phase === "exited") return;
        this.#log(
          "alert",
          `${childLabel(child)} still alive ${budget} s after ${why} (its budget); killing it`,
        );
        this.#children.kill(child, "SIGKILL");
      },
      budget * 1000,
      { unref: true },
    );
    this.#stop.set(child, bound);
  }

  /**
   * A respawned process must be ready within READY_TIMEOUT_MS, as a start's and a reload's must:
   * past it (its app never finished loading, its event loop is blocked, or it is a standby that no
   * longer answers) it is killed, and its slot respawns as after any death, with backoff.
   */
  ready(child: Child): void {
    const bound = setTimeout(() => {
      this.#ready.delete(child);
      if (child.readyAt !== null || child.phase === "exited" || child.retired) return;
      this.#log(
        "alert",
        `${childLabel(child)} not ready within ${READY_TIMEOUT_MS / 1000} s of its respawn (its app did not finish loading, or its event loop is blocked); killing it`,
      );
      this.#children.kill(child, "SIGKILL");
    }, READY_TIMEOUT_MS).unref();
    this.#ready.set(child, bound);
  }

  /**
   * A booted spare given a slot answers at once, before it loads the app: one that does not
   * within ASSUME_TIMEOUT_MS (stopped, or starved) is killed, and its slot respawns as after any
   * death, from the next spare or a fork. It held its slot empty for READY_TIMEOUT_MS, a reload
   * failed after it, blaming the app.
   */
  assume(child: Child): void {
    setTimeout(() => {
      if (child.assumedAt !== null || child.phase === "exited" || child.retired) return;
      this.#log(
        "alert",
        `${childLabel(child)}, a standby given its slot, did not answer within ${ASSUME_TIMEOUT_MS / 1000} s (stopped, or starved of CPU); killing it`,
      );
      this.#unanswered.add(child);
      this.#children.kill(child, "SIGKILL");
    }, ASSUME_TIMEOUT_MS).unref();
  }

  /** Whether `child` is a standby given a slot that `assume` killed: its app never ran. */
  unanswered(child: Child): boolean {
    return this.#unanswered.has(child);
  }

  /** The child is ready: its ready bound goes. */
  readied(child: Child): void {
    clearTimeout(this.#ready.get(child));
    this.#ready.delete(child);
  }

  /** The child exited: its bounds go. */
  exited(child: Child): void {
    this.#stop.get(child)?.();
    this.#stop.delete(child);
    this.readied(child);
  }
}
