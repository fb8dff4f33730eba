/**
 * `npm run bench:pipe`: ngx.pipe beside raw child_process.spawn, in one process and one run.
 * - spawn + wait of `true` per second, one at a time and 8 in flight;
 * - stdout throughput of a 200 MB stream read with stdoutReadAny (raw: 'data' events);
 * - how long one spawn holds the event loop (the synchronous part of the call);
 * - event-loop delay p99 (monitorEventLoopDelay) while 50 children write lines that are read,
 *   and how long starting those 50 held the loop. The bar's children are one program each (perl, which
 *   Debian always has) writing a line every 10 ms; a second run uses shells that fork `sleep` for each
 *   line (2,000 forks on the machine's cores), to show how much of the delay is the children's own CPU;
 * - how fast a busy loop in another session runs while 4 busy children run, against its speed
 *   alone: what the children's session costs the rest of the host (docs/pipe.md).
 * Each figure is the median of RUNS repetitions, tsresty and raw taken in turns.
 */
import { execFileSync, spawn as rawSpawn } from "node:child_process";
import { once } from "node:events";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { spawn } from "../src/pipe/index.ts";
import { markdownTable } from "./table.ts";

const RUNS = Number(process.env["BENCH_RUNS"] ?? 3);
const median = (values: number[]): number =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;

async function spawnRate(count: number, inFlight: number, raw: boolean): Promise<number> {
  const one = async (): Promise<void> => {
    if (raw) {
      const child = rawSpawn("true", [], { stdio: ["pipe", "pipe", "pipe"] });
      child.stdout.resume();
      child.stderr.resume();
      await once(child, "close");
    } else {
      const result = await spawn(["true"]).wait();
      if (!result.ok) throw new Error("true failed");
    }
  };
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next++ < count) await one();
    }),
  );
  return count / ((performance.now() - started) / 1000);
}

const STREAM = "head -c 209715200 /dev/zero";

async function throughput(raw: boolean): Promise<number> {
  const started = performance.now();
  let size = 0;
  if (raw) {
    const child = rawSpawn("sh", ["-c", STREAM]);
    child.stdout.on("data", (chunk: Buffer) => (size += chunk.length));
    await once(child, "close");
  } else {
    const proc = spawn(STREAM);
    for (;;) {
      const chunk = await proc.stdoutReadAny(1 << 20);
      if (!chunk.ok) break;
      size += chunk.data.length;
    }
    await proc.wait();
  }
  if (size !== 209715200) throw new Error(`read ${size} bytes`);
  return size / 1024 / 1024 / ((performance.now() - started) / 1000);
}

/** 40 lines, one every 10 ms, from one program that forks nothing. */
const TALKER = `exec perl -e '$| = 1; for (1..40) { print "line $_\\n"; select(undef, undef, undef, 0.01) }'`;
/** The same 40 lines from a shell that forks `sleep` for each. */
const FORKING_TALKER = "for i in $(seq 40); do echo line $i; sleep 0.01; done";

/** Event-loop delay p99 and max over the whole run, and how long starting the 50 children held the loop. */
async function loopDelay(raw: boolean, talker: string): Promise<[p99: number, max: number, burst: number]> {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  // The histogram records from its second tick on: let it tick, so that the spawns are seen.
  await new Promise((resolve) => setTimeout(resolve, 20));
  const burstStart = performance.now();
  // Each function runs up to its first await here: the 50 spawns happen in this statement.
  const children = Array.from({ length: 50 }, async () => {
    if (raw) {
      const child = rawSpawn("sh", ["-c", talker]);
      child.stdout.resume();
      await once(child, "close");
    } else {
      const proc = spawn(talker);
      let lines = 0;
      for await (const line of proc.stdoutLines()) {
        lines += 1;
        if (line !== `line ${lines}`) throw new Error(`line ${lines} was ${JSON.stringify(line)}`);
      }
      const exit = await proc.wait();
      if (lines !== 40 || !exit.ok) throw new Error(`the talker wrote ${lines} lines, then ${exit.reason}`);
    }
  });
  const burst = performance.now() - burstStart;
  await Promise.all(children);
  histogram.disable();
  return [histogram.percentile(99) / 1e6, histogram.max / 1e6, burst];
}

/**
 * Milliseconds a fixed busy loop takes in a session of its own (perl-base: Debian always has it;
 * timed from here, since perl-base has no clock finer than seconds).
 */
function otherSessionLoop(): number {
  const started = performance.now();
  execFileSync("setsid", ["-w", "perl", "-e", "my $i = 0; $i++ while $i < 20_000_000"]);
  return performance.now() - started;
}

const BUSY = "while :; do :; done";

/** A busy loop in another session while 4 busy children run, as a share of its speed alone (%). */
async function otherSessionShare(raw: boolean): Promise<number> {
  const alone = otherSessionLoop();
  const ends: (() => Promise<unknown>)[] = [];
  for (let i = 0; i < 4; i++) {
    if (raw) {
      const child = rawSpawn("sh", ["-c", BUSY], { detached: true, stdio: "ignore" });
      ends.push(() => {
        child.kill("SIGKILL");
        return once(child, "exit");
      });
    } else {
      const proc = spawn(["sh", "-c", BUSY]);
      ends.push(() => {
        proc.kill("SIGKILL");
        return proc.wait();
      });
    }
  }
  const beside = otherSessionLoop();
  await Promise.all(ends.map((end) => end()));
  return (100 * alone) / beside;
}

/** How long one spawn of `true` holds the event loop (the synchronous part of the call), median of 100. */
async function heldBySpawn(raw: boolean): Promise<number> {
  const held: number[] = [];
  for (let i = 0; i < 100; i++) {
    const started = performance.now();
    if (raw) {
      const child = rawSpawn("true", [], { stdio: ["pipe", "pipe", "pipe"] });
      held.push(performance.now() - started);
      child.stdout.resume();
      child.stderr.resume();
      await once(child, "close");
    } else {
      const proc = spawn(["true"]);
      held.push(performance.now() - started);
      await proc.wait();
    }
  }
  return median(held);
}

/** Runs `run` RUNS times for each side, in turns: the median of each figure it returns. */
async function measure(run: (raw: boolean) => Promise<number | number[]>): Promise<[number[], number[]]> {
  const ours: number[][] = [];
  const raw: number[][] = [];
  for (let i = 0; i < RUNS; i++) {
    ours.push([await run(false)].flat());
    raw.push([await run(true)].flat());
  }
  const mid = (runs: number[][]): number[] =>
    (runs[0] ?? []).map((_, k) => median(runs.map((r) => r[k] ?? NaN)));
  return [mid(ours), mid(raw)];
}

const rows: string[][] = [];
const fmt = (n: number, digits = 0): string =>
  n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
const [[serialOurs = NaN], [serialRaw = NaN]] = await measure((raw) => spawnRate(300, 1, raw));
rows.push([
  "spawn + wait `true`, one at a time (/s)",
  fmt(serialOurs),
  fmt(serialRaw),
  `${(serialOurs / serialRaw).toFixed(2)}×`,
  "≥ 0.9× raw",
]);
const [[parallelOurs = NaN], [parallelRaw = NaN]] = await measure((raw) => spawnRate(400, 8, raw));
rows.push([
  "spawn + wait `true`, 8 in flight (/s)",
  fmt(parallelOurs),
  fmt(parallelRaw),
  `${(parallelOurs / parallelRaw).toFixed(2)}×`,
  "≥ 0.9× raw",
]);
const [[mbOurs = NaN], [mbRaw = NaN]] = await measure(throughput);
rows.push([
  "200 MB stdout through stdoutReadAny (MB/s)",
  fmt(mbOurs),
  fmt(mbRaw),
  `${(mbOurs / mbRaw).toFixed(2)}×`,
  "≥ 0.8× raw",
]);
const [[heldOurs = NaN], [heldRaw = NaN]] = await measure(heldBySpawn);
rows.push([
  "event loop held by one spawn of `true`, median (ms)",
  fmt(heldOurs, 2),
  fmt(heldRaw, 2),
  `${(heldOurs / heldRaw).toFixed(2)}×`,
  "",
]);
const [[delayOurs = NaN, maxOurs = NaN, burstOurs = NaN], [delayRaw = NaN, maxRaw = NaN, burstRaw = NaN]] =
  await measure((raw) => loopDelay(raw, TALKER));
rows.push([
  "event loop held by starting 50 talking children (ms)",
  fmt(burstOurs, 0),
  fmt(burstRaw, 0),
  `${(burstOurs / burstRaw).toFixed(2)}×`,
  "",
]);
rows.push([
  "event-loop delay p99, 50 children talking (ms)",
  fmt(delayOurs, 2),
  fmt(delayRaw, 2),
  "",
  "≤ 5 ms",
]);
rows.push(["event-loop delay max, 50 children talking (ms)", fmt(maxOurs, 0), fmt(maxRaw, 0), "", ""]);
const [[forkingOurs = NaN, forkingMaxOurs = NaN], [forkingRaw = NaN, forkingMaxRaw = NaN]] = await measure(
  (raw) => loopDelay(raw, FORKING_TALKER),
);
rows.push([
  "same, children forking `sleep` per line: p99 / max (ms)",
  `${fmt(forkingOurs, 2)} / ${fmt(forkingMaxOurs, 0)}`,
  `${fmt(forkingRaw, 2)} / ${fmt(forkingMaxRaw, 0)}`,
  "",
  "",
]);

const [[shareOurs = NaN], [shareRaw = NaN]] = await measure(otherSessionShare);
rows.push([
  "another session's busy loop beside 4 busy children (% of alone; raw: `detached`)",
  fmt(shareOurs),
  fmt(shareRaw),
  "",
  "",
]);

console.log(`node ${process.version}, ${new Date().toISOString()}, median of ${RUNS}, taken in turns`);
console.log(markdownTable(["figure", "tsresty", "raw child_process", "tsresty/raw", "bar"], rows));
