import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, describe, it } from "node:test";
import { WebSocket } from "ws";
import { get, startTree, until } from "../helpers/tree.ts";
import { rawRequest } from "./raw.ts";

const APP = "test/worker/fixtures/fetch-app.ts";
const INFO = ["--config", "test/worker/fixtures/info.config.ts"];
const PLAIN = ["--config", "test/worker/fixtures/plain-response.config.ts"];

// The trees of the file, started together (startTree's cleanup registers with the file, not with a hook).
const [tree, plain, handler] = await Promise.all([
  startTree(APP, { workers: 1, args: INFO }),
  startTree(APP, { workers: 1, args: PLAIN }),
  startTree("test/worker/fixtures/handler-app.ts", { workers: 1 }),
]);
after(async () => {
  await Promise.all([tree, plain, handler].map((t) => t.command("stop", "--fast")));
});

/** What the fetch app answers on the routes that make each kind of Response. */
async function answers(t: typeof tree): Promise<unknown[]> {
  const bytes = await fetch(t.url("/bytes"));
  return [
    await get(t.url("/public")),
    [bytes.status, bytes.headers.get("x-kind"), bytes.headers.get("content-length"), await bytes.text()],
    await get(t.url("/stream")),
    await get(t.url("/text"), { method: "POST", body: "echoed" }),
    await get(t.url("/nowhere")),
  ];
}
const ANSWERS = [
  { status: 200, body: "public\n" },
  [201, "bytes", "6", "bytes\n"],
  { status: 200, body: "a stream\n" },
  { status: 200, body: "echoed" },
  { status: 404, body: "not found\n" },
];
const light = async (t: typeof tree): Promise<Record<string, unknown>> =>
  (await (await fetch(t.url("/light"))).json()) as Record<string, unknown>;

describe("fetch() in a tsresty start tree", () => {
  it("answers a forged Host header with 400 Invalid host header, logged below error level", async () => {
    const forged = [
      "example.com/admin?", // would turn /public into /admin
      "example.com/admin#",
      "example.com?x=",
      "user@example.com",
      "example.com\\admin",
      "exa mple.com",
      "",
    ];
    for (const host of forged) {
      const response = await rawRequest(tree.port, `GET /public HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
      assert.equal(response.status, 400, `Host: ${host}`);
      assert.equal(response.body, "Invalid host header\n", `Host: ${host}`);
    }
    const twice = await rawRequest(tree.port, "GET /public HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
    assert.equal(twice.status, 400, "two Host lines");
    const absolute = await rawRequest(
      tree.port,
      "GET http://example.com@evil/public HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    assert.equal(absolute.status, 400, "userinfo in an absolute-form target");
    assert.ok(await until(() => tree.run.stderr().includes("[info]")));
    assert.match(
      tree.run.stderr(),
      /\[info\] \d+#0: client sent invalid host header: "example\.com\/admin\?"/,
    );
    assert.doesNotMatch(tree.run.stderr(), /\[(error|crit|alert|emerg)\]/);
  });

  it("builds the URL from a valid Host, or from an absolute-form request line", async () => {
    const plain = await rawRequest(
      tree.port,
      "GET /url?a=1 HTTP/1.1\r\nHost: Example.COM:8080\r\nConnection: close\r\n\r\n",
    );
    assert.equal(plain.body, "http://example.com:8080/url?a=1\n");
    const absolute = await rawRequest(
      tree.port,
      "GET http://example.com/url HTTP/1.1\r\nHost: other.example\r\nConnection: close\r\n\r\n",
    );
    assert.equal(absolute.body, "http://example.com/url\n");
    const ipv6 = await rawRequest(
      tree.port,
      "GET /url HTTP/1.1\r\nHost: [::1]:80\r\nConnection: close\r\n\r\n",
    );
    assert.equal(ipv6.body, "http://[::1]/url\n");
  });

  it("cancels a streamed response within 100 ms of the client leaving", async () => {
    const socket = connect(tree.port, "127.0.0.1");
    socket.write("GET /events HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let received = "";
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => (received += chunk));
    assert.ok(await until(() => received.includes("data: 3\n\n")), "the stream flows");
    const left = Date.now();
    socket.destroy();
    const cancelled = (): RegExpExecArray | null =>
      /events cancelled at (\d+) after (\d+)/.exec(tree.run.stdout());
    assert.ok(await until(() => cancelled() !== null, 5_000), "the producer's cancel() ran");
    const [, at = "", sent = ""] = cancelled() ?? [];
    assert.ok(Number(at) - left < 100, `cancelled ${Number(at) - left} ms after the client left`);
    // The producer stopped: nothing was enqueued into the closed connection afterwards.
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(/events cancelled at \d+ after (\d+)/.exec(tree.run.stdout())?.[1], sent);
  });

  it("answers a WebSocket handshake through fetch() when the app has no upgrade member: it does not hang", async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${tree.port}/nowhere`);
      const timer = setTimeout(() => {
        ws.terminate();
        reject(new Error("no answer to the handshake within 5 s"));
      }, 5_000);
      ws.on("unexpected-response", (_request, response) => {
        clearTimeout(timer);
        response.resume();
        ws.terminate();
        resolve(response.statusCode ?? 0);
      });
      ws.on("error", () => undefined);
    });
    assert.equal(status, 404);
  });

  it("serves with the light Response by default: the app sees it from its first line, and undici's is made only when needed", async () => {
    const before = await light(tree);
    assert.deepEqual([before["atLoad"], before["now"]], [true, true]);
    assert.deepEqual(await answers(tree), ANSWERS);
    // Of these, only /text's inner Response had its body read (the stream was undici's from the start).
    assert.equal((await light(tree))["materialized"], Number(before["materialized"]) + 1);
  });

  it("keeps undici's Response with http.lightResponse: false, serving the same answers", async () => {
    assert.deepEqual(await light(plain), { atLoad: false, now: false, materialized: 0 });
    assert.deepEqual(await answers(plain), ANSWERS);
    assert.doesNotMatch(plain.run.stderr(), /\[(error|crit|alert|emerg)\]/);
  });

  it("gives a handler app undici's Response back once it is loaded; a Response made while loading still works", async () => {
    const response = await get(handler.url("/"));
    assert.deepEqual(JSON.parse(response.body), {
      atLoad: true,
      now: false,
      early: [true, "made while loading"],
    });
  });

  it("still answers an error thrown by the app with 500 and an error line naming the request", async () => {
    assert.equal((await get(tree.url("/boom"))).status, 500);
    assert.ok(
      await until(() =>
        /\[error\] \d+#0: request handler failed \(GET \/boom\): Error: fetch boom/.test(tree.run.stderr()),
      ),
    );
  });

  it("answers a node:http handler's error with 500, or ends a started response, and names the request", async () => {
    assert.equal((await get(handler.url("/throw"))).status, 500);
    assert.equal((await get(handler.url("/reject"), { method: "POST", body: "x" })).status, 500);
    // Headers already sent: the response cannot become a 500, so the connection is cut.
    await assert.rejects(async () => (await fetch(handler.url("/late"))).text());
    for (const line of [
      /request handler failed \(GET \/throw\): Error: handler throw/,
      /request handler failed \(POST \/reject\): Error: handler reject/,
      /request handler failed \(GET \/late\): Error: handler late/,
    ]) {
      assert.ok(
        await until(() => line.test(handler.run.stderr())),
        `${String(line)} in ${handler.run.stderr()}`,
      );
    }
    assert.deepEqual(
      await get(handler.url("/hello")),
      { status: 200, body: "hello\n" },
      "the worker serves on",
    );
  });
});
