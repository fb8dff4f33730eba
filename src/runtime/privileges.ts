import type { Account } from "../ipc/index.ts";

/**
 * Drops this process to `account` when it runs as root, as nginx's `user` directive does for
 * workers. The master resolved the account (uid, primary gid) once; nothing is looked up here.
 * Does nothing for a process that is not root.
 */
export function dropPrivileges(account: Account): void {
  if (process.getuid?.() !== 0 || process.setuid === undefined || process.setgid === undefined) return;
  // Node has process.initgroups on POSIX; @types/node does not declare it.
  (process as { initgroups?: (user: string, group: number) => void }).initgroups?.(account.user, account.gid);
  process.setgid(account.gid);
  process.setuid(account.uid);
}
