/**
 * The access log and HTTP upgrades: an upgraded connection (a WebSocket) has one line, written
 * when it closes, as nginx logs a proxied WebSocket: the status of the answer the app wrote (101),
 * the request line, and the bytes written on the connection from that answer on. The WebSockets
 * here are spoken by hand on raw sockets, so that every byte the worker sent is counted.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { scratchDir } from "../helpers/scratch.ts";
import { startTree, until } from "../helpers/tree.ts";

const UPGRADE = (path: string): string =>
  `GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
  "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nUser-Agent: raw-ws\r\n\r\n";

/** A client frame (masked, with a zero mask: the payload goes as it is) of `opcode` and a short `payload`. */
const frame = (opcode: number, payload: Buffer): Buffer =>
  Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | payload.length, 0, 0, 0, 0]), payload]);

/** A WebSocket spoken by hand: what the worker sent on it (latin1, a byte a character), counted. */
class Session {
  readonly socket: Socket;
  received = "";
  readonly closed: Promise<void>;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => (this.received += chunk));
    socket.on("error", () => undefined);
    this.closed = new Promise((resolve) => socket.once("close", () => resolve()));
    after(() => socket.destroy());
  }

  /** Sends an upgrade request to `path`; resolves once the worker's answer to it is in. */
  static async ask(port: number, path: string): Promise<Session> {
    const session = new Session(connect(port, "127.0.0.1"));
    session.socket.write(UPGRADE(path));
    await session.until((text) => text.includes("\r\n\r\n"), "the answer to the upgrade");
    return session;
  }

  /** Opens one to `path`; resolves once the worker's 101 is in. */
  static async open(port: number, path: string): Promise<Session> {
    const session = await Session.ask(port, path);
    assert.match(session.received, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
    return session;
  }

  /** Waits (at most 10 s) until what was received satisfies `check`. */
  async until(check: (text: string) => boolean, what: string): Promise<void> {
    assert.ok(await until(() => check(this.received), 10_000), `${what}: ${JSON.stringify(this.received)}`);
  }

  /** Resolves once the worker has closed the connection (at most 10 s). */
  async end(): Promise<void> {
    const outcome = await Promise.race([
      this.closed.then(() => "closed"),
      new Promise<string>((resolve) => setTimeout(() => resolve("still open after 10 s"), 10_000).unref()),
    ]);
    assert.equal(outcome, "closed");
  }
}

type Entry = Record<string, unknown>;

const entries = (path: string): Entry[] =>
  existsSync(path)
    ? readFileSync(path, "utf8")
        .split("\n")
        .filter((line) => line !== "")
        .map((line) => JSON.parse(line) as Entry)
    : [];

describe("the access log and upgraded connections", async () => {
  const dir = scratchDir("upgrade-log");
  const log = join(dir, "access.json.log");
  const config = join(dir, "c.ts");
  // shutdownTimeout 1: a WebSocket that does not answer the drain's 1001 is cut a second into it.
  writeFileSync(
    config,
    `export default { accessLog: { path: ${JSON.stringify(log)}, format: "json" }, shutdownTimeout: 1 };\n`,
  );
  const tree = await startTree("test/worker/fixtures/ws-app.ts", { workers: 1, args: ["--config", config] });
  const lines = (url: string): Entry[] => entries(log).filter((entry) => entry["url"] === url);

  it("a WebSocket opened, used and closed has one line when it closes: 101, its request line, every byte sent on it (there was no line)", async () => {
    const session = await Session.open(tree.port, "/chat");
    session.socket.write(frame(0x1, Buffer.from("hello")));
    await session.until((text) => text.includes("worker 0 echoes hello"), "the echo");
    assert.equal(lines("/chat").length, 0, "no line while the connection is open");
    // A close frame (1000): ws answers with its own and closes the connection.
    session.socket.write(frame(0x8, Buffer.from([0x03, 0xe8])));
    await session.end();
    assert.ok(
      await until(() => lines("/chat").length > 0),
      entries(log)
        .map((e) => JSON.stringify(e))
        .join("\n"),
    );
    const [line] = lines("/chat");
    assert.ok(line !== undefined);
    assert.equal(line["method"], "GET");
    assert.equal(line["protocol"], "HTTP/1.1");
    assert.equal(line["status"], 101);
    assert.equal(line["bytes"], session.received.length, "the 101, the echo and the close frame");
    assert.equal(line["userAgent"], "raw-ws");
    assert.equal(line["remote"], "127.0.0.1");
    assert.equal(line["worker"], 0);
    assert.equal(typeof line["duration"], "number");
  });

  it("a client that vanishes (its connection reset) has its line too, with the bytes it was sent", async () => {
    const session = await Session.open(tree.port, "/vanish");
    session.socket.resetAndDestroy();
    assert.ok(await until(() => lines("/vanish").length > 0));
    const [line] = lines("/vanish");
    assert.equal(line?.["status"], 101);
    assert.equal(line["bytes"], session.received.length, "the 101 alone");
  });

  it("an upgrade whose app fails is logged with the worker's 500", async () => {
    const session = await Session.ask(tree.port, "/boom");
    await session.end();
    assert.match(session.received, /^HTTP\/1\.1 500 Internal Server Error\r\n/);
    assert.ok(await until(() => lines("/boom").length > 0));
    const [line] = lines("/boom");
    assert.equal(line?.["status"], 500);
    assert.equal(line["bytes"], session.received.length);
  });

  it("a stop with WebSockets open writes each one's line once, when the drain cuts it; no connection is logged twice", async () => {
    const held = await Promise.all([Session.open(tree.port, "/held-0"), Session.open(tree.port, "/held-1")]);
    assert.equal((await tree.command("stop")).code, 0);
    for (const session of held) await session.end();
    const all = entries(log);
    // One line per connection, those of the tests before included.
    const urls = all.map((entry) => String(entry["url"]));
    assert.deepEqual(
      urls.filter((url, i) => urls.indexOf(url) !== i),
      [],
      "no connection logged twice",
    );
    assert.ok(urls.includes("/held-0") && urls.includes("/held-1"), urls.join(" "));
    for (const [i, session] of held.entries()) {
      const line = all.find((entry) => entry["url"] === `/held-${i}`);
      assert.equal(line?.["status"], 101);
      // The 101, then the drain's close frame (1001, "going away"), which the client never answered.
      const goingAway = Buffer.from([0x88, 12, 0x03, 0xe9, ...Buffer.from("going away")]).toString("latin1");
      assert.ok(session.received.endsWith(`\r\n\r\n${goingAway}`), JSON.stringify(session.received));
      assert.equal(line["bytes"], session.received.length);
    }
    const output = (tree.run.stdout() + tree.run.stderr()).replace(
      /^.*upgrade handler failed \(GET \/boom\).*$/m,
      "",
    );
    assert.doesNotMatch(output, /\[(error|alert|crit|emerg)\]/);
  });
});
