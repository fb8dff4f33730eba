/** What a role hands the child's lifecycle: how it prepares, and what it serves. */
import type { ChildSpec } from "../ipc/index.ts";
import type { App } from "./app.ts";
import type { RuntimeContext } from "./context.ts";
import type { ServiceCounts } from "./metrics.ts";

/** What a role serves (a worker's HTTP; nothing for the agent). */
export interface Service {
  /**
   * Starts accepting on the listening sockets the master sent (once, when the worker enters
   * rotation); `fail` ends the worker when a socket cannot be listened on.
   */
  listen(handles: readonly object[], fail: (reason: string) => void): void;
  /** Stops accepting; resolves when in-flight work is done. */
  drain(): Promise<void>;
  /** Closes everything now; resolves when what it closed has reported it (its last log lines written). */
  destroy(): Promise<void> | void;
  /** What it counted, for the metrics (a worker's HTTP requests). */
  counts?(): ServiceCounts;
  /** Opens its own files again by name (USR1 reached the master). */
  reopen?(): void;
}

export interface ChildRole {
  /** Starts serving once initWorker has run; null when the role serves nothing. */
  serve(app: App, context: RuntimeContext): Promise<Service | null>;
  /** Runs before the app is loaded (a worker drops privileges here). */
  prepare?(spec: ChildSpec): void;
}
