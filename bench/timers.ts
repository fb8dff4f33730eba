/**
 * `npm run bench:timers`: tsresty's timer core beside Node's own timers, measured in one run.
 *
 * Each case runs in a fresh child process (same Node, same flags) so that one case's heap does
 * not skew the next one's memory or GC figures; the parent prints one table. Bars come from
 * the foundation issue; nginx + ngx_lua figures from ../shared/baseline/FIGURES.md.
 */
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { TimerSystem } from "../src/timer/index.ts";
import { systemClock } from "../src/util/clock.ts";
import { markdownTable } from "./table.ts";

type Variant = "tsresty" | "setTimeout" | "setImmediate" | "outside" | "after" | "inside";
interface Result {
  readonly value: number;
  readonly extra?: Record<string, number>;
}

const gc = (globalThis as { gc?: () => void }).gc;

function collect(): void {
  if (gc === undefined) throw new Error("run with --expose-gc");
  gc();
  gc();
}

function makeTimers(): TimerSystem {
  return new TimerSystem({
    clock: systemClock,
    log: (level, message) => process.stderr.write(`[${level}] ${message}\n`),
    maxPending: 4_000_000,
    maxRunning: 256,
    runningLimit: "wait",
  });
}

const noop = (): void => undefined;

/** Creates `count` pending 60 s timers; returns ns per timer and bytes per timer. */
function create(variant: Variant, count: number): Result {
  const timers = makeTimers();
  const keep: unknown[] = new Array<unknown>(count);
  collect();
  const heapBefore = process.memoryUsage().heapUsed;
  const rssBefore = process.memoryUsage().rss;
  const start = process.hrtime.bigint();
  if (variant === "tsresty") {
    for (let i = 0; i < count; i++) keep[i] = timers.at(60, noop);
  } else {
    for (let i = 0; i < count; i++) keep[i] = setTimeout(noop, 60_000);
  }
  const elapsed = Number(process.hrtime.bigint() - start);
  collect();
  const heap = process.memoryUsage().heapUsed - heapBefore;
  const rss = process.memoryUsage().rss - rssBefore;
  if (keep.length !== count) throw new Error("lost timers");
  return { value: elapsed / count, extra: { heapBytes: heap / count, rssBytes: rss / count } };
}

/** Creates `count` zero-delay timers, then measures how fast they drain. */
function fire(variant: Variant, count: number): Promise<Result> {
  return new Promise((resolve) => {
    const timers = makeTimers();
    let fired = 0;
    let drainStart = 0n;
    const begin = process.hrtime.bigint();
    const done = (): void => {
      const end = process.hrtime.bigint();
      resolve({
        value: count / (Number(end - drainStart) / 1e9),
        extra: { endToEndPerSecond: count / (Number(end - begin) / 1e9) },
      });
    };
    const tick = (): void => {
      if (++fired === count) done();
    };
    if (variant === "tsresty") for (let i = 0; i < count; i++) timers.at(0, tick);
    else if (variant === "setImmediate") for (let i = 0; i < count; i++) setImmediate(tick);
    else for (let i = 0; i < count; i++) setTimeout(tick, 0);
    drainStart = process.hrtime.bigint();
  });
}

/** A chain of `count` 10 ms timers; lateness = fire time − (time before scheduling + 10 ms). */
function lateness(variant: Variant, count: number): Promise<Result> {
  return new Promise((resolve) => {
    const timers = makeTimers();
    const late: number[] = [];
    let scheduledAt = 0;
    const arm = (): void => {
      scheduledAt = performance.now();
      if (variant === "tsresty") timers.at(0.01, onFire);
      else setTimeout(onFire, 10);
    };
    const onFire = (): void => {
      late.push(performance.now() - (scheduledAt + 10));
      if (late.length < count) arm();
      else {
        late.sort((a, b) => a - b);
        const at = (q: number): number => late[Math.min(late.length - 1, Math.floor(q * late.length))] ?? NaN;
        resolve({
          value: at(0.99),
          extra: { p50: at(0.5), max: late[late.length - 1] ?? NaN, min: late[0] ?? NaN },
        });
      }
    };
    arm();
  });
}

/** `count` awaits in a loop: promise-heavy code, to see what `ngx.timer.current()`'s store costs. */
async function awaitLoop(count: number): Promise<number> {
  let sum = 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < count; i++) sum += await Promise.resolve(i);
  if (sum < 0) throw new Error("unreachable");
  return Number(process.hrtime.bigint() - start) / count;
}

/**
 * ns per await: with no timer ("outside"), after an async timer callback ran and settled
 * ("after"), and inside one ("inside": the store that `ngx.timer.current()` reads is enabled).
 */
async function awaits(variant: Variant, count: number): Promise<Result> {
  const timers = makeTimers();
  await awaitLoop(count); // warm-up
  if (variant === "after") {
    await new Promise<void>((resolve) => {
      timers.at(0, async () => {
        await Promise.resolve();
        resolve();
      });
    });
    await new Promise((resolve) => setImmediate(resolve));
  }
  if (variant !== "inside") return { value: await awaitLoop(count) };
  return new Promise((resolve) => {
    timers.at(0, async () => {
      if (timers.current() === undefined) throw new Error("no current run");
      resolve({ value: await awaitLoop(count) });
    });
  });
}

async function runCase(name: string): Promise<Result> {
  const [kind, variant, count] = name.split(":") as [string, Variant, string];
  const n = Number(count);
  switch (kind) {
    case "create":
      return create(variant, n);
    case "fire":
      return fire(variant, n);
    case "lateness":
      return lateness(variant, n);
    case "await":
      return awaits(variant, n);
    default:
      throw new Error(`unknown case ${name}`);
  }
}

const REPEAT = Number(process.env["BENCH_REPEAT"] ?? 5);

/** Runs a case REPEAT times, each in a fresh process, and keeps the median run (by its main figure). */
function measure(name: string): Result {
  const runs: Result[] = [];
  for (let i = 0; i < REPEAT; i++) {
    const out = execFileSync(
      process.execPath,
      [...process.execArgv, fileURLToPath(import.meta.url), "--case", name],
      { encoding: "utf8", timeout: 120_000 },
    );
    runs.push(JSON.parse(out) as Result);
  }
  runs.sort((a, b) => a.value - b.value);
  return runs[Math.floor(runs.length / 2)] as Result;
}

const fmt = (n: number, digits = 0): string =>
  n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });

function main(): void {
  const rows: string[][] = [];
  const ratio = (a: number, b: number): string => `${(a / b).toFixed(2)}×`;
  for (const count of [100_000, 1_000_000]) {
    const ts = measure(`create:tsresty:${count}`);
    const raw = measure(`create:setTimeout:${count}`);
    const label = count === 100_000 ? "100k" : "1M";
    rows.push([
      `create ${label} pending (ns/timer)`,
      fmt(ts.value),
      fmt(raw.value),
      ratio(ts.value, raw.value),
      count === 1_000_000 ? "≤ 1.5× raw (goal ≤ 1.0×)" : "",
    ]);
    rows.push([
      `memory at ${label}, heap (B/timer)`,
      fmt(ts.extra?.["heapBytes"] ?? NaN),
      fmt(raw.extra?.["heapBytes"] ?? NaN),
      ratio(ts.extra?.["heapBytes"] ?? NaN, raw.extra?.["heapBytes"] ?? NaN),
      "",
    ]);
    rows.push([
      `memory at ${label}, RSS (B/timer)`,
      fmt(ts.extra?.["rssBytes"] ?? NaN),
      fmt(raw.extra?.["rssBytes"] ?? NaN),
      ratio(ts.extra?.["rssBytes"] ?? NaN, raw.extra?.["rssBytes"] ?? NaN),
      count === 1_000_000 ? "≤ 250 B (nginx 849 B)" : "",
    ]);
  }
  const fireTs = measure("fire:tsresty:1000000");
  const fireImm = measure("fire:setImmediate:1000000");
  const fireTo = measure("fire:setTimeout:1000000");
  rows.push([
    "fire 1M zero-delay, drain (/s)",
    fmt(fireTs.value),
    `${fmt(fireImm.value)} imm / ${fmt(fireTo.value)} st0`,
    ratio(fireTs.value, fireImm.value),
    "≥ 2,000,000/s (nginx 1.68M/s)",
  ]);
  rows.push([
    "fire 1M zero-delay, create+drain (/s)",
    fmt(fireTs.extra?.["endToEndPerSecond"] ?? NaN),
    `${fmt(fireImm.extra?.["endToEndPerSecond"] ?? NaN)} imm / ${fmt(fireTo.extra?.["endToEndPerSecond"] ?? NaN)} st0`,
    ratio(fireTs.extra?.["endToEndPerSecond"] ?? NaN, fireImm.extra?.["endToEndPerSecond"] ?? NaN),
    "",
  ]);
  const lateTs = measure("lateness:tsresty:500");
  const lateRaw = measure("lateness:setTimeout:500");
  const lat = (r: Result): string =>
    `${(r.extra?.["p50"] ?? NaN).toFixed(2)} / ${r.value.toFixed(2)} / ${(r.extra?.["max"] ?? NaN).toFixed(2)}`;
  rows.push(["lateness, 500 chained 10 ms, p50/p99/max (ms)", lat(lateTs), lat(lateRaw), "", "p99 ≤ 1 ms"]);
  const awaitOutside = measure("await:outside:1000000");
  const awaitAfter = measure("await:after:1000000");
  const awaitInside = measure("await:inside:1000000");
  rows.push([
    "await, outside / after / inside an async timer (ns)",
    `${fmt(awaitOutside.value)} / ${fmt(awaitAfter.value)} / ${fmt(awaitInside.value)}`,
    "",
    `${ratio(awaitAfter.value, awaitOutside.value)} / ${ratio(awaitInside.value, awaitOutside.value)}`,
    "after ≤ 1.05× outside",
  ]);

  console.log(
    `node ${process.version}, ${new Date().toISOString()}, median of ${REPEAT} fresh processes per cell`,
  );
  console.log(markdownTable(["figure", "tsresty", "Node raw", "tsresty/raw", "bar"], rows));
}

const caseIndex = process.argv.indexOf("--case");
if (caseIndex >= 0) {
  const result = await runCase(process.argv[caseIndex + 1] ?? "");
  process.stdout.write(JSON.stringify(result));
  process.exit(0);
} else {
  main();
}
