import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { after, describe, it } from "node:test";
import { guardKill } from "../helpers/kill-guard.ts";
import { pidsMatching } from "../helpers/processes.ts";
import { alive, get, startTree, until } from "../helpers/tree.ts";
import { MAX_GROUPS, PipeGroups } from "../../src/master/pipe-groups.ts";
import { readProcStat, type ProcStat } from "../../src/util/proc.ts";

// Every kill(2) in this file is recorded; none can reach init, -1 or the test runner's family.
const guard = guardKill();
const children: { child: ChildProcess; detached: boolean }[] = [];
after(() => {
  for (const { child, detached } of children) {
    // A detached child leads its group: ending the group ends what sh started too (dash does not
    // exec a lone command, so `sleep` is sh's child).
    if (detached && child.pid !== undefined) {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        // the group is gone already
      }
    }
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
});

/** `command` under sh, as its own group leader when `detached`, with a hard deadline. */
function start(command: string, detached = true): ChildProcess {
  const child = spawn("sh", ["-c", command], { detached, stdio: "ignore", timeout: 30_000 });
  children.push({ child, detached });
  return child;
}
const running = (child: ChildProcess): boolean => child.exitCode === null && child.signalCode === null;
const groupCalls = (pgid: number): number => guard.calls.filter((c) => c.pid === -pgid).length;

describe("the master's pipe groups of a child (issue 8, item 1)", () => {
  it("registers a group its owner leads and SIGKILLs all of it at killAll", async () => {
    const leader = start("sleep 30 & sleep 30 & wait");
    const groups = new PipeGroups();
    assert.equal(groups.register(leader.pid ?? -1, process.pid), true);
    assert.equal(groups.killAll(), 1);
    await once(leader, "exit");
    assert.equal(leader.signalCode, "SIGKILL");
    assert.equal(groups.size, 0);
  });

  it("refuses 1, 0, -1, non-integers, the test runner, and processes that are not the owner's group leaders", () => {
    const groups = new PipeGroups();
    const stranger = start("sleep 30");
    const follower = start("exec sleep 30", false);
    const before = guard.calls.length;
    for (const pgid of [1, 0, -1, -(stranger.pid ?? 0), 1.5, Number.NaN, 2 ** 22 + 1]) {
      assert.equal(groups.register(pgid, process.pid), false, `pgid ${pgid}`);
    }
    assert.equal(groups.register(process.pid, process.ppid), false, "the test runner itself");
    assert.equal(groups.register(process.pid, process.pid), false, "the owner itself");
    assert.equal(groups.register(stranger.pid ?? -1, process.ppid), false, "not a child of that owner");
    assert.equal(groups.register(follower.pid ?? -1, process.pid), false, "not leading its own group");
    assert.equal(groups.size, 0);
    assert.equal(groups.killAll(), 0);
    assert.deepEqual(guard.calls.slice(before), []);
    assert.ok(running(stranger) && running(follower));
  });

  it("a leader that exited is not signalled, nor a process started after it", async () => {
    const leader = start("sleep 30");
    const pgid = leader.pid ?? -1;
    const groups = new PipeGroups();
    assert.equal(groups.register(pgid, process.pid), true);
    leader.kill("SIGKILL");
    await once(leader, "exit");
    const later = start("sleep 30");
    assert.equal(groups.killAll(), 0);
    assert.equal(groupCalls(pgid), 0);
    assert.ok(running(later));
  });

  it("a reused pid (same number, another start time, leading a group) is never signalled", async () => {
    const first = start("sleep 30");
    const pgid = first.pid ?? -1;
    // /proc as it would read once the number is handed to a new process that leads a group.
    let reused: ProcStat | null = null;
    const groups = new PipeGroups((pid) => (pid === pgid && reused !== null ? reused : readProcStat(pid)));
    assert.equal(groups.register(pgid, process.pid), true);
    const firstStart = readProcStat(pgid)?.startTime;
    first.kill("SIGKILL");
    await once(first, "exit");
    // Start times count clock ticks (10 ms at 100 Hz): a pid is reused only after the pid space
    // wrapped around, never within a tick, so the new process starts at least a tick later.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const second = start("sleep 30");
    const stat = readProcStat(second.pid ?? -1);
    assert.ok(stat !== null);
    assert.notEqual(stat.startTime, firstStart, "the second process started in a later tick");
    reused = { ...stat, pid: pgid, pgrp: pgid };
    assert.equal(groups.killAll(), 0);
    assert.equal(groupCalls(pgid), 0);
    assert.ok(running(second));
  });

  it(`holds at most ${MAX_GROUPS} groups per child, pruning those whose leader is gone`, () => {
    const owner = 4242;
    const gone = new Set<number>();
    const base = 2 ** 22 + 1; // above any pid_max: these numbers name no process at all
    const groups = new PipeGroups((pid) =>
      pid >= base && !gone.has(pid) ? { pid, ppid: owner, pgrp: pid, startTime: 7 } : null,
    );
    for (let i = 0; i < MAX_GROUPS; i++) assert.equal(groups.register(base + i, owner), true);
    assert.equal(groups.register(base + MAX_GROUPS, owner), false, "full");
    for (let i = 0; i < 10; i++) gone.add(base + i);
    assert.equal(groups.register(base + MAX_GROUPS, owner), true, "room after pruning");
    assert.equal(groups.size, MAX_GROUPS - 9);
    groups.forget(base + MAX_GROUPS);
    assert.equal(groups.size, MAX_GROUPS - 10);
  });

  it("a worker that claims another process's group and dies does not get it killed", async () => {
    const marker = `1000.${process.pid}7`;
    const victim = start(`exec sleep ${marker}0`);
    const tree = await startTree("test/master/fixtures/hostile.ts", { workers: 1 });
    const worker = (await tree.status()).processes.find((p) => p.type === "worker");
    assert.ok(worker !== undefined);
    await get(tree.url(`/claim?pgid=${victim.pid ?? -1}&marker=${marker}`)).catch(() => undefined);
    assert.ok(await until(() => pidsMatching(`sleep ${marker}$`).length >= 2), "the real group started");
    assert.ok(await until(() => !alive(worker.pid)), "the worker died");
    assert.ok(
      await until(async () =>
        (await tree.status()).processes.some((p) => p.type === "worker" && p.restarts > 0),
      ),
    );
    // The worker's real pipe group (`sleep MARKER`) is ended; the victim (`sleep MARKER0`) is not.
    assert.ok(await until(() => pidsMatching(`sleep ${marker}$`).length === 0), "the real group ended");
    assert.ok(running(victim), "the claimed group was left alone");
    await tree.command("stop");
  });
});
