/**
 * The master's `/metrics` endpoint (config `metrics`). The master keeps it for its whole life, as
 * it keeps the listening sockets: reloads and worker deaths do not touch it. Each `GET /metrics`
 * asks every process for its figures (status.ts: a process that does not answer within 1 s is left
 * out of that scrape) and answers with the Prometheus text; anything else is 404 (405 for another
 * method on /metrics, and for CONNECT).
 *
 * Pages are written into buffers that are reused (metrics-render.ts): a page goes back to the pool
 * once its response is over (sent, or its connection gone), so a scrape that starts while another
 * is still being sent to a slow client gets a page of its own.
 *
 * One connection is served one scrape at a time: a request pipelined behind another is collected
 * and rendered once the page before it is out, and a connection with more than `maxPipelined`
 * requests waiting is cut. (Node's parser reads pipelined requests ahead while nothing is written;
 * answered at once, 6,000 requests sent in one write and never read made 6,000 pages, 888 MB.)
 */
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { Duplex } from "node:stream";
import { formatListen, type ListenAddress } from "../config/index.ts";
import { StartError } from "../errors.ts";
import { capConnections } from "./metrics-cap.ts";
import { METRICS_CONTENT_TYPE, MetricsPage, type MetricsInput } from "./metrics-render.ts";

/** Pages kept for the next scrapes; more are made while scrapes overlap, and dropped after. */
const POOLED_PAGES = 2;

/**
 * What a client of the endpoint may hold in the master, which supervises the whole tree: its fds
 * and memory must not be a client's to take. A scraper holds a connection or two, sends its
 * request at once and reads its page at once (Prometheus gives a scrape 10 s by default).
 */
export interface MetricsLimits {
  /**
   * Connections at once; one more takes the place of the oldest with no request in progress
   * (metrics-cap.ts), and is closed as it arrives when every one has a request in progress.
   */
  readonly maxConnections: number;
  /** How long a request's head may take to arrive (Node's headersTimeout and requestTimeout). */
  readonly requestMs: number;
  /** How long a page may take to be sent; a client that reads slower, or not at all, is cut. */
  readonly sendMs: number;
  /** Requests one connection may have waiting behind the one being answered; one more cuts it. */
  readonly maxPipelined: number;
}

export const METRICS_LIMITS: MetricsLimits = Object.freeze({
  maxConnections: 64,
  requestMs: 10_000,
  sendMs: 30_000,
  maxPipelined: 4,
});

export interface MetricsServer {
  /** The bound address (`host:port`, the real port for port 0). */
  readonly address: string;
  close(): void;
}

/**
 * Listens on `address`; resolves once bound, rejects with a StartError naming the address when it
 * cannot bind. `collect` gathers what a page shows; a scrape that fails answers 500 and is logged
 * by `failed`.
 */
export function serveMetrics(
  address: ListenAddress,
  collect: () => Promise<MetricsInput>,
  failed: (error: unknown) => void,
  limits: MetricsLimits = METRICS_LIMITS,
): Promise<MetricsServer> {
  const pool: MetricsPage[] = [];
  // Loaded here: a tree without metrics never needs node:http in the master (~2 ms at start).
  const { createServer } = process.getBuiltinModule("node:http");
  const options = {
    headersTimeout: limits.requestMs,
    requestTimeout: limits.requestMs,
    // How often Node looks for connections past those bounds (30 s by default).
    connectionsCheckingInterval: Math.min(1_000, limits.requestMs),
  };
  /** Answers one GET or HEAD of /metrics; resolves once its response is over. */
  const scrape = (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    // Its connection gone while it waited: nothing to collect for.
    if (res.destroyed || req.socket.destroyed) return Promise.resolve();
    const over = new Promise<void>((resolve) => res.once("close", resolve));
    void collect()
      .then((input) => {
        const page = pool.pop() ?? new MetricsPage();
        // A client that does not take its page within the bound is cut: until then the page
        // (megabytes for a tree with thousands of named timers) is held for it.
        const cut = setTimeout(() => res.destroy(), limits.sendMs);
        res.once("close", () => {
          clearTimeout(cut);
          if (pool.length < POOLED_PAGES) pool.push(page);
        });
        const chunks = page.render(input);
        const length = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
        res.writeHead(200, { "content-type": METRICS_CONTENT_TYPE, "content-length": length });
        if (req.method === "HEAD") {
          res.end();
          return;
        }
        res.cork();
        for (const chunk of chunks) res.write(chunk);
        res.end();
      })
      .catch((error: unknown) => {
        failed(error);
        if (!res.headersSent) res.writeHead(500).end();
        else res.destroy();
      });
    return over;
  };
  /** Per connection: the requests waiting, and the end of the last one queued. */
  const queues = new WeakMap<Socket, { waiting: number; last: Promise<void> }>();
  const server: Server = createServer(options);
  const requested = capConnections(server, limits.maxConnections);
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    requested(req, res);
    // Node's parser stops at the end of a request asking for an upgrade, though no "upgrade"
    // listener takes it, and drops what came after it in the same read: a request pipelined
    // behind it would wait, never answered, on a connection kept open.
    if (req.headers.upgrade !== undefined) res.shouldKeepAlive = false;
    const path = pathOf(req.url ?? "");
    if (path !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found: the metrics are at /metrics\n");
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      const body = notAllowed(req.method ?? "?");
      res.writeHead(405, { ...NOT_ALLOWED, "content-length": Buffer.byteLength(body) }).end(body);
      return;
    }
    const socket = req.socket;
    const queue = queues.get(socket) ?? { waiting: 0, last: Promise.resolve() };
    queues.set(socket, queue);
    if (queue.waiting > limits.maxPipelined) {
      socket.destroy();
      return;
    }
    queue.waiting++;
    queue.last = queue.last.then(async () => {
      try {
        await scrape(req, res);
      } finally {
        queue.waiting--;
      }
    });
  };
  server.on("request", onRequest);
  // An Expect other than 100-continue: Node answers 417 without a "request" event. A scrape is
  // served whatever it expects, as nginx serves it (RFC 9110 §10.1.1 allows ignoring it).
  server.on("checkExpectation", onRequest);
  server.on("connect", refuseConnect);
  // Scrapers keep their connection open between scrapes; it must not hold the master's exit.
  server.keepAliveTimeout = 65_000;
  return new Promise((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) => {
      reject(
        new StartError(`cannot serve metrics on ${formatListen(address)}: ${error.code ?? error.message}`, {
          cause: error,
        }),
      );
    });
    server.listen({ host: address.host ?? undefined, port: address.port }, () => {
      const bound = server.address() as AddressInfo;
      resolve({
        address: formatListen({ host: address.host ?? bound.address, port: bound.port }),
        close: () => {
          server.close();
          server.closeAllConnections();
        },
      });
    });
  });
}

/** The headers of a 405 (beside its length). */
const NOT_ALLOWED = Object.freeze({ allow: "GET, HEAD", "content-type": "text/plain" });

/** The body of a 405 for `method`. */
const notAllowed = (method: string): string =>
  `method not allowed: ${method} (the metrics are at GET /metrics)\n`;

/**
 * A CONNECT request: the endpoint is no proxy. Node closes its connection without a word when no
 * "connect" listener is set; it is answered 405 as any other method is, and closed once that is
 * out (a client that keeps its half open would hold it otherwise).
 */
function refuseConnect(req: IncomingMessage, socket: Duplex): void {
  const body = notAllowed(req.method ?? "CONNECT");
  const headers = Object.entries(NOT_ALLOWED).map(([name, value]) => `${name}: ${value}\r\n`);
  const head = `HTTP/1.1 405 Method Not Allowed\r\n${headers.join("")}content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n`;
  // A reset before the answer is out must not end the master.
  socket.on("error", () => undefined);
  socket.end(head + body, () => socket.destroy());
}

/** The path of a request target, in origin form (`/metrics?x`) or absolute form (`http://host/metrics`). */
function pathOf(target: string): string {
  const start = /^https?:\/\/[^/?#]*/i.exec(target)?.[0].length ?? 0;
  return target.slice(start).split("?")[0] ?? "";
}
