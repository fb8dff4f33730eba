/**
 * What the master answers on its control socket (control.ts serves it): `tsresty reload`, `stop`,
 * `status` and `logs`, each request carried out through the few things of the master's it needs.
 */
import type { ControlRequest, ControlResponse, StatusReport } from "../ipc/index.ts";
import type { ControlConnection, ControlHandler } from "./control.ts";
import type { Logs } from "./logs.ts";
import type { MasterInput, StopMode } from "./machine.ts";

/** How often a reload asked by `tsresty reload` says it goes on (the client gives up after 10 s of silence). */
const RELOAD_PROGRESS_MS = 2_000;

/** The master as the control socket sees it. */
export interface ControlTarget {
  /** Reloads (or queues a reload), and resolves with how it ended. */
  reload(): Promise<ControlResponse>;
  /** What a signal would ask for (machine.ts). */
  input(input: MasterInput): void;
  /** The stop under way, or null. */
  stopMode(): StopMode | null;
  status(): Promise<StatusReport>;
  readonly logs: Logs;
  /**
   * The workers of the running and the staged cycle (the larger count), or null while the first
   * cycle starts.
   */
  workers(): number | null;
}

/** The master's handler of control requests. */
export function controlRequests(target: ControlTarget): ControlHandler {
  return async (request, connection) => {
    switch (request.command) {
      case "logs":
        return logs(target, request, connection);
      case "reload":
        return request.progress ? reloadSaying(target, connection) : target.reload();
      case "stop":
        target.input(request.fast ? "fast" : "stop");
        return {
          ok: true,
          message: `stopping (${target.stopMode() ?? (request.fast ? "fast" : "graceful")})`,
        };
      case "status":
        return { ok: true, message: "status", status: await target.status() };
    }
  };
}

/** The last lines of the tree's logs; with `follow`, the connection stays and new lines go on it. */
function logs(
  target: ControlTarget,
  request: Extract<ControlRequest, { command: "logs" }>,
  connection: ControlConnection,
): ControlResponse | null {
  const unknown = unknownWorker(target, request.worker);
  if (unknown !== null) return { ok: false, message: unknown };
  const filter = { worker: request.worker };
  const lines = target.logs.recent(filter, request.lines).map((entry) => entry.text);
  if (!request.follow) return { ok: true, message: "logs", lines };
  connection.send({ ok: true, message: "logs", lines });
  const unfollow = target.logs.follow(filter, (entry) => {
    if (!connection.send({ ok: true, message: "log", lines: [entry.text] })) unfollow();
  });
  connection.onClose(unfollow);
  return null;
}

/**
 * Why `logs --worker ID` names no worker of this tree, or null: an id beyond the workers of the
 * running and the staged cycle with no line kept (a reload to fewer workers keeps the lines of
 * the ids it dropped). While the first cycle starts, any id may come.
 */
function unknownWorker(target: ControlTarget, id: number | null): string | null {
  if (id === null) return null;
  const workers = target.workers();
  if (workers === null) return null;
  if (id < workers || target.logs.recent({ worker: id }, 1).length > 0) return null;
  const ids = workers === 0 ? "no workers" : workers === 1 ? "worker 0 only" : `workers 0–${workers - 1}`;
  return `no worker ${id}: this tree runs ${ids}`;
}

/**
 * A reload for `tsresty reload`: it is said to go on at once and every RELOAD_PROGRESS_MS until
 * it ends. The master bounds the reload itself (init by initTimeout, the new workers by their
 * ready bound), so the client waits as long as it takes rather than a fixed time, and takes a
 * master silent for a few of these (stopped, or its event loop blocked) for one that cannot answer.
 */
async function reloadSaying(target: ControlTarget, connection: ControlConnection): Promise<ControlResponse> {
  const going = (): void => {
    connection.send({ ok: true, message: "reloading", progress: true });
  };
  going();
  const beat = setInterval(going, RELOAD_PROGRESS_MS).unref();
  try {
    return await target.reload();
  } finally {
    clearInterval(beat);
  }
}
