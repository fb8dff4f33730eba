/**
 * The master's policy for its own faults. The master runs no user code (init and the app run in
 * children), so an uncaught exception or an unhandled rejection here is tsresty's own bug: it is
 * logged at alert level and the tree keeps serving, as nginx's master outlives a worker's crash.
 * Node ends a process whose `uncaughtException` listener throws, so the listeners never throw.
 */
import { formatThrown, type LogSink } from "../util/log.ts";

/** What the listeners are added to: `process`, or a stand-in in tests. */
export interface FaultSource {
  on(event: "uncaughtException" | "unhandledRejection", listener: (value: unknown) => void): unknown;
}

/**
 * Logs every uncaught exception and unhandled rejection of `source` at alert level instead of
 * letting Node end the process.
 *
 * @example
 * reportFaults(process, master.log);
 * // a bug that throws later logs:
 * // 2026/11/22 10:00:00 [alert] 1234#-: master: uncaught exception, the tree keeps running: Error: …
 */
export function reportFaults(source: FaultSource, log: LogSink): void {
  let reporting = false;
  const report = (what: string, value: unknown): void => {
    if (reporting) return; // a log write that fails must not loop back here
    reporting = true;
    try {
      log("alert", `master: ${what}, the tree keeps running: ${formatThrown(value)}`);
    } catch {
      // Nowhere left to say it; throwing from here would end the master.
    } finally {
      reporting = false;
    }
  };
  source.on("uncaughtException", (error) => {
    report("uncaught exception", error);
  });
  source.on("unhandledRejection", (reason) => {
    report("unhandled rejection", reason);
  });
}
