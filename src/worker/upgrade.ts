/**
 * HTTP upgrades (WebSocket, h2c) go to the app's `upgrade(req, socket, head)`, the signature of
 * node:http's 'upgrade' event, so that `ws` (`handleUpgrade`) and socket.io mount as they do on
 * any http.Server. Without that member no listener is attached, and Node hands an upgrade request
 * to the request handler like any other (the app answers it; its connection then closes, see
 * `asksUpgrade`).
 */
import type { IncomingMessage, Server } from "node:http";
import type { Duplex } from "node:stream";
import type { App } from "../runtime/index.ts";
import { formatThrown, type LogSink } from "../util/log.ts";

/**
 * Whether a request asks for an upgrade (it has an Upgrade header). Node's parser stops at the end
 * of such a request even when no 'upgrade' listener takes it, and drops what came after it in the
 * same read: a request pipelined behind it is never answered.
 */
export function asksUpgrade(req: IncomingMessage): boolean {
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 7 && name.toLowerCase() === "upgrade") return true;
  }
  return false;
}

/** Bytes written to the connection so far (a net.Socket counts them; it serves keep-alive requests before). */
const written = (socket: Duplex): number => (socket as Duplex & { bytesWritten?: number }).bytesWritten ?? 0;

const FAILED = "HTTP/1.1 500 Internal Server Error\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";
/** A draining worker's answer to an upgrade: another worker (or the new one) takes the client's retry. */
const DRAINING = "HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";

/**
 * Attaches the app's upgrade handler to `server`; an error it throws (or rejects with) is logged
 * with the request line, and the client gets a 500 if nothing was written to it yet. While
 * `draining()`, an upgrade is answered 503 without the app: a session begun on a worker that is
 * going away would only be cut at the end of its drain.
 * @example
 * serveUpgrades(server, { upgrade: (req, socket, head) => wss.handleUpgrade(req, socket, head, onOpen) }, log, () => false);
 */
export function serveUpgrades(server: Server, app: App, log: LogSink, draining: () => boolean): void {
  const { upgrade } = app;
  if (upgrade === undefined) return;
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    // A reset while the app has not attached its own listener yet must not kill the worker.
    socket.on("error", () => undefined);
    if (draining()) {
      socket.end(DRAINING, () => socket.destroy());
      return;
    }
    const before = written(socket);
    const failed = (error: unknown): void => {
      log("error", `upgrade handler failed (${req.method ?? "?"} ${req.url ?? "?"}): ${formatThrown(error)}`);
      if (socket.destroyed) return;
      // Closed whole once the 500 is out: a socket only ended stays open while the client keeps
      // its half (no timeout watches a connection handed to upgrade), until the worker stops.
      if (written(socket) === before) socket.end(FAILED, () => socket.destroy());
      else socket.destroy();
    };
    try {
      const result = upgrade(req, socket, head);
      if (result instanceof Promise) result.catch(failed);
    } catch (error) {
      failed(error);
    }
  });
}
