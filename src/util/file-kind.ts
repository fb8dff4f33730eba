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
