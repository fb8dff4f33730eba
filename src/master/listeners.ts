/**
 * The master's listening sockets, as nginx's master keeps them. It binds and listens on every
 * address once, before any worker starts, and holds the sockets for its whole life; it never
 * accepts a connection itself (its listen(2) goes around libuv, which would accept). Each worker,
 * once it enters rotation, receives the handles over IPC and accepts on them directly (Node's
 * cluster does the same in its SCHED_NONE mode, lib/internal/cluster/shared_handle.js). No client
 * connection passes through the master, a busy worker simply does not accept while an idle one
 * does, and because the master's socket listens from the start, a connection that arrives while
 * no worker accepts yet (the start, the only worker respawning) waits in the kernel's backlog
 * instead of being refused, and a port-0 address keeps its port.
 */
import * as net from "node:net";
import { isIP } from "node:net";
import { constants } from "node:os";
import { getSystemErrorName } from "node:util";
import { formatListen, type ListenAddress } from "../config/index.ts";
import { systemCalls } from "../shdict/index.ts";

/** Node's default backlog (a worker's listen on the same socket sets it again). */
const BACKLOG = 511;

/** libuv's TCP wrap, as `net._createServerHandle` returns it (bound, not listening). */
export interface ServerHandle {
  readonly fd: number;
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
      if (typeof handle === "number") throw cannotListen(address, handle);
      this.#handles.push(handle);
      const bound: { address?: string; port?: number } = {};
      handle.getsockname(bound);
      // libuv defers a bind's EADDRINUSE to its listen() and leaves the socket unbound (port 0):
      // listen(2) would then pick a port of its own. A busy port fails start here, with the address.
      if (!bound.port) throw cannotListen(address, -constants.errno.EADDRINUSE);
      const failed = systemCalls().listen(handle.fd, BACKLOG);
      if (failed !== 0) throw cannotListen(address, -failed);
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

/** The start's error for `address`, from a negative errno. */
function cannotListen(address: ListenAddress, errno: number): Error {
  const code = getSystemErrorName(errno);
  const why = code === "EADDRINUSE" ? "address already in use" : code;
  return new Error(`cannot listen on ${formatListen(address)}: ${why} (${code})`);
}

async function resolveHost(address: ListenAddress): Promise<string> {
  const host = address.host as string;
  if (isIP(host) !== 0) return host;
  try {
    // Loaded here, for a name to look up: most listen addresses are IPs.
    const { lookup } = process.getBuiltinModule("node:dns/promises");
    return (await lookup(host)).address;
  } catch (error) {
    throw new Error(
      `cannot listen on ${formatListen(address)}: ${(error as NodeJS.ErrnoException).code ?? "lookup failed"}`,
    );
  }
}
