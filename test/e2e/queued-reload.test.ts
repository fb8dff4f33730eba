/**
 * A reload asked while the master starts or reloads is queued (machine.ts), and whoever asked is
 * answered with how the reload that carries out the request ended. It was answered at once
 * `reload queued (the master is reloading)`, exit 0: a deploy that raced another reload (the
 * agent's HUP, a second deploy) succeeded for a config that then failed to load.
 */
import assert from "node:assert/strict";
import { readdirSync, readlinkSync, writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import { join } from "node:path";
import { describe, it } from "node:test";
import type { ControlResponse } from "../../src/ipc/index.ts";
import { heldStart, startFailure } from "../helpers/failing-start.ts";
import { scratchApp } from "../helpers/scratch.ts";
import { idleInEventLoop, runTsresty, startTsresty, type Finished } from "../helpers/processes.ts";
import { startTree, until, type Tree } from "../helpers/tree.ts";

/**
 * A tree whose app's init prints `init MODE` (MODE read from the file MODE at each start and
 * reload), then throws "bad deploy" when MODE is `fail`, else sleeps MODE seconds. `reloading`
 * sets MODE, asks `tsresty reload`, and resolves once that reload's init has read MODE (with the
 * command's end, to await).
 */
async function modeTree(): Promise<{
  tree: Tree;
  mode: (value: string) => void;
  reloading: (value: string) => Promise<{ done: Promise<Finished> }>;
}> {
  const dir = scratchApp({
    "app.ts": `import { readFileSync } from "node:fs";
export default {
  async init() {
    const mode = readFileSync(new URL("./MODE", import.meta.url), "utf8");
    console.log(\`init \${mode}\`);
    if (mode === "fail") throw new Error("bad deploy");
    await ngx.sleep(Number(mode));
  },
  fetch: () => new Response("ok"),
};
`,
    MODE: "0",
  });
  const tree = await startTree(join(dir, "app.ts"), { workers: 1, deadlineMs: 60_000 });
  const mode = (value: string): void => {
    writeFileSync(join(dir, "MODE"), value);
  };
  const reloading = async (value: string): Promise<{ done: Promise<Finished> }> => {
    mode(value);
    const done = tree.command("reload");
    assert.ok(await until(() => tree.run.output().includes(`init ${value}`), 20_000), tree.run.stderr());
    return { done };
  };
  return { tree, mode, reloading };
}

/**
 * Sends one raw request line on the tree's control socket: `heard` resolves at the first answer,
 * `answers` with every answer, parsed, once the master ends the connection.
 */
function ask(tree: Tree, request: object): { heard: Promise<void>; answers: Promise<ControlResponse[]> } {
  const socket = createConnection(join(tree.prefix, "tsresty.sock"));
  let text = "";
  socket.setEncoding("utf8");
  const heard = new Promise<void>((resolve) => socket.once("data", () => resolve()));
  socket.on("data", (chunk: string) => (text += chunk));
  const answers = new Promise<ControlResponse[]>((resolve) => {
    const done = (): void => {
      resolve(
        text
          .split("\n")
          .filter(Boolean)
          .map((line) => JSON.parse(line) as ControlResponse),
      );
    };
    socket.on("close", done);
    socket.on("error", done);
  });
  socket.write(`${JSON.stringify(request)}\n`);
  return { heard, answers };
}

const count = (text: string, pattern: RegExp): number =>
  text.match(new RegExp(pattern.source, `${pattern.flags}g`))?.length ?? 0;

describe("a reload asked while another reload runs", () => {
  it("waits for the queued reload and exits with its outcome: two asks are one reload, whose failure each gets (exit 1, with the reason); a client asking with progress hears it goes on, one without gets one answer", async () => {
    const { tree, mode, reloading } = await modeTree();
    const first = await reloading("3");
    mode("fail");
    const [second, third, withProgress, withoutProgress] = await Promise.all([
      tree.command("reload"),
      tree.command("reload"),
      ask(tree, { command: "reload", progress: true }).answers,
      ask(tree, { command: "reload" }).answers,
    ]);
    const done = await first.done;
    assert.equal(done.code, 0, done.stderr);
    assert.equal(done.stdout, "reloaded (1 worker)\n");
    for (const queued of [second, third]) {
      assert.equal(queued.code, 1, `${queued.stdout}${queued.stderr}`);
      assert.equal(queued.stdout, "");
      assert.match(queued.stderr, /^tsresty: reload failed: .*bad deploy/);
    }
    // Asked with progress: "reloading" at once and every 2 s while the first reload's init sleeps,
    // then the queued reload's outcome.
    const progress = withProgress.filter((answer) => answer.ok && answer.progress === true);
    assert.ok(progress.length >= 2, JSON.stringify(withProgress));
    assert.equal(withProgress.length, progress.length + 1);
    assert.match(withProgress.at(-1)?.message ?? "", /^reload failed: .*bad deploy/);
    // Asked without (an older CLI): one answer, the outcome.
    assert.equal(withoutProgress.length, 1, JSON.stringify(withoutProgress));
    assert.match(JSON.stringify(withoutProgress), /^\[\{"ok":false,"message":"reload failed: .*bad deploy/);
    // The four asks were one reload.
    assert.equal(count(tree.run.output(), /^init fail$/m), 1, tree.run.output());
    assert.equal(count(tree.run.stderr(), /reconfiguring/), 2, tree.run.stderr());
    // The failed reload left a tree that reloads.
    mode("0");
    const after = await tree.command("reload");
    assert.equal(after.code, 0, after.stderr);
    await tree.command("stop");
  });

  it("a queued reload that succeeds answers its askers with success; a stop before a queued reload runs answers its askers that it did not run (they were told it was queued)", async () => {
    const { tree, mode, reloading } = await modeTree();
    const first = await reloading("2");
    mode("0");
    const queued = await tree.command("reload");
    assert.equal(queued.code, 0, queued.stderr);
    assert.equal(queued.stdout, "reloaded (1 worker)\n");
    assert.equal((await first.done).code, 0);

    const slow = await reloading("30");
    // Asked with progress, it hears at once that it goes on: the request is in.
    const cancelled = ask(tree, { command: "reload", progress: true });
    await cancelled.heard;
    const stop = await tree.command("stop");
    assert.equal(stop.code, 0, stop.stderr);
    const slowDone = await slow.done;
    assert.equal(slowDone.code, 1);
    assert.equal(slowDone.stderr, "tsresty: reload cancelled: the master is stopping\n");
    assert.deepEqual((await cancelled.answers).at(-1), {
      ok: false,
      message: "reload cancelled: the master stopped before the queued reload ran",
    });
    assert.equal((await tree.run.done).code, 0);
  });
});

/**
 * Whether `pid` holds a socket and waits in its event loop: a `tsresty reload` that has connected
 * to the master and written its request (it writes as it connects, in one turn).
 */
function waitsOnSocket(pid: number): boolean {
  try {
    const fds = readdirSync(`/proc/${pid}/fd`);
    return (
      fds.some((fd) => readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith("socket:")) && idleInEventLoop(pid)
    );
  } catch {
    return false;
  }
}

describe("a reload asked while the master starts", () => {
  it("a start that fails answers the queued reload's asker why the master stopped, exit 1 (it said only that the master stopped before the reload ran)", async () => {
    // init waits until the reload is asked, then throws.
    const { prefix, run, fail } = await heldStart();
    const reload = startTsresty(["reload", "--prefix", prefix], { deadlineMs: 60_000 });
    const asked = reload.child.pid ?? 0;
    assert.ok(await until(() => waitsOnSocket(asked), 20_000), reload.stderr());
    // The master has read the reload's request once it has answered one asked after it.
    const status = await runTsresty(["status", "--prefix", prefix]);
    assert.equal(status.code, 0, status.stderr);
    fail();

    const failure = startFailure(await run.done);
    const done = await reload.done;
    assert.equal(done.code, 1, done.stderr);
    assert.equal(done.stdout, "");
    assert.equal(
      done.stderr,
      `tsresty: reload cancelled: the master stopped before the queued reload ran: its ${failure}`,
    );
  });
});
