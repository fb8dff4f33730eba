/**
 * `ngx.shell.run`, as lua-resty-shell: run a command, feed it stdin, collect stdout and stderr
 * up to `maxSize` bytes each, and wait, each step bounded by `timeout`. Better than OpenResty: a
 * child that times out or floods its output is ended with its whole process group.
 */
import { InvalidArgTypeError, InvalidArgValueError } from "../errors.ts";
import { ownOptions } from "../util/options.ts";
import { endGroup } from "./group.ts";
import { checkCommand, checkTimeout, DEFAULT_TIMEOUT_MS } from "./options.ts";
import { longTimeout } from "../util/long-timeout.ts";
import { PipeProcess, type BytesResult } from "./process.ts";

/**
 * Options of `ngx.shell.run`, as lua-resty-shell's `stdin, timeout, max_size`.
 * @example
 * await ngx.shell.run("sort -u", { stdin: lines, timeout: 5000, maxSize: 1 << 20 });
 */
export interface ShellOptions {
  /** Written to the child's stdin, which is then closed. */
  readonly stdin?: string | Uint8Array;
  /** Milliseconds for the write, then for the reads and the wait together; 0 = never (default 10000). */
  readonly timeout?: number;
  /** Bytes kept per stream (default 131072); past it the run fails with "too much data". */
  readonly maxSize?: number;
}

/**
 * What `ngx.shell.run` resolves with, as lua-resty-shell's `ok, stdout, stderr, reason, status`.
 * @example
 * const { ok, stdout, stderr, reason, status } = await ngx.shell.run("git rev-parse HEAD");
 * // ok: true, stdout: "3f2a…\n", stderr: "", reason: "exit", status: 0
 */
export interface ShellResult {
  /** true for exit status 0; false for another status or a signal; null when the run failed. */
  readonly ok: boolean | null;
  /**
   * The output, decoded as UTF-8 text: bytes that are not UTF-8 become U+FFFD, so binary output
   * (`gzip -c`, an image) cannot be had from it; `ngx.pipe.spawn` and `stdoutReadAll()` give bytes.
   */
  readonly stdout: string | null;
  /** Decoded as `stdout` is. */
  readonly stderr: string | null;
  /** "exit", "signal", or why the run failed ("failed to wait for process: timeout", …). */
  readonly reason: string;
  readonly status: number | null;
  /** Why the program could not start (status 127), as `wait()` gives it: "prog: spawn prog ENOENT". */
  readonly error?: string;
}

const WHERE = "ngx.shell.run";
const KEYS = ["stdin", "timeout", "maxSize"] as const;
const DEFAULT_MAX_SIZE = 128 * 1024;
const TOO_MUCH = "too much data";

/**
 * One stream's output, read while the run goes on (lua-resty-shell's reader threads), up to
 * maxSize + 1 bytes (so that "too much data" keeps a byte of the excess).
 */
class Collected {
  readonly #chunks: Buffer[] = [];
  readonly #maxSize: number;
  #size = 0;
  /** Why reading stopped short of the stream's end; null: it closed. */
  readonly done: Promise<string | null>;
  /** Settles (undefined) once more than maxSize bytes arrived; never otherwise. */
  readonly overflowed: Promise<undefined>;

  constructor(read: (max: number) => Promise<BytesResult>, maxSize: number) {
    this.#maxSize = maxSize;
    this.done = this.#collect(read);
    this.overflowed = this.done.then((why) => (why === TOO_MUCH ? undefined : new Promise<never>(() => {})));
  }

  async #collect(read: (max: number) => Promise<BytesResult>): Promise<string | null> {
    for (;;) {
      const result = await read(65536);
      if (!result.ok) {
        this.#add(result.partial);
        return result.reason === "closed" ? null : result.reason;
      }
      this.#add(result.data);
      if (this.#size > this.#maxSize) return TOO_MUCH;
    }
  }

  #add(data: Buffer): void {
    if (data.length === 0) return;
    this.#chunks.push(data);
    this.#size += data.length;
  }

  /** What arrived so far. */
  text(): string {
    return Buffer.concat(this.#chunks)
      .subarray(0, this.#maxSize + 1)
      .toString();
  }
}

/** Whether `promise` settles within `ms` (0: waits for it, whatever it takes). */
function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  if (ms === 0) return promise.then(() => true);
  return new Promise((resolve) => {
    const cancel = longTimeout(() => {
      resolve(false);
    }, ms);
    void promise.then(() => {
      cancel();
      resolve(true);
    });
  });
}

/** How the reads of stdout and stderr failed (stdout first), from why each stopped; null: both closed. */
function readFailure(stdout: string | null, stderr: string | null): string | null {
  if (stdout !== null) return `failed to read stdout: ${stdout}`;
  return stderr !== null ? `failed to read stderr: ${stderr}` : null;
}

interface ResolvedRun {
  readonly stdin: string | Uint8Array;
  readonly timeout: number;
  readonly maxSize: number;
}

/** Checks every argument before anything starts: a bad one must not leave a child running. */
function resolveRun(command: unknown, options: unknown): ResolvedRun {
  checkCommand(WHERE, "command", command);
  const opts = ownOptions(WHERE, options, KEYS);
  const stdin = opts["stdin"];
  if (stdin !== undefined && typeof stdin !== "string" && !(stdin instanceof Uint8Array)) {
    throw new InvalidArgTypeError(WHERE, "stdin", "a string, a Buffer or a Uint8Array", stdin);
  }
  const maxSize = opts["maxSize"] ?? DEFAULT_MAX_SIZE;
  if (typeof maxSize !== "number") {
    throw new InvalidArgTypeError(WHERE, "maxSize", "an integer of at least 1", maxSize);
  }
  if (!Number.isSafeInteger(maxSize) || maxSize < 1) {
    throw new InvalidArgValueError(WHERE, "maxSize", "an integer of at least 1", maxSize);
  }
  return {
    stdin: stdin ?? "", // proc.write takes either
    timeout:
      opts["timeout"] === undefined ? DEFAULT_TIMEOUT_MS : checkTimeout(WHERE, "timeout", opts["timeout"]),
    maxSize,
  };
}

/**
 * `ngx.shell.run`: runs `command` (a string through `sh -c`, or an argv array), feeds it `stdin`,
 * and resolves with its output and exit status. Every argument is checked before the child starts.
 * @example
 * const r = await ngx.shell.run(["wc", "-c"], { stdin: "hello", timeout: 1000 });
 * // { ok: true, stdout: "5\n", stderr: "", reason: "exit", status: 0 }
 */
export async function run(
  command: string | readonly string[],
  options: ShellOptions = {},
): Promise<ShellResult> {
  const { stdin, timeout, maxSize } = resolveRun(command, options);
  const proc = new PipeProcess(command, {
    bufferSize: 32768,
    writeTimeout: timeout,
    // Not each read alone: the run's bound (below) ends them all.
    stdoutReadTimeout: 0,
    stderrReadTimeout: 0,
    waitTimeout: timeout,
  });
  // A program that could not start has no group to end (its pid is -1).
  const end = (): Promise<void> => (proc.pid() > 0 ? endGroup(proc.pid()) : Promise.resolve());
  // The output is read from the start, while stdin is written (lua-resty-shell reads it only
  // after): a child that writes as it reads (`gzip -c`) would block on a full pipe, and the write
  // with it.
  const out = new Collected((max) => proc.stdoutReadAny(max), maxSize);
  const err = new Collected((max) => proc.stderrReadAny(max), maxSize);
  const reading = Promise.all([out.done, err.done]);
  const partial = (): { stdout: string; stderr: string } => ({ stdout: out.text(), stderr: err.text() });
  /** Ends the run: stops the reads (a pipe may outlive the child) and ends the child's group. */
  const stop = async (): Promise<[string | null, string | null]> => {
    proc.shutdown("stdout");
    proc.shutdown("stderr");
    const ends = await reading;
    await end();
    return ends;
  };
  if (stdin.length > 0) {
    // Past maxSize the run fails anyway (below): the child, blocked on a full pipe, would only
    // hold the write up.
    const written = await Promise.race([proc.write(stdin), out.overflowed, err.overflowed]);
    // "closed": the child exited, or closed its stdin, before it read all of it (`head -c 1`,
    // `true`): not the run's failure; its output and status tell how it went.
    if (written !== undefined && !written.ok && written.reason !== "closed") {
      await stop();
      return {
        ok: null,
        stdout: null,
        stderr: null,
        reason: `failed to write to stdin: ${written.reason}`,
        status: null,
      };
    }
  }
  proc.shutdown("stdin");
  // As lua-resty-shell: the reads go on while the wait, bounded by `timeout` from here, runs. A
  // child still running at the bound is ended, however much it prints.
  const waitFrom = Date.now();
  const waitTimedOut = async (): Promise<ShellResult> => {
    await stop();
    return { ok: null, ...partial(), reason: "failed to wait for process: timeout", status: null };
  };
  if (!(await within(reading, timeout))) {
    if (proc.running()) return waitTimedOut();
    // The child has exited, and what it left in a group of its own (a `setsid` daemon) holds a
    // pipe open and prints: the run's bound ends the reads too. What was read is kept.
    const [outEnd, errEnd] = await stop();
    const held = outEnd === "aborted" ? "stdout" : errEnd === "aborted" ? "stderr" : null;
    const reason = held !== null ? `failed to read ${held}: timeout` : readFailure(outEnd, errEnd);
    return { ok: null, ...partial(), reason: reason ?? "failed to read stdout: timeout", status: null };
  }
  const failure = readFailure(...(await reading));
  // A wait that the reads outlasted has what is left of its bound.
  if (timeout > 0)
    proc.setTimeouts(undefined, undefined, undefined, Math.max(1, timeout - (Date.now() - waitFrom)));
  const waited = await proc.wait();
  // A wait timeout takes priority over "too much data" (lua-resty-shell stdout T6).
  if (!waited.ok && waited.reason === "timeout") return waitTimedOut();
  if (failure !== null) {
    await end();
    return { ok: null, ...partial(), reason: failure, status: null };
  }
  if (waited.status === null) {
    await end();
    return { ok: null, ...partial(), reason: `failed to wait for process: ${waited.reason}`, status: null };
  }
  const { ok, reason, status } = waited;
  return "error" in waited
    ? { ok, ...partial(), reason, status, error: waited.error }
    : { ok, ...partial(), reason, status };
}
