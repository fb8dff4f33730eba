// The adapter's fast path: a light Response goes out without undici's Response ever being made,
// and the bytes on the wire are those undici's Response would have sent.
import assert from "node:assert/strict";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { after, describe, it } from "node:test";
import { Hono } from "hono";
import { installLightResponse, LightResponse, MATERIALIZE_CHANNEL } from "../../src/worker/fetch/index.ts";
import { rawRequest, type RawResponse } from "./raw.ts";
import { GET, serve } from "./serve.ts";

const Undici = globalThis.Response;
installLightResponse(); // as in a worker: the adapter's `instanceof Response` sees the light class

let materialized = 0;
const count = (): void => {
  materialized++;
};
subscribe(MATERIALIZE_CHANNEL, count);
after(() => unsubscribe(MATERIALIZE_CHANNEL, count));

/** One app per class: the same routes, each answered with a Response of class C. */
function routes(C: typeof Response): (request: Request) => Response {
  return (request) => {
    switch (new URL(request.url).pathname) {
      case "/empty":
        return new C("");
      case "/bytes":
        return new C(new Uint8Array([104, 105]));
      case "/buffer":
        return new C(new Uint8Array([0, 1, 2, 3]).buffer);
      case "/form":
        return new C(new URLSearchParams({ q: "a b" }));
      case "/json":
        return C.json({ ok: true }, { status: 202 });
      case "/null":
        return new C(null);
      case "/no-content":
        return new C(null, { status: 204 });
      case "/headers":
        return new C("made", {
          status: 201,
          statusText: "Made It",
          headers: [
            ["set-cookie", "a=1"],
            ["set-cookie", "b=2"],
            ["X-Mixed", " spaced "],
          ],
        });
      case "/touched": {
        const response = new C("touched");
        response.headers.set("x-late", "1");
        response.headers.delete("content-type");
        return response;
      }
      case "/framed":
        return new C("abc", { headers: { "content-length": "3" } });
      case "/unicode":
        return new C("żółw \ud800");
      case "/blob":
        return new C(new Blob(["blob"], { type: "text/x-blob" }));
      default:
        return new C("hello\n");
    }
  };
}
const PATHS = [
  "/",
  "/empty",
  "/bytes",
  "/buffer",
  "/form",
  "/json",
  "/null",
  "/no-content",
  "/headers",
  "/touched",
  "/framed",
  "/unicode",
];

/** The response as sent, without its Date line. */
const wire = (response: RawResponse): unknown => [
  response.status,
  response.headers.filter(([name]) => name !== "date"),
  response.body,
];

describe("sending a light Response", () => {
  it("writes what undici's Response would, without ever making one, for strings, bytes, JSON, forms and null", async () => {
    const light = await serve(routes(LightResponse));
    const undici = await serve(routes(Undici));
    for (const path of PATHS) {
      for (const method of ["GET", "HEAD"]) {
        const request = `${method} ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`;
        const expected = wire(await rawRequest(undici.port, request));
        const before = materialized;
        assert.deepEqual(wire(await rawRequest(light.port, request)), expected, `${method} ${path}`);
        assert.equal(materialized, before, `${method} ${path}: undici's Response was made`);
      }
    }
    assert.deepEqual([...light.failures, ...undici.failures], []);
  });

  it("takes undici's path for a Blob body, making the Response once, with the same bytes", async () => {
    const light = await serve(routes(LightResponse));
    const undici = await serve(routes(Undici));
    const before = materialized;
    assert.deepEqual(
      wire(await rawRequest(light.port, GET("/blob"))),
      wire(await rawRequest(undici.port, GET("/blob"))),
    );
    assert.equal(materialized, before + 1);
  });

  it("takes the fast path for a Response a promise resolves to", async () => {
    const { port } = await serve(async () => {
      await new Promise((resolve) => setImmediate(resolve));
      return new LightResponse("later\n");
    });
    const before = materialized;
    const response = await rawRequest(port, GET("/"));
    assert.deepEqual([response.body, response.header("content-length")], ["later\n", "6"]);
    assert.equal(materialized, before);
  });

  it("sends a light Response the app read first (a clone) through undici's path, intact", async () => {
    const { port } = await serve(async () => {
      const response = new LightResponse("read twice\n");
      await response.clone().text();
      return response;
    });
    const before = materialized;
    assert.equal((await rawRequest(port, GET("/"))).body, "read twice\n");
    assert.equal(materialized, before + 1);
  });

  it("leaves the body used once sent: a read fails and a second send is a 500, as with undici's Response", async () => {
    const run = async (C: typeof Response): Promise<unknown[]> => {
      const kept = new C("once\n");
      const { port, failures } = await serve(() => kept);
      const first = await rawRequest(port, GET("/"));
      const second = await rawRequest(port, GET("/"));
      const read = await kept.text().then(
        () => "read",
        (error: unknown) => (error as Error).name,
      );
      return [first.status, first.body, second.status, kept.bodyUsed, read, failures.length];
    };
    const expected = await run(Undici);
    assert.deepEqual(expected, [200, "once\n", 500, true, "TypeError", 1]);
    assert.deepEqual(await run(LightResponse), expected);
  });

  it("sends a Hono app's Responses (c.text, c.json, c.html, c.header, c.redirect) without making undici's", async () => {
    const app = new Hono();
    app.get("/", (c) => c.text("hello\n"));
    app.get("/json", (c) => c.json({ hono: true }, 201));
    app.get("/html", (c) => {
      c.header("x-frame-options", "DENY");
      return c.html("<p>hi</p>");
    });
    app.get("/away", (c) => c.redirect("/there"));
    const { port, failures } = await serve((request) => app.fetch(request));
    const before = materialized;
    const answers = [];
    for (const path of ["/", "/json", "/html", "/away", "/missing"]) {
      const response = await rawRequest(port, GET(path));
      answers.push([path, response.status, response.header("content-type"), response.body]);
    }
    assert.deepEqual(answers, [
      ["/", 200, "text/plain;charset=UTF-8", "hello\n"], // Hono's shortcut: `new Response(text)`
      ["/json", 201, "application/json", '{"hono":true}'],
      ["/html", 200, "text/html; charset=UTF-8", "<p>hi</p>"],
      ["/away", 302, undefined, ""],
      ["/missing", 404, "text/plain; charset=UTF-8", "404 Not Found"],
    ]);
    assert.equal(materialized, before);
    assert.deepEqual(failures, []);
  });

  it("sends a null body again and again, as undici's Response allows", async () => {
    const kept = new LightResponse(null, { status: 202 });
    const { port } = await serve(() => kept);
    for (let i = 0; i < 2; i++) assert.equal((await rawRequest(port, GET("/"))).status, 202);
  });

  it("sends a header value beyond ASCII as latin1 bytes, as undici's Response does (stop 26)", async () => {
    const app = (C: typeof Response) => () => new C("é", { headers: { "x-a": "\u00e9" } });
    const light = await serve(app(Response));
    const undici = await serve(app(Undici));
    const [a, b] = await Promise.all([rawRequest(light.port, GET("/")), rawRequest(undici.port, GET("/"))]);
    assert.equal(a.header("x-a"), "\u00e9"); // one latin1 byte read back as latin1
    assert.deepEqual([a.header("x-a"), a.body], [b.header("x-a"), b.body]);
  });

  it("sends a status text beyond ASCII as a latin1 byte and the body as UTF-8, as undici's Response does", async () => {
    const app = (C: typeof Response) => () => new C("é", { statusText: "Caf\u00e9" });
    const light = await serve(app(Response));
    const undici = await serve(app(Undici));
    const [a, b] = await Promise.all([rawRequest(light.port, GET("/")), rawRequest(undici.port, GET("/"))]);
    assert.equal(a.statusLine, "HTTP/1.1 200 Caf\u00e9"); // one latin1 byte read back as latin1
    assert.equal(a.body, "\u00c3\u00a9"); // é's two UTF-8 bytes read as latin1
    assert.deepEqual(
      [a.statusLine, a.header("content-length"), a.body],
      [b.statusLine, b.header("content-length"), b.body],
    );
  });
});
