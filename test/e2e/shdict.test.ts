/**
 * Shared dictionaries in a real tree: the master makes the zones before anything starts, every
 * process maps them, they survive crashes and reloads, and they are gone after stop.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { constants } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { INTERNAL_ZONE } from "../../src/shdict/index.ts";
import { ROOT_ONLY, runTsresty } from "../helpers/processes.ts";
import { scratchApp } from "../helpers/scratch.ts";
import { alive, get, startTree, until } from "../helpers/tree.ts";

/** Pids of processes that map a zone of this name (`/memfd:tsresty-shdict:NAME` in their maps). */
function mappers(zone: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/maps`, "utf8").includes(`memfd:tsresty-shdict:${zone} `)) {
        found.push(Number(entry));
      }
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
}

/** What the test app answers. */
interface Reading {
  foo: unknown;
  fooType: string;
  bah: unknown;
  bahType: string;
  inits: unknown;
  seen: unknown;
  uid: number;
  capacity: number;
}

const APP = `export default {
  init() {
    // OpenResty's init_by_lua + ngx.shared: init fills the zone, workers read it.
    const zone = ngx.shared[process.env.ZONE!]!;
    if (zone.get("foo") === undefined) {
      zone.set("foo", 32);
      zone.set("bah", 10502);
    }
    zone.incr("inits", 1, 0);
  },
  fetch(request: Request) {
    const zone = ngx.shared[process.env.ZONE!]!;
    const path = new URL(request.url).pathname;
    if (path === "/set") zone.set("seen", process.pid);
    const foo = zone.get("foo");
    const bah = zone.get("bah");
    return Response.json({ foo, fooType: typeof foo, bah, bahType: typeof bah, inits: zone.get("inits"), seen: zone.get("seen"), uid: process.getuid?.(), capacity: zone.capacity() });
  },
};
`;

describe("shared dictionaries in a tree", () => {
  it("T-SHD-18: init fills a zone the workers read; values and types survive HUP, a worker crash, and the zone is gone after stop", async () => {
    const zone = `t18_${process.pid}`;
    const dir = scratchApp({ "app.ts": APP });
    const tree = await startTree(join(dir, "app.ts"), {
      workers: 2,
      args: ["--shdict", `${zone} 1m`],
      env: { ZONE: zone },
    });
    const read = async (path = "/"): Promise<Reading> =>
      JSON.parse((await get(tree.url(path))).body) as Reading;
    assert.deepEqual(await read("/set"), {
      foo: 32,
      fooType: "number",
      bah: 10502,
      bahType: "number",
      inits: 1,
      seen: (await read()).seen,
      uid: process.getuid?.(),
      capacity: 1048576,
    });
    const mapped = mappers(zone);
    assert.ok(mapped.includes(tree.masterPid), "the master holds the zone");
    assert.ok(mapped.length >= 3, `the master and both workers map it (${mapped.length})`);

    assert.equal((await tree.command("reload")).code, 0);
    const afterReload = await read();
    assert.equal(afterReload.foo, 32);
    assert.equal(afterReload.fooType, "number");
    assert.equal(afterReload.bah, 10502);
    assert.equal(afterReload.inits, 2, "init ran again (a fresh init process) and saw the zone it filled");

    const worker = (await tree.status()).processes.find((p) => p.type === "worker");
    assert.ok(worker !== undefined);
    process.kill(worker.pid, "SIGKILL");
    assert.ok(await until(() => !alive(worker.pid)));
    assert.equal((await read()).foo, 32, "a worker crash changes nothing");

    const status = await tree.command("status");
    assert.match(status.stdout, new RegExp(`^${zone}\\s+1\\.0 MB\\s+[\\d.]+ [KM]B\\s+4$`, "m"));
    const json = (await tree.report()).zones;
    assert.deepEqual(
      json.map((z) => [z.name, z.capacity, z.items]),
      [
        [zone, 1048576, 4],
        // tsresty's own zone (singleton claims) is listed too; no singleton timer here.
        [INTERNAL_ZONE.name, INTERNAL_ZONE.size, 0],
      ],
    );

    await tree.command("stop");
    await tree.run.done;
    assert.ok(await until(() => mappers(zone).length === 0), "no process maps the zone after stop");
    assert.deepEqual(
      readdirSync("/dev/shm").filter((name) => name.includes("tsresty")),
      [],
      "nothing in /dev/shm",
    );
  });

  it("T-SHD-18: two zones of one name are refused; a flag's zone replaces the config's of that name", async () => {
    const dir = scratchApp({ "app.ts": APP, "c.ts": `export default { shdict: { dogs: "2m" } };\n` });
    const twice = await runTsresty([
      "start",
      join(dir, "app.ts"),
      "--shdict",
      "dogs 1m",
      "--shdict",
      "dogs 2m",
    ]);
    assert.equal(twice.code, 2);
    assert.match(twice.stderr, /--shdict names "dogs" twice: it is already defined/);
    const bad = await runTsresty(["start", join(dir, "app.ts"), "--shdict", "dogs 1k"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--shdict dogs: size must be a size from 8k to 2g/);

    const tree = await startTree(join(dir, "app.ts"), {
      workers: 1,
      args: ["--config", join(dir, "c.ts"), "--shdict", "dogs 1m"],
      env: { ZONE: "dogs" },
    });
    assert.equal((JSON.parse((await get(tree.url())).body) as { capacity: number }).capacity, 1048576);
    await tree.command("stop");
  });

  it("a reload that changes a zone's size says so and gives the new workers a new, empty zone; the others keep theirs", async () => {
    const zone = `resize_${process.pid}`;
    const dir = scratchApp({ "app.ts": APP });
    const config = join(dir, "c.ts");
    writeFileSync(config, `export default { shdict: { ${zone}: "1m", keep_${process.pid}: "64k" } };\n`);
    const tree = await startTree(join(dir, "app.ts"), {
      workers: 1,
      args: ["--config", config],
      env: { ZONE: zone },
    });
    const before = JSON.parse((await get(tree.url())).body) as Reading;
    assert.equal(before.inits, 1);
    writeFileSync(config, `export default { shdict: { ${zone}: "2m", keep_${process.pid}: "64k" } };\n`);
    assert.equal((await tree.command("reload")).code, 0);
    assert.match(
      tree.run.stderr(),
      new RegExp(
        `shared dict "${zone}" changes size from 1048576 to 2097152 bytes: the new workers get a new, empty zone`,
      ),
    );
    const after = JSON.parse((await get(tree.url())).body) as Reading;
    assert.equal(after.capacity, 2097152);
    assert.equal(after.inits, 1, "the new zone started empty; the new init filled it");
    const zones = (await tree.report()).zones.map((z) => [z.name, z.capacity]);
    assert.deepEqual(zones, [
      [zone, 2097152],
      [`keep_${process.pid}`, 65536],
      [INTERNAL_ZONE.name, INTERNAL_ZONE.size],
    ]);
    await tree.command("stop");
  });

  it("a reload that would change a zone's size but fails (init throws) says nothing of a new zone, and keeps the old one (stop 26)", async () => {
    const zone = `failsize_${process.pid}`;
    const app = `export default {
  init() {
    const zone = ngx.shared[process.env.ZONE!]!;
    if (zone.capacity() !== 1048576) throw new Error("init refuses the resized zone");
    zone.incr("inits", 1, 0);
  },
  fetch: () => Response.json({ capacity: ngx.shared[process.env.ZONE!]!.capacity(), inits: ngx.shared[process.env.ZONE!]!.get("inits") }),
};
`;
    const dir = scratchApp({ "app.ts": app });
    const config = join(dir, "c.ts");
    writeFileSync(config, `export default { shdict: { ${zone}: "1m" } };\n`);
    const tree = await startTree(join(dir, "app.ts"), {
      workers: 1,
      args: ["--config", config],
      env: { ZONE: zone },
    });
    writeFileSync(config, `export default { shdict: { ${zone}: "2m" } };\n`);
    assert.notEqual((await tree.command("reload")).code, 0);
    // (init's line comes through the master's pipe, the reload's answer through its socket)
    assert.ok(await until(() => /init refuses the resized zone/.test(tree.run.stderr())), tree.run.stderr());
    assert.doesNotMatch(tree.run.stderr(), /changes size/);
    assert.deepEqual(JSON.parse((await get(tree.url())).body), { capacity: 1048576, inits: 1 });
    assert.deepEqual(
      (await tree.report()).zones.filter((z) => z.name === zone).map((z) => z.capacity),
      [1048576],
    );
    await tree.command("stop");
  });

  it("a process of the old cycle given its slot while a reload stages, not yet mapping its zones when the reload commits, still maps the zone the reload replaced and drains (the master had closed it: 'cannot map shared dict', exit 1)", async () => {
    const zone = `handed_${process.pid}`;
    const dir = scratchApp({
      // The reload's worker is not ready while "hold" exists.
      "app.ts": `import { existsSync } from "node:fs";
const hold = new URL("./hold", import.meta.url);
export default {
  async initWorker() {
    while (existsSync(hold)) await ngx.sleep(0.02);
  },
  fetch: () => new Response(String(process.pid)),
};
`,
    });
    const config = join(dir, "c.ts");
    writeFileSync(config, `export default { shdict: { ${zone}: "64k" } };\n`);
    const tree = await startTree(join(dir, "app.ts"), { workers: 1, args: ["--config", config] });
    const first = Number((await get(tree.url())).body);
    const standby = async (): Promise<number> => {
      const row = (await tree.status()).processes.find((p) => p.type === "standby");
      return row?.state === "running" ? row.pid : 0;
    };
    let taken = 0;
    assert.ok(await until(async () => (taken = await standby()) > 0), "a standby is up");
    writeFileSync(join(dir, "hold"), "");
    writeFileSync(config, `export default { shdict: { ${zone}: "128k" } };\n`);
    const reload = tree.command("reload");
    // The reload's worker takes that standby, and the next one boots: stop it before it is given anything.
    let spare = 0;
    assert.ok(
      await until(async () => (spare = await standby()) > 0 && spare !== taken, 20_000),
      "the next standby is up",
    );
    process.kill(spare, "SIGSTOP");
    after(() => {
      if (alive(spare)) process.kill(spare, "SIGKILL");
    });
    // Worker 0 of the old cycle dies: its slot is given to the stopped standby, with the old zones.
    process.kill(first, "SIGKILL");
    assert.ok(
      await until(() => tree.run.stderr().includes(`start worker process ${spare} (id 0,`)),
      "the old cycle's slot is given to the stopped standby",
    );
    rmSync(join(dir, "hold"));
    assert.equal((await reload).code, 0, "the reload commits");
    process.kill(spare, "SIGCONT");
    assert.ok(await until(() => !alive(spare)), "the old cycle's process leaves once it is continued");
    assert.ok(
      await until(() => tree.run.stderr().includes(`worker process ${spare} (id 0) exited with code 0`)),
      tree.run.stderr(),
    );
    assert.doesNotMatch(tree.run.stderr(), /cannot map shared dict/);
    await tree.command("stop");
  });

  it("workers that drop to config.user still read and write the zones", ROOT_ONLY, async () => {
    const zone = `user_${process.pid}`;
    const dir = scratchApp({ "app.ts": APP, "c.ts": `export default { user: "nobody" };\n` });
    const tree = await startTree(join(dir, "app.ts"), {
      workers: 1,
      args: ["--config", join(dir, "c.ts"), "--shdict", `${zone} 64k`],
      env: { ZONE: zone },
    });
    const body = JSON.parse((await get(tree.url("/set"))).body) as Reading;
    assert.notEqual(body.uid, 0);
    assert.equal(body.foo, 32);
    assert.equal(typeof body.seen, "number");
    await tree.command("stop");
  });

  it("the privileged agent maps the zones too: what it writes the workers read, and what a worker writes it reads, also after it is respawned", async () => {
    const zone = `agent_${process.pid}`;
    const dir = scratchApp({
      "app.ts": `export default {
  init() {
    ngx.process.enablePrivilegedAgent();
  },
  initWorker() {
    if (ngx.process.type() !== "privileged agent") return;
    const zone = ngx.shared[process.env.ZONE!]!;
    zone.set("agent", process.pid);
    // The agent's job: count, and answer what a worker asked, in the zone.
    ngx.timer.every(0.05, () => {
      zone.incr("beats", 1, 0);
      const asked = zone.get("ask");
      if (asked !== undefined) zone.set("answer", \`\${String(asked)} seen by \${process.pid}\`);
    });
  },
  fetch(request: Request) {
    const zone = ngx.shared[process.env.ZONE!]!;
    const ask = new URL(request.url).searchParams.get("ask");
    if (ask !== null) zone.set("ask", ask);
    return Response.json({ agent: zone.get("agent"), beats: zone.get("beats"), answer: zone.get("answer") ?? null, type: ngx.process.type() });
  },
};
`,
    });
    const tree = await startTree(join(dir, "app.ts"), {
      workers: 2,
      args: ["--shdict", `${zone} 64k`],
      env: { ZONE: zone },
    });
    interface Seen {
      agent: number;
      beats: number;
      answer: string | null;
      type: string;
    }
    const read = async (query = ""): Promise<Seen> =>
      JSON.parse((await get(tree.url(`/${query}`))).body) as Seen;
    const agentPid = async (): Promise<number | undefined> =>
      (await tree.status()).processes.find((p) => p.type === "privileged agent")?.pid;
    const agent = await agentPid();
    assert.ok(agent !== undefined);
    assert.ok(mappers(zone).includes(agent), "the agent maps the zone");

    // The agent writes, the workers read.
    assert.ok(await until(async () => (await read()).agent === agent), "a worker reads the agent's pid");
    const first = await read();
    assert.equal(first.type, "worker");
    assert.ok(await until(async () => (await read()).beats > first.beats), "the agent's counter grows");

    // A worker writes, the agent reads (and answers through the zone).
    await read("?ask=one");
    assert.ok(
      await until(async () => (await read()).answer === `one seen by ${agent}`),
      JSON.stringify(await read()),
    );

    // A respawned agent finds the zone as it was and keeps using it.
    process.kill(agent, "SIGKILL");
    let next: number | undefined;
    assert.ok(
      await until(async () => {
        next = await agentPid();
        return next !== undefined && next !== agent && (await read()).agent === next;
      }, 20_000),
      "the new agent wrote its pid",
    );
    const kept = await read();
    assert.ok(kept.beats > first.beats, "the old agent's count is still there");
    await read("?ask=two");
    assert.ok(
      await until(async () => (await read()).answer === `two seen by ${String(next)}`),
      JSON.stringify(await read()),
    );
    await tree.command("stop");
  });

  it("a worker and an init process busy in a loop and an agent stopped (SIGSTOP) when the master is SIGKILLed end too, and the zone with them (they held it and the listening socket for as long as they looped or were stopped)", async () => {
    const zone = `busy_${process.pid}`;
    const dir = scratchApp({
      "app.ts": `export default {
  init() {
    ngx.process.enablePrivilegedAgent();
    const zone = ngx.shared[process.env.ZONE!]!;
    // The reload's init loops (the first one marked the zone).
    if (zone.get("started") === true) for (;;) zone.incr("spins", 1, 0);
    zone.set("started", true);
  },
  fetch(request: Request) {
    if (new URL(request.url).pathname === "/spin") for (;;) ngx.shared[process.env.ZONE!]!.incr("spins", 1, 0);
    return new Response(String(process.pid));
  },
};
`,
    });
    const tree = await startTree(join(dir, "app.ts"), {
      workers: 1,
      args: ["--shdict", `${zone} 64k`],
      env: { ZONE: zone },
    });
    const state = (pid: number): string | undefined =>
      readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.[0];
    const worker = Number((await get(tree.url())).body);
    const agent = (await tree.status()).processes.find((p) => p.type === "privileged agent")?.pid;
    assert.ok(agent !== undefined);
    fetch(tree.url("/spin")).catch(() => undefined);
    const reload = tree.command("reload");
    // The worker loops, and the reload's init process loops too; the agent is stopped.
    const init = (): number[] =>
      mappers(zone).filter((pid) => ![tree.masterPid, worker, agent].includes(pid));
    assert.ok(await until(() => init().length > 0, 20_000), "the reload's init process maps the zone");
    const children = [worker, agent, ...init()];
    // (the tree's helper kills the master and the children it saw; the init process is this test's)
    after(() => {
      for (const pid of children.filter((p) => alive(p))) process.kill(pid, "SIGKILL");
    });
    process.kill(agent, "SIGSTOP");
    assert.ok(
      await until(() => children.every((pid) => state(pid) === (pid === agent ? "T" : "R"))),
      "two loop, one is stopped",
    );
    process.kill(tree.masterPid, "SIGKILL");
    await reload;
    assert.ok(
      await until(() => children.every((pid) => !alive(pid)), 10_000),
      `still alive: ${children.filter((pid) => alive(pid)).join(" ")}`,
    );
    assert.deepEqual(mappers(zone), [], "no process maps the zone");
  });

  it("the thread that watches the master sleeps until the master dies: a live worker's and agent's do not wake (they woke every 200 ms, ten times in 2 s)", async () => {
    const dir = scratchApp({
      "app.ts": `export default {
  init() {
    ngx.process.enablePrivilegedAgent();
  },
  fetch() {
    return new Response(String(process.pid));
  },
};
`,
    });
    const tree = await startTree(join(dir, "app.ts"), { workers: 1 });
    const worker = Number((await get(tree.url())).body);
    const agent = (await tree.status()).processes.find((p) => p.type === "privileged agent")?.pid;
    assert.ok(agent !== undefined);
    // The threads that take no signal (SIGTERM blocked; the watch thread blocks all), and how
    // often each went to sleep by itself.
    const sleepers = (pid: number): Map<string, number> => {
      const found = new Map<string, number>();
      for (const tid of readdirSync(`/proc/${pid}/task`)) {
        const status = readFileSync(`/proc/${pid}/task/${tid}/status`, "utf8");
        const blocked = BigInt(`0x${/^SigBlk:\s*([0-9a-f]+)$/m.exec(status)?.[1] ?? "0"}`);
        const switches = Number(/^voluntary_ctxt_switches:\s*(\d+)$/m.exec(status)?.[1]);
        if ((blocked >> BigInt(constants.signals.SIGTERM - 1)) & 1n) found.set(tid, switches);
      }
      return found;
    };
    for (const pid of [worker, agent]) {
      const before = sleepers(pid);
      assert.ok(before.size > 0, `process ${pid} has a thread that takes no signal`);
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      const woke = [...sleepers(pid)].map(([tid, n]) => [tid, n - (before.get(tid) ?? n)] as const);
      assert.ok(
        woke.every(([, n]) => n < 5),
        `process ${pid}'s threads woke in 2 s: ${woke.map(([tid, n]) => `${tid}: ${n}`).join(", ")}`,
      );
    }
    await tree.command("stop");
  });

  it("a worker whose graceful exit cuts a job holding an ngx.lock at shutdownTimeout releases the lock as it exits, as OpenResty's (the new workers waited the whole exptime)", async () => {
    const dir = scratchApp({
      "app.ts": `export default {
  initWorker() {
    const zone = ngx.shared["locks"]!;
    if (zone.add("first", process.pid).ok)
      ngx.timer.at(0, async () => {
        const got = await ngx.lock("locks", { exptime: 60 }).lock("job");
        zone.set("holder", JSON.stringify(got));
        await new Promise(() => {}); // a job that never ends: cut at shutdownTimeout
      });
  },
  async fetch() {
    const zone = ngx.shared["locks"]!;
    const taken = await ngx.lock("locks", { timeout: 0 }).lock("job");
    return Response.json({ pid: process.pid, first: zone.get("first"), holder: zone.get("holder") ?? null, taken });
  },
};
`,
      "c.ts": `export default { shdict: { locks: "1m" }, shutdownTimeout: 1 };\n`,
    });
    const tree = await startTree(join(dir, "app.ts"), { workers: 1, args: ["--config", join(dir, "c.ts")] });
    interface Seen {
      pid: number;
      first: number;
      holder: string | null;
      taken: unknown;
    }
    const read = async (): Promise<Seen> => JSON.parse((await get(tree.url())).body) as Seen;
    assert.ok(await until(async () => (await read()).holder !== null), "the job took the lock");
    const before = await read();
    assert.equal(before.holder, JSON.stringify({ ok: true, elapsed: 0 }));
    assert.deepEqual(before.taken, { ok: false, reason: "timeout" }, "held by the job");

    assert.equal((await tree.command("reload")).code, 0);
    assert.ok(await until(() => !alive(before.first), 20_000), "the old worker exits");
    const cut = /shutdownTimeout \(1 s\) reached while draining, with 1 timers running/;
    assert.ok(await until(() => cut.test(tree.run.stderr())), "the job was cut, not ended");
    const later = await read();
    assert.notEqual(later.pid, before.first);
    assert.deepEqual(later.taken, { ok: true, elapsed: 0 }, "the exited worker's lock is free");
    await tree.command("stop");
  });

  it("a worker SIGKILLed while it holds an ngx.lock: the other worker, waiting, gets it once the key's exptime has passed, not before (a killed process releases nothing)", async () => {
    const dir = scratchApp({
      "app.ts": `export default {
  initWorker() {
    const zone = ngx.shared["locks"]!;
    if (ngx.worker.id() === 0 && zone.add("first", process.pid).ok)
      ngx.timer.at(0, async () => {
        const got = await ngx.lock("locks", { exptime: 5 }).lock("job");
        zone.set("locked", JSON.stringify({ got, at: Date.now() }));
        await new Promise(() => {}); // holds it until killed
      });
    if (ngx.worker.id() === 1)
      ngx.timer.at(0, async () => {
        while (zone.get("locked") === undefined) await ngx.sleep(0.01);
        const got = await ngx.lock("locks", { timeout: 30, maxStep: 0.05 }).lock("job");
        zone.set("waited", JSON.stringify({ got, at: Date.now() }));
      });
  },
  fetch() {
    const zone = ngx.shared["locks"]!;
    return Response.json({ first: zone.get("first") ?? null, locked: zone.get("locked") ?? null, waited: zone.get("waited") ?? null, ttl: zone.ttl("job") });
  },
};
`,
    });
    const tree = await startTree(join(dir, "app.ts"), { workers: 2, args: ["--shdict", "locks 1m"] });
    interface Seen {
      first: number | null;
      locked: string | null;
      waited: string | null;
      ttl: { ok: boolean; ttl?: number };
    }
    const read = async (): Promise<Seen> => JSON.parse((await get(tree.url())).body) as Seen;
    assert.ok(await until(async () => (await read()).locked !== null, 20_000), "worker 0 took the lock");
    const held = await read();
    assert.ok(held.ttl.ok && (held.ttl.ttl ?? 0) > 0, `still held when killed: ${JSON.stringify(held.ttl)}`);
    process.kill(held.first ?? 0, "SIGKILL");
    assert.ok(await until(async () => (await read()).waited !== null, 30_000), "worker 1 got an answer");
    const end = await read();
    const locked = JSON.parse(held.locked ?? "") as { got: unknown; at: number };
    const waited = JSON.parse(end.waited ?? "") as { got: { ok: boolean }; at: number };
    assert.deepEqual(locked.got, { ok: true, elapsed: 0 });
    assert.equal(waited.got.ok, true, JSON.stringify(waited.got));
    assert.ok(
      waited.at - locked.at >= 5_000 - 50,
      `taken ${waited.at - locked.at} ms after it was locked (exptime 5 s)`,
    );
    const zero = (await tree.status()).processes.find((p) => p.type === "worker" && p.id === 0);
    assert.ok(zero !== undefined && zero.pid !== held.first, "worker 0 was respawned");
    await tree.command("stop");
  });

  it("20 waiters on one ngx.lock key across 2 workers: each gets it once, alone, and unlocks it; none times out", async () => {
    const dir = scratchApp({
      "app.ts": `export default {
  initWorker() {
    const zone = ngx.shared["locks"]!;
    const id = ngx.worker.id();
    ngx.timer.at(0, async () => {
      await Promise.all(Array.from({ length: 10 }, async (_, i) => {
        const lock = ngx.lock("locks", { exptime: 60, timeout: 60, maxStep: 0.05 });
        const got = await lock.lock("job");
        if (!got.ok) { zone.rpush("failed", JSON.stringify(got)); return; }
        const inside = zone.incr("inside", 1, 0);
        if (!inside.ok || inside.value !== 1) zone.rpush("failed", "not alone: " + JSON.stringify(inside));
        zone.rpush("took", id + ":" + i);
        await ngx.sleep(0.01);
        zone.incr("inside", -1);
        const released = lock.unlock();
        if (!released.ok) zone.rpush("failed", "unlock: " + JSON.stringify(released));
      }));
      zone.incr("done", 1, 0);
    });
  },
  fetch() {
    const zone = ngx.shared["locks"]!;
    const all = (key: string): unknown[] => { const out: unknown[] = []; for (let v = zone.lpop(key); v.ok && v.value !== undefined; v = zone.lpop(key)) out.push(v.value); return out; };
    return Response.json({ done: zone.get("done") ?? 0, took: zone.get("done") === 2 ? all("took") : [], failed: all("failed"), held: zone.get("job") !== undefined });
  },
};
`,
    });
    const tree = await startTree(join(dir, "app.ts"), { workers: 2, args: ["--shdict", "locks 1m"] });
    interface Seen {
      done: number;
      took: string[];
      failed: unknown[];
      held: boolean;
    }
    let seen: Seen | undefined;
    const failed: unknown[] = [];
    assert.ok(
      await until(async () => {
        seen = JSON.parse((await get(tree.url())).body) as Seen;
        failed.push(...seen.failed);
        return seen.done === 2;
      }, 60_000),
      `both workers' waiters ended: ${JSON.stringify(seen)}`,
    );
    assert.deepEqual(failed, []);
    const expected = [0, 1].flatMap((id) => Array.from({ length: 10 }, (_, i) => `${id}:${i}`));
    assert.deepEqual([...(seen?.took ?? [])].sort(), expected.sort(), "each waiter took the lock once");
    assert.equal(seen?.held, false, "nobody holds it at the end");
    await tree.command("stop");
  });

  it("reloads while every worker increments counters in a loop lose no increment: the shared total is the sum of each process's own, old workers' included", async () => {
    const dir = scratchApp({
      "app.ts": `export default {
  initWorker() {
    const zone = ngx.shared["counts"]!;
    const own = "w:" + process.pid;
    const timer = ngx.timer.every(0.002, () => {
      if (zone.get("stop") !== undefined) {
        timer.cancel();
        zone.set("stopped:" + process.pid, true);
        return;
      }
      for (let i = 0; i < 20; i++) {
        zone.incr("total", 1, 0);
        zone.incr(own, 1, 0);
      }
    });
  },
  fetch(request: Request) {
    const zone = ngx.shared["counts"]!;
    if (new URL(request.url).pathname === "/stop") zone.set("stop", true);
    const keys = zone.getKeys(0);
    const own = keys.filter((k) => k.startsWith("w:")).map((k) => zone.get(k) as number);
    return Response.json({ total: zone.get("total") ?? 0, sum: own.reduce((a, b) => a + b, 0), writers: own.length, stopped: keys.filter((k) => k.startsWith("stopped:")).map((k) => Number(k.slice(8))) });
  },
};
`,
    });
    const tree = await startTree(join(dir, "app.ts"), { workers: 2, args: ["--shdict", "counts 1m"] });
    interface Seen {
      total: number;
      sum: number;
      writers: number;
      stopped: number[];
    }
    const read = async (path = "/"): Promise<Seen> => JSON.parse((await get(tree.url(path))).body) as Seen;
    const workers = async (): Promise<number[]> =>
      (await tree.status()).processes.filter((p) => p.type === "worker").map((p) => p.pid);
    for (let cycle = 1; cycle <= 4; cycle++) {
      // Both workers of this cycle have written before the next reload retires them.
      assert.ok(
        await until(async () => (await read()).writers >= 2 * cycle, 20_000),
        `cycle ${cycle}'s writers`,
      );
      if (cycle < 4) assert.equal((await tree.command("reload")).code, 0);
    }
    // Once the old workers have left, the live ones stop writing: then nothing changes the counts.
    assert.ok(await until(async () => (await workers()).length === 2, 20_000), "the old workers left");
    const live = await workers();
    await read("/stop");
    assert.ok(
      await until(async () => {
        const stopped = (await read()).stopped;
        return live.every((pid) => stopped.includes(pid));
      }, 20_000),
      "the live workers stopped writing",
    );
    const end = await read();
    assert.equal(end.writers, 8, "every worker of the 4 cycles counted");
    assert.equal(end.total, end.sum, "no increment lost");
    await tree.command("stop");
  });

  it("what a worker set aside for adds without the lock does not outlive it: after each of ten rounds of a worker that adds and deletes keys and is SIGKILLed, its successor, which adds nothing, finds freeSpace() as in the empty zone (it stayed lower by the dead worker's reserve until another process added)", async () => {
    const zone = `reserve_${process.pid}`;
    const dir = scratchApp({
      "app.ts": `export default {
  fetch(request: Request) {
    const zone = ngx.shared[process.env.ZONE!]!;
    if (new URL(request.url).pathname === "/churn") {
      // numbers: adds without the lock, from the worker's reserve; the deletes refill it
      for (let i = 0; i < 300; i++) zone.add(\`k\${i}\`, i);
      for (let i = 0; i < 300; i++) zone.delete(\`k\${i}\`);
    }
    return Response.json({ pid: process.pid, free: zone.freeSpace(), keys: zone.getKeys(0).length });
  },
};
`,
    });
    const tree = await startTree(join(dir, "app.ts"), {
      workers: 1,
      args: ["--shdict", `${zone} 4m`],
      env: { ZONE: zone },
      // ten respawns, each after up to 1 s of backoff
      deadlineMs: 120_000,
    });
    /** What a worker answers: its pid, freeSpace(), and how many keys the zone holds. */
    const read = async (path: string): Promise<{ pid: number; free: number; keys: number }> =>
      JSON.parse((await get(tree.url(path))).body) as { pid: number; free: number; keys: number };
    const empty = await read("/");
    for (let round = 1; round <= 10; round++) {
      const churned = await read("/churn");
      assert.equal(churned.keys, 0, `round ${round}: the keys are deleted`);
      assert.ok(
        churned.free < empty.free,
        `round ${round}: the live worker holds a reserve (${churned.free})`,
      );
      process.kill(churned.pid, "SIGKILL");
      assert.ok(
        await until(
          async () =>
            (await tree.status()).processes.some((p) => p.type === "worker" && p.pid !== churned.pid),
          20_000,
        ),
        `round ${round}: the worker is respawned`,
      );
      const next = await read("/");
      assert.notEqual(next.pid, churned.pid);
      assert.deepEqual(next, { pid: next.pid, free: empty.free, keys: 0 }, `round ${round}`);
      const stats = (await tree.report()).zones.find((z) => z.name === zone);
      assert.equal(stats?.freeSpace, empty.free, `round ${round}: status shows it too`);
    }
    await tree.command("stop");
    await tree.run.done;
  });

  it("T-CLI-09: resty --shdict in single mode", async () => {
    const r = await runTsresty([
      "--shdict",
      "dogs 1m",
      "-e",
      'ngx.shared.dogs?.set("a", 1); console.log(ngx.shared.dogs?.get("a"))',
    ]);
    assert.deepEqual([r.code, r.stdout, r.stderr], [0, "1\n", ""]);
  });
});
