/**
 * The process groups a child (a worker or the agent) started through ngx.pipe, as the master
 * knows them, so that they end even when the child is SIGKILLed and cannot end them itself.
 *
 * The child names its groups in "pipe-group" messages, and a child runs user code: a number it
 * sends is a claim, never an instruction. `kill(-1)` is every process the master can reach, and a
 * reused number is somebody else's group. So a claim is recorded only when /proc confirms it:
 *
 * - The group's leader exists, leads its own group (pgrp), and its parent is the child that
 *   claims it, or the master itself. The master is the subreaper of its tree (reaper.ts): once the
 *   child died, its pipe children are reparented to the master, so a parent pid equal to the
 *   master's proves that the leader descends from it. That is how a report read after its sender
 *   died (the master was busy, or the message still waited in the channel when the exit was
 *   handled) is still verified. Its start time is recorded.
 *   An adopted leader may be any orphan of the tree, the root agent's setsid daemons too: from a
 *   child that runs as another user than the master (config.user), a claim of one counts only when
 *   its real or saved uid is the child's, a process the child could signal itself.
 * - Or the leader has exited already and is gone, and the group lives on without it: no process
 *   has the number as its pid, and a member of the group is the master's own child (an orphan it
 *   adopted: what a pipe child leaves in its group when it exits is reparented to the master).
 *   Such a number cannot be reused under us: Linux hands a number out again only once no process
 *   uses it as a pid or group id, and a child of the master stays in the process table, zombie or
 *   not, until the master itself waits for it, which it does not do between the check and the
 *   kill (one synchronous step). The master's own group is never such a group. For a child of
 *   another user, every member must be one it could signal itself. A claim of a group found not to
 *   be one is refused for a second without another scan: a flood of claims scans /proc once.
 *
 * Right before a group is killed it is checked again the same way: the leader recorded, same
 * start time, still leading the group; or, its leader gone, no process with that pid and an
 * adopted member in it. A number that fails is never signalled.
 *
 * Once the child exited and its groups were killed (`killAll`), a report that still arrives is
 * checked the same way, only the master vouching for a leader (the child's pid may be another
 * process's by then), and its group is killed at once: nobody else is left to end it.
 *
 * Bounded: at most MAX_GROUPS entries per child; entries with nothing left to kill are pruned first.
 */
import { debuglog } from "node:util";
import { allProcesses, readProcStat, readProcUids, safeKillGroup, type ProcStat } from "../util/proc.ts";

const debug = debuglog("tsresty:master");

export const MAX_GROUPS = 4096;

/** What the master reads of /proc (tests stand in for it). */
export interface ProcReader {
  /** One process's identity, or null when there is none. */
  stat(pid: number): ProcStat | null;
  /** Every process (a scan, only for groups whose leader is gone). */
  all(): ProcStat[];
  /** Whether some process we may signal is in group `pgid` (kill(-pgid, 0)): spares most scans. */
  groupExists(pgid: number): boolean;
  /** A process's real and saved user ids, or null when there is none. */
  uids(pid: number): { readonly real: number; readonly saved: number } | null;
}

const PROC: ProcReader = {
  stat: readProcStat,
  all: allProcesses,
  groupExists: (pgid) => safeKillGroup(pgid, 0),
  uids: readProcUids,
};

/** How long a group found without adopted members is refused again without a scan (a flood). */
const REFUSAL_MS = 1000;

export class PipeGroups {
  /** pgid → the leader's start time; null when the leader was gone already at the claim. */
  readonly #groups = new Map<number, number | null>();
  readonly #proc: ProcReader;
  /** The master: the subreaper that adopts the tree's orphans. */
  readonly #master: number;
  /** The owner has exited and its groups were killed: a claim now is killed at once. */
  #ownerGone = false;
  /** Leaderless groups a scan found without adopted members → when (a claim flood scans once). */
  readonly #scannedIn = new Map<number, number>();

  /** Told once, at the first claim refused for want of room (MAX_GROUPS). */
  readonly #onFull: () => void;
  #full = false;

  /**
   * `proc` reads /proc, `master` is the pid that adopts orphans (tests stand in for both);
   * `onFull` is told once when a claim finds MAX_GROUPS groups recorded, none of them gone.
   */
  constructor(proc: Partial<ProcReader> = {}, master = process.pid, onFull: () => void = () => undefined) {
    this.#proc = { ...PROC, ...proc };
    this.#master = master;
    this.#onFull = onFull;
  }

  get size(): number {
    return this.#groups.size;
  }

  /**
   * Records `pgid` as a group started by `ownerPid`, if /proc agrees; false when refused. Once the
   * owner is gone (after `killAll`), a group that passes the checks is SIGKILLed instead.
   * `ownerUid` (the same at each claim of an owner): the user the owner runs as when it is not the
   * master's (workers of a root master under config.user); null when it has the master's rights.
   */
  register(pgid: number, ownerPid: number, ownerUid: number | null = null): boolean {
    if (!Number.isSafeInteger(pgid) || pgid <= 1) return this.#refuse(pgid, ownerPid, "not a group number");
    const leader = this.#proc.stat(pgid);
    let startTime: number | null = null;
    if (leader !== null) {
      const byOwner = !this.#ownerGone && leader.ppid === ownerPid;
      if (!byOwner && leader.ppid !== this.#master)
        return this.#refuse(pgid, ownerPid, `its parent is ${leader.ppid}`);
      if (leader.pgrp !== pgid) return this.#refuse(pgid, ownerPid, `it is in group ${leader.pgrp}`);
      // An orphan the master adopted may be anybody's, the root agent's daemons too: a child that
      // runs as another user vouches only for one it could signal itself.
      if (!byOwner && !this.#reachable(pgid, ownerUid)) {
        return this.#refuse(
          pgid,
          ownerPid,
          `its leader is not of the child's user (uid ${String(ownerUid)})`,
        );
      }
      startTime = leader.startTime;
    } else if (this.#groups.get(pgid) === null && !this.#ownerGone) {
      return true; // recorded without its leader already (a repeated claim scans nothing)
    } else if (!this.#proc.groupExists(pgid) || !this.#leaderless(pgid, ownerUid)) {
      // (A child that exited at once, reported after it was gone, costs one kill(2), not a scan.)
      return this.#refuse(pgid, ownerPid, "no such process, nor a group of adopted processes");
    }
    if (this.#ownerGone) {
      debug("child %d (exited): pipe group %d reported late, killed", ownerPid, pgid);
      safeKillGroup(pgid, "SIGKILL");
      return true;
    }
    if (!this.#groups.has(pgid) && this.#groups.size >= MAX_GROUPS) {
      this.#prune();
      if (this.#groups.size >= MAX_GROUPS) {
        if (!this.#full) this.#onFull();
        this.#full = true;
        return this.#refuse(pgid, ownerPid, "too many groups");
      }
    }
    this.#groups.set(pgid, startTime);
    return true;
  }

  forget(pgid: number): void {
    this.#groups.delete(pgid);
  }

  /**
   * SIGKILLs every group that is still the one registered (its leader, or its adopted members);
   * forgets them all. The owner has exited: claims read from now on are killed as they come.
   */
  killAll(): number {
    this.#ownerGone = true;
    this.#scannedIn.clear(); // what the owner left in its groups is the master's now
    let killed = 0;
    const adopted = this.#groups.size > 0 ? this.#adoptedGroups() : new Set<number>();
    for (const [pgid, startTime] of this.#groups) {
      if (this.#holds(pgid, startTime, adopted) && safeKillGroup(pgid, "SIGKILL")) killed++;
    }
    this.#groups.clear();
    return killed;
  }

  /** Whether `pgid` is still the group registered: its leader unchanged, or its adopted members. */
  #holds(pgid: number, startTime: number | null, adopted: ReadonlySet<number>): boolean {
    const leader = this.#proc.stat(pgid);
    if (leader !== null) return leader.startTime === startTime && leader.pgrp === pgid;
    return adopted.has(pgid);
  }

  /**
   * Whether `pgid`, which no process has as its pid, is a group with a member the master adopted:
   * one of its descendants, which pins the number until the master waits for it (see above); and,
   * for an owner of another user (`ownerUid`), a group of only processes it could signal itself.
   * A group found not to be one is refused for REFUSAL_MS without another scan of /proc.
   */
  #leaderless(pgid: number, ownerUid: number | null): boolean {
    const refused = this.#scannedIn.get(pgid);
    if (refused !== undefined && Date.now() - refused < REFUSAL_MS) return false;
    const all = this.#proc.all();
    const found =
      this.#adoptedGroups(all).has(pgid) &&
      this.#proc.stat(pgid) === null &&
      all.every((stat) => stat.pgrp !== pgid || this.#reachable(stat.pid, ownerUid));
    if (found) {
      this.#scannedIn.delete(pgid);
    } else {
      if (this.#scannedIn.size >= MAX_GROUPS) this.#scannedIn.clear();
      this.#scannedIn.set(pgid, Date.now());
    }
    return found;
  }

  /** Whether an owner running as `ownerUid` (null: the master's rights) could signal `pid` itself. */
  #reachable(pid: number, ownerUid: number | null): boolean {
    if (ownerUid === null) return true;
    const ids = this.#proc.uids(pid);
    return ids !== null && (ids.real === ownerUid || ids.saved === ownerUid);
  }

  /** The groups of the master's children, its own group left out (its workers are in it). */
  #adoptedGroups(all: readonly ProcStat[] = this.#proc.all()): Set<number> {
    const own = this.#proc.stat(this.#master)?.pgrp;
    const groups = new Set<number>();
    if (own === undefined) return groups; // unreadable: nothing is vouched for
    for (const stat of all) {
      if (stat.ppid === this.#master && stat.pgrp !== own && stat.pgrp > 1) groups.add(stat.pgrp);
    }
    return groups;
  }

  #prune(): void {
    const adopted = this.#adoptedGroups();
    for (const [pgid, startTime] of [...this.#groups]) {
      if (!this.#holds(pgid, startTime, adopted)) this.#groups.delete(pgid);
    }
  }

  #refuse(pgid: number, ownerPid: number, why: string): false {
    debug("child %d: pipe group %s refused: %s", ownerPid, String(pgid), why);
    return false;
  }
}
