import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { pidsMatching, runTsresty, uidOf } from "../helpers/processes.ts";
import { scratchApp } from "../helpers/scratch.ts";
import { startWithConfig } from "../helpers/start-with-config.ts";
import { alive, get, startTree, until } from "../helpers/tree.ts";

const APP = "test/fixtures/start/app.ts";

interface Info {
  type: string;
  id: number | null;
  count: number;
  pid: number;
  pids: number[];
  masterPid: number;
  ppid: number;
  exiting: boolean;
}

async function info(url: string): Promise<Info> {
  return JSON.parse((await get(url)).body) as Info;
}

describe("tsresty start: master and workers", () => {
  it("T-WRK-01, T-WRK-02, T-PROC-01, T-PROC-03: two workers answer with ids 0 and 1; types and master pid are right", async () => {
    const tree = await startTree(APP);
    const seen = new Map<number, Info>();
    for (let i = 0; i < 200 && seen.size < 2; i++) {
      const answer = await info(tree.url("/info"));
      seen.set(answer.id ?? -1, answer);
    }
    assert.deepEqual([...seen.keys()].sort(), [0, 1]);
    for (const answer of seen.values()) {
      assert.equal(answer.type, "worker");
      assert.equal(answer.count, 2);
      assert.equal(answer.masterPid, tree.masterPid);
      assert.equal(answer.ppid, tree.masterPid);
      assert.equal(answer.exiting, false);
      // T-WRK-07: pids() in a request lists the live workers, this one included.
      assert.ok(answer.pids.includes(answer.pid));
      assert.equal(answer.pids.length, 2);
    }
    const out = tree.run.output();
    assert.match(out, /^init type=master id=null count=2$/m);
    assert.match(
      out,
      /^init timer: ngx\.timer\.at: API disabled in the context of init$/m,
      "T-AT-14: no timers in init",
    );
    // Nor their counts, as OpenResty's throw in init_by_lua (they were 0).
    assert.match(out, /^init count: ngx\.timer\.pendingCount: API disabled in the context of init$/m);
    assert.match(out, /^init count: ngx\.timer\.runningCount: API disabled in the context of init$/m);
    // No exit to begin in init (it was a silent no-op).
    assert.match(out, /^init exit: ngx\.process\.signalGracefulExit: API disabled in the context of init$/m);
    assert.match(out, /^initWorker id=0 pid=\d+ type=worker$/m);
    assert.match(out, /^initWorker id=1 pid=\d+ type=worker$/m);
    // T-WRK-07 in init_worker: "API disabled" (before, [] — a wrong answer while both lived).
    assert.match(out, /^initWorker pids: ngx\.worker\.pids: API disabled in initWorker$/m);
    assert.doesNotMatch(out, /^initWorker pids: \[/m);
    const status = await tree.status();
    assert.deepEqual(
      status.processes.filter((p) => p.type !== "standby").map((p) => [p.type, p.id]),
      [
        ["master", null],
        ["worker", 0],
        ["worker", 1],
      ],
    );
    assert.ok(await until(async () => (await tree.status()).processes.some((p) => p.type === "standby")));
    const stop = await tree.command("stop");
    assert.equal(stop.code, 0, stop.stderr);
    const end = await tree.run.done;
    assert.equal(end.code, 0);
    for (const p of status.processes) assert.equal(alive(p.pid), false, `pid ${p.pid} is gone`);
  });

  it("streams request and response bodies through fetch(), and serves node:http handlers: one that throws or rejects gets 500 and an error line naming method and path", async () => {
    const tree = await startTree(APP, { workers: 1 });
    const payload = Buffer.alloc(3 * 1024 * 1024);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 31) % 251;
    const response = await fetch(tree.url("/echo"), { method: "POST", body: payload });
    const echoed = Buffer.from(await response.arrayBuffer());
    assert.equal(echoed.length, payload.length);
    assert.ok(echoed.equals(payload), "binary body intact");
    await tree.command("stop", "--fast");

    const handler = await startTree("test/fixtures/start/node-handler.ts", { workers: 1 });
    assert.deepEqual(await get(handler.url("/x?y=1")), { status: 200, body: "handler id=0 GET /x?y=1\n" });
    assert.equal((await get(handler.url("/boom"))).status, 500);
    assert.ok(
      await until(() =>
        /\[error\] \d+#0: request handler failed \(GET \/boom\): Error: handler boom/.test(
          handler.run.stderr(),
        ),
      ),
    );
    // A rejected promise from an async handler is the same failure (issue 9, item 15).
    assert.equal((await get(handler.url("/reject"), { method: "POST", body: "x" })).status, 500);
    assert.ok(
      await until(() =>
        /\[error\] \d+#0: request handler failed \(POST \/reject\): Error: handler rejected/.test(
          handler.run.stderr(),
        ),
      ),
      handler.run.stderr(),
    );
    await handler.command("stop");
  });

  it("a handler that writes after its response ended (res.end twice) gets an error line and the worker serves on (Node's 'error' event killed it with every request in flight); a late res.write is dropped", async () => {
    const dir = scratchApp({
      "app.ts": `export default {
  handler(req: any, res: any) {
    if (req.url === "/twice") {
      res.end("first");
      res.end("second");
    } else if (req.url === "/late") {
      res.end("done");
      setTimeout(() => res.write("late"), 10);
    } else if (req.url === "/slow") {
      setTimeout(() => res.end("slow " + process.pid), 1500);
    } else res.end(String(process.pid));
  },
};
`,
    });
    const tree = await startTree(join(dir, "app.ts"), { workers: 1 });
    const pid = (await get(tree.url("/"))).body;
    // A request in flight on the worker while the faulty ones arrive.
    const slow = get(tree.url("/slow"));
    assert.deepEqual(await get(tree.url("/twice")), { status: 200, body: "first" });
    // A write 10 ms after the end: Node has closed (destroyed) the response by then and drops the
    // write without an event, on a kept-alive connection as on a closed one.
    const late = await fetch(tree.url("/late"));
    assert.deepEqual([late.status, await late.text()], [200, "done"]);
    assert.deepEqual(await slow, { status: 200, body: `slow ${pid}` });
    const line =
      /\[error\] \d+#0: request handler failed \(GET \/twice\): Error \[ERR_STREAM_WRITE_AFTER_END\]: write after end/;
    assert.ok(await until(() => line.test(tree.run.stderr())), tree.run.stderr());
    assert.equal((await get(tree.url("/"))).body, pid, "the same worker serves on");
    assert.doesNotMatch(tree.run.output(), /exited with code|Unhandled 'error' event/);
    await tree.command("stop");
  });

  it("T-WRK-05: SIGKILL of worker 0 brings a new pid with id 0 that runs initWorker again", async () => {
    const tree = await startTree(APP);
    const before = await tree.status();
    const zero = before.processes.find((p) => p.id === 0);
    assert.ok(zero !== undefined);
    process.kill(zero.pid, "SIGKILL");
    assert.ok(
      await until(async () => {
        const now = await tree.status();
        const slot = now.processes.find((p) => p.id === 0);
        return slot !== undefined && slot.pid !== zero.pid;
      }),
    );
    const after = await tree.status();
    const replaced = after.processes.find((p) => p.id === 0);
    assert.ok(replaced !== undefined);
    assert.equal(replaced.generation, zero.generation + 1);
    assert.equal(replaced.restarts, 1);
    assert.ok(await until(() => tree.run.output().includes(`initWorker id=0 pid=${replaced.pid}`)));
    assert.match(
      tree.run.stderr(),
      new RegExp(`\\[alert\\] \\d+#-: worker process ${zero.pid} \\(id 0\\) exited on signal 9`),
    );
    let answered = false;
    for (let i = 0; i < 100 && !answered; i++)
      answered = (await info(tree.url("/info"))).pid === replaced.pid;
    assert.ok(answered, "the new worker serves");
    await tree.command("stop", "--fast");
  });

  it("with one worker, a request sent while the killed worker respawns waits and succeeds on the same port", async () => {
    const tree = await startTree(APP, { workers: 1 });
    const [, worker] = (await tree.status()).processes;
    assert.ok(worker !== undefined);
    process.kill(worker.pid, "SIGKILL");
    assert.ok(await until(() => !alive(worker.pid)));
    const answer = await get(tree.url("/"));
    assert.equal(answer.status, 200);
    assert.doesNotMatch(answer.body, new RegExp(`pid=${worker.pid}\\n`));
    await tree.command("stop");
  });

  it("five reloads while clients send requests continuously: zero failed requests (a request whose connection closed before any response is retried once, as curl and browsers do)", async () => {
    const tree = await startTree(APP);
    let ok = 0;
    const failures: string[] = [];
    // A draining worker closes a keep-alive connection idle through its grace; a client stalled
    // that long (this process, starved on a loaded machine) may send its next request on it as
    // the close goes out. HTTP/1.1 leaves that race to clients: curl, Go and browsers retry a
    // request on a reused connection that closed before any response (RFC 9110, 9.2.2); undici's
    // fetch does not, so the clients here do, once (fetch does not say whether the connection was
    // a reused one: any closed before a response is). Any other error, or a failed retry, fails.
    let retried = 0;
    const fetchRoot = async (): Promise<Response> => {
      try {
        return await fetch(tree.url("/"), { signal: AbortSignal.timeout(10_000) });
      } catch (error) {
        if ((error as { cause?: { code?: string } }).cause?.code !== "UND_ERR_SOCKET") throw error;
        retried++;
        return await fetch(tree.url("/"), { signal: AbortSignal.timeout(10_000) });
      }
    };
    let running = true;
    const client = async (): Promise<void> => {
      while (running) {
        try {
          const r = await fetchRoot();
          await r.text();
          if (r.status === 200) ok++;
          else failures.push(`status ${r.status}`);
        } catch (error) {
          failures.push(String((error as Error).cause ?? error));
        }
      }
    };
    const clients = Array.from({ length: 4 }, client);
    try {
      for (let i = 0; i < 5; i++) {
        const reload = await tree.command("reload");
        assert.equal(reload.code, 0, reload.stderr);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    } finally {
      // Also when a reload fails: the clients must end, or the test file never would.
      running = false;
      await Promise.all(clients);
    }

    assert.deepEqual(failures, []);
    // One stall of every client at once at most: a drain that cut busy connections would do more.
    assert.ok(retried <= 4, `${retried} requests met a connection closed before any response`);
    assert.ok(ok > 50, `${ok} requests served`);
    const status = await tree.status();
    assert.deepEqual(
      status.processes.filter((p) => p.type === "worker").map((p) => p.generation),
      [6, 6],
      "the sixth generation serves",
    );
    await tree.command("stop");
  });

  it("T-WRK-06, T-PRE-01: HUP starts ids 0 and 1 anew; each old worker fires its pending timer premature, then exitWorker", async () => {
    const tree = await startTree(APP);
    const old = (await tree.status()).processes.filter((p) => p.type === "worker");
    process.kill(tree.masterPid, "SIGHUP");
    for (const worker of old) {
      assert.ok(
        await until(() => tree.run.output().includes(`exitWorker id=${String(worker.id)} pid=${worker.pid}`)),
      );
    }
    const out = tree.run.output();
    assert.equal(out.match(/^init type=master/gm)?.length, 2, "init ran again");
    for (const worker of old) {
      const timer = out.indexOf(
        `timer id=${String(worker.id)} pid=${worker.pid} premature=true exiting=true`,
      );
      const exit = out.indexOf(
        `exitWorker id=${String(worker.id)} pid=${worker.pid} pending=0 running=0 exiting=true`,
      );
      assert.ok(
        timer >= 0 && exit > timer,
        `premature timer before exitWorker for pid ${worker.pid}\n${out}`,
      );
    }
    assert.match(out, /timer="ngx\.timer\.at: API disabled in the context of exitWorker"/, "T-AT-15");
    const fresh = (await tree.status()).processes.filter((p) => p.type === "worker");
    assert.deepEqual(
      fresh.map((p) => p.id),
      [0, 1],
    );
    assert.ok(fresh.every((p) => !old.some((o) => o.pid === p.pid)));
    await tree.command("stop");
  });

  it("T-PRE-05, T-PRE-01: QUIT lets a running request finish; pending timers fire once, premature, before exitWorker", async () => {
    const tree = await startTree(APP, { workers: 1 });
    const slow = get(tree.url("/slow?s=0.5"));
    // QUIT once the request is in the worker (a fixed wait could end before it got there).
    await tree.run.waitForOutput("slow begun");
    process.kill(tree.masterPid, "SIGQUIT");
    assert.deepEqual(await slow, { status: 200, body: "slow done\n" });
    const end = await tree.run.done;
    assert.equal(end.code, 0);
    const timers = end.output.match(/^timer id=0 .* premature=true exiting=true$/gm) ?? [];
    assert.equal(timers.length, 1);
    assert.ok(end.output.indexOf("premature=true") < end.output.indexOf("exitWorker id=0"));
  });

  it("T-PRE-08: signalGracefulExit() in a worker drains it; the master starts id 0 again with a new pid", async () => {
    const tree = await startTree(APP, { workers: 1 });
    const [, before] = (await tree.status()).processes;
    assert.ok(before !== undefined);
    assert.deepEqual(await get(tree.url("/graceful")), { status: 200, body: "exiting=false\n" });
    assert.ok(
      await until(() => tree.run.output().includes(`graceful timer pid=${before.pid} premature=true`)),
    );
    assert.ok(
      await until(async () => {
        const [, now] = (await tree.status()).processes;
        return now !== undefined && now.pid !== before.pid && now.id === 0;
      }),
    );
    const [, after] = (await tree.status()).processes;
    assert.equal(after?.restarts, 0, "an intended exit is not counted as a crash");
    const exited = new RegExp(`worker process ${before.pid} \\(id 0\\) exited with code 0`);
    assert.ok(await until(() => exited.test(tree.run.stderr())), tree.run.stderr());
    await tree.command("stop");
  });

  it("scenario 8: a zero-delay timer pushes a request's data after the response is sent", async () => {
    const tree = await startTree(APP, { workers: 1 });
    const started = Date.now();
    assert.deepEqual(await get(tree.url("/after")), { status: 200, body: "accepted\n" });
    assert.ok(Date.now() - started < 200 + 150, "the client did not wait for the push");
    assert.ok(await until(() => tree.run.output().includes("pushed after response (later)")));
    await tree.command("stop");
  });

  it("a crash loop backs off: the master waits longer before each respawn and worker 0 keeps serving", async () => {
    const tree = await startTree(APP, { env: { CRASH_LOOP: "1" } });
    assert.ok(
      await until(() => /respawning it in 200 ms/.test(tree.run.stderr()), 20_000),
      tree.run.stderr(),
    );
    const stderr = tree.run.stderr();
    assert.match(stderr, /\[warn\] \d+#-: worker 1 keeps dying; respawning it in 100 ms/);
    assert.ok(stderr.indexOf("in 100 ms") < stderr.indexOf("in 200 ms"));
    assert.match(stderr, /worker process \d+ \(id 1\) exited with code 3/);
    const one = (await tree.status()).processes.find((p) => p.id === 1);
    assert.ok(one === undefined || one.restarts >= 2);
    assert.match((await get(tree.url("/"))).body, /^id=0 /, "worker 0 serves meanwhile");
    await tree.command("stop", "--fast");
  });

  it("T-ERR-02: initWorker that throws is logged, and the worker serves", async () => {
    const tree = await startTree(APP, { workers: 1, env: { INIT_WORKER_THROW: "1" } });
    assert.match((await get(tree.url("/"))).body, /^id=0 pid=\d+\n$/);
    // (the worker's line comes through the master's pipe, the answer straight from the worker)
    const failed = /\[error\] \d+#0: initWorker failed: Error: initWorker boom/;
    assert.ok(await until(() => failed.test(tree.run.stderr())), tree.run.stderr());
    await tree.command("stop");
  });

  it("T-ERR-03: init that throws at start fails start with the error; no process is left", async () => {
    const r = await runTsresty(
      ["start", APP, "--workers", "1", "--listen", "127.0.0.1:0", "--prefix", join(scratch, "init")],
      {
        env: { INIT_THROW: "1" },
      },
    );
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /^tsresty: start failed: init failed: Error: failed to init\n\s+at .*fixtures\/start\/app\.ts/m,
    );
    assert.doesNotMatch(r.stdout, /initWorker/);
  });

  it("T-ERR-03: a reload whose init throws fails, and the old generation keeps serving", async () => {
    const marker = join(scratch, "marker");
    const tree = await startTree(APP, { env: { INIT_THROW_FILE: marker } });
    const before = (await tree.status()).processes.map((p) => p.pid);
    writeFileSync(marker, "");
    const reload = await tree.command("reload");
    assert.equal(reload.code, 1);
    assert.match(reload.stderr, /^tsresty: reload failed: init failed: Error: failed to init on reload/);
    // init runs only at start and reload: a respawn would not meet this failure.
    assert.doesNotMatch(reload.stderr, /respawned from them/);
    assert.deepEqual(
      (await tree.status()).processes.map((p) => p.pid),
      before,
    );
    assert.match((await get(tree.url("/"))).body, /^id=\d pid=\d+\n$/);
    await tree.command("stop");
  });

  it("after a reload that failed to load the app, a worker that dies is respawned from the files on disk: the reload says so, and the slot serves again once they load", async () => {
    const dir = scratchApp({ "app.mjs": 'export default { handler(_req, res) { res.end("v1\\n"); } };\n' });
    const app = join(dir, "app.mjs");
    const tree = await startTree(app, { workers: 1 });
    assert.equal((await get(tree.url("/"))).body, "v1\n");
    writeFileSync(app, 'throw new Error("broken build");\n');
    const reload = await tree.command("reload");
    assert.equal(reload.code, 1);
    assert.match(reload.stderr, /^tsresty: reload failed: app failed to load: .*broken build/);
    assert.match(
      reload.stderr,
      /^until the app's files load again, a running process that dies is respawned from them as they are now/m,
    );
    assert.match(
      tree.run.stderr(),
      /\[warn\] \d+#-: until the app's files load again, a running process that dies/,
    );
    assert.equal((await get(tree.url("/"))).body, "v1\n", "the old generation serves");
    const [worker] = (await tree.status()).processes.filter((p) => p.type === "worker");
    assert.ok(worker !== undefined);
    const seen = tree.run.stderr().length;
    process.kill(worker.pid, "SIGKILL");
    // Its respawn imports the broken file, as the reload did, and fails.
    assert.ok(
      await until(
        () => /\[emerg\] \d+#0: app failed to load: .*broken build/.test(tree.run.stderr().slice(seen)),
        20_000,
      ),
      "the respawned worker failed to load the broken file",
    );
    writeFileSync(app, 'export default { handler(_req, res) { res.end("v2\\n"); } };\n');
    // A later try (backoff) loads the fixed files and serves them, with no reload.
    assert.ok(
      await until(
        async () => (await tree.status()).processes.some((p) => p.type === "worker" && p.state === "running"),
        30_000,
      ),
      "the slot serves again",
    );
    assert.equal((await get(tree.url("/"))).body, "v2\n");
    await tree.command("stop");
  });

  it("a worker that crashes while loading fails start with its reason", async () => {
    const r = await runTsresty([
      "start",
      "test/fixtures/start/crash-on-load.ts",
      "--workers",
      "2",
      "--listen",
      "127.0.0.1:0",
      "--prefix",
      join(scratch, "crash"),
    ]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /^tsresty: start failed: app failed to load: .*crash-on-load\.ts:1: app crashed while loading$/m,
    );
  });

  it("an app or a config that is not a regular file (a device, a FIFO) fails start at once, exit 2", async () => {
    const dir = scratchApp({ "app.mjs": "export default { fetch: () => new Response('x') };\n" });
    const fifo = join(dir, "c.fifo");
    execFileSync("mkfifo", [fifo]);
    const device = await runTsresty(["start", "/dev/zero", "--prefix", join(scratch, "device")]);
    assert.equal(device.code, 2);
    assert.match(
      device.stderr,
      /^tsresty: app file \/dev\/zero is not a regular file \(a character device\)$/m,
    );
    const config = await runTsresty([
      "start",
      join(dir, "app.mjs"),
      "--config",
      fifo,
      "--prefix",
      join(scratch, "fifo"),
    ]);
    assert.equal(config.code, 2);
    assert.equal(config.stderr, `tsresty: ${fifo}: is not a regular file (a FIFO)\n`);
  });

  it("a JavaScript app with a syntax error in a module it imports, or importing a name a module does not export: start fails naming the line (the import's named none)", async () => {
    const dir = scratchApp({
      "syntax.mjs": 'import "./routes.mjs";\nexport default { fetch: () => new Response("x") };\n',
      "routes.mjs": "export const routes = {\n  a: 1\n  b: 2,\n};\n",
      "link.mjs":
        'import { routes } from "./route.mjs";\nexport default { fetch: () => new Response(String(routes)) };\n',
      "route.mjs": "export const route = 1;\n",
    });
    const cases = [
      ["syntax", `${join(dir, "routes.mjs")}:3: SyntaxError: Unexpected identifier 'b'`],
      [
        "link",
        `${join(dir, "link.mjs")}:1: SyntaxError: The requested module './route.mjs' does not provide an export named 'routes'`,
      ],
    ];
    for (const [name, reason] of cases) {
      const r = await runTsresty([
        "start",
        join(dir, `${name}.mjs`),
        "--workers",
        "1",
        "--listen",
        "127.0.0.1:0",
        "--prefix",
        join(scratch, name ?? ""),
      ]);
      assert.equal(r.code, 1);
      assert.ok(r.stderr.includes(`tsresty: start failed: app failed to load: ${reason}\n`), r.stderr);
    }
  });

  it("a worker that cannot load the app reports why, and start fails with that reason", async () => {
    const r = await runTsresty([
      "start",
      "test/fixtures/start/worker-load-fails.ts",
      "--workers",
      "1",
      "--listen",
      "127.0.0.1:0",
      "--prefix",
      join(scratch, "worker-load"),
    ]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /^tsresty: start failed: app failed to load: .*worker-load-fails\.ts:4: worker-only load failure$/m,
    );
  });

  it("subprocesses of a SIGKILLed worker are ended by the master, with their background children", async () => {
    const tree = await startTree("test/fixtures/start/spawner.ts", { workers: 1 });
    const worker = (await tree.status()).processes.find((p) => p.id === 0);
    assert.ok(worker !== undefined);
    const marker = `1000.${worker.pid}`;
    const sleeping = (): number[] => pidsMatching(`sleep ${marker}`);
    assert.ok(await until(() => sleeping().length >= 2));
    process.kill(worker.pid, "SIGKILL");
    assert.ok(await until(() => sleeping().length === 0), `left: ${sleeping().join(" ")}`);
    await tree.command("stop");
  });

  it("children exit when the master disappears", async () => {
    const tree = await startTree(APP);
    const workers = (await tree.status()).processes.filter((p) => p.type === "worker");
    process.kill(tree.masterPid, "SIGKILL");
    assert.ok(await until(() => workers.every((w) => !alive(w.pid))));
  });

  it("a background app (no HTTP handler) runs its worker-0 job; status shows the named timer", async () => {
    const tree = await startTree("test/fixtures/start/background.ts");
    assert.equal(tree.port, 0);
    assert.ok(await until(() => tree.run.output().includes("job ran 3 times")));
    const status = await tree.command("status");
    assert.match(
      status.stdout,
      /^TYPE\s+ID\s+PID\s+STATE\s+GEN\s+UPTIME\s+RESTARTS\s+MEMORY\s+CPU\s+PENDING\s+RUNNING\s+NAMED TIMERS$/m,
    );
    assert.match(
      status.stdout,
      /^worker\s+0\s+\d+\s+running\s+1\s+\S+\s+0\s+[\d.]+ MB\s+[\d.]+s\s+1\s+\d\s+job \(pending\)$/m,
    );
    await tree.command("stop");
  });
});

const scratch = mkdtempSync(join(tmpdir(), "tsresty-start-"));
after(() => {
  rmSync(scratch, { recursive: true, force: true });
});

describe("tsresty start: bad input", () => {
  const prefix = join(scratch, "bad");
  const start = (...args: string[]): ReturnType<typeof runTsresty> =>
    runTsresty(["start", ...args, "--listen", "127.0.0.1:0", "--prefix", prefix]);

  it("on a Node.js without process.getBuiltinModule (before 20.16), says which Node it needs, in one line, exit 1", async () => {
    // What an older Node lacks, taken away before bin/tsresty runs.
    const old = { nodeArgs: ["--import", "data:text/javascript,delete process.getBuiltinModule"] };
    for (const args of [["--version"], ["start", APP, "--listen", "127.0.0.1:0", "--prefix", prefix]]) {
      const result = await runTsresty(args, old);
      assert.equal(result.code, 1, result.stderr);
      assert.equal(
        result.stderr,
        `tsresty needs Node.js 20.19 or later; this is Node.js ${process.version}\n`,
      );
      assert.equal(result.stdout, "");
    }
  });

  it("refuses bad flags, unknown config keys, unreadable or non-exporting apps, and hooks that are only named exports, with one message", async () => {
    const cases: [string[], number, RegExp][] = [
      [
        [APP, "--workers", "0"],
        2,
        /^tsresty: --workers must be "auto" or an integer from 1 to 1024, received a string \("0"\)\n/,
      ],
      [[APP, "--workers", "two"], 2, /^tsresty: --workers must be/],
      [[APP, "--listen", "host:port"], 2, /^tsresty: --listen must be \[HOST:\]PORT/],
      [[APP, "--bogus"], 2, /^tsresty: Unknown option '--bogus'/],
      [["missing-app.ts"], 2, /^tsresty: app file missing-app\.ts cannot be read/],
      [
        [APP, "--config", "test/fixtures/single/bad-key.config.ts"],
        2,
        /^tsresty: test\/fixtures\/single\/bad-key\.config\.ts: timers\.maxPendng is not a known key/,
      ],
      [
        ["test/fixtures/start/no-app.ts"],
        1,
        /^tsresty: start failed: app .*no-app\.ts: "default export" must be an app object/,
      ],
      [
        ["test/fixtures/start/no-default.ts"],
        1,
        /^tsresty: start failed: app .*no-default\.ts: "fetch" must be a member of the default export/,
      ],
      [
        ["test/fixtures/start/named-hook.ts"],
        1,
        /^tsresty: start failed: app .*named-hook\.ts: "initWorker" must be a member of the default export, where tsresty reads the app \(export default defineApp\(\{ initWorker, … \}\)\), not only a named export/,
      ],
      [
        ["test/fixtures/start/bad-member.ts"],
        1,
        /unknown option "initworker"; known options are "init", "initWorker"/,
      ],
    ];
    for (const [args, code, message] of cases) {
      const r = await start(...args);
      assert.equal(r.code, code, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, message, args.join(" "));
    }
  });

  it("refuses a config's bad value that a flag overrides, naming its key (it was accepted without a word, and failed the next start without the flag)", async () => {
    // startWithConfig gives --workers 1, --listen 127.0.0.1:0 and --prefix.
    const cases: [string, RegExp][] = [
      ["workers: 0", /c\.ts: workers must be "auto" or an integer from 1 to 1024, received the number 0\n/],
      ['listen: "host:port"', /c\.ts: listen must be \[HOST:\]PORT with a port from 0 to 65535/],
      ['prefix: ""', /c\.ts: prefix must be a non-empty path, received a string \(""\)\n/],
    ];
    for (const [setting, message] of cases) {
      const r = await startWithConfig(() => `export default { ${setting} };\n`);
      assert.equal(r.code, 2, `${setting}: ${r.stderr}`);
      assert.match(r.stderr, message, setting);
      assert.doesNotMatch(r.stdout, /tsresty ready/, setting);
    }
  });

  it("a busy port fails start with the address and leaves no process", async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const { port } = blocker.address() as { port: number };
    const r = await runTsresty([
      "start",
      APP,
      "--workers",
      "2",
      "--listen",
      `127.0.0.1:${port}`,
      "--prefix",
      prefix,
    ]);
    blocker.close();
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      new RegExp(
        `tsresty: start failed: cannot listen on 127\\.0\\.0\\.1:${port}: address already in use \\(EADDRINUSE\\)`,
      ),
    );
    const pids = [...r.stdout.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1]));
    assert.ok(await until(() => pids.every((pid) => !alive(pid))));
  });

  it("a directory where the pid file or the control socket goes fails start as an unusable prefix, leaving no process (start exited 0 after an alert that the tree kept running)", async () => {
    for (const name of ["tsresty.pid", "tsresty.sock"]) {
      const blocked = join(scratch, `blocked-${name}`);
      mkdirSync(join(blocked, name), { recursive: true });
      const r = await runTsresty([
        "start",
        APP,
        "--workers",
        "1",
        "--listen",
        "127.0.0.1:0",
        "--prefix",
        blocked,
      ]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(
        r.stderr,
        new RegExp(
          `^tsresty: cannot use prefix .*blocked-${name.replace(".", "\\.")}: .*${name.replace(".", "\\.")} cannot be made: `,
          "m",
        ),
      );
      assert.doesNotMatch(r.stderr, /\[alert\]|keeps running/);
      assert.deepEqual(pidsMatching(blocked), [], "no process of that tree is left");
    }
  });

  it("reload, stop and status with no master running say so and exit 1; a stale pid file is named", async () => {
    const empty = join(scratch, "none");
    for (const command of ["reload", "stop", "status"]) {
      const r = await runTsresty([command, "--prefix", empty]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^tsresty: no master is running under .* \(no pid file\)\n$/);
    }
    const stale = mkdtempSync(join(tmpdir(), "tsresty-stale-"));
    writeFileSync(join(stale, "tsresty.pid"), "999999\n");
    const r = await runTsresty(["reload", "--prefix", stale]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /\(stale pid file .*tsresty\.pid: pid 999999 is not running\); the master that wrote it is gone: tsresty start replaces the file, or remove it\n$/,
    );
    // start over a stale pid file works, with a notice
    const tree = await startTree(APP, { workers: 1, prefix: stale });
    assert.match(
      tree.run.stderr(),
      /\[notice\] \d+#-: removing stale pid file .*tsresty\.pid \(pid 999999\)/,
    );
    assert.equal(Number(readFileSync(join(stale, "tsresty.pid"), "utf8")), tree.masterPid);
    await tree.command("stop");
  });

  it("a pid file that names another live program or holds garbage is described as such; a planted symlink is replaced, its target untouched", async () => {
    const prefix = mkdtempSync(join(tmpdir(), "tsresty-pidfile-"));
    const pidFile = join(prefix, "tsresty.pid");
    // Before: "pid N is not running" for a live process, and "(no pid file)" for garbage.
    const sleeper = spawn("sleep", ["30"], { stdio: "ignore" });
    try {
      writeFileSync(pidFile, `${sleeper.pid ?? 0}\n`);
      const other = await runTsresty(["status", "--prefix", prefix]);
      assert.equal(other.code, 1);
      assert.match(
        other.stderr,
        new RegExp(`\\(stale pid file .*tsresty\\.pid: pid ${sleeper.pid ?? 0} is another program\\); `),
      );
    } finally {
      sleeper.kill("SIGKILL");
    }
    writeFileSync(pidFile, "garbage\n");
    const garbage = await runTsresty(["status", "--prefix", prefix]);
    assert.equal(garbage.code, 1);
    assert.match(garbage.stderr, /\(.*tsresty\.pid holds no pid\)\n$/);
    // Before: the master (root, in production) wrote its pid into the symlink's target.
    const victim = join(prefix, "victim.txt");
    writeFileSync(victim, "precious\n");
    rmSync(pidFile);
    symlinkSync(victim, pidFile);
    const tree = await startTree(APP, { workers: 1, prefix });
    assert.equal(readFileSync(victim, "utf8"), "precious\n");
    assert.equal(lstatSync(pidFile).isSymbolicLink(), false);
    assert.equal(Number(readFileSync(pidFile, "utf8")), tree.masterPid);
    await tree.command("stop");
    assert.equal(readFileSync(victim, "utf8"), "precious\n");
  });
});

describe("tsresty start: operations", () => {
  it(
    "config.user: workers drop to that user while the master keeps root",
    { skip: process.getuid?.() !== 0 ? "needs root" : false },
    async () => {
      const config = join(scratch, "user.config.ts");
      writeFileSync(config, 'export default { user: "nobody" };\n');
      const tree = await startTree(APP, { workers: 1, args: ["--config", config] });
      const [master, worker] = (await tree.status()).processes;
      assert.ok(master !== undefined && worker !== undefined);
      assert.equal(uidOf(master.pid), "0");
      assert.equal(
        uidOf(worker.pid),
        String(Number(execFileSync("id", ["-u", "nobody"], { encoding: "utf8" }))),
      );
      assert.match((await get(tree.url("/"))).body, /^id=0 /);
      await tree.command("stop");
    },
  );

  it("the control socket is mode 0600; --error-log writes there and USR1 reopens it after a rename", async () => {
    const log = join(scratch, "error.log");
    const tree = await startTree(APP, { workers: 1, args: ["--error-log", log] });
    assert.equal(statSync(join(tree.prefix, "tsresty.sock")).mode & 0o777, 0o600);
    assert.match(
      readFileSync(log, "utf8"),
      /\[notice\] \d+#-: start worker process \d+ \(id 0, generation 1\)/,
    );
    renameSync(log, `${log}.1`);
    process.kill(tree.masterPid, "SIGUSR1");
    // As nginx: the line is written to the old file, then the file is opened again by name.
    assert.ok(
      await until(() => existsSync(log) && readFileSync(`${log}.1`, "utf8").includes("reopening logs")),
    );
    await tree.command("stop");
    assert.ok(await until(() => readFileSync(log, "utf8").includes("gracefully shutting down")));
    assert.doesNotMatch(readFileSync(`${log}.1`, "utf8"), /gracefully shutting down/);
  });

  it("INT is a fast stop: pending timers do not fire, exitWorker still runs", async () => {
    const tree = await startTree(APP, { workers: 1 });
    process.kill(tree.masterPid, "SIGINT");
    const end = await tree.run.done;
    assert.equal(end.code, 0);
    assert.doesNotMatch(end.output, /premature=true/);
    assert.match(end.output, /^exitWorker id=0 /m);
  });
});
