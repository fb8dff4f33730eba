/**
 * How a pipe child is started. On Linux the addon starts it with posix_spawn (see
 * native/src/spawn.c): no fork() of the calling process, so a spawn costs the same whatever the
 * worker's size and holds its event loop for a fraction of a millisecond, where child_process
 * forks the whole process and waits until the child has exec'd. The child is dressed as the part
 * of a ChildProcess that PipeProcess uses (pid, three pipes, "exit"), with child_process's order:
 * stdin is destroyed, then "exit" is emitted, in the libuv callback that reaped the child.
 *
 * Anything that keeps the addon from starting a child (no addon, no such program, a bad
 * argument, a descriptor limit) falls back to child_process, which reports it in its usual form
 * (an "error" event, or a throw for a bad argument): one way of failing, whichever way started.
 */
import { spawn as forkSpawn } from "node:child_process";
import { EventEmitter } from "node:events";
import { Socket } from "node:net";
import { constants } from "node:os";
import { PassThrough, Readable, type Writable } from "node:stream";
import { debuglog } from "node:util";
import { loadAddon, loadFailureLasts } from "../util/addon.ts";

const debug = debuglog("tsresty:pipe");

/**
 * The addon's spawn (native/src/spawn.c): argv[0] is the name the program sees; envp is
 * `NAME=value` strings. The child's pid and the parent's ends of its stdin, stdout and stderr
 * pipes, or an errno when it could not be started. `onExit` is called once, with (code, 0) for an
 * exit, (0, signal number) for a signal, (-1, -1) when the status was lost.
 */
type SpawnCall = (
  file: string,
  argv: readonly string[],
  envp: readonly string[],
  onExit: (code: number, signal: number) => void,
) => [pid: number, stdin: number, stdout: number, stderr: number] | number;

/**
 * The addon's spawn, once looked up; null where there is none (child_process starts children
 * then). A load that failed for want of descriptors or memory is not remembered: the next spawn
 * tries again, rather than sending every later child of the process to child_process.
 */
let addonSpawn: SpawnCall | null | undefined;

function spawnCall(): SpawnCall | null {
  if (addonSpawn === undefined) {
    try {
      const { spawn } = loadAddon() as { spawn?: unknown };
      addonSpawn = typeof spawn === "function" ? (spawn as SpawnCall) : null;
    } catch (error) {
      if (!loadFailureLasts(error)) {
        debug("the addon could not be loaded now, child_process starts this child: %s", String(error));
        return null;
      }
      debug("no addon, children are started by child_process: %s", String(error));
      addonSpawn = null;
    }
  }
  return addonSpawn;
}

/** What PipeProcess, its state and its group use of a child; a ChildProcess is one. */
export interface PipeChild {
  readonly pid?: number | undefined;
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  on(event: "exit", listener: ExitListener): this;
  on(event: "error", listener: (error: NodeJS.ErrnoException) => void): this;
  once(event: "exit", listener: ExitListener): this;
}

/**
 * A child's "exit": its code, or the signal that ended it — by name, or by number for one Node
 * has no name for (the real-time signals, 34 to 64).
 */
export type ExitListener = (code: number | null, signal: NodeJS.Signals | number | null) => void;

const signalNames = new Map<number, NodeJS.Signals>(
  Object.entries(constants.signals).map(([name, number]) => [number, name as NodeJS.Signals]),
);

/** A child started by the addon. */
class SpawnedChild extends EventEmitter implements PipeChild {
  readonly pid: number;
  readonly stdin: Socket;
  readonly stdout: Socket;
  readonly stderr: Socket;

  constructor(pid: number, stdin: number, stdout: number, stderr: number) {
    super();
    this.pid = pid;
    this.stdin = new Socket({ fd: stdin, readable: false, writable: true });
    this.stdout = new Socket({ fd: stdout, readable: true, writable: false });
    this.stderr = new Socket({ fd: stderr, readable: true, writable: false });
  }

  exited(code: number, signal: number): void {
    this.stdin.destroy();
    if (signal > 0) this.emit("exit", null, signalNames.get(signal) ?? signal);
    else this.emit("exit", code >= 0 ? code : null, null);
  }
}

/**
 * Starts `file` with `args` and `env`, leading a process group of its own, with pipes for its
 * stdio: in the worker's session from the addon, in a session of its own from child_process
 * (`detached`, the only way it has to give a child its own group).
 */
export function spawnChild(file: string, args: readonly string[], env: NodeJS.ProcessEnv): PipeChild {
  const spawn = spawnCall();
  if (spawn !== null) {
    const envp: string[] = [];
    for (const name in env) {
      const value = env[name];
      if (value !== undefined) envp.push(`${name}=${value}`);
    }
    let child: SpawnedChild | null = null;
    const started = spawn(file, [file, ...args], envp, (code, signal) => {
      child?.exited(code, signal);
    });
    if (typeof started !== "number") {
      child = new SpawnedChild(...started);
      return child;
    }
    debug("the addon could not start %s (errno %d): child_process tries", file, started);
  }
  try {
    const child: PipeChild = forkSpawn(file, args, { env, detached: true, stdio: ["pipe", "pipe", "pipe"] });
    // Out of descriptors (EMFILE, ENFILE), child_process gives up before it makes the pipes (its
    // types say they are always there) and reports the error on the next tick: the same failure
    // as a program that cannot start.
    const { stdin, stdout, stderr } = child as Partial<PipeChild>;
    if (stdin == null || stdout == null || stderr == null) return new UnstartedChild(child);
    return child;
  } catch (error) {
    // A spawn that fails at once (E2BIG: arguments and environment beyond the kernel's limit)
    // ends as one whose program cannot start (ENOENT): an "error" event, then exit 127.
    if (typeof (error as NodeJS.ErrnoException).errno !== "number") throw error;
    return new UnstartedChild(error as NodeJS.ErrnoException);
  }
}

/**
 * A child that could not be started: no pid, empty output, and its error — given, or the one a
 * ChildProcess that failed to start is about to emit — reported on a later tick.
 */
class UnstartedChild extends EventEmitter implements PipeChild {
  readonly pid = undefined;
  readonly stdin = new PassThrough();
  readonly stdout = Readable.from([]);
  readonly stderr = Readable.from([]);

  constructor(failure: NodeJS.ErrnoException | PipeChild) {
    super();
    this.stdin.resume();
    if (failure instanceof Error) process.nextTick(() => this.emit("error", failure));
    else failure.on("error", (error) => this.emit("error", error));
  }
}
