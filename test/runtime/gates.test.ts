/**
 * The host gate (`singleton: "host"`): claims in tsresty's own zone, the last run on disk for
 * catchUp. Real shared memory (the zone is made in this process, as single mode makes it).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Redis } from "ioredis";
import { resolveConfig } from "../../src/config/index.ts";
import { singleIdentity } from "../../src/process/index.ts";
import { createGates } from "../../src/runtime/gates.ts";
import {
  closeZone,
  createZone,
  installedZone,
  installedZones,
  installZones,
  INTERNAL_ZONE,
} from "../../src/shdict/index.ts";
import { startRedis } from "../helpers/redis.ts";
import { scratchDir } from "../helpers/scratch.ts";
import { until } from "../helpers/tree.ts";
import { startWithZone } from "../shdict/processes.ts";
import { makeTimers } from "../helpers/timer-system.ts";

const noLog = (): void => undefined;

/** The host gate of a process with this pid, under `prefix`. */
function hostGate(prefix: string, pid = process.pid): NonNullable<ReturnType<typeof createGates>["host"]> {
  const gate = createGates(resolveConfig({}), singleIdentity(pid), prefix, noLog).host;
  assert.ok(gate !== undefined);
  return gate;
}

/** A tree's end: its zone of claims goes (the next gate makes its own, as a new tree's master does). */
function endTree(): void {
  const zone = installedZone(INTERNAL_ZONE.name);
  if (zone === undefined) return;
  installZones(installedZones().filter((z) => z !== zone));
  closeZone(zone);
}

describe("the host gate", () => {
  it("a claim is never evicted to make room for others: when the zone is full, new claims fail instead", () => {
    const prefix = scratchDir("host-gate");
    const a = hostGate(prefix, 1001);
    const b = hostGate(prefix, 1002);
    const due = Date.now();
    assert.equal(a.claim("job", due, 100), true);
    // Fill the 1 MiB zone with other names' claims (of a minute's ticks: unexpired meanwhile)
    // until it is full.
    let claimed = 0;
    let full: unknown = null;
    for (let n = 1; n < 10_000 && full === null; n++) {
      try {
        if (a.claim(`${"n".repeat(190)}${n}`, due, 60_000)) claimed++;
      } catch (error) {
        full = error;
      }
    }
    assert.ok(claimed > 100, `${claimed} claims before the zone was full`);
    assert.match(String(full), /cannot claim a tick in the shared dictionary __tsresty: no memory/);
    // Before: the first claim was evicted (least recently used) to make room, and a process that
    // woke late won the same tick again.
    assert.equal(b.claim("job", due, 100), false, "the tick is still taken");
    // The zone is this process's for every test of the file: the next ones start with room.
    const zone = installedZone(INTERNAL_ZONE.name)?.dict;
    zone?.flushAll();
    zone?.flushExpired();
  });

  it("a host singleton holds one key in the zone however fast it ticks: 300 timers of 10 ms run every tick (a key per tick filled the 1 MiB zone and lost ticks)", () => {
    const gate = hostGate(scratchDir("host-gate-many-fast"));
    const wallStart = Date.now();
    const { timers, clock, lines } = makeTimers({ gates: { host: gate }, wallStart });
    let runs = 0;
    for (let i = 0; i < 300; i++)
      timers.every({ interval: 0.01, name: `fast-${i}`, singleton: "host" }, () => {
        runs++;
      });
    // 2 s of ticks at once: with a key per tick, each timer held ~100 live claims (a second and
    // its span each), 30,000 in all, and the zone ran out of room.
    clock.advance(2_000);
    assert.deepEqual(lines, []);
    const ticks = Math.floor((wallStart + 2_000) / 10) - Math.floor(wallStart / 10);
    assert.equal(runs, 300 * ticks);
    const dict = installedZone(INTERNAL_ZONE.name)?.dict;
    const claims = (dict?.getKeys(0) ?? []).filter((key) => key.startsWith("singleton:fast-"));
    assert.equal(claims.length, 300, "one key per name");
    assert.equal(
      dict?.get("singleton:fast-7"),
      Math.floor((wallStart + 2_000) / 10) * 10,
      "the latest tick's due",
    );
    timers.destroy();
  });

  it("a process that wakes late for a tick loses it once a later tick is claimed; a claim of its own due or a later one wins in order", () => {
    const prefix = scratchDir("host-gate-order");
    const a = hostGate(prefix, 1001);
    const b = hostGate(prefix, 1002);
    const due = Date.now();
    assert.equal(a.claim("order", due + 2_000, 1_000), true);
    assert.equal(b.claim("order", due + 1_000, 1_000), false, "an earlier tick: taken (or late)");
    assert.equal(b.claim("order", due + 2_000, 1_000), false, "the same tick: taken");
    assert.equal(b.claim("order", due + 3_000, 1_000), true, "the next tick: free");
    assert.equal(a.claim("order", due + 3_000, 1_000), false);
  });

  it("a claim's key holding something else than a due time fails the claim with the key named", () => {
    const gate = hostGate(scratchDir("host-gate-odd"));
    const dict = installedZone(INTERNAL_ZONE.name)?.dict;
    assert.ok(dict !== undefined);
    dict.set("singleton:odd", "not a number");
    assert.throws(
      () => gate.claim("odd", Date.now(), 1_000),
      /cannot claim a tick in the shared dictionary __tsresty: its key singleton:odd holds string, not a tick's due time/,
    );
    dict.delete("singleton:odd");
    assert.equal(gate.claim("odd", Date.now(), 1_000), true);
  });

  it("three processes claiming the same 100,000 ticks at once win each exactly once (the read and the compare-and-set race in real shared memory)", async () => {
    const zone = createZone({ name: INTERNAL_ZONE.name, size: INTERNAL_ZONE.size });
    const prefix = scratchDir("host-gate-race");
    const count = 100_000;
    const children = [0, 1, 2].map(() =>
      startWithZone("claimer", zone, ["race", String(count), prefix, "3"], 60_000),
    );
    await Promise.all(children.map((c) => c.line((line) => line === "ready")));
    for (const c of children) c.child.stdin?.write("go\n");
    const ends = await Promise.all(children.map((c) => c.done));
    for (const end of ends) assert.equal(end.code, 0, end.stderr);
    const won = children.map((c) => (c.lines.find((l) => typeof l === "object") as { won: number[] }).won);
    const all = won.flat().sort((x, y) => x - y);
    assert.equal(all.length, count, `wins ${won.map((w) => w.length).join(" + ")}`);
    assert.deepEqual(
      all,
      Array.from({ length: count }, (_, i) => i + 1),
    );
    // They raced: no process won every tick (each started once all three had arrived).
    assert.ok(won.filter((w) => w.length > 0).length >= 2, `wins ${won.map((w) => w.length).join(" + ")}`);
    closeZone(zone);
  });

  it("catchUp: a tick claimed and never reported counts as run across a full stop (its process died in it); one reported as not run well does not", () => {
    const prefix = scratchDir("host-gate-claimed");
    const name = "died-in-run";
    const due = 1_800_000_000_000;
    const a = hostGate(prefix, 2001);
    assert.equal(a.lastRun?.(name), null); // asks for the record: catchUp
    a.settled?.(name, due - 1_000, true);
    assert.equal(a.claim(name, due, 1_000), true);
    // No settled: the process died in the run. A process of the next tree (the zone's claims
    // gone with the old tree; a gate of its own reads the prefix) finds the tick taken.
    assert.equal(hostGate(prefix, 2002).lastRun?.(name), due);
    assert.equal(readFileSync(join(prefix, "timers", `${name}.claimed`), "utf8"), `${due}\n`);
    // The next tick claimed and reported as not run well (it threw, or never started): catchUp
    // may run it again, and the last run is the one that ended well before it.
    assert.equal(a.claim(name, due + 1_000, 1_000), true);
    a.settled?.(name, due + 1_000, false);
    assert.equal(hostGate(prefix, 2003).lastRun?.(name), due - 1_000);
    // The next tree catches that tick up (a zone of its own: claimed anew) and dies in its run:
    // the one after it does not run it a third time.
    endTree();
    const c = hostGate(prefix, 2004);
    assert.equal(c.lastRun?.(name), due - 1_000);
    assert.equal(c.claim(name, due + 1_000, 1_000), true);
    assert.equal(hostGate(prefix, 2005).lastRun?.(name), due + 1_000);
    // A name that did not ask for catchUp writes nothing at its claims.
    assert.equal(a.claim("plain", due, 1_000), true);
    a.settled?.("plain", due, false);
    assert.deepEqual(
      readdirSync(join(prefix, "timers")).filter((file) => file.startsWith("plain")),
      [],
    );
  });

  it("catchUp: a name kept before its first tick (a cron not due yet) has its claims and runs on disk", () => {
    const prefix = scratchDir("host-gate-kept");
    const name = "first-tick-ahead";
    const due = 1_800_000_000_000;
    const gate = hostGate(prefix, 2101);
    gate.keep?.(name);
    assert.equal(gate.claim(name, due, 1_000), true);
    gate.settled?.(name, due, true);
    assert.equal(readFileSync(join(prefix, "timers", `${name}.last`), "utf8"), `${due}\n`);
    // The next tree (a zone of its own) knows that tick ran.
    endTree();
    assert.equal(hostGate(prefix, 2102).lastRun?.(name), due);
  });

  it("catchUp keeps the last run of a name too long for a file name under the name's hash", () => {
    const prefix = scratchDir("host-gate-long");
    const gate = hostGate(prefix);
    const name = `long-${"n".repeat(300)}`;
    assert.equal(gate.lastRun?.(name), null); // asks for the record: catchUp
    // Before: ENAMETOOLONG at every tick (logged), and nothing kept across a stop.
    gate.settled?.(name, 1_700_000_000_000, true);
    const [file] = readdirSync(join(prefix, "timers"));
    assert.match(file ?? "", /^sha256-[0-9a-f]{64}\.last$/);
    const fresh = hostGate(prefix);
    assert.equal(fresh.lastRun?.(name), 1_700_000_000_000);
  });

  it("a host claim lives its tick's span and a second, not a minute: a 1 ms timer holds about a thousand claims, not 60,000 (stop 26)", async () => {
    const prefix = scratchDir("host-gate-ttl");
    const a = hostGate(prefix, 1001);
    const b = hostGate(prefix, 1002);
    const due = Date.now();
    assert.equal(a.claim("fast", due, 1), true);
    assert.equal(a.claim("slow", due, 5_000), true);
    const ttl = (key: string): number => {
      const result = installedZone(INTERNAL_ZONE.name)?.dict.ttl(key);
      assert.ok(result?.ok === true, `${key}: ${JSON.stringify(result)}`);
      return result.ttl;
    };
    // Before: 60 s each (a minute at least), so a 1 ms timer kept 60,000 claims and filled the zone.
    assert.ok(ttl("singleton:fast") <= 1.001, String(ttl("singleton:fast")));
    assert.ok(ttl("singleton:slow") <= 6, String(ttl("singleton:slow")));
    assert.ok(ttl("singleton:slow") > 5, "outlives the tick's span");
    assert.equal(b.claim("fast", due, 1), false, "taken while it could still run");
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    // Gone once no process could run it any more (a claim that late is not run: late).
    assert.equal(b.claim("fast", due, 1), true);
    assert.equal(b.claim("slow", due, 5_000), false);
  });

  it("host singletons renamed by the thousand keep being claimed, a catchUp name that stopped at the zone's oldest end among them: names no longer used leave the zone (every run left a last:NAME for ever, and the full zone failed every host singleton's claim with 'no memory')", async () => {
    const gate = hostGate(scratchDir("host-gate-renamed"));
    assert.equal(gate.claim("warm", Date.now(), 1), true); // the zone is made at the first claim, as in single mode
    const dict = installedZone(INTERNAL_ZONE.name)?.dict;
    dict?.flushAll();
    dict?.flushExpired();
    // The oldest items of the zone: a catchUp name's claim and last run, then never used again.
    gate.keep?.("stopped");
    const first = Date.now();
    assert.equal(gate.claim("stopped", first, 1), true);
    gate.settled?.("stopped", first, true);
    // 12,500 names, each claimed and run once (a job per tenant, renamed across deploys): more
    // than the 1 MiB zone holds at once; a round's claims are gone (1 s past their span) before the next.
    for (let round = 0; round < 5; round++) {
      const due = Date.now();
      for (let i = 0; i < 2_500; i++) {
        const name = `tenant-${round}-${i}`;
        assert.equal(gate.claim(name, due, 1), true, name);
        gate.settled?.(name, due, true);
      }
      await new Promise((resolve) => setTimeout(resolve, 1_100));
    }
    assert.equal(gate.lastRun?.("stopped"), first, "the catchUp name's last run is kept");
  });

  it("a tick that did not run, or whose run threw, is not recorded as the last run (stop 26)", () => {
    const prefix = scratchDir("host-gate-notrun");
    const gate = hostGate(prefix);
    assert.equal(gate.lastRun?.("nr"), null); // catchUp: kept on disk too
    gate.settled?.("nr", 1_700_000_000_000, true);
    // Before: recorded, so catchUp never replayed a tick that did not run.
    gate.settled?.("nr", 1_700_000_060_000, false);
    assert.equal(gate.lastRun("nr"), 1_700_000_000_000);
    assert.equal(hostGate(prefix).lastRun?.("nr"), 1_700_000_000_000);
    assert.deepEqual(readdirSync(join(prefix, "timers")), ["nr.last"], "no temporary file left");
  });

  it("ticks more than a ttl's 31.7 years apart (a cron naming the years 2030 and 2070, an every of 10⁹ s) are claimed and run, not refused by the zone", () => {
    const prefix = scratchDir("host-gate-long-span");
    const gate = hostGate(prefix);
    const lines: string[] = [];
    const ran: string[] = [];
    // Two timers, each one second before its tick; the zone takes a ttl of at most 10⁹ s.
    for (const [wallStart, make] of [
      [Date.UTC(2029, 11, 31, 23, 59, 59), "cron"],
      [2e12 - 1000, "every"],
    ] as const) {
      const { timers, clock, lines: logged } = makeTimers({ gates: { host: gate }, wallStart });
      const job = (): void => {
        ran.push(`${make} ${timers.current()?.due ?? "?"}`);
      };
      if (make === "cron")
        timers.cron({ cron: "0 0 0 1 1 * 2030,2070", tz: "UTC", name: "decades", singleton: "host" }, job);
      else timers.every({ interval: 1e9, name: "eons", singleton: "host" }, job);
      clock.advance(1000);
      lines.push(...logged.map((l) => `[${l.level}] ${l.message}`));
    }
    // Before: the claims' ttl (the span to the next tick, 40 years; 10⁹ s + 1 s) was beyond the
    // zone's bound, so the claim threw at each tick: "claim failed … "ttl" must be …", never run.
    assert.deepEqual(lines, []);
    assert.deepEqual(ran, [`cron ${Date.UTC(2030, 0, 1) / 1000}`, `every 2000000000`]);
  });

  it("a singleton name too long for a claim's key in the zone is refused at creation, not failed at every tick", () => {
    const gate = hostGate(scratchDir("host-gate-long-name"));
    const { timers, clock, lines } = makeTimers({ gates: { host: gate } });
    const name = "n".repeat(65_530); // a key holds 65,535 bytes: the claims' keys have room for 65,000
    // Before: created, then every tick's claim threw ("key" must be …), logged as a failed claim.
    assert.throws(
      () => timers.every({ interval: 1, name, singleton: "host" }, () => undefined),
      (error: Error) =>
        error instanceof RangeError &&
        /ngx\.timer\.every: "name" must be .*at most 65000 UTF-8 bytes/.test(error.message),
    );
    assert.throws(
      () =>
        timers.cron({ cron: "* * * * * *", name: "é".repeat(32_501), singleton: "cluster" }, () => undefined),
      /ngx\.timer\.cron: "name" must be .*at most 65000 UTF-8 bytes/,
    );
    const ran: string[] = [];
    timers.every({ interval: 1, name: "n".repeat(65_000), singleton: "host" }, () => ran.push("ran"));
    clock.advance(1000);
    assert.deepEqual(lines, []);
    assert.deepEqual(ran, ["ran"]);
  });

  it("a long singleton name goes by its SHA-256 in the zone's keys: a timer every 50 ms with a 65,000-byte name runs every tick (its claims filled the 1 MiB zone, and a third of its ticks were lost)", () => {
    const gate = hostGate(scratchDir("host-gate-long-claims"));
    const wallStart = Date.now();
    const { timers, clock, lines } = makeTimers({ gates: { host: gate }, wallStart });
    let runs = 0;
    const name = "n".repeat(65_000);
    timers.every({ interval: 0.05, name, singleton: "host", catchUp: true }, () => {
      runs++;
    });
    // The claims live a second or more (real time, in the zone): 3 s of ticks at once all live.
    clock.advance(3_000);
    assert.deepEqual(lines, []);
    // Ticks on the epoch's 50 ms grid (a singleton's), in the 3 s after the start.
    assert.equal(runs, Math.floor((wallStart + 3_000) / 50) - Math.floor(wallStart / 50));
    const dict = installedZone(INTERNAL_ZONE.name)?.dict;
    const digest = createHash("sha256").update(name).digest("hex");
    assert.equal(
      typeof dict?.get(`last:sha256-${digest}`),
      "number",
      "the last run (of a catchUp timer) is kept under the digest",
    );
    const keys = dict?.getKeys(0) ?? [];
    assert.ok(!keys.some((key) => key.length > 300), "no key holds the name itself");
  });

  it("a last run that cannot be written (PREFIX/timers is not a directory) is logged once, not at every tick, and once more when it can be again", () => {
    const prefix = scratchDir("host-gate-unwritable");
    writeFileSync(join(prefix, "timers"), "not a directory");
    const { timers, clock, lines } = makeTimers({ gates: { host: hostGate(prefix) }, wallStart: Date.now() });
    let runs = 0;
    timers.every({ interval: 1, name: "kept", singleton: "host", catchUp: true }, () => {
      runs++;
    });
    clock.advance(10_000);
    assert.equal(runs, 10, "the ticks run");
    // Before: one [warn] per tick (a 1 ms timer: a thousand lines a second).
    assert.deepEqual(
      lines.map((l) => `[${l.level}] ${l.message.replace(/: EEXIST.*/, "")}`),
      [
        '[warn] singleton "host" gate failed to record the end of timer "kept" (said once until it works again)',
      ],
    );
    rmSync(join(prefix, "timers"));
    clock.advance(2_000);
    assert.deepEqual(
      lines.slice(1).map((l) => `[${l.level}] ${l.message}`),
      ['[notice] singleton "host" gate records the end of runs again'],
    );
    assert.deepEqual(readdirSync(join(prefix, "timers")).sort(), ["kept.claimed", "kept.last"]);
    timers.destroy();
  });
});

describe("the cluster gate", () => {
  it("a client that cannot be made fails each claim with an error naming the coordinator, and says why", async () => {
    // The config refuses such a URL now; a gate given one anyway must still say what is wrong.
    const config = {
      ...resolveConfig({}),
      coordinator: { url: "redis://:pa%ss@127.0.0.1:1/0", keyPrefix: "t" },
    };
    const { cluster } = createGates(config, singleIdentity(process.pid), scratchDir("cluster-gate"), noLog);
    assert.ok(cluster !== undefined);
    cluster.prepare?.(); // as a timer's creation does: its failure is left to the first claim
    // Before: only ioredis's "URI malformed", at every claim.
    const expected = {
      message: "cannot make the client of coordinator redis://:***@127.0.0.1:1/0: URI malformed",
    };
    await assert.rejects(async () => cluster.claim("job", 1_000, 1_000), expected);
    await assert.rejects(async () => cluster.lastRun?.("job"), expected);
  });

  it("records the runs of a catchUp name kept before its client was made, and none of a name without catchUp (every name's last run stayed in Redis for ever)", async () => {
    const redis = await startRedis();
    const config = { ...resolveConfig({}), coordinator: { url: redis.url, keyPrefix: "t" } };
    const { cluster } = createGates(config, singleIdentity(process.pid), scratchDir("cluster-keep"), noLog);
    assert.ok(cluster !== undefined);
    const probe = new Redis(redis.url, { lazyConnect: true });
    try {
      cluster.keep?.("caught"); // as a catchUp timer's creation does, before any claim makes the client
      const due = Math.floor(Date.now() / 1000) * 1000;
      for (const name of ["plain", "caught"]) {
        assert.equal(await cluster.claim(name, due, 1_000), true);
        cluster.settled?.(name, due, true);
      }
      assert.ok(await until(async () => (await cluster.lastRun?.("caught")) === due));
      await probe.connect();
      assert.deepEqual(await probe.keys("t:*:last"), ["t:{caught}:last"]);
    } finally {
      probe.disconnect();
      // The client this gate made (a process's own ends with it; the test's must be closed).
      await (cluster as unknown as { made: { close(): Promise<void> } | null }).made?.close();
    }
  });
});
