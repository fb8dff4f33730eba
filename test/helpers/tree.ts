import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import type { ProcessRow, StatusReport } from "../../src/ipc/index.ts";

/** A status row of a live process. */
export type LiveRow = ProcessRow & { readonly pid: number };
import { runTsresty, startTsresty, type Finished, type Running } from "./processes.ts";

export { alive, until } from "./wait.ts";

export interface Tree {
  readonly run: Running;
  readonly port: number;
  readonly masterPid: number;
  readonly prefix: string;
  url(path?: string): string;
  /** `tsresty status --json` for this tree: its processes (slots waiting in backoff left out). */
  status(): Promise<{ processes: LiveRow[] }>;
  /** `tsresty status --json` as it is, backoff rows included. */
  report(): Promise<StatusReport>;
  /** `tsresty <command> --prefix …` for this tree. */
  command(...args: string[]): Promise<Finished>;
}

const pids = new Set<number>();
after(() => {
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
  }
});

/**
 * Starts `tsresty start APP` on 127.0.0.1, port 0, under a fresh prefix, and waits for the
 * ready line. Every process of the tree is SIGKILLed in after() if it is still there.
 */
export async function startTree(
  app: string,
  options: {
    /** Worker count for --workers; null leaves it to the config. */
    workers?: number | null;
    env?: Record<string, string>;
    args?: string[];
    deadlineMs?: number;
    prefix?: string;
    nodeArgs?: string[];
    /** Runs the compiled dist/ rather than src/. */
    compiled?: boolean;
    /** A descriptor given to `tsresty start` as its fd 20. */
    inherit?: number;
  } = {},
): Promise<Tree> {
  const prefix = options.prefix ?? mkdtempSync(join(tmpdir(), "tsresty-test-"));
  after(() => {
    rmSync(prefix, { recursive: true, force: true });
  });
  const run = startTsresty(
    [
      "start",
      app,
      ...(options.workers === null ? [] : ["--workers", String(options.workers ?? 2)]),
      "--listen",
      "127.0.0.1:0",
      "--prefix",
      prefix,
      ...(options.args ?? []),
    ],
    {
      deadlineMs: options.deadlineMs ?? 60_000,
      ...(options.env === undefined ? {} : { env: options.env }),
      ...(options.nodeArgs === undefined ? {} : { nodeArgs: options.nodeArgs }),
      ...(options.compiled === undefined ? {} : { compiled: options.compiled }),
      ...(options.inherit === undefined ? {} : { inherit: options.inherit }),
    },
  );
  await run.waitForOutput("tsresty ready:");
  const ready =
    /tsresty ready: master pid (\d+), \d+ workers?(?: and the privileged agent)?, (?:listening on 127\.0\.0\.1:(\d+)|no HTTP handler)/.exec(
      run.stdout(),
    );
  if (ready === null) throw new Error(`no ready line:\n${run.stdout()}\n${run.stderr()}`);
  const masterPid = Number(ready[1]);
  pids.add(masterPid);
  const port = Number(ready[2] ?? 0);
  const command = (...args: string[]): Promise<Finished> => runTsresty([...args, "--prefix", prefix]);
  const tree: Tree = {
    run,
    port,
    masterPid,
    prefix,
    url: (path = "/") => `http://127.0.0.1:${port}${path}`,
    command,
    report: async () => {
      const r = await command("status", "--json");
      if (r.code !== 0) throw new Error(`status failed: ${r.stderr}`);
      const report = JSON.parse(r.stdout) as StatusReport;
      for (const p of report.processes) if (p.pid !== null) pids.add(p.pid);
      return report;
    },
    status: async () => ({
      processes: (await tree.report()).processes.filter((p): p is LiveRow => p.pid !== null),
    }),
  };
  await tree.status();
  return tree;
}

/** GET (or POST) with a fresh connection; the body as text. */
export async function get(url: string, init: RequestInit = {}): Promise<{ status: number; body: string }> {
  const headers = new Headers(init.headers);
  headers.set("connection", "close");
  const response = await fetch(url, { ...init, headers });
  return { status: response.status, body: await response.text() };
}
