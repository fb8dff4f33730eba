/**
 * `tsresty stop`, `reload`, `status` and `logs` against a tree in odd states: a master whose
 * config still loads, a pid file that names another process. Real trees, real signals, hard
 * deadlines.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { CONTROL_SOCKET, PID_FILE, type ControlRequest, type ControlResponse } from "../../src/ipc/index.ts";
import { ensureBuilt } from "../helpers/dist.ts";
import {
  BIN,
  childrenOf,
  pidsMatching,
  ROOT,
  runTsresty,
  startTsresty,
  type Running,
} from "../helpers/processes.ts";
import { scratchApp } from "../helpers/scratch.ts";
import { alive, startTree, until } from "../helpers/tree.ts";

const APP = "export default { fetch: () => new Response('x') };\n";
/** A config whose top level awaits while the file `hold` beside it exists (at most 30 s). */
const HELD_CONFIG = `import { existsSync } from "node:fs";
const hold = new URL("./hold", import.meta.url);
for (const end = Date.now() + 30_000; existsSync(hold) && Date.now() < end; )
  await new Promise((resolve) => setTimeout(resolve, 20));
export default { workers: 2 };
`;

/** A request sent on the control socket; `next()` is its next answer line (10 s at most). */
function askOnSocket(prefix: string, request: ControlRequest): { next(): Promise<ControlResponse> } {
  const socket = createConnection(join(prefix, CONTROL_SOCKET));
  socket.setEncoding("utf8");
  socket.setTimeout(10_000, () => socket.destroy(new Error("no answer within 10 s")));
  const lines: string[] = [];
  let text = "";
  let failure: Error | null = null;
  socket.on("data", (chunk: string) => {
    text += chunk;
    const parts = text.split("\n");
    text = parts.pop() ?? "";
    lines.push(...parts);
  });
  socket.on("error", (error) => (failure = error));
  socket.write(`${JSON.stringify(request)}\n`);
  return {
    next: async () => {
      if (!(await until(() => lines.length > 0 || failure !== null || socket.destroyed, 10_000)))
        throw new Error("no answer line within 10 s");
      const line = lines.shift();
      if (line === undefined) throw failure ?? new Error("the master closed the connection");
      return JSON.parse(line) as ControlResponse;
    },
  };
}

/**
 * `tsresty start` without --prefix of a one-worker app whose config names the prefix `named` and
 * is held while the file `hold` exists; returned once the master holds ./.tsresty (`early`).
 */
async function movingStart(): Promise<{ dir: string; run: Running; early: string }> {
  const dir = scratchApp({
    "app.ts": APP,
    "tsresty.config.mts": HELD_CONFIG.replace(
      "workers: 2",
      `workers: 1, listen: ["127.0.0.1:0"], prefix: "named"`,
    ),
    hold: "",
  });
  const run = startTsresty(["start", "app.ts"], { cwd: dir, deadlineMs: 60_000 });
  const early = join(dir, ".tsresty");
  assert.ok(await until(() => existsSync(join(early, PID_FILE)), 20_000), run.stderr());
  return { dir, run, early };
}

describe("control commands while the first config still loads", () => {
  it("the pid file and the control socket are there from the master's start: status says starting, stop ends the tree (config and early workers included) and a queued reload says it did not run (they said 'no pid file')", async () => {
    const dir = scratchApp({ "app.ts": APP, "c.mts": HELD_CONFIG, hold: "" });
    const prefix = join(dir, "p");
    const run = startTsresty(
      [
        "start",
        join(dir, "app.ts"),
        "--config",
        join(dir, "c.mts"),
        "--workers",
        "2",
        "--listen",
        "127.0.0.1:0",
        "--prefix",
        prefix,
      ],
      { deadlineMs: 60_000 },
    );
    const master = run.child.pid ?? 0;
    // The init process and the two early workers boot while the config is held.
    assert.ok(await until(() => childrenOf(master).length >= 3, 20_000), run.stderr());
    assert.ok(
      await until(() => existsSync(join(prefix, PID_FILE)), 10_000),
      "the pid file is written at start",
    );
    const children = childrenOf(master);

    const status = await runTsresty(["status", "--json", "--prefix", prefix]);
    assert.equal(status.code, 0, status.stderr);
    const report = JSON.parse(status.stdout) as {
      masterPid: number;
      processes: { type: string; state: string }[];
    };
    assert.equal(report.masterPid, master);
    assert.deepEqual(report.processes[0], { ...report.processes[0], type: "master", state: "starting" });

    // A reload asked now is queued behind the start; its first word says the master has it.
    const reload = askOnSocket(prefix, { command: "reload", progress: true });
    assert.deepEqual(await reload.next(), { ok: true, message: "reloading", progress: true });
    const stop = await runTsresty(["stop", "--prefix", prefix]);
    assert.equal(stop.code, 0, stop.stderr);
    assert.equal(stop.stdout, `stopped (master pid ${master})\n`);
    const done = await run.done;
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stderr, /start cancelled: the master was told to stop/);
    assert.doesNotMatch(done.stdout, /tsresty ready/);
    assert.deepEqual(await reload.next(), {
      ok: false,
      message: "reload cancelled: the master stopped before the queued reload ran",
    });
    assert.ok(
      await until(() => children.every((pid) => !alive(pid))),
      `left: ${children.filter(alive).join(" ")}`,
    );
    assert.deepEqual(pidsMatching(prefix), []);
    assert.equal(existsSync(join(prefix, PID_FILE)), false);
    rmSync(join(dir, "hold"), { force: true });
  });

  it("without --prefix, the master holds the default prefix while its config loads and moves to the prefix the config names, leaving no trace in the default one", async () => {
    const { dir, run, early } = await movingStart();
    const status = await runTsresty(["status", "--json"], { cwd: dir });
    assert.equal(status.code, 0, status.stderr);
    rmSync(join(dir, "hold"));
    await run.waitForOutput("tsresty ready:");
    assert.equal(existsSync(early), false, "the default prefix the master made is gone");
    const stop = await runTsresty(["stop", "--prefix", "named"], { cwd: dir });
    assert.equal(stop.code, 0, stop.stderr);
    assert.equal((await run.done).code, 0);
  });

  it("a config's prefix that names ./.tsresty through a symbolic link is the prefix as the config names it: ngx.config.prefix() says the config's path, as with --prefix (it said .tsresty's)", async () => {
    const dir = scratchApp({
      "app.ts": `export default { initWorker() { console.log("prefix " + ngx.config.prefix()); }, fetch: () => new Response("x") };\n`,
      "tsresty.config.mts": `export default { workers: 1, listen: ["127.0.0.1:0"], prefix: "run" };\n`,
    });
    mkdirSync(join(dir, ".tsresty"));
    symlinkSync(".tsresty", join(dir, "run"));
    const run = startTsresty(["start", "app.ts"], { cwd: dir, deadlineMs: 60_000 });
    await run.waitForOutput("tsresty ready:");
    assert.ok(await until(() => run.output().includes("prefix "), 10_000), run.stdout());
    assert.match(run.output(), new RegExp(`^prefix ${join(dir, "run")}$`, "m"));
    const stop = await runTsresty(["stop", "--prefix", "run"], { cwd: dir });
    assert.equal(stop.code, 0, stop.stderr);
    assert.equal((await run.done).code, 0);
  });

  it("a logs -f and a reload asked at the default prefix while the config loads are served to their end when the master moves to the config's prefix: the follower follows on until the stop, the reload is answered (they were told 'the master stopped', or cut without an answer)", async () => {
    const { dir, run, early } = await movingStart();
    const follower = askOnSocket(early, { command: "logs", follow: true, worker: null, lines: 0 });
    assert.deepEqual(await follower.next(), { ok: true, message: "logs", lines: [] });
    const reload = askOnSocket(early, { command: "reload", progress: true });
    assert.deepEqual(await reload.next(), { ok: true, message: "reloading", progress: true });
    rmSync(join(dir, "hold"));
    await run.waitForOutput("tsresty ready:");
    const line = await follower.next();
    assert.equal(line.message, "log", JSON.stringify(line));
    assert.match(
      (line.ok && line.lines?.[0]) || "",
      /\[notice\] \d+#-: start worker process \d+ \(id 0, generation 1\)$/,
    );
    let answer = await reload.next();
    while (answer.ok && answer.progress === true) answer = await reload.next();
    assert.deepEqual(answer, { ok: true, message: "reloaded (1 worker)" });
    const stop = await runTsresty(["stop", "--prefix", "named"], { cwd: dir });
    assert.equal(stop.code, 0, stop.stderr);
    answer = await follower.next();
    while (answer.message === "log") answer = await follower.next();
    assert.deepEqual(answer, { ok: true, message: "the master stopped", ended: true });
    assert.equal((await run.done).code, 0);
  });
});

describe("control commands and a pid file that names the wrong process", () => {
  it("a pid file naming another prefix's live master, or a tsresty process that is no master, is called stale with its pid, its file and what to do (it said 'connect ENOENT' or 'ECONNREFUSED …/tsresty.sock')", async () => {
    const dir = scratchApp({ "app.ts": APP });
    const other = await startTree(join(dir, "app.ts"), { workers: 1 });
    // A prefix whose master was SIGKILLed: its socket file is left, nobody listens on it.
    const crashed = await startTree(join(dir, "app.ts"), { workers: 1 });
    process.kill(crashed.masterPid, "SIGKILL");
    assert.ok(await until(() => !alive(crashed.masterPid)));
    assert.ok(existsSync(join(crashed.prefix, CONTROL_SOCKET)));
    // A prefix with a pid file only.
    const bare = join(dir, "bare");
    mkdirSync(bare);
    const single = startTsresty(["-e", "await ngx.sleep(30)"], { deadlineMs: 60_000 });
    const singlePid = single.child.pid ?? 0;
    const cases = [
      { prefix: crashed.prefix, pid: other.masterPid, what: "is the master of another prefix" },
      { prefix: bare, pid: other.masterPid, what: "is the master of another prefix" },
      { prefix: bare, pid: singlePid, what: "is another tsresty process, not a master" },
    ];
    for (const { prefix, pid, what } of cases) {
      const pidFile = join(prefix, PID_FILE);
      writeFileSync(pidFile, `${pid}\n`);
      for (const command of ["status", "stop", "reload", "logs"]) {
        const r = await runTsresty([command, "--prefix", prefix]);
        assert.equal(r.code, 1, `${command}: ${r.stderr}`);
        assert.equal(
          r.stderr,
          `tsresty: no master is running under ${prefix} (stale pid file ${pidFile}: pid ${pid} ${what}); the master that wrote it is gone: tsresty start replaces the file, or remove it\n`,
          command,
        );
      }
    }
    assert.ok(alive(other.masterPid) && alive(singlePid), "neither process was told anything");
    single.child.kill("SIGKILL");
    assert.equal((await other.command("stop")).code, 0);
  });
});

/** The parents started by startUnreaped, and their masters: SIGKILLed in after() if still there. */
const unreapedPids: number[] = [];
after(() => {
  for (const pid of unreapedPids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
  }
});

/**
 * `tsresty start` (one worker, the compiled dist/) as the child of a parent that never reaps it:
 * a shell that starts it and then becomes `sleep 60`, which never waits. The master's exit leaves
 * it a zombie until that parent ends. Resolves once it is ready, with the master's pid and the parent's.
 */
async function startUnreaped(): Promise<{ prefix: string; master: number; parent: number }> {
  ensureBuilt();
  const dir = scratchApp({ "app.ts": APP });
  const prefix = join(dir, "p");
  const args = [
    "start",
    join(dir, "app.ts"),
    ..."--workers 1 --listen 127.0.0.1:0 --prefix".split(" "),
    prefix,
  ];
  const shell = spawn("sh", ["-c", '"$@" & exec sleep 60', "sh", process.execPath, BIN, ...args], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NODE_OPTIONS: "" },
  });
  const parent = shell.pid ?? 0;
  unreapedPids.push(parent);
  const deadline = setTimeout(() => shell.kill("SIGKILL"), 60_000);
  shell.once("exit", () => clearTimeout(deadline));
  let stdout = "";
  let stderr = "";
  shell.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  shell.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  assert.ok(await until(() => /tsresty ready: master pid \d+/.test(stdout), 30_000), `${stdout}\n${stderr}`);
  const master = Number(/tsresty ready: master pid (\d+)/.exec(stdout)?.[1]);
  unreapedPids.push(master);
  return { prefix, master, parent };
}

/** A process's state letter and parent pid, from /proc/PID/stat (after the command name's last ")"). */
function stateOf(pid: number): { state: string; ppid: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
  const [state = "", ppid = ""] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { state, ppid: Number(ppid) };
}

describe("control commands and a master whose parent does not reap it (a zombie)", () => {
  it("tsresty stop says the master stopped once it has exited, zombie or not, naming the parent that has not reaped it (it waited on kill(pid, 0) its full 120 s)", async () => {
    const { prefix, master, parent } = await startUnreaped();
    assert.equal(stateOf(master).ppid, parent, "the master is the child of the parent that never reaps");
    const started = Date.now();
    const stop = await runTsresty(["stop", "--prefix", prefix], { deadlineMs: 30_000 });
    assert.equal(stop.code, 0, `${stop.signal ?? ""} ${stop.stderr}`);
    assert.equal(
      stop.stdout,
      `stopped (master pid ${master}; it has exited, but its parent (pid ${parent}) has not reaped it)\n`,
    );
    assert.equal(stateOf(master).state, "Z", "the master is a zombie still");
    assert.ok(Date.now() - started < 25_000, `answered after ${Date.now() - started} ms`);
    assert.equal(existsSync(join(prefix, PID_FILE)), false);
  });

  it("a master SIGKILLed and left unreaped, its pid file behind, is called gone with its parent named, by status, logs, reload and stop (they called it 'another program')", async () => {
    const { prefix, master, parent } = await startUnreaped();
    process.kill(master, "SIGKILL");
    assert.ok(await until(() => stateOf(master).state === "Z"), "the master is a zombie");
    const pidFile = join(prefix, PID_FILE);
    for (const command of ["status", "logs", "reload", "stop"]) {
      const r = await runTsresty([command, "--prefix", prefix]);
      assert.equal(r.code, 1, `${command}: ${r.stderr}`);
      assert.equal(
        r.stderr,
        `tsresty: no master is running under ${prefix} (stale pid file ${pidFile}: pid ${master} has exited, but its parent (pid ${parent}) has not reaped it); the master that wrote it is gone: tsresty start replaces the file, or remove it\n`,
        command,
      );
    }
    // Its worker, left without its master, ends.
    assert.ok(
      await until(() => pidsMatching(prefix).length === 0),
      `left: ${pidsMatching(prefix).join(" ")}`,
    );
  });
});
