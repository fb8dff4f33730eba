import assert from "node:assert/strict";
import { createConnection, type Socket } from "node:net";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { serveControl, type ControlServer } from "../../src/master/control.ts";
import { scratchDir } from "../helpers/scratch.ts";

const servers: ControlServer[] = [];
const sockets: Socket[] = [];
after(() => {
  for (const socket of sockets) socket.destroy();
  for (const server of servers) server.close();
});

/** A control server on a fresh socket whose idle clients are dropped after `idleMs`. */
async function serve(idleMs: number): Promise<string> {
  const path = join(scratchDir("control"), "c.sock");
  servers.push(
    await serveControl(
      path,
      (request, connection) => {
        if (request.command !== "logs") return Promise.resolve({ ok: true, message: request.command });
        connection.send({ ok: true, message: "following" });
        return Promise.resolve(null); // held open, as `tsresty logs -f`
      },
      idleMs,
    ),
  );
  return path;
}

/** Connects, writes `text`; resolves with what came back and when the server closed it. */
function client(path: string, text: string): Promise<{ answer: string; closedAfterMs: number }> {
  const started = performance.now();
  return new Promise((resolve) => {
    const socket = createConnection(path);
    sockets.push(socket);
    let answer = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => (answer += chunk));
    socket.on("error", () => undefined);
    socket.on("close", () => resolve({ answer, closedAfterMs: performance.now() - started }));
    if (text !== "") socket.write(text);
  });
}

describe("the control socket's idle clients (issue 9, item 11)", () => {
  it("a client that sends nothing, or half a request, is disconnected after the idle timeout", async () => {
    const path = await serve(300);
    const [silent, partial] = await Promise.all([client(path, ""), client(path, '{"command":"sta')]);
    for (const [name, r] of [
      ["silent", silent],
      ["partial", partial],
    ] as const) {
      assert.equal(r.answer, "", `${name}: no answer`);
      assert.ok(
        r.closedAfterMs >= 250 && r.closedAfterMs < 3_000,
        `${name}: closed after ${r.closedAfterMs} ms`,
      );
    }
  });

  it("a request answered in time is not cut, and a held connection (logs -f) outlives the idle timeout", async () => {
    const path = await serve(200);
    const status = await client(path, '{"command":"status"}\n');
    assert.equal(status.answer, '{"ok":true,"message":"status"}\n');
    const socket = createConnection(path);
    sockets.push(socket);
    let closed = false;
    socket.on("close", () => (closed = true));
    socket.on("error", () => undefined);
    socket.write('{"command":"logs","follow":true}\n');
    await new Promise((resolve) => setTimeout(resolve, 800));
    assert.equal(closed, false, "the follower is still connected after 4 idle timeouts");
    socket.destroy();
  });
});
