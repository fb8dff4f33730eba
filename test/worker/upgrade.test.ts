import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, describe, it } from "node:test";
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
