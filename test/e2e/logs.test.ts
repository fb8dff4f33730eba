/**
 * Logs that say who wrote them: the children's output attributed line by line, ngx.log honouring
 * logLevel, and `tsresty logs`.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { runTsresty, startTsresty } from "../helpers/processes.ts";
import { failingInitApp, heldStart, startFailure } from "../helpers/failing-start.ts";
import { scratchApp } from "../helpers/scratch.ts";
import { alive, get, startTree, until } from "../helpers/tree.ts";

const LINE = /^(\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d) (?:\[(\w+)\] )?(\d+)#([\d-]+): (.*)$/;

describe("logs that say who wrote them", () => {
  it("lines written by 2 workers at once come out whole and attributed with time, pid and worker id", async () => {
    const dir = scratchApp({
      "app.ts": `export default {
  fetch() {
    // 200 long lines in one go, from each worker at once: none may be cut or mixed.
    const id = ngx.worker.id();
    for (let i = 0; i < 200; i++) process.stdout.write(\`worker=\${id} line=\${i} \${"x".repeat(3000)}\\n\`);
    for (let i = 0; i < 50; i++) console.error(\`raw error worker=\${id} n=\${i}\`);
    return new Response(String(process.pid));
  },
};
`,
    });
    const log = join(dir, "out.log");
    const errorLog = join(dir, "error.log");
    const tree = await startTree(join(dir, "app.ts"), {
      workers: 2,
      args: ["--log", log, "--error-log", errorLog],
    });
    const pids = new Map<string, number>();
    // Requests until both workers have written their burst (the two bursts may overlap in time).
    for (let tries = 0; tries < 40 && pids.size < 2; tries++) {
      const [a, b] = await Promise.all([get(tree.url()), get(tree.url())]);
      for (const pid of [a.body, b.body]) pids.set(pid, Number(pid));
    }
    assert.equal(pids.size, 2);
    assert.ok(
      await until(() => (readFileSync(log, "utf8").match(/line=199 /g)?.length ?? 0) >= 2),
      "both bursts written",
    );
    for (const text of readFileSync(log, "utf8").trim().split("\n")) {
      const match = LINE.exec(text);
      assert.ok(match !== null, `an attributed line: ${text.slice(0, 80)}`);
      const [, , level, pid, id, message] = match;
      assert.equal(level, undefined, "output lines carry no level");
      assert.match(message ?? "", /^worker=([01]) line=\d+ x{3000}$/, "whole, not cut or mixed");
      assert.equal(`worker=${id}`, /^worker=\d/.exec(message ?? "")?.[0]);
      assert.ok(pids.has(pid ?? ""), "attributed to the pid that wrote it");
    }
    const errors = readFileSync(errorLog, "utf8");
    assert.match(errors, /\[warn\] \d+#0: raw error worker=0 n=49$/m);
    assert.match(errors, /\[warn\] \d+#1: raw error worker=1 n=49$/m);
    assert.equal(tree.run.stdout().includes("line=1 "), false, "--log takes the output off the terminal");
    await tree.command("stop");
  });

  it("a reader of the master's stdout that stalls holds the workers' output in their pipes, not in the master's memory; nothing is lost when it reads again", async () => {
    const dir = scratchApp({
      "app.ts": `import { writeFileSync } from "node:fs";
const line = "x".repeat(1000);
export default {
  initWorker() {
    ngx.timer.at(0.5, () => {
      for (let i = 0; i < 100_000; i++) process.stdout.write(\`n=\${i} \${line}\\n\`);
      writeFileSync(new URL("./written", import.meta.url), "");
    });
  },
};
`,
    });
    const tree = await startTree(join(dir, "app.ts"), { workers: 1, deadlineMs: 120_000 });
    const rss = (): number =>
      Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${tree.masterPid}/status`, "utf8"))?.[1]);
    const before = rss();
    // The last line looked for in what each chunk brings (with the tail before it, for a line
    // cut between chunks): a search of all 100 MB every 20 ms took this process's own time, and
    // with it the reading of the pipe, past the bound on a loaded machine.
    let tail = "";
    let lastArrived = false;
    tree.run.child.stdout?.on("data", (chunk: Buffer) => {
      tail = tail.slice(-16) + chunk.toString("latin1");
      lastArrived ||= tail.includes("n=99999 ");
    });
    tree.run.child.stdout?.pause(); // a stalled pager, a stuck log shipper
    assert.ok(await until(() => existsSync(join(dir, "written")), 30_000), "the worker queued its 100 MB");
    await new Promise((resolve) => setTimeout(resolve, 2_000)); // what the master would read, it has
    const grown = (rss() - before) / 1024;
    assert.ok(grown < 40, `the master grew by ${grown.toFixed(0)} MB for 100 MB nobody read`);
    tree.run.child.stdout?.resume();
    assert.ok(await until(() => lastArrived, 60_000), "the last line arrived");
    assert.equal(tree.run.stdout().match(/: n=\d+ x{1000}$/gm)?.length, 100_000, "every line, whole");
    await tree.command("stop");
  });

  it("a worker that exits while the master is not reading its pipe (the master's own reader stalls) still has all it wrote printed before the master exits (stop 38's pause made the master stop without it)", async () => {
    const dir = scratchApp({
      "app.ts": `import { writeFileSync } from "node:fs";
const line = "y".repeat(1000);
const flushed = new URL("./flushed", import.meta.url);
export default {
  fetch() {
    void (async () => {
      // One line at a time: once its callback runs, the kernel has it (the pipe to the master).
      for (let i = 0; i < 3000; i++) {
        await new Promise((resolve) => process.stdout.write(\`n=\${i} \${line}\\n\`, resolve));
        writeFileSync(flushed, String(i));
      }
    })();
    return new Response(String(process.pid));
  },
};
`,
    });
    const flushed = (): number =>
      existsSync(join(dir, "flushed")) ? Number(readFileSync(join(dir, "flushed"), "utf8")) : -1;
    const tree = await startTree(join(dir, "app.ts"), { workers: 1, deadlineMs: 60_000 });
    tree.run.child.stdout?.pause(); // a stalled pager
    const worker = Number((await get(tree.url())).body);
    // The master's stdout backs up past its bound, it stops reading the worker's pipe, the pipe
    // fills and the worker's writes stop: 3 MB is more than all of those hold.
    let last = -2;
    while (flushed() !== last) {
      last = flushed();
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    assert.ok(last >= 0 && last < 2999, `the worker's writes stopped at line ${last}`);
    process.kill(tree.masterPid, "SIGQUIT");
    assert.ok(await until(() => tree.run.stderr().includes("gracefully shutting down")));
    // The worker cannot finish its writes; its lines up to `last` are in the pipe or read.
    process.kill(worker, "SIGKILL");
    assert.ok(await until(() => !alive(worker)), "the worker is gone");
    await new Promise((resolve) => setTimeout(resolve, 300)); // the master has seen its exit
    tree.run.child.stdout?.resume();
    const done = await tree.run.done;
    assert.equal(done.code, 0);
    const numbers = [...done.stdout.matchAll(/: n=(\d+) y{1000}$/gm)].map((m) => Number(m[1]));
    assert.ok(
      numbers.length > last,
      `${numbers.length} lines printed; the worker had put ${last + 1} in its pipe`,
    );
    assert.deepEqual(numbers.slice(0, last + 1), [...Array(last + 1).keys()], "in order, none missing");
  });

  it("ngx.log writes nginx-shaped lines at its level and honours config logLevel", async () => {
    const dir = scratchApp({
      "app.ts": `export default {
  fetch() {
    ngx.log(ngx.DEBUG, "debug ", 1);
    ngx.log(ngx.INFO, "info ", 2);
    ngx.log(ngx.NOTICE, "notice ", 3);
    ngx.log(ngx.WARN, "warn ", 4, " ", { k: [1, 2] });
    ngx.log(ngx.ERR, "err ", new Error("why"));
    let refused = "";
    try { ngx.log(42, "x"); } catch (error) { refused = (error as Error).message; }
    return new Response(refused);
  },
};
`,
      "c.ts": `export default { logLevel: "warn" };\n`,
    });
    const tree = await startTree(join(dir, "app.ts"), { workers: 1, args: ["--config", join(dir, "c.ts")] });
    const refused = (await get(tree.url())).body;
    assert.match(refused, /ngx\.log: "level" must be one of ngx\.STDERR … ngx\.DEBUG/);
    // The entry and its stack's lines may reach the terminal in more than one write.
    assert.ok(await until(() => /err Error: why\n\s+at /.test(tree.run.stderr())));
    const stderr = tree.run.stderr();
    assert.match(stderr, /^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d \[warn\] \d+#0: warn 4 \{ k: \[ 1, 2 \] \}$/m);
    assert.match(stderr, /\[error\] \d+#0: err Error: why\n\s+at /);
    assert.doesNotMatch(stderr, /debug 1|info 2|notice 3/);
    assert.doesNotMatch(stderr, /start worker process/, "the master's notices are below warn too");
    await tree.command("stop");
  });

  it("every line of the logs starts with a time and the pid that wrote it, or with whitespace: names, multi-line messages, look-alike lines and over-long lines cannot forge or break one", async () => {
    const forged = "2020/01/01 00:00:00 [emerg] 1#-: forged";
    const dir = scratchApp({
      "app.ts": `const forged = ${JSON.stringify(forged)};
export default {
  initWorker() {
    ngx.timer.at({ delay: 0, name: 'sync"\\n' + forged + "\\u001b[31m" }, () => {
      throw new Error("boom");
    });
  },
  fetch() {
    ngx.log(ngx.ERR, "first line\\nsecond line\\n" + forged);
    console.error(forged);
    process.stderr.write("e".repeat(70_000) + forged + "\\n");
    process.stdout.write("o".repeat(70_000) + forged + "\\n");
    return new Response(String(process.pid));
  },
};
`,
    });
    const log = join(dir, "out.log");
    const errorLog = join(dir, "error.log");
    const tree = await startTree(join(dir, "app.ts"), {
      workers: 1,
      args: ["--log", log, "--error-log", errorLog],
    });
    const pid = (await get(tree.url())).body;
    assert.ok(
      await until(() => readFileSync(log, "utf8").includes("forged")),
      "the long stdout line is written",
    );
    assert.ok(await until(() => (readFileSync(errorLog, "utf8").match(/forged/g)?.length ?? 0) >= 4));
    await tree.command("stop");
    const master = String(tree.run.child.pid);
    for (const file of [errorLog, log]) {
      for (const line of readFileSync(file, "utf8").trimEnd().split("\n")) {
        if (/^\s/.test(line)) continue;
        const writer = /^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d (?:\[[a-z]+\] )?(\d+)#[\d-]+: /.exec(line)?.[1];
        // Before: the name's newline and the message's second line started lines of their own,
        // and the look-alike line was kept as if pid 1 (the master, "#-") had written it.
        assert.ok(
          writer === pid || writer === master,
          `${file}: a line nobody vouches for: ${line.slice(0, 120)}`,
        );
        assert.ok(!line.includes("\u001b"), "no escape sequence reaches the terminal");
      }
    }
    const errors = readFileSync(errorLog, "utf8");
    assert.match(
      errors,
      /\[error\] \d+#0: timer "sync\\x22\\x0a2020\/01\/01 .*forged\\x1b\[31m" failed: Error: boom/,
    );
    assert.match(
      errors,
      /\[error\] \d+#0: first line\n\tsecond line\n\t2020\/01\/01 00:00:00 \[emerg\] 1#-: forged\n/,
    );
    assert.match(errors, new RegExp(`\\[warn\\] ${pid}#0: 2020/01/01 00:00:00 \\[emerg\\] 1#-: forged\n`));
    assert.match(errors, /\[warn\] \d+#0: e{65536}\n\te{4464}2020\/01\/01 00:00:00 \[emerg\] 1#-: forged\n/);
    assert.match(
      readFileSync(log, "utf8"),
      /\d+#0: o{65536}\n\to{4464}2020\/01\/01 00:00:00 \[emerg\] 1#-: forged\n/,
    );
  });

  it("tsresty logs -f ends on the first ^C, TERM or HUP, and control commands end quietly when their reader goes away", async () => {
    const dir = scratchApp({
      "app.ts": `export default { handler(_req: unknown, res: { end(s: string): void }) { res.end("ok"); } };\n`,
    });
    const tree = await startTree(join(dir, "app.ts"), { workers: 1 });
    for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
      const follow = startTsresty(["logs", "-f", "--prefix", tree.prefix], { deadlineMs: 20_000 });
      await follow.waitForOutput("start worker process");
      const sent = Date.now();
      follow.child.kill(signal);
      const done = await follow.done;
      // Before: the first INT or TERM was queued by early-signals.mjs and never acted on (a
      // second one ended it), and HUP was queued for good: each follower lived on.
      assert.equal(done.signal, signal, `${signal}: ${JSON.stringify(done)}`);
      assert.ok(Date.now() - sent < 5_000, `${signal} took ${Date.now() - sent} ms`);
    }
    // A reader that closes early (tsresty status | head -c 1): before, an unhandled EPIPE error
    // and its stack trace, exit 1.
    const status = startTsresty(["status", "--json", "--prefix", tree.prefix]);
    status.child.stdout?.destroy();
    const done = await status.done;
    assert.equal(done.code, 0, done.stderr);
    assert.equal(done.stderr, "");
  });

  it("tsresty logs -f into a reader that stops reading stops reading the master, whose follower bound then drops it: the CLI's memory does not grow with the tree's logs", async () => {
    const dir = scratchApp({
      "app.ts": `export default {
  initWorker() {
    const line = "y".repeat(2000);
    ngx.timer.every(0.01, () => { for (let i = 0; i < 50; i++) ngx.log(ngx.NOTICE, line); });
  },
  fetch: () => new Response("ok"),
};
`,
    });
    const tree = await startTree(join(dir, "app.ts"), {
      workers: 2,
      args: ["--error-log", "/dev/null"],
      deadlineMs: 90_000,
    });
    const follow = startTsresty(["logs", "-f", "-n", "0", "--prefix", tree.prefix], { deadlineMs: 60_000 });
    await follow.waitForOutput("y".repeat(2000));
    follow.child.stdout?.pause(); // `| sleep 45`, a pager left open
    const rss = (): number =>
      Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${follow.child.pid}/status`, "utf8"))?.[1]) / 1024;
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const before = rss();
    // The tree logs 10 MB/s: before, the CLI kept reading and queued it all for its stdout.
    await new Promise((resolve) => setTimeout(resolve, 8_000));
    const grown = rss() - before;
    assert.ok(grown < 40, `the CLI grew by ${grown.toFixed(0)} MB in 8 s`);
    // The master held its 8 MB for it, then dropped it with the reason as its last line.
    follow.child.stdout?.resume();
    const done = await follow.done;
    assert.equal(done.code, 1, done.stderr);
    assert.match(done.stderr, /^tsresty: stopped following: the reader fell behind by more than 8 MB\n$/);
    await tree.command("stop");
  });

  it("tsresty logs shows the last lines, one worker's with --worker, and follows new ones with -f", async () => {
    const dir = scratchApp({
      "app.ts": `export default {
  fetch(request: Request) {
    console.log("request " + new URL(request.url).pathname + " in worker " + ngx.worker.id());
    return new Response(String(ngx.worker.id()));
  },
};
`,
    });
    const tree = await startTree(join(dir, "app.ts"), { workers: 2 });
    // Six requests at least, and until both workers answered one: the kernel hands each new
    // connection to whichever worker accepts first, and six in a row can all go to one.
    const answered = new Set<string>();
    for (let i = 0; i < 6 || (answered.size < 2 && i < 200); i++)
      answered.add((await get(tree.url(`/r${i}`))).body);
    const all = await tree.command("logs", "-n", "200");
    assert.equal(all.code, 0);
    assert.match(all.stdout, /start worker process/);
    assert.match(all.stdout, /^\S+ \S+ \d+#[01]: request \/r5 in worker [01]$/m);
    const one = await tree.command("logs", "--worker", "1");
    assert.ok(
      one.stdout
        .trim()
        .split("\n")
        .every((line) => / \d+#1: /.test(line)),
      one.stdout,
    );
    // An id the tree does not run is refused by name (it printed nothing, as if the worker were quiet).
    for (const args of [
      ["--worker", "2"],
      ["-f", "--worker", "7"],
    ]) {
      const none = await tree.command("logs", ...args);
      assert.equal(none.code, 1, args.join(" "));
      assert.match(none.stderr, /no worker \d: this tree runs workers 0–1/);
    }

    const follow = startTsresty(["logs", "-f", "-n", "0", "--prefix", tree.prefix], { deadlineMs: 60_000 });

    // Requests until the follower shows one: how long it takes to attach is not fixed (a single
    // request after a fixed second went unseen when the follower attached later).
    const seen = await until(async () => {
      await get(tree.url("/followed"));
      await new Promise((resolve) => setTimeout(resolve, 100));
      return follow.stdout().includes("request /followed");
    }, 30_000);
    assert.ok(seen, follow.stdout());
    assert.doesNotMatch(follow.stdout(), /\/r5/, "-n 0 shows no old lines");
    await tree.command("stop");
    const done = await follow.done;
    assert.equal(done.code, 0, "logs -f ends when the master stops");
    assert.equal(done.stderr, "");
    const bad = await runTsresty(["logs", "--worker", "x", "--prefix", tree.prefix]);
    assert.equal(bad.code, 2);
  });

  it("tsresty logs -f tells a master that died (SIGKILL) from one that stopped: exit 1, and says so", async () => {
    const tree = await startTree("test/fixtures/start/app.ts", { workers: 1 });
    const follow = startTsresty(["logs", "-f", "--prefix", tree.prefix], { deadlineMs: 30_000 });
    // Attached once the backlog (the start's lines) is out.
    assert.ok(await until(() => follow.stdout().includes("start worker process"), 20_000), follow.stdout());
    process.kill(tree.masterPid, "SIGKILL");
    const done = await follow.done;
    // Before: exit 0 without a word, as after a stop.
    assert.equal(done.code, 1);
    assert.match(
      done.stderr,
      /^tsresty: the master went away without stopping \(killed\?\): no more lines will come$/m,
    );
  });

  it("tsresty logs -f following a start that fails says why it failed, as start does, exit 1 (it ended with exit 0 without a word, as after a stop)", async () => {
    // init waits until the follower is attached, then throws.
    const { prefix, run, fail } = await heldStart();
    const follow = startTsresty(["logs", "-f", "--prefix", prefix], { deadlineMs: 30_000 });
    assert.ok(await until(() => follow.stdout().includes("init waits"), 20_000), follow.stderr());
    fail();
    const failure = startFailure(await run.done);
    const done = await follow.done;
    assert.equal(done.code, 1, done.stderr);
    assert.equal(done.stderr, `tsresty: the master stopped: its ${failure}`);
  });

  it("a start that fails writes why to the error log that is a file, as [emerg], as well as on start's stderr (the file said nothing of it); with the error log on stderr the reason is said once", async () => {
    const dir = failingInitApp(false, {
      "c.mts": `export default { workers: 1, listen: ["127.0.0.1:0"], errorLog: "logs/error.log" };\n`,
    });
    const started = await runTsresty(["start", "app.ts", "--config", "c.mts", "--prefix", join(dir, "p")], {
      cwd: dir,
      deadlineMs: 60_000,
    });
    const failure = startFailure(started);
    const errorLog = readFileSync(join(dir, "logs", "error.log"), "utf8");
    const line = /^\S+ \S+ \[emerg\] \d+#-: (start failed: [^]*)$/m.exec(errorLog);
    assert.ok(line !== null, errorLog);
    assert.equal(line[1], failure, errorLog);
    assert.doesNotMatch(started.stderr, /\[emerg\]/);

    // The error log on stderr (the default): start's own line only, not the log line as well.
    const onStderr = await runTsresty(["start", "app.ts", "--workers", "1", "--prefix", join(dir, "q")], {
      cwd: dir,
      deadlineMs: 60_000,
    });
    startFailure(onStderr);
    assert.equal((onStderr.stderr.match(/the database is down/g) ?? []).length, 1, onStderr.stderr);
  });
});

describe("an error log that cannot be written (a full disk: /dev/full)", () => {
  it("the master goes on supervising: a killed worker is respawned, reload and stop work, tsresty logs keeps the lines, and the failure is said once on stderr (start hung silently; once the tree ran, respawns, reload and stop failed with ENOSPC)", async () => {
    const dir = scratchApp({
      "app.ts": "export default { fetch: () => new Response(String(process.pid)) };\n",
    });
    const tree = await startTree(join(dir, "app.ts"), { workers: 2, args: ["--error-log", "/dev/full"] });
    const [worker] = (await tree.status()).processes.filter((p) => p.type === "worker");
    assert.ok(worker !== undefined);
    process.kill(worker.pid, "SIGKILL");
    assert.ok(
      await until(async () => {
        const workers = (await tree.status()).processes.filter((p) => p.type === "worker");
        return workers.length === 2 && workers.every((p) => p.pid !== worker.pid);
      }, 20_000),
      "the slot respawned",
    );
    const reload = await tree.command("reload");
    assert.equal(reload.code, 0, reload.stderr);
    assert.equal((await get(tree.url())).status, 200);
    const logs = await tree.command("logs");
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(logs.stdout, new RegExp(`worker process ${worker.pid} \\(id \\d\\) exited on signal 9`));
    const stop = await tree.command("stop");
    assert.equal(stop.code, 0, stop.stderr);
    assert.ok(await until(() => !alive(tree.masterPid)), "the master exited");
    const said = tree.run.stderr().match(/cannot write the error log \/dev\/full: ENOSPC[^\n]*/g) ?? [];
    assert.equal(said.length, 1, tree.run.stderr());
  });
});
