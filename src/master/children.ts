/**
 * The master's view of its children: forking them, their phase, their output, and the IPC
 * conversation with each. Every child boots blank and says "standing-by"; only then does the
 * master send what it is to be (its spec, or the init process's load request), so no message is
 * sent before the child listens and nothing of tsresty's travels in the environment.
 */
import { fork, type ChildProcess } from "node:child_process";

import { fileURLToPath } from "node:url";
import { debuglog } from "node:util";
import {
  parseChildMessage,
  type ChildMessage,
  type ChildSpec,
  type ChildStatus,
  type StatusScope,
  type MasterMessage,
} from "../ipc/index.ts";
import { EARLY_SIGNALS_URL, signalSafetyFlags } from "../process/index.ts";
import { TYPESCRIPT_ARG } from "../util/loader.ts";
import { FROM_SOURCE, ownModule } from "../util/own-module.ts";
import { descriptorShortage } from "../util/proc.ts";
import {
  describeFault,
  guardChannel,
  MAX_CHANNEL_MESSAGE_BYTES,
  MAX_CHANNEL_MESSAGE_MB,
  type ChannelFault,
} from "./channel-guard.ts";
import { readLines } from "./output.ts";
import { PipeGroups } from "./pipe-groups.ts";

const debug = debuglog("tsresty:master");
/**
 * The descriptors a fork holds at once: a socket pair for stdout, stderr and the IPC channel, and
 * libuv's pipe that waits for the exec. Short of them, Node's fork fails with EMFILE after libuv
 * opened the parent's ends into handles that Node then drops: three descriptors leaked at each
 * such fork (lib/internal/child_process.js returns at EMFILE before it makes their streams). So
 * the master does not try; the child fails as a refused fork does.
 */
const FORK_DESCRIPTORS = 8;

/** Which entry a child runs. */
export type ChildKind = "worker" | "privileged agent" | "init";

/**
 * - `booting`: forked, not yet listening; `standing-by`: blank, waiting for its spec;
 * - `starting`: has its spec (or its load request), not ready yet; `running`: ready;
 * - `draining`: told to stop, or stopping on its own; `exited`.
 */
export type ChildPhase = "booting" | "standing-by" | "starting" | "running" | "draining" | "exited";

export interface Child {
  readonly kind: ChildKind;
  /** What the child is; null while it is blank (a standby) and for the init process. */
  spec: ChildSpec | null;
  /** -1 when the fork itself failed. */
  readonly pid: number;
  /**
   * When it was forked, then when it took its slot (a standby or an early worker may wait blank a
   * long time first): its uptime, and how long it lived for the backoff's quick deaths.
   */
  startedAt: number;
  phase: ChildPhase;
  /** Stopped on purpose (reload, stop): its exit is not a crash and is not respawned. */
  retired: boolean;
  /**
   * The exit of its own the child announced (signalGracefulExit, a QUIT or TERM by hand), null
   * before: such an exit is not a crash.
   */
  announcedExit: "graceful" | "fast" | null;
  /** When the child was first ready (epoch ms), or null. */
  readyAt: number | null;
  /** When the child answered its "assume" (epoch ms), or null. */
  assumedAt: number | null;
  /** The graceful-stop bound of the child's config (seconds), for its kill deadline. */
  shutdownTimeout: number | null;
  /** Why the child said it could not start, when it did. */
  failure: { readonly kind: string; readonly reason: string } | null;
  /** Process groups the child spawned through ngx.pipe and has not seen end (checked claims). */
  readonly pipeGroups: PipeGroups;
  /** Null when the fork was not tried: too few descriptors (`failure` says). */
  readonly process: ChildProcess | null;
}

export interface ChildEvents {
  standingBy(child: Child): void;
  ready(child: Child): void;
  exiting(child: Child, mode: "graceful" | "fast"): void;
  /** Any other message (the init process's "config" and "init-done"). */
  message(child: Child, message: ChildMessage): void;
  /** A line `child` printed; `continued`: the rest of a line longer than the master keeps whole. */
  output(child: Child, stream: "stdout" | "stderr", line: string, continued: boolean): void;
  /** While the logs cannot take more lines: a promise settled once they can (see Logs.congested). */
  congested(): Promise<void> | null;
  /** The child runs more pipe groups than the master records (MAX_GROUPS): told once. */
  pipeGroupsFull(child: Child): void;
  /** The child's channel is given up (a message too big, or one that cannot be read): it is being killed. */
  channelFault(child: Child, fault: ChannelFault): void;
  exited(child: Child, code: number | null, signal: string | null): void;
}

/** A child's failure when its channel is given up: what a start or a reload that it fails says. */
function channelFailure(kind: ChildKind, fault: ChannelFault): string {
  if (fault.kind === "unreadable") return `it ${describeFault(fault)}`;
  return kind === "init"
    ? `init returned more than the ${MAX_CHANNEL_MESSAGE_MB} MB that ngx.process.initData() may hold once serialized`
    : `it sent one message of more than ${MAX_CHANNEL_MESSAGE_MB} MB to the master`;
}

const ENTRIES: Record<ChildKind, string> = {
  worker: fileURLToPath(ownModule(new URL("../worker/main.ts", import.meta.url))),
  "privileged agent": fileURLToPath(ownModule(new URL("../agent/main.ts", import.meta.url))),
  init: fileURLToPath(ownModule(new URL("../init/main.ts", import.meta.url))),
};
/**
 * Children run compiled JavaScript and load tsx themselves when they import TypeScript of the
 * user's (util/loader.ts). For a TypeScript app or config they are told so (TYPESCRIPT_ARG) and
 * register it before they stand by, so that the booted standby has it too and a respawn does not
 * wait for it. Run from src/, tsresty itself is TypeScript: tsx comes first, always.
 */
const TSX = import.meta.resolve("tsx");

/**
 * Node flags for a child: the master's own (`--max-old-space-size`, `--enable-source-maps`, an
 * instrumentation `--import`), except the inspector's, which would collide on their port.
 */
function childExecArgv(): string[] {
  const inherited = process.execArgv.filter((flag) => !/^--(inspect|debug)/.test(flag));
  const loader = FROM_SOURCE ? ["--import", TSX] : [];
  return [...inherited, ...signalSafetyFlags(), "--import", EARLY_SIGNALS_URL, ...loader];
}

export class Children {
  readonly #events: ChildEvents;
  #typescript = false;
  readonly #live = new Set<Child>();
  /** The children's stdout and stderr not yet read to their end (see outputEnded). */
  readonly #reading = new Set<Promise<void>>();
  /** When a child's last line came (epoch ms). */
  #lastLine = 0;
  /** Called as each of #reading ends, while outputEnded waits. */
  #readEnded: (() => void) | null = null;
  readonly #statusWaiters = new Map<
    number,
    { child: Child; resolve: (status: ChildStatus | null) => void }
  >();
  #seq = 0;

  constructor(events: ChildEvents) {
    this.#events = events;
  }

  /** Children forked from now on load tsx from their first import: the app or the config is TypeScript. */
  preloadTypeScript(): void {
    this.#typescript = true;
  }

  /** Forks a blank child of `kind`; it says "standing-by" once it listens. */
  fork(kind: ChildKind): Child {
    const shortage = descriptorShortage(FORK_DESCRIPTORS);
    const forked =
      shortage === null
        ? fork(ENTRIES[kind], this.#typescript && !FROM_SOURCE ? [TYPESCRIPT_ARG] : [], {
            execArgv: childExecArgv(),
            stdio: ["ignore", "pipe", "pipe", "ipc"],
            serialization: "advanced",
          })
        : null;
    const child: Child = {
      kind,
      spec: null,
      pid: forked?.pid ?? -1,
      startedAt: Date.now(),
      phase: "booting",
      retired: false,
      announcedExit: null,
      readyAt: null,
      assumedAt: null,
      shutdownTimeout: null,
      failure: null,
      pipeGroups: new PipeGroups({}, process.pid, () => {
        this.#events.pipeGroupsFull(child);
      }),
      process: forked,
    };
    this.#live.add(child);
    if (forked === null) {
      // As Node reports a refused fork: after the caller has the child.
      process.nextTick(() => {
        child.failure = {
          kind: "start",
          reason: `fork failed: ${shortage ?? ""}; a fork needs ${FORK_DESCRIPTORS}`,
        };
        this.#exited(child, null, null);
      });
      return child;
    }
    forked.on("error", (error) => {
      // A fork that failed (EMFILE, EAGAIN) has no pid and never emits "exit".
      if (child.pid !== -1) {
        debug("child %d: %s", child.pid, error.message);
        return;
      }
      child.failure = { kind: "start", reason: `fork failed: ${error.message}` };
      this.#exited(child, null, null);
    });
    forked.on("message", (raw) => {
      this.#onMessage(child, raw);
    });
    const guarded = guardChannel(forked, MAX_CHANNEL_MESSAGE_BYTES, (fault) => {
      child.failure ??= { kind: "start", reason: channelFailure(kind, fault) };
      this.#events.channelFault(child, fault);
      forked.kill("SIGKILL");
    });
    if (!guarded) debug("child %d: this Node's IPC channel cannot be guarded", child.pid);
    // (a fork that failed has no streams at all)
    for (const stream of ["stdout", "stderr"] as const) {
      const readable = forked[stream];
      if (readable == null) continue;
      const reading = readLines(
        readable,
        (line, continued) => {
          this.#lastLine = Date.now();
          this.#events.output(child, stream, line, continued);
        },
        () => this.#events.congested(),
      ).then(() => {
        this.#reading.delete(reading);
        this.#readEnded?.();
      });
      this.#reading.add(reading);
    }
    forked.on("exit", (code, signal) => {
      this.#exited(child, code, signal);
    });
    return child;
  }

  /**
   * Settles once every child's stdout and stderr has been read to its end, so that a master that
   * stops after its children exited prints all they wrote; or once no line has come for
   * `quietMs` (counted from the call at the earliest) while the logs take lines, for a pipe that
   * never ends (a grandchild that inherited it lives on). While the logs are backed up (their
   * reader stalls), it waits.
   */
  outputEnded(quietMs: number): Promise<void> {
    const since = Date.now();
    return new Promise((resolve) => {
      const check = (): void => {
        const quiet =
          this.#events.congested() === null && Date.now() - Math.max(this.#lastLine, since) >= quietMs;
        if (this.#reading.size > 0 && !quiet) return;
        clearInterval(poll);
        this.#readEnded = null;
        resolve();
      };
      const poll = setInterval(check, Math.max(1, quietMs / 4));
      this.#readEnded = check;
      check();
    });
  }

  get live(): readonly Child[] {
    return [...this.#live];
  }

  send(child: Child, message: MasterMessage): void {
    if (child.phase === "exited" || child.process?.connected !== true) return;
    try {
      child.process.send(message);
    } catch (error) {
      debug("child %d: cannot send %s: %s", child.pid, message.type, String(error));
    }
  }

  /** Gives a standing-by child its spec. */
  assume(child: Child, spec: ChildSpec): void {
    child.phase = "starting";
    this.send(child, { type: "assume", spec });
    // Sent: the master keeps the cycle's init data once, in the cycle, not once per child
    // (a child retired by a reload may live for its whole stop budget).
    child.spec = spec.initData === undefined ? spec : { ...spec, initData: undefined };
  }

  /** Gives a worker the listening sockets, one message per socket; it accepts once it has them all. */
  listen(child: Child, handles: readonly object[]): void {
    if (child.phase === "exited" || child.process?.connected !== true) return;
    const { process: forked } = child;
    handles.forEach((handle, index) => {
      try {
        forked.send(
          { type: "listen", index, count: handles.length } satisfies MasterMessage,
          handle as never,
        );
      } catch (error) {
        debug("child %d: cannot send a listening socket: %s", child.pid, String(error));
      }
    });
  }

  broadcast(message: MasterMessage): void {
    for (const child of this.#live) if (child.spec !== null) this.send(child, message);
  }

  /**
   * Asks a child for its status (`scope` "metrics": the part /metrics uses); null when it does not
   * answer within `timeoutMs` or exits first.
   */
  status(child: Child, timeoutMs: number, scope: StatusScope = "status"): Promise<ChildStatus | null> {
    if (child.phase === "exited") return Promise.resolve(null);
    const seq = ++this.#seq;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#statusWaiters.delete(seq);
        resolve(null);
      }, timeoutMs);
      this.#statusWaiters.set(seq, {
        child,
        resolve: (status) => {
          clearTimeout(timer);
          this.#statusWaiters.delete(seq);
          resolve(status);
        },
      });
      this.send(child, { type: "status", seq, scope });
    });
  }

  /** Sends `signal` to a child that has not exited. */
  kill(child: Child, signal: NodeJS.Signals): void {
    if (child.phase === "exited" || child.pid <= 1) return;
    try {
      child.process?.kill(signal);
    } catch (error) {
      debug("child %d: %s: %s", child.pid, signal, String(error));
    }
  }

  #exited(child: Child, code: number | null, signal: string | null): void {
    if (child.phase === "exited") return;
    this.#live.delete(child);
    child.phase = "exited";
    for (const waiter of [...this.#statusWaiters.values()]) if (waiter.child === child) waiter.resolve(null);
    // Children never outlive the process that spawned them, even one that was SIGKILLed. Its
    // reports may still wait in the channel (Node can emit "exit" before the last "message"): each
    // read from now on is checked and its group killed at once (PipeGroups).
    child.pipeGroups.killAll();
    this.#events.exited(child, code, signal);
  }

  #onMessage(child: Child, raw: unknown): void {
    const message = parseChildMessage(raw);
    if (message === null) return;
    switch (message.type) {
      case "standing-by":
        if (child.phase === "booting") child.phase = "standing-by";
        this.#events.standingBy(child);
        return;
      case "assumed":
        child.assumedAt ??= Date.now();
        return;
      case "ready":
        if (child.phase === "starting") child.phase = "running";
        child.readyAt ??= Date.now();
        debug("child %d (%s) ready", child.pid, child.kind);
        this.#events.ready(child);
        return;
      case "failed":
        child.failure = { kind: message.kind, reason: message.reason };
        return;
      case "exiting": {
        const mode = message.mode ?? "graceful";
        // Said once: a repeat, or a graceful exit after a fast one, changes nothing (no second
        // line in the log, no second stop sent). A graceful one cut short by a fast one is news.
        if (child.announcedExit === mode || child.announcedExit === "fast") return;
        child.phase = "draining";
        child.announcedExit = mode;
        this.#events.exiting(child, mode);
        return;
      }
      case "pipe-group":
        if (message.alive)
          child.pipeGroups.register(message.pgid, child.pid, child.spec?.account?.uid ?? null);
        else child.pipeGroups.forget(message.pgid);
        return;
      case "status": {
        // Only the child asked answers: a worker that sends answers under other numbers must not
        // fill in another process's row of `tsresty status`.
        const waiter = this.#statusWaiters.get(message.seq);
        if (waiter?.child === child) waiter.resolve(message.status);
        return;
      }
      case "config":
      case "init-done":
        this.#events.message(child, message);
        return;
    }
  }
}
