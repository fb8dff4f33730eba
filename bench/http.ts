/**
 * `npm run bench:http`: tsresty's HTTP workers beside the servers a user would otherwise run,
 * all serving the same hello world, measured in one run with wrk on 127.0.0.1 (wrk and the
 * servers share the machine's cores):
 *
 * - req/s with keep-alive and with `Connection: close` (a new connection per request), with 1
 *   and 2 workers, for tsresty's `handler` and `fetch` running the compiled app the bare servers
 *   run (and `handler` running it in TypeScript, loaded with tsx), a bare node:cluster with round
 *   robin (its default) and with workers accepting directly (SCHED_NONE), @hono/node-server on a
 *   cluster, and nginx + ngx_lua where installed. Servers are measured in turns, each turn in an
 *   order shuffled anew (seeded), each server started anew in each turn, and the median of
 *   BENCH_RUNS runs is kept, so a drift of the machine, what the server before leaves behind, or
 *   one process's luck weighs on all alike. The bar's ratio is also given as the median of each
 *   turn's own ratio ("per turn"). Beside req/s, the CPU time the server's processes spent per
 *   request (cpu.ts): what the server decides, whatever share of the cores wrk and the VM leave
 *   it in a run.
 * - failed requests while BENCH_RELOADS reloads happen under load (wrk socket errors + non-2xx);
 * - respawn time after SIGKILL: from the kill to the replacement being ready.
 *
 * BENCH_SECTIONS (keepalive,close,reload,respawn), BENCH_RUNS (3), BENCH_DURATION (5s),
 * BENCH_RELOADS (100) tune it; BENCH_SERVERS (names of the table's columns, separated by `;`)
 * measures some servers only. Needs wrk. Every process started here is stopped at the end.
 */
import { execFile, execFileSync, spawn } from "node:child_process";
import { promisify } from "node:util";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { alive } from "../test/helpers/wait.ts";
import { freePort, killAll, started, startServer, statusOf, stop, type Running } from "./servers.ts";
import { seededRandom, shuffle } from "../test/helpers/random.ts";
import { markdownTable, median } from "./table.ts";
import { listOf } from "./settings.ts";
import { treeCpuMs } from "./cpu.ts";
import { wrk, wrkAvailable, type WrkResult } from "./wrk.ts";

const execFileAsync = promisify(execFile);
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const BIN = join(ROOT, "bin/tsresty");
const RUNS = Number(process.env["BENCH_RUNS"] ?? 3);
const DURATION = process.env["BENCH_DURATION"] ?? "5s";
const RELOADS = Number(process.env["BENCH_RELOADS"] ?? 100);
const SECTIONS = (process.env["BENCH_SECTIONS"] ?? "keepalive,close,reload,respawn").split(",");

let prefixes = 0;
/** A `tsresty start` tree of `app` under `prefix` (a fresh one by default), on a port of its own. */
function tsresty(app: string, workers: number, prefix = join(scratch, `p${++prefixes}`)): Promise<Running> {
  return startServer(
    process.execPath,
    [BIN, "start", app, "--workers", String(workers), "--listen", "127.0.0.1:0", "--prefix", prefix],
    /listening on 127\.0\.0\.1:(\d+)/,
    { cwd: ROOT },
  );
}

function cluster(fixture: string, workers: number, env: NodeJS.ProcessEnv = {}): Promise<Running> {
  return startServer(process.execPath, [join(ROOT, "bench/fixtures", fixture)], /listening on (\d+)/, {
    cwd: ROOT,
    env: { WORKERS: String(workers), ...env },
  });
}

const NGINX_MODULES = ["/usr/lib/nginx/modules", "/usr/share/nginx/modules"];

/** nginx (+ ngx_lua when its module is installed), or the reason it cannot run here. */
function nginxSetup(): { modules: string; handler: string } | string {
  try {
    execFileSync("nginx", ["-v"], { stdio: "ignore" });
  } catch {
    return "nginx is not installed (apt-get install -y nginx libnginx-mod-http-lua)";
  }
  const dir = NGINX_MODULES.find((d) => existsSync(join(d, "ngx_http_lua_module.so")));
  if (dir === undefined)
    return "ngx_http_lua_module is not installed (apt-get install -y libnginx-mod-http-lua)";
  return {
    modules: `load_module ${dir}/ndk_http_module.so;\nload_module ${dir}/ngx_http_lua_module.so;`,
    handler: 'content_by_lua_block { ngx.say("hello") }',
  };
}

async function nginx(workers: number): Promise<Running> {
  const setup = nginxSetup();
  if (typeof setup === "string") throw new Error(setup);
  const port = await freePort();
  const prefix = join(scratch, `nginx${++prefixes}`);
  mkdirSync(prefix);
  const conf = readFileSync(join(ROOT, "bench/fixtures/nginx-hello.conf"), "utf8")
    .replaceAll("@MODULES@", setup.modules)
    .replaceAll("@HANDLER@", setup.handler)
    .replaceAll("@WORKERS@", String(workers))
    .replaceAll("@PORT@", String(port))
    .replaceAll("@PREFIX@", prefix);
  writeFileSync(join(prefix, "nginx.conf"), conf);
  const child = spawn(
    "nginx",
    ["-p", prefix, "-c", join(prefix, "nginx.conf"), "-e", join(prefix, "error.log")],
    {
      stdio: "ignore",
    },
  );
  started.add(child);
  child.on("exit", () => started.delete(child));
  // nginx says nothing when it is up: poll its port.
  for (let i = 0; i < 200; i++) {
    const up = await fetch(`http://127.0.0.1:${port}/`).then(
      (r) => r.ok,
      () => false,
    );
    if (up) return { port, child };
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error("nginx did not answer");
}

interface Contender {
  readonly name: string;
  start(workers: number): Promise<Running>;
}

const CONTENDERS: Contender[] = [
  // The compiled app, as the bare clusters run it; the TypeScript one (its workers load tsx) beside.
  { name: "tsresty handler", start: (n) => tsresty("bench/fixtures/hello-app.mjs", n) },
  { name: "tsresty fetch", start: (n) => tsresty("bench/fixtures/hello-fetch-app.mjs", n) },
  { name: "tsresty handler, .ts app", start: (n) => tsresty("bench/fixtures/hello-app.ts", n) },
  { name: "cluster round robin", start: (n) => cluster("bare-cluster.mjs", n) },
  {
    name: "cluster direct accept",
    start: (n) => cluster("bare-cluster.mjs", n, { NODE_CLUSTER_SCHED_POLICY: "none" }),
  },
  { name: "@hono/node-server", start: (n) => cluster("hono-cluster.mjs", n) },
  { name: "nginx + ngx_lua", start: (n) => nginx(n) },
];

/** BENCH_SERVERS: the contenders to measure, by their column names separated by `;` (a name holds a comma). */
const CHOSEN = listOf(
  "BENCH_SERVERS",
  CONTENDERS.map((c) => c.name),
  ";",
);

/** Prefixes and nginx's directories; made after the settings above are checked, removed at the end. */
const scratch = mkdtempSync(join(tmpdir(), "tsresty-bench-"));

/** One wrk run of one server: its req/s, and the CPU its processes spent per request (µs). */
interface Run {
  readonly rps: number;
  readonly cpuUs: number;
}

/**
 * The runs of each contender that could start, one per turn: in every turn each is started
 * anew, warmed up, measured once and stopped, in an order shuffled anew for that turn (seeded:
 * the same in every run of the bench), so that none always runs first or right after the same
 * one. (A rotation by one, with 7 contenders and 3 turns, put the first contender right after the
 * last, nginx, in every turn.) A fresh tree per turn, not one tree per run: on this project's VM a
 * server process can fall into a slower state and keep it (10–20% more CPU per request for the
 * rest of its life, bare clusters and tsresty trees alike: docs/benchmarks.md, 2026-12-05), so one
 * tree measured in every turn made a whole run's ratio that one process's luck.
 */
async function throughput(workers: number, headers: readonly string[]): Promise<Map<string, Run[]>> {
  const contenders = CONTENDERS.filter((c) => CHOSEN.includes(c.name));
  const runs = new Map<string, Run[]>(contenders.map((c) => [c.name, []]));
  const url = (port: number): string => `http://127.0.0.1:${port}/`;
  const random = seededRandom(workers * 1000 + headers.length);
  for (let i = 0; i < RUNS; i++) {
    for (const contender of shuffle([...contenders], random)) {
      const turns = runs.get(contender.name);
      if (turns === undefined) continue; // could not start in an earlier turn
      let running: Running;
      try {
        running = await contender.start(workers);
      } catch (error) {
        // Left out from then on: a column of fewer turns than the others would not compare.
        const when = i === 0 ? "" : ` in turn ${i + 1}, its earlier turns dropped`;
        process.stderr.write(
          `${contender.name}: skipped${when} (${error instanceof Error ? error.message : String(error)})\n`,
        );
        runs.delete(contender.name);
        continue;
      }
      try {
        await wrk(url(running.port), { duration: "2s", headers }); // warm-up
        const pid = running.child.pid ?? 0;
        const before = treeCpuMs(pid);
        const { rps, requests } = await wrk(url(running.port), { duration: DURATION, headers });
        const after = treeCpuMs(pid);
        const cpuUs = before === null || after === null ? NaN : ((after - before) * 1000) / requests;
        turns.push({ rps, cpuUs });
      } finally {
        await stop(running.child);
      }
    }
  }
  return runs;
}

/** A control command to the tree under `prefix`, without blocking this process's event loop. */
async function tsrestyControl(prefix: string, ...args: string[]): Promise<void> {
  await execFileAsync(process.execPath, [BIN, ...args, "--prefix", prefix], { cwd: ROOT });
}

/** `count` reloads, one after the other, while wrk keeps loading the tree in 10 s windows. */
async function reloadsUnderLoad(count: number): Promise<WrkResult & { reloads: number }> {
  const prefix = join(scratch, "reload");
  const server = await tsresty("bench/fixtures/hello-app.ts", 2, prefix);
  const progress = { reloads: 0, done: false };
  const reloading = (async () => {
    await new Promise((resolve) => setTimeout(resolve, 500));
    for (; progress.reloads < count; progress.reloads++) await tsrestyControl(prefix, "reload");
    progress.done = true;
  })();
  const total = { rps: 0, requests: 0, errors: 0, non2xx: 0 };
  while (!progress.done) {
    const window = await wrk(`http://127.0.0.1:${server.port}/`, { duration: "10s" });
    total.requests += window.requests;
    total.errors += window.errors;
    total.non2xx += window.non2xx;
  }
  await reloading;
  await stop(server.child);
  return { ...total, reloads: progress.reloads };
}

/**
 * Respawn time: kill each worker of a 12-worker tree once and time from the SIGKILL to the moment
 * the master reports the slot's new process ready, polling its control socket. `settle` waits for
 * the booted standby before each kill (the usual case); without it, the kills come back to back
 * and most replacements are cold forks.
 */
async function respawnTimes(settle: boolean): Promise<number[]> {
  const prefix = join(scratch, `respawn${settle ? "s" : "c"}`);
  const server = await tsresty("bench/fixtures/hello-app.ts", 12, prefix);
  const times: number[] = [];
  for (let id = 0; id < 12; id++) {
    let before = await statusOf(prefix);
    while (settle && !before.some((p) => p.type === "standby" && p.state === "running")) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      before = await statusOf(prefix);
    }
    const victim = before.find((p) => p.id === id && p.pid !== null);
    if (victim?.pid == null) throw new Error(`no worker ${id}`);
    const t0 = performance.now();
    process.kill(victim.pid, "SIGKILL");
    // Polled every 10 ms, not back to back: a status round asks every process of the tree, and
    // asking without pause would take the cores from the replacement it waits for.
    const poll = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 10));
    while (alive(victim.pid)) await poll();
    for (;;) {
      const slot = (await statusOf(prefix)).find((p) => p.id === id && p.type === "worker");
      if (slot !== undefined && slot.pid !== victim.pid && slot.state === "running") break;
      if (performance.now() - t0 > 30_000) throw new Error(`worker ${id} did not come back`);
      await poll();
    }
    times.push(performance.now() - t0);
  }
  await stop(server.child);
  return times;
}

const rate = (n: number | undefined): string =>
  n === undefined ? "-" : Math.round(n).toLocaleString("en-US");
/**
 * A ratio to two decimals, rounded down: beside a bar (≥ 0.8×), 0.7995 printed as 0.80× read as
 * met. (The epsilon keeps 0.29, stored as 0.28999…, at 0.29.)
 */
const times = (x: number): string => `${(Math.floor(x * 100 + 1e-9) / 100).toFixed(2)}×`;
const micros = (us: number | undefined): string =>
  us === undefined || Number.isNaN(us) ? "-" : us.toFixed(1);
const ratio = (a: number | undefined, b: number | undefined): string =>
  a === undefined || b === undefined ? "-" : times(a / b);

/**
 * What the handler is held against: the bare cluster with the higher median (keep-alive), or
 * the one with direct accept (`Connection: close`); undefined when it could not run.
 */
function bestBare(mode: "keepalive" | "close", at: (name: string) => number | undefined): string | undefined {
  const names =
    mode === "keepalive" ? ["cluster round robin", "cluster direct accept"] : ["cluster direct accept"];
  let best: string | undefined;
  for (const name of names) if ((at(name) ?? 0) > (best === undefined ? 0 : (at(best) ?? 0))) best = name;
  return best;
}

/** The median, over the turns, of each turn's own ratio of `a`'s figure to `b`'s. */
function perTurn(a: readonly number[], b: readonly number[]): string {
  const ratios = median(a.map((x, i) => x / (b[i] ?? NaN)));
  return Number.isNaN(ratios) ? "-" : times(ratios);
}

async function throughputTable(mode: "keepalive" | "close"): Promise<string> {
  const headers = mode === "close" ? ["Connection: close"] : [];
  const rows: string[][] = [];
  const cpuRows: string[][] = [];
  const figures: string[] = [];
  for (const workers of [1, 2]) {
    const turns = await throughput(workers, headers);
    for (const [name, runs] of turns)
      figures.push(
        `${workers} × ${name}: ${runs.map((run) => `${rate(run.rps)} (${micros(run.cpuUs)} µs)`).join(", ")}`,
      );
    const rpsOf = (name: string): number[] => (turns.get(name) ?? []).map((run) => run.rps);
    const cpuOf = (name: string): number[] => (turns.get(name) ?? []).map((run) => run.cpuUs);
    const r = new Map([...turns.keys()].map((name) => [name, median(rpsOf(name))]));
    const cpu = new Map([...turns.keys()].map((name) => [name, median(cpuOf(name))]));
    const handler = r.get("tsresty handler");
    // Each turn's own ratio, then their median: the two servers of a turn ran minutes apart at
    // most, so the machine's drift between turns cancels. Held against the one bare cluster that
    // is best by its median, in every turn: the better of two noisy figures taken anew in each
    // turn is above either one's typical figure (two servers of equal speed whose figures spread
    // by σ: about 0.56σ above), which would read as tsresty losing to a server no faster than it.
    const best = bestBare(mode, (name) => r.get(name));
    rows.push([
      String(workers),
      ...CONTENDERS.map((c) => rate(r.get(c.name))),
      `${ratio(handler, best === undefined ? undefined : r.get(best))} (per turn ${best === undefined ? "-" : perTurn(rpsOf("tsresty handler"), rpsOf(best))})`,
      ratio(r.get("tsresty fetch"), handler),
    ]);
    cpuRows.push([
      String(workers),
      ...CONTENDERS.map((c) => micros(cpu.get(c.name))),
      best === undefined
        ? "-"
        : `${ratio(cpu.get("tsresty handler"), cpu.get(best))} (per turn ${perTurn(cpuOf("tsresty handler"), cpuOf(best))})`,
    ]);
  }
  const against =
    mode === "keepalive"
      ? "handler / best bare cluster (bar ≥ 1.0×)"
      : "handler / direct accept (bar ≥ 0.95×)";
  const table = markdownTable(
    ["workers", ...CONTENDERS.map((c) => c.name), against, "fetch / handler (bar ≥ 0.8×)"],
    rows,
  );
  const cpuTable = markdownTable(
    ["workers", ...CONTENDERS.map((c) => c.name), "handler / the same bare cluster (lower is cheaper)"],
    cpuRows,
  );
  return [
    table,
    "CPU time of the server's processes per request (µs; the master's included), median of the turns:",
    cpuTable,
    `Each turn's figures, in the order of the turns:\n${figures.map((f) => `- ${f}`).join("\n")}`,
  ].join("\n\n");
}

async function main(): Promise<void> {
  if (!wrkAvailable()) {
    console.error("bench:http needs wrk: apt-get install -y wrk");
    process.exit(2);
  }
  try {
    console.log(
      `node ${process.version}, ${new Date().toISOString()}, wrk -t2 -c64 -d${DURATION}, median of ${RUNS} runs taken in turns, each turn in a shuffled order, every server started anew in each turn`,
    );
    const nginxNote = nginxSetup();
    if (typeof nginxNote === "string") console.log(`nginx column skipped: ${nginxNote}`);
    if (SECTIONS.includes("keepalive"))
      console.log(`\nkeep-alive (req/s):\n\n${await throughputTable("keepalive")}`);
    if (SECTIONS.includes("close"))
      console.log(`\nConnection: close (req/s):\n\n${await throughputTable("close")}`);
    const rows: string[][] = [];
    if (SECTIONS.includes("reload")) {
      const reload = await reloadsUnderLoad(RELOADS);
      rows.push([
        `failed requests during ${reload.reloads} reloads under load (2 workers)`,
        `${reload.errors + reload.non2xx} of ${reload.requests.toLocaleString("en-US")}`,
        "0",
      ]);
    }
    for (const settle of SECTIONS.includes("respawn") ? [true, false] : []) {
      const times = (await respawnTimes(settle)).sort((a, b) => a - b);
      rows.push([
        settle
          ? "respawn after SIGKILL to ready, p50 / max (ms), 12 kills"
          : "same, kills back to back (cold forks)",
        `${median(times).toFixed(0)} / ${(times.at(-1) ?? NaN).toFixed(0)}`,
        settle ? "p50 < 150 ms" : "",
      ]);
    }
    if (rows.length > 0) console.log(`\n${markdownTable(["figure", "tsresty", "bar"], rows)}`);
  } finally {
    killAll();
    // nginx's master was started by us; its workers follow it.
    rmSync(scratch, { recursive: true, force: true });
  }
}

await main();
