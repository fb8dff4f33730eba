/**
 * watchStatus (src/worker/head-status.ts): the status of the head an app writes on an upgraded
 * socket, however it writes it, on real sockets over loopback.
 */
import assert from "node:assert/strict";
import { createServer, connect, type AddressInfo, type Socket } from "node:net";
import { after, describe, it } from "node:test";
import { watchStatus } from "../../src/worker/head-status.ts";

const server = createServer();
const accepted: Socket[] = [];
server.on("connection", (socket: Socket) => accepted.push(socket));
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
after(() => {
  for (const socket of accepted) socket.destroy();
  server.close();
});

/**
 * A connected pair: `write` is given the server's side, watched; resolves with the statuses seen
 * and what the client received once the server's side has closed.
 */
async function written(write: (socket: Socket) => void): Promise<{ seen: number[]; received: string }> {
  const client = connect((server.address() as AddressInfo).port, "127.0.0.1");
  after(() => client.destroy());
  let received = "";
  client.setEncoding("latin1");
  client.on("data", (chunk: string) => (received += chunk));
  const closed = new Promise<void>((resolve) => client.once("close", () => resolve()));
  await new Promise<void>((resolve) => server.once("connection", () => resolve()));
  const socket = accepted.at(-1) as Socket;
  const seen: number[] = [];
  watchStatus(socket, (status) => seen.push(status));
  write(socket);
  await closed;
  return { seen, received };
}

const HEAD = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";

describe("watchStatus", () => {
  it("reads the status of a head written in one write, by end(data), in pieces, corked or as bytes; the bytes go out unchanged", async () => {
    const ways: Record<string, (socket: Socket) => void> = {
      write: (socket) => {
        socket.write(HEAD);
        socket.end("frames");
      },
      "end(data)": (socket) => socket.end(HEAD),
      pieces: (socket) => {
        for (const piece of ["HT", "TP/1.1 1", "01 Switching", HEAD.slice(22)]) socket.write(piece);
        socket.end();
      },
      corked: (socket) => {
        socket.cork();
        socket.write("HTTP/1.");
        socket.write(Buffer.from("1 101 Switching"));
        socket.write(HEAD.slice(22));
        socket.uncork();
        socket.end();
      },
      bytes: (socket) => socket.end(new Uint8Array(Buffer.from(HEAD))),
    };
    for (const [way, write] of Object.entries(ways)) {
      const { seen, received } = await written(write);
      assert.deepEqual(seen, [101], way);
      assert.ok(received.startsWith(HEAD), `${way}: ${JSON.stringify(received)}`);
    }
  });

  it("gives 0 for first bytes that are no status line, the status of another head, and nothing for a socket closed unwritten", async () => {
    assert.deepEqual((await written((socket) => socket.end("garbage and more"))).seen, [0]);
    assert.deepEqual((await written((socket) => socket.end("HTTP/1.1 abc OK\r\n\r\n"))).seen, [0]);
    assert.deepEqual((await written((socket) => socket.end("HTTP/1.1 400 Bad Request\r\n\r\n"))).seen, [400]);
    assert.deepEqual((await written((socket) => socket.destroy())).seen, []);
  });

  it("leaves the socket as it was once the status is known: later writes go through its own class's methods", async () => {
    await written((socket) => {
      socket.write(HEAD);
      assert.equal(Object.hasOwn(socket, "_write"), false);
      assert.equal(Object.hasOwn(socket, "_writev"), false);
      socket.end();
    });
  });
});
