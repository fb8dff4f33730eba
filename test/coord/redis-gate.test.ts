import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer, connect, type Server, type Socket } from "node:net";
import { after, describe, it } from "node:test";
import { Redis } from "ioredis";
import { claimTtl, type CoordinatorLog } from "../../src/coord/index.ts";
import { RedisGate } from "../../src/coord/redis-gate.ts";
import { TimerSystem } from "../../src/timer/index.ts";
import { systemClock } from "../../src/util/clock.ts";
import { freePort } from "../helpers/ports.ts";
import { startRedis } from "../helpers/redis.ts";
import { until } from "../helpers/tree.ts";

function recorder(): { log: CoordinatorLog; lines: string[] } {
  const lines: string[] = [];
  return { log: (level, message) => lines.push(`[${level}] ${message}`), lines };
}

/**
 * A TCP proxy on a loopback port in front of Redis. `cut()` makes Redis unreachable: it closes the
 * open connections and from then on closes every new one at once, recording when each arrived
 * (the client's reconnect attempts); `restore()` forwards again.
 */
async function cuttableProxy(target: number): Promise<{
  url: string;
  attempts: number[];
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}> {
  let cut = false;
  const attempts: number[] = [];
  const open = new Set<Socket>();
  const server: Server = createServer((client) => {
    if (cut) {
      attempts.push(performance.now());
      client.destroy();
      return;
    }
    const upstream = connect(target, "127.0.0.1");
    for (const socket of [client, upstream]) {
      open.add(socket);
      socket.on("close", () => open.delete(socket));
      socket.on("error", () => undefined);
    }
    client.pipe(upstream).pipe(client);
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `redis://127.0.0.1:${port}`,
    attempts,
    cut() {
      cut = true;
      for (const socket of open) socket.destroy();
    },
    restore() {
      cut = false;
    },
    close: () =>
      new Promise((resolve) => {
        for (const socket of open) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

describe("the Redis coordinator (singleton: cluster)", () => {
  it("exactly one of several processes claims each tick; the fencing token grows with every claimed tick", async () => {
    const redis = await startRedis();
    const gates = [0, 1, 2].map(
      (i) => new RedisGate({ url: redis.url, log: recorder().log, owner: `host${i}` }),
    );
    try {
      const base = Math.floor(Date.now() / 1000) * 1000;
      for (const gate of gates) gate.keep("job"); // a catchUp timer's runs are recorded
      const tokens: number[] = [];
      for (let tick = 0; tick < 20; tick++) {
        const due = base + tick * 1000;
        const wins = await Promise.all(gates.map((gate) => gate.claim("job", due, 1000)));
        assert.equal(wins.filter(Boolean).length, 1, `tick ${tick}: one winner`);
        const winner = gates[wins.indexOf(true)];
        tokens.push(winner?.fence("job", due) ?? -1);
        winner?.settled("job", due, true);
      }
      assert.deepEqual(
        tokens,
        Array.from({ length: 20 }, (_, i) => (tokens[0] as number) + i),
      );
      assert.equal(await gates[0]?.lastRun("job"), base + 19_000);
      // A tick already claimed is not claimed again, however late the claim comes.
      assert.equal(await gates[1]?.claim("job", base, 1000), false);
    } finally {
      await Promise.all(gates.map((gate) => gate.close()));
    }
  });

  it("a tick that did not run, or whose run threw, is not recorded as the timer's last run (stop 26)", async () => {
    const redis = await startRedis();
    const gate = new RedisGate({ url: redis.url, log: recorder().log });
    try {
      const base = Math.floor(Date.now() / 1000) * 1000;
      gate.keep("nr"); // a catchUp timer's runs are recorded
      assert.equal(await gate.claim("nr", base + 1000, 1000), true);
      assert.equal(await gate.claim("nr", base, 1000), true);
      gate.settled("nr", base + 1000, false);
      gate.settled("nr", base, true);
      assert.equal(gate.fence("nr", base + 1000), null, "the fence of a settled tick is forgotten");
      // One connection, in order: once the later write shows, the earlier one was applied or dropped.
      // Before: the tick that did not run was recorded, and catchUp never replayed it.
      assert.ok(await until(async () => (await gate.lastRun("nr")) !== null));
      assert.equal(await gate.lastRun("nr"), base);
    } finally {
      await gate.close();
    }
  });

  it("a claim failing while Redis cannot be reached names the connection's error, not ioredis's queue (stop 26)", async () => {
    const port = await freePort(); // nothing listens there
    const { log } = recorder();
    const gate = new RedisGate({ url: `redis://127.0.0.1:${port}`, log });
    try {
      for (let i = 0; i < 2; i++) {
        const error = await gate.claim("job", Date.now(), 1000).then(
          () => null,
          (e: unknown) => e,
        );
        // Before: "Stream isn't writeable and enableOfflineQueue options is false".
        assert.match(
          String(error),
          new RegExp(`coordinator redis://127\\.0\\.0\\.1:${port}/? unreachable \\(connect ECONNREFUSED`),
        );
      }
    } finally {
      await gate.close();
    }
  });

  it("a coordinator URL pointing at a server that is not Redis (HTTP): claims fail at once naming the protocol error, not ioredis's queue", async () => {
    const sockets = new Set<Socket>();
    const http = createServer((socket) => {
      sockets.add(socket);
      socket.on("error", () => undefined);
      socket.on("data", () => socket.write("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n"));
    });
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    const { port } = http.address() as { port: number };
    const { log, lines } = recorder();
    const gate = new RedisGate({ url: `redis://127.0.0.1:${port}`, log });
    try {
      const started = performance.now();
      for (let i = 0; i < 3; i++) {
        const error = await gate.claim("job", Date.now(), 1000).then(
          () => null,
          (e: unknown) => e,
        );
        // Before: "… unreachable (Stream isn't writeable and enableOfflineQueue options is false)":
        // the ready check's own failure, which ioredis also emits as an error, replaced the reason.
        assert.match(String(error), /unreachable \(Protocol error, got "H" as reply type byte/);
      }
      assert.ok(performance.now() - started < 2_000, "no claim waits for a timeout");
      assert.match(lines[0] ?? "", /^\[error\] coordinator .* unreachable \(Protocol error/);
    } finally {
      await gate.close();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => http.close(resolve));
    }
  });

  it("a Redis that accepts connections and never answers (SIGSTOPped) from the start: a claim fails within the command timeout, not after ioredis's ~10 s handshake; SIGCONT: claims work", async () => {
    const redis = await startRedis();
    const { log } = recorder();
    redis.child.kill("SIGSTOP");
    const gate = new RedisGate({ url: redis.url, log });
    try {
      const started = performance.now();
      const error = await gate.claim("job", Date.now(), 1000).then(
        () => null,
        (e: unknown) => e,
      );
      const waited = performance.now() - started;
      // Before: ~10 s (CLIENT SETINFO, then INFO, each under the 5 s command timeout), then
      // "Command timed out"; a graceful exit waits for the claims that are out meanwhile.
      assert.ok(waited < 6_000, `the claim waited ${Math.round(waited)} ms`);
      assert.match(
        String(error),
        /coordinator redis:\/\/127\.0\.0\.1:\d+\/? unreachable \(no answer in 5 s\)/,
      );
      redis.child.kill("SIGCONT");
      assert.ok(
        await until(
          () => gate.claim("job", Math.floor(Date.now() / 1000) * 1000, 1000).then(Boolean, () => false),
          20_000,
        ),
        "claims work once Redis answers again",
      );
    } finally {
      redis.child.kill("SIGCONT");
      await gate.close();
    }
  });

  it("claims asked for while the first connection is still being made wait for it instead of failing", async () => {
    const redis = await startRedis();
    const { log, lines } = recorder();
    const gate = new RedisGate({ url: redis.url, log });
    try {
      const base = Math.floor(Date.now() / 1000) * 1000;
      // One claim per turn of the event loop, through every state of the connection (wait,
      // connecting, connect, ready).
      const claims: Promise<boolean>[] = [];
      for (let tick = 0; tick < 100; tick++) {
        claims.push(gate.claim(`early${tick}`, base, 1000));

        await new Promise((resolve) => setImmediate(resolve));
      }
      assert.deepEqual(await Promise.all(claims), Array<boolean>(100).fill(true));
      assert.deepEqual(lines, []);
    } finally {
      await gate.close();
    }
  });

  it("lastRun (catchUp) asked before the first connection is made waits for it instead of failing", async () => {
    const redis = await startRedis();
    const writer = new RedisGate({ url: redis.url, log: recorder().log });
    const { log, lines } = recorder();
    let reader: RedisGate | null = null;
    try {
      const due = Math.floor(Date.now() / 1000) * 1000;
      writer.keep("cu"); // a catchUp timer's runs are recorded
      assert.equal(await writer.claim("cu", due, 1000), true);
      writer.settled("cu", due, true);
      await until(async () => (await writer.lastRun("cu")) === due);
      // Before: "Stream isn't writeable and enableOfflineQueue options is false" at every start,
      // so a cluster singleton with catchUp never caught up.
      reader = new RedisGate({ url: redis.url, log });
      assert.equal(await reader.lastRun("cu"), due);
      assert.deepEqual(lines, []);
    } finally {
      await Promise.all([writer.close(), reader?.close()]);
    }
  });

  it("a database the server does not have: claims fail naming it, instead of going to db 0", async () => {
    const redis = await startRedis();
    const { log, lines } = recorder();
    const gate = new RedisGate({ url: `${redis.url.replace(/\/\d*$/, "")}/99`, log });
    try {
      // Before: "is back; cluster timers run again", then every claim won in db 0.
      await assert.rejects(
        gate.claim("job", Date.now(), 1000),
        /the server has no database 99 \(ERR DB index is out of range\)/,
      );
      await assert.rejects(gate.lastRun("job"), /the server has no database 99/);
      assert.ok(
        lines.some((l) => l.startsWith("[error] coordinator") && l.includes("DB index is out of range")),
      );
      assert.ok(!lines.some((l) => l.includes("is back; cluster timers run again")), lines.join("\n"));
    } finally {
      await gate.close();
    }
  });

  it("refuses a tick whose due time is further from Redis's clock than half a claim's lifetime, and says so once", async () => {
    const redis = await startRedis();
    const { log, lines } = recorder();
    const gate = new RedisGate({ url: redis.url, log });
    try {
      const skewed = Date.now() - claimTtl(1000); // this host's clock a minute behind
      assert.equal(await gate.claim("job", skewed, 1000), false);
      assert.equal(await gate.claim("job", skewed + 1000, 1000), false);
      assert.equal(
        lines.filter((l) =>
          l.includes(
            "by Redis's clock its tick is more than 30 s away: this host's clock is off, or this process was held up",
          ),
        ).length,
        1,
      );
      assert.equal(await gate.claim("job", Date.now(), 1000), true);
    } finally {
      await gate.close();
    }
  });

  it("Redis stopped: claims fail at once (no queue) and the loss is logged once; Redis back: claims work and that is logged", async () => {
    let redis = await startRedis();
    const { log, lines } = recorder();
    const gate = new RedisGate({ url: redis.url, log });
    try {
      assert.equal(await gate.claim("job", Date.now(), 200), true);
      await redis.stop();
      const started = Date.now();
      for (let i = 0; i < 5; i++) await assert.rejects(gate.claim("job", Date.now() + i, 200));
      assert.ok(Date.now() - started < 2_000, "failed claims do not wait");
      assert.ok(await until(() => lines.some((l) => l.includes("unreachable")), 5_000), lines.join("\n"));
      for (let i = 0; i < 5; i++) await assert.rejects(gate.claim("job", Date.now() + 10 + i, 200));
      assert.equal(
        lines.filter((l) => l.includes("unreachable")).length,
        1,
        "said once, however many ticks fail",
      );
      redis = await redis.restart();
      const back = Date.now() + 100_000;
      let claimed = false;
      while (!claimed && Date.now() < back) {
        claimed = await gate.claim("job", Date.now(), 200).catch(() => false);
        if (!claimed) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.ok(claimed, "claims work again");
      assert.ok(
        lines.some((l) => l.includes("is back")),
        lines.join("\n"),
      );
    } finally {
      await gate.close();
    }
  });

  it("fencing: a process that claimed a tick and stalled past the next one holds a lower token than the later run, so a store that keeps the highest token refuses its late write", async () => {
    const redis = await startRedis();
    const a = new RedisGate({ url: redis.url, log: recorder().log, owner: "a" });
    const b = new RedisGate({ url: redis.url, log: recorder().log, owner: "b" });
    /** What a user's store does with ngx.timer.current().fence: refuse anything older than the newest seen. */
    const store = { value: "", highest: 0 };
    const write = (value: string, fence: number | null): boolean => {
      if (fence === null || fence <= store.highest) return false;
      store.highest = fence;
      store.value = value;
      return true;
    };
    try {
      const base = Math.floor(Date.now() / 1000) * 1000;
      // a claims tick 1, then stalls (a GC pause, a stopped VM) before it writes.
      assert.equal(await a.claim("report", base, 1000), true);
      assert.equal(await b.claim("report", base, 1000), false);
      const stale = a.fence("report", base);
      assert.equal(
        b.fence("report", base),
        null,
        "a process that did not claim the tick has no token for it",
      );
      // Meanwhile b runs tick 2 and writes.
      assert.equal(await b.claim("report", base + 1000, 1000), true);
      const current = b.fence("report", base + 1000);
      assert.ok(stale !== null && current !== null && current > stale, `tokens ${stale} then ${current}`);
      assert.equal(write("tick 2", current), true);
      // a wakes up: its run of tick 1 tries to write, and the store refuses the lower token.
      assert.equal(write("tick 1 (late)", stale), false);
      assert.deepEqual(store, { value: "tick 2", highest: current });
      // A late claim of the stalled tick is refused too, in either process.
      assert.equal(await a.claim("report", base, 1000), false);
      assert.equal(await b.claim("report", base, 1000), false);
      // a's next claimed tick gets a token above every earlier one, and its write goes through.
      assert.equal(await a.claim("report", base + 2000, 1000), true);
      assert.equal(write("tick 3", a.fence("report", base + 2000)), true);
      // Once settled, the token is forgotten: a job can only read it during its own run.
      a.settled("report", base, true);
      assert.equal(a.fence("report", base), null);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it("only a catchUp timer's runs are recorded: a timer without catchUp leaves no key in Redis that outlives its claims (its last run stayed for ever)", async () => {
    const redis = await startRedis();
    const gate = new RedisGate({ url: redis.url, log: recorder().log });
    const probe = new Redis(redis.url, { lazyConnect: true });
    try {
      const base = Math.floor(Date.now() / 1000) * 1000;
      gate.keep("caught");
      for (const name of ["plain", "caught"]) {
        assert.equal(await gate.claim(name, base, 1000), true);
        gate.settled(name, base, true);
      }
      // One connection, in order: once the catchUp timer's record shows, the other's was sent or not.
      assert.ok(await until(async () => (await gate.lastRun("caught")) === base));
      await probe.connect();
      assert.equal(
        await probe.exists("tsresty:{plain}:last"),
        0,
        "no last run kept for a timer without catchUp",
      );
      const forever = [];
      for (const key of await probe.keys("tsresty:*")) if ((await probe.pttl(key)) === -1) forever.push(key);
      assert.deepEqual(
        forever,
        ["tsresty:{caught}:last"],
        "the only key without an expiry is the catchUp timer's last run",
      );
    } finally {
      probe.disconnect();
      await gate.close();
    }
  });

  it("the fencing counter expires once its name is unused, and made again (expired, evicted, or lost with a Redis restarted without persistence) starts above every token given before; it started at 1 again and never expired", async () => {
    let redis = await startRedis();
    const gate = new RedisGate({ url: redis.url, log: recorder().log });
    const probe = new Redis(redis.url, { lazyConnect: true });
    try {
      const base = Math.floor(Date.now() / 1000) * 1000;
      assert.equal(await gate.claim("renamed", base, 1000), true);
      assert.equal(await gate.claim("renamed", base + 1000, 1000), true);
      const before = gate.fence("renamed", base + 1000) as number;
      assert.equal(before, (gate.fence("renamed", base) as number) + 1, "one more with every claimed tick");
      // Bounded (30 days, as documented), and longer than any claim of the name: a renamed timer's key goes.
      await probe.connect();
      const ttl = await probe.pttl("tsresty:{renamed}:fence");
      assert.ok(ttl > claimTtl(1000) && ttl <= 30 * 86_400_000, `the fence key's ttl: ${ttl} ms`);
      probe.disconnect();
      redis = await redis.restart(); // an empty Redis: the counter is gone
      let claimed = false;
      for (let i = 0; !claimed && i < 100; i++) {
        claimed = await gate.claim("renamed", base + 2000 + i, 1000).catch(() => false);
        if (!claimed) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.ok(claimed, "claims work again");
      const after = [...Array(100).keys()]
        .map((i) => gate.fence("renamed", base + 2000 + i))
        .find((token) => token !== null);
      assert.ok(after !== undefined && after > before, `a token after the loss (${after}) above ${before}`);
    } finally {
      probe.disconnect();
      await gate.close();
    }
  });

  it("Redis unreachable: the client retries with backoff (n × 100 ms after the n-th failure), ticks due meanwhile are skipped, and none is run later to catch up", async () => {
    const redis = await startRedis();
    const proxy = await cuttableProxy(redis.port);
    const { log, lines } = recorder();
    const gate = new RedisGate({ url: proxy.url, log });
    const timers = new TimerSystem({
      clock: systemClock,
      log: () => undefined,
      gates: { cluster: gate },
      maxPending: 16,
      maxRunning: 16,
      runningLimit: "wait",
    });
    const runs: { due: number; at: number }[] = [];
    try {
      timers.every({ interval: 0.2, name: "job", singleton: "cluster" }, (premature) => {
        if (!premature) runs.push({ due: Math.round((timers.current()?.due ?? 0) * 1000), at: Date.now() });
      });
      assert.ok(await until(() => runs.length >= 3, 10_000), "ticks run while Redis is up");
      const cutAt = performance.now();
      const down = Date.now();
      proxy.cut();
      await new Promise((resolve) => setTimeout(resolve, 4_000));
      proxy.restore();
      const up = Date.now();
      assert.ok(
        await until(() => runs.some((r) => r.due > up), 10_000),
        "ticks run again once Redis is back",
      );
      await new Promise((resolve) => setTimeout(resolve, 1_000));

      // The n-th failed connection is followed by a wait of n × 100 ms (capped at 2 s, beyond this
      // test's 4 s) before the next attempt: attempt n comes at least 100·n(n+1)/2 ms after the cut.
      const since = proxy.attempts.map((t) => Math.round(t - cutAt));
      assert.ok(since.length >= 4 && since.length <= 8, `attempts at ${since.join(", ")} ms after the cut`);
      since.forEach((t, i) => {
        const n = i + 1;
        assert.ok(t >= (100 * n * (n + 1)) / 2 - 5, `attempt ${n} at ${t} ms`);
      });
      const gaps = since.slice(1).map((t, i) => t - (since[i] ?? 0));
      gaps.forEach((gap, i) => {
        const wait = 100 * (i + 2);
        assert.ok(gap >= wait - 5 && gap < wait + 1_000, `gaps ${gaps.join(", ")} ms`);
      });

      const dues = runs.map((r) => r.due);
      assert.equal(new Set(dues).size, dues.length, "no tick ran twice");
      assert.deepEqual(
        runs.filter((r) => r.due > down + 300 && r.due < up - 300),
        [],
        "no tick due while Redis was unreachable ran, then or later",
      );
      assert.ok(
        runs.every((r) => r.at - r.due < 1_000),
        "every run started at its own tick, none long after",
      );
      assert.equal(lines.filter((l) => l.includes("unreachable")).length, 1, lines.join("\n"));
      assert.equal(lines.filter((l) => l.includes("is back;")).length, 1, lines.join("\n"));
    } finally {
      timers.destroy();
      await gate.close();
      await proxy.close();
    }
  });

  it("a rediss:// URL on a Redis without TLS, and a redis:// URL on a Redis with TLS only: the claim's error says what to check (they gave 'no answer in 5 s' and 'read ECONNRESET')", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tsresty-tls-"));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const cert = join(dir, "cert.pem");
    const key = join(dir, "key.pem");
    execFileSync(
      "openssl",
      ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"].concat([
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        key,
        "-out",
        cert,
      ]),
      { stdio: "ignore", timeout: 30_000 },
    );
    const [plain, tls] = await Promise.all([startRedis(), startRedis(undefined, { cert, key })]);
    const cases = [
      {
        url: plain.url.replace("redis:", "rediss:"),
        why: /no answer in 5 s; a rediss:\/\/ URL speaks TLS: is TLS on at that port\?\)/,
      },
      {
        url: tls.url,
        why: /ECONNRESET; if the server speaks TLS on that port, the URL must be rediss:\/\/\)/,
      },
    ];
    await Promise.all(
      cases.map(async ({ url, why }) => {
        const { log, lines } = recorder();
        const gate = new RedisGate({ url, log });
        try {
          const error = await gate.claim("job", Date.now(), 1000).then(
            () => null,
            (e: unknown) => e,
          );
          assert.match(String(error), why);
          assert.match(String(error), /^Error: coordinator rediss?:\/\/127\.0\.0\.1:\d+\/? unreachable \(/);
          if (!url.startsWith("rediss:")) assert.match(lines[0] ?? "", why);
        } finally {
          await gate.close();
        }
      }),
    );
    await Promise.all([plain.stop(), tls.stop()]);
  });
});
