import { chmodSync, unlinkSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { parseControlRequest, type ControlRequest, type ControlResponse } from "../ipc/index.ts";

/** A request is one short JSON line; anything longer is refused. */
const MAX_REQUEST_BYTES = 4096;
/** A client that has not sent its request within this long is disconnected. */
export const IDLE_TIMEOUT_MS = 30_000;
/** Answers a held connection (`tsresty logs -f`) may leave unread before it is dropped. */
export const FOLLOW_BACKLOG_BYTES = 8 * 1024 * 1024;

/** The running control socket. */
export interface ControlServer {
  /** Stops taking requests, ends the connections still open, removes the socket file. */
  close(): void;
}

/** The connection a request came on, for answers that go on (`tsresty logs -f`). */
export interface ControlConnection {
  /** Writes one more answer line; false once the client is gone. */
  send(response: ControlResponse): boolean;
  /** Runs `fn` when the client goes away. */
  onClose(fn: () => void): void;
}

/**
 * What the master does with a request: an answer (the connection then ends), or null when the
 * handler keeps the connection and writes to it itself until the client leaves.
 */
export type ControlHandler = (
  request: ControlRequest,
  connection: ControlConnection,
) => Promise<ControlResponse | null>;

/**
 * The control socket: a unix socket (mode 0600) that takes one JSON line and answers with JSON
 * lines. Only the master's user (and root) can talk to it. Input is bounded and idle clients are
 * dropped; closing the server removes the socket file.
 */
export function serveControl(
  path: string,
  handle: ControlHandler,
  // Tests shorten it; the master always uses the default.
  idleTimeoutMs = IDLE_TIMEOUT_MS,
): Promise<ControlServer> {
  try {
    unlinkSync(path);
  } catch {
    // no stale socket
  }
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    let buffer = "";
    let answered = false;
    const reply = (response: ControlResponse): void => {
      answered = true;
      socket.end(`${JSON.stringify(response)}\n`);
    };
    const connection: ControlConnection = {
      send: (response) => {
        if (socket.destroyed || socket.writableEnded) return false;
        // A follower that stops reading (`tsresty logs -f` suspended, piped into a stalled
        // pager, or a client that never reads) would have the master hold every later log line
        // for it. Past the bound it is dropped: the reason is its last line, delivered if it
        // reads again, and a client that never does is cut after the idle timeout.
        if (socket.writableLength > FOLLOW_BACKLOG_BYTES) {
          const mb = FOLLOW_BACKLOG_BYTES / (1024 * 1024);
          reply({ ok: false, message: `stopped following: the reader fell behind by more than ${mb} MB` });
          socket.setTimeout(idleTimeoutMs, () => socket.destroy());
          return false;
        }
        socket.write(`${JSON.stringify(response)}\n`);
        return true;
      },
      onClose: (fn) => socket.once("close", fn),
    };
    socket.setEncoding("utf8");
    socket.setTimeout(idleTimeoutMs, () => socket.destroy());
    socket.on("error", () => undefined);
    socket.on("data", (chunk: string) => {
      if (answered) return;
      buffer += chunk;
      const end = buffer.indexOf("\n");
      if (end === -1) {
        if (buffer.length > MAX_REQUEST_BYTES) reply({ ok: false, message: "request too long" });
        return;
      }
      let request: ControlRequest | null = null;
      try {
        request = parseControlRequest(JSON.parse(buffer.slice(0, end)));
      } catch {
        request = null;
      }
      if (request === null) {
        reply({ ok: false, message: "unknown request" });
        return;
      }
      answered = true;
      socket.setTimeout(0);
      void handle(request, connection)
        .catch((error: unknown): ControlResponse => ({ ok: false, message: String(error) }))
        .then((response) => {
          if (response !== null) socket.end(`${JSON.stringify(response)}\n`);
        });
    });
  });
  server.on("close", () => {
    try {
      unlinkSync(path);
    } catch {
      // already gone
    }
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(path, () => {
      try {
        chmodSync(path, 0o600);
      } catch (error) {
        server.close();
        reject(error instanceof Error ? error : new Error(String(error)));
        return;
      }
      server.off("error", reject);
      server.unref();
      resolve({
        close: () => {
          // Connections that stay (`tsresty logs -f`) end with the master.
          for (const socket of sockets) socket.end();
          server.close();
        },
      });
    });
  });
}
