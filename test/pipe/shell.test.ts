import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { pidsMatching } from "../helpers/processes.ts";
import { run } from "../../src/pipe/index.ts";

describe("ngx.shell.run", () => {
  it("T-SH-01: stdout, stderr, exit 0, as a string or an argv array; stdin is fed", async () => {
    const expected = { ok: true, stdout: "yes", stderr: "he\n", reason: "exit", status: 0 };
    assert.deepEqual(await run(`perl -e 'warn "he\\n"; print "yes"'`, { timeout: 3000 }), expected);
    assert.deepEqual(await run(["perl", "-e", 'warn "he\\n"; print "yes"'], { timeout: 3000 }), expected);
    const echo = await run(["perl", "-e", "my $l = <STDIN>; print $l"], { stdin: "hello" });
    assert.equal(echo.stdout, "hello");
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

  it("T-SH-04 (deliberate difference): the timed-out child is ended with its grandchildren", async () => {
    const marker = `1000.${process.pid}3`;
    const result = await run(`sleep ${marker} & sleep ${marker}`, { timeout: 200 });
    assert.equal(result.reason, "failed to wait for process: timeout");
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(pidsMatching(marker), []);
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

  it("bad options throw", async () => {
    await assert.rejects(run("true", { timeout: -1 }), /bad timeout option/);
    await assert.rejects(run("true", { maxSize: 0 }), /"maxSize" must be an integer of at least 1/);
    await assert.rejects(run("true", { tiemout: 1 } as never), /unknown option "tiemout"/);
  });
});
