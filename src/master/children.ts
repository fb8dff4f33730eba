/**
 * The master's view of its children: forking them through node:cluster (so workers share the
 * listening sockets), their state, and the IPC conversation with each.
 */
import cluster, { type Worker } from "node:cluster";
import { fileURLToPath } from "node:url";
import { debuglog } from "node:util";
import {
  CHILD_SPEC_ENV,
  encodeChildSpec,
  parseChildMessage,
  type ChildSpec,
  type ChildStatus,
  type MasterMessage,
} from "../ipc/index.ts";

export type ChildPhase = "starting" | "running" | "draining" | "exited";

export interface Child {
  readonly spec: ChildSpec;
  readonly pid: number;
  readonly startedAt: number;
  phase: ChildPhase;
  /** Stopped on purpose (reload, stop): its exit is not a crash and is not respawned. */
  retired: boolean;
  /** The child announced a graceful exit of its own (signalGracefulExit): not a crash. */
  announcedExit: boolean;
  /** Addresses the child reported when ready. */
  addresses: readonly string[];
  readonly worker: Worker;
}

export interface ChildEvents {
  ready(child: Child): void;
  failed(child: Child, reason: string): void;
  exiting(child: Child): void;
  exited(child: Child, code: number | null, signal: string | null): void;
}

const debug = debuglog("tsresty:master");

const WORKER_ENTRY = fileURLToPath(new URL("../worker/main.ts", import.meta.url));
/** Children load TypeScript (tsresty's and the app's) through tsx, resolved from tsresty's own install. */
const TSX = import.meta.resolve("tsx");

export class Children {
  readonly #events: ChildEvents;
  readonly #live = new Map<Worker, Child>();
  readonly #statusWaiters = new Map<number, (status: ChildStatus) => void>();
  #seq = 0;

  constructor(events: ChildEvents) {
    this.#events = events;
    cluster.setupPrimary({ exec: WORKER_ENTRY, execArgv: ["--import", TSX], silent: false });
    cluster.on("message", (worker, raw) => {
      this.#onMessage(worker, raw);
    });
    cluster.on("exit", (worker, code, signal) => {
      const child = this.#live.get(worker);
      if (child === undefined) return;
      this.#live.delete(worker);
      child.phase = "exited";
      this.#events.exited(child, code, signal);
    });
  }

  fork(spec: ChildSpec): Child {
    const worker = cluster.fork({ [CHILD_SPEC_ENV]: encodeChildSpec(spec) });
    // A message to a child that is exiting fails with EPIPE: the exit event tells the rest.
    worker.on("error", (error) => {
      debug("child %d: %s", worker.process.pid, error.message);
    });
    const child: Child = {
      spec,
      pid: worker.process.pid ?? -1,
      startedAt: Date.now(),
      phase: "starting",
      retired: false,
      announcedExit: false,
      addresses: [],
      worker,
    };
    this.#live.set(worker, child);
    return child;
  }

  get live(): readonly Child[] {
    return [...this.#live.values()];
  }

  send(child: Child, message: MasterMessage): void {
    if (child.phase === "exited" || !child.worker.isConnected()) return;
    child.worker.send(message);
  }

  broadcast(message: MasterMessage): void {
    for (const child of this.#live.values()) this.send(child, message);
  }

  /** Asks a child for its status; null when it does not answer within `timeoutMs`. */
  status(child: Child, timeoutMs: number): Promise<ChildStatus | null> {
    const seq = ++this.#seq;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#statusWaiters.delete(seq);
        resolve(null);
      }, timeoutMs);
      this.#statusWaiters.set(seq, (status) => {
        clearTimeout(timer);
        resolve(status);
      });
      this.send(child, { type: "status", seq });
    });
  }

  /** SIGKILLs every child still alive. */
  killAll(): void {
    for (const child of this.#live.values()) child.worker.process.kill("SIGKILL");
  }

  #onMessage(worker: Worker, raw: unknown): void {
    const child = this.#live.get(worker);
    const message = parseChildMessage(raw);
    if (child === undefined || message === null) return;
    switch (message.type) {
      case "ready":
        child.phase = "running";
        child.addresses = message.addresses;
        this.#events.ready(child);
        return;
      case "failed":
        this.#events.failed(child, message.reason);
        return;
      case "exiting":
        child.phase = "draining";
        child.announcedExit = true;
        this.#events.exiting(child);
        return;
      case "status":
        this.#statusWaiters.get(message.seq)?.(message.status);
        this.#statusWaiters.delete(message.seq);
        return;
    }
  }
}
