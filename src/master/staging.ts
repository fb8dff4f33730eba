/**
 * A staging: the slots of a start or a reload, launched together, until every one has a ready
 * process. It fails when a process dies before it was ever ready (with that process's reason),
 * when the wait passes READY_TIMEOUT_MS, or when its operation is aborted (a stop arrived). A
 * process that was ready and died meanwhile is respawned by the master like any other; the
 * staging only waits for its replacement to be ready too.
 */
import { StartError } from "../errors.ts";
import { slotLabel, type CycleSpec, type Slot } from "./slots.ts";

/**
 * The wait for a process to be ready: its app's load, then initWorker (which it bounds at 30 s).
 * It bounds a start's and a reload's workers here, and each respawned process in bounds.ts.
 */
export const READY_TIMEOUT_MS = 60_000;

export class Staging {
  readonly slots: readonly Slot[];
  readonly cycle: CycleSpec;
  #settle: ((error?: Error) => void) | null = null;

  constructor(slots: readonly Slot[], cycle: CycleSpec) {
    this.slots = slots;
    this.cycle = cycle;
  }

  /** Resolves when every slot has a ready process; `launch` starts them once the wait is armed. */
  wait(signal: AbortSignal, launch: () => void): Promise<void> {
    if (signal.aborted) return Promise.reject(signal.reason as Error);
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        settle(signal.reason as Error);
      };
      const timer = setTimeout(() => {
        const late = this.slots.filter((slot) => slot.child?.phase !== "running").map(slotLabel);
        settle(
          new StartError(
            `${late.join(", ")} not ready within ${READY_TIMEOUT_MS / 1000} s (its app did not finish loading, or its event loop is blocked)`,
          ),
        );
      }, READY_TIMEOUT_MS);
      const settle = (error?: Error): void => {
        if (this.#settle === null) return;
        this.#settle = null;
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        if (error === undefined) resolve();
        else reject(error);
      };
      this.#settle = settle;
      signal.addEventListener("abort", onAbort, { once: true });
      launch();
      this.check();
    });
  }

  /** Call after any process became ready: resolves the wait when every slot's process is. */
  check(): void {
    if (this.slots.every((slot) => slot.child?.phase === "running")) this.#settle?.();
  }

  /** A process of this staging died before it was ever ready. */
  fail(reason: string): void {
    this.#settle?.(new StartError(reason));
  }
}
