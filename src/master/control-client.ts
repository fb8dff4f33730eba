import { createConnection } from "node:net";
import { join } from "node:path";
import { CONTROL_SOCKET, type ControlRequest, type ControlResponse } from "../ipc/index.ts";

/** Sends one request to the master under `prefix` and returns its answer. */
export function sendControl(
  prefix: string,
  request: ControlRequest,
  timeoutMs = 120_000,
): Promise<ControlResponse> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(join(prefix, CONTROL_SOCKET));
    let buffer = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the master did not answer "${request.command}" within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    socket.setEncoding("utf8");
    socket.on("connect", () => socket.write(`${JSON.stringify(request)}\n`));
    socket.on("data", (chunk: string) => (buffer += chunk));
    socket.on("error", (error) => {
      clearTimeout(timer);
      reject(new Error(`cannot reach the master's control socket: ${error.message}`));
    });
    socket.on("end", () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(buffer) as ControlResponse);
      } catch {
        const shown = buffer === "" ? "nothing" : JSON.stringify(buffer.slice(0, 200));
        reject(new Error(`the master's answer was not understood (it sent ${shown})`));
      }
    });
  });
}
