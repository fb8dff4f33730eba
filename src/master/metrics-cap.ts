/**
 * The cap on the `/metrics` endpoint's connections, kept so that connections that hold a place
 * without asking anything cannot shut a scrape out.
 *
 * Node's own cap (`server.maxConnections`) closes a connection that arrives past it: 64
 * connections that never send a byte kept every scrape out until the request bound (10 s) cut
 * them. Here a connection that arrives past the cap takes the place of the oldest one with no
 * request in progress (one that has sent nothing, or only part of a request's head, or a
 * keep-alive one idle between scrapes), which is closed; only when every connection has a
 * request in progress is the new one closed as it arrives. The bound on what clients hold is the
 * same (at most `max` connections, each with its request and page bounds); a scraper, which sends
 * its request as soon as it connects, gets in as long as fewer than `max` requests are in progress.
 */
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Socket } from "node:net";

/**
 * Keeps at most `max` connections open on `server`. The function it returns is to be called by
 * the request listener for each request: a connection with a request in progress is not closed
 * for a newcomer.
 * @example
 * const requested = capConnections(server, 64);
 * server.on("request", (req, res) => { requested(req, res); … });
 */
export function capConnections(
  server: Server,
  max: number,
): (req: IncomingMessage, res: ServerResponse) => void {
  /** The connections counted against the cap. */
  const open = new Set<Socket>();
  /** Those of them with no request in progress, longest idle first (a Set keeps insertion order). */
  const idle = new Set<Socket>();
  /** Requests in progress per connection (pipelined ones wait behind the first). */
  const busy = new WeakMap<Socket, number>();
  server.on("connection", (socket: Socket) => {
    if (open.size >= max) {
      const oldest = idle.values().next();
      if (oldest.done === true) {
        socket.destroy();
        return;
      }
      // Uncounted at once: its "close" comes on a later turn.
      idle.delete(oldest.value);
      open.delete(oldest.value);
      oldest.value.destroy();
    }
    open.add(socket);
    idle.add(socket);
    socket.once("close", () => {
      open.delete(socket);
      idle.delete(socket);
    });
  });
  return (req, res) => {
    const socket = req.socket;
    idle.delete(socket);
    busy.set(socket, (busy.get(socket) ?? 0) + 1);
    res.once("close", () => {
      const left = (busy.get(socket) ?? 1) - 1;
      busy.set(socket, left);
      // Idle again (keep-alive): it joins the end of the line.
      if (left === 0 && open.has(socket)) idle.add(socket);
    });
  };
}
