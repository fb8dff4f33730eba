// A fetch app that forwards every request to an upstream, streaming both ways:
//   UPSTREAM=http://127.0.0.1:9000 ./bin/tsresty start examples/proxy/app.ts --listen 127.0.0.1:8080
// The request's hop-by-hop headers are the client connection's, not the request's (RFC 9110
// §7.6.1): a proxy drops them, and undici's fetch refuses several of them outright
// (`transfer-encoding` of a chunked upload, `expect: 100-continue` of `curl -T` or of any curl
// POST over 1 KiB, `keep-alive`, `upgrade`), so `fetch(new Request(upstream, request))` alone
// fails for those requests with "fetch failed".
import { defineApp } from "tsresty";

const HOP_BY_HOP = [
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "te",
  "trailer",
  "upgrade",
  "expect",
];

/** The request, sent on to the same path and query under `upstream`; the upstream's response. */
export function forward(request: Request, upstream: string): Promise<Response> {
  const headers = new Headers(request.headers);
  // Connection also names headers of its own that are hop-by-hop.
  for (const name of headers.get("connection")?.split(",") ?? []) headers.delete(name.trim());
  for (const name of HOP_BY_HOP) headers.delete(name);
  const { pathname, search } = new URL(request.url);
  const init: RequestInit & { duplex: "half" } = {
    method: request.method,
    headers,
    body: request.body,
    duplex: "half", // the body streams on as it arrives
    signal: request.signal, // the client left: the upstream request is cancelled too
    redirect: "manual",
  };
  return fetch(new Request(new URL(pathname + search, upstream), init));
}

export default defineApp({
  fetch: (request) => forward(request, process.env["UPSTREAM"] ?? "http://127.0.0.1:9000"),
});
