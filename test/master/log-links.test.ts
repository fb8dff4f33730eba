// A master running as root opens logs and gives files to the workers' user in directories that
// user may write (an access log they reopen after a rotation; a prefix in a deploy user's app
// directory). Links planted there must not make root create, append to or give away another file.
import assert from "node:assert/strict";
import {
  chmodSync,
  closeSync,
  existsSync,
  lchownSync,
  linkSync,
  mkdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { prepareLogFile, prepareTimersDirectory } from "../../src/master/prefix.ts";
import { openForAppend } from "../../src/util/log-file.ts";
import { ROOT_ONLY } from "../helpers/processes.ts";
import { scratchDir } from "../helpers/scratch.ts";

const NOBODY = { user: "nobody", uid: 65534, gid: 65534, home: "/nonexistent" };

/** A root-only file with a secret, and a directory the workers' user owns and writes. */
function setting(label: string): { victim: string; logs: string; dir: string } {
  const dir = scratchDir(label);
  const victim = join(dir, "victim");
  writeFileSync(victim, "root:SECRET\n", { mode: 0o600 });
  const logs = join(dir, "logs");
  mkdirSync(logs);
  lchownSync(logs, NOBODY.uid, NOBODY.gid);
  return { victim, logs, dir };
}

/** A symbolic link at `path` to `target`, owned by the workers' user (as one they planted). */
function plantedLink(target: string, path: string): void {
  symlinkSync(target, path);
  lchownSync(path, NOBODY.uid, NOBODY.gid);
}

describe("a master running as root and links in its log and prefix directories", ROOT_ONLY, () => {
  it("an access log replaced by the workers' user with a link to a root file is refused, and the file is not given away", () => {
    const { victim, logs } = setting("log-link");
    const log = join(logs, "access.log");
    plantedLink(victim, log);
    assert.throws(
      () => prepareLogFile("access log", log, NOBODY),
      /is a symbolic link owned by uid 65534: running as root, tsresty follows a log's link only when root owns it/,
    );
    const stat = statSync(victim);
    assert.deepEqual([stat.uid, stat.gid, stat.mode & 0o777], [0, 0, 0o600]);
  });

  it("an error log's link of the workers' user is not followed: root creates no file where it leads and appends nothing", () => {
    const { dir, logs } = setting("log-link-append");
    const closed = join(dir, "closed");
    mkdirSync(closed, { mode: 0o700 });
    const target = join(closed, "authorized_keys");
    plantedLink(target, join(logs, "error.log"));
    assert.throws(() => openForAppend(join(logs, "error.log")), /symbolic link owned by uid 65534/);
    assert.equal(existsSync(target), false);
    // And where the target exists, nothing is appended.
    writeFileSync(target, "key\n");
    assert.throws(() => openForAppend(join(logs, "error.log")), /symbolic link owned by uid 65534/);
    assert.equal(readFileSync(target, "utf8"), "key\n");
  });

  it("root's own links are followed, as /dev/stdout is", () => {
    const { dir } = setting("log-link-root");
    const real = join(dir, "real.log");
    symlinkSync(real, join(dir, "via.log"));
    symlinkSync(join(dir, "via.log"), join(dir, "twice.log"));
    const fd = openForAppend(join(dir, "twice.log"));
    writeSync(fd, "a line\n");
    closeSync(fd);
    assert.equal(readFileSync(real, "utf8"), "a line\n");
    // A link into /proc names a descriptor (/dev/stdout leads to /proc/self/fd/1): the kernel's.
    const held = openForAppend(join(dir, "held.log"));
    symlinkSync(`/proc/self/fd/${held}`, join(dir, "proc.log"));
    const viaProc = openForAppend(join(dir, "proc.log"));
    writeSync(viaProc, "through /proc\n");
    closeSync(viaProc);
    closeSync(held);
    assert.equal(readFileSync(join(dir, "held.log"), "utf8"), "through /proc\n");
    // A chain that reaches a link of the workers' user stops there.
    plantedLink(join(dir, "real.log"), join(dir, "theirs.log"));
    symlinkSync(join(dir, "theirs.log"), join(dir, "mine.log"));
    assert.throws(
      () => openForAppend(join(dir, "mine.log")),
      /theirs\.log is a symbolic link owned by uid 65534/,
    );
  });

  it("an access log with a second name (a hard link) is not given to the workers' user", () => {
    const { victim, logs } = setting("log-hardlink");
    // Made here as root; the workers' user cannot make it where fs.protected_hardlinks is 1 (the
    // default), but a machine may set it to 0.
    linkSync(victim, join(logs, "access.log"));
    assert.throws(
      () => prepareLogFile("access log", join(logs, "access.log"), NOBODY),
      /cannot give it to user "nobody": it has 2 names \(hard links\), and is given away only when it has one/,
    );
    assert.deepEqual([statSync(victim).uid, statSync(victim).mode & 0o777], [0, 0o600]);
    // A file of its own is given, as before.
    const own = join(logs, "own.log");
    prepareLogFile("access log", own, NOBODY);
    assert.deepEqual([statSync(own).uid, statSync(own).gid], [NOBODY.uid, NOBODY.gid]);
  });

  it("a timers directory replaced by a link is not followed: the directory it leads to keeps its owner", () => {
    const { dir } = setting("timers-link");
    const prefix = join(dir, "prefix");
    mkdirSync(prefix);
    lchownSync(prefix, NOBODY.uid, NOBODY.gid);
    const closed = join(dir, "closed");
    mkdirSync(closed);
    chmodSync(closed, 0o700);
    plantedLink(closed, join(prefix, "timers"));
    const failed = prepareTimersDirectory(prefix, NOBODY);
    assert.match(
      failed ?? "",
      /timers: cannot give it to user "nobody": it is not a directory \(a symbolic link is not followed\)/,
    );
    assert.deepEqual([statSync(closed).uid, statSync(closed).mode & 0o777], [0, 0o700]);
    // A directory is made and given, as before.
    const other = join(dir, "other");
    mkdirSync(other);
    assert.equal(prepareTimersDirectory(other, NOBODY), null);
    assert.equal(statSync(join(other, "timers")).uid, NOBODY.uid);
  });
});
