/**
 * The master's side of the init process (see src/init/main.ts): fork it, ask it to load the
 * config, let the master act on the config, ask it to run `init`, and collect the outcome. Every
 * wait is bounded and abortable: a stop that arrives meanwhile kills the init process at once.
 */
import { ConfigError, StartError } from "../errors.ts";
import type { ChildMessage, InitOutcome, LoadRequest, ZoneRef } from "../ipc/index.ts";
import { longTimeout } from "../util/long-timeout.ts";
import { isStopped } from "../util/proc.ts";

import type { Child, Children } from "./children.ts";

/** How long loading the config may take (init itself is bounded by config.initTimeout). */
const LOAD_TIMEOUT_MS = 60_000;

type Waiter = (message: ChildMessage | { readonly type: "exit"; readonly how: string }) => void;

export class InitProcess {
  readonly #children: Children;
  readonly #child: Child;
  readonly #signal: AbortSignal;
  readonly #request: LoadRequest;
  #waiter: Waiter | null = null;

  constructor(children: Children, request: LoadRequest, signal: AbortSignal) {
    this.#children = children;
    this.#signal = signal;
    this.#request = request;
    this.#child = children.fork("init");
    const abort = (): void => {
      children.kill(this.#child, "SIGKILL");
    };
    signal.addEventListener("abort", abort, { once: true });
    this.#ready = this.#next("standing-by", LOAD_TIMEOUT_MS, "to start").then(() => {
      children.send(this.#child, { type: "load", request });
    });
  }

  readonly #ready: Promise<void>;

  get child(): Child {
    return this.#child;
  }

  /** Forwards what the init process says or how it ended (the master's child events call this). */
  deliver(message: ChildMessage | { readonly type: "exit"; readonly how: string }): void {
    this.#waiter?.(message);
  }

  /** The config as the init process loaded it (not yet resolved by the master). */
  async config(): Promise<unknown> {
    await this.#ready;
    const message = await this.#next(
      "config",
      LOAD_TIMEOUT_MS,
      `to load the config ${this.#request.configName}`,
      "its code still runs (a top-level await that never settles, or a loop)",
    );
    return message.type === "config" ? message.config : undefined;
  }

  /** Runs `init` with the cycle's zones, bounded by initTimeout (`initMs`) plus `marginMs` for loading the app. */
  async run(zones: readonly ZoneRef[], initMs: number, marginMs: number): Promise<InitOutcome> {
    const boundMs = initMs + marginMs;
    this.#children.send(this.#child, { type: "run-init", zones });
    const message = await this.#next(
      "init-done",
      boundMs,
      `to load the app and run init (initTimeout ${initMs / 1000} s, plus ${marginMs / 1000} s to load the app)`,
      "the app's top level or init still runs (a top-level await that never settles, or a loop that never yields)",
    );
    if (message.type !== "init-done") throw new StartError("init process: unexpected answer");
    return message.outcome;
  }

  /** Ends the init process (it exits by itself after "init-done"; this is for failures). */
  kill(): void {
    this.#children.kill(this.#child, "SIGKILL");
  }

  /**
   * The init process's next message of `type`; past `timeoutMs` it is killed, the error naming
   * the `task` it had to do and why it did not: it was stopped, or else what is `busy`.
   */
  #next(type: ChildMessage["type"], timeoutMs: number, task: string, busy?: string): Promise<ChildMessage> {
    return new Promise((resolve, reject) => {
      if (this.#signal.aborted) {
        reject(this.#signal.reason as Error);
        return;
      }
      // A long timeout: an initTimeout near its bound plus the margin is past what one setTimeout
      // waits (it failed every start at once), and the message names the whole bound.
      const cancel = longTimeout(() => {
        done();
        const why = this.#stopped() ?? busy;
        this.kill();
        const reason = why === undefined ? "" : `: ${why}`;
        reject(new StartError(`the init process took more than ${timeoutMs / 1000} s ${task}${reason}`));
      }, timeoutMs);
      const onAbort = (): void => {
        done();
        reject(this.#signal.reason as Error);
      };
      const done = (): void => {
        cancel();
        this.#waiter = null;
        this.#signal.removeEventListener("abort", onAbort);
      };
      this.#signal.addEventListener("abort", onAbort, { once: true });
      this.#waiter = (message) => {
        if (message.type === "exit") {
          done();
          reject(this.#failure(message.how, task));
        } else if (message.type === type) {
          done();
          resolve(message);
        }
      };
    });
  }

  /** That the init process is stopped, which nothing it runs could do for it, or null. */
  #stopped(): string | null {
    const { pid } = this.#child;
    return isStopped(pid)
      ? `it was stopped (pid ${pid} in state T: SIGSTOP, a debugger, or a terminal's job control), not running its code`
      : null;
  }

  /**
   * Why the init process ended before answering: what it said, or how it died and what it had to
   * do (a `process.exit()` in the config read only "exited with code 0 before it answered").
   */
  #failure(how: string, task: string): Error {
    const failure = this.#child.failure;
    if (failure === null) return new StartError(`the init process ${how} before it answered; it had ${task}`);
    return failure.kind === "config" ? ConfigError.reported(failure.reason) : new StartError(failure.reason);
  }
}
