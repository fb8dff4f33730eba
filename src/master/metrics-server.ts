/**
 * The master's `/metrics` endpoint (config `metrics`). The master keeps it for its whole life, as
 * it keeps the listening sockets: reloads and worker deaths do not touch it. Each `GET /metrics`
 * asks every process for its figures (status.ts: a process that does not answer within 1 s is left
 * out of that scrape) and answers with the Prometheus text; anything else is 404 (405 for another
 * method on /metrics).
 *
 * Pages are written into buffers that are reused (metrics-render.ts): a page goes back to the pool
 * once its response is over (sent, or its connection gone), so a scrape that starts while another
 * is still being sent to a slow client gets a page of its own.
 */
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { formatListen, type ListenAddress } from "../config/index.ts";
import { StartError } from "../errors.ts";
import { METRICS_CONTENT_TYPE, MetricsPage, type MetricsInput } from "./metrics-render.ts";

/** Pages kept for the next scrapes; more are made while scrapes overlap, and dropped after. */
const POOLED_PAGES = 2;

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
): Promise<MetricsServer> {
  const pool: MetricsPage[] = [];
  // Loaded here: a tree without metrics never needs node:http in the master (~2 ms at start).
  const { createServer } = process.getBuiltinModule("node:http");
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "").split("?")[0];
    if (path !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found: the metrics are at /metrics\n");
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    void collect()
      .then((input) => {
        const page = pool.pop() ?? new MetricsPage();
        res.once("close", () => {
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
  });
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
