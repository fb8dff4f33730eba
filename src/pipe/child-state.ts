/**
 * What a child's event handlers update: its exit status, who waits for it, whether its stdin
 * broke. It is kept apart from PipeProcess on purpose: the handlers live as long as the child runs
 * (libuv holds them), and if they reached the PipeProcess, an abandoned one could never be
 * garbage-collected, so its child could never be ended from a FinalizationRegistry.
 */
import { constants } from "node:os";
import { longTimeout } from "../util/long-timeout.ts";
import type { PipeChild } from "./spawn-child.ts";

/**
 * `proc.wait()`: how the child ended (OpenResty's `ok, reason, status`), or why the wait failed.
 * @example
 * const result = await proc.wait();
 * if (result.ok) done();
 * else ngx.log(ngx.ERR, "child ", result.reason, " ", result.status); // "exit" 2, "signal" 9, or "timeout"
 */
export type WaitResult =
  | { readonly ok: true; readonly reason: "exit"; readonly status: 0 }
  | {
      readonly ok: false;
      readonly reason: "exit" | "signal";
      readonly status: number;
      readonly error?: string;
    }
  | {
      readonly ok: false;
      readonly reason: "timeout" | "exited" | "pipe busy waiting";
      readonly status: null;
    };

export class ChildState {
  /** How the child ended; null while it runs. */
  exit: WaitResult | null = null;
  stdinClosed = false;
  #waiters: (() => void)[] = [];

  settle(result: WaitResult): void {
    if (this.exit !== null) return;
    this.exit = result;
    for (const wake of this.#waiters.splice(0)) wake();
  }

  /** Resolves true once the child has exited, false after `timeoutMs` (0 = never). */
  exited(timeoutMs: number): Promise<boolean> {
    if (this.exit !== null) return Promise.resolve(true);
    return new Promise((resolve) => {
      const wake = (): void => {
        cancel();
        resolve(true);
      };
      const cancel =
        timeoutMs > 0
          ? longTimeout(() => {
              this.#waiters = this.#waiters.filter((w) => w !== wake);
              resolve(false);
            }, timeoutMs)
          : () => undefined;
      this.#waiters.push(wake);
    });
  }
}

/** Follows `child`'s life into a new state; `file` names the program in a spawn failure. */
export function watchChild(child: PipeChild, file: string): ChildState {
  const state = new ChildState();
  child.stdin?.on("error", () => {
    state.stdinClosed = true;
  });
  child.on("error", (error: NodeJS.ErrnoException) => {
    // The program could not start (ENOENT, EACCES): reported as exit 127 with the reason.
    state.settle({ ok: false, reason: "exit", status: 127, error: `${file}: ${error.message}` });
  });
  child.on("exit", (code, signal) => {
    if (signal !== null) {
      const status = typeof signal === "number" ? signal : constants.signals[signal];
      state.settle({ ok: false, reason: "signal", status });
    } else if (code === 0) state.settle({ ok: true, reason: "exit", status: 0 });
    else state.settle({ ok: false, reason: "exit", status: code ?? 1 });
  });
  return state;
}
