/** A child's messages to the master, which may be gone by the time one is sent. */
import { sendToParent, type SentChildMessage } from "../ipc/index.ts";
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
