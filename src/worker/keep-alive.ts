/**
 * The keep-alive timeout of a worker's HTTP service, kept by one sweep instead of a timer per
 * connection.
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
 */
import { answering, type Connections } from "./connections.ts";

/** What Node waits past the advertised timeout before it closes (HTTP_SERVER_KEEP_ALIVE_TIMEOUT_BUFFER). */
export const KEEP_ALIVE_MARGIN_MS = 1_000;

/** How often the sweep runs for a timeout of `timeoutMs`: an eighth of it, within 0.1–0.5 s. */
export function sweepEveryMs(timeoutMs: number): number {
  return Math.min(500, Math.max(100, timeoutMs / 8));
}

/**
 * One pass of the sweep at monotonic time `now` (ms): notes when each connection was first seen
 * idle (and how many bytes it had read then) and closes those idle for `timeoutMs` plus the margin.
 */
export function sweepIdle(connections: Connections, now: number, timeoutMs: number): void {
  const limit = timeoutMs + KEEP_ALIVE_MARGIN_MS;
  for (const connection of connections) {
    if (connection.upgraded || connection.newest === null || answering(connection)) {
      connection.idleSince = -1;
      continue;
    }
    const read = connection.socket.bytesRead;
    if (connection.idleSince < 0 || read !== connection.idleBytes) {
      connection.idleSince = now;
      connection.idleBytes = read;
    } else if (now - connection.idleSince >= limit) {
      connection.socket.destroy();
    }
  }
}

/** The keep-alive sweep of a worker's connections. */
export interface KeepAlive {
  /** A connection was added: the sweep runs from now on, if it was not running. */
  wake(): void;
  /** Ends the sweep for good (a drain's end, a destroy). */
  stop(): void;
}

/**
 * The sweep of `connections` for a keep-alive timeout of `timeoutMs` (none for 0). It runs only
 * while there are connections: `wake()` starts it, and a pass that finds the table empty ends it,
 * so that an idle worker's event loop is not woken by it. Its timer does not keep the process
 * alive. `now` is the monotonic clock in ms (the tests give their own).
 */
export function keepAlive(
  connections: Connections,
  timeoutMs: number,
  now: () => number = () => performance.now(),
): KeepAlive {
  let timer: NodeJS.Timeout | null = null;
  let stopped = timeoutMs <= 0;
  const pass = (): void => {
    sweepIdle(connections, now(), timeoutMs);
    if (connections.size === 0 && timer !== null) {
      clearInterval(timer);
      timer = null;
    }
  };
  return {
    wake: () => {
      if (timer !== null || stopped) return;
      timer = setInterval(pass, sweepEveryMs(timeoutMs));
      timer.unref();
    },
    stop: () => {
      stopped = true;
      if (timer !== null) clearInterval(timer);
      timer = null;
    },
  };
}
