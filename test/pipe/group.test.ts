import assert from "node:assert/strict";
import { execFile, spawn as rawSpawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { after, describe, it } from "node:test";
import { guardKill } from "../helpers/kill-guard.ts";
import { killMatching, pidsMatching, ROOT } from "../helpers/processes.ts";
import { endGroup, liveGroups, run, spawn, type PipeProcess } from "../../src/pipe/index.ts";

// Every kill(2) below is recorded; none can reach init, -1 or the test runner's family.
const guard = guardKill();
const started: PipeProcess[] = [];
const raw: ChildProcess[] = [];
const markers: string[] = [];
const start = (...args: Parameters<typeof spawn>): PipeProcess => {
  const proc = spawn(...args);
  started.push(proc);
  return proc;
};
/** A marker for `sleep` command lines, unique to this file and test. */
const marker = (n: number): string => {
  const m = `1000.${process.pid}${n}`;
  markers.push(m);
  return m;
};
after(() => {
  for (const proc of started) if (proc.running()) proc.kill("SIGKILL");
  for (const child of raw) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  for (const m of markers) killMatching(m);
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
async function until(check: () => boolean, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!check() && Date.now() < deadline) await sleep(20);
  return check();
}
/** kill(2) calls aimed at a number at most 1 in absolute value (init, every process, own group). */
const lethal = (): number[] => guard.calls.filter((c) => Math.abs(c.pid) <= 1).map((c) => c.pid);

describe("signals never reach pid 1 or -1 (issue 8, item 2)", () => {
  it("shell.run of a missing program with stdin signals nothing", async () => {
    const result = await run(["/nonexistent-tsresty"], { stdin: "x", timeout: 2000 });
    assert.deepEqual(
      [result.ok, result.status, result.error],
      [false, 127, "/nonexistent-tsresty: spawn /nonexistent-tsresty ENOENT"],
    );
    assert.deepEqual(lethal(), []);
  });

  it("endGroup refuses 1, 0, -1 and numbers that are not its groups", async () => {
    const before = guard.calls.length;
    for (const bad of [1, 0, -1, -2, process.pid, 2 ** 22 + 1]) await endGroup(bad, 10);
    assert.deepEqual(guard.calls.slice(before), []);
  });
});

describe("process groups: checked before any signal (issue 8, item 1)", () => {
  it("endGroup leaves alone a group this process did not start through ngx.pipe", async () => {
    const victim = rawSpawn("sleep", [marker(1)], { detached: true, stdio: "ignore", timeout: 20_000 });
    raw.push(victim);
    const pid = victim.pid ?? -1;
    await endGroup(pid, 10);
    assert.deepEqual(
      guard.calls.filter((c) => Math.abs(c.pid) === pid),
      [],
    );
    assert.equal(victim.exitCode ?? victim.signalCode, null, "the victim still runs");
  });

  it("a group is forgotten when its leader exits, not only on wait()", async () => {
    const procs = Array.from({ length: 5 }, () => start(["true"]));
    assert.ok(await until(() => procs.every((proc) => !proc.running())));
    const pids = procs.map((proc) => proc.pid());
    assert.deepEqual(
      liveGroups().filter((pgid) => pids.includes(pgid)),
      [],
    );
  });

  it("a pipe child's leftovers in its group end when it exits, a TERM-proof one by SIGKILL", async () => {
    const plain = marker(2);
    const stubborn = marker(3);
    const proc = start(`sleep ${plain} & exit 0`);
    const proof = start(`trap '' TERM; sleep ${stubborn} & exit 0`);
    assert.deepEqual((await proc.wait()).status, 0);
    assert.deepEqual((await proof.wait()).status, 0);
    assert.ok(await until(() => pidsMatching(plain).length === 0), "the background sleep ended");
    assert.ok(await until(() => pidsMatching(stubborn).length === 0), "the TERM-proof sleep ended");
  });

  it("setsid daemonizes on purpose: a child in its own session outlives the leader", async () => {
    const daemon = marker(4);
    // The leader exits once the child has its own session (its session id is its pid: setsid
    // does not fork a process that leads no group), not after a fixed time that a loaded
    // machine may outlast.
    const proc = start(
      `setsid sleep ${daemon} & ` +
        `for i in $(seq 500); do [ "$(awk '{print $6}' /proc/$!/stat)" = "$!" ] && break; sleep 0.01; done`,
    );
    assert.equal((await proc.wait()).status, 0);
    await sleep(400);
    assert.equal(pidsMatching(daemon).length, 1);
  });
});

describe("abandoned processes (issue 8, item 13)", () => {
  it("T-PIPE-12 (tsresty's form): a PipeProcess garbage-collected without wait() ends its child", async () => {
    const sleepMarker = marker(5);
    const fixture = fileURLToPath(new URL("fixtures/abandon.ts", import.meta.url));
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ["--expose-gc", "--import", "tsx", fixture, sleepMarker],
      { cwd: ROOT, timeout: 20_000 },
    );
    const report = JSON.parse(stdout) as { pid: number; alive: boolean };
    assert.ok(report.pid > 1);
    assert.equal(report.alive, false, "the sleep was ended while its owner still ran");
    assert.deepEqual(pidsMatching(sleepMarker), []);
  });

  it("a read in progress keeps its PipeProcess alive: await spawn(…).stdoutReadAll() gets the output, not a child ended in mid-read", async () => {
    const fixture = fileURLToPath(new URL("fixtures/read-temporary.ts", import.meta.url));
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ["--expose-gc", "--import", "tsx", fixture],
      {
        cwd: ROOT,
        timeout: 20_000,
      },
    );
    assert.deepEqual(JSON.parse(stdout), { all: "hi\n", line: "hi", bytes: "hi" });
  });
});

describe("descriptors (found by a probe at stop 26)", () => {
  const fixture = (name: string): string => fileURLToPath(new URL(`fixtures/${name}`, import.meta.url));

  it("a PipeProcess dropped with output left unread closes its pipes when collected (no descriptor kept)", async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ["--expose-gc", "--import", "tsx", fixture("abandon-fds.ts")],
      { cwd: ROOT, timeout: 20_000 },
    );
    const { before, after: afterGc } = JSON.parse(stdout) as { before: number; after: number };
    // 30 children that filled their pipes: each kept one descriptor (stdout) for good before.
    assert.ok(afterGc <= before + 2, `descriptors ${before} before, ${afterGc} after 30 dropped children`);
  });

  /** What fixtures/emfile.ts reports, run with 100 descriptors, `free` of them left unused. */
  const outOfDescriptors = async (
    free: number,
    addon: "loaded" | "named" | "" = "",
  ): Promise<EmfileReport> => {
    const { stdout } = await promisify(execFile)(
      "bash",
      [
        "-c",
        `ulimit -n 100 && exec "$0" --import tsx "$1" ${free} ${addon}`,
        process.execPath,
        fixture("emfile.ts"),
      ],
      { cwd: ROOT, timeout: 20_000 },
    );
    return JSON.parse(stdout) as EmfileReport;
  };

  it("out of descriptors, spawn and shell.run report exit 127 with EMFILE; the process lives on", async () => {
    for (const free of [0, 5]) {
      const report = await outOfDescriptors(free);
      assert.equal(report.running, false);
      assert.equal(report.waited.status, 127);
      assert.match(report.waited.error ?? "", /^echo: .*EMFILE/);
      assert.deepEqual([report.shell.ok, report.shell.reason, report.shell.status], [false, "exit", 127]);
    }
  });

  it("a spawn out of descriptors in a process that has the addon loaded (a worker) leaves the later ones to the addon (one EMFILE at its first spawn sent every later child to child_process, in a session of its own)", async () => {
    for (const free of [0, 5]) {
      const report = await outOfDescriptors(free, "loaded");
      assert.equal(report.waited.status, 127);
      assert.match(report.waited.error ?? "", /^echo: .*EMFILE/);
      assert.equal(report.sameSession, true, `free ${free}: the later child is in the process's session`);
    }
  });

  it("a process out of descriptors when it first loads the addon, at a spawn, loads it at a later spawn (the failed load was remembered, and every later child went to child_process, in a session of its own)", async () => {
    // Without the file named, the search for it fails (EMFILE from open); named, dlopen fails
    // ("cannot open shared object file: Too many open files").
    for (const addon of ["", "named"] as const) {
      const report = await outOfDescriptors(0, addon);
      assert.equal(report.waited.status, 127);
      assert.match(report.waited.error ?? "", /^echo: .*EMFILE/);
      assert.equal(
        report.sameSession,
        true,
        `${addon || "searched"}: the later child is in the process's session`,
      );
    }
  });
});

/** What fixtures/emfile.ts prints. */
interface EmfileReport {
  running: boolean;
  waited: { reason: string; status: number; error?: string };
  shell: { ok: boolean | null; reason: string; status: number | null };
  /** Whether the child started once the descriptors were given back is in the fixture's session. */
  sameSession: boolean;
}

// The raw victim above must be reaped before the file ends.
after(async () => {
  await Promise.all(
    raw.filter((c) => c.exitCode === null && c.signalCode === null).map((c) => once(c, "exit")),
  );
});
