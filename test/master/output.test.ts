import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { describe, it } from "node:test";
import { MAX_LINE, readLines } from "../../src/master/output.ts";

/** The pieces `readLines` delivers for `text` written in one chunk. */
async function piecesOf(text: string): Promise<{ line: string; continued: boolean }[]> {
  const stream = new PassThrough();
  const pieces: { line: string; continued: boolean }[] = [];
  const done = readLines(stream, (line, continued) => pieces.push({ line, continued }));
  stream.end(text);
  await done;
  return pieces;
}

describe("readLines: a child's output cut into lines", () => {
  it("cuts a line longer than MAX_LINE into pieces, never between the halves of a character outside the BMP", async () => {
    // "a" first, so that the cut at MAX_LINE falls between an emoji's two UTF-16 halves.
    const line = "a" + "\u{1F600}".repeat(40_000);
    const pieces = await piecesOf(`${line}\nnext\n`);
    // Before: the first piece ended with a lone high surrogate and the second began with a low
    // one, each written as U+FFFD.
    assert.equal(
      pieces
        .map((p) => p.line)
        .slice(0, -1)
        .join(""),
      line,
    );
    for (const { line: piece } of pieces) {
      assert.ok(piece.length <= MAX_LINE);
      assert.ok(
        !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(piece),
        "no lone surrogate",
      );
    }
    assert.deepEqual(
      pieces.map((p) => p.continued),
      [false, true, false],
    );
    assert.equal(pieces.at(-1)?.line, "next");
  });
});
