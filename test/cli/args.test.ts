import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UsageError } from "../../src/errors.ts";
import { parseArgs } from "../../src/cli/args.ts";

describe("command line parsing", () => {
  it("reads -e CODE and gives every later word to the program", () => {
    assert.deepEqual(parseArgs(["-e", "code", "a", "-e", "--config"]), {
      kind: "single",
      code: "code",
      file: null,
      args: ["a", "-e", "--config"],
      configPath: null,
      shdict: [],
    });
    // Right after CODE too: these were read as tsresty's own (--foo refused, -v printed the
    // version, --config and --shdict taken as the run's config and zones).
    for (const args of [
      ["--foo"],
      ["-v"],
      ["--help"],
      ["--config", "c.ts"],
      ["--shdict", "x 1m"],
      ["--", "x"],
      ["-e", "2"],
    ])
      assert.deepEqual(parseArgs(["--shdict", "dogs 1m", "-e", "code", ...args]), {
        kind: "single",
        code: "code",
        file: null,
        args,
        configPath: null,
        shdict: ["dogs 1m"],
      });
  });

  it("reads FILE ARGS, with --config before the program, in both spellings", () => {
    const expected = {
      kind: "single",
      code: null,
      file: "job.ts",
      args: ["x"],
      configPath: "c.ts",
      shdict: [],
    };
    assert.deepEqual(parseArgs(["--config", "c.ts", "job.ts", "x"]), expected);
    assert.deepEqual(parseArgs(["--config=c.ts", "job.ts", "x"]), expected);
  });

  it("treats -- as the end of options", () => {
    assert.deepEqual(parseArgs(["--", "-weird-name.ts"]), {
      kind: "single",
      code: null,
      file: "-weird-name.ts",
      args: [],
      configPath: null,
      shdict: [],
    });
  });

  it("answers --help and --version", () => {
    assert.deepEqual(parseArgs(["-h"]), { kind: "help" });
    assert.deepEqual(parseArgs(["--version"]), { kind: "version" });
  });

  const bad: [string[], RegExp][] = [
    [[], /nothing to run: give -e CODE or a FILE/],
    [["-e"], /option -e needs a value/],
    [["--config"], /option --config needs a value/],
    [["--config="], /option --config needs a file name/],
    [["--nope"], /unknown option --nope/],
    [["--config", "a", "--config", "b", "x.ts"], /option --config given twice/],
  ];
  for (const [argv, message] of bad) {
    it(`refuses ${JSON.stringify(argv)} with a UsageError`, () => {
      assert.throws(
        () => parseArgs(argv),
        (error: unknown) => error instanceof UsageError && message.test(error.message),
      );
    });
  }
});
