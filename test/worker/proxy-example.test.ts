/**
 * examples/proxy: forwarding a request to an upstream, as docs/http.md shows it, for the requests
 * ordinary clients send: a chunked upload, `Expect: 100-continue` (curl's for a body over 1 KiB),
 * a `Keep-Alive` header, a header that `Connection` names. `fetch(new Request(upstream, request))`
 * alone failed for the first three ("fetch failed": undici refuses those headers).
 */
import assert from "node:assert/strict";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { after, describe, it } from "node:test";
import { forward } from "../../examples/proxy/app.ts";
import { parseResponse, rawRequest } from "./raw.ts";
import { serve } from "./serve.ts";

describe("examples/proxy", () => {
  it("forwards a chunked upload, an Expect: 100-continue one, Keep-Alive and Connection-named headers, without the hop-by-hop headers", async () => {
    const seen: IncomingHttpHeaders[] = [];
    const upstream = createServer((req, res) => {
      seen.push(req.headers);
      let length = 0;
      req.on("data", (chunk: Buffer) => (length += chunk.length));
      req.on("end", () => res.end(`upstream got ${req.method} ${req.url} ${length} bytes`));
    });
    await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
    after(() => upstream.close());
    const { port, failures } = await serve((request) =>
      forward(request, `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`),
    );
    const body = "x".repeat(2000);
    const head = (path: string, extra: string): string =>
      `POST ${path} HTTP/1.1\r\nHost: h\r\nConnection: close, x-hop\r\nx-hop: 1\r\nx-kept: 2\r\n${extra}`;
    for (const [path, request] of [
      [
        "/chunked?a=1",
        `${head("/chunked?a=1", "Transfer-Encoding: chunked\r\n\r\n")}7d0\r\n${body}\r\n0\r\n\r\n`,
      ],
      [
        "/expect",
        `${head("/expect", `Expect: 100-continue\r\nContent-Length: ${body.length}\r\n\r\n`)}${body}`,
      ],
      [
        "/keep-alive",
        `${head("/keep-alive", `Keep-Alive: timeout=5\r\nContent-Length: ${body.length}\r\n\r\n`)}${body}`,
      ],
    ] as const) {
      const first = await rawRequest(port, request);
      // Node answers Expect: 100-continue with an interim 100 first.
      const response = first.status === 100 ? parseResponse(first.body) : first;
      assert.equal(response.status, 200, `${path}: ${response.body}`);
      assert.equal(response.body, `upstream got POST ${path} 2000 bytes`);
    }
    assert.deepEqual(failures, []);
    for (const headers of seen) {
      assert.equal(headers["x-kept"], "2");
      for (const name of ["x-hop", "expect", "keep-alive"]) assert.equal(headers[name], undefined, name);
    }
  });
});
