/**
 * The keep-alive and send timeouts of a worker's HTTP service, kept by one sweep instead of a
 * timer per connection.
 *
 * Node arms a socket timer each time a response ends on a keep-alive connection, refreshes it
 * at every chunk of the next request it parses and disarms it when that request's head is in: a
 * Timeout object, a bound function and several timer-list operations per request. On a worker
 * serving a hello world over 64 keep-alive connections that was ~5% of its CPU per request
 * (README, "Keep-alive without a timer per request"). tsresty gives Node `keepAliveTimeout: 0`, so
 * that no socket timer is armed, and closes idle connections from a sweep that runs a few times
 * per timeout while the worker has connections open: per request, one property store (the
 * header's figure, worker/http.ts) and what the connection table already notes; per connection,
 * a `wake()` that does nothing while the sweep runs.
 *
 * What a client sees is Node's behaviour, with the close a little later:
 * - every keep-alive response advertises `Keep-Alive: timeout=N` (N = `http.keepAliveTimeout`,
 *   whole seconds, as Node writes it), and `http.keepAliveTimeout: 0` turns the timeout off;
 * - a connection is idle once it has answered a request and has none in progress (nor queued
 *   behind one: pipelining); an upgraded one never is;
 * - an idle connection is closed no sooner than N + 1 s after its last response (Node's margin
 *   past what it advertised, against the race with a client reusing it), and at most two sweeps
 *   later; bytes of a next request arriving count as activity, as Node's parser refreshes its
 *   timer on every chunk (from the first byte of a head, `headersTimeout` also bounds it);
 * - a connection that has not sent a whole request yet is `headersTimeout`'s, as in Node.
 *
 * The send timeout is nginx's `send_timeout`, which Node lacks: a connection with bytes of a
 * response waiting to go out whose client took none of them (the kernel accepted nothing more)
 * for `http.sendTimeout` is closed, at most two sweeps later; a client that keeps reading, however
 * slowly, keeps it. Without it a client that asks for a large response and never reads held the
 * connection and the response's bytes in the worker's memory for ever. An upgraded connection is
 * the app's.
 */
import type { Socket } from "node:net";
import { answering, type Connection, type Connections } from "./connections.ts";

/** What Node waits past the advertised timeout before it closes (HTTP_SERVER_KEEP_ALIVE_TIMEOUT_BUFFER). */
export const KEEP_ALIVE_MARGIN_MS = 1_000;

/** The sweep's bounds, in ms (0: that one is off). */
export interface SweepLimits {
  readonly keepAliveMs: number;
  readonly sendMs: number;
}

/** How often the sweep runs for `limits`: an eighth of the shorter one, within 0.1–0.5 s. */
export function sweepEveryMs(limits: SweepLimits): number {
  const shortest = Math.min(...[limits.keepAliveMs, limits.sendMs].filter((ms) => ms > 0));
  return Math.min(500, Math.max(100, shortest / 8));
}

/** Node's fields behind a socket's writes (Node 20 and 24): what went to libuv, what it still queues. */
type Writing = Socket & { _bytesDispatched?: number; _handle?: { writeQueueSize?: number } | null };

/** The bytes of `socket` the kernel has taken so far. */
function bytesTaken(socket: Socket): number {
  const writing = socket as Writing;
  return (writing._bytesDispatched ?? 0) - (writing._handle?.writeQueueSize ?? 0);
}

/** The keep-alive timeout's part of a pass for one connection. */
function sweepIdle(connection: Connection, now: number, limitMs: number): void {
  if (connection.newest === null || answering(connection)) {
    connection.idleSince = -1;
    return;
  }
  const read = connection.socket.bytesRead;
  if (connection.idleSince < 0 || read !== connection.idleBytes) {
    connection.idleSince = now;
    connection.idleBytes = read;
  } else if (now - connection.idleSince >= limitMs) {
    connection.socket.destroy();
  }
}

/** The send timeout's part: true when it closed the connection. */
function sweepSend(connection: Connection, now: number, limitMs: number): boolean {
  const socket = connection.socket;
  if (socket.writableLength === 0) {
    connection.sendSince = -1;
    return false;
  }
  const taken = bytesTaken(socket);
  if (connection.sendSince < 0 || taken !== connection.sentBytes) {
    connection.sendSince = now;
    connection.sentBytes = taken;
    return false;
  }
  if (now - connection.sendSince < limitMs) return false;
  socket.destroy();
  return true;
}

/**
 * One pass of the sweep at monotonic time `now` (ms): notes when each connection was first seen
 * idle (and how many bytes it had read then), or first seen with bytes to send that its client
 * did not take (and how many it had taken then), and closes those past their limit; `stalled` is
 * told of each connection the send timeout closes.
 */
export function sweep(
  connections: Connections,
  now: number,
  limits: SweepLimits,
  stalled: (connection: Connection) => void = () => undefined,
): void {
  const idleLimit = limits.keepAliveMs + KEEP_ALIVE_MARGIN_MS;
  for (const connection of connections) {
    if (connection.upgraded || connection.socket.destroyed) {
      connection.idleSince = -1;
      connection.sendSince = -1;
      continue;
    }
    if (limits.sendMs > 0 && sweepSend(connection, now, limits.sendMs)) {
      stalled(connection);
      continue;
    }
    if (limits.keepAliveMs > 0) sweepIdle(connection, now, idleLimit);
  }
}

/** The sweep of a worker's connections. */
export interface KeepAlive {
  /** A connection was added: the sweep runs from now on, if it was not running. */
  wake(): void;
  /** Ends the sweep for good (a drain's end, a destroy). */
  stop(): void;
}

/**
 * The sweep of `connections` for `limits` (none when both are 0). It runs only while there are
 * connections: `wake()` starts it, and a pass that finds the table empty ends it, so that an idle
 * worker's event loop is not woken by it. Its timer does not keep the process alive. `now` is the
 * monotonic clock in ms (the tests give their own).
 */
export function keepAlive(
  connections: Connections,
  limits: SweepLimits,
  stalled?: (connection: Connection) => void,
  now: () => number = () => performance.now(),
): KeepAlive {
  let timer: NodeJS.Timeout | null = null;
  let stopped = limits.keepAliveMs <= 0 && limits.sendMs <= 0;
  const pass = (): void => {
    sweep(connections, now(), limits, stalled);
    if (connections.size === 0 && timer !== null) {
      clearInterval(timer);
      timer = null;
    }
  };
  return {
    wake: () => {
      if (timer !== null || stopped) return;
      timer = setInterval(pass, sweepEveryMs(limits));
      timer.unref();
    },
    stop: () => {
      stopped = true;
      if (timer !== null) clearInterval(timer);
      timer = null;
    },
  };
}
