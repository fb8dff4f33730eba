/**
 * `npm run bench:shdict`: shared-dictionary operations per second, in one run:
 * - get, set, incr and add (of missing keys) over 1,000 and 100,000 keys;
 * - from one process, and from two worker processes at once (each running the same loop; the
 *   figure is all their operations over the slower one's time): on the same keys of one
 *   zone, on their own keys in one zone (each worker makes its keys, both at the same moments,
 *   as processes that start together do; BENCH_SETUP=turns: this process makes them by turns,
 *   the first key of each worker, then the second, …, as one process filling a zone for others
 *   would), and, as what this machine gives two processes at the moment, on a zone each;
 * - beside a plain Map in this process (the ceiling), and nginx + ngx_lua's ngx.shared from
 *   LuaJIT (1 worker, and 2 workers at once) where nginx and its lua module are installed.
 * Each cell is the median of RUNS runs (BENCH_RUNS, default 3) of N operations (BENCH_N,
 * default 1,000,000); one process is a worker alone, measured right before each two-process
 * cell, and a two-process cell's "×" is the median of its runs' ratios to that one process (the
 * one-process column: the median of all those runs). The keys are stored in order and visited
 * in a fixed pseudo-random one (BENCH_WALK=random), as requests name keys; BENCH_WALK=stored
 * visits them in the order they were stored, which the processor's prefetchers follow
 * (fixtures/shdict-ops.ts, walkOf).
 * BENCH_OPS and BENCH_KEYS run some rows only (BENCH_OPS=add BENCH_KEYS=1000).
 * Bars: ≥ 3M get/s and ≥ 1.5M set/s from one process; two processes together ≥ 1.5× one.
 * Each row also says what moving a cache line between the two cores cost before and after it
 * (line-transfer.ts): on this VM that changes from minute to minute, and it bounds every cell
 * where both processes write shared state.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface, type Interface } from "node:readline";
import { fileURLToPath } from "node:url";
import { createZone } from "../src/shdict/index.ts";
import { mapDict, runOp, storeByTurns, WALK } from "./fixtures/shdict-ops.ts";
import { nginxMissing, startNginx, type Nginx } from "./fixtures/shdict-nginx.ts";
import { lineTransferNs } from "./line-transfer.ts";
import { markdownTable } from "./table.ts";
import { listOf } from "./settings.ts";

const RUNS = Number(process.env["BENCH_RUNS"] ?? 3);
const N = Number(process.env["BENCH_N"] ?? 1_000_000);
/** BENCH_OPS and BENCH_KEYS (comma-separated) run part of the table, e.g. BENCH_OPS=add BENCH_KEYS=1000. */
const OPS = listOf("BENCH_OPS", ["get", "set", "incr", "add"] as const);
const KEYS = listOf("BENCH_KEYS", [1_000, 100_000] as const);
/** BENCH_SETUP: who makes the workers' own keys ("together", the default, or "turns": see above). */
const SETUP = ((): "together" | "turns" => {
  const setup = process.env["BENCH_SETUP"] ?? "together";
  if (setup !== "together" && setup !== "turns")
    throw new Error(`BENCH_SETUP is "together" or "turns", not ${JSON.stringify(setup)}`);
  return setup;
})();
const median = (values: number[]): number =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;

const zone = createZone({ name: "bench", size: 64 * 1024 * 1024 });
const other = createZone({ name: "other", size: 64 * 1024 * 1024 });

interface Worker {
  readonly child: ChildProcess;
  readonly lines: AsyncIterator<string>;
  readonly input: Interface;
}

function startWorker(): Worker {
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      fileURLToPath(new URL("fixtures/shdict-worker.ts", import.meta.url)),
      zone.name,
      String(zone.size),
      other.name,
      String(other.size),
    ],
    { stdio: ["pipe", "pipe", "inherit", "ignore", zone.fd, other.fd] },
  );
  if (child.stdout === null) throw new Error("no stdout");
  const input = createInterface({ input: child.stdout });
  return { child, input, lines: input[Symbol.asyncIterator]() };
}

async function next(worker: Worker): Promise<string> {
  const line = await worker.lines.next();
  if (line.done === true) throw new Error("a bench worker exited");
  return line.value;
}

/**
 * How the two workers share: the same keys of one zone (worker 1 starts half the key space
 * further, so they are not in lockstep), their own keys in one zone, or one zone each.
 */
type Sharing = "same keys" | "own keys" | "own zones";

/** Both zones emptied, their memory given back (flushExpired frees what flushAll expired). */
function emptyZones(): void {
  for (const z of [zone, other]) {
    z.dict.flushAll();
    z.dict.flushExpired();
  }
}

/** Worker 0 runs the loop alone on zone 0 (keys its own set-up made); ops/s. */
async function oneProcess(worker: Worker, op: string, keys: number): Promise<number> {
  emptyZones();
  worker.child.stdin?.write(`${op} ${keys} ${N} 0 0 \n`);
  return N / (Number(await next(worker)) / 1000);
}

/** Both workers run the loop at once; ops/s = all their operations over the slower one's time. */
async function twoProcesses(
  workers: readonly Worker[],
  op: string,
  keys: number,
  sharing: Sharing,
): Promise<number> {
  emptyZones();
  // Own keys in one zone: made before the timed loops, by the workers at the same moments, or by
  // this process by turns (BENCH_SETUP).
  if (sharing === "own keys" && op !== "add" && SETUP === "together") {
    workers.forEach((w, i) => w.child.stdin?.write(`together ${keys} ${workers.length} 0 0 w${i}:\n`));
    await Promise.all(workers.map(async (w) => next(w)));
  } else if (sharing === "own keys" && op !== "add") {
    storeByTurns(
      zone.dict,
      workers.map((_, i) => `w${i}:`),
      keys,
    );
  }
  workers.forEach((w, i) => {
    const zoneIndex = sharing === "own zones" ? i : 0;
    const prefix = sharing === "same keys" && op !== "add" ? "" : `w${i}:`;
    w.child.stdin?.write(`${op} ${keys} ${N} ${zoneIndex} ${(i * keys) / 2} ${prefix}\n`);
  });
  const ms = await Promise.all(workers.map(async (w) => Number(await next(w))));
  return (workers.length * N) / (Math.max(...ms) / 1000);
}

async function nginxTwo(nginx: Nginx, op: string, keys: number): Promise<number> {
  // With reuseport the kernel spreads connections over the workers; retry until both ran.
  for (let attempt = 0; attempt < 10; attempt++) {
    const [[ms0, pid0], [ms1, pid1]] = (await Promise.all(
      [0, 1].map((i) => nginx.run(op, keys, N, op === "add" ? `w${i}:` : "")),
    )) as [[number, number], [number, number]];
    if (pid0 !== pid1) return (2 * N) / (Math.max(ms0, ms1) / 1000);
  }
  return NaN;
}

const fmt = (n: number): string => (Number.isNaN(n) ? "—" : `${(n / 1e6).toFixed(2)}M`);

/** Two processes' ops/s in one way of sharing, and each ÷ the one process measured just before it. */
interface Pairs {
  two: number[];
  ratio: number[];
}

interface Cells {
  one: number[];
  same: Pairs;
  own: Pairs;
  zones: Pairs;
  map: number[];
  ngx1: number[];
  ngx2: number[];
}

const SHARINGS = [
  ["same", "same keys"],
  ["own", "own keys"],
  ["zones", "own zones"],
] as const;

async function measure(
  workers: readonly Worker[],
  nginx: readonly (Nginx | null)[],
  op: string,
  keys: number,
): Promise<Cells> {
  const pairs = (): Pairs => ({ two: [], ratio: [] });
  const cells: Cells = { one: [], same: pairs(), own: pairs(), zones: pairs(), map: [], ngx1: [], ngx2: [] };
  for (let run = 0; run < RUNS; run++) {
    // Each two-process cell right after a one-process cell: this VM's speed changes from one
    // second to the next (native/README.md), so a ratio is of two figures measured together.
    for (const [cell, sharing] of SHARINGS) {
      const one = await oneProcess(workers[0] as Worker, op, keys);
      const two = await twoProcesses(workers, op, keys, sharing);
      cells.one.push(one);
      cells[cell].two.push(two);
      cells[cell].ratio.push(two / one);
    }
    cells.map.push(N / (runOp(mapDict(), op, keys, N, "") / 1000));
    const [nginx1, nginx2] = nginx;
    if (nginx1) cells.ngx1.push(N / ((await nginx1.run(op, keys, N))[0] / 1000));
    if (nginx2) cells.ngx2.push(await nginxTwo(nginx2, op, keys));
  }
  return cells;
}

async function main(): Promise<void> {
  const workers = [startWorker(), startWorker()];
  for (const w of workers) if ((await next(w)) !== "ready") throw new Error("a bench worker did not start");
  const missing = nginxMissing();
  const nginx = missing === null ? [await startNginx(1), await startNginx(2)] : [null, null];
  const rows: string[][] = [];
  const verdicts: string[] = [];
  const ratio = (pairs: Pairs): string => `${fmt(median(pairs.two))} (${median(pairs.ratio).toFixed(2)}×)`;
  try {
    for (const keys of KEYS) {
      for (const op of OPS) {
        const before = await lineTransferNs();
        const cells = await measure(workers, nginx, op, keys);
        const after = await lineTransferNs();
        const one = median(cells.one);
        rows.push([
          op,
          keys.toLocaleString("en-US"),
          fmt(one),
          ...SHARINGS.map(([cell]) => ratio(cells[cell])),
          fmt(median(cells.map)),
          missing === null ? fmt(median(cells.ngx1)) : "—",
          missing === null ? fmt(median(cells.ngx2)) : "—",
          `${before.toFixed(0)} / ${after.toFixed(0)} ns`,
        ]);
        const bar = op === "get" ? 3e6 : op === "set" ? 1.5e6 : 0;
        if (bar > 0)
          verdicts.push(`${op} × ${keys}: one process ${fmt(one)}/s ${one >= bar ? "≥" : "<"} ${fmt(bar)}/s`);
        // The bars: one zone's keys, the same and each process's own (not zones of their own).
        for (const [cell, what] of SHARINGS.slice(0, 2)) {
          const times = median(cells[cell].ratio);
          verdicts.push(
            `${op} × ${keys}: two processes, ${what}: ${times.toFixed(2)}× one ${times >= 1.5 ? "≥" : "<"} 1.5×`,
          );
        }
      }
    }
  } finally {
    for (const w of workers) w.child.kill("SIGKILL");
    for (const n of nginx) await n?.stop();
  }
  console.log(
    markdownTable(
      [
        "op",
        "keys",
        "tsresty 1 proc (ops/s)",
        "2 procs, same keys",
        "2 procs, own keys",
        "2 procs, own zones (the machine)",
        "Map",
        "nginx 1 worker",
        "nginx 2 workers",
        "line transfer before / after",
      ],
      rows,
    ),
  );
  console.log(
    `\n${N.toLocaleString("en-US")} operations per cell, median of ${RUNS} runs (× one: the median of each run's ratio to one process measured just before it); add = add of missing keys; keys visited ${WALK === "random" ? "in a fixed pseudo-random order" : "in the order they were stored"} (BENCH_WALK=${WALK}); own keys made ${SETUP === "together" ? "by the two workers at the same moments" : "by one process, by turns"} (BENCH_SETUP=${SETUP}).`,
  );
  if (missing !== null) console.log(`nginx columns skipped: ${missing}.`);
  console.log(
    "line transfer: one cache line moved between the two cores, measured before and after the row " +
      "(bench/line-transfer.ts); a write that takes its shard's lock finds the lock's line at the " +
      "other core about every other operation.",
  );
  console.log(`\nBars:\n${verdicts.map((v) => `- ${v}`).join("\n")}`);
}

await main();
process.exit(0);
