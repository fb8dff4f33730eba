/**
 * Splits a child's stdout or stderr into whole lines, so that lines written by several children
 * at once never interleave mid-line where the master writes them. A last line without its
 * newline is delivered when the stream ends. A line longer than MAX_LINE is delivered in pieces;
 * every piece after the first comes with `continued` true. The promise it returns settles once the
 * stream has ended (every line delivered) or failed: a child's exit comes before its pipes are
 * read to their end, and a master that stopped at the exit would drop what they still hold.
 */
import type { Readable } from "node:stream";

/**
 * The longest line kept whole, in UTF-16 code units (64 KiB of ASCII); a longer one is cut there
 * (a runaway write cannot grow memory).
 */
export const MAX_LINE = 64 * 1024;

const isHighSurrogate = (code: number): boolean => code >= 0xd800 && code <= 0xdbff;

export function readLines(
  stream: Readable,
  onLine: (line: string, continued: boolean) => void,
  /** After each chunk: a promise while the lines' destination is backed up; reading waits for it. */
  congested: () => Promise<void> | null = () => null,
): Promise<void> {
  let pending = "";
  /** Whether what comes next continues a line cut at MAX_LINE. */
  let cut = false;
  /** Delivers `text` in pieces of MAX_LINE; `whole`: its newline came, the next text starts a line. */
  const deliver = (text: string, whole: boolean): string => {
    let rest = text;
    while (rest.length > MAX_LINE) {
      // Never between the two halves of a character outside the BMP (each would print as U+FFFD).
      const at = isHighSurrogate(rest.charCodeAt(MAX_LINE - 1)) ? MAX_LINE - 1 : MAX_LINE;
      onLine(rest.slice(0, at), cut);
      cut = true;
      rest = rest.slice(at);
    }
    if (!whole) return rest;
    onLine(rest, cut);
    cut = false;
    return "";
  };
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    const text = pending + chunk;
    let start = 0;
    for (let end = text.indexOf("\n"); end !== -1; end = text.indexOf("\n", start)) {
      deliver(text.slice(start, end), true);
      start = end + 1;
    }
    pending = deliver(text.slice(start), false);
    const drained = congested();
    if (drained === null) return;
    stream.pause();
    void drained.then(() => stream.resume());
  });
  return new Promise((resolve) => {
    stream.on("end", () => {
      if (pending !== "") deliver(pending, true);
      pending = "";
      resolve();
    });
    // "close" without "end": destroyed, or failed ("error" is followed by "close").
    stream.on("close", resolve);
    stream.on("error", () => undefined);
  });
}
