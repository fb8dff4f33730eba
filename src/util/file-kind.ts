import type { Stats } from "node:fs";
import { extname } from "node:path";

/** What a path that is not a regular file is, for a message: "a FIFO", "a character device", … */
export function fileKind(found: Stats): string {
  if (found.isDirectory()) return "a directory";
  if (found.isFIFO()) return "a FIFO";
  if (found.isCharacterDevice()) return "a character device";
  if (found.isBlockDevice()) return "a block device";
  if (found.isSocket()) return "a socket";
  return found.isFile() ? "a regular file" : "neither a file nor a directory";
}

/** The extensions of the files tsresty imports: TypeScript (through tsx) and JavaScript. */
const MODULE_EXTENSIONS = [".ts", ".mts", ".cts", ".tsx", ".js", ".mjs", ".cjs"];

/**
 * Why the file at `path` (found as `found`) cannot be imported: "is a directory", "is not a
 * regular file (a FIFO)", or an extension Node loads no module from (`notes.txt`: Node's
 * ERR_UNKNOWN_FILE_EXTENSION and its internal stack); null when it can. A FIFO would hang the
 * import, a device (/dev/zero) fill the memory. A name without an extension is left to Node,
 * which loads it as CommonJS outside an ES-module package.
 */
export function notAModule(path: string, found: Stats): string | null {
  if (!found.isFile())
    return found.isDirectory() ? "is a directory" : `is not a regular file (${fileKind(found)})`;
  const extension = extname(path);
  if (extension === "" || MODULE_EXTENSIONS.includes(extension)) return null;
  const accepted = `${MODULE_EXTENSIONS.slice(0, -1).join(", ")} or ${MODULE_EXTENSIONS.at(-1) ?? ""}`;
  return `has the extension ${extension}, which is not a module's: tsresty loads ${accepted} files`;
}
