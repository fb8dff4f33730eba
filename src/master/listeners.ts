/**
 * The master's listening sockets. As nginx's master, it binds every address once, before any
 * worker starts, and keeps the sockets for its whole life: a worker that dies or drains never
 * closes them, so no connection is refused while a slot respawns and a port-0 address keeps its
 * port. The master accepts each connection (without reading from it) and hands it round-robin
 * to a worker in rotation over IPC; with no worker in rotation, connections wait in a queue.
 */
import { createServer, type Server, type Socket } from "node:net";
import { formatListen, type ListenAddress } from "../config/index.ts";
import type { Child } from "./children.ts";

/** Connections held while no worker is in rotation; beyond this they are closed. */
const MAX_QUEUED = 4096;

export class Listeners {
  readonly #servers: Server[] = [];
  readonly #rotation: Child[] = [];
  readonly #queue: Socket[] = [];
  readonly #send: (child: Child, socket: Socket) => boolean;
  #next = 0;
  #addresses: string[] = [];

  constructor(send: (child: Child, socket: Socket) => boolean) {
    this.#send = send;
  }

  /** The bound addresses, as `host:port` (the real port for port 0). */
  get addresses(): readonly string[] {
    return this.#addresses;
  }

  async listen(addresses: readonly ListenAddress[]): Promise<void> {
    for (const address of addresses) {
      const server = createServer({ pauseOnConnect: true }, (socket) => {
        this.#dispatch(socket);
      });
      await new Promise<void>((resolve, reject) => {
        server.once("error", (error: NodeJS.ErrnoException) => {
          const why = error.code === "EADDRINUSE" ? "address already in use" : error.message;
          reject(new Error(`cannot listen on ${formatListen(address)}: ${why} (${error.code ?? "error"})`));
        });
        server.listen(
          { port: address.port, ...(address.host === null ? {} : { host: address.host }) },
          () => {
            resolve();
          },
        );
      });
      this.#servers.push(server);
      const bound = server.address();
      this.#addresses.push(
        bound !== null && typeof bound === "object"
          ? formatListen({ host: address.host === null ? null : bound.address, port: bound.port })
          : formatListen(address),
      );
    }
  }

  /** Puts a ready worker in rotation and gives it the connections that waited. */
  add(child: Child): void {
    if (this.#rotation.includes(child)) return;
    this.#rotation.push(child);
    while (this.#queue.length > 0 && this.#rotation.length > 0) this.#dispatch(this.#queue.shift() as Socket);
  }

  /** Takes a worker out of rotation (before it drains, or once it died). */
  remove(child: Child): void {
    const index = this.#rotation.indexOf(child);
    if (index >= 0) this.#rotation.splice(index, 1);
  }

  close(): void {
    for (const server of this.#servers) server.close();
    for (const socket of this.#queue.splice(0)) socket.destroy();
  }

  #dispatch(socket: Socket): void {
    for (let tries = this.#rotation.length; tries > 0; tries--) {
      const child = this.#rotation[this.#next++ % this.#rotation.length] as Child;
      if (this.#send(child, socket)) return;
      this.remove(child);
    }
    if (this.#queue.length >= MAX_QUEUED) {
      socket.destroy();
      return;
    }
    this.#queue.push(socket);
  }
}
