/**
 * A child of the master (a worker or the privileged agent): how it waits for its spec, and the
 * wiring of its lifecycle (lifecycle.ts, where the table of its states is) to the master's
 * messages, the signals sent to it by hand and the app's stray rejections.
 */
import { resolveConfig, type ResolvedConfig } from "../config/index.ts";
import { parseMasterMessage, type ChildSpec } from "../ipc/index.ts";
import { handleSignals, ignore } from "../process/index.ts";
import { preloadTypeScriptIfAsked } from "../util/loader.ts";
import { lineLogger, type LogSink } from "../util/log.ts";
import { installGlobalNgx } from "./global.ts";
import { ChildLifecycle } from "./lifecycle.ts";
import { describeUncaught } from "../util/load-error.ts";
import { onMasterMessage } from "./master-messages.ts";
import { ChildProbes } from "./metrics.ts";
import type { ChildRole } from "./service.ts";
import { reportPipeGroups, send } from "./to-master.ts";

/** In the agent, `connections` bounds the running timer callbacks (OpenResty: its connection slots). */

function capRunning(config: ResolvedConfig, connections: number | null): ResolvedConfig {
  if (connections === null || connections >= config.timers.maxRunning) return config;
  return Object.freeze({ ...config, timers: Object.freeze({ ...config.timers, maxRunning: connections }) });
}

/**
 * The first step of every child: signal handlers that queue what arrives before the child can act,
 * tsx for a TypeScript app, then "standing-by" until the master says what this process is.
 */
export async function awaitSpec(): Promise<ChildSpec> {
  handleSignals({ SIGHUP: ignore, SIGINT: ignore, SIGUSR1: ignore, SIGUSR2: ignore });
  process.on("disconnect", () => process.exit(0));
  await preloadTypeScriptIfAsked();
  return new Promise((resolve) => {
    const onMessage = (raw: unknown): void => {
      const message = parseMasterMessage(raw);
      if (message?.type === "stop") process.exit(0);
      if (message?.type !== "assume") return;
      process.off("message", onMessage);
      send({ type: "assumed" });
      resolve(message.spec);
    };
    process.on("message", onMessage);
    send({ type: "standing-by" });
  });
}

export async function runChild(spec: ChildSpec, role: ChildRole): Promise<void> {
  const config = capRunning(resolveConfig(spec.config), spec.connections);
  const log: LogSink = lineLogger({
    write: (line) => process.stderr.write(line),
    pid: process.pid,
    workerId: () => spec.workerId,
    minLevel: config.logLevel,
  });
  const child = new ChildLifecycle(spec, config, log);
  installGlobalNgx();
  reportPipeGroups();
  // Sampling the event loop costs a timer tick every 20 ms: only when something will read it.
  const probes = config.metrics === null ? null : new ChildProbes();
  process.on("message", (raw, handle) => {
    onMasterMessage(child, probes, raw, handle);
  });
  // Signals sent to a child by hand mean what the master's messages mean; the master stops its
  // children with messages, never with these, so an exit they begin is this child's own: the
  // master is told (as for signalGracefulExit) and does not count it as a crash.
  handleSignals({
    SIGQUIT: () => void child.stop("graceful", true),
    SIGTERM: () => void child.stop("fast", true),
  });
  // A promise the app left rejected with no handler (a stray `fetch()` in a timer's work) is
  // logged and the process goes on serving, as a Lua error leaves an nginx worker serving: Node's
  // default ended the process, and every request and timer of it (none had its premature call),
  // for one stray promise, and the master respawned it with backoff. A rejection changes no
  // state, unlike an exception thrown through the code; uncaught exceptions still end it.
  process.on("unhandledRejection", (reason) => {
    log("error", `unhandled rejection, the process keeps running: ${describeUncaught(reason)}`);
  });
  return child.start(role);
}
