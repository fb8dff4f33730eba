import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { pidsMatching, uidOf } from "../helpers/processes.ts";
import { scratchApp } from "../helpers/scratch.ts";
import { alive, get, startTree, until } from "../helpers/tree.ts";

const APP = "test/fixtures/agent/app.ts";
const scratch = mkdtempSync(join(tmpdir(), "tsresty-agent-"));
after(() => {
  rmSync(scratch, { recursive: true, force: true });
});

const agentOf = async (tree: Awaited<ReturnType<typeof startTree>>) =>
  (await tree.status()).processes.find((p) => p.type === "privileged agent");

describe("the privileged agent", () => {
  it('T-PA-01, T-PA-04, T-PA-07: one agent (id null, count N) runs initWorker (where enabling it again is "API disabled"); requests are all served by workers', async () => {
    const tree = await startTree(APP, { workers: 2 });
    assert.match(
      tree.run.output(),
      /tsresty ready: master pid \d+, 2 workers and the privileged agent, listening on/,
    );
    const agent = await agentOf(tree);
    assert.ok(agent !== undefined);
    assert.equal(agent.id, null);
    assert.ok(
      await until(() =>
        tree.run.output().includes(`initWorker type=privileged agent id=null count=2 pid=${agent.pid}`),
      ),
    );
    assert.equal(tree.run.output().match(/^initWorker /gm)?.length, 3, "two workers and the agent");
    assert.match(
      tree.run.stderr(),
      new RegExp(`start privileged agent process ${agent.pid} \\(generation 1\\)`),
    );
    const answers = await Promise.all(Array.from({ length: 200 }, () => get(tree.url("/"))));
    for (const answer of answers) assert.equal((JSON.parse(answer.body) as { type: string }).type, "worker");
    assert.match(
      tree.run.output(),
      /^enable in initWorker: ngx\.process\.enablePrivilegedAgent: API disabled in the current context$/m,
    );
    await tree.command("stop");
  });

  it("T-PA-07: a SIGKILLed agent is respawned and runs initWorker again", async () => {
    const tree = await startTree(APP, { workers: 1 });
    const agent = await agentOf(tree);
    assert.ok(agent !== undefined);
    process.kill(agent.pid, "SIGKILL");
    let next: number | undefined;
    assert.ok(
      await until(async () => {
        next = (await agentOf(tree))?.pid;
        return next !== undefined && next !== agent.pid;
      }),
    );
    assert.ok(
      await until(() =>
        tree.run.output().includes(`initWorker type=privileged agent id=null count=1 pid=${String(next)}`),
      ),
    );
    assert.match(
      tree.run.stderr(),
      new RegExp(`\\[alert\\] \\d+#-: privileged agent process ${agent.pid} exited on signal 9`),
    );
    await tree.command("stop");
  });

  it("an agent that keeps crashing once ready is respawned with backoff, logged by its name alone, while the worker serves", async () => {
    const dir = scratchApp({
      "app.ts": `export default {
  init() { ngx.process.enablePrivilegedAgent(); },
  initWorker() {
    if (ngx.process.type() === "privileged agent") setTimeout(() => { throw new Error("agent crash"); }, 100);
  },
  fetch: () => new Response("served\\n"),
};
`,
    });
    const tree = await startTree(join(dir, "app.ts"), { workers: 1 });
    assert.ok(
      await until(() => /respawning it in 200 ms/.test(tree.run.stderr()), 20_000),
      tree.run.stderr(),
    );
    const stderr = tree.run.stderr();
    // The agent has no id: its label is not followed by an empty one ("privileged agent  keeps").
    assert.match(stderr, /\[warn\] \d+#-: privileged agent keeps dying; respawning it in 100 ms$/m);
    assert.ok(stderr.indexOf("in 100 ms") < stderr.indexOf("in 200 ms"));
    assert.deepEqual(await get(tree.url("/")), { status: 200, body: "served\n" });
    await tree.command("stop", "--fast");
  });

  it("subprocesses of a SIGKILLed agent are ended by the master, a TERM-proof one and its background child too", async () => {
    const dir = scratchApp({
      "app.ts": `const held = [];
export default {
  init() { ngx.process.enablePrivilegedAgent(); },
  initWorker() {
    if (ngx.process.type() !== "privileged agent") return;
    held.push(ngx.pipe.spawn(\`trap '' TERM; sleep 1004.\${process.pid} & sleep 1004.\${process.pid}\`));
  },
  fetch: () => new Response("ok\\n"),
};
`,
    });
    const tree = await startTree(join(dir, "app.ts"), { workers: 1 });
    const agent = await agentOf(tree);
    assert.ok(agent !== undefined);
    const sleeping = (): number[] => pidsMatching(`sleep 1004.${agent.pid}`);
    assert.ok(await until(() => sleeping().length >= 2));
    process.kill(agent.pid, "SIGKILL");
    assert.ok(await until(() => sleeping().length === 0), `left: ${sleeping().join(" ")}`);
    await tree.command("stop");
  });

  it("T-PA-08 (deliberate difference): on stop, a pending agent timer fires premature before exitWorker", async () => {
    const tree = await startTree(APP, { workers: 1 });
    const agent = await agentOf(tree);
    assert.ok(agent !== undefined);
    await tree.command("stop");
    const end = await tree.run.done;
    const timer = end.output.indexOf(`agent timer premature=true pid=${agent.pid}`);
    const exit = end.output.indexOf(`exitWorker type=privileged agent pid=${agent.pid}`);
    assert.ok(timer >= 0 && exit > timer, end.output);
  });

  it("T-PA-06: a reload replaces the agent; the old one fires its timer premature and exits", async () => {
    const tree = await startTree(APP, { workers: 1 });
    const old = await agentOf(tree);
    assert.ok(old !== undefined);
    assert.equal((await tree.command("reload")).code, 0);
    const fresh = await agentOf(tree);
    assert.ok(fresh !== undefined && fresh.pid !== old.pid);
    assert.ok(await until(() => tree.run.output().includes(`agent timer premature=true pid=${old.pid}`)));
    assert.ok(await until(() => !alive(old.pid)));
    assert.match(
      tree.run.output(),
      new RegExp(`initWorker type=privileged agent id=null count=1 pid=${fresh.pid}`),
    );
    await tree.command("stop");
  });

  it(
    "with config.user, workers run as that user and the agent keeps root",
    { skip: process.getuid?.() !== 0 ? "needs root" : false },
    async () => {
      const config = join(scratch, "user.config.ts");
      writeFileSync(config, 'export default { user: "nobody" };\n');
      const tree = await startTree(APP, { workers: 1, args: ["--config", config] });
      const processes = (await tree.status()).processes;
      const nobody = String(Number(execFileSync("id", ["-u", "nobody"], { encoding: "utf8" })));
      assert.equal(uidOf(processes.find((p) => p.type === "worker")?.pid ?? 0), nobody);
      assert.equal(uidOf(processes.find((p) => p.type === "privileged agent")?.pid ?? 0), "0");
      await tree.command("stop");
    },
  );

  it("T-PA-02, T-PA-03: bad connections throw with OpenResty's words; config privilegedAgent: true works alone", async () => {
    const config = join(scratch, "agent.config.ts");
    writeFileSync(config, "export default { privilegedAgent: { connections: 2 } };\n");
    const tree = await startTree(APP, {
      workers: 1,
      args: ["--config", config],
      env: { BAD_CONNECTIONS: "1", AGENT_IN_CONFIG: "1", SLEEPERS: "5" },
    });
    const out = tree.run.output();
    for (const bad of ["-1", '"10"', "0"]) {
      assert.match(
        out,
        new RegExp(
          `^connections ${bad}: ngx\\.process\\.enablePrivilegedAgent: "connections" must be an integer greater than 0 \\(bad 'connections' argument: number expected and greater than 0\\)`,
          "m",
        ),
      );
    }
    // Above the config key's bound, as the key refuses it (before: taken).
    for (const big of [2 ** 31, 2 ** 53]) {
      assert.match(
        out,
        new RegExp(
          `^connections ${big}: ngx\\.process\\.enablePrivilegedAgent: "connections" must be an integer from 1 to 2147483647, as config privilegedAgent\\.connections`,
          "m",
        ),
      );
    }
    assert.ok((await agentOf(tree)) !== undefined, "the config alone enables the agent");
    // connections caps the agent's running timer callbacks
    assert.ok(await until(() => tree.run.output().includes("agent ran 5 sleepers, at most 2 at once")));
    await tree.command("stop");
  });
});

describe("agent examples", () => {
  it("examples/agent-reload: the agent's periodic HUP replaces the workers each time", async () => {
    const tree = await startTree("examples/agent-reload/app.ts", {
      workers: 2,
      env: { RELOAD_EVERY: "0.4" },
    });
    const first = (await tree.status()).processes.filter((p) => p.type === "worker").map((p) => p.pid);
    const seen = new Set(first);
    let generations = 0;
    assert.ok(
      await until(async () => {
        const workers = (await tree.status()).processes.filter((p) => p.type === "worker");
        if (workers.some((w) => !seen.has(w.pid))) {
          generations++;
          for (const w of workers) seen.add(w.pid);
        }
        return generations >= 2;
      }, 15_000),
    );
    assert.ok(
      first.every((pid) => !alive(pid)),
      "the first generation is gone",
    );
    assert.ok(
      await until(() => /agent \d+: reloading the master/.test(tree.run.output())),
      tree.run.output(),
    );
    assert.match((await get(tree.url("/"))).body, /^worker [01] pid \d+\n$/);
    await tree.command("stop");
  });

  it("examples/agent-logrotate: the agent rotates the error log and deletes old rotations", async () => {
    const logs = join(scratch, "logs");
    execFileSync("mkdir", ["-p", logs]);
    const log = join(logs, "error.log");
    const tree = await startTree("examples/agent-logrotate/app.ts", {
      workers: 1,
      args: ["--error-log", log],
      env: { ROTATE_EVERY: "0.3", KEEP_SECONDS: "0.7" },
    });
    assert.ok(
      await until(() => (tree.run.output().match(/^deleted error\.log\.\d+$/gm)?.length ?? 0) >= 2, 15_000),
    );
    const rotated = tree.run.output().match(/^rotated error\.log\.\d+$/gm)?.length ?? 0;
    const kept = readdirSync(logs).filter((name) => name.startsWith("error.log."));
    assert.ok(kept.length < rotated, `${kept.length} kept of ${rotated} rotated`);
    // Between a rename and the master's reopen (on the agent's USR1) no error.log exists: a look
    // that falls in that window, wide when the machine is busy, waits for the reopen.
    assert.ok(await until(() => existsSync(log), 5_000), "error.log is open again after each rotation");
    assert.match(readFileSync(join(logs, kept.sort()[0] ?? "missing"), "utf8"), /reopening logs/);
    await tree.command("stop");
  });
});
