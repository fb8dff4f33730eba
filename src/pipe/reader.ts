/**
 * Buffered reads from one of the child's output pipes, with OpenResty's outcomes. Data the child
 * wrote stays readable after it exits, until `wait()` finalizes the process. One read at a time:
 * a second concurrent read gets "pipe busy reading".
 *
 * Read-ahead is bounded as in OpenResty, where nothing is read until a read asks: past `limit`
 * buffered bytes the stream is paused, unless a pending read needs more (a 3 MB readAll must not
 * stall on its own buffer). So a child nobody reads from fills the OS pipe and blocks, and a writer
 * to its stdin (`tee`) gets "timeout" as in OpenResty, instead of the parent buffering without end.
 *
 * Chunks are kept as they arrive and joined once, when a read takes them: a line is searched for
 * incrementally (from where the last search stopped), never by re-joining the whole buffer.
 */
import type { Readable } from "node:stream";
import { longTimeout } from "../util/long-timeout.ts";

/**
 * Why a read gave no (complete) data: the stream ended, the read timed out, `shutdown()` aborted
 * it, another read of the stream is waiting, or stderr is merged into stdout.
 * @example
 * const failed: ReadFailure | null = line.ok ? null : line.reason; // "closed" at EOF
 */
export type ReadFailure = "closed" | "timeout" | "aborted" | "pipe busy reading" | "merged to stdout";

/**
 * A read's outcome: the data, or why not with what had arrived (`partial`).
 * @example
 * const r: ReadResult<string> = await proc.stdoutReadLine();
 * if (!r.ok && r.reason === "timeout") ngx.log(ngx.WARN, "slow child; so far: ", r.partial);
 */
export type ReadResult<T> =
  | { readonly ok: true; readonly data: T }
  | { readonly ok: false; readonly reason: ReadFailure; readonly partial: T };

/** What a read waits for. */
export type Take =
  | { readonly kind: "line" }
  | { readonly kind: "all" }
  | { readonly kind: "bytes"; readonly n: number }
  | { readonly kind: "any"; readonly max: number };

/** A line without its "\n" (and a "\r" before it). */
export const takeLine: Take = { kind: "line" };
/** Everything until the end of the stream. */
export const takeAll: Take = { kind: "all" };
/** Exactly `n` bytes. */
export const takeBytes = (n: number): Take => ({ kind: "bytes", n });
/** Whatever is buffered, up to `max` bytes, as soon as there is something. */
export const takeAny = (max: number): Take => ({ kind: "any", max });

interface Waiter {
  readonly take: Take;
  readonly resolve: (result: ReadResult<Buffer>) => void;
  /**
   * The longest wait for more output, in ms (0 = never), read each time the wait starts again:
   * `setTimeouts()` during the read applies from the next output on (see #arm).
   */
  readonly timeoutMs: () => number;
  cancel: (() => void) | null;
}

const EMPTY = Buffer.alloc(0);
const LF = 10;
const CR = 13;

export class PipeReader {
  readonly #stream: Readable | null;
  readonly #limit: number;
  #chunks: Buffer[] = [];
  #length = 0;
  /** How far the buffer was searched for "\n": chunk index, and bytes before that chunk. */
  #scanChunk = 0;
  #scanBytes = 0;
  #ended = false;
  /** Shut down by the caller, or finalized by wait(). */
  #closed = false;
  #waiter: Waiter | null = null;

  /** `stream` null: this direction is merged into stdout. `limit`: the read-ahead bound in bytes. */
  constructor(stream: Readable | null, limit: number) {
    this.#stream = stream;
    this.#limit = limit;
    if (stream === null) return;
    stream.on("data", (chunk: Buffer) => {
      this.#chunks.push(chunk);
      this.#length += chunk.length;
      this.#check();
      // Output came and the read still waits: its timeout starts again (see #arm).
      const waiter = this.#waiter;
      if (waiter !== null) this.#arm(waiter);
      this.#flow();
    });
    stream.on("end", () => {
      this.#ended = true;
      this.#check();
    });
    stream.on("error", () => {
      this.#ended = true;
      this.#check();
    });
  }

  get merged(): boolean {
    return this.#stream === null;
  }

  /** Reads what `take` asks for; `timeoutMs` gives the timeout in ms, 0 = never (see Waiter). */
  read(take: Take, timeoutMs: () => number): Promise<ReadResult<Buffer>> {
    if (this.#stream === null)
      return Promise.resolve({ ok: false, reason: "merged to stdout", partial: EMPTY });
    // Before "busy": a read that wait() let go on (see close) does not make later ones busy.
    if (this.#closed) return Promise.resolve({ ok: false, reason: "closed", partial: EMPTY });
    if (this.#waiter !== null)
      return Promise.resolve({ ok: false, reason: "pipe busy reading", partial: EMPTY });
    return new Promise((resolve) => {
      const waiter: Waiter = { take, resolve, timeoutMs, cancel: null };
      this.#waiter = waiter;
      this.#arm(waiter);
      this.#check();
      this.#flow();
    });
  }

  /**
   * (Re)starts `waiter`'s timeout. It is the longest wait for more output, not a bound on the whole
   * read: OpenResty re-arms a read's timer each time output arrives and the read still waits. As a
   * bound, `stdoutReadAll()` of a child that printed steadily for longer than the timeout (a build,
   * a backup) timed out with part of its output, where OpenResty's read gets it all.
   *
   * The timeout is read again each time, as OpenResty reads the proc's field each time it adds the
   * timer (ngx_http_lua_pipe_read_retval_helper): `setTimeouts()` while a read waits leaves the
   * wait in course as it is, and the next one after some output takes the new value.
   */
  #arm(waiter: Waiter): void {
    waiter.cancel?.();
    waiter.cancel = null;
    const timeoutMs = waiter.timeoutMs();
    if (timeoutMs > 0)
      waiter.cancel = longTimeout(() => {
        this.#finish(waiter, { ok: false, reason: "timeout", partial: this.#consume(this.#length, 0) });
      }, timeoutMs);
  }

  /**
   * Stops this direction; later reads get "closed". `shutdown()` ("aborted") cuts a blocked read,
   * which gets what had arrived (`partial`, as OpenResty's read returns it).
   *
   * `wait()` ("closed") does not cut one: the child has exited, so what it wrote is in the pipe,
   * but its exit and the last of its output reach this process as two events, in either order.
   * Cut at once, `Promise.all([p.stdoutReadAll(), p.wait()])` got "closed" with nothing about one
   * time in 30, the output still in the pipe. So the read goes on, as OpenResty's does when
   * `wait()` closes the pipe under it, and ends as it would have: at the end of the output (a
   * process the child left in a session of its own may hold the pipe open), or at its timeout.
   */
  close(reason: "aborted" | "closed"): void {
    if (this.#closed) return;
    this.#closed = true;
    const waiter = this.#waiter;
    if (waiter === null) this.#release();
    else if (reason === "aborted")
      this.#finish(waiter, { ok: false, reason, partial: this.#consume(this.#length, 0) });
  }

  /** Drops what is buffered and the stream: once closed, when no read goes on. */
  #release(): void {
    this.#chunks = [];
    this.#length = 0;
    this.#scanChunk = 0;
    this.#scanBytes = 0;
    this.#stream?.destroy();
  }

  #finish(waiter: Waiter, result: ReadResult<Buffer>): void {
    if (this.#waiter !== waiter) return;
    this.#waiter = null;
    waiter.cancel?.();
    waiter.resolve(result);
    if (this.#closed) this.#release();
  }

  /** Pauses the stream once `limit` bytes wait unread and no pending read needs more. */
  #flow(): void {
    const stream = this.#stream;
    if (stream === null || (this.#closed && this.#waiter === null)) return;
    if (this.#waiter === null && this.#length >= this.#limit) {
      if (!stream.isPaused()) stream.pause();
    } else if (stream.isPaused()) stream.resume();
  }

  #check(): void {
    const waiter = this.#waiter;
    if (waiter === null) return;
    const decision = this.#decide(waiter.take);
    if (decision !== null) {
      this.#finish(waiter, { ok: true, data: this.#consume(decision.take, decision.skip) });
      this.#flow();
    } else if (this.#ended) {
      this.#finish(waiter, { ok: false, reason: "closed", partial: this.#consume(this.#length, 0) });
    }
  }

  /** How many bytes make the result (and how many more to drop: a line's end); null: not yet. */
  #decide(take: Take): { take: number; skip: number } | null {
    switch (take.kind) {
      case "line": {
        const end = this.#findLineEnd();
        if (end === -1) return null;
        const cr = end > 0 && this.#byteAt(end - 1) === CR ? 1 : 0;
        return { take: end - cr, skip: 1 + cr };
      }
      case "all":
        return this.#ended ? { take: this.#length, skip: 0 } : null;
      case "bytes":
        return this.#length >= take.n ? { take: take.n, skip: 0 } : null;
      case "any":
        return this.#length > 0 ? { take: Math.min(take.max, this.#length), skip: 0 } : null;
    }
  }

  /** The offset of the first "\n" in the buffer, or -1; resumes where the last search stopped. */
  #findLineEnd(): number {
    for (; this.#scanChunk < this.#chunks.length; this.#scanChunk++) {
      const chunk = this.#chunks[this.#scanChunk] as Buffer;
      const at = chunk.indexOf(LF);
      if (at !== -1) return this.#scanBytes + at;
      this.#scanBytes += chunk.length;
    }
    return -1;
  }

  #byteAt(offset: number): number | undefined {
    let rest = offset;
    for (const chunk of this.#chunks) {
      if (rest < chunk.length) return chunk[rest];
      rest -= chunk.length;
    }
    return undefined;
  }

  /** Takes `take` bytes (and drops `skip` more, a line's end) from the buffer, copying at most once. */
  #consume(take: number, skip: number): Buffer {
    this.#scanChunk = 0;
    this.#scanBytes = 0;
    const first = this.#chunks[0];
    if (first === undefined || take + skip === 0) return EMPTY;
    let data: Buffer;
    if (take <= first.length) {
      data = first.subarray(0, take); // the common case (read any, short lines): no copy
    } else {
      data = Buffer.allocUnsafe(take);
      let filled = 0;
      for (const chunk of this.#chunks) {
        if (filled === take) break;
        filled += chunk.copy(data, filled, 0, Math.min(chunk.length, take - filled));
      }
    }
    let drop = take + skip;
    this.#length -= drop;
    let whole = 0; // chunks dropped entirely, removed in one splice
    for (const chunk of this.#chunks) {
      if (chunk.length > drop) break;
      drop -= chunk.length;
      whole++;
    }
    this.#chunks.splice(0, whole);
    if (drop > 0) this.#chunks[0] = (this.#chunks[0] as Buffer).subarray(drop);
    return data;
  }
}
