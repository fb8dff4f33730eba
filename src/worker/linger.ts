/**
 * The close of a connection whose last response went out while its request's body was still
 * arriving: a lingering close, as nginx makes it (`lingering_close`).
 *
 * Node closes such a connection as soon as the response is flushed (`destroySoon`): the client,
 * still sending, meets a reset, which can destroy the response before the client has read it
 * (curl: "Send failure: Broken pipe", an error for a request that was answered). Here the
 * connection's write side is shut once the response is out (the client reads its end), and what
 * the client still sends is read and thrown away until its request ends, the client shuts its
 * side, or it sends nothing for `LINGER_MS`; then the connection is closed.
 */
import type { IncomingMessage } from "node:http";
import { Socket } from "node:net";

/** How long a lingering connection may stay silent before it is closed (nginx's `lingering_timeout`). */
const LINGER_MS = 5_000;

/**
 * Makes the close that follows `req`'s response on `socket` a lingering one when the request has
 * not all arrived by then (at once otherwise, as Node does). Called again on the same socket for a
 * later request, the later one counts.
 * @example
 * res.shouldKeepAlive = false;
 * lingerAfter(req.socket, req);
 */
export function lingerAfter(socket: Socket, req: IncomingMessage): void {
  // Node's http server calls the socket's destroySoon() once the last response is flushed.
  socket.destroySoon = function lingeringClose(this: Socket): void {
    if (req.complete) {
      Socket.prototype.destroySoon.call(this);
      return;
    }
    if (this.writable) this.end();
    const close = (): void => {
      if (this.writableFinished) this.destroy();
      else this.once("finish", () => this.destroy());
    };
    req.once("end", close);
    // An app that read part of the body and stopped would hold the rest back: read it all.
    req.resume();
    // Node's http server destroys a socket whose timeout nobody answers; any byte read resets it.
    this.setTimeout(LINGER_MS);
  };
}
