import assert from "node:assert/strict";
import { execFileSync, spawnSync, type SpawnSyncReturns } from "node:child_process";
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { ensureBuilt } from "../helpers/dist.ts";
import { pidsMatching, ROOT, runTsresty, startTsresty } from "../helpers/processes.ts";
import { scratchApp } from "../helpers/scratch.ts";
import { until } from "../helpers/wait.ts";

const LOG_LINE = /^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d \[(\w+)\] (\d+)#0: /;

describe("single mode (tsresty -e, tsresty FILE)", () => {
  it("prints hi from a 10 ms timer and exits 0 (the foundation's acceptance check)", async () => {
    const r = await runTsresty(["-e", 'ngx.timer.at(0.01, () => console.log("hi"))']);
    assert.deepEqual([r.code, r.stdout, r.stderr], [0, "hi\n", ""]);
  });

  it("T-CLI-01: -e prints to stdout and exits 0", async () => {
    const r = await runTsresty(["-e", 'console.log("hello")']);
    assert.deepEqual([r.code, r.stdout, r.stderr], [0, "hello\n", ""]);
  });

  it("output larger than a pipe holds reaches its reader in full before the exit (it was cut at 64–192 KiB)", async () => {
    const r = await runTsresty([
      "-e",
      'console.log("x".repeat(3_000_000)); ngx.timer.at(0, () => console.error("y".repeat(1_000_000)))',
    ]);
    assert.equal(r.code, 0);
    assert.equal(r.stdout.length, 3_000_001);
    assert.equal(r.stderr.length, 1_000_001);
  });

  it("a reader of stdout that goes away (| head -1) ends the run quietly, exit 0 (it was ERROR: write EPIPE, exit 1)", async () => {
    const run = startTsresty(["-e", "for (let i = 0; i < 1_000_000; i++) console.log(`line ${i}`)"]);
    await run.waitForOutput("line 0\n");
    run.child.stdout?.destroy();
    const r = await run.done;
    assert.deepEqual([r.code, r.signal, r.stderr], [0, null, ""]);
  });

  it("T-CLI-02: an uncaught error prints ERROR: with a stack and exits 1; a returned value is ignored", async () => {
    const r = await runTsresty(["-e", 'throw new Error("oops")']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^ERROR: Error: oops\n\s+at /);
    const ok = await runTsresty(["-e", "export default 123;"]);
    assert.deepEqual([ok.code, ok.stderr], [0, ""]);
  });

  it("a syntax error in -e code or a TypeScript file is one line naming the place (it printed esbuild's own frames)", async () => {
    const r = await runTsresty(["-e", "ngx.timer.at(0, () => { "]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^ERROR: \/\S*\[eval\]\.ts:1: Unexpected end of file\n$/);
  });

  it("a config whose own code throws while it is read (a getter) is a config error, exit 2, as tsresty start says it (it was Node's crash report, exit 1)", async () => {
    const dir = scratchApp({
      "c.mjs": 'export default { timers: { get maxPending() { throw new Error("getter boom"); } } };\n',
    });
    const r = await runTsresty(["--config", join(dir, "c.mjs"), "-e", "1"]);
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /^tsresty: \S*c\.mjs: reading the config threw Error: getter boom\n {4}at get maxPending /,
    );
    assert.doesNotMatch(r.stderr, /Node\.js v|node:internal/);
  });

  it("a FIFO or a device as FILE is refused at once, exit 2 (a FIFO hung the run, deaf to INT and TERM; /dev/zero filled the memory)", async () => {
    const dir = scratchApp({});
    const fifo = join(dir, "app.fifo");
    execFileSync("mkfifo", [fifo]);
    const piped = await runTsresty([fifo]);
    assert.equal(piped.code, 2);
    assert.equal(piped.stderr, `tsresty: input file ${fifo} is not a regular file (a FIFO).\n`);
    const device = await runTsresty(["/dev/zero"]);
    assert.equal(device.code, 2);
    assert.equal(
      device.stderr,
      "tsresty: input file /dev/zero is not a regular file (a character device).\n",
    );
  });

  it("a syntax error in a JavaScript module the file imports names that module's line (Node's loader gave no place)", async () => {
    const dir = scratchApp({
      "main.mjs": 'import "./lib.mjs";\n',
      "lib.mjs": "export const a = 1;\nconst = 2;\n",
    });
    const r = await runTsresty([join(dir, "main.mjs")]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `ERROR: SyntaxError: Unexpected token '='\n    at ${join(dir, "lib.mjs")}:2:7\n`);
  });

  it("an error raised through a tsresty API names the user's line, without tsresty's or Node's frames", async () => {
    const r = await runTsresty(["test/fixtures/single/bad-delay.ts"]);
    assert.equal(r.code, 1);
    const [first, ...frames] = r.stderr.trimEnd().split("\n");
    assert.match(first ?? "", /^ERROR: RangeError: ngx\.timer\.at: "delay" must be a number of seconds/);
    assert.ok(frames.length > 0, r.stderr);
    for (const frame of frames)
      assert.match(frame, /^\s+at .*\/test\/fixtures\/single\/bad-delay\.ts:\d+:\d+\)?$/);
  });

  it("ngx.log never throws what a value's own code throws, a bad level is a coded TypeError, and a timer name with a lone surrogate is refused", async () => {
    const code = `
const revoked = Proxy.revocable({}, {}); revoked.revoke();
const trapped = new Proxy({}, { getPrototypeOf() { throw new Error("proxy trap"); }, get() { throw new Error("get trap"); } });
ngx.log(ngx.ERR, "args: ", revoked.proxy, " ", trapped, " end");
const outcome = (f) => { try { f(); return "no error"; } catch (e) { return e.code + " " + e.message; } };
console.log(outcome(() => ngx.log({ [Symbol.toPrimitive]() { throw new Error("toPrimitive trap"); } }, "x")));
console.log(outcome(() => ngx.timer.at({ delay: 1, name: "job-\\ud800" }, () => 0)));
`;
    const r = await runTsresty(["-e", code]);
    assert.equal(r.code, 0, r.stderr);
    // Before: ngx.log threw "TypeError: Cannot perform 'getPrototypeOf' on a proxy that has been
    // revoked", and the bad level threw the user's "toPrimitive trap".
    assert.match(
      r.stderr,
      /\[error\] \d+#0: args: (<Revoked Proxy>|\(unprintable value\)) \(unprintable value\) end$/m,
    );
    assert.match(
      r.stdout,
      /^ERR_TSRESTY_INVALID_ARG_TYPE ngx\.log: "level" must be one of ngx\.STDERR … ngx\.DEBUG \(0 to 8\), received an object \(Object\)$/m,
    );
    // Before: accepted; with "job-\udc00" it made one series twice in a scrape ("job-\ufffd").
    assert.match(
      r.stdout,
      /^ERR_TSRESTY_INVALID_ARG_VALUE ngx\.timer\.at: "name" must be a string without lone surrogates/m,
    );
  });

  it("a rejection nothing handles, from the main chunk or a timer, prints ERROR: and exits 1 (it was lost: exit 0, nothing printed)", async () => {
    for (const code of [
      'async function f() { throw new Error("async fn failed"); } f();',
      'ngx.timer.at(0, () => { void Promise.reject(new Error("in timer")); });',
      'async function f() { throw new Error("unawaited"); } f(); await ngx.sleep(0.2);',
    ]) {
      const r = await runTsresty(["-e", code]);
      assert.equal(r.code, 1, `${code}: ${r.stderr}`);
      assert.match(
        r.stderr,
        /^ERROR: Error: (async fn failed|in timer|unawaited)\n {4}at .*\[eval\]\.ts:1:\d+\)?\n/,
        code,
      );
    }
  });

  it("an async timer callback that fails is logged with its own line, not tsresty's", async () => {
    const r = await runTsresty([
      "-e",
      'ngx.timer.at(0, async () => { throw new Error("rejects"); });\nasync function named() { await ngx.sleep(0.001); throw new Error("after await"); }\nngx.timer.at(0, named);',
    ]);
    assert.equal(r.code, 0, r.stderr);
    // Before: "timer with anonymous function at …/dist/chunks/chunk-….js:199" (tsresty's callInStore).
    assert.match(
      r.stderr,
      /\[error\] \d+#0: timer with anonymous function at \/\S+\/\[eval\]\.ts:1 failed: Error: rejects/,
    );
    assert.match(
      r.stderr,
      /\[error\] \d+#0: timer with function named at \/\S+\/\[eval\]\.ts:2 failed: Error: after await/,
    );
  });

  /** The compiled CLI, as users run it, declaring `zone` under the resource limit `ulimit` (bash's options). */
  function withZoneUnder(ulimit: string, zone: string): SpawnSyncReturns<string> {
    ensureBuilt();
    const cli = `"${process.execPath}" bin/tsresty --shdict '${zone}' -e 'console.log(1)'`;
    return spawnSync("bash", ["-c", `ulimit ${ulimit}; exec ${cli}`], {
      cwd: ROOT,
      encoding: "utf8",
      timeout: 30_000,
    });
  }

  it("a zone that cannot be made (mmap refused) is one tsresty: line and exit 1, as start says it (it was Node's dump)", () => {
    // A 3 GB address-space limit: mapping a 2 GiB zone fails.
    const result = withZoneUnder("-v 3000000", "dogs 2g");
    assert.equal(result.status, 1, result.stderr);
    assert.equal(
      result.stderr,
      'tsresty: cannot create zone "dogs" (2147483648 bytes): mmap failed: Cannot allocate memory\n',
    );
    assert.equal(result.stdout, "");
  });

  it("a zone that cannot be made says the system's reason after the step that failed: past the file size limit, sizing the memfd is 'File too large' (it said only 'sizing the memfd failed')", () => {
    // A 1 MiB file size limit (RLIMIT_FSIZE): ftruncate of a 64 MiB memfd fails with EFBIG.
    const result = withZoneUnder("-f 1024", "dogs 64m");
    assert.equal(result.status, 1, result.stderr);
    assert.equal(
      result.stderr,
      'tsresty: cannot create zone "dogs" (67108864 bytes): sizing the memfd failed: File too large\n',
    );
    assert.equal(result.stdout, "");
  });

  it("T-CLI-03: a missing file exits 2 with a message; process.exit(3) exits 3", async () => {
    const missing = await runTsresty(["no-such-file.ts"]);
    assert.deepEqual([missing.code, missing.stderr], [2, "tsresty: input file no-such-file.ts not found.\n"]);
    const three = await runTsresty(["-e", "process.exit(3)"]);
    assert.equal(three.code, 3);
  });

  it("a directory or an empty name as the file exits 2 with a message (it was Node's ERR_UNSUPPORTED_DIR_IMPORT, exit 1)", async () => {
    const dir = await runTsresty(["test"]);
    assert.deepEqual([dir.code, dir.stderr], [2, "tsresty: input file test is a directory.\n"]);
    const empty = await runTsresty([""]);
    assert.deepEqual([empty.code, empty.stderr], [2, "tsresty: the input file's name is empty.\n"]);
    const app = await runTsresty(["start", "test", "--prefix", join(tmpdir(), "tsresty-never-started")]);
    assert.equal(app.code, 2);
    assert.match(app.stderr, /^tsresty: app file test is a directory\n/);
  });

  it("a file with an extension Node loads no module from exits 2 naming it and the extensions tsresty loads, in single mode and as start's app (it was Node's ERR_UNKNOWN_FILE_EXTENSION with Node's stack, exit 1)", async () => {
    const dir = scratchApp({ "notes.txt": "hello\n", plain: 'console.log("ran");\n' });
    const accepted =
      "has the extension .txt, which is not a module's: tsresty loads .ts, .mts, .cts, .tsx, .js, .mjs or .cjs files";
    const single = await runTsresty([join(dir, "notes.txt")]);
    assert.deepEqual(
      [single.code, single.stderr],
      [2, `tsresty: input file ${join(dir, "notes.txt")} ${accepted}.\n`],
    );
    const app = await runTsresty(["start", join(dir, "notes.txt"), "--prefix", join(dir, "prefix")]);
    assert.equal(app.code, 2, app.stderr);
    assert.ok(app.stderr.startsWith(`tsresty: app file ${join(dir, "notes.txt")} ${accepted}\n`), app.stderr);
    assert.equal(existsSync(join(dir, "prefix")), false, "no master started");
    // A name without an extension is Node's to load (CommonJS, outside an ES-module package).
    const plain = await runTsresty([join(dir, "plain")]);
    assert.deepEqual([plain.code, plain.stdout], [0, "ran\n"]);
  });

  it("- as the file says that reading the program from stdin is not supported, exit 2 (it said 'input file - not found')", async () => {
    const message =
      "tsresty: reading the program from stdin (-) is not supported: give a FILE (./- for a file named -) or -e CODE.\n";
    for (const args of [["-"], ["--", "-"], ["--shdict", "dogs 1m", "-", "x"]]) {
      const r = await runTsresty(args);
      assert.deepEqual([r.code, r.stderr], [2, message], args.join(" "));
    }
  });

  it("T-CLI-04: tsresty FILE a b gives the file its arguments as process.argv", async () => {
    const r = await runTsresty(["test/fixtures/single/args.ts", "a", "b"]);
    assert.match(r.stdout, /\/test\/fixtures\/single\/args\.ts\|a\|b\|2\n$/);
    const e = await runTsresty(["-e", 'console.log(process.argv.slice(2).join(","))', "x", "--y"]);
    assert.equal(e.stdout, "x,--y\n");
  });

  it("T-CLI-05: the main chunk runs as a timer: single, id 0, pending 0, running 1", async () => {
    const r = await runTsresty([
      "-e",
      "console.log(ngx.process.type(), ngx.worker.id(), ngx.worker.count(), ngx.timer.pendingCount(), ngx.timer.runningCount())",
    ]);
    assert.equal(r.stdout, "single 0 1 0 1\n");
  });

  it("T-CLI-06: work left running by the main chunk finishes before the process exits", async () => {
    const r = await runTsresty([
      "-e",
      'ngx.timer.at(0, async () => { await ngx.sleep(0.1); console.log("hello"); await ngx.sleep(0.1); console.log("world"); });',
    ]);
    assert.deepEqual([r.code, r.stdout], [0, "hello\nworld\n"]);
  });

  it("T-CLI-07: a pending timer fires premature right after the main chunk returns", async () => {
    const r = await runTsresty(["-e", 'ngx.timer.at(60, (p) => console.log("premature=", p))'], {
      deadlineMs: 10_000,
    });
    assert.deepEqual([r.code, r.stdout], [0, "premature= true\n"]);
  });

  it("premature callbacks see only themselves running: the main chunk has returned", async () => {
    const r = await runTsresty([
      "-e",
      'for (const n of [1, 2]) ngx.timer.at(60, () => console.log(n, "running", ngx.timer.runningCount(), "pending", ngx.timer.pendingCount()))',
    ]);
    // Before: "running 2" in both (the main chunk still counted).
    assert.deepEqual([r.code, r.stdout], [0, "1 running 1 pending 1\n2 running 1 pending 0\n"]);
  });

  for (const [signal, code] of [
    ["SIGINT", 130],
    ["SIGTERM", 143],
  ] as const) {
    it(`T-CLI-08: ${signal} during ngx.sleep(5) exits ${code}, without premature timers`, async () => {
      const run = startTsresty([
        "-e",
        'ngx.timer.at(100, () => console.log("must not run")); console.log("ready"); await ngx.sleep(5);',
      ]);
      await run.waitForOutput("ready");
      run.child.kill(signal);
      const r = await run.done;
      assert.deepEqual([r.code, r.stdout], [code, "ready\n"]);
    });
  }

  /**
   * Once the run printed "busy" (its main thread kept busy from then on): `signal`, which must
   * wait for a handler that cannot run, then `signal` again; how the run ended.
   */
  async function signalTwice(
    run: ReturnType<typeof startTsresty>,
    signal: NodeJS.Signals,
  ): Promise<Awaited<ReturnType<typeof startTsresty>["done"]>> {
    await run.waitForOutput("busy");
    run.child.kill(signal);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(run.child.exitCode, null, "the first one waits for the handler, which cannot run");
    run.child.kill(signal);
    return run.done;
  }

  for (const [signal, code] of [
    ["SIGINT", 130],
    ["SIGTERM", 143],
  ] as const) {
    it(`a second ${signal} ends a run whose code keeps the main thread busy, exit ${code} (only SIGKILL did: the handlers never ran)`, async () => {
      const run = startTsresty(["-e", 'console.log("busy"); while (true) {}'], { deadlineMs: 20_000 });
      const r = await signalTwice(run, signal);
      assert.deepEqual([r.code, r.signal], [code, null]);
    });

    it(`a second ${signal} ends a run whose --config file keeps the main thread busy as it loads, exit ${code}`, async () => {
      const dir = scratchApp({ "busy.config.mjs": 'console.log("busy"); for (;;) {}\nexport default {};\n' });
      const run = startTsresty(["--config", join(dir, "busy.config.mjs"), "-e", 'console.log("ran")'], {
        deadlineMs: 20_000,
      });
      // Before: it ran on through every INT and TERM; only SIGKILL (here the deadline's) ended it.
      const r = await signalTwice(run, signal);
      assert.deepEqual([r.code, r.signal, r.stdout], [code, null, "busy\n"]);
    });
  }

  for (const [title, signal, code, takeover] of [
    [
      "a busy run that took INT over (its listeners removed, one of its own added) is ended by a second INT, exit 130 (libuv's handler, put in place anew, dropped the chain: no INT ended it)",
      "SIGINT",
      130,
      'process.removeAllListeners("SIGINT"); process.on("SIGINT", () => console.log("mine"));',
    ],
    [
      "a busy run that took TERM over, INT's listeners removed and none added, is ended by a second TERM, exit 143 (INT, left at its default action, was taken for a failure: TERM was not chained again, and a warning said a second signal could not end the run)",
      "SIGTERM",
      143,
      'process.removeAllListeners("SIGINT"); process.removeAllListeners("SIGTERM"); process.on("SIGTERM", () => console.log("mine"));',
    ],
  ] as const) {
    it(title, async () => {
      const run = startTsresty(["-e", `${takeover} console.log("busy"); while (true) {}`], {
        deadlineMs: 20_000,
      });
      const r = await signalTwice(run, signal);
      assert.deepEqual([r.code, r.signal, r.stdout, r.stderr], [code, null, "busy\n", ""]);
    });
  }

  it("a run that took INT over and is not busy gets each INT, as a Node program does; TERM still ends it", async () => {
    const run = startTsresty(
      [
        "-e",
        'process.removeAllListeners("SIGINT"); let n = 0; process.on("SIGINT", () => console.log("INT", ++n)); console.log("ready"); await ngx.sleep(60);',
      ],
      { deadlineMs: 30_000 },
    );
    await run.waitForOutput("ready");
    for (const n of [1, 2, 3]) {
      run.child.kill("SIGINT");
      await run.waitForOutput(`INT ${n}\n`);
    }
    run.child.kill("SIGTERM");
    const r = await run.done;
    assert.deepEqual([r.code, r.signal, r.stdout], [143, null, "ready\nINT 1\nINT 2\nINT 3\n"]);
  });

  it("T-PRE-09 (OpenResty core behaviour): SIGQUIT is graceful: the pending timer runs premature, then exit 0", async () => {
    const run = startTsresty([
      "-e",
      'ngx.timer.at(100, (p) => console.log("timer premature", p)); console.log("ready"); await ngx.sleep(5);',
    ]);
    await run.waitForOutput("ready");
    run.child.kill("SIGQUIT");
    const r = await run.done;
    assert.deepEqual([r.code, r.stdout], [0, "ready\ntimer premature true\n"]);
  });

  for (const signal of ["SIGQUIT", "SIGHUP"] as const) {
    it(`a ${signal} that comes while the config loads starts the graceful exit, and the main chunk still runs, as the zero-delay timer it is (it exited 0 at once, the program never run)`, async () => {
      const dir = scratchApp({});
      const [mark, go] = [join(dir, "loading"), join(dir, "go")];
      const run = startTsresty(
        [
          "--config",
          "test/fixtures/single/slow.config.ts",
          "-e",
          'console.log("main ran, exiting:", ngx.worker.exiting()); ngx.timer.at(0, () => console.log("zero-delay ran")); await ngx.sleep(0.1); console.log("main done");',
        ],
        { env: { LOADING_MARK: mark, GO_MARK: go }, deadlineMs: 30_000 },
      );
      assert.ok(await until(() => existsSync(mark), 20_000), "the config began to load");
      run.child.kill(signal);
      writeFileSync(go, "");
      const r = await run.done;
      assert.deepEqual(
        [r.code, r.stdout, r.stderr],
        [0, "main ran, exiting: true\nzero-delay ran\nmain done\n", ""],
      );
    });
  }

  it("T-PRE-05: a timer sleeping when exit begins finishes its sleep, seeing exiting() true", async () => {
    const r = await runTsresty([
      "-e",
      'ngx.timer.at(0, async () => { await ngx.sleep(0.2); console.log("woke, exiting:", ngx.worker.exiting(), "pending:", ngx.timer.pendingCount()); });',
    ]);
    assert.deepEqual([r.code, r.stdout], [0, "woke, exiting: true pending: 0\n"]);
  });

  it("T-PRE-06: shutdownTimeout ends a graceful exit that a callback would block forever", async () => {
    const r = await runTsresty([
      "--config",
      "test/fixtures/single/shutdown.config.ts",
      "-e",
      'ngx.timer.at(0, () => new Promise(() => { setInterval(() => undefined, 1000); })); console.log("started");',
    ]);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, "started\n");
    assert.match(
      r.stderr,
      /\[warn\] \d+#0: shutdownTimeout \(0.3 s\) reached while draining, with 1 timers running; exiting/,
    );
  });

  it("a config that never finishes loading: a top-level await nothing can settle is a config error, and ^C or TERM ends one still loading (it exited 13 in silence, and ignored both signals)", async () => {
    const never = await runTsresty(["--config", "test/fixtures/single/never-settles.config.ts", "-e", "1"]);
    assert.equal(never.code, 2);
    assert.match(
      never.stderr,
      /^tsresty: test\/fixtures\/single\/never-settles\.config\.ts: its top-level await waits on a promise that nothing can settle\n$/,
    );
    for (const [signal, code] of [
      ["SIGINT", 130],
      ["SIGTERM", 143],
    ] as const) {
      const mark = join(tmpdir(), `tsresty-loading-${process.pid}-${signal}`);
      rmSync(mark, { force: true });
      const run = startTsresty(["--config", "test/fixtures/single/slow.config.ts", "-e", "1"], {
        env: { LOADING_MARK: mark },
        deadlineMs: 30_000,
      });
      assert.ok(await until(() => existsSync(mark), 20_000), "the config began to load");
      run.child.kill(signal);
      assert.equal((await run.done).code, code, signal);
      rmSync(mark, { force: true });
    }
  });

  it("process.exitCode set by the code or a timer is the exit code (Node 20's process.exit(undefined) made it 0)", async () => {
    assert.equal((await runTsresty(["-e", "process.exitCode = 5;"])).code, 5);
    assert.equal((await runTsresty(["-e", "ngx.timer.at(0.01, () => { process.exitCode = 7; });"])).code, 7);
    assert.equal((await runTsresty(["-e", "console.log('done');"])).code, 0);
  });

  it("shutdownTimeout 0 ends a graceful exit at once, as in tsresty start (single mode took 0 as no bound and waited forever)", async () => {
    const r = await runTsresty([
      "--config",
      "test/fixtures/single/shutdown-zero.config.ts",
      "-e",
      "ngx.timer.at(0, () => new Promise(() => { setInterval(() => undefined, 1000); }));",
    ]);
    assert.equal(r.code, 0);
    assert.match(
      r.stderr,
      /\[warn\] \d+#0: shutdownTimeout \(0 s\) reached while draining, with 1 timers running; exiting/,
    );
  });

  it("a FILE that is an app (fetch, initWorker…) runs, and a warn line says that single mode serves nothing and names tsresty start (it exited 0 without a word)", async () => {
    const dir = scratchApp({
      "app.mjs": `console.log("top level");\nexport default { initWorker() {}, fetch: () => new Response("hi") };\n`,
      "script.mjs": `console.log("top level");\nexport default { name: "not an app" };\n`,
    });
    const app = join(dir, "app.mjs");
    const r = await runTsresty([app]);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, "top level\n");
    assert.match(r.stderr, /^\S+ \S+ \[warn\] \d+#0: /);
    assert.ok(
      r.stderr.includes(
        `${app} is an app (initWorker, fetch): single mode ran its top level, and serves nothing; run it with tsresty start ${app}\n`,
      ),
      r.stderr,
    );
    const script = await runTsresty([join(dir, "script.mjs")]);
    assert.deepEqual([script.code, script.stdout, script.stderr], [0, "top level\n", ""]);
  });

  it("logs at warn and above by default, as resty (it showed notice and info); a config's logLevel is taken", async () => {
    const code =
      'ngx.log(ngx.INFO, "info line"); ngx.log(ngx.NOTICE, "notice line"); ngx.log(ngx.WARN, "warn line");';
    const plain = await runTsresty(["-e", code]);
    assert.equal(plain.code, 0);
    assert.match(plain.stderr, /\[warn\] \d+#0: warn line/);
    assert.doesNotMatch(plain.stderr, /notice line|info line/);
    const dir = scratchApp({ "notice.config.mjs": `export default { logLevel: "notice" };\n` });
    const configured = await runTsresty(["--config", join(dir, "notice.config.mjs"), "-e", code]);
    assert.equal(configured.code, 0);
    assert.match(configured.stderr, /\[notice\] \d+#0: notice line/);
    assert.doesNotMatch(configured.stderr, /info line/);
  });

  it("shutdownTimeout's warning counts the premature calls that waited for a running slot and never ran (stop 26)", async () => {
    const r = await runTsresty([
      "--config",
      "test/fixtures/single/shutdown-one-slot.config.ts",
      "-e",
      "ngx.timer.at(0, () => new Promise(() => { setInterval(() => undefined, 1000); })); ngx.timer.at(100, () => {}); ngx.timer.at({ delay: 200, name: 'b' }, () => {});",
    ]);
    assert.equal(r.code, 0);
    assert.match(
      r.stderr,
      /shutdownTimeout \(0.3 s\) reached while draining, with 1 timers running; 2 premature calls never ran \(they waited for a running slot\); exiting/,
    );
  });

  it("a timer callback whose promise nothing can settle ends the exit with 13 and names the timers (stop 26)", async () => {
    const r = await runTsresty([
      "-e",
      'ngx.timer.at(0, async () => { await new Promise(() => {}); }); ngx.timer.at({ delay: 0, name: "stuck" }, () => new Promise(() => {}));',
    ]);
    assert.equal(r.code, 13);
    assert.match(
      r.stderr,
      /^ERROR: timer "stuck", 1 unnamed timer still running, waiting on a promise that nothing can settle any more\n$/m,
    );
  });

  it("the exit with 13 also counts the timer runs that never ran because they waited for a slot the stuck ones hold (it named only the stuck)", async () => {
    const stuck = await runTsresty([
      "--config",
      "test/fixtures/single/one-slot.config.ts",
      "-e",
      'ngx.timer.at(0, () => new Promise(() => {})); ngx.timer.at({ delay: 0, name: "victim" }, () => {}); ngx.timer.at(5, () => {});',
    ]);
    assert.equal(stuck.code, 13);
    assert.match(
      stuck.stderr,
      /^ERROR: 1 unnamed timer still running, waiting on a promise that nothing can settle any more; 2 premature calls never ran \(they waited for a running slot\)\n$/m,
    );
    // The main chunk holds the one slot; a timer due meanwhile could have settled its promise.
    const main = await runTsresty([
      "--config",
      "test/fixtures/single/one-slot.config.ts",
      "-e",
      "await new Promise((settle) => ngx.timer.at(0, () => settle(42)));",
    ]);
    assert.equal(main.code, 13);
    assert.match(
      main.stderr,
      /^ERROR: the main chunk waits on a promise that nothing can settle any more; 1 due timer runs never ran \(they waited for a running slot\)\n$/m,
    );
  });

  it("T-ERR-01: errors in timers are logged in nginx's shape; the process and its other timers carry on", async () => {
    const r = await runTsresty([
      "-e",
      [
        "const pid = process.pid;",
        'ngx.timer.at(0, function boom() { throw new Error("boom in timer"); });',
        "ngx.timer.at(0, () => { const t: any = null; return t.x; });",
        'ngx.timer.at(0.05, () => console.log("same pid", process.pid === pid));',
        "await ngx.sleep(0.1);",
      ].join("\n"),
    ]);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, "same pid true\n");
    const lines = r.stderr.split("\n").filter((l) => LOG_LINE.test(l));
    assert.equal(lines.length, 2, r.stderr);
    assert.match(
      lines[0] ?? "",
      /\[error\] \d+#0: timer with function boom at .*\[eval\]\.ts:\d+ failed: Error: boom in timer$/,
    );
    assert.match(
      lines[1] ?? "",
      /\[error\] \d+#0: timer with anonymous function at .* failed: TypeError: Cannot read properties of null/,
    );
  });

  it("--config applies timer limits in single mode (maxPending 1, running limit 'drop')", async () => {
    const r = await runTsresty([
      "--config",
      "test/fixtures/single/limits.config.ts",
      "-e",
      "ngx.timer.at(10, () => undefined); try { ngx.timer.at(10, () => undefined) } catch (e: any) { console.log(e.name, e.reason) }",
    ]);
    assert.deepEqual([r.code, r.stdout], [0, "TimerError too many pending timers\n"]);
  });

  it("a config key defined non-enumerable is refused naming it, as an unknown key is (it was dropped without a word)", async () => {
    const dir = scratchApp({
      "c.ts": `export default Object.defineProperty({}, "timers", { value: { maxPending: 1 }, enumerable: false });\n`,
    });
    const r = await runTsresty([
      "--config",
      join(dir, "c.ts"),
      "-e",
      "ngx.timer.at(10, () => undefined); ngx.timer.at(10, () => undefined)",
    ]);
    assert.deepEqual(
      [r.code, r.stderr],
      [
        2,
        `tsresty: ${join(dir, "c.ts")}: timers is not enumerable (defined by Object.defineProperty), and would be left behind: write it as a plain property\n`,
      ],
    );
  });

  it("a bad config exits 2 naming the file and the key; unknown keys are refused", async () => {
    const typo = await runTsresty(["--config", "test/fixtures/single/bad-key.config.ts", "-e", "1"]);
    assert.equal(typo.code, 2);
    assert.match(
      typo.stderr,
      /^tsresty: test\/fixtures\/single\/bad-key\.config\.ts: timers\.maxPendng is not a known key; known keys here: maxPending, maxRunning, runningLimit\n$/,
    );
    const none = await runTsresty(["--config", "test/fixtures/single/no-export.config.ts", "-e", "1"]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /has no default export/);
    const named = await runTsresty(["--config", "test/fixtures/single/no-default.config.ts", "-e", "1"]);
    assert.equal(named.code, 2);
    assert.match(
      named.stderr,
      /no-default\.config\.ts: timers is a named export, which tsresty does not read/,
    );
    const missing = await runTsresty(["--config", "nope.config.ts", "-e", "1"]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /nope\.config\.ts: cannot be read/);
  });

  it("a config's zone that a --shdict flag of its name replaces is checked too: a bad size exits 2 naming it (it was accepted without a word)", async () => {
    const dir = scratchApp({ "c.mjs": 'export default { shdict: { dogs: "lots", cats: "1m" } };\n' });
    const r = await runTsresty([
      "--config",
      join(dir, "c.mjs"),
      "--shdict",
      "dogs 1m",
      "-e",
      'console.log("ran")',
    ]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      /^tsresty: .*c\.mjs: shdict\.dogs must be a size from 8k to 2g \(bytes, or a number with a k, m or g suffix\), received a string \("lots"\)\n$/,
    );
    assert.equal(r.stdout, "");
  });

  it("bad command lines get the usage text and exit 2", async () => {
    for (const args of [["--bogus"], ["-e"], [], ["--config"]]) {
      const r = await runTsresty(args);
      assert.equal(r.code, 2, args.join(" "));
      assert.match(r.stderr, /^tsresty: .+\nUsage:\n/);
    }
  });

  it('runs TypeScript with top-level await, and `import { ngx } from "tsresty"` is the global ngx', async () => {
    const r = await runTsresty([
      "-e",
      'import { ngx as imported } from "tsresty";\ninterface P { n: number }\nconst p: P = { n: await Promise.resolve(2) };\nconsole.log(imported === ngx, p.n);',
    ]);
    assert.deepEqual([r.code, r.stdout, r.stderr], [0, "true 2\n", ""]);
  });

  it("T-PROC-03, T-WRK-04: in single mode getMasterPid() and pid() are the process's own pid", async () => {
    const r = await runTsresty([
      "-e",
      "console.log(ngx.process.getMasterPid() === process.pid, ngx.worker.pid() === process.pid, ngx.worker.exiting(), JSON.stringify(ngx.worker.pids()) === JSON.stringify([process.pid]))",
    ]);
    assert.equal(r.stdout, "true true false true\n");
  });

  it("T-PRE-08 (single mode): signalGracefulExit() takes effect once the code yields; running code is not cut", async () => {
    const r = await runTsresty([
      "-e",
      [
        'ngx.timer.at(100, (p) => console.log("premature", p));',
        "ngx.process.signalGracefulExit();",
        'console.log("exiting right after the call:", ngx.worker.exiting());',
        "await ngx.sleep(0.2);",
        'console.log("main chunk done, exiting:", ngx.worker.exiting());',
      ].join("\n"),
    ]);
    assert.equal(r.code, 0);
    assert.equal(
      r.stdout,
      "exiting right after the call: false\npremature true\nmain chunk done, exiting: true\n",
    );
  });

  it("scenario 6 and no orphans: ngx.shell.run and ngx.pipe.spawn; children left running end with the process", async () => {
    const marker = `1000.${process.pid}9`;
    const r = await runTsresty([
      "-e",
      [
        'const shell = await ngx.shell.run(`echo "hello, world"`);',
        'const proc = ngx.pipe.spawn(["echo", "hello world"]);',
        "const line = await proc.stdoutReadLine();",
        "console.log(shell.stdout.trim(), line.ok ? line.data : line.reason);",
        `ngx.pipe.spawn("sleep ${marker} & sleep ${marker}");`,
        "await ngx.sleep(0.2);",
      ].join("\n"),
    ]);
    assert.deepEqual([r.code, r.stdout], [0, "hello, world hello world\n"]);
    assert.deepEqual(pidsMatching(`sleep ${marker}`), []);
  });

  it("enablePrivilegedAgent() outside a master's init throws 'API disabled in the current context'", async () => {
    const r = await runTsresty([
      "-e",
      "try { ngx.process.enablePrivilegedAgent() } catch (e: any) { console.log(e.message) }",
    ]);
    assert.equal(r.stdout, "ngx.process.enablePrivilegedAgent: API disabled in the current context\n");
  });
});

describe("examples", () => {
  it("examples/timers.ts shows the counts and runs both periodic jobs", async () => {
    const r = await runTsresty(["examples/timers.ts"]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split("\n");
    assert.equal(lines[0], "pending after scheduling a 3 s timer: 1");
    assert.equal(lines[1], "running while a timer sleeps (plus the main chunk): 2");
    assert.equal(lines[2], "background job started (premature: false)");
    const counts = /after 0\.55 s: (\d+) polls, (\d+) heartbeat ticks/.exec(r.stdout);
    assert.ok(counts !== null, r.stdout);
    assert.ok(Number(counts[1]) >= 2 && Number(counts[2]) >= 2, r.stdout);
    assert.equal(r.stderr, "");
  });
});
