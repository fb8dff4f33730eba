/**
 * `npm run bench:boot`: what tsresty's process tree costs beside a bare node:cluster running the
 * same compiled app (bench/fixtures/boot-app.mjs, plain JavaScript), in one run, taken in turns;
 * then the same for the app in TypeScript (boot-app.ts: tsresty loads it with tsx, the bare
 * cluster runs under `node --import tsx`, as a user of node:cluster would), without bars:
 *
 * - start to ready: from spawning `tsresty start` (the compiled CLI, 2 workers) to its ready line;
 *   for the bare cluster, from spawning it to its 2 workers listening. tsresty's includes the init
 *   process (config and app loaded once, `init` run) that precedes the workers.
 * - cold respawn: SIGKILL of a worker to the master's debug line saying its replacement is ready
 *   (NODE_DEBUG=tsresty:master; the bare cluster's counterpart is its primary's "listening" line),
 *   with config `standby: false` (so every replacement is a fresh fork, not the booted spare).
 *   Each slot is killed once (a slot that dies again within 10 s is respawned with backoff),
 *   BENCH_RESPAWNS slots per run.
 * - idle worker RSS: VmRSS of each worker of the 2-worker trees once ready and idle for 1 s.
 *
 * BENCH_RUNS (5) and BENCH_RESPAWNS (6) tune it. Runs dist/ (`npm run build`). Every process
 * started here is stopped at the end.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { alive } from "../test/helpers/wait.ts";
import { statusOf, stop } from "./servers.ts";
import { markdownTable } from "./table.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const BIN = join(ROOT, "bin/tsresty");
/** An app and how each side runs it. */
interface Kind {
  readonly name: string;
  readonly app: string;
  /** Node flags of the bare cluster's primary (its workers inherit them). */
  readonly bareFlags: readonly string[];
}
const KINDS: readonly Kind[] = [
  { name: "", app: join(ROOT, "bench/fixtures/boot-app.mjs"), bareFlags: [] },
  {
    name: ", TypeScript app",
    app: join(ROOT, "bench/fixtures/boot-app.ts"),
    bareFlags: ["--import", import.meta.resolve("tsx")],
  },
];
const CLUSTER = join(ROOT, "bench/fixtures/boot-cluster.mjs");
const RUNS = Number(process.env["BENCH_RUNS"] ?? 5);
const RESPAWNS = Number(process.env["BENCH_RESPAWNS"] ?? 6);
const scratch = mkdtempSync(join(tmpdir(), "tsresty-bench-boot-"));
const NO_STANDBY = join(scratch, "no-standby.config.mjs");
writeFileSync(NO_STANDBY, "export default { standby: false };\n");
const started = new Set<ChildProcess>();
/** The master's debug line (NODE_DEBUG=tsresty:master) for a child that said it is ready. */
const CHILD_READY = /^TSRESTY:MASTER \d+: child (\d+) \(worker\) ready$/;

interface Tree {
  readonly child: ChildProcess;
  /** Resolves when stdout has a line matching `pattern`, with that line; lines seen earlier count. */
  line(pattern: RegExp, after?: number): Promise<{ line: string; at: number; index: number }>;
  /** The same for stderr. */
  errorLine(pattern: RegExp, after?: number): Promise<{ line: string; at: number; index: number }>;
}

type Line = { line: string; at: number };

/** Collects a stream's lines, stamped with performance.now() as they arrive; the function finds one. */
function lineLog(stream: NodeJS.ReadableStream, context: () => string): Tree["line"] {
  const lines: Line[] = [];
  const waiters = new Set<() => void>();
  let rest = "";
  stream.on("data", (chunk: Buffer) => {
    const at = performance.now();
    const parts = (rest + chunk.toString()).split("\n");
    rest = parts.pop() ?? "";
    for (const line of parts) lines.push({ line, at });
    for (const wake of waiters) wake();
  });
  return (pattern, after = 0) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`no ${String(pattern)} in 60 s: ${context()}`));
      }, 60_000);
      function check(): void {
        const index = lines.findIndex((l, i) => i >= after && pattern.test(l.line));
        const found = lines[index];
        if (found === undefined) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve({ ...found, index });
      }
      waiters.add(check);
      check();
    });
}

/** Spawns a tree; `line()` waits for its output. Times are performance.now(). */
function spawnTree(args: readonly string[], env: NodeJS.ProcessEnv = {}): Tree {
  const child = spawn(process.execPath, args, {
    cwd: scratch,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
  started.add(child);
  child.on("exit", () => {
    started.delete(child);
  });
  let errorTail = "";
  child.stderr.on("data", (chunk: Buffer) => (errorTail = (errorTail + chunk.toString()).slice(-4000)));
  const errorLine = lineLog(child.stderr, () => "");
  const line = lineLog(child.stdout, () => errorTail);
  return { child, line, errorLine };
}

function rssKb(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(match?.[1] ?? Number.NaN);
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function tsresty(
  kind: Kind,
  prefix: string,
  workers: number,
  config: string | null,
  env: NodeJS.ProcessEnv = {},
): Tree {
  const extra = config === null ? [] : ["--config", config];
  const args = [
    "start",
    kind.app,
    "--workers",
    String(workers),
    "--listen",
    "127.0.0.1:0",
    "--prefix",
    prefix,
  ];
  return spawnTree([BIN, ...args, ...extra], env);
}

function bareCluster(kind: Kind, workers: number): Tree {
  return spawnTree([...kind.bareFlags, CLUSTER], { WORKERS: String(workers), APP: kind.app });
}

/** The pids of a process's children. */
function childrenOf(pid: number | undefined): number[] {
  return readFileSync(`/proc/${pid ?? 0}/task/${pid ?? 0}/children`, "utf8")
    .trim()
    .split(/\s+/)
    .map(Number);
}

/** Start to ready and idle worker RSS of one 2-worker tree of each kind. */
async function bootRound(
  kind: Kind,
  round: number,
): Promise<{ tsresty: number; bare: number; rss: [number[], number[]] }> {
  const prefix = join(scratch, `boot-${round}`);
  let t0 = performance.now();
  const tree = tsresty(kind, prefix, 2, null);
  const ready = await tree.line(/^tsresty ready:/);
  const tsrestyMs = ready.at - t0;
  await pause(1000);
  const workers = (await statusOf(prefix)).filter((p) => p.type === "worker" && p.pid !== null);
  const tsrestyRss = workers.map((p) => rssKb(p.pid ?? 0));
  await stop(tree.child);
  rmSync(prefix, { recursive: true, force: true });

  t0 = performance.now();
  const bare = bareCluster(kind, 2);
  const bareReady = await bare.line(/^ready$/);
  const bareMs = bareReady.at - t0;
  await pause(1000);
  const barePids = childrenOf(bare.child.pid);
  const bareRss = barePids.map(rssKb);
  await stop(bare.child);
  return { tsresty: tsrestyMs, bare: bareMs, rss: [tsrestyRss, bareRss] };
}

/** Cold respawn times of tsresty (standby off): each of RESPAWNS slots killed once. */
async function tsrestyRespawns(kind: Kind, round: number): Promise<number[]> {
  const prefix = join(scratch, `respawn-${round}`);
  const tree = tsresty(kind, prefix, RESPAWNS, NO_STANDBY, { NODE_DEBUG: "tsresty:master" });
  await tree.line(/^tsresty ready:/);
  const known = new Set((await statusOf(prefix)).map((p) => p.pid));
  let seen = 0;
  const times: number[] = [];
  for (let id = 0; id < RESPAWNS; id++) {
    const victim = (await statusOf(prefix)).find((p) => p.id === id && p.type === "worker");
    if (victim?.pid == null) throw new Error(`no worker ${id}`);
    const t0 = performance.now();
    process.kill(victim.pid, "SIGKILL");
    // The master's own word that a new worker is ready: the counterpart of the bare cluster's
    // "listening" line, with no status queries competing for the CPU while the worker boots.
    let replacement = -1;
    while (replacement === -1) {
      const found = await tree.errorLine(CHILD_READY, seen);
      seen = found.index + 1;
      const pid = Number(CHILD_READY.exec(found.line)?.[1]);
      if (known.has(pid)) continue;
      known.add(pid);
      times.push(found.at - t0);
      replacement = pid;
    }
    // Untimed: the new process is the slot's, and running.
    const slot = (await statusOf(prefix)).find((p) => p.id === id && p.type === "worker");
    if (slot?.pid !== replacement || slot.state !== "running")
      throw new Error(`worker ${id} did not come back: ${JSON.stringify(slot)}`);
    if ((await statusOf(prefix)).some((p) => p.type === "standby")) throw new Error("a standby runs");
  }
  await stop(tree.child);
  rmSync(prefix, { recursive: true, force: true });
  return times;
}

/** Cold respawn times of the bare cluster: SIGKILL to the replacement's `listening`. */
async function bareRespawns(kind: Kind): Promise<number[]> {
  const tree = bareCluster(kind, RESPAWNS);
  const ready = await tree.line(/^ready$/);
  let seen = ready.index + 1;
  const pids = childrenOf(tree.child.pid);
  const times: number[] = [];
  for (const pid of pids) {
    const t0 = performance.now();
    process.kill(pid, "SIGKILL");
    const next = await tree.line(/^listening \d+$/, seen);
    seen = next.index + 1;
    times.push(next.at - t0);
    while (alive(pid)) await pause(1);
  }
  await stop(tree.child);
  return times;
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
};

async function main(): Promise<void> {
  if (!existsSync(join(ROOT, "dist/cli/main.js"))) {
    console.error("bench:boot runs the compiled CLI: npm run build first");
    process.exit(2);
  }
  const figures = KINDS.map((kind) => ({
    kind,
    start: [[], []] as [number[], number[]],
    rss: [[], []] as [number[], number[]],
    respawn: [[], []] as [number[], number[]],
  }));
  try {
    for (let round = 0; round < RUNS; round++) {
      for (const f of figures) {
        const boot = await bootRound(f.kind, round);
        f.start[0].push(boot.tsresty);
        f.start[1].push(boot.bare);
        f.rss[0].push(...boot.rss[0]);
        f.rss[1].push(...boot.rss[1]);
        f.respawn[0].push(...(await tsrestyRespawns(f.kind, round)));
        f.respawn[1].push(...(await bareRespawns(f.kind)));
      }
    }
  } finally {
    for (const child of started) child.kill("SIGKILL");
    rmSync(scratch, { recursive: true, force: true });
  }
  /** A row; the bar applies to the compiled app only (kind 0). */
  const row = (
    name: string,
    unit: string,
    [ours, bare]: [number[], number[]],
    bar: number | null,
  ): string[] => {
    const a = median(ours);
    const b = median(bare);
    const ratio = a / b;
    return [
      name,
      `${a.toFixed(unit === "MB" ? 1 : 0)} ${unit}`,
      `${b.toFixed(unit === "MB" ? 1 : 0)} ${unit}`,
      `${ratio.toFixed(2)}×`,
      bar === null ? "" : `≤ ${bar}×`,
      bar === null ? "" : ratio <= bar ? "ok" : "over",
    ];
  };
  const mb = (values: number[]): number[] => values.map((kb) => kb / 1024);
  console.log(
    `node ${process.version}, ${new Date().toISOString()}, compiled dist/, medians of ${RUNS} runs (respawn: ${RESPAWNS} kills per run, standby off)\n`,
  );
  // A fixed cost in every Node process of both trees (the CA bundle parsed at startup): the
  // ratios come out lower with it than on a host without it (README, bench:boot).
  if (process.env["NODE_EXTRA_CA_CERTS"] !== undefined) {
    console.log(
      "NODE_EXTRA_CA_CERTS is set: every process parses that CA bundle as it starts; run with `env -u NODE_EXTRA_CA_CERTS` for a host without it\n",
    );
  }
  console.log(
    markdownTable(
      ["measure", "tsresty", "bare node:cluster", "ratio", "bar", ""],
      figures.flatMap((f, i) => {
        const bars = i === 0;
        return [
          row(`start to ready, 2 workers${f.kind.name}`, "ms", f.start, bars ? 1.5 : null),
          row(`cold respawn after SIGKILL (p50)${f.kind.name}`, "ms", f.respawn, bars ? 1.3 : null),
          row(`idle worker RSS${f.kind.name}`, "MB", [mb(f.rss[0]), mb(f.rss[1])], bars ? 1.2 : null),
        ];
      }),
    ),
  );
}

await main();
