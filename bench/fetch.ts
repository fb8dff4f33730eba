/**
 * `npm run bench:fetch`: the cost of serving a web-standard `fetch` handler beside a plain
 * node:http handler, each a hello world on one in-process http.Server (no tsresty master in the
 * way), driven by `wrk -t1 -c32` on 127.0.0.1. tsresty's adapter is measured with the light
 * global Response a worker installs by default and with undici's (`http.lightResponse: false`);
 * @hono/node-server's listener beside them, with and without its replacement of the global
 * Request/Response. "floor" is a plain handler that also builds and reads undici's
 * `new Response("hello\n")`: no adapter that keeps undici's Response can cost less (it makes a
 * web stream for every body).
 *
 * Each server runs in its own child process (the driver only runs wrk and reads /proc), so that
 * a variant that replaces globals cannot touch another. Servers are measured in turns (A, B, C,
 * A, B, C, …) and the median is kept. Two figures per server:
 *  - req/s, which on a shared machine moves with whatever else runs;
 *  - CPU time the server process spent per request (utime + stime from /proc, over the run),
 *    which is what the server itself costs and moves much less with the machine's load.
 *
 * BENCH_RUNS (3), BENCH_DURATION (5s), BENCH_VARIANTS (all) tune it. Needs wrk.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer, type RequestListener } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { fetchListener, installLightResponse } from "../src/worker/fetch/index.ts";
import { readCpuTicks } from "../src/util/proc.ts";
import { TICKS_PER_SECOND } from "./cpu.ts";
import { markdownTable, median } from "./table.ts";

const VARIANTS = {
  handler: "node:http handler, res.end()",
  floor: "handler + new Response(string) read (floor)",
  fetch: "tsresty fetch(), light Response: new Response(string)",
  "fetch-headers": "tsresty fetch(), light Response: URL + a header, Response.json",
  "fetch-undici": "tsresty fetch(), undici's Response (lightResponse: false)",
  "fetch-hono": "tsresty fetch(), light Response: a Hono app, c.text()",
  hono: "@hono/node-server listener, globals kept",
  "hono-globals": "@hono/node-server listener, globals replaced",
} as const;
type Variant = keyof typeof VARIANTS;

const hello = (): Response => new Response("hello\n");
const withHeaders = (request: Request): Response =>
  Response.json({ path: new URL(request.url).pathname, agent: request.headers.get("user-agent") });

async function listenerFor(variant: Variant): Promise<RequestListener> {
  const failed = (res: Parameters<RequestListener>[1], error: unknown): void => {
    process.stderr.write(`bench: handler failed: ${String(error)}\n`);
    res.destroy();
  };
  const log = (): void => undefined;
  switch (variant) {
    case "handler":
      return (_req, res) => res.end("hello\n");
    case "floor":
      // What any adapter that keeps the global Response pays at least: the app's Response, read.
      return (_req, res) => {
        const reader = (hello().body as ReadableStream<Uint8Array>).getReader();
        void reader
          .read()
          .then(() => reader.read())
          .then(() => res.end("hello\n"));
      };
    case "fetch":
      installLightResponse(); // what a worker does before it loads a fetch app
      return fetchListener(hello, failed, log);
    case "fetch-headers":
      installLightResponse();
      return fetchListener(withHeaders, failed, log);
    case "fetch-undici":
      return fetchListener(hello, failed, log);
    case "fetch-hono": {
      installLightResponse();
      const { Hono } = await import("hono");
      const app = new Hono().get("/", (c) => c.text("hello\n"));
      return fetchListener((request) => app.fetch(request), failed, log);
    }
    case "hono":
    case "hono-globals": {
      // Hono's adapter serves the same hello world as tsresty's "fetch" rows (no Hono app).
      const { getRequestListener } = await import("@hono/node-server");
      const listener = getRequestListener(hello, { overrideGlobalObjects: variant === "hono-globals" });
      return (req, res) => void listener(req, res);
    }
  }
}

/** Child mode: serve one variant on 127.0.0.1, port 0, until killed. */
async function serve(variant: Variant): Promise<void> {
  const server = createServer(await listenerFor(variant));
  server.listen(0, "127.0.0.1", () => {
    process.stdout.write(`listening on ${(server.address() as AddressInfo).port}\n`);
  });
}

interface Server {
  readonly variant: Variant;
  readonly child: ChildProcess;
  readonly port: number;
}

function start(variant: Variant): Promise<Server> {
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), variant], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${variant} did not start`));
    }, 30_000);
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const port = /listening on (\d+)/.exec(out)?.[1];
      if (port !== undefined) {
        clearTimeout(timer);
        resolve({ variant, child, port: Number(port) });
      }
    });
  });
}

/** utime + stime of a process, in clock ticks; 0 once it is gone. */
const cpuTicks = (pid: number): number => readCpuTicks(pid) ?? 0;

const TICK_US = 1e6 / TICKS_PER_SECOND;

function wrk(port: number, duration: string): Promise<{ rps: number; requests: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn("wrk", ["-t1", "-c32", `-d${duration}`, `http://127.0.0.1:${port}/`], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.on("error", reject);
    child.on("close", () => {
      const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
      const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
      if (/Non-2xx|Socket errors/.test(out)) process.stderr.write(`bench: wrk saw errors:\n${out}\n`);
      resolve({ rps, requests });
    });
  });
}

async function measure(server: Server, duration: string): Promise<{ rps: number; cpuUs: number }> {
  const pid = server.child.pid ?? 0;
  const before = cpuTicks(pid);
  const { rps, requests } = await wrk(server.port, duration);
  return { rps, cpuUs: ((cpuTicks(pid) - before) * TICK_US) / requests };
}

async function main(): Promise<void> {
  const runs = Number(process.env["BENCH_RUNS"] ?? 3);
  const duration = process.env["BENCH_DURATION"] ?? "5s";
  const variants = (process.env["BENCH_VARIANTS"]?.split(",") ?? Object.keys(VARIANTS)) as Variant[];
  const servers: Server[] = [];
  try {
    for (const variant of variants) servers.push(await start(variant));
    for (const server of servers) await wrk(server.port, "2s"); // warm-up: JIT, pools
    const results = servers.map(() => ({ rps: [] as number[], cpuUs: [] as number[] }));
    for (let run = 0; run < runs; run++) {
      for (const [i, server] of servers.entries()) {
        const { rps, cpuUs } = await measure(server, duration);
        results[i]?.rps.push(rps);
        results[i]?.cpuUs.push(cpuUs);
      }
    }
    const base = variants.indexOf("handler");
    const baseRps = base === -1 ? NaN : median(results[base]?.rps ?? []);
    const baseCpu = base === -1 ? NaN : median(results[base]?.cpuUs ?? []);
    const rows = servers.map((server, i) => {
      const rps = median(results[i]?.rps ?? []);
      const cpuUs = median(results[i]?.cpuUs ?? []);
      return [
        VARIANTS[server.variant],
        Math.round(rps).toLocaleString("en-US"),
        `${(rps / baseRps).toFixed(2)}×`,
        cpuUs.toFixed(1),
        `${(baseCpu / cpuUs).toFixed(2)}×`,
      ];
    });
    console.log(
      `node ${process.version}, wrk -t1 -c32 -d${duration}, median of ${runs} runs taken in turns, ` +
        `load average ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}`,
    );
    console.log(
      markdownTable(
        ["server (hello world)", "req/s", "req/s vs handler", "server CPU µs/req", "handler CPU / this"],
        rows,
      ),
    );
  } finally {
    for (const server of servers) server.child.kill("SIGKILL");
  }
}

const variant = process.argv[2];
if (variant === undefined) await main();
else if (variant in VARIANTS) await serve(variant as Variant);
else
  throw new Error(`bench/fetch.ts: unknown variant ${variant}; known: ${Object.keys(VARIANTS).join(", ")}`);
