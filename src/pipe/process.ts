/**
 * A child process driven through its pipes, as OpenResty's `ngx.pipe` proc. Misuse throws;
 * outcomes a caller checks (timeouts, EOF, a busy pipe, the exit status) come back as values
 * with OpenResty's reason strings. The child runs in its own process group; `kill` signals the
 * child alone (as OpenResty), while a child abandoned by its owner's exit is ended with its group.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { constants } from "node:os";
import { InvalidArgTypeError, InvalidArgValueError } from "../errors.ts";
import { forgetIfEmpty, remember } from "./group.ts";
import { checkTimeout, resolveSpawn, type SpawnOptions, type Timeouts } from "./options.ts";
import { longTimeout } from "./long-timeout.ts";
import { PipeReader, takeAll, takeAny, takeBytes, takeLine, type ReadResult } from "./reader.ts";

export type WaitResult =
  | { readonly ok: true; readonly reason: "exit"; readonly status: 0 }
  | {
      readonly ok: false;
      readonly reason: "exit" | "signal";
      readonly status: number;
      readonly error?: string;
    }
  | {
      readonly ok: false;
      readonly reason: "timeout" | "exited" | "pipe busy waiting";
      readonly status: null;
    };

export type WriteResult =
  | { readonly ok: true; readonly bytes: number }
  | { readonly ok: false; readonly reason: "timeout" | "closed" | "aborted" | "pipe busy writing" };

export type SimpleResult<R extends string> =
  { readonly ok: true } | { readonly ok: false; readonly reason: R };

/** `proc.stdoutReadLine()` and the other reads; lines are text, everything else is bytes. */
export type LineResult = ReadResult<string>;
export type BytesResult = ReadResult<Buffer>;

type Phase = "running" | "exited" | "finalized";
const EXITED_AFTER_WAIT = { ok: false, reason: "exited", status: null } as const;
/** Read-ahead floor: what one OS pipe holds, so that small bufferSizes do not cost throughput. */
const MIN_READ_AHEAD = 64 * 1024;

function toText(result: ReadResult<Buffer>): LineResult {
  return result.ok
    ? { ok: true, data: result.data.toString() }
    : { ...result, partial: result.partial.toString() };
}

export class PipeProcess {
  readonly #child: ChildProcess;
  readonly #pid: number;
  readonly #timeouts: Timeouts;
  readonly #stdout: PipeReader;
  readonly #stderr: PipeReader;
  #phase: Phase = "running";
  #exit: WaitResult | null = null;
  #exitWaiters: (() => void)[] = [];
  #waiting = false;
  #writing: ((result: WriteResult) => void) | null = null;
  #stdinClosed = false;
  #spawnError: string | null = null;

  constructor(args: readonly string[] | string, options?: SpawnOptions) {
    const resolved = resolveSpawn(args, options);
    this.#timeouts = { ...resolved.timeouts };
    // mergeStderr is a real 2>&1 in the child (order kept); `exec` keeps the same pid.
    const [file, argv]: [string, readonly string[]] = resolved.mergeStderr
      ? ["/bin/sh", ["-c", 'exec "$@" 2>&1', "sh", resolved.file, ...resolved.args]]
      : [resolved.file, resolved.args];
    this.#child = spawn(file, argv, {
      env: resolved.env,
      detached: true,
      stdio: ["pipe", "pipe", "pipe"],
    });
    this.#pid = this.#child.pid ?? -1;
    const limit = Math.max(resolved.bufferSize, MIN_READ_AHEAD);
    const stdout = this.#child.stdout as NonNullable<ChildProcess["stdout"]>;
    const stderr = this.#child.stderr as NonNullable<ChildProcess["stderr"]>;
    if (resolved.mergeStderr) stderr.resume();
    this.#stdout = new PipeReader(stdout, limit);
    this.#stderr = new PipeReader(resolved.mergeStderr ? null : stderr, limit);
    this.#child.stdin?.on("error", () => {
      this.#stdinClosed = true;
    });
    if (this.#pid > 0) remember(this.#pid);
    this.#child.on("error", (error: NodeJS.ErrnoException) => {
      // The program could not start (ENOENT, EACCES): reported as exit 127 with the reason.
      this.#spawnError = `${resolved.file}: ${error.message}`;
      this.#settle({ ok: false, reason: "exit", status: 127, error: this.#spawnError });
    });
    this.#child.on("exit", (code, signal) => {
      if (signal !== null) this.#settle({ ok: false, reason: "signal", status: constants.signals[signal] });
      else if (code === 0) this.#settle({ ok: true, reason: "exit", status: 0 });
      else this.#settle({ ok: false, reason: "exit", status: code ?? 1 });
    });
  }

  #settle(result: WaitResult): void {
    if (this.#exit !== null) return;
    this.#exit = result;
    if (this.#phase === "running") this.#phase = "exited";
    for (const wake of this.#exitWaiters.splice(0)) wake();
  }

  /** Whether the child still runs (it has not exited, and could start). */
  running(): boolean {
    return this.#exit === null;
  }

  /** The child's pid (also after it exited); -1 when the program could not start. */
  pid(): number {
    return this.#pid;
  }

  /**
   * Waits for the child to exit: `{ ok: true, reason: "exit", status: 0 }`, or a non-zero exit, a
   * signal, "timeout" (the child keeps running; wait again), "exited" (already waited),
   * "pipe busy waiting". A successful wait finalizes the process: its pipes are closed.
   */
  async wait(): Promise<WaitResult> {
    if (this.#phase === "finalized") return EXITED_AFTER_WAIT;
    if (this.#waiting) return { ok: false, reason: "pipe busy waiting", status: null };
    this.#waiting = true;
    try {
      if (this.#exit === null) {
        const timeoutMs = this.#timeouts.wait;
        const exited = await new Promise<boolean>((resolve) => {
          const wake = (): void => {
            cancel();
            resolve(true);
          };
          const cancel =
            timeoutMs > 0
              ? longTimeout(() => {
                  this.#exitWaiters = this.#exitWaiters.filter((w) => w !== wake);
                  resolve(false);
                }, timeoutMs)
              : () => undefined;
          this.#exitWaiters.push(wake);
        });
        if (!exited) return { ok: false, reason: "timeout", status: null };
      }
      this.#finalize();
      return this.#exit as WaitResult;
    } finally {
      this.#waiting = false;
    }
  }

  #finalize(): void {
    this.#phase = "finalized";
    this.#stdout.close("closed");
    this.#stderr.close("closed");
    this.#closeStdin("closed");
    if (this.#pid > 0) forgetIfEmpty(this.#pid);
  }

  /**
   * Sends a signal (a number or a name) to the child. `{ ok: true }`, or "invalid signal", or
   * "exited" when the child is gone or was waited. A non-number, non-name throws.
   */
  kill(signal: number | NodeJS.Signals): SimpleResult<"invalid signal" | "exited"> {
    if (typeof signal !== "number" && typeof signal !== "string") {
      throw new InvalidArgTypeError(
        "proc.kill",
        "signal",
        "a signal number or name (bad signal arg)",
        signal,
      );
    }
    const valid =
      typeof signal === "number"
        ? Object.values(constants.signals).includes(signal) || signal === 0
        : signal in constants.signals;
    if (!valid) return { ok: false, reason: "invalid signal" };
    if (this.#phase !== "running" || this.#pid <= 0) return { ok: false, reason: "exited" };
    try {
      process.kill(this.#pid, signal);
      return { ok: true };
    } catch {
      return { ok: false, reason: "exited" };
    }
  }

  /** Closes one direction; a read or write blocked on it gets "aborted". */
  shutdown(direction: "stdin" | "stdout" | "stderr"): SimpleResult<"closed" | "merged to stdout"> {
    if (!(["stdin", "stdout", "stderr"] as unknown[]).includes(direction)) {
      throw new InvalidArgValueError(
        "proc.shutdown",
        "direction",
        '"stdin", "stdout" or "stderr" (bad shutdown arg)',
        direction,
      );
    }
    if (this.#phase === "finalized") return { ok: false, reason: "closed" };
    if (direction === "stdin") this.#closeStdin("aborted");
    else if (direction === "stderr" && this.#stderr.merged) return { ok: false, reason: "merged to stdout" };
    else (direction === "stdout" ? this.#stdout : this.#stderr).close("aborted");
    return { ok: true };
  }

  #closeStdin(writerGets: "aborted" | "closed"): void {
    this.#writing?.({ ok: false, reason: writerGets });
    this.#writing = null;
    this.#stdinClosed = true;
    this.#child.stdin?.end();
  }

  /** Changes timeouts (ms, 0 = never); undefined keeps a value. */
  setTimeouts(write?: number, stdoutRead?: number, stderrRead?: number, wait?: number): void {
    const where = "proc.setTimeouts";
    if (write !== undefined) this.#timeouts.write = checkTimeout(where, "writeTimeout", write);
    if (stdoutRead !== undefined)
      this.#timeouts.stdoutRead = checkTimeout(where, "stdoutReadTimeout", stdoutRead);
    if (stderrRead !== undefined)
      this.#timeouts.stderrRead = checkTimeout(where, "stderrReadTimeout", stderrRead);
    if (wait !== undefined) this.#timeouts.wait = checkTimeout(where, "waitTimeout", wait);
  }

  /** Writes to stdin; resolves once every byte is handed to the pipe. */
  write(data: string | Buffer | number | readonly string[]): Promise<WriteResult> {
    let bytes: Buffer;
    if (typeof data === "string") bytes = Buffer.from(data);
    else if (Buffer.isBuffer(data)) bytes = data;
    else if (typeof data === "number") bytes = Buffer.from(String(data));
    else if (Array.isArray(data) && data.every((item) => typeof item === "string"))
      bytes = Buffer.from(data.join(""));
    else
      throw new InvalidArgTypeError(
        "proc.write",
        "data",
        "a string, a Buffer, a number or an array of strings (bad data arg)",
        data,
      );
    if (this.#writing !== null) return Promise.resolve({ ok: false, reason: "pipe busy writing" });
    const stdin = this.#child.stdin;
    if (this.#stdinClosed || this.#phase === "finalized" || stdin === null || stdin.destroyed) {
      return Promise.resolve({ ok: false, reason: "closed" });
    }
    if (bytes.length === 0) return Promise.resolve({ ok: true, bytes: 0 });
    return new Promise((resolve) => {
      const cancel =
        this.#timeouts.write > 0
          ? longTimeout(() => {
              done({ ok: false, reason: "timeout" });
            }, this.#timeouts.write)
          : () => undefined;
      const done = (result: WriteResult): void => {
        if (this.#writing !== done) return;
        this.#writing = null;
        cancel();
        resolve(result);
      };
      this.#writing = done;
      stdin.write(bytes, (error) => {
        done(
          error === null || error === undefined
            ? { ok: true, bytes: bytes.length }
            : { ok: false, reason: "closed" },
        );
      });
    });
  }

  stdoutReadLine(): Promise<LineResult> {
    return this.#stdout.read(takeLine, this.#timeouts.stdoutRead).then(toText);
  }
  stdoutReadAll(): Promise<BytesResult> {
    return this.#stdout.read(takeAll, this.#timeouts.stdoutRead);
  }
  stdoutReadBytes(n: number): Promise<BytesResult> {
    return this.#stdout.read(takeBytes(checkLength(n)), this.#timeouts.stdoutRead);
  }
  stdoutReadAny(max: number): Promise<BytesResult> {
    return this.#stdout.read(takeAny(checkMax(max)), this.#timeouts.stdoutRead);
  }
  stderrReadLine(): Promise<LineResult> {
    return this.#stderr.read(takeLine, this.#timeouts.stderrRead).then(toText);
  }
  stderrReadAll(): Promise<BytesResult> {
    return this.#stderr.read(takeAll, this.#timeouts.stderrRead);
  }
  stderrReadBytes(n: number): Promise<BytesResult> {
    return this.#stderr.read(takeBytes(checkLength(n)), this.#timeouts.stderrRead);
  }
  stderrReadAny(max: number): Promise<BytesResult> {
    return this.#stderr.read(takeAny(checkMax(max)), this.#timeouts.stderrRead);
  }

  /**
   * The child's stdout line by line, until it closes. A read timeout ends the loop with an error.
   * @example
   * for await (const line of ngx.pipe.spawn(["ls", "-1"]).stdoutLines()) console.log(line);
   */
  async *stdoutLines(): AsyncGenerator<string, void, undefined> {
    for (;;) {
      const line = await this.stdoutReadLine();
      if (line.ok) {
        yield line.data;
        continue;
      }
      if (line.reason === "closed") {
        if (line.partial !== "") yield line.partial;
        return;
      }
      throw new Error(`stdoutLines: ${line.reason}`);
    }
  }
}

function checkLength(n: unknown): number {
  if (typeof n !== "number" || !Number.isInteger(n) || n < 0) {
    throw new InvalidArgValueError("proc.readBytes", "n", "an integer >= 0 (bad len argument)", n);
  }
  return n;
}

function checkMax(max: unknown): number {
  if (typeof max !== "number" || !Number.isInteger(max) || max <= 0) {
    throw new InvalidArgValueError("proc.readAny", "max", "an integer > 0 (bad max argument)", max);
  }
  return max;
}
