/**
 * Splits a child's stdout or stderr into whole lines, so that lines written by several children
 * at once never interleave mid-line where the master writes them. A last line without its
 * newline is delivered when the stream ends.
 */
import type { Readable } from "node:stream";

/** The longest line kept whole; a longer one is cut there (a runaway write cannot grow memory). */
const MAX_LINE = 64 * 1024;

export function readLines(stream: Readable, onLine: (line: string) => void): void {
  let pending = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    let text = pending + chunk;
    let end = text.indexOf("\n");
    while (end !== -1) {
      onLine(text.slice(0, end));
      text = text.slice(end + 1);
      end = text.indexOf("\n");
    }
    while (text.length > MAX_LINE) {
      onLine(text.slice(0, MAX_LINE));
      text = text.slice(MAX_LINE);
    }
    pending = text;
  });
  stream.on("end", () => {
    if (pending !== "") onLine(pending);
    pending = "";
  });
  stream.on("error", () => undefined);
}
