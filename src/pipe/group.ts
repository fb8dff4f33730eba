/**
 * Children live in their own process group (spawned detached), so that ending one ends
 * everything it started: `sh -c 'a & b'` leaves no orphan. This module ends groups and keeps
 * the registry of live ones, which dies with the owner process: on its exit every live group is
 * SIGKILLed. Spawns and exits are published on diagnostics channels, so that a supervisor (the
 * master) can end the groups of a child that was SIGKILLed and could not clean up itself.
 */
import { channel } from "node:diagnostics_channel";

export const GROUP_GRACE_MS = 100;
/** Channel names: `{ pid }` of a group leader when a group starts, and once it is empty. */
export const SPAWN_CHANNEL = "tsresty:pipe:spawn";
export const EXIT_CHANNEL = "tsresty:pipe:exit";
const spawnChannel = channel(SPAWN_CHANNEL);
const exitChannel = channel(EXIT_CHANNEL);

const live = new Set<number>();
let hooked = false;

function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false; // ESRCH: nobody left in the group
  }
}

/** Records a new group (its leader's pid) until `forget`. */
export function remember(pgid: number): void {
  if (!hooked) {
    hooked = true;
    process.on("exit", () => {
      for (const group of live) signalGroup(group, "SIGKILL");
    });
  }
  if (live.size >= 1024) for (const group of [...live]) forgetIfEmpty(group);
  live.add(pgid);
  spawnChannel.publish({ pid: pgid });
}

/** Forgets a group once nobody is left in it (a background grandchild keeps it registered). */
export function forgetIfEmpty(pgid: number): void {
  if (!live.has(pgid)) return;
  try {
    process.kill(-pgid, 0);
  } catch {
    live.delete(pgid);
    exitChannel.publish({ pid: pgid });
  }
}

/** Live process groups started by this process. */
export function liveGroups(): number[] {
  return [...live];
}

/** SIGTERM to the whole group, then SIGKILL after the grace period. */
export function endGroup(pgid: number, graceMs = GROUP_GRACE_MS): Promise<void> {
  if (!signalGroup(pgid, "SIGTERM")) return Promise.resolve();
  return new Promise((resolve) => {
    setTimeout(() => {
      signalGroup(pgid, "SIGKILL");
      resolve();
    }, graceMs);
  });
}
