/**
 * Issue 13 item 4, systemd: `Type=notify`. The test plays systemd: it binds a datagram socket,
 * passes it as NOTIFY_SOCKET and reads what the master says (the addon's receiver; Node has no
 * unix datagram sockets). The checked-in unit file is verified by systemd-analyze and against
 * the config's defaults.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { closeSync, fstatSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { START_SHUTDOWN_TIMEOUT, stopBudget } from "../../src/config/index.ts";
import { systemCalls } from "../../src/shdict/index.ts";
import { BIN, ROOT } from "../helpers/processes.ts";
import { scratchApp, scratchDir } from "../helpers/scratch.ts";
import { get, startTree, until } from "../helpers/tree.ts";

interface Heard {
  readonly at: number;
  readonly text: string;
}

/**
 * A datagram socket in the role of systemd's notify socket; what it hears, in order. `paused`: it
 * reads nothing until resume() (a systemd that does not read for a while).
 */
function notifySocket(
  address: string,
  paused = false,
): { heard: Heard[]; fields: (index: number) => Map<string, string>; resume: () => void } {
  const calls = systemCalls();
  const fd = calls.datagramBind(address);
  const heard: Heard[] = [];
  let reading = !paused;
  const poll = setInterval(() => {
    if (!reading) return;
    for (let text = calls.datagramReceive(fd); text !== undefined; text = calls.datagramReceive(fd))
      heard.push({ at: Date.now(), text });
  }, 5);
  after(() => {
    clearInterval(poll);
    calls.datagramClose(fd);
  });
  return {
    heard,
    fields: (index) =>
      new Map((heard[index]?.text ?? "").split("\n").map((line) => line.split("=", 2) as [string, string])),
    resume: () => {
      reading = true;
    },
  };
}

const APP = `
export default {
  async initWorker() {
    await ngx.sleep(0.8);
    process.stdout.write(\`initWorker done id=\${ngx.worker.id()} at=\${Date.now()} notify=\${process.env.NOTIFY_SOCKET}\\n\`);
  },
  fetch: () => new Response("ok"),
};
`;

describe("systemd Type=notify", () => {
  it("READY=1 with MAINPID once every worker is ready, RELOADING=1 then READY=1 at a reload, STOPPING=1 at a stop", async () => {
    const address = `@tsresty-notify-${process.pid}-${Date.now()}`;
    const socket = notifySocket(address);
    const dir = scratchApp({ "app.ts": APP });
    const tree = await startTree(join(dir, "app.ts"), { workers: 2, env: { NOTIFY_SOCKET: address } });
    assert.ok(await until(() => socket.heard.length >= 1, 5_000), "no READY=1");
    const ready = socket.fields(0);
    assert.equal(ready.get("READY"), "1");
    assert.equal(ready.get("MAINPID"), String(tree.masterPid));
    // Both workers were ready before the master said so (their last log line came first).
    const done = [...tree.run.output().matchAll(/initWorker done id=(\d) at=(\d+) notify=(\S+)/g)];
    assert.deepEqual(done.map((m) => m[1]).sort(), ["0", "1"]);
    for (const m of done)
      assert.ok(Number(m[2]) <= (socket.heard[0]?.at ?? 0), "READY=1 came before a worker was ready");
    // Only the master speaks for the service: the workers do not inherit NOTIFY_SOCKET.
    assert.deepEqual(
      done.map((m) => m[3]),
      ["undefined", "undefined"],
    );
    assert.equal((await get(tree.url("/"))).body, "ok");

    const before = process.hrtime.bigint() / 1000n;
    // HUP, as systemd's ExecReload sends it (no client deadline: a loaded machine reloads slowly).
    process.kill(tree.masterPid, "SIGHUP");
    assert.ok(await until(() => socket.heard.length >= 3, 60_000), "no RELOADING=1, READY=1 pair");
    const reloading = socket.fields(1);
    assert.equal(reloading.get("RELOADING"), "1");
    // CLOCK_MONOTONIC, as systemd reads it: between the test's readings before and after.
    const usec = BigInt(reloading.get("MONOTONIC_USEC") ?? "0");
    assert.ok(usec >= before && usec <= process.hrtime.bigint() / 1000n, `MONOTONIC_USEC ${usec}`);
    assert.equal(socket.fields(2).get("READY"), "1");
    // The new generation's workers were ready before READY=1.
    // (their lines come through the master's pipes, which it may read after their IPC "ready")
    const lines = (): RegExpExecArray[] => [...tree.run.output().matchAll(/initWorker done id=\d at=(\d+)/g)];
    assert.ok(await until(() => lines().length >= 4, 10_000), tree.run.output());
    const reloaded = lines().slice(2);
    assert.equal(reloaded.length, 2);
    for (const m of reloaded) assert.ok(Number(m[1]) <= (socket.heard[2]?.at ?? 0));

    process.kill(tree.masterPid, "SIGTERM");
    await tree.run.done;
    assert.ok(await until(() => socket.heard.length >= 4, 2_000));
    assert.equal(socket.fields(3).get("STOPPING"), "1");
    assert.deepEqual(
      socket.heard.map((h) => h.text.split("\n")[0]),
      ["READY=1", "RELOADING=1", "READY=1", "STOPPING=1"],
    );
  });

  it("a reload that fails still ends with READY=1: the old generation keeps serving", async () => {
    const address = `@tsresty-notify-fail-${process.pid}-${Date.now()}`;
    const socket = notifySocket(address);
    const dir = scratchApp({ "app.ts": `export default { fetch: () => new Response("ok") };\n` });
    const tree = await startTree(join(dir, "app.ts"), { workers: 1, env: { NOTIFY_SOCKET: address } });
    writeFileSync(
      join(dir, "app.ts"),
      `export default { init() { throw new Error("broken"); }, fetch: () => new Response("x") };\n`,
    );
    process.kill(tree.masterPid, "SIGHUP");
    assert.ok(await until(() => socket.heard.length >= 3, 60_000));
    // The master logs the failure before it says READY=1, but the test reads its stderr pipe and
    // the datagram socket apart: the line may come in after the datagram (CI, stop 66).
    const failed = /reload failed, the running workers keep serving: .*broken/;
    assert.ok(await until(() => failed.test(tree.run.stderr()), 10_000), tree.run.stderr());
    assert.deepEqual(
      socket.heard.map((h) => h.text.split("\n")[0]),
      ["READY=1", "RELOADING=1", "READY=1"],
    );
    assert.equal((await get(tree.url("/"))).body, "ok");
    process.kill(tree.masterPid, "SIGQUIT");
    await tree.run.done;
  });

  it("a notify socket that is not read does not hold the master: reloads and status go on, and what it says arrives in order once the socket is read (past the ten datagrams its queue holds, the master hung in sendto for good)", async () => {
    const address = `@tsresty-notify-full-${process.pid}-${Date.now()}`;
    const socket = notifySocket(address, true);
    const dir = scratchApp({ "app.ts": `export default { fetch: () => new Response("ok") };\n` });
    const tree = await startTree(join(dir, "app.ts"), { workers: 1, env: { NOTIFY_SOCKET: address } });
    // READY=1, then two datagrams a reload: more than the queue of an unread socket holds.
    const reloads = 6;
    for (let i = 1; i <= reloads; i++) {
      const reload = await tree.command("reload");
      assert.equal(reload.code, 0, `reload ${i}: ${reload.stderr}`);
    }
    assert.equal((await tree.command("status")).code, 0);
    assert.equal((await get(tree.url("/"))).body, "ok");
    const said =
      /\[alert\] \d+#-: cannot notify systemd at @tsresty-notify-full-\S+: its queue has been full for 5 s \(nothing read\); trying again every 100 ms\n/;
    assert.ok(await until(() => said.test(tree.run.stderr()), 10_000), tree.run.stderr());
    socket.resume();
    const expected = ["READY=1", ...Array.from({ length: reloads }, () => ["RELOADING=1", "READY=1"]).flat()];
    assert.ok(
      await until(() => socket.heard.length >= expected.length, 10_000),
      `heard ${socket.heard.length}`,
    );
    assert.deepEqual(
      socket.heard.map((h) => h.text.split("\n")[0]),
      expected,
    );
    await tree.command("stop");
    await tree.run.done;
  });

  it("notify sends to a socket path as well as to an abstract @name, and reports a missing socket", () => {
    const path = join(scratchDir("notify"), "notify.sock");
    const socket = notifySocket(path);
    assert.equal(systemCalls().notify(path, "READY=1"), undefined);
    assert.match(
      systemCalls().notify(`${path}.missing`, "READY=1") ?? "",
      /^sendto: No such file or directory$/,
    );
    return until(() => socket.heard.length === 1, 2_000).then((heard) => {
      assert.ok(heard);
      assert.equal(socket.heard[0]?.text, "READY=1");
    });
  });
});

describe("what notify sends, at its limits", () => {
  /** A datagram socket bound at `address` for one test: what waits on it, read at once. */
  const bound = (address: string): { waiting: () => string[] } => {
    const calls = systemCalls();
    const fd = calls.datagramBind(address);
    after(() => {
      calls.datagramClose(fd);
    });
    return {
      waiting: () => {
        const texts: string[] = [];
        for (let text = calls.datagramReceive(fd); text !== undefined; text = calls.datagramReceive(fd))
          texts.push(text);
        return texts;
      },
    };
  };

  it("a message of 4096 bytes (systemd's limit) is sent whole and one of 4097 is refused naming the limit (the refusal said 'less than 4096 bytes', and 4094 was the most sent), a character that would cross the limit included (it was cut off and the rest sent)", () => {
    const address = `@tsresty-notify-limit-${process.pid}-${Date.now()}`;
    const socket = bound(address);
    const notify = (socket: string, message: string): string | null | undefined =>
      systemCalls().notify(socket, message);
    const accepted = ["a".repeat(4096), `${"a".repeat(4094)}é`, `${"a".repeat(4093)}€`];
    for (const message of accepted) assert.equal(notify(address, message), undefined);
    assert.deepEqual(socket.waiting(), accepted);
    for (const message of ["a".repeat(4097), `${"a".repeat(4094)}€`, `${"a".repeat(4095)}é`])
      assert.throws(() => notify(address, message), {
        message: "notify: the message must be of at most 4096 bytes (UTF-8), not 4097",
      });
    assert.throws(() => notify(address, 5 as unknown as string), {
      message: "notify: the message must be a string",
    });
    assert.deepEqual(socket.waiting(), []);
  });

  it("a socket name that is too long or holds a NUL is refused, not cut short into another socket's name (the 107 bytes before a character that did not fit, or those before the NUL, got the message)", () => {
    const notify = (socket: string, message: string): string | null | undefined =>
      systemCalls().notify(socket, message);
    const longest = `@tsresty-${process.pid}-`.padEnd(107, "x");
    const short = `@tsresty-nul-${process.pid}-${Date.now()}`;
    const atLongest = bound(longest);
    const atShort = bound(short);
    const refusal = {
      message: "notify: the socket must be an absolute path or an @name, of 2 to 107 bytes without NUL",
    };
    assert.throws(() => notify(`${longest}é`, "READY=1"), refusal);
    assert.throws(() => notify(`${longest}x`, "READY=1"), refusal);
    assert.throws(() => notify(`${short}\0tail`, "READY=1"), refusal);
    assert.deepEqual([atLongest.waiting(), atShort.waiting()], [[], []]);
    assert.equal(notify(longest, "READY=1"), undefined);
    assert.deepEqual(atLongest.waiting(), ["READY=1"]);
  });
});

describe("the tests' notify socket (the addon's datagramBind, datagramReceive, datagramClose)", () => {
  it("an error names the call and the socket, and a descriptor that is not a unix datagram socket is refused, not closed (one was closed, and 0 to 2 or a negative number passed over without a word)", () => {
    const calls = systemCalls();
    const address = `@tsresty-notify-twice-${process.pid}-${Date.now()}`;
    const fd = calls.datagramBind(address);
    try {
      assert.throws(() => calls.datagramBind(address), {
        message: `datagramBind ${address}: Address already in use`,
      });
    } finally {
      calls.datagramClose(fd);
    }
    const file = openSync(join(scratchDir("notify"), "file"), "w");
    try {
      for (const [call, descriptor] of [
        ["datagramClose", file],
        ["datagramReceive", file],
        ["datagramClose", 1],
        ["datagramClose", -1],
      ] as const) {
        assert.throws(() => calls[call](descriptor), {
          message: `${call}: descriptor ${descriptor} is not a unix datagram socket`,
        });
      }
      assert.equal(fstatSync(file).isFile(), true, "the file is still open");
    } finally {
      closeSync(file);
    }
  });
});

describe("docs/tsresty.service", () => {
  const unit = readFileSync(join(ROOT, "docs/tsresty.service"), "utf8");
  const keys = new Map(
    unit
      .split("\n")
      .filter((line) => /^\w+=/.test(line))
      .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)] as const),
  );

  it("is Type=notify with NotifyAccess=main, reloads with HUP, stops with TERM (graceful by default) to the master only", () => {
    assert.equal(keys.get("Type"), "notify");
    assert.equal(keys.get("NotifyAccess"), "main");
    assert.equal(keys.get("ExecReload"), "/bin/kill -HUP $MAINPID");
    assert.equal(keys.get("KillSignal"), "SIGTERM");
    assert.equal(keys.get("KillMode"), "mixed");
    assert.match(keys.get("ExecStart") ?? "", /\/tsresty start /);
  });

  it("TimeoutStopSec is longer than the master's bound for a graceful stop with the default shutdownTimeout", () => {
    const budget = stopBudget("graceful", START_SHUTDOWN_TIMEOUT);
    assert.ok(
      Number(keys.get("TimeoutStopSec")) > budget,
      `TimeoutStopSec ${keys.get("TimeoutStopSec")} vs ${budget} s`,
    );
  });

  it("systemd-analyze verify finds nothing to say about it (with ExecStart pointed at this checkout)", () => {
    const dir = scratchDir("unit");
    const copy = join(dir, "tsresty-test.service");
    writeFileSync(
      copy,
      unit
        .replace(/^ExecStart=\S+/m, `ExecStart=${BIN}`)
        .replace(/^WorkingDirectory=.*$/m, `WorkingDirectory=${ROOT}`),
    );
    const result = spawnSync("systemd-analyze", ["verify", copy], { encoding: "utf8", timeout: 30_000 });
    assert.equal(result.error, undefined, "systemd-analyze is needed for this test");
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stderr.trim(), "");
    // And it does speak up about a unit it cannot accept.
    writeFileSync(copy, unit.replace(/^KillMode=mixed$/m, "KillMode=mixd"));
    const bad = spawnSync("systemd-analyze", ["verify", copy], { encoding: "utf8", timeout: 30_000 });
    assert.match(bad.stderr, /kill mode/i);
  });
});
