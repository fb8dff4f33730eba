import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { after, describe, it } from "node:test";
import { freePort } from "../helpers/ports.ts";
import { argvOf, childrenOf, startTsresty } from "../helpers/processes.ts";
import { scratchApp } from "../helpers/scratch.ts";
import { alive, get, startTree, until, type Tree } from "../helpers/tree.ts";

describe("config standby", () => {
  it("standby: false keeps no spare process; a killed worker is replaced by a fresh fork", async () => {
    const dir = scratchApp({
      "app.mjs": `export default { fetch: () => new Response(String(process.pid)) };\n`,
      "config.mjs": `export default { standby: false };\n`,
    });
    const tree = await startTree(join(dir, "app.mjs"), {
      workers: 1,
      args: ["--config", join(dir, "config.mjs")],
    });
    const first = Number((await get(tree.url())).body);
    // A standby boots right after ready; give it time to show, as it would with the default.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.deepEqual(
      (await tree.status()).processes.map((p) => p.type),
      ["master", "worker"],
    );
    process.kill(first, "SIGKILL");
    assert.ok(
      await until(async () => {
        const workers = (await tree.status()).processes.filter((p) => p.type === "worker");
        return workers.length === 1 && workers[0]?.pid !== first;
      }, 20_000),
      "the worker is respawned",
    );
    assert.notEqual(Number((await get(tree.url())).body), first);
    assert.deepEqual(
      (await tree.status()).processes.map((p) => p.type),
      ["master", "worker"],
    );
    await tree.command("stop");
    assert.equal((await tree.run.done).code, 0);
  });
});

describe("a stop with a standby", () => {
  it("kills the blank standby without a notice of its exit (every stop said 'standby process … exited on signal 9')", async () => {
    const { tree, spare } = await standingBy();
    await tree.command("stop");
    const done = await tree.run.done;
    assert.equal(done.code, 0);
    assert.ok(!alive(spare), "the standby is gone");
    assert.match(done.stderr, /exiting|stopped|shutting down/, "the stop's own lines are there");
    assert.doesNotMatch(done.stdout + done.stderr, /standby process/);
  });
});

/** A tree of one worker, each process answering its pid, once its standby stands by. */
async function standingBy(): Promise<{ tree: Tree; spare: number }> {
  const dir = scratchApp({
    "app.mjs": `export default { fetch: () => new Response(String(process.pid)) };\n`,
  });
  const tree = await startTree(join(dir, "app.mjs"), { workers: 1 });
  let spare = 0;
  assert.ok(
    await until(async () => {
      // "running": it said "standing-by", ready to take a slot.
      const row = (await tree.status()).processes.find((p) => p.type === "standby");
      spare = row?.state === "running" ? row.pid : 0;
      return spare > 0;
    }, 10_000),
    "a standby is up",
  );
  return { tree, spare };
}

/** {@link standingBy}'s tree, its standby SIGSTOPped. */
async function stoppedStandby(): Promise<{ tree: Tree; spare: number }> {
  const { tree, spare } = await standingBy();
  process.kill(spare, "SIGSTOP");
  after(() => {
    if (alive(spare)) process.kill(spare, "SIGKILL");
  });
  return { tree, spare };
}

describe("a standby that does not answer", () => {
  it("a stopped standby given a crashed worker's slot is killed within 5 s and the slot served by a fresh process (it held the slot empty for 60 s)", async () => {
    const { tree, spare } = await stoppedStandby();
    const first = Number((await get(tree.url())).body);
    process.kill(first, "SIGKILL");
    let served = 0;
    assert.ok(
      await until(async () => {
        const worker = (await tree.status()).processes.find((p) => p.type === "worker");
        if (worker?.state !== "running" || worker.pid === first || worker.pid === spare) return false;
        served = Number((await get(tree.url())).body);
        return served === worker.pid;
      }, 15_000),
      `worker 0 serves again from a process other than the stopped standby: ${JSON.stringify((await tree.status()).processes)}`,
    );
    assert.match(
      tree.run.stderr(),
      new RegExp(`worker process ${spare} \\(id 0\\), a standby given its slot, did not answer within 5 s`),
    );
    assert.ok(await until(() => !alive(spare), 5_000), "the stopped standby was killed");
    await tree.command("stop");
  });

  it("a stopped standby given a reload's slot is killed within 5 s and the slot starts again from another process: the reload succeeds (it failed)", async () => {
    const { tree, spare } = await stoppedStandby();
    const first = Number((await get(tree.url())).body);
    const reload = await tree.command("reload");
    assert.equal(reload.code, 0, `the reload succeeds: ${reload.stdout}${reload.stderr}`);
    assert.match(
      tree.run.stderr(),
      new RegExp(`worker process ${spare} \\(id 0\\), a standby given its slot, did not answer within 5 s`),
    );
    const served = Number((await get(tree.url())).body);
    assert.ok(served !== first && served !== spare && alive(served), `a fresh process serves: ${served}`);
    assert.ok(await until(() => !alive(spare), 5_000), "the stopped standby was killed");
    await tree.command("stop");
  });
});

describe("a standby that does not boot", () => {
  it("one not standing by within 10 s of its fork is killed and replaced (it stayed starting for good)", async () => {
    // A preload that blocks a worker process from its first line while the marker exists: the
    // next standby forked then never boots, as one stopped or starved of CPU.
    const dir = scratchApp({
      "app.mjs": `export default { fetch: () => new Response("ok") };\n`,
      "hang.mjs": [
        `import { existsSync } from "node:fs";`,
        `if (/worker.main\\.(ts|js)$/.test(process.argv[1] ?? "") && existsSync(process.env.HANG_MARKER ?? ""))`,
        `  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);`,
      ].join("\n"),
    });
    const marker = join(dir, "hang");
    const tree = await startTree(join(dir, "app.mjs"), {
      workers: 1,
      env: { NODE_OPTIONS: `--import=${pathToFileURL(join(dir, "hang.mjs")).href}`, HANG_MARKER: marker },
    });
    const standby = async (): Promise<{ pid: number; state: string } | undefined> =>
      (await tree.status()).processes.find((p) => p.type === "standby");
    let first = 0;
    assert.ok(await until(async () => (first = (await standby())?.pid ?? 0) > 0, 10_000), "a standby is up");
    writeFileSync(marker, "");
    process.kill(first, "SIGKILL");
    let hung = 0;
    assert.ok(
      await until(async () => {
        const row = await standby();
        hung = row !== undefined && row.pid !== first && row.state === "starting" ? row.pid : 0;
        return hung > 0;
      }, 10_000),
      "the next standby is forked, and does not boot",
    );
    after(() => {
      if (alive(hung)) process.kill(hung, "SIGKILL");
    });
    assert.ok(
      await until(
        () => tree.run.stderr().includes(`standby process ${hung} not booted within 10 s of its fork`),
        15_000,
      ),
      `the master says so: ${tree.run.stderr()}`,
    );
    assert.ok(await until(() => !alive(hung), 5_000), "and kills it");
    rmSync(marker);
    let next: { pid: number; state: string } | undefined;
    assert.ok(
      await until(async () => {
        next = await standby();
        return next !== undefined && next.pid !== hung && next.state === "running";
      }, 15_000),
      `a new standby boots: ${JSON.stringify(next)}`,
    );
    await tree.command("stop");
  });
});

describe("workers forked at start, beside the init process", () => {
  /** The command lines of `pid`'s live children. */
  const childCommands = (pid: number): string[] => childrenOf(pid).map((child) => argvOf(child).join(" "));
  const isWorker = (command: string): boolean => /worker[/\\]main\.(ts|js)/.test(command);

  it("with --workers 2, both boot while init runs, and are the workers that serve", async () => {
    const dir = scratchApp({
      "app.mjs": `export default {
        async init() { await new Promise((resolve) => setTimeout(resolve, 1500)); },
        fetch: () => new Response(String(process.pid)),
      };\n`,
    });
    const prefix = mkdtempSync(join(tmpdir(), "tsresty-test-"));
    after(() => rmSync(prefix, { recursive: true, force: true }));
    const run = startTsresty(
      ["start", join(dir, "app.mjs"), "--workers", "2", "--listen", "127.0.0.1:0", "--prefix", prefix],
      { deadlineMs: 60_000 },
    );
    const master = run.child.pid ?? 0;
    let early: number[] = [];
    assert.ok(
      await until(() => {
        const commands = childCommands(master);
        early = childrenOf(master).filter((_, i) => isWorker(commands[i] ?? ""));
        return early.length === 2 && commands.some((command) => /init[/\\]main\.(ts|js)/.test(command));
      }, 20_000),
      "two workers alive beside the init process, before the start is over",
    );
    assert.doesNotMatch(run.stdout(), /tsresty ready/, "seen while init still ran");
    await run.waitForOutput("tsresty ready:");
    const port = /listening on 127\.0\.0\.1:(\d+)/.exec(run.stdout())?.[1];
    const served = new Set<number>();
    for (let i = 0; i < 20; i++) served.add(Number((await get(`http://127.0.0.1:${port}/`)).body));
    assert.ok(
      [...served].every((pid) => early.includes(pid)),
      `served by ${[...served].join(",")}, early ${early.join(",")}`,
    );
    run.child.kill("SIGQUIT");
    assert.equal((await run.done).code, 0);
  });

  it("a start that fails leaves no worker behind and says nothing of them", async () => {
    const dir = scratchApp({
      "app.mjs": `export default { fetch: () => new Response("x") };\n`,
      "config.mjs": `export default { workers: "many" };\n`,
    });
    const run = startTsresty(
      ["start", join(dir, "app.mjs"), "--config", join(dir, "config.mjs"), "--listen", "127.0.0.1:0"],
      { deadlineMs: 60_000, cwd: dir },
    );
    const master = run.child.pid ?? 0;
    const seen = new Set<number>();
    const watch = setInterval(() => {
      const commands = childCommands(master);
      childrenOf(master).forEach((pid, i) => {
        if (isWorker(commands[i] ?? "")) seen.add(pid);
      });
    }, 20);
    const finished = await run.done;
    clearInterval(watch);
    assert.equal(finished.code, 2, "a bad config value (README: exit 2)");
    assert.match(finished.stderr, /workers/);
    assert.ok(seen.size >= 1, "a worker was forked beside the init process");
    assert.ok(
      [...seen].every((pid) => !alive(pid)),
      "every worker forked is gone",
    );
    assert.doesNotMatch(finished.stdout + finished.stderr, /worker process \d+ exited|standby process/);
  });
});

describe("the listening sockets during a start", () => {
  /** Whether a TCP connection to `port` is accepted (by a listener or into its backlog). */
  const connects = (port: number): Promise<Socket | null> =>
    new Promise((resolve) => {
      const socket = connect(port, "127.0.0.1");
      socket.once("connect", () => resolve(socket));
      socket.once("error", () => resolve(null));
    });

  it("a connection made once the master listens waits while no worker accepts yet, and is answered; none is refused", async () => {
    const dir = scratchApp({
      "app.mjs": `export default {
        async initWorker() { await new Promise((resolve) => setTimeout(resolve, 2000)); },
        fetch: () => new Response("up"),
      };\n`,
    });
    const port = await freePort();
    const prefix = mkdtempSync(join(tmpdir(), "tsresty-test-"));
    after(() => rmSync(prefix, { recursive: true, force: true }));
    const run = startTsresty(
      ["start", join(dir, "app.mjs"), "--workers", "1", "--listen", `127.0.0.1:${port}`, "--prefix", prefix],
      { deadlineMs: 60_000 },
    );
    // The worker spends 2 s in initWorker before it is ready and takes the sockets.
    let socket: Socket | null = null;
    const deadline = Date.now() + 20_000;
    while (socket === null && !run.stdout().includes("tsresty ready") && Date.now() < deadline) {
      socket = await connects(port);
      if (socket === null) await new Promise((resolve) => setTimeout(resolve, 25));
    }
    assert.ok(socket !== null, "a connection was accepted before the tree said it was ready");
    assert.doesNotMatch(run.stdout(), /tsresty ready/);
    const answer = new Promise<string>((resolve) => {
      let text = "";
      socket.on("data", (chunk: Buffer) => (text += chunk.toString()));
      socket.on("close", () => resolve(text));
    });
    socket.end("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert.match(await answer, /^HTTP\/1\.1 200 [^]*\r\n\r\nup$/);
    run.child.kill("SIGQUIT");
    assert.equal((await run.done).code, 0);
  });
});
