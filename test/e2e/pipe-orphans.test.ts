/**
 * Pipe children never outlive a SIGKILLed worker (docs/pipe.md, differences 2 and 3), in the two
 * cases a probe found them doing so: the master read the worker's report of a new group only after
 * the worker died (defect 1), and the worker died within the 100 ms grace it gives what a pipe
 * child left in its group (defect 2). The master is the subreaper of its tree: it adopts the
 * orphans, verifies late reports by them, reaps them, and leaves a setsid'd daemon alone.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { killMatching, limitDescriptors, pending, pidsMatching, startTsresty } from "../helpers/processes.ts";
import { scratchApp } from "../helpers/scratch.ts";
import { get, startTree, until, type Tree } from "../helpers/tree.ts";
import { groupMembers, readCpuTicks, readProcStat } from "../../src/util/proc.ts";

const APP = `
const held = [];
export default {
  async handler(req, res) {
    const url = new URL(req.url ?? "/", "http://x");
    const marker = url.searchParams.get("marker");
    if (url.pathname === "/spawn") {
      // A pipe child that runs until somebody ends it.
      const proc = ngx.pipe.spawn(["sleep", marker]);
      held.push(proc);
      res.end(\`\${process.pid} \${proc.pid()}\`);
      return;
    }
    if (url.pathname === "/grace") {
      // The leader exits at once, leaving a TERM-proof process in its group; this worker dies
      // right after the leader's exit, within the grace before that process's SIGKILL.
      const proc = ngx.pipe.spawn(["sh", "-c", \`trap '' TERM; sleep \${marker} & echo started\`]);
      await proc.stdoutReadLine();
      res.end(\`\${process.pid} \${proc.pid()}\`);
      await proc.wait();
      process.kill(process.pid, "SIGKILL");
      return;
    }
    if (url.pathname === "/daemon") {
      // A daemon on purpose (a session of its own), orphans that exit by themselves, and a leader
      // that runs until the worker dies.
      const proc = ngx.pipe.spawn(["sh", "-c", \`(sleep 0.2 &); (sleep 0.3 &); setsid sleep \${marker}1 & exec sleep \${marker}2\`]);
      held.push(proc);
      res.end(\`\${process.pid} \${proc.pid()}\`);
      return;
    }
    res.end("?");
  },
};
`;

const markers: string[] = [];
after(() => {
  for (const m of markers) killMatching(`sleep ${m}`);
});
/** A marker for `sleep` command lines, unique to this file and test. */
const marker = (n: number): string => {
  const m = `1001.${process.pid}${n}`;
  markers.push(m);
  return m;
};

/** Whether `pid` is still the process `startTime` names, and not a zombie. */
function running(pid: number, startTime: number): boolean {
  const stat = readProcStat(pid);
  return stat !== null && stat.startTime === startTime && stateOf(pid) !== "Z";
}

function stateOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
  } catch {
    return undefined;
  }
}

/** Pids of the zombies whose parent is `parent`. */
function zombiesOf(parent: number): number[] {
  return readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .filter((name) => stateOf(Number(name)) === "Z" && readProcStat(Number(name))?.ppid === parent)
    .map(Number);
}

/** The worker's and the pipe leader's pids, as the app answered them. */
async function ask(tree: Tree, path: string): Promise<{ worker: number; leader: number }> {
  const { body } = await get(tree.url(path));
  const [worker, leader] = body.split(" ").map(Number);
  assert.ok(worker !== undefined && leader !== undefined && leader > 1, body);
  return { worker, leader };
}

function startTimeOf(pid: number): number {
  const stat = readProcStat(pid);
  assert.ok(stat !== null, `no process ${pid}`);
  return stat.startTime;
}

describe("pipe children never outlive a SIGKILLed worker (the master as subreaper)", () => {
  it("a report the master reads after its worker died is verified and its group killed (the master was stopped meanwhile)", async () => {
    const tree = await startTree(join(scratchApp({ "app.ts": APP }), "app.ts"), { workers: 1 });
    const m = marker(1);
    let stopped = false;
    after(() => {
      if (stopped) process.kill(tree.masterPid, "SIGCONT");
    });
    // The master cannot run from here: the worker's report waits in the channel.
    process.kill(tree.masterPid, "SIGSTOP");
    stopped = true;
    const { worker, leader } = await ask(tree, `/spawn?marker=${m}`);
    const since = startTimeOf(leader);
    process.kill(worker, "SIGKILL");
    assert.ok(await until(() => readProcStat(leader)?.ppid !== worker, 5_000), "the leader was reparented");
    process.kill(tree.masterPid, "SIGCONT");
    stopped = false;
    assert.ok(await until(() => !running(leader, since), 5_000), "the pipe child outlived its worker");
    assert.deepEqual(pidsMatching(`^sleep ${m}$`), []);
    await tree.command("stop");
  });

  it("what a pipe child left in its group ends when the worker dies within its grace, and the master reaps it", async () => {
    const tree = await startTree(join(scratchApp({ "app.ts": APP }), "app.ts"), { workers: 1 });
    const m = marker(2);
    const { worker, leader } = await ask(tree, `/grace?marker=${m}`);
    // In the leader's group, the leader left out (it may have exited already).
    const [leftover] = groupMembers(leader).filter((stat) => stat.pid !== leader);
    assert.ok(leftover !== undefined, "the leftover runs");
    assert.ok(await until(() => readProcStat(worker) === null, 5_000), "the worker died");
    assert.ok(
      await until(() => !running(leftover.pid, leftover.startTime), 1_500),
      "the TERM-proof leftover outlived its worker",
    );
    assert.deepEqual(pidsMatching(`^sleep ${m}$`), []);
    assert.ok(
      await until(() => zombiesOf(tree.masterPid).length === 0, 3_000),
      `zombies: ${zombiesOf(tree.masterPid).join(" ")}`,
    );
    await tree.command("stop");
  });

  it("a setsid'd daemon outlives the worker's SIGKILL, adopted by the master; the orphans it adopts leave no zombie", async () => {
    const tree = await startTree(join(scratchApp({ "app.ts": APP }), "app.ts"), { workers: 1 });
    const m = marker(3);
    const { worker, leader } = await ask(tree, `/daemon?marker=${m}`);
    const since = startTimeOf(leader);
    assert.ok(await until(() => pidsMatching(`^sleep ${m}1$`).length === 1, 2_000), "the daemon started");
    const [daemon] = pidsMatching(`^sleep ${m}1$`);
    assert.ok(daemon !== undefined);
    process.kill(worker, "SIGKILL");
    assert.ok(await until(() => !running(leader, since), 5_000), "the pipe child outlived its worker");
    // The daemon's parent (sh) was killed with the group: the master adopted it, and lets it run.
    assert.ok(
      await until(() => readProcStat(daemon)?.ppid === tree.masterPid, 2_000),
      "adopted by the master",
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(stateOf(daemon), "S", "the daemon runs on");
    // The orphans that exited by themselves, the killed group, and now the daemon: all reaped.
    process.kill(daemon, "SIGKILL");
    assert.ok(await until(() => stateOf(daemon) === undefined, 3_000), "the daemon was reaped");
    assert.ok(
      await until(() => zombiesOf(tree.masterPid).length === 0, 3_000),
      `zombies: ${zombiesOf(tree.masterPid).join(" ")}`,
    );
    await tree.command("stop");
  });

  it("out of descriptors, the master's orphan scan waits for the next and reaps then (it logged an uncaught exception at each scan)", async () => {
    const tree = await startTree(join(scratchApp({ "app.ts": APP }), "app.ts"), { workers: 1 });
    const [a, b] = [marker(4), marker(5)];
    const { worker } = await ask(tree, `/daemon?marker=${a}`);
    await ask(tree, `/daemon?marker=${b}`);
    assert.ok(
      await until(() => [a, b].every((m) => pidsMatching(`^sleep ${m}1$`).length === 1), 2_000),
      "the daemons started",
    );
    const [first = 0, second = 0] = [a, b].map((m) => pidsMatching(`^sleep ${m}1$`)[0] ?? 0);
    process.kill(worker, "SIGKILL");
    assert.ok(
      await until(() => [first, second].every((pid) => readProcStat(pid)?.ppid === tree.masterPid), 5_000),
      `adopted by the master: ${first}, ${second}`,
    );
    assert.ok(
      await until(async () => (await tree.status()).processes.some((p) => p.type === "standby")),
      "the slot and the standby are back before descriptors run out",
    );
    // A soft limit below the descriptors open: the scan's readdir of /proc gets EMFILE.
    const restore = limitDescriptors(tree.masterPid, 3);
    process.kill(first, "SIGKILL");
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    assert.equal(stateOf(first), "Z", "not reaped while the scan cannot read /proc");
    restore();
    process.kill(second, "SIGKILL");
    assert.ok(
      await until(() => zombiesOf(tree.masterPid).length === 0, 3_000),
      `zombies: ${zombiesOf(tree.masterPid).join(" ")}`,
    );
    assert.doesNotMatch(tree.run.stderr(), /uncaught|EMFILE/i);
    await tree.command("stop");
  });

  it("a stop while init waits on a pipe child ends that child and its own children (the init process, SIGKILLed, left them running for good)", async () => {
    const m = marker(6);
    const dir = scratchApp({
      "app.ts": `export default {
  // A long task of the start (a migration, say): its command has a child of its own.
  init: () => ngx.shell.run("sleep ${m} & sleep ${m}", { timeout: 0 }),
  fetch: () => new Response(""),
};
`,
    });
    const run = startTsresty(
      ["start", join(dir, "app.ts"), "--workers", "1", "--listen", "127.0.0.1:0", "--prefix", join(dir, "p")],
      { deadlineMs: 30_000 },
    );
    assert.ok(await until(() => pidsMatching(`^sleep ${m}$`).length === 2), "init's command runs");
    run.child.kill("SIGTERM");
    const done = await run.done;
    assert.match(done.stderr, /start cancelled: the master was told to stop/);
    assert.ok(
      await until(() => pidsMatching(`^sleep ${m}$`).length === 0, 5_000),
      `left running: ${pidsMatching(`^sleep ${m}$`).join(" ")}`,
    );
  });
});

describe("pipe children never outlive a process that ends without running its exit handlers", () => {
  it("single mode: a second INT that ends a busy run ends its pipe children with it (they ran on)", async () => {
    const m = marker(7);
    const dir = scratchApp({
      "busy.ts": `ngx.pipe.spawn("sleep ${m} & sleep ${m}");
await new Promise((resolve) => setTimeout(resolve, 100));
console.log("busy");
for (;;) {}
`,
    });
    const run = startTsresty([join(dir, "busy.ts")], { deadlineMs: 20_000 });
    await run.waitForOutput("busy");
    assert.equal(pidsMatching(`^sleep ${m}$`).length, 2, "the pipe children run");
    // The first INT waits for the main thread, which never answers; the second ends the run.
    run.child.kill("SIGINT");
    assert.ok(await until(() => !pending(run.child.pid ?? 0, "SIGINT")), "the first INT is taken");
    run.child.kill("SIGINT");
    assert.equal((await run.done).code, 130);
    assert.ok(
      await until(() => pidsMatching(`^sleep ${m}$`).length === 0, 5_000),
      `left running: ${pidsMatching(`^sleep ${m}$`).join(" ")}`,
    );
  });

  it("single mode: an abort (a fatal error: V8's heap out of memory, process.abort()) ends the run's pipe children with it (they ran on)", async () => {
    const m = marker(9);
    const dir = scratchApp({
      "abort.ts": `import { existsSync } from "node:fs";
ngx.pipe.spawn("sleep ${m} & sleep ${m}");
while (!existsSync("go")) await new Promise((resolve) => setTimeout(resolve, 20));
process.abort();
`,
    });
    // (A core file, where the limit allows one, is written into the scratch directory.)
    const run = startTsresty([join(dir, "abort.ts")], { cwd: dir, deadlineMs: 20_000 });
    assert.ok(await until(() => pidsMatching(`^sleep ${m}$`).length === 2), "the pipe children run");
    writeFileSync(join(dir, "go"), "");
    assert.equal((await run.done).signal, "SIGABRT");
    assert.ok(
      await until(() => pidsMatching(`^sleep ${m}$`).length === 0, 5_000),
      `left running: ${pidsMatching(`^sleep ${m}$`).join(" ")}`,
    );
  });

  it("a worker busy when its master is SIGKILLed, which ends itself then, ends its pipe children with it (they ran on)", async () => {
    const m = marker(8);
    const app = `export default {
  handler(req, res) {
    const proc = ngx.pipe.spawn("sleep ${m} & sleep ${m}");
    res.end(\`\${process.pid} \${proc.pid()}\`);
    setTimeout(() => { for (;;) {} }, 100);
  },
};
`;
    const tree = await startTree(join(scratchApp({ "app.ts": app }), "app.ts"), { workers: 1 });
    const { worker } = await ask(tree, "/");
    assert.ok(await until(() => pidsMatching(`^sleep ${m}$`).length === 2), "the pipe children run");
    // Busy: its loop has used some CPU time (a master killed before it, the worker exits on the
    // disconnect and ends its pipe children in JavaScript).
    const ticks = readCpuTicks(worker) ?? 0;
    assert.ok(await until(() => (readCpuTicks(worker) ?? 0) - ticks >= 20), "the worker is busy");
    process.kill(tree.masterPid, "SIGKILL");
    // (Gone, or a zombie where nothing reaps the orphans of a dead master.)
    const ended = (): boolean => [undefined, "Z"].includes(stateOf(worker));
    assert.ok(await until(ended, 10_000), "the busy worker ended itself");
    assert.ok(
      await until(() => pidsMatching(`^sleep ${m}$`).length === 0, 5_000),
      `left running: ${pidsMatching(`^sleep ${m}$`).join(" ")}`,
    );
  });
});
