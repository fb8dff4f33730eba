import { unlinkSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import {
  parseControlRequest,
  type ControlRequest,
  type ControlResponse,
  type ParsedRequest,
} from "../ipc/index.ts";

/** A request is one short JSON line; anything longer is refused. */
const MAX_REQUEST_BYTES = 4096;
/** What a follower is told when the master stops. */
const STOPPED: ControlResponse = { ok: true, message: "the master stopped", ended: true };
const TOO_LONG: ControlResponse = {
  ok: false,
  message: `request too long: a control request is one line of JSON of at most ${MAX_REQUEST_BYTES} bytes`,
};
/**
 * A client that has not sent its request within this long is disconnected; so is one that has
 * not taken its answer (read it and closed) within this long of its being ready, and a follower
 * whose unread lines have not moved for this long.
 */
const IDLE_TIMEOUT_MS = 30_000;
/** Answers a held connection (`tsresty logs -f`) may leave unread before it is dropped. */
export const FOLLOW_BACKLOG_BYTES = 8 * 1024 * 1024;
/**
 * Control connections served at once. Each holds one of the master's file descriptors (and, for
 * one that does not read, its answer): past this many, a client is refused with a line saying so,
 * and a flood of clients cannot take the descriptors the master needs to fork.
 */
const MAX_CONTROL_CONNECTIONS = 128;
/** Beyond the served ones, connections held just long enough to be told they are refused. */
const REFUSING = 32;
const REFUSAL_LINGER_MS = 1_000;

/** The running control socket. */
export interface ControlServer {
  /** Takes no new connection (the socket file goes at once); those open are still served. */
  stopListening(): void;
  /**
   * Stops taking requests, ends the connections still open, removes the socket file. A follower
   * (`tsresty logs -f`) is told `farewell`: that the master stopped, by default.
   */
  close(farewell?: ControlResponse): void;
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

const line = (response: ControlResponse): string => `${JSON.stringify(response)}\n`;

/** The size of the pieces an answer is written in. */
const ANSWER_CHUNK = 64 * 1024;

/**
 * An answer's JSON line in pieces of about ANSWER_CHUNK, one log line at a time for `logs`: the
 * text is made as the client takes it, so an answer waiting for a slow or absent reader holds
 * only the lines it names (the log ring's own strings, shared by every answer), not a copy of its
 * text (20 clients asking 1000 lines of 60 KB and never reading held 1.2 GB for a while).
 */
function* answerPieces(response: ControlResponse): Generator<string> {
  if (!response.ok || response.lines === undefined) {
    yield line(response);
    return;
  }
  const { lines, ...rest } = response;
  // `"lines":[]}` last: its start, then the lines, then its end.
  let piece = JSON.stringify({ ...rest, lines: [] }).slice(0, -2);
  for (let i = 0; i < lines.length; i++) {
    piece += `${i === 0 ? "" : ","}${JSON.stringify(lines[i])}`;
    if (piece.length >= ANSWER_CHUNK) {
      yield piece;
      piece = "";
    }
  }
  yield `${piece}]}\n`;
}

/** Writes `response` and ends the connection, a piece at a time as the socket takes them. */
function endWith(socket: Socket, response: ControlResponse): void {
  const pieces = answerPieces(response);
  const pump = (): void => {
    for (let next = pieces.next(); next.done !== true; next = pieces.next()) {
      if (socket.destroyed) return;
      if (!socket.write(next.value)) {
        socket.once("drain", pump);
        return;
      }
    }
    socket.end();
  };
  pump();
}

/**
 * Too many connections: the client is told so. What it sent is read (a unix socket closed with
 * unread input resets its peer, which may then lose the line) and it is let go within a second,
 * whether it reads or not.
 */
function refuse(socket: Socket, served: number): void {
  socket.on("error", () => undefined);
  socket.resume();
  const linger = setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS).unref();
  socket.once("close", () => {
    clearTimeout(linger);
  });
  socket.end(line({ ok: false, message: `too many control connections (${served} open); try again` }));
}

/**
 * Drops a held connection whose unread lines do not move: from a write the kernel did not take at
 * once, the client has `idleMs` to take some of it (a write completes), and so on while some is
 * left. Reads do not count: a client that sends and never reads cannot keep itself alive.
 * Returns the write callback that marks progress, and the check to run after each write.
 */
function stallGuard(socket: Socket, idleMs: number): { written: () => void; check: () => void } {
  let completed = 0;
  let timer: NodeJS.Timeout | undefined;
  const check = (): void => {
    if (timer !== undefined || socket.writableLength === 0) return;
    const seen = completed;
    timer = setTimeout(() => {
      timer = undefined;
      if (completed === seen && socket.writableLength > 0) socket.destroy();
      else check();
    }, idleMs).unref();
  };
  socket.once("close", () => {
    clearTimeout(timer);
  });
  return { written: () => completed++, check };
}

/**
 * The control socket: a unix socket (mode 0600) that takes one JSON line and answers with JSON
 * lines. Only the master's user (and root) can talk to it. Input is bounded, idle clients and
 * clients that do not take their answer are dropped, and connections are capped; closing the
 * server removes the socket file.
 *
 * A client may half-close once its request is sent (`socat`, `nc -N`): the connection is
 * half-open (allowHalfOpen), so the answer, ready later, still goes out.
 */
export function serveControl(
  path: string,
  handle: ControlHandler,
  // Tests shorten and lower them; the master always uses the defaults.
  idleTimeoutMs = IDLE_TIMEOUT_MS,
  maxConnections = MAX_CONTROL_CONNECTIONS,
): Promise<ControlServer> {
  try {
    unlinkSync(path);
  } catch {
    // no stale socket
  }
  const sockets = new Set<Socket>();
  /** Connections whose last answer is being written (it ends them). */
  const ending = new WeakSet<Socket>();
  /** Connections the handler keeps (`logs -f`): at close they are told that the master stops. */
  const held = new WeakSet<Socket>();
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    if (sockets.size >= maxConnections) {
      refuse(socket, sockets.size);
      return;
    }
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    let buffer = "";
    let answered = false;
    /**
     * The last answer: nothing goes out after it, it ends the connection once written, and the
     * client has the idle bound to take it and close, or it is dropped.
     */
    const reply = (response: ControlResponse): void => {
      answered = true;
      if (socket.destroyed || ending.has(socket)) return;
      ending.add(socket);
      socket.setTimeout(0);
      const bound = setTimeout(() => socket.destroy(), idleTimeoutMs).unref();
      socket.once("close", () => {
        clearTimeout(bound);
      });
      endWith(socket, response);
    };
    const stall = stallGuard(socket, idleTimeoutMs);
    const connection: ControlConnection = {
      send: (response) => {
        if (socket.destroyed || ending.has(socket) || socket.writableEnded) return false;
        // A follower that stops reading (`tsresty logs -f` suspended, piped into a stalled
        // pager, or a client that never reads) would have the master hold every later log line
        // for it. Past the bound it is dropped: the reason is its last line, delivered if it
        // reads again, and a client that never does is cut after the idle timeout.
        if (socket.writableLength > FOLLOW_BACKLOG_BYTES) {
          const mb = FOLLOW_BACKLOG_BYTES / (1024 * 1024);
          reply({ ok: false, message: `stopped following: the reader fell behind by more than ${mb} MB` });
          return false;
        }
        socket.write(line(response), stall.written);
        stall.check();
        return true;
      },
      onClose: (fn) => socket.once("close", fn),
    };
    const take = (chunk: string): void => {
      if (answered) return;
      buffer += chunk;
      const end = buffer.indexOf("\n");
      const text = end === -1 ? buffer : buffer.slice(0, end);
      if (Buffer.byteLength(text) > MAX_REQUEST_BYTES) {
        reply(TOO_LONG);
        return;
      }
      if (end === -1) return;
      let parsed: ParsedRequest;
      try {
        parsed = parseControlRequest(JSON.parse(text));
      } catch (error) {
        parsed = { ok: false, problem: `a control request is one line of JSON: ${(error as Error).message}` };
      }
      if (!parsed.ok) {
        reply({ ok: false, message: `request refused: ${parsed.problem}` });
        return;
      }
      const { request } = parsed;
      answered = true;
      // The handler takes its time (a reload runs init and starts a generation): unbounded here.
      socket.setTimeout(0);
      void handle(request, connection)
        .catch((error: unknown): ControlResponse => ({ ok: false, message: String(error) }))
        .then((response) => {
          if (response !== null) reply(response);
          else {
            held.add(socket);
            if (socket.readableEnded) socket.end();
          }
        });
    };
    socket.setEncoding("utf8");
    socket.setTimeout(idleTimeoutMs, () => socket.destroy());
    socket.on("error", () => undefined);
    socket.on("data", take);
    // The client is done sending. A request without its newline is taken as it is; a request
    // being worked on still gets its answer; a follower (a connection the handler keeps) has left.
    socket.on("end", () => {
      if (held.has(socket)) socket.end();
      else if (answered) return;
      else if (buffer.trim() === "") socket.destroy();
      else take("\n");
    });
  });
  // Served and refused connections both hold a descriptor: past both, Node closes new ones at once.
  server.maxConnections = maxConnections + REFUSING;
  // At once, not when the last connection has ended: by then another master may have taken the
  // prefix and made its own socket file there.
  let unlinked = false;
  const unlink = (): void => {
    if (unlinked) return;
    unlinked = true;
    try {
      unlinkSync(path);
    } catch {
      // already gone
    }
  };
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    // Made with mode 0600 by bind(2) itself, which listen() calls before it returns: a chmod of
    // the path afterwards followed whatever had been put in its place meanwhile (the prefix may
    // be a user's to write), and gave that file the mode.
    const umask = process.umask(0o177);
    try {
      server.listen(path, listening);
    } finally {
      process.umask(umask);
    }
    function listening(): void {
      server.off("error", reject);
      server.unref();
      resolve({
        stopListening: () => {
          unlink();
          server.close();
        },
        close: (farewell = STOPPED) => {
          unlink();
          // Connections that stay (`tsresty logs -f`) end with the master, which says so; an
          // answer being written ends its own once written.
          for (const socket of sockets) {
            if (ending.has(socket)) continue;
            if (held.has(socket) && !socket.writableEnded) endWith(socket, farewell);
            else socket.end();
          }
          server.close();
        },
      });
    }
  });
}
