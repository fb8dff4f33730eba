/**
 * The drain of a worker's HTTP service (a reload, a graceful stop): what makes them lose no
 * request. Once it begins, every response carries `Connection: close`, those already in flight
 * whose heads are not out yet included (so each busy keep-alive connection closes after its
 * current request), and the connections with no request in progress (idle keep-alive ones, and
 * those that sent nothing or only part of a request's head) are closed after a short grace.
 * Stopping the accepts, and knowing when the last connection is gone, are http.ts's.
 */
import type { ServerResponse } from "node:http";
import { answering, live, receiving, type Connection, type Connections } from "./connections.ts";
import { lingerAfter } from "./linger.ts";

/**
 * How long a connection that is idle when draining begins may still send one more request: a
 * request already on its way arrives within a round trip. Half a second covers any sane one and
 * leaves the rest of a graceful stop (premature timers, exitWorker, exit) room within the 1.5 s
 * a stop with idle keep-alive connections may take (nginx closes them at once).
 */
const IDLE_GRACE_MS = 500;

/**
 * Whether a connection has a request in progress, its body still arriving included (or is
 * upgraded): a drain leaves it be.
 */
const busy = (connection: Connection): boolean =>
  connection.upgraded || answering(connection) || receiving(connection);

export class Drain {
  readonly #connections: Connections;
  #active = false;
  /**
   * Responses the drain made the last of their connection (`Connection: close`), their heads not
   * built yet: one is handed back to keep-alive when a request pipelined behind it arrives.
   */
  readonly #closers = new WeakSet<ServerResponse>();
  #sweep: NodeJS.Timeout | null = null;

  constructor(connections: Connections) {
    this.#connections = connections;
  }

  /** Whether the drain has begun (it never ends: a drained worker exits). */
  get active(): boolean {
    return this.#active;
  }

  /**
   * While draining: makes `res`, the newest request's response on its connection, the one that
   * closes it. Node's parser hands over every pipelined request it has read at once, and the app
   * runs each: the one before, if the drain made it the closer and its head is not built yet, goes
   * back to keep-alive so that this one is answered too (closing after the first lost the rest,
   * their apps run). When that one's head already went out with `Connection: close`, this request
   * cannot be answered: false, and its app is not run (nginx starts no request on a connection it
   * is closing).
   */
  closeAfter(res: ServerResponse, before: ServerResponse | null): boolean {
    if (before !== null && this.#closers.has(before)) {
      this.#closers.delete(before);
      // Its head went out with `Connection: close`: the connection ends after it.
      if (before.headersSent) return false;
      before.shouldKeepAlive = true;
    }
    if (!res.req.socket.writable) return false;
    // Not a header set in advance: Node 20's writeHead applies a flat header list with
    // setHeader once any header is set, keeping only the last of repeated ones.
    if (res.shouldKeepAlive) {
      res.shouldKeepAlive = false;
      this.#closers.add(res);
      lingerAfter(res.req.socket, res.req);
    }
    return true;
  }

  /** Begins the drain: the responses in flight close their connections, idle ones are swept. */
  begin(): void {
    if (this.#active) return;
    this.#active = true;
    // Requests already in flight answer with Connection: close too, so their clients do not
    // send another request on a connection about to close: the newest on each connection
    // (those pipelined before it are answered first, with keep-alive).
    for (const connection of this.#connections) {
      const last = live(connection).pop();
      if (last !== undefined && !last.headersSent) this.closeAfter(last, null);
    }
    // Busy connections close after their response (Connection: close); one with no request in
    // progress may still send one within the grace (closing it at once would race a request
    // already on its way), then it is closed. Node's closeIdleConnections would spare one that
    // has sent nothing yet, or only part of a request's head. A connection is closed once it has
    // been idle through a whole grace: seen idle by one pass and, with no request since, by the
    // next. A pass that closed whatever it found idle cut a connection whose response (its head
    // sent with keep-alive before the drain) had just ended, as its client sent the next request
    // on it: that request failed. The passes run in the check phase, after the turn's poll: a
    // request that arrived while the loop was busy (its bytes in the kernel, not read yet) is
    // read first, and keeps its connection.
    const idleWith = new Map<Connection, ServerResponse | null>();
    const closeIdle = (): void => {
      for (const connection of this.#connections) {
        if (busy(connection)) continue;
        // A request since the last pass made a new response the newest.
        if (idleWith.get(connection) === connection.newest) connection.socket.destroy();
        else idleWith.set(connection, connection.newest);
      }
    };
    // The connections idle as the drain begins are closed one grace from now.
    closeIdle();
    this.#sweep = setInterval(() => setImmediate(closeIdle), IDLE_GRACE_MS);
  }

  /** Ends the idle sweep: the last connection is gone. */
  end(): void {
    if (this.#sweep !== null) clearInterval(this.#sweep);
    this.#sweep = null;
  }
}
