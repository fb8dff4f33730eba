import { execFileSync } from "node:child_process";

/**
 * Drops this process to `user` (and `group`, or the user's primary group) when it runs as root,
 * as nginx's `user` directive does for workers. Does nothing for a non-root process.
 */
export function dropPrivileges(account: { readonly user: string; readonly group: string | null }): void {
  if (process.getuid?.() !== 0 || process.setuid === undefined || process.setgid === undefined) return;
  const group = account.group ?? primaryGroup(account.user);
  (process as { initgroups?: (user: string, group: number | string) => void }).initgroups?.(
    account.user,
    group,
  );
  process.setgid(group);
  process.setuid(account.user);
}

function primaryGroup(user: string): number {
  const gid = Number(execFileSync("id", ["-g", user], { encoding: "utf8" }).trim());
  if (!Number.isInteger(gid)) throw new Error(`cannot find the primary group of user ${user}`);
  return gid;
}
