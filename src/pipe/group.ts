/**
 * Children live in their own process group (setpgid; setsid where child_process starts them), so
 * that ending one ends everything it started: `sh -c 'a & b'` leaves no orphan. This module keeps
 * the groups this process started and is the only code in `src/pipe` that signals one.
 *
 * A group is known by (pgid, the leader's start time), recorded at spawn while the leader is
 * certainly our unreaped child (ppid is us, pgrp is its own pid). Before any signal the leader is
 * read again from /proc: same start time, still leading pgrp. A number that fails is not signalled.
 *
 * A group is forgotten when its leader exits, and what the leader left running in it is ended
 * right then (SIGTERM, a grace, SIGKILL): "a pipe child's leftovers end when it exits". Verifying
 * that group without its leader: Node reaps the leader before it emits "exit", so its /proc entry
 * is gone. But Linux does not hand a number out again while any process still uses it as a
 * process-group id, so if `kill(-pgid, 0)` finds members at the exit event, they are the leader's
 * group (the number was pinned the whole time; the listener runs in the same libuv callback as the
 * reap, and pids are allocated cyclically, so the number cannot have been freed and reused in
 * between). Their identities are recorded from /proc, and the SIGKILL after the grace is sent only
 * if one of them is still there, unchanged: its presence pins the number again.
 *
 * Spawns and ends of groups are published on diagnostics channels, so that a supervisor (the
 * master) can end the groups of a child that was SIGKILLed and could not clean up itself. A group
 * ends when its leader has exited and what the leader left in it has been ended (after the grace,
 * if anything was left), not at the leader's exit: a process SIGKILLed during the grace leaves the
 * group to its supervisor.
 */
import { channel } from "node:diagnostics_channel";
import { debuglog } from "node:util";
import { groupMembers, readProcStat, safeKillGroup, type ProcStat } from "../util/proc.ts";
import type { PipeChild } from "./spawn-child.ts";

const GROUP_GRACE_MS = 100;
/**
 * Channel names: `{ pid }` of a group leader when its group starts, and when the group has ended
 * (the leader exited, and what it left in the group was ended).
 */
export const SPAWN_CHANNEL = "tsresty:pipe:spawn";
export const EXIT_CHANNEL = "tsresty:pipe:exit";
const spawnChannel = channel(SPAWN_CHANNEL);
const exitChannel = channel(EXIT_CHANNEL);
const debug = debuglog("tsresty:pipe");

/** A group this process started: its number and its leader's start time (clock ticks). */
export interface GroupIdentity {
  readonly pgid: number;
  readonly startTime: number;
}

/** Groups whose leader runs: pgid → the leader's start time. */
const live = new Map<number, number>();
/** Groups whose leader exited with members left, being ended. */
const ending = new Map<number, { readonly members: readonly ProcStat[]; readonly done: Promise<void> }>();
let hooked = false;

/** Not unref'd: an awaited endGroup must not be cut short by the event loop running dry. */
function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Whether `pgid` is a live group of ours whose leader is still the process recorded at spawn. */
function leaderHolds(pgid: number): boolean {
  const startTime = live.get(pgid);
  if (startTime === undefined) return false;
  const leader = readProcStat(pgid);
  return leader !== null && leader.startTime === startTime && leader.pgrp === pgid;
}

/** Whether one of the recorded members of a leaderless group is still there, in it. */
function memberHolds(pgid: number, members: readonly ProcStat[]): boolean {
  return members.some((member) => {
    const now = readProcStat(member.pid);
    return now !== null && now.startTime === member.startTime && now.pgrp === pgid;
  });
}

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  // Children never outlive the process that spawned them.
  process.on("exit", () => {
    for (const pgid of live.keys()) if (leaderHolds(pgid)) safeKillGroup(pgid, "SIGKILL");
    for (const [pgid, { members }] of ending) if (memberHolds(pgid, members)) safeKillGroup(pgid, "SIGKILL");
  });
}

/**
 * Records `child` (just spawned leading its own group) and ends its leftovers when it
 * exits. Null, and nothing recorded, when /proc does not show it as our child leading its group.
 */
export function adopt(child: PipeChild): GroupIdentity | null {
  const pid = child.pid;
  if (pid === undefined) return null;
  const leader = readProcStat(pid);
  if (leader === null || leader.ppid !== process.pid || leader.pgrp !== pid) {
    debug("pid %d is not a group leader spawned here; not tracked", pid);
    return null;
  }
  hookExit();
  live.set(pid, leader.startTime);
  // The listener holds the number only: an abandoned PipeProcess stays collectable.
  child.once("exit", () => {
    leaderExited(pid);
  });
  spawnChannel.publish({ pid });
  return { pgid: pid, startTime: leader.startTime };
}

function leaderExited(pgid: number): void {
  if (!live.delete(pgid)) return;
  // Checked now, in the reaping callback (see the essay above): members now are the leader's.
  const members = safeKillGroup(pgid, 0) ? groupMembers(pgid) : [];
  if (members.length === 0) {
    exitChannel.publish({ pid: pgid });
    return;
  }
  debug("group %d outlived its leader: ending %d processes", pgid, members.length);
  safeKillGroup(pgid, "SIGTERM");
  const done = delay(GROUP_GRACE_MS).then(() => {
    if (memberHolds(pgid, members)) safeKillGroup(pgid, "SIGKILL");
    ending.delete(pgid);
    // Only now: should this process die during the grace, the supervisor still ends the group.
    exitChannel.publish({ pid: pgid });
  });
  ending.set(pgid, { members, done });
}

/** Groups started here that may still have members: live ones, and leaderless ones being ended. */
export function liveGroups(): number[] {
  return [...live.keys(), ...ending.keys()];
}

/**
 * Ends every group this process started that may still have members, as endGroup does (SIGTERM,
 * a grace, SIGKILL): what a process runs before it exits, so that no subprocess outlives it.
 */
export async function endLiveGroups(): Promise<void> {
  await Promise.all(liveGroups().map((pgid) => endGroup(pgid)));
}

/**
 * Ends group `pgid` (one this process started): SIGTERM to the whole group, SIGKILL after the
 * grace period. A number that is not a live group of ours is not signalled.
 * @example
 * await endGroup(proc.pid());
 */
export async function endGroup(pgid: number, graceMs = GROUP_GRACE_MS): Promise<void> {
  if (leaderHolds(pgid)) {
    safeKillGroup(pgid, "SIGTERM");
    await delay(graceMs);
    if (leaderHolds(pgid)) safeKillGroup(pgid, "SIGKILL");
  }
  await ending.get(pgid)?.done;
}

/** Ends `group` if it is still the live group it was (its owner was garbage-collected). */
export function endAbandoned(group: GroupIdentity): void {
  if (live.get(group.pgid) === group.startTime) void endGroup(group.pgid);
}
