/**
 * `config.user` resolved to numbers, once, in the master: workers drop to these ids without
 * looking anything up themselves. /etc/passwd and /etc/group first; `id` for accounts that only
 * NSS knows (LDAP and the like).
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import type { Account } from "../ipc/index.ts";

function lookup(file: string, name: string): string[] | null {
  try {
    for (const line of readFileSync(file, "utf8").split("\n")) {
      const fields = line.split(":");
      if (fields[0] === name) return fields;
    }
  } catch {
    // no such file here: fall back to id
  }
  return null;
}

function idOf(flag: "-u" | "-g", user: string): number {
  const text = execFileSync("id", [flag, user], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  return Number(text.trim());
}

/** Resolves `user` (and `group`, else the user's primary group); throws naming what is unknown. */
export function resolveAccount(user: string, group: string | null): Account {
  const passwd = lookup("/etc/passwd", user);
  let uid: number;
  let gid: number;
  try {
    uid = passwd === null ? idOf("-u", user) : Number(passwd[2]);
    gid = passwd === null ? idOf("-g", user) : Number(passwd[3]);
  } catch {
    throw new Error(`user "${user}" does not exist`);
  }
  if (group !== null) {
    const entry = lookup("/etc/group", group);
    if (entry === null) throw new Error(`group "${group}" does not exist`);
    gid = Number(entry[2]);
  }
  if (!Number.isInteger(uid) || !Number.isInteger(gid))
    throw new Error(`cannot read the ids of user "${user}"`);
  const home = passwd?.[5] ?? "";
  return Object.freeze({ user, uid, gid, home: home === "" ? null : home });
}
