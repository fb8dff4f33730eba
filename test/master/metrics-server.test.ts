/**
 * The master's `/metrics` endpoint (src/master/metrics-server.ts) on a real socket: pages written
 * into reused buffers, a scrape that overlaps one still being sent, HEAD, other paths and methods,
 * and a scrape that fails.
 */
import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { after, describe, it } from "node:test";
import { until } from "../helpers/wait.ts";
import type { TimerCountsRow } from "../../src/ipc/index.ts";
import { renderMetrics, type MetricsInput } from "../../src/master/metrics-render.ts";
import {
  METRICS_LIMITS,
  serveMetrics,
  type MetricsLimits,
  type MetricsServer,
} from "../../src/master/metrics-server.ts";

/** A tree whose page is about `rows` × 0.93 KB: 20,000 rows make more than loopback buffers hold. */
function input(rows: number, runs: number): MetricsInput {
  const timerRows: TimerCountsRow[] = Array.from({ length: rows }, (_, i) => ({
    name: `job${i}`,
    runs: runs + i,
    errors: 0,
    skipped: 0,
    dropped: 0,
    claimErrors: 0,
    lateness: { counts: [runs, 1, 0, i], sum: runs * 2 },
  }));
  return {
    processes: [],
    probes: new Map(),
    timers: [{ owner: { type: "worker", id: 0, pid: 101 }, counts: { bounds: [1, 5, 10], rows: timerRows } }],
    slots: [],
    zones: [],
    cycle: 1,
    now: 0,
  };
}

/**
 * GET or HEAD over a raw socket; `hold` stops reading after the first bytes until it resolves
 * (`onHold` is called then).
 */
function request(
  port: number,
  method: string,
  path: string,
  hold?: Promise<void>,
  onHold?: () => void,
): Promise<{ status: number; headers: string; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    socket.setTimeout(20_000, () => socket.destroy(new Error("no full answer within 20 s")));
    socket.write(`${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
    const chunks: Buffer[] = [];
    let held = hold === undefined;
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      if (held) return;
      held = true;
      socket.pause();
      onHold?.();
      void hold?.then(() => socket.resume());
    });
    socket.on("error", reject);
    socket.on("end", () => {
      const all = Buffer.concat(chunks);
      const split = all.indexOf("\r\n\r\n");
      const headers = all.subarray(0, split).toString();
      resolve({ status: Number(headers.split(" ")[1]), headers, body: all.subarray(split + 4) });
    });
  });
}

/** "closed" once `socket` closes, or what it is after `ms` ms if it is still open. */
function closedWithin(socket: Socket, ms: number): Promise<string> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(`still open after ${ms} ms`), ms);
    socket.on("error", () => undefined);
    socket.once("close", () => {
      clearTimeout(timer);
      resolve("closed");
    });
  });
}

/** Sends `bytes` on a new connection; what came back before the server closed it, or "(open)" after 5 s. */
function exchange(port: number, bytes: string): Promise<string> {
  return new Promise((resolve) => {
    let got = "";
    const socket = connect(port, "127.0.0.1", () => socket.write(bytes));
    const deadline = setTimeout(() => {
      socket.destroy();
      resolve(`${got}(open)`);
    }, 5_000);
    socket.on("data", (chunk: Buffer) => (got += chunk.toString("latin1")));
    socket.on("error", () => undefined);
    socket.on("close", () => {
      clearTimeout(deadline);
      resolve(got);
    });
  });
}

describe("the /metrics endpoint", () => {
  const servers: MetricsServer[] = [];
  after(() => {
    for (const server of servers) server.close();
  });
  async function serve(
    collect: () => Promise<MetricsInput>,
    failed: (error: unknown) => void = () => {},
    limits: MetricsLimits = METRICS_LIMITS,
  ) {
    const server = await serveMetrics({ host: "127.0.0.1", port: 0 }, collect, failed, limits);
    servers.push(server);
    return Number(server.address.split(":").at(-1));
  }

  it("sends each page whole while another scrape renders: a page still being sent is not written over", async () => {
    const inputs = [input(20_000, 1_000), input(20_000, 7), input(20_000, 900_000)];
    let next = 0;
    const port = await serve(() => Promise.resolve(inputs[next++ % inputs.length] as MetricsInput));
    let release = (): void => {};
    let holding = (): void => {};
    const reading = new Promise<void>((resolve) => (holding = resolve));
    const held = request(
      port,
      "GET",
      "/metrics",
      new Promise<void>((resolve) => (release = resolve)),
      holding,
    );
    // The first page is being sent: the client read its first bytes and stopped reading (waited
    // for: after a fixed time, the next scrape could come first on a loaded machine).
    await Promise.race([reading, held]);
    const second = await request(port, "GET", "/metrics");
    const third = await request(port, "GET", "/metrics");
    release();
    const first = await held;
    for (const [i, answer] of [first, second, third].entries()) {
      assert.equal(answer.status, 200);
      assert.ok(
        answer.body.equals(renderMetrics(inputs[i] as MetricsInput)),
        `page ${i + 1} whole and right`,
      );
      assert.match(answer.headers, new RegExp(`^content-length: ${answer.body.length}$`, "im"));
    }
  });

  it("answers HEAD with the length and no body, other paths 404 and other methods 405, in origin or absolute form", async () => {
    const port = await serve(() => Promise.resolve(input(3, 1)));
    const head = await request(port, "HEAD", "/metrics");
    assert.equal(head.status, 200);
    assert.match(head.headers, new RegExp(`^content-length: ${renderMetrics(input(3, 1)).length}$`, "im"));
    assert.equal(head.body.length, 0);
    assert.equal((await request(port, "GET", "/other")).status, 404);
    // The absolute form, which RFC 9112 has servers accept (it was 404).
    assert.equal((await request(port, "GET", "http://127.0.0.1/metrics")).status, 200);
    assert.equal((await request(port, "GET", "HTTP://example.com/metrics?name=x")).status, 200);
    assert.equal((await request(port, "GET", "http://127.0.0.1/other")).status, 404);
    assert.equal((await request(port, "POST", "/metrics")).status, 405);
  });

  it("a client that stops reading its page is cut once the send bound passes, and one whose request never comes once the request bound passes: neither holds the master's memory or sockets (they held them for as long as they stayed)", async () => {
    const port = await serve(() => Promise.resolve(input(20_000, 1)), undefined, {
      ...METRICS_LIMITS,
      sendMs: 500,
      requestMs: 1_000,
    });
    // Reads the first bytes of a page of ~18 MB, more than loopback buffers hold, then nothing
    // for 3 s (six times the bound: a loaded machine may run the cut late); then reads what is
    // left. Cut, it gets the close after part of the page; kept (keep-alive), it got the whole
    // page and the connection stayed open.
    const reader = connect(port, "127.0.0.1");
    reader.write("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    let received = 0;
    reader.on("data", (chunk: Buffer) => (received += chunk.length));
    reader.once("data", () => {
      reader.pause();
      setTimeout(() => reader.resume(), 3_000);
    });
    // Sends half a request head, then nothing.
    const silent = connect(port, "127.0.0.1");
    silent.write("GET /metrics HTTP/1.1\r\n");
    silent.resume(); // its 408, read: else "end" never comes
    const [read, sent] = await Promise.all([closedWithin(reader, 8_000), closedWithin(silent, 8_000)]);
    reader.destroy();
    silent.destroy();
    assert.equal(read, "closed", "the client that stopped reading");
    assert.ok(received < renderMetrics(input(20_000, 1)).length, `${received} bytes: part of the page`);
    assert.equal(sent, "closed", "the client whose request never came");
    assert.equal((await request(port, "GET", "/metrics")).status, 200, "the endpoint still answers");
  });

  it("64 connections that never send do not keep a scrape out: the oldest of them is closed for it, and the scrape is answered at once (it waited for the 10 s request bound to cut them)", async () => {
    const port = await serve(() => Promise.resolve(input(3, 1)));
    const silent = Array.from({ length: METRICS_LIMITS.maxConnections }, () => connect(port, "127.0.0.1"));
    after(() => {
      for (const socket of silent) socket.destroy();
    });
    await Promise.all(silent.map((socket) => new Promise((resolve) => socket.once("connect", resolve))));
    const oldest = closedWithin(silent[0] as Socket, 5_000);
    // The 5 s deadline is well inside the request bound (10 s) that cut them before.
    let deadline: NodeJS.Timeout | undefined;
    const answer = await Promise.race([
      request(port, "GET", "/metrics"),
      new Promise<string>((resolve) => (deadline = setTimeout(() => resolve("no answer within 5 s"), 5_000))),
    ]);
    clearTimeout(deadline);
    assert.equal(typeof answer === "string" ? answer : answer.status, 200);
    assert.equal(await oldest, "closed", "the oldest silent connection");
    const open = silent.slice(1).filter((socket) => !socket.destroyed && socket.readyState === "open");
    assert.equal(open.length, METRICS_LIMITS.maxConnections - 1, "the others are left alone");
  });

  it("past the cap, a connection idle between scrapes gives way, longest idle first; one with a request in progress never does, and a newcomer when all have one is closed as it arrives", async () => {
    /** The scrapes held while collecting: each one's release. */
    const held: (() => void)[] = [];
    let hold = false;
    const port = await serve(
      () =>
        hold
          ? new Promise<MetricsInput>((resolve) => held.push(() => resolve(input(3, 1))))
          : Promise.resolve(input(3, 1)),
      undefined,
      { ...METRICS_LIMITS, maxConnections: 2 },
    );
    after(() => {
      for (const release of held) release();
    });
    const scrape = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    /** A connection that has scraped once and stays open (keep-alive). */
    const scraped = async (): Promise<Socket> => {
      const socket = connect(port, "127.0.0.1");
      after(() => socket.destroy());
      socket.on("error", () => undefined);
      socket.write(scrape);
      await new Promise((resolve, reject) => {
        socket.once("data", resolve);
        socket.once("close", () => reject(new Error("closed before its page")));
      });
      return socket;
    };
    const first = await scraped();
    const second = await scraped();
    // A third: the first, idle longest, is closed for it.
    const firstFate = closedWithin(first, 5_000);
    const third = await scraped();
    assert.equal(await firstFate, "closed");
    assert.equal(second.destroyed, false);
    // Both left now have a request in progress: a newcomer is closed, and they are not.
    hold = true;
    for (const socket of [second, third]) socket.write(scrape);
    assert.ok(await until(() => held.length === 2, 5_000), "both requests in progress");
    const extra = connect(port, "127.0.0.1");
    after(() => extra.destroy());
    assert.equal(await closedWithin(extra, 5_000), "closed", "the newcomer");
    const answers = [second, third].map((socket) => new Promise((resolve) => socket.once("data", resolve)));
    for (const release of held) release();
    await Promise.all(answers);
    const stayed = [second, third].map((socket) => !socket.destroyed);
    assert.deepEqual(stayed, [true, true], "those with a request in progress stay");
  });

  it("one connection's pipelined scrapes are answered one after another, each collected once the page before it is out", async () => {
    let collecting = 0;
    let most = 0;
    let calls = 0;
    const port = await serve(async () => {
      calls++;
      most = Math.max(most, ++collecting);
      await new Promise((resolve) => setTimeout(resolve, 50));
      collecting--;
      return input(3, calls);
    });
    const socket = connect(port, "127.0.0.1");
    socket.setTimeout(10_000, () => socket.destroy());
    socket.write(
      "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".repeat(2) +
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    const chunks: Buffer[] = [];
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    await new Promise((resolve) => socket.once("close", resolve));
    const text = Buffer.concat(chunks).toString();
    assert.equal(text.match(/^HTTP\/1\.1 200 OK\r$/gm)?.length, 3, text.slice(0, 300));
    for (const runs of [1, 2, 3])
      assert.match(
        text,
        new RegExp(`^tsresty_timer_runs_total\\{[^}]*name="job0"\\} ${runs}$`, "m"),
        `page ${runs}`,
      );
    assert.equal(most, 1, "one collection at a time (all three at once before)");
  });

  it(
    "a connection that pipelines more scrapes than maxPipelined and reads none is cut, and they are not collected: a client cannot make the master hold a page per request (6,000 such requests took it from 55 to 888 MB)",
    { timeout: 30_000 },
    async () => {
      let calls = 0;
      const page = input(20_000, 1); // ~18 MB: more than loopback buffers hold
      const port = await serve(() => {
        calls++;
        return Promise.resolve(page);
      });
      const socket = connect(port, "127.0.0.1");
      socket.on("error", () => undefined);
      socket.pause(); // reads nothing, for a second
      socket.write("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".repeat(1_000));
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      assert.ok(calls <= METRICS_LIMITS.maxPipelined + 1, `${calls} pages collected (1,000 before)`);
      // Then reads: the connection was cut, after part of the pages at most.
      let received = 0;
      socket.on("data", (chunk: Buffer) => (received += chunk.length));
      socket.resume();
      const fate = await closedWithin(socket, 10_000);
      socket.destroy();
      assert.equal(fate, "closed");
      assert.ok(received < 2 * renderMetrics(page).length, `${received} bytes`);
      assert.equal((await request(port, "GET", "/metrics")).status, 200, "the endpoint still answers");
    },
  );

  it("a CONNECT request is answered 405 with Allow and a body naming the method, and its connection closed (Node closed it without a word)", async () => {
    const port = await serve(() => Promise.resolve(input(3, 1)));
    const answer = await exchange(port, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
    const [head = "", body] = answer.split("\r\n\r\n");
    const lines = head.split("\r\n");
    assert.equal(lines[0], "HTTP/1.1 405 Method Not Allowed", answer);
    assert.ok(lines.includes("allow: GET, HEAD"), answer);
    assert.ok(lines.includes("connection: close"), answer);
    assert.equal(body, "method not allowed: CONNECT (the metrics are at GET /metrics)\n");
    assert.ok(lines.includes(`content-length: ${body.length}`), answer);
    // Another method on /metrics says the same of itself.
    const post = await exchange(port, "POST /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert.match(post, /^HTTP\/1\.1 405 Method Not Allowed\r\n/);
    assert.ok(post.endsWith("\r\n\r\nmethod not allowed: POST (the metrics are at GET /metrics)\n"), post);
    assert.equal((await request(port, "GET", "/metrics")).status, 200, "the endpoint still answers");
  });

  it("a scrape with an Expect other than 100-continue is served, as nginx serves it (Node answered 417 without looking at the request)", async () => {
    const port = await serve(() => Promise.resolve(input(3, 1)));
    const scrape = await exchange(
      port,
      "GET /metrics HTTP/1.1\r\nHost: x\r\nExpect: something-else\r\nConnection: close\r\n\r\n",
    );
    assert.match(scrape, /^HTTP\/1\.1 200 OK\r\n/);
    assert.ok(scrape.endsWith(renderMetrics(input(3, 1)).toString("latin1")), scrape.slice(0, 200));
    const elsewhere = await exchange(
      port,
      "GET /other HTTP/1.1\r\nHost: x\r\nExpect: something-else\r\nConnection: close\r\n\r\n",
    );
    assert.match(elsewhere, /^HTTP\/1\.1 404 Not Found\r\n/);
  });

  it("a request asking for an upgrade is answered with Connection: close: Node's parser drops a request pipelined behind it, which waited unanswered on an open connection", async () => {
    const port = await serve(() => Promise.resolve(input(3, 1)));
    const answer = await exchange(
      port,
      "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n" +
        "GET /other HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert.match(answer, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(answer, /\r\nConnection: close\r\n/);
    assert.ok(answer.endsWith(renderMetrics(input(3, 1)).toString("latin1")), answer.slice(-100));
  });

  it("answers 500 and reports the error when a scrape fails", async () => {
    const errors: unknown[] = [];
    const port = await serve(
      () => Promise.reject(new Error("status round failed")),
      (error) => errors.push(error),
    );
    assert.equal((await request(port, "GET", "/metrics")).status, 500);
    assert.match(String(errors[0]), /status round failed/);
  });
});
