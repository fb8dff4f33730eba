/**
 * The `init` role: runs the app's `init` hook inside the master process, at start and on every
 * reload, before any child starts. The master loads this module by URL (it never imports the
 * runtime itself). Here `ngx.process.type()` is "master", `ngx.worker.id()` null, timers are
 * disabled (OpenResty: "no request"), and `ngx.process.enablePrivilegedAgent()` works.
 */
import { resolveConfig } from "../config/index.ts";
import { installGlobalNgx, installRuntime, loadApp } from "../runtime/index.ts";
import type { LogSink } from "../util/log.ts";

export interface InitRequest {
  readonly appPath: string;
  /** Makes the app module load anew on a reload. */
  readonly generation: number;
  readonly config: unknown;
  readonly workerCount: number;
  readonly log: LogSink;
}

export interface InitResult {
  /** Connections of the privileged agent when `init` enabled it, else null. */
  readonly privilegedAgent: number | null;
  /** Whether the app has an HTTP handler (fetch or handler). */
  readonly servesHttp: boolean;
}

export async function runInit(request: InitRequest): Promise<InitResult> {
  let privilegedAgent: number | null = null;
  let open = true;
  const identity = Object.freeze({
    type: "master" as const,
    workerId: null,
    workerCount: request.workerCount,
    masterPid: process.pid,
  });
  const base = {
    identity,
    config: resolveConfig(request.config),
    log: request.log,
    workerPids: () => [],
    timersDisabledIn: "the context of init",
  };
  installRuntime({
    ...base,
    enablePrivilegedAgent: (connections) => {
      if (!open) throw new Error("init has finished");
      privilegedAgent = connections;
    },
  });
  installGlobalNgx();
  let servesHttp: boolean;
  try {
    const app = await loadApp(request.appPath, String(request.generation));
    servesHttp = app.fetch !== undefined || app.handler !== undefined;
    await app.init?.();
  } finally {
    open = false;
    installRuntime(base);
  }
  return { privilegedAgent, servesHttp };
}
