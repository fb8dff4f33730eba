import { checkChildSpec, type ChildSpec } from "./spec.ts";

/**
 * The message protocol between the master and its children, over Node's IPC channel. Every
 * message is a plain object with a `type`; requests that want an answer carry a `seq` that the
 * answer repeats. `parseMessage` is the only way in: anything it does not recognise is
 * ignored by the receiver, never a crash.
 */

/** A timer with a name, as status shows it. */
export interface NamedTimer {
  readonly name: string;
  readonly state: string;
  readonly repeating: boolean;
}

/** What a child reports about itself for `tsresty status`. */
export interface ChildStatus {
  readonly pending: number;
  readonly running: number;
  readonly rss: number;
  readonly timers: readonly NamedTimer[];
}

export type MasterMessage =
  /** Graceful: drain, premature timers, exitWorker, exit 0. Fast: exitWorker, exit. */
  | { readonly type: "stop"; readonly mode: "graceful" | "fast" }
  | { readonly type: "status"; readonly seq: number }
  | { readonly type: "pids"; readonly pids: readonly number[] }
  | { readonly type: "reopen-logs" }
  /** Sent with a connection's socket as the handle: serve it. */
  | { readonly type: "connection" }
  /** To a standby: become this child. */
  | { readonly type: "assume"; readonly spec: ChildSpec };

export type ChildMessage =
  /** The child runs: initWorker is done and it takes connections. */
  | { readonly type: "ready" }
  | { readonly type: "status"; readonly seq: number; readonly status: ChildStatus }
  /** The child begins a graceful exit of its own (signalGracefulExit): respawn it at once. */
  | { readonly type: "exiting" }
  /** The child cannot start (app failed to load, address busy); it exits after sending this. */
  | { readonly type: "failed"; readonly reason: string }
  /** A standby has booted and waits for "assume". */
  | { readonly type: "standing-by" }
  /** A process group this child spawned (ngx.pipe) began or ended: the master ends it if the child dies. */
  | { readonly type: "pipe-group"; readonly pgid: number; readonly alive: boolean };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}

const isInteger = (value: unknown): value is number => typeof value === "number" && Number.isInteger(value);

export function parseMasterMessage(value: unknown): MasterMessage | null {
  if (!isRecord(value)) return null;
  switch (value["type"]) {
    case "stop":
      return value["mode"] === "graceful" || value["mode"] === "fast"
        ? { type: "stop", mode: value["mode"] }
        : null;
    case "status":
      return isInteger(value["seq"]) ? { type: "status", seq: value["seq"] } : null;
    case "pids": {
      const pids = value["pids"];
      return Array.isArray(pids) && pids.every(isInteger) ? { type: "pids", pids } : null;
    }
    case "reopen-logs":
      return { type: "reopen-logs" };
    case "connection":
      return { type: "connection" };
    case "assume":
      try {
        return { type: "assume", spec: checkChildSpec(value["spec"]) };
      } catch {
        return null;
      }
    default:
      return null;
  }
}

export function parseChildMessage(value: unknown): ChildMessage | null {
  if (!isRecord(value)) return null;
  switch (value["type"]) {
    case "ready":
      return { type: "ready" };
    case "status": {
      const status = value["status"];
      if (!isInteger(value["seq"]) || !isRecord(status)) return null;
      const { pending, running, rss, timers } = status;
      if (!isInteger(pending) || !isInteger(running) || !isInteger(rss) || !Array.isArray(timers))
        return null;
      return {
        type: "status",
        seq: value["seq"],
        status: { pending, running, rss, timers: timers as NamedTimer[] },
      };
    }
    case "exiting":
      return { type: "exiting" };
    case "failed":
      return typeof value["reason"] === "string" ? { type: "failed", reason: value["reason"] } : null;
    case "standing-by":
      return { type: "standing-by" };
    case "pipe-group":
      return isInteger(value["pgid"]) && typeof value["alive"] === "boolean"
        ? { type: "pipe-group", pgid: value["pgid"], alive: value["alive"] }
        : null;
    default:
      return null;
  }
}
