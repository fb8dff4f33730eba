import { createConnection } from "node:net";
import { join } from "node:path";
import { CONTROL_SOCKET, type ControlRequest, type ControlResponse } from "../ipc/index.ts";

/**
 * Sends one request to the master under `prefix` and calls `onAnswer` with each answer line
 * (one for most requests; `logs` with follow goes on until the master goes away). Resolves when
 * the master ends the connection.
 */
export function talkToMaster(
  prefix: string,
  request: ControlRequest,
  onAnswer: (answer: ControlResponse) => void,
  timeoutMs: number | null = 120_000,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(join(prefix, CONTROL_SOCKET));
    const timer =
      timeoutMs === null
        ? undefined
        : setTimeout(() => {
            socket.destroy();
            reject(new Error(`the master did not answer "${request.command}" within ${timeoutMs / 1000} s`));
          }, timeoutMs);
    const fail = (error: Error): void => {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    };
    socket.setEncoding("utf8");
    socket.on("connect", () => socket.write(`${JSON.stringify(request)}\n`));
    // The unfinished line's pieces: an answer can be tens of MB (`logs -n` of long lines), and
    // each chunk is scanned once for its newlines, not the whole line so far again.
    let pieces: string[] = [];
    const onLine = (line: string): boolean => {
      let answer: ControlResponse;
      try {
        answer = JSON.parse(line) as ControlResponse;
      } catch {
        const shown = JSON.stringify(line.slice(0, 200));
        fail(new Error(`the master's answer was not understood (it sent ${shown})`));
        return false;
      }
      try {
        onAnswer(answer);
      } catch (error) {
        fail(error instanceof Error ? error : new Error(String(error)));
        return false;
      }
      return true;
    };
    socket.on("data", (chunk: string) => {
      let start = 0;
      for (let end = chunk.indexOf("\n"); end !== -1; end = chunk.indexOf("\n", start)) {
        pieces.push(chunk.slice(start, end));
        const line = pieces.join("");
        pieces = [];
        start = end + 1;
        if (!onLine(line)) return;
      }
      if (start < chunk.length) pieces.push(chunk.slice(start));
    });
    socket.on("error", (error) => {
      fail(new Error(`cannot reach the master's control socket: ${error.message}`));
    });
    socket.on("end", () => {
      clearTimeout(timer);
      const rest = pieces.join("");
      if (rest.trim() !== "") {
        const shown = JSON.stringify(rest.slice(0, 200));
        reject(new Error(`the master's answer was not understood (it sent ${shown})`));
      } else resolve();
    });
  });
}

/** Sends one request and returns the master's one answer. */
export async function sendControl(
  prefix: string,
  request: ControlRequest,
  timeoutMs = 120_000,
): Promise<ControlResponse> {
  let answer: ControlResponse | undefined;
  await talkToMaster(
    prefix,
    request,
    (response) => {
      answer ??= response;
    },
    timeoutMs,
  );
  if (answer === undefined)
    throw new Error("the master closed the connection without answering (did it exit?)");
  return answer;
}
