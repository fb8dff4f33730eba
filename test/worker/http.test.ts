// The worker's HTTP service (worker/http.ts) in this process: real sockets on 127.0.0.1, the
// access log in a scratch file, each service destroyed after its test.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { type AddressInfo, connect, createServer, type Socket } from "node:net";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { setTimeout as wait } from "node:timers/promises";
import { resolveConfig } from "../../src/config/index.ts";
import type { App, Service } from "../../src/runtime/index.ts";
import { serveHttp } from "../../src/worker/http.ts";
import { scratchDir } from "../helpers/scratch.ts";
import { until } from "../helpers/tree.ts";

interface Served {
  readonly service: Service;
  readonly port: number;
  /** What the service logged, as `[level] message`. */
  readonly logs: string[];
  /** The access log's entries so far (format json). */
  entries(): { url: string; status: number; bytes: number }[];
}

async function start(app: App, http?: Record<string, unknown>): Promise<Served> {
  const path = join(scratchDir("http-service"), "access.log");
  const config = resolveConfig({
    accessLog: { path, format: "json" },
    ...(http === undefined ? {} : { http }),
  });
  const logs: string[] = [];
  const service = serveHttp(app, config, (level, message) => logs.push(`[${level}] ${message}`), 1);
  assert.ok(service !== null);
  // A listening socket as the master sends one: the service's http.Server takes over its handle.
  const handle = createServer();
  await new Promise<void>((resolve) => handle.listen(0, "127.0.0.1", resolve));
  const port = (handle.address() as AddressInfo).port;
  service.listen([handle], (reason) => assert.fail(reason));
  after(() => service.destroy());
  const entries = (): { url: string; status: number; bytes: number }[] => {
    let text = "";
    try {
      text = readFileSync(path, "utf8");
    } catch {
      // nothing logged yet
    }
    return text
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => JSON.parse(line) as { url: string; status: number; bytes: number });
  };
  return { service, port, logs, entries };
}

/**
 * A connection to `port` that collects what comes back; `closed` resolves when the server closes
 * it. With `halfOpen`, the client keeps sending after the server has shut its side (as curl does
 * with a body under way), instead of ending its own side at once.
 */
async function open(
  port: number,
  halfOpen = false,
): Promise<{ socket: Socket; text: () => string; closed: Promise<void> }> {
  const socket = connect({ port, host: "127.0.0.1", allowHalfOpen: halfOpen });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  let text = "";
  socket.setEncoding("latin1");
  socket.on("data", (chunk: string) => (text += chunk));
  socket.on("error", () => undefined);
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  after(() => socket.destroy());
  return { socket, text: () => text, closed };
}

const GET = (path: string, close = false): string =>
  `GET ${path} HTTP/1.1\r\nHost: h\r\n${close ? "Connection: close\r\n" : ""}\r\n`;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A body that never ends: a chunk every 10 ms; counts cancels. */
function endless(stats: { cancelled: number; pulls: number }): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      stats.pulls++;
      await sleep(10);
      controller.enqueue(new TextEncoder().encode("data: x\n\n"));
    },
    cancel() {
      stats.cancelled++;
    },
  });
}

describe("the worker's HTTP service", () => {
  it("pipelined requests queued behind a response end when the client leaves: signal aborted, stream cancelled, logged 499, gauge down (stop 26)", async () => {
    const stats = { cancelled: 0, pulls: 0 };
    let aborted = 0;
    const served = await start({
      fetch: (request) => {
        request.signal.addEventListener("abort", () => aborted++);
        return new Response(endless(stats));
      },
    });
    const { socket, closed } = await open(served.port);
    socket.write(GET("/sse").repeat(5));
    assert.ok(await until(() => served.service.counts?.().inFlight === 5, 5_000));
    await sleep(200);
    socket.destroy();
    await closed;
    assert.ok(
      await until(() => served.entries().length === 5 && stats.cancelled === 5 && aborted === 5, 5_000),
      `log ${JSON.stringify(served.entries())}, ${stats.cancelled} cancelled, ${aborted} aborted`,
    );
    assert.equal(served.service.counts?.().inFlight, 0);
    assert.deepEqual(
      served.entries().map((e) => e.status),
      [200, 499, 499, 499, 499],
    );
  });

  it("a streamed response that a pipelined request's app returns after its client left is cancelled, not left waiting for its turn", async () => {
    const stats = { cancelled: 0, pulls: 0 };
    let returned = 0;
    const served = await start({
      fetch: async (request) => {
        if (new URL(request.url).pathname === "/held") return new Promise<Response>(() => undefined);
        await sleep(200);
        returned++;
        return new Response(endless(stats));
      },
    });
    const { socket, closed } = await open(served.port);
    socket.write(GET("/held") + GET("/late"));
    assert.ok(await until(() => served.service.counts?.().inFlight === 2, 5_000));
    socket.destroy();
    await closed;
    assert.ok(await until(() => returned === 1, 5_000));
    assert.ok(await until(() => stats.cancelled === 1, 2_000), `${stats.cancelled} cancelled`);
    // A stream pulls once as it is made; nothing is read for a client that left.
    assert.ok(stats.pulls <= 1, `${stats.pulls} pulls`);
  });

  it("an app that gives up because request.signal aborted (its client left) is one info line, not an error: any client could flood the log", async () => {
    let arrived = 0;
    const served = await start({
      fetch: async (request) => {
        arrived++;
        // What a proxy does: fetch(upstream, { signal: request.signal }) rejects the same way.
        const ms = new URL(request.url).pathname === "/own" ? 10 : 5_000;
        const signal = ms === 10 ? AbortSignal.timeout(ms) : request.signal;
        await wait(ms * 2, undefined, { signal });
        return new Response("late\n");
      },
    });
    const { socket, closed } = await open(served.port);
    socket.write(GET("/upstream"));
    assert.ok(await until(() => arrived === 1, 5_000));
    socket.destroy();
    await closed;
    assert.ok(await until(() => served.logs.length === 1, 2_000), JSON.stringify(served.logs));
    assert.match(
      served.logs[0] ?? "",
      /^\[info\] client closed the connection before the response was sent \(GET \/upstream\)$/,
    );
    // An abort of the app's own, its client still there, is the app's failure.
    const own = await open(served.port);
    own.socket.write(GET("/own", true));
    await own.closed;
    assert.match(own.text(), /^HTTP\/1\.1 500 /);
    assert.match(served.logs[1] ?? "", /^\[error\] request handler failed \(GET \/own\): AbortError/);
  });

  it("a fetch app that first touches a request's body after its client left gets a rejection, logged at info; the request's other members still work", async () => {
    const seen: string[] = [];
    const served = await start({
      fetch: async (request) => {
        await sleep(200);
        // Not the body: before, any member the lazy Request does not keep itself threw.
        seen.push(request.mode);
        try {
          await request.text();
          seen.push("read");
        } catch (error) {
          seen.push(String(error));
          throw error;
        }
        return new Response("late\n");
      },
    });
    const post = (path: string, sent: string): string =>
      `POST ${path} HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n${sent}`;
    for (const [path, sent] of [
      ["/partial", "abc"],
      ["/whole", "0123456789"],
    ] as const) {
      const logged = served.logs.length + 1;
      const { socket, closed } = await open(served.port);
      socket.write(post(path, sent));
      assert.ok(await until(() => served.service.counts?.().inFlight === 1, 5_000));
      socket.destroy();
      await closed;
      assert.ok(await until(() => served.logs.length === logged, 2_000), JSON.stringify(served.logs));
    }
    assert.deepEqual(seen, ["cors", "Error: aborted", "cors", "AbortError: This operation was aborted"]);
    assert.deepEqual(served.logs, [
      "[info] client closed the connection before the request was read (POST /partial)",
      "[info] client closed the connection before the response was sent (POST /whole)",
    ]);
    assert.equal(served.service.counts?.().inFlight, 0);
  });

  it("a response the app destroys before any of it was sent is logged 444 (the server closed it, nginx's return 444), one whose client left 499", async () => {
    const served = await start({
      handler: (req: IncomingMessage, res: ServerResponse) => {
        if (req.url === "/drop") res.destroy();
      },
    });
    const dropped = await open(served.port);
    dropped.socket.write(GET("/drop"));
    await dropped.closed;
    assert.equal(dropped.text(), "");
    const left = await open(served.port);
    left.socket.write(GET("/left"));
    assert.ok(await until(() => served.service.counts?.().inFlight === 1, 5_000));
    left.socket.end();
    await left.closed;
    assert.ok(await until(() => served.entries().length === 2, 2_000), JSON.stringify(served.entries()));
    // Before: "/drop 499", a client that left, the client still there.
    assert.deepEqual(
      served.entries().map((e) => `${e.url} ${e.status} ${e.bytes}`),
      ["/drop 444 0", "/left 499 0"],
    );
  });

  it("a fetch app reading a body that Node's requestTimeout cut (408) is not logged as a client that left", async () => {
    const seen: string[] = [];
    const served = await start(
      {
        fetch: async (request) => {
          try {
            await request.text();
          } catch (error) {
            seen.push(String(error));
            throw error;
          }
          return new Response("read\n");
        },
      },
      { headersTimeout: 1, requestTimeout: 1 },
    );
    const { socket, text, closed } = await open(served.port);
    socket.write("POST /slow-body HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc");
    await closed;
    assert.equal(text(), "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n");
    assert.ok(await until(() => served.logs.length === 1, 2_000), JSON.stringify(served.logs));
    assert.deepEqual(seen, ["Error: aborted"]);
    // Before: "client closed the connection before the request was read", the client still there.
    assert.deepEqual(served.logs, [
      "[info] answered 408: the request was not received within http.requestTimeout (POST /slow-body)",
    ]);
    assert.ok(await until(() => served.entries().length === 1, 2_000));
    assert.deepEqual(
      served.entries().map((e) => `${e.url} ${e.status}`),
      ["/slow-body 408"],
    );
  });

  it("an upgrade request to an app without upgrade is answered with Connection: close: a request pipelined behind it, which Node's parser drops, does not wait for the keep-alive timeout", async () => {
    for (const app of [
      { fetch: (request: Request) => new Response(`${new URL(request.url).pathname}\n`, { status: 404 }) },
      {
        handler: (req: IncomingMessage, res: ServerResponse) => {
          res.statusCode = 404;
          res.end(`${req.url ?? ""}\n`);
        },
      },
    ]) {
      const served = await start(app);
      const { socket, text, closed } = await open(served.port);
      socket.write(
        "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n" + GET("/next"),
      );
      // Before, the client waited for /next until the keep-alive timeout (5 s + 1 s) closed it.
      const ended = await Promise.race([closed.then(() => true), sleep(2_000).then(() => false)]);
      assert.ok(ended, `the connection stayed open: ${JSON.stringify(text())}`);
      assert.match(text(), /^HTTP\/1\.1 404 Not Found\r\n[^]*\r\nconnection: close\r\n/i);
      assert.match(text(), /\r\n\r\n\/ws\n$/, "the one response");
      assert.deepEqual(served.logs, []);
    }
  });

  it("a handler that fails after setting headers answers a bare 500: no set-cookie, no content-length of its, the next request answered (stop 26)", async () => {
    const served = await start({
      handler: (req: IncomingMessage, res: ServerResponse) => {
        if (req.url === "/after") {
          res.end("after\n");
          return;
        }
        res.setHeader("set-cookie", "session=secret");
        res.setHeader("content-length", "50");
        throw new Error("boom");
      },
    });
    const { socket, text, closed } = await open(served.port);
    socket.write(GET("/throw") + GET("/after", true));
    await closed;
    const [first = "", second = ""] = text().split(/(?=HTTP\/1\.1 )/);
    assert.match(first, /^HTTP\/1\.1 500 Internal Server Error\r\n/);
    assert.doesNotMatch(first, /set-cookie|content-length: 50/i);
    assert.match(second, /^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nafter\n$/);
  });

  it("an app that throws a value which cannot be looked at (a revoked Proxy, an error whose name getter throws) gets a 500 and a log line: the worker lived on (it died, with every request in flight)", async () => {
    const revoked = (): object => {
      const { proxy, revoke } = Proxy.revocable({}, {});
      revoke();
      return proxy;
    };
    class NameThrows extends Error {
      override get name(): string {
        throw new Error("no name");
      }
    }
    const odd = (url: string | undefined): unknown =>
      url?.includes("revoked") ? revoked() : new NameThrows("x");
    for (const app of [
      {
        handler: (req: IncomingMessage, res: ServerResponse): void => {
          if (req.url !== "/after") throw odd(req.url);
          res.end("after\n");
        },
      },
      {
        fetch: (request: Request): Response => {
          if (!request.url.endsWith("/after")) throw odd(request.url);
          return new Response("after\n");
        },
      },
      {
        fetch: async (request: Request): Promise<Response> => {
          await Promise.resolve();
          if (!request.url.endsWith("/after")) throw odd(request.url);
          return new Response("after\n");
        },
      },
    ] as App[]) {
      const served = await start(app);
      for (const path of ["/revoked", "/name"]) {
        const { socket, text, closed } = await open(served.port);
        socket.write(GET(path) + GET("/after", true));
        await closed;
        const [first = "", second = ""] = text().split(/(?=HTTP\/1\.1 )/);
        assert.match(first, /^HTTP\/1\.1 500 Internal Server Error\r\n/, `${path}: ${text()}`);
        assert.match(second, /^HTTP\/1\.1 200 OK\r\n/, `${path}: ${text()}`);
      }
      assert.equal(
        served.logs.filter((l) => l.startsWith("[error] request handler failed")).length,
        2,
        served.logs.join("\n"),
      );
    }
  });

  it("a handler that throws after ending its response is logged, and the response goes out whole: a large body, then the next pipelined request", async () => {
    const large = Buffer.alloc(8 << 20, 97);
    const served = await start({
      handler: (req: IncomingMessage, res: ServerResponse) => {
        if (req.url === "/large") res.end(large);
        else res.end(`${req.url ?? ""}\n`);
        if (req.url !== "/after") throw new Error("failed after end");
      },
    });
    const big = await open(served.port);
    big.socket.write(GET("/large", true));
    await Promise.race([big.closed, sleep(5_000)]);
    assert.match(big.text(), /^HTTP\/1\.1 200 OK\r\n/);
    assert.equal(big.text().length - big.text().indexOf("\r\n\r\n") - 4, large.length, "the body was cut");
    const { socket, text, closed } = await open(served.port);
    socket.write(GET("/first") + GET("/after", true));
    await Promise.race([closed, sleep(3_000)]);
    assert.match(
      text(),
      /^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\n\/first\nHTTP\/1\.1 200 OK\r\n[^]*\r\n\r\n\/after\n$/,
    );
    assert.deepEqual(
      served.logs.map((line) => line.split(":")[0]),
      ["[error] request handler failed (GET /large)", "[error] request handler failed (GET /first)"],
    );
  });

  it("a drain closes, after the grace, a connection that sent nothing or only part of a request's head (stop 26)", async () => {
    const served = await start({ fetch: () => new Response("ok\n") });
    const silent = await open(served.port);
    const partial = await open(served.port);
    partial.socket.write("GET / HTTP/1.1\r\nHost: h\r\n");
    await sleep(50);
    const started = performance.now();
    const drained = await Promise.race([
      served.service.drain().then(() => true),
      sleep(3_000).then(() => false),
    ]);
    assert.ok(drained, "the drain waited for connections with no request");
    assert.ok(performance.now() - started < 1_500);
    await Promise.all([silent.closed, partial.closed]);
  });

  it("a drain leaves a connection a whole grace after its last response: a keep-alive response that ends just before a pass, and the next request sent after it, are both answered (the pass cut the connection)", async () => {
    // The response's head goes out with keep-alive before the drain; its body ends 400 ms into
    // the drain, just before the pass at 500 ms. The client sends its next request 100 ms after
    // that pass: before, the pass found the connection idle and closed it, and the request failed.
    let finish = (): void => undefined;
    const served = await start({
      fetch: (request) =>
        new URL(request.url).pathname === "/slow"
          ? new Response(
              new ReadableStream({
                start(controller) {
                  controller.enqueue(new TextEncoder().encode("first\n"));
                  finish = () => {
                    controller.enqueue(new TextEncoder().encode("last\n"));
                    controller.close();
                  };
                },
              }),
            )
          : new Response("next\n"),
    });
    const client = await open(served.port);
    client.socket.write(GET("/slow"));
    assert.ok(await until(() => client.text().includes("first"), 2_000), "the head went out");
    assert.match(client.text(), /Connection: keep-alive/i);
    const drained = served.service.drain();
    await sleep(400);
    finish();
    assert.ok(await until(() => client.text().includes("last"), 2_000), "the slow response ended");
    await sleep(200);
    client.socket.write(GET("/next"));
    assert.ok(
      await until(() => client.text().includes("next\n"), 2_000),
      `the next request was answered: ${JSON.stringify(client.text().slice(-200))}`,
    );
    assert.match(client.text().slice(client.text().lastIndexOf("HTTP/1.1")), /Connection: close/i);
    await client.closed;
    await drained;
  });

  it("destroy resolves once the cut requests are logged and their streams cancelled (stop 26)", async () => {
    const stats = { cancelled: 0, pulls: 0 };
    const served = await start({ fetch: () => new Response(endless(stats)) });
    const { socket, text } = await open(served.port);
    socket.write(GET("/stream"));
    assert.ok(await until(() => text().includes("data: x"), 5_000));
    await served.service.destroy();
    assert.deepEqual(
      served.entries().map((e) => [e.url, e.status]),
      [["/stream", 200]],
    );
    assert.equal(stats.cancelled, 1);
  });

  it("while draining, writeHead with a flat list keeps every set-cookie, in flight and arriving (stop 26)", async () => {
    let release = (): void => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    const served = await start({
      handler: async (req: IncomingMessage, res: ServerResponse) => {
        if (req.url === "/held") await held;
        res.writeHead(200, ["set-cookie", "a=1", "set-cookie", "b=2", "content-length", "3"]);
        res.end("ok\n");
      },
    });
    const inFlight = await open(served.port);
    inFlight.socket.write(GET("/held"));
    const arriving = await open(served.port);
    arriving.socket.write(GET("/first"));
    assert.ok(await until(() => arriving.text().includes("ok\n"), 5_000));
    await sleep(20);
    const drained = served.service.drain();
    arriving.socket.write(GET("/second"));
    release();
    await Promise.all([inFlight.closed, arriving.closed, drained]);
    const second = arriving.text().slice(arriving.text().lastIndexOf("HTTP/1.1 "));
    for (const text of [inFlight.text(), second]) {
      assert.match(text, /set-cookie: a=1\r\n/i);
      assert.match(text, /set-cookie: b=2\r\n/i);
      assert.match(text, /connection: close\r\n/i);
    }
  });

  it("while draining, a fetch app's own connection: keep-alive (a proxied upstream's) still answers with Connection: close", async () => {
    let release = (): void => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    const served = await start({
      fetch: async () => {
        await held;
        return new Response("proxied\n", {
          headers: { connection: "keep-alive", "keep-alive": "timeout=99" },
        });
      },
    });
    const { socket, text, closed } = await open(served.port);
    socket.write(GET("/held"));
    assert.ok(await until(() => served.service.counts?.().inFlight === 1, 5_000));
    const drained = served.service.drain();
    release();
    await Promise.all([closed, drained]);
    assert.match(text(), /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(text(), /connection: close\r\n/i);
    assert.doesNotMatch(text(), /keep-alive/i);
  });

  it("counts in flight, and a drain closes after their response, every connection's requests: the one holding a pipelined connection too", async () => {
    const releases: (() => void)[] = [];
    const served = await start({
      handler: async (req: IncomingMessage, res: ServerResponse) => {
        if (req.url === "/held") await new Promise<void>((resolve) => releases.push(resolve));
        res.end(`${req.url ?? ""}\n`);
      },
    });
    const idle = await open(served.port);
    idle.socket.write(GET("/before"));
    assert.ok(await until(() => idle.text().includes("/before\n"), 5_000));
    const single = await open(served.port);
    single.socket.write(GET("/held"));
    const pipelined = await open(served.port);
    pipelined.socket.write(GET("/held") + GET("/queued"));
    assert.ok(await until(() => served.service.counts?.().inFlight === 3 && releases.length === 2, 5_000));
    const drained = served.service.drain();
    for (const release of releases) release();
    await Promise.all([single.closed, pipelined.closed, idle.closed, drained]);
    assert.match(single.text(), /^HTTP\/1\.1 200 OK\r\n[^]*connection: close\r\n[^]*\/held\n$/i);
    // The queued request is answered too (its app ran, its head made with keep-alive before the
    // drain); then the idle connection is closed. Before, /held's close dropped it.
    const [held = "", queued = ""] = pipelined.text().split(/(?=HTTP\/1\.1 )/);
    assert.match(held, /^HTTP\/1\.1 200 OK\r\n[^]*connection: keep-alive\r\n[^]*\/held\n$/i);
    assert.match(queued, /^HTTP\/1\.1 200 OK\r\n[^]*\/queued\n$/i);
    assert.deepEqual(served.service.counts?.(), { requests: 4, inFlight: 0, upgraded: 0 });
  });

  it("logs each pipelined response's own bytes, not the connection's running total (stop 26)", async () => {
    const served = await start({
      fetch: async () => {
        await sleep(20);
        return new Response("x".repeat(100));
      },
    });
    const { socket, closed } = await open(served.port);
    socket.write(GET("/q").repeat(3) + GET("/q", true));
    await closed;
    assert.ok(await until(() => served.entries().length === 4, 5_000));
    const bytes = served.entries().map((e) => e.bytes);
    assert.ok(
      bytes.every((b) => b > 100 && b < 300),
      JSON.stringify(bytes),
    );
  });

  it("logs a response whose body failed after its head went out with the status sent, not 499 (stop 26)", async () => {
    const served = await start({
      fetch: () =>
        new Response(
          new ReadableStream<Uint8Array>({
            async pull(controller) {
              controller.enqueue(new TextEncoder().encode("part"));
              await sleep(20);
              controller.error(new Error("source failed"));
            },
          }),
        ),
    });
    const { socket, closed } = await open(served.port);
    socket.write(GET("/fails"));
    await closed;
    assert.ok(await until(() => served.entries().length === 1, 5_000));
    assert.equal(served.entries()[0]?.status, 200);
  });

  it("reads no body ahead for a response queued behind another (stop 26)", async () => {
    const stats = { cancelled: 0, pulls: 0 };
    let release = (): void => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    const served = await start({
      fetch: async (request) => {
        if (new URL(request.url).pathname === "/held") {
          await held;
          return new Response("held\n");
        }
        return new Response(
          new ReadableStream<Uint8Array>({
            pull(controller) {
              stats.pulls++;
              controller.enqueue(new Uint8Array(64 * 1024));
              if (stats.pulls === 20) controller.close();
            },
          }),
        );
      },
    });
    const { socket, closed } = await open(served.port);
    socket.write(GET("/held") + GET("/queued", true));
    await sleep(200);
    const ahead = stats.pulls;
    release();
    await closed;
    assert.ok(ahead <= 1, `${ahead} chunks pulled while queued`);
    assert.equal(stats.pulls, 20);
  });

  it("answers HEAD to a body that never ends with the head alone, cancels the body, and answers the next request (stop 26)", async () => {
    const stats = { cancelled: 0, pulls: 0 };
    const served = await start({
      fetch: (request) =>
        new URL(request.url).pathname === "/next" ? new Response("next\n") : new Response(endless(stats)),
    });
    const { socket, text, closed } = await open(served.port);
    socket.write(`HEAD /sse HTTP/1.1\r\nHost: h\r\n\r\n${GET("/next", true)}`);
    await Promise.race([closed, sleep(3_000)]);
    assert.match(text(), /\r\n\r\nHTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nnext\n$/);
    assert.doesNotMatch(text(), /data: x/);
    assert.ok(await until(() => stats.cancelled === 1, 2_000));
  });
  it("bytes that are no request, pipelined behind requests answered at once, are not answered in the place of the one queued behind them: the connection closes after the answers sent, the queued one logged 444 (a 400 took its place, logged as its 200)", async () => {
    const served = await start({
      handler: (req: IncomingMessage, res: ServerResponse) => res.end(`ok ${req.url ?? ""}\n`),
    });
    const { socket, text, closed } = await open(served.port);
    // One packet: Node reads it in one go, the first answer ends before the bad bytes are read.
    socket.write(`${GET("/1")}${GET("/2")}GARBAGE\r\n\r\n`);
    assert.equal(await Promise.race([closed.then(() => "closed"), sleep(3_000)]), "closed", text());
    // As Node answers it: the first response, then the close (no 400 where /2's answer belongs).
    assert.match(text(), /^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nok \/1\n$/);
    assert.ok(await until(() => served.entries().length === 2, 2_000), JSON.stringify(served.entries()));
    assert.deepEqual(
      served.entries().map((e) => [e.url, e.status, e.bytes]),
      [
        ["/1", 200, text().length],
        ["/2", 444, 0],
      ],
    );
  });
  it("refuses a second Host line past Node's 2000th header with 400 Invalid host header: Node dropped the lines past it unseen, and the request was served with the first Host", async () => {
    const served = await start({ fetch: (request) => new Response(`${request.url}\n`) });
    // 2,100 short lines, within maxHeaderSize.
    const filler = "x: y\r\n".repeat(2_100);
    const { socket, text, closed } = await open(served.port);
    socket.write(`GET / HTTP/1.1\r\nHost: good.example\r\n${filler}Host: evil.example\r\n\r\n`);
    assert.equal(await Promise.race([closed.then(() => "closed"), sleep(3_000)]), "closed", text());
    assert.match(text(), /^HTTP\/1\.1 400 Bad Request\r\n[^]*\r\n\r\nInvalid host header\n$/);
  });
  it("serves with timeouts given in fractions of a second that are no whole number of milliseconds in floating point (16.1 s is 16100.000000000002 ms): Node's server threw, and every worker died as it began to listen", async () => {
    for (const http of [
      { headersTimeout: 16.1, requestTimeout: 32.7 },
      // A quarter of the shortest, Node's checking interval: 312.5 ms.
      { headersTimeout: 1.25 },
    ]) {
      const served = await start({ fetch: () => new Response("ok\n") }, http);
      const { socket, text, closed } = await open(served.port);
      socket.write(GET("/", true));
      assert.equal(await Promise.race([closed.then(() => "closed"), sleep(3_000)]), "closed", text());
      assert.match(text(), /^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nok\n$/, JSON.stringify(http));
    }
  });

  describe("the send timeout (http.sendTimeout, nginx's send_timeout)", () => {
    /** More than the loopback's socket buffers on both sides hold, so that bytes wait in the worker. */
    const BIG = 48 * 1024 * 1024;
    const big = (): App => ({
      handler: (_req: IncomingMessage, res: ServerResponse) => res.end(Buffer.alloc(BIG, 120)),
    });

    it("closes a connection whose client asked for a large response and reads none of it: the worker let go of what it held, logged at info, the access log has the status sent and its bytes (it held them for ever)", async () => {
      const served = await start(big(), { sendTimeout: 1 });
      const { socket, text, closed } = await open(served.port);
      socket.pause();
      socket.write(GET("/big"));
      const line =
        /^\[info\] closed a connection whose client took none of the response for 1 s \(http\.sendTimeout\) \(GET \/big\)$/;
      assert.ok(await until(() => served.logs.some((l) => line.test(l)), 5_000), served.logs.join("\n"));
      assert.ok(await until(() => served.entries().length === 1, 2_000));
      const [entry] = served.entries();
      assert.ok(entry !== undefined);
      assert.equal(entry.status, 200);
      assert.ok(entry.bytes > 0 && entry.bytes <= BIG + 200, JSON.stringify(entry));
      // What the kernel had taken reaches the client, then the close: not the whole body.
      socket.resume();
      assert.equal(await Promise.race([closed.then(() => "closed"), sleep(5_000)]), "closed");
      assert.match(text(), /^HTTP\/1\.1 200 OK\r\n/);
      assert.ok(text().length < BIG, `${text().length} bytes`);
      assert.equal(served.logs.filter((l) => l.startsWith("[error]")).length, 0, served.logs.join("\n"));
    });

    it("keeps a client that reads slowly but keeps reading, past the timeout many times over: it gets the whole response", async () => {
      const served = await start(big(), { sendTimeout: 0.5 });
      const { socket, text, closed } = await open(served.port);
      socket.pause();
      socket.write(GET("/big", true));
      // A burst of reading every 300 ms: the worker's bytes wait between bursts, never 0.5 s idle.
      const reading = setInterval(() => {
        socket.resume();
        setTimeout(() => socket.pause(), 20);
      }, 300);
      after(() => clearInterval(reading));
      const started = performance.now();
      await Promise.race([closed, sleep(60_000)]);
      clearInterval(reading);
      const head = text().indexOf("\r\n\r\n") + 4;
      assert.equal(text().length - head, BIG, `the whole body; ${served.logs.join("\n")}`);
      assert.ok(performance.now() - started > 1_000, "it took longer than the timeout");
      assert.equal(served.logs.filter((l) => l.includes("sendTimeout")).length, 0, served.logs.join("\n"));
    });
  });
});

/** Sends `total` bytes of body on `socket`, `chunk` bytes every `everyMs`; resolves with when the last went out. */
async function trickle(socket: Socket, total: number, chunk: number, everyMs: number): Promise<number> {
  for (let sent = 0; sent < total; sent += chunk) {
    socket.write(Buffer.alloc(Math.min(chunk, total - sent), 120));
    await sleep(everyMs);
  }
  return performance.now();
}

/** Collects a client socket's errors (a reset, a broken pipe). */
function errorsOf(socket: Socket): string[] {
  const errors: string[] = [];
  socket.on("error", (error: NodeJS.ErrnoException) => errors.push(error.code ?? error.message));
  return errors;
}

describe("the worker's HTTP service: what a drain owes requests already under way (stop 50)", () => {
  it("answers every request pipelined before or during a drain, the last with Connection: close: each one's app ran (the first closed the connection and the others were lost)", async () => {
    const ran: string[] = [];
    const releases: (() => void)[] = [];
    const served = await start({
      handler: async (req: IncomingMessage, res: ServerResponse) => {
        ran.push(req.url ?? "");
        await new Promise<void>((resolve) => releases.push(resolve));
        res.end(`${req.url ?? ""}\n`);
      },
    });
    const { socket, text, closed } = await open(served.port);
    socket.write(GET("/a") + GET("/b"));
    assert.ok(await until(() => ran.length === 2, 5_000));
    const drained = served.service.drain();
    socket.write(GET("/c"));
    assert.ok(
      await until(() => ran.length === 3, 5_000),
      "the request sent during the drain reached the app",
    );
    for (const release of releases) release();
    await Promise.race([closed, sleep(3_000)]);
    await drained;
    const responses = text().split(/(?=HTTP\/1\.1 )/);
    assert.deepEqual(
      responses.map((r) => [
        /connection: (\S+)\r\n/i.exec(r)?.[1],
        r.slice(r.lastIndexOf("\n", r.length - 2) + 1),
      ]),
      [
        ["keep-alive", "/a\n"],
        ["keep-alive", "/b\n"],
        ["close", "/c\n"],
      ],
    );
    assert.deepEqual(
      served.entries().map((e) => [e.url, e.status]),
      [
        ["/a", 200],
        ["/b", 200],
        ["/c", 200],
      ],
    );
  });

  it("keeps a connection open while the body of a request answered before the drain still arrives, then closes it: the client's upload is not cut", async () => {
    const served = await start({
      handler: (_req: IncomingMessage, res: ServerResponse) => res.end("early\n"),
    });
    const { socket, text, closed } = await open(served.port, true);
    const errors = errorsOf(socket);
    socket.write(`POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 300000\r\n\r\n`);
    socket.write(Buffer.alloc(10_000, 120));
    assert.ok(await until(() => text().includes("early"), 5_000));
    let endedAt = 0;
    socket.once("end", () => (endedAt = performance.now()));
    const drained = served.service.drain();
    // 29 more chunks, 50 ms apart: the body ends ~1.5 s into the drain, past its 0.5 s grace.
    const bodyEnd = await trickle(socket, 290_000, 10_000, 50);
    assert.ok(await until(() => endedAt > 0, 3_000), "the server closed the connection once the body was in");
    socket.end();
    await closed;
    await drained;
    assert.deepEqual(errors, [], "the client's writes met no reset");
    assert.ok(endedAt >= bodyEnd, "the server closed after the body ended");
    assert.deepEqual(
      served.entries().map((e) => [e.url, e.status]),
      [["/up", 200]],
    );
  });

  it("closes a connection whose response went out during the drain while its body still arrives by lingering: what the client still sends is read, it meets no reset", async () => {
    const served = await start({
      handler: async (_req: IncomingMessage, res: ServerResponse) => {
        await sleep(300);
        res.end("late\n");
      },
    });
    const { socket, text, closed } = await open(served.port, true);
    const errors = errorsOf(socket);
    socket.write(`POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 300000\r\n\r\n`);
    socket.write(Buffer.alloc(10_000, 120));
    assert.ok(await until(() => served.service.counts?.().inFlight === 1, 5_000));
    const drained = served.service.drain();
    const bodyEnd = await trickle(socket, 290_000, 10_000, 50);
    socket.end();
    await closed;
    await drained;
    assert.match(text(), /^HTTP\/1\.1 200 OK\r\n[^]*connection: close\r\n[^]*late\n$/i);
    assert.ok(performance.now() >= bodyEnd);
    assert.deepEqual(errors, [], "the client's writes met no reset");
  });

  it("logs a request cut at the end of the drain (destroy) with nothing sent as 444, not as a client that left (499)", async () => {
    const served = await start({ fetch: () => new Promise<Response>(() => undefined) });
    const { socket, closed } = await open(served.port);
    socket.write(GET("/never"));
    assert.ok(await until(() => served.service.counts?.().inFlight === 1, 5_000));
    void served.service.drain();
    await sleep(100);
    await served.service.destroy();
    await closed;
    assert.deepEqual(
      served.entries().map((e) => [e.url, e.status]),
      [["/never", 444]],
    );
  });

  it("a client that shuts its side inside a request body: after the request was answered, no second line (it was a phantom '-' 400); before, the request's line says 499", async () => {
    const served = await start({
      fetch: async (request) => {
        if (new URL(request.url).pathname === "/early") return new Response("no\n", { status: 404 });
        await request.arrayBuffer();
        return new Response("read\n");
      },
    });
    const early = await open(served.port, true);
    early.socket.write(`POST /early HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\n`);
    early.socket.write(Buffer.alloc(1_000, 120));
    assert.ok(await until(() => early.text().includes("no\n"), 5_000));
    early.socket.end();
    await early.closed;
    const reading = await open(served.port, true);
    reading.socket.write(`POST /read HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\n`);
    reading.socket.write(Buffer.alloc(1_000, 120));
    assert.ok(await until(() => served.service.counts?.().inFlight === 1, 5_000));
    reading.socket.end();
    await reading.closed;
    assert.ok(await until(() => served.entries().length >= 2, 5_000));
    await sleep(200);
    assert.deepEqual(
      served.entries().map((e) => [e.url, e.status]),
      [
        ["/early", 404],
        ["/read", 499],
      ],
    );
    assert.equal(reading.text(), "", "nothing was written to a client that left");
  });

  it("logs each pipelined response's own bytes when they go out together, behind a slow one", async () => {
    // Ended while queued, a response waits in Node's buffer and goes out with the one before it:
    // its bytes were charged to that one (338, 172, 0 for 168, 170, 172).
    const served = await start({
      handler: async (req: IncomingMessage, res: ServerResponse) => {
        if (req.url === "/slow") await sleep(200);
        res.end((req.url ?? "").repeat(20));
      },
    });
    const { socket, text, closed } = await open(served.port);
    socket.write(GET("/slow") + GET("/a") + GET("/bb", true));
    await closed;
    assert.ok(await until(() => served.entries().length === 3, 5_000));
    const wire = text()
      .split(/(?=HTTP\/1\.1 )/)
      .map((response) => Buffer.byteLength(response, "latin1"));
    assert.deepEqual(
      served.entries().map((e) => e.bytes),
      wire,
    );
  });

  it("a draining worker answers an upgrade with 503 and closes, without the app's upgrade: a session there would only be cut", async () => {
    let upgrades = 0;
    const served = await start({
      fetch: () => new Response("ok\n"),
      upgrade: (_req, socket) => {
        upgrades++;
        socket.end("HTTP/1.1 101 Switching Protocols\r\n\r\n");
      },
    });
    const { socket, text, closed } = await open(served.port);
    socket.write(GET("/"));
    assert.ok(await until(() => text().includes("ok\n"), 5_000));
    const drained = served.service.drain();
    socket.write("GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
    await Promise.race([closed, sleep(3_000)]);
    await drained;
    assert.match(text(), /ok\nHTTP\/1\.1 503 Service Unavailable\r\nconnection: close\r\n/);
    assert.equal(upgrades, 0);
    // Logged as nginx logs it, with the bytes of the 503 (it had no line).
    const refused = text().slice(text().indexOf("HTTP/1.1 503"));
    assert.ok(await until(() => served.entries().length === 2, 5_000), JSON.stringify(served.entries()));
    assert.deepEqual(
      served.entries().map(({ url, status, bytes }) => ({ url, status, bytes })),
      [
        { url: "/", status: 200, bytes: text().length - refused.length },
        { url: "/ws", status: 503, bytes: refused.length },
      ],
    );
  });

  it("answers an HTTP/1.1 request without Host with 400 Invalid host header and logs it, for fetch and handler apps alike (Node answered it, unlogged)", async () => {
    for (const app of [
      { fetch: () => new Response("ok\n") },
      { handler: (_req: IncomingMessage, res: ServerResponse) => res.end("ok\n") },
    ]) {
      const served = await start(app);
      const { socket, text, closed } = await open(served.port);
      socket.write("GET /no-host HTTP/1.1\r\n\r\n");
      await Promise.race([closed, sleep(3_000)]);
      assert.match(text(), /^HTTP\/1\.1 400 Bad Request\r\n[^]*\r\n\r\nInvalid host header\n$/);
      assert.ok(await until(() => served.entries().length === 1, 2_000));
      assert.deepEqual(
        served.entries().map((e) => [e.url, e.status]),
        [["/no-host", 400]],
      );
    }
  });
});
