/**
 * Issue 13 item 4, containers: the master as pid 1 of its pid namespace (`unshare --pid --fork
 * --mount-proc`, as `docker run` without --init makes it). Orphans that a pipe child leaves
 * behind are reparented to it; it reaps them, and still hears its own workers' exit statuses
 * (a worker that exits is logged with its code and respawned with its id).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { BIN, childrenOf } from "../helpers/processes.ts";
import { scratchApp, scratchDir } from "../helpers/scratch.ts";
import { get, until } from "../helpers/tree.ts";

const APP = `
export default {
  async handler(req, res) {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    if (path === "/orphans") {
      // Each subshell starts a sleep in the background and exits at once: the sleeps are orphans.
      // One escapes the pipe's process group (setsid), so only its own exit ends it.
      const proc = ngx.pipe.spawn(["sh", "-c", "(sleep 0.3 &); (sleep 0.3 &); (setsid sleep 0.6 &); echo spawned"]);
      const line = await proc.stdoutReadLine();
      await proc.wait();
      res.end(\`\${line.ok ? line.data : line.reason} id=\${ngx.worker.id()}\`);
      return;
    }
    if (path === "/exit") {
      res.end("exiting");
      setTimeout(() => process.exit(3), 50);
      return;
    }
    res.end(\`id=\${ngx.worker.id()} pid=\${process.pid}\`);
  },
};
`;

/** Pids (as this test sees them) of the zombies whose parent is `parent`. */
function zombiesOf(parent: number): number[] {
  const zombies: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "latin1");
      const [state, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (state === "Z" && Number(ppid) === parent) zombies.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return zombies;
}

describe("the master as pid 1", () => {
  it("reaps the orphans a pipe child leaves behind, and its workers still exit with their status and respawn", async () => {
    const dir = scratchApp({ "app.ts": APP, "c.ts": `export default { logLevel: "info" };\n` });
    const run = spawn(
      "unshare",
      [
        "--pid",
        "--fork",
        "--mount-proc",
        "--kill-child",
        process.execPath,
        BIN,
        "start",
        join(dir, "app.ts"),
        "--config",
        join(dir, "c.ts"),
        "--workers",
        "2",
        "--listen",
        "127.0.0.1:0",
        "--prefix",
        join(scratchDir("pid1"), "p"),
      ],
      { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NODE_OPTIONS: "" } },
    );
    let stdout = "";
    let stderr = "";
    run.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    run.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => run.on("close", (code) => resolve(code)));
    // unshare kills the namespace's pid 1 (and so the whole namespace) when it dies itself.
    const deadline = setTimeout(() => run.kill("SIGKILL"), 90_000);
    after(() => {
      clearTimeout(deadline);
      run.kill("SIGKILL");
    });

    assert.ok(
      await until(() => stdout.includes("tsresty ready:"), 60_000),
      `no ready line:\n${stdout}\n${stderr}`,
    );
    assert.match(stdout, /tsresty ready: master pid 1, 2 workers/);
    const port = Number(/listening on 127\.0\.0\.1:(\d+)/.exec(stdout)?.[1]);
    const url = (path: string): string => `http://127.0.0.1:${port}${path}`;
    // The master as this test sees it: the child of unshare.
    const [master] = childrenOf(run.pid ?? -1);
    assert.ok(master !== undefined, "unshare has no child");

    for (let i = 0; i < 3; i++) assert.match((await get(url("/orphans"))).body, /^spawned id=\d$/);
    // The orphans were reparented to the master and reaped by it: no zombie is left.
    assert.ok(
      await until(() => (stderr.match(/reaped orphan process \d+/g) ?? []).length >= 9, 8_000),
      stderr,
    );
    assert.ok(
      await until(() => zombiesOf(master).length === 0, 8_000),
      `zombies: ${zombiesOf(master).join(" ")}`,
    );

    // Its own children's statuses are still libuv's: the worker's exit code is logged, and the
    // slot is filled again with the same id.
    const { body } = await get(url("/exit"));
    assert.equal(body, "exiting");
    const exit = await until(() => /worker process \d+ \(id (\d)\) exited with code 3/.test(stderr), 10_000);
    assert.ok(exit, stderr);
    const id = /worker process \d+ \(id (\d)\) exited with code 3/.exec(stderr)?.[1];
    assert.ok(
      await until(
        () => new RegExp(`start worker process \\d+ \\(id ${id}, generation 2\\)`).test(stderr),
        10_000,
      ),
      stderr,
    );
    const ids = new Set<string>();
    await until(async () => {
      ids.add(/id=(\d)/.exec((await get(url("/"))).body)?.[1] ?? "");
      return ids.size === 2;
    }, 10_000);
    assert.deepEqual([...ids].sort(), ["0", "1"]);
    assert.equal(zombiesOf(master).length, 0);

    process.kill(master, "SIGQUIT");
    assert.equal(await exited, 0);
  });
});
