/**
 * `npm run bench:metrics`: what `/metrics` costs the tree. A tree of 2 workers, each with 100
 * named timers firing every second, runs BENCH_DURATION seconds (20) without scraping, then as
 * long with a scrape every second, BENCH_ROUNDS times (2) in turns, after 10 warm-up scrapes; the
 * median CPU of the whole tree
 * (utime + stime of the master and its children, from /proc/<pid>/stat) is compared, in % of one
 * core. Bar: less than 1 point added. Also the time per scrape (median and max).
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
const ROUNDS = Number(process.env["BENCH_ROUNDS"] ?? 2);
const WARMUP_SCRAPES = 10;
/** Clock ticks per second of /proc's times (USER_HZ, 100 on Linux). */
const TICKS = 100;

const APP = `export default {
  initWorker() {
    for (let i = 0; i < 100; i++) ngx.timer.every({ interval: 1, name: "job" + i }, () => undefined);
  },
};
`;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const median = (values: number[]): number =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;

/** utime + stime (ticks) of `pid`, and its ppid; null when it is gone. */
function stat(pid: number): { ppid: number; ticks: number } | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "latin1");
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    return { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) };
  } catch {
    return null;
  }
}

/** CPU ticks used so far by the master and every process below it: the master's, the tree's. */
function treeTicks(master: number): { master: number; tree: number } {
  const parents = new Map<number, number>();
  const ticks = new Map<number, number>();
  for (const name of readdirSync("/proc")) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const s = stat(pid);
    if (s === null) continue;
    parents.set(pid, s.ppid);
    ticks.set(pid, s.ticks);
  }
  const inTree = (pid: number): boolean => {
    for (let p = pid, hops = 0; p > 1 && hops < 16; p = parents.get(p) ?? 0, hops++)
      if (p === master) return true;
    return false;
  };
  let sum = 0;
  for (const [pid, t] of ticks) if (inTree(pid)) sum += t;
  return { master: ticks.get(master) ?? 0, tree: sum };
}

interface Phase {
  /** % of one core, the whole tree and the master alone. */
  readonly cpu: number;
  readonly masterCpu: number;
  readonly scrapes: number[];
}

async function phase(master: number, url: string | null): Promise<Phase> {
  const scrapes: number[] = [];
  const startTicks = treeTicks(master);
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
  const endTicks = treeTicks(master);
  const percent = (ticks: number): number => (ticks / TICKS / seconds) * 100;
  return {
    cpu: percent(endTicks.tree - startTicks.tree),
    masterCpu: percent(endTicks.master - startTicks.master),
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
  const deadline = setTimeout(() => child.kill("SIGKILL"), (DURATION_S * 2 * ROUNDS + 120) * 1000);
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
    const idle: Phase[] = [];
    const scraped: Phase[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      idle.push(await phase(master, null));
      scraped.push(await phase(master, url));
    }
    const times = scraped.flatMap((p) => p.scrapes);
    const a = median(idle.map((p) => p.cpu));
    const b = median(scraped.map((p) => p.cpu));
    const masterAdded = median(scraped.map((p) => p.masterCpu)) - median(idle.map((p) => p.masterCpu));
    console.log(
      `node ${process.version}, ${new Date().toISOString()}, 2 workers × 100 named timers every 1 s, ${ROUNDS} × ${DURATION_S} s per phase`,
    );
    console.log(
      markdownTable(
        ["figure", "value", "bar"],
        [
          ["tree CPU, no scraping (% of one core)", a.toFixed(2), ""],
          ["tree CPU, a scrape every 1 s (% of one core)", b.toFixed(2), ""],
          ["added by scraping (points)", (b - a).toFixed(2), "< 1"],
          ["of which in the master (points)", masterAdded.toFixed(2), ""],
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
