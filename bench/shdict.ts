/**
 * `npm run bench:shdict`: shared-dictionary operations per second, in one run:
 * - get, set, incr and add (of missing keys) over 1,000 and 100,000 keys;
 * - from one process, and from two worker processes at once on the same zone (each running
 *   the same loop; the figure is all their operations over the slower one's time), and, as
 *   what this machine gives two processes at the moment, the two on two separate zones;
 * - beside a plain Map in this process (the ceiling), and nginx + ngx_lua's ngx.shared from
 *   LuaJIT (1 worker, and 2 workers at once) where nginx and its lua module are installed.
 * Each cell is the median of RUNS runs (BENCH_RUNS, default 3) of N operations (BENCH_N,
 * default 1,000,000). Bars: ≥ 3M get/s and ≥ 1.5M set/s from one process; two processes
 * together ≥ 1.5× one.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface, type Interface } from "node:readline";
import { fileURLToPath } from "node:url";
import { createZone } from "../src/shdict/index.ts";
import { mapDict, runOp } from "./fixtures/shdict-ops.ts";
import { nginxMissing, startNginx, type Nginx } from "./fixtures/shdict-nginx.ts";
import { markdownTable } from "./table.ts";

const RUNS = Number(process.env["BENCH_RUNS"] ?? 3);
const N = Number(process.env["BENCH_N"] ?? 1_000_000);
const OPS = ["get", "set", "incr", "add"] as const;
const KEYS = [1_000, 100_000] as const;
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
 * Both workers run the loop at once (on the same zone, or worker i on zone i); ops/s = all
 * their operations over the slower one's time.
 */
async function twoProcesses(
  workers: readonly Worker[],
  op: string,
  keys: number,
  separate: boolean,
): Promise<number> {
  workers.forEach((w, i) =>
    w.child.stdin?.write(
      `${op} ${keys} ${N} ${separate ? i : 0} ${(i * keys) / 2} ${op === "add" ? `w${i}:` : ""}\n`,
    ),
  );
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

async function main(): Promise<void> {
  const workers = [startWorker(), startWorker()];
  for (const w of workers) if ((await next(w)) !== "ready") throw new Error("a bench worker did not start");
  const missing = nginxMissing();
  const nginx1 = missing === null ? await startNginx(1) : null;
  const nginx2 = missing === null ? await startNginx(2) : null;
  const rows: string[][] = [];
  const verdicts: string[] = [];
  try {
    for (const keys of KEYS) {
      for (const op of OPS) {
        const one: number[] = [];
        const two: number[] = [];
        const apart: number[] = [];
        const map: number[] = [];
        const ngx1: number[] = [];
        const ngx2: number[] = [];
        for (let run = 0; run < RUNS; run++) {
          zone.dict.flushAll();
          zone.dict.flushExpired();
          one.push(N / (runOp(zone.dict, op, keys, N, "") / 1000));
          zone.dict.flushAll();
          zone.dict.flushExpired();
          two.push(await twoProcesses(workers, op, keys, false));
          for (const z of [zone, other]) {
            z.dict.flushAll();
            z.dict.flushExpired();
          }
          apart.push(await twoProcesses(workers, op, keys, true));
          map.push(N / (runOp(mapDict(), op, keys, N, "") / 1000));
          if (nginx1 !== null) ngx1.push(N / ((await nginx1.run(op, keys, N))[0] / 1000));
          if (nginx2 !== null) ngx2.push(await nginxTwo(nginx2, op, keys));
        }
        const [o, t] = [median(one), median(two)];
        rows.push([
          op,
          keys.toLocaleString("en-US"),
          fmt(o),
          fmt(t),
          `${(t / o).toFixed(2)}×`,
          `${fmt(median(apart))} (${(median(apart) / o).toFixed(2)}×)`,
          fmt(median(map)),
          nginx1 === null ? "—" : fmt(median(ngx1)),
          nginx2 === null ? "—" : fmt(median(ngx2)),
        ]);
        const bar = op === "get" ? 3e6 : op === "set" ? 1.5e6 : 0;
        if (bar > 0)
          verdicts.push(`${op} × ${keys}: one process ${fmt(o)}/s ${o >= bar ? "≥" : "<"} ${fmt(bar)}/s`);
        verdicts.push(
          `${op} × ${keys}: two processes ${(t / o).toFixed(2)}× one ${t >= 1.5 * o ? "≥" : "<"} 1.5×`,
        );
      }
    }
  } finally {
    for (const w of workers) w.child.kill("SIGKILL");
    await nginx1?.stop();
    await nginx2?.stop();
  }
  console.log(
    markdownTable(
      [
        "op",
        "keys",
        "tsresty 1 proc (ops/s)",
        "2 procs, one zone",
        "2 / 1",
        "2 procs, 2 zones (what the machine gives)",
        "Map (ops/s)",
        "nginx 1 worker",
        "nginx 2 workers",
      ],
      rows,
    ),
  );
  console.log(
    `\n${N.toLocaleString("en-US")} operations per cell, median of ${RUNS} runs; add = add of missing keys.`,
  );
  if (missing !== null) console.log(`nginx columns skipped: ${missing}.`);
  console.log(`\nBars:\n${verdicts.map((v) => `- ${v}`).join("\n")}`);
}

await main();
process.exit(0);
