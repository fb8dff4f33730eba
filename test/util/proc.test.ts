import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { guardKill } from "../helpers/kill-guard.ts";
import {
  groupMembers,
  parseProcStat,
  readProcStat,
  safeKill,
  safeKillGroup,
  sameProcess,
} from "../../src/util/proc.ts";

const guard = guardKill();
const children: ChildProcess[] = [];
const scratch = mkdtempSync(join(tmpdir(), "tsresty-proc-"));
after(() => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  rmSync(scratch, { recursive: true, force: true });
});

/** A child under a hard deadline (the after() hook kills it too). */
function start(file: string, args: string[], detached = false): ChildProcess {
  const child = spawn(file, args, { stdio: "ignore", detached, timeout: 20_000 });
  children.push(child);
  return child;
}

const HOSTILE = [1, 0, -1, -2, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53];

describe("/proc identities", () => {
  it("parses the fixed fields after the LAST ')' of a command name with spaces and parentheses", () => {
    const tail = "S 4 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 987654 100 10";
    assert.deepEqual(parseProcStat(`42 (a) b (c)) ${tail}`), {
      pid: 42,
      ppid: 4,
      pgrp: 42,
      startTime: 987654,
    });
    assert.equal(parseProcStat("garbage"), null);
    assert.equal(parseProcStat("42 (x) S"), null);
  });

  it("reads a real process whose program name holds ') ' and '(' as its parent sees it", async () => {
    const program = join(scratch, "a) b (c");
    copyFileSync("/bin/sleep", program);
    const child = start(program, ["5"], true);
    const stat = readProcStat(child.pid ?? -1);
    assert.ok(stat !== null);
    assert.equal(stat.pid, child.pid);
    assert.equal(stat.ppid, process.pid);
    assert.equal(stat.pgrp, child.pid, "detached: it leads its own group");
    assert.ok(stat.startTime > 0);
    assert.equal(sameProcess(stat), true);
    child.kill("SIGKILL");
    await once(child, "exit");
    assert.equal(readProcStat(stat.pid), null, "reaped: gone from /proc");
    assert.equal(sameProcess(stat), false);
  });

  it("reads this process; nothing for numbers that name no process", () => {
    const me = readProcStat(process.pid);
    assert.equal(me?.ppid, process.ppid);
    for (const pid of [0, -1, 1.5, Number.NaN, 2 ** 22 + 1]) assert.equal(readProcStat(pid), null);
  });

  it("lists the members of a group: a shell leader and its background children", async () => {
    const leader = start("sh", ["-c", "sleep 5 & sleep 5 & wait"], true);
    const pgid = leader.pid ?? -1;
    const deadline = Date.now() + 5000;
    while (groupMembers(pgid).length < 3 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const members = groupMembers(pgid);
    assert.equal(members.length, 3);
    assert.ok(members.every((member) => member.pgrp === pgid));
    assert.ok(safeKillGroup(pgid, "SIGKILL"));
    await once(leader, "exit");
  });
});

describe("the doors to kill(2)", () => {
  it("refuse pid and pgid 1, 0, -1, non-integers, and never call kill for them", () => {
    const before = guard.calls.length;
    for (const bad of HOSTILE) {
      assert.equal(safeKill(bad, "SIGTERM"), false, `safeKill(${bad})`);
      assert.equal(safeKillGroup(bad, "SIGTERM"), false, `safeKillGroup(${bad})`);
    }
    assert.equal(safeKill("5" as never, 0), false);
    assert.equal(safeKillGroup(process.pid, 0), false, "never the caller's own group");
    assert.deepEqual(guard.calls.slice(before), []);
  });

  it("signal a real child and its group; report false once they are gone", async () => {
    const single = start("sleep", ["5"]);
    assert.equal(safeKill(single.pid ?? -1, 0), true);
    assert.equal(safeKill(single.pid ?? -1, "SIGTERM"), true);
    await once(single, "exit");
    assert.equal(single.signalCode, "SIGTERM");
    assert.equal(safeKill(single.pid ?? -1, 0), false, "reaped");
    const group = start("sh", ["-c", "sleep 5 & wait"], true);
    assert.equal(safeKillGroup(group.pid ?? -1, "SIGKILL"), true);
    await once(group, "exit");
    assert.equal(group.signalCode, "SIGKILL");
  });
});
