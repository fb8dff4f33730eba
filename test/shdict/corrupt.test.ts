/**
 * A zone overwritten by another process. Every process maps a zone read-write, so a worker of
 * config.user can write anything into the memory that the root privileged agent works on. These
 * tests fill a zone, overwrite parts of it through its memfd (seeded, so that a failure can be
 * replayed: CORRUPT_SEED=n), and run every operation in a process attached before and in one
 * attached after: both must end normally (thrown errors are fine), never by a signal or a hang.
 */
import assert from "node:assert/strict";
import { fstatSync, readSync, writeSync } from "node:fs";
import { describe, it } from "node:test";
import type { Zone } from "../../src/shdict/index.ts";
import { startWithZone, within, type ZoneChild } from "./processes.ts";
import { testZone } from "./zones.ts";
import { generator } from "../fixtures/shdict/seeded.mjs";

const SEED = Number(process.env["CORRUPT_SEED"] ?? Math.floor(Math.random() * 2 ** 31));
const SEEDS_PER_MODE = 4;
console.log(`# corrupt.test.ts seed ${SEED} (replay with CORRUPT_SEED=${SEED})`);

/** The zone's bytes through its memfd, as another process holding the descriptor sees them. */
function read(zone: Zone, at: number, length: number): Buffer {
  const bytes = Buffer.alloc(length);
  readSync(zone.fd, bytes, 0, length, at);
  return bytes;
}
function write(zone: Zone, at: number, bytes: Buffer): void {
  writeSync(zone.fd, bytes, 0, bytes.length, at);
}

interface Shard {
  /** Where the shard header starts: its lock. */
  readonly header: number;
  /** Where the shard header's fields after the lock start, and how many 32-bit words they are. */
  readonly fields: number;
  readonly words: number;
  readonly bucketOff: number;
  readonly heapStart: number;
  readonly heapEnd: number;
}

/** sizeof(shd_header): its fields, then the lanes' owners (native/src/layout.h). */
const ZONE_HEADER = 256;

/** The shards as the zone's headers describe them (native/src/layout.h: shd_header, shd_shard_hdr). */
function shards(zone: Zone): Shard[] {
  const header = read(zone, 0, ZONE_HEADER);
  const headerSize = header.readUInt32LE(12);
  const nshards = header.readUInt32LE(96);
  const lockSize = header.readUInt32LE(104);
  const size = (headerSize - ZONE_HEADER) / nshards;
  return Array.from({ length: nshards }, (_, i) => {
    const at = ZONE_HEADER + i * size;
    const fields = at + lockSize; // seq, then bucket_off, bucket_mask, heap_start, heap_end, …
    const geometry = read(zone, fields, 20);
    return {
      header: at,
      fields,
      words: (size - lockSize) / 4,
      bucketOff: geometry.readUInt32LE(4),
      heapStart: geometry.readUInt32LE(12),
      heapEnd: geometry.readUInt32LE(16),
    };
  });
}

/** Keys of every kind: strings, numbers, booleans, binaries, lists, items that expire soon or later. */
function fill(zone: Zone): void {
  const dict = zone.dict;
  for (let i = 0; i < 3000; i++) {
    dict.set(`s:${i}`, `value ${i} ${"v".repeat(i % 200)}`);
    dict.set(`n:${i}`, i * 1.5);
    dict.set(`b:${i}`, i % 2 === 0);
    dict.set(`bin:${i}`, new Uint8Array(i % 64).fill(i & 255));
    for (let n = 0; n <= i % 5; n++) dict.rpush(`l:${i}`, n % 2 === 0 ? n : `element ${n}`);
    dict.set(`e:${i}`, `expiring ${i}`, i % 2 === 0 ? 0.001 : 100);
  }
  // Free blocks between used ones, on the free lists.
  for (let i = 0; i < 3000; i += 3) dict.delete(`s:${i}`);
}

/** A word another process might write: at random, or an offset into a heap, which passes a check of the range alone. */
function word(random: (below: number) => number, heaps: readonly Shard[]): number {
  if (random(2) === 0) return random(2 ** 32);
  const shard = heaps[random(heaps.length)]!;
  return (
    shard.heapStart + random(shard.heapEnd - shard.heapStart) * (random(4) === 0 ? 1 : 16) - random(2) * 8
  );
}

type Mode = "heaps" | "headers" | "geometry";

/** Overwrites the zone as `mode` says; returns whether the shard headers' geometry changed. */
function corrupt(zone: Zone, mode: Mode, seed: number): boolean {
  const random = generator(seed);
  const all = shards(zone);
  if (mode === "heaps") {
    // Random bytes over the bucket arrays and heaps: 64 runs of up to 4 KiB.
    for (let run = 0; run < 64; run++) {
      const shard = all[random(all.length)]!;
      const length = 1 + random(4096);
      const at = shard.bucketOff + random(shard.heapEnd - shard.bucketOff - length);
      write(zone, at, Buffer.from(Array.from({ length }, () => random(256))));
    }
    return false;
  }
  if (mode === "headers") {
    // One word of the header of 300 blocks: an item's (72 bytes), a node's (24), a free block's (16).
    const blocks: { at: number; header: number }[] = [];
    for (const shard of all) {
      const heap = read(zone, shard.heapStart, shard.heapEnd - shard.heapStart);
      for (let off = 0; off < heap.length;) {
        const size = heap.readUInt32LE(off) & ~7;
        const state = heap.readUInt32LE(off) & 7;
        blocks.push({ at: shard.heapStart + off, header: [16, 72, 24][state] ?? 16 });
        if (size < 16) break;
        off += size;
      }
    }
    for (let n = 0; n < 300; n++) {
      const block = blocks[random(blocks.length)]!;
      const bytes = Buffer.alloc(4);
      bytes.writeUInt32LE(word(random, all) >>> 0);
      write(zone, block.at + 4 * random(block.header / 4), bytes);
    }
    return false;
  }
  // The shard headers after the lock: seq, the geometry (bucket_off, bucket_mask, heap_start,
  // heap_end), the LRU ends, the counters, the free lists' bitmaps and heads.
  let geometry = false;
  for (let n = 0; n < 40; n++) {
    const shard = all[random(all.length)]!;
    const field = n < 8 ? 1 + random(4) : random(shard.words);
    const bytes = Buffer.alloc(4);
    bytes.writeUInt32LE(word(random, all) >>> 0);
    const before = read(zone, shard.fields + 4 * field, 4);
    if (field >= 1 && field <= 4 && !before.equals(bytes)) geometry = true;
    write(zone, shard.fields + 4 * field, bytes);
  }
  return geometry;
}

interface Outcome {
  readonly ops: number;
  readonly thrown: number;
  readonly errors: readonly string[];
  readonly resets: number | string;
}

/** Waits for the child's last line and its exit, which must be normal. */
async function ends(child: ZoneChild, what: string): Promise<Outcome | { refused: string }> {
  const end = await within(child.done, 60_000, what);
  assert.equal(end.signal, null, `${what} was killed by ${String(end.signal)}; stderr: ${end.stderr}`);
  assert.equal(end.code, 0, `${what} exited with ${String(end.code)}; stderr: ${end.stderr}`);
  const last = child.lines.at(-1) as Outcome | { refused: string } | undefined;
  assert.ok(last !== undefined && typeof last === "object", `${what} printed its outcome`);
  return last;
}

describe("a zone overwritten by another process", () => {
  const cases: { mode: Mode; what: string }[] = [
    { mode: "heaps", what: "random bytes over its heaps and bucket arrays" },
    { mode: "headers", what: "random words of item, node and free-block headers" },
    {
      mode: "geometry",
      what: "random words of the shard headers (geometry, LRU ends, free lists), not the lock",
    },
  ];
  for (const { mode, what } of cases) {
    for (let n = 0; n < SEEDS_PER_MODE; n++) {
      const seed = SEED + n * 7919 + cases.findIndex((c) => c.mode === mode) * 104729;
      it(
        `${what} (seed ${seed}): a process attached before and one attached after run every operation and end normally`,
        {
          timeout: 180_000,
        },
        async () => {
          const zone = testZone(4 * 1024 * 1024, `corrupt${mode}${n}`);
          assert.equal(fstatSync(zone.fd).size, 4 * 1024 * 1024);
          fill(zone);
          const before = startWithZone("every-op", zone, ["wait"], 120_000);
          await within(
            before.line((l) => typeof l === "object" && l !== null && "attached" in l),
            60_000,
            "attach before",
          );
          // From here this process leaves the zone alone: only the children use it.
          const geometry = corrupt(zone, mode, seed);
          // Both start on the zone as overwritten (one that attach refuses has printed that and ended).
          const after = startWithZone("every-op", zone, ["wait"], 120_000);
          const attached = await within(
            after.line((l) => typeof l === "object" && l !== null),
            60_000,
            "attach after",
          );
          // One that attach refused has ended: its stdin is closed (a write there failed with EPIPE).
          const waiting = "attached" in (attached as object) ? [before, after] : [before];
          for (const child of waiting) child.child.stdin?.write("go\n");
          const [early, late] = await Promise.all([
            ends(before, "the process attached before"),
            ends(after, "the process attached after"),
          ]);
          assert.ok("ops" in early, `the process attached before ran: ${JSON.stringify(early)}`);
          if (geometry)
            assert.ok(
              "refused" in late,
              `attach refuses a zone whose geometry was rewritten: ${JSON.stringify(late)}`,
            );
          console.log(
            `# ${mode} seed ${seed}: before ${JSON.stringify(early)}; after ${JSON.stringify(late)}`,
          );
        },
      );
    }
  }

  /**
   * Runs every operation `rounds` times in one process (its deadline `deadlineMs`) while `writer`
   * (a fixture, given `args(zone)` and the seed) overwrites the zone, and asserts that it ends
   * normally.
   */
  async function beside(
    name: string,
    rounds: number,
    deadlineMs: number,
    writer: { fixture: string; what: string; args: (zone: Zone) => string[]; seed: number },
  ): Promise<void> {
    const { seed } = writer;
    const zone = testZone(4 * 1024 * 1024, name);
    fill(zone);
    const victim = startWithZone("every-op", zone, ["wait", String(rounds)], deadlineMs);
    await within(
      victim.line((l) => typeof l === "object" && l !== null),
      60_000,
      "attach",
    );
    const running = startWithZone(writer.fixture, zone, [...writer.args(zone), String(seed)], deadlineMs);
    await within(
      running.line((l) => l === "writing"),
      60_000,
      `${writer.what} starting`,
    );
    victim.child.stdin?.write("go\n");
    const outcome = await ends(victim, `the process running every operation (seed ${seed})`);
    running.child.kill("SIGKILL");
    await running.done;
    assert.ok("ops" in outcome, JSON.stringify(outcome));
    console.log(`# ${name} seed ${seed}: ${JSON.stringify(outcome)}`);
  }

  it(
    "a process overwriting the heaps without pause while another runs every operation 10 times: the other ends normally",
    { timeout: 180_000 },
    () =>
      beside("corruptrace", 10, 120_000, {
        fixture: "overwriter.mjs",
        what: "the overwriter",
        args: (zone) => [String(shards(zone)[0]!.bucketOff)],
        seed: SEED + 1,
      }),
  );

  it(
    "a process writing the shards' lock words and sequence numbers while another runs every operation 4 times: the other ends normally",
    { timeout: 180_000 },
    () =>
      // Each shard header starts with its lock word (layout.h: shd_shard_hdr).
      beside("corruptlocks", 4, 150_000, {
        fixture: "lock-writer.mjs",
        what: "the lock writer",
        args: (zone) => [
          shards(zone)
            .map((shard) => shard.header)
            .join(","),
        ],
        seed: SEED + 2,
      }),
  );

  it("attach refuses a zone whose header's shard count, shard bits or header size was rewritten", async () => {
    // The zone header's fields (layout.h, shd_header): header_size at 12, nshards at 96, shard_bits at 100.
    for (const [at, value] of [
      [96, 16],
      [96, 3],
      [100, 1],
      [12, 128],
    ] as const) {
      const zone = testZone(4 * 1024 * 1024, `header${at}${value}`);
      const bytes = Buffer.alloc(4);
      bytes.writeUInt32LE(value);
      write(zone, at, bytes);
      const child = startWithZone("every-op", zone, [], 60_000);
      const outcome = await ends(child, `a process attaching after field ${at} became ${value}`);
      assert.match(
        JSON.stringify(outcome),
        /shard headers do not match its size/,
        `field ${at} = ${value}: ${JSON.stringify(outcome)}`,
      );
    }
  });
});
