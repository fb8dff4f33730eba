/** A child's messages to the master, which may be gone by the time one is sent. */
import { subscribe } from "node:diagnostics_channel";
import { sendToParent, type SentChildMessage } from "../ipc/index.ts";
import { EXIT_CHANNEL, SPAWN_CHANNEL } from "../pipe/index.ts";
import { withTimeout } from "../util/timeout.ts";

export function send(message: SentChildMessage): void {
  try {
    process.send?.(message);
  } catch {
    // the master is gone: "disconnect" ends this process
  }
}

/** Sends `message` and resolves once it is out, or after 1 s (the master may be gone). */
export function sendAndWait(message: SentChildMessage): Promise<unknown> {
  return withTimeout(sendToParent(message), 1_000);
}

/**
 * Tells the master of each process group this process starts through ngx.pipe and of each that
 * has ended (its leftovers too, after their grace), so that the master ends them should this
 * process die without ending them itself (SIGKILL). Every child of the master that runs user code
 * calls it before that code runs: the workers, the agent, and the init process, which the master
 * SIGKILLs when a stop comes while `init` runs.
 */
export function reportPipeGroups(): void {
  subscribe(SPAWN_CHANNEL, (message) => {
    send({ type: "pipe-group", pgid: (message as { pid: number }).pid, alive: true });
  });
  subscribe(EXIT_CHANNEL, (message) => {
    send({ type: "pipe-group", pgid: (message as { pid: number }).pid, alive: false });
  });
}
