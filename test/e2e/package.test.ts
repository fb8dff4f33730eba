import assert from "node:assert/strict";
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { cpSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { ensureBuilt } from "../helpers/dist.ts";
import { argvOf, ROOT, runTsresty, startTsresty } from "../helpers/processes.ts";
import { scratchApp } from "../helpers/scratch.ts";
import { get, startTree } from "../helpers/tree.ts";

interface Probe {
  entry: string;
  args: string[];
  execArgv: string[];
  typescript: string;
  sameNgx: boolean;
}

/** An app that says which file its process runs with what arguments, its Node flags, and whether it can import TypeScript. */
const PROBE_APP = `
import { defineApp, ngx } from "tsresty";
export default defineApp({
  async fetch() {
    let typescript = "loaded";
    try { await import("./probe.ts"); } catch (error) { typescript = error.code; }
    return Response.json({ entry: process.argv[1], args: process.argv.slice(2), execArgv: process.execArgv, typescript, sameNgx: ngx === globalThis.ngx });
  },
});
`;
/** An enum: beyond what Node 22+ strips by itself, so only a TypeScript loader (tsx) imports it. */
const PROBE_TS = `export enum Probe { Typed }\n`;

describe("the package: the compiled CLI, tsx only for TypeScript, one copy of tsresty per app", () => {
  it("the compiled CLI serves a JavaScript app from dist/, and none of its processes has a TypeScript loader", async () => {
    const dir = scratchApp({ "app.mjs": PROBE_APP, "probe.ts": PROBE_TS });
    const tree = await startTree(join(dir, "app.mjs"), { compiled: true });
    const probe = JSON.parse((await get(tree.url())).body) as Probe;
    assert.equal(probe.entry, join(ROOT, "dist/worker/main.js"));
    assert.deepEqual(probe.args, []);
    // ERR_UNKNOWN_FILE_EXTENSION on Node 20, ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX where Node strips types.
    assert.match(probe.typescript, /^(ERR_UNKNOWN_FILE_EXTENSION|ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX)$/);
    assert.deepEqual(
      probe.execArgv.filter((flag) => /tsx|tsresty-source/.test(flag)),
      [],
    );
    assert.doesNotMatch(argvOf(tree.masterPid).join(" "), /tsx|tsresty-source/);
    // The app has no tsresty of its own: it gets the copy that runs it, the same `ngx`.
    assert.equal(probe.sameNgx, true);
    await tree.command("stop");
    assert.equal((await tree.run.done).code, 0);
  });

  it("a compiled app's tsresty.config.js beside it is read by default, as tsresty.config.ts is (it was ignored: the defaults, every interface)", async () => {
    const dir = scratchApp({
      "app.js": `export default { fetch: () => new Response(String(Object.keys(ngx.shared))) };\n`,
      "package.json": `{ "type": "module" }\n`,
      "tsresty.config.js": `export default { workers: 1, listen: ["127.0.0.1:0"], shdict: { cache: "1m" } };\n`,
    });
    const prefix = join(dir, "prefix");
    const run = startTsresty(["start", "app.js", "--prefix", prefix], { cwd: dir, deadlineMs: 60_000 });
    await run.waitForOutput("tsresty ready:");
    const ready = /1 worker, listening on 127\.0\.0\.1:(\d+)/.exec(run.stdout());
    assert.ok(ready !== null, run.stdout());
    assert.equal((await get(`http://127.0.0.1:${ready[1]}/`)).body, "cache");
    assert.equal((await runTsresty(["stop", "--prefix", prefix])).code, 0);
    assert.equal((await run.done).code, 0);
  });

  it("the compiled CLI loads tsx where the app and the config are TypeScript", async () => {
    const dir = scratchApp({
      "app.ts": PROBE_APP.replace("catch (error)", "catch (error: any)"),
      "probe.ts": PROBE_TS,
      "tsresty.config.ts": `const workers: number = 1;\nexport default { workers };\n`,
    });
    const tree = await startTree(join(dir, "app.ts"), {
      compiled: true,
      workers: null,
      args: ["--config", join(dir, "tsresty.config.ts")],
    });
    const probe = JSON.parse((await get(tree.url())).body) as Probe;
    assert.equal(probe.entry, join(ROOT, "dist/worker/main.js"));
    assert.equal(probe.typescript, "loaded");
    // Told so by the master, the process registers tsx once its own modules are loaded and before
    // it stands by (a booted standby has it too): not by a Node flag, which would send tsresty's
    // own modules through tsx's hooks as well.
    assert.deepEqual(probe.args, ["--typescript"]);
    assert.deepEqual(
      probe.execArgv.filter((flag) => /tsx|tsresty-source/.test(flag)),
      [],
    );
    assert.equal(probe.sameNgx, true);
    assert.equal((await tree.status()).processes.filter((row) => row.type === "worker").length, 1);
    await tree.command("stop");
    assert.equal((await tree.run.done).code, 0);
  });

  it("the compiled CLI runs TypeScript with -e and a JavaScript FILE in single mode", async () => {
    const typed = await runTsresty(["-e", "const n: number = 41; console.log(n + 1, ngx.process.type())"], {
      compiled: true,
    });
    assert.equal(typed.stdout, "42 single\n", typed.stderr);
    const dir = scratchApp({
      "main.mjs": `import { ngx } from "tsresty";\nconsole.log(ngx === globalThis.ngx, ngx.process.type(), process.argv.slice(2).join(","));\n`,
    });
    const plain = await runTsresty([join(dir, "main.mjs"), "a", "b"], { compiled: true });
    assert.equal(plain.stdout, "true single a,b\n", plain.stderr);
  });

  it("CommonJS TypeScript (.cts) that imports or requires tsresty: an app and its config under start, a file in single mode (on Node 20 both failed inside Node's loader: reading 'exports')", async () => {
    const dir = scratchApp({
      "app.cts": `import { ngx } from "tsresty";\nexport default { fetch: () => new Response("cts " + ngx.process.type() + " " + (ngx === globalThis.ngx)) };\n`,
      "config.cts": `import { defineConfig } from "tsresty";\nconst workers: number = 1;\nexport default defineConfig({ workers });\n`,
      "main.cts": `const { ngx } = require("tsresty");\nngx.timer.at(0, () => console.log("timer", ngx.process.type(), ngx === globalThis.ngx));\n`,
    });
    const tree = await startTree(join(dir, "app.cts"), {
      compiled: true,
      workers: null,
      args: ["--config", join(dir, "config.cts")],
    });
    assert.equal((await get(tree.url())).body, "cts worker true");
    assert.equal((await tree.status()).processes.filter((row) => row.type === "worker").length, 1);
    await tree.command("stop");
    const single = await runTsresty([join(dir, "main.cts")], { compiled: true });
    assert.equal(single.stdout, "timer single true\n", single.stderr);
  });

  it("a worker serving a node:http handler loads neither ioredis nor undici (16 and 10 MB of its RSS)", async () => {
    const dir = scratchApp({
      "app.mjs": `import { createRequire } from "node:module";
export default {
  handler(_req, res) {
    const cjs = Object.keys(createRequire(import.meta.url).cache).filter((f) => f.includes("/ioredis/"));
    const undici = process.moduleLoadList.filter((m) => m.includes("undici"));
    res.end(JSON.stringify({ cjs, undici }));
  },
};
`,
    });
    const tree = await startTree(join(dir, "app.mjs"), { compiled: true, workers: 1 });
    const loaded = JSON.parse((await get(tree.url())).body) as { cjs: string[]; undici: string[] };
    assert.deepEqual(loaded.cjs, []);
    // From Node 22, Node itself loads undici for any ES import of node:http (its namespace reads
    // the module's lazy web exports), so only Node 20 can show tsresty's own part.
    if (Number(process.versions.node.split(".")[0]) < 22) assert.deepEqual(loaded.undici, []);

    await tree.command("stop");
    assert.equal((await tree.run.done).code, 0);
  });

  it("tsresty hands an app that has its own copy of tsresty over to that copy", async () => {
    const dir = scratchApp({
      "app.mjs": `export default { fetch: () => new Response("") };\n`,
      "node_modules/tsresty/package.json": JSON.stringify({
        name: "tsresty",
        type: "module",
        bin: { tsresty: "bin.js" },
        exports: { ".": "./index.js" },
      }),
      "node_modules/tsresty/index.js": "export const local = true;\n",
      "node_modules/tsresty/bin.js": `console.log("local copy:", process.argv.slice(2).join(" "));\n`,
    });
    // Run from another directory, as a global tsresty is: the app's directory decides.
    for (const compiled of [true, false]) {
      const single = await runTsresty([join(dir, "app.mjs"), "x"], { compiled, cwd: ROOT });
      assert.equal(single.stdout, `local copy: ${join(dir, "app.mjs")} x\n`, single.stderr);
      const start = await runTsresty(["start", join(dir, "app.mjs"), "--workers", "1"], {
        compiled,
        cwd: ROOT,
      });
      assert.equal(start.stdout, `local copy: start ${join(dir, "app.mjs")} --workers 1\n`, start.stderr);
    }
    const evalHere = await runTsresty(["-e", "console.log(1)"], { compiled: true, cwd: dir });
    assert.equal(evalHere.stdout, "local copy: -e console.log(1)\n", evalHere.stderr);
  });
});

describe("an installed package whose native addon is missing (install scripts skipped, no prebuild for the platform)", () => {
  // A copy of the package without build/ or prebuilds/: node-gyp-build finds no addon there.
  const copy = (): string => {
    ensureBuilt();
    const dir = scratchApp({ "app.mjs": `export default { fetch: () => new Response("ok") };\n` });
    for (const part of ["dist", "bin", "package.json"])
      cpSync(join(ROOT, part), join(dir, part), { recursive: true });
    symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"));
    return dir;
  };
  const run = (dir: string, args: string[]): SpawnSyncReturns<string> =>
    spawnSync(process.execPath, [join(dir, "bin/tsresty"), ...args], {
      cwd: dir,
      encoding: "utf8",
      timeout: 30_000,
      env: { ...process.env, NODE_OPTIONS: "" },
    });

  it("start fails with one line naming the addon and the fix, exit 1 (it was an uncaught ShdictError's stack)", () => {
    const dir = copy();
    const r = run(dir, [
      "start",
      "app.mjs",
      "--workers",
      "1",
      "--listen",
      "127.0.0.1:0",
      "--prefix",
      join(dir, "p"),
    ]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(
      r.stderr,
      /^tsresty: start failed: tsresty's native addon could not be loaded \(No native build was found[^\n]*\): zones and `tsresty start` need it, on Linux;[^\n]*npm rebuild tsresty[^\n]*\n$/,
    );
  });

  it("single mode without zones runs without a word of it (it warned twice at every run); a zone says it", () => {
    const dir = copy();
    const plain = run(dir, ["-e", "console.log(1)"]);
    assert.deepEqual([plain.status, plain.stdout, plain.stderr], [0, "1\n", ""]);
    const zone = run(dir, ["--shdict", "dogs 1m", "-e", "console.log(1)"]);
    assert.equal(zone.status, 1);
    assert.match(
      zone.stderr,
      /^tsresty: cannot create zone "dogs" \(1048576 bytes\): tsresty's native addon could not be loaded/,
    );
  });
});
