/**
 * A child of the master exits when the master is gone, even while its main thread is busy. A child
 * that can run its handlers exits at once on "disconnect" (child.ts, init/main.ts), and ends its
 * pipe groups as it does; one busy in synchronous code (a handler, `init` or the config's code
 * that loops) never ran that handler: it outlived a SIGKILLed master for as long as it was busy,
 * holding the zones and the listening sockets. A thread of the addon (native/src/system.c,
 * watch_parent) SIGKILLs it GRACE_MS after the master's death, which the first kind never
 * reaches; a stopped one (SIGSTOP) is continued by the master's death first. Arm it after
 * dropping privileges.
 */
import { systemCalls, useAddonFile } from "../shdict/index.ts";
import { errorMessage } from "../util/error-message.ts";

const GRACE_MS = 2_000;

/**
 * Arms the watch of `masterPid` (once a process); why it could not, or null. `addon` names the
 * master's addon file, for a process that loads the addon here first (the init process, before
 * the config's code runs: it maps no zone until later, and a zone names the same file).
 */
export function exitWithMaster(masterPid: number, addon?: string): string | null {
  if (addon !== undefined) useAddonFile(addon);
  try {
    const failed = systemCalls().exitWithParent(masterPid, GRACE_MS);
    return failed === 0 ? null : `errno ${failed}`;
  } catch (error) {
    return errorMessage(error);
  }
}

/** What a child logs when it could not arm it. */
export function unwatchedMessage(why: string): string {
  return `this process may outlive a master that dies while it is busy: ${why}`;
}
