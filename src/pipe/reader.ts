/**
 * Buffered reads from one of the child's output pipes, with OpenResty's outcomes. Data the child
 * wrote stays readable after it exits, until `wait()` finalizes the process. One read at a time:
 * a second concurrent read gets "pipe busy reading". Backpressure: past `highWater` buffered
 * bytes the pipe is paused, and resumed once reads have taken it down to half (not on every
 * read: pausing and resuming a pipe costs system calls).
 */
import type { Readable } from "node:stream";
import { longTimeout } from "./long-timeout.ts";

export type ReadFailure = "closed" | "timeout" | "aborted" | "pipe busy reading" | "merged to stdout";

/** A read's outcome: the data, or why not with what had arrived (`partial`). */
export type ReadResult<T> =
  | { readonly ok: true; readonly data: T }
  | { readonly ok: false; readonly reason: ReadFailure; readonly partial: T };

/** Decides how much of the buffered bytes make a result (null: not yet). */
interface Take {
  (buffered: Buffer, ended: boolean): { take: number; skip: number } | null;
  /** Looks at the first buffered chunk only (no copy): enough for "any". */
  readonly firstChunk?: boolean;
}

interface Waiter {
  readonly take: Take;
  readonly resolve: (result: ReadResult<Buffer>) => void;
  cancel: (() => void) | null;
}

const EMPTY = Buffer.alloc(0);

export class PipeReader {
  readonly #stream: Readable | null;
  readonly #highWater: number;
  #chunks: Buffer[] = [];
  #length = 0;
  #ended = false;
  /** Shut down by the caller, or finalized by wait(). */
  #closed = false;
  #waiter: Waiter | null = null;

  /** `stream` null: this direction is merged into stdout. */
  constructor(stream: Readable | null, highWater: number) {
    this.#stream = stream;
    this.#highWater = highWater;
    if (stream === null) return;
    stream.on("data", (chunk: Buffer) => {
      this.#chunks.push(chunk);
      this.#length += chunk.length;
      if (this.#length >= this.#highWater) stream.pause();
      this.#check();
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

  /** Reads with `take` deciding how much of the buffer makes a result; `timeoutMs` 0 = never. */
  read(take: Take, timeoutMs: number): Promise<ReadResult<Buffer>> {
    if (this.#stream === null)
      return Promise.resolve({ ok: false, reason: "merged to stdout", partial: EMPTY });
    if (this.#waiter !== null)
      return Promise.resolve({ ok: false, reason: "pipe busy reading", partial: EMPTY });
    if (this.#closed) return Promise.resolve({ ok: false, reason: "closed", partial: EMPTY });
    return new Promise((resolve) => {
      const waiter: Waiter = { take, resolve, cancel: null };
      this.#waiter = waiter;
      if (timeoutMs > 0) {
        waiter.cancel = longTimeout(() => {
          this.#finish(waiter, { ok: false, reason: "timeout", partial: this.#consume(this.#length, 0) });
        }, timeoutMs);
      }
      this.#check();
    });
  }

  /** Stops this direction: a blocked read gets "aborted", later reads "closed". */
  close(reason: "aborted" | "closed"): void {
    if (this.#closed) return;
    this.#closed = true;
    const waiter = this.#waiter;
    if (waiter !== null) this.#finish(waiter, { ok: false, reason, partial: EMPTY });
    this.#chunks = [];
    this.#length = 0;
    this.#stream?.destroy();
  }

  #finish(waiter: Waiter, result: ReadResult<Buffer>): void {
    if (this.#waiter !== waiter) return;
    this.#waiter = null;
    waiter.cancel?.();
    waiter.resolve(result);
  }

  #check(): void {
    const waiter = this.#waiter;
    if (waiter === null) return;
    const buffered =
      this.#length === 0
        ? EMPTY
        : waiter.take.firstChunk === true
          ? (this.#chunks[0] ?? EMPTY)
          : this.#peek();
    const decision = waiter.take(buffered, this.#ended);
    if (decision !== null) {
      this.#finish(waiter, { ok: true, data: this.#consume(decision.take, decision.skip) });
    } else if (this.#ended) {
      this.#finish(waiter, { ok: false, reason: "closed", partial: this.#consume(this.#length, 0) });
    }
  }

  #peek(): Buffer {
    if (this.#chunks.length > 1) this.#chunks = [Buffer.concat(this.#chunks, this.#length)];
    return this.#chunks[0] ?? EMPTY;
  }

  /** Takes `take` bytes (and drops `skip` more, a line's end) from the buffer. */
  #consume(take: number, skip: number): Buffer {
    const first = this.#chunks[0];
    if (first !== undefined && take + skip <= first.length) {
      // The common case (read any, short lines): no copy.
      const rest = first.subarray(take + skip);
      if (rest.length === 0) this.#chunks.shift();
      else this.#chunks[0] = rest;
      this.#length -= take + skip;
      if (this.#length <= this.#highWater / 2 && this.#stream?.isPaused() === true) this.#stream.resume();
      return first.subarray(0, take);
    }
    const all = this.#peek();
    const data = all.subarray(0, take);
    const rest = all.subarray(take + skip);
    this.#chunks = rest.length === 0 ? [] : [rest];
    this.#length = rest.length;
    if (this.#length <= this.#highWater / 2 && this.#stream?.isPaused() === true) this.#stream.resume();
    return data;
  }
}

/** A line without its "\n" (and a "\r" before it). */
export const takeLine: Take = (buffered) => {
  const end = buffered.indexOf(10);
  if (end === -1) return null;
  const cr = end > 0 && buffered[end - 1] === 13 ? 1 : 0;
  return { take: end - cr, skip: 1 + cr };
};

/** Everything until the end of the stream. */
export const takeAll: Take = (buffered, ended) => (ended ? { take: buffered.length, skip: 0 } : null);

/** Exactly `n` bytes. */
export const takeBytes =
  (n: number): Take =>
  (buffered) =>
    buffered.length >= n ? { take: n, skip: 0 } : null;

/** Whatever is there, up to `max` bytes, as soon as there is something. */
export function takeAny(max: number): Take {
  const take = (buffered: Buffer): { take: number; skip: number } | null =>
    buffered.length > 0 ? { take: Math.min(max, buffered.length), skip: 0 } : null;
  return Object.assign(take, { firstChunk: true });
}
