/**
 * wrk on 127.0.0.1, for the HTTP benchmarks: one run, its figures parsed from wrk's output.
 * Needs Debian's `wrk`.
 */
import { execFileSync, spawn } from "node:child_process";

export interface WrkResult {
  readonly rps: number;
  readonly requests: number;
  /** Socket errors (connect, read, write, timeout). */
  readonly errors: number;
  readonly non2xx: number;
}

export interface WrkOptions {
  readonly threads?: number;
  readonly connections?: number;
  readonly duration: string;
  /** Extra request headers (`Connection: close` makes wrk open a connection per request). */
  readonly headers?: readonly string[];
}

export function wrkAvailable(): boolean {
  try {
    execFileSync("wrk", ["--version"], { stdio: "ignore" });
    return true;
  } catch (error) {
    return (error as { status?: number }).status === 1; // wrk --version exits 1 after printing
  }
}

export function parseWrk(out: string): WrkResult {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = socket === null ? 0 : socket.slice(1).reduce((sum, n) => sum + Number(n), 0);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  return { rps, requests, errors, non2xx };
}

export function wrk(url: string, options: WrkOptions): Promise<WrkResult> {
  const args = [
    `-t${options.threads ?? 2}`,
    `-c${options.connections ?? 64}`,
    `-d${options.duration}`,
    ...(options.headers ?? []).flatMap((header) => ["-H", header]),
    url,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn("wrk", args, { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.on("error", reject);
    child.on("close", () => {
      const result = parseWrk(out);
      if (!(result.rps > 0)) process.stderr.write(`wrk on ${url} measured nothing:\n${out}\n`);
      resolve(result);
    });
  });
}
