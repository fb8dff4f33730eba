/**
 * The process groups a child (a worker or the agent) started through ngx.pipe, as the master
 * knows them, so that they end even when the child is SIGKILLed and cannot end them itself.
 *
 * The child names its groups in "pipe-group" messages, and a child runs user code: a number it
 * sends is a claim, never an instruction. `kill(-1)` is every process the master can reach, and a
 * reused number is somebody else's group. So a claim is recorded only when /proc confirms it: the
 * group's leader exists, is a child of that very child (ppid), and leads its own group (pgrp);
 * its start time is recorded, and right before the group is killed the leader is read again (same
 * start time, still leading the group; its ppid may have changed by then, since a dead child's
 * children are reparented). A number that fails any check is never signalled.
 *
 * Bounded: at most MAX_GROUPS entries per child; entries whose leader is gone are pruned first.
 */
import { debuglog } from "node:util";
import { readProcStat, safeKillGroup, type ProcStat } from "../util/proc.ts";

const debug = debuglog("tsresty:master");

export const MAX_GROUPS = 4096;

export class PipeGroups {
  /** pgid → the leader's start time. */
  readonly #groups = new Map<number, number>();
  readonly #readStat: (pid: number) => ProcStat | null;

  /** `readStat` reads a process's identity (tests stand in for /proc with it). */
  constructor(readStat: (pid: number) => ProcStat | null = readProcStat) {
    this.#readStat = readStat;
  }

  get size(): number {
    return this.#groups.size;
  }

  /** Records `pgid` as a group started by `ownerPid`, if /proc agrees; false when refused. */
  register(pgid: number, ownerPid: number): boolean {
    if (!Number.isSafeInteger(pgid) || pgid <= 1) return this.#refuse(pgid, ownerPid, "not a group number");
    const leader = this.#readStat(pgid);
    if (leader === null) return this.#refuse(pgid, ownerPid, "no such process");
    if (leader.ppid !== ownerPid) return this.#refuse(pgid, ownerPid, `its parent is ${leader.ppid}`);
    if (leader.pgrp !== pgid) return this.#refuse(pgid, ownerPid, `it is in group ${leader.pgrp}`);
    if (!this.#groups.has(pgid) && this.#groups.size >= MAX_GROUPS) {
      this.#prune();
      if (this.#groups.size >= MAX_GROUPS) return this.#refuse(pgid, ownerPid, "too many groups");
    }
    this.#groups.set(pgid, leader.startTime);
    return true;
  }

  forget(pgid: number): void {
    this.#groups.delete(pgid);
  }

  /** SIGKILLs every group whose leader is still the one registered; forgets them all. */
  killAll(): number {
    let killed = 0;
    for (const pgid of this.#groups.keys()) {
      if (this.#holds(pgid) && safeKillGroup(pgid, "SIGKILL")) killed++;
    }
    this.#groups.clear();
    return killed;
  }

  /** Whether `pgid`'s leader is still the process registered, leading its group. */
  #holds(pgid: number): boolean {
    const leader = this.#readStat(pgid);
    return leader !== null && leader.startTime === this.#groups.get(pgid) && leader.pgrp === pgid;
  }

  #prune(): void {
    for (const pgid of [...this.#groups.keys()]) if (!this.#holds(pgid)) this.#groups.delete(pgid);
  }

  #refuse(pgid: number, ownerPid: number, why: string): false {
    debug("child %d: pipe group %s refused: %s", ownerPid, String(pgid), why);
    return false;
  }
}
