/**
 * `npm run bench:singleton`: what "run once" costs and how fast it recovers.
 *
 * - Failover: a singleton timer (interval BENCH_INTERVAL, 0.5 s) in a real tree; the process that
 *   ran the latest tick is SIGKILLed at a random moment of the interval, and the time from the
 *   kill to the next run (in another process) is taken, BENCH_KILLS (8) times. `"host"`: one
 *   master, 2 workers. `"cluster"`: two masters of 1 worker each on one redis-server. Every run is
 *   recorded outside the processes (an O_APPEND file), so ticks run twice or missed are counted too.
 *   Bar: the next run comes at most 1 interval after the kill.
 * - Overhead per tick: one process (`tsresty FILE`) running a 5 ms `every` for BENCH_SECONDS (4) s,
 *   CPU time per tick for a plain `every`, `align: "epoch"`, `singleton: "host"` (a shared-dict
 *   `add` per tick) and `singleton: "cluster"` (a Redis script per tick), measured in turns.
 *
 * Needs redis-server for the cluster rows. Every process started here is stopped at the end.
 */
import { spawn, execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, killAll, started, startServer, stop } from "./servers.ts";
import { markdownTable, median } from "./table.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const BIN = join(ROOT, "bin/tsresty");
const INTERVAL = Number(process.env["BENCH_INTERVAL"] ?? 0.5);
const KILLS = Number(process.env["BENCH_KILLS"] ?? 8);
const SECONDS = Number(process.env["BENCH_SECONDS"] ?? 4);
const SECTIONS = (process.env["BENCH_SECTIONS"] ?? "failover,cost").split(",");

const scratch = mkdtempSync(join(tmpdir(), "tsresty-bench-singleton-"));
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Each run appends `due pid start` (ms) to RUNS: one short write, whole lines. */
const TREE_APP = `import { appendFileSync } from "node:fs";
export default {
  initWorker() {
    ngx.timer.every({ interval: ${INTERVAL}, name: "bench", singleton: process.env.SCOPE as "host" | "cluster" }, (premature) => {
      if (premature) return;
      const start = Date.now();
      appendFileSync(process.env.RUNS!, \`\${Math.round(ngx.timer.current()!.due * 1000)} \${process.pid} \${start}\\n\`);
    });
  },
  handler: (_req: unknown, res: { end(s: string): void }) => res.end("ok"),
};
`;

interface Run {
  readonly due: number;
  readonly pid: number;
  readonly start: number;
}

function readRuns(file: string): Run[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const [due, pid, start] = line.split(" ").map(Number);
      return { due: due ?? NaN, pid: pid ?? NaN, start: start ?? NaN };
    });
}

async function until<T>(probe: () => T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error("timed out waiting for a timer run");
    await sleep(10);
  }
}

function startRedis(port: number): Promise<unknown> {
  return startServer(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    /Ready to accept connections()/,
    { cwd: scratch },
  );
}

async function startTree(name: string, env: NodeJS.ProcessEnv, workers: number): Promise<void> {
  const dir = join(scratch, name);
  const config = join(scratch, `${name}.config.ts`);
  // No coordinator key for the host rows: null is no key's default (the config refuses it).
  const coordinator = env["COORDINATOR"];
  writeFileSync(
    config,
    `export default ${JSON.stringify(coordinator === undefined ? {} : { coordinator })};\n`,
  );
  await startServer(
    process.execPath,
    [BIN, "start", join(scratch, "tree-app.ts"), "--config", config].concat([
      "--workers",
      String(workers),
      "--listen",
      "127.0.0.1:0",
      "--prefix",
      dir,
    ]),
    /listening on 127\.0\.0\.1:(\d+)/,
    { cwd: ROOT, env },
  );
}

interface Failover {
  readonly afterKill: number[];
  readonly lateness: number[];
  readonly twice: number;
  readonly missed: number;
}

/** Kills the owner of the latest tick KILLS times; the time from each kill to the next run. */
async function failover(runs: string): Promise<Failover> {
  const intervalMs = INTERVAL * 1000;
  const afterKill: number[] = [];
  const lateness: number[] = [];
  const kills: number[] = [];
  await until(() => (readRuns(runs).length >= 3 ? true : undefined), 30_000);
  for (let i = 0; i < KILLS; i++) {
    await sleep(intervalMs * 2); // the replacement is up and running ticks again
    await sleep(Math.random() * intervalMs);
    const owner = readRuns(runs).at(-1);
    if (owner === undefined) throw new Error("no run yet");
    process.kill(owner.pid, "SIGKILL");
    const killedAt = Date.now();
    kills.push(killedAt);
    const next = await until(() => readRuns(runs).find((r) => r.start >= killedAt), 10 * intervalMs + 10_000);
    afterKill.push(next.start - killedAt);
    lateness.push(next.start - next.due);
  }
  const all = readRuns(runs);
  const dues = all.map((r) => r.due);
  const distinct = new Set(dues);
  const first = Math.min(...dues);
  const last = Math.max(...dues);
  for (let due = first; due <= last; due += intervalMs) {
    if (!distinct.has(due)) process.stderr.write(`missed tick ${due}: kills at ${kills.join(", ")}\n`);
  }
  return {
    afterKill,
    lateness,
    twice: dues.length - distinct.size,
    missed: Math.round((last - first) / intervalMs) + 1 - distinct.size,
  };
}

async function hostFailover(): Promise<Failover> {
  const runs = join(scratch, "host.runs");
  await startTree("host", { SCOPE: "host", RUNS: runs }, 2);
  return failover(runs);
}

async function clusterFailover(redisUrl: string): Promise<Failover> {
  const runs = join(scratch, "cluster.runs");
  const env = { SCOPE: "cluster", RUNS: runs, COORDINATOR: redisUrl };
  await Promise.all([startTree("cluster-a", env, 1), startTree("cluster-b", env, 1)]);
  return failover(runs);
}

type Variant = "plain" | "epoch" | "host" | "cluster";

/** CPU µs per tick of one `tsresty FILE` process running a 5 ms `every` of the variant. */
async function tickCost(variant: Variant, redisUrl: string | null): Promise<number> {
  const options = {
    plain: `{ interval: 0.005 }`,
    epoch: `{ interval: 0.005, align: "epoch" }`,
    host: `{ interval: 0.005, name: "cost", singleton: "host" }`,
    cluster: `{ interval: 0.005, name: "cost", singleton: "cluster" }`,
  }[variant];
  const app = join(scratch, `cost-${variant}.ts`);
  writeFileSync(
    app,
    `let ticks = 0;
const timer = ngx.timer.every(${options}, (premature) => { if (!premature) ticks++; });
await ngx.sleep(1); // warm up
const startTicks = ticks;
const cpu = process.cpuUsage();
await ngx.sleep(${SECONDS});
const used = process.cpuUsage(cpu);
timer.cancel();
console.log("COST " + JSON.stringify({ ticks: ticks - startTicks, cpu: used.user + used.system }));
`,
  );
  const config = join(scratch, `cost-${variant}.config.ts`);
  writeFileSync(
    config,
    `export default ${JSON.stringify({ ...(redisUrl === null ? {} : { coordinator: redisUrl }), prefix: join(scratch, `cost-${variant}`) })};\n`,
  );
  const child = spawn(process.execPath, [BIN, "--config", config, app], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "inherit"],
  });
  started.add(child);
  let out = "";
  child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  started.delete(child);
  const line = /COST (.*)/.exec(out);
  if (code !== 0 || line === null) throw new Error(`${variant}: exit ${String(code)}: ${out}`);
  const { ticks, cpu } = JSON.parse(line[1] ?? "") as { ticks: number; cpu: number };
  return cpu / ticks;
}

const ms = (values: readonly number[]): string =>
  `${median(values).toFixed(0)} / ${Math.max(...values).toFixed(0)}`;

async function main(): Promise<void> {
  writeFileSync(join(scratch, "tree-app.ts"), TREE_APP);
  let redisUrl: string | null = null;
  try {
    execFileSync("redis-server", ["--version"], { stdio: "ignore" });
    const port = await freePort();
    await startRedis(port);
    redisUrl = `redis://127.0.0.1:${port}`;
  } catch {
    process.stderr.write("redis-server is not installed: the cluster rows are skipped\n");
  }
  try {
    if (SECTIONS.includes("failover")) await failoverTable(redisUrl);
    if (SECTIONS.includes("cost")) await costTable(redisUrl);
  } finally {
    killAll();
    rmSync(scratch, { recursive: true, force: true });
  }
}

async function failoverTable(redisUrl: string | null): Promise<void> {
  const intervalMs = INTERVAL * 1000;
  const rows: string[][] = [];
  const scopes: [string, () => Promise<Failover>][] = [["host (1 master, 2 workers)", hostFailover]];
  if (redisUrl !== null) {
    const url = redisUrl;
    scopes.push(["cluster (2 masters, 1 Redis)", () => clusterFailover(url)]);
  }
  for (const [scope, run] of scopes) {
    const result = await run();
    rows.push([
      scope,
      ms(result.afterKill),
      ms(result.lateness),
      String(result.twice),
      String(result.missed),
      Math.max(...result.afterKill) <= intervalMs ? "met" : "NOT met",
    ]);
    for (const child of [...started]) if (child.spawnfile !== "redis-server") await stop(child);
  }
  console.log(`\nfailover after SIGKILL of the tick's owner, interval ${intervalMs} ms, ${KILLS} kills`);
  console.log(
    markdownTable(
      [
        "singleton",
        "kill → next run p50/max (ms)",
        "due → start p50/max (ms)",
        "ticks twice",
        "ticks missed",
        "bar ≤ 1 interval",
      ],
      rows,
    ),
  );
}

async function costTable(redisUrl: string | null): Promise<void> {
  const variants: Variant[] =
    redisUrl === null ? ["plain", "epoch", "host"] : ["plain", "epoch", "host", "cluster"];
  const costs = new Map<Variant, number[]>(variants.map((v) => [v, []]));
  for (let turn = 0; turn < 3; turn++) {
    for (const variant of variants) costs.get(variant)?.push(await tickCost(variant, redisUrl));
  }
  const plain = median(costs.get("plain") ?? []);
  console.log(`\nCPU per tick, one process, a 5 ms every for ${SECONDS} s, median of 3 turns`);
  console.log(
    markdownTable(
      ["timer", "CPU µs / tick", "over plain every (µs)"],
      variants.map((v) => {
        const cost = median(costs.get(v) ?? []);
        return [
          v === "plain" ? "every" : v === "epoch" ? 'every, align: "epoch"' : `singleton: "${v}"`,
          cost.toFixed(1),
          v === "plain" ? "-" : `${cost >= plain ? "+" : ""}${(cost - plain).toFixed(1)}`,
        ];
      }),
    ),
  );
}

await main();
