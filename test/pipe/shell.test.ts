import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { killMatching, pidsMatching } from "../helpers/processes.ts";
import { until } from "../helpers/tree.ts";
import { run } from "../../src/pipe/index.ts";

describe("ngx.shell.run", () => {
  it("T-SH-01: stdout, stderr, exit 0, as a string or an argv array; stdin is fed", async () => {
    const expected = { ok: true, stdout: "yes", stderr: "he\n", reason: "exit", status: 0 };
    assert.deepEqual(await run(`perl -e 'warn "he\\n"; print "yes"'`, { timeout: 3000 }), expected);
    assert.deepEqual(await run(["perl", "-e", 'warn "he\\n"; print "yes"'], { timeout: 3000 }), expected);
    const echo = await run(["perl", "-e", "my $l = <STDIN>; print $l"], { stdin: "hello" });
    assert.equal(echo.stdout, "hello");
  });

  it("stdout and stderr are UTF-8 text, as documented: bytes that are not UTF-8 become U+FFFD (binary output needs spawn)", async () => {
    const text = await run(["printf", "caf\\303\\251 \\377\\376"]);
    assert.deepEqual([text.ok, text.stdout], [true, "café \ufffd\ufffd"]);
  });

  it("T-SH-02: a non-zero exit and a perl die are outcomes with their status", async () => {
    assert.deepEqual(await run(`perl -e 'warn "he\\n"; print "yes"; exit 1'`), {
      ok: false,
      stdout: "yes",
      stderr: "he\n",
      reason: "exit",
      status: 1,
    });
    const died = await run(`perl -e 'print "yes"; die'`);
    assert.deepEqual(
      [died.ok, died.stdout, died.stderr, died.reason, died.status],
      [false, "yes", "Died at -e line 1.\n", "exit", 255],
    );
  });

  it("a program that cannot start is status 127 with the reason in error (it was 127 with nothing to say why)", async () => {
    assert.deepEqual(await run(["/nonexistent/program", "x"]), {
      ok: false,
      stdout: "",
      stderr: "",
      reason: "exit",
      status: 127,
      error: "/nonexistent/program: spawn /nonexistent/program ENOENT",
    });
  });

  it("T-SH-03: output over maxSize fails with 'too much data', keeping maxSize+1 bytes", async () => {
    assert.deepEqual(await run(`printf 'yes!'`, { maxSize: 3 }), {
      ok: null,
      stdout: "yes!",
      stderr: "",
      reason: "failed to read stdout: too much data",
      status: null,
    });
    const err = await run(`printf 'hello world\\n' >&2`, { maxSize: 3 });
    assert.deepEqual([err.stderr, err.reason], ["hell", "failed to read stderr: too much data"]);
  });

  it("T-SH-04: a timeout reports 'failed to wait for process: timeout' with the partial output", async () => {
    const slow = await run("sleep 10", { timeout: 100 });
    assert.deepEqual(slow, {
      ok: null,
      stdout: "",
      stderr: "",
      reason: "failed to wait for process: timeout",
      status: null,
    });
    const flood = await run("echo aaaaa && sleep 10", { timeout: 100, maxSize: 3 });
    assert.deepEqual([flood.stdout, flood.reason], ["aaaa", "failed to wait for process: timeout"]);
  });

  it("T-SH-04: the wait's timeout bounds the whole run, also for a child that keeps printing (stop 26)", async () => {
    for (const [command, stream] of [
      ["while :; do echo x; sleep 0.05; done", "stdout"],
      ["while :; do echo x >&2; sleep 0.05; done", "stderr"],
    ] as const) {
      const started = Date.now();
      const result = await run(command, { timeout: 500 });
      const took = Date.now() - started;
      assert.equal(result.reason, "failed to wait for process: timeout");
      assert.equal(result.ok, null);
      assert.match(result[stream] ?? "", /^(x\n)+$/, "the output so far is kept");
      // Before, each read was bounded but the run was not: it ended only when maxSize filled.
      assert.ok(took < 3000, `${stream}: took ${took} ms with a timeout of 500`);
    }
  });

  it(
    "T-SH-04: the bound holds when the child exited and a daemon it left (setsid) holds the pipe and prints: the run ends with what was read (it never returned)",
    { timeout: 20_000 },
    async () => {
      // Not of the 1000.PID form the other files kill by: a pattern of theirs may match it.
      const marker = `held-pipe-${process.pid}`;
      after(() => {
        killMatching(marker);
        for (const stream of ["stdout", "stderr"])
          rmSync(join(tmpdir(), `${marker}-${stream}`), { force: true });
      });
      for (const stream of ["stdout", "stderr"] as const) {
        // The daemon holds only the one stream open.
        const [redirect, other] = stream === "stderr" ? [">&2", ">/dev/null"] : ["", "2>/dev/null"];
        // The child waits until the daemon runs in its session: a leader's exit ends what is left
        // in its group, and a daemon that has not called setsid() yet is still in it.
        const ready = join(tmpdir(), `${marker}-${stream}`);
        const printer = `touch ${ready}; while :; do echo x ${redirect}; sleep 0.05; done; : ${marker}`;
        const waitReady = `while [ ! -e ${ready} ]; do sleep 0.01; done; rm -f ${ready}`;
        const started = Date.now();
        const result = await run(
          `echo started ${redirect}; setsid sh -c '${printer}' ${other} & ${waitReady}`,
          { timeout: 1000 },
        );
        const took = Date.now() - started;
        assert.deepEqual(
          [result.ok, result.status, result.reason],
          [null, null, `failed to read ${stream}: timeout`],
        );
        assert.match(result[stream] ?? "", /^started\n(x\n)+/, "what was read is kept");
        assert.ok(took < 4000, `${stream}: took ${took} ms with a timeout of 1000`);
        // In a session of its own, the daemon is not of the child's group: it lives on until its
        // next write to the pipe closed here (SIGPIPE), or is ended here.
        killMatching(marker);
      }
    },
  );

  it("T-SH-04 (deliberate difference): the timed-out child is ended with its grandchildren", async () => {
    const marker = `1000.${process.pid}3`;
    const result = await run(`sleep ${marker} & sleep ${marker}`, { timeout: 200 });
    assert.equal(result.reason, "failed to wait for process: timeout");
    // Killed, then gone once reaped: waited for (a sleep left running would run 1000 s).
    assert.ok(
      await until(() => pidsMatching(marker).length === 0),
      `left: ${pidsMatching(marker).join(", ")}`,
    );
  });

  it("scenario 6: echo through the shell", async () => {
    assert.deepEqual(await run('echo "hello, world"'), {
      ok: true,
      stdout: "hello, world\n",
      stderr: "",
      reason: "exit",
      status: 0,
    });
  });

  it("every bad argument throws naming it, before any child starts (issue 8, item 12)", async () => {
    const marker = `1000.${process.pid}9`;
    const sleeper = ["sleep", marker];
    const cases: [unknown, unknown, RegExp][] = [
      [sleeper, { stdin: null }, /"stdin" must be a string, a Buffer or a Uint8Array, received null/],
      [sleeper, { stdin: [1] }, /"stdin" must be .*, received an array/],
      [sleeper, { stdin: ["a", 2] }, /"stdin" must be .*, received an array/],
      [sleeper, { stdin: 5 }, /"stdin" must be .*, received the number 5/],
      [sleeper, { stdin: true }, /"stdin" must be .*, received the boolean true/],
      [sleeper, { stdin: {} }, /"stdin" must be .*, received an object/],
      [sleeper, { timeout: "1" }, /bad timeout option/],
      [sleeper, { maxSize: "1" }, /"maxSize" must be an integer of at least 1, received a string/],
      [sleeper, { maxSize: 1.5 }, /"maxSize" must be an integer of at least 1, received the number 1.5/],
      [sleeper, null, /"options" must be a plain object, received null/],
      [sleeper, new Map([["timeout", -1]]), /"options" must be a plain object, received an object \(Map\)/],
      [sleeper, Object.create({ timeout: "1" }), /"options" must be a plain object/],
      [5, {}, /"command" must be an array of strings or a command string.*, received the number 5/],
      [[], {}, /"command" must be a non-empty array/],
      [["sleep", {}], {}, /"command\[1\]" must be a string or a number, received an object/],
      ["", {}, /"command" must be a non-empty command string/],
      [[""], {}, /"command\[0\]" must be a non-empty program name, received/],
      // eslint-disable-next-line no-sparse-arrays -- a hole is what is tested
      [["echo", , "b"], {}, /"command\[1\]" must be a string or a number, received undefined/],
    ];
    for (const [command, options, expected] of cases) {
      await assert.rejects(run(command as never, options as never), expected);
      assert.deepEqual(pidsMatching(marker), [], `nothing started for ${String(expected)}`);
    }
  });

  it("the output is read while stdin is written: a child that writes as it reads (cat, gzip -c) gets all of it (it blocked on a full pipe, and the write timed out)", async () => {
    const text = "0123456789abcdef\n".repeat(60_000); // 1 MB
    assert.deepEqual(await run("cat", { stdin: text, timeout: 5000, maxSize: 2 << 20 }), {
      ok: true,
      stdout: text,
      stderr: "",
      reason: "exit",
      status: 0,
    });
    // docs/api.md's example, with 900 KB that do not compress.
    const gzip = await run("gzip -c", { stdin: randomBytes(900 * 1024), timeout: 5000, maxSize: 1 << 20 });
    assert.deepEqual([gzip.ok, gzip.reason, gzip.status], [true, "exit", 0]);
    // Past maxSize while stdin is still written: the write is given up (it waited for its timeout,
    // and the run failed with no output), stdin is closed, and the run fails as T-SH-03.
    const flood = await run("cat", { stdin: text, timeout: 5000, maxSize: 1000 });
    assert.deepEqual(
      [flood.ok, flood.reason, flood.stdout],
      [null, "failed to read stdout: too much data", text.slice(0, 1001)],
    );
  });

  it("a child that exits or closes its stdin before reading all of it is not a failed write: its output and status are the result (it was 'failed to write to stdin: closed', at random for a small stdin)", async () => {
    for (let i = 0; i < 30; i++) {
      assert.deepEqual(await run("true", { stdin: "x" }), {
        ok: true,
        stdout: "",
        stderr: "",
        reason: "exit",
        status: 0,
      });
    }
    const head = await run("head -c 3; exit 4", { stdin: "x".repeat(1 << 20), timeout: 5000 });
    assert.deepEqual(head, { ok: false, stdout: "xxx", stderr: "", reason: "exit", status: 4 });
  });

  it("stdin may be a Uint8Array; argv numbers are converted", async () => {
    const counted = await run(["wc", "-c"], { stdin: new Uint8Array([104, 105, 10]) });
    assert.equal(counted.stdout?.trim(), "3");
    assert.equal((await run(["echo", 5] as never)).stdout, "5\n");
  });

  it("bad options throw", async () => {
    await assert.rejects(run("true", { timeout: -1 }), /bad timeout option/);
    await assert.rejects(run("true", { maxSize: 0 }), /"maxSize" must be an integer of at least 1/);
    await assert.rejects(run("true", { tiemout: 1 } as never), /unknown option "tiemout"/);
  });
});
