/**
 * Writes a web `Response` to a node:http ServerResponse.
 *
 * A light Response (light-response.ts) never materialised, with a string, bytes or no body, is
 * written from its parts at once (`sendLight`): no web stream is made or read.
 *
 * A body that is already there in full (a string, bytes, JSON, a stream that enqueued everything
 * and closed) is sent as one `res.end(buffer)` with a `content-length`: status line, headers and
 * body in one write. It is found without trusting undici's internals: the body is read while each
 * read settles within a few microtasks, which is the case for every body undici made from a value
 * and for streams whose data is queued. A body still coming (a ReadableStream a producer feeds)
 * is streamed with backpressure, and cancelled as soon as the client goes away, so its producer
 * stops (an SSE feed otherwise keeps enqueueing into a closed connection).
 */
import type { ServerResponse } from "node:http";
import { claimLight } from "./light-response.ts";

/** Reads at most this many chunks before streaming: a synchronous source may never end. */
const MAX_EAGER_READS = 8;
/** Past this many bytes read eagerly, the rest is streamed with backpressure. */
const MAX_EAGER_BYTES = 1 << 20;

/** A character beyond ASCII, which UTF-8 and latin1 write differently (a header value has no control character but tab). */
const NON_ASCII = /[^\u0020-\u007e\t]/;

type Read = Awaited<ReturnType<ReadableStreamDefaultReader<Uint8Array>["read"]>>;

/** A `connection` header asking to close (Node's RE_CONN_CLOSE). */
const CLOSE = /(?:^|\W)close(?:$|\W)/i;

/** Statuses whose responses carry no body, hence no content-length (RFC 9110 §8.6). */
const noBody = (status: number): boolean => status < 200 || status === 204 || status === 304;

/** A body chunk as bytes. Web streams must yield Uint8Array; a string is taken too, as node:http does. */
function bytes(chunk: unknown): Uint8Array {
  if (chunk instanceof Uint8Array) return chunk;
  if (typeof chunk === "string") return Buffer.from(chunk);
  throw new TypeError(`a response body chunk must be a Uint8Array, got ${typeof chunk}`);
}

/** Resolves with undefined after a few microtask turns: the time undici's own bodies take to read. */
const later = (): Promise<undefined> =>
  Promise.resolve()
    .then(() => undefined)
    .then(() => undefined);

/** The read's result if it settles within a few microtask turns, else undefined. */
function soon(read: Promise<Read>): Promise<Read | undefined> {
  return Promise.race([read, later()]);
}

/**
 * Headers as one flat `[name, value, …]` list for `writeHead`, its fast path. Several set-cookie
 * lines go through `setHeader` instead: when a header was set before (`connection: close` while
 * draining), Node 20's writeHead applies a flat list with setHeader, which keeps only the last.
 *
 * The adapter frames the body, not the app: an app's `transfer-encoding` never goes out, and a
 * body at hand goes out with its measured `content-length` whatever the app said (a length that
 * did not match would run the rest of the body into the connection's next response). The app's
 * own `content-length` is kept where nothing is measured: a streamed body (which must then match
 * it: `strictContentLength`), a HEAD response, a 304.
 *
 * Nor does the app keep the connection: its `connection` and `keep-alive` headers never go out
 * (a proxied upstream's `connection: keep-alive` would make Node keep open a connection the
 * client or a drain closes, and its `keep-alive: timeout=N` is the upstream's, not this
 * server's). An app's `connection: close` still closes it, with Node's own header.
 */
function fields(
  res: ServerResponse,
  headers: Headers,
  status: number,
  length: number | null,
  streamed: boolean,
): string[] {
  const list: string[] = [];
  let given: string | undefined;
  let cookies: string[] | undefined;
  // Iteration lists each set-cookie on its own (the others are combined).
  for (const [name, value] of headers) {
    if (name === "set-cookie") {
      (cookies ??= []).push(value);
      continue;
    }
    if (name === "content-length") given = value;
    else if (name === "connection") {
      if (CLOSE.test(value)) res.shouldKeepAlive = false;
    } else if (name !== "transfer-encoding" && name !== "keep-alive") list.push(name, value);
  }
  if (cookies !== undefined) {
    if (cookies.length === 1) list.push("set-cookie", cookies[0] as string);
    else res.setHeader("set-cookie", cookies);
  }
  const appLength = given !== undefined && /^\d+$/.test(given) ? given : undefined;
  if (appLength !== undefined && (streamed || res.req.method === "HEAD" || status === 304)) {
    list.push("content-length", appLength);
    if (streamed) res.strictContentLength = true;
  } else if (length !== null) list.push("content-length", String(length));
  return list;
}

function head(res: ServerResponse, status: number, statusText: string, list: string[]): void {
  if (statusText === "") res.writeHead(status, list);
  else res.writeHead(status, statusText, list);
}

function writeHead(res: ServerResponse, response: Response, length: number | null): void {
  const { status } = response;
  const streamed = length === null && response.body !== null && !noBody(status);
  head(res, status, response.statusText, fields(res, response.headers, status, length, streamed));
}

/** The content-length of a body at hand; none for the statuses that have no body. */
function lengthOf(body: string | Uint8Array | null, status: number): number | null {
  if (body === null) return noBody(status) ? null : 0;
  return typeof body === "string" ? Buffer.byteLength(body) : body.byteLength;
}

/**
 * Sends a light Response never materialised (light-response.ts) without making undici's: one
 * writeHead, one end, and no Headers object unless the app made one. False for anything else
 * (undici's Response, a promise, a value that is no Response).
 * @example
 * if (!sendLight(response, res)) await writeResponse(response, res);
 */
export function sendLight(response: unknown, res: ServerResponse): boolean {
  const parts = claimLight(response);
  if (parts === undefined) return false;
  const { status, statusText, headers, type, body } = parts;
  const length = lengthOf(body, status);
  let list: string[];
  // Without the app's headers, the values are the body's content type (undici's constants) and digits.
  let ascii = statusText === "" || !NON_ASCII.test(statusText);
  if (headers !== null) {
    list = fields(res, headers, status, length, false);
    ascii &&= !list.some((value) => NON_ASCII.test(value));
  } else {
    list = type === null ? [] : ["content-type", type];
    if (length !== null) list.push("content-length", String(length));
  }
  head(res, status, statusText, list);
  // Node writes the head with a string body in the body's encoding (UTF-8); header values are
  // bytes (latin1), as undici sends them. A Buffer body makes Node write the head on its own.
  if (typeof body === "string" && !ascii) res.end(Buffer.from(body));
  else res.end(body ?? undefined);
  return true;
}

/**
 * Resolves on `event` or 'close', whichever comes first; at once when `res` is already cut (its
 * 'close' may be gone: a queued response whose client left before the app returned).
 */
function eventOrClose(res: ServerResponse, event: "drain" | "socket"): Promise<void> {
  if (res.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      res.off(event, done);
      res.off("close", done);
      resolve();
    };
    res.on(event, done);
    res.on("close", done);
  });
}

const drained = (res: ServerResponse): Promise<void> => eventOrClose(res, "drain");
/** Resolves when the responses before this one on its connection are over, or it is closed. */
const turn = (res: ServerResponse): Promise<void> => eventOrClose(res, "socket");

async function stream(
  res: ServerResponse,
  reader: ReadableStreamDefaultReader<Uint8Array>,
  next: Promise<Read>,
): Promise<void> {
  let ended = false;
  const cancel = (): void => {
    if (!ended) reader.cancel().catch(() => undefined);
  };
  res.once("close", cancel);
  try {
    for (let read = await next; !read.done; read = await reader.read()) {
      if (res.destroyed) return;
      if (!res.write(bytes(read.value))) await drained(res);
    }
    ended = true;
    if (!res.destroyed) res.end();
  } finally {
    res.off("close", cancel);
    cancel();
  }
}

/** What a fetch handler returned instead of a Response, named for its error. */
function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value !== "object") return typeof value;
  const name: unknown = (value as { constructor?: { name?: unknown } }).constructor?.name;
  // Another library's Response (node-fetch's, say) is one only by its name.
  return typeof name === "string" && name !== "Object" ? `an object of another class: ${name}` : "object";
}

/**
 * Sends `response` on `res`. Rejects when the body stream fails (the caller logs it and ends the
 * exchange); a client that leaves is not a failure.
 * @example
 * await writeResponse(new Response("hello\n"), res); // one write, with content-length: 6
 */
export async function writeResponse(response: Response, res: ServerResponse): Promise<void> {
  if (!(response instanceof Response)) {
    throw new TypeError(`the fetch handler must return a Response, returned ${describe(response)}`);
  }
  if (sendLight(response, res)) return;
  if (response.type === "error")
    throw new TypeError(
      "the fetch handler returned Response.error(), a network error: it has no status to send",
    );
  const body = response.body;
  if (body === null) {
    writeHead(res, response, noBody(response.status) ? null : 0);
    res.end();
    return;
  }
  const reader = body.getReader();
  let next: Promise<Read>;
  try {
    const started = await start(response, res, reader);
    if (started === null) return;
    next = started.next;
  } catch (error) {
    // The response failed before its body was streamed (a chunk that is not bytes, a header
    // Node refuses): its producer is told, as when the client leaves, or it would run for ever.
    reader.cancel(error).catch(() => undefined);
    throw error;
  }
  await stream(res, reader, next);
}

/**
 * The head, and what of the body comes at once: a body that ends within a few reads goes out
 * whole, with its length (null: answered). Else the head and the chunks read so far are written,
 * and the read in progress is returned (in an object: a promise returned as such would be waited
 * for) for `stream` to go on with.
 */
async function start(
  response: Response,
  res: ServerResponse,
  reader: ReadableStreamDefaultReader<Uint8Array>,
): Promise<{ next: Promise<Read> } | null> {
  const chunks: Uint8Array[] = [];
  let length = 0;
  // A response queued behind another (pipelined) has no socket yet: reading ahead for it now would
  // buffer up to MAX_EAGER_BYTES for each request that cost the client a few bytes.
  if (res.socket === null) await turn(res);
  if (res.destroyed) {
    await reader.cancel();
    return null;
  }
  let next = reader.read();
  for (let reads = 0; reads < MAX_EAGER_READS && length <= MAX_EAGER_BYTES; reads++) {
    const read = await soon(next);
    if (read === undefined) break;
    if (read.done) {
      writeHead(res, response, length);
      res.end(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, length));
      return null;
    }
    const chunk = bytes(read.value);
    chunks.push(chunk);
    length += chunk.byteLength;
    next = reader.read();
  }
  writeHead(res, response, null);
  if (res.req.method === "HEAD") {
    // No body goes out: the head is the whole answer, and a body still coming may never end.
    res.end();
    await reader.cancel().catch(() => undefined);
    return null;
  }
  for (const chunk of chunks) res.write(chunk);
  if (chunks.length === 0) res.flushHeaders();
  return { next };
}
