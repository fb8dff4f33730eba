/** The pid file as the CLI reads it: a real file in a scratch directory. */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { readPid } from "../../src/master/pidfile.ts";
import { scratchDir } from "../helpers/scratch.ts";

describe("readPid", () => {
  const dir = scratchDir("pidfile");
  const read = (text: string): number | null => {
    const path = join(dir, "tsresty.pid");
    writeFileSync(path, text);
    return readPid(path);
  };

  it("reads the digits the master writes, with or without the newline", () => {
    assert.equal(read("4314\n"), 4314);
    assert.equal(read(" 4314 "), 4314);
  });

  it("holds no pid for anything else: Number() took hex, exponents and decimals as pids", () => {
    for (const text of [
      "0x36ff\n",
      "1e3\n",
      "4314.0\n",
      "",
      "\n",
      "-5\n",
      "0\n",
      "12 34\n",
      "2147483648\n",
      "abc",
    ])
      assert.equal(read(text), null, JSON.stringify(text));
    assert.equal(readPid(join(dir, "missing.pid")), null);
  });
});
