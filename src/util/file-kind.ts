import type { Stats } from "node:fs";

/** What a path that is not a regular file is, for a message: "a FIFO", "a character device", … */
export function fileKind(found: Stats): string {
  if (found.isDirectory()) return "a directory";
  if (found.isFIFO()) return "a FIFO";
  if (found.isCharacterDevice()) return "a character device";
  if (found.isBlockDevice()) return "a block device";
  if (found.isSocket()) return "a socket";
  return found.isFile() ? "a regular file" : "neither a file nor a directory";
}

/**
 * Why a file to be imported is not one: "is a directory", "is not a regular file (a FIFO)"; null
 * for a regular file. A FIFO would hang the import, a device (/dev/zero) fill the memory.
 */
export function notARegularFile(found: Stats): string | null {
  if (found.isFile()) return null;
  return found.isDirectory() ? "is a directory" : `is not a regular file (${fileKind(found)})`;
}
