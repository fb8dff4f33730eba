/**
 * A worker out of file descriptors, said in its log. Out of them, its accepts fail, and libuv
 * (its EMFILE trick) accepts and closes the waiting connections itself: their clients see a reset
 * and nothing else says why. So a serving worker looks every few seconds (/proc/self/limits
 * against /proc/self/fd, a few milliseconds with thousands of connections open) and says once when
 * it runs out and once when descriptors are free again.
 */
import type { LogSink } from "../util/log.ts";
import { descriptorShortage } from "../util/proc.ts";

const WATCH_EVERY_MS = 5_000;

/** Starts the look; returns what stops it. */
export function watchDescriptors(log: LogSink): () => void {
  let short = false;
  const timer = setInterval(() => {
    const why = descriptorShortage(1);
    if ((why !== null) === short) return;
    short = why !== null;
    if (why !== null)
      log(
        "alert",
        `out of file descriptors (${why}): new connections are closed unanswered as they arrive until some close (raise the limit: ulimit -n, systemd's LimitNOFILE=)`,
      );
    else log("notice", "file descriptors are free again: new connections are answered");
  }, WATCH_EVERY_MS).unref();
  return () => {
    clearInterval(timer);
  };
}
