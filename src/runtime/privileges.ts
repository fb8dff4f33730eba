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
  // The environment is root's: HOME, USER and LOGNAME named root, so os.homedir() and whatever a
  // library or a pipe's command keeps under HOME pointed at /root. They name the user now, as a
  // login as that user would; a home only NSS knows is left to Node's os.homedir() (getpwuid).
  if (account.home === null) delete process.env["HOME"];
  else process.env["HOME"] = account.home;
  process.env["USER"] = account.user;
  process.env["LOGNAME"] = account.user;
}
