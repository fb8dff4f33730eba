/**
 * The `Request` a fetch handler receives, built lazily. Building a real web Request per HTTP
 * request (its Headers, an AbortController the Request follows, a web stream over the body) costs
 * more than the rest of a hello-world response, so this object is only *dressed* as one: its
 * prototype sits on `Request.prototype` (so `instanceof Request` holds), `method` and `url` are
 * read from the IncomingMessage, `headers` is a Headers built from `rawHeaders` on first use, and
 * `signal` is created on first use. Touching anything else (`body`, `text()`, `clone()`, …)
 * builds the real Request once and forwards to it. @hono/node-server does the same
 * (src/request.ts); unlike it, tsresty leaves the global `Request` alone, which has one cost: the
 * object cannot be the *input* of `new Request(request)` or `fetch(request)`, whose internals read
 * private state (pass it as the init instead: `fetch(new Request(target, request))`).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { Readable } from "node:stream";
import { inspect, type InspectOptions } from "node:util";
import { forwardTheRest } from "./forward.ts";

/** Methods a web Request refuses; the app still sees the real one in `method`. */
const FORBIDDEN_METHODS = new Set(["CONNECT", "TRACE", "TRACK"]);

function headersOf(raw: readonly string[]): Headers {
  const headers = new Headers();
  for (let i = 0; i < raw.length; i += 2) headers.append(raw[i] as string, raw[i + 1] as string);
  return headers;
}

let wired = false;

/** Node's own discarding of an unread body (what its server does for a `handler`'s). */
type Dumpable = IncomingMessage & { _dump(): void };

/** The error of a body read cut by the client's leaving, as Node's own ("aborted", ECONNRESET). */
const abortedError = (): Error => Object.assign(new Error("aborted"), { code: "ECONNRESET" });

/**
 * Once the response is over, discards the rest of a body no one is reading, as Node discards a
 * body a `handler` never read (IncomingMessage._dump). Made into a web stream, the body is paused
 * by that stream's backpressure: unread (touched, cloned, cancelled), it would keep the
 * connection from reading its next request until the keep-alive timeout closed it. A body a
 * reader still holds is left to it (an app may answer 202 and read on).
 */
function discardUnread(req: IncomingMessage, socket: Socket, body: ReadableStream): void {
  if (req.complete) return;
  if (body.locked && !req.destroyed) {
    // Read on after the response: Node no longer tells a request whose response is over that its
    // client left, and the read would wait for ever. It fails as a read cut mid-body does.
    socket.once("close", () => {
      if (!req.complete) req.destroy(abortedError());
    });
    return;
  }
  (req as Dumpable)._dump();
  // A cancelled body destroyed the request, which no longer restarts the socket's reads itself;
  // one Node paused (too much output queued for a pipelining client) is Node's to resume.
  if (!socket.destroyed && (socket as Socket & { _paused?: boolean })._paused !== true) socket.resume();
}

/**
 * The body of a request Node destroyed before the app touched it: a web stream made from it now
 * is a cancelled one, which `new Request` refuses ("disturbed or locked"): every member but
 * method, url, headers and signal threw. This one fails as a read in progress would have: when
 * the client left, Node's "aborted" mid-body, the request's AbortError once the body was in (it
 * was lost with the response); when the response went out first, Node discarded the unread body
 * (as for any `handler`), and the error says so: the client is still there, and did send it.
 */
function lostBody(
  req: IncomingMessage,
  res: ServerResponse,
  signal: AbortSignal,
): ReadableStream<Uint8Array> {
  const error: unknown = res.writableFinished
    ? new Error(
        "the request body was discarded: the app first touched it after its response was sent " +
          "(start reading it before returning the response to read on after it)",
      )
    : req.complete && signal.aborted
      ? signal.reason
      : abortedError();
  return new ReadableStream({
    start(controller) {
      controller.error(error);
    },
  });
}

class IncomingRequest {
  readonly #req: IncomingMessage;
  readonly #res: ServerResponse;
  readonly #url: string;
  #headers: Headers | undefined;
  #controller: AbortController | undefined;
  #real: Request | undefined;

  constructor(req: IncomingMessage, res: ServerResponse, url: string) {
    this.#req = req;
    this.#res = res;
    this.#url = url;
  }

  get method(): string {
    return this.#req.method ?? "GET";
  }

  get url(): string {
    return this.#url;
  }

  get headers(): Headers {
    return (this.#headers ??= headersOf(this.#req.rawHeaders));
  }

  /** Aborts when the client goes away before the response is finished. */
  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      const controller = (this.#controller = new AbortController());
      const res = this.#res;
      if (!res.writableFinished) {
        if (res.destroyed) controller.abort();
        else
          res.once("close", () => {
            if (!res.writableFinished) controller.abort();
          });
      }
    }
    return this.#controller.signal;
  }

  [inspect.custom](depth: number, options: InspectOptions): string {
    const shown = { method: this.method, url: this.url, headers: this.headers };
    return `Request ${inspect(shown, { ...options, depth: options.depth == null ? null : depth - 1 })}`;
  }

  #materialize(): Request {
    if (this.#real !== undefined) return this.#real;
    const method = this.method;
    const init: RequestInit & { duplex?: "half" } = { method, headers: this.headers, signal: this.signal };
    if (FORBIDDEN_METHODS.has(method)) {
      init.method = "GET";
    } else if (method !== "GET" && method !== "HEAD") {
      const req = this.#req;
      init.duplex = "half";
      // Once the response is over, Node has discarded a body no stream consumed (it may still be
      // arriving, and be discarded as it comes: a stream made now would read the rest of it).
      if (req.destroyed || this.#res.writableFinished) init.body = lostBody(req, this.#res, this.signal);
      else {
        const body = (init.body = Readable.toWeb(req) as ReadableStream<Uint8Array>);
        // The body is this stream's from now on. Node's server discards a body no one consumes
        // once the response finishes, and the stream consumes only from its first pull, a
        // microtask away: a response sent in the same step (a 202, then reading on) finished
        // first, and the read got 0 bytes. read(0) reads nothing but marks the request as being
        // consumed; what the stream leaves unread is discardUnread's.
        req.read(0);
        const socket = req.socket;
        this.#res.once("finish", () => {
          discardUnread(req, socket, body);
        });
      }
    }
    return (this.#real = new Request(this.#url, init));
  }

  /**
   * Every other member of Request.prototype forwards to the real Request. Done at the first
   * request, not at import: touching `Request` loads undici (about 10 MB), which a worker whose
   * app has a node:http `handler` never needs.
   */
  static wire(): void {
    if (wired) return;
    wired = true;
    forwardTheRest(IncomingRequest.prototype, Request.prototype, (self) =>
      (self as IncomingRequest).#materialize(),
    );
  }
}

/**
 * The Request for one HTTP request; `url` comes from `requestUrl` (validated).
 * @example
 * const request = incomingRequest(req, res, "http://example.com/");
 * request instanceof Request; // true
 */
export function incomingRequest(req: IncomingMessage, res: ServerResponse, url: string): Request {
  IncomingRequest.wire();
  return new IncomingRequest(req, res, url) as unknown as Request;
}
