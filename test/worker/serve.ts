import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after } from "node:test";
import type { LogLevel } from "../../src/util/log.ts";
import { fetchListener } from "../../src/worker/fetch/index.ts";

export interface Served {
  readonly port: number;
  readonly failures: unknown[];
  readonly logs: string[];
}

/** An in-process http.Server on 127.0.0.1 serving `fetch` through the adapter; closed after the file. */
export async function serve(
  fetch: (request: Request) => Response | Promise<Response>,
  { presetHeader = false } = {},
): Promise<Served> {
  const failures: unknown[] = [];
  const logs: string[] = [];
  const listener = fetchListener(
    fetch,
    (res, error) => {
      failures.push(error);
      if (res.headersSent) res.destroy();
      else res.writeHead(500).end();
    },
    (level: LogLevel, message: string) => logs.push(`[${level}] ${message}`),
  );
  const server = createServer((req, res) => {
    // What the worker does to every response while it drains.
    if (presetHeader) res.setHeader("connection", "close");
    listener(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  after(() => {
    server.closeAllConnections();
    server.close();
  });
  return { port: (server.address() as AddressInfo).port, failures, logs };
}

export const GET = (path: string): string =>
  `GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`;
