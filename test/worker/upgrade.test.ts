import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { WebSocket } from "ws";
import { checkApp } from "../../src/runtime/index.ts";
import { get, startTree, until } from "../helpers/tree.ts";
import { rawRequest } from "./raw.ts";

/** Opens a WebSocket, sends `text`, resolves with the first message back. */
function echo(url: string, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error("no echo within 10 s"));
    }, 10_000);
    ws.on("open", () => ws.send(text));
    ws.on("message", (data: Buffer) => {
      clearTimeout(timer);
      ws.close();
      resolve(data.toString());
    });
    ws.on("error", reject);
  });
}

const tree = await startTree("test/worker/fixtures/ws-app.ts", { workers: 2 });
after(async () => {
  await tree.command("stop", "--fast");
});

/** Opens a WebSocket to `path` on the tree; resolves, once it is open, with a promise of its close code. */
async function held(path: string): Promise<{ closed: Promise<number> }> {
  const ws = new WebSocket(`ws://127.0.0.1:${tree.port}${path}`);
  after(() => ws.terminate());
  ws.on("error", () => undefined);
  const closed = new Promise<number>((resolve) => ws.once("close", (code: number) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("close", () => reject(new Error(`${path} closed before it opened`)));
  });
  return { closed };
}

const UPGRADE = (path: string): string =>
  `GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
  "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

describe("upgrade(req, socket, head): WebSocket libraries mount on the workers", () => {
  it("a ws WebSocketServer in noServer mode echoes through every worker, beside fetch()", async () => {
    const workers = new Set<string>();
    for (let i = 0; i < 40 && workers.size < 2; i++) {
      const answer = await echo(`ws://127.0.0.1:${tree.port}/chat`, `hello ${i}`);
      assert.match(answer, new RegExp(`^worker [01] echoes hello ${i}$`));
      workers.add(answer.slice(0, 8));
    }
    assert.equal(workers.size, 2, "both workers took upgrades");
    assert.deepEqual(await get(tree.url("/")), { status: 200, body: "plain http\n" });
  });

  it("an upgrade handler that throws or rejects gets the client a 500 and logs an error naming the request", async () => {
    for (const [path, message] of [
      ["/boom", "Error: upgrade boom"],
      ["/later", "Error: upgrade rejected"],
    ] as const) {
      const response = await rawRequest(tree.port, UPGRADE(path));
      assert.equal(response.status, 500, path);
      assert.ok(
        await until(() =>
          new RegExp(`\\[error\\] \\d+#[01]: upgrade handler failed \\(GET ${path}\\): ${message}`).test(
            tree.run.stderr(),
          ),
        ),
        path,
      );
    }
    assert.equal((await echo(`ws://127.0.0.1:${tree.port}/`, "still")).endsWith("echoes still"), true);
  });

  it("after a failed upgrade's 500 the worker closes the connection whole: a client that keeps its half open does not hold the worker's socket (it was only ended, held until the stop)", async () => {
    for (const path of ["/boom", "/later"]) {
      const outcome = await new Promise<string>((resolve) => {
        const socket = connect({ port: tree.port, host: "127.0.0.1", allowHalfOpen: true });
        const timer = setTimeout(() => {
          socket.destroy();
          resolve("still open 3 s after the 500");
        }, 3_000);
        socket.on("error", (error: NodeJS.ErrnoException) => {
          clearTimeout(timer);
          resolve(`closed (${error.code ?? "?"})`);
        });
        // The server's FIN came; keep writing: to a socket the worker closed, a write is reset.
        socket.on("end", () => {
          const poke = setInterval(() => {
            if (socket.destroyed) clearInterval(poke);
            else socket.write("x");
          }, 50);
          socket.once("close", () => clearInterval(poke));
        });
        socket.resume(); // the 500, read: else "end" never comes
        socket.write(UPGRADE(path));
      });
      assert.match(outcome, /^closed \((ECONNRESET|EPIPE)\)$/, path);
    }
  });
  it("a reload closes open WebSockets as the drain begins with docs/http.md's premature timer (1001), not at the end of shutdownTimeout (1006); the old workers leave at once and new sockets reach the new ones", async () => {
    const closes = (await Promise.all([0, 1, 2, 3].map((i) => held(`/held-${i}`)))).map((ws) => ws.closed);
    const before = (await tree.status()).processes
      .filter((row) => row.type === "worker")
      .map((row) => row.pid);
    const started = performance.now();
    assert.equal((await tree.command("reload")).code, 0);
    const codes = await Promise.race([Promise.all(closes), sleep(5_000).then(() => "not closed within 5 s")]);
    assert.deepEqual(codes, [1001, 1001, 1001, 1001]);
    // shutdownTimeout is 10 s: the drain had nothing left to wait for.
    assert.ok(
      await until(async () => {
        const pids = (await tree.status()).processes.map((row) => row.pid);
        return before.every((pid) => !pids.includes(pid));
      }, 5_000),
      "the old workers left",
    );
    assert.ok(performance.now() - started < 8_000);
    assert.match(await echo(`ws://127.0.0.1:${tree.port}/`, "after"), /^worker [01] echoes after$/);
  });
});

describe("checkApp and upgrade", () => {
  it("accepts upgrade beside fetch or handler, and refuses it alone", () => {
    const upgrade = (): void => undefined;
    assert.doesNotThrow(() => checkApp({ fetch: () => new Response(), upgrade }, "app.ts"));
    assert.doesNotThrow(() => checkApp({ handler: () => undefined, upgrade }, "app.ts"));
    assert.throws(() => checkApp({ upgrade }, "app.ts"), {
      code: "ERR_TSRESTY_INVALID_ARG_TYPE",
      message: /app app\.ts: "upgrade" must be beside a fetch or handler member/,
    });
    assert.throws(() => checkApp({ fetch: () => new Response(), upgrade: 1 }, "app.ts"), {
      code: "ERR_TSRESTY_INVALID_ARG_TYPE",
    });
  });
});
