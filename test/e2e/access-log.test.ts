/**
 * The access log (config `accessLog`), written by the workers for real requests: one whole line per
 * response in the chosen format, from every worker into one file, and reopened on USR1.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { request as httpRequest, Agent } from "node:http";
import { connect, createServer } from "node:net";
import { join } from "node:path";
import { describe, it } from "node:test";
import { formatEntry, timeLocal } from "../../src/worker/access-log.ts";
import { ROOT_ONLY } from "../helpers/processes.ts";
import { scratchApp, scratchDir } from "../helpers/scratch.ts";
import { startWithConfig } from "../helpers/start-with-config.ts";
import { get, startTree, until } from "../helpers/tree.ts";

const APP = `export default {
  fetch(request: Request) {
    const path = new URL(request.url).pathname;
    return new Response("body of " + path, { status: path === "/missing" ? 404 : 200 });
  },
};
`;

const COMBINED =
  /^127\.0\.0\.1 - - \[\d\d\/[A-Z][a-z]{2}\/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "(GET|POST) (\/\S*) HTTP\/1\.1" (\d{3}) (\d+) "([^"]*)" "([^"]*)"$/;

/** `count` requests over keep-alive connections (two at a time), each with a referer. */
async function requests(port: number, count: number, path = (i: number): string => `/r${i}`): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: 2 });
  await Promise.all(
    Array.from(
      { length: count },
      (_, i) =>
        new Promise<void>((resolve, reject) => {
          const req = httpRequest(
            {
              host: "127.0.0.1",
              port,
              path: path(i),
              agent,
              headers: { referer: "http://ref/", "user-agent": 'ua "quoted"' },
            },
            (res) => {
              res.resume();
              res.on("end", resolve);
            },
          );
          req.on("error", reject);
          req.end();
        }),
    ),
  );
  agent.destroy();
}

const lines = (path: string): string[] =>
  existsSync(path)
    ? readFileSync(path, "utf8")
        .split("\n")
        .filter((line) => line !== "")
    : [];

/**
 * A tree of `workers` running `app` (the text of app.ts) with a JSON access log, and `http` (the
 * text of an object) as config key http when given; returns the tree and the log's path.
 */
async function treeWithJsonLog(
  app: string,
  workers: number,
  http = "",
): Promise<{ tree: Awaited<ReturnType<typeof startTree>>; log: string }> {
  const dir = scratchApp({ "app.ts": app });
  const log = join(dir, "access.json.log");
  const config = join(dir, "c.ts");
  const httpKey = http === "" ? "" : `, http: ${http}`;
  writeFileSync(
    config,
    `export default { accessLog: { path: ${JSON.stringify(log)}, format: "json" }${httpKey} };\n`,
  );
  const tree = await startTree(join(dir, "app.ts"), { workers, args: ["--config", config] });
  return { tree, log };
}

describe("the access log", () => {
  it("N requests to 2 workers make N whole combined lines, and USR1 reopens the file", async () => {
    const dir = scratchApp({ "app.ts": APP });
    const log = join(dir, "logs", "access.log");
    const config = join(dir, "c.ts");
    writeFileSync(config, `export default { accessLog: ${JSON.stringify(log)} };\n`);
    const tree = await startTree(join(dir, "app.ts"), { workers: 2, args: ["--config", config] });
    await requests(tree.port, 40, (i) => (i === 7 ? "/missing" : `/r${i}`));
    assert.ok(await until(() => lines(log).length >= 40), `40 lines: ${lines(log).length}`);
    const written = lines(log);
    assert.equal(written.length, 40);
    const paths = new Set<string>();
    for (const line of written) {
      const match = COMBINED.exec(line);
      assert.ok(match !== null, `a whole combined line: ${line}`);
      const [, , path = "", status, bytes, referer, agent] = match;
      paths.add(path);
      assert.equal(status, path === "/missing" ? "404" : "200");
      assert.ok(Number(bytes) > `body of ${path}`.length, "bytes sent, headers included");
      assert.equal(referer, "http://ref/");
      assert.equal(agent, "ua \\x22quoted\\x22", "quotes escaped as nginx does");
    }
    assert.equal(paths.size, 40, "one line per request");

    // Rotation: the file is moved away, USR1 to the master, and new lines go to a new file.
    renameSync(log, `${log}.1`);
    process.kill(tree.masterPid, "SIGUSR1");
    assert.ok(await until(() => tree.run.stderr().includes("reopening logs")));
    // The workers hear it over IPC just after; requests until the new file has lines.
    assert.ok(
      await until(async () => {
        await requests(tree.port, 2);
        return lines(log).length > 0;
      }),
      "the new file gets lines",
    );
    assert.ok(lines(log).every((line) => COMBINED.test(line)));
    assert.equal(lines(`${log}.1`).length >= 40, true);
    await tree.command("stop");
  });

  it("format json writes one JSON object per response", async () => {
    const { tree, log } = await treeWithJsonLog(APP, 2);
    await requests(tree.port, 25);
    assert.ok(await until(() => lines(log).length >= 25));
    const entries = lines(log).map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.equal(entries.length, 25);
    for (const entry of entries) {
      assert.equal(entry["method"], "GET");
      assert.match(String(entry["url"]), /^\/r\d+$/);
      assert.equal(entry["status"], 200);
      assert.equal(entry["protocol"], "HTTP/1.1");
      assert.equal(entry["remote"], "127.0.0.1");
      assert.equal(entry["userAgent"], 'ua "quoted"');
      assert.ok(entry["worker"] === 0 || entry["worker"] === 1);
      assert.ok(typeof entry["duration"] === "number" && entry["duration"] >= 0);
      assert.ok(!Number.isNaN(Date.parse(String(entry["time"]))));
    }
    assert.equal(new Set(entries.map((e) => e["url"])).size, 25);
    await tree.command("stop");
  });
});

describe("logs on the process's own stdout and stderr", () => {
  it("accessLog /dev/stdout and errorLog /dev/stderr work when those are sockets (the test's pipes, systemd's journal): the access lines reach the output log through the worker's stdout", async () => {
    const dir = scratchApp({ "app.ts": APP });
    const config = join(dir, "c.ts");
    writeFileSync(
      config,
      'export default { accessLog: { path: "/dev/stdout", format: "json" }, errorLog: "/dev/stderr" };\n',
    );
    // Before: start failed, "/dev/stdout is a FIFO that no process reads" (a socket cannot be
    // opened by name: ENXIO), and the master refused errorLog /dev/stderr the same way.
    const tree = await startTree(join(dir, "app.ts"), { workers: 1, args: ["--config", config] });
    await get(tree.url("/via-stdout"));
    assert.ok(await until(() => tree.run.stdout().includes('"url":"/via-stdout"')), tree.run.stdout());
    const line =
      tree.run
        .stdout()
        .split("\n")
        .find((l) => l.includes('"url":"/via-stdout"')) ?? "";
    // A worker's stdout is the master's to attribute, as any line it prints.
    assert.match(line, /^\S+ \S+ \d+#0: \{.*"status":200/);
    assert.match(tree.run.stderr(), /\[notice\] \d+#-: /, "the error log is the master's stderr");
    await tree.command("stop");
  });
});

describe("the access log when the client leaves", () => {
  it("a response the client left before it was sent is 499, with the client's address still in the line", async () => {
    const { tree, log } = await treeWithJsonLog(
      `export default {
  handler(_req: unknown, res: { end(s: string): void }) {
    setTimeout(() => res.end("late"), 300);
  },
};
`,
      1,
    );
    await new Promise<void>((resolve) => {
      const req = httpRequest({ host: "127.0.0.1", port: tree.port, path: "/left" });
      req.on("error", () => {
        resolve();
      });
      req.end();
      setTimeout(() => req.destroy(), 50);
    });
    assert.ok(await until(() => lines(log).length >= 1));
    const entry = JSON.parse(lines(log)[0] ?? "{}") as Record<string, unknown>;
    assert.equal(entry["status"], 499);
    assert.equal(entry["url"], "/left");
    // Before: "-", the socket having forgotten its peer by the time the line was written.
    assert.equal(entry["remote"], "127.0.0.1");
    await tree.command("stop");
  });
});

/**
 * Sends `bytes` on a new connection; what the server sent back before it closed the connection,
 * or "(open)" if it had not after `withinMs`.
 */
function exchange(port: number, bytes: string, withinMs: number): Promise<string> {
  return new Promise((resolve) => {
    let got = "";
    const socket = connect(port, "127.0.0.1", () => socket.write(bytes));
    const deadline = setTimeout(() => {
      socket.destroy();
      resolve("(open)");
    }, withinMs);
    socket.on("data", (chunk: Buffer) => (got += chunk.toString("latin1")));
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(deadline);
      resolve(got);
    });
  });
}

describe("the access log and the requests Node refuses before any handler runs", () => {
  it("a malformed request (400), headers too large (431) and a head or a body too slow (408) each get a line; a connection that sent nothing gets none", async () => {
    const { tree, log } = await treeWithJsonLog(
      `export default {
  handler(req: { on(e: string, f: () => void): void; resume(): void }, res: { end(s: string): void }) {
    req.resume();
    req.on("end", () => res.end("read"));
  },
};
`,
      1,
      "{ headersTimeout: 1, requestTimeout: 2, maxHeaderSize: 1024 }",
    );
    const refusal = (status: string): string => `HTTP/1.1 ${status}\r\nConnection: close\r\n\r\n`;
    // What the client sees is Node's own answer, as before.
    const [garbage, large, slowHead, slowBody, nothing] = await Promise.all([
      exchange(tree.port, "BLAH\r\n\r\n", 5_000),
      exchange(tree.port, `GET /large HTTP/1.1\r\nHost: a\r\nX-Big: ${"a".repeat(3000)}\r\n\r\n`, 5_000),
      exchange(tree.port, "GET /slow-head HTTP/1.1\r\nHost: a\r\n", 8_000),
      exchange(tree.port, "POST /slow-body HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nab", 8_000),
      exchange(tree.port, "", 8_000),
    ]);
    assert.equal(garbage, refusal("400 Bad Request"));
    assert.equal(large, refusal("431 Request Header Fields Too Large"));
    assert.equal(slowHead, refusal("408 Request Timeout"));
    assert.equal(slowBody, refusal("408 Request Timeout"));
    assert.equal(nothing, refusal("408 Request Timeout"));
    // And a request that is answered still is, after them.
    assert.equal((await get(tree.url("/after"))).body, "read");
    assert.ok(await until(() => lines(log).length >= 5));
    const entries = lines(log).map((line) => JSON.parse(line) as Record<string, unknown>);
    const of = (e: Record<string, unknown>): string =>
      `${String(e["status"])} ${String(e["url"])} ${String(e["bytes"])}`;
    // Four refusals (a 408 for the body, with its request; three with none read) and the 200;
    // not a line for the connection that sent nothing, nor a 499 for the body cut short.
    assert.deepEqual(entries.map(of).sort(), [
      `200 /after ${entries.find((e) => e["url"] === "/after")?.["bytes"] as number}`,
      `400 null ${refusal("400 Bad Request").length}`,
      `408 /slow-body ${refusal("408 Request Timeout").length}`,
      `408 null ${refusal("408 Request Timeout").length}`,
      `431 null ${refusal("431 Request Header Fields Too Large").length}`,
    ]);
    for (const entry of entries) {
      assert.equal(entry["remote"], "127.0.0.1");
      assert.equal(entry["worker"], 0);
      if (entry["url"] === null) {
        assert.equal(entry["method"], null);
        assert.equal(entry["duration"], null);
      }
    }
    const stopped = await tree.command("stop");
    assert.equal(stopped.code, 0);
    assert.doesNotMatch(tree.run.stdout() + tree.run.stderr(), /\[error\]/);
  });
});

/** A tree of one worker running APP with a JSON access log, and its answer to `bytes` sent on a new connection. */
async function sentToApp(
  bytes: string,
): Promise<Awaited<ReturnType<typeof treeWithJsonLog>> & { answer: string }> {
  const started = await treeWithJsonLog(APP, 1);
  return { ...started, answer: await exchange(started.tree.port, bytes, 5_000) };
}

describe("the access log and a CONNECT request", () => {
  it("is answered 400 and logged with its request line, as nginx does (Node closed it without a word, and no line)", async () => {
    const { tree, log, answer } = await sentToApp(
      "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
    );
    assert.equal(answer, "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
    assert.equal((await get(tree.url("/after"))).status, 200);
    assert.ok(await until(() => lines(log).length >= 2), lines(log).join("\n"));
    const entries = lines(log).map((line) => JSON.parse(line) as Record<string, unknown>);
    const connect = entries.find((e) => e["method"] === "CONNECT");
    assert.ok(connect !== undefined, lines(log).join("\n"));
    assert.equal(connect["url"], "example.com:443");
    assert.equal(connect["protocol"], "HTTP/1.1");
    assert.equal(connect["status"], 400);
    assert.equal(connect["bytes"], answer.length);
    assert.equal(connect["remote"], "127.0.0.1");
    assert.equal(connect["worker"], 0);
    assert.equal((await tree.command("stop")).code, 0);
  });
});

describe("the access log and an Expect other than 100-continue", () => {
  it("the request is served and logged, as nginx does (Node answered 417 without the app, and no line)", async () => {
    const { tree, log, answer } = await sentToApp(
      "POST /expecting HTTP/1.1\r\nHost: a\r\nExpect: something-else\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
    );
    assert.ok(answer.startsWith("HTTP/1.1 200 OK\r\n") && answer.endsWith("body of /expecting"), answer);
    assert.ok(await until(() => lines(log).length >= 1), lines(log).join("\n"));
    const entry = JSON.parse(lines(log)[0] ?? "{}") as Record<string, unknown>;
    assert.equal(entry["url"], "/expecting");
    assert.equal(entry["status"], 200);
    assert.equal(entry["bytes"], answer.length);
    assert.equal((await tree.command("stop")).code, 0);
  });
});

describe("the access log when Node's refusal cuts a connection with requests on it", () => {
  it("a request whose answer Node's 400 replaced says 400; one answered before a malformed one keeps its own bytes; a head cut short keeps the client's address", async () => {
    const { tree, log } = await treeWithJsonLog(
      `export default {
  handler(req: { url: string; resume(): void; on(e: string, f: () => void): void }, res: { end(s: string): void }) {
    if (req.url === "/at-once") res.end("now");
    else {
      req.resume();
      req.on("end", () => res.end("read"));
    }
  },
};
`,
      1,
    );
    const refusal = "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n";
    const head = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: a\r\n\r\n`;
    // One packet each: a request answered later, or at once, then bytes that are no request.
    const replaced = await exchange(tree.port, `${head("/replaced")}GARBAGE\r\n\r\n`, 5_000);
    const before = await exchange(tree.port, `${head("/at-once")}GARBAGE\r\n\r\n`, 5_000);
    // A head the client cuts short, then leaves.
    await exchange(tree.port, "GET /cut HTTP/1.1\r\nHost: a\r\nX-A: abc", 300);
    assert.equal(replaced, refusal);
    assert.ok(before.startsWith("HTTP/1.1 200 OK\r\n"), before);
    // Bytes read with a request answered at once (its response still holds the socket) get no
    // answer, as in Node: the connection closes (and there is no refusal to log). Read later,
    // once that response let the socket go, they get the 400.
    const refusedAfter = before.endsWith(refusal);
    const expected = refusedAfter ? 4 : 3;
    assert.ok(await until(() => lines(log).length >= expected), lines(log).join("\n"));
    const entries = lines(log).map((line) => JSON.parse(line) as Record<string, unknown>);
    const of = (e: Record<string, unknown>): string =>
      `${String(e["status"])} ${String(e["url"])} ${String(e["bytes"])} ${String(e["remote"])}`;
    // Before: "200 /replaced 47" (the client never got a 200), "200 /at-once 0" (its bytes were
    // counted for the refusal), and the cut head's line said remote "-".
    assert.deepEqual(
      entries.map(of).sort(),
      [
        `200 /at-once ${before.length - (refusedAfter ? refusal.length : 0)} 127.0.0.1`,
        `400 /replaced ${refusal.length} 127.0.0.1`,
        `400 null ${refusal.length} 127.0.0.1`,
        ...(refusedAfter ? [`400 null ${refusal.length} 127.0.0.1`] : []),
      ].sort(),
    );
    await tree.command("stop");
  });
});

describe("the access log when the worker cuts a response whose app failed after its head", () => {
  it("the response and the requests pipelined behind it are 444 when none of them was sent, never 499 nor negative bytes; a head that went out keeps its status", async () => {
    const { tree, log } = await treeWithJsonLog(
      `export default {
  handler(req: { url: string }, res: { writeHead(s: number, h: object): void; write(s: string): void; end(s: string): void }) {
    if (req.url === "/behind") return res.end("behind");
    res.writeHead(200, { "content-length": "10" });
    res.write("abc");
    const fail = () => {
      throw new Error("the app failed");
    };
    // Thrown in the same turn, the head is still in the socket's buffer; later, it went out.
    return req.url === "/fails-later" ? new Promise((resolve) => setTimeout(resolve, 200)).then(fail) : fail();
  },
};
`,
      1,
    );
    const head = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: a\r\n\r\n`;
    // One packet each: the failing request, then one behind it.
    const atOnce = await exchange(tree.port, `${head("/fails-at-once")}${head("/behind")}`, 5_000);
    const later = await exchange(tree.port, `${head("/fails-later")}${head("/behind")}`, 5_000);
    // The worker closed both connections: none of the first went out, the second's head and
    // its "abc" did, and nothing of either request behind.
    assert.equal(atOnce, "");
    assert.ok(later.startsWith("HTTP/1.1 200 OK\r\n") && later.endsWith("\r\n\r\nabc"), later);
    assert.ok(await until(() => lines(log).length >= 4), lines(log).join("\n"));
    const entries = lines(log).map((line) => JSON.parse(line) as Record<string, unknown>);
    const of = (e: Record<string, unknown>): string =>
      `${String(e["url"])} ${String(e["status"])} ${String(e["bytes"])}`;
    // Before: "/fails-at-once 499 0" and "/behind 499 -126" (the head Node counted as written,
    // then dropped with the socket), and the later one's "/behind 499 0": a client that left.
    assert.deepEqual(
      entries.map(of).sort(),
      ["/behind 444 0", "/behind 444 0", "/fails-at-once 444 0", `/fails-later 200 ${later.length}`].sort(),
    );
    assert.equal((await tree.command("stop")).code, 0);
    assert.equal(tree.run.stderr().match(/request handler failed/g)?.length, 2, tree.run.stderr());
  });
});

describe("an access log that cannot be written", () => {
  it("reloads under pipelined load: every request an app ran is answered (logged 200 and received); none is left for a client that stayed (499)", async () => {
    // Each batch: a slow request, then two pipelined behind it. A drain that closed the connection
    // after the slow one dropped the two behind it, their apps run: 499s, 360 in 124,676 requests
    // over 20 reloads when a probe found it.
    const app = `import { ngx } from "tsresty";
export default {
  async handler(req, res) {
    if (req.url === "/slow") await ngx.sleep(0.05);
    res.end("ok\\n");
  },
};
`;
    const { tree, log } = await treeWithJsonLog(app, 2);
    const batch = ["/slow", "/a", "/b"].map((path) => `GET ${path} HTTP/1.1\r\nHost: h\r\n\r\n`).join("");
    let received = 0;
    let batches = 0;
    let running = true;
    /** One connection after another, each sending batches until it closes. */
    const client = async (): Promise<void> => {
      while (running) {
        await new Promise<void>((resolve) => {
          const socket = connect(tree.port, "127.0.0.1");
          const timer = setTimeout(() => socket.destroy(), 10_000);
          let text = "";
          let answered = 0;
          socket.setEncoding("latin1");
          socket.on("connect", () => {
            batches++;
            socket.write(batch);
          });
          socket.on("data", (chunk: string) => {
            text += chunk;
            const count = text.match(/^HTTP\/1\.1 /gm)?.length ?? 0;
            received += count - answered;
            answered = count;
            if (answered % 3 === 0 && running && /\r\n\r\nok\n$/.test(text)) {
              batches++;
              socket.write(batch);
            }
          });
          socket.on("error", () => undefined);
          socket.on("close", () => {
            clearTimeout(timer);
            resolve();
          });
          if (!running) socket.end();
        });
      }
    };
    const clients = Array.from({ length: 6 }, client);
    try {
      for (let i = 0; i < 5; i++) {
        await new Promise((resolve) => setTimeout(resolve, 300));
        assert.equal((await tree.command("reload")).code, 0);
      }
      await new Promise((resolve) => setTimeout(resolve, 300));
    } finally {
      running = false;
      await Promise.all(clients);
    }
    await tree.command("stop");
    const statuses = new Map<number, number>();
    for (const line of lines(log)) {
      const status = (JSON.parse(line) as { status: number }).status;
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    }
    assert.ok(batches > 30, `${batches} batches sent`);
    assert.equal(statuses.get(499) ?? 0, 0, `statuses ${JSON.stringify([...statuses])}`);
    assert.equal(statuses.get(200), received, `statuses ${JSON.stringify([...statuses])}`);
  });

  it("fails start with an error naming the access log and its path", async () => {
    let bad = "";
    const r = await startWithConfig((dir) => {
      writeFileSync(join(dir, "file"), "a regular file\n");
      bad = join(dir, "file", "access.log");
      return `export default { accessLog: ${JSON.stringify(bad)} };\n`;
    });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, new RegExp(`cannot use access log ${bad.replace(/[.]/g, "\\.")}: `));
  });
});

describe("an access log on a full disk, a FIFO, or for workers of config.user", () => {
  it("a full disk (/dev/full): every request is answered by the same worker, and the failure is said once (each logged response killed the worker)", async () => {
    const dir = scratchApp({ "app.ts": APP, "c.ts": 'export default { accessLog: "/dev/full" };\n' });
    const tree = await startTree(join(dir, "app.ts"), { workers: 1, args: ["--config", join(dir, "c.ts")] });
    const pids = new Set<number>();
    for (let i = 0; i < 10; i++) {
      assert.equal((await get(tree.url(`/r${i}`))).status, 200);
      for (const p of (await tree.status()).processes) if (p.type === "worker") pids.add(p.pid);
    }
    assert.equal(pids.size, 1, "one worker all along");
    assert.ok(await until(() => /cannot write the access log \/dev\/full: ENOSPC/.test(tree.run.stderr())));
    assert.equal(tree.run.stderr().match(/cannot write the access log/g)?.length, 1, tree.run.stderr());
    await tree.command("stop");
  });

  it("a FIFO that no process reads fails start at once, naming it (the master blocked in open, deaf to TERM)", async () => {
    let fifo = "";
    const r = await startWithConfig((dir) => {
      fifo = join(dir, "fifo");
      execFileSync("mkfifo", [fifo]);
      return `export default { accessLog: ${JSON.stringify(fifo)} };\n`;
    });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /cannot use access log \S+fifo: \S+fifo is a FIFO that no process reads/);
  });

  it("a socket that is not the process's own stdout or stderr fails start, named as a socket (it was called a FIFO)", async () => {
    const socket = join(scratchDir("socket-log"), "log.sock");
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    try {
      const r = await startWithConfig(() => `export default { accessLog: ${JSON.stringify(socket)} };\n`);
      assert.equal(r.code, 2, r.stderr);
      assert.match(
        r.stderr,
        /cannot use access log \S+log\.sock: \S+log\.sock is a socket, which a log cannot open by name/,
      );
    } finally {
      server.close();
    }
  });

  it(
    "with config.user the file is the workers' account's, and after a rotation USR1 makes it anew for them: lines go on in the new file (the worker got EACCES at start, and at the reopen)",
    ROOT_ONLY,
    async () => {
      const dir = scratchApp({ "app.ts": APP, "c.ts": "" });
      const logs = scratchDir("access-logs");
      const log = join(logs, "new", "access.log"); // a directory of root's, made by the master
      writeFileSync(
        join(dir, "c.ts"),
        `export default { user: "nobody", accessLog: ${JSON.stringify(log)} };\n`,
      );
      const tree = await startTree(join(dir, "app.ts"), {
        workers: 1,
        args: ["--config", join(dir, "c.ts")],
      });
      const nobody = Number(execFileSync("id", ["-u", "nobody"], { encoding: "utf8" }));
      assert.equal(statSync(log).uid, nobody);
      await requests(tree.port, 2, (i) => `/before${i}`);
      assert.ok(await until(() => lines(log).length === 2));
      renameSync(log, `${log}.1`);
      process.kill(tree.masterPid, "SIGUSR1");
      assert.ok(await until(() => tree.run.stderr().includes("reopening logs")));
      assert.ok(
        await until(async () => {
          await requests(tree.port, 1, () => "/after");
          return lines(log).length > 0;
        }),
        "the new file gets lines",
      );
      assert.equal(statSync(log).uid, nobody);
      assert.ok(lines(log).every((line) => line.includes("/after")));
      assert.doesNotMatch(tree.run.stderr(), /EACCES|cannot reopen/);
      await tree.command("stop");
    },
  );
});

describe("access log lines", () => {
  const entry = {
    time: new Date(2026, 10, 29, 13, 5, 9),
    remote: "10.0.0.1",
    method: "GET",
    url: "/a?b=1",
    protocol: "HTTP/1.1",
    status: 200,
    bytes: 321,
    duration: 0.0123,
    referer: null,
    userAgent: "curl/8",
    worker: 1,
  };
  it('common is nginx\'s `$remote_addr - $remote_user [$time_local] "$request" $status $bytes`', () => {
    assert.equal(
      formatEntry("common", entry),
      `10.0.0.1 - - [${timeLocal(entry.time)}] "GET /a?b=1 HTTP/1.1" 200 321\n`,
    );
    assert.match(timeLocal(entry.time), /^29\/Nov\/2026:13:05:09 [+-]\d{4}$/);
  });
  it("combined adds the referer and the user agent, - when absent", () => {
    assert.match(formatEntry("combined", entry), / 200 321 "-" "curl\/8"\n$/);
  });
  it("a request line with a newline or a quote stays on one line", () => {
    const line = formatEntry("combined", { ...entry, url: '/x"\ny' });
    assert.equal(line.split("\n").length, 2);
    assert.match(line, /"GET \/x\\x22\\x0ay HTTP\/1\.1"/);
  });
  it("header and URL bytes beyond ASCII: escaped as nginx writes them in common/combined, decoded as UTF-8 in json", () => {
    // Node reads header values and the request line as latin1: "café €" arrives as its UTF-8
    // bytes, one character each. Before, they were written again as UTF-8: "cafÃ© â¬".
    const bytes = Buffer.from("café €", "utf8").toString("latin1");
    const line = formatEntry("combined", { ...entry, url: `/${bytes}`, userAgent: bytes });
    assert.match(line, /"GET \/caf\\xc3\\xa9 \\xe2\\x82\\xac HTTP\/1\.1"/);
    assert.match(line, / "caf\\xc3\\xa9 \\xe2\\x82\\xac"\n$/);
    const json = JSON.parse(formatEntry("json", { ...entry, url: `/${bytes}`, userAgent: bytes })) as Record<
      string,
      unknown
    >;
    assert.equal(json["userAgent"], "café €");
    assert.equal(json["url"], "/café €");
  });
  it('a request refused before it was read is "-" in common and combined, null in json', () => {
    const refused = {
      ...entry,
      method: null,
      url: null,
      protocol: null,
      status: 400,
      bytes: 47,
      duration: null,
    };
    assert.equal(
      formatEntry("combined", refused),
      `10.0.0.1 - - [${timeLocal(entry.time)}] "-" 400 47 "-" "curl/8"\n`,
    );
    const json = JSON.parse(formatEntry("json", refused)) as Record<string, unknown>;
    assert.deepEqual(
      [json["method"], json["url"], json["protocol"], json["duration"]],
      [null, null, null, null],
    );
  });
  it("a status never set (an upgraded connection whose first bytes were no status line) is 000 as nginx writes it, 0 in json", () => {
    assert.match(formatEntry("common", { ...entry, status: 0 }), /"GET \/a\?b=1 HTTP\/1\.1" 000 321\n$/);
    assert.equal((JSON.parse(formatEntry("json", { ...entry, status: 0 })) as { status: number }).status, 0);
  });
  it("json rounds the duration to the millisecond", () => {
    assert.equal((JSON.parse(formatEntry("json", entry)) as { duration: number }).duration, 0.012);
  });
});
