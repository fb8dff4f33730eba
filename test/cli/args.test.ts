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

  it("takes --listen and --shdict more than once on start", () => {
    const start = parseArgs([
      "start",
      "--listen",
      "1",
      "--listen",
      "2",
      "--shdict",
      "a 1m",
      "--shdict",
      "b 1m",
    ]);
    assert.equal(start.kind, "start");
    assert.deepEqual(
      [start.listen, start.shdict],
      [
        ["1", "2"],
        ["a 1m", "b 1m"],
      ],
    );
  });

  it("answers --help and --version, --help after a command too (it was an unknown option, exit 2)", () => {
    assert.deepEqual(parseArgs(["-h"]), { kind: "help" });
    assert.deepEqual(parseArgs(["--version"]), { kind: "version" });
    for (const command of ["start", "reload", "stop", "status", "logs"]) {
      assert.deepEqual(parseArgs([command, "--help"]), { kind: "help" }, command);
      assert.deepEqual(parseArgs([command, "-h"]), { kind: "help" }, command);
    }
    assert.deepEqual(parseArgs(["start", "app.ts", "--workers", "2", "--help"]), { kind: "help" });
  });

  const bad: [string[], RegExp][] = [
    [[], /nothing to run: give -e CODE or a FILE/],
    [["-e"], /option -e needs a value/],
    [["--config"], /option --config needs a value/],
    [["--config="], /option --config needs a file name/],
    [["--nope"], /unknown option --nope/],
    // The value was dropped without a word (a command's --json=yes is refused).
    [["--version=2"], /^option --version takes no value, received "2"$/],
    [["--help=", "-e", "1"], /^option --help takes no value, received ""$/],
    [["--config", "a", "--config", "b", "x.ts"], /option --config given twice/],
    // The commands' flags too (the last one was kept in silence), those that take several aside.
    [["start", "app.ts", "--workers", "3", "--workers", "1"], /^option --workers given twice$/],
    [["start", "--config", "a.ts", "--config=b.ts"], /^option --config given twice$/],
    [["start", "--prefix", "p", "--prefix", "p2"], /^option --prefix given twice$/],
    [["logs", "-n", "1", "-n", "2"], /^option -n given twice$/],
    // The option as the usage names it (it said --lines, which no usage line shows).
    [["logs", "-n", "abc"], /^-n\/--lines must be a whole number, received "abc"$/],
    [["logs", "--worker", "x"], /^--worker must be a whole number, received "x"$/],
    // Read as 1e20, it was named "no worker 100000000000000000000".
    [
      ["logs", "--worker", "99999999999999999999"],
      /^--worker must be a whole number of at most 9007199254740991, received "99999999999999999999"$/,
    ],
    [["stop", "--fast", "--fast"], /^option --fast given twice$/],
    // One line naming the form (Node's three asked whether the value was forgotten).
    [
      ["start", "app.ts", "--workers", "-1"],
      /^option --workers needs a value; one that starts with a dash is given as --workers=VALUE$/,
    ],
    [["logs", "-n", "-5"], /^option -n needs a value; one that starts with a dash is given as -nVALUE$/],
    // An empty path (an unset variable) is refused: it named the working directory.
    [["stop", "--prefix", ""], /^option --prefix needs a directory$/],
    [["status", "--prefix="], /^option --prefix needs a directory$/],
    [["start", "app.ts", "--config", ""], /^option --config needs a file name$/],
    [["start", "app.ts", "--error-log", ""], /^option --error-log needs a file name$/],
    [["start", "app.ts", "--log="], /^option --log needs a file name$/],
    // A command after single mode's options: it read as a FILE, "unknown command start; the
    // commands are start, …".
    [
      ["--config", "c.ts", "start", "app.ts"],
      /^start is a command: write it first, its options after it \(tsresty start --help lists them\)$/,
    ],
    [["--shdict", "a 1m", "--", "stop"], /^stop is a command: write it first/],
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
