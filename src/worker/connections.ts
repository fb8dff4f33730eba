/**
 * The open connections of a worker's HTTP service: a table of slots reused as connections come
 * and go, each connection found from its socket by a property the table sets on it.
 *
 * Not a Map keyed by socket. Measured under `Connection: close` load (1 worker, wrk -c64), a Map
 * of the live sockets doubled the worker's young-generation GC time (V8 promoted ~1.7 MB per
 * scavenge against ~0.7 MB) and cost its share of connections per second; a linked list through
 * the connections did the same. An array of slots, each cleared when its connection closes,
 * costs what no tracking at all costs. A connection's own references are dropped at its close
 * as well, so that one that lived long enough to be promoted keeps nothing young alive.
 */
import type { ServerResponse } from "node:http";
import type { Socket } from "node:net";

/**
 * What a connection has answered: its newest response (still noted after it ends, until the next
 * request or the connection's close) and, once requests were pipelined, the responses in
 * progress at that time and those queued since.
 */
export interface Connection {
  readonly socket: Socket;
  newest: ServerResponse | null;
  pipelined: ServerResponse[] | null;
  /** Upgraded (a WebSocket, say): the app's from then on, never idle. */
  upgraded: boolean;
  /** When the keep-alive sweep first saw it idle (monotonic ms), -1 when it did not (keep-alive.ts). */
  idleSince: number;
  /** Its socket's bytes read at that moment: a change since is activity. */
  idleBytes: number;
  /** When the sweep first saw bytes waiting that its client did not take (monotonic ms), -1 when not. */
  sendSince: number;
  /** The bytes its client had taken at that moment: a change since is progress. */
  sentBytes: number;
}

interface Entry extends Connection {
  readonly slot: number;
}

/** Over: sent in full, or cut (its client left, or the app destroyed it). */
export function over(res: ServerResponse): boolean {
  return res.writableFinished || res.destroyed;
}

/** Whether a response of `connection` is still in progress or queued (no array made). */
export function answering(connection: Connection): boolean {
  const newest = connection.newest;
  if (newest !== null && !over(newest)) return true;
  const pipelined = connection.pipelined;
  if (pipelined !== null) for (const res of pipelined) if (!over(res)) return true;
  return false;
}

/**
 * Whether the body of the connection's newest request is still arriving: its response may be out
 * already (an app that answers before it reads, or never reads), but the client is still sending.
 */
export function receiving(connection: Connection): boolean {
  const newest = connection.newest;
  return newest !== null && !newest.req.complete;
}

/**
 * Notes a response that waits behind another (Node gives the socket at once unless an earlier
 * response still holds it): it joins the pipelined ones, with the one before it, forgetting
 * those over since. The one before it, if noted, is the last noted (each call notes its response
 * last, and that response is the connection's newest until the next request), so finding it
 * costs one comparison: a client pipelining thousands of requests at once costs no more per
 * request than its first few (a search of the list made that quadratic: 3 s of CPU for 100,000).
 */
export function queue(connection: Connection, res: ServerResponse): void {
  const pipelined = (connection.pipelined ??= []);
  const before = connection.newest;
  while (pipelined.length > 0 && over(pipelined[0] as ServerResponse)) pipelined.shift();
  if (before !== null && !over(before) && pipelined[pipelined.length - 1] !== before) pipelined.push(before);
  pipelined.push(res);
}

/** The connection's responses not over yet. */
export function live(connection: Connection): ServerResponse[] {
  const responses = connection.pipelined === null ? [] : connection.pipelined.filter((res) => !over(res));
  const newest = connection.newest;
  if (newest !== null && !over(newest) && responses[responses.length - 1] !== newest) responses.push(newest);
  return responses;
}

const ENTRY = Symbol("tsresty.connection");
type Tracked = Socket & { [ENTRY]?: Entry };

export class Connections {
  readonly #slots: (Entry | undefined)[] = [];
  readonly #free: number[] = [];
  #size = 0;

  get size(): number {
    return this.#size;
  }

  /** Tracks `socket` from now on; its connection. */
  add(socket: Socket): Connection {
    const slot = this.#free.pop() ?? this.#slots.length;
    const entry: Entry = {
      socket,
      slot,
      newest: null,
      pipelined: null,
      upgraded: false,
      idleSince: -1,
      idleBytes: 0,
      sendSince: -1,
      sentBytes: 0,
    };
    this.#slots[slot] = entry;
    (socket as Tracked)[ENTRY] = entry;
    this.#size++;
    return entry;
  }

  /** The connection of `socket`, if it is tracked. */
  of(socket: Socket): Connection | undefined {
    return (socket as Tracked)[ENTRY];
  }

  /** Stops tracking `connection` (its socket closed); what it noted is let go. */
  delete(connection: Connection): void {
    const entry = connection as Entry;
    if (this.#slots[entry.slot] !== entry) return;
    this.#slots[entry.slot] = undefined;
    this.#free.push(entry.slot);
    this.#size--;
    entry.newest = null;
    entry.pipelined = null;
  }

  *[Symbol.iterator](): IterableIterator<Connection> {
    for (const entry of this.#slots) if (entry !== undefined) yield entry;
  }
}
