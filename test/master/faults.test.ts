import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { EventEmitter } from "node:events";
import { describe, it } from "node:test";
import { promisify } from "node:util";
import { reportFaults } from "../../src/master/faults.ts";
import type { LogLevel } from "../../src/util/log.ts";

const FIXTURE = new URL("fixtures/faults.ts", import.meta.url).pathname;

/** Runs the fixture under tsx with a hard deadline; its exit code and output. */
async function runFixture(
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ["--import", "tsx", FIXTURE], {
      env: { ...process.env, NODE_OPTIONS: "", ...env },
      timeout: 20_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

describe("the master's own faults (issue 9, item 1)", () => {
  it("an uncaught exception and an unhandled rejection are logged at alert level, naming the fault", () => {
    const source = new EventEmitter();
    const lines: [LogLevel, string][] = [];
    reportFaults(source, (level, message) => lines.push([level, message]));
    source.emit("uncaughtException", new Error("boom"));
    source.emit("unhandledRejection", "a plain string");
    source.emit("unhandledRejection", Object.create(null));
    assert.deepEqual(
      lines.map(([level]) => level),
      ["alert", "alert", "alert"],
    );
    assert.match(
      lines[0]?.[1] ?? "",
      /^master: uncaught exception, the tree keeps running: Error: boom\n\s+at /,
    );
    assert.equal(
      lines[1]?.[1],
      "master: unhandled rejection, the tree keeps running: non-error value thrown: a plain string",
    );
    assert.match(
      lines[2]?.[1] ?? "",
      /^master: unhandled rejection, the tree keeps running: non-error value thrown: /,
    );
  });

  it("a log that throws while reporting does not throw out of the listener (Node would end the master)", () => {
    const source = new EventEmitter();
    let calls = 0;
    reportFaults(source, () => {
      calls++;
      throw new Error("the log is gone");
    });
    assert.doesNotThrow(() => source.emit("uncaughtException", new Error("first")));
    assert.doesNotThrow(() => source.emit("unhandledRejection", new Error("second")));
    assert.equal(calls, 2, "each fault is tried again: the guard is only against recursion");
  });

  it("a real process with the policy logs both faults at [alert] and keeps running", async () => {
    const run = await runFixture();
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, "still running after 2 faults\n");
    const lines = run.stderr.split("\n").filter((line) => /^\d{4}\//.test(line));
    assert.equal(lines.length, 2, run.stderr);
    assert.match(
      lines[0] ?? "",
      /\[alert\] \d+#-: master: uncaught exception, the tree keeps running: Error: thrown by a timer$/,
    );
    assert.match(
      lines[1] ?? "",
      /\[alert\] \d+#-: master: unhandled rejection, the tree keeps running: TypeError: rejected, never handled$/,
    );
  });

  it("a real process whose log throws while reporting a fault keeps running", async () => {
    const run = await runFixture({ LOG_THROWS: "1" });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, "still running after 2 faults\n");
  });
});
