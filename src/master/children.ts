/**
 * The master's view of its children: forking them, their state, and the IPC conversation with
 * each (messages, and connections handed over as socket handles).
 */
import { fork, type ChildProcess } from "node:child_process";
import type { Socket } from "node:net";
import { fileURLToPath } from "node:url";
import { debuglog } from "node:util";
import {
  CHILD_SPEC_ENV,
  encodeChildSpec,
  parseChildMessage,
  type ChildSpec,
  type ChildStatus,
  type MasterMessage,
  STANDBY,
} from "../ipc/index.ts";
import { PipeGroups } from "./pipe-groups.ts";

const debug = debuglog("tsresty:master");

export type ChildPhase = "starting" | "running" | "draining" | "exited";

export interface Child {
  /** What the child is; null while it is a standby. */
  spec: ChildSpec | null;
  readonly pid: number;
  readonly startedAt: number;
  phase: ChildPhase;
  /** Stopped on purpose (reload, stop): its exit is not a crash and is not respawned. */
  retired: boolean;
  /** The child announced a graceful exit of its own (signalGracefulExit): not a crash. */
  announcedExit: boolean;
  /** Process groups the child spawned through ngx.pipe and has not seen end (checked claims). */
  readonly pipeGroups: PipeGroups;
  readonly process: ChildProcess;
}

export interface ChildEvents {
  standingBy(child: Child): void;
  ready(child: Child): void;
  failed(child: Child, reason: string): void;
  exiting(child: Child): void;
  exited(child: Child, code: number | null, signal: string | null): void;
}

const WORKER_ENTRY = fileURLToPath(new URL("../worker/main.ts", import.meta.url));
const AGENT_ENTRY = fileURLToPath(new URL("../agent/main.ts", import.meta.url));
/** Children load TypeScript (tsresty's and the app's) through tsx, resolved from tsresty's own install. */
const TSX = import.meta.resolve("tsx");

export class Children {
  readonly #events: ChildEvents;
  readonly #live = new Set<Child>();
  readonly #statusWaiters = new Map<number, (status: ChildStatus) => void>();
  #seq = 0;

  constructor(events: ChildEvents) {
    this.#events = events;
  }

  /** Forks a child with `spec`, or a standby when `spec` is null. */
  fork(spec: ChildSpec | null): Child {
    const forked = fork(spec?.role === "privileged agent" ? AGENT_ENTRY : WORKER_ENTRY, [], {
      execArgv: ["--import", TSX],
      env: { ...process.env, [CHILD_SPEC_ENV]: spec === null ? STANDBY : encodeChildSpec(spec) },
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      serialization: "json",
    });
    const child: Child = {
      spec,
      pid: forked.pid ?? -1,
      startedAt: Date.now(),
      phase: "starting",
      retired: false,
      announcedExit: false,
      pipeGroups: new PipeGroups(),
      process: forked,
    };
    this.#live.add(child);
    // A message to a child that is exiting fails with EPIPE: the exit event tells the rest.
    forked.on("error", (error) => {
      debug("child %d: %s", child.pid, error.message);
    });
    forked.on("message", (raw) => {
      this.#onMessage(child, raw);
    });
    forked.on("exit", (code, signal) => {
      this.#live.delete(child);
      child.phase = "exited";
      // Children never outlive the process that spawned them, even one that was SIGKILLed.
      child.pipeGroups.killAll();
      this.#events.exited(child, code, signal);
    });
    return child;
  }

  get live(): readonly Child[] {
    return [...this.#live];
  }

  send(child: Child, message: MasterMessage): void {
    if (child.phase === "exited" || !child.process.connected) return;
    child.process.send(message);
  }

  /**
   * Hands a connection to a child; false when the child cannot take it. (`send` returning false
   * only means the channel has a backlog: the handle is still queued and delivered.)
   */
  sendConnection(child: Child, socket: Socket): boolean {
    if (child.phase === "exited" || !child.process.connected) return false;
    try {
      child.process.send({ type: "connection" } satisfies MasterMessage, socket, (error) => {
        if (error !== null) debug("child %d: a connection was not delivered: %s", child.pid, error.message);
      });
      return true;
    } catch (error) {
      debug("child %d: cannot take a connection: %s", child.pid, String(error));
      return false;
    }
  }

  broadcast(message: MasterMessage): void {
    for (const child of this.#live) this.send(child, message);
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

  /** Turns a booted standby into the child `spec` describes. */
  assume(child: Child, spec: ChildSpec): void {
    child.spec = spec;
    child.phase = "starting";
    this.send(child, { type: "assume", spec });
  }

  /** SIGKILLs every child still alive. */
  killAll(): void {
    for (const child of this.#live) child.process.kill("SIGKILL");
  }

  #onMessage(child: Child, raw: unknown): void {
    const message = parseChildMessage(raw);
    if (message === null) return;
    switch (message.type) {
      case "ready":
        child.phase = "running";
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
      case "standing-by":
        this.#events.standingBy(child);
        return;
      case "pipe-group":
        if (message.alive) child.pipeGroups.register(message.pgid, child.pid);
        else child.pipeGroups.forget(message.pgid);
        return;
      case "status":
        this.#statusWaiters.get(message.seq)?.(message.status);
        this.#statusWaiters.delete(message.seq);
        return;
    }
  }
}
