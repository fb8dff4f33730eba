import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import { createZone, zoneHealth, type Zone } from "../../src/shdict/index.ts";
import { act, isStep, startWithZone, stoppedWithin, within } from "./processes.ts";
import { sleep } from "./zones.ts";

type Step = readonly unknown[];

/** Runs its arguments as nobody in a mount namespace whose /proc shows that user's processes only. */
const HIDDEN_PROC = [
  "unshare",
  "-m",
  "--propagation",
  "private",
  "sh",
  "-c",
  'mount -t proc -o hidepid=2 proc /proc && exec setpriv --reuid=65534 --regid=65534 --clear-groups "$@"',
  "sh",
];
const HIDEPID =
  process.getuid?.() === 0 && spawnSync(HIDDEN_PROC[0]!, [...HIDDEN_PROC.slice(1), "true"]).status === 0
    ? {}
    : { skip: "needs root, unshare and setpriv" };

/** Runs `steps` in a child that must die by SIGKILL at the armed crash point. */
async function dies(zone: Zone, steps: readonly Step[]): Promise<void> {
  const run = startWithZone("actor", zone, [JSON.stringify(steps)]);
  const end = await run.done;
  assert.equal(end.signal, "SIGKILL", `the child should die at its crash point; stderr: ${end.stderr}`);
}

interface Case {
  readonly point: number;
  readonly where: string;
  readonly setup: readonly Step[];
  readonly crash: Step;
  /** Steps run after recovery, and what they must return. */
  readonly after: readonly Step[];
  readonly expect: readonly unknown[];
}

/** Setup runs here: nothing has crashed yet, so this process cannot meet a dead holder. */
function setUp(zone: Zone, steps: readonly Step[]): void {
  const dict = zone.dict as unknown as Record<string, (...args: unknown[]) => unknown>;
  for (const [name, ...args] of steps) dict[name as string]!.apply(zone.dict, args);
}

const OLD = "old value";
const NEW = "a new value, longer than the old one";
const ok = { ok: true, forcible: false };

const CASES: readonly Case[] = [
  {
    point: 1,
    where: "a set, just after its block is split off",
    setup: [["set", "k", OLD]],
    crash: ["set", "k", NEW],
    after: [["get", "k"]],
    expect: [OLD],
  },
  {
    point: 1,
    // A number's item comes from the process's reserve, which takes a page of the heap first:
    // the free block after the old item starts inside a page, so a free pad is split off before
    // the page too.
    where: "a set of a number, just after the page of its process's reserve is split off",
    setup: [["set", "k", OLD]],
    crash: ["set", "k", 42],
    after: [["get", "k"]],
    expect: [OLD],
  },
  {
    point: 2,
    where: "a set, filled but not yet linked",
    setup: [["set", "k", OLD]],
    crash: ["set", "k", NEW],
    after: [["get", "k"]],
    expect: [OLD],
  },
  {
    point: 3,
    where: "a set, linked, the old item not yet freed",
    setup: [["set", "k", OLD]],
    crash: ["set", "k", NEW],
    after: [["get", "k"]],
    expect: [NEW],
  },
  {
    point: 4,
    where: "a delete, unlinked, not yet freed",
    setup: [["set", "k", OLD]],
    crash: ["delete", "k"],
    after: [["get", "k"]],
    expect: [undefined],
  },
  {
    point: 5,
    where: "a free, marked free before merging",
    setup: [["set", "k", OLD]],
    crash: ["delete", "k"],
    after: [["get", "k"]],
    expect: [undefined],
  },
  {
    point: 6,
    where: "a free, merged with the next block only",
    setup: [
      ["set", "a", 1],
      ["set", "k", OLD],
    ],
    crash: ["delete", "k"],
    after: [
      ["get", "k"],
      ["get", "a"],
    ],
    expect: [undefined, 1],
  },
  {
    point: 7,
    where: "an LRU move, unlinked from the list",
    setup: [
      ["set", "a", 1],
      ["set", "b", 2],
    ],
    crash: ["get", "a"],
    after: [
      ["get", "a"],
      ["get", "b"],
      ["getKeys", 0],
    ],
    expect: [1, 2, ["a", "b"]],
  },
  {
    point: 8,
    where: "an lpush, linked, length not yet counted",
    setup: [["lpush", "l", "x1"]],
    crash: ["lpush", "l", "x2"],
    after: [
      ["llen", "l"],
      ["lpop", "l"],
      ["lpop", "l"],
    ],
    expect: [
      { ok: true, length: 2 },
      { ok: true, value: "x2" },
      { ok: true, value: "x1" },
    ],
  },
  {
    point: 8,
    where: "an rpush, linked, tail not yet moved",
    setup: [["rpush", "l", "x1"]],
    crash: ["rpush", "l", "x2"],
    after: [
      ["rpop", "l"],
      ["rpop", "l"],
      ["llen", "l"],
    ],
    expect: [
      { ok: true, value: "x2" },
      { ok: true, value: "x1" },
      { ok: true, length: 0 },
    ],
  },
  {
    point: 9,
    where: "an rpop, unlinked, node not yet freed",
    setup: [
      ["rpush", "l", "x1"],
      ["rpush", "l", "x2"],
      ["rpush", "l", "x3"],
    ],
    crash: ["rpop", "l"],
    after: [
      ["llen", "l"],
      ["lpop", "l"],
      ["lpop", "l"],
    ],
    expect: [
      { ok: true, length: 2 },
      { ok: true, value: "x1" },
      { ok: true, value: "x2" },
    ],
  },
  {
    point: 9,
    where: "an lpop, unlinked, node not yet freed",
    setup: [
      ["rpush", "l", "x1"],
      ["rpush", "l", "x2"],
    ],
    crash: ["lpop", "l"],
    after: [
      ["llen", "l"],
      ["lpop", "l"],
    ],
    expect: [
      { ok: true, length: 1 },
      { ok: true, value: "x2" },
    ],
  },
  {
    point: 16,
    where: "a set of a number, the page of its process's reserve cut into pairs, none listed yet",
    setup: [["set", "k", OLD]],
    crash: ["set", "k", 42],
    after: [["get", "k"]],
    expect: [OLD],
  },
  {
    point: 11,
    where: "a flushAll, two items marked expired",
    setup: [
      ["set", "a", 1],
      ["set", "b", 2],
      ["set", "c", 3],
    ],
    crash: ["flushAll"],
    after: [
      ["get", "c"],
      ["get", "b"],
      ["get", "a"],
    ],
    expect: [undefined, undefined, 1],
  },
];

describe("a lock holder killed at each crash point", () => {
  const sharded = new Set([2, 3, 9]);
  for (const [c, size] of [
    ...CASES.map((c) => [c, 1024 * 1024] as const),
    ...CASES.filter((c) => sharded.has(c.point)).map((c) => [c, 4 * 1024 * 1024] as const),
  ]) {
    const shards = size > 1024 * 1024 ? " (a zone of 4 shards)" : "";
    it(`point ${c.point}, in ${c.where}${shards}: the next locker recovers, check() is clean, the key is old or new, never torn`, async () => {
      const zone = createZone({ name: "points", size });
      setUp(zone, c.setup);
      await dies(zone, [["crashAt", c.point], c.crash]);
      const [health, ...results] = await act(zone, [["health"], ...c.after]);
      assert.deepEqual(health, { recoveries: 1, resets: 0, problems: [] });
      assert.deepEqual(results, c.expect);
      assert.deepEqual(
        await act(zone, [
          ["set", "k2", "v"],
          ["get", "k2"],
        ]),
        [ok, "v"],
      );
    });
  }

  it("point 10: a locker killed while recovering leaves the recovery to the next one", async () => {
    const zone = createZone({ name: "points", size: 1024 * 1024 });
    zone.dict.set("k", OLD);
    await dies(zone, [
      ["crashAt", 2],
      ["set", "k", NEW],
    ]);
    await dies(zone, [
      ["crashAt", 10],
      ["get", "k"],
    ]);
    const [health, value] = await act(zone, [["health"], ["get", "k"]]);
    assert.deepEqual(health, { recoveries: 1, resets: 0, problems: [] });
    assert.equal(value, OLD);
    assert.deepEqual(zoneHealth(zone).problems, []);
  });

  it("zoneStats takes no lock: beside a holder stopped (SIGSTOP) inside a set it answers at once; the set completes when continued (stop 26)", async () => {
    const zone = createZone({ name: "points", size: 1024 * 1024 });
    zone.dict.set("k", OLD);
    const holder = startWithZone("actor", zone, [
      JSON.stringify([
        ["crashAt", -2],
        ["set", "k", NEW],
      ]),
    ]);
    await stoppedWithin(holder, 10_000, "the holder stops at its point, holding the lock");
    const reader = startWithZone("actor", zone, [JSON.stringify([["stats"]])], 10_000);
    const end = await within(reader.done, 5_000, "zoneStats beside a stopped lock holder");
    assert.equal(end.code, 0, end.stderr);
    const [stats] = reader.lines.map((line) => (line as { result: unknown }).result);
    assert.equal((stats as { capacity: number }).capacity, 1024 * 1024);
    assert.equal((stats as { items: number }).items, 1);
    holder.child.kill("SIGCONT");
    assert.equal((await within(holder.done, 10_000, "the continued holder")).code, 0);
    assert.equal(zone.dict.get("k"), NEW);
    assert.deepEqual(zoneHealth(zone), { recoveries: 0, resets: 0, problems: [] });
  });

  it(
    "a locker that cannot see a live holder in /proc waits for it (hidepid=2 hides a process that dropped to config.user, not dumpable, even from its own user): it took the lock after 10 ms as a dead holder's, and both were in the shard at once",
    HIDEPID,
    async () => {
      const zone = createZone({ name: "points", size: 1024 * 1024 });
      zone.dict.set("k", OLD);
      // The holder drops to nobody, as a worker does (it is then not dumpable), and stops inside a
      // set, the shard's lock held: alive, as a busy or descheduled holder is.
      const holder = startWithZone("actor", zone, [
        JSON.stringify([
          ["dropTo", 65534],
          ["crashAt", -2],
          ["set", "k", NEW],
        ]),
      ]);
      await stoppedWithin(holder, 10_000, "the holder stops at its point, holding the lock");
      // The locker: nobody too (kill(pid, 0) works), in a mount namespace whose /proc shows no
      // process that is not dumpable (systemd's ProtectProc=invisible does the same).
      const waiter = startWithZone(
        "actor",
        zone,
        [
          JSON.stringify([
            ["sleep", 0],
            ["set", "k", "the waiter's"],
          ]),
        ],
        30_000,
        HIDDEN_PROC,
      );
      await within(waiter.line(isStep("sleep")), 20_000, "the waiter booting");
      await sleep(1_000);
      assert.deepEqual(
        waiter.lines.filter(isStep("set")),
        [],
        "the waiter must still wait for the live holder",
      );
      holder.child.kill("SIGCONT");
      assert.equal((await within(holder.done, 10_000, "the continued holder")).code, 0);
      const end = await within(waiter.done, 10_000, "the waiter");
      assert.equal(end.code, 0, end.stderr);
      assert.equal(zone.dict.get("k"), "the waiter's");
      assert.deepEqual(zoneHealth(zone), { recoveries: 0, resets: 0, problems: [] });
    },
  );
});
