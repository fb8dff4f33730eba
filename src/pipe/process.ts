/**
 * A child process driven through its pipes, as OpenResty's `ngx.pipe` proc. Misuse throws;
 * outcomes a caller checks (timeouts, EOF, a busy pipe, the exit status) come back as values
 * with OpenResty's reason strings. The child runs in its own process group; `kill` signals the
 * child alone (as OpenResty), while a child abandoned by its owner's exit, or by its owner (the
 * PipeProcess is garbage-collected without a wait), is ended with its group.
 */
import { constants } from "node:os";
import { InvalidArgTypeError, InvalidArgValueError } from "../errors.ts";
import { safeKill } from "../util/proc.ts";
import { watchChild, type ChildState, type WaitResult } from "./child-state.ts";
import { adopt, endAbandoned, type GroupIdentity } from "./group.ts";
import { checkTimeout, resolveSpawn, type SpawnOptions, type Timeouts } from "./options.ts";
import { longTimeout } from "../util/long-timeout.ts";
import { spawnChild, type PipeChild } from "./spawn-child.ts";
import { PipeReader, takeAll, takeAny, takeBytes, takeLine, type ReadResult, type Take } from "./reader.ts";

export type { WaitResult } from "./child-state.ts";

/**
 * `proc.write()`: the bytes written, or why not (OpenResty's reasons).
 * @example
 * const written = await proc.write("input\n");
 * if (!written.ok) ngx.log(ngx.ERR, "write failed: ", written.reason);
 */
export type WriteResult =
  | { readonly ok: true; readonly bytes: number }
  | { readonly ok: false; readonly reason: "timeout" | "closed" | "aborted" | "pipe busy writing" };

/**
 * An outcome with nothing to return but why not: `kill()`, `shutdown()`.
 * @example
 * const killed: SimpleResult<"invalid signal" | "exited"> = proc.kill("SIGTERM");
 */
export type SimpleResult<R extends string> =
  { readonly ok: true } | { readonly ok: false; readonly reason: R };

/**
 * `proc.stdoutReadLine()` and the other reads; lines are text, everything else is bytes.
 * @example
 * const line = await proc.stdoutReadLine();
 * if (line.ok) use(line.data);
 * else if (line.reason === "closed") use(line.partial); // the last line, without its newline
 */
export type LineResult = ReadResult<string>;
/**
 * `proc.stdoutReadAll()`, `ReadBytes(n)`, `ReadAny(max)` and their stderr forms: bytes, or why not.
 * @example
 * const all = await proc.stdoutReadAll(); // { ok: true, data: Buffer } at EOF
 */
export type BytesResult = ReadResult<Buffer>;

type Phase = "running" | "exited" | "finalized";
const EXITED_AFTER_WAIT = { ok: false, reason: "exited", status: null } as const;
/** The highest signal number Linux's kill(2) takes (SIGRTMAX). */
const MAX_SIGNAL = 64;
/**
 * A write is handed to the pipe in pieces of this size, one after the other: the write's timeout
 * starts again after each (see write). A quarter of what an OS pipe holds, so that a reader that
 * frees the pipe a page at a time shows progress every few pages.
 */
const WRITE_PIECE = 16 * 1024;
/** Read-ahead floor: what one OS pipe holds, so that small bufferSizes do not cost throughput. */
const MIN_READ_AHEAD = 64 * 1024;

/** What the finalizer of an abandoned PipeProcess needs; nothing in it reaches the PipeProcess. */
interface Abandoned {
  /** The child's group (number and leader start time); null when it was not tracked. */
  readonly group: GroupIdentity | null;
  readonly child: PipeChild;
}

/**
 * As OpenResty kills a pipe's child and closes its pipes when the proc is garbage-collected: a
 * PipeProcess dropped without `wait()` ends its child's group (one whose leader has exited since,
 * or whose number was reused, is left alone) and closes its ends of the pipes — a pipe paused
 * with unread output would never see its end of file, and keep its descriptor for good.
 */
const abandoned = new FinalizationRegistry<Abandoned>(({ group, child }) => {
  if (group !== null) endAbandoned(group);
  child.stdin?.destroy();
  child.stdout?.destroy();
  child.stderr?.destroy();
});

function toText(result: ReadResult<Buffer>): LineResult {
  return result.ok
    ? { ok: true, data: result.data.toString() }
    : { ...result, partial: result.partial.toString() };
}

/**
 * A child started by `ngx.pipe.spawn`, as lua-resty-core's `ngx.pipe` proc: reads and writes with
 * timeouts, `wait()`, `kill()`, `shutdown()`. A timed-out or abandoned child is ended with its whole
 * process group.
 * @example
 * const proc = ngx.pipe.spawn(["sort"]);
 * await proc.write("b\na\n");
 * proc.shutdown("stdin");
 * const out = await proc.stdoutReadAll(); // { ok: true, data: <Buffer 61 0a 62 0a> }: "a\nb\n"
 * await proc.wait();
 */
export class PipeProcess {
  readonly #child: PipeChild;
  readonly #pid: number;
  readonly #timeouts: Timeouts;
  readonly #stdout: PipeReader;
  readonly #stderr: PipeReader;
  /** Updated by the child's event handlers, which must not reach `this` (see child-state.ts). */
  readonly #state: ChildState;
  #finalized = false;
  #waiting = false;
  #writing: ((result: WriteResult) => void) | null = null;

  constructor(args: readonly string[] | string, options?: SpawnOptions) {
    const resolved = resolveSpawn(args, options);
    this.#timeouts = { ...resolved.timeouts };
    // mergeStderr is a real 2>&1 in the child (order kept); `exec` keeps the same pid.
    const [file, argv]: [string, readonly string[]] = resolved.mergeStderr
      ? ["/bin/sh", ["-c", 'exec "$@" 2>&1', "sh", resolved.file, ...resolved.args]]
      : [resolved.file, resolved.args];
    this.#child = spawnChild(file, argv, resolved.env);
    this.#pid = this.#child.pid ?? -1;
    const limit = Math.max(resolved.bufferSize, MIN_READ_AHEAD);
    const stdout = this.#child.stdout as NonNullable<PipeChild["stdout"]>;
    const stderr = this.#child.stderr as NonNullable<PipeChild["stderr"]>;
    if (resolved.mergeStderr) stderr.resume();
    this.#stdout = new PipeReader(stdout, limit);
    this.#stderr = new PipeReader(resolved.mergeStderr ? null : stderr, limit);
    this.#state = watchChild(this.#child, resolved.file);
    abandoned.register(this, { group: adopt(this.#child), child: this.#child }, this.#state);
  }

  /**
   * `self` as a PipeProcess: a method called without its process (`const { wait } = proc`,
   * `proc.wait.call({})`) gets a clear error, as OpenResty's "not a process instance", not V8's
   * about a private member.
   */
  static #of(self: unknown, where: string): PipeProcess {
    if (typeof self === "object" && self !== null && #child in self) return self;
    throw new InvalidArgTypeError(
      where,
      "this",
      "an ngx.pipe process: call it on the object ngx.pipe.spawn() returned, not detached from it",
      self,
    );
  }

  get #phase(): Phase {
    return this.#finalized ? "finalized" : this.#state.exit === null ? "running" : "exited";
  }

  /** Whether the child still runs (it started, and has not exited). */
  running(): boolean {
    const self = PipeProcess.#of(this, "proc.running");
    return self.#pid > 0 && self.#state.exit === null;
  }

  /** The child's pid (also after it exited); -1 when the program could not start. */
  pid(): number {
    return PipeProcess.#of(this, "proc.pid").#pid;
  }

  /**
   * Waits for the child to exit: `{ ok: true, reason: "exit", status: 0 }`, or a non-zero exit, a
   * signal, "timeout" (the child keeps running; wait again), "exited" (already waited),
   * "pipe busy waiting". A successful wait finalizes the process: its pipes are closed.
   */
  async wait(): Promise<WaitResult> {
    const self = PipeProcess.#of(this, "proc.wait");
    if (self.#phase === "finalized") return EXITED_AFTER_WAIT;
    if (self.#waiting) return { ok: false, reason: "pipe busy waiting", status: null };
    self.#waiting = true;
    try {
      if (!(await self.#state.exited(self.#timeouts.wait)))
        return { ok: false, reason: "timeout", status: null };
      self.#finalize();
      return self.#state.exit as WaitResult;
    } finally {
      self.#waiting = false;
    }
  }

  #finalize(): void {
    this.#finalized = true;
    this.#stdout.close("closed");
    this.#stderr.close("closed");
    this.#closeStdin("closed");
    abandoned.unregister(this.#state);
  }

  /**
   * Sends a signal (a number or a name) to the child. `{ ok: true }`, or "invalid signal", or
   * "exited" when the child is gone or was waited. A non-number, non-name throws. Numbers are
   * those kill(2) takes on Linux, 0 to 64 (the real-time signals too, which have no names).
   */
  kill(signal: number | NodeJS.Signals): SimpleResult<"invalid signal" | "exited"> {
    const self = PipeProcess.#of(this, "proc.kill");
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
        ? Number.isInteger(signal) && signal >= 0 && signal <= MAX_SIGNAL
        : signal in constants.signals;
    if (!valid) return { ok: false, reason: "invalid signal" };
    if (self.#phase !== "running") return { ok: false, reason: "exited" };
    return safeKill(self.#pid, signal) ? { ok: true } : { ok: false, reason: "exited" };
  }

  /** Closes one direction; a read blocked on it gets "aborted" with what had arrived, a write "aborted". */
  shutdown(direction: "stdin" | "stdout" | "stderr"): SimpleResult<"closed" | "merged to stdout"> {
    const self = PipeProcess.#of(this, "proc.shutdown");
    if (!(["stdin", "stdout", "stderr"] as unknown[]).includes(direction)) {
      throw new InvalidArgValueError(
        "proc.shutdown",
        "direction",
        '"stdin", "stdout" or "stderr" (bad shutdown arg)',
        direction,
      );
    }
    if (self.#phase === "finalized") return { ok: false, reason: "closed" };
    if (direction === "stdin") self.#closeStdin("aborted");
    else if (direction === "stderr" && self.#stderr.merged) return { ok: false, reason: "merged to stdout" };
    else (direction === "stdout" ? self.#stdout : self.#stderr).close("aborted");
    return { ok: true };
  }

  /**
   * Closes the child's stdin. A write still blocked on it ends with `writerGets`, and what it had
   * not handed to the pipe yet is dropped, as OpenResty closes the descriptor (end() would still
   * deliver it all).
   */
  #closeStdin(writerGets: "aborted" | "closed"): void {
    const blocked = this.#writing;
    blocked?.({ ok: false, reason: writerGets }); // clears #writing
    this.#state.stdinClosed = true;
    if (blocked !== null) this.#child.stdin?.destroy();
    else this.#child.stdin?.end();
  }

  /**
   * Changes timeouts (ms, 0 = never); undefined keeps a value. A read or a write waiting keeps the
   * wait in course and takes the new value from its next wait on (after some progress), as
   * OpenResty's; a wait() waiting keeps its own.
   */
  setTimeouts(write?: number, stdoutRead?: number, stderrRead?: number, wait?: number): void {
    const where = "proc.setTimeouts";
    const timeouts = PipeProcess.#of(this, where).#timeouts;
    if (write !== undefined) timeouts.write = checkTimeout(where, "writeTimeout", write);
    if (stdoutRead !== undefined) timeouts.stdoutRead = checkTimeout(where, "stdoutReadTimeout", stdoutRead);
    if (stderrRead !== undefined) timeouts.stderrRead = checkTimeout(where, "stderrReadTimeout", stderrRead);
    if (wait !== undefined) timeouts.wait = checkTimeout(where, "waitTimeout", wait);
  }

  /** Writes to stdin; resolves once every byte is handed to the pipe. */
  write(data: string | Uint8Array | number | readonly string[]): Promise<WriteResult> {
    const self = PipeProcess.#of(this, "proc.write");
    let bytes: Buffer;
    if (typeof data === "string") bytes = Buffer.from(data);
    else if (data instanceof Uint8Array)
      bytes = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    else if (typeof data === "number") bytes = Buffer.from(String(data));
    // Array.from visits a hole as undefined, refused as an explicit one (every() skipped it).
    else if (Array.isArray(data) && Array.from(data as unknown[]).every((item) => typeof item === "string"))
      bytes = Buffer.from(data.join(""));
    else
      throw new InvalidArgTypeError(
        "proc.write",
        "data",
        "a string, a Buffer or a Uint8Array, a number or an array of strings (bad data arg)",
        data,
      );
    if (self.#writing !== null) return Promise.resolve({ ok: false, reason: "pipe busy writing" });
    const stdin = self.#child.stdin;
    if (self.#state.stdinClosed || self.#phase === "finalized" || stdin === null || stdin.destroyed) {
      return Promise.resolve({ ok: false, reason: "closed" });
    }
    if (bytes.length === 0) return Promise.resolve({ ok: true, bytes: 0 });
    return new Promise((resolve) => {
      const timeouts = self.#timeouts;
      let cancel = (): void => undefined;
      const done = (result: WriteResult): void => {
        if (self.#writing !== done) return;
        self.#writing = null;
        cancel();
        resolve(result);
      };
      // The timeout as it is now: setTimeouts() during the write applies from the next piece on,
      // as OpenResty reads the proc's write_timeout each time it adds the timer.
      const arm = (): void => {
        cancel();
        cancel = (): void => undefined;
        if (timeouts.write > 0)
          cancel = longTimeout(() => {
            done({ ok: false, reason: "timeout" });
          }, timeouts.write);
      };
      // In pieces, each handed to the pipe once it took the one before: Node tells when all of a
      // write is taken, not how much of it, and the timeout is the longest wait for the pipe to
      // take more, as OpenResty's (it re-arms its timer each time the pipe takes some). As one
      // write, it bounded the whole: a child reading slowly but steadily timed it out. A write
      // that ends (timeout, shutdown) hands no further piece: its rest is dropped, as OpenResty's.
      let offset = 0;
      const next = (): void => {
        const piece = bytes.subarray(offset, offset + WRITE_PIECE);
        offset += piece.length;
        stdin.write(piece, (error) => {
          if (self.#writing !== done) return;
          if (error !== null && error !== undefined) done({ ok: false, reason: "closed" });
          else if (offset >= bytes.length) done({ ok: true, bytes: bytes.length });
          else {
            arm();
            next();
          }
        });
      };
      self.#writing = done;
      arm();
      next();
    });
  }

  /**
   * A read in progress holds its PipeProcess: the pipe's stream (held by libuv while it reads)
   * reaches the read's promise, and the reaction added here reaches `this`. Without it,
   * `await spawn(…).stdoutReadAll()` leaves the PipeProcess unreachable during the await, and a
   * garbage collection then ends the child in mid-read as abandoned (the read timed out, or
   * with no timeout never settled).
   */
  #read(from: "stdout" | "stderr", take: Take): Promise<BytesResult> {
    const timeouts = this.#timeouts;
    const reader = from === "stdout" ? this.#stdout : this.#stderr;
    const timeoutMs = from === "stdout" ? () => timeouts.stdoutRead : () => timeouts.stderrRead;
    return reader.read(take, timeoutMs).finally(() => this);
  }

  stdoutReadLine(): Promise<LineResult> {
    return PipeProcess.#of(this, "proc.stdoutReadLine").#read("stdout", takeLine).then(toText);
  }
  stdoutReadAll(): Promise<BytesResult> {
    return PipeProcess.#of(this, "proc.stdoutReadAll").#read("stdout", takeAll);
  }
  stdoutReadBytes(n: number): Promise<BytesResult> {
    const self = PipeProcess.#of(this, "proc.stdoutReadBytes");
    return self.#read("stdout", takeBytes(checkLength(n)));
  }
  stdoutReadAny(max: number): Promise<BytesResult> {
    const self = PipeProcess.#of(this, "proc.stdoutReadAny");
    return self.#read("stdout", takeAny(checkMax(max)));
  }
  stderrReadLine(): Promise<LineResult> {
    return PipeProcess.#of(this, "proc.stderrReadLine").#read("stderr", takeLine).then(toText);
  }
  stderrReadAll(): Promise<BytesResult> {
    return PipeProcess.#of(this, "proc.stderrReadAll").#read("stderr", takeAll);
  }
  stderrReadBytes(n: number): Promise<BytesResult> {
    const self = PipeProcess.#of(this, "proc.stderrReadBytes");
    return self.#read("stderr", takeBytes(checkLength(n)));
  }
  stderrReadAny(max: number): Promise<BytesResult> {
    const self = PipeProcess.#of(this, "proc.stderrReadAny");
    return self.#read("stderr", takeAny(checkMax(max)));
  }

  /**
   * The child's stdout line by line, until it closes. A read timeout ends the loop with an error.
   * @example
   * for await (const line of ngx.pipe.spawn(["ls", "-1"]).stdoutLines()) console.log(line);
   */
  stdoutLines(): AsyncGenerator<string, void, undefined> {
    return lines(PipeProcess.#of(this, "proc.stdoutLines"));
  }
}

async function* lines(proc: PipeProcess): AsyncGenerator<string, void, undefined> {
  for (;;) {
    const line = await proc.stdoutReadLine();
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

function checkLength(n: unknown): number {
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) {
    throw new InvalidArgValueError("proc.readBytes", "n", "an integer >= 0 (bad len argument)", n);
  }
  return n;
}

function checkMax(max: unknown): number {
  if (typeof max !== "number" || !Number.isSafeInteger(max) || max <= 0) {
    throw new InvalidArgValueError("proc.readAny", "max", "an integer > 0 (bad max argument)", max);
  }
  return max;
}
