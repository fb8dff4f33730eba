/**
 * A worker's HTTP servers: one per listen address, all sharing the master's sockets through
 * node:cluster. Draining is what makes reloads lose no request: the server stops accepting
 * (the master hands new connections to the other workers), every response from then on carries
 * `Connection: close`, and a connection idle at that moment gets a short grace to send its
 * next request before it is closed.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { Server as NetServer, type Socket } from "node:net";
import { formatListen, type ListenAddress } from "../config/index.ts";
import type { App, Service } from "../runtime/index.ts";
import { formatThrown, type LogSink } from "../util/log.ts";
import { toRequest, writeResponse } from "./fetch-adapter.ts";

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

/** How long a connection that is idle when draining begins may still send one more request. */
const IDLE_GRACE_MS = 1_000;

function listenerFor(app: App, log: LogSink): Listener | null {
  const { fetch, handler } = app;
  const failed = (res: ServerResponse, error: unknown): void => {
    log("error", `request handler failed: ${formatThrown(error)}`);
    if (!res.headersSent) {
      res.statusCode = 500;
      res.end();
    } else {
      res.destroy();
    }
  };
  if (fetch !== undefined) {
    return (req, res) => {
      Promise.resolve()
        .then(() => fetch(toRequest(req, res)))
        .then((response) => writeResponse(response, res))
        .catch((error: unknown) => {
          failed(res, error);
        });
    };
  }
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

function listen(server: Server, address: ListenAddress): Promise<string> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      const why = error.code === "EADDRINUSE" ? "address already in use" : error.message;
      reject(new Error(`cannot listen on ${formatListen(address)}: ${why} (${error.code ?? "error"})`));
    };
    server.once("error", onError);
    server.listen({ port: address.port, ...(address.host === null ? {} : { host: address.host }) }, () => {
      server.off("error", onError);
      const bound = server.address();
      if (bound === null || typeof bound === "string") resolve(String(bound));
      else resolve(formatListen({ host: address.host === null ? null : bound.address, port: bound.port }));
    });
  });
}

/** Starts the app's HTTP servers; null when the app has no HTTP handler. */
export async function serveHttp(
  app: App,
  addresses: readonly ListenAddress[],
  log: LogSink,
): Promise<Service | null> {
  const listener = listenerFor(app, log);
  if (listener === null) return null;
  const active = new Map<Socket, number>();
  let draining = false;
  let whenEmpty: (() => void) | null = null;

  const track = (req: IncomingMessage, res: ServerResponse): void => {
    const socket = req.socket;
    active.set(socket, (active.get(socket) ?? 0) + 1);
    if (draining) res.setHeader("connection", "close");
    res.once("close", () => {
      active.set(socket, (active.get(socket) ?? 1) - 1);
    });
    listener(req, res);
  };

  const servers = addresses.map(() => {
    const server = createServer(track);
    server.on("connection", (socket: Socket) => {
      active.set(socket, 0);
      socket.once("close", () => {
        active.delete(socket);
        if (active.size === 0) whenEmpty?.();
      });
    });
    return server;
  });
  const bound = await Promise.all(servers.map((server, i) => listen(server, addresses[i] as ListenAddress)));

  return {
    addresses: bound,
    drain: () => {
      draining = true;
      // net.Server's close stops accepting without http.Server's closing of idle connections.
      // eslint-disable-next-line @typescript-eslint/unbound-method -- applied to each server just below
      const stopAccepting = NetServer.prototype.close;
      for (const server of servers) Reflect.apply(stopAccepting, server, []);
      for (const [socket, requests] of active) {
        if (requests === 0) socket.setTimeout(IDLE_GRACE_MS, () => socket.destroy());
      }
      if (active.size === 0) return Promise.resolve();
      return new Promise((resolve) => {
        whenEmpty = resolve;
      });
    },
    destroy: () => {
      for (const server of servers) server.close();
      for (const socket of active.keys()) socket.destroy();
    },
  };
}
