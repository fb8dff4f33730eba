// How a pipe child is started (src/pipe/spawn-child.ts, native/src/spawn.c): what it inherits,
// where its program is found, and what happens when the addon cannot start it.
import assert from "node:assert/strict";
import { execFile, spawn as rawSpawn } from "node:child_process";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { after, describe, it } from "node:test";
import { ensureBuilt } from "../helpers/dist.ts";
import { killMatching, pidsMatching, ROOT } from "../helpers/processes.ts";
import { scratchDir, writeFiles } from "../helpers/scratch.ts";
import { spawnTracked } from "../helpers/pipes.ts";

const start = spawnTracked();

/** Runs `fixture` under tsx with a pipe open as its fd 3; its stdout, within 20 s. */
function runWithFd3(fixture: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = rawSpawn(process.execPath, ["--import", "tsx", fixture], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "inherit", "pipe"],
      timeout: 20_000,
      killSignal: "SIGKILL",
    });
    let out = "";
    child.stdout?.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code, signal) => {
      if (code === 0) resolve(out);
      else reject(new Error(`fixture ended with ${code ?? signal}: ${out}`));
    });
  });
}

describe("what a pipe child inherits", () => {
  it("its three pipes and no other descriptor, every signal at its default action, none blocked", async () => {
    const fixture = fileURLToPath(new URL("fixtures/child-fds.ts", import.meta.url));
    const said = JSON.parse(await runWithFd3(fixture)) as string;
    const [fds, ...signals] = said.trim().split("\n");
    // The child's descriptors, seen from /proc: 0, 1, 2 and nothing of its parent's (fd 3 was
    // open there, without close-on-exec).
    assert.deepEqual(fds?.trim().split(" "), ["0", "1", "2"]);
    // Node ignores SIGPIPE; a child must not inherit that, nor any blocked signal. glibc's
    // posix_spawn leaves its two internal signals (32, 33) ignored, as for every program that
    // uses it; glibc and musl programs install their own handlers for them when they need them.
    const mask = (name: string): bigint =>
      BigInt(`0x${signals.find((l) => l.startsWith(name))?.split("\t")[1]}`);
    const GLIBC_INTERNAL = (1n << 31n) | (1n << 32n);
    assert.equal(mask("SigBlk:"), 0n);
    assert.equal(mask("SigIgn:") & ~GLIBC_INTERNAL, 0n, `ignored: ${mask("SigIgn:").toString(16)}`);
  });

  it("it leads a process group of its own in the worker's session, as OpenResty's children stay in it", async () => {
    const proc = start(["/bin/sh", "-c", "ps -o sid= -o pgid= -p $$"]);
    const out = await proc.stdoutReadAll();
    await proc.wait();
    assert.ok(out.ok);
    const session = Number(readFileSync("/proc/self/stat", "utf8").split(") ")[1]?.split(" ")[3]);
    assert.deepEqual(out.data.toString().trim().split(/\s+/).map(Number), [session, proc.pid()]);
  });
});

describe("the addon's share of a thread's end", () => {
  it("a worker thread that ends while its pipe children run or were just reaped leaves the process running", async () => {
    ensureBuilt();
    const fixture = fileURLToPath(new URL("fixtures/thread-teardown.mjs", import.meta.url));
    const marker = `30.${process.pid}1`;
    after(() => {
      killMatching(marker);
    });
    const { stdout } = await promisify(execFile)(process.execPath, [fixture, marker], {
      cwd: ROOT,
      timeout: 30_000,
      killSignal: "SIGKILL",
    });
    // A terminated thread runs no exit handlers: its children outlive it (as with child_process).
    const pids = JSON.parse(stdout) as number[];
    assert.equal(pids.length, 3);
    assert.deepEqual(pidsMatching(marker).sort(), [...pids].sort());
  });
});

describe("where the program is found", () => {
  const dir = scratchDir("spawn");
  writeFiles(dir, {
    "bin/hello-tsresty": '#!/bin/sh\necho found "$@"\n',
    "bin/no-shebang-tsresty": 'echo run by sh "$0" "$1"\n',
    "bin/not-executable-tsresty": "#!/bin/sh\necho never\n",
  });
  chmodSync(join(dir, "bin/hello-tsresty"), 0o755);
  chmodSync(join(dir, "bin/no-shebang-tsresty"), 0o755);

  it("on the PATH of the child's environment (environ), as execvp finds it", async () => {
    const proc = start(["hello-tsresty", "a b"], { environ: [`PATH=/nonexistent:${join(dir, "bin")}`] });
    const out = await proc.stdoutReadAll();
    assert.deepEqual(await proc.wait(), { ok: true, reason: "exit", status: 0 });
    assert.ok(out.ok);
    assert.equal(out.data.toString(), "found a b\n");
  });

  it("a file without #! is run by /bin/sh with the same arguments, as execvp does", async () => {
    const path = join(dir, "bin/no-shebang-tsresty");
    const proc = start([path, "x"]);
    const out = await proc.stdoutReadAll();
    assert.deepEqual(await proc.wait(), { ok: true, reason: "exit", status: 0 });
    assert.ok(out.ok);
    assert.equal(out.data.toString(), `run by sh ${path} x\n`);
  });

  it("a program that is missing, or not executable, fails as before: exit 127 naming the program", async () => {
    for (const [args, code] of [
      [["no-such-program-tsresty"], "ENOENT"],
      [[join(dir, "bin/not-executable-tsresty")], "EACCES"],
    ] as const) {
      const proc = start(args, { environ: [`PATH=${join(dir, "bin")}`] });
      const result = await proc.wait();
      assert.equal(result.ok, false);
      assert.equal(result.reason, "exit");
      assert.equal(result.status, 127);
      assert.ok("error" in result);
      assert.match(result.error ?? "", new RegExp(`^${args[0]}: spawn ${args[0]} ${code}$`));
      assert.equal(proc.pid(), -1);
    }
  });

  it("a program path whose last character would not fit the addon's 4096 bytes is not cut short before it into another program's (the file named by its first 4093 bytes ran): it fails as the path it is, ENAMETOOLONG", async () => {
    // Directories of 200 bytes down to a file whose path is 4093 bytes; with "€" (3 bytes) the
    // path is 4096 bytes, one more than PATH_MAX allows.
    const deep = scratchDir("long");
    let path = deep;
    while (4093 - path.length > 201) path = join(path, "d".repeat(200));
    mkdirSync(path, { recursive: true });
    path = join(path, "p".repeat(4093 - path.length - 1));
    writeFileSync(path, "#!/bin/sh\necho cut short\n", { mode: 0o755 });
    assert.equal(Buffer.byteLength(path), 4093);
    const proc = start([`${path}€`]);
    const out = await proc.stdoutReadAll();
    const result = await proc.wait();
    assert.deepEqual([out.ok && out.data.toString(), result.status], ["", 127]);
    assert.ok("error" in result);
    assert.equal(result.error, `${path}€: spawn ENAMETOOLONG`);
  });

  it("arguments and environment beyond the kernel's limit fail the same way (exit 127, E2BIG), not with a throw", async () => {
    const huge = "x".repeat(256 * 1024);
    // Before: spawn threw "Error: spawn E2BIG" while a missing program waited as exit 127.
    const proc = start(["/bin/echo", ...Array.from({ length: 16 }, () => huge)]);
    const result = await proc.wait();
    assert.equal(result.ok, false);
    assert.equal(result.status, 127);
    assert.ok("error" in result);
    assert.equal(result.error, "/bin/echo: spawn E2BIG");
    assert.equal(proc.pid(), -1);
  });

  it("a NUL in an argument, the command string or the environment is refused, naming it as the caller wrote it", () => {
    // Before: child_process's own message, one index off ("args[0]" for the caller's args[1]).
    assert.throws(() => start(["echo", "a\0b"]), {
      code: "ERR_TSRESTY_INVALID_ARG_VALUE",
      message: /^ngx\.pipe\.spawn: "args\[1\]" must be a string without NUL characters/,
    });
    assert.throws(() => start("echo a\0b"), {
      message: /^ngx\.pipe\.spawn: "args" must be a string without NUL/,
    });
    assert.throws(() => start(["echo"], { environ: ["A=b", "C=d\0e"] }), {
      message: /^ngx\.pipe\.spawn: "environ\[1\]" must be a string without NUL/,
    });
  });
});
