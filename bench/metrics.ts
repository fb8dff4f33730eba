/**
 * `npm run bench:metrics`: what `/metrics` costs the tree. A tree of 2 workers, each with 100
 * named timers firing every second, runs BENCH_DURATION seconds (20) without scraping, then as
 * long with a scrape every second, BENCH_ROUNDS times (4) in turns, after a warm-up round that is
 * not counted. Each round's cost is the CPU of its scraped phase minus that of its idle phase, in
 * % of one core: the whole tree, the master, the workers. CPU is each process's
 * `/proc/<pid>/task/<tid>/schedstat` run time, summed over its threads (the collector's among
 * them): nanoseconds, where `/proc/<pid>/stat`'s clock ticks are 10 ms samples. Bar: less than 1
 * point added (the median round). Also the time per scrape (median and max).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { markdownTable } from "./table.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const BIN = join(ROOT, "bin/tsresty");
const DURATION_S = Number(process.env["BENCH_DURATION"] ?? 20);
const ROUNDS = Number(process.env["BENCH_ROUNDS"] ?? 4);
const WARMUP_SCRAPES = 10;

const APP = `export default {
  initWorker() {
    for (let i = 0; i < 100; i++) ngx.timer.every({ interval: 1, name: "job" + i }, () => undefined);
  },
};
`;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const median = (values: number[]): number =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;

const read = (path: string): string => {
  try {
    return readFileSync(path, "latin1");
  } catch {
    return "";
  }
};

/** The parent pid of `pid`; 0 when it is gone. */
function parentOf(pid: number): number {
  const text = read(`/proc/${pid}/stat`);
  return text === "" ? 0 : Number(text.slice(text.lastIndexOf(")") + 2).split(" ")[1]);
}

/** Nanoseconds of CPU `pid` has used, summed over its live threads. */
function runTime(pid: number): number {
  let threads: string[] = [];
  try {
    threads = readdirSync(`/proc/${pid}/task`);
  } catch {
    return 0;
  }
  let sum = 0;
  for (const tid of threads)
    sum += Number(read(`/proc/${pid}/task/${tid}/schedstat`).split(" ")[0] ?? 0) || 0;
  return sum;
}

/** CPU used so far (ns) by the master and by every process below it. */
function treeTime(master: number): { master: number; tree: number } {
  const parents = new Map<number, number>();
  for (const name of readdirSync("/proc")) {
    const pid = Number(name);
    if (Number.isInteger(pid)) parents.set(pid, parentOf(pid));
  }
  const inTree = (pid: number): boolean => {
    for (let p = pid, hops = 0; p > 1 && hops < 16; p = parents.get(p) ?? 0, hops++)
      if (p === master) return true;
    return false;
  };
  let tree = 0;
  for (const pid of parents.keys()) if (inTree(pid)) tree += runTime(pid);
  return { master: runTime(master), tree };
}

interface Phase {
  /** % of one core, the whole tree and the master alone. */
  readonly cpu: number;
  readonly masterCpu: number;
  readonly scrapes: number[];
}

async function phase(master: number, url: string | null): Promise<Phase> {
  const scrapes: number[] = [];
  const start = treeTime(master);
  const started = performance.now();
  const end = started + DURATION_S * 1000;
  while (performance.now() < end) {
    if (url !== null) {
      const t0 = performance.now();
      const response = await fetch(url);
      const text = await response.text();
      if (response.status !== 200 || !text.includes("tsresty_timer_runs_total"))
        throw new Error("bad scrape");
      scrapes.push(performance.now() - t0);
    }
    await sleep(Math.max(0, Math.min(1000, end - performance.now())));
  }
  const seconds = (performance.now() - started) / 1000;
  const stop = treeTime(master);
  const percent = (ns: number): number => (ns / 1e9 / seconds) * 100;
  return {
    cpu: percent(stop.tree - start.tree),
    masterCpu: percent(stop.master - start.master),
    scrapes,
  };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "tsresty-bench-metrics-"));
  writeFileSync(join(dir, "app.ts"), APP);
  writeFileSync(join(dir, "c.ts"), `export default { metrics: "127.0.0.1:0", workers: 2 };\n`);
  const child = spawn(
    process.execPath,
    [BIN, "start", join(dir, "app.ts"), "--config", join(dir, "c.ts"), "--prefix", join(dir, "prefix")],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const deadline = setTimeout(() => child.kill("SIGKILL"), (DURATION_S * 2 * (ROUNDS + 1) + 120) * 1000);
  try {
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    for (let i = 0; i < 600 && !out.includes("tsresty ready:"); i++) await sleep(100);
    const ready = /master pid (\d+).*metrics on (\S+)/.exec(out);
    if (ready === null) throw new Error(`no ready line: ${out}`);
    const master = Number(ready[1]);
    const url = ready[2] ?? "";
    // The timers settle on their grid, the standby boots, and a few scrapes warm the code up (a
    // running tree is scraped forever: its steady state is what counts).
    await sleep(2_000);
    for (let i = 0; i < WARMUP_SCRAPES; i++) {
      await (await fetch(url)).text();
      await sleep(100);
    }
    // A warm-up round, not counted: the workers' timers settle and the code paths warm up.
    await phase(master, null);
    await phase(master, url);
    const rounds: { idle: Phase; scraped: Phase }[] = [];
    for (let round = 0; round < ROUNDS; round++)
      rounds.push({ idle: await phase(master, null), scraped: await phase(master, url) });
    const added = (figure: (p: Phase) => number): number[] =>
      rounds.map(({ idle, scraped }) => figure(scraped) - figure(idle));
    const tree = added((p) => p.cpu);
    const inMaster = added((p) => p.masterCpu);
    const inWorkers = added((p) => p.cpu - p.masterCpu);
    const spread = (values: number[]): string =>
      `${median(values).toFixed(2)} (${Math.min(...values).toFixed(2)} to ${Math.max(...values).toFixed(2)})`;
    const times = rounds.flatMap((r) => r.scraped.scrapes);
    console.log(
      `node ${process.version}, ${new Date().toISOString()}, 2 workers × 100 named timers every 1 s, ${ROUNDS} rounds × 2 × ${DURATION_S} s after a warm-up round`,
    );
    console.log(
      markdownTable(
        ["figure (% of one core; median round, and range)", "value", "bar"],
        [
          ["tree CPU, no scraping", spread(rounds.map((r) => r.idle.cpu)), ""],
          ["tree CPU, a scrape every 1 s", spread(rounds.map((r) => r.scraped.cpu)), ""],
          ["added by scraping (points)", spread(tree), "< 1"],
          ["of which in the master", spread(inMaster), ""],
          ["of which in the workers and the standby", spread(inWorkers), ""],
          [
            `time per scrape, median / max (ms, ${times.length} scrapes)`,
            `${median(times).toFixed(1)} / ${Math.max(...times).toFixed(1)}`,
            "",
          ],
        ],
      ),
    );
  } finally {
    clearTimeout(deadline);
    child.kill("SIGTERM");
    await new Promise((resolve) => child.once("exit", resolve));
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
