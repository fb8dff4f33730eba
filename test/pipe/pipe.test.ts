import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { openSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { pidsMatching } from "../helpers/processes.ts";
import { spawnTracked } from "../helpers/pipes.ts";
import { until } from "../helpers/tree.ts";
import { endGroup, liveGroups, spawn } from "../../src/pipe/index.ts";

const start = spawnTracked();
after(async () => {
  await Promise.all(liveGroups().map((group) => endGroup(group, 0)));
});

const text = (r: { ok: boolean; data?: Buffer; partial?: Buffer }): string =>
  (r.ok ? r.data : r.partial)?.toString() ?? "";

describe("ngx.pipe.spawn", () => {
  it("T-PIPE-01: bad args and bufferSize throw with OpenResty's words", () => {
    assert.throws(() => spawn(undefined as never), /bad args arg: table expected/);
    assert.throws(() => spawn([]), /bad args arg: non-empty table expected/);
    for (const bad of [0, 0.5, "1", true]) {
      assert.throws(() => spawn(["ls"], { bufferSize: bad as never }), /bad buffer_size option/);
    }
    assert.throws(() => spawn(["ls"], { bufsize: 1 } as never), /unknown option "bufsize"/);
    // Not a plain object: each was taken as no options at all, a Map of bad values included.
    for (const odd of [new Map([["bufferSize", 0]]), new Date(), [], Object.create({ bufferSize: 0 }), null])
      assert.throws(() => spawn(["ls"], odd as never), /"options" must be a plain object/);
    assert.throws(() => spawn(["ls", {} as never]), /"args\[1\]" must be a string or a number/);
    start(["true"], { bufferSize: 1 });
  });

  it("T-PIPE-03: wait() reports exit 0, a non-zero status, and signals", async () => {
    assert.deepEqual(await start(["true"]).wait(), { ok: true, reason: "exit", status: 0 });
    assert.deepEqual(await start("sleep 0.1 && exit 2").wait(), { ok: false, reason: "exit", status: 2 });
    const early = start("exit 2");
    await new Promise((resolve) => setTimeout(resolve, 150));
    assert.deepEqual(await early.wait(), { ok: false, reason: "exit", status: 2 });
    const killed = start(["sleep", "10"]);
    const waiting = killed.wait();
    assert.deepEqual(killed.kill(15), { ok: true });
    assert.deepEqual(await waiting, { ok: false, reason: "signal", status: 15 });
  });

  it("T-PIPE-04: a second wait gives 'exited'; two concurrent waits, one gets 'pipe busy waiting'", async () => {
    const proc = start(["true"]);
    await proc.wait();
    assert.deepEqual(await proc.wait(), { ok: false, reason: "exited", status: null });
    const two = start(["sleep", "0.1"]);
    const [a, b] = await Promise.all([two.wait(), two.wait()]);
    assert.deepEqual(b, { ok: false, reason: "pipe busy waiting", status: null });
    assert.equal(a.ok, true);
  });

  it("T-PIPE-05: a wait timeout returns 'timeout' and the process keeps running", async () => {
    const proc = start(["sleep", "10"], { waitTimeout: 100 });
    assert.deepEqual(await proc.wait(), { ok: false, reason: "timeout", status: null });
    assert.equal(proc.running(), true);
    proc.setTimeouts(undefined, undefined, undefined, 10);
    assert.deepEqual(await proc.wait(), { ok: false, reason: "timeout", status: null });
    proc.kill("SIGKILL");
    assert.deepEqual(await proc.wait(), { ok: false, reason: "signal", status: 9 });
  });

  it("T-PIPE-06: a timeout of 2^32-1 ms really waits (past setTimeout's 2^31-1 limit)", async () => {
    const proc = start(["sleep", "0.2"], { waitTimeout: 2 ** 32 - 1, stdoutReadTimeout: 2 ** 32 - 1 });
    assert.deepEqual(await proc.stdoutReadAll(), { ok: true, data: Buffer.alloc(0) });
    assert.deepEqual(await proc.wait(), { ok: true, reason: "exit", status: 0 });
  });

  it("mergeStderr is a real 2>&1: output keeps its order, the pid is the child's", async () => {
    const proc = start("echo o1; echo e1 >&2; echo o2; echo e2 >&2", { mergeStderr: true });
    assert.equal(text(await proc.stdoutReadAll()), "o1\ne1\no2\ne2\n");
    const own = start(["sh", "-c", "echo $$"], { mergeStderr: true });
    assert.equal(text(await own.stdoutReadAll()).trim(), String(own.pid()));
  });

  it("T-PIPE-06: timeouts from 0 to 2^32-1 are accepted; outside, they throw naming the option", () => {
    const proc = start(["true"], { writeTimeout: 2 ** 32 - 1, waitTimeout: 0 });
    for (const name of ["writeTimeout", "stdoutReadTimeout", "stderrReadTimeout", "waitTimeout"] as const) {
      assert.throws(() => start(["true"], { [name]: 2 ** 32 }), new RegExp(`bad ${name} option`));
      assert.throws(() => start(["true"], { [name]: -1 }), new RegExp(`bad ${name} option`));
    }
    assert.throws(() => proc.setTimeouts(-1), /bad writeTimeout option/);
  });

  it("T-PIPE-07: writes report their byte counts; wc -c counts them", async () => {
    const proc = start(["wc", "-c"]);
    const sizes = [];
    for (const data of ["", "a", "hello", "1234".repeat(2048)]) {
      const written = await proc.write(data);
      assert.ok(written.ok);
      sizes.push(written.bytes);
    }
    assert.deepEqual(sizes, [0, 1, 5, 8192]);
    proc.shutdown("stdin");
    const line = await proc.stdoutReadLine();
    assert.ok(line.ok);
    assert.equal(line.data.trim(), String(1 + 5 + 8192));
  });

  it("T-PIPE-08: after shutdown each direction reads or writes 'closed'; a bad direction throws; merged stderr", async () => {
    const proc = start(["cat"]);
    for (const direction of ["stdin", "stdout", "stderr"] as const) {
      assert.deepEqual(proc.shutdown(direction), { ok: true });
      assert.deepEqual(proc.shutdown(direction), { ok: true }, "twice is harmless");
    }
    assert.deepEqual(await proc.write("x"), { ok: false, reason: "closed" });
    assert.equal((await proc.stdoutReadLine()).ok, false);
    assert.throws(() => proc.shutdown("read" as never), /bad shutdown arg/);
    const merged = start(["true"], { mergeStderr: true });
    assert.deepEqual(merged.shutdown("stderr"), { ok: false, reason: "merged to stdout" });
    assert.deepEqual(await merged.stderrReadLine(), { ok: false, reason: "merged to stdout", partial: "" });
  });

  it("T-PIPE-09: blocked readers are woken with 'aborted' by shutdown", async () => {
    const proc = start(["sleep", "5"], { stdoutReadTimeout: 2000, stderrReadTimeout: 2000 });
    const out = proc.stdoutReadLine();
    const err = proc.stderrReadLine();
    proc.shutdown("stdout");
    proc.shutdown("stderr");
    assert.deepEqual(await out, { ok: false, reason: "aborted", partial: "" });
    assert.deepEqual(await err, { ok: false, reason: "aborted", partial: "" });
  });

  it("a read cut by shutdown gives what had arrived as its partial, as OpenResty's read does (it was dropped); one wait() lets go on ends at its timeout when the output stays open", async () => {
    // Each child writes to stdout, then a line to stderr: once the test has that line, the output
    // is in the pipe (and 100 ms later in the reader); then the read is cut while it waits for more.
    const cut = start(["sh", "-c", "printf 'partial line'; echo >&2; sleep 5"], { stdoutReadTimeout: 5000 });
    const line = cut.stdoutReadLine();
    assert.equal((await cut.stderrReadLine()).ok, true);
    await new Promise((resolve) => setTimeout(resolve, 100));
    cut.shutdown("stdout");
    assert.deepEqual(await line, { ok: false, reason: "aborted", partial: "partial line" });
    // The output stays open after the child's exit (a process in a session of its own holds it),
    // so the read still waits when wait() finalizes the process: it goes on, as OpenResty's does,
    // and ends at its timeout with what had arrived.
    // The leader exits only once the holder runs in its session: a leader's exit ends what is
    // left in its group, and a holder that has not called setsid() yet is still in it.
    const ready = join(tmpdir(), `holder-ready-${process.pid}`);
    const waited = start(
      [
        "sh",
        "-c",
        `printf 'hello'; setsid sh -c 'touch ${ready}; exec sleep 5' & echo $! >&2; ` +
          `while [ ! -e ${ready} ]; do sleep 0.01; done; rm -f ${ready}`,
      ],
      { stdoutReadTimeout: 1000 },
    );
    const all = waited.stdoutReadAll();
    let settled = false;
    void all.then(() => (settled = true));
    const pidLine = await waited.stderrReadLine();
    const holder = Number(pidLine.ok ? pidLine.data : NaN);
    try {
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.deepEqual(await waited.wait(), { ok: true, reason: "exit", status: 0 });
      assert.equal(settled, false);
      assert.deepEqual(await waited.stdoutReadLine(), { ok: false, reason: "closed", partial: "" });
      const result = await all;
      assert.deepEqual(result, { ok: false, reason: "timeout", partial: Buffer.from("hello") });
    } finally {
      process.kill(holder, "SIGKILL");
    }
  });

  it("a read's timeout is the longest wait for more output, as OpenResty's: output that keeps coming keeps the read going", async () => {
    // Five lines 300 ms apart, under a 1 s read timeout: the read took 1 s in all, and timed out
    // with two lines, where OpenResty's re-arms its timer each time output arrives.
    const steady = start(["sh", "-c", "for i in 1 2 3 4 5; do echo $i; sleep 0.3; done"], {
      stdoutReadTimeout: 1000,
    });
    const all = await steady.stdoutReadAll();
    assert.deepEqual([all.ok, text(all)], [true, "1\n2\n3\n4\n5\n"]);
    const line = start(
      ["sh", "-c", "printf a; sleep 0.3; printf b; sleep 0.3; printf c; sleep 0.3; echo d"],
      {
        stdoutReadTimeout: 1000,
      },
    );
    assert.deepEqual(await line.stdoutReadLine(), { ok: true, data: "abcd" });
    // A gap longer than the timeout still ends the read, with what had arrived.
    const gap = start(["sh", "-c", "printf 12; sleep 0.2; printf 34; sleep 3; echo late"], {
      stdoutReadTimeout: 1000,
    });
    const began = Date.now();
    const cut = await gap.stdoutReadBytes(10);
    const took = Date.now() - began;
    assert.deepEqual([cut.ok, text(cut)], [false, "1234"]);
    assert.equal((cut as { reason: string }).reason, "timeout");
    assert.ok(
      took >= 1150 && took < 2500,
      `timed out after ${took} ms (the last output came at about 200 ms)`,
    );
    gap.kill("SIGKILL");
  });

  it("setTimeouts() while a read or a write waits applies from its next progress on, as OpenResty reads the proc's timeout each time it re-arms; the wait in course keeps its length", async () => {
    const sooner = start(["sh", "-c", "sleep 0.5; printf a; sleep 3; echo b"], { stdoutReadTimeout: 5000 });
    const later = start(["sh", "-c", "sleep 0.5; printf a; sleep 1.5; echo b"], { stdoutReadTimeout: 1000 });
    // Takes 64 KiB, then nothing for 3 s: a 1 MiB write stalls once the pipe is full.
    const stalled = start(["sh", "-c", "head -c 65536 >/dev/null; sleep 3; cat >/dev/null"], {
      writeTimeout: 5000,
    });
    const reads = [sooner.stdoutReadLine(), later.stdoutReadLine()];
    const write = stalled.write(Buffer.alloc(1024 * 1024, 120));
    // 5 s → 200 ms: the wait for "a" keeps its 5 s (cut at 200 ms, the partial would be empty);
    // the one after "a" is 200 ms, so the 3 s before "b" ends the read. It kept 5 s: "ab".
    sooner.setTimeouts(undefined, 200);
    // 1 s → never: after "a", no timeout, and "b" comes 1.5 s later. It kept 1 s: cut with "a".
    later.setTimeouts(undefined, 0);
    // 5 s → 200 ms: the write's next wait, once the pipe is full, is 200 ms. It kept 5 s, longer
    // than the child's 3 s pause, and the whole write went through.
    stalled.setTimeouts(200);
    assert.deepEqual(await Promise.all(reads), [
      { ok: false, reason: "timeout", partial: "a" },
      { ok: true, data: "ab" },
    ]);
    assert.deepEqual(await write, { ok: false, reason: "timeout" });
    for (const proc of [sooner, later, stalled]) proc.kill("SIGKILL");
  });

  it("a read waiting when wait() finalizes still gets the child's output: Promise.all([readAll, wait]) never loses it", async () => {
    // The child's exit and the last of its output reach the worker as two events, in either
    // order: wait() used to cut the read at once, and about one run in 30 got "closed" with
    // nothing, the output still in the pipe.
    for (let run = 0; run < 150; run++) {
      const proc = start(["sh", "-c", "echo hello; echo world >&2"]);
      const [out, err, waited] = await Promise.all([
        proc.stdoutReadAll(),
        proc.stderrReadLine(),
        proc.wait(),
      ]);
      assert.deepEqual(
        [out.ok, text(out), err, waited],
        [true, "hello\n", { ok: true, data: "world" }, { ok: true, reason: "exit", status: 0 }],
        `run ${run}`,
      );
      assert.deepEqual(await proc.stdoutReadAll(), { ok: false, reason: "closed", partial: Buffer.alloc(0) });
    }
  });

  it("shutdown('stdin') during a blocked write drops what was not written yet, as OpenResty closes the pipe (stop 26)", async () => {
    // The child reads nothing for 2 s: far longer than the 100 ms before the shutdown, so that a
    // stalled test process cannot let the whole write through first.
    const proc = start(["sh", "-c", "sleep 2; wc -c"], { stdoutReadTimeout: 5000 });
    const size = 4 * 1024 * 1024;
    const write = proc.write(Buffer.alloc(size, 120));
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(proc.shutdown("stdin"), { ok: true });
    assert.deepEqual(await write, { ok: false, reason: "aborted" });
    const counted = Number(text(await proc.stdoutReadAll()).trim());
    // What reached the pipe before the shutdown (at most what it holds), never the whole write.
    assert.ok(counted < size, `the child read ${counted} of ${size} bytes`);
    assert.equal((await proc.wait()).ok, true);
  });

  it("real-time signals: a child they end reports them; kill() sends them (stop 26)", async () => {
    assert.deepEqual(await start(["sh", "-c", "kill -s 40 $$"]).wait(), {
      ok: false,
      reason: "signal",
      status: 40,
    });
    const proc = start(["sleep", "5"]);
    assert.deepEqual(proc.kill(64), { ok: true });
    assert.deepEqual(await proc.wait(), { ok: false, reason: "signal", status: 64 });
    for (const bad of [65, -1, 1.5, Number.NaN]) {
      assert.deepEqual(start(["true"]).kill(bad), { ok: false, reason: "invalid signal" }, String(bad));
    }
  });

  it("a hole or an empty program name in argv throws, naming the element (stop 26)", () => {
    // eslint-disable-next-line no-sparse-arrays -- a hole is what is tested
    const holey = ["echo", , "b"];
    assert.throws(
      () => spawn(holey as never),
      /"args\[1\]" must be a string or a number, received undefined/,
    );
    assert.throws(() => spawn([""]), /"args\[0\]" must be a non-empty program name, received/);
  });

  it("a hole in environ or in an array written throws, naming it, as one in argv does (it was skipped: an environ of holes gave the child an empty environment)", async () => {
    // eslint-disable-next-line no-sparse-arrays -- a hole is what is tested
    const holey = ["A=1", , "B=2"];
    assert.throws(
      () => spawn(["true"], { environ: holey as never }),
      /"environ\[1\]" must be a string \(bad value at index of environ option: string expected\), received undefined/,
    );
    assert.throws(
      () => spawn(["true"], { environ: new Array<string>(2) }),
      /"environ\[0\]" must be a string/,
    );
    const cat = start(["cat"]);
    // eslint-disable-next-line no-sparse-arrays -- a hole is what is tested
    assert.throws(() => cat.write(["a", , "b"] as never), /bad data arg/);
    cat.shutdown("stdin");
    assert.deepEqual(await cat.stdoutReadAll(), { ok: true, data: Buffer.alloc(0) });
    assert.deepEqual(await cat.wait(), { ok: true, reason: "exit", status: 0 });
  });

  it("T-PIPE-10 (deliberate difference): a missing program waits as exit 127 with the reason named", async () => {
    const result = await start(["no-such-program-tsresty"]).wait();
    assert.equal(result.ok, false);
    assert.equal(result.reason, "exit");
    assert.equal(result.status, 127);
    assert.match(
      (result as { error?: string }).error ?? "",
      /no-such-program-tsresty: spawn no-such-program-tsresty ENOENT/,
    );
  });

  it("T-PIPE-11: kill() checks its argument; an invalid signal and an exited child are outcomes", async () => {
    const proc = start(["sleep", "5"]);
    assert.throws(() => proc.kill(undefined as never), /bad signal arg/);
    assert.deepEqual(proc.kill(10000), { ok: false, reason: "invalid signal" });
    proc.kill("SIGKILL");
    await proc.wait();
    assert.deepEqual(proc.kill(15), { ok: false, reason: "exited" });
    const quick = start(["true"]);
    // Exited (not waited): its end is waited for, which a fixed time did not always cover.
    assert.ok(await until(() => !quick.running()));
    assert.deepEqual(quick.kill(15), { ok: false, reason: "exited" });
  });

  it("every method of a process called without it (detached, or on another object) throws a coded TypeError naming the method, as OpenResty's 'not a process instance' (it was V8's 'Cannot read private member')", async () => {
    const proc = start(["cat"]);
    const calls: Record<string, unknown[]> = {
      running: [],
      pid: [],
      wait: [],
      kill: ["SIGTERM"],
      shutdown: ["stdin"],
      setTimeouts: [100],
      write: ["x"],
      stdoutReadLine: [],
      stdoutReadAll: [],
      stdoutReadBytes: [1],
      stdoutReadAny: [1],
      stderrReadLine: [],
      stderrReadAll: [],
      stderrReadBytes: [1],
      stderrReadAny: [1],
      stdoutLines: [],
    };
    const prototype = Object.getPrototypeOf(proc) as Record<string, (...args: unknown[]) => unknown>;
    const methods = Object.getOwnPropertyNames(prototype).filter((name) => name !== "constructor");
    assert.deepEqual(methods.sort(), Object.keys(calls).sort(), "a row for every public method");
    for (const [name, args] of Object.entries(calls)) {
      const method = prototype[name] as (...args: unknown[]) => unknown;
      for (const self of [undefined, {}, Object.create(prototype) as unknown]) {
        await assert.rejects(
          async () => {
            const result = method.apply(self, args);
            // A generator would meet its this only at its first step.
            await (typeof result === "object" && result !== null && Symbol.asyncIterator in result
              ? (result as AsyncGenerator).next()
              : result);
          },
          {
            code: "ERR_TSRESTY_INVALID_ARG_TYPE",
            name: "TypeError",
            message: new RegExp(`^proc\\.${name}: "this" must be an ngx\\.pipe process`),
          },
          name,
        );
      }
    }
    assert.deepEqual(await proc.write("still works\n"), { ok: true, bytes: 12 });
    assert.deepEqual(await proc.stdoutReadLine(), { ok: true, data: "still works" });
    proc.shutdown("stdin");
    assert.deepEqual(await proc.wait(), { ok: true, reason: "exit", status: 0 });
  });

  it("T-PIPE-13: a string runs through sh; environ replaces the environment; bad environ throws", async () => {
    const both = start("echo 'hello' && >&2 echo 'world'");
    assert.deepEqual(await both.stdoutReadLine(), { ok: true, data: "hello" });
    assert.deepEqual(await both.stderrReadLine(), { ok: true, data: "world" });
    const env = start(["sh", "-c", "echo $TEST_ENV $OTHER"], {
      environ: ["TEST_ENV=blahblah", "OTHER=hello"],
    });
    assert.deepEqual(await env.stdoutReadLine(), { ok: true, data: "blahblah hello" });
    const inherit = start(["sh", "-c", "echo $HOME"], { environ: [] });
    assert.deepEqual(await inherit.stdoutReadLine(), { ok: true, data: process.env["HOME"] ?? "" });
    assert.throws(() => spawn(["true"], { environ: "x" as never }), /bad environ option/);
    assert.throws(() => spawn(["true"], { environ: ["A=1", 2 as never] }), /"environ\[1\]" must be a string/);
    assert.throws(() => spawn(["true"], { environ: ["TEST_ENV"] }), /'name=\[value\]' format/);
    assert.throws(() => spawn(["true"], { environ: ["=1"] }), /'name=\[value\]' format/);
  });

  it("environ passes every NAME=value as written: __proto__ and constructor are variables like any other (__proto__ was dropped)", async () => {
    const env = start(["/usr/bin/env"], { environ: ["__proto__=evil", "constructor=x", "A=1"] });
    const all = await env.stdoutReadAll();
    assert.deepEqual(text(all).split("\n").filter(Boolean).sort(), [
      "A=1",
      "__proto__=evil",
      "constructor=x",
    ]);
    assert.deepEqual(await env.wait(), { ok: true, reason: "exit", status: 0 });
  });

  it("T-PIPE-14: readLine, a last line without newline, readBytes with 0, negative and too many", async () => {
    assert.deepEqual(await start(["echo", "hello world"]).stdoutReadLine(), {
      ok: true,
      data: "hello world",
    });
    assert.deepEqual(await start(["printf", "hello world"]).stdoutReadLine(), {
      ok: false,
      reason: "closed",
      partial: "hello world",
    });
    const bytes = start(["echo", "hello world"]);
    assert.equal(text(await bytes.stdoutReadBytes(5)), "hello");
    assert.equal(text(await bytes.stdoutReadBytes(6)), " world");
    assert.equal(text(await bytes.stdoutReadBytes(0)), "");
    assert.throws(() => bytes.stdoutReadBytes(-1), /bad len argument/);
    const short = await start(["echo", "hello world"]).stdoutReadBytes(20);
    assert.equal(short.ok ? "" : short.reason, "closed");
  });

  it("T-PIPE-15: readAll, readAny in pieces, readAny(0) throws", async () => {
    const cmd = "printf hello; sleep 0.05; printf world";
    assert.equal(text(await start(cmd).stdoutReadAll()), "helloworld");
    const any = start(cmd);
    assert.equal(text(await any.stdoutReadAny(1024)), "hello");
    assert.equal(text(await any.stdoutReadAny(1024)), "world");
    const small = start(cmd);
    assert.equal(text(await small.stdoutReadAny(4)), "hell");
    assert.equal(text(await small.stdoutReadAny(3)), "o");
    assert.equal(text(await small.stdoutReadAny(1024)), "world");
    assert.throws(() => small.stdoutReadAny(0), /bad max argument/);
  });

  it("T-PIPE-16: data outlives the child until wait; no output; two readers; a read timeout", async () => {
    const done = start(["echo", "kept"]);
    await new Promise((resolve) => setTimeout(resolve, 150));
    assert.deepEqual(await done.stdoutReadLine(), { ok: true, data: "kept" });
    const silent = start(["true"]);
    const any = await silent.stdoutReadAny(10);
    assert.equal(any.ok ? "" : any.reason, "closed");
    assert.equal(text(await start(["true"]).stdoutReadAll()), "");
    const waited = start(["echo", "x"]);
    await waited.wait();
    assert.equal(((await waited.stdoutReadLine()) as { reason: string }).reason, "closed");
    const two = start("printf hello; sleep 0.1; printf world");
    const [first, second] = await Promise.all([two.stdoutReadAll(), two.stdoutReadAll()]);
    assert.equal(text(first), "helloworld");
    assert.equal((second as { reason: string }).reason, "pipe busy reading");
    const slow = start(["sleep", "10"], { stdoutReadTimeout: 100 });
    assert.deepEqual(await slow.stdoutReadLine(), { ok: false, reason: "timeout", partial: "" });
  });

  it("T-PIPE-17: tee echoes writes; numbers and arrays are written; bad data throws; writes after exit are 'closed'", async () => {
    const tee = start(["tee"]);
    assert.deepEqual(await tee.write(""), { ok: true, bytes: 0 });
    assert.deepEqual(await tee.write("hello"), { ok: true, bytes: 5 });
    assert.deepEqual(await tee.write([" ", "world"]), { ok: true, bytes: 6 });
    assert.deepEqual(await tee.write(10), { ok: true, bytes: 2 });
    // A Uint8Array (a view into a larger buffer) as shell.run's stdin takes it (it threw).
    assert.deepEqual(await tee.write(new Uint8Array([0x21, 0x3f, 0x21]).subarray(1, 2)), {
      ok: true,
      bytes: 1,
    });
    assert.throws(() => tee.write(true as never), /bad data arg/);
    tee.shutdown("stdin");
    assert.equal(text(await tee.stdoutReadAll()), "hello world10?");
    const gone = start(["echo", "x"]);
    await gone.wait();
    assert.deepEqual(await gone.write("late"), { ok: false, reason: "closed" });
  });

  it("stdoutLines() iterates lines until the child closes stdout", async () => {
    const lines: string[] = [];
    for await (const line of start(["printf", "a\nb\r\nc"]).stdoutLines()) lines.push(line);
    assert.deepEqual(lines, ["a", "b", "c"]);
  });

  it("reads stdout and stderr concurrently while writing stdin", async () => {
    const proc = start('while read line; do echo "out $line"; echo "err $line" >&2; done');
    const out: string[] = [];
    const err: string[] = [];
    const readers = Promise.all([
      (async () => {
        for (let i = 0; i < 100; i++) out.push(((await proc.stdoutReadLine()) as { data: string }).data);
      })(),
      (async () => {
        for (let i = 0; i < 100; i++) err.push(((await proc.stderrReadLine()) as { data: string }).data);
      })(),
    ]);
    for (let i = 0; i < 100; i++) assert.ok((await proc.write(`${i}\n`)).ok);
    await readers;
    assert.equal(out[99], "out 99");
    assert.equal(err[99], "err 99");
    proc.shutdown("stdin");
    assert.equal((await proc.wait()).ok, true);
  });

  it("passes 100 MB of binary data intact through stdoutReadAny", async () => {
    const file = join(tmpdir(), `tsresty-pipe-${process.pid}.bin`);
    execFileSync("head", ["-c", "104857600", "/dev/urandom"], {
      stdio: ["ignore", openSync(file, "w"), "inherit"],
    });
    after(() => {
      rmSync(file, { force: true });
    });
    const expected = execFileSync("sha256sum", [file], { encoding: "utf8" }).split(" ")[0];
    const proc = start(["cat", file]);
    const hash = createHash("sha256");
    let size = 0;
    for (;;) {
      const chunk = await proc.stdoutReadAny(1 << 20);
      if (!chunk.ok) {
        assert.equal(chunk.reason, "closed");
        break;
      }
      hash.update(chunk.data);
      size += chunk.data.length;
    }
    assert.equal(size, 104857600);
    assert.equal(hash.digest("hex"), expected);
    assert.equal((await proc.wait()).ok, true);
  });
});

describe("no orphans (deliberate difference)", () => {
  it("ending a shell child's group leaves none of its background children", async () => {
    const marker = `1000.${process.pid}1`;
    const proc = start(`sleep ${marker} & sleep ${marker}`);
    // Both sleeps started, and later gone: each waited for (a loaded machine forks and reaps slowly).
    assert.ok(await until(() => pidsMatching(marker).length >= 2), "the background sleeps started");
    await endGroup(proc.pid());
    await proc.wait();
    assert.ok(
      await until(() => pidsMatching(marker).length === 0),
      `left: ${pidsMatching(marker).join(", ")}`,
    );
  });

  it("children (and their background children) die when the owner process exits", async () => {
    const marker = `1000.${process.pid}2`;
    execFileSync(
      process.execPath,
      [
        "--import",
        "tsx",
        "-e",
        `import { spawn } from "./src/pipe/index.ts"; spawn("sleep ${marker} & sleep ${marker}"); setTimeout(() => process.exit(0), 300);`,
      ],
      { cwd: new URL("../..", import.meta.url).pathname, timeout: 10_000 },
    );
    // Gone once killed and reaped: waited for (a sleep that outlived its owner runs 1000 s).
    assert.ok(
      await until(() => pidsMatching(marker).length === 0),
      `left: ${pidsMatching(marker).join(", ")}`,
    );
  });
});
