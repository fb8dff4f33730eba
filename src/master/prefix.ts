/**
 * The directories and files the master writes: checked before use, so that a bad `--prefix` or
 * `--error-log` is one clear line (exit 2), not a Node stack or a spin. Node's recursive mkdir
 * spins at 100% CPU under /proc, so directories are created here one level at a time, after the
 * nearest existing ancestor has been checked: a directory, on a real filesystem.
 *
 * The prefix is also locked, so that two masters never run on one prefix: the lock is an
 * abstract unix socket named after the prefix's real path. Binding it is atomic, and the kernel
 * releases it when the master dies, however it dies: no stale lock is ever left behind.
 */
import {
  accessSync,
  closeSync,
  constants,
  existsSync,
  fchownSync,
  fstatSync,
  mkdirSync,
  openSync,
  realpathSync,
  statfsSync,
  statSync,
} from "node:fs";
import { createConnection, createServer, type Server } from "node:net";
import { basename, dirname, join, resolve } from "node:path";
import { PathError } from "../errors.ts";
import { CONTROL_SOCKET, TIMERS_DIR, type Account } from "../ipc/index.ts";
import { openForAppend, ownStream } from "../util/log-file.ts";
import { errorMessage } from "../util/error-message.ts";

/** statfs magic numbers of kernel filesystems where files are not files. */
const VIRTUAL_FILESYSTEMS = new Map<number, string>([
  [0x9fa0, "/proc"],
  [0x62656572, "sysfs"],
  [0x27e0eb, "cgroup"],
  [0x63677270, "cgroup2"],
  [0x64626720, "debugfs"],
  [0x74726163, "tracefs"],
  [0x73636673, "securityfs"],
]);

export function reasonOf(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  switch (code) {
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "EROFS":
      return "read-only filesystem";
    case "ENOTDIR":
      return "a part of the path is not a directory";
    case "EISDIR":
      return "is a directory";
    case "ENOSPC":
      return "no space left on the device";
    default:
      return errorMessage(error);
  }
}

/**
 * The nearest existing ancestor of `dir` (or `dir` itself), checked: a directory, on a real
 * filesystem; and the names below it still to be made.
 */
function nearestDirectory(what: string, given: string, dir: string): { existing: string; missing: string[] } {
  let existing = dir;
  const missing: string[] = [];
  for (;;) {
    try {
      statSync(existing);
      break;
    } catch (error) {
      // ENOTDIR: a file stands where a directory should; the walk up finds and names it.
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== "ENOENT" && code !== "ENOTDIR") throw new PathError(what, given, reasonOf(error));

      missing.unshift(basename(existing));
      existing = dirname(existing);
    }
  }
  if (!statSync(existing).isDirectory()) throw new PathError(what, given, `${existing} is not a directory`);
  const kind = VIRTUAL_FILESYSTEMS.get(statfsSync(existing).type);
  if (kind !== undefined) throw new PathError(what, given, `${existing} is in a kernel filesystem (${kind})`);
  return { existing, missing };
}

/** Creates `dir` and its missing parents after checking the nearest existing one. */
function ensureDirectory(what: string, given: string, dir: string): void {
  const { existing, missing } = nearestDirectory(what, given, dir);
  let path = existing;
  for (const name of missing) {
    path = join(path, name);
    try {
      mkdirSync(path);
    } catch (error) {
      // A second start on the same prefix may have made it since the check: the lock decides.
      if ((error as NodeJS.ErrnoException).code === "EEXIST" && isDirectory(path)) continue;
      throw new PathError(what, given, reasonOf(error));
    }
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** The longest path a unix socket can have on Linux (sun_path, 108 bytes with its NUL). */
const MAX_SOCKET_PATH = 107;

/** Checks (and creates) the prefix directory; returns its absolute path. */
export function preparePrefix(given: string): string {
  ensureDirectory("prefix", given, resolve(given));
  return checkPrefix(given);
}

/**
 * Checks, as preparePrefix does, that `given` could be the prefix, making nothing: for a reload,
 * which keeps the running prefix and names the config's other one for the next start (that start
 * would refuse a path under a file, a directory it cannot write, a socket path too long). A
 * directory still missing needs its nearest existing one to be writable. Its absolute path.
 */
export function checkPrefix(given: string): string {
  const dir = resolve(given);
  const { existing, missing } = nearestDirectory("prefix", given, dir);
  try {
    accessSync(missing.length > 0 ? existing : dir, constants.W_OK);
  } catch (error) {
    throw new PathError("prefix", given, reasonOf(error));
  }
  const socket = join(dir, CONTROL_SOCKET);
  const bytes = Buffer.byteLength(socket);
  if (bytes > MAX_SOCKET_PATH) {
    throw new PathError(
      "prefix",
      given,
      `its control socket (${socket}) would have a path of ${bytes} bytes, and a unix socket's is at most ${MAX_SOCKET_PATH}: choose a shorter prefix`,
    );
  }
  return dir;
}

/**
 * Checks that a log file can be opened for appending (creating its directory when missing). With
 * `owner` (the workers' account, for the access log they write), a file not already theirs is
 * given to them, as nginx does: the master made it as root, and a worker could neither open it
 * nor, after a rotation, create it again in a directory of root's.
 */
export function prepareLogFile(what: string, given: string, owner: Account | null = null): string {
  const path = resolve(given);
  // Its own stdout or stderr: written as a stream, by the process that names it (a worker's
  // `/dev/stdout` is its pipe to the master, not the master's stdout).
  if (ownStream(path) !== null) return path;
  ensureDirectory(what, given, dirname(path));
  let fd: number;
  try {
    fd = openForAppend(path);
  } catch (error) {
    throw new PathError(what, given, reasonOf(error));
  }
  try {
    if (owner !== null) giveTo(fd, owner);
  } catch (error) {
    throw new PathError(what, given, `cannot give it to user "${owner?.user ?? ""}": ${reasonOf(error)}`);
  } finally {
    closeSync(fd);
  }
  return path;
}

/**
 * Checks, as prepareLogFile does, that a log file could be opened for appending, making nothing:
 * for a reload, which keeps the running logs and names the config's others for the next start
 * (that start would refuse a directory, or a file it cannot write). A file or directory still
 * missing needs its nearest existing directory to be writable.
 */
export function checkLogFile(what: string, given: string): void {
  const path = resolve(given);
  if (ownStream(path) !== null) return;
  const { existing, missing } = nearestDirectory(what, given, dirname(path));
  try {
    if (missing.length > 0 || !existsSync(path)) accessSync(existing, constants.W_OK);
    else closeSync(openForAppend(path));
  } catch (error) {
    throw new PathError(what, given, reasonOf(error));
  }
}

/**
 * Gives the regular file open at `fd` to `owner` when it is not already theirs. Not one with
 * another name (a hard link made in the log's directory to a file of root's would give that file
 * away; openForAppend already refuses a link of someone else's).
 */
function giveTo(fd: number, owner: Account): void {
  const stat = fstatSync(fd);
  if (!stat.isFile() || (stat.uid === owner.uid && stat.gid === owner.gid)) return;
  if (stat.nlink !== 1)
    throw new Error(`it has ${stat.nlink} names (hard links), and is given away only when it has one`);
  fchownSync(fd, owner.uid, owner.gid);
}

/**
 * Takes the prefix's lock; resolves with the server that holds it (closing it releases the
 * lock), or rejects with a PathError when another master holds it.
 */
export function lockPrefix(prefix: string): Promise<Server> {
  const server = createServer((socket) => socket.destroy());
  return new Promise((resolvePromise, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) => {
      reject(
        error.code === "EADDRINUSE"
          ? new PathError("prefix", prefix, "another master is running there (the prefix is locked)")
          : new PathError("prefix", prefix, `cannot take its lock: ${error.message}`),
      );
    });
    server.listen(lockName(prefix), () => {
      server.unref();
      resolvePromise(server);
    });
  });
}

/** The abstract socket name of the prefix's lock, from its real path. */
function lockName(prefix: string): string {
  // Loaded here: importing node:crypto at the top cost ~3 ms before the master could fork.
  const { createHash } = process.getBuiltinModule("node:crypto");
  return `\0tsresty-prefix-${createHash("sha256").update(realpathSync(prefix)).digest("hex").slice(0, 40)}`;
}

/**
 * Whether a master holds the prefix's lock, as this process sees it: an abstract socket belongs
 * to a network namespace, so a master in another one (a service with PrivateNetwork=) looks
 * absent. A lock that cannot be asked (the prefix is gone, a refusal other than "nobody
 * listens") counts as held: only a sure absence says no master is there.
 */
export function prefixLocked(prefix: string): Promise<boolean> {
  let name: string;
  try {
    name = lockName(prefix);
  } catch {
    return Promise.resolve(true);
  }
  return new Promise((resolvePromise) => {
    const socket = createConnection(name);
    socket.once("connect", () => {
      socket.destroy();
      resolvePromise(true);
    });
    socket.once("error", (error: NodeJS.ErrnoException) => {
      resolvePromise(error.code !== "ECONNREFUSED");
    });
  });
}

/**
 * Makes the prefix's timers directory (catchUp's last runs) and gives it to the workers' user
 * (config.user), who write there; the privileged agent, still root, writes there too, by rename
 * of a file of its own, which needs only the directory. Without this the directory was root's
 * (made by the agent, or not at all): every run's record failed with EACCES, and a restart ran
 * again a tick that had run. A failure is one line: catchUp is then per tree, not across stops.
 */
export function prepareTimersDirectory(prefix: string, account: Account): string | null {
  const dir = join(prefix, TIMERS_DIR);
  try {
    mkdirSync(dir, { mode: 0o755 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") return `${dir}: ${reasonOf(error)}`;
  }
  let fd: number | null = null;
  try {
    // Opened without following a link: one put in its place (by whoever can write the prefix)
    // would have the master give the link's target away.
    fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
    fchownSync(fd, account.uid, account.gid);
    return null;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === "ELOOP" || code === "ENOTDIR"
        ? "it is not a directory (a symbolic link is not followed)"
        : reasonOf(error);
    return `${dir}: cannot give it to user "${account.user}": ${reason}`;
  } finally {
    if (fd !== null) closeSync(fd);
  }
}
