/**
 * A worker's HTTP server. The worker listens on nothing: the master accepts each connection and
 * hands it over (see master/listeners.ts), and the worker feeds it to one http.Server.
 *
 * Draining is what makes reloads and stops lose no request. The master takes the worker out of
 * rotation first; from then on every response carries `Connection: close` (so each busy
 * keep-alive connection closes after its current request), and connections still idle after a
 * short grace are closed. The drain is over when the last connection is gone. Nothing is
 * tracked per request: the hot path only reads one flag.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { App, Service } from "../runtime/index.ts";
import { formatThrown, type LogSink } from "../util/log.ts";
import { fetchListener } from "./fetch/index.ts";
import { serveUpgrades } from "./upgrade.ts";

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

/** How long a connection that is idle when draining begins may still send one more request. */
const IDLE_GRACE_MS = 1_000;

function listenerFor(app: App, log: LogSink): Listener | null {
  const { fetch, handler } = app;
  const failed = (res: ServerResponse, error: unknown): void => {
    const req = res.req as IncomingMessage | undefined;
    const request = req === undefined ? "" : ` (${req.method ?? "?"} ${req.url ?? "?"})`;
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

/** The app's HTTP service; null when the app has no HTTP handler. */
export function serveHttp(app: App, log: LogSink): Service | null {
  const listener = listenerFor(app, log);
  if (listener === null) return null;
  const connections = new Set<Socket>();
  let draining = false;
  let whenEmpty: (() => void) | null = null;

  const server = createServer((req, res) => {
    if (draining) res.setHeader("connection", "close");
    listener(req, res);
  });
  serveUpgrades(server, app, log);
  server.on("connection", (socket: Socket) => {
    connections.add(socket);
    socket.once("close", () => {
      connections.delete(socket);
      if (connections.size === 0) whenEmpty?.();
    });
  });

  return {
    accept: (socket) => {
      // What net.Server does on accept for http.Server (noDelay defaults to true there).
      socket.setNoDelay(true);
      server.emit("connection", socket);
      socket.resume();
    },
    drain: () => {
      draining = true;
      if (connections.size === 0) return Promise.resolve();
      const sweep = setInterval(() => {
        server.closeIdleConnections();
      }, IDLE_GRACE_MS);
      return new Promise((resolve) => {
        whenEmpty = () => {
          clearInterval(sweep);
          resolve();
        };
      });
    },
    destroy: () => {
      server.close();
      for (const socket of connections) socket.destroy();
    },
  };
}
