/**
 * The access log (config `accessLog`): one line per response, written by the worker that served
 * it, appended with one write() per line so that the workers' lines never mix (O_APPEND places
 * each whole write at the end). USR1 to the master reopens it in every worker, as the master
 * reopens its own logs.
 *
 * Formats: nginx's `common` and `combined`, or one JSON object per line. `bytes` is what went out
 * on the connection for the response, headers included (nginx's `$bytes_sent`). The status is
 * nginx's: the one sent when the response's head went out (a response cut mid-body keeps it), 499
 * when the client went away before any of it was sent, 444 (nginx's "closed without a response")
 * when the worker or the app (`res.destroy()`) closed the connection first: the end of a drain's
 * `shutdownTimeout`, a request pipelined behind the response that closed its connection, one
 * queued when Node refused what followed it, or a response whose app failed after its head was
 * built (and those behind it).
 *
 * A request refused before any handler ran (Node's 400, 408, 413 or 431: http.ts) has its line
 * too, as in nginx: its request `"-"` (null in json) when it was not read as a request yet, and
 * the request's own when it was (a body too slow for `requestTimeout`). A connection that sent
 * nothing at all gets Node's 408 at `headersTimeout` but no line: nothing was requested on it
 * (nginx logs none for it either).
 *
 * An upgraded connection (a WebSocket) has one line, written when it closes, as nginx logs a
 * proxied WebSocket: the status of the head written first on it, which the app writes itself
 * (head-status.ts), and every byte written on it from that head on.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { ResolvedConfig } from "../config/index.ts";
import { openLogWriter, type LogWriter } from "../util/log-file.ts";
import { escapeForLog } from "../util/log.ts";
import { errorMessage } from "../util/error-message.ts";
import { watchStatus } from "./head-status.ts";

export type AccessLogFormat = NonNullable<ResolvedConfig["accessLog"]>["format"];

export interface AccessLog {
  /**
   * A connection was accepted: its client's address is read now, for the lines of its requests
   * (once the client has gone, a 499 or a head cut short, the socket no longer knows it).
   */
  connected(socket: Socket): void;
  /** Called when a request arrives: logs its response when that is over. */
  track(req: IncomingMessage, res: ServerResponse): void;
  /**
   * Node's refusal with `status` (`bytes` long) went out on `socket`: the line of `res`, the
   * request in progress there, says that status; with none, a line of its own.
   */
  refused(socket: Socket, status: number, bytes: number, res: ServerResponse | null): void;
  /**
   * The worker closes the connection of `socket`: each response on it that none of was sent says
   * 444, those queued behind and any of a request Node reads after the close (from bytes that came
   * with the request before it) included.
   */
  cut(socket: Socket): void;
  /**
   * `req`, which no handler sees (a CONNECT: the worker is no proxy), was answered `status`,
   * `bytes` long, and its connection closed: its line, with the request.
   */
  rejected(req: IncomingMessage, status: number, bytes: number): void;
  /**
   * `req` asked for an upgrade and was handed to the app (or refused by a draining worker) on
   * `socket`, whose bytes are the app's from now on: its line is written once the connection
   * closes, with the status of the head written on it (101 for a session begun) and the bytes
   * written on it since (the head included), as nginx logs a proxied WebSocket.
   */
  upgraded(req: IncomingMessage, socket: Socket): void;
  reopen(): void;
}

/** What one line says. */
export interface AccessEntry {
  readonly time: Date;
  readonly remote: string;
  /** Null, with `url` and `protocol`, for a request refused before it was read as one. */
  readonly method: string | null;
  readonly url: string | null;
  readonly protocol: string | null;
  readonly status: number;
  readonly bytes: number;
  /** Seconds from the request's arrival to the end of its response; null when not known (a refusal). */
  readonly duration: number | null;
  readonly referer: string | null;
  readonly userAgent: string | null;
  readonly worker: number | null;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const pad = (n: number): string => String(n).padStart(2, "0");

/** `10/Oct/2000:13:55:36 -0700`, local time as nginx's `$time_local`. */
export function timeLocal(time: Date): string {
  const offset = -time.getTimezoneOffset();
  const sign = offset >= 0 ? "+" : "-";
  const zone = `${sign}${pad(Math.floor(Math.abs(offset) / 60))}${pad(Math.abs(offset) % 60)}`;
  const date = `${pad(time.getDate())}/${MONTHS[time.getMonth()] ?? "?"}/${time.getFullYear()}`;
  return `${date}:${pad(time.getHours())}:${pad(time.getMinutes())}:${pad(time.getSeconds())} ${zone}`;
}

/** A request line's or a header's bytes, escaped as nginx escapes variables in its log (one line stays one line). */
const escape = (text: string): string => escapeForLog(text, true);

/** A request line's or a header's bytes (a latin1 string) as the UTF-8 text they are, for JSON. */
const text = (bytes: string): string => Buffer.from(bytes, "latin1").toString("utf8");

/** One line of the log, newline included. */
export function formatEntry(format: AccessLogFormat, e: AccessEntry): string {
  if (format === "json") {
    const json = {
      ...e,
      url: e.url === null ? null : text(e.url),
      referer: e.referer === null ? null : text(e.referer),
      userAgent: e.userAgent === null ? null : text(e.userAgent),
      time: e.time.toISOString(),
      duration: e.duration === null ? null : Math.round(e.duration * 1000) / 1000,
    };
    return `${JSON.stringify(json)}\n`;
  }
  // nginx writes "-" for a request line it has not read.
  const request = e.method === null ? "-" : escape(`${e.method} ${e.url ?? "-"} ${e.protocol ?? "-"}`);
  // nginx writes a status never set (a connection that sent no head) as 000.
  const status = String(e.status).padStart(3, "0");
  const common = `${e.remote} - - [${timeLocal(e.time)}] "${request}" ${status} ${e.bytes}`;
  if (format === "common") return `${common}\n`;
  return `${common} "${escape(e.referer ?? "-")}" "${escape(e.userAgent ?? "-")}"\n`;
}

/** The worker's access log, or null when the config has none. */
export function openAccessLog(config: ResolvedConfig["accessLog"], worker: number | null): AccessLog | null {
  if (config === null) return null;
  const { format } = config;
  let writer: LogWriter;
  try {
    writer = openLogWriter(config.path, "stderr", "access log");
  } catch (error) {
    throw new Error(`cannot open the access log: ${errorMessage(error)}`, {
      cause: error,
    });
  }
  /** Where each connection's last response ended, in bytes written on it. */
  const ends = new WeakMap<Socket, number>();
  /** The connections the worker closed. */
  const cuts = new WeakSet<Socket>();
  /** Each connection's client address, read when it was accepted. */
  const remotes = new WeakMap<Socket, string>();
  const remoteOf = (socket: Socket): string => remotes.get(socket) ?? socket.remoteAddress ?? "-";
  /** Requests in progress that Node refused (a body too slow): the status their line says. */
  const refusedWith = new WeakMap<ServerResponse, number>();
  /**
   * The status of a response none of which was sent on `socket`, now closed. The client left
   * when it ended its side (FIN) or reset the connection (499); otherwise the worker closed it:
   * its own cut, or the app's (res.destroy(), nginx's `return 444`).
   */
  const unsent = (socket: Socket): number => {
    const left = socket.readableEnded || socket.errored !== null;
    return cuts.has(socket) || !left ? 444 : 499;
  };
  const write = (entry: AccessEntry): void => {
    writer.write(formatEntry(format, entry));
  };
  /** The line of `req`, which arrived at `time` (`started` on the monotonic clock). */
  const writeRequest = (
    req: IncomingMessage,
    remote: string,
    time: Date,
    started: number,
    status: number,
    bytes: number,
  ): void => {
    write({
      time,
      remote,
      method: req.method ?? "-",
      url: req.url ?? "-",
      protocol: `HTTP/${req.httpVersion}`,
      status,
      bytes,
      duration: (performance.now() - started) / 1000,
      referer: req.headers.referer ?? null,
      userAgent: req.headers["user-agent"] ?? null,
      worker,
    });
  };
  return {
    connected: (socket) => {
      const remote = socket.remoteAddress;
      if (remote !== undefined) remotes.set(socket, remote);
    },
    track: (req, res) => {
      const started = performance.now();
      const time = new Date();
      const socket = req.socket;
      const arrived = socket.bytesWritten;
      const remote = remoteOf(socket);
      /** Its bytes, counted when its last one was handed to the socket; -1 before. */
      let own = -1;
      /** The bytes on the connection from where the response before it ended to now. */
      const since = (): number => {
        // A pipelined response starts where the one before it ended, not where the connection
        // was when its request arrived.
        const start = Math.max(arrived, ends.get(socket) ?? 0);
        ends.set(socket, socket.bytesWritten);
        // Node's count includes what the socket still buffers, which its destruction drops: the
        // count can fall below where a request found it (a head built, then the connection cut).
        return Math.max(0, socket.bytesWritten - start);
      };
      // Emitted once the response's last byte is in the socket, before the response queued
      // behind it (pipelined) is handed the socket and flushes its own: by "close", that one's
      // bytes are in the socket too, and so is a refusal that ended the connection after it.
      res.once("prefinish", () => {
        own = since();
      });
      res.once("close", () => {
        const bytes = own === -1 ? since() : own;
        const sent = res.writableFinished || (res.headersSent && bytes > 0);
        // Node's refusal went out in place of the response: the status the client got.
        const status = refusedWith.get(res) ?? (sent ? res.statusCode : unsent(socket));
        writeRequest(req, remote, time, started, status, bytes);
      });
    },
    refused: (socket, status, bytes, res) => {
      if (res !== null) {
        refusedWith.set(res, status);
        return;
      }
      // Node's 408 on a connection that never sent a byte: nothing was requested.
      if (status === 408 && socket.bytesRead === 0) return;
      write({
        time: new Date(),
        remote: remoteOf(socket),
        method: null,
        url: null,
        protocol: null,
        status,
        bytes,
        duration: null,
        referer: null,
        userAgent: null,
        worker,
      });
    },
    cut: (socket) => {
      cuts.add(socket);
    },
    upgraded: (req, socket) => {
      const started = performance.now();
      const time = new Date();
      const before = socket.bytesWritten;
      const remote = remoteOf(socket);
      let status: number | null = null;
      watchStatus(socket, (seen) => (status = seen));
      socket.once("close", () => {
        const bytes = Math.max(0, socket.bytesWritten - before);
        // Nothing written: closed without an answer, by the client (499) or the worker or the app
        // (444); something that was not a whole status line: no status (000).
        const unanswered = bytes > 0 ? 0 : unsent(socket);
        writeRequest(req, remote, time, started, status ?? unanswered, bytes);
      });
    },
    rejected: (req, status, bytes) => {
      writeRequest(req, remoteOf(req.socket), new Date(), performance.now(), status, bytes);
    },
    reopen: () => {
      writer.reopen();
    },
  };
}
