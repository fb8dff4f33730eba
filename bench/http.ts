/**
 * `npm run bench:http`: tsresty's HTTP workers beside a bare node:cluster server with the same
 * handler, measured in one run with wrk on 127.0.0.1 (wrk and the servers share the 2 cores).
 *
 * - hello world req/s with 1 and 2 workers (median of RUNS wrk runs of DURATION each);
 * - failed requests while 10 reloads happen under load (wrk socket errors + non-2xx);
 * - respawn time after SIGKILL: from the kill to the replacement being ready (see respawnTimes).
 *
 * Needs wrk (Debian package `wrk`). Every process started here is stopped, by pid, at the end.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { sendControl, type ProcessRow } from "../src/master/index.ts";
import { markdownTable } from "./table.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const BIN = join(ROOT, "bin/tsresty");
const RUNS = Number(process.env["BENCH_RUNS"] ?? 3);
const DURATION = process.env["BENCH_DURATION"] ?? "8s";
const SECTIONS = (process.env["BENCH_SECTIONS"] ?? "throughput,reload,respawn").split(",");
const started = new Set<ChildProcess>();

function wrkAvailable(): boolean {
  try {
    execFileSync("wrk", ["--version"], { stdio: "ignore" });
    return true;
  } catch (error) {
    return (error as { status?: number }).status === 1; // wrk --version exits 1 after printing
  }
}

interface WrkResult {
  readonly rps: number;
  readonly errors: number;
  readonly non2xx: number;
  readonly requests: number;
}

function wrk(port: number, duration: string): Promise<WrkResult> {
  return new Promise((resolve, reject) => {
    const child = spawn("wrk", ["-t2", "-c64", `-d${duration}`, `http://127.0.0.1:${port}/`], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.on("error", reject);
    child.on("close", () => {
      const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
      if (!(rps > 0)) process.stderr.write(`wrk on port ${port} measured nothing:\n${out}\n`);
      const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
      const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
      const errors = socket === null ? 0 : socket.slice(1).reduce((sum, n) => sum + Number(n), 0);
      const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
      resolve({ rps, errors, non2xx, requests });
    });
  });
}

/** Starts a server process and resolves with its port once `pattern` (capturing the port) appears. */
function startServer(
  command: string,
  args: string[],
  pattern: RegExp,
  env: NodeJS.ProcessEnv = {},
): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...env },
    });
    started.add(child);
    let out = "";
    const timer = setTimeout(() => {
      reject(new Error(`server did not start: ${out}`));
    }, 30_000);
    const onData = (chunk: Buffer): void => {
      out += chunk.toString();
      const match = pattern.exec(out);
      if (match !== null) {
        clearTimeout(timer);
        resolve({ child, port: Number(match[1]) });
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.on("exit", () => {
      started.delete(child);
    });
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

function tsresty(
  app: string,
  workers: number,
  prefix: string,
): Promise<{ child: ChildProcess; port: number }> {
  return startServer(
    process.execPath,
    [BIN, "start", app, "--workers", String(workers), "--listen", "127.0.0.1:0", "--prefix", prefix],
    /listening on 127\.0\.0\.1:(\d+)/,
  );
}

function bare(workers: number): Promise<{ child: ChildProcess; port: number }> {
  return startServer(
    process.execPath,
    [join(ROOT, "bench/fixtures/bare-cluster.mjs")],
    /listening on (\d+)/,
    {
      WORKERS: String(workers),
    },
  );
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
};

/**
 * Req/s of several servers, measured in turns (A, B, C, A, B, C, …) so that a drift of the
 * machine during the run (other tenants, CPU frequency) weighs on every server alike. Only the
 * server being measured is loaded; the others sit idle. Returns the median of each.
 */
async function throughput(
  starts: (() => Promise<{ child: ChildProcess; port: number }>)[],
): Promise<number[]> {
  const servers = [];
  for (const start of starts) servers.push(await start());
  for (const server of servers) await wrk(server.port, "2s"); // warm-up
  const runs: number[][] = servers.map(() => []);
  for (let i = 0; i < RUNS; i++) {
    for (const [index, server] of servers.entries())
      runs[index]?.push((await wrk(server.port, DURATION)).rps);
  }
  for (const server of servers) await stop(server.child);
  return runs.map(median);
}

function tsrestyControl(prefix: string, ...args: string[]): string {
  return execFileSync(process.execPath, [BIN, ...args, "--prefix", prefix], { cwd: ROOT, encoding: "utf8" });
}

async function reloadsUnderLoad(prefix: string): Promise<WrkResult & { reloads: number }> {
  const server = await tsresty("bench/fixtures/hello-app.ts", 2, prefix);
  const load = wrk(server.port, "12s");
  await new Promise((resolve) => setTimeout(resolve, 500));
  let reloads = 0;
  for (let i = 0; i < 10; i++) {
    tsrestyControl(prefix, "reload");
    reloads++;
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  const result = await load;
  await stop(server.child);
  return { ...result, reloads };
}

/**
 * Respawn time: kill each worker of a 12-worker tree once (each is then a first crash, which the
 * master respawns at once, with no backoff) and time from the SIGKILL to the moment the master
 * reports the slot's new process ready, polling its control socket.
 */
async function respawnTimes(prefix: string, workers: number, settle: boolean): Promise<number[]> {
  const server = await tsresty("bench/fixtures/hello-app.ts", workers, prefix);
  const times: number[] = [];
  for (let id = 0; id < workers; id++) {
    // An isolated crash: the tree has settled (its standby is booted) before each kill.
    let before = await statusOf(prefix);
    while (settle && !before.some((p) => p.type === "standby" && p.state === "running")) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      before = await statusOf(prefix);
    }
    const victim = before.find((p) => p.id === id && p.pid !== null);
    if (victim?.pid == null) throw new Error(`no worker ${id}`);
    const t0 = performance.now();
    process.kill(victim.pid, "SIGKILL");
    // (a status request sent before the master saw the exit would wait for the dead child)
    while (isAlive(victim.pid)) await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setTimeout(resolve, 5));
    for (;;) {
      const now = await statusOf(prefix);
      const slot = now.find((p) => p.id === id);
      if (slot !== undefined && slot.pid !== victim.pid && slot.state === "running") break;
      if (performance.now() - t0 > 30_000) throw new Error(`worker ${id} did not come back`);
    }
    times.push(performance.now() - t0);
  }
  await stop(server.child);
  return times;
}

async function statusOf(prefix: string): Promise<ProcessRow[]> {
  const answer = await sendControl(prefix, { command: "status" });
  if (!answer.ok || answer.status === undefined) throw new Error(answer.message);
  return [...answer.status.processes];
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  if (!wrkAvailable()) {
    console.error("bench:http needs wrk: apt-get install -y wrk");
    process.exit(2);
  }
  const prefix = mkdtempSync(join(tmpdir(), "tsresty-bench-"));
  try {
    const rows: string[][] = [];
    for (const workers of SECTIONS.includes("throughput") ? [1, 2] : []) {
      const [base = NaN, ours = NaN, fetchStyle = NaN] = await throughput([
        () => bare(workers),
        () => tsresty("bench/fixtures/hello-app.ts", workers, join(prefix, "handler")),
        () => tsresty("bench/fixtures/hello-fetch-app.ts", workers, join(prefix, "fetch")),
      ]);
      rows.push([
        `hello world, ${workers} worker${workers > 1 ? "s" : ""} (req/s)`,
        `${Math.round(ours).toLocaleString("en-US")} (fetch(): ${Math.round(fetchStyle).toLocaleString("en-US")})`,
        Math.round(base).toLocaleString("en-US"),
        `${((ours / base) * 100).toFixed(1)}%`,
        "≥ 95% of bare cluster",
      ]);
    }
    const reload = SECTIONS.includes("reload") ? await reloadsUnderLoad(prefix) : null;
    if (reload !== null)
      rows.push([
        `failed requests during ${reload.reloads} reloads under load`,
        `${reload.errors + reload.non2xx} of ${reload.requests.toLocaleString("en-US")}`,
        "",
        "",
        "0",
      ]);
    for (const settle of SECTIONS.includes("respawn") ? [true, false] : []) {
      const times = (await respawnTimes(prefix, 12, settle)).sort((a, b) => a - b);
      rows.push([
        settle
          ? "respawn after SIGKILL to ready, p50 / max (ms), 12 kills"
          : "same, kills back to back (no booted standby: cold fork)",
        `${median(times).toFixed(0)} / ${(times[times.length - 1] ?? NaN).toFixed(0)}`,
        "",
        "",
        settle ? "p50 < 150 ms" : "",
      ]);
    }
    console.log(
      `node ${process.version}, ${new Date().toISOString()}, wrk -t2 -c64 -d${DURATION}, median of ${RUNS} runs taken in turns`,
    );
    console.log(markdownTable(["figure", "tsresty", "bare node:cluster", "tsresty/bare", "bar"], rows));
  } finally {
    for (const child of started) child.kill("SIGKILL");
    rmSync(prefix, { recursive: true, force: true });
  }
}

await main();
