import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { constants as osConstants } from "node:os";

import { after } from "node:test";
import { fileURLToPath } from "node:url";
import { ensureBuilt } from "./dist.ts";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const BIN = fileURLToPath(new URL("../../bin/tsresty", import.meta.url));
/** Runs bin/tsresty from src/ under tsx (see package.json "imports"), rather than dist/. */
export const FROM_SOURCE = "--conditions=tsresty-source";
/**
 * The trees the tests start run the compiled dist/, as users do, rebuilt first when src/ is newer
 * (`npm test` builds before it runs): from src/ every process of a tree would load tsx and send
 * tsresty's own modules through its hooks, which made the end-to-end files a third slower.
 * TSRESTY_TEST_SOURCE=1 runs them from src/ instead.
 */
const COMPILED = process.env["TSRESTY_TEST_SOURCE"] !== "1";
let built = false;

export interface Finished {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout with the master's attribution of its children's lines (`time pid#id: `) taken off. */
  readonly output: string;
}

/** The attribution the master puts before each line a child printed. */
const ATTRIBUTION = /^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d \d+#[\d-]+: /gm;

/** Text as the children printed it, without the master's attribution. */
export function unattributed(text: string): string {
  return text.replace(ATTRIBUTION, "");
}

export interface Running {
  readonly child: ChildProcess;
  /** Resolves when stdout has printed `text`. */
  waitForOutput(text: string): Promise<void>;
  /** What stdout has printed so far. */
  stdout(): string;
  /** The same, without the attribution of the children's lines (see `unattributed`). */
  output(): string;
  stderr(): string;
  readonly done: Promise<Finished>;
}

const live = new Set<ChildProcess>();
// At the top level, so the hook is the file's: registered inside a test, it would run after that
// test only, and processes of later tests would live until their deadline.
after(() => {
  for (const child of live) child.kill("SIGKILL");
});

/**
 * Starts `bin/tsresty` with a hard deadline: past `deadlineMs` it is SIGKILLed (and the test
 * sees the kill). Every process started here is killed in `after()` too.
 */
export interface StartOptions {
  readonly cwd?: string;
  readonly deadlineMs?: number;
  readonly env?: Readonly<Record<string, string>>;
  /** Node flags before bin/tsresty (`--max-old-space-size=…`). */
  readonly nodeArgs?: readonly string[];
  /** Runs the compiled dist/ even when TSRESTY_TEST_SOURCE=1. */
  readonly compiled?: boolean;
  /**
   * A descriptor of the test's that the process is given as its fd 20 (not close-on-exec; above
   * those a master hands its children: the channel at 3, the zones from 4).
   */
  readonly inherit?: number;
}

export function startTsresty(args: readonly string[], options: StartOptions = {}): Running {
  const compiled = options.compiled === true || COMPILED;
  if (compiled && !built) {
    ensureBuilt();
    built = true;
  }
  const nodeArgs = [...(compiled ? [] : [FROM_SOURCE]), ...(options.nodeArgs ?? [])];
  const child = spawn(process.execPath, [...nodeArgs, BIN, ...args], {
    cwd: options.cwd ?? ROOT,
    stdio: [
      "ignore",
      "pipe",
      "pipe",
      ...(options.inherit === undefined ? [] : [...Array<"ignore">(17).fill("ignore"), options.inherit]),
    ],
    env: { ...process.env, NODE_OPTIONS: "", ...options.env },
  });
  if (child.stdout === null || child.stderr === null) throw new Error("spawn gave no pipes");
  live.add(child);
  let stdout = "";
  let stderr = "";
  const watchers: { text: string; resolve: () => void }[] = [];
  child.stdout.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
    for (const w of watchers.filter((x) => stdout.includes(x.text))) {
      watchers.splice(watchers.indexOf(w), 1);
      w.resolve();
    }
  });
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const deadline = setTimeout(() => child.kill("SIGKILL"), options.deadlineMs ?? 15_000);
  const done = new Promise<Finished>((resolve) => {
    child.on("close", (code, signal) => {
      clearTimeout(deadline);
      live.delete(child);
      for (const w of watchers) w.resolve();
      resolve({ code, signal, stdout, stderr, output: unattributed(stdout) });
    });
  });
  return {
    child,
    done,
    stdout: () => stdout,
    output: () => unattributed(stdout),
    stderr: () => stderr,
    waitForOutput: (text) =>
      stdout.includes(text) ? Promise.resolve() : new Promise((resolve) => watchers.push({ text, resolve })),
  };
}

/** Runs `bin/tsresty` to the end (under the same deadline). */
export function runTsresty(args: readonly string[], options: StartOptions = {}): Promise<Finished> {
  return startTsresty(args, options).done;
}

function pgrep(args: readonly string[]): number[] {
  try {
    return execFileSync("pgrep", args, { encoding: "utf8" }).trim().split("\n").filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Pids of live processes whose command line contains `pattern` (pgrep -f). */
export function pidsMatching(pattern: string): number[] {
  return pgrep(["-f", pattern]);
}

/** SIGKILLs every live process whose command line contains `pattern` (one gone meanwhile is skipped). */
export function killMatching(pattern: string): void {
  for (const pid of pidsMatching(pattern)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone already
    }
  }
}

/** Pids of the live children of `pid` (pgrep -P). */
export function childrenOf(pid: number): number[] {
  return pgrep(["-P", String(pid)]);
}

/**
 * Pids of the children of `pid` now, read from /proc (each of its threads' `children`): as
 * childrenOf, without a pgrep process each time, for a test that looks every millisecond.
 */
export function childrenNow(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((task) =>
      readFileSync(`/proc/${pid}/task/${task}/children`, "latin1")
        .trim()
        .split(" ")
        .filter(Boolean)
        .map(Number),
    );
  } catch {
    return []; // gone
  }
}

/** The real uid of a live process, read from /proc. */
export function uidOf(pid: number): string {
  return /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? "";
}

/** Whether `pid` catches `signal` now (its handler is installed: /proc/PID/status, SigCgt). */
export function catches(pid: number, signal: NodeJS.Signals): boolean {
  return inSignalSet(pid, "SigCgt", signal);
}

/** Whether `pid`'s main thread blocks `signal` (false once it is gone). */
export function blocks(pid: number, signal: NodeJS.Signals): boolean {
  return inSignalSet(pid, "SigBlk", signal);
}

/**
 * Whether `signal` was sent to `pid` and waits to be taken (/proc/PID/status, ShdPnd): two of one
 * signal sent before the process took the first are one (Linux does not queue a standard signal).
 */
export function pending(pid: number, signal: NodeJS.Signals): boolean {
  return inSignalSet(pid, "ShdPnd", signal);
}

/**
 * Whether `pid`'s main thread waits in its event loop now (/proc/PID/wchan): seen after a line the
 * process wrote, the turn that wrote it has ended, and with it whatever that turn sent.
 */
export function idleInEventLoop(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/wchan`, "utf8") === "do_epoll_wait";
  } catch {
    return false;
  }
}

/** A live process's argv, read from /proc ([] once it is gone). */
export function argvOf(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
  } catch {
    return [];
  }
}

function inSignalSet(pid: number, set: "SigCgt" | "SigBlk" | "ShdPnd", signal: NodeJS.Signals): boolean {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const mask = new RegExp(`^${set}:\\s+([0-9a-f]+)`, "m").exec(status)?.[1] ?? "0";
    const number = osConstants.signals[signal];
    return (BigInt(`0x${mask}`) >> BigInt(number - 1)) % 2n === 1n;
  } catch {
    return false;
  }
}

/**
 * Test options for what only root can do here (drop to another user, mount a read-only
 * filesystem in a new mount namespace); CI runs as root, so these run there.
 */
export const ROOT_ONLY = process.getuid?.() === 0 ? {} : { skip: "needs root" };

/**
 * Sets `pid`'s soft limit of open descriptors to `soft` (prlimit; below what it has open, its
 * next open fails with EMFILE), its hard limit unchanged; returns what puts the soft limit back
 * at the hard one.
 */
export function limitDescriptors(pid: number, soft: number): () => void {
  const hard = execFileSync("prlimit", ["--pid", String(pid), "--nofile", "--output=HARD", "--noheadings"], {
    encoding: "utf8",
  }).trim();
  execFileSync("prlimit", ["--pid", String(pid), `--nofile=${soft}:${hard}`]);
  return () => execFileSync("prlimit", ["--pid", String(pid), `--nofile=${hard}:${hard}`]);
}
