/**
 * tsx's disk cache, made safe before tsx loads (util/loader.ts calls it).
 *
 * tsx keeps what it compiled in `<tmpdir>/tsx-<uid>` and runs what it finds there without
 * looking at who wrote it; it also deletes `<tmpdir>/tsx`, an older cache's place, recursively.
 * The temporary directory is everyone's: a user who makes `/tmp/tsx-0` before root does (or
 * edits what root wrote into a directory of theirs) has a tree started as root run their code in
 * its processes, the privileged agent included; one who makes `/tmp/tsx` has root delete in a
 * directory they control. So:
 * - as root, the cache is off: TypeScript is compiled anew in each process (a few ms per file;
 *   an app compiled to JavaScript needs no compiling at all);
 * - as another user, it is used when `tsx-<uid>` is this user's own directory that no one else
 *   can write (made here, mode 0700, when missing) and `tsx` is absent or the user's; otherwise it
 *   is off, and the caller says why.
 * `TSX_DISABLE_CACHE`, tsx's own switch, is how it is turned off: read by tsx when it loads, in
 * this process and in the thread of its module hooks.
 */
import { lstatSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** What makes `dir` unfit to hold code this process runs, or null when it is fit (or absent). */
function unfitDirectory(dir: string, uid: number): string | null {
  let stat;
  try {
    stat = lstatSync(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    return `${dir} cannot be looked at (${(error as NodeJS.ErrnoException).code ?? "error"})`;
  }
  if (!stat.isDirectory()) return `${dir} is not a directory`;
  if (stat.uid !== uid) return `${dir} belongs to uid ${stat.uid}, not to this process's uid ${uid}`;
  if ((stat.mode & 0o022) !== 0)
    return `${dir} can be written by others (mode ${(stat.mode & 0o777).toString(8)})`;
  return null;
}

/**
 * Turns tsx's disk cache off unless it is safe to use (see above), in `env` (tsx reads it from
 * process.env) for the process of `uid`, whose temporary directory is `temporary`. Returns why
 * it was turned off for a user other than root (a line worth a warning), or null.
 */
export function guardCompileCache(
  env: NodeJS.ProcessEnv = process.env,
  uid: number | undefined = process.geteuid?.(),
  temporary: string = tmpdir(),
): string | null {
  if (uid === undefined || env["TSX_DISABLE_CACHE"] !== undefined) return null;
  if (uid === 0) {
    env["TSX_DISABLE_CACHE"] = "1";
    return null;
  }
  const cache = join(temporary, `tsx-${uid}`);
  try {
    mkdirSync(cache, { mode: 0o700 });
  } catch {
    // There already (checked below), or cannot be made: tsx fails to write it too, and says nothing.
  }
  const unfit = unfitDirectory(cache, uid) ?? unfitDirectory(join(temporary, "tsx"), uid);
  if (unfit === null) return null;
  env["TSX_DISABLE_CACHE"] = "1";
  return `tsx's compile cache is off: ${unfit}, and code found or deleted there would be another user's doing`;
}
