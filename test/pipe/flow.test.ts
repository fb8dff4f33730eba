import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { describe, it } from "node:test";
import { spawnTracked } from "../helpers/pipes.ts";
import type { PipeProcess } from "../../src/pipe/index.ts";
import { PipeReader, takeAll, takeLine } from "../../src/pipe/reader.ts";

const start = spawnTracked();

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** `promise`, or "stalled" once `ms` have passed (a test must not hang on a read that never ends). */
function within<T>(promise: Promise<T>, ms: number): Promise<T | "stalled"> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<"stalled">((resolve) => {
    timer = setTimeout(() => {
      resolve("stalled");
    }, ms);
  });
  return Promise.race([promise, deadline]).finally(() => {
    clearTimeout(timer);
  });
}

/** Writes 8 KiB blocks until a write fails, at most 64 of them (lua-resty-core's pipe-stdin loop). */
async function writeUntilBlocked(proc: PipeProcess): Promise<string> {
  const block = "1234".repeat(2048);
  for (let i = 0; i <= 64; i++) {
    const written = await proc.write(block);
    if (!written.ok) return written.reason;
  }
  return `wrote ${65 * block.length} bytes without blocking`;
}

describe("reads: what is buffered, all of it", () => {
  it("T-PIPE-15: readAny returns everything buffered up to max (pipe-stdout T16: helloworld)", async () => {
    const proc = start("printf hello; sleep 0.01; printf world");
    const deadline = Date.now() + 5000;
    while (proc.running() && Date.now() < deadline) await sleep(20);
    await sleep(50);
    const any = await proc.stdoutReadAny(1024);
    assert.deepEqual(any, { ok: true, data: Buffer.from("helloworld") });
    const small = start("printf hello; sleep 0.01; printf world");
    while (small.running() && Date.now() < deadline) await sleep(20);
    await sleep(50);
    assert.deepEqual(await small.stdoutReadAny(7), { ok: true, data: Buffer.from("hellowo") });
    assert.deepEqual(await small.stdoutReadAny(1024), { ok: true, data: Buffer.from("rld") });
  });

  it("a 3 MB readAll completes: the read-ahead bound does not stall a read that needs more", async () => {
    const size = 3 * 1024 * 1024;
    for (const timeout of [3000, 0]) {
      const proc = start(`head -c ${size} /dev/zero`, { stdoutReadTimeout: timeout });
      const all = await within(proc.stdoutReadAll(), 10_000);
      assert.notEqual(all, "stalled", `timeout ${timeout}: the read never finished`);
      assert.equal(all !== "stalled" && all.ok ? all.data.length : all, size, `timeout ${timeout}`);
    }
  });

  it("a long line arriving in 20000 small chunks is joined once, not once per chunk", async () => {
    for (const take of [takeLine, takeAll]) {
      const stream = new PassThrough();
      const reader = new PipeReader(stream, 65536);
      const startedAt = performance.now();
      const reading = reader.read(take, () => 0);
      const piece = Buffer.alloc(100, 97);
      for (let i = 0; i < 20_000; i++) stream.write(piece);
      stream.end("\n");
      const result = await within(reading, 30_000);
      const elapsed = performance.now() - startedAt;
      assert.ok(result !== "stalled" && result.ok);
      assert.equal(result.data.length, take === takeLine ? 2_000_000 : 2_000_001);
      // Joining on every chunk copies ~20 GB (tens of seconds); joining once copies 2 MB.
      assert.ok(elapsed < 3000, `${take.kind}: ${Math.round(elapsed)} ms`);
    }
  });
});

describe("writes: held back once nobody reads", () => {
  it("T-PIPE-17 (pipe-stdin T4): writing to a child that never reads stdin times out", async () => {
    const proc = start(["sleep", "5"]);
    proc.setTimeouts(100);
    assert.equal(await writeUntilBlocked(proc), "timeout");
  });

  it("T-PIPE-17 (pipe-stdin T12): the writeTimeout spawn option bounds a blocked write", async () => {
    const proc = start(["sleep", "5"], { writeTimeout: 100 });
    assert.equal(await writeUntilBlocked(proc), "timeout");
  });

  it("a write's timeout is the longest wait for the pipe to take more, as OpenResty's: a slow reader that keeps reading keeps the write going", async () => {
    // The child takes 4 KiB every 50 ms: 256 KiB take about 3 s, the pipe never still for 500 ms.
    // The timeout bounded the whole write, which timed out after 500 ms.
    const reader =
      "my $t = 0; while (my $n = sysread(STDIN, my $b, 4096)) { $t += $n; select(undef, undef, undef, 0.05) } print $t";
    const proc = start(["perl", "-e", reader], { writeTimeout: 500 });
    assert.deepEqual(await proc.write(Buffer.alloc(256 * 1024, 120)), { ok: true, bytes: 256 * 1024 });
    proc.shutdown("stdin");
    const all = await proc.stdoutReadAll();
    assert.equal(all.ok ? all.data.toString() : all, String(256 * 1024));
    // A reader that stops still times the write out, and what was not handed to the pipe yet is
    // dropped, as OpenResty drops it: the child gets at most a piece (16 KiB) more than it had.
    const stalled = start(
      [
        "perl",
        "-e",
        "sysread(STDIN, my $b, 4096); sleep 1; my $t = 4096; while (my $n = sysread(STDIN, $b, 65536)) { $t += $n } print $t",
      ],
      {
        writeTimeout: 300,
      },
    );
    assert.deepEqual(await stalled.write(Buffer.alloc(1024 * 1024, 120)), { ok: false, reason: "timeout" });
    stalled.shutdown("stdin");
    const got = await stalled.stdoutReadAll();
    const received = Number(got.ok ? got.data.toString() : NaN);
    assert.ok(received < 256 * 1024, `the child got ${received} bytes of the 1 MiB write that timed out`);
  });

  it("T-PIPE-17 (pipe-stdin T5): writing to tee nobody reads times out; reading lets writes through again", async () => {
    const proc = start(["tee"]);
    proc.setTimeouts(100);
    assert.equal(await writeUntilBlocked(proc), "timeout");
    // The original reads 2 x 4 KiB, then writes. Here Node's stream buffers up to its highWaterMark
    // besides tsresty's read-ahead, so how much must be read first differs: read until it goes.
    const writer = { done: false };
    const reading = (async () => {
      while (!writer.done) if (!(await proc.stdoutReadAny(4096)).ok) return;
    })();
    proc.setTimeouts(400);
    assert.deepEqual(await proc.write("1234".repeat(2048)), { ok: true, bytes: 8192 });
    writer.done = true;
    proc.shutdown("stdin");
    await reading;
  });
});
