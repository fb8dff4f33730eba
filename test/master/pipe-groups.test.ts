import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { guardKill } from "../helpers/kill-guard.ts";
import { killMatching, pidsMatching, ROOT_ONLY } from "../helpers/processes.ts";
import { scratchApp } from "../helpers/scratch.ts";
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
    // The master is somebody else here: this process's children are not its adopted orphans.
    const groups = new PipeGroups({}, 2 ** 22 + 99);
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
    // No signal: at most signal 0, kill(2)'s probe of whether a group exists, which delivers nothing.
    assert.deepEqual(
      guard.calls.slice(before).filter((c) => c.signal !== 0),
      [],
    );
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
    const groups = new PipeGroups({
      stat: (pid) => (pid === pgid && reused !== null ? reused : readProcStat(pid)),
    });
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

  it(`holds at most ${MAX_GROUPS} groups per child, pruning those whose leader is gone; says so once when full (the rest went unrecorded with only a debug line)`, () => {
    const owner = 4242;
    const gone = new Set<number>();
    const base = 2 ** 22 + 1; // above any pid_max: these numbers name no process at all
    let told = 0;
    const groups = new PipeGroups(
      {
        stat: (pid) => (pid >= base && !gone.has(pid) ? { pid, ppid: owner, pgrp: pid, startTime: 7 } : null),
      },
      process.pid,
      () => told++,
    );
    for (let i = 0; i < MAX_GROUPS; i++) assert.equal(groups.register(base + i, owner), true);
    assert.equal(told, 0);
    assert.equal(groups.register(base + MAX_GROUPS, owner), false, "full");
    assert.equal(groups.register(base + MAX_GROUPS + 1, owner), false, "full");
    assert.equal(told, 1, "told once");
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

  it(
    "a worker under config.user that claims a root process the master adopted (the agent's setsid daemon) and dies does not get it killed",
    ROOT_ONLY,
    async () => {
      const marker = `1000.${process.pid}8`;
      const dir = scratchApp({
        "app.ts": `import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
const pidFile = new URL("daemon.pid", import.meta.url).pathname;
export default {
  init() { ngx.process.enablePrivilegedAgent(); },
  initWorker() {
    // sh exits at once: the daemon's parent becomes the master, the subreaper of the tree.
    if (ngx.process.type() === "privileged agent")
      spawn("sh", ["-c", "setsid sleep ${marker} > /dev/null 2>&1 & echo $! > " + pidFile], { stdio: "ignore" });
  },
  fetch() {
    process.send?.({ type: "pipe-group", pgid: Number(readFileSync(pidFile, "utf8")), alive: true });
    setTimeout(() => process.kill(process.pid, "SIGKILL"), 500);
    return new Response("claimed\\n");
  },
};
`,
        "user.config.ts": 'export default { user: "nobody" };\n',
      });
      const tree = await startTree(join(dir, "app.ts"), {
        workers: 1,
        args: ["--config", join(dir, "user.config.ts")],
      });
      after(() => {
        killMatching(`sleep ${marker}$`);
      });
      assert.ok(await until(() => pidsMatching(`sleep ${marker}$`).length === 1), "the daemon started");
      const [daemon] = pidsMatching(`sleep ${marker}$`);
      assert.ok(
        await until(() => readProcStat(daemon ?? -1)?.ppid === tree.masterPid),
        "the master adopted it",
      );
      const worker = (await tree.status()).processes.find((p) => p.type === "worker");
      assert.ok(worker !== undefined);
      await get(tree.url("/claim")).catch(() => undefined);
      assert.ok(await until(() => !alive(worker.pid)), "the worker died");
      assert.ok(
        await until(async () =>
          (await tree.status()).processes.some((p) => p.type === "worker" && p.restarts > 0),
        ),
      );
      // Before: the master took the claim (a parent pid of its own vouched for it) and SIGKILLed
      // root's daemon when the worker died.
      assert.deepEqual(pidsMatching(`sleep ${marker}$`), [daemon]);
      await tree.command("stop");
    },
  );
});

describe("the master as the subreaper: late claims and groups without their leader (probe: defects 1 and 2)", () => {
  // A /proc of made-up processes, numbered above any pid_max: a kill(2) that gets through finds
  // nobody (ESRCH), and the guard records it.
  const base = 2 ** 22 + 100;
  const master = base;
  const owner = base + 1;
  const stranger = base + 2;
  type Table = Map<number, ProcStat>;
  const proc = (table: Table) => ({
    stat: (pid: number) => table.get(pid) ?? null,
    all: () => [...table.values()],
    groupExists: (pgid: number) => [...table.values()].some((p) => p.pgrp === pgid),
  });
  const entry = (pid: number, ppid: number, pgrp: number, startTime = 7): [number, ProcStat] => [
    pid,
    { pid, ppid, pgrp, startTime },
  ];
  /** The master leads its own group; the owner (a worker) is in it. */
  const tree = (...more: [number, ProcStat][]): Table =>
    new Map([entry(master, 1, master), entry(owner, master, master), ...more]);
  const sigkills = (pgid: number): number =>
    guard.calls.filter((c) => c.pid === -pgid && c.signal === "SIGKILL").length;

  it("a claim read after its owner exited is killed at once when the master adopted its leader, refused otherwise", () => {
    const adopted = base + 10;
    const reparentedElsewhere = base + 11;
    const ownersNumber = base + 12;
    const table = tree(
      entry(adopted, master, adopted),
      entry(reparentedElsewhere, 1, reparentedElsewhere),
      // The dead owner's number, now another process's parent: it vouches for nothing any more.
      entry(ownersNumber, owner, ownersNumber),
    );
    const groups = new PipeGroups(proc(table), master);
    assert.equal(groups.killAll(), 0);
    assert.equal(groups.register(adopted, owner), true);
    assert.equal(sigkills(adopted), 1, "killed at once: nobody else will end it");
    assert.equal(groups.register(reparentedElsewhere, owner), false, "its parent is init");
    assert.equal(groups.register(ownersNumber, owner), false, "its parent is the owner's old number");
    assert.equal(sigkills(reparentedElsewhere) + sigkills(ownersNumber), 0);
    assert.equal(groups.size, 0);
  });

  it("while its owner lives, a claim is recorded when the leader's parent is the owner or the master", () => {
    const own = base + 20;
    const adopted = base + 21;
    const groups = new PipeGroups(
      proc(tree(entry(own, owner, own), entry(adopted, master, adopted))),
      master,
    );
    assert.equal(groups.register(own, owner), true);
    assert.equal(groups.register(adopted, owner), true);
    assert.equal(sigkills(own) + sigkills(adopted), 0, "recorded, not killed");
    assert.equal(groups.killAll(), 0, "the numbers name nobody: kill(2) finds no one");
    assert.equal(sigkills(own) + sigkills(adopted), 2);
  });

  it("a group whose leader is gone is killed when a member is adopted by the master, never when empty or led by a reused number", () => {
    const kept = base + 30;
    const empty = base + 31;
    const foreign = base + 32;
    const reused = base + 33;
    const table = tree(
      entry(kept, owner, kept),
      entry(empty, owner, empty),
      entry(foreign, owner, foreign),
      entry(reused, owner, reused),
    );
    const groups = new PipeGroups(proc(table), master);
    for (const pgid of [kept, empty, foreign, reused]) assert.equal(groups.register(pgid, owner), true);
    // The leaders exit; what they left in their groups is reparented to the master (kept), or is
    // somebody else's child (foreign); one number is handed to a new leader of its own group.
    for (const pgid of [kept, empty, foreign, reused]) table.delete(pgid);
    table.set(base + 40, { pid: base + 40, ppid: master, pgrp: kept, startTime: 9 });
    table.set(base + 41, { pid: base + 41, ppid: stranger, pgrp: foreign, startTime: 9 });
    table.set(reused, { pid: reused, ppid: 1, pgrp: reused, startTime: 99 });
    table.set(base + 42, { pid: base + 42, ppid: master, pgrp: reused, startTime: 99 });
    groups.killAll();
    assert.equal(sigkills(kept), 1);
    assert.equal(sigkills(empty) + sigkills(foreign) + sigkills(reused), 0);
  });

  it("the master's own group is never a leaderless group of a child, nor is a claim of a gone leader without adopted members", () => {
    const gone = base + 50;
    const table = tree(entry(base + 51, master, master), entry(base + 52, stranger, gone));
    const groups = new PipeGroups(proc(table), master);
    assert.equal(
      groups.register(master, owner),
      false,
      "the master leads its group: its parent is not the owner",
    );
    assert.equal(groups.register(gone, owner), false, "no leader, no adopted member");
    // A master that does not lead its group (started by a script), whose leader has exited: the
    // master's children in that group (its workers) do not make it a child's group.
    const theirs = base + 55;
    for (const pid of [master, owner, base + 51]) {
      const stat = table.get(pid);
      if (stat !== undefined) table.set(pid, { ...stat, pgrp: theirs });
    }
    assert.equal(groups.register(theirs, owner), false);
    groups.killAll();
    assert.equal(groups.register(theirs, owner), false);
    assert.equal(sigkills(master) + sigkills(gone) + sigkills(theirs), 0);
  });

  it("a child of another user (config.user) vouches for an adopted leader or a leaderless group only when it could signal every process itself", () => {
    const nobody = 65534;
    const daemon = base + 60; // a root agent's setsid daemon, adopted by the master
    const orphan = base + 61; // the worker's own pipe child, adopted once its parent shell exited
    const setuid = base + 62; // a setuid binary the worker ran: real uid the worker's, saved root
    const spawned = base + 63; // the worker's child, now root (su): it spawned it itself
    const mixed = base + 64; // leaderless: an adopted member of the worker's and one of root's
    const table = tree(
      entry(daemon, master, daemon),
      entry(orphan, master, orphan),
      entry(setuid, master, setuid),
      entry(spawned, owner, spawned),
      entry(base + 65, master, mixed),
      entry(base + 66, master, mixed),
    );
    const ids = new Map<number, { real: number; saved: number }>([
      [daemon, { real: 0, saved: 0 }],
      [orphan, { real: nobody, saved: nobody }],
      [setuid, { real: nobody, saved: 0 }],
      [spawned, { real: 0, saved: 0 }],
      [base + 65, { real: nobody, saved: nobody }],
      [base + 66, { real: 0, saved: 0 }],
    ]);
    const groups = new PipeGroups({ ...proc(table), uids: (pid) => ids.get(pid) ?? null }, master);
    assert.equal(
      groups.register(daemon, owner, nobody),
      false,
      "root's daemon: the worker could not kill it",
    );
    assert.equal(groups.register(mixed, owner, nobody), false, "a root process in the group");
    assert.equal(groups.register(orphan, owner, nobody), true);
    assert.equal(groups.register(setuid, owner, nobody), true);
    assert.equal(groups.register(spawned, owner, nobody), true, "its own child, whoever it runs as");
    // Another child with the master's rights (the agent, or a worker of a master that is not root).
    const agents = new PipeGroups({ ...proc(table), uids: (pid) => ids.get(pid) ?? null }, master);
    assert.equal(agents.register(daemon, owner, null), true);
    assert.equal(agents.register(mixed, owner, null), true);
    groups.killAll();
    // After the exit, what the master adopted is checked the same way before it is killed at once.
    ids.set(base + 66, { real: nobody, saved: nobody });
    assert.equal(
      new PipeGroups({ ...proc(table), uids: (pid) => ids.get(pid) ?? null }, master).register(
        mixed,
        owner,
        nobody,
      ),
      true,
    );
  });

  it("a flood of claims of one leaderless group scans /proc once a second, not once a claim; a recorded one is not scanned again", () => {
    const refused = base + 70; // leaderless, its member somebody else's child
    const kept = base + 71; // leaderless, its member adopted
    const table = tree(entry(base + 72, stranger, refused), entry(base + 73, master, kept));
    let scans = 0;
    const counting = { ...proc(table), all: () => (scans++, [...table.values()]) };
    const groups = new PipeGroups(counting, master);
    for (let i = 0; i < 10_000; i++) assert.equal(groups.register(refused, owner), false);
    assert.equal(scans, 1);
    for (let i = 0; i < 10_000; i++) assert.equal(groups.register(kept, owner), true);
    assert.equal(scans, 2);
    // The owner's exit reparents what it left: a late claim is looked at afresh.
    table.set(base + 72, { pid: base + 72, ppid: master, pgrp: refused, startTime: 7 });
    groups.killAll();
    const before = scans;
    assert.equal(groups.register(refused, owner), true);
    assert.ok(scans > before, "scanned again after the exit");
    assert.equal(sigkills(refused), 1, "killed at once");
  });
});
