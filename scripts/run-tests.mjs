#!/usr/bin/env node
// Runs every test file under test/ (or under the folders given) with node:test, on whichever
// `node` runs this script. Node 20's `node --test DIR` finds no .ts files and still exits 0,
// so the files are listed here, and a run in which no test ran fails.
import { spawn, spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const roots = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ["test"];

function findTests(dir) {
  const found = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (name === "fixtures" || name === "node_modules") continue;
    if (statSync(path).isDirectory()) found.push(...findTests(path));
    else if (name.endsWith(".test.ts")) found.push(path);
  }
  return found;
}

const files = roots.flatMap((r) =>
  statSync(join(root, r)).isDirectory() ? findTests(join(root, r)) : [join(root, r)],
);
if (files.length === 0) {
  console.error(`run-tests: no test files under ${roots.join(", ")}`);
  process.exit(1);
}

// The process trees the tests start run dist/ (test/helpers/processes.ts): built here, once,
// before the files run in parallel.
if (process.env.TSRESTY_TEST_SOURCE !== "1") {
  const build = spawnSync(process.execPath, [join(root, "scripts/build.mjs")], { stdio: "inherit" });
  if (build.status !== 0) {
    console.error("run-tests: the build failed");
    process.exit(1);
  }
}

// Three files at a time. node:test's default is one fewer than the cores, one on a 2-core machine,
// where the suite took 12–18 minutes; most of it is files waiting on the process trees they
// start (timers, reloads, graceful stops), not CPU, and three at a time took 6–7 minutes with
// every test passing (README, Development). The tests are written to pass on a loaded machine:
// they wait for what they assert (output, status), not for fixed times. TSRESTY_TEST_CONCURRENCY
// sets another figure (1 runs the files one by one).
const concurrency = process.env.TSRESTY_TEST_CONCURRENCY ?? "3";
if (!/^[1-9]\d*$/.test(concurrency)) {
  console.error(
    `run-tests: TSRESTY_TEST_CONCURRENCY must be a whole number from 1, not ${JSON.stringify(concurrency)}`,
  );
  process.exit(1);
}

const child = spawn(
  process.execPath,
  [
    "--import",
    "tsx",
    "--test",
    "--test-reporter=spec",
    `--test-concurrency=${concurrency}`,
    "--test-timeout=600000",
    ...files.map((f) => relative(root, f)),
  ],
  { cwd: root, stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, FORCE_COLOR: "0" } },
);
// The reporter's summary ("ℹ tests N"), wherever it falls: with failures, their list follows it.
let tail = "";
let count = 0;
child.stdout.setEncoding("utf8");
child.stdout.on("data", (chunk) => {
  process.stdout.write(chunk);
  const text = tail + chunk;
  for (const ran of text.matchAll(/^ℹ tests (\d+)$/gm)) count = Number(ran[1]);
  tail = text.slice(-200);
});
const killer = setTimeout(() => {
  console.error("run-tests: the suite took longer than 25 minutes; killing it");
  child.kill("SIGKILL");
}, 25 * 60_000);
child.on("close", (code, signal) => {
  clearTimeout(killer);
  if (count === 0) {
    console.error("run-tests: no test ran");
    process.exit(1);
  }
  console.log(`run-tests: ${count} tests on node ${process.version}`);
  process.exit(code ?? (signal ? 1 : 0));
});
