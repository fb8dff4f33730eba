/**
 * `npm run bench:instructions` (needs valgrind): the instructions a tsresty worker executes per
 * request, against a bare `node:cluster` worker accepting directly, both serving the same hello
 * world, counted by callgrind in the worker processes themselves.
 *
 * What the CPU time of `bench:http` cannot tell on a 2-core VM (a turn's figure moves by ±10%),
 * an instruction count tells to about 1–2%: the master and the bare primary are started with
 * bench/fixtures/under-callgrind.mjs, so that every child runs under callgrind; the client here
 * sends one request at a time (a new connection each with `Connection: close`, then requests on
 * one keep-alive connection), and each round's count is taken between a reset and a dump of the
 * worker's counters (`callgrind_control`). Rounds alternate between the servers after a warm-up.
 * ROUNDS (5), CLOSE_N (4,000 connections a round) and KEEPALIVE_N (20,000 requests) tune it; the
 * warm-up is two rounds' worth, as V8 is still compiling after one (a first round read 5–25% high),
 * and V8's memory reducer is off in both workers (under-callgrind.mjs says why).
 * Counts cover user space only: the kernel's share of a connection is the same system calls in
 * both (docs/benchmarks.md). Every process started here is stopped at the end.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { killAll, startServer, statusOf, stop, type Running } from "./servers.ts";
import { markdownTable, median } from "./table.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const ROUNDS = Number(process.env["ROUNDS"] ?? 5);
const CLOSE_N = Number(process.env["CLOSE_N"] ?? 4_000);
const KEEPALIVE_N = Number(process.env["KEEPALIVE_N"] ?? 20_000);
const scratch = mkdtempSync(join(tmpdir(), "tsresty-bench-"));
const dumps = join(scratch, "dumps");

/** valgrind's path and callgrind_control's, or null when valgrind is not installed. */
function tools(): { valgrind: string; control: string } | null {
  try {
    const path = (name: string): string => execFileSync("which", [name]).toString().trim();
    return { valgrind: path("valgrind"), control: path("callgrind_control") };
  } catch {
    return null;
  }
}

interface Counted {
  readonly name: string;
  readonly server: Running;
  /** The worker process whose instructions are counted. */
  readonly pid: number;
}

/** One request; resolves once the response has come (keep-alive) or the connection closed. */
function closeRequest(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => {
      socket.write("GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n");
    });
    let got = "";
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => (got += chunk));
    socket.on("error", reject);
    socket.on("close", () => {
      if (got.endsWith("hello\n")) resolve();
      else reject(new Error(`unexpected answer: ${JSON.stringify(got.slice(0, 200))}`));
    });
  });
}

/** `n` requests one after the other on one keep-alive connection. */
function keepAliveRequests(port: number, n: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    socket.setEncoding("latin1");
    let left = n;
    let got = "";
    const send = (): void => {
      socket.write("GET / HTTP/1.1\r\nHost: bench\r\n\r\n");
    };
    socket.on("connect", send);
    socket.on("data", (chunk: string) => {
      got += chunk;
      if (!got.endsWith("hello\n")) return;
      got = "";
      if (--left > 0) send();
      else {
        socket.end();
        resolve();
      }
    });
    socket.on("error", reject);
  });
}

async function load(port: number, kind: "close" | "keepalive", n: number): Promise<void> {
  if (kind === "keepalive") return keepAliveRequests(port, n);
  for (let i = 0; i < n; i++) await closeRequest(port);
}

/** The instructions of the newest dump of `pid` (callgrind's "totals" line), once it is written. */
async function lastTotal(pid: number, count: number): Promise<number> {
  const name = `cg.${pid}.${count}`;
  for (let waited = 0; waited < 30_000; waited += 100) {
    const path = join(dumps, name);
    if (existsSync(path)) {
      const totals = /^totals: (\d+)/m.exec(readFileSync(path, "utf8"));
      if (totals !== null) return Number(totals[1]);
    }
    await sleep(100);
  }
  throw new Error(`callgrind wrote no dump ${name} in ${dumps}: ${readdirSync(dumps).join(", ")}`);
}

async function main(): Promise<void> {
  const found = tools();
  if (found === null) {
    console.error("bench:instructions needs valgrind: apt-get install -y valgrind");
    process.exit(2);
  }
  const { valgrind, control } = found;
  mkdirSync(dumps, { recursive: true });
  const env = {
    CALLGRIND_OUT: join(dumps, "cg.%p"),
    VALGRIND: valgrind,
  };
  const preload = ["--import", join(ROOT, "bench/fixtures/under-callgrind.mjs")];
  try {
    const prefix = join(scratch, "tree");
    const tree = await startServer(
      process.execPath,
      [
        ...preload,
        join(ROOT, "bin/tsresty"),
        "start",
        join(ROOT, "bench/fixtures/hello-app.mjs"),
        "--workers",
        "1",
        "--listen",
        "127.0.0.1:0",
        "--prefix",
        prefix,
      ],
      /listening on 127\.0\.0\.1:(\d+)/,
      { cwd: ROOT, env },
    );
    const worker = (await statusOf(prefix)).find((row) => row.type === "worker");
    if (worker?.pid === undefined || worker.pid === null) throw new Error("the tree has no worker");
    const bare = await startServer(
      process.execPath,
      [...preload, join(ROOT, "bench/fixtures/bare-cluster.mjs")],
      /listening on (\d+)/,
      { cwd: ROOT, env: { ...env, WORKERS: "1", NODE_CLUSTER_SCHED_POLICY: "none" } },
    );
    const bareWorker = Number(
      execFileSync("pgrep", ["-P", String(bare.child.pid)])
        .toString()
        .trim()
        .split("\n")[0],
    );
    const servers: Counted[] = [
      { name: "tsresty worker", server: tree, pid: worker.pid },
      { name: "bare cluster worker (direct accept)", server: bare, pid: bareWorker },
    ];
    const dumped = new Map(servers.map((s) => [s.pid, 0]));
    const count = async (s: Counted, kind: "close" | "keepalive", n: number): Promise<number> => {
      execFileSync(control, ["-z", String(s.pid)], { stdio: "ignore" });
      await load(s.server.port, kind, n);
      execFileSync(control, ["-d", String(s.pid)], { stdio: "ignore" });
      const dump = (dumped.get(s.pid) ?? 0) + 1;
      dumped.set(s.pid, dump);
      return (await lastTotal(s.pid, dump)) / n;
    };
    console.log(
      `node ${process.version}, ${new Date().toISOString()}, callgrind, one request at a time, ${ROUNDS} rounds in turns after a warm-up`,
    );
    const rows: string[][] = [];
    const perRound: string[] = [];
    for (const [kind, n, label] of [
      [
        "close",
        CLOSE_N,
        `instructions per \`Connection: close\` request (${CLOSE_N.toLocaleString("en-US")} a round)`,
      ],
      [
        "keepalive",
        KEEPALIVE_N,
        `instructions per keep-alive request (${KEEPALIVE_N.toLocaleString("en-US")} a round)`,
      ],
    ] as const) {
      for (const s of servers) await load(s.server.port, kind, 2 * n);
      const figures = new Map(servers.map((s) => [s.name, [] as number[]]));
      for (let round = 0; round < ROUNDS; round++) {
        for (const s of round % 2 === 0 ? servers : [...servers].reverse())
          figures.get(s.name)?.push(await count(s, kind, n));
      }
      const [own, base] = servers.map((s) => median(figures.get(s.name) ?? []));
      rows.push([
        label,
        Math.round(own ?? NaN).toLocaleString("en-US"),
        Math.round(base ?? NaN).toLocaleString("en-US"),
        `${((own ?? NaN) / (base ?? NaN)).toFixed(3)}×`,
      ]);
      for (const [name, values] of figures)
        perRound.push(
          `- ${kind}, ${name}: ${values.map((v) => Math.round(v).toLocaleString("en-US")).join(", ")}`,
        );
    }
    console.log(
      `\n${markdownTable(["figure (median of the rounds)", "tsresty worker", "bare cluster worker", "tsresty / bare"], rows)}`,
    );
    console.log(`\nEach round's figures, in the order of the rounds:\n${perRound.join("\n")}`);
    await stop(bare.child);
    await stop(tree.child);
  } finally {
    killAll();
    rmSync(scratch, { recursive: true, force: true });
  }
}

await main();
