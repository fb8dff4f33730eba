/**
 * A worker's HTTP servers: one http.Server per listening socket the master sent (see
 * master/listeners.ts), accepting directly, with Node's timeouts from config `http`.
 *
 * Draining is what makes reloads and stops lose no request. The worker stops accepting (the
 * master and the other workers keep the sockets, so new connections go to them or wait in the
 * backlog); from then on every response carries `Connection: close`, those already in flight
 * whose headers are not out yet included (so each busy keep-alive connection closes after its
 * current request), and connections still idle after a short grace are closed. The drain is over
 * when the last connection is gone. Per request, the hot path reads one flag, keeps two counts for
 * the metrics and the response in a set of those in flight (one shared "close" listener, no
 * closure); the access log, when configured, adds its own listener.
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
import type { ResolvedConfig } from "../config/index.ts";
import type { App, Service } from "../runtime/index.ts";
import { formatThrown, type LogSink } from "../util/log.ts";
import { openAccessLog } from "./access-log.ts";
import { fetchListener } from "./fetch/index.ts";
import { serveUpgrades } from "./upgrade.ts";

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * How long a connection that is idle when draining begins may still send one more request: a
 * request already on its way arrives within a round trip. Half a second covers any sane one and
 * leaves the rest of a graceful stop (premature timers, exitWorker, exit) room within the 1.5 s
 * a stop with idle keep-alive connections may take (nginx closes them at once).
 */
const IDLE_GRACE_MS = 500;

/** Whether `error` is Node's report of the client going away while the request was read. */
function clientLeft(req: IncomingMessage, error: unknown): boolean {
  if (!(error instanceof Error) || req.complete) return false;
  const code = (error as NodeJS.ErrnoException).code;
  return error.message === "aborted" || code === "ECONNRESET" || code === "ERR_STREAM_PREMATURE_CLOSE";
}

function listenerFor(app: App, log: LogSink): Listener | null {
  const { fetch, handler } = app;
  const failed = (res: ServerResponse, error: unknown): void => {
    const req = res.req as IncomingMessage | undefined;
    const request = req === undefined ? "" : ` (${req.method ?? "?"} ${req.url ?? "?"})`;
    if (req !== undefined && clientLeft(req, error)) {
      // The client's doing, not the app's: one line at info, as nginx logs a client that closes
      // mid-request (an error-level entry per aborted upload would let any client flood the log).
      log("info", `client closed the connection before the request was read${request}`);
      res.destroy();
      return;
    }
    log("error", `request handler failed${request}: ${formatThrown(error)}`);
    if (!res.headersSent) {
      res.statusCode = 500;
      res.end();
    } else {
      res.destroy();
    }
  };
  if (fetch !== undefined) return fetchListener(fetch, failed, log);
  if (handler !== undefined) {
    return (req, res) => {
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

/** Node's server options from config `http` (seconds there, milliseconds here). */
function serverOptions(http: ResolvedConfig["http"]): ServerOptions {
  const shortest = Math.min(...[http.headersTimeout, http.requestTimeout].filter((s) => s > 0));
  return {
    headersTimeout: http.headersTimeout * 1000,
    requestTimeout: http.requestTimeout * 1000,
    keepAliveTimeout: http.keepAliveTimeout * 1000,
    maxHeaderSize: http.maxHeaderSize,
    // Node checks the two timeouts on this beat (30 s by default): check four times per bound.
    connectionsCheckingInterval: Number.isFinite(shortest)
      ? Math.min(30_000, Math.max(250, (shortest * 1000) / 4))
      : 30_000,
  };
}

/** The app's HTTP service; null when the app has no HTTP handler. */
export function serveHttp(
  app: App,
  config: ResolvedConfig,
  log: LogSink,
  workerId: number | null,
): Service | null {
  const listener = listenerFor(app, log);
  if (listener === null) return null;
  const accessLog = openAccessLog(config.accessLog, workerId);
  const counts = { requests: 0, inFlight: 0 };
  /** Responses not yet over: a drain tells those whose headers are not out yet to close. */
  const inFlight = new Set<ServerResponse>();
  function answered(this: ServerResponse): void {
    counts.inFlight--;
    inFlight.delete(this);
  }
  const options = serverOptions(config.http);
  const servers: Server[] = [];
  const connections = new Set<Socket>();
  let draining = false;
  let whenEmpty: (() => void) | null = null;

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    counts.requests++;
    counts.inFlight++;
    inFlight.add(res);
    res.on("close", answered);
    accessLog?.track(req, res);
    if (draining) res.setHeader("connection", "close");
    listener(req, res);
  };
  const onConnection = (socket: Socket): void => {
    connections.add(socket);
    socket.once("close", () => {
      connections.delete(socket);
      if (connections.size === 0) whenEmpty?.();
    });
  };
  /** Stops accepting, leaving the connections alone (http.Server's own close also closes idle ones). */
  const stopAccepting = (): void => {
    for (const server of servers) if (server.listening) net.Server.prototype.close.call(server);
  };

  return {
    listen: (handles, fail) => {
      for (const handle of handles) {
        const server = createServer(options, onRequest);
        server.keepAliveTimeout = options.keepAliveTimeout ?? 5_000;
        server.on("connection", onConnection);
        serveUpgrades(server, app, log);
        server.once("error", (error: NodeJS.ErrnoException) => {
          fail(`cannot listen on the socket the master sent: ${error.code ?? error.message}`);
        });
        server.listen(handle);
        servers.push(server);
      }
    },

    drain: () => {
      draining = true;
      // Requests already in flight answer with Connection: close too, so their clients do not
      // send another request on a connection about to close.
      for (const res of inFlight) if (!res.headersSent) res.setHeader("connection", "close");
      stopAccepting();
      if (connections.size === 0) return Promise.resolve();
      // Busy connections close after their response (Connection: close); one that is idle may
      // still send one more request within the grace (closing it at once would race a request
      // already on its way), then it is closed.
      const sweep = setInterval(() => {
        for (const server of servers) server.closeIdleConnections();
      }, IDLE_GRACE_MS);
      return new Promise((resolve) => {
        whenEmpty = () => {
          clearInterval(sweep);
          resolve();
        };
      });
    },
    destroy: () => {
      stopAccepting();
      for (const socket of connections) socket.destroy();
    },
    counts: () => counts,
    reopen: () => accessLog?.reopen(),
  };
}
