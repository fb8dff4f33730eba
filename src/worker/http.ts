/**
 * A worker's HTTP servers: one http.Server per listening socket the master sent (see
 * master/listeners.ts), accepting directly, with Node's timeouts from config `http`.
 *
 * Draining is what makes reloads and stops lose no request. The worker stops accepting (the
 * master and the other workers keep the sockets, so new connections go to them or wait in the
 * backlog) and its connections close as drain.ts says; the drain is over when the last
 * connection is gone. Per request, the hot path counts the request,
 * reads one flag and notes the response on its connection (no listener, no closure, no timer:
 * the keep-alive timeout is a sweep's, keep-alive.ts); what is in flight is worked out from those
 * notes when asked (a scrape, a drain, the sweep), not kept up to date at every response's end.
 * The access log, when configured, adds its own listener; a request Node refuses before any
 * handler runs is answered here as Node answers it, so that the log has its line too.
 *
 * A pipelined request waits behind the response before it, its ServerResponse without a socket;
 * when the client leaves, Node never emits "close" on it. Each connection's one "close" listener
 * does it for them, so that such a response ends like any other whose client left: the request's
 * signal aborts, a streamed body is cancelled, the access log has its 499.
 */
import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerOptions,
  type ServerResponse,
} from "node:http";
import * as net from "node:net";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { ResolvedConfig } from "../config/index.ts";
import type { App, Service } from "../runtime/index.ts";
import { formatThrown, type LogSink } from "../util/log.ts";
import { openAccessLog, type AccessLog } from "./access-log.ts";
import { watchDescriptors } from "./descriptors.ts";
import { Connections, live, over, queue, receiving } from "./connections.ts";
import { Drain } from "./drain.ts";
import { fetchListener, refuseTarget } from "./fetch/index.ts";
import { keepAlive } from "./keep-alive.ts";
import { refusal } from "./refusal.ts";
import { asksUpgrade, serveUpgrades } from "./upgrade.ts";

type Listener = (req: IncomingMessage, res: ServerResponse) => void;
/** Node's field behind the `Keep-Alive: timeout=N` header (ms; 0: no header), Node 20 and 24. */
type Advertising = ServerResponse & { _keepAliveTimeout: number };
/**
 * Node's field for the response that holds a connection's socket, Node 20 and 24: set when the
 * response gets the socket, cleared at its "finish" (a response ended in this turn still holds it).
 */
type Held = Socket & { _httpMessage?: ServerResponse | null };

/**
 * What the client's going away explains about `error`, if anything: Node's report of it while
 * the request was read ("request"), or the app giving up because the request's signal aborted
 * ("response": `fetch(upstream, { signal: request.signal })` rejects so). An abort while the
 * client is still there is the app's own (a timeout of its), not the client's. A value the app
 * threw that cannot be looked at (a revoked Proxy, a getter that throws) is the app's failure:
 * looking at it must not throw (that killed the worker, and every request in flight on it).
 */
function clientLeft(
  req: IncomingMessage,
  res: ServerResponse,
  error: unknown,
): "request" | "response" | null {
  try {
    if (!(error instanceof Error)) return null;
    if (error.name === "AbortError") return res.destroyed && !res.writableFinished ? "response" : null;
    if (req.complete) return null;
    const code = (error as NodeJS.ErrnoException).code;
    const left =
      error.message === "aborted" || code === "ECONNRESET" || code === "ERR_STREAM_PREMATURE_CLOSE";
    return left ? "request" : null;
  } catch {
    return null;
  }
}

/** ` (GET /path)`, the request a log line is about; "" for none. */
function naming(req: IncomingMessage | undefined): string {
  return req === undefined ? "" : ` (${req.method ?? "?"} ${req.url ?? "?"})`;
}

/** What the listener learns from the rest of the HTTP service, and tells it. */
interface ListenerHooks {
  /**
   * The worker is about to close the connection of `res` (its head built, its app failing): none
   * of what was not sent yet will be.
   */
  cutting(res: ServerResponse): void;
  /** Whether Node refused the request of `res` for `requestTimeout` (408) while its body arrived. */
  timedOut(res: ServerResponse): boolean;
}

/** The listener of the app's requests; null when the app has no HTTP handler. */
function listenerFor(app: App, log: LogSink, hooks: ListenerHooks): Listener | null {
  const { fetch, handler } = app;
  const failed = (res: ServerResponse, error: unknown): void => {
    const req = res.req as IncomingMessage | undefined;
    const request = naming(req);
    const left = req === undefined ? null : clientLeft(req, res, error);
    if (left !== null && hooks.timedOut(res)) {
      // The request's body stopped on Node's 408, not on the client's leaving: nginx logs
      // nothing but the access log's 408 for it; one line at info says why the app's read failed.
      log("info", `answered 408: the request was not received within http.requestTimeout${request}`);
      res.destroy();
      return;
    }
    if (left !== null) {
      // The client's doing, not the app's: one line at info, as nginx logs a client that closes
      // mid-request (an error-level entry per aborted upload would let any client flood the log).
      const read = left === "request" ? "the request was read" : "the response was sent";
      log("info", `client closed the connection before ${read}${request}`);
      res.destroy();
      return;
    }
    log("error", `request handler failed${request}: ${formatThrown(error)}`);
    // The app ended its response before it failed: that response is whole, and cutting it would
    // lose what is still being flushed (and the requests pipelined behind it).
    if (res.writableEnded) return;
    if (res.headersSent) {
      // Part of the response may be out already: it cannot be repaired, only cut.
      hooks.cutting(res);
      res.destroy();
      return;
    }
    // None of the app's headers belongs on the 500: a content-length would desync the
    // connection, a set-cookie would leak.
    for (const name of res.getHeaderNames()) res.removeHeader(name);
    res.statusCode = 500;
    res.statusMessage = "";
    res.end();
  };
  if (fetch !== undefined) return fetchListener(fetch, failed, log);
  if (handler !== undefined) {
    // Node reports a write after the end (`res.end()` twice) as an 'error' event of the response:
    // with no listener it is thrown, and killed the worker with every request in flight on it.
    // (fetch: the adapter writes, never after the end.) One function for every response.
    function onResponseError(this: ServerResponse, error: Error): void {
      failed(this, error);
    }
    return (req, res) => {
      res.on("error", onResponseError);
      // HTTP/1.1 requires Host (RFC 9112 §3.2): the fetch adapter's answer, and the access log's
      // line, in place of Node's own check (off: it answers without a "request" event).
      if (req.httpVersionMinor === 1 && req.httpVersionMajor === 1 && req.headers.host === undefined) {
        refuseTarget(req, res, "Invalid host header", log);
        return;
      }
      try {
        const result = handler(req, res);
        if (result instanceof Promise) {
          result.catch((error: unknown) => {
            failed(res, error);
          });
        }
      } catch (error) {
        failed(res, error);
      }
    };
  }
  return null;
}

/**
 * Node's server options from config `http` (seconds there, milliseconds here). The keep-alive
 * timeout is not among them: tsresty keeps it (keep-alive.ts). Node takes whole milliseconds only
 * and throws at anything else: `headersTimeout: 16.1` is 16100.000000000002 ms in floating point
 * (and a quarter of 1.25 s is 312.5 ms), which crashed every worker as it began to listen.
 */
function serverOptions(http: ResolvedConfig["http"]): ServerOptions {
  const shortest = Math.min(...[http.headersTimeout, http.requestTimeout].filter((s) => s > 0));
  return {
    headersTimeout: Math.round(http.headersTimeout * 1000),
    requestTimeout: Math.round(http.requestTimeout * 1000),
    maxHeaderSize: http.maxHeaderSize,
    // tsresty checks Host itself (fetch/target.ts, and the handler listener), answering the same
    // 400 with an access-log line; Node's check answers before any "request" event.
    requireHostHeader: false,
    // Node checks the two timeouts on this beat (30 s by default): check four times per bound.
    connectionsCheckingInterval: Number.isFinite(shortest)
      ? Math.min(30_000, Math.max(250, Math.round((shortest * 1000) / 4)))
      : 30_000,
  };
}

/** Ends, as a client's leaving ends the others, the responses still queued when their connection closed. */
function abandon(responses: readonly ServerResponse[]): void {
  for (const res of responses) {
    // One that reached the socket had its close from Node (or holds it still, or was sent in
    // full); so has every queued one on Node 24 (not 20), which closes them itself and marks them
    // destroyed.
    if (res.socket !== null || over(res)) continue;
    res.destroyed = true;
    res.emit("close");
  }
}

/** The app's HTTP service; null when the app has no HTTP handler. */
export function serveHttp(
  app: App,
  config: ResolvedConfig,
  log: LogSink,
  workerId: number | null,
): Service | null {
  const connections = new Connections();
  let accessLog: AccessLog | null = null;
  /** Responses whose requests Node refused for `requestTimeout` while their bodies arrived. */
  const timedOut = new WeakSet<ServerResponse>();
  const listener = listenerFor(app, log, {
    cutting: (res) => {
      if (res.socket !== null) accessLog?.cut(res.socket);
    },
    timedOut: (res) => timedOut.has(res),
  });
  if (listener === null) return null;
  accessLog = openAccessLog(config.accessLog, workerId);
  let requests = 0;
  const options = serverOptions(config.http);
  const keepAliveMs = config.http.keepAliveTimeout * 1000;
  const sendTimeout = config.http.sendTimeout;
  const idleSweep = keepAlive(connections, { keepAliveMs, sendMs: sendTimeout * 1000 }, (stalled) => {
    // At info, as nginx logs its send_timeout: a client's doing, not the worker's fault.
    const request = naming(stalled.newest?.req);
    log(
      "info",
      `closed a connection whose client took none of the response for ${sendTimeout} s (http.sendTimeout)${request}`,
    );
  });
  const servers: Server[] = [];
  const upgrades = app.upgrade !== undefined;
  const drain = new Drain(connections);
  /** Called, once each, when the last connection is gone. */
  let whenEmpty: (() => void)[] = [];

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    requests++;
    const connection = connections.of(req.socket);
    let before: ServerResponse | null = null;
    if (connection !== undefined) {
      if (res.socket === null) queue(connection, res);
      before = connection.newest;
      connection.newest = res;
    }
    accessLog?.track(req, res);
    if (drain.active) {
      if (!drain.closeAfter(res, before)) {
        // Ended by the connection's close, as a response its server cut.
        accessLog?.cut(req.socket);
        return;
      }
    } else if (!upgrades && asksUpgrade(req)) {
      // Answered as a plain request, an upgrade request ends its connection: Node dropped any
      // request pipelined behind it, which would otherwise wait unanswered for the keep-alive timeout.
      res.shouldKeepAlive = false;
    }
    // What Node would have set from its own keepAliveTimeout: the `Keep-Alive: timeout=N` header.
    (res as Advertising)._keepAliveTimeout = keepAliveMs;
    listener(req, res);
  };
  const onConnection = (socket: Socket): void => {
    const connection = connections.add(socket);
    accessLog?.connected(socket);
    idleSweep.wake();
    socket.once("close", () => {
      // After the socket's other "close" listeners: the response that held it ends first.
      process.nextTick(() => {
        if (connection.pipelined !== null) abandon(connection.pipelined);
        connections.delete(connection);
        if (connections.size > 0) return;
        const waiting = whenEmpty;
        whenEmpty = [];
        for (const done of waiting) done();
      });
    });
  };
  /**
   * Node's own refusal (a malformed request, headers too large, a timeout: refusal.ts), made here
   * as Node makes it when no "clientError" listener is set, so that the access log has its line,
   * unless the response that holds the socket has its head out already (Node's test is that head's
   * bytes on the socket, this one its being made: a refusal never follows a head the app built);
   * then the connection is closed. A response ended in this turn holds the socket until its
   * "finish", as in Node: the bytes after a pipelined request answered at once are not answered
   * (the refusal went out in the place of the answer of the request queued behind it, which was
   * logged as sent). The responses the close leaves unsent are the worker's cut (444).
   */
  const onClientError = (error: NodeJS.ErrnoException, duplex: Duplex): void => {
    // An http.Server's connections are sockets; Node's type for the listener says Duplex.
    if (!(duplex instanceof net.Socket)) {
      duplex.destroy();
      return;
    }
    const socket = duplex;
    const connection = connections.of(socket);
    // The client shut its side inside a request's body: it went away (that request, answered or
    // not, has its own line), it was not refused.
    if (error.code === "HPE_INVALID_EOF_STATE" && connection !== undefined && receiving(connection)) {
      socket.destroy();
      return;
    }
    const current = (socket as Held)._httpMessage ?? null;
    if (socket.writable) {
      if (current === null || !current.headersSent) {
        const { status, bytes } = refusal(error.code);
        if (status === 408 && current !== null) timedOut.add(current);
        socket.write(bytes);
        accessLog?.refused(socket, status, bytes.length, current);
      }
      accessLog?.cut(socket);
    }
    socket.destroy();
  };
  /**
   * A CONNECT request: the worker is no proxy. Node closes its connection without a word when no
   * "connect" listener is set (and no line was logged); nginx answers it 400 and logs it, and so
   * does the worker, with Node's refusal (refusal.ts).
   */
  const onConnect = (req: IncomingMessage, socket: Duplex): void => {
    const { status, bytes } = refusal(undefined);
    // A reset before the answer is out must not kill the worker.
    socket.on("error", () => undefined);
    socket.end(bytes, () => socket.destroy());
    accessLog?.rejected(req, status, bytes.length);
  };
  /** An upgrade request, before the app's `upgrade` (or a drain's refusal) writes a byte of its answer. */
  const upgraded = (req: IncomingMessage): void => {
    accessLog?.upgraded(req, req.socket);
    const connection = connections.of(req.socket);
    // One a drain refused (upgrade.ts) closes at once.
    if (connection !== undefined && !drain.active) connection.upgraded = true;
  };
  /** Resolves, after `then`, when the last connection is gone. */
  const emptied = (then: () => void): Promise<void> => {
    if (connections.size === 0) {
      then();
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      whenEmpty.push(() => {
        then();
        resolve();
      });
    });
  };
  /** Stops accepting, leaving the connections alone (http.Server's own close also closes idle ones). */
  let stopWatching = (): void => undefined;
  const stopAccepting = (): void => {
    stopWatching();
    for (const server of servers) if (server.listening) net.Server.prototype.close.call(server);
  };

  return {
    listen: (handles, fail) => {
      for (const handle of handles) {
        const server = createServer(options, onRequest);
        // Not Node's to keep (keep-alive.ts): at 0 it arms no socket timer per request.
        server.keepAliveTimeout = 0;
        // Every header line reaches rawHeaders: past its 2000th, Node dropped them unseen, and a
        // second Host line there was not refused (fetch/target.ts). maxHeaderSize bounds them.
        server.maxHeadersCount = 0;
        server.on("connection", onConnection);
        server.on("clientError", onClientError);
        server.on("connect", onConnect);
        // An Expect other than 100-continue: Node answers 417 before any "request" event (the
        // app, its count and its access-log line never knew); nginx ignores it and serves the
        // request, as RFC 9110 §10.1.1 allows, and so does the worker.
        server.on("checkExpectation", onRequest);
        // An upgraded connection is the app's: a drain waits for it, never closes it. Heard
        // before the app's own listener, which may write its answer at once (ws does).
        if (upgrades) server.on("upgrade", upgraded);
        serveUpgrades(server, app, log, () => drain.active);
        server.once("error", (error: NodeJS.ErrnoException) => {
          fail(`cannot listen on the socket the master sent: ${error.code ?? error.message}`);
        });
        server.listen(handle);
        servers.push(server);
      }
      stopWatching = watchDescriptors(log);
    },

    drain: () => {
      drain.begin();
      stopAccepting();
      return emptied(() => {
        drain.end();
        idleSweep.stop();
      });
    },
    destroy: () => {
      stopAccepting();
      for (const connection of connections) {
        accessLog?.cut(connection.socket);
        connection.socket.destroy();
      }
      // Resolves once the sockets' "close" listeners have run: the cut responses' own (the
      // access log's lines, a stream's cancel, a request's signal) included.
      return emptied(() => {
        idleSweep.stop();
      });
    },
    counts: () => {
      let inFlight = 0;
      let upgraded = 0;
      for (const connection of connections) {
        inFlight += live(connection).length;
        if (connection.upgraded) upgraded++;
      }
      return { requests, inFlight, upgraded };
    },
    reopen: () => accessLog?.reopen(),
  };
}
