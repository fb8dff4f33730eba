/**
 * systemd's readiness protocol (sd_notify(3)) for `Type=notify` units (docs/tsresty.service):
 * when `$NOTIFY_SOCKET` is set, the master says READY=1 (with MAINPID) once every worker of the
 * first generation is ready and the listening sockets are bound, RELOADING=1 when a reload
 * begins and READY=1 again when it ends (done or failed: the old generation keeps serving
 * either way), and STOPPING=1 when a stop begins. Children must not speak for the service
 * (`NotifyAccess=main`), so the variable is taken out of the environment they inherit, as
 * sd_notify's `unset_environment` does.
 *
 * A datagram is sent without waiting: a receiver that does not read (its queue holds ten) would
 * otherwise hold the master's event loop in sendto, for good if it never reads. A message it had
 * no room for is tried again every RETRY_MS, the later ones kept behind it in order.
 */
import { systemCalls } from "../shdict/index.ts";
import type { LogSink } from "../util/log.ts";
import { errorMessage } from "../util/error-message.ts";

/** How often a message the receiver had no room for is tried again. */
const RETRY_MS = 100;
/** The tries after which a receiver that reads nothing is said to (once). */
const TRIES_SAID = 50;

export class Notifier {
  readonly #socket: string;
  readonly #log: LogSink;
  #failed = false;
  /** What is not sent yet, in order: the receiver's queue was full. */
  readonly #pending: string[] = [];
  #retry: NodeJS.Timeout | null = null;
  #tries = 0;

  private constructor(socket: string, log: LogSink) {
    this.#socket = socket;
    this.#log = log;
  }

  /** The notifier of a master started by systemd, or null (no `$NOTIFY_SOCKET`). */
  static fromEnvironment(env: NodeJS.ProcessEnv, log: LogSink): Notifier | null {
    const socket = env["NOTIFY_SOCKET"];
    delete env["NOTIFY_SOCKET"];
    return socket === undefined || socket === "" ? null : new Notifier(socket, log);
  }

  ready(status: string): void {
    this.#send(`READY=1\nMAINPID=${process.pid}\nSTATUS=${status}`);
  }

  reloading(): void {
    // systemd compares MONOTONIC_USEC with CLOCK_MONOTONIC, which is libuv's hrtime on Linux.
    const usec = process.hrtime.bigint() / 1000n;
    this.#send(`RELOADING=1\nMONOTONIC_USEC=${usec}\nSTATUS=reloading`);
  }

  stopping(): void {
    this.#send("STOPPING=1\nSTATUS=stopping");
  }

  #send(message: string): void {
    this.#pending.push(message);
    if (this.#retry === null) this.#flush();
  }

  #flush(): void {
    this.#retry = null;
    for (let message = this.#pending[0]; message !== undefined; message = this.#pending[0]) {
      let error: string | null | undefined;
      try {
        error = systemCalls().notify(this.#socket, message);
      } catch (thrown) {
        error = errorMessage(thrown);
      }
      if (error === null) {
        if (++this.#tries === TRIES_SAID)
          this.#fail(
            `its queue has been full for ${(TRIES_SAID * RETRY_MS) / 1000} s (nothing read); trying again every ${RETRY_MS} ms`,
          );
        this.#retry = setTimeout(() => {
          this.#flush();
        }, RETRY_MS).unref();
        return;
      }
      this.#pending.shift();
      this.#tries = 0;
      if (error !== undefined) this.#fail(error);
    }
  }

  #fail(error: string): void {
    // Said once: a socket that refuses one message refuses the next ones for the same reason.
    if (!this.#failed) this.#log("alert", `cannot notify systemd at ${this.#socket}: ${error}`);
    this.#failed = true;
  }
}
