/** Processes a benchmark starts: each one is remembered so that `killAll` leaves nothing behind. */
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { sendControl, type ProcessRow } from "../src/master/index.ts";

export const started = new Set<ChildProcess>();

export interface Running {
  readonly port: number;
  readonly child: ChildProcess;
}

/** Starts a server process and resolves with its port once `pattern` (capturing the port) appears. */
export function startServer(
  command: string,
  args: string[],
  pattern: RegExp,
  options: { cwd: string; env?: NodeJS.ProcessEnv },
): Promise<Running> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...options.env },
    });
    started.add(child);
    let out = "";
    const timer = setTimeout(() => {
      reject(new Error(`server did not start: ${out}`));
    }, 60_000);
    const onData = (chunk: Buffer): void => {
      out += chunk.toString();
      const match = pattern.exec(out);
      if (match !== null) {
        clearTimeout(timer);
        resolve({ child, port: Number(match[1]) });
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", () => {
      started.delete(child);
    });
  });
}

/** TERM, then KILL after 10 s; resolves once the process is gone. */
export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

/** SIGKILL to every process still running (the end of a benchmark, or its failure). */
export function killAll(): void {
  for (const child of started) child.kill("SIGKILL");
}

/** A free port on 127.0.0.1 for a server that cannot listen on port 0 and say which it got. */
export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => {
        resolve(port);
      });
    });
  });
}

/** The process rows of `tsresty status` for the tree under `prefix`. */
export async function statusOf(prefix: string): Promise<ProcessRow[]> {
  const answer = await sendControl(prefix, { command: "status" });
  if (!answer.ok || answer.status === undefined) throw new Error(answer.message);
  return [...answer.status.processes];
}
