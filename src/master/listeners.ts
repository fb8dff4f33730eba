/**
 * The master's listening sockets, as nginx's master keeps them. It binds every address once,
 * before any worker starts, and holds the bound sockets for its whole life; it never accepts a
 * connection itself. Each worker, once it enters rotation, receives the handles over IPC and
 * listens and accepts on them directly (Node's cluster does the same in its SCHED_NONE mode,
 * lib/internal/cluster/shared_handle.js). No client connection passes through the master, a busy
 * worker simply does not accept while an idle one does, and because the master holds the socket,
 * a connection that arrives while no worker accepts (the only worker respawning) waits in the
 * kernel's backlog instead of being refused, and a port-0 address keeps its port.
 */
import { lookup } from "node:dns/promises";
import * as net from "node:net";
import { isIP } from "node:net";
import { getSystemErrorName } from "node:util";
import { formatListen, type ListenAddress } from "../config/index.ts";

/** libuv's TCP wrap, as `net._createServerHandle` returns it (bound, not listening). */
export interface ServerHandle {
  getsockname(out: { address?: string; port?: number; family?: string }): number;
  close(): void;
}

type CreateServerHandle = (
  address: string | null,
  port: number,
  addressType: number,
  fd?: number,
  flags?: number,
) => ServerHandle | number;

/** Node's own helper for a bound server handle (what its cluster primary uses). */
const createServerHandle = (net as unknown as { _createServerHandle: CreateServerHandle })
  ._createServerHandle;

export class Listeners {
  readonly #handles: ServerHandle[] = [];
  readonly #given = new WeakSet<object>();
  #addresses: string[] = [];

  /** The bound addresses, as `host:port` (the real port for port 0). */
  get addresses(): readonly string[] {
    return this.#addresses;
  }

  get handles(): readonly ServerHandle[] {
    return this.#handles;
  }

  async listen(addresses: readonly ListenAddress[]): Promise<void> {
    for (const address of addresses) {
      const host = address.host === null ? null : await resolveHost(address);
      const handle = createServerHandle(host, address.port, host === null ? 4 : isIP(host));
      if (typeof handle === "number") {
        const code = getSystemErrorName(handle);
        const why = code === "EADDRINUSE" ? "address already in use" : code;
        throw new Error(`cannot listen on ${formatListen(address)}: ${why} (${code})`);
      }
      this.#handles.push(handle);
      const bound: { address?: string; port?: number } = {};
      handle.getsockname(bound);
      // A bound socket is not yet a listening one: with SO_REUSEADDR (libuv sets it) a port
      // another process listens on is only refused at listen(), which the workers do. Probe it
      // here, so that a busy port fails start at once, with the address.
      if (address.port !== 0) await probe(address, host);
      this.#addresses.push(
        formatListen({
          host: address.host === null ? null : (bound.address ?? host),
          port: bound.port ?? address.port,
        }),
      );
    }
  }

  /**
   * Whether `child` still has to get the handles (once per child: it keeps listening on them until
   * it drains). Marks it as given.
   */
  take(child: object): boolean {
    if (this.#given.has(child)) return false;
    this.#given.add(child);
    return true;
  }

  close(): void {
    for (const handle of this.#handles.splice(0)) handle.close();
  }
}

/** Listens on the address for a moment (exclusively) to see whether another process holds it. */
function probe(address: ListenAddress, host: string | null): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", (error: NodeJS.ErrnoException) => {
      const why = error.code === "EADDRINUSE" ? "address already in use" : error.message;
      reject(new Error(`cannot listen on ${formatListen(address)}: ${why} (${error.code ?? "error"})`));
    });
    server.listen({ port: address.port, exclusive: true, ...(host === null ? {} : { host }) }, () => {
      server.close(() => {
        resolve();
      });
    });
  });
}

async function resolveHost(address: ListenAddress): Promise<string> {
  const host = address.host as string;
  if (isIP(host) !== 0) return host;
  try {
    return (await lookup(host)).address;
  } catch (error) {
    throw new Error(
      `cannot listen on ${formatListen(address)}: ${(error as NodeJS.ErrnoException).code ?? "lookup failed"}`,
    );
  }
}
