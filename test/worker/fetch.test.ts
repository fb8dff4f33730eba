import assert from "node:assert/strict";
import { get as httpGet, request as httpRequest, type IncomingMessage } from "node:http";
import { connect } from "node:net";
import { Readable } from "node:stream";
import { after, describe, it } from "node:test";
import { until } from "../helpers/tree.ts";
import { rawRequest } from "./raw.ts";
import { GET, serve } from "./serve.ts";

describe("the fetch adapter", () => {
  it("sends a body that is already complete at once, with content-length and no chunking", async () => {
    const { port } = await serve((request) => {
      switch (new URL(request.url).pathname) {
        case "/json":
          return Response.json({ ok: true });
        case "/bytes":
          return new Response(new Uint8Array([104, 105]));
        case "/queued":
          return new Response(
            new ReadableStream({
              start(controller) {
                controller.enqueue(new TextEncoder().encode("a"));
                controller.enqueue(new TextEncoder().encode("bc"));
                controller.close();
              },
            }),
          );
        default:
          return new Response("hello\n");
      }
    });
    for (const [path, body] of [
      ["/", "hello\n"],
      ["/json", '{"ok":true}'],
      ["/bytes", "hi"],
      ["/queued", "abc"],
    ] as const) {
      const response = await rawRequest(port, GET(path));
      assert.equal(response.status, 200, path);
      assert.equal(response.header("content-length"), String(body.length), path);
      assert.equal(response.header("transfer-encoding"), undefined, path);
      assert.equal(response.body, body, path);
    }
  });

  it("answers HEAD with the body's length and no body, and gives 204 no content-length", async () => {
    const { port } = await serve((request) =>
      new URL(request.url).pathname === "/none" ? new Response(null, { status: 204 }) : new Response("12345"),
    );
    const head = await rawRequest(port, "HEAD / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    assert.equal(head.header("content-length"), "5");
    assert.equal(head.body, "");
    const none = await rawRequest(port, GET("/none"));
    assert.equal(none.status, 204);
    assert.equal(none.header("content-length"), undefined);
  });

  it("frames the body itself: an app's content-length that does not match, or its transfer-encoding, never desyncs the connection", async () => {
    const { port, failures } = await serve((request) => {
      const path = new URL(request.url).pathname;
      if (path === "/small") return new Response("longer body here", { headers: { "content-length": "3" } });
      if (path === "/both")
        return new Response("hello", { headers: { "content-length": "5", "transfer-encoding": "chunked" } });
      if (path === "/bogus") return new Response("abc", { headers: { "content-length": "abc" } });
      if (path === "/head") return new Response(null, { headers: { "content-length": "1234" } });
      if (path === "/stream-short") {
        const body = new ReadableStream<Uint8Array>({
          async pull(controller) {
            await new Promise((r) => setTimeout(r, 5));
            controller.enqueue(new TextEncoder().encode("0123456789"));
            controller.close();
          },
        });
        return new Response(body, { headers: { "content-length": "4" } });
      }
      return new Response("next response");
    });
    // Two requests on one connection: before, "longer body here" ran 13 bytes into the second
    // response, and /both went out with content-length and transfer-encoding together.
    for (const path of ["/small", "/both", "/bogus"]) {
      const text = (
        await rawRequest(
          port,
          `GET ${path} HTTP/1.1\r\nHost: h\r\n\r\nGET /next HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n`,
        )
      ).body;
      const [first, second] = text.split("HTTP/1.1 200 OK");
      assert.ok(second !== undefined, `${path}: ${JSON.stringify(text)}`);
      assert.equal(text.split("HTTP/1.1 ").length, 2, `${path}: exactly the two responses`);
      assert.match(second, /\r\n\r\nnext response$/, path);
      assert.doesNotMatch(first ?? "", /transfer-encoding/i, path);
    }
    const small = await rawRequest(port, GET("/small"));
    assert.equal(small.header("content-length"), "16");
    assert.equal(small.body, "longer body here");
    const both = await rawRequest(port, GET("/both"));
    assert.deepEqual(
      [both.header("content-length"), both.header("transfer-encoding"), both.body],
      ["5", undefined, "hello"],
    );
    // HEAD: the app's own length is the one to advertise (no body goes out).
    const head = await rawRequest(port, "HEAD /head HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    assert.deepEqual([head.header("content-length"), head.body], ["1234", ""]);
    // A streamed body longer than the app's content-length fails (logged) and the connection is
    // closed, rather than sending bytes past the length.
    const short = await rawRequest(port, GET("/stream-short"));
    assert.equal(short.header("content-length"), "4");
    assert.ok(short.body.length <= 4, JSON.stringify(short.body));
    assert.equal(failures.length, 1);
    assert.match(String(failures[0]), /content-length|ERR_HTTP_CONTENT_LENGTH_MISMATCH/i);
  });

  it("owns the connection: an app's connection and keep-alive headers (a proxied upstream's) never keep open a connection the client closes", async () => {
    const { port } = await serve((request) => {
      const path = new URL(request.url).pathname;
      if (path === "/close") return new Response("bye", { headers: { connection: "close" } });
      // What `return fetch(upstream)` hands back: the upstream's own hop-by-hop headers.
      const headers = { connection: "keep-alive", "keep-alive": "timeout=99" };
      if (path === "/stream") {
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            setTimeout(() => {
              controller.enqueue(new TextEncoder().encode("streamed"));
              controller.close();
            }, 5);
          },
        });
        return new Response(body, { headers });
      }
      return new Response("proxied", { headers });
    });
    for (const path of ["/", "/stream"]) {
      // The client asks for the connection to close: before, it stayed open (no end of response).
      const closed = await rawRequest(port, GET(path), 2_000);
      assert.equal(closed.header("connection"), "close", path);
      assert.equal(closed.header("keep-alive"), undefined, path);
    }
    // A keep-alive client is told the server's own timeout; an app's "connection: close" still closes.
    const kept = await rawRequest(
      port,
      "GET / HTTP/1.1\r\nHost: h\r\n\r\nGET /close HTTP/1.1\r\nHost: h\r\n\r\n",
      2_000,
    );
    assert.deepEqual(
      kept.headers.filter(([name]) => name === "connection" || name === "keep-alive"),
      [
        ["connection", "keep-alive"],
        ["keep-alive", "timeout=5"],
      ],
    );
    assert.match(kept.body, /^proxiedHTTP\/1\.1 200 OK\r\n[^]*connection: close\r\n\r\nbye$/i);
  });

  it("keeps every set-cookie line and the status text, also when a header was set before", async () => {
    for (const presetHeader of [false, true]) {
      const { port } = await serve(
        () => {
          const headers = new Headers([["x-one", "1"]]);
          headers.append("set-cookie", "a=1");
          headers.append("set-cookie", "b=2");
          return new Response("ok", { status: 201, statusText: "Made", headers });
        },
        { presetHeader },
      );
      const response = await rawRequest(port, GET("/"));
      assert.equal(response.status, 201);
      assert.deepEqual(
        response.headers.filter(([name]) => name === "set-cookie").map(([, value]) => value),
        ["a=1", "b=2"],
        `presetHeader ${presetHeader}`,
      );
      assert.equal(response.header("x-one"), "1");
      if (presetHeader) assert.equal(response.header("connection"), "close");
    }
  });

  it("streams a body that is still coming: headers first, then chunks as they come", async () => {
    let release = (): void => undefined;
    const { port } = await serve(
      () =>
        new Response(
          new ReadableStream({
            start(controller) {
              release = () => {
                controller.enqueue(new TextEncoder().encode("late"));
                controller.close();
              };
            },
          }),
        ),
    );
    const response = await new Promise<IncomingMessage>((resolve) =>
      httpGet({ port, host: "127.0.0.1" }, resolve),
    );
    assert.equal(response.headers["transfer-encoding"], "chunked");
    release();
    let body = "";
    for await (const chunk of response) body += String(chunk);
    assert.equal(body, "late");
  });

  it("gives the app a Request: instanceof, headers, bodies, clone, and usable as another Request's init", async () => {
    const seen: Record<string, unknown>[] = [];
    const { port, failures } = await serve(async (request) => {
      const copy = new Request("http://upstream.example/x", request);
      seen.push({
        isRequest: request instanceof Request,
        tag: Object.prototype.toString.call(request),
        method: request.method,
        url: request.url,
        agent: request.headers.get("x-agent"),
        aborted: request.signal.aborted,
        copyMethod: copy.method,
        copyAgent: copy.headers.get("x-agent"),
        clone: await request.clone().text(),
        json: await request.json(),
        bodyUsed: request.bodyUsed,
      });
      return new Response("ok");
    });
    const response = await fetch(`http://127.0.0.1:${port}/p?q=1`, {
      method: "POST",
      headers: { "x-agent": "test", "content-type": "application/json" },
      body: JSON.stringify({ a: 1 }),
    });
    assert.equal(await response.text(), "ok");
    assert.deepEqual(failures, []);
    assert.deepEqual(seen, [
      {
        isRequest: true,
        tag: "[object Request]",
        method: "POST",
        url: `http://127.0.0.1:${port}/p?q=1`,
        agent: "test",
        aborted: false,
        copyMethod: "POST",
        copyAgent: "test",
        clone: '{"a":1}',
        json: { a: 1 },
        bodyUsed: true,
      },
    ]);
  });

  it("builds the Request lazily: an app that reads only method, url and headers makes no body stream, AbortController or web Request", async () => {
    const made = { controllers: 0, requests: 0, bodyStreams: 0 };
    const { AbortController: RealController, Request: RealRequest } = globalThis;
    const realToWeb = Readable.toWeb.bind(Readable);
    // The adapter looks these up when it needs them, so counting wrappers see every construction.
    globalThis.AbortController = class extends RealController {
      constructor() {
        super();
        made.controllers++;
      }
    };
    globalThis.Request = class extends RealRequest {
      constructor(...args: ConstructorParameters<typeof Request>) {
        super(...args);
        made.requests++;
      }
    };
    Readable.toWeb = (...args: Parameters<typeof Readable.toWeb>) => {
      made.bodyStreams++;
      return realToWeb(...args);
    };
    try {
      const { port, failures } = await serve(async (request) => {
        const path = new URL(request.url).pathname;
        if (path === "/signal") return new Response(String(request.signal.aborted));
        if (path === "/body") return new Response(await request.text());
        return new Response(`${request.method} ${path} ${request.headers.get("x-test") ?? ""}`);
      });
      const post = (path: string): string =>
        `POST ${path} HTTP/1.1\r\nHost: localhost\r\nX-Test: t\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc`;
      const counts = async (request: string, body: string): Promise<typeof made> => {
        const response = await rawRequest(port, request);
        assert.equal(response.body, body);
        return { ...made };
      };
      // A POST whose body the app never reads, then a GET: nothing but the Headers is built.
      assert.deepEqual(await counts(post("/"), "POST / t"), { controllers: 0, requests: 0, bodyStreams: 0 });
      assert.deepEqual(await counts(GET("/"), "GET / "), { controllers: 0, requests: 0, bodyStreams: 0 });
      // The counting works: `signal` makes the AbortController alone; reading the body makes the rest.
      assert.deepEqual(await counts(GET("/signal"), "false"), {
        controllers: 1,
        requests: 0,
        bodyStreams: 0,
      });
      const read = await counts(post("/body"), "abc");
      assert.equal(read.requests, 1);
      assert.equal(read.bodyStreams, 1);
      assert.deepEqual(failures, []);
    } finally {
      globalThis.AbortController = RealController;
      globalThis.Request = RealRequest;
      Readable.toWeb = realToWeb;
    }
  });

  it("discards the rest of a request body the app left unread (touched, cancelled) once it answered, so the connection's next request is answered", async () => {
    const { port } = await serve(async (request) => {
      const path = new URL(request.url).pathname;
      if (path === "/touched") assert.notEqual(request.body, null);
      if (path === "/cancelled") await request.body?.cancel();
      if (path === "/later") {
        // Read on after the response (a 202 and a job): the body must arrive whole, not cut short.
        const reading = request.arrayBuffer();
        void reading.then((body) => (laterBytes = body.byteLength));
        return new Response("accepted\n", { status: 202 });
      }
      return new Response(`${path}\n`);
    });
    let laterBytes = -1;
    const size = 32 << 20;
    for (const path of ["/touched", "/cancelled", "/later"]) {
      const text = await new Promise<string>((resolve, reject) => {
        const socket = connect(port, "127.0.0.1");
        let received = "";
        const timer = setTimeout(() => {
          socket.destroy();
          reject(new Error(`${path}: no second response within 4 s; got ${JSON.stringify(received)}`));
        }, 4_000);
        socket.setEncoding("latin1");
        socket.on("data", (chunk: string) => (received += chunk));
        socket.on("error", () => undefined);
        socket.on("close", () => {
          clearTimeout(timer);
          resolve(received);
        });
        socket.write(`POST ${path} HTTP/1.1\r\nHost: h\r\nContent-Length: ${size}\r\n\r\n`);
        const chunk = Buffer.alloc(1 << 20);
        let sent = 0;
        const pump = (): void => {
          while (sent < size) {
            sent += chunk.length;
            if (!socket.write(chunk)) {
              socket.once("drain", pump);
              return;
            }
          }
          socket.write(GET("/next"));
        };
        pump();
      });
      assert.match(text, /\r\n\r\n\/next\n$/, path);
    }
    assert.equal(laterBytes, size);
  });

  it("an app that starts reading the body and answers 202 in the same synchronous step reads on every byte (it read none: Node discarded the body as unread before the stream's first pull)", async () => {
    const read = new Map<string, number | string>();
    const { port } = await serve((request) => {
      const path = new URL(request.url).pathname;
      void request.arrayBuffer().then(
        (body) => read.set(path, body.byteLength),
        (error: unknown) => read.set(path, String(error)),
      );
      return new Response("accepted\n", { status: 202 });
    });
    for (const [path, size, late] of [
      ["/small", 5, false],
      ["/large", 100_000, false],
      ["/later", 5_000, true],
    ] as const) {
      const body = "x".repeat(size);
      // Kept alive, so that a body sent after the 202 (late) still has a connection to go on.
      const head = `POST ${path} HTTP/1.1\r\nHost: h\r\nContent-Length: ${size}\r\n\r\n`;
      const socket = connect(port, "127.0.0.1");
      let text = "";
      socket.setEncoding("latin1");
      socket.on("data", (chunk: string) => (text += chunk));
      socket.on("error", () => undefined);
      socket.write(late ? head : head + body);
      assert.ok(
        await until(() => text.includes("accepted\n"), 4_000),
        `${path}: no 202; got ${JSON.stringify(text)}`,
      );
      assert.match(text, /^HTTP\/1\.1 202 /, path);
      if (late) socket.write(body);
      assert.ok(await until(() => read.has(path), 2_000), `${path}: the read never settled`);
      socket.destroy();
      assert.equal(read.get(path), size, path);
    }
  });

  it("an app that answered 202 and reads on sees its read rejected when the client leaves mid-body (it waited for ever)", async () => {
    let outcome: string | undefined;
    const { port } = await serve((request) => {
      request.arrayBuffer().then(
        (body) => (outcome = `read ${body.byteLength} bytes`),
        (error: unknown) => (outcome = String(error)),
      );
      return new Response("accepted\n", { status: 202 });
    });
    const socket = connect(port, "127.0.0.1");
    let text = "";
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => (text += chunk));
    socket.on("error", () => undefined);
    socket.write(`POST /job HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\n\r\n${"x".repeat(300)}`);
    assert.ok(await until(() => text.includes("accepted\n"), 4_000), `no 202; got ${JSON.stringify(text)}`);
    socket.destroy();
    assert.ok(await until(() => outcome !== undefined, 3_000), "the read never settled");
    assert.match(outcome ?? "", /aborted/);
  });

  it("an app that first touches the body after its response went out gets an error saying the body was discarded, not a client's 'aborted', and never part of the body", async () => {
    const read = new Map<string, string>();
    const { port } = await serve((request) => {
      const path = new URL(request.url).pathname;
      setTimeout(() => {
        request.arrayBuffer().then(
          (body) => read.set(path, `read ${body.byteLength} bytes`),
          (error: unknown) => read.set(path, String(error)),
        );
      }, 100);
      return new Response("accepted\n", { status: 202 });
    });
    for (const [path, size] of [
      ["/small", 5],
      ["/large", 8 << 20],
    ] as const) {
      const socket = connect(port, "127.0.0.1");
      socket.on("error", () => undefined);
      socket.resume();
      socket.write(`POST ${path} HTTP/1.1\r\nHost: h\r\nContent-Length: ${size}\r\n\r\n`);
      // The large body is still arriving when the app touches it.
      const chunk = Buffer.alloc(Math.min(size, 1 << 20), 120);
      for (let sent = 0; sent < size; sent += chunk.length) {
        socket.write(chunk.subarray(0, Math.min(chunk.length, size - sent)));
        if (size > 5) await new Promise((resolve) => setTimeout(resolve, 30));
      }
      assert.ok(await until(() => read.has(path), 3_000), `${path}: the read never settled`);
      socket.destroy();
      assert.match(
        read.get(path) ?? "",
        /the request body was discarded: the app first touched it after its response was sent/,
        path,
      );
    }
  });

  it("a streamed response that fails before its body is streamed (a chunk that is not bytes, a header Node refuses) gets a 500 and its stream cancelled: its producer ran for ever", async () => {
    const cancelled: string[] = [];
    const timers = new Set<NodeJS.Timeout>();
    after(() => timers.forEach(clearInterval));
    // Chunks of any kind: a wrong one is what the test sends.
    const feed = (path: string, chunk: () => unknown): ReadableStream => {
      let timer: NodeJS.Timeout;
      return new ReadableStream<unknown>({
        start(controller) {
          controller.enqueue(chunk());
          timers.add((timer = setInterval(() => controller.enqueue(chunk()), 20)));
        },
        cancel() {
          clearInterval(timer);
          cancelled.push(path);
        },
      });
    };
    const bytes = (): Uint8Array => new TextEncoder().encode("data: x\n\n");
    const { port, failures } = await serve((request) => {
      const path = new URL(request.url).pathname;
      if (path === "/wrong-chunk") return new Response(feed(path, () => bytes().buffer));
      return new Response(feed(path, bytes), { headers: { "x-user": "a\x01b" } });
    });
    for (const path of ["/wrong-chunk", "/bad-header"]) {
      assert.equal((await rawRequest(port, GET(path))).status, 500, path);
      assert.ok(await until(() => cancelled.includes(path), 2_000), `${path}: never cancelled`);
    }
    assert.equal(failures.length, 2);
  });

  it("aborts the request's signal when the client goes away before the response", async () => {
    let aborted: (() => void) | undefined;
    const abortedSeen = new Promise<void>((resolve) => (aborted = resolve));
    let arrived = (): void => undefined;
    const arrival = new Promise<void>((resolve) => (arrived = resolve));
    const { port } = await serve(
      (request) =>
        new Promise<Response>((resolve) => {
          request.signal.addEventListener("abort", () => {
            aborted?.();
            resolve(new Response("too late"));
          });
          arrived();
        }),
    );
    const client = httpRequest({ port, host: "127.0.0.1", path: "/" });
    client.on("error", () => undefined);
    client.end();
    await arrival;
    client.destroy();
    await abortedSeen;
  });

  it("fails through failed() when the app returns no Response, or its body stream errors", async () => {
    const { port, failures } = await serve((request) => {
      if (new URL(request.url).pathname === "/broken") {
        return new Response(
          new ReadableStream({
            pull(controller) {
              controller.error(new Error("stream broke"));
            },
          }),
        );
      }
      if (new URL(request.url).pathname === "/null") return null as unknown as Response;
      if (new URL(request.url).pathname === "/error") return Response.error();
      // Another library's Response (node-fetch's, say), which the adapter cannot send.
      if (new URL(request.url).pathname === "/foreign")
        return new (class Response {
          readonly status = 200;
        })() as unknown as Response;
      return "hello" as unknown as Response;
    });
    assert.equal((await rawRequest(port, GET("/"))).status, 500);
    await rawRequest(port, GET("/broken"));
    assert.equal((await rawRequest(port, GET("/null"))).status, 500);
    assert.equal((await rawRequest(port, GET("/foreign"))).status, 500);
    assert.equal((await rawRequest(port, GET("/error"))).status, 500);
    assert.equal(failures.length, 5);
    assert.match(String(failures[0]), /TypeError: the fetch handler must return a Response, returned string/);
    assert.match(String(failures[1]), /stream broke/);
    // Before, both read "returned object".
    assert.match(String(failures[2]), /must return a Response, returned null$/);
    assert.match(
      String(failures[3]),
      /must return a Response, returned an object of another class: Response$/,
    );
    // Before: "RangeError: Invalid status code: 0" from node:http's writeHead.
    assert.match(
      String(failures[4]),
      /TypeError: the fetch handler returned Response.error\(\), a network error/,
    );
  });

  it("fails through failed() when the app returns an object whose prototype cannot be read (a revoked Proxy, a throwing trap)", async () => {
    const revocable = Proxy.revocable({}, {});
    revocable.revoke();
    const trapped = new Proxy(
      {},
      {
        getPrototypeOf() {
          throw new Error("no prototype for you");
        },
      },
    );
    const { port, failures } = await serve((request) =>
      new URL(request.url).pathname === "/revoked"
        ? (revocable.proxy as unknown as Response)
        : new URL(request.url).pathname === "/trapped"
          ? (trapped as unknown as Response)
          : new Response("fine"),
    );
    assert.equal((await rawRequest(port, GET("/revoked"))).status, 500);
    assert.equal((await rawRequest(port, GET("/trapped"))).status, 500);
    assert.equal((await rawRequest(port, GET("/"))).body, "fine"); // the server still serves
    assert.equal(failures.length, 2);
    assert.match(String(failures[0]), /revoked/);
    assert.match(String(failures[1]), /no prototype for you/);
  });

  it("refuses a smuggling attempt with 400 and closes the connection: the request hidden in its body never reaches the app", async () => {
    const paths: string[] = [];
    const { port } = await serve(async (request) => {
      paths.push(new URL(request.url).pathname);
      return new Response(await request.text());
    });
    const hidden = "GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n";
    for (const framing of [
      `Content-Length: 0\r\nContent-Length: ${hidden.length}`,
      `Content-Length: 0\r\nTransfer-Encoding: chunked`,
      "Transfer-Encoding: chunked, identity",
      "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity",
    ]) {
      const response = await rawRequest(
        port,
        `POST / HTTP/1.1\r\nHost: h\r\n${framing}\r\n\r\n${hidden}`,
        2_000,
      );
      assert.equal(response.status, 400, framing);
      assert.equal(response.body.includes("HTTP/1.1"), false, framing);
    }
    const badChunk = await rawRequest(
      port,
      `POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n${hidden}`,
      2_000,
    );
    assert.equal(badChunk.status, 400);
    assert.equal(paths.includes("/smuggled"), false, JSON.stringify(paths));
  });

  it("answers a forged Host with 400 before the app runs, and logs it at info", async () => {
    let calls = 0;
    const { port, logs } = await serve(() => {
      calls++;
      return new Response("app");
    });
    const response = await rawRequest(port, "GET /public HTTP/1.1\r\nHost: example.com/admin?\r\n\r\n");
    assert.equal(response.status, 400);
    assert.equal(response.header("connection"), "close");
    assert.equal(calls, 0);
    assert.deepEqual(logs, ['[info] client sent invalid host header: "example.com/admin?" "/public"']);
  });
});
