/**
 * The HTTP path as nginx has it: the master holds the listening sockets, workers accept for
 * themselves. Real trees, real sockets on 127.0.0.1, hard deadlines.
 */
import assert from "node:assert/strict";
import { readdirSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { describe, it } from "node:test";
import { scratchDir } from "../helpers/scratch.ts";
import { alive, startTree, until } from "../helpers/tree.ts";

const APP = "test/fixtures/http/app.ts";

/** GET with a deadline; the body, or "timeout" / the error's code. */
function hit(
  url: string,
  options: { agent?: Agent; timeoutMs?: number } = {},
): Promise<{ body: string; ms: number; error: string | null }> {
  const started = performance.now();
  return new Promise((resolve) => {
    const done = (body: string, error: string | null): void => {
      resolve({ body, ms: performance.now() - started, error });
    };
    const req = request(
      url,
      { agent: options.agent ?? false, timeout: options.timeoutMs ?? 5_000 },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (body += chunk));
        res.on("end", () => done(body, null));
        res.on("error", (error: NodeJS.ErrnoException) => done(body, error.code ?? error.message));
      },
    );
    req.on("timeout", () => {
      req.destroy();
      done("", "timeout");
    });
    req.on("error", (error: NodeJS.ErrnoException) => done("", error.code ?? error.message));
    req.end();
  });
}

function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Opens `n` connections to `port` and resolves with the sockets once all are connected. */
function openSockets(port: number, n: number): Promise<Socket[]> {
  return Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<Socket>((resolve, reject) => {
          const socket = connect(port, "127.0.0.1", () => resolve(socket));
          socket.on("error", reject);
        }),
    ),
  );
}

describe("workers accept for themselves", () => {
  it("SIGKILL of a worker every 200 ms for 20 s under load: no request hangs, the master's fds stay flat", async () => {
    const tree = await startTree(APP, { workers: 2, deadlineMs: 120_000 });
    await until(async () =>
      (await tree.status()).processes.some((p) => p.type === "standby" && p.state === "running"),
    );
    const fdsBefore = fdCount(tree.masterPid);
    let stopping = false;
    const outcomes = { ok: 0, hung: 0, failed: 0 };
    const errors = new Map<string, number>();
    /** Workers seen answering lately (from the bodies): the victims. */
    const serving = new Set<number>();
    const client = async (): Promise<void> => {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      while (!stopping) {
        const r = await hit(tree.url("/"), { agent, timeoutMs: 5_000 });
        if (r.error === null && r.body.startsWith("pid=")) {
          outcomes.ok++;
          serving.add(Number(r.body.slice(4)));
        } else if (r.error === "timeout") outcomes.hung++;
        else {
          outcomes.failed++;
          errors.set(r.error ?? "bad body", (errors.get(r.error ?? "bad body") ?? 0) + 1);
        }
      }
      agent.destroy();
    };
    const clients = Array.from({ length: 8 }, client);
    const deadline = Date.now() + 20_000;
    let kills = 0;
    while (Date.now() < deadline) {
      for (const pid of serving) if (!alive(pid)) serving.delete(pid);
      const victim = [...serving][kills % Math.max(1, serving.size)];
      if (victim !== undefined) {
        process.kill(victim, "SIGKILL");
        kills++;
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }

    stopping = true;
    await Promise.all(clients);
    const report = `${kills} kills; ${JSON.stringify(outcomes)}; errors ${JSON.stringify([...errors])}`;
    assert.equal(outcomes.hung, 0, `hung requests: ${report}`);
    // Every kill that found a live serving worker was made (respawns back off up to 1 s).
    assert.ok(kills >= 10, report);
    process.stdout.write(`# ${report}\n`);
    assert.ok(outcomes.ok > 100, JSON.stringify(outcomes));
    // Settled again: two workers, a standby; the master holds what it held before.
    assert.ok(
      await until(async () => {
        const rows = (await tree.status()).processes;
        return rows.filter((p) => p.type === "worker" && p.state === "running").length === 2;
      }, 30_000),
    );
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const fdsAfter = fdCount(tree.masterPid);
    assert.ok(Math.abs(fdsAfter - fdsBefore) <= 8, `master fds ${fdsBefore} → ${fdsAfter}`);
    await tree.command("stop", "--fast");
  });

  it("a worker whose event loop is blocked does not get the connections the other worker can take", async () => {
    const tree = await startTree(APP, { workers: 2 });
    const blocking = hit(tree.url("/block?s=3"), { timeoutMs: 10_000 });
    await new Promise((resolve) => setTimeout(resolve, 300)); // the block has begun
    const results = [];
    for (let i = 0; i < 20; i++) results.push(await hit(tree.url("/"), { timeoutMs: 5_000 }));
    const blocked = /pid=(\d+)/.exec((await blocking).body)?.[1];
    assert.ok(blocked !== undefined);
    const slowest = Math.max(...results.map((r) => r.ms));
    assert.ok(
      results.every((r) => r.error === null && !r.body.includes(`pid=${blocked}`)),
      "all 20 served by the worker that was not blocked",
    );
    assert.ok(slowest < 1_000, `slowest of 20: ${slowest.toFixed(0)} ms (the block lasts 3000 ms)`);
    await tree.command("stop");
  });
});

describe("Node's HTTP timeouts and draining work in the workers", () => {
  it("500 slowloris connections are closed by headersTimeout", async () => {
    const dir = scratchDir("slowloris");
    const config = join(dir, "c.ts");
    writeFileSync(config, `export default { http: { headersTimeout: 1, requestTimeout: 2 } };\n`);
    const tree = await startTree(APP, { workers: 2, args: ["--config", config] });
    const sockets = await openSockets(tree.port, 500);
    let closed = 0;
    for (const socket of sockets) {
      socket.on("close", () => closed++);
      socket.on("error", () => undefined);
      socket.write("GET / HTTP/1.1\r\nHost: x\r\n");
    }
    const drip = setInterval(() => {
      for (const socket of sockets) if (!socket.destroyed) socket.write("X-Slow: 1\r\n");
    }, 300);
    const started = Date.now();
    const allClosed = await until(() => closed === 500, 15_000);
    clearInterval(drip);
    assert.ok(allClosed, `${closed} of 500 closed`);
    const took = Date.now() - started;
    assert.ok(took < 5_000, `closed within ${took} ms (headersTimeout 1 s)`);
    await tree.command("stop");
  });

  it("a graceful stop with 500 idle keep-alive connections finishes within 1.5 s", async () => {
    const tree = await startTree(APP, { workers: 2 });
    const sockets = await openSockets(tree.port, 500);
    let answered = 0;
    for (const socket of sockets) {
      socket.on("error", () => undefined);
      socket.on("data", () => answered++);
      socket.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    }
    assert.ok(await until(() => answered >= 500, 15_000), `${answered} answered`);
    const started = Date.now();
    process.kill(tree.masterPid, "SIGQUIT");
    const done = await tree.run.done;
    const took = Date.now() - started;
    assert.equal(done.code, 0);
    assert.ok(took < 1_500 + 500, `stopped in ${took} ms`);
    assert.ok(
      sockets.every((s) => s.destroyed || s.readableEnded),
      "every idle connection was closed",
    );
  });
});
