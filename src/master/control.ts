import { chmodSync, unlinkSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { parseControlRequest, type ControlRequest, type ControlResponse } from "../ipc/index.ts";

/** A request is one short JSON line; anything longer is refused. */
const MAX_REQUEST_BYTES = 4096;
/** A client that has not sent its request within this long is disconnected. */
const IDLE_TIMEOUT_MS = 30_000;

/**
 * The control socket: a unix socket (mode 0600) that takes one JSON line and answers one. Only
 * the master's user (and root) can talk to it. Input is bounded and idle clients are dropped;
 * closing the server removes the socket file.
 */
export function serveControl(
  path: string,
  handle: (request: ControlRequest) => Promise<ControlResponse>,
): Promise<Server> {
  try {
    unlinkSync(path);
  } catch {
    // no stale socket
  }
  const server = createServer((socket) => {
    let buffer = "";
    let answered = false;
    const reply = (response: ControlResponse): void => {
      answered = true;
      socket.end(`${JSON.stringify(response)}\n`);
    };
    socket.setEncoding("utf8");
    socket.setTimeout(IDLE_TIMEOUT_MS, () => socket.destroy());
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
      void handle(request)
        .catch((error: unknown): ControlResponse => ({ ok: false, message: String(error) }))
        .then((response) => socket.end(`${JSON.stringify(response)}\n`));
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
      chmodSync(path, 0o600);
      server.off("error", reject);
      server.unref();
      resolve(server);
    });
  });
}
