import { createConnection } from "node:net";
import { join } from "node:path";
import {
  CONTROL_SOCKET,
  parseControlResponse,
  type ControlRequest,
  type ControlResponse,
} from "../ipc/index.ts";

/**
 * The master said nothing for the client's bound (`quietMs`). Its request is not withdrawn: once
 * the master runs again (it was stopped, or its event loop blocked) it reads it and acts on it.
 */
export class MasterSilent extends Error {
  override name = "MasterSilent";
}

/** How long the client waits on the master. */
export interface TalkOptions {
  /**
   * How long the master may stay silent (null: no bound): before its first answer and, unless
   * `follow`, between what it sends until the end. A master that answers at once (status, logs,
   * stop) or says every few seconds that it is still working (reload) stays well within it; one
   * that is stopped or whose event loop is blocked does not.
   */
  readonly quietMs: number | null;
  /** `logs -f`: once the first answer is in, lines may come as seldom as the tree logs. */
  readonly follow?: boolean;
}

/**
 * What to do with one answer line. A promise pauses the reading until it settles: a caller
 * whose own output is full (`tsresty logs -f | less`, paused) stops reading the socket, so the
 * master's bound on an unread follower applies rather than the client's memory growing.
 */
export type OnAnswer = (answer: ControlResponse) => void | Promise<void>;

/**
 * Sends one request to the master under `prefix` and calls `onAnswer` with each answer line
 * (one for most requests; `logs` with follow goes on until the master goes away). Resolves when
 * the master ends the connection.
 */
export function talkToMaster(
  prefix: string,
  request: ControlRequest,
  onAnswer: OnAnswer,
  options: TalkOptions = { quietMs: 120_000 },
): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(join(prefix, CONTROL_SOCKET));
    const { quietMs, follow = false } = options;
    let heard = false;
    let timer: NodeJS.Timeout | undefined;
    /** (Re)starts the silence bound; a follower's stops at its first answer. */
    const arm = (): void => {
      clearTimeout(timer);
      if (quietMs === null || (follow && heard)) return;
      timer = setTimeout(() => {
        socket.destroy();
        const seconds = quietMs / 1000;
        reject(
          new MasterSilent(
            heard
              ? `the master stopped answering "${request.command}" (nothing for ${seconds} s)`
              : `the master did not answer "${request.command}" within ${seconds} s`,
          ),
        );
      }, quietMs);
    };
    arm();
    const fail = (error: Error): void => {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    };
    socket.setEncoding("utf8");
    socket.on("connect", () => socket.write(`${JSON.stringify(request)}\n`));
    // Answers whose caller is not done with them: reading waits (and the silence bound with it:
    // the wait is the caller's, not the master's).
    let waiting = 0;
    const settled = (): void => {
      if (--waiting > 0 || socket.destroyed) return;
      socket.resume();
      arm();
    };
    // The unfinished line's pieces: an answer can be tens of MB (`logs -n` of long lines), and
    // each chunk is scanned once for its newlines, not the whole line so far again.
    let pieces: string[] = [];
    const onLine = (line: string): boolean => {
      /** An answer that is not JSON, or not the shape of one (`problem`): shown by its start. */
      const notUnderstood = (problem: string | null): false => {
        const why = problem === null ? "" : `${problem}; `;
        fail(
          new Error(
            `the master's answer was not understood (${why}it sent ${JSON.stringify(line.slice(0, 200))})`,
          ),
        );
        return false;
      };
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        return notUnderstood(null);
      }
      const parsed = parseControlResponse(value);
      if (!parsed.ok) return notUnderstood(parsed.problem);
      const answer = parsed.response;
      heard = true;
      try {
        const done = onAnswer(answer);
        if (done !== undefined) {
          waiting++;
          socket.pause();
          clearTimeout(timer);
          done.then(settled, (error: unknown) => {
            fail(error instanceof Error ? error : new Error(String(error)));
          });
        }
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
      if (waiting === 0) arm();
    });
    socket.on("error", (error: NodeJS.ErrnoException) => {
      // A master out of file descriptors accepts a connection only to close it at once (libuv's
      // answer to EMFILE): the client's request meets a closed socket.
      const closed =
        error.code === "EPIPE" || error.code === "ECONNRESET"
          ? " (the master closed the connection before it read the request: it may be out of file descriptors; signals still reach it: kill -QUIT, -HUP or -USR1 with the pid in the pid file)"
          : "";
      fail(
        new Error(`cannot reach the master's control socket: ${error.message}${closed}`, { cause: error }),
      );
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

/**
 * Sends one request and returns the master's answer: the first line that is not a progress line
 * (a reload asked with `progress` says every few seconds that it goes on, then how it ended).
 */
export async function sendControl(
  prefix: string,
  request: ControlRequest,
  quietMs = 120_000,
): Promise<ControlResponse> {
  let answer: ControlResponse | undefined;
  await talkToMaster(
    prefix,
    request,
    (response) => {
      if (!(response.ok && response.progress === true)) answer ??= response;
    },
    { quietMs },
  );
  if (answer === undefined)
    throw new Error("the master closed the connection without answering (did it exit?)");
  return answer;
}
