import { chmodSync, unlinkSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { parseControlRequest, type ControlRequest, type ControlResponse } from "../ipc/index.ts";

/**
 * The control socket: a unix socket (mode 0600) that takes one JSON line and answers one.
 * Only the master's user (and root) can talk to it.
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
    socket.setEncoding("utf8");
    socket.on("error", () => undefined);
    socket.on("data", (chunk: string) => {
      buffer += chunk;
      const end = buffer.indexOf("\n");
      if (end === -1) return;
      let request: ControlRequest | null = null;
      try {
        request = parseControlRequest(JSON.parse(buffer.slice(0, end)));
      } catch {
        request = null;
      }
      const answer =
        request === null
          ? Promise.resolve<ControlResponse>({ ok: false, message: "unknown request" })
          : handle(request).catch((error: unknown): ControlResponse => ({
              ok: false,
              message: String(error),
            }));
      void answer.then((response) => socket.end(`${JSON.stringify(response)}\n`));
    });
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
